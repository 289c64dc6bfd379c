"""Image grids and figures shared by the notebooks, the training engine and the gallery."""
from __future__ import annotations

import math
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch

from facegen_utils.tensors import to_uint8

if TYPE_CHECKING:
    import matplotlib.figure
    import pandas as pd


def to_uint8_images(x: torch.Tensor | np.ndarray, value_range: Sequence[float] = (-1.0, 1.0)) -> np.ndarray:
    """Convert a batch (N, 3, H, W) or one image (3, H, W) in ``value_range`` to uint8 (N, H, W, 3)."""
    t = torch.as_tensor(x).detach().to("cpu", torch.float32)
    t = t.unsqueeze(0) if t.ndim == 3 else t
    if t.ndim != 4 or t.shape[1] not in (1, 3):
        raise ValueError(f"expected images of shape (N, 3, H, W) or (3, H, W), got {tuple(t.shape)}")
    return to_uint8(t, value_range).expand(-1, 3, -1, -1).permute(0, 2, 3, 1).contiguous().numpy()


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
    from matplotlib.figure import Figure

    grid = image_grid(x, nrow=nrow, value_range=value_range)
    if ax is None:
        scale = 6.0 / max(grid.shape[:2])
        fig = Figure(figsize=(grid.shape[1] * scale + 0.2, grid.shape[0] * scale + 0.4))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    ax.imshow(grid)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return fig


def _new_figure(figsize: tuple[float, float]) -> "matplotlib.figure.Figure":
    """A figure detached from pyplot: nothing is shown twice in Jupyter and nothing needs closing in scripts."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


_X_LABELS = {"step": "iteration", "iteration": "iteration", "epoch": "epochs completed"}


def _epoch_axis(epochs: "pd.Series") -> np.ndarray:
    """Spread the rows of each epoch evenly so that the end of the first epoch lies at 1.0."""
    values = epochs.to_numpy(dtype=float)
    if not np.allclose(values, np.round(values)):
        return values
    first = values.min()
    out = np.empty_like(values)
    for value in np.unique(values):
        rows = np.flatnonzero(values == value)
        out[rows] = value - first + np.arange(1, len(rows) + 1) / len(rows)
    return out


def plot_losses(history: "pd.DataFrame", *, x: str = "step", columns: Sequence[str] | None = None, ax=None,
                smooth: int | None = None, title: str | None = None, logy: bool = False) -> "matplotlib.figure.Figure":
    """Plot training curves from a history table, one line per column (per iteration by default).

    ``x`` is a column ("step", "epoch", ...); "epoch" with an integer epoch column spreads the iterations of each
    epoch so the axis reads as epochs completed. A missing "step" column falls back to the row number.
    ``columns`` defaults to the numeric columns whose name contains "loss". With ``smooth=k`` each curve is
    drawn faintly and its moving average over ``k`` rows on top (two lines per column).
    """
    import pandas as pd

    history = history if isinstance(history, pd.DataFrame) else pd.DataFrame(history)
    if columns is None:
        columns = [c for c in history.columns if "loss" in str(c).lower()
                   and pd.api.types.is_numeric_dtype(history[c])]
        if not columns:
            raise ValueError(f"no column with 'loss' in its name among {list(history.columns)}; "
                             "pass columns=[...] to choose what to plot")
    absent = [c for c in columns if c not in history.columns]
    if absent:
        raise ValueError(f"columns {absent} are not in the history; available: {list(history.columns)}")
    if smooth is not None and smooth < 1:
        raise ValueError(f"smooth must be a window of at least 1 row, got {smooth}")
    if x in history.columns:
        xs = _epoch_axis(history[x]) if x == "epoch" else history[x].to_numpy()
    elif x == "step":
        xs = np.arange(1, len(history) + 1)
    else:
        raise ValueError(f"x={x!r} is not a column of the history; available: {list(history.columns)}")
    if ax is None:
        fig = _new_figure((8.0, 4.0))
        ax = fig.subplots()
    else:
        fig = ax.figure
    for k, col in enumerate(columns):
        colour = f"C{k % 10}"
        series = history[col].astype(float)
        if smooth is None:
            ax.plot(xs, series.to_numpy(), color=colour, label=str(col), linewidth=1.0)
        else:
            ax.plot(xs, series.to_numpy(), color=colour, alpha=0.25, linewidth=0.8)
            ax.plot(xs, series.rolling(smooth, min_periods=1).mean().to_numpy(), color=colour,
                    label=f"{col} (mean of {smooth})", linewidth=1.5)
    ax.set_xlabel(_X_LABELS.get(x, x))
    ax.set_ylabel("value")
    if logy:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    return fig


def _as_grid(item, *, nrow: int, value_range: Sequence[float]) -> np.ndarray:
    """A ready uint8 grid (H, W, 3), a PNG/JPEG path, or a batch of images turned into a grid."""
    if isinstance(item, (str, Path)):
        from PIL import Image

        with Image.open(item) as img:
            return np.asarray(img.convert("RGB"))
    if isinstance(item, np.ndarray) and item.dtype == np.uint8 and item.ndim == 3 and item.shape[-1] == 3:
        return item
    return image_grid(item, nrow=nrow, value_range=value_range)


def _title_width(panel_size: float) -> int:
    """The characters of a panel's title that fit on one line over a panel ``panel_size`` inches wide (matplotlib's
    default title font: about 10 to an inch); longer titles wrap instead of running into the next panel's."""
    return max(12, int(panel_size * 10))


