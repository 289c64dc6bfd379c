"""Training throughput of the facegen engine against a plain tutorial-style loop, measured in the same run.

For each model family (DCGAN-64 of reports 003/004, the Keras-style GAN, WGAN with weight clipping and VAE of
report 000, the MLP WGAN-GP of report 001 and the MLP GAN of report 002) this script trains

- the engine: ``facegen_utils.training.Trainer`` on ``datasets.get("folder", ...)`` (decoded once into the uint8
  cache, converted to float on the device; on CUDA with bf16 autocast, torch.compile and channels_last where the
  Trainer picks it), and
- a reference loop written the way the PyTorch DCGAN tutorial writes it: ``torchvision.datasets.ImageFolder`` with
  ``Resize``/``CenterCrop``/``ToTensor``/``Normalize`` decoding every JPEG in every epoch through a ``DataLoader``
  (2 workers, as in the tutorial), ``nn.BCELoss`` on a ``Sigmoid`` output, the default memory format and float32,

on the same JPEG files with the same batch size, and prints images per second of each, their ratio, the FLOPs of one
training step per image (``torch.utils.flop_counter.FlopCounterMode`` over the reference step), the device's
measured matmul FLOP/s and so the FLOP-bound limit in images per second, and the share of it each loop reaches.

A second measurement trains report 001's MLP WGAN-GP on a folder of mixed-size JPEGs (as the Kaggle art portraits
are) for a few epochs from scratch, cache build included, against the same reference style.

Targets (issue "Performance") are printed with PASS / BELOW labels; nothing is asserted. Compare figures only as
ratios measured in one run: other processes on a shared machine move absolute numbers.

    python benchmarks/train_throughput.py                 # all families, default sizes (~5 min on a quiet 2-core CPU)
    python benchmarks/train_throughput.py --quick         # a short run
    python benchmarks/train_throughput.py --device cuda --batch-size 128 --steps 200
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

try:  # CPU time of the reference's DataLoader worker processes (psutil comes with ipykernel)
    import psutil  # noqa: E402
except ImportError:  # pragma: no cover - the CPU-time columns are then left out
    psutil = None


@dataclass(frozen=True)
class Family:
    """One model family and the objective it is trained with."""

    label: str
    model: str
    objective: str
    options: dict[str, Any] = field(default_factory=dict)
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    optimizer: str = "adam"
    n_critic: int = 1
    critic_schedule: str = "inner"


FAMILIES = (
    Family("dcgan-64", "dcgan", "gan"),
    Family("keras-gan", "keras-gan", "gan", lr=1e-4, betas=(0.9, 0.999)),
    Family("keras-wgan clip", "keras-wgan", "wgan-clip", lr=5e-5, optimizer="rmsprop", n_critic=5),
    Family("mlp-wgan-gp", "mlp-wgan-gp", "wgan-gp", lr=1e-4, betas=(0.0, 0.9), n_critic=5,
           critic_schedule="every-nth"),
    Family("mlp-gan", "mlp-gan", "gan"),
    Family("keras-vae", "keras-vae", "vae", lr=1e-3, betas=(0.9, 0.999)),
)
#: the family of the mixed-size JPEG run (report 001's MLP WGAN-GP on art-portrait-like files)
MIXED_FAMILY = next(f for f in FAMILIES if f.model == "mlp-wgan-gp")


# ---------------------------------------------------------------------------------------------------------
# data: JPEG folders
# ---------------------------------------------------------------------------------------------------------
def write_faces(folder: Path, n: int, *, size: int, mixed: bool = False, seed: int = 0) -> Path:
    """Write ``n`` procedural faces as JPEGs into ``folder/faces`` (ImageFolder wants one class folder)."""
    from PIL import Image

    from facegen_utils.datasets.procedural import SyntheticFaces

    target = folder / "faces"
    target.mkdir(parents=True, exist_ok=True)
    faces = SyntheticFaces(n=n, image_size=size, seed=seed).to_uint8()
    rng = np.random.default_rng(seed)
    for i, image in enumerate(faces.permute(0, 2, 3, 1).numpy()):
        picture = Image.fromarray(image)
        if mixed:  # portraits of many shapes and sizes, as in the art-portraits download
            w, h = int(rng.integers(180, 720)), int(rng.integers(220, 900))
            picture = picture.resize((w, h), Image.BILINEAR)
        picture.save(target / f"{i:05d}.jpg", quality=90)
    return target


def tutorial_loader(root: Path, *, image_size: int, batch_size: int, value_range: tuple[float, float],
                    workers: int) -> torch.utils.data.DataLoader:
    """The tutorial's input pipeline: ImageFolder decoding every JPEG every epoch, resize, crop, normalise."""
    import torchvision.datasets as dset
    import torchvision.transforms as T

    steps = [T.Resize(image_size), T.CenterCrop(image_size), T.ToTensor()]
    if value_range[0] < 0:
        steps.append(T.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)))
    dataset = dset.ImageFolder(root=str(root), transform=T.Compose(steps))
    # persistent workers keep the worker processes alive across epochs so their CPU time can be read; they
    # still decode every JPEG in every epoch (the tutorial's loader forks new workers each epoch instead)
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers,
                                       persistent_workers=workers > 0)


