"""Diffusion (notebook 06): schedules against their closed forms and the `diffusers` schedulers, the forward
process's marginals, the samplers, and the U-Net trained by the same Trainer (loss, resume, checkpoints)."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from facegen_utils import diffusion, models
from facegen_utils.models import ArchitectureMismatchError
from facegen_utils.spec import TrainConfig
from facegen_utils.training import Trainer

TINY = {"base_channels": 8, "channel_mults": (1, 2), "attention_size": 8, "sample_steps": 4}


class ToyDenoiser(nn.Module):
    """A fixed ε-predictor with the attributes the samplers read: a smooth function of x and t."""

    def __init__(self, schedule: diffusion.Schedule):
        super().__init__()
        self.schedule = schedule
        self.timesteps = schedule.timesteps
        self.channels, self.image_size = 3, 4
        self.weight = nn.Parameter(torch.tensor(0.7))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.weight * torch.tanh(x) + 0.05 * torch.sin(t.float() / 50).view(-1, 1, 1, 1)


def test_linear_schedule_closed_forms():
    s = diffusion.linear_schedule(1000)
    assert s.betas[0].item() == pytest.approx(1e-4) and s.betas[-1].item() == pytest.approx(0.02)
    expected = torch.exp(torch.cumsum(torch.log1p(-s.betas), 0))  # prod(1 - beta) through logs
    torch.testing.assert_close(s.alpha_bar, expected, rtol=1e-12, atol=0)
    assert s.alpha_bar[-1] < 1e-4  # x_T is almost pure noise (Ho et al.: ~4e-5)
    prev = torch.cat([torch.ones(1, dtype=torch.float64), expected[:-1]])
    torch.testing.assert_close(s.posterior_variance, s.betas * (1 - prev) / (1 - expected), rtol=1e-12, atol=0)
    assert s.posterior_variance[0] == 0 and bool((s.posterior_variance[1:] < s.betas[1:]).all())


def test_cosine_schedule_follows_its_cosine():
    s = diffusion.cosine_schedule(1000)
    t = torch.arange(1, 1001, dtype=torch.float64) / 1000
    f = lambda u: torch.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    unclipped = s.betas < 0.999
    torch.testing.assert_close(s.alpha_bar[:900], (f(t) / f(torch.zeros(1, dtype=torch.float64)))[:900],
                               rtol=1e-9, atol=1e-12)
    assert bool(unclipped[:900].all()) and s.betas.max() <= 0.999
    # the cosine schedule destroys information more slowly: more signal left at mid-chain than the linear one
    assert s.alpha_bar[500] > diffusion.linear_schedule(1000).alpha_bar[500] * 5


def test_schedules_match_diffusers():
    schedulers = pytest.importorskip("diffusers.schedulers")
    for name, theirs in (("linear", "linear"), ("cosine", "squaredcos_cap_v2")):
        ours = diffusion.make_schedule(name, 1000)
        ref = schedulers.DDPMScheduler(num_train_timesteps=1000, beta_schedule=theirs)
        torch.testing.assert_close(ours.betas.float(), ref.betas, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(ours.alpha_bar.float(), ref.alphas_cumprod, rtol=1e-4, atol=1e-7)
        for t in (1, 10, 500, 999):
            # diffusers works in float32: 1 - ᾱ loses about four digits near t = 0
            assert ours.posterior_variance[t].item() == pytest.approx(float(ref._get_variance(t)), rel=1e-3)


def test_ddpm_step_matches_diffusers():
    schedulers = pytest.importorskip("diffusers.schedulers")
    schedule = diffusion.linear_schedule(1000)
    model = ToyDenoiser(schedule)
    ref = schedulers.DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", clip_sample=True)
    ref.set_timesteps(1000)
    x = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    for t in (999, 500, 20, 1, 0):
        with torch.no_grad():
            eps = model(x, torch.full((2,), t))
            theirs = ref.step(eps, t, x, generator=torch.Generator().manual_seed(t)).prev_sample
            ours, _ = diffusion._step(model, x, t, t - 1, sampler="ddpm", eta=0.0,
                                      generator=torch.Generator().manual_seed(t))
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_ddim_step_matches_diffusers(eta):
    schedulers = pytest.importorskip("diffusers.schedulers")
    schedule = diffusion.linear_schedule(1000)
    model = ToyDenoiser(schedule)
    # "leading" spacing: steps 900, 800, ..., 0, and diffusers steps from t to t - 100 exactly as we do then
    ref = schedulers.DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear", clip_sample=True,
                                   set_alpha_to_one=True, timestep_spacing="leading")
    ref.set_timesteps(10)
    x = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(1)) * 3
    for t in ref.timesteps.tolist():
        with torch.no_grad():
            eps = model(x, torch.full((2,), t))
            theirs = ref.step(eps, t, x, eta=eta, generator=torch.Generator().manual_seed(t)).prev_sample
            ours, _ = diffusion._step(model, x, t, t - 100, sampler="ddim", eta=eta,
                                      generator=torch.Generator().manual_seed(t))
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)
        x = ours


def test_forward_process_marginals():
    s = diffusion.linear_schedule(1000)
    x0 = torch.full((20000, 1, 1, 1), 0.6)
    for t in (0, 100, 400, 999):
        x_t = diffusion.diffuse(x0, t, s, generator=torch.Generator().manual_seed(t))
        a = s.alpha_bar[t].item()
        assert x_t.mean().item() == pytest.approx(math.sqrt(a) * 0.6, abs=0.02)
        assert x_t.var().item() == pytest.approx(1 - a, rel=0.05, abs=1e-4)


def test_the_training_step_noises_with_the_schedule_formula():
    model = models.build("ddpm-unet", image_size=16).denoiser
    x0 = torch.rand(6, 3, 16, 16) * 2 - 1
    t = torch.tensor([0, 1, 250, 500, 998, 999])
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))
    from_schedule = diffusion.diffuse(x0, t, model.schedule, noise=noise)
    torch.testing.assert_close(model.diffuse(x0, t, noise), from_schedule)
    a = model.schedule.alpha_bar[999].item()
    torch.testing.assert_close(from_schedule[5], (math.sqrt(a) * x0[5] + math.sqrt(1 - a) * noise[5]).float())


def test_timesteps_run_from_noise_to_data():
    assert diffusion.timesteps_for(10, 1000) == [999, 888, 777, 666, 555, 444, 333, 222, 111, 0]
    assert diffusion.timesteps_for(1000, 1000) == list(range(999, -1, -1))
    with pytest.raises(ValueError, match="1 to 1000"):
        diffusion.timesteps_for(2000, 1000)


def test_unet_shapes_and_ho_et_al_parameter_count():
    m = models.build("ddpm-unet", image_size=16, **TINY)
    x = torch.randn(3, 3, 16, 16)
    assert m.denoiser(x, torch.tensor([0, 10, 999])).shape == x.shape
    assert m.latent_dim == 3 * 16 * 16 and m.modules() == {"denoiser": m.denoiser}
    # Ho et al. (2020), appendix B: the CIFAR-10 model has 35.7 M parameters
    cifar = models.build("ddpm-unet", image_size=32, base_channels=128, channel_mults=(1, 2, 2, 2), blocks=2,
                         attention_size=16, dropout=0.1)
    assert round(sum(p.numel() for p in cifar.denoiser.parameters()) / 1e5) / 10 == 35.7
    with pytest.raises(ValueError, match="latent_dim must be"):
        models.build("ddpm-unet", image_size=16, latent_dim=100, **TINY)


def _faces(n=32, size=16):
    from facegen_utils import datasets

    return datasets.get("synthetic-faces", image_size=size, limit=n)


def _trainer(tmp_path, epochs=1, **options):
    m = models.build("ddpm-unet", image_size=16, **{**TINY, **options})
    config = TrainConfig(objective="diffusion", epochs=epochs, batch_size=8, lr=1e-3, ema=0.9, seed=3,
                         out_dir=str(tmp_path), sample_every=0, grid_size=4)
    return Trainer(m, _faces(), config)


def test_loss_decreases_on_a_tiny_set(tmp_path):
    torch.set_num_threads(1)
    trainer = _trainer(tmp_path, epochs=6)
    trainer.fit()
    means = trainer.epoch_history["loss"].tolist()
    assert means[-1] < 0.85 * means[0] and means == sorted(means, reverse=True)


def test_ddim_eta0_is_reproducible_and_is_the_generator(tmp_path):
    trainer = _trainer(tmp_path)
    trainer.fit()
    a = diffusion.sample(trainer, 4, steps=5, seed=7)
    b = diffusion.sample(trainer, 4, steps=5, seed=7)
    assert torch.equal(a, b) and a.abs().max() <= 1
    x_T = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(7))
    g = trainer.G_ema
    g.steps = 5
    with torch.inference_mode():
        assert torch.equal(g(x_T.flatten(1)), a)
    ddpm = diffusion.sample(trainer, 4, steps=5, sampler="ddpm", seed=7)
    assert not torch.equal(ddpm, a)  # the ancestral sampler adds noise at every step
    path = diffusion.trajectory(trainer, 2, steps=5, seed=7)
    assert path.timesteps == diffusion.timesteps_for(5, 1000) and path.x.shape == (5, 2, 3, 16, 16)
    torch.testing.assert_close(path.x[-1], a[:2])


def test_exact_resume(tmp_path):
    torch.set_num_threads(1)
    straight = _trainer(tmp_path / "a", epochs=2)
    straight.fit()
    first = _trainer(tmp_path / "b", epochs=1)
    first.fit()
    resumed = Trainer.from_checkpoint(tmp_path / "b" / "checkpoint.pt", _faces(),
                                      config_overrides={"epochs": 2})
    resumed.fit()
    assert resumed.history["loss"].tolist() == straight.history["loss"].tolist()
    for p, q in zip(resumed.G_ema.parameters(), straight.G_ema.parameters()):
        assert torch.equal(p, q)


def test_wrong_architecture_checkpoint_is_rejected(tmp_path):
    trainer = _trainer(tmp_path)
    trainer.fit()
    wider = _trainer(tmp_path / "wide", base_channels=16)
    with pytest.raises(ArchitectureMismatchError, match="denoiser"):
        wider.resume(tmp_path / "checkpoint.pt")
    with pytest.raises(ValueError, match="objective='gan' needs a generator"):
        Trainer(models.build("ddpm-unet", image_size=16, **TINY), _faces(), TrainConfig(objective="gan"))


def test_sampler_arguments_are_checked():
    m = models.build("ddpm-unet", image_size=16, **TINY)
    with pytest.raises(ValueError, match="sampler"):
        diffusion.sample(m, 1, steps=2, sampler="ddpn")
    with pytest.raises(ValueError, match="eta"):
        diffusion.sample(m, 1, steps=2, eta=2.0)
    with pytest.raises(TypeError, match="diffusion model"):
        diffusion.sample(models.build("dcgan", image_size=16), 1)


def test_diffusion_explorer_walks_the_steps_and_interpolates():
    from facegen_utils import widgets

    m = models.build("ddpm-unet", image_size=16, **TINY)
    explorer = widgets.diffusion_explorer(m, seed=3, steps=4, step_choices=(2, 4), image_scale=1)
    final = explorer.images()
    assert final.shape == (2, 3, 16, 16) and explorer.step.max == 4
    # the last step's x̂_0 is the image DDIM makes from the same noise (G(z) with 4 steps)
    z = explorer.noise()
    with torch.inference_mode():
        torch.testing.assert_close(final[1:], m.G(z))
    explorer.step.value = 1
    assert not torch.equal(explorer.images(), final) and "step 1/4" in explorer.status.value
    explorer.steps.value = 2  # fewer steps: the slider's end moves with it, one render
    assert explorer.step.max == 2 and explorer.step.value == 2 and "DDIM-2" in explorer.status.value
    explorer.t.value = 1.0  # the end of the interpolation is the second seed's noise
    other = widgets.diffusion_explorer(m, seed=4, steps=2, step_choices=(2,), image_scale=1)
    torch.testing.assert_close(explorer.images(), other.images())
    with pytest.raises(ValueError, match="steps"):
        widgets.diffusion_explorer(m, steps=5000)


def test_sampling_study_rows_and_the_computed_conclusions():
    from facegen_utils import conclusions, metrics, viz

    m = models.build("ddpm-unet", image_size=16, **TINY)
    gan = models.build("dcgan", image_size=16, base_channels=8)
    reference = metrics.reference(_faces(32), n=32, seed=0)
    study, samples = diffusion.sampling_study(m, reference, settings=[("ddim", 2), ("ddpm", 4)], n=32, gan=gan,
                                              metrics=("fid", "density_coverage", "precision_recall"))
    assert list(study.index) == ["DCGAN", "DDIM-2", "DDPM-4"] and study["steps"].tolist() == [1, 2, 4]
    assert set(samples) == set(study.index) and samples["DDIM-2"].shape == (32, 3, 16, 16)
    assert (study["seconds_per_64"] > 0).all()
    assert viz.plot_sampling_study(study).axes[0].get_xscale() == "log"
    c2st = diffusion.discriminator_between_outputs(samples["DDIM-2"], samples, gan="DCGAN",
                                                   diffusion_label="DDPM-4")
    assert list(c2st.index) == ["real vs DCGAN", "real vs DDPM-4", "DCGAN vs DDPM-4"]
    lines = conclusions.diffusion_vs_gan(study, c2st)
    best = study.drop(index="DCGAN")["fid"].idxmin()
    assert lines[0].startswith(f"Best diffusion setting here: {best}")
    assert "times the DCGAN's time" in lines[1] and len(lines) == 2 + len(c2st)


def test_diffusion_vs_gan_picks_the_fewest_steps_within_ten_percent():
    import pandas as pd

    from facegen_utils import conclusions

    study = pd.DataFrame({"steps": [1, 10, 50, 1000], "seconds_per_64": [0.01, 1.0, 5.0, 100.0],
                          "fid": [20.0, 30.0, 10.5, 10.0], "precision": [0.9, 0.5, 0.85, 0.86],
                          "coverage": [0.8, 0.4, 0.75, 0.76]}, index=["DCGAN", "DDIM-10", "DDIM-50", "DDPM-1000"])
    c2st = pd.DataFrame({"accuracy": [0.55, 0.9]}, index=["real vs DDPM-1000", "DCGAN vs DDPM-1000"])
    lines = conclusions.diffusion_vs_gan(study, c2st)
    assert "Best diffusion setting here: DDPM-1000 (FID 10.0" in lines[0] and "of its FID: DDIM-50 (5.00 s" in lines[0]
    assert "best FID is better, and DDIM-50 takes 500 times" in lines[1]
    assert "cannot tell them apart" in lines[2] and "tells them apart" in lines[3]


def test_the_gan_side_is_never_a_procedural_model_on_real_data(tmp_path):
    from facegen_utils import pretrained, profiles

    quick = profiles.get("06", "quick").spec
    gan, line = pretrained.gan_for_comparison(quick)
    assert gan is not None and gan.latent_dim == 100 and "shipped 05-gan" in line
    real = profiles.get("06", "report").spec
    gan, line = pretrained.gan_for_comparison(real)
    assert gan is None and "gan_checkpoint" in line and "celeba" in line
    trainer = Trainer(models.build("dcgan", image_size=16, base_channels=8), _faces(16),
                      TrainConfig(epochs=1, batch_size=8, out_dir=str(tmp_path), sample_every=0))
    trainer.fit()
    with pytest.raises(ValueError, match="16 px"):
        pretrained.gan_for_comparison(real, checkpoint=tmp_path / "checkpoint.pt")
    gan, line = pretrained.gan_for_comparison(quick.replace(image_size=16), checkpoint=tmp_path / "checkpoint.pt")
    assert gan.image_size == 16 and str(tmp_path) in line
