"""Procedural datasets: cartoon faces and impressionist landscapes drawn from known factors.

``SyntheticFaces`` stands in for the face datasets of reports 000-002 (anime faces, CelebA, art portraits) and
``SyntheticPaintings`` for the Monet paintings of report 003: a share of the paintings sits on a round canvas, so
that the per-pixel maximum over the dataset shows a circle and the per-pixel mean shows the horizon, as the EDA of
that report found on the real data.

Image ``i`` of seed ``s`` is a pure function of ``(s, i)``: its parameters come from a counter-based hash
(SplitMix64 of seed, stream and index), and rendering uses only exactly rounded float operations (``+ - * /``,
``sqrt``, ``min``/``max``, ``floor``, ``abs``), so the pixels do not depend on the access order or on how images
are grouped into chunks. Rendering is vectorised with torch over batches of images on one thread; edges are
anti-aliased analytically (a one-pixel ramp over an approximate signed distance), and every layer is drawn only
inside the union, over the batch, of its per-image bounding boxes, which keeps a 64x64 image well under half a
millisecond. ``ds[i]`` serves items from a cached uint8 chunk of rendered images.

Run ``python -m facegen_utils.datasets.procedural --grid docs/images`` to write the README grids.
"""
from __future__ import annotations

import argparse
import math
import operator
import threading
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from facegen_utils._log import logger

__all__ = ["SyntheticFaces", "SyntheticPaintings", "write_readme_grids"]

# ----------------------------------------------------------------------------------------------------------------
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
        noise = np.stack([self.uniform(-jitter, jitter) for _ in range(3)], axis=1)
        return np.clip(base + noise, 0.0, 1.0)


def _palette(table: dict[str, tuple[float, float, float]]) -> tuple[tuple[str, ...], np.ndarray]:
    """Names and an (K, 3) RGB array of a named colour table."""
    return tuple(table), np.array(list(table.values()), dtype=np.float64)


# ----------------------------------------------------------------------------------------------------------------
# Vectorised drawing primitives (torch, float32). Coordinates are normalised: x, y in [-1, 1] across the image
# (y points down), pixel size px = 2 / S. ``xs`` is (1 or N, W) and ``ys`` (1 or N, H); shape parameters are (N,)
# tensors. Coverages are (N, H, W) in [0, 1]; images are planar (3, N, H, W) in [0, 1], so that blending a
# coverage into the colour planes runs over long rows. Only operations that round each element the same way
# wherever it sits in a tensor are used (no fused multiply-adds, no transcendental functions), so a pixel's value
# does not depend on which other images share its batch or where the batch's bounding boxes fall.

Tensor = torch.Tensor


def _tensors(p: SimpleNamespace) -> SimpleNamespace:
    """float32 tensors of every float or boolean parameter array of ``p``."""
    return SimpleNamespace(**{k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32))
                              for k, v in vars(p).items() if isinstance(v, np.ndarray) and v.dtype.kind in "fb"})


def _t(v: np.ndarray | float) -> Tensor:
    """A float64 parameter array as a float32 tensor."""
    return torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32))


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


def _coords(size: int) -> Tensor:
    """Pixel-centre coordinates in [-1, 1] as a (1, size) row."""
    return torch.from_numpy(((np.arange(size) + 0.5) * (2.0 / size) - 1.0).astype(np.float32))[None, :]


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
        self.xs = self.ys = _coords(size)
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


# ----------------------------------------------------------------------------------------------------------------
# Faces

_SKIN_NAMES, _SKIN_RGB = _palette({
    "fair": (1.00, 0.89, 0.81), "light": (0.98, 0.80, 0.68), "medium": (0.90, 0.68, 0.52),
    "tan": (0.78, 0.55, 0.40), "brown": (0.58, 0.38, 0.26), "deep": (0.40, 0.26, 0.18),
})
_HAIR_NAMES, _HAIR_RGB = _palette({
    "black": (0.13, 0.11, 0.14), "dark_brown": (0.32, 0.19, 0.12), "brown": (0.56, 0.34, 0.19),
    "blonde": (0.96, 0.83, 0.47), "ginger": (0.86, 0.42, 0.16), "pink": (0.98, 0.62, 0.76),
    "blue": (0.36, 0.52, 0.92), "silver": (0.86, 0.87, 0.93), "purple": (0.56, 0.36, 0.76),
    "green": (0.36, 0.70, 0.50),
})
_EYE_NAMES, _EYE_RGB = _palette({
    "brown": (0.55, 0.30, 0.12), "blue": (0.20, 0.47, 0.92), "green": (0.20, 0.66, 0.36),
    "red": (0.86, 0.16, 0.20), "purple": (0.58, 0.28, 0.84), "gold": (0.92, 0.70, 0.16),
    "grey": (0.52, 0.57, 0.64), "teal": (0.10, 0.66, 0.70),
})
_ACCENT_NAMES, _ACCENT_RGB = _palette({
    "red": (0.86, 0.12, 0.18), "pink": (0.98, 0.55, 0.72), "blue": (0.22, 0.40, 0.90),
    "yellow": (0.98, 0.84, 0.20), "white": (0.97, 0.97, 0.97), "black": (0.12, 0.12, 0.14),
})
_FACE_SHAPES = ("round", "oval", "pointed")
_HAIR_STYLES = ("short", "bob", "long", "twin_tails", "bun")
_BANGS = ("blunt", "spiky", "side_swept", "parted", "none")
_MOUTHS = ("smile", "open", "flat", "o", "cat")
_ACCESSORIES = ("none", "bow", "glasses")

# Per face shape: height/width ratio range and how much the lower half narrows towards the chin.
_SHAPE_RATIO = np.array([[0.98, 1.08], [1.12, 1.26], [1.05, 1.20]])
_SHAPE_TAPER = np.array([0.10, 0.28, 0.58])
# Per hair style: back-hair half-width (x face half-width), top and bottom extent (x face half-height),
# squareness, sidelock length (x face half-height), and an extra shape mirrored about the face centre (tails or
# a bun): its x offset and half-width (x face half-width), y offset and half-height (x face half-height).
_STYLE_BACK = np.array([
    # width  top   bottom square side  extra_x extra_y extra_a extra_b
    [1.10, 1.14, 0.45, 0.20, 0.15, 0.00, 0.00, 0.00, 0.00],    # short
    [1.24, 1.16, 1.02, 0.75, 0.55, 0.00, 0.00, 0.00, 0.00],    # bob
    [1.30, 1.16, 3.00, 0.45, 0.85, 0.00, 0.00, 0.00, 0.00],    # long
    [1.12, 1.14, 0.50, 0.20, 0.35, 1.25, 0.70, 0.40, 0.85],    # twin_tails
    [1.10, 1.14, 0.45, 0.20, 0.25, 0.00, -1.22, 0.42, 0.36],   # bun
])


