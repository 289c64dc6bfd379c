"""Latent priors for the generators, and the latent-space tools built on them.

Report 003 (Monet DCGAN) studies how the noise distribution affects a DCGAN: U(-1, 1), N(0, 1), Gamma(2, 1),
N(-1, 1), N(1, 1), N(0, 0.01) and N(0, 100). Specs are strings that ``parse`` turns into a ``Prior``:

- ``normal(mean, variance)`` -- the second number is the **variance**, as the report writes N(0, 0.01)
  (standard deviation 0.1) and N(0, 100) (standard deviation 10). The standard deviation can be given by
  keyword instead: ``normal(0, std=0.1)`` is the same prior as ``normal(0, 0.01)``.
  Keywords: ``mean``, ``variance`` (or ``var``), ``std``.
- ``uniform(low, high)`` -- U[low, high). Keywords: ``low``, ``high``.
- ``gamma(shape, scale)`` -- shape k and scale theta (mean k*theta, variance k*theta^2); Gamma(2, 1) has mean 2
  and variance 2. Keywords: ``shape`` (or ``k``), ``scale`` (or ``theta``), or ``rate`` = 1 / scale.
- Short names as the report writes them: ``N(0, 1)``, ``U(-1, 1)``, ``Gamma(2, 1)``. Case and spaces are ignored.

Sampling follows a ``torch.Generator`` when one is given, so a seed reproduces the same latents; gamma variates
are drawn with Marsaglia & Tsang's method (2000) from the generator's normal and uniform streams. Interpolation
(lerp, slerp; White 2016, "Sampling Generative Networks"), truncation by resampling (Brock et al. 2019, BigGAN)
and a seed -> latent mapping (one CPU generator per seed, as StyleGAN maps seeds to latents) complete the module.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import torch

from facegen_utils._log import logger

__all__ = ["Prior", "Normal", "Uniform", "Gamma", "parse", "REPORT_003_PRIORS", "lerp", "slerp", "truncate",
           "latent_from_seed", "fixed_grid"]

ACCEPTED_FORMS = (
    "normal(mean, variance) e.g. 'normal(0, 1)' or 'normal(0, 0.01)' (variance 0.01, std 0.1); "
    "normal(mean, std=...) e.g. 'normal(0, std=0.1)'; uniform(low, high) e.g. 'uniform(-1, 1)'; "
    "gamma(shape, scale) e.g. 'gamma(2, 1)'; short names N(...), U(...)"
)

REPORT_003_PRIORS: list[str] = ["uniform(-1, 1)", "normal(0, 1)", "gamma(2, 1)", "normal(-1, 1)", "normal(1, 1)",
                                 "normal(0, 0.01)", "normal(0, 100)"]
"""The seven noise distributions of report 003, in the report's order (normal: second number = variance)."""


def _fmt(value: float) -> str:
    """Shortest text that parses back to exactly ``value`` ("1" rather than "1.0")."""
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _short(value: float) -> str:
    """Compact text for labels: six significant digits ("0.01" for a variance of 0.1 ** 2)."""
    return f"{value:.6g}"


def _check_size(n: int, latent_dim: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"sample: n={n!r} must be a non-negative int (the number of latent vectors).")
    if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
        raise ValueError(f"sample: latent_dim={latent_dim!r} must be a positive int (e.g. 100 for the DCGAN).")


