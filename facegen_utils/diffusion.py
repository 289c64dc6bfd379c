"""Denoising diffusion: noise schedules, the forward process, and the DDPM and DDIM samplers (notebook 06).

- Ho et al. (2020), "Denoising Diffusion Probabilistic Models": the forward process q(x_t | x_0) =
  N(sqrt(ᾱ_t) x_0, (1 - ᾱ_t) I) with the linear schedule β_t = 1e-4 … 0.02 over T = 1000 steps, a network trained to
  predict the noise ε with the "simple" loss ||ε - ε̂(x_t, t)||², and ancestral sampling with the posterior variance
  β̃_t = β_t (1 - ᾱ_{t-1}) / (1 - ᾱ_t).
- Nichol & Dhariwal (2021), "Improved Denoising Diffusion Probabilistic Models": the cosine schedule
  ᾱ_t = f(t) / f(0), f(t) = cos²((t/T + s) / (1 + s) · π/2), s = 0.008, β_t clipped at 0.999; and sampling on a
  subsequence of the time steps (respacing) for the ancestral sampler.
- Song et al. (2021), "Denoising Diffusion Implicit Models": the DDIM update on S ≤ T steps,
  x_{t'} = sqrt(ᾱ_{t'}) x̂_0 + sqrt(1 - ᾱ_{t'} - σ²) ε̂ + σ z with σ = η sqrt((1 - ᾱ_{t'}) / (1 - ᾱ_t))
  sqrt(1 - ᾱ_t / ᾱ_{t'}); η = 0 is deterministic (one starting noise, one image), η = 1 is DDPM's ancestral sampler.

The time steps of an S-step sampler are ``round(linspace(0, T - 1, S))``, visited from T - 1 down to 0, so every
sampler starts from pure noise at t = T - 1 and ends at t = 0. x̂_0 is clipped to [-1, 1] (the data's range) at every
step, as in Ho et al.'s code. The DDIM update keeps the network's ε̂ (as Song et al. and the ``diffusers`` default
do); recomputing ε̂ from the clipped x̂_0 instead left visible noise in the shipped U-Net's samples (DDIM-50,
200 samples: precision 0.40 and FID 48.7 against 0.96 and 29.9, benchmarks/README.md).

    models = fu.models.build("ddpm-unet", image_size=32)
    images = fu.diffusion.sample(models, 64, steps=50, sampler="ddim", seed=0)   # (64, 3, 32, 32) in [-1, 1]
"""
from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch

from facegen_utils._log import progress
from facegen_utils.tensors import eval_mode, from_uint8

__all__ = ["SCHEDULES", "SAMPLERS", "Schedule", "linear_schedule", "cosine_schedule", "make_schedule", "timesteps_for",
           "check_steps", "denoiser_of", "diffuse", "forward_process", "ddim_loop", "sample", "Trajectory", "trajectory",
           "sampling_study", "real_images", "discriminator_between_outputs"]

SCHEDULES = ("linear", "cosine")
SAMPLERS = ("ddim", "ddpm")


@dataclass(frozen=True)
class Schedule:
    """The noise schedule β_1..β_T (float64, index t = 0..T-1) and the quantities derived from it."""

    name: str
    betas: torch.Tensor

    @property
    def timesteps(self) -> int:
        """T, the number of diffusion steps."""
        return len(self.betas)

    @property
    def alphas(self) -> torch.Tensor:
        """α_t = 1 - β_t."""
        return 1.0 - self.betas

    @property
    def alpha_bar(self) -> torch.Tensor:
        """ᾱ_t = ∏_{s ≤ t} α_s: the share of the signal's variance left at step t."""
        return torch.cumprod(self.alphas, dim=0)

    @property
    def alpha_bar_prev(self) -> torch.Tensor:
        """ᾱ_{t-1}, with ᾱ_{-1} = 1 (no noise before the first step)."""
        return torch.cat([torch.ones(1, dtype=self.betas.dtype), self.alpha_bar[:-1]])

    @property
    def posterior_variance(self) -> torch.Tensor:
        """β̃_t = β_t (1 - ᾱ_{t-1}) / (1 - ᾱ_t): the variance of q(x_{t-1} | x_t, x_0)."""
        return self.betas * (1.0 - self.alpha_bar_prev) / (1.0 - self.alpha_bar)

    def snr(self) -> torch.Tensor:
        """The signal-to-noise ratio ᾱ_t / (1 - ᾱ_t) at every step."""
        return self.alpha_bar / (1.0 - self.alpha_bar)


