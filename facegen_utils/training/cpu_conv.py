"""Weight gradients of small convolution layers as one matrix product, for training on the CPU.

oneDNN runs the forward pass and the input gradient of DCGAN's convolutions close to the CPU's matrix-product speed,
but its weight gradient reaches about half of it where one side of the layer has very few positions (the critic's
8×8 → 4×4 convolution, the generator's 4×4 → 8×8 transposed convolution). There the weight gradient is one product
of two small matrices: the output gradient (a row per image and position, channels last, so no copy) times the input
patches (a row per image and position, kernel taps and channels as columns), built a few images at a time
(``PATCH_BYTES``) so they are still in the cache when the product reads them; the partial products add up. That runs
close to the matrix-product rate: 1.3-2x faster than oneDNN for these layers (benchmarks/README.md).

:func:`gemm_weight_grad` switches a network's qualifying layers to :class:`GemmConv2d` / :class:`GemmConvTranspose2d`
for a block (the :class:`~facegen_utils.training.Trainer` does it around its CPU training steps): subclasses with the
same parameters, ``state_dict`` and oneDNN forward, whose backward differs only in the weight gradient's rounding;
outside the block they are plain ``nn.Conv2d`` / ``nn.ConvTranspose2d`` again. They take the plain path for anything
but float32 CPU tensors without autocast, and inside ``torch.compile``.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from facegen_utils.tensors import eval_mode

__all__ = ["MAX_POSITIONS", "PATCH_BYTES", "GemmConv2d", "GemmConvTranspose2d", "gemm_weight_grad", "plan",
           "qualifies", "weight_gradient"]

#: a layer qualifies when its small side (a convolution's output, a transposed convolution's input) has at most
#: this many positions per image: 4×4 in DCGAN-64; larger sides run faster in oneDNN (benchmarks/README.md)
MAX_POSITIONS = 16
#: the patches are built for as many images at a time as fit in this many bytes, so they stay in the cache
PATCH_BYTES = 8 * 2 ** 20


def _patches(x: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int],
             out_hw: tuple[int, int]) -> torch.Tensor:
    """The convolution patches of ``x`` as a matrix: rows (image, out row, out column), columns (tap row, tap
    column, channel), i.e. the layout of a channels-last weight."""
    n, c = x.shape[:2]
    (kh, kw), (sh, sw), (ph, pw), (oh, ow) = kernel, stride, padding, out_hw
    padded = (F.pad(x, (pw, pw, ph, ph)) if ph or pw else x).contiguous(memory_format=torch.channels_last)
    s_n, s_c, s_h, s_w = padded.stride()
    windows = padded.as_strided((n, oh, ow, kh, kw, c), (s_n, s_h * sh, s_w * sw, s_h, s_w, s_c))
    return windows.reshape(n * oh * ow, kh * kw * c)


def weight_gradient(x: torch.Tensor, grad: torch.Tensor, weight: torch.Tensor, stride: tuple[int, int],
                    padding: tuple[int, int], *, transposed: bool = False) -> torch.Tensor:
    """The gradient of a 2-D convolution's ``weight`` (groups 1, dilation 1) from its input ``x`` and the gradient
    ``grad`` of its output, as chunked matrix products; in the weight's memory format."""
    kernel = tuple(weight.shape[2:])
    # a transposed convolution's input plays a convolution's output, and its (larger) output the input
    small, large = (x, grad) if transposed else (grad, x)
    out_hw = tuple(small.shape[2:])
    row_bytes = kernel[0] * kernel[1] * large.shape[1] * large.element_size()
    chunk = max(1, PATCH_BYTES // (row_bytes * out_hw[0] * out_hw[1]))
    product = None
    for small_part, large_part in zip(small.split(chunk), large.split(chunk)):
        # (N, C, H, W) as a (C, N*H*W) matrix: a view of channels-last tensors, a copy otherwise
        rows = small_part.permute(0, 2, 3, 1).reshape(-1, small_part.shape[1]).t()
        patches = _patches(large_part, kernel, stride, padding, out_hw)
        product = rows @ patches if product is None else product.addmm_(rows, patches)
    result = product.view(weight.shape[0], kernel[0], kernel[1], -1).permute(0, 3, 1, 2)
    return result.contiguous() if weight.is_contiguous() else result


class _GemmConvFunction(torch.autograd.Function):
    """A 2-D convolution (or transposed convolution): oneDNN forward and input gradient, GEMM weight gradient."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: tuple[int, int],
                padding: tuple[int, int], output_padding: tuple[int, int] | None) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.conf = (stride, padding, output_padding, bias is not None)
        if output_padding is not None:  # transposed
            return F.conv_transpose2d(x, weight, bias, stride, padding, output_padding)
        return F.conv2d(x, weight, bias, stride, padding)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        stride, padding, output_padding, has_bias = ctx.conf
        transposed = output_padding is not None
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.ops.aten.convolution_backward(
                grad, x, weight, None, list(stride), list(padding), [1, 1], transposed,
                list(output_padding or (0, 0)), 1, [True, False, False])[0]
        if ctx.needs_input_grad[1]:
            grad_w = weight_gradient(x, grad, weight, stride, padding, transposed=transposed)
        if has_bias and ctx.needs_input_grad[2]:
            grad_b = grad.sum((0, 2, 3))
        return grad_x, grad_w, grad_b, None, None, None


def _plain_path(x: torch.Tensor) -> bool:
    return (x.device.type != "cpu" or x.dtype != torch.float32 or torch.is_autocast_enabled("cpu")
            or torch.compiler.is_compiling())


class GemmConv2d(nn.Conv2d):
    """nn.Conv2d whose weight gradient is one matrix product (see the module docstring)."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if _plain_path(input) or self.padding_mode != "zeros":
            return super().forward(input)
        return _GemmConvFunction.apply(input, self.weight, self.bias, self.stride, self.padding, None)

    def _get_name(self) -> str:
        return "Conv2d"


class GemmConvTranspose2d(nn.ConvTranspose2d):
    """nn.ConvTranspose2d whose weight gradient is one matrix product (see the module docstring)."""

    def forward(self, input: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if _plain_path(input) or output_size is not None:
            return super().forward(input, output_size)
        return _GemmConvFunction.apply(input, self.weight, self.bias, self.stride, self.padding, self.output_padding)

    def _get_name(self) -> str:
        return "ConvTranspose2d"


_SWAPS = {nn.Conv2d: GemmConv2d, nn.ConvTranspose2d: GemmConvTranspose2d}


def qualifies(layer: nn.Module, input_hw: tuple[int, int]) -> bool:
    """Whether the GEMM weight gradient is used for ``layer`` when its input is ``input_hw`` pixels."""
    if (type(layer) not in _SWAPS or layer.groups != 1 or layer.dilation != (1, 1) or layer.padding_mode != "zeros"
            or isinstance(layer.padding, str)):  # padding "same"/"valid": resolved by the plain path only
        return False
    small = input_hw if isinstance(layer, nn.ConvTranspose2d) else tuple(
        (size + 2 * p - k) // s + 1 for size, p, k, s in zip(input_hw, layer.padding, layer.kernel_size, layer.stride))
    return small[0] * small[1] <= MAX_POSITIONS


def _input_sizes(network: nn.Module, example: torch.Tensor) -> dict[nn.Module, tuple[int, int]]:
    """The input height and width of every 2-D convolution layer for one forward pass of ``example``."""
    sizes: dict[nn.Module, tuple[int, int]] = {}

    def record(layer: nn.Module, args: tuple[Any, ...]) -> None:
        sizes[layer] = tuple(args[0].shape[-2:])
    hooks = [layer.register_forward_pre_hook(record) for layer in network.modules() if type(layer) in _SWAPS]
    try:
        with torch.no_grad():
            network(example)
    finally:
        for hook in hooks:
            hook.remove()
    return sizes


def plan(network: nn.Module, example: torch.Tensor) -> list[nn.Module]:
    """The layers of ``network`` that qualify when it runs on inputs like ``example`` (a batch of 1 or 2 is
    enough; the network is run once in eval mode under ``no_grad``)."""
    with eval_mode(network), torch.random.fork_rng(devices=[]):  # a VAE samples even in eval mode: keep the stream
        sizes = _input_sizes(network, example)
    return [layer for layer, hw in sizes.items() if qualifies(layer, hw)]


@contextmanager
def gemm_weight_grad(layers: list[nn.Module]) -> Iterator[None]:
    """Run the block with ``layers`` (from :func:`plan`) computing their weight gradients as one GEMM."""
    swapped = [layer for layer in layers if type(layer) in _SWAPS]  # a nested block leaves swapped layers alone
    originals = [type(layer) for layer in swapped]
    for layer in swapped:
        layer.__class__ = _SWAPS[type(layer)]
    try:
        yield
    finally:
        for layer, original in zip(swapped, originals):
            layer.__class__ = original
