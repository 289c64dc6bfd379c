"""Building blocks shared by the model families: Keras defaults, "same" padding, shape checks, base classes."""
from __future__ import annotations

import math

import torch
from torch import nn

#: Keras ``LeakyReLU()`` default slope (``alpha=0.3``); PyTorch's own default is 0.01.
KERAS_LEAKY_SLOPE = 0.3
#: Keras ``BatchNormalization()`` defaults in PyTorch terms: Keras momentum 0.99 is PyTorch momentum 0.01
#: (PyTorch weights the *new* batch statistic by ``momentum``), Keras epsilon is 1e-3.
KERAS_BATCH_NORM = {"momentum": 0.01, "eps": 1e-3}


def keras_batch_norm(num_features: int, *, dims: int) -> nn.Module:
    """BatchNorm1d/2d with the Keras default momentum and epsilon, passed by keyword."""
    layer = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d}[dims]
    return layer(num_features, **KERAS_BATCH_NORM)


def keras_init_(module: nn.Module) -> nn.Module:
    """Re-initialise like Keras: Glorot-uniform weights, zero biases for Dense/Conv/ConvTranspose layers."""
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return module


def same_padding(kernel_size: int, stride: int) -> tuple[int, int]:
    """Symmetric padding and output padding that give Keras "same" shapes (out = in·stride or in/stride)."""
    padding = max(0, math.ceil((kernel_size - stride) / 2))
    output_padding = 2 * padding - (kernel_size - stride)
    if output_padding >= stride:
        raise ValueError(f"kernel_size={kernel_size} with stride={stride} cannot keep 'same' shapes symmetrically: "
                         "use an odd kernel_size for stride 1.")
    return padding, output_padding


def conv_same(in_channels: int, out_channels: int, kernel_size: int, *, stride: int) -> nn.Conv2d:
    """Conv2d with bias whose output is ``ceil(in / stride)`` like Keras ``padding="same"`` (even inputs)."""
    if stride == 1:
        return nn.Conv2d(in_channels, out_channels, kernel_size, padding="same")
    padding, _ = same_padding(kernel_size, stride)
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding)


def conv_transpose_same(in_channels: int, out_channels: int, kernel_size: int, *, stride: int) -> nn.ConvTranspose2d:
    """ConvTranspose2d with bias whose output is ``in · stride`` like Keras ``padding="same"``."""
    padding, output_padding = same_padding(kernel_size, stride)
    return nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                              output_padding=output_padding)


def doublings(image_size: int, *, start: int, minimum: int, family: str) -> int:
    """Number of ×2 stages from ``start`` pixels to ``image_size``; a clear error if it is not a power-of-two step."""
    if isinstance(image_size, int) and image_size >= minimum and image_size % start == 0:
        ratio = image_size // start
        if ratio & (ratio - 1) == 0:
            return ratio.bit_length() - 1
    sizes = ", ".join(str(minimum * 2**i) for i in range(4))
    raise ValueError(f"image_size={image_size!r} is not supported by {family!r}: use a power of two >= {minimum} "
                     f"({sizes}, ...) and resize the dataset to it (datasets.get(..., image_size=...)).")


def check_multiple(image_size: int, *, of: int, family: str) -> None:
    """Raise a clear ValueError unless ``image_size`` is a positive multiple of ``of``."""
    if not isinstance(image_size, int) or image_size < of or image_size % of:
        raise ValueError(f"image_size={image_size!r} is not supported by {family!r}: use a positive multiple of {of} "
                         f"(for example {of * 4} or {of * 8}).")


def as_latent_matrix(z: torch.Tensor, latent_dim: int) -> torch.Tensor:
    """Accept z of shape (N, latent_dim) or (N, latent_dim, 1, 1) and return (N, latent_dim)."""
    if z.dim() == 4 and z.shape[2:] == (1, 1):
        z = z.flatten(1)
    if z.dim() != 2 or z.shape[1] != latent_dim:
        raise ValueError(f"the generator expects z of shape (N, {latent_dim}) or (N, {latent_dim}, 1, 1), "
                         f"got {tuple(z.shape)}; sample it with latent_dim={latent_dim}.")
    return z


