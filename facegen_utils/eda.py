"""Exploratory data analysis of image datasets: every function returns a pandas table and a matplotlib figure.

Follows the "Eksploracja danych" section of report 003 (Monet, PyTorch DCGAN): sample images, file sizes, and
per-pixel min / max / mean / variance / std images, overall and per colour channel (the mean shows the horizon of the
landscapes, the max a circle left by round canvases), plus image sizes and a folder-scan summary for real datasets.

Pixel statistics are streamed batch by batch in float64 with the pairwise update of Chan, Golub & LeVeque
("Algorithms for computing the sample variance", 1983), so a dataset is never held in memory twice. They are in pixel
units scaled to [0, 1] whatever the dataset's ``value_range``; variances are population variances (ddof = 0).
"""
from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
import torch
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from facegen_utils._log import logger
from facegen_utils._log import progress as progress_bar
from facegen_utils.tensors import to_unit
from facegen_utils.viz import image_grid

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
UNITS = "pixel units in [0, 1]"
_OK_PROBLEMS = {"", "ok", "none", "nan"}
_STAT_NAMES = ("min", "max", "mean", "variance", "std")
_CHANNEL_NAMES = ("R", "G", "B")
_CHANNEL_COLOURS = ("red", "green", "blue")


@dataclass
class EDAResult:
    """A table and a figure; shows both in Jupyter and unpacks as ``table, figure = result``."""

    table: pd.DataFrame
    figure: Figure
    data: Any = None

    def __iter__(self) -> Iterator[Any]:
        return iter((self.table, self.figure))

    def _repr_html_(self) -> str:
        buf = io.BytesIO()
        self.figure.savefig(buf, format="png", bbox_inches="tight")
        png = base64.b64encode(buf.getvalue()).decode("ascii")
        return f'<img src="data:image/png;base64,{png}"/>' + self.table.to_html(max_rows=30)


@dataclass(frozen=True)
class PixelStats:
    """Per-pixel statistics over a dataset: arrays of shape (C, H, W) in [0, 1] pixel units."""

    count: int
    min: np.ndarray
    max: np.ndarray
    mean: np.ndarray
    variance: np.ndarray

    @property
    def std(self) -> np.ndarray:
        """Per-pixel standard deviation (population, ddof = 0)."""
        return np.sqrt(self.variance)

    def overall(self) -> dict[str, np.ndarray]:
        """Per-pixel statistics pooled over the colour channels: arrays of shape (H, W)."""
        mean = self.mean.mean(axis=0)
        variance = (self.variance + (self.mean - mean) ** 2).mean(axis=0)
        return {"min": self.min.min(axis=0), "max": self.max.max(axis=0), "mean": mean,
                "variance": variance, "std": np.sqrt(variance)}

    def channel(self, c: int) -> dict[str, np.ndarray]:
        """Per-pixel statistics of colour channel ``c``: arrays of shape (H, W)."""
        return {"min": self.min[c], "max": self.max[c], "mean": self.mean[c],
                "variance": self.variance[c], "std": self.std[c]}

    def table(self) -> pd.DataFrame:
        """Global mean / std / min / max per colour channel and over all channels."""
        rows = {name: _global_row(self.channel(c)) for c, name in enumerate(_channel_names(self.mean.shape[0]))}
        rows["all"] = _global_row(self.overall())
        df = pd.DataFrame.from_dict(rows, orient="index", columns=["mean", "std", "min", "max"])
        df.index.name = "channel"
        df.columns.name = UNITS
        df.attrs.update(images=self.count, units=UNITS, ddof=0)
        return df


def _global_row(stats: dict[str, np.ndarray]) -> list[float]:
    """Combine per-pixel moments of one channel into global mean / std / min / max (equal counts per pixel)."""
    mean = float(stats["mean"].mean())
    variance = float((stats["variance"] + (stats["mean"] - mean) ** 2).mean())
    return [mean, math.sqrt(variance), float(stats["min"].min()), float(stats["max"].max())]


def _channel_names(channels: int) -> list[str]:
    return list(_CHANNEL_NAMES) if channels == 3 else [f"channel {c}" for c in range(channels)]


