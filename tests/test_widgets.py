"""Latent and VAE explorers driven headlessly: the observers' work is plain methods, so no browser is needed."""
from __future__ import annotations

import io
import sys
import types

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from facegen_utils import widgets
from facegen_utils.models import build
from facegen_utils.noise import REPORT_003_PRIORS, latent_from_seed, lerp, parse, slerp

LATENT = 8


@pytest.fixture(scope="module")
def dcgan():
    """A tiny untrained DCGAN (16×16, 8 latent dimensions)."""
    torch.manual_seed(0)
    return build("dcgan", image_size=16, latent_dim=LATENT, base_channels=4)


@pytest.fixture(scope="module")
def vae_models():
    """A tiny untrained VAE of report 000 (16×16, 8 latent dimensions)."""
    torch.manual_seed(0)
    return build("keras-vae", image_size=16, latent_dim=LATENT, base_channels=4)


def pixels(png: bytes) -> np.ndarray:
    """Decode PNG bytes to a uint8 (H, W, 3) array."""
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


class ConstantG(nn.Module):
    """A generator whose every pixel is ``activation(bias)``, to check how values map to pixels."""

    def __init__(self, bias: float, activation: nn.Module | None, *, latent_dim: int = 4) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.linear = nn.Linear(latent_dim, 3 * 8 * 8)
        nn.init.zeros_(self.linear.weight)
        nn.init.constant_(self.linear.bias, bias)
        self.out = activation if activation is not None else nn.Identity()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.out(self.linear(z)).view(-1, 3, 8, 8)


def test_slider_change_rerenders_the_image(dcgan):
    e = widgets.latent_explorer(dcgan)
    before = e.image.value
    assert before == e.render()
    e.sliders[0].value = 2.0
    assert e.image.value != before
    assert e.latent()[0, 0] == pytest.approx(float(latent_from_seed(0, LATENT)[0, 0]) + 2.0)
    e.sliders[0].value = 0.0
    assert e.image.value == before


def test_same_seed_gives_the_same_image(dcgan):
    a = widgets.latent_explorer(dcgan, seed=3)
    b = widgets.latent_explorer(dcgan, seed=3)
    assert a.image.value == b.image.value
    assert torch.equal(a.latent(), latent_from_seed(3, LATENT))
    first = a.image.value
    a.seed.value = 4
    assert a.image.value != first
    a.seed.value = 3
    assert a.image.value == first


def test_interpolation_ends_are_the_two_seeds(dcgan):
    a = widgets.latent_explorer(dcgan, seed=1).image.value
    b = widgets.latent_explorer(dcgan, seed=5).image.value
    e = widgets.latent_explorer(dcgan, seed=1)
    e.seed_b.value = 5
    for path in ("slerp", "lerp"):
        e.path.value = path
        e.t.value = 0.0
        assert e.image.value == a
        e.t.value = 1.0
        assert e.image.value == b
    z0, z1 = latent_from_seed(1, LATENT), latent_from_seed(5, LATENT)
    e.t.value = 0.3
    e.path.value = "lerp"
    assert torch.allclose(e.latent(), lerp(z0, z1, 0.3))
    e.path.value = "slerp"
    assert torch.allclose(e.latent(), slerp(z0, z1, 0.3))
    assert "slerp t=0.30" in e.status.value


def test_prior_dropdown_changes_the_latent_statistics(dcgan):
    e = widgets.latent_explorer(dcgan, n=16, prior="normal(0, 1)")
    assert [value for _, value in e.prior.options] == [str(parse(p)) for p in REPORT_003_PRIORS]
    assert ("N(0, 100)", "normal(0, 100)") in e.prior.options
    base = e.image.value
    stats = {}
    for spec in ("normal(0, 1)", "normal(0, 100)", "normal(0, 0.01)", "uniform(-1, 1)", "gamma(2, 1)"):
        e.prior.value = spec
        z = e.latent()
        stats[spec] = (z.mean().item(), z.std().item(), z.min().item(), z.max().item())
    assert 7 < stats["normal(0, 100)"][1] < 13
    assert 0.07 < stats["normal(0, 0.01)"][1] < 0.13
    assert -1 <= stats["uniform(-1, 1)"][2] and stats["uniform(-1, 1)"][3] < 1
    assert stats["gamma(2, 1)"][2] > 0 and 1.5 < stats["gamma(2, 1)"][0] < 2.5
    assert e.image.value != base
    custom = widgets.latent_explorer(dcgan, prior="normal(0, std=0.5)", priors=["uniform(-1, 1)"])
    assert [value for _, value in custom.prior.options] == ["normal(0, std=0.5)", "uniform(-1, 1)"]


def test_offsets_are_in_standard_deviations_of_the_prior(dcgan):
    e = widgets.latent_explorer(dcgan, prior="normal(0, 100)", dims=(2, 5))
    z = e.latent()
    e.sliders[1].value = 1.0
    delta = e.latent() - z
    assert delta[0, 5].item() == pytest.approx(10.0)
    assert delta[0, [0, 1, 2, 3, 4, 6, 7]].abs().max().item() == 0


