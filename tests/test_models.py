"""Model zoo: the reports' parameter counts and printed modules, shapes at every size, init, summary, checkpoints."""
from __future__ import annotations

import math
import re

import pytest
import torch
from torch import nn

from facegen_utils import models
from facegen_utils.models import ArchitectureMismatchError

# Seed 004 (report 004) prints the PyTorch-tutorial DCGAN exactly like this.
SEED_004_GENERATOR = """
Generator(
  (main): Sequential(
    (0): ConvTranspose2d(100, 512, kernel_size=(4, 4), stride=(1, 1), bias=False)
    (1): BatchNorm2d(512, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
    (2): ReLU(inplace=True)
    (3): ConvTranspose2d(512, 256, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), bias=False)
    (4): BatchNorm2d(256, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
    (5): ReLU(inplace=True)
    (6): ConvTranspose2d(256, 128, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), bias=False)
    (7): BatchNorm2d(128, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
    (8): ReLU(inplace=True)
    (9): ConvTranspose2d(128, 64, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), bias=False)
    (10): BatchNorm2d(64, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
    (11): ReLU(inplace=True)
    (12): ConvTranspose2d(64, 3, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), bias=False)
    (13): Tanh()
  )
)
"""
SEED_004_DISCRIMINATOR = """
Discriminator(
  (main): Sequential(
    (0): Conv2d(3, 64, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), bias=False)
    (1): LeakyReLU(negative_slope=0.2, inplace=True)
    (2): Conv2d(64, 128, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), bias=False)
    (3): BatchNorm2d(128, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
    (4): LeakyReLU(negative_slope=0.2, inplace=True)
    (5): Conv2d(128, 256, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), bias=False)
    (6): BatchNorm2d(256, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
    (7): LeakyReLU(negative_slope=0.2, inplace=True)
    (8): Conv2d(256, 512, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), bias=False)
    (9): BatchNorm2d(512, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
    (10): LeakyReLU(negative_slope=0.2, inplace=True)
    (11): Conv2d(512, 1, kernel_size=(4, 4), stride=(1, 1), bias=False)
    (12): Sigmoid()
  )
)
"""
# Seed 002's Keras summary of the generator: per-layer "Param #" and the totals.
SEED_002_GENERATOR_PARAMS = [16_781_312, 0, 16_384, 0, 0, 51_328, 0, 512, 0, 9_603, 0]
SIZES = (16, 32, 64, 128)


def _printed(text: str) -> list[str]:
    """Module lines of a printed model, ignoring the ``bias=True`` BatchNorm field newer PyTorch releases print."""
    return [line.strip().replace(", bias=True, track", ", track") for line in text.strip().splitlines()]


def _n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def dcgan() -> models.ModelSet:
    torch.manual_seed(0)
    return models.build("dcgan")


@pytest.fixture(scope="module")
def mlp_gan() -> models.ModelSet:
    torch.manual_seed(0)
    return models.build("mlp-gan")


# --- registry --------------------------------------------------------------------------------------------------------


def test_names_in_notebook_order() -> None:
    assert models.names() == ["dcgan", "keras-gan", "keras-wgan", "keras-vae", "mlp-wgan-gp", "mlp-gan", "ddpm-unet",
                             "cdcgan"]


@pytest.mark.parametrize(
    ("name", "latent_dim", "value_range"),
    [("dcgan", 100, (-1.0, 1.0)), ("keras-gan", 100, (-1.0, 1.0)), ("keras-wgan", 100, (-1.0, 1.0)),
     ("keras-vae", 512, (0.0, 1.0)), ("mlp-wgan-gp", 100, (-1.0, 1.0)), ("mlp-gan", 4096, (-1.0, 1.0))],
)
def test_build_defaults(name: str, latent_dim: int, value_range: tuple[float, float]) -> None:
    ms = models.build(name, image_size=16)
    assert (ms.name, ms.latent_dim, ms.value_range, ms.image_size) == (name, latent_dim, value_range, 16)
    assert ms.G.latent_dim == latent_dim
    if name == "keras-vae":
        assert ms.D is None and ms.G is ms.vae.decoder and set(ms.modules()) == {"vae"}
    else:
        assert ms.vae is None and set(ms.modules()) == {"G", "D"}
    rebuilt = models.build(**ms.config())
    assert {k: v.shape for k, v in rebuilt.G.state_dict().items()} == {k: v.shape for k, v in ms.G.state_dict().items()}


