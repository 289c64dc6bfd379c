"""Keras-style GAN generator, discriminator and WGAN critic of report 000 (notebook 01, anime faces, TensorFlow).

The generator and discriminator follow the TensorFlow DCGAN tutorial the report builds on (Radford et al., 2016,
"Unsupervised Representation Learning with Deep Convolutional GANs"); the critic is the report's WGAN critic
(Arjovsky, Chintala and Bottou, 2017, "Wasserstein GAN"), also used with a gradient penalty (Gulrajani et al., 2017).

Keras defaults are kept where the report relies on them: LeakyReLU slope 0.3, BatchNormalization momentum 0.99
(PyTorch ``momentum=0.01``) and epsilon 1e-3, ``padding="same"``, biases on every layer, Glorot-uniform weights and
zero biases. The report does not print ``KERNEL_SIZE``, ``STRIDES`` or ``NOISE_DIM``: ``kernel_size`` is a parameter
(default 4), the stride is 2 (the only value that takes the report's 4×4 Dense output to 64×64 in four layers) and
``latent_dim`` defaults to 100, the TensorFlow DCGAN tutorial's noise dimension.

Widths scale with ``base_channels`` (32 in the report: generator 256→128→64→32→3, discriminator 32/64/128/256,
critic 32/64/64). Other image sizes (powers of two >= 16) change the generator's number of transposed
convolutions; the discriminator and the critic keep their layers and their Dense layer adapts, as in Keras.
"""
from __future__ import annotations

from torch import nn

from ._common import (
    KERAS_LEAKY_SLOPE,
    ImageGenerator,
    ImageScorer,
    conv_same,
    conv_transpose_same,
    doublings,
    keras_batch_norm,
    keras_init_,
)


class KerasGenerator(ImageGenerator):
    """Dense(4·4·8b)+BN+LeakyReLU → reshape → Conv2DTranspose stages (BN, LeakyReLU) → tanh image in [-1, 1]."""

    def __init__(self, latent_dim: int = 100, *, image_size: int = 64, base_channels: int = 32, channels: int = 3,
                 kernel_size: int = 4, negative_slope: float = KERAS_LEAKY_SLOPE):
        super().__init__(latent_dim, image_size=image_size, channels=channels)
        stages = doublings(image_size, start=4, minimum=16, family="keras-gan")
        widths = [max(1, base_channels * 8 // 2**i) for i in range(stages)]  # 256, 128, 64, 32 at 64 px
        layers: list[nn.Module] = [
            nn.Linear(latent_dim, 4 * 4 * widths[0]),
            keras_batch_norm(4 * 4 * widths[0], dims=1),
            nn.LeakyReLU(negative_slope=negative_slope),
            nn.Unflatten(1, (widths[0], 4, 4)),
        ]
        for w_in, w_out in zip(widths, widths[1:]):
            layers += [conv_transpose_same(w_in, w_out, kernel_size, stride=2), keras_batch_norm(w_out, dims=2),
                       nn.LeakyReLU(negative_slope=negative_slope)]
        layers += [conv_transpose_same(widths[-1], channels, kernel_size, stride=2), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        keras_init_(self)


class KerasDiscriminator(ImageScorer):
    """Conv 32/64/128/256 (stride 2, LeakyReLU, Dropout, BatchNorm from the second) → Dense(1) logit."""

    def __init__(self, *, image_size: int = 64, base_channels: int = 32, channels: int = 3, kernel_size: int = 4,
                 negative_slope: float = KERAS_LEAKY_SLOPE, dropout: float = 0.3):
        super().__init__(image_size=image_size, channels=channels)
        doublings(image_size, start=1, minimum=16, family="keras-gan")
        widths = [base_channels * 2**i for i in range(4)]
        layers: list[nn.Module] = []
        for i, (w_in, w_out) in enumerate(zip([channels, *widths], widths)):
            layers.append(conv_same(w_in, w_out, kernel_size, stride=2))
            if i:
                layers.append(keras_batch_norm(w_out, dims=2))
            layers += [nn.LeakyReLU(negative_slope=negative_slope), nn.Dropout(p=dropout)]
        side = image_size // 16
        layers += [nn.Flatten(), nn.Linear(widths[-1] * side * side, 1)]
        self.main = nn.Sequential(*layers)
        keras_init_(self)


class KerasCritic(ImageScorer):
    """WGAN critic: Conv 32/64/64 (stride 2, LeakyReLU) → Dense(1) with a linear (unbounded) output."""

    def __init__(self, *, image_size: int = 64, base_channels: int = 32, channels: int = 3, kernel_size: int = 4,
                 negative_slope: float = KERAS_LEAKY_SLOPE):
        super().__init__(image_size=image_size, channels=channels)
        doublings(image_size, start=1, minimum=16, family="keras-wgan")
        widths = [base_channels, 2 * base_channels, 2 * base_channels]
        layers: list[nn.Module] = []
        for w_in, w_out in zip([channels, *widths], widths):
            layers += [conv_same(w_in, w_out, kernel_size, stride=2), nn.LeakyReLU(negative_slope=negative_slope)]
        side = image_size // 8
        layers += [nn.Flatten(), nn.Linear(widths[-1] * side * side, 1)]
        self.main = nn.Sequential(*layers)
        keras_init_(self)