def _face_params(keys: np.ndarray) -> SimpleNamespace:
    """Draw every face parameter (float64 / int arrays of length N) from the image keys."""
    d = _Draws(_uniforms(keys, _N_UNIFORMS))
    p = SimpleNamespace(n=len(keys))
    p.shape = d.choice([0.35, 0.35, 0.30])
    p.a = d.uniform(0.46, 0.58)
    lo, hi = _SHAPE_RATIO[p.shape, 0], _SHAPE_RATIO[p.shape, 1]
    p.b = p.a * d.uniform(lo, hi)
    p.taper = _SHAPE_TAPER[p.shape]
    p.cx = d.uniform(-0.07, 0.07)
    p.cy = d.uniform(0.0, 0.12)
    p.skin = d.choice([0.16, 0.22, 0.22, 0.16, 0.13, 0.11])
    p.skin_rgb = d.colour(_SKIN_RGB[p.skin], 0.03)
    p.hair = d.choice([0.16, 0.14, 0.12, 0.13, 0.09, 0.08, 0.08, 0.07, 0.07, 0.06])
    p.hair_rgb = d.colour(_HAIR_RGB[p.hair], 0.05)
    p.style = d.choice([0.24, 0.20, 0.30, 0.13, 0.13])
    p.bangs = d.choice([0.24, 0.30, 0.20, 0.16, 0.10])
    p.fringe_gap = d.uniform(0.0, 0.10)
    p.bang_amp = d.uniform(0.05, 0.11)
    p.bang_freq = d.uniform(2.6, 4.2) / p.a
    p.bang_phase = d.uniform()
    p.sweep = np.where(d.chance(0.5), 1.0, -1.0)
    p.strand_freq = d.uniform(4.0, 6.5) / p.a
    p.strand_phase = d.uniform()
    p.side_len = _STYLE_BACK[p.style, 4] * p.b * d.uniform(0.7, 1.1)
    # eyes
    p.eye_rx = p.a * d.uniform(0.25, 0.34)
    p.eye_ry = p.eye_rx * d.uniform(1.10, 1.45)
    p.eye_dx = np.maximum(p.a * d.uniform(0.40, 0.52), 1.35 * p.eye_rx)
    p.eye_y = p.cy + p.b * d.uniform(0.04, 0.20)
    p.look = d.uniform(-0.18, 0.18)
    p.eye = d.choice([0.22, 0.18, 0.14, 0.09, 0.1, 0.1, 0.08, 0.09])
    p.eye_rgb = d.colour(_EYE_RGB[p.eye], 0.05)
    p.brow_gap = d.uniform(0.035, 0.08)
    p.brow_tilt = d.uniform(-0.35, 0.30)
    p.brow_th = d.uniform(0.014, 0.024)
    p.blush = d.chance(0.45)
    # mouth and nose
    p.mouth = d.choice([0.34, 0.22, 0.14, 0.12, 0.18])
    p.mouth_w = d.uniform(0.045, 0.075)
    p.mouth_y = np.maximum(p.cy + p.b * d.uniform(0.52, 0.64), p.eye_y + 1.3 * p.eye_ry + 0.09)
    # accessory
    p.accessory = d.choice([0.5, 0.25, 0.25])
    p.accent = d.choice([0.3, 0.2, 0.15, 0.12, 0.08, 0.15])
    p.accent_rgb = d.colour(_ACCENT_RGB[p.accent], 0.04)
    p.bow_side = np.where(d.chance(0.5), 1.0, -1.0)
    p.bow_size = d.uniform(0.09, 0.13)
    # background (diagonal gradient) and clothes
    bg = np.stack([d.uniform(0.25, 1.0) for _ in range(3)], axis=1)
    p.bg_top = 0.45 * bg + 0.5
    p.bg_bottom = np.clip(p.bg_top * d.uniform(0.55, 0.9)[:, None] + d.uniform(-0.1, 0.1)[:, None], 0.0, 1.0)
    p.bg_slant = d.uniform(-0.7, 0.7)
    p.cloth_rgb = np.stack([d.uniform(0.1, 0.95) for _ in range(3)], axis=1)
    p.shoulder = d.uniform(0.55, 0.80)
    return p


def _face_attributes(p: SimpleNamespace) -> pd.DataFrame:
    """The generating factors of faces as a table (one row per image)."""
    def cat(codes: np.ndarray, names: Sequence[str]) -> pd.Categorical:
        return pd.Categorical.from_codes(codes, categories=list(names))

    cols: dict[str, Any] = {
        "face_shape": cat(p.shape, _FACE_SHAPES), "face_width": 2 * p.a, "face_height": 2 * p.b,
        "face_x": p.cx, "face_y": p.cy, "skin_tone": cat(p.skin, _SKIN_NAMES),
        "hair_color": cat(p.hair, _HAIR_NAMES), "hair_style": cat(p.style, _HAIR_STYLES),
        "bangs": cat(p.bangs, _BANGS), "eye_color": cat(p.eye, _EYE_NAMES), "eye_size": 2 * p.eye_rx,
        "eye_height": 2 * p.eye_ry, "eye_spacing": 2 * p.eye_dx, "mouth": cat(p.mouth, _MOUTHS),
        "blush": p.blush.astype(bool), "accessory": cat(p.accessory, _ACCESSORIES),
        "accessory_color": cat(np.where(p.accessory > 0, p.accent, -1), _ACCENT_NAMES),
    }
    for name, rgb in (("skin", p.skin_rgb), ("hair", p.hair_rgb), ("eye", p.eye_rgb),
                      ("background_top", p.bg_top), ("background_bottom", p.bg_bottom)):
        for c, channel in enumerate("rgb"):
            cols[f"{name}_{channel}"] = rgb[:, c]
    return pd.DataFrame(cols)


