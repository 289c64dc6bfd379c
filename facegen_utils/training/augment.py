"""Differentiable augmentation of what a discriminator/critic sees (Zhao et al. 2020, "Differentiable Augmentation
for Data-Efficient GAN Training").

A discriminator trained on a small dataset learns its images by heart and stops telling the generator anything
useful. Augmenting only the real images would teach the generator to draw the augmentations too; DiffAugment
transforms *every* image the discriminator scores, real and generated alike, in its own step and in the generator's,
with operations the gradient passes through, so the generator still learns the un-augmented images.

``translation``: each image moves by a whole number of pixels, drawn for each image and each axis from
[-s, s] with s an eighth of its side (4 pixels at 32), and the uncovered border is filled with 0, the middle of
the [-1, 1] value range (the paper's translation policy). Notebook 04's shipped DCGAN on the 1,024 procedural
paintings uses it (benchmarks/README.md).
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from facegen_utils.spec import AUGMENTS, check_choice
from facegen_utils.tensors import memory_format

__all__ = ["AUGMENTS", "translate", "augmenter"]


def translate(x: torch.Tensor, fraction: float = 0.125, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each image of ``x`` (N, C, H, W) moved by its own random whole-pixel shift of at most ``fraction`` of its
    side on each axis, the uncovered border set to 0; the gradient flows back to the pixels that moved."""
    if x.dim() != 4:
        raise ValueError(f"translate: images must be (N, C, H, W), got shape {tuple(x.shape)}")
    n, c, h, w = x.shape
    reach_y, reach_x = int(h * fraction + 0.5), int(w * fraction + 0.5)
    device = generator.device if generator is not None else x.device
    dy = torch.randint(-reach_y, reach_y + 1, (n, 1, 1), generator=generator, device=device).to(x.device)
    dx = torch.randint(-reach_x, reach_x + 1, (n, 1, 1), generator=generator, device=device).to(x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1) - dy  # the source row of each target pixel
    cols = torch.arange(w, device=x.device).view(1, 1, w) - dx
    inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    source = (rows.clamp(0, h - 1) * w + cols.clamp(0, w - 1)).view(n, 1, h * w).expand(n, c, h * w)
    moved = x.reshape(n, c, h * w).gather(2, source).view(n, c, h, w) * inside.unsqueeze(1).to(x.dtype)
    return moved.contiguous(memory_format=memory_format(x))  # the layout the critic was given


def augmenter(policy: str, generator: torch.Generator) -> Callable[[torch.Tensor], torch.Tensor]:
    """The function applied to every batch the critic scores under ``policy`` (one of :data:`AUGMENTS`)."""
    check_choice("augment", policy, AUGMENTS)
    if policy == "none":
        return lambda x: x
    return lambda x: translate(x, generator=generator)