def _panels(grids: Sequence[np.ndarray], labels: Sequence[str], *, ncols: int,
            title: str | None, panel_size: float) -> "matplotlib.figure.Figure":
    nrows = math.ceil(len(grids) / ncols)
    fig = _new_figure((panel_size * ncols, panel_size * nrows + (0.4 if title else 0.1)))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax, grid, label in zip(axes, grids, labels):
        ax.imshow(grid)
        ax.set_title("\n".join(textwrap.wrap(label, _title_width(panel_size))))
    for ax in axes:
        ax.set_axis_off()
    if title:
        fig.suptitle(title)
    return fig


def grid_strip(grids: Sequence, labels: Sequence[str | int] | None = None, *,
               value_range: Sequence[float] = (-1.0, 1.0), nrow: int = 8, ncols: int | None = None,
               title: str | None = None, panel_size: float = 3.0) -> "matplotlib.figure.Figure":
    """Sample grids side by side, e.g. the fixed-latent grids at the end of epochs 1, 10, 20, ...

    Each item is a batch of images in ``value_range``, a uint8 grid (H, W, 3) or a path to a saved grid.
    Integer labels read as epochs ("epoch 10"); ``ncols`` wraps the strip onto several rows.
    """
    grids = list(grids)
    if not grids:
        raise ValueError("grid_strip needs at least one grid")
    if labels is None:
        labels = [f"#{k + 1}" for k in range(len(grids))]
    if len(labels) != len(grids):
        raise ValueError(f"got {len(grids)} grids but {len(labels)} labels; give one label per grid")
    texts = [f"epoch {lab}" if isinstance(lab, (int, np.integer)) else str(lab) for lab in labels]
    arrays = [_as_grid(g, nrow=nrow, value_range=value_range) for g in grids]
    return _panels(arrays, texts, ncols=ncols or len(arrays), title=title, panel_size=panel_size)


def compare_grids(samples: "dict[str, object]", *, value_range: Sequence[float] | dict = (-1.0, 1.0),
                  nrow: int = 8, ncols: int | None = None, title: str | None = None,
                  panel_size: float = 3.5) -> "matplotlib.figure.Figure":
    """Grids of several models (or priors, or settings) side by side, one panel per label.

    ``value_range`` is one range for all, or a dict label -> range when the models differ (tanh vs sigmoid).
    """
    if not samples:
        raise ValueError("compare_grids needs at least one labelled batch of images")
    arrays = [_as_grid(images, nrow=nrow, value_range=value_range[label] if isinstance(value_range, dict)
                       else value_range) for label, images in samples.items()]
    return _panels(arrays, [str(k) for k in samples], ncols=ncols or len(arrays), title=title, panel_size=panel_size)


def plot_direction_effects(effects: "Sequence[pd.DataFrame]", *,
                           title: str = "moving along attribute directions") -> "matplotlib.figure.Figure":
    """Tables of :func:`facegen_utils.latent.direction_effect`: the attribute's share (solid) and the mean change
    of the other attributes (dashed) against the step along each direction."""
    fig = _new_figure((7.5, 3.6))
    ax = fig.subplots()
    for table in effects:
        line, = ax.plot(table["step"], table["share"], marker="o", label=table.attrs.get("direction", "direction"))
        ax.plot(table["step"], table["others"], linestyle="--", color=line.get_color(), alpha=0.7)
    ax.set_xlabel("step along the direction (prior standard deviations)")
    ax.set_ylabel("share of generated images")  # faces or paintings
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(title + "\n(solid: the attribute's predicted share; dashed: change of the other attributes)",
                 fontsize=10)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return fig


def plot_sampling_study(study: "pd.DataFrame", *, gan: str = "DCGAN", time_column: str = "seconds_per_64",
                        title: str = "quality against sampling steps and time") -> "matplotlib.figure.Figure":
    """The table of :func:`facegen_utils.diffusion.sampling_study`: FID against steps (left) and coverage against
    the seconds per 64 samples (right), one line per sampler; the GAN as a dashed line (left) and a star (right)."""
    fig = _new_figure((10.0, 3.6))
    left, right = fig.subplots(1, 2)
    diffusion = study.drop(index=gan, errors="ignore")
    samplers = diffusion.index.str.split("-").str[0]
    for sampler in dict.fromkeys(samplers):
        rows = diffusion[samplers == sampler].sort_values("steps")
        line, = left.plot(rows["steps"], rows["fid"], marker="o", label=sampler)
        right.plot(rows[time_column], rows["coverage"], marker="o", color=line.get_color(), label=sampler)
        for label, row in rows.iterrows():
            right.annotate(str(int(row["steps"])), (row[time_column], row["coverage"]), fontsize=7,
                           textcoords="offset points", xytext=(3, 3))
    if gan in study.index:
        left.axhline(study.loc[gan, "fid"], color="black", linestyle="--", label=gan)
        right.plot([study.loc[gan, time_column]], [study.loc[gan, "coverage"]], marker="*", markersize=12,
                   color="black", linestyle="none", label=gan)
    left.set_xscale("log")
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    left.set_xticks(sorted({int(s) for s in diffusion["steps"]}))
    left.xaxis.set_major_formatter(ScalarFormatter())
    left.xaxis.set_minor_formatter(NullFormatter())
    left.set_xlabel("sampling steps")
    left.set_ylabel("FID (lower is better)")
    right.set_xscale("log")
    right.set_xlabel(f"seconds per 64 samples ({time_column.rsplit('_', 1)[-1]} images; log scale)"
                     if time_column != "seconds_per_64" else "seconds per 64 samples (log scale)")
    right.set_ylabel("coverage (higher is better)")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=11)
    return fig


