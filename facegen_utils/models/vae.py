"""Convolutional variational autoencoder of report 000 (notebook 01, anime faces, TensorFlow/Keras).

Kingma and Welling (2014), "Auto-Encoding Variational Bayes", with the report's Keras layers: encoder Conv 32/64/128
(stride 2, ReLU, BatchNorm) → Dense 256 (ReLU, BatchNorm) → ``z_mean`` and ``z_log_var`` of size 512 → the
reparameterisation ``z = mu + exp(logvar / 2) · eps``; decoder Dense 8·8·64 (ReLU, BatchNorm) → Conv2DTranspose
128/64/32 (stride 2, ReLU) → Conv2DTranspose 3 (3×3, sigmoid). Images are in [0, 1].

Keras defaults as in :mod:`facegen_utils.models.keras_style` (BatchNorm momentum 0.99, i.e. PyTorch 0.01, epsilon 1e-3,
"same" padding, Glorot-uniform weights); ``kernel_size`` is not printed by the report, so it is a parameter
(default 4). Widths scale with ``base_channels`` (32 in the report). Any image size that is a multiple of 8 works:
the three stride-2 stages meet at ``image_size / 8`` pixels (8×8 at 64 px).
"""
from __future__ import annotations

import torch
from torch import nn

from ._common import (
    ImageGenerator,
    check_images,
    check_multiple,
    conv_same,
    conv_transpose_same,
    keras_batch_norm,
    keras_init_,
)

FAMILY = "keras-vae"


class Encoder(nn.Module):
    """Images (N, C, S, S) → (mu, logvar), each (N, latent_dim)."""

    def __init__(self, latent_dim: int = 512, *, image_size: int = 64, base_channels: int = 32, channels: int = 3,
                 kernel_size: int = 4):
        super().__init__()
        check_multiple(image_size, of=8, family=FAMILY)
        widths = [base_channels, 2 * base_channels, 4 * base_channels]
        hidden = 8 * base_channels
        side = image_size // 8
        self.latent_dim = latent_dim
        self.image_size = image_size
        self.channels = channels
        self.input_shape = (channels, image_size, image_size)
        layers: list[nn.Module] = []
        for w_in, w_out in zip([channels, *widths], widths):
            layers += [conv_same(w_in, w_out, kernel_size, stride=2), nn.ReLU(), keras_batch_norm(w_out, dims=2)]
        layers += [nn.Flatten(), nn.Linear(widths[-1] * side * side, hidden), nn.ReLU(),
                   keras_batch_norm(hidden, dims=1)]
        self.features = nn.Sequential(*layers)
        self.z_mean = nn.Linear(hidden, latent_dim)
        self.z_log_var = nn.Linear(hidden, latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the posterior mean and log-variance for images x."""
        check_images(x, channels=self.channels, image_size=self.image_size)
        h = self.features(x)
        return self.z_mean(h), self.z_log_var(h)


class Decoder(ImageGenerator):
    """Latents (N, latent_dim) → images (N, C, S, S) in [0, 1]; the generator of the VAE."""

    def __init__(self, latent_dim: int = 512, *, image_size: int = 64, base_channels: int = 32, channels: int = 3,
                 kernel_size: int = 4):
        super().__init__(latent_dim, image_size=image_size, channels=channels)
        check_multiple(image_size, of=8, family=FAMILY)
        seed_channels = 2 * base_channels
        widths = [4 * base_channels, 2 * base_channels, base_channels]
        side = image_size // 8
        layers: list[nn.Module] = [
            nn.Linear(latent_dim, seed_channels * side * side),
            nn.ReLU(),
            keras_batch_norm(seed_channels * side * side, dims=1),
            nn.Unflatten(1, (seed_channels, side, side)),
        ]
        for w_in, w_out in zip([seed_channels, *widths], widths):
            layers += [conv_transpose_same(w_in, w_out, kernel_size, stride=2), nn.ReLU()]
        layers += [conv_transpose_same(widths[-1], channels, 3, stride=1), nn.Sigmoid()]
        self.main = nn.Sequential(*layers)


class ConvVAE(nn.Module):
    """The report's VAE: ``vae(x) -> (recon, mu, logvar)`` with ``encoder``, ``decoder`` and ``reparameterize``."""

    def __init__(self, latent_dim: int = 512, *, image_size: int = 64, base_channels: int = 32, channels: int = 3,
                 kernel_size: int = 4):
        super().__init__()
        options = dict(image_size=image_size, base_channels=base_channels, channels=channels, kernel_size=kernel_size)
        self.encoder = Encoder(latent_dim, **options)
        self.decoder = Decoder(latent_dim, **options)
        self.latent_dim = latent_dim
        self.image_size = image_size
        self.channels = channels
        self.input_shape = (channels, image_size, image_size)
        keras_init_(self)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior parameters (mu, logvar) of images x."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] decoded from latents z."""
        return self.decoder(z)

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """Sample z = mu + exp(logvar / 2) · eps with eps ~ N(0, I) (differentiable in mu and logvar)."""
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

    def forward(self, x: torch.Tensor, *,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encode, sample and decode: returns (reconstruction, mu, logvar)."""
        mu, logvar = self.encode(x)
        return self.decode(self.reparameterize(mu, logvar, generator)), mu, logvar
