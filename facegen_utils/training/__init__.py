"""One training engine for every registered objective: ``Trainer(models, data, TrainConfig(...))`` or
``Trainer.from_spec(run_spec)``.

``engine`` holds the loop, ``objectives`` the registry of what is minimised (GAN, WGAN with clipping, WGAN-GP,
VAE), ``data`` the uint8 batch source, ``augment`` the critic's differentiable augmentation, ``history`` the loss
log, ``checkpoint`` the checkpoint files, ``distributed`` the multi-process set-up under ``torchrun`` and
``cpu_conv`` the CPU's GEMM weight gradients.
The settings (:class:`TrainConfig`) are part of the run specification, :mod:`facegen_utils.spec`.
"""
from __future__ import annotations

from facegen_utils.spec import AMP_MODES, CRITIC_SCHEDULES, OPTIMIZERS, TrainConfig

from . import objectives
from .checkpoint import load_generator
from .engine import COLUMNS, EVENTS, NonFiniteLossError, Trainer

OBJECTIVES = objectives.names()

__all__ = ["AMP_MODES", "COLUMNS", "CRITIC_SCHEDULES", "EVENTS", "OBJECTIVES", "OPTIMIZERS", "NonFiniteLossError",
           "TrainConfig", "Trainer", "load_generator", "objectives"]