# ---------------------------------------------------------------------------------------------------------
# the reference loop, one function per objective, in the tutorial's style
# ---------------------------------------------------------------------------------------------------------
class Reference:
    """A plain training loop: fp32, default memory format, BCELoss on a Sigmoid for the GAN objective."""

    def __init__(self, family: Family, model_set: Any, device: torch.device) -> None:
        self.family, self.device = family, device
        self.latent_dim = model_set.latent_dim
        self.batch_index = 0  # batches seen in all epochs
        self.epoch_index = 0  # batches seen in this epoch
        if family.objective == "vae":
            self.vae = model_set.vae.to(device).train()
            self.opt = torch.optim.Adam(self.vae.parameters(), lr=family.lr, betas=family.betas)
            return
        self.G = model_set.G.to(device).train()
        D = model_set.D.to(device).train()
        self.D = nn.Sequential(D, nn.Sigmoid()) if family.objective == "gan" else D
        if family.optimizer == "rmsprop":
            self.opt_G = torch.optim.RMSprop(self.G.parameters(), lr=family.lr)
            self.opt_D = torch.optim.RMSprop(self.D.parameters(), lr=family.lr)
        else:
            self.opt_G = torch.optim.Adam(self.G.parameters(), lr=family.lr, betas=family.betas)
            self.opt_D = torch.optim.Adam(self.D.parameters(), lr=family.lr, betas=family.betas)
        self.criterion = nn.BCELoss()

    def start_epoch(self) -> None:
        """Call before each pass over the loader (report 001's loop counts its batches per epoch)."""
        self.epoch_index = 0

    def step(self, real: torch.Tensor) -> None:
        """Train on one batch of real images."""
        real = real.to(self.device)
        if self.family.objective == "vae":
            self._vae_step(real)
        elif self.family.objective == "gan":
            self._gan_step(real)
        else:
            self._wgan_step(real)
        self.batch_index += 1
        self.epoch_index += 1

    def _generator_turn(self) -> bool:
        """Arjovsky's Algorithm 1: after every n-th critic step; report 001: on batches 0, n, 2n of an epoch."""
        n = self.family.n_critic
        if self.family.critic_schedule == "every-nth":
            return self.epoch_index % n == 0
        return (self.batch_index + 1) % n == 0

    def _gan_step(self, real: torch.Tensor) -> None:
        b = real.size(0)
        self.D.zero_grad()
        label = torch.full((b,), 1.0, device=self.device)
        loss_real = self.criterion(self.D(real).view(-1), label)
        loss_real.backward()
        z = torch.randn(b, self.latent_dim, 1, 1, device=self.device)
        fake = self.G(z)
        label.fill_(0.0)
        loss_fake = self.criterion(self.D(fake.detach()).view(-1), label)
        loss_fake.backward()
        self.opt_D.step()
        self.G.zero_grad()
        label.fill_(1.0)
        loss_G = self.criterion(self.D(fake).view(-1), label)
        loss_G.backward()
        self.opt_G.step()

    def _wgan_step(self, real: torch.Tensor) -> None:
        b = real.size(0)
        self.D.zero_grad()
        z = torch.randn(b, self.latent_dim, 1, 1, device=self.device)
        fake = self.G(z).detach()
        loss_D = self.D(fake).mean() - self.D(real).mean()
        if self.family.objective == "wgan-gp":
            alpha = torch.rand(b, 1, 1, 1, device=self.device)
            leaf = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
            mixed = leaf.view_as(leaf)  # a view: FlopCounterMode cannot take gradients with respect to a leaf
            grad, = torch.autograd.grad(self.D(mixed).sum(), mixed, create_graph=True)
            loss_D = loss_D + 10.0 * ((grad.view(b, -1).norm(2, dim=1) - 1) ** 2).mean()
        loss_D.backward()
        self.opt_D.step()
        if self.family.objective == "wgan-clip":
            for p in self.D.parameters():
                p.data.clamp_(-0.01, 0.01)
        if self._generator_turn():
            self.G.zero_grad()
            z = torch.randn(b, self.latent_dim, 1, 1, device=self.device)
            loss_G = -self.D(self.G(z)).mean()
            loss_G.backward()
            self.opt_G.step()

    def _vae_step(self, real: torch.Tensor) -> None:
        self.vae.zero_grad()
        recon, mu, logvar = self.vae(real)
        rec = F.binary_cross_entropy(recon, real, reduction="sum") / real.size(0)
        kl = -0.5 * torch.mean(torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1))
        (rec + kl).backward()
        self.opt.step()