def linear_schedule(timesteps: int = 1000, *, beta_start: float = 1e-4, beta_end: float = 0.02) -> Schedule:
    """Ho et al.'s linear schedule, scaled for other T as Nichol & Dhariwal do (1e-4 → 0.02 at T = 1000)."""
    scale = 1000 / timesteps
    return Schedule("linear", torch.linspace(scale * beta_start, scale * beta_end, timesteps, dtype=torch.float64))


def cosine_schedule(timesteps: int = 1000, *, s: float = 0.008, max_beta: float = 0.999) -> Schedule:
    """Nichol & Dhariwal's cosine schedule: ᾱ_t follows cos² from 1 to 0; β_t = 1 - ᾱ_t / ᾱ_{t-1}, at most 0.999."""
    t = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    return Schedule("cosine", (1.0 - f[1:] / f[:-1]).clamp(max=max_beta))


def make_schedule(name: str, timesteps: int = 1000) -> Schedule:
    """The schedule called ``name`` ("linear" or "cosine") with ``timesteps`` steps."""
    from facegen_utils.spec import check_choice, check_int

    check_choice("schedule", name, SCHEDULES)
    check_int("timesteps", timesteps, 2)
    return linear_schedule(timesteps) if name == "linear" else cosine_schedule(timesteps)


def check_steps(name: str, steps: Any, timesteps: int) -> None:
    """A sampler's number of steps must be a whole number in 1..T."""
    from facegen_utils.spec import check_int

    check_int(name, steps, 1)
    if steps > timesteps:
        raise ValueError(f"{name}={steps} is more than the model's {timesteps} diffusion steps; use 1 to {timesteps} "
                         f"(e.g. 50 for DDIM, {timesteps} for the full DDPM chain).")


def timesteps_for(steps: int, timesteps: int) -> list[int]:
    """The ``steps`` time steps a sampler visits, from T - 1 down to 0: round(linspace(0, T - 1, steps))."""
    check_steps("steps", steps, timesteps)
    if steps == 1:
        return [timesteps - 1]
    return sorted({round(v) for v in torch.linspace(0, timesteps - 1, steps, dtype=torch.float64).tolist()},
                  reverse=True)


def denoiser_of(source: Any) -> Any:
    """The DiffusionModel in ``source``: itself, a DiffusionSampler's, a ModelSet's (its G) or a Trainer's (EMA)."""
    from facegen_utils.models.unet import DiffusionModel, DiffusionSampler

    if isinstance(source, DiffusionModel):
        return source
    if isinstance(source, DiffusionSampler):
        return source.model
    if hasattr(source, "G_ema") and hasattr(source, "models"):  # a Trainer: the averaged weights when kept
        return denoiser_of(source.G_ema if source.G_ema is not None else source.models.G)
    if isinstance(getattr(source, "G", None), DiffusionSampler):
        return source.G.model
    raise TypeError(f"expected a diffusion model (models.build('ddpm-unet'), its Trainer or a DiffusionModel), got a "
                    f"{type(source).__name__}")


def diffuse(x0: torch.Tensor, t: int | torch.Tensor, schedule: Any, *,
            noise: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """A sample of q(x_t | x_0) = N(sqrt(ᾱ_t) x_0, (1 - ᾱ_t) I), for one step t or one per image.

    ``schedule`` is a :class:`Schedule`, or a ``DiffusionModel``, whose float32 copies of the two scales live on its
    device (the training step's path: no copy from the host per batch).
    """
    t = torch.as_tensor(t, device=x0.device)
    t = t.expand(x0.shape[0]) if t.dim() == 0 else t
    if noise is None:
        noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
    if isinstance(schedule, Schedule):
        a = schedule.alpha_bar[t.cpu()].to(x0.device)
        signal, spread = a.sqrt().to(x0.dtype), (1 - a).sqrt().to(x0.dtype)
    else:
        signal, spread = schedule.sqrt_alpha_bar[t], schedule.sqrt_one_minus_alpha_bar[t]
    return signal.view(-1, 1, 1, 1) * x0 + spread.view(-1, 1, 1, 1) * noise


def forward_process(x0: torch.Tensor, steps: Sequence[int], schedule: Schedule, *, seed: int = 0) -> torch.Tensor:
    """Images x0 (N, C, S, S) noised at each of ``steps`` with one shared noise draw: (len(steps), N, C, S, S)."""
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed), dtype=x0.dtype)
    return torch.stack([diffuse(x0, int(t), schedule, noise=noise) for t in steps])


def _coefficients(schedule: Schedule, t: int, t_prev: int) -> tuple[float, float]:
    alpha_bar = schedule.alpha_bar
    return float(alpha_bar[t]), float(alpha_bar[t_prev]) if t_prev >= 0 else 1.0