@dataclass(frozen=True)
class Prior:
    """A latent distribution with independent components; ``parse`` builds one from a spec string."""

    def sample(self, n: int, latent_dim: int, *, generator: torch.Generator | None = None,
               device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Draw an (n, latent_dim) tensor on ``device`` (default: the generator's device, else CPU).

        Drawn on the generator's device, then moved: one seeded generator gives the same latents on any ``device``.
        """
        _check_size(n, latent_dim)
        draw_dtype = torch.float64 if dtype == torch.float64 else torch.float32
        draw_device = generator.device if generator is not None else torch.device("cpu" if device is None else device)
        z = self._draw((n, latent_dim), generator, draw_device, draw_dtype)
        target = torch.device(device) if device is not None else draw_device
        return z.to(device=target, dtype=dtype)

    def _draw(self, size: tuple[int, int], generator: torch.Generator | None, device: torch.device,
              dtype: torch.dtype) -> torch.Tensor:
        raise NotImplementedError

    @property
    def std(self) -> float:
        """Theoretical standard deviation of one component."""
        return math.sqrt(self.variance)  # type: ignore[attr-defined]

    @property
    def label(self) -> str:
        """The report's notation for plots and tables, e.g. ``N(0, 0.01)``, ``U(-1, 1)``, ``Gamma(2, 1)``."""
        raise NotImplementedError


@dataclass(frozen=True)
class Normal(Prior):
    """N(mean, variance); ``str`` gives ``normal(mean, variance)`` or ``normal(mean, std=...)`` as it was written."""

    mean: float
    variance: float
    by_std: bool = field(default=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        _check_finite("normal", mean=self.mean, variance=self.variance)
        if self.variance < 0:
            raise ValueError(f"normal(mean, variance): variance={self.variance!r} must be >= 0.")

    def _draw(self, size: tuple[int, int], generator: torch.Generator | None, device: torch.device,
              dtype: torch.dtype) -> torch.Tensor:
        return torch.randn(size, generator=generator, device=device, dtype=dtype) * self.std + self.mean

    @property
    def label(self) -> str:
        """The report's notation, e.g. ``N(0, 0.01)`` (second number: variance)."""
        return f"N({_short(self.mean)}, {_short(self.variance)})"

    def __str__(self) -> str:
        if self.by_std:
            return f"normal({_fmt(self.mean)}, std={_fmt(self.std)})"
        return f"normal({_fmt(self.mean)}, {_fmt(self.variance)})"


@dataclass(frozen=True)
class Uniform(Prior):
    """U[low, high)."""

    low: float
    high: float

    def __post_init__(self) -> None:
        _check_finite("uniform", low=self.low, high=self.high)
        if not self.low < self.high:
            raise ValueError(f"uniform(low, high): low={self.low!r} must be smaller than high={self.high!r}.")

    @property
    def mean(self) -> float:
        """Theoretical mean (low + high) / 2."""
        return (self.low + self.high) / 2

    @property
    def variance(self) -> float:
        """Theoretical variance (high - low)^2 / 12."""
        return (self.high - self.low) ** 2 / 12

    def _draw(self, size: tuple[int, int], generator: torch.Generator | None, device: torch.device,
              dtype: torch.dtype) -> torch.Tensor:
        u = torch.rand(size, generator=generator, device=device, dtype=dtype)
        return u * (self.high - self.low) + self.low

    @property
    def label(self) -> str:
        """The report's notation, e.g. ``U(-1, 1)``."""
        return f"U({_short(self.low)}, {_short(self.high)})"

    def __str__(self) -> str:
        return f"uniform({_fmt(self.low)}, {_fmt(self.high)})"


@dataclass(frozen=True)
class Gamma(Prior):
    """Gamma(shape k, scale theta): mean k*theta, variance k*theta^2."""

    shape: float
    scale: float

    def __post_init__(self) -> None:
        _check_finite("gamma", shape=self.shape, scale=self.scale)
        if self.shape <= 0 or self.scale <= 0:
            raise ValueError(f"gamma(shape, scale): shape={self.shape!r} and scale={self.scale!r} must both be > 0.")

    @property
    def mean(self) -> float:
        """Theoretical mean k * theta."""
        return self.shape * self.scale

    @property
    def variance(self) -> float:
        """Theoretical variance k * theta^2."""
        return self.shape * self.scale ** 2

    def _draw(self, size: tuple[int, int], generator: torch.Generator | None, device: torch.device,
              dtype: torch.dtype) -> torch.Tensor:
        numel = size[0] * size[1]
        boost = self.shape < 1.0
        k = self.shape + 1.0 if boost else self.shape
        d = k - 1.0 / 3.0
        c = 1.0 / math.sqrt(9.0 * d)
        out = torch.empty(numel, device=device, dtype=dtype)
        pending = torch.arange(numel, device=device)
        while pending.numel() > 0:
            x = torch.randn(pending.numel(), generator=generator, device=device, dtype=dtype)
            u = torch.rand(pending.numel(), generator=generator, device=device, dtype=dtype)
            v = (1.0 + c * x) ** 3
            log_v = torch.log(v.clamp_min(torch.finfo(dtype).tiny))
            accept = (v > 0) & (torch.log(u) < 0.5 * x * x + d - d * v + d * log_v)
            out[pending[accept]] = d * v[accept]
            pending = pending[~accept]
        if boost:
            u = torch.rand(numel, generator=generator, device=device, dtype=dtype)
            out = out * u.pow(1.0 / self.shape)
        return (out * self.scale).view(size)

    @property
    def label(self) -> str:
        """The report's notation, e.g. ``Gamma(2, 1)`` (shape, scale)."""
        return f"Gamma({_short(self.shape)}, {_short(self.scale)})"

    def __str__(self) -> str:
        return f"gamma({_fmt(self.shape)}, {_fmt(self.scale)})"


def _check_finite(family: str, **values: float) -> None:
    for name, value in values.items():
        if not math.isfinite(value):
            raise ValueError(f"{family}: {name}={value!r} must be a finite number.")


_FAMILIES = {"normal": "normal", "gaussian": "normal", "n": "normal",
             "uniform": "uniform", "u": "uniform", "gamma": "gamma"}
_KEYWORDS = {"normal": {"mean": "mean", "variance": "variance", "var": "variance", "std": "std"},
             "uniform": {"low": "low", "high": "high"},
             "gamma": {"shape": "shape", "k": "shape", "scale": "scale", "theta": "scale", "rate": "rate"}}
_POSITIONAL = {"normal": ("mean", "variance"), "uniform": ("low", "high"), "gamma": ("shape", "scale")}
_SPEC = re.compile(r"^([a-z]+)\((.*)\)$")


def _bad(spec: object, reason: str) -> ValueError:
    return ValueError(f"Invalid latent prior spec {spec!r}: {reason}. Accepted forms: {ACCEPTED_FORMS}.")


def _number(spec: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _bad(spec, f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise _bad(spec, f"{text!r} is not a finite number")
    return value


def parse(spec: str | Prior) -> Prior:
    """Turn a spec such as ``"normal(0, 0.01)"`` (mean, VARIANCE) or ``"uniform(-1, 1)"`` into a ``Prior``.

    A ``Prior`` is returned unchanged. Raises ``ValueError`` naming the accepted forms for anything else.
    """
    if isinstance(spec, Prior):
        return spec
    if not isinstance(spec, str):
        raise _bad(spec, f"expected a string, got {type(spec).__name__}")
    match = _SPEC.match(re.sub(r"\s+", "", spec).lower())
    if match is None:
        raise _bad(spec, "expected name(arg, arg)")
    name, body = match.groups()
    family = _FAMILIES.get(name)
    if family is None:
        raise _bad(spec, f"unknown distribution {name!r}")
    args = body.split(",") if body else []
    params: dict[str, float] = {}
    positional = _POSITIONAL[family]
    seen_keyword = False
    for i, arg in enumerate(args):
        if "=" in arg:
            key, _, text = arg.partition("=")
            param = _KEYWORDS[family].get(key)
            if param is None:
                raise _bad(spec, f"{family} has no parameter {key!r} (use {', '.join(_KEYWORDS[family])})")
            seen_keyword = True
        else:
            if seen_keyword:
                raise _bad(spec, "a positional argument follows a keyword argument")
            if i >= len(positional):
                raise _bad(spec, f"{family} takes 2 parameters, got {len(args)}")
            param, text = positional[i], arg
        if param in params:
            raise _bad(spec, f"parameter {param!r} given twice")
        params[param] = _number(spec, text)
    try:
        if family == "normal":
            return _normal(spec, params)
        if family == "uniform":
            _require(spec, params, ("low", "high"))
            return Uniform(params["low"], params["high"])
        return _gamma(spec, params)
    except ValueError as error:
        if str(error).startswith("Invalid latent prior spec"):
            raise
        raise _bad(spec, str(error).rstrip(".")) from None


def _require(spec: str, params: dict[str, float], names: tuple[str, ...]) -> None:
    if set(params) != set(names):
        raise _bad(spec, f"expected exactly the parameters {names}, got {tuple(params)}")


def _normal(spec: str, params: dict[str, float]) -> Normal:
    if "std" in params:
        if "variance" in params:
            raise _bad(spec, "give either the variance or std=, not both")
        _require(spec, params, ("mean", "std"))
        if params["std"] < 0:
            raise _bad(spec, f"std={params['std']!r} must be >= 0")
        # Rounded to 15 significant digits so that std=0.1 gives exactly the prior written as variance 0.01.
        return Normal(params["mean"], float(f"{params['std'] ** 2:.15g}"), by_std=True)
    _require(spec, params, ("mean", "variance"))
    return Normal(params["mean"], params["variance"])


def _gamma(spec: str, params: dict[str, float]) -> Gamma:
    if "rate" in params:
        if "scale" in params:
            raise _bad(spec, "give either scale or rate=, not both")
        _require(spec, params, ("shape", "rate"))
        if params["rate"] <= 0:
            raise _bad(spec, f"rate={params['rate']!r} must be > 0")
        return Gamma(params["shape"], 1.0 / params["rate"])
    _require(spec, params, ("shape", "scale"))
    return Gamma(params["shape"], params["scale"])


def _weights(t: float | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Interpolation weights shaped to broadcast over rows of ``like`` (a scalar, or one weight per row)."""
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    if t.ndim > 1:
        raise ValueError(f"t must be a number or a 1-D tensor of weights, got shape {tuple(t.shape)}.")
    return t.reshape((-1,) + (1,) * (like.ndim - 1)) if t.ndim == 1 else t


def _rows(z0: torch.Tensor, z1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    z0 = z0.unsqueeze(0) if z0.ndim == 1 else z0
    z1 = z1.unsqueeze(0) if z1.ndim == 1 else z1
    if z0.shape[-1] != z1.shape[-1]:
        raise ValueError(f"z0 {tuple(z0.shape)} and z1 {tuple(z1.shape)} must have the same latent_dim.")
    return z0, z1


def lerp(z0: torch.Tensor, z1: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """Linear interpolation (1 - t) z0 + t z1 on latents (D,) or (N, D); a 1-D ``t`` of T weights gives T rows.

    ``lerp(z0, z1, torch.linspace(0, 1, 8))`` with z0, z1 of shape (D,) or (1, D) returns the (8, D) path.
    """
    z0, z1 = _rows(z0, z1)
    w = _weights(t, z0)
    return z0 + w * (z1 - z0)


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """Spherical interpolation along the great circle between z0 and z1 (shapes as in ``lerp``), in float64.

    Rows where z0 and z1 are (anti)parallel or zero (no great circle) fall back to ``lerp``; returns z0's dtype.
    """
    z0, z1 = _rows(z0, z1)
    out_dtype = z0.dtype
    z0, z1 = z0.double(), z1.double()
    w = _weights(t, z0)
    denom = torch.linalg.vector_norm(z0, dim=-1, keepdim=True) * torch.linalg.vector_norm(z1, dim=-1, keepdim=True)
    cos = ((z0 * z1).sum(-1, keepdim=True) / denom.clamp_min(torch.finfo(torch.float64).tiny)).clamp(-1.0, 1.0)
    degenerate = (cos.abs() > 1.0 - 1e-9) | (denom == 0)
    omega = torch.arccos(torch.where(degenerate, torch.zeros_like(cos), cos))
    sin_omega = torch.sin(omega)
    spherical = (torch.sin((1.0 - w) * omega) * z0 + torch.sin(w * omega) * z1) / sin_omega
    return torch.where(degenerate, z0 + w * (z1 - z0), spherical).to(out_dtype)


def truncate(z: torch.Tensor, threshold: float, prior: str | Prior = "normal(0, 1)", *,
             generator: torch.Generator | None = None, max_rounds: int = 100) -> torch.Tensor:
    """Truncation trick: redraw every component with |z - mean| / std > threshold from ``prior`` until inside.

    Components still outside after ``max_rounds`` redraws (only for very small thresholds) are clamped to the
    boundary mean +- threshold * std, with a log message. Returns a new tensor; ``z`` is left unchanged.
    """
    if not threshold > 0:
        raise ValueError(f"truncate: threshold={threshold!r} must be > 0 (in standard deviations, e.g. 0.7).")
    p = parse(prior)
    if p.std == 0:
        return torch.full_like(z, p.mean)
    lo, hi = p.mean - threshold * p.std, p.mean + threshold * p.std
    out = z.clone()
    outside = (out < lo) | (out > hi)
    for _ in range(max_rounds):
        count = int(outside.sum())
        if count == 0:
            return out
        out[outside] = p.sample(1, count, generator=generator, device=out.device, dtype=out.dtype).view(-1)
        outside = (out < lo) | (out > hi)
    count = int(outside.sum())
    if count:
        logger.info("truncate: %d component(s) still beyond %.3g std after %d redraws were clamped; "
                    "raise max_rounds or the threshold to avoid it.", count, threshold, max_rounds)
    return out.clamp(lo, hi)


def _cpu_generator(seed: int) -> torch.Generator:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 64:
        raise ValueError(f"seed={seed!r} must be an int in [0, 2**64).")
    return torch.Generator(device="cpu").manual_seed(seed)


def latent_from_seed(seed: int, latent_dim: int, prior: str | Prior = "normal(0, 1)", *,
                     device: torch.device | str | None = None) -> torch.Tensor:
    """The (1, latent_dim) latent of ``seed``: drawn on the CPU from a generator seeded with it, then moved.

    The same seed gives the same latent in every run and on every ``device``.
    """
    return parse(prior).sample(1, latent_dim, generator=_cpu_generator(seed), device=device)


def fixed_grid(n: int, latent_dim: int, prior: str | Prior = "normal(0, 1)", seed: int = 0, *,
               device: torch.device | str | None = None) -> torch.Tensor:
    """A reproducible (n, latent_dim) batch of latents for progress grids that are comparable across epochs."""
    return parse(prior).sample(n, latent_dim, generator=_cpu_generator(seed), device=device)
