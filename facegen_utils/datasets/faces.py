"""Face renderer of ``SyntheticFaces``: cartoon (anime-like) faces drawn from known factors.

``params(keys)`` draws the factors (face shape, skin, hair and bangs, eyes, mouth, accessory, background) from the
image keys, ``attributes(params)`` tables them and ``render(params, size)`` paints them as soft-edged layers.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from .raster import (_N_UNIFORMS, Tensor, _c, _Canvas, _const, _Draws, _ellipse, _palette, _rgb, _ring, _soft_extent,
                     _step, _t, _tensors, _triangle, _uniforms)

_SKIN_NAMES, _SKIN_RGB = _palette({
    "fair": (1.00, 0.89, 0.81), "light": (0.98, 0.80, 0.68), "medium": (0.90, 0.68, 0.52), "tan": (0.78, 0.55, 0.40),
    "brown": (0.58, 0.38, 0.26), "deep": (0.40, 0.26, 0.18)})
_HAIR_NAMES, _HAIR_RGB = _palette({
    "black": (0.13, 0.11, 0.14), "dark_brown": (0.32, 0.19, 0.12), "brown": (0.56, 0.34, 0.19),
    "blonde": (0.96, 0.83, 0.47), "ginger": (0.86, 0.42, 0.16), "pink": (0.98, 0.62, 0.76), "blue": (0.36, 0.52, 0.92),
    "silver": (0.86, 0.87, 0.93), "purple": (0.56, 0.36, 0.76), "green": (0.36, 0.70, 0.50)})
_EYE_NAMES, _EYE_RGB = _palette({
    "brown": (0.55, 0.30, 0.12), "blue": (0.20, 0.47, 0.92), "green": (0.20, 0.66, 0.36), "red": (0.86, 0.16, 0.20),
    "purple": (0.58, 0.28, 0.84), "gold": (0.92, 0.70, 0.16), "grey": (0.52, 0.57, 0.64), "teal": (0.10, 0.66, 0.70)})
_ACCENT_NAMES, _ACCENT_RGB = _palette({
    "red": (0.86, 0.12, 0.18), "pink": (0.98, 0.55, 0.72), "blue": (0.22, 0.40, 0.90), "yellow": (0.98, 0.84, 0.20),
    "white": (0.97, 0.97, 0.97), "black": (0.12, 0.12, 0.14)})
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


def params(keys: np.ndarray) -> SimpleNamespace:
    """Draw every face parameter (float64 / int arrays of length N) from the image keys."""
    d = _Draws(_uniforms(keys, _N_UNIFORMS))
    p = SimpleNamespace(n=len(keys))
    p.shape = d.choice([0.35, 0.35, 0.30])
    p.a = d.uniform(0.46, 0.58)
    p.b = p.a * d.uniform(_SHAPE_RATIO[p.shape, 0], _SHAPE_RATIO[p.shape, 1])
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
    p.mouth = d.choice([0.34, 0.22, 0.14, 0.12, 0.18])
    p.mouth_w = d.uniform(0.045, 0.075)
    p.mouth_y = np.maximum(p.cy + p.b * d.uniform(0.52, 0.64), p.eye_y + 1.3 * p.eye_ry + 0.09)
    p.accessory = d.choice([0.5, 0.25, 0.25])
    p.accent = d.choice([0.3, 0.2, 0.15, 0.12, 0.08, 0.15])
    p.accent_rgb = d.colour(_ACCENT_RGB[p.accent], 0.04)
    p.bow_side = np.where(d.chance(0.5), 1.0, -1.0)
    p.bow_size = d.uniform(0.09, 0.13)
    # background (diagonal gradient) and clothes
    p.bg_top = 0.45 * np.stack([d.uniform(0.25, 1.0) for _ in range(3)], axis=1) + 0.5
    p.bg_bottom = np.clip(p.bg_top * d.uniform(0.55, 0.9)[:, None] + d.uniform(-0.1, 0.1)[:, None], 0.0, 1.0)
    p.bg_slant = d.uniform(-0.7, 0.7)
    p.cloth_rgb = np.stack([d.uniform(0.1, 0.95) for _ in range(3)], axis=1)
    p.shoulder = d.uniform(0.55, 0.80)
    return p


def attributes(p: SimpleNamespace) -> pd.DataFrame:
    """The generating factors of faces as a table (one row per image)."""
    def cat(codes: np.ndarray, names: Sequence[str]) -> pd.Categorical:
        return pd.Categorical.from_codes(codes, categories=list(names))

    cols: dict[str, Any] = {
        "face_shape": cat(p.shape, _FACE_SHAPES), "face_width": 2 * p.a, "face_height": 2 * p.b, "face_x": p.cx,
        "face_y": p.cy, "skin_tone": cat(p.skin, _SKIN_NAMES), "hair_color": cat(p.hair, _HAIR_NAMES),
        "hair_style": cat(p.style, _HAIR_STYLES), "bangs": cat(p.bangs, _BANGS), "eye_color": cat(p.eye, _EYE_NAMES),
        "eye_size": 2 * p.eye_rx, "eye_height": 2 * p.eye_ry, "eye_spacing": 2 * p.eye_dx,
        "mouth": cat(p.mouth, _MOUTHS), "blush": p.blush.astype(bool), "accessory": cat(p.accessory, _ACCESSORIES),
        "accessory_color": cat(np.where(p.accessory > 0, p.accent, -1), _ACCENT_NAMES)}
    colours = (("skin", p.skin_rgb), ("hair", p.hair_rgb), ("eye", p.eye_rgb), ("background_top", p.bg_top),
               ("background_bottom", p.bg_bottom))
    cols.update({f"{name}_{channel}": rgb[:, c] for name, rgb in colours for c, channel in enumerate("rgb")})
    return pd.DataFrame(cols)


def render(p: SimpleNamespace, size: int) -> Tensor:
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
    if r := cv.region(p.cx - back_a, p.cx + back_a, back_y - back_b, back_y + back_b):
        view, cols, rows, _ = r
        back = _ellipse(cols, rows, f.cx, _t(back_y), _t(back_a), _t(back_b), px, square=_t(st[:, 3]))
        cv.paint(view, back, hair_colour(cols))
    on = st[:, 8] > 0
    tail_x, tail_y = p.a * st[:, 5], p.cy + p.b * st[:, 6]
    tail_a, tail_b = np.where(on, p.a * st[:, 7], 1.0), np.where(on, p.b * st[:, 8], 1.0)
    if r := cv.region(p.cx - tail_x - tail_a, p.cx + tail_x + tail_a, tail_y - tail_b, tail_y + tail_b, on=on):
        view, cols, rows, _ = r
        tails = _ellipse((cols - _c(f.cx)).abs(), rows, _t(tail_x), _t(tail_y), _t(tail_a), _t(tail_b), px)
        tails *= _t(on)[:, None, None]
        cv.paint(view, tails, hair_colour(cols))

    # neck, then clothes over its lower end
    neck_w, neck_end = 0.3 * p.a, p.cy + p.b + 0.3
    if r := cv.region(p.cx - neck_w, p.cx + neck_w, p.cy, neck_end):
        view, cols, rows, _ = r
        across = (0.5 + (_c(_t(neck_w)) - (cols - _c(f.cx)).abs()) / px).clamp_(0.0, 1.0)
        down = _step(rows, f.cy, px) * _step(-rows, _t(-neck_end), px)
        cv.paint(view, down[:, :, None] * across[:, None, :], _rgb(f.skin_rgb * 0.82))
    body_y = p.cy + p.b + 0.62
    if r := cv.region(p.cx - p.shoulder, p.cx + p.shoulder, body_y - 0.5, body_y + 0.5):
        view, cols, rows, _ = r
        half = torch.full_like(f.cx, 0.5)
        cv.paint(view, _ellipse(cols, rows, f.cx, _t(body_y), f.shoulder, half, px), _rgb(f.cloth_rgb))

    # face, slightly shaded towards its sides
    if r := cv.region(p.cx - p.a, p.cx + p.a, p.cy - p.b, p.cy + p.b):
        view, cols, rows, _ = r
        face = _ellipse(cols, rows, f.cx, f.cy, f.a, f.b, px, taper=f.taper)
        side = ((cols - _c(f.cx)) / _c(f.a)).clamp(-1.0, 1.0)
        cv.paint(view, face, _rgb(f.skin_rgb) * (1.0 - 0.10 * side * side)[:, None, :])

    _draw_eyes(cv, p, f)
    _draw_mouth(cv, p, f)

    # front hair: a cap over the head cut by the fringe line; sidelocks fall at the face sides
    cap_y, cap_a, cap_b = p.cy - 0.02 * p.b, 1.1 * p.a, 1.13 * p.b
    if r := cv.region(p.cx - cap_a, p.cx + cap_a, cap_y - cap_b, cap_y + cap_b):
        view, cols, rows, _ = r
        cap = _ellipse(cols, rows, f.cx, _t(cap_y), _t(cap_a), _t(cap_b), px)
        fringe = _fringe(p, f, cols)
        cap *= (0.5 + (fringe[:, None, :] - rows[:, :, None]) / px).clamp_(0.0, 1.0)
        cv.paint(view, cap, hair_colour(cols))

    # the shiny band across the top of the hair, broken into strands
    hl_y, hl_a, hl_b, hl_w = p.cy + 0.05 * p.b, 0.92 * p.a, 0.95 * p.b, 0.022 + 0.3 * px
    if r := cv.region(p.cx - hl_a - hl_w, p.cx + hl_a + hl_w, hl_y - hl_b - hl_w, p.cy - 0.55 * p.b):
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

    Drawn in mirrored coordinates ``|x - cx|`` (one shape makes both eyes); iris, pupil and highlights use the signed
    offset from the nearer eye, so both eyes look the same way. Each group of layers gets its own, small region.
    """
    ex, ey, rx, ry, px = f.eye_dx, f.eye_y, f.eye_rx, f.eye_ry, cv.px

    def mirrored(cols: Tensor) -> Tensor:
        return (cols - _c(f.cx)).abs()

    grow = _soft_extent(1.05 * p.eye_rx, 0.38 * p.eye_ry, 0.5 * p.eye_ry)
    reach, blush_y = p.eye_dx + (0.2 + 1.05 * grow) * p.eye_rx, p.eye_y + 1.45 * p.eye_ry
    if r := cv.region(p.cx - reach, p.cx + reach, blush_y - 0.38 * grow * p.eye_ry,
                    blush_y + 0.38 * grow * p.eye_ry, on=p.blush):
        view, cols, rows, _ = r
        blush = _ellipse(mirrored(cols), rows, ex + 0.2 * rx, ey + 1.45 * ry, 1.05 * rx, 0.38 * ry, 0.5 * ry)
        blush *= (0.45 * f.blush)[:, None, None]
        cv.paint(view, blush, _const(1.0, 0.45, 0.5))

    reach = p.eye_dx + 1.32 * p.eye_rx
    if r := cv.region(p.cx - reach, p.cx + reach, p.eye_y - 1.2 * p.eye_ry, p.eye_y + 1.02 * p.eye_ry):
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
        iris = _ellipse(local, rows, look, ey + 0.1 * ry, 0.74 * rx, 0.84 * ry, px).mul_(white)
        shade = ((rows - _c(ey - ry)) / _c(2.0 * ry)).clamp_(0.0, 1.0)
        cv.paint(view, iris, _rgb(f.eye_rgb) * (0.45 + 0.75 * shade)[:, :, None])
        pupil = _ellipse(local, rows, look, ey + 0.14 * ry, 0.36 * rx, 0.46 * ry, px).mul_(white)
        cv.paint(view, pupil, _rgb(f.eye_rgb * 0.22))
        shine = _ellipse(local, rows, look - 0.3 * rx, ey - 0.32 * ry, 0.27 * rx, 0.27 * rx, px)
        small = _ellipse(local, rows, look + 0.3 * rx, ey + 0.42 * ry, 0.13 * rx, 0.13 * rx, px)
        torch.maximum(shine, small, out=shine)
        cv.paint(view, shine, _const(1.0, 1.0, 1.0))

    # brows: thin ellipses sheared by the tilt (outer ends up for a positive tilt)
    reach, brow_y = p.eye_dx + 1.1 * p.eye_rx, p.eye_y - p.eye_ry - p.brow_gap
    half = p.brow_th + np.abs(p.brow_tilt) * p.eye_rx
    if r := cv.region(p.cx - reach, p.cx + reach, brow_y - half, brow_y + half):
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
    if r := cv.region(p.cx - reach, p.cx + reach, p.eye_y - 1.22 * p.eye_ry - rim,
                    p.eye_y + 1.22 * p.eye_ry + rim, on=on):
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
    if (r := cv.region(p.cx - 0.14, p.cx + 0.14, nose_y - 0.04, p.mouth_y + 0.12)) is None:
        return
    view, cols, rows, _ = r
    tiny = torch.full_like(f.cx, 0.014)
    nose = _ellipse(cols, rows, f.cx, _t(nose_y), tiny, 0.8 * tiny, px).mul_(0.7)
    cv.paint(view, nose, _rgb(f.skin_rgb * 0.62))

    m, w, my = p.mouth, f.mouth_w, f.mouth_y
    is_open, is_flat, is_o, is_cat = (_t(m == k) for k in (1, 2, 3, 4))
    # filled shapes: open mouth (lower half-ellipse with a tongue) and "o"
    fa, fb = w * (1.0 - 0.55 * is_o), w * (0.85 - 0.25 * is_o)
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
    if (r := cv.region(bx - s, bx + s, by - 0.6 * s, by + 0.6 * s, on=on)) is None:
        return
    view, cols, rows, _ = r
    bx_t, by_t, s_t = _t(bx), _t(by), f.bow_size
    u = (cols - _c(bx_t)) / _c(s_t)
    half = _c(0.55 * s_t) * (0.3 + 0.7 * u.abs().clamp(max=1.0))
    dy = rows - _c(by_t)
    k = _c(s_t / (2.0 * px))[:, :, None]
    wings = (0.5 + k * (1.0 - (u * u)[:, None, :] - (dy * dy)[:, :, None] / (half * half)[:, None, :])).clamp_(0.0, 1.0)
    knot = _ellipse(cols, rows, bx_t, by_t, 0.24 * s_t, 0.3 * s_t, px)
    is_bow = _t(on)[:, None, None]
    wings *= is_bow
    knot *= is_bow
    cv.paint(view, wings, _rgb(f.accent_rgb))
    cv.paint(view, knot, _rgb(f.accent_rgb * 0.7))