def _render_faces(p: SimpleNamespace, size: int) -> Tensor:
    """Render the faces described by ``p`` as planar float32 (3, N, S, S) in [0, 1] (a scratch buffer)."""
    cv = _Canvas(p.n, size)
    px, xs, ys = cv.px, cv.xs, cv.ys
    f = _tensors(p)

    # background: a slanted linear gradient
    norm = 1.0 / torch.sqrt(1.0 + f.bg_slant * f.bg_slant)
    g = (_c(0.5 * f.bg_slant * norm) * xs)[:, None, :] + (0.5 + 0.5 * _c(norm) * ys)[:, :, None]
    torch.mul(g, _rgb(f.bg_bottom - f.bg_top), out=cv.img)
    cv.img += _rgb(f.bg_top)

    def hair_colour(cols: Tensor) -> Tensor:
        strands = _triangle((cols - _c(f.cx)) * _c(f.strand_freq) + _c(f.strand_phase))
        return _rgb(f.hair_rgb) * (1.0 - 0.16 * strands)[:, None, :]

    # back hair: a squircle behind the head, then mirrored tails or a bun
    st = _STYLE_BACK[p.style]
    top, bottom = p.b * st[:, 1], p.b * st[:, 2]
    back_y, back_a, back_b = p.cy + 0.5 * (bottom - top), p.a * st[:, 0], 0.5 * (top + bottom)
    r = cv.region(p.cx - back_a, p.cx + back_a, back_y - back_b, back_y + back_b)
    if r:
        view, cols, rows, _ = r
        back = _ellipse(cols, rows, f.cx, _t(back_y), _t(back_a), _t(back_b), px, square=_t(st[:, 3]))
        cv.paint(view, back, hair_colour(cols))
    on = st[:, 8] > 0
    tail_x, tail_y = p.a * st[:, 5], p.cy + p.b * st[:, 6]
    tail_a, tail_b = np.where(on, p.a * st[:, 7], 1.0), np.where(on, p.b * st[:, 8], 1.0)
    r = cv.region(p.cx - tail_x - tail_a, p.cx + tail_x + tail_a, tail_y - tail_b, tail_y + tail_b, on=on)
    if r:
        view, cols, rows, _ = r
        tails = _ellipse((cols - _c(f.cx)).abs(), rows, _t(tail_x), _t(tail_y), _t(tail_a), _t(tail_b), px)
        tails *= _t(on)[:, None, None]
        cv.paint(view, tails, hair_colour(cols))

    # neck, then clothes over its lower end
    neck_w, neck_end = 0.3 * p.a, p.cy + p.b + 0.3
    r = cv.region(p.cx - neck_w, p.cx + neck_w, p.cy, neck_end)
    if r:
        view, cols, rows, _ = r
        across = (0.5 + (_c(_t(neck_w)) - (cols - _c(f.cx)).abs()) / px).clamp_(0.0, 1.0)
        down = _step(rows, f.cy, px) * _step(-rows, _t(-neck_end), px)
        cv.paint(view, down[:, :, None] * across[:, None, :], _rgb(f.skin_rgb * 0.82))
    body_y = p.cy + p.b + 0.62
    r = cv.region(p.cx - p.shoulder, p.cx + p.shoulder, body_y - 0.5, body_y + 0.5)
    if r:
        view, cols, rows, _ = r
        half = torch.full_like(f.cx, 0.5)
        cv.paint(view, _ellipse(cols, rows, f.cx, _t(body_y), f.shoulder, half, px), _rgb(f.cloth_rgb))

    # face, slightly shaded towards its sides
    r = cv.region(p.cx - p.a, p.cx + p.a, p.cy - p.b, p.cy + p.b)
    if r:
        view, cols, rows, _ = r
        face = _ellipse(cols, rows, f.cx, f.cy, f.a, f.b, px, taper=f.taper)
        side = ((cols - _c(f.cx)) / _c(f.a)).clamp(-1.0, 1.0)
        cv.paint(view, face, _rgb(f.skin_rgb) * (1.0 - 0.10 * side * side)[:, None, :])

    _draw_eyes(cv, p, f)
    _draw_mouth(cv, p, f)

    # front hair: a cap over the head cut by the fringe line; sidelocks fall at the face sides
    cap_y, cap_a, cap_b = p.cy - 0.02 * p.b, 1.1 * p.a, 1.13 * p.b
    r = cv.region(p.cx - cap_a, p.cx + cap_a, cap_y - cap_b, cap_y + cap_b)
    if r:
        view, cols, rows, _ = r
        cap = _ellipse(cols, rows, f.cx, _t(cap_y), _t(cap_a), _t(cap_b), px)
        fringe = _fringe(p, f, cols)
        cap *= (0.5 + (fringe[:, None, :] - rows[:, :, None]) / px).clamp_(0.0, 1.0)
        cv.paint(view, cap, hair_colour(cols))

    # the shiny band across the top of the hair, broken into strands
    hl_y, hl_a, hl_b, hl_w = p.cy + 0.05 * p.b, 0.92 * p.a, 0.95 * p.b, 0.022 + 0.3 * px
    r = cv.region(p.cx - hl_a - hl_w, p.cx + hl_a + hl_w, hl_y - hl_b - hl_w, p.cy - 0.55 * p.b)
    if r:
        view, cols, rows, _ = r
        band = _ring(cols, rows, f.cx, _t(hl_y), _t(hl_a), _t(hl_b), _t(np.full(p.n, hl_w)), px)
        band *= _step(-rows, _t(-(p.cy - 0.55 * p.b)), px)[:, :, None]
        strands = _triangle((cols - _c(f.cx)) * _c(f.strand_freq) + _c(f.strand_phase))
        band *= (0.45 * (1.6 - 2.0 * strands).clamp_(0.0, 1.0))[:, None, :]
        cv.paint(view, band, _rgb(0.5 + 0.5 * f.hair_rgb))

    _draw_bow(cv, p, f)
    return cv.img


def _fringe(p: SimpleNamespace, f: SimpleNamespace, cols: Tensor) -> Tensor:
    """Lower edge of the front hair per column (N, W) for each image's bangs style."""
    dx = cols - _c(f.cx)
    rel = dx / _c(f.a)
    base = _c(f.eye_y - f.eye_ry * 1.05 - f.brow_gap * 0.5 - f.fringe_gap)
    tri = _triangle(dx * _c(f.bang_freq) + _c(f.bang_phase))
    styles = torch.stack([
        base - 0.012 * tri,                                                                 # blunt
        base - _c(f.bang_amp) * tri,                                                        # spiky
        base - 0.24 * (0.5 + 0.5 * _c(f.sweep) * rel).clamp(0.0, 1.0) - 0.03 * tri,       # side_swept
        base - 0.20 * (1.0 - rel.abs() / 0.6).clamp(0.0, 1.0) - 0.02 * tri,               # parted
        _c(f.cy - 0.6 * f.b) + 0.25 * _c(f.b) * rel * rel,                                  # none (hairline)
    ])
    fringe = styles[torch.from_numpy(p.bangs), torch.arange(len(p.bangs))]
    sidelock = ((rel.abs() - 0.70) / 0.18).clamp(0.0, 1.0)
    return fringe + _c(f.side_len) * sidelock


def _draw_eyes(cv: _Canvas, p: SimpleNamespace, f: SimpleNamespace) -> None:
    """Both eyes (lashes, white, iris, pupil, highlights), brows, blush and glasses.

    Drawn in mirrored coordinates ``|x - cx|`` so that one shape makes both eyes; the iris, pupil and highlights
    use the signed offset from the nearer eye so that both eyes look the same way. Each group of layers gets its
    own region, which keeps the painted area small.
    """
    ex, ey, rx, ry, px = f.eye_dx, f.eye_y, f.eye_rx, f.eye_ry, cv.px

    def mirrored(cols: Tensor) -> Tensor:
        return (cols - _c(f.cx)).abs()

    grow = _soft_extent(1.05 * p.eye_rx, 0.38 * p.eye_ry, 0.5 * p.eye_ry)
    reach, blush_y = p.eye_dx + (0.2 + 1.05 * grow) * p.eye_rx, p.eye_y + 1.45 * p.eye_ry
    r = cv.region(p.cx - reach, p.cx + reach, blush_y - 0.38 * grow * p.eye_ry,
                blush_y + 0.38 * grow * p.eye_ry, on=p.blush)
    if r:
        view, cols, rows, _ = r
        blush = _ellipse(mirrored(cols), rows, ex + 0.2 * rx, ey + 1.45 * ry, 1.05 * rx, 0.38 * ry, 0.5 * ry)
        blush *= (0.45 * f.blush)[:, None, None]
        cv.paint(view, blush, _const(1.0, 0.45, 0.5))

    reach = p.eye_dx + 1.32 * p.eye_rx
    r = cv.region(p.cx - reach, p.cx + reach, p.eye_y - 1.2 * p.eye_ry, p.eye_y + 1.02 * p.eye_ry)
    if r:
        view, cols, rows, _ = r
        mir = mirrored(cols)
        lash = _ellipse(mir, rows, ex, ey - 0.12 * ry, 1.12 * rx, 1.06 * ry, px)
        flick = _ellipse(mir, rows, ex + 1.0 * rx, ey - 0.62 * ry, 0.32 * rx, 0.14 * ry, px)
        torch.maximum(lash, flick, out=lash)
        cv.paint(view, lash, _rgb(0.12 + 0.25 * f.hair_rgb))
        white = _ellipse(mir, rows, ex, ey, rx, ry, px)
        cv.paint(view, white, _const(0.99, 0.99, 1.0))
        local = (cols - _c(f.cx)) - torch.sign(cols - _c(f.cx)) * _c(ex)
        look = f.look * rx
        iris = _ellipse(local, rows, look, ey + 0.1 * ry, 0.74 * rx, 0.84 * ry, px)
        iris *= white
        shade = ((rows - _c(ey - ry)) / _c(2.0 * ry)).clamp_(0.0, 1.0)
        cv.paint(view, iris, _rgb(f.eye_rgb) * (0.45 + 0.75 * shade)[:, :, None])
        pupil = _ellipse(local, rows, look, ey + 0.14 * ry, 0.36 * rx, 0.46 * ry, px)
        pupil *= white
        cv.paint(view, pupil, _rgb(f.eye_rgb * 0.22))
        shine = _ellipse(local, rows, look - 0.3 * rx, ey - 0.32 * ry, 0.27 * rx, 0.27 * rx, px)
        small = _ellipse(local, rows, look + 0.3 * rx, ey + 0.42 * ry, 0.13 * rx, 0.13 * rx, px)
        torch.maximum(shine, small, out=shine)
        cv.paint(view, shine, _const(1.0, 1.0, 1.0))

    # brows: thin ellipses sheared by the tilt (outer ends up for a positive tilt)
    reach, brow_y = p.eye_dx + 1.1 * p.eye_rx, p.eye_y - p.eye_ry - p.brow_gap
    half = p.brow_th + np.abs(p.brow_tilt) * p.eye_rx
    r = cv.region(p.cx - reach, p.cx + reach, brow_y - half, brow_y + half)
    if r:
        view, cols, rows, _ = r
        ba, bb = rx, torch.clamp(f.brow_th, min=0.6 * px)
        u = (mirrored(cols) - _c(ex + 0.1 * rx)) / _c(ba)
        t = ((rows - _c(ey - ry - f.brow_gap))[:, :, None] + _c(f.brow_tilt * ba)[:, :, None] * u[:, None, :]) \
            / _c(bb)[:, :, None]
        k = _c(torch.sqrt(ba * bb) / (2.0 * px))[:, :, None]
        brow = (0.5 + k * (1.0 - t * t - (u * u)[:, None, :])).clamp_(0.0, 1.0)
        cv.paint(view, brow, _rgb(f.hair_rgb * 0.6))

    # glasses: oval rims around the eyes and a bridge between them
    on = p.accessory == 2
    rim = 0.02 + 0.3 * px
    reach = p.eye_dx + 1.5 * p.eye_rx + rim
    r = cv.region(p.cx - reach, p.cx + reach, p.eye_y - 1.22 * p.eye_ry - rim,
                p.eye_y + 1.22 * p.eye_ry + rim, on=on)
    if r:
        view, cols, rows, _ = r
        mir = mirrored(cols)
        width = torch.full_like(rx, rim)
        glasses = _ring(mir, rows, ex, ey, 1.5 * rx, 1.22 * ry, width, px)
        bridge_x = (0.5 + (_c(ex - 1.5 * rx) - mir) / px).clamp_(0.0, 1.0)
        bridge_y = (0.5 + (rim - (rows - _c(ey - 0.2 * ry)).abs()) / px).clamp_(0.0, 1.0)
        torch.maximum(glasses, bridge_y[:, :, None] * bridge_x[:, None, :], out=glasses)
        glasses *= _t(on)[:, None, None]
        cv.paint(view, glasses, _rgb(f.accent_rgb * 0.7))


