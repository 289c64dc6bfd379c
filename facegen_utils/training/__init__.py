"""One training engine for the GANs, WGANs and VAEs of the reports: ``Trainer(models, data, TrainConfig(...))``.

``engine`` holds the loop, ``config`` the settings, ``data`` the uint8 batch source, ``history`` the loss log,
``checkpoint`` the checkpoint files and ``distributed`` the multi-process set-up under ``torchrun``.
"""
from __future__ import annotations

from .checkpoint import load_generator
from .config import AMP_MODES, CRITIC_SCHEDULES, OBJECTIVES, OPTIMIZERS, TrainConfig
from .engine import COLUMNS, EVENTS, NonFiniteLossError, Trainer

__all__ = ["AMP_MODES", "COLUMNS", "CRITIC_SCHEDULES", "EVENTS", "OBJECTIVES", "OPTIMIZERS", "NonFiniteLossError",
           "TrainConfig", "Trainer", "load_generator"]
