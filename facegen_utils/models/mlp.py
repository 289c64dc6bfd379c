"""Fully connected GAN models of reports 001 (notebook 02, art portraits) and 002 (notebook 03, CelebA, Keras).

Report 001 — an MLP WGAN-GP (Gulrajani et al., 2017, "Improved Training of Wasserstein GANs"): generator
Linear 100→256→512→1024→3·64·64 with LeakyReLU (PyTorch's default slope 0.01) and Tanh, 13,277,952 parameters;
critic 3·64·64→1024→512→256→1 with LeakyReLU and no sigmoid, 13,240,321 parameters; PyTorch default
initialisation.

Report 002 — a Keras GAN after Goodfellow et al. (2014), "Generative Adversarial Nets": generator
Dense(4096→4096), LeakyReLU, BatchNorm, reshape 16×16×16, UpSampling×2, Conv 5×5 16→128 ("same"), LeakyReLU,
BatchNorm, UpSampling×2, Conv 5×5 128→3, tanh — 16,850,691 trainable parameters plus 8,448 BatchNorm moving
statistics, the report's "Total params: 16,859,139"; MLP discriminator Flatten→512→256→1 with LeakyReLU,
6,423,553 parameters, returning logits. The report prints no activation slopes or BatchNorm settings, so the Keras
defaults apply (LeakyReLU 0.3, BatchNorm momentum 0.99 = PyTorch 0.01, epsilon 1e-3); its cited Keras-GAN example
uses a slope of 0.2, which ``negative_slope`` reproduces. Keras Glorot-uniform initialisation.

``image_size`` generalises every model: the flat image has 3·S·S values, and the report-002 generator reshapes to
16×(S/4)×(S/4) before its two ×2 upsamplings (S a multiple of 4).
"""
from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ._common import (
    KERAS_LEAKY_SLOPE,
    ImageGenerator,
    ImageScorer,
    check_multiple,
    conv_same,
    keras_batch_norm,
    keras_init_,
)


def _check_size(image_size: int, family: str) -> None:
    if not isinstance(image_size, int) or image_size < 1:
        raise ValueError(f"image_size={image_size!r} is not supported by {family!r}: "
                         "use a positive integer such as 64.")


class MLPGenerator(ImageGenerator):
    """z → Linear+LeakyReLU hidden layers → Linear → Tanh → image in [-1, 1] (report 001)."""

    def __init__(self, latent_dim: int = 100, *, image_size: int = 64, channels: int = 3,
                 hidden_dims: Sequence[int] = (256, 512, 1024), negative_slope: float = 0.01):
        super().__init__(latent_dim, image_size=image_size, channels=channels)
        _check_size(image_size, "mlp-wgan-gp")
        dims = [latent_dim, *hidden_dims]
        layers: list[nn.Module] = []
        for d_in, d_out in zip(dims, dims[1:]):
            layers += [nn.Linear(d_in, d_out), nn.LeakyReLU(negative_slope=negative_slope)]
        layers += [nn.Linear(dims[-1], channels * image_size * image_size), nn.Tanh(),
                   nn.Unflatten(1, (channels, image_size, image_size))]
        self.main = nn.Sequential(*layers)


class MLPDiscriminator(ImageScorer):
    """Flatten → Linear+LeakyReLU hidden layers → Linear(1): a critic (report 001) or discriminator logits (002)."""

    def __init__(self, *, image_size: int = 64, channels: int = 3, hidden_dims: Sequence[int] = (1024, 512, 256),
                 negative_slope: float = 0.01):
        super().__init__(image_size=image_size, channels=channels)
        _check_size(image_size, "mlp discriminator")
        dims = [channels * image_size * image_size, *hidden_dims]
        layers: list[nn.Module] = [nn.Flatten()]
        for d_in, d_out in zip(dims, dims[1:]):
            layers += [nn.Linear(d_in, d_out), nn.LeakyReLU(negative_slope=negative_slope)]
        layers.append(nn.Linear(dims[-1], 1))
        self.main = nn.Sequential(*layers)


class UpsampleConvGenerator(ImageGenerator):
    """Report 002 generator: Dense, LeakyReLU, BatchNorm → 16×(S/4)² → 2 × (UpSampling, Conv 5×5) → tanh."""

    def __init__(self, latent_dim: int = 4096, *, image_size: int = 64, channels: int = 3, seed_channels: int = 16,
                 conv_channels: int = 128, kernel_size: int = 5, negative_slope: float = KERAS_LEAKY_SLOPE):
        super().__init__(latent_dim, image_size=image_size, channels=channels)
        check_multiple(image_size, of=4, family="mlp-gan")
        side = image_size // 4
        units = seed_channels * side * side
        self.main = nn.Sequential(
            nn.Linear(latent_dim, units),
            nn.LeakyReLU(negative_slope=negative_slope),
            keras_batch_norm(units, dims=1),
            nn.Unflatten(1, (seed_channels, side, side)),
            nn.Upsample(scale_factor=2, mode="nearest"),
            conv_same(seed_channels, conv_channels, kernel_size, stride=1),
            nn.LeakyReLU(negative_slope=negative_slope),
            keras_batch_norm(conv_channels, dims=2),
            nn.Upsample(scale_factor=2, mode="nearest"),
            conv_same(conv_channels, channels, kernel_size, stride=1),
            nn.Tanh(),
        )
        keras_init_(self)
