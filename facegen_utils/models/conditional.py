"""Conditional DCGAN (notebook 07): the generator is told which attribute values to draw, the discriminator checks.

Report 000 names the conditional GAN as its future work; report 002 cites face generation from attribute labels.

- Generator: the DCGAN generator of notebook 05 whose input is the noise concatenated with the one-hot code of every
  attribute (Mirza & Osindero 2014, "Conditional Generative Adversarial Nets"). The DCGAN's first layer is a
  transposed convolution of a 1x1 input, i.e. a linear map, so a learned embedding in front of it would add nothing:
  the one-hot code *is* the embedding here. Conditional BatchNorm would touch every layer for the same effect at
  this size.
- Discriminator, two options (``discriminator=``), so notebook 07 can compare them on the same budget:
  ``"projection"`` (Miyato & Koyama 2018, "cGANs with Projection Discriminator"): the DCGAN discriminator's 4x4
  features h, summed over space, meet a learned embedding of each attribute value in an inner product that is added
  to the unconditional logit; ``"concat"``: the one-hot codes enter as constant image planes beside the RGB channels
  (the convolutional form of Mirza & Osindero's input concatenation).

Latent layout. A conditional generator's latent is ``[face code (latent_dim - A) | condition code (A)]``, one
condition coordinate per attribute. Called with labels, it draws those values and ignores the condition code; a
label of -1 leaves that attribute free. A free attribute's value comes from its condition coordinate c through the
normal CDF: value k when Φ(c) falls in the k-th interval of the value shares seen in the training data. So ``G(z)``
with z from N(0, I) draws conditions as often as the data hold them, and every tool that samples ``G(z)`` (the
trainer's grids, metrics, the latent explorer, checkpoints) works unchanged; the explorer's last sliders switch the
attribute values.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ._common import as_latent_matrix, check_images
from .dcgan import Discriminator, Generator

__all__ = ["ConditionalGenerator", "ConditionalDiscriminator", "DISCRIMINATORS", "one_hot"]

#: the discriminator conditioning options (model option ``discriminator``)
DISCRIMINATORS = ("projection", "concat")


def one_hot(labels: torch.Tensor, sizes: Sequence[int], dtype: torch.dtype) -> torch.Tensor:
    """The one-hot codes of label rows (N, A), concatenated attribute by attribute: (N, sum(sizes))."""
    return torch.cat([F.one_hot(labels[:, a], k).to(dtype) for a, k in enumerate(sizes)], dim=1)


def _check_labels(labels: torch.Tensor, sizes: Sequence[int], *, free: bool) -> torch.Tensor:
    if labels.dim() != 2 or labels.shape[1] != len(sizes) or labels.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"labels must be an integer tensor (N, {len(sizes)}), one value index per attribute, got "
                         f"{labels.dtype} {tuple(labels.shape)}; facegen_utils.conditioning.Conditions.labels "
                         f"makes them.")
    if torch.compiler.is_compiling():  # the value check would break the graph and wait for the GPU at every call;
        return labels.long()             # the engine's labels come from Conditions, which checked them once
    low = -1 if free else 0
    sizes_t = torch.tensor(list(sizes), device=labels.device)
    if bool(((labels < low) | (labels >= sizes_t)).any()):
        raise ValueError(f"labels out of range: each attribute's index must be in [{low}, values) with values per "
                         f"attribute {list(sizes)}" + (" (-1 leaves an attribute free)" if free else ""))
    return labels.long()


class ConditionalGenerator(nn.Module):
    """DCGAN generator on [face code, one-hot conditions]; free conditions come from the latent's last coordinates."""

    def __init__(self, latent_dim: int, sizes: Sequence[int], *, image_size: int = 64, base_channels: int = 64,
                 channels: int = 3) -> None:
        super().__init__()
        self.sizes = tuple(int(k) for k in sizes)
        if latent_dim <= len(self.sizes):
            raise ValueError(f"latent_dim={latent_dim} must exceed the {len(self.sizes)} condition coordinates "
                             f"(the face code is latent_dim - {len(self.sizes)} long)")
        self.latent_dim, self.image_size, self.channels = latent_dim, image_size, channels
        self.code_dim = latent_dim - len(self.sizes)
        self.input_shape = (latent_dim,)
        self.net = Generator(self.code_dim + sum(self.sizes), image_size=image_size, base_channels=base_channels,
                             channels=channels)
        shares = torch.zeros(len(self.sizes), max(self.sizes))
        for a, k in enumerate(self.sizes):
            shares[a, :k] = 1.0 / k
        self.register_buffer("shares", shares)  # per attribute: the share of each value in the training data

    @torch.no_grad()
    def set_shares(self, labels: torch.Tensor) -> None:
        """Record how often each value occurs in ``labels`` (the training data's): free conditions follow it."""
        labels = _check_labels(labels, self.sizes, free=False)
        for a, k in enumerate(self.sizes):
            counts = torch.bincount(labels[:, a].cpu(), minlength=k).float()
            self.shares[a].zero_()
            self.shares[a, :k] = (counts / counts.sum()).to(self.shares.device)

    def draw_labels(self, condition_code: torch.Tensor) -> torch.Tensor:
        """The values that condition coordinates (N, A) choose: Φ(c) against the cumulative value shares."""
        u = torch.special.ndtr(condition_code.float())
        cumulative = self.shares.cumsum(dim=1)
        columns = [torch.searchsorted(cumulative[a, :k].contiguous(), u[:, a].contiguous()).clamp_(max=k - 1)
                   for a, k in enumerate(self.sizes)]
        return torch.stack(columns, dim=1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images of latents z (N, latent_dim) with the attribute values ``labels`` (N, A; -1 = free, None = all)."""
        z = as_latent_matrix(z, self.latent_dim)
        code, condition_code = z[:, :self.code_dim], z[:, self.code_dim:]
        drawn = self.draw_labels(condition_code)
        if labels is not None:
            labels = _check_labels(labels.to(z.device), self.sizes, free=True)
            drawn = torch.where(labels < 0, drawn, labels)
        return self.net(torch.cat([code, one_hot(drawn, self.sizes, code.dtype)], dim=1))


class ConditionalDiscriminator(nn.Module):
    """DCGAN discriminator conditioned by projection (Miyato & Koyama 2018) or by one-hot image planes.

    ``forward(x, labels)`` returns one logit per image. Without labels it scores the image alone (the projection
    term is left out; the condition planes are zero): used only to probe shapes.
    """

    def __init__(self, sizes: Sequence[int], *, image_size: int = 64, base_channels: int = 64, channels: int = 3,
                 conditioning: str = "projection") -> None:
        super().__init__()
        if conditioning not in DISCRIMINATORS:
            raise ValueError(f"discriminator={conditioning!r} is not one of {DISCRIMINATORS}")
        self.sizes = tuple(int(k) for k in sizes)
        self.conditioning, self.image_size, self.channels = conditioning, image_size, channels
        self.input_shape = (channels, image_size, image_size)
        planes = sum(self.sizes) if conditioning == "concat" else 0
        body = Discriminator(image_size=image_size, base_channels=base_channels, channels=channels + planes)
        self.features, self.head = body.main[:-1], body.main[-1]  # up to the 4x4 features; the 4x4 -> 1 logit
        width = self.head.in_channels
        if conditioning == "projection":
            self.embed = nn.ModuleList(nn.Embedding(k, width) for k in self.sizes)
            for table in self.embed:
                nn.init.normal_(table.weight, std=0.02)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        check_images(x, channels=self.channels, image_size=self.image_size)
        if labels is not None:
            labels = _check_labels(labels, self.sizes, free=False)
        if self.conditioning == "concat":
            n, _, h, w = x.shape
            code = (one_hot(labels, self.sizes, x.dtype) if labels is not None
                    else x.new_zeros(n, sum(self.sizes)))
            x = torch.cat([x, code[:, :, None, None].expand(n, -1, h, w)], dim=1)
        features = self.features(x)
        logit = self.head(features).view(-1)
        if self.conditioning == "projection" and labels is not None:
            pooled = features.sum(dim=(2, 3))
            logit = logit + sum((table(labels[:, a]) * pooled).sum(dim=1) for a, table in enumerate(self.embed))
        return logit
