"""PyTorch-tutorial DCGAN (notebooks 04 and 05; reports 003 and 004).

Radford, Metz and Chintala (2016), "Unsupervised Representation Learning with Deep Convolutional Generative
Adversarial Networks", in the form of the official PyTorch DCGAN tutorial. At 64×64 with the default widths the
modules print exactly as in report 004 (seed 004) and have 3,576,704 (G) and 2,765,568 (D) parameters.

Other image sizes (any power of two >= 16) add or remove one stride-2 stage per factor of two, the channel width
doubling towards the 4×4 end as in the paper. ``base_channels`` (the tutorial's ``ngf``/``ndf``) scales every width.
The discriminator returns logits of shape (N,); ``sigmoid=True`` appends the report's final ``Sigmoid`` module
(display fidelity only — train on logits with BCE-with-logits).
"""
from __future__ import annotations

import torch
from torch import nn

from ._common import ImageGenerator, ImageScorer, as_latent_matrix, doublings

FAMILY = "dcgan"


def weights_init(module: nn.Module) -> None:
    """DCGAN initialisation for one module: conv weights N(0, 0.02); BatchNorm weight N(1, 0.02), bias 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, mean=1.0, std=0.02)
        nn.init.zeros_(module.bias)


def _widths(image_size: int, base_channels: int) -> list[int]:
    """Channel widths from the 4×4 end to the image end, e.g. [512, 256, 128, 64] at 64 px with base 64."""
    stages = doublings(image_size, start=4, minimum=16, family=FAMILY)
    return [base_channels * 2 ** (stages - 1 - i) for i in range(stages)]


class NoiseInput(nn.Module):
    """Per-pixel noise added to a feature map, scaled per channel by learned weights that start at 0 (Karras et al.
    2019, "A Style-Based Generator Architecture for GANs", section 3.2): the network can draw texture that z need not
    encode, such as brush strokes.

    In training each image gets a new N(0, 1) map from torch's global random stream, which a checkpoint saves and
    restores, so a resumed run draws the same maps. In eval mode every image gets the same fixed map, held in the
    module's state and drawn from its own seeded stream, so sampling stays a function of z alone (StyleGAN2's
    "const" noise mode).
    """

    def __init__(self, channels: int, size: int, *, seed: int = 0):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, channels, 1, 1))
        fixed = torch.randn(1, 1, size, size, generator=torch.Generator().manual_seed(seed))
        self.register_buffer("fixed", fixed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        noise = (torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype) if self.training
                 else self.fixed.to(x.dtype))
        return x + self.weight * noise


class Generator(ImageGenerator):
    """DCGAN generator: z → ConvTranspose2d stages (BatchNorm, ReLU) → Tanh image in [-1, 1].

    ``noise_inputs=True`` adds a :class:`NoiseInput` after every BatchNorm (off in the paper and the reports).
    """

    def __init__(self, latent_dim: int = 100, *, image_size: int = 64, base_channels: int = 64, channels: int = 3,
                 noise_inputs: bool = False):
        widths = _widths(image_size, base_channels)
        super().__init__(latent_dim, image_size=image_size, channels=channels)
        layers: list[nn.Module] = []
        for i, (w_in, w_out) in enumerate(zip([latent_dim, *widths], widths)):
            stride, padding = (2, 1) if i else (1, 0)  # the first stage maps the 1×1 latent to 4×4
            layers += [nn.ConvTranspose2d(w_in, w_out, kernel_size=4, stride=stride, padding=padding, bias=False),
                       nn.BatchNorm2d(w_out)]
            layers += [NoiseInput(w_out, 4 * 2 ** i, seed=i)] if noise_inputs else []
            layers.append(nn.ReLU(inplace=True))
        layers += [nn.ConvTranspose2d(widths[-1], channels, kernel_size=4, stride=2, padding=1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        self.apply(weights_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Map z of shape (N, latent_dim) or (N, latent_dim, 1, 1) to images (N, channels, size, size)."""
        z = as_latent_matrix(z, self.latent_dim)
        return self.main(z[:, :, None, None])


class Discriminator(ImageScorer):
    """DCGAN discriminator: Conv2d stages (BatchNorm from the second, LeakyReLU 0.2) → one logit per image.

    ``forward`` returns logits of shape (N,), or probabilities if ``sigmoid=True``.
    """

    def __init__(self, *, image_size: int = 64, base_channels: int = 64, channels: int = 3, sigmoid: bool = False):
        widths = _widths(image_size, base_channels)[::-1]
        super().__init__(image_size=image_size, channels=channels)
        layers: list[nn.Module] = []
        for i, (w_in, w_out) in enumerate(zip([channels, *widths], widths)):
            layers.append(nn.Conv2d(w_in, w_out, kernel_size=4, stride=2, padding=1, bias=False))
            if i:
                layers.append(nn.BatchNorm2d(w_out))
            layers.append(nn.LeakyReLU(negative_slope=0.2, inplace=True))
        layers.append(nn.Conv2d(widths[-1], 1, kernel_size=4, stride=1, padding=0, bias=False))
        if sigmoid:
            layers.append(nn.Sigmoid())
        self.main = nn.Sequential(*layers)
        self.apply(weights_init)