def _draw_mouth(cv: _Canvas, p: SimpleNamespace, f: SimpleNamespace) -> None:
    """Nose and mouth (smile, open, flat, o or cat)."""
    px = cv.px
    nose_y = 0.5 * (p.eye_y + p.eye_ry + p.mouth_y)
    r = cv.region(p.cx - 0.14, p.cx + 0.14, nose_y - 0.04, p.mouth_y + 0.12)
    if r is None:
        return
    view, cols, rows, _ = r
    tiny = torch.full_like(f.cx, 0.014)
    nose = _ellipse(cols, rows, f.cx, _t(nose_y), tiny, 0.8 * tiny, px)
    nose *= 0.7
    cv.paint(view, nose, _rgb(f.skin_rgb * 0.62))

    m, w, my = p.mouth, f.mouth_w, f.mouth_y
    is_open, is_flat, is_o, is_cat = (_t(m == k) for k in (1, 2, 3, 4))
    # filled shapes: open mouth (lower half-ellipse with a tongue) and "o"
    fa = w * (1.0 - 0.55 * is_o)
    fb = w * (0.85 - 0.25 * is_o)
    fill = _ellipse(cols, rows, f.cx, my, fa, fb, px)
    fill *= _step(rows, my - is_o, px)[:, :, None]
    fill *= (is_open + is_o)[:, None, None]
    cv.paint(view, fill, _const(0.55, 0.10, 0.15))
    tongue = _ellipse(cols, rows, f.cx, my + 0.8 * fb, 0.6 * fa, 0.45 * fb, px)
    tongue *= fill
    tongue *= is_open[:, None, None]
    cv.paint(view, tongue, _const(0.96, 0.50, 0.56))
    # line shapes: smile (lower arc), flat (a very flat arc), cat (two small mirrored arcs)
    la = w * (1.0 - 0.5 * is_cat)
    lb = w * (0.6 - 0.15 * is_cat - 0.45 * is_flat)
    line_y = my - 0.5 * lb * (1.0 - is_flat)
    mirrored = (cols - _c(f.cx)).abs()
    line = _ring(mirrored, rows, 0.5 * w * is_cat, line_y, la, lb, torch.full_like(w, 0.012 + 0.25 * px), px)
    line *= _step(rows, line_y, px)[:, :, None]
    line *= (1.0 - is_open - is_o)[:, None, None]
    cv.paint(view, line, _const(0.35, 0.10, 0.12))


def _draw_bow(cv: _Canvas, p: SimpleNamespace, f: SimpleNamespace) -> None:
    """A hair bow on one side of the head, where the accessory is a bow."""
    px = cv.px
    on = p.accessory == 1
    bx, by, s = p.cx + p.bow_side * 0.62 * p.a, p.cy - 0.86 * p.b, p.bow_size
    r = cv.region(bx - s, bx + s, by - 0.6 * s, by + 0.6 * s, on=on)
    if r is None:
        return
    view, cols, rows, _ = r
    bx_t, by_t, s_t = _t(bx), _t(by), f.bow_size
    u = (cols - _c(bx_t)) / _c(s_t)
    half = _c(0.55 * s_t) * (0.3 + 0.7 * u.abs().clamp(max=1.0))
    dy = rows - _c(by_t)
    k = _c(s_t / (2.0 * px))[:, :, None]
    wings = (0.5 + k * (1.0 - (u * u)[:, None, :] - (dy * dy)[:, :, None] / (half * half)[:, None, :]))
    wings.clamp_(0.0, 1.0)
    knot = _ellipse(cols, rows, bx_t, by_t, 0.24 * s_t, 0.3 * s_t, px)
    is_bow = _t(on)[:, None, None]
    wings *= is_bow
    knot *= is_bow
    cv.paint(view, wings, _rgb(f.accent_rgb))
    cv.paint(view, knot, _rgb(f.accent_rgb * 0.7))


# ----------------------------------------------------------------------------------------------------------------
# Paintings

