"""Profiles: every notebook x profile resolves; the report settings are the reports' exact values."""
from __future__ import annotations

import dataclasses

import pytest

from facegen_utils import profiles


@pytest.mark.parametrize("notebook", list(profiles.NOTEBOOKS))
@pytest.mark.parametrize("profile", profiles.PROFILES)
def test_every_notebook_profile_and_variant_resolves(notebook, profile):
    for variant in profiles.VARIANTS[notebook]:
        p = profiles.get(notebook, profile, variant=variant)
        assert (p.notebook, p.profile, p.variant) == (notebook, profile, variant)
        assert p.epochs >= 1 and p.batch_size >= 1
        assert p.output_dir == f"outputs/{profiles.NOTEBOOKS[notebook]}"
        if profile == "report":
            assert not p.dataset.startswith("synthetic-")
            assert p.changes == ()
            assert p.image_size == 64
        else:
            assert p.dataset.startswith("synthetic-")
            assert any(c.startswith("dataset:") for c in p.changes)


def test_report_05_is_report_004():
    p = profiles.get("05", "report")
    assert (p.epochs, p.batch_size, p.lr, p.betas) == (50, 128, 1e-4, (0.5, 0.999))
    assert (p.dataset, p.model, p.objective, p.optimizer, p.latent_dim) == ("celeba", "dcgan", "gan", "adam", 100)
    assert p.grid_epochs == (1, 10, 20, 30, 40, 50)


def test_report_04_is_report_003():
    p = profiles.get("04", "report")
    assert (p.real_label, p.fake_label) == (0.8, 0.1)
    assert (p.lr, p.betas, p.dataset) == (2e-4, (0.5, 0.999), "monet")
    assert p.iterations_per_prior == 400
    assert len(p.priors) == 7 and p.priors == profiles.REPORT_003_PRIORS
    assert "normal(0, 0.01)" in p.priors and "normal(0, 100)" in p.priors
    assert p.epochs == profiles.epochs_for_iterations(400, 300, p.batch_size) == 200


def test_report_02_is_report_001():
    p = profiles.get("02", "report")
    assert (p.model, p.objective, p.optimizer) == ("mlp-wgan-gp", "wgan-gp", "adam")
    assert (p.lr, p.betas, p.batch_size, p.gp_weight) == (1e-4, (0.0, 0.9), 64, 10.0)
    assert (p.n_critic, p.critic_schedule, p.checkpoint_every, p.latent_dim) == (5, "every-nth", 5, 100)
    assert p.keep_checkpoints
    assert p.more_epochs == 500


def test_report_01_variants():
    wgan = profiles.get("01", "report", variant="wgan")
    assert (wgan.objective, wgan.optimizer, wgan.lr, wgan.clip_value) == ("wgan-clip", "rmsprop", 5e-5, 0.01)
    assert (wgan.batch_size, wgan.n_critic, wgan.critic_schedule) == (64, 5, "inner")
    assert wgan.comparison_epochs == (10, 20, 50)
    gan = profiles.get("01/gan", "report")
    assert (gan.model, gan.objective, gan.epochs) == ("keras-gan", "gan", 200)
    assert gan.comparison_epochs == (10, 30, 100, 200)
    vae = profiles.get("01", "report", variant="vae")
    assert (vae.model, vae.objective, vae.latent_dim) == ("keras-vae", "vae", 512)
    gp = profiles.get("01", "report", variant="wgan-gp")
    assert (gp.objective, gp.gp_weight, gp.betas, gp.n_critic) == ("wgan-gp", 10.0, (0.0, 0.9), 5)
    assert gan.models == ("gan", "vae", "wgan", "wgan-gp")


def test_report_03_is_report_002():
    p = profiles.get("03", "report")
    assert (p.model, p.latent_dim, p.batch_size, p.epochs, p.dataset) == ("mlp-gan", 4096, 256, 6, "celeba")


def test_notebook_names_numbers_and_models_resolve():
    assert profiles.get(5).notebook == "05"
    assert profiles.get("05_celeba_dcgan.ipynb").notebook == "05"
    assert profiles.get("mlp-wgan-gp", "report").notebook == "02"
    assert profiles.get("keras-wgan", "report").variant == "wgan"
    assert profiles.parse_spec("01/wgan:report") == ("01", "wgan", "report")
    assert profiles.parse_spec("05") == ("05", None, "quick")


def test_overrides_win_and_are_listed_as_changes():
    p = profiles.get("05", "report", epochs=3, batch_size=8, grid_epochs=(1, 3), model_options={"base_channels": 8})
    assert (p.epochs, p.batch_size, p.grid_epochs, p.model_options["base_channels"]) == (3, 8, (1, 3), 8)
    assert "epochs: 50 -> 3" in p.changes and "base_channels: 64 -> 8" in p.changes  # the model's own default, by value
    q = profiles.get("04", "quick", priors=("normal(0, 1)",))
    assert q.priors == ("normal(0, 1)",)
    assert q.replace(epochs=2).epochs == 2 and q.replace(priors="gamma(2, 1)").priors == ("gamma(2, 1)",)


def test_quick_shrinks_and_says_so():
    p = profiles.get("05", "quick")
    assert p.image_size == 32 and "image_size: 64 -> 32" in p.changes
    assert p.limit is not None


