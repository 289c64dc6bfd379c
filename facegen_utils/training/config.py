"""The training settings: one frozen dataclass with the package defaults, every field explained.

Notebooks change a setting with ``dataclasses.replace(config, lr=1e-4)``; the reports' exact settings are the named
profiles of :mod:`facegen_utils.profiles`.
"""
from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from typing import Any

OBJECTIVES = ("gan", "wgan-clip", "wgan-gp", "vae")
OPTIMIZERS = ("adam", "rmsprop")
CRITIC_SCHEDULES = ("inner", "every-nth")
AMP_MODES = ("off", "bf16", "fp16")
GPU_DATASET_MODES = ("auto", "on", "off")
KEEP_CHECKPOINTS = (False, True, "weights", "full")  # True means "weights"
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")  # torch.compile modes; True means "default"
VAE_RECONSTRUCTIONS = ("bce", "mse")


@dataclass(frozen=True)
class TrainConfig:
    """How to train: objective, optimiser, schedule, device features, logging and checkpoints."""

    objective: str = "gan"            # "gan" (BCE on logits) | "wgan-clip" | "wgan-gp" | "vae"
    epochs: int = 5                   # total number of epochs; fit() continues from the current epoch up to it
    batch_size: int = 128             # images per optimiser step and process
    lr: float = 2e-4                  # learning rate of the generator (and of the VAE)
    lr_D: float | None = None         # learning rate of the discriminator/critic; None -> same as lr
    betas: tuple[float, float] = (0.5, 0.999)  # Adam's (beta1, beta2); unused by RMSProp
    optimizer: str = "adam"           # "adam" | "rmsprop" (Arjovsky et al. use RMSProp with weight clipping)
    n_critic: int = 1                 # critic/discriminator steps per generator step
    critic_schedule: str = "inner"    # "inner": n_critic critic steps, each on a new batch, then one generator
                                      #   step (Arjovsky et al., Algorithm 1; counted over all iterations);
                                      # "every-nth": the critic steps on every batch, the generator on batches
                                      #   0, n, 2n, ... of each epoch (report 001's loop)
    clip_value: float = 0.01          # wgan-clip: critic weights are clamped to [-c, c] after each critic step
    gp_weight: float = 10.0           # wgan-gp: lambda, the weight of the gradient penalty
    real_label: float = 1.0           # BCE target of real images, also the generator's target (report 003: 0.8)
    fake_label: float = 0.0           # BCE target of generated images (report 003: 0.1)
    vae_beta: float = 1.0             # vae: weight of the KL term
    vae_reconstruction: str = "bce"   # vae: "bce" (data in [0, 1]) | "mse"
    prior: str = "normal(0, 1)"       # latent distribution (facegen_utils.noise spec; second number: variance)
    seed: int = 0                     # seeds the data order, the latents, the fixed grid and torch's global RNG
    device: str = "auto"              # "auto" -> cuda, mps, cpu; or "cpu", "cuda", "cuda:1", "mps"
    amp: str = "off"                  # autocast: "off" | "bf16" | "fp16" (fp16 adds a GradScaler); for GPUs
    channels_last: bool | None = None  # NHWC memory format for models and batches; None -> on for convolutional
                                      #   models on CPU (oneDNN) and CUDA (tensor cores), off otherwise
    compile: bool | str = False       # torch.compile the networks for the training steps: True or a mode,
                                      #   "default" | "reduce-overhead" (CUDA graphs on a GPU) | "max-autotune"
    cpu_gemm_grad: bool = True        # CPU, float32, no compile: weight gradients of convolution layers with at
                                      #   most 16 positions on their small side (DCGAN's 4x4) as one matrix
                                      #   product, 1.3-2x faster than oneDNN there (training.cpu_conv)
    gpu_dataset: str = "auto"         # keep the uint8 images on the GPU: "auto" (when they fit) | "on" | "off"
    hflip: bool = False               # random horizontal flips of the real images, done on the device
    ema: float | None = None          # decay of an exponential moving average of G (e.g. 0.999); None -> off
    grid_size: int = 64               # number of fixed latents in the progress grid
    sample_every: int = 1             # save the progress grid every N epochs (and at the last one); 0 -> never
    checkpoint_every: int = 1         # write checkpoint.pt every N epochs; 0 -> only at the end / on interrupt
    keep_checkpoints: bool | str = False  # also keep checkpoint_epoch_XXXX.pt at every epoch checkpoint (report
                                      #   001): True/"weights" -> networks, config, history (no optimiser
                                      #   moments: about a third of the size); "full" -> copies that resume exactly
    out_dir: str | None = None        # where checkpoint.pt, losses.csv and samples/epoch_XXXX.png go; None -> none
    limit: int | None = None          # train on the first N images only
    num_workers: int = 0              # DataLoader workers, for datasets without the uint8 fast path
    log_every: int = 10               # steps between loss read-outs (progress bar, non-finite check); each waits
                                      #   for the GPU, so keep it above 1 on CUDA
    deterministic: bool = False       # torch.use_deterministic_algorithms (slower on GPUs; CPU runs repeat anyway)

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(self.betas))
        _check_choice("objective", self.objective, OBJECTIVES)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("critic_schedule", self.critic_schedule, CRITIC_SCHEDULES)
        _check_choice("amp", self.amp, AMP_MODES)
        _check_choice("gpu_dataset", self.gpu_dataset, GPU_DATASET_MODES)
        _check_choice("vae_reconstruction", self.vae_reconstruction, VAE_RECONSTRUCTIONS)
        for name in ("epochs", "batch_size", "n_critic", "grid_size", "log_every"):
            _check_int(name, getattr(self, name), minimum=1)
        for name in ("sample_every", "checkpoint_every", "num_workers", "seed"):
            _check_int(name, getattr(self, name), minimum=0)
        if self.keep_checkpoints not in KEEP_CHECKPOINTS:
            raise ValueError(f"TrainConfig: keep_checkpoints={self.keep_checkpoints!r}; use False, True (= 'weights': "
                             f"networks and history of every checkpoint) or 'full' (complete copies that resume).")
        if not (isinstance(self.compile, bool) or self.compile in COMPILE_MODES):
            raise ValueError(f"TrainConfig: compile={self.compile!r}; use False, True or a torch.compile mode: "
                             f"{', '.join(map(repr, COMPILE_MODES))} (reduce-overhead: CUDA graphs on a GPU).")
        if self.channels_last is not None and not isinstance(self.channels_last, bool):
            raise ValueError(f"TrainConfig: channels_last={self.channels_last!r} must be True, False or None "
                             f"(automatic).")
        if self.limit is not None:
            _check_int("limit", self.limit, minimum=1)
        for name in ("lr", "clip_value"):
            _check_positive(name, getattr(self, name))
        if self.lr_D is not None:
            _check_positive("lr_D", self.lr_D)
        if not (isinstance(self.gp_weight, (int, float)) and self.gp_weight >= 0):
            raise ValueError(f"TrainConfig: gp_weight={self.gp_weight!r} must be a number >= 0 (Gulrajani et al.: 10).")
        if len(self.betas) != 2 or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in self.betas):
            raise ValueError(f"TrainConfig: betas={self.betas!r} must be two numbers in [0, 1), e.g. (0.5, 0.999).")
        for name in ("real_label", "fake_label"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0 <= value <= 1):
                raise ValueError(f"TrainConfig: {name}={value!r} must lie in [0, 1] (report 003: 0.8 and 0.1).")
        if self.ema is not None and not (isinstance(self.ema, float) and 0 < self.ema < 1):
            raise ValueError(f"TrainConfig: ema={self.ema!r} must be a decay in (0, 1), e.g. 0.999, or None.")
        _check_positive("vae_beta", self.vae_beta, allow_zero=True)
        from facegen_utils import noise

        try:
            noise.parse(self.prior)
        except ValueError as exc:
            raise ValueError(f"TrainConfig: prior={self.prior!r} is not a latent distribution: {exc}") from None

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Build a config from a dict (e.g. a checkpoint's), with a clear error for unknown names."""
        _check_fields(values)
        return cls(**values)


def _check_fields(values: dict[str, Any]) -> None:
    """Raise a ValueError naming every key of ``values`` that is not a TrainConfig field."""
    fields = [f.name for f in dataclasses.fields(TrainConfig)]
    unknown = [k for k in values if k not in fields]
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, fields, n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ValueError(f"TrainConfig has no field {', '.join(hints)}; fields: {', '.join(fields)}.")


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"TrainConfig: {name}={value!r} is not one of {', '.join(map(repr, choices))}.")


def _check_int(name: str, value: object, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"TrainConfig: {name}={value!r} must be an integer >= {minimum}.")


def _check_positive(name: str, value: object, *, allow_zero: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        raise ValueError(f"TrainConfig: {name}={value!r} must be a number {'>=' if allow_zero else '>'} 0.")
