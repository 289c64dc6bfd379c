"""Loaders for image folders as users download them: anime faces, art portraits, CelebA, Monet, any folder.

Each real dataset has a ``Layout``: the folders its images may sit in relative to the folder the user points at (the
download root or the image folder itself), and the exact command that downloads it. Flat folders work; no class
subfolders are needed. Images are converted to RGB, the shorter side is resized to ``image_size`` and the centre square
cropped (the ``Resize`` + ``CenterCrop`` of the PyTorch DCGAN tutorial, done in one PIL call; JPEGs much larger than
needed are decoded at 1/2, 1/4 or 1/8 scale through PIL's ``draft``), then scaled to ``value_range``. Decoded images go
once into the uint8 cache (``cache.py``), so later epochs and runs decode nothing. Bad files are found by
``cleaning.survey`` and skipped with a logged reason; the folder is never modified unless ``quarantine`` is asked for.
"""
from __future__ import annotations

import functools
import operator
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from PIL import ExifTags, Image, ImageOps
from torch.utils.data import Dataset

from facegen_utils._log import logger
from facegen_utils.tensors import from_uint8

from . import cache as _cache
from . import cleaning

TRANSFORM_ID = "rgb(white-bg,16bit/257)+exif+centre-square+bilinear+jpeg-draft/v1"
CELEBA_SPLITS = {"train": 0, "valid": 1, "test": 2}
_MAX_SKIP_LINES = 10

COMMON_OPTIONS = ("min_size", "cache", "cache_dir", "quarantine", "drop_duplicates", "workers")


class DatasetNotFoundError(FileNotFoundError):
    """A real dataset is missing: the message names the expected path and the command that downloads it."""


@dataclass(frozen=True)
class Layout:
    """Where a real dataset's images sit on disk after download, and how to get it."""

    name: str
    title: str
    image_dirs: tuple[str, ...]
    expect: str
    download: str = ""
    note: str = ""
    recursive: bool = False
    options: tuple[str, ...] = ()
    stand_in: str = "synthetic-faces"


LAYOUTS: dict[str, Layout] = {lay.name: lay for lay in (
    Layout("anime", "Anime faces (Kaggle splcher/animefacedataset)", ("images", "cropped", "."), "images/*.jpg",
           "kaggle datasets download -d splcher/animefacedataset -p {dir} --unzip", "educational use only"),
    Layout("art-portraits", "Art portraits (Kaggle karnikakapoor/art-portraits)", ("Portraits", "portraits", "."),
           "Portraits/*.jpg", "kaggle datasets download -d karnikakapoor/art-portraits -p {dir} --unzip"),
    Layout("celeba", "CelebA aligned faces (Kaggle jessicali9530/celeba-dataset)",
           ("img_align_celeba/img_align_celeba", "img_align_celeba", "celeba/img_align_celeba", "."),
           "img_align_celeba/img_align_celeba/*.jpg with list_attr_celeba.csv (Kaggle), or "
           "celeba/img_align_celeba/*.jpg with list_attr_celeba.txt (torchvision)",
           "kaggle datasets download -d jessicali9530/celeba-dataset -p {dir} --unzip",
           "non-commercial research use only", options=("split", "return_attributes")),
    Layout("monet", "Monet paintings (Kaggle competition gan-getting-started)",
           ("monet_jpg", "gan-getting-started/monet_jpg", "."),
           "monet_jpg/*.jpg (photo_jpg/ and the tfrec folders are not used)",
           "kaggle competitions download -c gan-getting-started -p {dir} && "
           "unzip -q {dir}/gan-getting-started.zip -d {dir}",
           "accept the competition rules first at https://www.kaggle.com/competitions/gan-getting-started/rules",
           stand_in="synthetic-paintings"),
    Layout("folder", "Image folder", (".",), "image files (.jpg, .png, .bmp, .webp, ...), subfolders allowed",
           recursive=True, options=("recursive",)))}


def default_data_dirs(name: str) -> list[Path]:
    """Where a dataset is looked for without ``data_dir``: ``$FACEGEN_DATA_DIR/<name>``, else ``data/<name>`` in the
    working folder or its parent (notebooks run from ``notebooks/``)."""
    if env := os.environ.get("FACEGEN_DATA_DIR"):
        return [Path(env).expanduser() / name]
    return [Path("data") / name, Path.cwd().parent / "data" / name]


