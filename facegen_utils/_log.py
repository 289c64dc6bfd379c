"""The package logger (every module logs through ``logging.getLogger("facegen")``) and progress bars."""
from __future__ import annotations

import logging
import os
from typing import Any

logger = logging.getLogger("facegen")
if not logger.handlers:
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("[facegen] %(levelname)s: %(message)s"))
    logger.addHandler(_handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def quiet_progress() -> bool:
    """Whether ``TQDM_DISABLE`` asks for no progress bars, read now (tqdm reads it once, at import)."""
    return os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false", "no", "off")


def progress(iterable: Any = None, *, show: bool = True, **kwargs: Any) -> Any:
    """A ``tqdm.auto`` progress bar, switched off when ``show`` is False or ``TQDM_DISABLE`` is set.

    ``tqdm.notebook`` (what ``tqdm.auto`` picks inside Jupyter and papermill) ignores ``TQDM_DISABLE``; this does not,
    so batch runs can keep bars out of executed notebooks.
    """
    from tqdm.auto import tqdm

    kwargs["disable"] = not show or quiet_progress()  # explicit: tqdm's own default was fixed at its import
    return tqdm(iterable, **kwargs)
