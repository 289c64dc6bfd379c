"""The Trainer: one loop for every registered objective, on a CPU, a GPU or several GPUs.

The Trainer owns the loop, the optimiser steps, mixed precision, checkpoints and events; the run's objective
(:mod:`facegen_utils.training.objectives`) names the networks that step on each batch (one iteration, one batch of
real images) and gives their losses. Several processes (``torchrun``): see :mod:`facegen_utils.training.distributed`;
networks an objective needs outside DDP (the critic of the generator step, its weights frozen) run bare or compiled.

Reproducibility: the weights are initialised from ``seed`` (:meth:`Trainer.from_spec`), the data order of an epoch
depends on (seed, epoch), the latents and gradient-penalty mixing of an iteration on (seed, rank, step), and
everything else random (dropout, the VAE's sampling) on torch's global generator, seeded with ``seed + rank`` when a
run starts and saved in every checkpoint: a run resumed from a checkpoint repeats bit for bit on a CPU what an
uninterrupted run does.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm  # the type of the bar; bars are made by _log.progress

from facegen_utils import noise, viz
from facegen_utils._log import logger, progress
from facegen_utils.device import describe_device, resolve_device
from facegen_utils.spec import DataSpec, ModelSpec, RunSpec, TrainConfig
from facegen_utils.tensors import eval_mode

from . import augment, checkpoint, cpu_conv, distributed, objectives
from .data import BatchSource, derive_seed
from .history import LossLog

__all__ = ["EVENTS", "COLUMNS", "NonFiniteLossError", "Trainer"]

EVENTS = ("on_train_start", "on_epoch_start", "on_step_end", "on_epoch_end", "on_sample", "on_checkpoint",
          "on_train_end")

#: what the history records per iteration, besides epoch and step, for each registered objective
COLUMNS = {name: list(objectives.get(name).columns) for name in objectives.names()}

_NOISE_STREAM = 1  # derive_seed stream of the per-iteration latents (stream 0 orders the data)
_FUSED_ADAM_DEVICES = ("cuda", "cpu")  # devices whose Adam runs the fused (single-kernel) implementation
# torch.compile traces a function again for each new kind of input and stops compiling it after
# torch._dynamo.config.recompile_limit traces (8), counted per function, not per network. Every generator and every
# critic of the package shares one forward function (models._common), and a critic needs two traces (images without
# and with gradients), so a kernel that trains a fifth GAN would fall back to eager mode. The Trainer raises the limit
# to this many when it compiles.
_RECOMPILE_LIMIT = 64


def _raise_recompile_limit(limit: int) -> None:
    """Let torch.compile trace each function up to ``limit`` times (never lowers a higher setting)."""
    from torch._dynamo import config as dynamo_config

    name = "recompile_limit" if hasattr(dynamo_config, "recompile_limit") else "cache_size_limit"  # torch < 2.7
    if getattr(dynamo_config, name) < limit:
        setattr(dynamo_config, name, limit)


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite: training stopped and the last good checkpoint was kept."""

    def __init__(self, epoch: int, step: int, values: dict[str, float], checkpoint_path: Path | None) -> None:
        self.epoch, self.step, self.values, self.checkpoint = epoch, step, values, checkpoint_path
        bad = ", ".join(f"{k}={v}" for k, v in values.items() if not math.isfinite(v))
        where = (f"the last good checkpoint is {checkpoint_path} (not overwritten); resume from it, e.g. with a lower "
                 "learning rate" if checkpoint_path is not None
                 else "no checkpoint had been written; set out_dir (and checkpoint_every) to keep one")
        super().__init__(f"non-finite loss at epoch {epoch}, step {step} ({bad}); training stopped: {where}.")