def _step(model: Any, x: torch.Tensor, t: int, t_prev: int, *, sampler: str, eta: float,
          generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """One reverse step from t to t_prev (-1: the end): (x_{t_prev}, x̂_0)."""
    a, a_prev = _coefficients(model.schedule, t, t_prev)
    eps = model(x, torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)).float()
    x0 = ((x - math.sqrt(1 - a) * eps) / math.sqrt(a)).clamp(-1.0, 1.0)
    if t_prev < 0:
        return x0, x0
    if sampler == "ddpm":  # the posterior q(x_{t'} | x_t, x̂_0) of the (respaced) forward process
        beta = 1 - a / a_prev
        mean = (math.sqrt(a_prev) * beta / (1 - a)) * x0 + (math.sqrt(a / a_prev) * (1 - a_prev) / (1 - a)) * x
        sigma = math.sqrt(beta * (1 - a_prev) / (1 - a))
    else:  # DDIM, with the network's ε̂ (not the noise the clipped x̂_0 implies: see the module docstring)
        sigma = eta * math.sqrt((1 - a_prev) / (1 - a) * (1 - a / a_prev))
        mean = math.sqrt(a_prev) * x0 + math.sqrt(max(1 - a_prev - sigma ** 2, 0.0)) * eps
    if sigma > 0:
        mean = mean + sigma * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return mean, x0


def _loop(model: Any, x: torch.Tensor, *, steps: int, sampler: str, eta: float,
          generator: torch.Generator | None, record: list | None = None) -> torch.Tensor:
    from facegen_utils.spec import check_choice, check_number

    check_choice("sampler", sampler, SAMPLERS)
    check_number("eta", eta, 0, 1, low_inclusive=True, high_inclusive=True, example="0 (deterministic DDIM) or 1 (as DDPM)")
    ts = timesteps_for(steps, model.timesteps)
    with eval_mode(model), torch.inference_mode():
        for t, t_prev in zip(ts, [*ts[1:], -1]):
            x, x0 = _step(model, x, t, t_prev, sampler=sampler, eta=eta, generator=generator)
            if record is not None:
                record.append((t, x.cpu(), x0.cpu()))
    return x