@pytest.mark.parametrize("call, words", [
    (lambda: profiles.get("08"), ["unknown notebook", "01, 02"]),
    (lambda: profiles.get("05", "quik"), ["quick", "did you mean"]),
    (lambda: profiles.get("05", epoch=3), ["'epoch'", "did you mean 'epochs'"]),
    (lambda: profiles.get("01", variant="wgangp"), ["wgan-gp"]),
    (lambda: profiles.get("05", epochs=0), ["epochs", ">= 1"]),
    (lambda: profiles.get("05", epochs=2.5), ["epochs"]),
    (lambda: profiles.get("05", dataset="celebA"), ["did you mean 'celeba'"]),
    (lambda: profiles.get("05", objective="wgan"), ["objective", "wgan-clip"]),
    (lambda: profiles.get("05", image_size=48), ["power of two"]),
    (lambda: profiles.get("05", lr=-1.0), ["lr"]),
    (lambda: profiles.get("05", betas=(0.5,)), ["betas"]),
    (lambda: profiles.get("05", device="gpu"), ["device", "cuda"]),
])
def test_bad_names_and_values_raise_clear_errors(call, words):
    with pytest.raises(ValueError) as info:
        call()
    for word in words:
        assert word in str(info.value)


def test_unknown_attribute_suggests_a_name():
    with pytest.raises(AttributeError, match="grid_epochs"):
        profiles.get("05").grid_epoch


def test_environment_defaults_and_precedence():
    env = {"FACEGEN_PROFILE": "smoke", "FACEGEN_EPOCHS": "2", "FACEGEN_DEVICE": "cpu", "FACEGEN_LIMIT": "none",
           "FACEGEN_DATA_DIR": "/data/x", "FACEGEN_OUTPUT_DIR": "out/x", "FACEGEN_SEED": ""}
    assert profiles.env_defaults(env) == {"profile": "smoke", "epochs": 2, "device": "cpu", "limit": None,
                                          "data_dir": "/data/x", "output_dir": "out/x"}
    p = profiles.from_env("05", environ=env, batch_size=4, seed=None)
    assert (p.profile, p.epochs, p.device, p.limit, p.batch_size, p.seed) == ("smoke", 2, "cpu", None, 4, 0)
    assert profiles.from_env("05", environ=env, profile="report", epochs=7).epochs == 7
    assert profiles.from_env("05", environ={}).profile == "quick"
    assert set(profiles.ENV_VARS.values()) <= set(profiles.get("05").as_dict()) | {"profile"}


@pytest.mark.parametrize("env, words", [
    ({"FACEGEN_EPOCHS": "two"}, ["FACEGEN_EPOCHS", "whole number"]),
    ({"FACEGEN_PROFILE": "quik"}, ["FACEGEN_PROFILE", "quick"]),
])
def test_bad_environment_values_name_the_variable(env, words):
    with pytest.raises(ValueError) as info:
        profiles.from_env("05", environ=env)
    for word in words:
        assert word in str(info.value)


def test_noise_study_epochs_hold_the_iterations_per_prior():
    for name in ("smoke", "quick"):
        p = profiles.get("04", name)
        assert p.epochs == profiles.epochs_for_iterations(p.iterations_per_prior, p.limit, p.batch_size)


def test_epochs_for_iterations():
    assert profiles.epochs_for_iterations(400, 300, 128) == 200
    assert profiles.epochs_for_iterations(400, 300, 128, drop_last=False) == 134
    with pytest.raises(ValueError, match="batch_size"):
        profiles.epochs_for_iterations(10, 4, 8)


def test_profile_choices_are_the_engines():
    # one set of choice lists: the run specification's, and the objectives and datasets registered
    from facegen_utils import datasets, spec, training

    from facegen_utils.training import config

    for name in ("OBJECTIVES", "OPTIMIZERS", "CRITIC_SCHEDULES", "AMP_MODES"):
        assert tuple(getattr(profiles, name)) == tuple(getattr(training, name)), name
    assert profiles.COMPILE_MODES is config.COMPILE_MODES is spec.COMPILE_MODES
    assert profiles.OBJECTIVES == training.objectives.names() and profiles.DATASETS == tuple(datasets.names())


def test_train_config_models_and_data_from_a_profile():
    for notebook in profiles.NOTEBOOKS:
        for variant in profiles.VARIANTS[notebook]:
            for name in profiles.PROFILES:
                p = profiles.get(notebook, name, variant=variant)
                config = p.train_config()
                assert (config.objective, config.lr, config.betas, config.epochs) == (p.objective, p.lr, p.betas,
                                                                                     p.epochs)
    p = profiles.get("02", "smoke")
    config = p.train_config(out_dir="runs/x")
    assert (config.critic_schedule, config.n_critic, config.out_dir, config.keep_checkpoints) == (
        "every-nth", 2, "runs/x", True)
    with pytest.raises(ValueError, match="did you mean 'epochs'"):
        p.train_config(epoch=1)
    models = p.build_models()
    assert models.name == "mlp-wgan-gp" and models.image_size == 16
    data = p.load_dataset()  # the model's image size and value range
    assert len(data) == p.limit and tuple(data[0].shape) == (3, 16, 16) and data.value_range == models.value_range
