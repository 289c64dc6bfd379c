"""A small U-Net that predicts the noise of a diffused image, and the two modules that make it a diffusion model.

Ho et al. (2020), "Denoising Diffusion Probabilistic Models", appendix B: a PixelCNN++-style U-Net with residual blocks,
GroupNorm, a sinusoidal embedding of the time step added inside every residual block, and self-attention at one
resolution (16×16 in the paper at 32 px). Here the widths, the number of levels and of residual blocks per level are
parameters so the same network fits a CPU lesson (``base_channels=32``, two levels of attention-free blocks and one
attention level at 8×8: about 1.6 M parameters at 32 px) and a GPU run (``base_channels=128``, the paper's CIFAR-10
widths: 35.7 M).

- :class:`UNet` maps (x_t, t) to the predicted noise ε̂, of the shape of x_t.
- :class:`DiffusionModel` is what the Trainer trains (role ``denoiser``): the U-Net with its noise schedule.
- :class:`DiffusionSampler` is the model's *generator*: it maps a latent z — the starting noise x_T, flattened — to an
  image with the deterministic DDIM sampler (η = 0), so metrics, widgets and latent interpolation take a diffusion
  model as they take a GAN's G.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ._common import check_images, check_multiple

FAMILY = "ddpm-unet"


def timestep_embedding(t: torch.Tensor, dim: int, *, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of integer time steps t (N,) -> (N, dim), as the Transformer's positions (sin, cos)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


def _norm(channels: int, groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(groups, channels), channels)


class ResBlock(nn.Module):
    """GroupNorm, SiLU, 3×3 conv; add the projected time embedding; GroupNorm, SiLU, dropout, 3×3 conv; skip."""

    def __init__(self, in_channels: int, out_channels: int, time_dim: int, *, groups: int, dropout: float):
        super().__init__()
        self.norm1, self.conv1 = _norm(in_channels, groups), nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.time = nn.Linear(time_dim, out_channels)
        self.norm2, self.conv2 = _norm(out_channels, groups), nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.dropout = nn.Dropout(dropout)
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity (its skip path)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """x (N, C_in, H, W) and the time embedding (N, time_dim) -> (N, C_out, H, W)."""
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time(emb)[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """Single-head self-attention over the pixels of a feature map, with a residual connection."""

    def __init__(self, channels: int, *, groups: int):
        super().__init__()
        self.norm = _norm(channels, groups)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, C, H, W) -> x + attention(x), same shape."""
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(n, 3, c, h * w).transpose(-1, -2).unbind(1)
        a = F.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None])[:, 0]  # (N, HW, C)
        return x + self.out(a.transpose(-1, -2).reshape(n, c, h, w))


