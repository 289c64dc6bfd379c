"""Rasteriser of the procedural datasets: counter-based random parameters and anti-aliased vectorised drawing.

Image ``i`` of seed ``s`` is a pure function of ``(s, i)``: its parameters come from a counter-based hash
(SplitMix64 of seed, stream and index; Steele, Lea & Flood, "Fast splittable pseudorandom number generators",
2014), and rendering uses only exactly rounded float operations (``+ - * /``, ``sqrt``, ``min``/``max``,
``floor``, ``abs``; no fused multiply-adds, no transcendental functions), so the pixels do not depend on the
access order, on which images share a batch, where its bounding boxes fall or how images are grouped into chunks.
Rendering is vectorised with torch over batches of images on one thread; edges are anti-aliased analytically (a
one-pixel ramp over an approximate signed distance), and every layer is drawn only inside the union, over the
batch, of its per-image bounding boxes, which keeps a 64x64 image well under half a millisecond.
"""
from __future__ import annotations

import math
import threading
from types import SimpleNamespace
from typing import Sequence

import numpy as np
import torch

# Counter-based randomness: every image draws its parameters from a hash of (seed, stream, index).

_U64 = np.uint64
_GOLDEN = _U64(0x9E3779B97F4A7C15)
_MASK64 = (1 << 64) - 1
_N_UNIFORMS = 96  # uniforms drawn per image; parameters take columns in a fixed order