def check_images(x: torch.Tensor, *, channels: int, image_size: int) -> None:
    """Raise a clear ValueError unless x is a batch of (channels, image_size, image_size) images."""
    if x.dim() != 4 or tuple(x.shape[1:]) != (channels, image_size, image_size):
        raise ValueError(f"expected images of shape (N, {channels}, {image_size}, {image_size}), "
                         f"got {tuple(x.shape)}; build the model with "
                         f"image_size={x.shape[-1] if x.dim() == 4 else '...'} or resize the data.")


class MinibatchStd(nn.Module):
    """One extra feature map (or feature, for (N, F) inputs): how much a group of ``group`` images differs (Karras
    et al. 2018, "Progressive Growing of GANs", section 3).

    The standard deviation of every feature over the images of a group, averaged over features and pixels, is
    appended to each image of the group as a constant map, so a critic can tell a batch of near-identical images
    from a varied one and the generator is pushed towards the data's spread. A batch that does not split into groups
    of ``group`` gets a map of zeros.
    """

    def __init__(self, group: int = 4):
        super().__init__()
        if group < 2:
            raise ValueError(f"minibatch_std={group}: the group size must be at least 2 (0 turns the feature off)")
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        if n % self.group:
            return torch.cat([x, x.new_zeros(n, 1, *x.shape[2:])], 1)
        groups = x.view(n // self.group, self.group, *x.shape[1:])
        spread = (groups.var(dim=1, unbiased=False) + 1e-8).sqrt().mean(dim=tuple(range(1, x.dim())))
        ones = (1,) * (x.dim() - 2)
        return torch.cat([x, spread.repeat_interleave(self.group).view(n, 1, *ones).expand(n, 1, *x.shape[2:])], 1)

    def extra_repr(self) -> str:
        return f"group={self.group}"


class ImageGenerator(nn.Module):
    """Base of the generators that map latents (N, latent_dim) through ``self.main`` to images (N, C, S, S)."""

    def __init__(self, latent_dim: int, *, image_size: int, channels: int):
        super().__init__()
        self.latent_dim = latent_dim
        self.image_size = image_size
        self.channels = channels
        self.input_shape = (latent_dim,)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Map z of shape (N, latent_dim) or (N, latent_dim, 1, 1) to images (N, channels, size, size)."""
        return self.main(as_latent_matrix(z, self.latent_dim))


class ImageScorer(nn.Module):
    """Base of the discriminators and critics that score images (N, C, S, S) through ``self.main``."""

    def __init__(self, *, image_size: int, channels: int):
        super().__init__()
        self.image_size = image_size
        self.channels = channels
        self.input_shape = (channels, image_size, image_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Score images (N, channels, size, size): one value (logit, probability or critic value) per image, (N,)."""
        check_images(x, channels=self.channels, image_size=self.image_size)
        return self.main(x).view(-1)

    @torch.no_grad()
    def add_minibatch_std(self, group: int) -> "ImageScorer":
        """Insert a :class:`MinibatchStd` map before the last Linear or Conv2d layer of ``self.main`` (and before the
        Flatten that feeds a Linear one; a final activation such as the report's Sigmoid stays last).

        The last layer gains inputs for the map with weights of zero, so the scorer's outputs, and its other
        weights, stay what they were: a network built with the option starts as the one built without it.
        """
        layers = list(self.main)
        end = max(i for i, m in enumerate(layers) if isinstance(m, (nn.Linear, nn.Conv2d)))
        body, last, tail = layers[:end], layers[end], layers[end + 1:]
        flatten = [body.pop()] if isinstance(body[-1], nn.Flatten) else []
        if isinstance(last, nn.Conv2d):
            width = last.in_channels
            wider = nn.Conv2d(width + 1, last.out_channels, last.kernel_size, stride=last.stride,
                              padding=last.padding, bias=last.bias is not None, device=last.weight.device)
            kept = wider.weight[:, :width]
        else:
            width = next(m.out_channels if isinstance(m, nn.Conv2d) else m.out_features
                         for m in reversed(body) if isinstance(m, (nn.Conv2d, nn.Linear)))
            pixels = last.in_features // width
            wider = nn.Linear((width + 1) * pixels, last.out_features, bias=last.bias is not None,
                              device=last.weight.device)
            kept = wider.weight.view(last.out_features, width + 1, pixels)[:, :width]
        wider.weight.zero_()
        kept.copy_(last.weight.view(kept.shape))
        if last.bias is not None:
            wider.bias.copy_(last.bias)
        self.main = nn.Sequential(*body, MinibatchStd(group), *flatten, wider, *tail)
        return self