class UNet(nn.Module):
    """ε-prediction U-Net: ``levels`` resolutions (halved between levels), ``blocks`` residual blocks per level.

    ``channel_mults[i] * base_channels`` channels at level i; self-attention where the feature map is
    ``attention_size`` pixels wide (and in the middle block). Input and output: (N, channels, S, S), t: (N,) integers.
    """

    def __init__(self, *, image_size: int = 32, channels: int = 3, base_channels: int = 32,
                 channel_mults: tuple[int, ...] = (1, 2, 2), blocks: int = 1, attention_size: int | None = 8,
                 groups: int = 8, dropout: float = 0.0):
        super().__init__()
        check_multiple(image_size, of=2 ** (len(channel_mults) - 1), family=FAMILY)
        self.image_size, self.channels, self.base_channels = image_size, channels, base_channels
        self.input_shape = (channels, image_size, image_size)
        time_dim = 4 * base_channels
        self.time_embed = nn.Sequential(nn.Linear(base_channels, time_dim), nn.SiLU(), nn.Linear(time_dim, time_dim))
        self.conv_in = nn.Conv2d(channels, base_channels, 3, padding=1)
        widths = [base_channels * m for m in channel_mults]
        common = {"groups": groups, "dropout": dropout}

        def block(c_in: int, c_out: int, size: int) -> nn.ModuleList:
            parts = [ResBlock(c_in, c_out, time_dim, **common)]
            if attention_size == size:
                parts.append(SelfAttention(c_out, groups=groups))
            return nn.ModuleList(parts)

        self.down = nn.ModuleList()
        skips, c, size = [base_channels], base_channels, image_size
        for level, width in enumerate(widths):
            for _ in range(blocks):
                self.down.append(block(c, width, size))
                c = width
                skips.append(c)
            if level < len(widths) - 1:
                self.down.append(nn.ModuleList([nn.Conv2d(c, c, 3, stride=2, padding=1)]))
                size //= 2
                skips.append(c)
        self.middle = nn.ModuleList([ResBlock(c, c, time_dim, **common), SelfAttention(c, groups=groups),
                                     ResBlock(c, c, time_dim, **common)])
        self.up = nn.ModuleList()
        for level, width in reversed(list(enumerate(widths))):
            for _ in range(blocks + 1):
                self.up.append(block(c + skips.pop(), width, size))
                c = width
            if level > 0:
                self.up.append(nn.ModuleList([nn.Upsample(scale_factor=2, mode="nearest"),
                                              nn.Conv2d(c, c, 3, padding=1)]))
                size *= 2
        self.norm_out = _norm(c, groups)
        self.conv_out = nn.Conv2d(c, channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)  # the untrained network predicts zero noise
        nn.init.zeros_(self.conv_out.bias)

    @staticmethod
    def _run(parts: nn.ModuleList, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        for part in parts:
            h = part(h, emb) if isinstance(part, ResBlock) else part(h)  # only residual blocks see the time step
        return h

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Predict the noise in x_t (N, C, S, S) at integer time steps t (N,) (or one step for the whole batch)."""
        check_images(x, channels=self.channels, image_size=self.image_size)
        t = torch.as_tensor(t, device=x.device)
        if t.dim() == 0:
            t = t.expand(x.shape[0])
        emb = self.time_embed(timestep_embedding(t, self.base_channels))
        h = self.conv_in(x)
        skips = [h]
        for parts in self.down:
            h = self._run(parts, h, emb)
            skips.append(h)
        h = self._run(self.middle, h, emb)
        for parts in self.up:
            if isinstance(parts[0], ResBlock):
                h = torch.cat([h, skips.pop()], dim=1)
            h = self._run(parts, h, emb)
        return self.conv_out(F.silu(self.norm_out(h)))


class DiffusionModel(nn.Module):
    """The U-Net with its noise schedule: what the Trainer trains (the ``denoiser``) and the samplers call."""

    def __init__(self, unet: UNet, *, schedule: str = "linear", timesteps: int = 1000):
        super().__init__()
        from facegen_utils.diffusion import make_schedule

        self.unet = unet
        self.schedule = make_schedule(schedule, timesteps)
        self.image_size, self.channels = unet.image_size, unet.channels
        self.input_shape = unet.input_shape
        # float32 copies for training on the device; not saved (the schedule is rebuilt from the model's options)
        self.register_buffer("sqrt_alpha_bar", self.schedule.alpha_bar.sqrt().float(), persistent=False)
        self.register_buffer("sqrt_one_minus_alpha_bar", (1 - self.schedule.alpha_bar).sqrt().float(),
                             persistent=False)

    @property
    def timesteps(self) -> int:
        """T, the number of diffusion steps the model was trained with."""
        return self.schedule.timesteps

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The predicted noise ε̂(x_t, t)."""
        return self.unet(x, t)

    def diffuse(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(ᾱ_t) x_0 + sqrt(1 - ᾱ_t) ε: a sample of q(x_t | x_0) in one step (``diffusion.diffuse``)."""
        from facegen_utils.diffusion import diffuse

        return diffuse(x0, t, self, noise=noise)


class DiffusionSampler(nn.Module):
    """A diffusion model as a generator: z (N, C·S·S), the flattened starting noise x_T, -> images (N, C, S, S).

    Deterministic DDIM (η = 0) with ``steps`` steps, so one z always gives the same image and two z's can be
    interpolated; :func:`facegen_utils.diffusion.sample` offers the other samplers and settings.
    """

    def __init__(self, model: DiffusionModel, *, steps: int = 50):
        super().__init__()
        self.model = model
        self.steps = steps
        self.image_size, self.channels = model.image_size, model.channels
        self.latent_dim = model.channels * model.image_size ** 2
        self.input_shape = (self.latent_dim,)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Denoise x_T = z.view(N, C, S, S) with DDIM (η = 0, ``steps`` steps); images in [-1, 1]."""
        from facegen_utils.diffusion import ddim_loop

        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"the diffusion sampler expects z of shape (N, {self.latent_dim}) (the starting noise "
                             f"of a {self.channels}x{self.image_size}x{self.image_size} image, flattened), got "
                             f"{tuple(z.shape)}; sample it with latent_dim={self.latent_dim}.")
        x = z.view(-1, self.channels, self.image_size, self.image_size)
        return ddim_loop(self.model, x, steps=self.steps, eta=0.0)
