"""The CPU's GEMM weight gradient for small convolution layers: same values, same modules, switched on and off."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from facegen_utils import models
from facegen_utils.training import TrainConfig, Trainer, cpu_conv

LAYERS = [  # (layer, input channels and size): strides, paddings, bias, output padding, 1x1 and 4x4 small sides
    (lambda: nn.Conv2d(16, 24, 4, 2, 1, bias=False), (16, 8)),
    (lambda: nn.Conv2d(16, 24, 3, 1, 1, bias=True), (16, 4)),
    (lambda: nn.Conv2d(32, 1, 4, 1, 0, bias=False), (32, 4)),
    (lambda: nn.Conv2d(8, 12, (3, 2), (2, 1), (1, 0), bias=True), (8, 7)),
    (lambda: nn.ConvTranspose2d(24, 16, 4, 2, 1, bias=False), (24, 4)),
    (lambda: nn.ConvTranspose2d(20, 32, 4, 1, 0, bias=False), (20, 1)),
    (lambda: nn.ConvTranspose2d(12, 8, 3, 2, 1, output_padding=1, bias=True), (12, 3)),
]


def _grads(layer: nn.Module, x: torch.Tensor, g: torch.Tensor) -> list[torch.Tensor]:
    layer.zero_grad(set_to_none=True)
    x = x.detach().requires_grad_(True)
    out = layer(x)
    out.backward(g)
    return [out.detach(), x.grad, *(p.grad for p in layer.parameters())]


@pytest.mark.parametrize("patch_bytes", [cpu_conv.PATCH_BYTES, 1])  # 1: one image per chunk, partial sums add up
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("make, shape", LAYERS)
def test_gemm_weight_gradient_matches_the_plain_layer(make, shape, channels_last, patch_bytes, monkeypatch):
    monkeypatch.setattr(cpu_conv, "PATCH_BYTES", patch_bytes)
    torch.manual_seed(0)
    layer = make()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    layer = layer.to(memory_format=fmt)
    channels, size = shape
    x = torch.randn(5, channels, size, size).contiguous(memory_format=fmt)
    g = torch.randn_like(layer(x))
    plain = _grads(layer, x, g)
    with cpu_conv.gemm_weight_grad([layer]):
        assert type(layer) in (cpu_conv.GemmConv2d, cpu_conv.GemmConvTranspose2d)
        gemm = _grads(layer, x, g)
        assert "GemmConv" in layer(x.detach().requires_grad_(True)).grad_fn.name()  # the custom backward runs
    for a, b in zip(plain, gemm):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
    assert gemm[2].stride() == layer.weight.stride()  # Adam's fused kernel gets the weight's own layout


@pytest.mark.parametrize("make, shape", [LAYERS[0], LAYERS[4], LAYERS[6]])
def test_gemm_weight_gradient_passes_gradcheck(make, shape):
    torch.manual_seed(0)
    layer = make().double()
    channels, size = shape
    x = torch.randn(2, channels, size, size, dtype=torch.float64, requires_grad=True)
    transposed = isinstance(layer, nn.ConvTranspose2d)
    args = (layer.stride, layer.padding, layer.output_padding if transposed else None)

    def f(inp, weight, bias):
        return cpu_conv._GemmConvFunction.apply(inp, weight, bias, *args)

    weight = layer.weight.detach().requires_grad_(True)
    bias = None if layer.bias is None else layer.bias.detach().requires_grad_(True)
    assert torch.autograd.gradcheck(f, (x, weight, bias))


def test_frozen_weights_and_inputs_without_gradients_are_skipped():
    torch.manual_seed(0)
    layer = nn.Conv2d(8, 16, 4, 2, 1, bias=False)
    x = torch.randn(3, 8, 8, 8)
    with cpu_conv.gemm_weight_grad([layer]):
        layer.requires_grad_(False)
        xg = x.clone().requires_grad_(True)
        layer(xg).sum().backward()  # only the input gradient (a generator step through a frozen critic)
        assert xg.grad is not None and layer.weight.grad is None
        layer.requires_grad_(True)
        layer(x).sum().backward()  # only the weight gradient (the critic's first layer)
        assert layer.weight.grad is not None


def test_plain_path_for_other_dtypes_and_autocast():
    layer = nn.Conv2d(4, 8, 4, 2, 1)
    with cpu_conv.gemm_weight_grad([layer]):
        out = layer.double()(torch.randn(2, 4, 8, 8, dtype=torch.float64))
        assert "Convolution" in out.grad_fn.name()
        layer.float()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert "Convolution" in layer(torch.randn(2, 4, 8, 8)).grad_fn.name()
        assert "Convolution" not in layer(torch.randn(2, 4, 8, 8)).grad_fn.name()


def test_dcgan_plan_picks_the_layers_with_a_4x4_side_and_the_block_restores_them():
    model_set = models.build("dcgan", image_size=64)
    G_layers = cpu_conv.plan(model_set.G, torch.zeros(2, model_set.latent_dim))
    D_layers = cpu_conv.plan(model_set.D, torch.zeros(2, 3, 64, 64))
    assert [(l.in_channels, l.out_channels) for l in G_layers] == [(100, 512), (512, 256)]
    assert [(l.in_channels, l.out_channels) for l in D_layers] == [(256, 512), (512, 1)]
    keys, text = list(model_set.G.state_dict()), repr(model_set.G)
    with pytest.raises(RuntimeError, match="inside"):
        with cpu_conv.gemm_weight_grad(G_layers):
            with cpu_conv.gemm_weight_grad(G_layers):  # nesting leaves them swapped
                assert all(type(l) is cpu_conv.GemmConvTranspose2d for l in G_layers)
            assert all(type(l) is cpu_conv.GemmConvTranspose2d for l in G_layers)
            assert list(model_set.G.state_dict()) == keys and repr(model_set.G) == text
            copy.deepcopy(model_set.G)
            raise RuntimeError("inside")
    assert all(type(l) is nn.ConvTranspose2d for l in G_layers)


def test_qualifies_follows_the_small_side():
    assert cpu_conv.qualifies(nn.Conv2d(8, 8, 4, 2, 1), (8, 8))        # 8x8 -> 4x4
    assert not cpu_conv.qualifies(nn.Conv2d(8, 8, 4, 2, 1), (16, 16))  # 16x16 -> 8x8
    assert cpu_conv.qualifies(nn.ConvTranspose2d(8, 8, 4, 2, 1), (4, 4))
    assert not cpu_conv.qualifies(nn.ConvTranspose2d(8, 8, 4, 2, 1), (8, 8))
    assert not cpu_conv.qualifies(nn.Conv2d(8, 8, 3, 1, 1, groups=2), (4, 4))
    assert not cpu_conv.qualifies(nn.Conv2d(8, 8, 3, 1, 2, dilation=2), (4, 4))
    assert not cpu_conv.qualifies(nn.Conv2d(8, 8, 3, padding="same"), (4, 4))
    assert not cpu_conv.qualifies(nn.Linear(8, 8), (4, 4))


@pytest.mark.usefixtures("one_thread")
def test_trainer_uses_it_on_the_cpu_and_trains_like_the_plain_layers(tiny_faces):
    def run(enabled: bool) -> tuple[Trainer, list[type]]:
        torch.manual_seed(0)
        trainer = Trainer(models.build("dcgan", image_size=16), tiny_faces,
                          TrainConfig(epochs=1, batch_size=16, seed=3, sample_every=0, cpu_gemm_grad=enabled))
        seen: list[type] = []
        trainer.on("on_step_end", lambda t: seen.extend(type(l) for l in t._gemm_layers))
        trainer.fit()
        return trainer, seen

    fast, seen = run(True)
    plain, _ = run(False)
    assert fast._gemm_layers and not plain._gemm_layers
    assert cpu_conv.GemmConv2d in seen and cpu_conv.GemmConvTranspose2d in seen
    assert {type(l) for l in fast._gemm_layers} <= {nn.Conv2d, nn.ConvTranspose2d}  # restored after fit
    for a, b in zip(fast.models.G.parameters(), plain.models.G.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(torch.tensor(fast.history["loss_D"].to_numpy()),
                               torch.tensor(plain.history["loss_D"].to_numpy()), rtol=1e-3, atol=1e-4)


def test_trainer_leaves_it_off_where_it_does_not_apply(tiny_faces):
    for overrides in ({"amp": "bf16"}, {"cpu_gemm_grad": False}):
        trainer = Trainer(models.build("dcgan", image_size=16), tiny_faces,
                          TrainConfig(epochs=1, batch_size=16, sample_every=0, **overrides))
        assert trainer._gemm_layers == []
    mlp = Trainer(models.build("mlp-gan", image_size=16), tiny_faces, TrainConfig(epochs=1, batch_size=16))
    assert mlp._gemm_layers == []