def test_build_rejects_unknown_name_listing_the_names() -> None:
    with pytest.raises(ValueError, match="unknown model 'stylegan'.*dcgan.*mlp-gan"):
        models.build("stylegan")


def test_build_rejects_unknown_option_naming_it() -> None:
    with pytest.raises(TypeError, match="'ngf'.*base_channels"):
        models.build("dcgan", ngf=32)
    with pytest.raises(TypeError, match="'dropout'"):
        models.build("keras-wgan", dropout=0.5)


@pytest.mark.parametrize("latent_dim", [0, -3, 2.5, True])
def test_build_rejects_bad_latent_dim(latent_dim: object) -> None:
    with pytest.raises(ValueError, match="latent_dim"):
        models.build("dcgan", latent_dim=latent_dim)


@pytest.mark.parametrize(("name", "image_size"), [("dcgan", 48), ("dcgan", 8), ("keras-gan", 96), ("keras-wgan", 8),
                                                  ("keras-vae", 20), ("mlp-gan", 30), ("mlp-wgan-gp", 0)])
def test_unsupported_image_size_is_a_clear_error(name: str, image_size: int) -> None:
    with pytest.raises(ValueError, match=f"image_size={image_size} is not supported by"):
        models.build(name, image_size=image_size)


def test_options_lists_defaults() -> None:
    assert models.options("dcgan") == {"base_channels": 64, "channels": 3, "sigmoid": False, "minibatch_std": 0,
                                       "noise_inputs": False}
    assert models.options("keras-gan")["kernel_size"] == 4
    assert models.options("keras-gan")["negative_slope"] == 0.3


# --- the reports' numbers ------------------------------------------------------------------------------------------


def test_dcgan_parameter_counts(dcgan: models.ModelSet) -> None:
    assert _n_params(dcgan.G) == 3_576_704
    assert _n_params(dcgan.D) == 2_765_568


def test_dcgan_prints_as_in_report_004(dcgan: models.ModelSet) -> None:
    assert _printed(str(dcgan.G)) == _printed(SEED_004_GENERATOR)
    with_sigmoid = models.Discriminator(sigmoid=True)
    assert _printed(str(with_sigmoid)) == _printed(SEED_004_DISCRIMINATOR)
    assert _printed(str(dcgan.D)) == [line for line in _printed(SEED_004_DISCRIMINATOR) if line != "(12): Sigmoid()"]


def test_mlp_wgan_gp_parameter_counts() -> None:
    ms = models.build("mlp-wgan-gp")
    assert _n_params(ms.G) == 13_277_952
    assert _n_params(ms.D) == 13_240_321
    assert [m.out_features for m in ms.G.modules() if isinstance(m, nn.Linear)] == [256, 512, 1024, 12288]
    assert [m.out_features for m in ms.D.modules() if isinstance(m, nn.Linear)] == [1024, 512, 256, 1]
    assert {m.negative_slope for m in ms.D.modules() if isinstance(m, nn.LeakyReLU)} == {0.01}
    assert not any(isinstance(m, (nn.Sigmoid, nn.BatchNorm1d, nn.Dropout)) for m in ms.D.modules())