class RunningPixelStats:
    """Streaming per-pixel min / max / mean / variance of image batches, accumulated in float64."""

    def __init__(self) -> None:
        self.count = 0
        self._min: torch.Tensor | None = None
        self._max: torch.Tensor | None = None
        self._mean: torch.Tensor | None = None
        self._m2: torch.Tensor | None = None

    def update(self, batch: torch.Tensor | np.ndarray) -> None:
        """Add a batch (N, C, H, W) of images already scaled to [0, 1]."""
        x = torch.as_tensor(batch).to("cpu", torch.float64)
        if x.ndim != 4:
            raise ValueError(f"expected a batch of shape (N, C, H, W), got {tuple(x.shape)}")
        n = x.shape[0]
        if n == 0:
            return
        b_mean = x.mean(dim=0)
        b_m2 = ((x - b_mean) ** 2).sum(dim=0)
        b_min, b_max = x.amin(dim=0), x.amax(dim=0)
        if self._mean is None:
            self._min, self._max, self._mean, self._m2 = b_min, b_max, b_mean, b_m2
            self.count = n
            return
        if b_mean.shape != self._mean.shape:
            raise ValueError(f"image shape changed from {tuple(self._mean.shape)} to {tuple(b_mean.shape)}; "
                             "resize all images to one size first (e.g. the dataset's image_size)")
        total = self.count + n
        delta = b_mean - self._mean
        self._mean = self._mean + delta * (n / total)
        self._m2 = self._m2 + b_m2 + delta ** 2 * (self.count * n / total)
        self._min = torch.minimum(self._min, b_min)
        self._max = torch.maximum(self._max, b_max)
        self.count = total

    def result(self) -> PixelStats:
        """The statistics of everything added so far."""
        if self._mean is None:
            raise ValueError("no images were added: the dataset is empty")
        return PixelStats(count=self.count, min=self._min.numpy(), max=self._max.numpy(),
                          mean=self._mean.numpy(), variance=(self._m2 / self.count).numpy())


def _first_tensor(item: Any) -> Any:
    """The image of a dataset item: the item itself, the first element of a tuple/list, or ``item['image']``."""
    if isinstance(item, (tuple, list)):
        return item[0]
    if isinstance(item, dict):
        return item["image"]
    return item


def _default_value_range(source: Any, value_range: Sequence[float] | None) -> tuple[float, float] | None:
    if value_range is not None:
        return float(value_range[0]), float(value_range[1])
    for obj in (source, getattr(source, "dataset", None)):
        vr = getattr(obj, "value_range", None)
        if vr is not None:
            return float(vr[0]), float(vr[1])
    return None


def _iter_batches(source: Any, batch_size: int, limit: int | None) -> Iterator[torch.Tensor]:
    """Yield image batches (N, C, H, W) from a tensor/array, a map-style dataset or any iterable of images/batches."""
    if isinstance(source, (torch.Tensor, np.ndarray)):
        t = torch.as_tensor(source)
        t = t.unsqueeze(0) if t.ndim == 3 else t
        stop = len(t) if limit is None else min(limit, len(t))
        for start in range(0, stop, batch_size):
            yield t[start:min(start + batch_size, stop)]
        return
    if isinstance(source, torch.utils.data.Dataset) and hasattr(source, "__len__"):
        stop = len(source) if limit is None else min(limit, len(source))
        items: Iterable[Any] = (source[i] for i in range(stop))
    else:
        items = iter(source)
    buffer: list[torch.Tensor] = []
    seen = 0
    for item in items:
        t = torch.as_tensor(_first_tensor(item))
        if t.ndim == 4:
            if buffer:
                yield torch.stack(buffer)
                buffer = []
            if limit is not None:
                t = t[:max(limit - seen, 0)]
            seen += len(t)
            yield t
        elif t.ndim == 3:
            buffer.append(t)
            seen += 1
            if len(buffer) == batch_size:
                yield torch.stack(buffer)
                buffer = []
        else:
            raise ValueError(f"expected images (C, H, W) or batches (N, C, H, W), got shape {tuple(t.shape)}")
        if limit is not None and seen >= limit:
            break
    if buffer:
        yield torch.stack(buffer)


def _image_count(source: Any, limit: int | None) -> int | None:
    """The number of images a source will yield, when it can be known without iterating."""
    for obj in (source, getattr(source, "dataset", None)):
        if isinstance(obj, (torch.Tensor, np.ndarray, torch.utils.data.Dataset)) and hasattr(obj, "__len__"):
            return len(obj) if limit is None else min(len(obj), limit)
    return limit