def plot_conditioning_accuracy(table: "pd.DataFrame", *, title: str = "does the generator draw the value it is told?"
                               ) -> "matplotlib.figure.Figure":
    """Bars of :func:`facegen_utils.conditioning.conditioning_accuracy`: per attribute value, the share of faces
    drawn with it in which the judge sees it; beside it (hatched), the value's share without a condition."""
    attributes = list(dict.fromkeys(table["attribute"]))
    fig = _new_figure((min(14.0, 2.0 + 0.55 * len(table)), 3.8))
    axes = np.atleast_1d(fig.subplots(1, len(attributes), sharey=True,
                                      gridspec_kw={"width_ratios": [int((table["attribute"] == a).sum())
                                                                    for a in attributes]}))
    for ax, attribute in zip(axes, attributes):
        rows = table[table["attribute"] == attribute]
        x = np.arange(len(rows))
        ax.bar(x - 0.2, rows["accuracy"], width=0.4, label="drawn with the value")
        if "share without condition" in rows:
            ax.bar(x + 0.2, rows["share without condition"], width=0.4, hatch="//", color="lightgrey",
                   edgecolor="grey", label="without a condition")
        ax.set_xticks(x, rows["value"], rotation=45, ha="right")
        ax.set_title(attribute)
        ax.set_ylim(0, 1.05)
    axes[0].set_ylabel("share the judge sees")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize=8)
    fig.suptitle(title)
    return fig


def plot_reverse_process(trajectory, steps: Sequence[int], *, value_range: Sequence[float] = (-1.0, 1.0),
                         title: str = "the reverse process") -> "matplotlib.figure.Figure":
    """x_t (top row) and the predicted x̂_0 (bottom row) after the given steps of a
    :class:`facegen_utils.diffusion.Trajectory` (1-based: step k is after k denoising steps)."""
    fig = _new_figure((1.6 * len(steps), 3.6))
    axes = fig.subplots(2, len(steps), squeeze=False)
    for column, k in enumerate(steps):
        t, x, x0 = trajectory.at(k - 1)
        for row, (images, name) in enumerate(((x.clamp(*value_range), "x_t"), (x0, "predicted x̂_0"))):
            ax = axes[row][column]
            ax.imshow(image_grid(images, nrow=int(math.ceil(math.sqrt(len(images)))), value_range=value_range))
            ax.set_xticks([])
            ax.set_yticks([])
            if column == 0:
                ax.set_ylabel(name, fontsize=9)
        after = trajectory.timesteps[k] if k < len(trajectory.timesteps) else 0
        axes[0][column].set_title(f"step {k}\n(t = {after})", fontsize=9)
    fig.suptitle(title, fontsize=11)
    return fig


def plot_forward_process(noised: torch.Tensor, steps: Sequence[int], *, labels: Sequence[str] = ("",),
                         value_range: Sequence[float] = (-1.0, 1.0),
                         title: str = "the forward process q(x_t | x_0)") -> "matplotlib.figure.Figure":
    """Rows of images noised at ``steps``: ``noised`` is (rows, len(steps), 3, H, W) (e.g. one row per schedule)."""
    rows = noised.shape[0]
    fig = _new_figure((1.5 * len(steps), 1.6 * rows + 0.6))
    axes = fig.subplots(rows, len(steps), squeeze=False)
    for r in range(rows):
        for c, t in enumerate(steps):
            ax = axes[r][c]
            ax.imshow(image_grid(noised[r, c:c + 1].clamp(*value_range), nrow=1, value_range=value_range,
                                 padding=0))
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"t = {t}", fontsize=9)
            if c == 0 and r < len(labels):
                ax.set_ylabel(labels[r], fontsize=9)
    fig.suptitle(title, fontsize=11)
    return fig


def save_figure(fig: "matplotlib.figure.Figure", path: str | Path, *, dpi: int = 120, close: bool = True) -> Path:
    """Write a figure (format from the suffix, PNG when there is none) and return its path.

    With ``close=True`` a figure that pyplot tracks is closed afterwards so that loops do not leak memory.
    """
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt = sys.modules.get("matplotlib.pyplot")
    if close and plt is not None and getattr(fig.canvas, "manager", None) is not None:
        plt.close(fig)
    return path
