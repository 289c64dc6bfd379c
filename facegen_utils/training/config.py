"""The training settings, :class:`TrainConfig`, and their choice lists live in :mod:`facegen_utils.spec`."""
from __future__ import annotations

from facegen_utils.spec import AMP_MODES, COMPILE_MODES, CRITIC_SCHEDULES, OPTIMIZERS, TrainConfig

__all__ = ["AMP_MODES", "COMPILE_MODES", "CRITIC_SCHEDULES", "OPTIMIZERS", "TrainConfig"]