def pixel_statistics(source: Any, *, batch_size: int = 256, value_range: Sequence[float] | None = None,
                     limit: int | None = None, progress: bool = False) -> EDAResult:
    """Per-pixel min / max / mean / variance / std images over a dataset, overall and per colour channel.

    ``source`` is a map-style dataset returning tensors or tuples, a uint8 or float tensor (N, 3, H, W), or any
    iterable of images or batches (e.g. a DataLoader). uint8 input is read as 0..255; float input in ``value_range``,
    else ``source.value_range``, else (-1, 1). Everything is in [0, 1] pixel units; ``data`` is a :class:`PixelStats`.
    """
    vr = _default_value_range(source, value_range)
    running = RunningPixelStats()
    with progress_bar(total=_image_count(source, limit), desc="pixel statistics", unit="img", show=progress) as bar:
        for batch in _iter_batches(source, batch_size, limit):
            running.update(to_unit(batch, vr, dtype=torch.float64, clamp=False))
            bar.update(len(batch))
    stats = running.result()
    logger.info("pixel statistics over %d images of shape %s", stats.count, tuple(stats.mean.shape))
    return EDAResult(table=stats.table(), figure=_pixel_stats_figure(stats), data=stats)


#: the max image's four corners must be this much brighter than its middle (in [0, 1] pixel units) for the circle of
#: round canvases to count as visible: a painting's own sky reaches about as bright near the top corners
CIRCLE_MARGIN = 0.05


@dataclass(frozen=True)
class PaintingSignature:
    """What report 003 reads off the per-pixel images: the horizon in the mean, the round canvases' circle in the max.

    ``horizon`` is the first image row below the largest step in mean brightness between neighbouring rows (of
    ``rows``); ``above`` and ``below`` are the mean brightness over the rows above and from it down; ``corners`` is
    the max image's value at its four corners, ``centre`` its mean over the middle half (both in [0, 1] units).
    """

    horizon: int
    rows: int
    above: float
    below: float
    corners: float
    centre: float

    @property
    def circle(self) -> bool:
        """Whether the max image's corners stand out from its middle by :data:`CIRCLE_MARGIN`."""
        return self.corners > self.centre + CIRCLE_MARGIN

    def lines(self) -> list[str]:
        """The two sentences the notebook prints: where the horizon is, and whether the circle shows."""
        circle = ("the corners are brighter, so the circle of the round canvases shows" if self.circle
                  else "no circle here (no round canvases with light corners)")
        return [f"mean image: the brightness changes most between rows {self.horizon - 1} and {self.horizon} of "
                f"{self.rows} ({self.horizon / self.rows:.0%} of the height), from {self.above:.2f} above to "
                f"{self.below:.2f} below: the horizon",
                f"max image: {self.corners:.2f} in the four corners, {self.centre:.2f} in the middle: {circle}"]