_TIMES = ("day", "sunset", "morning_mist", "dusk", "overcast")
# Per time of day: sky top, sky at the horizon, water tint, far land, near land, trees, sun, clouds.
_TIME_COLOURS = np.array([
    [(0.38, 0.58, 0.86), (0.78, 0.86, 0.92), (0.22, 0.42, 0.58), (0.50, 0.62, 0.48), (0.30, 0.50, 0.22),
     (0.20, 0.38, 0.20), (1.00, 0.95, 0.75), (0.97, 0.97, 0.95)],
    [(0.45, 0.40, 0.70), (0.98, 0.66, 0.38), (0.45, 0.30, 0.45), (0.55, 0.40, 0.45), (0.45, 0.35, 0.20),
     (0.25, 0.18, 0.25), (1.00, 0.85, 0.45), (0.98, 0.62, 0.55)],
    [(0.72, 0.74, 0.84), (0.92, 0.88, 0.84), (0.58, 0.62, 0.72), (0.66, 0.68, 0.72), (0.52, 0.60, 0.50),
     (0.48, 0.52, 0.56), (1.00, 0.96, 0.85), (0.95, 0.92, 0.95)],
    [(0.14, 0.16, 0.38), (0.56, 0.42, 0.62), (0.16, 0.18, 0.34), (0.25, 0.24, 0.38), (0.16, 0.20, 0.22),
     (0.10, 0.12, 0.18), (0.98, 0.80, 0.55), (0.45, 0.40, 0.60)],
    [(0.56, 0.60, 0.64), (0.80, 0.80, 0.78), (0.36, 0.44, 0.46), (0.48, 0.52, 0.46), (0.32, 0.42, 0.28),
     (0.24, 0.30, 0.24), (0.95, 0.93, 0.85), (0.88, 0.88, 0.88)],
])
_SCENES = ("water", "field")
_FLOWER_RGB = np.array([(0.88, 0.15, 0.12), (0.95, 0.82, 0.25), (0.62, 0.38, 0.80), (0.97, 0.95, 0.92)])
_N_CLOUDS = 3
_N_TREES = 6
_PAINT_MAX = 0.88        # brightest value a painted canvas reaches, so white frames stand out in the max image
_ROUND_SHARE = 0.3
_STROKES_PER_SIDE = 36   # brush dabs are 1/36 of the image high and 2.6 times as long
_SMEAR = 0.7             # how far towards its dab's centre a pixel takes its colour from


def _painting_params(keys: np.ndarray) -> SimpleNamespace:
    """Draw every painting parameter (float64 / int arrays of length N) from the image keys."""
    d = _Draws(_uniforms(keys, _N_UNIFORMS))
    n = len(keys)
    p = SimpleNamespace(n=n, keys=keys)
    p.time = d.choice([0.35, 0.25, 0.18, 0.10, 0.12])
    base = _TIME_COLOURS[p.time]
    p.sky_top = d.colour(base[:, 0], 0.06)
    p.sky_low = d.colour(base[:, 1], 0.05)
    p.water_rgb = d.colour(base[:, 2], 0.05)
    p.land_far = d.colour(base[:, 3], 0.05)
    p.land_near = d.colour(base[:, 4], 0.06)
    p.tree_rgb = d.colour(base[:, 5], 0.05)
    p.sun_rgb = d.colour(base[:, 6], 0.03)
    p.cloud_rgb = d.colour(base[:, 7], 0.03)
    p.horizon = 0.5 * (d.uniform(-0.35, 0.2) + d.uniform(-0.35, 0.2))
    p.scene = d.choice([0.6, 0.4])
    p.sun = d.chance(0.55) | (p.time == 1)
    p.sun_x = d.uniform(-0.6, 0.6)
    p.sun_r = d.uniform(0.06, 0.12)
    p.sun_y = p.horizon - p.sun_r - d.uniform(0.0, 0.9) * (p.horizon + 0.75 - p.sun_r)
    p.cloud_x = np.stack([d.uniform(-0.9, 0.9) for _ in range(_N_CLOUDS)], axis=1)
    p.cloud_y = np.stack([d.uniform(0.0, 1.0) for _ in range(_N_CLOUDS)], axis=1)
    p.cloud_y = -0.95 + p.cloud_y * (p.horizon[:, None] - 0.15 + 0.95)
    p.cloud_a = np.stack([d.uniform(0.18, 0.45) for _ in range(_N_CLOUDS)], axis=1)
    p.cloud_b = p.cloud_a * np.stack([d.uniform(0.18, 0.35) for _ in range(_N_CLOUDS)], axis=1)
    p.n_clouds = np.minimum(d.choice([0.2, 0.3, 0.3, 0.2]), _N_CLOUDS)
    p.cloud_opacity = d.uniform(0.35, 0.75)
    p.poplars = d.chance(0.4)
    p.n_trees = d.choice([0.12, 0.12, 0.16, 0.18, 0.16, 0.14, 0.12])
    p.tree_x = np.stack([d.uniform(-1.0, 1.0) for _ in range(_N_TREES)], axis=1)
    width = np.stack([d.uniform(0.0, 1.0) for _ in range(_N_TREES)], axis=1)
    height = np.stack([d.uniform(0.0, 1.0) for _ in range(_N_TREES)], axis=1)
    p.tree_w = np.where(p.poplars[:, None], 0.035 + 0.03 * width, 0.1 + 0.18 * width)
    p.tree_h = np.where(p.poplars[:, None], 0.3 + 0.35 * height, 0.08 + 0.22 * height)
    p.tree_h = np.where(np.arange(_N_TREES)[None, :] < p.n_trees[:, None], p.tree_h, 0.0)
    p.hill_h = d.uniform(0.0, 0.09)
    p.hill_freq = d.uniform(0.6, 1.6)
    p.hill_phase = d.uniform()
    p.flowers = d.choice([0.45, 0.25, 0.15, 0.15])
    p.flower_density = d.uniform(0.15, 0.4)
    p.brush = d.uniform(0.6, 1.0)
    p.stroke_variant = np.floor(d.uniform(0.0, 1.0) * 1e6).astype(np.int64)
    p.round = d.chance(_ROUND_SHARE)
    p.canvas_r = d.uniform(0.90, 0.99)
    p.frame_rgb = np.array([1.0, 0.99, 0.96]) * d.uniform(0.97, 1.0)[:, None]
    return p


def _painting_attributes(p: SimpleNamespace) -> pd.DataFrame:
    """The generating factors of paintings as a table (one row per image)."""
    return pd.DataFrame({
        "scene": pd.Categorical.from_codes(p.scene, categories=list(_SCENES)),
        "time_of_day": pd.Categorical.from_codes(p.time, categories=list(_TIMES)),
        "horizon": p.horizon, "round_canvas": p.round.astype(bool),
        "canvas_radius": np.where(p.round, p.canvas_r, np.nan),
        "sun": p.sun.astype(bool), "sun_x": np.where(p.sun, p.sun_x, np.nan),
        "sun_y": np.where(p.sun, p.sun_y, np.nan), "sun_radius": np.where(p.sun, p.sun_r, np.nan),
        "clouds": p.n_clouds, "trees": p.n_trees, "poplars": p.poplars & (p.n_trees > 0),
        "flowers": (p.scene == 1) & (p.flowers > 0), "brush_strength": p.brush,
        "sky_top_r": p.sky_top[:, 0], "sky_top_g": p.sky_top[:, 1], "sky_top_b": p.sky_top[:, 2],
    })


