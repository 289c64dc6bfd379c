"""The package logger: every module logs through ``logging.getLogger("facegen")``."""
from __future__ import annotations

import logging

logger = logging.getLogger("facegen")
if not logger.handlers:
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("[facegen] %(levelname)s: %(message)s"))
    logger.addHandler(_handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
