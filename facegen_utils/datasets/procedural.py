"""Procedural datasets: cartoon faces and impressionist landscapes drawn from known factors.

``SyntheticFaces`` stands in for the face datasets of reports 000-002 (anime faces, CelebA, art portraits) and
``SyntheticPaintings`` for the Monet paintings of report 003: about 2 % of the paintings sit on a round canvas, so
that the per-pixel maximum over the dataset shows a circle while the per-pixel mean shows the horizon, as the EDA
of that report found on the real data (about 2 of its 300 paintings are round). The images are drawn by ``faces.py`` and ``paintings.py`` with the
deterministic rasteriser of ``raster.py``; ``ds[i]`` serves items from a cached uint8 chunk of rendered images.
"""
from __future__ import annotations

import math
import operator
from collections import OrderedDict
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from facegen_utils._log import logger
from facegen_utils._log import progress as progress_bar
from facegen_utils.spec import check_number
from facegen_utils.tensors import from_uint8

from . import faces, paintings
from .cleaning import REPORT_COLUMNS
from .raster import Tensor, _image_keys

__all__ = ["KINDS", "SyntheticFaces", "SyntheticPaintings", "render_to_folder", "write_readme_grids"]

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

    def _chunk(self, k: int, keep: bool = True) -> torch.Tensor:
        """Chunk ``k`` of the dataset, from the LRU cache or rendered (and cached when ``keep``)."""
        chunk = self._cache.get(k)
        if chunk is not None:
            self._cache.move_to_end(k)
            return chunk
        start = k * self.chunk_size
        chunk = self.render(np.arange(start, min(self.n, start + self.chunk_size)))
        if keep:
            self._cache[k] = chunk
            while len(self._cache) > 1 and sum(c.numel() for c in self._cache.values()) > self.cache_mb * 2 ** 20:
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
        x = from_uint8(self._chunk(k)[j], self.value_range)
        if self.return_attributes:
            return x, self.attributes_of(i)
        return x

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_cache": OrderedDict()}

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(n={self.n}, image_size={self.image_size}, seed={self.seed}, "
                f"value_range={self.value_range})")

    @property
    def report(self) -> pd.DataFrame:
        """Problem files, as the folder datasets list them (path, problem, action, detail): none when generated."""
        return pd.DataFrame(columns=REPORT_COLUMNS)

    @property
    def attributes(self) -> pd.DataFrame:
        """The generating factors of every image (one row per index), without rendering anything."""
        if self._attributes is None:
            self._attributes = self._describe(self._draw_params(self._keys(np.arange(self.n)))).rename_axis("index")
        return self._attributes

    def attributes_of(self, index: int) -> dict[str, Any]:
        """The attributes of one image as a plain dict of Python scalars."""
        if self._attribute_rows is None:
            table = self.attributes
            self._attribute_rows = {c: np.asarray(table[c].astype(object) if isinstance(
                table[c].dtype, pd.CategoricalDtype) else table[c]) for c in table.columns}
        return {c: (v[index].item() if hasattr(v[index], "item") else v[index])
                for c, v in self._attribute_rows.items()}

    def to_uint8(self, *, progress: bool = False) -> torch.Tensor:
        """The whole dataset as uint8 (N, 3, S, S), rendered chunk by chunk.

        When the whole set fits in ``cache_mb`` the rendered chunks stay cached, so a second call (the trainer,
        then the metrics' reference, then a second trainer) copies instead of rendering again.
        """
        out = torch.empty((self.n, 3, self.image_size, self.image_size), dtype=torch.uint8)
        keep = out.numel() <= self.cache_mb * 2 ** 20
        chunks = range(math.ceil(self.n / self.chunk_size))
        if progress:
            chunks = progress_bar(chunks, desc=f"rendering {self._kind} images", unit="chunk")
        for k in chunks:
            out[k * self.chunk_size:(k + 1) * self.chunk_size] = self._chunk(k, keep)
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
        options = {"quality": 95, "subsampling": 0} if ext == "jpg" else {}
        for start in range(0, count, self.chunk_size):
            batch = self.render(np.arange(start, min(count, start + self.chunk_size))).permute(0, 2, 3, 1).numpy()
            for name, image in zip(names[start:], batch):
                Image.fromarray(image).save(folder / name, **options)
        table = self.attributes.iloc[:count].copy()
        table.insert(0, "filename", names)
        table.to_csv(folder / "attributes.csv")
        logger.info("wrote %d %s images to %s", count, self._kind, folder)
        return folder


class SyntheticFaces(_ProceduralDataset):
    """Cartoon faces with known attributes (face shape, skin, hair and bangs, eyes, mouth, background, accessory).

    ``ds[i]`` is a float32 (3, S, S) tensor in ``value_range`` (with ``return_attributes=True`` a tuple
    ``(image, attributes_dict)``); image ``i`` of a seed is always the same, at any ``image_size``.
    ``chunk_size`` images are rendered together and kept as uint8 in a cache of at most ``cache_mb`` megabytes.
    """

    _stream = 0xFACE5
    _kind = "synthetic face"
    _draw_params = staticmethod(faces.params)
    _draw = staticmethod(faces.render)
    _describe = staticmethod(faces.attributes)


class SyntheticPaintings(_ProceduralDataset):
    """Impressionist landscapes (sky, horizon, water or field, sun, trees, brush strokes); ``round_share`` on a round
    canvas (default ~2 %, as in the Monet competition's data).

    Same interface as :class:`SyntheticFaces`; stands in for the Monet paintings of report 003.
    """

    _stream = 0xA27
    _kind = "synthetic painting"
    _draw = staticmethod(paintings.render)
    _describe = staticmethod(paintings.attributes)

    def __init__(self, n: int = 10000, *, round_share: float = paintings.ROUND_SHARE, **options: Any) -> None:
        check_number("round_share", round_share, 0, 1, low_inclusive=True, high_inclusive=True, example="0.02")
        super().__init__(n, **options)
        self.round_share = float(round_share)

    def _draw_params(self, keys: np.ndarray) -> SimpleNamespace:
        return paintings.params(keys, self.round_share)


#: the dataset kinds by name, as ``render_to_folder`` (and the ``render`` command) take them
KINDS = {"faces": SyntheticFaces, "paintings": SyntheticPaintings}


def write_readme_grids(folder: str | Path, *, image_size: int = 64, count: int = 64, seed: int = 0) -> list[Path]:
    """Write the README sample grids ``synthetic_faces.png`` and ``synthetic_paintings.png`` into ``folder``."""
    from facegen_utils.viz import save_grid

    folder = Path(folder)
    return [save_grid(cls(count, image_size=image_size, seed=seed).to_uint8(), folder / f"synthetic_{kind}.png",
                      nrow=8, value_range=(0, 255)) for kind, cls in KINDS.items()]


def render_to_folder(folder: str | Path, *, kind: str = "faces", n: int = 1000, image_size: int = 64, seed: int = 0,
                     fmt: str = "jpg") -> Path:
    """Write ``n`` images of ``kind`` ("faces" or "paintings") into ``folder`` with ``attributes.csv``; return it."""
    if kind not in KINDS:
        raise ValueError(f"render_to_folder: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return KINDS[kind](n, image_size=image_size, seed=seed).save_to_folder(folder, fmt=fmt)