def _not_found(layout: Layout, bases: Sequence[Path], explicit: bool) -> DatasetNotFoundError:
    lines = [f"{layout.title}: no images found in {' or '.join(map(str, bases))} (expected {layout.expect})."]
    for zipped in [z for b in bases if b.is_dir() for z in sorted(b.glob("*.zip"))][:1]:
        lines.append(f"{zipped} is still zipped: unzip -q {zipped} -d {zipped.parent}")
    for versions in [b / "versions" for b in bases if (b / "versions").is_dir()][:1]:
        lines.append(f"{versions.parent} is kagglehub's cache folder: pass the {versions}/<N> folder that "
                     f"kagglehub.dataset_download returned.")
    if layout.name == "monet" and any((b / "photo_jpg").is_dir() for b in bases):
        lines.append("photo_jpg/ is there but monet_jpg/ is not: only the 300 Monet paintings in monet_jpg/ are used.")
    if layout.download:
        lines.append("Download it with the Kaggle CLI (pip install kaggle; API token in ~/.kaggle/kaggle.json):")
        lines.append("    " + layout.download.format(dir=bases[0]))
        if layout.note.startswith("accept"):
            lines.append(f"    ({layout.note})")
        lines.append(f"or pass data_dir=... pointing at the downloaded folder"
                     + ("" if explicit else f", or set FACEGEN_DATA_DIR to the folder that holds {layout.name}/")
                     + f". data/README.md has the details; dataset={layout.stand_in!r} needs no download.")
    else:
        lines.append("Pass data_dir=... pointing at a folder of images (subfolders are searched too).")
    return DatasetNotFoundError("\n".join(lines))


def find_images(layout: Layout, data_dir: str | Path | None) -> tuple[Path, Path]:
    """(base folder, image folder) of a dataset: accepts the download root or the image folder itself."""
    bases = [Path(data_dir).expanduser()] if data_dir is not None else default_data_dirs(layout.name)
    for base in [b for b in bases if b.is_dir()]:
        for sub in layout.image_dirs:
            folder = base if sub == "." else base / sub
            if folder.is_dir() and cleaning.has_images(folder, recursive=layout.recursive):
                return base.resolve(), folder.resolve()
    raise _not_found(layout, bases, explicit=data_dir is not None)


def decode_image(path: str | Path, image_size: int) -> np.ndarray:
    """Decode one file to uint8 (3, image_size, image_size): RGB, EXIF-rotated, centre square, bilinear resize."""
    with Image.open(path) as img:
        if img.format == "JPEG" and min(img.size) >= 2 * image_size:
            img.draft(None, (image_size, image_size))
        if "exif" in img.info and img.getexif().get(ExifTags.Base.Orientation, 1) != 1:
            img = ImageOps.exif_transpose(img)
        rgb = cleaning.to_rgb(img)
        w, h = rgb.size
        side = min(w, h)
        left, top = (w - side) / 2, (h - side) / 2
        out = rgb.resize((image_size, image_size), Image.Resampling.BILINEAR, box=(left, top, left + side, top + side))
        return np.asarray(out).transpose(2, 0, 1)


def _find_annotation(dirs: Sequence[Path], stem: str, base: Path, needed_by: str | None, hint: str = "") -> Path | None:
    """The first ``<stem>.csv`` or ``<stem>.txt`` in ``dirs``; a missing one raises when ``needed_by`` names a need."""
    found = next((d / f"{stem}{ext}" for d in dirs for ext in (".csv", ".txt") if (d / f"{stem}{ext}").is_file()), None)
    if found is None and needed_by:
        raise DatasetNotFoundError(f"{needed_by} needs {stem}.csv (Kaggle) or {stem}.txt (torchvision); looked in "
                                   f"{', '.join(map(str, dirs))}. It comes with: "
                                   + LAYOUTS["celeba"].download.format(dir=base) + hint)
    return found


