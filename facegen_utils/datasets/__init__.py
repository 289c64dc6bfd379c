"""Dataset registry: ``get(name, ...)`` returns a map-style torch Dataset, whatever the source.

Names: "anime", "art-portraits", "celeba", "monet" (real datasets in the layouts Kaggle and torchvision give
them, see ``data/README.md``), "folder" (any folder of images) and the generated "synthetic-faces" and
"synthetic-paintings" that need no download. Every dataset has ``image_size``, ``value_range``, ``len(ds)``,
``ds[i]`` (float32 (3, S, S) in ``value_range``) and ``to_uint8()`` (uint8 (N, 3, S, S), the fast path the
training engine uses). ``scan(path)`` reports the problem files of a folder without touching it.
"""
from __future__ import annotations

import functools
import inspect
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd
from torch.utils.data import Dataset

from facegen_utils._log import logger
from facegen_utils.spec import check_int, suggest

from . import cache
from .cleaning import inventory, quarantine
from .cleaning import scan as scan_folder
from .folders import COMMON_OPTIONS, LAYOUTS, DatasetNotFoundError, FolderDataset, find_images, load_folder

__all__ = ["DatasetNotFoundError", "FolderDataset", "LAYOUTS", "cache", "get", "inventory", "names", "quarantine",
           "register", "scan"]

Factory = Callable[..., Dataset]
_REGISTRY: dict[str, Factory] = {}
_STANDARD = ("data_dir", "image_size", "value_range", "limit")


def _normalise(name: str) -> str:
    """Dataset names are matched case-insensitively, with "_" and "-" alike ("Art_Portraits" is "art-portraits")."""
    return str(name).strip().lower().replace("_", "-")


def register(name: str, factory: Factory) -> None:
    """Add a dataset under ``name``; ``factory(*, data_dir, image_size, value_range, limit, **options)`` builds it."""
    if not callable(factory):
        raise TypeError(f"the factory for dataset {name!r} must be callable, got {type(factory).__name__}")
    _REGISTRY[_normalise(name)] = factory


def names() -> list[str]:
    """The registered dataset names, in registration order."""
    return list(_REGISTRY)


def _check_options(name: str, factory: Factory, options: dict[str, Any]) -> None:
    """Reject option names the factory does not take, naming them and the accepted ones."""
    if isinstance(factory, functools.partial) and factory.func is load_folder:
        accepted = [*COMMON_OPTIONS, *LAYOUTS[factory.args[0]].options]
    else:
        params = inspect.signature(factory).parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            return
        accepted = [p for p in params if p not in _STANDARD and params[p].kind is inspect.Parameter.KEYWORD_ONLY]
    for key in options:
        if key not in accepted:
            raise TypeError(f"dataset {name!r} has no option {key!r}{suggest(key, [*_STANDARD, *accepted])}. "
                            f"Its options: {', '.join([*_STANDARD, *accepted])}")


def _check_common(image_size: Any, value_range: Any, limit: Any) -> tuple[int, tuple[float, float], int | None]:
    check_int("image_size", image_size, 4)  # any size renders; the models want powers of two (ModelSpec)
    check_int("limit", limit, 1, optional="all images")
    try:
        if isinstance(value_range, (str, bytes)):
            raise TypeError
        lo, hi = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise ValueError(f"value_range must be two numbers such as (-1, 1) or (0, 1), got {value_range!r}") from None
    if not lo < hi:
        raise ValueError(f"value_range must be (low, high) with low < high, e.g. (-1, 1) or (0, 1); "
                         f"got {value_range!r}")
    return image_size, (lo, hi), limit


def get(name: str, *, data_dir: str | Path | None = None, image_size: int = 64,
        value_range: Sequence[float] = (-1.0, 1.0), limit: int | None = None, **options: Any) -> Dataset:
    """Build the dataset ``name`` at ``image_size`` in ``value_range``; ``limit`` keeps the first N images.

    Real datasets look in ``data_dir`` (default ``data/<name>``, or ``$FACEGEN_DATA_DIR/<name>``) and accept
    ``min_size``, ``cache``, ``cache_dir``, ``quarantine``, ``drop_duplicates``, ``workers`` (CelebA also ``split``
    and ``return_attributes``; "folder" also ``recursive``). Synthetic ones accept ``n``, ``seed`` and
    ``return_attributes``. A missing real dataset raises ``DatasetNotFoundError`` with the download command.
    """
    key = _normalise(name)
    if key not in _REGISTRY:
        raise ValueError(f"unknown dataset {name!r}{suggest(key, names())}. Available: {', '.join(names())}")
    image_size, value_range, limit = _check_common(image_size, value_range, limit)
    factory = _REGISTRY[key]
    _check_options(key, factory, options)
    data_dir = None if isinstance(data_dir, str) and not data_dir.strip() else data_dir
    return factory(data_dir=data_dir, image_size=image_size, value_range=value_range, limit=limit, **options)


def scan(path: str | Path, *, dataset: str | None = None, min_size: int = 32, **options: Any) -> pd.DataFrame:
    """Report the problem files of a folder (path, problem, action, detail) without modifying it.

    With ``dataset`` (e.g. "monet"), ``path`` may be the download root: only that dataset's image folder is scanned.
    Options: ``recursive``, ``use_cache``, ``cache_dir``, ``workers``.
    """
    if dataset is not None:
        key = _normalise(dataset)
        if key not in LAYOUTS:
            raise ValueError(f"scan(dataset={dataset!r}) needs a folder dataset{suggest(key, list(LAYOUTS))}. "
                             f"Folder datasets: {', '.join(LAYOUTS)}")
        path = find_images(LAYOUTS[key], path)[1]
        options.setdefault("recursive", LAYOUTS[key].recursive)
    return scan_folder(path, min_size=min_size, **options)


def _synthetic_factory(class_name: str) -> Factory:
    def factory(*, data_dir: str | Path | None = None, image_size: int = 64,
                value_range: tuple[float, float] = (-1.0, 1.0), limit: int | None = None, n: int = 10000,
                seed: int = 0, return_attributes: bool = False) -> Dataset:
        from . import procedural

        if data_dir is not None:
            logger.debug("%s is generated; data_dir=%s is not used", class_name, data_dir)
        size = n if limit is None else min(n, limit)
        return getattr(procedural, class_name)(n=size, image_size=image_size, seed=seed,
                                               value_range=tuple(value_range), return_attributes=return_attributes)

    factory.__doc__ = f"Generate the procedural {class_name} dataset (``limit`` caps ``n``)."
    return factory


for _layout in LAYOUTS:
    register(_layout, functools.partial(load_folder, _layout))
register("synthetic-faces", _synthetic_factory("SyntheticFaces"))
register("synthetic-paintings", _synthetic_factory("SyntheticPaintings"))