def test_truncation_bounds_the_latent(dcgan):
    e = widgets.latent_explorer(dcgan, n=16)
    untruncated = e.latent()
    assert untruncated.abs().max() > 1.0
    e.truncation.value = 0.5
    z = e.latent()
    assert z.abs().max() <= 0.5
    assert torch.equal(z[untruncated.abs() <= 0.5], untruncated[untruncated.abs() <= 0.5])
    assert torch.equal(z, e.latent())
    e.prior.value = "normal(1, 1)"
    z = e.latent()
    assert (z - 1).abs().max() <= 0.5
    e.truncation.value = 0.0
    assert torch.equal(e.latent()[:1], latent_from_seed(0, LATENT, "normal(1, 1)"))


def test_grid_of_seeds(dcgan):
    e = widgets.latent_explorer(dcgan, seed=7, n=4)
    assert e.image_scale == 2 and e.nrow == 2
    assert torch.equal(e.latent()[2], latent_from_seed(9, LATENT)[0])
    side = 2 * (16 + 2) + 2
    assert pixels(e.image.value).shape == (side * 2, side * 2, 3)
    single = widgets.latent_explorer(dcgan, seed=9, image_scale=1)
    grid = widgets.latent_explorer(dcgan, seed=7, n=4, image_scale=1)
    third = pixels(grid.image.value)[20:36, 2:18].astype(int)  # row 1, column 0 of the 2×2 grid
    assert np.abs(third - pixels(single.image.value)).max() <= 1  # a batch of 4 may round differently


def test_model_set_and_bare_generator_agree(dcgan):
    from_set = widgets.latent_explorer(dcgan, seed=2)
    from_g = widgets.latent_explorer(dcgan.G, seed=2)
    assert from_g.value_range == (-1.0, 1.0)
    assert from_set.image.value == from_g.image.value
    assert pixels(from_set.image.value).shape == (16 * 4, 16 * 4, 3)


def test_checkpoint_path_is_loaded_through_the_training_engine(dcgan, monkeypatch, tmp_path):
    loaded = []
    fake = types.ModuleType("facegen_utils.training")
    fake.load_generator = lambda path: loaded.append(path) or dcgan
    monkeypatch.setitem(sys.modules, "facegen_utils.training", fake)
    e = widgets.latent_explorer(tmp_path / "checkpoint.pt", seed=2)
    assert loaded == [tmp_path / "checkpoint.pt"]
    assert e.image.value == widgets.latent_explorer(dcgan, seed=2).image.value


def test_explorers_open_a_checkpoint_of_the_training_engine(tmp_path):
    from facegen_utils.training import TrainConfig, Trainer

    data = torch.randint(0, 256, (8, 3, 16, 16), dtype=torch.uint8)
    paths = {}
    for name, objective in (("dcgan", "gan"), ("keras-vae", "vae")):
        torch.manual_seed(0)
        models = build(name, image_size=16, latent_dim=LATENT, base_channels=4)
        config = TrainConfig(objective=objective, epochs=1, batch_size=4, device="cpu", out_dir=str(tmp_path / name))
        paths[name] = Trainer(models, data, config).save_checkpoint()
    gan = widgets.latent_explorer(paths["dcgan"], seed=2)
    assert gan.value_range == (-1.0, 1.0) and gan.latent_dim == LATENT
    vae = widgets.vae_explorer(str(paths["keras-vae"]), data[0].permute(1, 2, 0).numpy())
    assert vae.value_range == (0.0, 1.0)
    assert pixels(vae.image.value).shape == ((16 + 4) * 4, (3 * 18 + 2) * 4, 3)


@pytest.mark.parametrize(("activation", "bias", "expected_range", "pixel"), [
    (nn.Tanh(), float(np.arctanh(-0.5)), (-1.0, 1.0), 64),   # -0.5 in [-1, 1] -> 0.25 * 255
    (nn.Sigmoid(), float(np.log(0.25 / 0.75)), (0.0, 1.0), 64),  # 0.25 in [0, 1] -> 0.25 * 255
])
def test_value_range_is_read_from_the_last_layer(activation, bias, expected_range, pixel):
    e = widgets.latent_explorer(ConstantG(bias, activation), dims=(0,))
    assert e.value_range == expected_range
    assert np.all(pixels(e.image.value) == pixel)


def test_value_range_of_model_sets_and_explicit_override(vae_models):
    assert widgets.latent_explorer(vae_models).value_range == (0.0, 1.0)
    zero = ConstantG(0.0, None)
    assert np.all(pixels(widgets.latent_explorer(zero, value_range=(-1, 1), dims=(0,)).image.value) == 128)
    assert np.all(pixels(widgets.latent_explorer(zero, value_range=(0, 1), dims=(0,)).image.value) == 0)


