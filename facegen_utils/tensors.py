"""Two small jobs every part of the package shares: converting images between value ranges, and switching a
network into eval mode (or freezing its weights) for one block.

A *value range* is the interval a network's images live in: ``(-1, 1)`` for a tanh generator, ``(0, 1)`` for a
sigmoid one; stored images are uint8 (0..255). Every conversion goes through the unit interval [0, 1].
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

import numpy as np
import torch
from torch import nn

__all__ = ["from_uint8", "from_unit", "to_unit", "to_uint8", "memory_format", "eval_mode", "frozen"]

Array = TypeVar("Array", torch.Tensor, np.ndarray)


def from_uint8(u8: Array, value_range: Sequence[float]) -> Array:
    """uint8 images (tensor or array) as float32 in ``value_range``: ``u8 / 255 * (hi - lo) + lo``, step by step."""
    x = u8.astype(np.float32) if isinstance(u8, np.ndarray) else u8.float()
    x /= 255  # in place, on a fresh float copy: NumPy does one small image ~3x faster this way
    return from_unit(x, value_range)


def from_unit(x: Array, value_range: Sequence[float]) -> Array:
    """Float images in [0, 1] moved *in place* to ``value_range``: ``x * (hi - lo) + lo``."""
    lo, hi = float(value_range[0]), float(value_range[1])
    x *= hi - lo
    x += lo
    return x


def to_unit(x: torch.Tensor, value_range: Sequence[float] | None = (-1.0, 1.0), *,
            dtype: torch.dtype = torch.float32, clamp: bool = True) -> torch.Tensor:
    """Images in [0, 1] as ``dtype``: uint8 read as 0..255, floats scaled from ``value_range`` (then clamped)."""
    if x.dtype == torch.uint8:
        return x.to(dtype) / 255.0
    lo, hi = (-1.0, 1.0) if value_range is None else (float(value_range[0]), float(value_range[1]))
    unit = (x.to(dtype) - lo) / (hi - lo)
    return unit.clamp_(0.0, 1.0) if clamp else unit


def to_uint8(x: torch.Tensor, value_range: Sequence[float] = (-1.0, 1.0)) -> torch.Tensor:
    """Images in ``value_range`` (or already uint8) as uint8 0..255, rounded to the nearest level."""
    if x.dtype == torch.uint8:
        return x
    return to_unit(x, value_range).mul_(255.0).round_().to(torch.uint8)


def memory_format(x: torch.Tensor) -> torch.memory_format:
    """The layout of ``x``: ``torch.channels_last`` for an NHWC image batch (not also plain contiguous), else
    ``torch.contiguous_format``; pass it to ``.to`` or ``.contiguous`` to give another tensor the same layout."""
    return (torch.channels_last if x.dim() == 4 and not x.is_contiguous()
            and x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format)


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Put ``module`` and every submodule in eval mode for the block, then give each back the mode it had."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for m, training in modes:
            m.training = training


@contextmanager
def frozen(module: nn.Module) -> Iterator[nn.Module]:
    """Switch off the weight gradients of ``module`` for the block, then restore each parameter's flag."""
    flags = [(p, p.requires_grad) for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield module
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