def test_mlp_gan_parameter_counts(mlp_gan: models.ModelSet) -> None:
    statistics = sum(b.numel() for name, b in mlp_gan.G.named_buffers()
                     if name.endswith(("running_mean", "running_var")))
    assert _n_params(mlp_gan.G) == 16_850_691
    assert statistics == 8_448
    assert _n_params(mlp_gan.D) == 6_423_553
    linear = mlp_gan.G.main[0]
    assert (linear.in_features, linear.out_features) == (4096, 4096)


def test_summary_reproduces_report_002_tables(mlp_gan: models.ModelSet) -> None:
    df = models.summary(mlp_gan.G)
    assert list(df.columns) == ["layer", "type", "output shape", "params", "trainable"]
    assert df["params"].tolist() == SEED_002_GENERATOR_PARAMS
    assert df.attrs["total"] == 16_859_139
    assert df.attrs["trainable"] == 16_850_691
    assert df.attrs["non_trainable"] == 8_448
    assert df["output shape"].iloc[3] == (None, 16, 16, 16)
    assert df["output shape"].iloc[-1] == (None, 3, 64, 64)
    text = models.format_summary(df)
    for line in ("Total params: 16,859,139", "Trainable params: 16,850,691", "Non-trainable params: 8,448"):
        assert line in text
    d = models.summary(mlp_gan.D)
    assert d["params"].tolist() == [0, 6_291_968, 0, 131_328, 0, 257]
    assert (d.attrs["total"], d.attrs["non_trainable"]) == (6_423_553, 0)


def test_summary_of_dcgan_counts_batchnorm_statistics_as_non_trainable(dcgan: models.ModelSet) -> None:
    g = models.summary(dcgan.G)
    assert g.attrs["trainable"] == 3_576_704
    assert g.attrs["non_trainable"] == 2 * (512 + 256 + 128 + 64)
    assert g.attrs["total"] == 3_576_704 + 1_920
    assert g["output shape"].iloc[-1] == (None, 3, 64, 64)
    d = models.summary(dcgan.D)
    assert d.attrs["trainable"] == 2_765_568 and d["output shape"].iloc[-1] == (None, 1, 1, 1)


def test_summary_leaves_the_model_untouched() -> None:
    G = models.build("dcgan", image_size=16, base_channels=4).G
    G.main[1].eval()
    before = {k: v.clone() for k, v in G.state_dict().items()}
    models.summary(G, (100,))
    models.summary(G, torch.randn(3, 100))
    assert G.training and not G.main[1].training
    assert all(torch.equal(before[k], v) for k, v in G.state_dict().items())


def test_summary_needs_an_input_shape_for_foreign_models() -> None:
    with pytest.raises(ValueError, match="input_size"):
        models.summary(nn.Sequential(nn.Linear(3, 2)))
    assert models.summary(nn.Sequential(nn.Linear(3, 2)), (3,)).attrs["total"] == 8


def test_summary_of_the_vae_shows_both_halves() -> None:
    df = models.summary(models.build("keras-vae").vae)
    assert df["layer"].iloc[0].startswith("encoder.") and df["layer"].iloc[-1].startswith("decoder.")
    assert (None, 512) in df["output shape"].tolist()
    assert df["output shape"].iloc[-1] == (None, 3, 64, 64)


# --- shapes at every size ------------------------------------------------------------------------------------------


def _forward_all(ms: models.ModelSet, device: str = "cpu") -> None:
    size, n = ms.image_size, 2
    z = torch.randn(n, ms.latent_dim, device=device)
    x = ms.G(z)
    assert x.shape == (n, 3, size, size)
    assert ms.G(z[:, :, None, None]).shape == (n, 3, size, size)
    if ms.vae is not None:
        recon, mu, logvar = ms.vae(x)
        assert recon.shape == x.shape and mu.shape == logvar.shape == (n, ms.latent_dim)
    else:
        assert ms.D(x).shape == (n,)
    if device == "cpu":
        lo, hi = ms.value_range
        assert lo <= x.min().item() and x.max().item() <= hi


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", ["dcgan", "keras-gan", "keras-wgan", "keras-vae"])
def test_forward_shapes_convolutional(name: str, size: int) -> None:
    _forward_all(models.build(name, image_size=size))


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", ["mlp-wgan-gp", "mlp-gan"])
def test_forward_shapes_fully_connected(name: str, size: int) -> None:
    if size == 128:  # 50-67 M parameters: check the shapes on the meta device without allocating them
        with torch.device("meta"):
            _forward_all(models.build(name, image_size=size), device="meta")
    else:
        _forward_all(models.build(name, image_size=size))