class Trainer:
    """Trains a ModelSet (models.build) on images with one objective; owns the state, checkpoints and events."""

    def __init__(self, models: Any, data: Any, config: TrainConfig | None = None, *,
                 data_spec: DataSpec | None = None) -> None:
        self.config = config = config if config is not None else TrainConfig()
        self.models = models
        self.data_spec = data_spec  # where the data came from, kept in checkpoints when known
        self._modules: dict[str, nn.Module] = models.modules()  # {"G", "D"} or {"vae"}
        objectives.check_compatible(config.objective, models.name, tuple(self._modules))
        self.objective = objectives.get(config.objective)(config)
        self.dist = distributed.from_environment()
        self.device = resolve_device(config.device, local_rank=self.dist.local_rank)
        distributed.init(self.dist, self.device)
        self._configure_backends()
        self.channels_last = self._use_channels_last()
        memory_format = torch.channels_last if self.channels_last else torch.preserve_format
        for module in self._modules.values():
            module.to(self.device, memory_format=memory_format).train()
        self.batches = BatchSource(data, batch_size=config.batch_size, value_range=models.value_range,
                                   device=self.device, seed=config.seed, rank=self.dist.rank,
                                   world_size=self.dist.world_size, limit=config.limit, gpu_dataset=config.gpu_dataset,
                                   num_workers=config.num_workers, progress=self.is_main,
                                   labels=self._labels(data))
        if self.batches.labels is not None:  # free conditions are drawn as often as the data hold each value
            models.G.set_shares(self.batches.labels)
        if self.batches.image_shape != models.image_shape:
            raise ValueError(f"the data are images of shape {self.batches.image_shape} but the generator of "
                             f"{models.name!r} makes {models.image_shape}; load the data with the model's image "
                             f"size (RunSpec.load_dataset does), or build the model at the data's.")
        self.epoch = 0  # epochs completed
        self.step = 0   # iterations (batches) completed; the learning rate's decay reads it
        self.optimizers = {role: self._make_optimizer(role, module) for role, module in self._modules.items()}
        self.objective.attach(self._modules, self.optimizers)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=config.amp == "fp16")
        self._prepare_networks()  # with several processes, rank 0's weights are now everybody's
        self._gemm_layers = self._plan_gemm_layers()
        self.G_ema = copy.deepcopy(models.G).requires_grad_(False) if config.ema is not None else None
        self.prior = noise.parse(config.prior)
        self.fixed_z = self.prior.sample(config.grid_size, models.latent_dim,
                                         generator=torch.Generator().manual_seed(config.seed))
        self._noise = torch.Generator(device=self.device)
        self._augment_critic = augment.augmenter(config.augment, self._noise)  # draws from the step's stream
        self.samples: dict[int, Any] = {}
        self._log = LossLog(list(self.objective.columns))
        self._callbacks: dict[str, list[Callable[[Trainer], None]]] = {event: [] for event in EVENTS}
        self._last_checkpoint: Path | None = None
        self._last_stats: dict[str, torch.Tensor] = {}
        self._postfix: dict[str, float] = {}
        self._csv_rows = 0
        if self.is_main:
            where = "GPU" if self.batches.images is not None and self.batches.images.is_cuda else "CPU"
            logger.info("%s (%s) on %s: %d images (%s memory), %d iterations per epoch%s",
                        models.name, config.objective, describe_device(self.device), self.batches.size, where,
                        self.steps_per_epoch, f", {self.dist.world_size} processes" if self.dist.enabled else "")

    def _labels(self, data: Any) -> torch.Tensor | None:
        """The label rows a conditional objective trains with (``data.labels``); None for the others."""
        if not self.objective.conditional:
            return None
        labels = getattr(data, "labels", None)
        if labels is None:
            raise ValueError(f"objective={self.config.objective!r} needs labelled images: load them with "
                             f"RunSpec(conditions=...).load_dataset() or facegen_utils.conditioning.labelled(dataset, "
                             f"conditions)")
        return labels

    @classmethod
    def from_spec(cls, spec: RunSpec, data: Any = None) -> "Trainer":
        """A trainer for a run specification: the networks built from its seed, its data unless ``data`` is given."""
        return cls(spec.build_models(), spec.load_dataset() if data is None else data, spec.train, data_spec=spec.data)

    @property
    def spec(self) -> RunSpec:
        """This run as a RunSpec (the data part as given, else the default)."""
        return RunSpec(self.data_spec or DataSpec(), self.models.spec, self.config)

    def _configure_backends(self) -> None:
        if self.config.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
        elif self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        if self.config.amp != "off" and self.device.type == "cpu" and self.is_main:
            logger.warning("amp=%r on the CPU is usually slower than float32 (no native half-precision "
                           "arithmetic); it is meant for GPUs", self.config.amp)

    def _use_channels_last(self) -> bool:
        """config.channels_last, or when None: on for networks with convolutions on the CPU and CUDA.

        oneDNN's CPU convolutions run ~10 % faster on NHWC tensors (DCGAN-64, benchmarks/README.md), tensor cores
        want them; fully-connected networks gain nothing. Never for transposed convolutions compiled on a GPU:
        inductor predicts the strides of their weight gradient wrongly for NHWC tensors and stops at the first
        backward pass (pytorch/pytorch#171622; seen on an H200 with DCGAN-64), and NHWC gained nothing there
        (benchmarks/README.md, scripts/gpu_check.py)."""
        layers = [layer for module in self._modules.values() for layer in module.modules()]
        if (self.config.compile and self.device.type == "cuda"
                and any(isinstance(layer, nn.modules.conv._ConvTransposeNd) for layer in layers)):
            if self.config.channels_last:
                logger.warning("channels_last=True is ignored: torch.compile on CUDA fails on transposed "
                               "convolutions in channels_last (pytorch/pytorch#171622); training in NCHW")
            return False
        if self.config.channels_last is not None:
            return self.config.channels_last
        convolutional = any(isinstance(layer, nn.modules.conv._ConvNd) for layer in layers)
        return convolutional and self.device.type in ("cpu", "cuda")

    def _plan_gemm_layers(self) -> list[nn.Module]:
        """The convolution layers whose weight gradients the CPU computes as one GEMM (config.cpu_gemm_grad)."""
        config = self.config
        if not config.cpu_gemm_grad or self.device.type != "cpu" or config.amp != "off" or config.compile:
            return []
        image = torch.zeros(2, *self.batches.image_shape, device=self.device)
        latent = torch.zeros(2, self.models.latent_dim, device=self.device)
        inputs = {"G": latent, "D": image, "vae": image}  # a denoiser also takes the time step: not planned
        return [layer for role, module in self._modules.items() if role in inputs
                for layer in cpu_conv.plan(module, inputs[role])]

    def _learning_rate(self, role: str) -> float:
        """The learning rate of ``role`` at the current step (config.lr or lr_D, times the decay's factor)."""
        base = self.config.for_role("lr", role)
        if self.config.lr_decay == "none":
            return base
        progress = min(self.step / (self.config.epochs * self.steps_per_epoch), 1.0)
        factor = 1.0 - progress if self.config.lr_decay == "linear" else 0.5 * (1.0 + math.cos(math.pi * progress))
        return base * factor

    def _make_optimizer(self, role: str, module: nn.Module) -> torch.optim.Optimizer:
        if self.config.optimizer == "rmsprop":
            return torch.optim.RMSprop(module.parameters(), lr=self._learning_rate(role))
        # The fused kernel updates every tensor in one pass; on the CPU it takes a 13 M-parameter MLP critic's Adam
        # step from ~260 to ~60 ms (benchmarks/README.md). Same update rule, so results match to rounding.
        common = {"lr": self._learning_rate(role), "betas": self.config.betas,
                  "fused": self.device.type in _FUSED_ADAM_DEVICES}
        decay = self.config.for_role("weight_decay", role)
        if decay:  # decoupled: the weights shrink by lr * decay each step, apart from Adam's scaled gradient
            return torch.optim.AdamW(module.parameters(), weight_decay=decay, **common)
        return torch.optim.Adam(module.parameters(), **common)

    def _prepare_networks(self) -> None:
        """The callables the steps use: DDP-wrapped and/or compiled where asked, bare where they must be."""
        mode = self.config.compile if isinstance(self.config.compile, str) else None
        # "reduce-overhead"/"max-autotune" replay CUDA graphs; each iteration then tells torch where a step begins
        self._cuda_graphs = mode in ("reduce-overhead", "max-autotune") and self.device.type == "cuda"

        if self.config.compile:
            _raise_recompile_limit(_RECOMPILE_LIMIT)

        def compiled(module: nn.Module) -> nn.Module:
            return torch.compile(module, mode=mode) if self.config.compile else module
        self._nets = {role: compiled(distributed.wrap(module, self.device, self.dist))
                      for role, module in self._modules.items()}
        self._plain = {role: compiled(self._modules[role]) for role in self.objective.plain_roles}

    @property
    def is_main(self) -> bool:
        """True on the process that logs and writes files (always, without torchrun)."""
        return self.dist.is_main

    @property
    def steps_per_epoch(self) -> int:
        """Iterations per epoch: len(data) // (batch_size * processes)."""
        return self.batches.steps_per_epoch

    @property
    def history(self) -> pd.DataFrame:
        """One row per iteration: epoch (1-based), step, and the objective's losses (see COLUMNS)."""
        return self._log.frame

    @property
    def epoch_history(self) -> pd.DataFrame:
        """One row per epoch: its last step and the mean of every loss column."""
        return self._log.epoch_means()

    @property
    def last_losses(self) -> dict[str, float]:
        """The values of the latest iteration (reading them waits for the GPU)."""
        return {k: float(v) for k, v in self._last_stats.items()}

    @property
    def last_checkpoint(self) -> Path | None:
        """The checkpoint most recently written or resumed from."""
        return self._last_checkpoint

    def on(self, event: str, fn: Callable[["Trainer"], None]) -> Callable[["Trainer"], None]:
        """Call ``fn(trainer)`` at ``event`` (one of EVENTS); returns ``fn`` so it also works as a decorator."""
        if event not in self._callbacks:
            raise ValueError(f"unknown event {event!r}; events: {', '.join(EVENTS)}.")
        self._callbacks[event].append(fn)
        return fn

    def fit(self, epochs: int | None = None) -> pd.DataFrame:
        """Train until ``epochs`` epochs are complete in total (default config.epochs); return the history."""
        target = self.config.epochs if epochs is None else epochs
        if self.epoch >= target:
            logger.info("already at epoch %d of %d: nothing to train", self.epoch, target)
            return self.history
        if self.step == 0:
            torch.manual_seed(self.config.seed + self.dist.rank)
        if self.config.lr_decay != "none" and target > self.config.epochs:
            logger.warning("lr_decay=%r reaches a learning rate of 0 at epoch %d (the config's epochs): epochs %d-%d "
                           "will not change the weights; raise epochs in the config to spread the decay over them",
                           self.config.lr_decay, self.config.epochs, max(self.epoch, self.config.epochs) + 1, target)
        self._emit("on_train_start")
        bar = progress(total=target * self.steps_per_epoch, initial=self.step, unit="it", dynamic_ncols=True,
                       desc=f"{self.models.name} ({self.config.objective})", show=self.is_main)
        try:
            with cpu_conv.gemm_weight_grad(self._gemm_layers):
                while self.epoch < target:
                    self._finish_epoch(target, images_per_second=self._train_epoch(bar))
        except KeyboardInterrupt:
            self._save_after_interrupt()
            raise
        finally:
            bar.close()
        self._emit("on_train_end")
        return self.history

    def sample(self, n: int = 64, *, seed: int | None = None, prior: str | None = None) -> torch.Tensor:
        """``n`` images (on the CPU, in G's value range) from the EMA generator if kept, else from G."""
        generator = torch.Generator()
        generator.manual_seed(generator.seed() if seed is None else seed)  # seed(): a non-deterministic seed
        z = noise.parse(prior or self.config.prior).sample(n, self.models.latent_dim, generator=generator)
        return self._generate(z)

    def save_checkpoint(self, path: str | Path | None = None) -> Path:
        """Write the full training state atomically (default out_dir/checkpoint.pt) and return the path."""
        target = self._checkpoint_path(path)
        if self.is_main:
            self._write_checkpoint(target, numbered=path is None)
        distributed.barrier(self.dist)
        self._last_checkpoint = target
        return target

    def state_dict(self) -> dict[str, Any]:
        """Everything a checkpoint holds, as tensors and plain containers (loads with ``weights_only=True``)."""
        from facegen_utils import __version__

        networks = {role: module.state_dict() for role, module in self._modules.items()}
        if self.G_ema is not None:
            networks["G_ema"] = self.G_ema.state_dict()
        return {"format": checkpoint.FORMAT, "version": __version__, "torch_version": str(torch.__version__),
                "model_spec": checkpoint.model_spec(self.models), "config": dataclasses.asdict(self.config),
                "data_spec": dataclasses.asdict(self.data_spec) if self.data_spec is not None else None,
                "epoch": self.epoch, "step": self.step, "models": networks,
                "optimizers": {role: opt.state_dict() for role, opt in self.optimizers.items()},
                "scaler": self.scaler.state_dict(), "rng": checkpoint.rng_state(self.device),
                "history": self._log.state_dict(), "fixed_z": self.fixed_z}

    def resume(self, path: str | Path, *, map_location: str | torch.device | None = None) -> "Trainer":
        """Load a checkpoint into this trainer (same architecture and objective); ``fit`` then continues."""
        self._load_state(checkpoint.load(path, map_location=map_location or "cpu"), Path(path))
        return self

    @classmethod
    def from_checkpoint(cls, path: str | Path, data: Any = None, *, config_overrides: dict[str, Any] | None = None,
                        map_location: str | torch.device | None = None) -> "Trainer":
        """Rebuild the networks and the trainer of a checkpoint (its config, updated by ``config_overrides``);
        ``data`` defaults to the dataset the checkpoint's run specification names (format 2 and later)."""
        state = checkpoint.load(path, map_location=map_location or "cpu")
        config = checkpoint.stored_config(state, path, config_overrides)
        data_spec = DataSpec(**state["data_spec"]) if state.get("data_spec") else None
        models = checkpoint.build_models(state["model_spec"])
        if data is None:
            if data_spec is None:
                raise ValueError(f"{path} was written before checkpoints named their dataset (format "
                                 f"{state['format']}); pass the data: Trainer.from_checkpoint({str(path)!r}, data).")
            data = RunSpec(data_spec, ModelSpec(**state["model_spec"]), config).load_dataset()
        trainer = cls(models, data, config, data_spec=data_spec)
        trainer._load_state(state, Path(path))
        return trainer

    def _train_epoch(self, bar: tqdm) -> float:
        """Train the rest of the current epoch; return the images per second (all processes)."""
        first = min(max(self.step - self.epoch * self.steps_per_epoch, 0), self.steps_per_epoch)
        self._emit("on_epoch_start")
        started = time.perf_counter()
        for index, batch in enumerate(self.batches.epoch(self.epoch, start=first), start=first):
            real, labels = batch if isinstance(batch, tuple) else (batch, None)
            self._noise.manual_seed(derive_seed(self.config.seed, _NOISE_STREAM, self.dist.rank, self.step))
            if self._cuda_graphs:  # the previous iteration's graph outputs may now be overwritten
                torch.compiler.cudagraph_mark_step_begin()
            self._last_stats = stats = self._train_step(self._augment(real), index, labels)
            self.scaler.update()
            self.step += 1
            self._log.record(self.epoch + 1, self.step, stats)
            bar.update()
            if self.step % self.config.log_every == 0:
                self._read_losses(bar)
            self._emit("on_step_end")
        self._read_losses(bar)
        self.epoch += 1
        images = (self.steps_per_epoch - first) * self.config.batch_size * self.dist.world_size
        return images / max(time.perf_counter() - started, 1e-9)

    def _augment(self, real: torch.Tensor) -> torch.Tensor:
        if self.config.hflip:
            flip = torch.rand(real.shape[0], generator=self._noise, device=self.device) < 0.5
            real = torch.where(flip.view(-1, 1, 1, 1), real.flip(-1), real)
        if self.channels_last:
            real = real.contiguous(memory_format=torch.channels_last)
        return real

    def _train_step(self, real: torch.Tensor, index: int, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """One iteration: each network the objective names for this batch steps on the loss it gives."""
        phases = self.objective.phases(index, self.step)
        step = objectives.Step(real=real, phases=phases, nets=self._nets, plain=self._plain, modules=self._modules,
                               latent_dim=self.models.latent_dim, prior=self.prior, noise=self._noise,
                               autocast=self._autocast, labels=labels, augment=self._augment_critic)
        stats: dict[str, torch.Tensor] = {}
        for role in phases:
            loss, values = self.objective.loss(role, step)
            self._optimise(role, loss)
            stats.update(values)
        if self.objective.generator_role in phases:
            self._update_ema()
        return stats

    def _optimise(self, role: str, loss: torch.Tensor) -> None:
        optimizer = self.optimizers[role]
        if self.config.lr_decay != "none":
            for group in optimizer.param_groups:
                group["lr"] = self._learning_rate(role)
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)

    @torch.no_grad()
    def _update_ema(self) -> None:
        if self.G_ema is None:
            return
        for average, param in zip(self.G_ema.parameters(), self.models.G.parameters()):
            average.lerp_(param, 1.0 - self.config.ema)
        for average, buffer in zip(self.G_ema.buffers(), self.models.G.buffers()):
            average.copy_(buffer)

    def _autocast(self) -> torch.autocast:
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.config.amp)
        return torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None)

    def _read_losses(self, bar: tqdm | None) -> None:
        """Copy the queued losses to the host; stop on a non-finite one; refresh the progress bar."""
        if (bad := self._log.flush()) is not None:
            raise NonFiniteLossError(*bad, self._last_checkpoint)
        if bar is not None and len(self._log):
            self._postfix.update(self._log.latest())
            bar.set_postfix({k: f"{v:.4g}" for k, v in self._postfix.items() if k.startswith("loss")}, refresh=False)

    def _finish_epoch(self, target: int, images_per_second: float) -> None:
        """Log, write the CSVs and the progress grid, checkpoint, then fire on_epoch_end."""
        config, epoch = self.config, self.epoch
        distributed.broadcast_buffers([*self._modules.values(), *([self.G_ema] if self.G_ema else [])], self.dist)
        if self.is_main:
            if len(means := self._log.epoch_means()):
                last = means.iloc[-1]
                text = ", ".join(f"{c} {last[c]:.4f}" for c in self._log.columns if c.startswith("loss"))
                logger.info("epoch %d/%d: %s (%.0f img/s)", epoch, target, text, images_per_second)
            self._write_logs()
            if config.sample_every and (epoch % config.sample_every == 0 or epoch == target):
                self._save_progress_grid()
        if config.out_dir is not None and (config.checkpoint_every and epoch % config.checkpoint_every == 0
                                           or epoch == target):
            self.save_checkpoint()
        self._emit("on_epoch_end")

    def _generate(self, z: torch.Tensor, *, chunk: int = 256) -> torch.Tensor:
        """Images of the latents ``z`` (on the CPU, float32), made ``chunk`` at a time in eval mode."""
        G = self.G_ema if self.G_ema is not None else self.models.G
        with eval_mode(G), torch.inference_mode(), self._autocast():
            return torch.cat([G(part.to(self.device)).float().cpu() for part in z.split(chunk)])

    def _save_progress_grid(self) -> None:
        grid = viz.image_grid(self._generate(self.fixed_z), nrow=math.ceil(math.sqrt(len(self.fixed_z))),
                              value_range=self.models.value_range)
        self.samples[self.epoch] = grid
        if self.config.out_dir is not None:
            from PIL import Image

            path = Path(self.config.out_dir) / "samples" / f"epoch_{self.epoch:04d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(grid).save(path)
        self._emit("on_sample")

    def _write_logs(self) -> None:
        """Write losses.csv (appending the new rows) and losses_epoch.csv into out_dir."""
        if self.config.out_dir is None:
            return
        out = Path(self.config.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        frame, path = self.history, out / "losses.csv"
        if self._csv_rows and path.is_file():
            frame.iloc[self._csv_rows:].to_csv(path, mode="a", header=False, index=False)
        else:
            frame.to_csv(path, index=False)
        self._csv_rows = len(frame)
        self.epoch_history.to_csv(out / "losses_epoch.csv", index=False)

    def _checkpoint_path(self, path: str | Path | None) -> Path:
        if path is not None:
            return Path(path)
        if self.config.out_dir is None:
            raise ValueError("no checkpoint path: pass one to save_checkpoint(path) or set TrainConfig.out_dir.")
        return Path(self.config.out_dir) / "checkpoint.pt"

    def _write_checkpoint(self, path: Path, *, numbered: bool) -> None:
        state = self.state_dict()
        checkpoint.save(state, path)
        self._last_checkpoint = path
        keep = self.config.keep_checkpoints
        if numbered and keep and self.step == self.epoch * self.steps_per_epoch:
            target = path.with_name(f"checkpoint_epoch_{self.epoch:04d}.pt")
            if keep == "full":
                checkpoint.copy(path, target)
            else:  # the optimiser's moments (two per weight for Adam) dominate a checkpoint; sampling needs none
                checkpoint.save(checkpoint.weights_only(state), target)
        self._emit("on_checkpoint")

    def _save_after_interrupt(self) -> None:
        self._read_losses(None)
        if not self.is_main:
            return
        if self.config.out_dir is None:
            logger.warning("interrupted at epoch %d, step %d; nothing saved (no out_dir)", self.epoch + 1, self.step)
            return
        self._write_logs()
        path = self._checkpoint_path(None)
        self._write_checkpoint(path, numbered=False)
        logger.warning("interrupted at epoch %d, step %d: saved %s; continue with Trainer.from_checkpoint(%r, data) "
                       "or the CLI's --resume", self.epoch + 1, self.step, path, str(path))

    def _emit(self, event: str) -> None:
        for fn in self._callbacks[event]:
            fn(self)

    def _load_state(self, state: dict[str, Any], source: Path) -> None:
        from facegen_utils.models import ArchitectureMismatchError, load_state_dict_checked

        held, trained = ("{name!r} at image_size={image_size}, latent_dim={latent_dim}".format(**s)
                         for s in (state["model_spec"], checkpoint.model_spec(self.models)))
        if held != trained:
            raise ArchitectureMismatchError(f"{source} holds {held}, but this trainer trains {trained}; rebuild the "
                                            f"model with Trainer.from_checkpoint({str(source)!r}, data) or start a "
                                            f"new run in another out_dir.")
        if (roles := sorted(set(state["models"]) - {"G_ema"})) != sorted(self._modules):
            raise ArchitectureMismatchError(f"{source} holds the networks {roles}, but this trainer trains "
                                            f"{sorted(self._modules)}; use a checkpoint of the same objective.")
        if "optimizers" not in state:
            raise ValueError(f"{source} holds the networks only (a numbered copy of keep_checkpoints=True), not the "
                             f"optimiser and random-number states an exact resume needs; resume from the run's "
                             f"checkpoint.pt, keep complete copies with keep_checkpoints='full', or load these weights "
                             f"for sampling with facegen_utils.training.load_generator({str(source)!r}).")
        if (stored_optimizer := state["config"].get("optimizer")) != self.config.optimizer:
            raise ValueError(f"{source} holds {stored_optimizer} optimiser states, but this trainer uses "
                             f"optimizer={self.config.optimizer!r}; resume with the same optimizer.")
        for role, module in self._modules.items():
            load_state_dict_checked(module, state["models"][role], source=f"{source} [{role}]")
        if self.G_ema is not None:
            self.G_ema.load_state_dict(state["models"].get("G_ema", self.models.G.state_dict()))
        for role, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][role])
            for group in optimizer.param_groups:  # the current config's settings win over the stored ones
                group["lr"] = self._learning_rate(role)
                if "betas" in group:
                    group["betas"] = self.config.betas
        if self.scaler.is_enabled() and state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])
        self._log.load_state_dict(state["history"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.fixed_z = state["fixed_z"].cpu()
        checkpoint.set_rng_state(state["rng"], self.device)
        self._last_checkpoint = source
        self._csv_rows = 0
