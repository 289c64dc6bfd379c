"""Painting renderer of ``SyntheticPaintings``: impressionist landscapes drawn from known factors.

``params(keys)`` draws the factors (time of day, horizon, water or field, sun, clouds, trees, flowers, brush,
round canvas) from the image keys, ``attributes(params)`` tables them and ``render(params, size)`` paints the
scene, then turns it into brush strokes: each pixel is resampled from near the centre of its dab, a cell of a
jittered-grid Voronoi (Worley) pattern under a stretched metric, and takes the dab's colour jitter.
"""
from __future__ import annotations

import math
from functools import lru_cache
from types import SimpleNamespace

import numpy as np
import pandas as pd
import torch

from .raster import (_N_UNIFORMS, _SCRATCH, _U64, Tensor, _c, _Canvas, _Draws, _ellipse, _image_keys, _mix64, _rgb,
                     _soft_extent, _step, _t, _tensors, _triangle, _uniforms)

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
#: share of paintings on a round canvas: about 2 of the competition's 300 Monet paintings are round (< 1 %), so the
#: circle shows in the per-pixel max image while the mean, variance and std images show the horizon
ROUND_SHARE = 0.02
_STROKES_PER_SIDE = 36   # brush dabs are 1/36 of the image high and 2.6 times as long
_SMEAR = 0.7             # how far towards its dab's centre a pixel takes its colour from


def params(keys: np.ndarray, round_share: float = ROUND_SHARE) -> SimpleNamespace:
    """Draw every painting parameter (float64 / int arrays of length N) from the image keys."""
    d = _Draws(_uniforms(keys, _N_UNIFORMS))
    p = SimpleNamespace(n=len(keys), keys=keys)
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
    p.round = d.chance(round_share)
    p.canvas_r = d.uniform(0.90, 0.99)
    p.frame_rgb = np.array([1.0, 0.99, 0.96]) * d.uniform(0.97, 1.0)[:, None]
    return p


def attributes(p: SimpleNamespace) -> pd.DataFrame:
    """The generating factors of paintings as a table (one row per image)."""
    return pd.DataFrame({
        "scene": pd.Categorical.from_codes(p.scene, categories=list(_SCENES)),
        "time_of_day": pd.Categorical.from_codes(p.time, categories=list(_TIMES)), "horizon": p.horizon,
        "round_canvas": p.round.astype(bool), "canvas_radius": np.where(p.round, p.canvas_r, np.nan),
        "sun": p.sun.astype(bool), "sun_x": np.where(p.sun, p.sun_x, np.nan), "sun_y": np.where(p.sun, p.sun_y, np.nan),
        "sun_radius": np.where(p.sun, p.sun_r, np.nan), "clouds": p.n_clouds, "trees": p.n_trees,
        "poplars": p.poplars & (p.n_trees > 0), "flowers": (p.scene == 1) & (p.flowers > 0), "brush_strength": p.brush,
        "sky_top_r": p.sky_top[:, 0], "sky_top_g": p.sky_top[:, 1], "sky_top_b": p.sky_top[:, 2]})


@lru_cache(maxsize=8)
def _stroke_bank(size: int, tiles: int = 8) -> tuple[Tensor, Tensor, Tensor]:
    """Brush-stroke tiles for one image size: where each pixel takes its colour from, and per-dab noise.

    Pixels are grouped into short, mostly horizontal dabs (nearest jittered cell centre under a stretched metric);
    ``render`` resamples each pixel from its dab's centre and adds the dab's colour jitter. Four flips of each tile
    give ``V = 4 * tiles`` variants, returned as ``src`` (V, S*S) int64 local pixel indices, ``jitter`` (3, V, S*S)
    float32 around 0 and ``dab`` (V, S*S) float32, one uniform in [0, 1) per dab.
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
        best_y, best_x = np.zeros(yy.shape), np.zeros(yy.shape)
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
        for flip_y, flip_x in ((False, False), (False, True), (True, False), (True, True)):
            view = (slice(None, None, -1 if flip_y else 1), slice(None, None, -1 if flip_x else 1))
            s_y = (size - 1 - sy[view]) if flip_y else sy[view]
            s_x = (size - 1 - sx[view]) if flip_x else sx[view]
            src_all.append((s_y * size + s_x).ravel())
            jitter_all.append(jit[view].reshape(-1, 3).T)
            dab_all.append(noise[..., 3][view].ravel())
    return (torch.from_numpy(np.stack(src_all)), _t(np.stack(jitter_all, axis=1)), _t(np.stack(dab_all)))


def _rows(c: Tensor) -> Tensor:
    """(N, 3) colours as (3, N, 1) for per-row colour arithmetic."""
    return c.t().contiguous()[:, :, None]


def render(p: SimpleNamespace, size: int) -> Tensor:
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
    ripples = _t(_uniforms(_mix64(p.keys ^ _U64(0x51)), size))  # (N, H): one uniform per image row
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
    if r := cv.region(np.where(present, p.cloud_x - p.cloud_a * grow, np.inf).min(axis=1),
                      np.where(present, p.cloud_x + p.cloud_a * grow, -np.inf).max(axis=1),
                      np.where(present, p.cloud_y - p.cloud_b * grow, np.inf).min(axis=1),
                      np.where(present, p.cloud_y + p.cloud_b * grow, -np.inf).max(axis=1), on=p.n_clouds > 0):
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
    if r := cv.region(p.sun_x - glow_r, p.sun_x + glow_r, p.sun_y - glow_r, p.horizon, on=on):
        view, cols, rws, _ = r
        glow = _ellipse(cols, rws, f.sun_x, f.sun_y, 3.0 * f.sun_r, 3.0 * f.sun_r, 2.5 * f.sun_r)
        glow *= (0.35 * f.sun)[:, None, None] * (1.0 - _step(rws, f.horizon, px))[:, :, None]
        disc = _ellipse(cols, rws, f.sun_x, f.sun_y, f.sun_r, f.sun_r, 1.5 * px).mul_(f.sun[:, None, None])
        torch.maximum(glow, disc, out=glow)
        cv.paint(view, glow, _rgb(f.sun_rgb))
    reach = 0.6 * p.sun_r * 5.0
    if r := cv.region(p.sun_x - reach, p.sun_x + reach, p.horizon - px, np.ones(n), on=on & (p.scene == 0)):
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
    if r := cv.region(-np.ones(n), np.ones(n), p.horizon - tallest, p.horizon + 0.8 * tallest):
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
        cover = (dots - (1.0 - _c(f.flower_density[idx]) * depth[idx, r0:])[:, :, None]).mul_(6.0).clamp_(0.0, 1.0)
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