@pytest.mark.parametrize(("name", "size", "stages"), [("dcgan", 16, 3), ("dcgan", 32, 4), ("dcgan", 64, 5),
                                                      ("dcgan", 128, 6), ("keras-gan", 32, 3), ("keras-gan", 128, 5)])
def test_image_size_adds_or_removes_generator_stages(name: str, size: int, stages: int) -> None:
    ms = models.build(name, image_size=size)
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in ms.G.modules()) == stages


def test_dcgan_at_32_drops_the_widest_stage() -> None:
    ms = models.build("dcgan", image_size=32)
    assert [m.out_channels for m in ms.G.modules() if isinstance(m, nn.ConvTranspose2d)] == [256, 128, 64, 3]
    assert [m.out_channels for m in ms.D.modules() if isinstance(m, nn.Conv2d)] == [64, 128, 256, 1]


def test_base_channels_scales_the_widths() -> None:
    small = models.build("dcgan", base_channels=16)
    assert [m.out_channels for m in small.G.modules() if isinstance(m, nn.ConvTranspose2d)] == [128, 64, 32, 16, 3]
    keras = models.build("keras-gan", base_channels=8)
    assert [m.out_channels for m in keras.D.modules() if isinstance(m, nn.Conv2d)] == [8, 16, 32, 64]


@pytest.mark.parametrize("kernel_size", [3, 4, 5])
def test_keras_kernel_size_keeps_the_shapes(kernel_size: int) -> None:
    for name in ("keras-gan", "keras-wgan", "keras-vae"):
        ms = models.build(name, image_size=32, kernel_size=kernel_size, base_channels=4)
        _forward_all(ms)
        kernels = {m.kernel_size for net in ms.modules().values() for m in net.modules()
                   if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))}
        assert kernels == ({(kernel_size, kernel_size), (3, 3)} if name == "keras-vae" else {(kernel_size,) * 2})


def test_report_000_architecture() -> None:
    ms = models.build("keras-gan")
    assert ms.G.main[0].out_features == 4 * 4 * 256
    assert [m.out_channels for m in ms.G.modules() if isinstance(m, nn.ConvTranspose2d)] == [128, 64, 32, 3]
    assert isinstance(ms.G.main[-1], nn.Tanh)
    assert [m.out_channels for m in ms.D.modules() if isinstance(m, nn.Conv2d)] == [32, 64, 128, 256]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in ms.D.modules()) == 3
    assert {m.p for m in ms.D.modules() if isinstance(m, nn.Dropout)} == {0.3}
    critic = models.build("keras-wgan").D
    assert [m.out_channels for m in critic.modules() if isinstance(m, nn.Conv2d)] == [32, 64, 64]
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.Dropout, nn.Sigmoid)) for m in critic.modules())
    for module in (ms.G, ms.D, critic):
        assert {m.negative_slope for m in module.modules() if isinstance(m, nn.LeakyReLU)} == {0.3}
    for bn in (m for m in ms.G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)):
        assert (bn.momentum, bn.eps) == (0.01, 1e-3)