def _mix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser: an invertible avalanche mix of uint64 values, element-wise."""
    z = (z ^ (z >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> _U64(27))) * _U64(0x94D049BB133111EB)
    return z ^ (z >> _U64(31))


def _image_keys(seed: int, stream: int, indices: np.ndarray) -> np.ndarray:
    """One 64-bit key per image: a function of (seed, stream, index) only."""
    base = _mix64(np.array([(seed & _MASK64) ^ stream], dtype=np.uint64))
    return _mix64(np.asarray(indices, dtype=np.uint64) * _GOLDEN + base)


def _uniforms(keys: np.ndarray, count: int) -> np.ndarray:
    """A (len(keys), count) float64 table of uniforms in [0, 1), row r a function of keys[r] only."""
    z = keys[:, None] + np.arange(1, count + 1, dtype=np.uint64)[None, :] * _GOLDEN
    return (_mix64(z) >> _U64(11)).astype(np.float64) * 2.0 ** -53


class _Draws:
    """Random per-image quantities taken column by column from a table of uniforms."""

    def __init__(self, u: np.ndarray) -> None:
        self._u = u
        self._col = 0

    def _next(self) -> np.ndarray:
        if self._col >= self._u.shape[1]:
            raise RuntimeError(f"procedural renderer needs more than {_N_UNIFORMS} uniforms per image")
        column = self._u[:, self._col]
        self._col += 1
        return column

    def uniform(self, lo: float | np.ndarray = 0.0, hi: float | np.ndarray = 1.0) -> np.ndarray:
        """Uniform in [lo, hi) per image."""
        return lo + (hi - lo) * self._next()

    def chance(self, p: float) -> np.ndarray:
        """Boolean per image, True with probability ``p``."""
        return self._next() < p

    def choice(self, weights: Sequence[float]) -> np.ndarray:
        """Category index per image, drawn with the given (unnormalised) weights."""
        cum = np.cumsum(np.asarray(weights, dtype=np.float64))
        return np.minimum(np.searchsorted(cum / cum[-1], self._next(), side="right"), len(weights) - 1)

    def colour(self, base: np.ndarray, jitter: float) -> np.ndarray:
        """(N, 3) colours: ``base`` plus a uniform per-channel jitter, clipped to [0, 1]."""
        return np.clip(base + np.stack([self.uniform(-jitter, jitter) for _ in range(3)], axis=1), 0.0, 1.0)


def _palette(table: dict[str, tuple[float, float, float]]) -> tuple[tuple[str, ...], np.ndarray]:
    """Names and an (K, 3) RGB array of a named colour table."""
    return tuple(table), np.array(list(table.values()), dtype=np.float64)


# Vectorised drawing primitives (torch, float32). Coordinates are normalised: x, y in [-1, 1] across the image
# (y points down), pixel size px = 2 / S. ``xs`` is (1 or N, W) and ``ys`` (1 or N, H); shape parameters are (N,)
# tensors. Coverages are (N, H, W) in [0, 1]; images are planar (3, N, H, W) in [0, 1], so that blending a
# coverage into the colour planes runs over long rows.

Tensor = torch.Tensor


def _t(v: np.ndarray | float) -> Tensor:
    """A float64 parameter array as a float32 tensor."""
    return torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32))


def _tensors(p: SimpleNamespace) -> SimpleNamespace:
    """float32 tensors of every float or boolean parameter array of ``p``."""
    return SimpleNamespace(**{k: _t(v) for k, v in vars(p).items()
                              if isinstance(v, np.ndarray) and v.dtype.kind in "fb"})


def _c(v: Tensor) -> Tensor:
    """Per-image vector (N,) as a column (N, 1)."""
    return v[:, None]


def _rgb(c: Tensor) -> Tensor:
    """(N, 3) colours as (3, N, 1, 1) for painting planar images."""
    return c.t().contiguous()[:, :, None, None]


def _const(r: float, g: float, b: float) -> Tensor:
    """One colour for every image, as (3, 1, 1, 1)."""
    return torch.tensor([r, g, b], dtype=torch.float32)[:, None, None, None]


def _triangle(x: Tensor) -> Tensor:
    """Periodic triangle wave, 0 at integers and 1 half-way between them."""
    return 1.0 - (2.0 * (x - torch.floor(x)) - 1.0).abs()


def _ellipse(xs: Tensor, ys: Tensor, cx: Tensor, cy: Tensor, a: Tensor, b: Tensor, soft: Tensor | float,
             *, square: Tensor | None = None, taper: Tensor | None = None) -> Tensor:
    """Coverage of axis-aligned ellipses whose edge ramps over ``soft`` (normalised units; ``px`` = crisp).

    ``square`` in [0, 1] blends x towards a squircle; ``taper`` narrows the lower half (a chin).
    """
    u = (xs - _c(cx)) / _c(a)
    u = u * u
    if square is not None:
        u = u + _c(square) * (u * u - u)
    t = (ys - _c(cy)) / _c(b)
    k = _c(torch.sqrt(a * b) / (2.0 * soft))
    rows = (0.5 + k) - k * (t * t)
    cols = k * u
    if taper is None:
        out = rows[:, :, None] - cols[:, None, :]
    else:
        below = t.clamp(0.0, 1.0)
        width = 1.0 - _c(taper) * below * below
        out = rows[:, :, None] - cols[:, None, :] / (width * width)[:, :, None]
    return out.clamp_(0.0, 1.0)


def _ring(xs: Tensor, ys: Tensor, cx: Tensor, cy: Tensor, a: Tensor, b: Tensor, half_width: Tensor,
          px: float) -> Tensor:
    """Coverage of elliptical outlines ``2 * half_width`` thick (normalised units)."""
    u = (xs - _c(cx)) / _c(a)
    t = (ys - _c(cy)) / _c(b)
    dist = ((t * t - 1.0)[:, :, None] + (u * u)[:, None, :]).abs_()
    dist *= _c(torch.sqrt(a * b) / (2.0 * px))[:, :, None]
    return (_c(0.5 + half_width / px)[:, :, None] - dist).clamp_(0.0, 1.0)


def _step(coord: Tensor, edge: Tensor, px: float) -> Tensor:
    """Soft indicator of ``coord > edge`` per image: (N, L) for coordinates (1 or N, L)."""
    return (0.5 + (coord - _c(edge)) / px).clamp_(0.0, 1.0)


class _Scratch(threading.local):
    """Reusable buffers, one set per thread (about 60 MB at the default batch of 2**20 pixels).

    Big temporaries freshly allocated for every layer of every batch would fault their pages in again each time,
    which costs more than drawing into them.
    """

    def __init__(self) -> None:
        self.buffers: dict[str, Tensor] = {}

    def get(self, name: str, shape: Sequence[int], dtype: torch.dtype = torch.float32) -> Tensor:
        """A contiguous tensor of ``shape`` backed by the buffer ``name`` (grown when too small)."""
        numel = math.prod(shape)
        buffer = self.buffers.get(name)
        if buffer is None or buffer.numel() < numel or buffer.dtype != dtype:
            buffer = self.buffers[name] = torch.empty(numel, dtype=dtype)
        return buffer[:numel].view(*shape)


_SCRATCH = _Scratch()


class _Canvas:
    """A batch of planar images (3, N, S, S) being drawn, with its pixel-centre coordinates."""

    def __init__(self, n: int, size: int) -> None:
        self.n, self.size, self.px = n, size, 2.0 / size
        self.xs = self.ys = torch.from_numpy(((np.arange(size) + 0.5) * (2.0 / size) - 1.0).astype(np.float32))[None, :]
        self.img = _SCRATCH.get("image", (3, n, size, size))

    def region(self, left: np.ndarray, right: np.ndarray, top: np.ndarray, bottom: np.ndarray,
               on: np.ndarray | None = None) -> tuple[Tensor, Tensor, Tensor, slice] | None:
        """Views of the images and their coordinates over the union, across the batch, of per-image boxes.

        Boxes (normalised units, float64 arrays) must enclose every non-zero coverage of the layer drawn there;
        painting a zero coverage leaves a pixel unchanged, so the union only saves work and never changes a
        pixel. Returns (image view, its x coordinates, its y coordinates, the slice of rows) or None when the
        union is empty or no image has the layer (``on``).
        """
        if on is not None:
            if not on.any():
                return None
            left, right, top, bottom = left[on], right[on], top[on], bottom[on]
        c0 = max(0, int(math.floor((left.min() + 1.0) / self.px)) - 2)
        c1 = min(self.size, int(math.ceil((right.max() + 1.0) / self.px)) + 2)
        r0 = max(0, int(math.floor((top.min() + 1.0) / self.px)) - 2)
        r1 = min(self.size, int(math.ceil((bottom.max() + 1.0) / self.px)) + 2)
        if c0 >= c1 or r0 >= r1:
            return None
        return self.img[:, :, r0:r1, c0:c1], self.xs[:, c0:c1], self.ys[:, r0:r1], slice(r0, r1)

    @staticmethod
    def paint(view: Tensor, alpha: Tensor, colour: Tensor) -> None:
        """Composite ``colour`` (broadcastable to the view) over ``view`` with coverage ``alpha`` (N, H, W)."""
        t = torch.sub(colour, view, out=_SCRATCH.get("paint", view.shape))
        t *= alpha
        view += t


def _soft_extent(a: np.ndarray, b: np.ndarray, soft: np.ndarray | float) -> np.ndarray:
    """Factor by which a soft-edged ellipse's non-zero coverage exceeds its nominal size."""
    return np.sqrt(1.0 + soft / np.sqrt(a * b))