def test_rendering_uses_eval_mode_and_restores_training_flags(dcgan):
    G = dcgan.G
    G.train()
    batch_norm = next(m for m in G.modules() if isinstance(m, nn.BatchNorm2d))
    batch_norm.eval()
    stats = batch_norm.running_mean.clone()
    e = widgets.latent_explorer(dcgan, n=4)
    e.sliders[3].value = 1.5
    x = e.images()
    assert not x.requires_grad
    assert G.training and not batch_norm.training
    assert torch.equal(batch_norm.running_mean, stats)
    G.eval()
    assert torch.equal(x, G(e.latent()).detach())
    G.train()
    batch_norm.train()


def test_controls_update_on_release_and_widget_displays(dcgan):
    e = widgets.latent_explorer(dcgan)
    for control in (*e.sliders, e.t, e.truncation, e.seed, e.seed_b):
        assert control.continuous_update is False
    assert type(e.widget).__name__ == "VBox"
    assert e.image.format == "png"
    assert callable(e._ipython_display_)
    assert e.last_ms is not None and "ms" in e.status.value


def test_reset_returns_to_the_base_image(dcgan):
    e = widgets.latent_explorer(dcgan)
    base = e.image.value
    for slider in e.sliders:
        slider.value = -1.0
    e.t.value = 0.4
    e.reset()
    assert e.image.value == base
    assert all(s.value == 0 for s in e.sliders) and e.t.value == 0


def test_errors_in_an_update_are_shown_not_raised(dcgan):
    e = widgets.latent_explorer(dcgan)

    class Broken(nn.Module):
        def forward(self, z):
            raise RuntimeError("broken generator")

    e.G = Broken()
    e.sliders[0].value = 1.0
    assert "RuntimeError: broken generator" in e.status.value


def test_bad_arguments_name_the_parameter(dcgan):
    with pytest.raises(ValueError, match="dims"):
        widgets.latent_explorer(dcgan, dims=(0, LATENT))
    with pytest.raises(ValueError, match="latent_dim"):
        widgets.latent_explorer(nn.Sequential(nn.Linear(4, 3 * 8 * 8), nn.Tanh()))
    with pytest.raises(ValueError, match="n="):
        widgets.latent_explorer(dcgan, n=0)
    with pytest.raises(ValueError, match="seed="):
        widgets.latent_explorer(dcgan, seed=-1)
    with pytest.raises(ValueError, match="image_scale"):
        widgets.latent_explorer(dcgan, image_scale=0)
    with pytest.raises(ValueError, match="Invalid latent prior spec"):
        widgets.latent_explorer(dcgan, prior="cauchy(0, 1)")
    with pytest.raises(TypeError, match="latent_explorer"):
        widgets.latent_explorer(42)
    with pytest.raises(TypeError, match="latent_explorer"):
        widgets.vae_explorer(dcgan, torch.rand(3, 16, 16))


def test_vae_explorer_reconstructs_and_edits(vae_models):
    vae = vae_models.vae
    torch.manual_seed(1)
    x = torch.rand(3, 16, 16)
    e = widgets.vae_explorer(vae_models, x, dims=(0, 3))
    vae.eval()
    with torch.no_grad():
        mu, _ = vae.encode(x[None])
        recon = vae.decode(mu)
    vae.train()
    original, reconstruction, edit = e.images()
    assert torch.allclose(original, x)
    assert torch.allclose(reconstruction, recon[0], atol=1e-6)
    assert torch.equal(edit, reconstruction)
    base = e.image.value
    e.sliders[1].value = 2.5
    assert torch.allclose(e.latent(), mu + torch.tensor([0, 0, 0, 2.5, 0, 0, 0, 0]))
    original2, reconstruction2, edit2 = e.images()
    assert torch.equal(original2, original) and torch.equal(reconstruction2, reconstruction)
    assert not torch.allclose(edit2, edit)
    assert e.image.value != base
    assert "z[3]=+2.50" in e.status.value
    e.reset()
    assert e.image.value == base
    assert vae.training and vae.encoder.training


def test_vae_explorer_accepts_images_in_other_forms(vae_models):
    u8 = (torch.rand(16, 16, 3) * 255).to(torch.uint8).numpy()
    from_array = widgets.vae_explorer(vae_models.vae, u8)
    assert from_array.value_range == (0.0, 1.0)
    assert torch.allclose(from_array.original[0].permute(1, 2, 0), torch.from_numpy(u8).float() / 255)
    from_pil = widgets.vae_explorer(vae_models, Image.fromarray(u8).resize((40, 40)))
    assert from_pil.original.shape == (1, 3, 16, 16)
    assert pixels(from_pil.image.value).shape == ((16 + 4) * 4, (3 * 18 + 2) * 4, 3)
    with pytest.raises(ValueError, match="16×16"):
        widgets.vae_explorer(vae_models, torch.rand(3, 32, 32))
    with pytest.raises(ValueError, match="uint8"):
        widgets.vae_explorer(vae_models, np.zeros((16, 16, 3), np.float32))