def test_report_000_vae_architecture() -> None:
    vae = models.build("keras-vae").vae
    assert [m.out_channels for m in vae.encoder.modules() if isinstance(m, nn.Conv2d)] == [32, 64, 128]
    assert vae.encoder.z_mean.out_features == vae.encoder.z_log_var.out_features == 512
    assert vae.encoder.z_mean.in_features == 256
    assert vae.decoder.main[0].out_features == 8 * 8 * 64
    convt = [m for m in vae.decoder.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [m.out_channels for m in convt] == [128, 64, 32, 3]
    assert convt[-1].kernel_size == (3, 3) and convt[-1].stride == (1, 1)
    assert isinstance(vae.decoder.main[-1], nn.Sigmoid)


def test_vae_reparameterisation_is_seedable_and_differentiable() -> None:
    vae = models.build("keras-vae", image_size=16, base_channels=4, latent_dim=8).vae
    mu = torch.zeros(4, 8, requires_grad=True)
    logvar = torch.full((4, 8), math.log(4.0), requires_grad=True)
    a = vae.reparameterize(mu, logvar, torch.Generator().manual_seed(1))
    b = vae.reparameterize(mu, logvar, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    eps = torch.randn(4, 8, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(a, 2.0 * eps)
    a.sum().backward()
    assert mu.grad is not None and logvar.grad is not None
    x = torch.rand(2, 3, 16, 16)
    mu_x, logvar_x = vae.encode(x)
    assert vae.decode(mu_x).shape == x.shape and logvar_x.shape == (2, 8)


# --- initialisation and flags ----------------------------------------------------------------------------------------


def test_dcgan_weight_init_statistics(dcgan: models.ModelSet) -> None:
    for net in (dcgan.G, dcgan.D):
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and m.weight.numel() > 10_000:
                assert abs(m.weight.std().item() - 0.02) < 0.001
                assert abs(m.weight.mean().item()) < 0.001
            if isinstance(m, nn.BatchNorm2d):
                assert abs(m.weight.mean().item() - 1.0) < 0.01
                assert 0.01 < m.weight.std().item() < 0.03
                assert torch.count_nonzero(m.bias) == 0


def test_keras_models_use_glorot_uniform_and_zero_bias() -> None:
    ms = models.build("keras-gan")
    for m in [*ms.G.modules(), *ms.D.modules()]:
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(m.weight)
            bound = math.sqrt(6.0 / (fan_in + fan_out))
            assert m.weight.abs().max().item() <= bound
            assert m.weight.abs().max().item() > 0.9 * bound
            assert torch.count_nonzero(m.bias) == 0


def _bn_momenta(modelset: models.ModelSet) -> set[float]:
    nets = [modelset.vae] if modelset.vae is not None else [modelset.G, modelset.D]
    return {layer.momentum for net in nets for layer in net.modules()
            if isinstance(layer, torch.nn.modules.batchnorm._BatchNorm)}


@pytest.mark.parametrize("name", ["keras-gan", "keras-wgan", "keras-vae", "mlp-gan"])
def test_keras_batch_norm_momentum_is_an_option(name: str) -> None:
    assert _bn_momenta(models.build(name, image_size=32)) == {0.01}          # Keras' momentum 0.99
    faster = models.build(name, image_size=32, bn_momentum=0.1)
    assert _bn_momenta(faster) == {0.1}
    assert models.build(**faster.config()).options["bn_momentum"] == 0.1     # survives a rebuild (checkpoints)
    with pytest.raises(ValueError, match="bn_momentum"):
        models.build(name, image_size=32, bn_momentum=1.5)


def test_sigmoid_flag(dcgan: models.ModelSet) -> None:
    D_sig = models.build("dcgan", sigmoid=True).D
    D_sig.load_state_dict(dcgan.D.state_dict())
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    dcgan.D.eval()
    D_sig.eval()
    with torch.no_grad():
        assert torch.allclose(D_sig(x), torch.sigmoid(dcgan.D(x)), atol=1e-6)
    dcgan.D.train()
    assert isinstance(D_sig.main[-1], nn.Sigmoid) and isinstance(dcgan.D.main[-1], nn.Conv2d)


def test_wrong_inputs_are_clear_errors(dcgan: models.ModelSet) -> None:
    with pytest.raises(ValueError, match=r"\(N, 100\)"):
        dcgan.G(torch.randn(2, 64))
    with pytest.raises(ValueError, match="image_size=32"):
        dcgan.D(torch.randn(2, 3, 32, 32))


# --- checkpoints -----------------------------------------------------------------------------------------------------


def test_matching_checkpoint_loads(dcgan: models.ModelSet) -> None:
    G = models.build("dcgan").G
    models.load_state_dict_checked(G, dcgan.G.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(G.state_dict().values(), dcgan.G.state_dict().values()))
    assert models.check_compatible(G, dcgan.G.state_dict()) == []


def test_wrapped_checkpoint_keys_are_unwrapped(dcgan: models.ModelSet) -> None:
    wrapped = {f"module._orig_mod.{k}": v for k, v in dcgan.D.state_dict().items()}
    D = models.build("dcgan").D
    models.load_state_dict_checked(D, wrapped)
    assert torch.equal(D.main[0].weight, dcgan.D.main[0].weight)


def test_checkpoint_of_another_image_size_is_rejected(dcgan: models.ModelSet) -> None:
    small = models.build("dcgan", image_size=32).G.state_dict()
    before = dcgan.G.main[0].weight.clone()
    with pytest.raises(ArchitectureMismatchError) as info:
        models.load_state_dict_checked(dcgan.G, small, source="checkpoint 'runs/05/last.pt'")
    message = str(info.value)
    assert "checkpoint 'runs/05/last.pt' does not fit the Generator of 'dcgan' at image_size=64" in message
    assert "missing key(s)" in message
    assert re.search(r"main\.0\.weight is \(100, 256, 4, 4\) in the checkpoint but \(100, 512, 4, 4\)", message)
    assert "generator (G) of 'dcgan' at image_size=32" in message
    assert torch.equal(dcgan.G.main[0].weight, before)


def test_checkpoint_of_another_family_is_rejected(dcgan: models.ModelSet) -> None:
    critic = models.build("mlp-wgan-gp", image_size=16).D
    with pytest.raises(ArchitectureMismatchError) as info:
        models.load_state_dict_checked(critic, dcgan.D.state_dict())
    message = str(info.value)
    assert "unexpected key(s)" in message and "MLPDiscriminator of 'mlp-wgan-gp'" in message
    assert "discriminator/critic (D) of 'dcgan' at image_size=64" in message
    assert isinstance(info.value, ValueError)


def test_checkpoint_with_other_widths_is_described() -> None:
    narrow = models.build("dcgan", image_size=32, base_channels=8).D.state_dict()
    problems = models.check_compatible(models.build("dcgan", image_size=32).D, narrow)
    assert len(problems) == 1 and problems[0].startswith("12 shape mismatch(es)")
    assert "other settings" in models.guess_architecture(narrow)


def test_a_whole_checkpoint_dict_is_a_clear_type_error(dcgan: models.ModelSet) -> None:
    with pytest.raises(TypeError, match=r"checkpoint\['G'\]"):
        models.load_state_dict_checked(dcgan.G, {"G": dcgan.G.state_dict(), "epoch": 3})


def test_noise_inputs_start_as_the_plain_generator_and_sample_as_a_function_of_z():
    from facegen_utils.models.dcgan import NoiseInput

    torch.manual_seed(0)
    plain = models.build("dcgan", image_size=16, base_channels=8)
    torch.manual_seed(0)
    noisy = models.build("dcgan", image_size=16, base_channels=8, noise_inputs=True)
    layers = [m for m in noisy.G.main if isinstance(m, NoiseInput)]
    assert [tuple(m.fixed.shape) for m in layers] == [(1, 1, 4, 4), (1, 1, 8, 8)]  # after each BatchNorm
    assert [type(m).__name__ for m in noisy.G.main[:4]] == ["ConvTranspose2d", "BatchNorm2d", "NoiseInput", "ReLU"]
    assert not torch.equal(layers[0].fixed[0, 0, :2, :2], layers[1].fixed[0, 0, :2, :2])
    z = torch.randn(4, 100)
    plain.G.eval(), noisy.G.eval()
    torch.testing.assert_close(noisy.G(z), plain.G(z))   # the same other weights; the noise's start at zero
    with torch.no_grad():
        for m in layers:
            m.weight.fill_(1.0)
    assert torch.equal(noisy.G(z), noisy.G(z)) and not torch.allclose(noisy.G(z), plain.G(z))  # eval: fixed maps
    noisy.G.train()
    torch.manual_seed(1)
    first = noisy.G(z)
    assert not torch.equal(first, noisy.G(z))            # training: new maps every call, from the global stream
    torch.manual_seed(1)
    assert torch.equal(first, noisy.G(z))
    rebuilt = models.build("dcgan", image_size=16, base_channels=8, noise_inputs=True)
    rebuilt.G.load_state_dict(noisy.G.state_dict())      # the fixed maps travel with the weights
    rebuilt.G.eval(), noisy.G.eval()
    assert torch.equal(rebuilt.G(z), noisy.G(z))


def test_minibatch_std_reads_how_varied_each_group_is():
    from facegen_utils.models._common import MinibatchStd

    layer = MinibatchStd(4)
    same = torch.randn(1, 5, 3, 3).expand(4, 5, 3, 3)
    varied = torch.randn(4, 5, 3, 3)
    out = layer(torch.cat([same, varied]))
    assert out.shape == (8, 6, 3, 3) and torch.equal(out[:, :5], torch.cat([same, varied]))
    assert out[:4, 5].max().item() < 1e-3                   # one image four times: no spread
    assert out[4:, 5].min().item() > 0.5                    # four draws of N(0, 1): a spread near 0.9
    assert torch.equal(out[4:, 5], out[4:5, 5].expand(4, 3, 3))  # one value per group, the same at every pixel
    assert torch.equal(layer(varied[:3])[:, 5], torch.zeros(3, 3, 3))  # no whole group: zeros
    with pytest.raises(ValueError, match="minibatch_std=1"):
        MinibatchStd(1)


@pytest.mark.parametrize("name, options", [("keras-wgan", {"base_channels": 8}),
                                           ("dcgan", {"base_channels": 8}),
                                           ("dcgan", {"base_channels": 8, "sigmoid": True}),
                                           ("mlp-wgan-gp", {"hidden_dims": (16, 32)}),
                                           ("mlp-gan", {"hidden_dims": (32, 16), "conv_channels": 8})])
def test_a_scorer_with_minibatch_std_starts_as_the_plain_one(name, options):
    torch.manual_seed(0)
    plain = models.build(name, image_size=16, **options)
    torch.manual_seed(0)
    wider = models.build(name, image_size=16, minibatch_std=4, **options)
    for a, b in zip(plain.G.state_dict().values(), wider.G.state_dict().values()):
        assert torch.equal(a, b)                         # the generator is untouched
    x = torch.randn(8, 3, 16, 16)
    torch.testing.assert_close(wider.D(x), plain.D(x))   # the spread's weights start at zero
    kinds = [type(m).__name__ for m in wider.D.main]
    tail = 1 if kinds[-1] == "Sigmoid" else 0               # the report's final Sigmoid stays last
    assert kinds[len(kinds) - tail - 3:len(kinds) - tail - 1] in (["MinibatchStd", "Flatten"],
                                                                  ["LeakyReLU", "MinibatchStd"])
    with torch.no_grad():
        last = wider.D.main[-1 - tail]
        if isinstance(last, torch.nn.Conv2d):
            last.weight[:, -1] = 1.0                         # the spread is the last input channel
        else:
            last.weight.view(-1)[-(last.in_features - plain.D.main[-1 - tail].in_features):] = 1.0
    assert not torch.allclose(wider.D(x), plain.D(x))    # once it weighs the spread, a batch scores differently