@dataclass
class Rate:
    """Images per second of wall-clock time and per second of CPU time (all processes of the loop)."""

    wall: float
    cpu: float | None


def cpu_seconds() -> float | None:
    """CPU time (user + system) of this process and its live child processes (DataLoader workers)."""
    if psutil is None:
        return None
    total = 0.0
    for proc in [psutil.Process(), *psutil.Process().children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def rate(images: int, wall: float, cpu: float | None) -> Rate:
    """A Rate from an image count and the elapsed wall and CPU seconds."""
    return Rate(images / wall, images / cpu if cpu else None)


class Clock:
    """Wall and CPU time since start()."""

    def start(self) -> None:
        """Start (or restart) timing."""
        self.wall, self.cpu = time.perf_counter(), cpu_seconds()

    def elapsed(self) -> tuple[float, float | None]:
        """Wall and CPU seconds since start() (CPU None without psutil)."""
        cpu = cpu_seconds()
        return time.perf_counter() - self.wall, None if cpu is None or self.cpu is None else cpu - self.cpu

    def stop(self, images: int) -> Rate:
        """The rate of ``images`` processed since start()."""
        return rate(images, *self.elapsed())


def best(a: Rate | None, b: Rate) -> Rate:
    """The best wall-clock and the best CPU-time rate of two measurements."""
    if a is None:
        return b
    cpu = None if a.cpu is None or b.cpu is None else max(a.cpu, b.cpu)
    return Rate(max(a.wall, b.wall), cpu)


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work (timings on CUDA are otherwise only launch times)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_reference(family: Family, root: Path, *, device: torch.device, image_size: int, batch_size: int,
                  warmup: int, steps: int, workers: int) -> Rate:
    """Images per second of the tutorial-style loop, over ``steps`` batches after ``warmup`` batches."""
    from facegen_utils import models

    torch.manual_seed(0)
    model_set = models.build(family.model, image_size=image_size, **family.options)
    ref = Reference(family, model_set, device)
    loader = tutorial_loader(root, image_size=image_size, batch_size=batch_size,
                             value_range=tuple(model_set.value_range), workers=workers)
    clock = Clock()
    done, images, result = 0, 0, None
    while result is None:
        ref.start_epoch()
        for real, _ in loader:
            if real.size(0) < batch_size:
                continue
            ref.step(real)
            done += 1
            if done == warmup:
                synchronize(device)
                clock.start()
            elif done > warmup:
                images += real.size(0)
            if done == warmup + steps:
                synchronize(device)
                result = clock.stop(images)  # measured while the workers are still alive
                break
    del loader
    return result


def engine_config(family: Family, *, device: torch.device, batch_size: int, epochs: int,
                  features: dict[str, Any]) -> Any:
    """The TrainConfig of a family; on CUDA with bf16 autocast; ``features``: compile, cpu_gemm_grad."""
    from facegen_utils.training import TrainConfig

    cuda = device.type == "cuda"
    return TrainConfig(objective=family.objective, epochs=epochs, batch_size=batch_size, lr=family.lr,
                       betas=family.betas, optimizer=family.optimizer, n_critic=family.n_critic,
                       critic_schedule=family.critic_schedule, device=str(device), sample_every=0,
                       checkpoint_every=0, out_dir=None, amp="bf16" if cuda else "off", channels_last=None,
                       compile=features["compile"] if cuda else False, cpu_gemm_grad=features["cpu_gemm_grad"],
                       log_every=50 if cuda else 10)


def run_engine(family: Family, folder: Path, *, device: torch.device, image_size: int, batch_size: int,
               warmup: int, steps: int, features: dict[str, Any]) -> Rate:
    """Images per second of the engine over ``steps`` iterations after ``warmup`` iterations (cache built first)."""
    from facegen_utils import datasets, models
    from facegen_utils.training import Trainer

    torch.manual_seed(0)
    model_set = models.build(family.model, image_size=image_size, **family.options)
    data = datasets.get("folder", data_dir=folder, image_size=image_size, value_range=tuple(model_set.value_range))
    per_epoch = len(data) // batch_size
    epochs = math.ceil((warmup + steps) / per_epoch)
    trainer = Trainer(model_set, data, engine_config(family, device=device, batch_size=batch_size, epochs=epochs,
                                                     features=features))
    clock = Clock()
    result: list[Rate] = []

    def on_step(t: Any) -> None:
        if t.step == warmup:
            synchronize(device)
            clock.start()
        elif t.step == warmup + steps:
            synchronize(device)
            result.append(clock.stop(steps * batch_size))

    trainer.on("on_step_end", on_step)
    trainer.fit()
    return result[0]


# ---------------------------------------------------------------------------------------------------------
# the FLOP-bound limit
# ---------------------------------------------------------------------------------------------------------
def flops_per_image(family: Family, *, device: torch.device, image_size: int, batch: int) -> float:
    """FLOPs of one training step per real image (forward + backward + penalty), from the reference step."""
    from facegen_utils import models

    torch.manual_seed(0)
    model_set = models.build(family.model, image_size=image_size, **family.options)
    ref = Reference(family, model_set, device)
    lo, hi = model_set.value_range
    real = torch.rand(batch, 3, image_size, image_size, device=device) * (hi - lo) + lo
    cycle = family.n_critic  # a WGAN's generator steps once per n_critic batches
    with FlopCounterMode(display=False) as counter:
        for _ in range(cycle):
            ref.step(real)
    return counter.get_total_flops() / (cycle * batch)


def matmul_flops(device: torch.device, dtype: torch.dtype = torch.float32) -> float:
    """The device's measured matrix-multiply rate in FLOP/s (best of a few timed products)."""
    n = 2048 if device.type == "cpu" else 8192
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    repeats = 3 if device.type == "cpu" else 20
    torch.mm(a, b)
    best = math.inf
    for _ in range(5):
        synchronize(device)
        start = time.perf_counter()
        for _ in range(repeats):
            torch.mm(a, b)
        synchronize(device)
        best = min(best, (time.perf_counter() - start) / repeats)
    return 2 * n ** 3 / best


# ---------------------------------------------------------------------------------------------------------
# the mixed-size JPEG measurement (report 001's data)
# ---------------------------------------------------------------------------------------------------------
@dataclass
class WholeRun:
    """A training run from a cold start: set-up seconds and (wall, CPU) seconds of every epoch."""

    images_per_epoch: int
    setup: float
    epochs: list[tuple[float, float | None]]

    def cold(self) -> float:
        """Images per second over the whole run, set-up included."""
        return len(self.epochs) * self.images_per_epoch / (self.setup + sum(w for w, _ in self.epochs))

    def steady(self) -> Rate:
        """Images per wall and CPU second of the epochs after the first."""
        later = self.epochs[1:] or self.epochs
        cpu = [c for _, c in later]
        return rate(len(later) * self.images_per_epoch, sum(w for w, _ in later),
                    None if None in cpu else sum(cpu))


def run_mixed_engine(folder: Path, *, device: torch.device, batch_size: int, epochs: int,
                     features: dict[str, Any]) -> WholeRun:
    """Report 001's MLP WGAN-GP through the engine: scan, cache build and set-up, then epoch by epoch."""
    from facegen_utils import datasets, models
    from facegen_utils.training import Trainer

    family = MIXED_FAMILY
    synchronize(device)
    start = time.perf_counter()
    torch.manual_seed(0)
    model_set = models.build(family.model, image_size=64)
    data = datasets.get("folder", data_dir=folder, image_size=64)
    trainer = Trainer(model_set, data, engine_config(family, device=device, batch_size=batch_size, epochs=epochs,
                                                     features=features))
    synchronize(device)
    run = WholeRun(trainer.steps_per_epoch * batch_size, time.perf_counter() - start, [])
    for epoch in range(1, epochs + 1):
        clock = Clock()
        clock.start()
        trainer.fit(epoch)
        synchronize(device)
        run.epochs.append(clock.elapsed())
    return run


def run_mixed_reference(folder: Path, *, device: torch.device, batch_size: int, epochs: int,
                        workers: int) -> WholeRun:
    """The same model in the tutorial's style: ImageFolder decoding every JPEG in every epoch."""
    from facegen_utils import models

    family = MIXED_FAMILY
    synchronize(device)
    start = time.perf_counter()
    torch.manual_seed(0)
    ref = Reference(family, models.build(family.model, image_size=64), device)
    loader = tutorial_loader(folder.parent, image_size=64, batch_size=batch_size, value_range=(-1.0, 1.0),
                             workers=workers)
    run = WholeRun((len(loader.dataset) // batch_size) * batch_size, time.perf_counter() - start, [])
    for _ in range(epochs):
        clock = Clock()
        clock.start()
        ref.start_epoch()
        for real, _ in loader:
            if real.size(0) == batch_size:
                ref.step(real)
        synchronize(device)
        run.epochs.append(clock.elapsed())
    del loader
    return run


# ---------------------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------------------
def verdict(ok: bool) -> str:
    """PASS or BELOW."""
    return "PASS " if ok else "BELOW"


def describe_machine(device: torch.device) -> str:
    """One line naming the device, threads and software versions."""
    if device.type == "cuda":
        what = torch.cuda.get_device_name(device)
    else:
        what = f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"
    return f"{what}; torch {torch.__version__}, python {platform.python_version()}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="auto (cuda, mps, cpu), cpu, cuda, cuda:N")
    parser.add_argument("--steps", type=int, help="timed iterations per loop (default: CPU 3, GPU 200; "
                                                  "the reference loop on a GPU at most 40)")
    parser.add_argument("--warmup", type=int, help="untimed iterations first (default: CPU 2, GPU 20)")
    parser.add_argument("--batch-size", type=int, help="batch size (default: CPU 64, GPU 128 as in report 004)")
    parser.add_argument("--families", help="comma-separated subset of: " + ", ".join(f.label for f in FAMILIES))
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of the reference (tutorial: 2)")
    parser.add_argument("--mixed-images", type=int, help="mixed-size JPEGs for the MLP WGAN-GP run (default 256)")
    parser.add_argument("--mixed-epochs", type=int, default=3, help="epochs of the mixed-size run (default 3)")
    parser.add_argument("--no-compile", action="store_true", help="do not torch.compile on CUDA")
    parser.add_argument("--compile-mode", choices=("default", "reduce-overhead", "max-autotune"),
                        help="torch.compile mode on CUDA (reduce-overhead: CUDA graphs; default: torch's default)")
    parser.add_argument("--no-gemm-grad", action="store_true",
                        help="CPU: oneDNN's weight gradients for every convolution (TrainConfig.cpu_gemm_grad=False)")
    parser.add_argument("--repeats", type=int, help="alternating runs of each loop, best kept (default: 2, "
                                                    "--quick 1)")
    parser.add_argument("--quick", action="store_true", help="a short run: fewer steps and images")
    return parser.parse_args(argv)


def fmt(value: float | None, width: int, digits: int = 1) -> str:
    """A right-aligned figure, or a dash when not measured."""
    return f"{value:>{width}.{digits}f}" if value is not None else f"{'-':>{width}}"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the tables."""
    args = parse_args(argv)
    from facegen_utils._log import logger
    from facegen_utils.device import resolve_device

    logger.setLevel(logging.WARNING)
    device = resolve_device(args.device)
    gpu = device.type == "cuda"
    batch = args.batch_size or (128 if gpu else 64)
    warmup = args.warmup if args.warmup is not None else (20 if gpu else (1 if args.quick else 2))
    steps = args.steps or (200 if gpu else 3)
    repeats = args.repeats or (1 if args.quick else 2)
    ref_steps = min(steps, 40) if gpu else steps
    mixed_n = args.mixed_images or (128 if args.quick else 256)
    mixed_epochs = 2 if args.quick and args.mixed_epochs == 3 else args.mixed_epochs
    features = {"compile": False if args.no_compile else (args.compile_mode or True),
                "cpu_gemm_grad": not args.no_gemm_grad}
    families = FAMILIES
    if args.families:
        wanted = [w.strip() for w in args.families.split(",")]
        unknown = [w for w in wanted if w not in {f.label for f in FAMILIES}]
        if unknown:
            print(f"unknown family {unknown[0]!r}; choose from: {', '.join(f.label for f in FAMILIES)}",
                  file=sys.stderr)
            return 2
        families = tuple(f for f in FAMILIES if f.label in wanted)
    mixed_batch = min(batch, 64)
    if mixed_n < mixed_batch:
        print(f"--mixed-images {mixed_n} is fewer than one batch of the mixed-size run ({mixed_batch}); "
              f"use at least {mixed_batch}", file=sys.stderr)
        return 2

    print(f"device: {describe_machine(device)}")
    print(f"batch {batch}, warmup {warmup} + {steps} timed iterations (reference {ref_steps}), best of {repeats} "
          f"alternating runs, {args.workers} DataLoader workers for the reference")
    if gpu:
        print(f"engine: bf16 autocast, channels_last where the Trainer picks it (not for transposed convolutions "
              f"under compile), GPU-resident data, torch.compile "
              f"{features['compile'] if features['compile'] else 'off'}")
    else:
        print(f"engine: GEMM weight gradients for small convolutions (cpu_gemm_grad) "
              f"{'on' if features['cpu_gemm_grad'] else 'off'}")
    print(f"load average before the run: {', '.join(f'{x:.1f}' for x in os.getloadavg())} "
          f"({os.cpu_count()} logical CPUs)")
    limit_rate = matmul_flops(device)
    print(f"measured fp32 matmul: {limit_rate / 1e9:.1f} GFLOP/s")
    if gpu:
        limit_rate = matmul_flops(device, torch.bfloat16)
        print(f"measured bf16 matmul: {limit_rate / 1e9:.1f} GFLOP/s (the engine trains with bf16 autocast on CUDA)")

    rows = []
    with tempfile.TemporaryDirectory(prefix="facegen-bench-") as tmp:
        tmp_path = Path(tmp)
        os.environ["FACEGEN_CACHE_DIR"] = str(tmp_path / "cache")  # a cold cache: the build is part of the run
        n_images = (warmup + max(steps, ref_steps)) * batch
        if gpu:
            n_images = min(n_images, 16 * batch)  # the engine loops epochs; the reference decodes them again
        folder = write_faces(tmp_path / "faces64", n_images, size=128)
        print(f"data: {n_images} procedural faces as 128-px JPEGs, trained at 64 px")
        print("img/s: images per second of wall-clock time; img/cpu-s: per second of CPU time of every process of "
              "the loop (the reference's DataLoader workers included)\n")
        header = (f"{'model':<16} {'GFLOP/img':>9} {'engine img/s':>12} {'ref img/s':>9} {'ratio':>5} "
                  f"{'limit img/s':>11} {'engine %lim':>11} {'ref %lim':>8} {'engine img/cpu-s':>16} "
                  f"{'ref img/cpu-s':>13} {'cpu ratio':>9}")
        print(header)
        print("-" * len(header))
        for family in families:
            flops = flops_per_image(family, device=device, image_size=64, batch=min(batch, 16))
            engine = reference = None
            for _ in range(repeats):  # alternate the two loops; keep the best of each (load on a shared machine)
                engine = best(engine, run_engine(family, folder, device=device, image_size=64, batch_size=batch,
                                                 warmup=warmup, steps=steps, features=features))
                reference = best(reference, run_reference(family, folder.parent, device=device, image_size=64,
                                                          batch_size=batch, warmup=min(warmup, 2) if gpu else warmup,
                                                          steps=ref_steps, workers=args.workers))
            # probe the matmul rate again next to each family and keep the highest: the limit is then the
            # strictest one this machine showed during the run, not a low reading taken in a busy moment
            limit_rate = max(limit_rate, matmul_flops(device, torch.bfloat16 if gpu else torch.float32))
            limit = limit_rate / flops
            rows.append((family, engine, reference, flops))
            print(f"{family.label:<16} {flops / 1e9:>9.3f} {engine.wall:>12.1f} {reference.wall:>9.1f} "
                  f"{engine.wall / reference.wall:>5.2f} {limit:>11.1f} {100 * engine.wall / limit:>10.1f}% "
                  f"{100 * reference.wall / limit:>7.1f}% {fmt(engine.cpu, 16)} {fmt(reference.cpu, 13)} "
                  f"{fmt(engine.cpu / reference.cpu if engine.cpu and reference.cpu else None, 9, 2)}", flush=True)

        mixed_folder = write_faces(tmp_path / "mixed", mixed_n, size=256, mixed=True, seed=1)
        print(f"\nreport 001's MLP WGAN-GP on {mixed_n} mixed-size JPEGs (180-720 x 220-900 px), batch "
              f"{mixed_batch}, {mixed_epochs} epochs from a cold start (fresh cache):")
        eng = run_mixed_engine(mixed_folder, device=device, batch_size=mixed_batch, epochs=mixed_epochs,
                               features=features)
        ref = run_mixed_reference(mixed_folder, device=device, batch_size=mixed_batch, epochs=mixed_epochs,
                                  workers=args.workers)
        for name, run, setup in (("engine", eng, "scan + cache build"), ("reference", ref, "ImageFolder")):
            epochs = ", ".join(f"{w:.1f}" for w, _ in run.epochs)
            steady = run.steady()
            print(f"  {name:<9} set-up {run.setup:5.1f} s ({setup}), epochs {epochs} s; "
                  f"whole run {run.cold():.1f} img/s; later epochs {steady.wall:.1f} img/s, "
                  f"{fmt(steady.cpu, 1)} img/cpu-s")
        cold_ratio, steady_ratio = eng.cold() / ref.cold(), eng.steady().wall / ref.steady().wall
        print(f"  ratio engine / reference: whole run {cold_ratio:.2f}, later epochs {steady_ratio:.2f}")
    print(f"load average after the run: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"highest matmul rate measured during the run: {limit_rate / 1e9:.1f} GFLOP/s (a row's limit uses the "
          f"highest reading up to that row; the targets below use this one)")

    print("\ntargets (issue 'Performance'):")
    dcgan = next((r for r in rows if r[0].label == "dcgan-64"), None)
    if dcgan:
        _, engine, reference, flops = dcgan
        ratio, limit = engine.wall / reference.wall, limit_rate / flops
        if gpu:
            print(f"  [{verdict(ratio >= 10)}] GPU: DCGAN-64 >= 10x the reference on this GPU: {ratio:.1f}x")
            print(f"  [{verdict(engine.wall >= 50_000)}] GPU: DCGAN-64 >= 50,000 img/s (H100 aim): "
                  f"{engine.wall:,.0f} img/s; a CelebA epoch (202,599 images) in {202_599 / engine.wall:.1f} s")
        else:
            cpu = f" (per CPU second: {engine.cpu / reference.cpu:.2f}x)" if engine.cpu and reference.cpu else ""
            print(f"  [{verdict(ratio >= 0.95)}] CPU: DCGAN-64 >= 0.95x the reference: {ratio:.2f}x{cpu}")
            print(f"  [{verdict(engine.wall >= 0.75 * limit)}] CPU: DCGAN-64 >= 75% of the FLOP limit: "
                  f"{100 * engine.wall / limit:.1f}% of {limit:.1f} img/s")
    else:
        print("  DCGAN-64 targets: not measured (dcgan-64 is not among --families)")
    if not gpu:
        print(f"  [{verdict(cold_ratio >= 1.5)}] CPU: MLP WGAN-GP on mixed-size JPEGs >= 1.5x the reference, whole "
              f"run of {mixed_epochs} epochs from a cold start: {cold_ratio:.2f}x")
        print(f"  [{verdict(steady_ratio >= 1.5)}] CPU: the same, epochs after the first (the cache already "
              f"built): {steady_ratio:.2f}x")
        print("  GPU targets: not measured (no CUDA device here)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