@lru_cache(maxsize=8)
def _stroke_bank(size: int, tiles: int = 8) -> tuple[Tensor, Tensor, Tensor]:
    """Brush-stroke tiles for one image size: where each pixel takes its colour from, and per-dab noise.

    Pixels are grouped into short, mostly horizontal dabs (nearest jittered cell centre under a stretched
    metric); a painting resamples each pixel from its dab's centre and adds the dab's colour jitter, which turns
    smooth renderings into visible strokes. Four flips of each tile give ``V = 4 * tiles`` variants, returned as
    ``src`` (V, S*S) int64 local pixel indices, ``jitter`` (3, V, S*S) float32 around 0 and ``dab`` (V, S*S)
    float32, one uniform in [0, 1) per dab.
    """
    cell_h = max(1.0, size / _STROKES_PER_SIDE)
    cell_w = 2.6 * cell_h
    yy, xx = np.meshgrid(np.arange(size, dtype=np.float64), np.arange(size, dtype=np.float64), indexing="ij")
    src_all, jitter_all, dab_all = [], [], []
    for tile in range(tiles):
        slope = (_uniforms(_image_keys(tile, 0x5EED, np.arange(1)), 1)[0, 0] - 0.5) * 0.5
        yt = yy + slope * xx                      # slightly tilted strokes
        row = np.floor(yt / cell_h)
        best_d = np.full(yy.shape, np.inf)
        best_y = np.zeros(yy.shape)
        best_x = np.zeros(yy.shape)
        best_id = np.zeros(yy.shape, dtype=np.uint64)
        for dr in (-1, 0, 1):
            r = row + dr
            shift = (r * 0.618 - np.floor(r * 0.618)) * cell_w     # brick-like offsets between stroke rows
            col = np.floor((xx - shift) / cell_w)
            for dc in (-1, 0, 1):
                c = col + dc
                cell_id = (r.astype(np.int64) * 4099 + c.astype(np.int64) + 10 ** 6).astype(np.uint64)
                u = _uniforms(_image_keys(tile, 0xD4B, cell_id.ravel()), 2).reshape(yy.shape + (2,))
                cy = (r + 0.2 + 0.6 * u[..., 0]) * cell_h
                cx = shift + (c + 0.15 + 0.7 * u[..., 1]) * cell_w
                dist = ((yt - cy) / cell_h) ** 2 + ((xx - cx) / cell_w) ** 2
                better = dist < best_d
                best_d = np.where(better, dist, best_d)
                best_y = np.where(better, cy - slope * cx, best_y)
                best_x = np.where(better, cx, best_x)
                best_id = np.where(better, cell_id, best_id)
        sy = np.clip(np.rint(yy + _SMEAR * (best_y - yy)), 0, size - 1).astype(np.int64)
        sx = np.clip(np.rint(xx + _SMEAR * (best_x - xx)), 0, size - 1).astype(np.int64)
        noise = _uniforms(_image_keys(tile, 0xC010, best_id.ravel()), 4).reshape(size, size, 4)
        along = np.clip((xx - best_x) / cell_w + 0.5, 0.0, 1.0)
        jit = noise[..., :3] * 2.0 - 1.0 + (0.6 * along - 0.3)[..., None]   # each dab lighter towards one end
        for flip_y in (False, True):
            for flip_x in (False, True):
                view = (slice(None, None, -1 if flip_y else 1), slice(None, None, -1 if flip_x else 1))
                s_y = (size - 1 - sy[view]) if flip_y else sy[view]
                s_x = (size - 1 - sx[view]) if flip_x else sx[view]
                src_all.append((s_y * size + s_x).ravel())
                jitter_all.append(jit[view].reshape(-1, 3).T)
                dab_all.append(noise[..., 3][view].ravel())
    return (torch.from_numpy(np.stack(src_all)), _t(np.stack(jitter_all, axis=1)), _t(np.stack(dab_all)))


def _row_noise(keys: np.ndarray, size: int, salt: int) -> Tensor:
    """(N, size) uniforms in [0, 1), one per image row, from the image keys."""
    z = _mix64(keys ^ _U64(salt))[:, None] + np.arange(1, size + 1, dtype=np.uint64)[None, :] * _GOLDEN
    return _t((_mix64(z) >> _U64(11)).astype(np.float64) * 2.0 ** -53)


def _rows(c: Tensor) -> Tensor:
    """(N, 3) colours as (3, N, 1) for per-row colour arithmetic."""
    return c.t().contiguous()[:, :, None]


def _render_paintings(p: SimpleNamespace, size: int) -> Tensor:
    """Render the paintings described by ``p`` as planar float32 (3, N, S, S) in [0, 1] (a scratch buffer)."""
    n = p.n
    cv = _Canvas(n, size)
    px, xs, ys, img = cv.px, cv.xs, cv.ys, cv.img
    f = _tensors(p)
    h = _c(f.horizon)
    water = _t(p.scene == 0)

    # base colours per row (3, N, H): sky gradient above the horizon; mirrored sky (water) or a field below
    t_sky = ((ys + 1.0) / (h + 1.0)).clamp(0.0, 1.0)
    sky_rows = _rows(f.sky_top) + t_sky * _rows(f.sky_low - f.sky_top)
    mirror = ((2.0 * h - ys + 1.0) / (h + 1.0)).clamp(0.0, 1.0)
    depth = ((ys - h) / (1.0 - h)).clamp(0.0, 1.0)
    reflected = _rows(f.sky_top) + mirror * _rows(f.sky_low - f.sky_top)
    ripples = _row_noise(p.keys, size, 0x51)
    water_rows = (0.55 * reflected + 0.45 * _rows(f.water_rgb)) * ((0.92 - 0.25 * depth) * (0.9 + 0.2 * ripples))
    field_rows = _rows(f.land_far) + torch.sqrt(depth) * _rows(f.land_near - f.land_far)
    low_rows = field_rows + _c(water) * (water_rows - field_rows)
    below = _step(ys, f.horizon, px)
    above = 1.0 - below
    rows = sky_rows + below * (low_rows - sky_rows)
    img.copy_(rows[..., None].expand(3, n, size, size))

    # clouds: soft-edged flat ellipses in the sky, merged into one coverage
    grow = _soft_extent(p.cloud_a, p.cloud_b, 0.6 * p.cloud_b)
    present = np.arange(_N_CLOUDS)[None, :] < p.n_clouds[:, None]
    r = cv.region(np.where(present, p.cloud_x - p.cloud_a * grow, np.inf).min(axis=1),
                  np.where(present, p.cloud_x + p.cloud_a * grow, -np.inf).max(axis=1),
                  np.where(present, p.cloud_y - p.cloud_b * grow, np.inf).min(axis=1),
                  np.where(present, p.cloud_y + p.cloud_b * grow, -np.inf).max(axis=1), on=p.n_clouds > 0)
    if r:
        view, cols, rws, _ = r
        clouds = None
        for c in range(_N_CLOUDS):
            cloud = _ellipse(cols, rws, f.cloud_x[:, c], f.cloud_y[:, c], f.cloud_a[:, c], f.cloud_b[:, c],
                             0.6 * f.cloud_b[:, c])
            cloud *= _t(present[:, c])[:, None, None]
            clouds = cloud if clouds is None else torch.maximum(clouds, cloud, out=clouds)
        clouds *= f.cloud_opacity[:, None, None]
        cv.paint(view, clouds, _rgb(f.cloud_rgb))

    # the sun: a disc with a glow, and its glittering reflection on water
    on = p.sun.astype(bool)
    glow_r = 3.0 * p.sun_r * _soft_extent(3.0 * p.sun_r, 3.0 * p.sun_r, 2.5 * p.sun_r)
    r = cv.region(p.sun_x - glow_r, p.sun_x + glow_r, p.sun_y - glow_r, p.horizon, on=on)
    if r:
        view, cols, rws, _ = r
        glow = _ellipse(cols, rws, f.sun_x, f.sun_y, 3.0 * f.sun_r, 3.0 * f.sun_r, 2.5 * f.sun_r)
        glow *= (0.35 * f.sun)[:, None, None] * (1.0 - _step(rws, f.horizon, px))[:, :, None]
        disc = _ellipse(cols, rws, f.sun_x, f.sun_y, f.sun_r, f.sun_r, 1.5 * px)
        disc *= f.sun[:, None, None]
        torch.maximum(glow, disc, out=glow)
        cv.paint(view, glow, _rgb(f.sun_rgb))
    reach = 0.6 * p.sun_r * 5.0
    r = cv.region(p.sun_x - reach, p.sun_x + reach, p.horizon - px, np.ones(n), on=on & (p.scene == 0))
    if r:
        view, cols, rws, rsl = r
        deep = ((rws - h) / (1.0 - h)).clamp(0.0, 1.0)
        spread = _c(0.6 * f.sun_r) * (1.0 + 4.0 * deep)
        glitter = (1.0 - (cols - _c(f.sun_x)).abs()[:, None, :] / spread[:, :, None]).clamp_(0.0, 1.0)
        glitter *= (_step(rws, f.horizon, px) * ripples[:, rsl] * _c(0.8 * f.sun * water))[:, :, None]
        cv.paint(view, glitter, _rgb(f.sun_rgb))

    # distant hills and the tree line standing on the horizon, mirrored in water
    hills = _c(f.hill_h) * (0.5 + 0.5 * _triangle(xs * _c(f.hill_freq) + _c(f.hill_phase)))
    trees = torch.zeros_like(hills)
    for t in range(_N_TREES):
        rel = (xs - _c(f.tree_x[:, t])) / _c(f.tree_w[:, t])
        crown = _c(f.tree_h[:, t]) * torch.sqrt((1.0 - rel * rel).clamp(min=0.0))
        torch.maximum(trees, crown, out=trees)
    tallest = np.maximum(p.tree_h.max(axis=1), p.hill_h)
    r = cv.region(-np.ones(n), np.ones(n), p.horizon - tallest, p.horizon + 0.8 * tallest)
    if r:
        view, _, rws, rsl = r
        above_r = above[:, rsl]
        hill_cov = (0.5 + (rws[:, :, None] - (h - hills)[:, None, :]) / px).clamp_(0.0, 1.0) * above_r[:, :, None]
        cv.paint(view, hill_cov, _rgb(0.5 * f.land_far + 0.5 * f.sky_low))
        tree_cov = (0.5 + (rws[:, :, None] - (h - trees)[:, None, :]) / px).clamp_(0.0, 1.0) * above_r[:, :, None]
        shade = 0.8 + 0.3 * ((rws - h) / 0.5 + 1.0).clamp(0.0, 1.0)
        cv.paint(view, tree_cov, _rgb(f.tree_rgb) * shade[:, :, None])
        mirror_cov = (0.5 + ((h + 0.8 * trees)[:, None, :] - rws[:, :, None]) / px).clamp_(0.0, 1.0)
        mirror_cov *= (below[:, rsl] * (0.35 + 0.4 * ripples[:, rsl]) * _c(water))[:, :, None]
        cv.paint(view, mirror_cov, _rgb(0.6 * f.tree_rgb + 0.4 * f.water_rgb))

    src, jitter, dab = _stroke_bank(size)
    variant = torch.from_numpy(p.stroke_variant % src.shape[0])

    # flowers dotting a field, denser towards the front (drawn on the images that have them only)
    sel = np.flatnonzero((p.scene == 1) & (p.flowers > 0))
    if len(sel):
        r0 = max(0, int(math.floor((p.horizon[sel].min() + 1.0) / px)) - 1)
        idx = torch.from_numpy(sel)
        sub = img[:, :, r0:].index_select(1, idx)
        dots = dab.index_select(0, (variant[idx] + 5) % src.shape[0]).view(len(sel), size, size)[:, r0:]
        cover = dots - (1.0 - _c(f.flower_density[idx]) * depth[idx, r0:])[:, :, None]
        cover.mul_(6.0).clamp_(0.0, 1.0)
        cv.paint(sub, cover, _rgb(_t(_FLOWER_RGB[p.flowers[sel] - 1])))
        img[:, :, r0:].index_copy_(1, idx, sub)

    # brush strokes: resample every pixel from near its dab's centre and add the dab's colour jitter
    index = torch.index_select(src, 0, variant, out=_SCRATCH.get("index", (n, size * size), torch.int64))
    index += (torch.arange(n, dtype=torch.int64) * (size * size))[:, None]
    out = _SCRATCH.get("strokes", (3, n, size, size))
    torch.gather(img.view(3, -1), 1, index.view(1, -1).expand(3, -1), out=out.view(3, -1))
    dabs = torch.index_select(jitter, 1, variant, out=_SCRATCH.get("jitter", (3, n, size * size)))
    dabs *= _c(0.06 * f.brush)
    out += dabs.view(3, n, size, size)
    out.clamp_(0.0, _PAINT_MAX)

    # round canvases: outside the circle the (near-white) frame
    sel = np.flatnonzero(p.round)
    if len(sel):
        sel_t = torch.from_numpy(sel)
        radius = torch.sqrt((xs * xs)[:, None, :] + (ys * ys)[:, :, None])
        outside = (0.5 + (radius - f.canvas_r[sel_t][:, None, None]) / px).clamp_(0.0, 1.0)
        sub = out.index_select(1, sel_t)
        cv.paint(sub, outside, _rgb(f.frame_rgb[sel_t]))
        out.index_copy_(1, sel_t, sub)
    return out