def ddim_loop(model: Any, x: torch.Tensor, *, steps: int, eta: float = 0.0,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """Denoise the starting noise x (N, C, S, S) with DDIM in ``steps`` steps; images in [-1, 1]."""
    return _loop(model, x, steps=steps, sampler="ddim", eta=eta, generator=generator)


def _device_of(model: Any) -> torch.device:
    return next(model.parameters()).device


def _start_noise(source: Any, n: int, seed: int, x_T: torch.Tensor | None) -> tuple[Any, torch.Tensor]:
    """The denoiser of ``source`` and the starting noise x_T (N, C, S, S): given (any shape, e.g. flattened latents)
    or drawn on the CPU from ``seed``, so the same seed gives the same noise on every device."""
    model = denoiser_of(source)
    shape = (model.channels, model.image_size, model.image_size)
    if x_T is None:
        x_T = torch.randn(n, *shape, generator=torch.Generator().manual_seed(seed))
    return model, x_T.reshape(-1, *shape)


def sample(source: Any, n: int = 64, *, steps: int = 50, sampler: str = "ddim", eta: float = 0.0, seed: int = 0,
           x_T: torch.Tensor | None = None, batch_size: int = 256) -> torch.Tensor:
    """``n`` images (CPU, float32, in [-1, 1]) from a diffusion model with ``sampler`` in ``steps`` steps.

    ``source``: a ModelSet of ``ddpm-unet``, its Trainer (the EMA weights when kept) or a DiffusionModel. The
    starting noise x_T comes from ``seed`` (or is given); the same seed gives the same images for DDIM with η = 0,
    and the same noise as ``models.G(z)`` with z = x_T flattened.
    """
    model, x_T = _start_noise(source, n, seed, x_T)
    device = _device_of(model)
    generator = torch.Generator(device=device).manual_seed(seed + 1)
    out = [_loop(model, part.to(device), steps=steps, sampler=sampler, eta=eta,
                 generator=generator).float().cpu()
           for part in x_T.split(batch_size)]
    return torch.cat(out)


@dataclass
class Trajectory:
    """A reverse process recorded at every step: the time steps, x_t and the predicted x̂_0 (each (steps, N, C, S, S))."""

    timesteps: list[int]
    x: torch.Tensor
    x0: torch.Tensor

    def at(self, index: int) -> tuple[int, torch.Tensor, torch.Tensor]:
        """The time step, x_t and x̂_0 after step ``index`` (0 = the first denoising step)."""
        return self.timesteps[index], self.x[index], self.x0[index]


def trajectory(source: Any, n: int = 1, *, steps: int = 50, sampler: str = "ddim", eta: float = 0.0,
               seed: int = 0, x_T: torch.Tensor | None = None) -> Trajectory:
    """The reverse process of ``n`` images from the noise of ``seed``, recorded after every step."""
    model, x_T = _start_noise(source, n, seed, x_T)
    device = _device_of(model)
    record: list = []
    _loop(model, x_T.to(device), steps=steps, sampler=sampler, eta=eta,
          generator=torch.Generator(device=device).manual_seed(seed + 1), record=record)
    return Trajectory([t for t, _, _ in record], torch.stack([x for _, x, _ in record]),
                      torch.stack([x0 for _, _, x0 in record]))


def sampling_study(source: Any, reference: Any, *, settings: Sequence[tuple[str, int]], n: int = 500,
                   seed: int = 2, gan: Any = None, gan_label: str = "DCGAN",
                   metrics: Sequence[str] = ("fid", "kid", "precision_recall", "density_coverage", "mode_collapse",
                                             "attributes"),
                   time_n: int = 64) -> tuple[pd.DataFrame, dict[str, torch.Tensor]]:
    """Quality and time of the diffusion model under each (sampler, steps) of ``settings``, and of a GAN.

    One row per setting (index like "DDIM-50"): the metrics of ``n`` samples against ``reference``
    (:func:`facegen_utils.metrics.reference`), the steps and the seconds per ``time_n`` samples on this machine;
    the GAN's row (its forward pass, ``steps`` 1) when ``gan`` (a ModelSet) is given. Also returns the samples.
    """
    from facegen_utils import metrics as fm

    rows, images = [], {}
    entries: list[tuple[str, Any, int]] = [(f"{s.upper()}-{k}", (s, k), k) for s, k in settings]
    if gan is not None:
        entries.insert(0, (gan_label, gan, 1))
    with progress(total=len(entries), desc="sampling study", unit="setting") as bar:
        for label, what, steps in entries:
            started = time.perf_counter()
            if isinstance(what, tuple):
                fake = sample(source, n, steps=steps, sampler=what[0], seed=seed)
            else:
                fake = fm.generate(what.G, n, latent_dim=what.latent_dim, seed=seed)
            seconds = (time.perf_counter() - started) * time_n / n
            row = fm.evaluate(fake, reference, n=n, seed=seed, label=label, metrics=metrics)
            row.insert(0, "steps", steps)
            row.insert(1, f"seconds_per_{time_n}", round(seconds, 3))
            rows.append(row)
            images[label] = fake
            bar.update()
    table = pd.concat(rows)
    table.attrs["note"] = rows[0].attrs.get("note", "")
    return table, images


def real_images(dataset: Any, n: int, *, seed: int = 0) -> tuple[torch.Tensor, tuple[float, float]]:
    """``n`` images drawn from a dataset with ``seed`` (all when it has fewer) and their value range."""
    from facegen_utils.metrics.evaluate import _pick
    from facegen_utils.metrics.features import images_from

    idx = _pick(len(dataset), n, seed)
    images, value_range = images_from(torch.utils.data.Subset(dataset, idx.tolist()),
                                      value_range=getattr(dataset, "value_range", (-1.0, 1.0)))
    if images.dtype == torch.uint8:
        images, value_range = from_uint8(images, (-1.0, 1.0)), (-1.0, 1.0)
    return images, tuple(value_range)


def discriminator_between_outputs(real: torch.Tensor, samples: dict[str, torch.Tensor], *, gan: str | None,
                                  diffusion_label: str, real_range: Sequence[float] = (-1.0, 1.0),
                                  seed: int = 0) -> pd.DataFrame:
    """Report 004's planned "discriminator between the outputs of the GAN and of the diffusion model": classifier
    two-sample tests (Lopez-Paz & Oquab 2017) of real vs each model and, with a GAN, GAN vs diffusion model."""
    from facegen_utils.metrics import pairwise_two_sample_tests

    sets = {"real": real, diffusion_label: samples[diffusion_label]}
    pairs = [("real", diffusion_label)]
    if gan is not None:
        sets[gan] = samples[gan]
        pairs = [("real", gan), *pairs, (gan, diffusion_label)]
    return pairwise_two_sample_tests(sets, pairs, seed=seed, value_ranges={"real": tuple(real_range)})
