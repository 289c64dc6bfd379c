"""Image grids and figures shared by the notebooks, the training engine and the gallery."""
from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch

if TYPE_CHECKING:
    import matplotlib.figure


def to_uint8_images(x: torch.Tensor | np.ndarray, value_range: Sequence[float] = (-1.0, 1.0)) -> np.ndarray:
    """Convert a batch (N, 3, H, W) or one image (3, H, W) in ``value_range`` to uint8 (N, H, W, 3)."""
    t = torch.as_tensor(x).detach().to("cpu", torch.float32)
    if t.ndim == 3:
        t = t.unsqueeze(0)
    if t.ndim != 4 or t.shape[1] not in (1, 3):
        raise ValueError(f"expected images of shape (N, 3, H, W) or (3, H, W), got {tuple(t.shape)}")
    lo, hi = float(value_range[0]), float(value_range[1])
    t = ((t - lo) / (hi - lo)).clamp_(0.0, 1.0).mul_(255.0).round_()
    if t.shape[1] == 1:
        t = t.expand(-1, 3, -1, -1)
    return t.to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def image_grid(x: torch.Tensor | np.ndarray, *, nrow: int = 8, value_range: Sequence[float] = (-1.0, 1.0),
               padding: int = 2, pad_value: int = 255) -> np.ndarray:
    """Tile a batch of images into one uint8 (H, W, 3) array, ``nrow`` images per row."""
    imgs = to_uint8_images(x, value_range)
    n, h, w, _ = imgs.shape
    ncol = min(nrow, n)
    nrows = math.ceil(n / ncol)
    grid = np.full((nrows * (h + padding) + padding, ncol * (w + padding) + padding, 3), pad_value, np.uint8)
    for k in range(n):
        r, c = divmod(k, ncol)
        top, left = padding + r * (h + padding), padding + c * (w + padding)
        grid[top:top + h, left:left + w] = imgs[k]
    return grid


def save_grid(x: torch.Tensor | np.ndarray, path: str | Path, *, nrow: int = 8,
              value_range: Sequence[float] = (-1.0, 1.0)) -> Path:
    """Write a batch of images as one PNG grid and return its path."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image_grid(x, nrow=nrow, value_range=value_range)).save(path)
    return path


def show_grid(x: torch.Tensor | np.ndarray, *, nrow: int = 8, value_range: Sequence[float] = (-1.0, 1.0),
              title: str | None = None, ax=None) -> "matplotlib.figure.Figure":
    """Draw a grid of images on a matplotlib axis (a new figure when ``ax`` is None) and return the figure."""
    import matplotlib.pyplot as plt

    grid = image_grid(x, nrow=nrow, value_range=value_range)
    if ax is None:
        scale = 6.0 / max(grid.shape[:2])
        fig, ax = plt.subplots(figsize=(grid.shape[1] * scale + 0.2, grid.shape[0] * scale + 0.4))
    else:
        fig = ax.figure
    ax.imshow(grid)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return fig