def painting_signature(stats: PixelStats) -> PaintingSignature:
    """The horizon and circle of a landscape dataset's per-pixel statistics (``pixel_statistics(...).data``)."""
    overall = stats.overall()
    row_mean = overall["mean"].mean(axis=1)  # mean brightness of each image row
    horizon = int(np.abs(np.diff(row_mean)).argmax()) + 1
    top = overall["max"]
    h, w = top.shape
    return PaintingSignature(horizon=horizon, rows=len(row_mean), above=float(row_mean[:horizon].mean()),
                             below=float(row_mean[horizon:].mean()),
                             corners=float((top[0, 0] + top[0, -1] + top[-1, 0] + top[-1, -1]) / 4),
                             centre=float(top[h // 4:3 * h // 4, w // 4:3 * w // 4].mean()))


def _pixel_stats_figure(stats: PixelStats) -> Figure:
    """Rows: min, max, mean, variance, std; columns: RGB composite, pooled over channels, then each channel."""
    channels = stats.mean.shape[0]
    names = _channel_names(channels)
    overall = stats.overall()
    per_channel = [stats.channel(c) for c in range(channels)]
    rgb = {"min": stats.min, "max": stats.max, "mean": stats.mean, "variance": stats.variance, "std": stats.std}
    columns = (["RGB"] if channels == 3 else []) + ["all channels"] + names
    fig = Figure(figsize=(2.1 * len(columns), 2.1 * len(_STAT_NAMES) + 0.5), layout="constrained")
    axes = fig.subplots(len(_STAT_NAMES), len(columns), squeeze=False)
    for r, stat in enumerate(_STAT_NAMES):
        scale = 1.0 if stat in ("min", "max", "mean") else max(float(rgb[stat].max()),
                                                                float(overall[stat].max()), 1e-12)
        panels: list[tuple[np.ndarray, Any]] = []
        if channels == 3:
            panels.append((np.clip(rgb[stat] / scale, 0.0, 1.0).transpose(1, 2, 0), None))
        panels.append((overall[stat], "gray"))
        for c, chan in enumerate(per_channel):
            colour = _CHANNEL_COLOURS[c] if channels == 3 else "white"
            panels.append((chan[stat], LinearSegmentedColormap.from_list(names[c], ["black", colour])))
        for k, (img, cmap) in enumerate(panels):
            ax = axes[r, k]
            if cmap is None:
                ax.imshow(img, interpolation="nearest")
            else:
                ax.imshow(img, cmap=cmap, vmin=0.0, vmax=scale, interpolation="nearest")
            ax.set(xticks=[], yticks=[])
            if r == 0:
                ax.set_title(columns[k])
        axes[r, 0].set_ylabel(stat if scale == 1.0 else f"{stat}\n(0 to {scale:.3g})")
    fig.suptitle(f"Per-pixel statistics over {stats.count} images ({UNITS}, ddof = 0)")
    return fig


def sample_grid(ds: Any, *, n: int = 64, seed: int = 0, nrow: int | None = None,
                value_range: Sequence[float] | None = None) -> EDAResult:
    """A grid of ``n`` images drawn at random (without replacement) from a dataset; the table lists the indices.

    When the dataset has an ``attributes`` DataFrame (the procedural datasets), its rows are added to the table.
    """
    total = len(ds)
    if total == 0:
        raise ValueError("the dataset is empty: there is nothing to show")
    k = min(n, total)
    indices = np.random.default_rng(seed).choice(total, size=k, replace=False)
    vr = _default_value_range(ds, value_range)
    images = torch.stack([to_unit(torch.as_tensor(_first_tensor(ds[int(i)])), vr, dtype=torch.float64, clamp=False)
                          for i in indices])
    table = pd.DataFrame({"index": indices.astype(np.int64)})
    attributes = getattr(ds, "attributes", None)
    if isinstance(attributes, pd.DataFrame) and len(attributes) == total:
        table = pd.concat([table, attributes.iloc[indices].reset_index(drop=True)], axis=1)
    grid = image_grid(images, nrow=nrow or max(1, math.ceil(math.sqrt(k))), value_range=(0.0, 1.0))
    scale = 7.0 / max(grid.shape[:2])
    fig = Figure(figsize=(grid.shape[1] * scale + 0.2, grid.shape[0] * scale + 0.5), layout="constrained")
    ax = fig.subplots()
    ax.imshow(grid)
    ax.set_axis_off()
    ax.set_title(f"{k} random images of {total} (seed {seed})")
    return EDAResult(table=table, figure=fig, data=grid)


def list_image_files(source: str | Path | Iterable[str | Path]) -> list[Path]:
    """The image files of a folder (recursive, sorted, hidden files skipped), or the given files as paths."""
    if isinstance(source, (str, Path)):
        root = Path(source)
        if root.is_file():
            return [root]
        if not root.is_dir():
            raise FileNotFoundError(f"{root} does not exist: pass a folder of images or a list of image files")
        files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                       and not any(part.startswith(".") for part in p.relative_to(root).parts))
        if not files:
            raise ValueError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) found in {root}; "
                             "check the path (e.g. point at the folder that holds the images)")
        return files
    return [Path(p) for p in source]


def file_sizes(files: str | Path | Iterable[str | Path], *, bins: int | str = "auto") -> EDAResult:
    """Histogram of file sizes in KiB; the table is ``describe()`` of the sizes, ``data`` the per-file sizes."""
    paths = list_image_files(files)
    sizes = pd.DataFrame({"path": [str(p) for p in paths], "bytes": [p.stat().st_size for p in paths]})
    kib = (sizes["bytes"] / 1024.0).rename("size (KiB)")
    table = kib.describe().to_frame()
    table.attrs["zero_byte_files"] = int((sizes["bytes"] == 0).sum())
    fig = Figure(figsize=(6.5, 3.8), layout="constrained")
    ax = fig.subplots()
    ax.hist(kib, bins=bins, color="tab:blue", edgecolor="white")
    ax.set(xlabel="file size (KiB)", ylabel="files")
    zero = table.attrs["zero_byte_files"]
    ax.set_title(f"File sizes of {len(paths)} files" + (f" ({zero} empty)" if zero else ""))
    return EDAResult(table=table, figure=fig, data=sizes)