# ----------------------------------------------------------------------------------------------------------------
# Datasets


_BATCH_PIXELS = 1 << 20  # images rendered together: 256 at 64x64 (fewer per-op overheads, still cache-friendly)


class _ProceduralDataset(Dataset):
    """Map-style dataset of procedurally drawn images, rendered in vectorised chunks and cached as uint8."""

    _stream: int = 0                 # separates the random streams of the dataset kinds
    _kind: str = ""
    _draw_params: Callable[[np.ndarray], SimpleNamespace]          # image keys -> parameters
    _draw: Callable[[SimpleNamespace, int], Tensor]                 # parameters, size -> planar float images
    _describe: Callable[[SimpleNamespace], pd.DataFrame]            # parameters -> attribute table

    def __init__(self, n: int = 10000, *, image_size: int = 64, seed: int = 0,
                 value_range: Sequence[float] = (-1.0, 1.0), return_attributes: bool = False,
                 chunk_size: int = 256, cache_mb: float = 512.0) -> None:
        if int(n) < 1:
            raise ValueError(f"{type(self).__name__}: n must be a positive number of images, got {n!r}")
        if int(image_size) < 8:
            raise ValueError(f"{type(self).__name__}: image_size must be at least 8 pixels, got {image_size!r}")
        if len(value_range) != 2 or not float(value_range[1]) > float(value_range[0]):
            raise ValueError(f"{type(self).__name__}: value_range must be (low, high) with low < high, "
                             f"e.g. (-1.0, 1.0) or (0.0, 1.0); got {value_range!r}")
        if int(chunk_size) < 1:
            raise ValueError(f"{type(self).__name__}: chunk_size must be positive, got {chunk_size!r}")
        self.n = int(n)
        self.image_size = int(image_size)
        self.seed = int(seed)
        self.value_range = (float(value_range[0]), float(value_range[1]))
        self.return_attributes = bool(return_attributes)
        self.chunk_size = int(chunk_size)
        self.cache_mb = float(cache_mb)
        self._cache: OrderedDict[int, torch.Tensor] = OrderedDict()
        self._attributes: pd.DataFrame | None = None
        self._attribute_rows: dict[str, np.ndarray] | None = None

    # -- rendering
    def _keys(self, indices: np.ndarray) -> np.ndarray:
        return _image_keys(self.seed, self._stream, indices)

    def render(self, indices: Sequence[int] | np.ndarray) -> torch.Tensor:
        """Render the given image indices (no caching) as uint8 (len, 3, S, S)."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        if indices.size and (indices.min() < 0 or indices.max() >= self.n):
            raise IndexError(f"{type(self).__name__}: indices must lie in [0, {self.n}), "
                             f"got {indices.min()}..{indices.max()}")
        batch = max(1, _BATCH_PIXELS // (self.image_size * self.image_size))
        out = torch.empty((len(indices), 3, self.image_size, self.image_size), dtype=torch.uint8)
        # One thread: these elementwise ops gain little from intra-op threads and lose a lot when cores are busy.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            for start in range(0, len(indices), batch):
                part = indices[start:start + batch]
                params = self._draw_params(self._keys(part))
                planar = self._draw(params, self.image_size).clamp_(0.0, 1.0).mul_(255.0).add_(0.5)
                out[start:start + len(part)].copy_(planar.permute(1, 0, 2, 3))  # truncates: rounds to nearest
        finally:
            torch.set_num_threads(threads)
        return out

    def _chunk(self, k: int) -> torch.Tensor:
        chunk = self._cache.get(k)
        if chunk is not None:
            self._cache.move_to_end(k)
            return chunk
        start = k * self.chunk_size
        chunk = self.render(np.arange(start, min(self.n, start + self.chunk_size)))
        self._cache[k] = chunk
        budget = self.cache_mb * 2 ** 20
        while len(self._cache) > 1 and sum(c.numel() for c in self._cache.values()) > budget:
            self._cache.popitem(last=False)
        return chunk

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> torch.Tensor | tuple[torch.Tensor, dict[str, Any]]:
        i = operator.index(index)
        if i < 0:
            i += self.n
        if not 0 <= i < self.n:
            raise IndexError(f"{type(self).__name__} index {index} out of range for {self.n} images")
        k, j = divmod(i, self.chunk_size)
        lo, hi = self.value_range
        x = self._chunk(k)[j].float().div_(255).mul_(hi - lo).add_(lo)  # = u8.float() / 255 * (hi - lo) + lo
        if self.return_attributes:
            return x, self.attributes_of(i)
        return x

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_cache"] = OrderedDict()
        return state

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(n={self.n}, image_size={self.image_size}, seed={self.seed}, "
                f"value_range={self.value_range})")

    # -- attributes
    @property
    def attributes(self) -> pd.DataFrame:
        """The generating factors of every image (one row per index), without rendering anything."""
        if self._attributes is None:
            table = self._describe(self._draw_params(self._keys(np.arange(self.n))))
            table.index.name = "index"
            self._attributes = table
        return self._attributes

    def attributes_of(self, index: int) -> dict[str, Any]:
        """The attributes of one image as a plain dict of Python scalars."""
        if self._attribute_rows is None:
            table = self.attributes
            self._attribute_rows = {c: np.asarray(table[c].astype(object) if isinstance(
                table[c].dtype, pd.CategoricalDtype) else table[c]) for c in table.columns}
        return {c: (v[index].item() if hasattr(v[index], "item") else v[index])
                for c, v in self._attribute_rows.items()}

    # -- bulk access
    def to_uint8(self, *, progress: bool = False) -> torch.Tensor:
        """The whole dataset as uint8 (N, 3, S, S), rendered chunk by chunk.

        When the whole set fits in ``cache_mb`` the rendered chunks stay cached, so a second call (the trainer,
        then the metrics' reference, then a second trainer) copies instead of rendering again.
        """
        out = torch.empty((self.n, 3, self.image_size, self.image_size), dtype=torch.uint8)
        keep = out.numel() <= self.cache_mb * 2 ** 20
        chunks = range(math.ceil(self.n / self.chunk_size))
        if progress:
            from facegen_utils._log import progress as progress_bar

            chunks = progress_bar(chunks, desc=f"rendering {self._kind} images", unit="chunk")
        for k in chunks:
            start = k * self.chunk_size
            if keep:
                out[start:start + self.chunk_size] = self._chunk(k)
                continue
            cached = self._cache.get(k)
            out[start:start + self.chunk_size] = cached if cached is not None else \
                self.render(np.arange(start, min(self.n, start + self.chunk_size)))
        return out

    def save_to_folder(self, path: str | Path, fmt: str = "jpg", limit: int | None = None) -> Path:
        """Write images as ``000000.jpg``/``.png``... plus ``attributes.csv``; return the folder."""
        from PIL import Image

        fmt = fmt.lower().lstrip(".")
        if fmt not in ("jpg", "jpeg", "png"):
            raise ValueError(f"save_to_folder: fmt must be 'jpg' or 'png', got {fmt!r}")
        ext = "jpg" if fmt in ("jpg", "jpeg") else "png"
        count = self.n if limit is None else max(0, min(int(limit), self.n))
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        width = max(6, len(str(count - 1)))
        names = [f"{i:0{width}d}.{ext}" for i in range(count)]
        for start in range(0, count, self.chunk_size):
            stop = min(count, start + self.chunk_size)
            batch = self.render(np.arange(start, stop)).permute(0, 2, 3, 1).numpy()
            for i, image in zip(range(start, stop), batch):
                target = folder / names[i]
                if ext == "jpg":
                    Image.fromarray(image).save(target, quality=95, subsampling=0)
                else:
                    Image.fromarray(image).save(target)
        table = self.attributes.iloc[:count].copy()
        table.insert(0, "filename", names)
        table.to_csv(folder / "attributes.csv")
        logger.info("wrote %d %s images to %s", count, self._kind, folder)
        return folder


class SyntheticFaces(_ProceduralDataset):
    """Cartoon faces with known attributes (face shape, skin, hair and bangs, eyes, mouth, background, accessory).

    ``ds[i]`` is a float32 (3, S, S) tensor in ``value_range`` (with ``return_attributes=True`` a tuple
    ``(image, attributes_dict)``); image ``i`` of a seed is always the same, at any ``image_size``.
    ``ds.attributes`` holds the factors of every image, ``ds.to_uint8()`` renders the whole set and
    ``ds.save_to_folder(path)`` writes it as image files. ``chunk_size`` images are rendered together and kept as
    uint8 in a cache of at most ``cache_mb`` megabytes.
    """

    _stream = 0xFACE5
    _kind = "synthetic face"

    _draw_params = staticmethod(_face_params)
    _draw = staticmethod(_render_faces)
    _describe = staticmethod(_face_attributes)


class SyntheticPaintings(_ProceduralDataset):
    """Impressionist landscapes (sky, horizon, water or field, sun, trees, brush strokes), some on round canvases.

    Same interface as :class:`SyntheticFaces`; stands in for the Monet paintings of report 003.
    """

    _stream = 0xA27
    _kind = "synthetic painting"

    _draw_params = staticmethod(_painting_params)
    _draw = staticmethod(_render_paintings)
    _describe = staticmethod(_painting_attributes)


def write_readme_grids(folder: str | Path, *, image_size: int = 64, count: int = 64, seed: int = 0) -> list[Path]:
    """Write the README sample grids ``synthetic_faces.png`` and ``synthetic_paintings.png`` into ``folder``."""
    from facegen_utils.viz import save_grid

    folder = Path(folder)
    written = []
    for name, cls in (("synthetic_faces.png", SyntheticFaces), ("synthetic_paintings.png", SyntheticPaintings)):
        ds = cls(count, image_size=image_size, seed=seed)
        written.append(save_grid(ds.to_uint8(), folder / name, nrow=8, value_range=(0, 255)))
    return written


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: write the README grids (``--grid DIR``) or a dataset folder (``--save DIR``)."""
    parser = argparse.ArgumentParser(prog="python -m facegen_utils.datasets.procedural",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--grid", metavar="DIR", help="write synthetic_faces.png and synthetic_paintings.png here")
    parser.add_argument("--save", metavar="DIR", help="write a dataset as an image folder here")
    parser.add_argument("--kind", choices=("faces", "paintings"), default="faces")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fmt", choices=("jpg", "png"), default="jpg")
    args = parser.parse_args(argv)
    if not args.grid and not args.save:
        parser.error("nothing to do: give --grid DIR and/or --save DIR")
    if args.grid:
        for path in write_readme_grids(args.grid, image_size=args.image_size, seed=args.seed):
            print(path)
    if args.save:
        cls = SyntheticFaces if args.kind == "faces" else SyntheticPaintings
        ds = cls(args.n, image_size=args.image_size, seed=args.seed)
        print(ds.save_to_folder(args.save, fmt=args.fmt))


if __name__ == "__main__":
    main()