def read_celeba_attributes(path: str | Path) -> pd.DataFrame:
    """CelebA's 40 attributes (Kaggle CSV or torchvision TXT) indexed by ``image_id``, mapped from -1/1 to 0/1."""
    kaggle = Path(path).suffix == ".csv"
    table = pd.read_csv(path, index_col="image_id") if kaggle else pd.read_csv(path, sep=r"\s+", skiprows=1)
    return (table > 0).astype("int8").rename_axis("image_id")


def read_celeba_partition(path: str | Path) -> pd.Series:
    """CelebA's split of each ``image_id``: 0 train, 1 valid, 2 test (Kaggle CSV or torchvision TXT)."""
    if Path(path).suffix == ".csv":
        return pd.read_csv(path, index_col="image_id")["partition"]
    return pd.read_csv(path, sep=r"\s+", header=None, names=["image_id", "partition"], index_col=0)["partition"]


class FolderDataset(Dataset):
    """Images of a folder at ``image_size`` (RGB, centre crop) in ``value_range``, served from the uint8 cache.

    ``ds[i]`` is a float32 tensor (3, S, S) (with ``return_attributes``: ``(image, attributes)``).
    """

    def __init__(self, root: Path, entries: Sequence[cleaning.FileEntry], *, name: str, image_size: int,
                 value_range: tuple[float, float], report: pd.DataFrame, cache: bool = True,
                 cache_dir: str | Path | None = None, workers: int | None = None, selection: dict | None = None,
                 attribute_table: pd.DataFrame | None = None, return_attributes: bool = False) -> None:
        self.name = name
        self.root = Path(root)
        self.image_size = int(image_size)
        self.value_range = (float(value_range[0]), float(value_range[1]))
        self.cache = bool(cache)
        self.workers = workers
        self.return_attributes = return_attributes
        self._report = report
        self._names = [e.rel for e in entries]
        self._attr_table = attribute_table
        self._array: np.ndarray | None = None
        self._tensor: torch.Tensor | None = None
        self._attr_tensor: torch.Tensor | None = None
        self._failures: dict[str, tuple[str, str]] = {}
        self._store: _cache.ArrayStore | None = None
        if self.cache:
            slot = _cache.fingerprint(name, str(self.root), self.image_size, TRANSFORM_ID, selection or {})
            key = _cache.fingerprint(slot, [(e.rel, e.size, e.mtime_ns) for e in entries])
            self._store = _cache.ArrayStore(cache_dir, label=f"{name}-{self.image_size}px", slot=slot, key=key)
            if (loaded := self._store.load()) is not None:
                self._adopt(*loaded)
        self._align_attributes()

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name={self.name!r}, root='{self.root}', n={len(self)}, "
                f"image_size={self.image_size}, value_range={self.value_range})")

    @property
    def files(self) -> list[Path]:
        """The image files served, in index order."""
        return [self.root / n for n in self._names]

    @property
    def report(self) -> pd.DataFrame:
        """The scan's problem rows (path, problem, action, detail), plus files that failed to decode."""
        if not self._failures:
            return self._report
        extra = pd.DataFrame([(str(self.root / n), problem, "skip", f"failed to decode: {detail}")
                              for n, (problem, detail) in self._failures.items()], columns=cleaning.REPORT_COLUMNS)
        df = pd.concat([self._report, extra], ignore_index=True)
        df.attrs.update(self._report.attrs, n_usable=len(self))
        return df

    @property
    def cache_path(self) -> Path | None:
        """The ``.npy`` file of decoded images (None with ``cache=False``)."""
        return self._store.npy_path if self._store is not None else None

    @property
    def attributes(self) -> pd.DataFrame | None:
        """Annotations, one row per index (CelebA: ``image_id`` and 40 attributes as 0/1), or None."""
        if self._attr_table is None:
            return None
        return self._attr_table.reindex([Path(n).name for n in self._names]).rename_axis("image_id").reset_index()

    def _align_attributes(self) -> None:
        if self.return_attributes and self._attr_table is not None:
            values = self.attributes.drop(columns="image_id").to_numpy(dtype=np.float32, na_value=np.nan)
            self._attr_tensor = torch.from_numpy(values)

    def _adopt(self, array: np.ndarray, meta: dict) -> None:
        """Serve images from a decoded array whose rows are the files listed in ``meta``."""
        self._array = np.asarray(array)
        self._tensor = torch.from_numpy(self._array)
        self._failures = {n: (f[0], f[1]) for n, f in meta.get("failures", {}).items()}
        if self._failures:
            shown = "; ".join(f"{n}: {d}" for n, (_, d) in list(self._failures.items())[:_MAX_SKIP_LINES])
            logger.warning("%s: %d file(s) failed to decode and are skipped (%s); len(ds) is now %d",
                           self.name, len(self._failures), shown, len(meta["files"]))
        self._names = list(meta["files"])
        self._align_attributes()

    def _materialise(self, progress: bool = False) -> None:
        """Load the cached array, or decode every image once into it."""
        loaded = self._store.load() if self._store is not None else None
        if loaded is not None:
            self._adopt(*loaded)
            return
        paths = self.files
        logger.info("%s: decoding %d images once into %s; later epochs and runs read the decoded cache",
                    self.name, len(paths), self.cache_path or "memory (cache=False)")
        start = time.perf_counter()
        decode = functools.partial(decode_image, image_size=self.image_size)
        build = self._store.build if self._store is not None else _cache.build_in_memory
        loaded = build(paths, self._names, decode, image_size=self.image_size, workers=self.workers, progress=progress,
                       info={"dataset": self.name, "root": str(self.root)})
        seconds = time.perf_counter() - start
        logger.info("%s: %d images decoded in %.1f s (%.0f images/s)", self.name, len(paths), seconds,
                    len(paths) / max(seconds, 1e-9))
        self._adopt(*loaded)

    def to_uint8(self, *, progress: bool = False) -> torch.Tensor:
        """The whole dataset as uint8 (N, 3, S, S), memory-mapped from the cache (decoded on the first call)."""
        if self._tensor is None:
            self._materialise(progress)
        return self._tensor

    def decode(self, index: int) -> torch.Tensor:
        """Decode image ``index`` from its file, bypassing the cache: uint8 (3, S, S)."""
        return torch.from_numpy(np.ascontiguousarray(decode_image(self.root / self._names[index], self.image_size)))

    def __getitem__(self, index: int) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        n = len(self)
        i = operator.index(index)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"index {index} is out of range for {self.name} with {n} images")
        if self._array is None and self.cache:
            self._materialise()
        if self._array is not None:
            u8 = self._array[i]
        else:
            path = self.root / self._names[i]
            try:
                u8 = decode_image(path, self.image_size)
            except Exception as exc:
                raise RuntimeError(f"cannot decode {path} ({exc}); run facegen_utils.datasets.scan("
                                   f"'{self.root}') to find bad files, or load with cache=True to skip them") from exc
        x = torch.from_numpy(from_uint8(u8, self.value_range))  # in NumPy: ~3x faster on one small image
        if self._attr_tensor is not None:
            return x, self._attr_tensor[i]
        return x

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        if self._store is not None:  # workers re-map the cache file instead of receiving a pickled copy
            state["_array"] = state["_tensor"] = None
        return state