def image_sizes(files: str | Path | Iterable[str | Path]) -> EDAResult:
    """Width × height of every image read from the file headers only (no decoding); unreadable files get NaN.

    The table has one row per file (path, width, height, mode, format); ``data`` counts the distinct sizes.
    """
    from PIL import Image, UnidentifiedImageError

    rows = []
    for path in list_image_files(files):
        try:
            with Image.open(path) as img:
                rows.append((str(path), img.width, img.height, img.mode, img.format))
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            logger.warning("cannot read the header of %s (%s); it is left out of the size plot", path, exc)
            rows.append((str(path), np.nan, np.nan, None, None))
    table = pd.DataFrame(rows, columns=["path", "width", "height", "mode", "format"])
    table[["width", "height"]] = table[["width", "height"]].astype("Int64")
    readable = table.dropna(subset=["width", "height"])
    counts = (readable.groupby(["width", "height"]).size().rename("files").reset_index()
              .sort_values("files", ascending=False, ignore_index=True))
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax_scatter, ax_hist = fig.subplots(1, 2)
    if len(counts):
        sizes = 30 + 400 * counts["files"].to_numpy() / counts["files"].max()
        ax_scatter.scatter(counts["width"].astype(float), counts["height"].astype(float), s=sizes, alpha=0.6)
        for _, row in counts.head(8).iterrows():
            ax_scatter.annotate(f"{row['files']}", (float(row["width"]), float(row["height"])),
                                textcoords="offset points", xytext=(6, 6), fontsize=8)
        ax_hist.hist(np.minimum(readable["width"], readable["height"]).astype(float), bins="auto",
                     color="tab:orange", edgecolor="white")
    ax_scatter.set(xlabel="width (px)", ylabel="height (px)",
                   title=f"Image sizes ({len(counts)} distinct, marker area ∝ files)")
    ax_hist.set(xlabel="shorter side (px)", ylabel="files", title=f"{len(readable)} readable of {len(table)} files")
    return EDAResult(table=table, figure=fig, data=counts)


def cleaning_summary(scan_df: pd.DataFrame) -> EDAResult:
    """Counts of a folder scan by problem and action, with a bar chart of the problems (files without one are "ok")."""
    missing = [c for c in ("path", "problem", "action") if c not in scan_df.columns]
    if missing:
        raise ValueError(f"the scan table lacks the columns {missing}; pass the DataFrame returned by "
                         "facegen_utils.datasets.scan(path)")
    df = scan_df[["path", "problem", "action"]].copy()
    problem = df["problem"].astype("string").fillna("ok").str.strip()
    df["problem"] = problem.where(~problem.str.lower().isin(_OK_PROBLEMS), "ok")
    df["action"] = df["action"].astype("string").fillna("none")
    table = (df.groupby(["problem", "action"]).size().rename("files").reset_index()
             .sort_values(["files", "problem"], ascending=[False, True], ignore_index=True))
    table.attrs["total_files"] = len(df)
    bad = df[df["problem"] != "ok"]
    n_ok = len(df) - len(bad)
    fig = Figure(figsize=(7, 0.5 + 0.45 * max(3, bad["problem"].nunique())), layout="constrained")
    ax = fig.subplots()
    if len(bad):
        pivot = bad.pivot_table(index="problem", columns="action", values="path", aggfunc="count", fill_value=0)
        pivot = pivot.loc[pivot.sum(axis=1).sort_values().index]
        left = np.zeros(len(pivot))
        for action in pivot.columns:
            ax.barh(pivot.index, pivot[action], left=left, label=action)
            left += pivot[action].to_numpy()
        ax.legend(title="action", fontsize=8)
        ax.set_xlabel("files")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        ax.text(0.5, 0.5, "no problems found", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    ax.set_title(f"Folder scan: {len(df)} files, {n_ok} ok, {len(bad)} with a problem")
    return EDAResult(table=table, figure=fig, data=df)


def cleaning_line(ds: Any, name: str | None = None) -> str:
    """One line on a loaded dataset: usable images, files skipped and files listed by its scan (``ds.report``)."""
    skipped = int((ds.report["action"] == "skip").sum())
    return (f"{name or getattr(ds, 'name', type(ds).__name__)}: {len(ds)} usable images; {skipped} files skipped, "
            f"{len(ds.report)} listed by the scan")