def _log_survey(name: str, root: Path, result: cleaning.Survey, report: pd.DataFrame) -> None:
    skipped = report[report["action"] == "skip"]
    for row in skipped.head(_MAX_SKIP_LINES).itertuples(index=False):
        logger.warning("%s: skipping %s: %s (%s)", name, row.path, row.problem, row.detail)
    if len(skipped) > _MAX_SKIP_LINES:
        logger.warning("%s: ... and %d more skipped files (%s); see ds.report", name, len(skipped) - _MAX_SKIP_LINES,
                       ", ".join(f"{k} {v}" for k, v in Counter(skipped["problem"]).most_common()))
    if converted := Counter(report.loc[report["action"] == "convert", "problem"]):
        logger.info("%s: converting to RGB on load: %s", name, ", ".join(f"{v} {k}" for k, v in converted.items()))
    if dups := int(((report["problem"] == "duplicate") & (report["action"] == "report")).sum()):
        logger.info("%s: %d exact duplicate file(s) kept (drop_duplicates=True drops them); see ds.report", name, dups)
    logger.info("%s: %d usable images in %s (%d files examined)", name, len(result.usable), root, result.examined)


def load_folder(layout: str, *, data_dir: str | Path | None = None, image_size: int = 64,
                value_range: tuple[float, float] = (-1.0, 1.0), limit: int | None = None, min_size: int | None = None,
                cache: bool = True, cache_dir: str | Path | None = None, quarantine: bool | str | Path = False,
                drop_duplicates: bool = False, workers: int | None = None, split: str | None = None,
                return_attributes: bool = False, recursive: bool | None = None) -> FolderDataset:
    """Open a real dataset (``layout`` in LAYOUTS) or any folder; see ``facegen_utils.datasets.get`` for options.

    ``min_size`` (default ``min(32, image_size)``) skips images whose shorter side is smaller; ``quarantine=True`` (or a
    folder) moves skipped files out of the dataset folder; ``cache=False`` writes nothing (no decoded images, no scan)
    and decodes on every access (``to_uint8`` decodes into memory); ``workers`` sets the decoding threads; ``split`` and
    ``return_attributes`` are CelebA's; ``recursive`` is the generic folder's (default True).
    """
    lay = LAYOUTS[layout]
    if layout != "celeba" and (split is not None or return_attributes):
        raise TypeError(f"options split= and return_attributes= apply to dataset 'celeba' only, not {layout!r}")
    if layout != "folder" and recursive is not None:
        raise TypeError(f"option recursive= applies to dataset 'folder' only, not {layout!r}")
    if layout == "folder" and data_dir is None:
        raise ValueError("dataset 'folder' needs data_dir=... : the folder of images to load (subfolders included)")
    base, root = find_images(lay, data_dir)
    entries = cleaning.list_images(root, recursive=lay.recursive if recursive is None else recursive)

    attribute_table = None
    if layout == "celeba":
        attribute_table, entries = _celeba_annotations(base, root, entries, split=split,
                                                       need_attributes=return_attributes)
    min_size = min(32, image_size) if min_size is None else int(min_size)
    result = cleaning.survey(root, entries, min_size=min_size, want=limit, drop_duplicates=drop_duplicates,
                             use_cache=cache, cache_dir=cache_dir, workers=workers)
    report = result.report()
    if quarantine:
        cleaning.quarantine(root, report, to=None if quarantine is True else quarantine)
    _log_survey(layout, root, result, report)
    if not result.usable:
        problems = ", ".join(f"{v} {k}" for k, v in Counter(report["problem"]).most_common()) or "none"
        raise DatasetNotFoundError(f"{lay.title}: none of the {result.examined} image files in {root} is usable "
                                   f"(problems: {problems}); see facegen_utils.datasets.scan('{root}')")
    selection = {"limit": limit, "split": split, "min_size": min_size, "drop_duplicates": drop_duplicates,
                 "recursive": recursive}
    return FolderDataset(root, result.usable, name=layout, image_size=image_size, value_range=value_range,
                         report=report, cache=cache, cache_dir=cache_dir, workers=workers, selection=selection,
                         attribute_table=attribute_table, return_attributes=return_attributes)


def _celeba_annotations(base: Path, root: Path, entries: list[cleaning.FileEntry], *, split: str | None,
                        need_attributes: bool) -> tuple[pd.DataFrame | None, list[cleaning.FileEntry]]:
    """CelebA's attribute table (if its file is present) and the entries of the requested split."""
    dirs = list(dict.fromkeys([base, base / "celeba", root.parent, root.parent.parent, root]))
    attr_file = _find_annotation(dirs, "list_attr_celeba", base, "return_attributes=True" if need_attributes else None)
    table = read_celeba_attributes(attr_file) if attr_file is not None else None
    if split is None or split == "all":
        return table, entries
    if split not in CELEBA_SPLITS:
        raise ValueError(f"split={split!r} is not one of 'train', 'valid', 'test', 'all'")
    part_file = _find_annotation(dirs, "list_eval_partition", base, f"split={split!r}", " (or use split='all')")
    partition = read_celeba_partition(part_file)
    wanted = set(partition.index[partition == CELEBA_SPLITS[split]])
    kept = [e for e in entries if Path(e.rel).name in wanted]
    logger.info("celeba: split %r keeps %d of %d images (%s)", split, len(kept), len(entries), part_file.name)
    return table, kept
