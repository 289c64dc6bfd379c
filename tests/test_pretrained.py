"""The shipped generators: integrity checks on load, the manifests, and the quality each one reaches."""
from __future__ import annotations

import json
import shutil
import zipfile

import pytest
import torch

from facegen_utils import conclusions, pretrained
from facegen_utils.training import checkpoint

GAN_PRECISION, GAN_COVERAGE = pretrained.GAN_TARGETS  # the shipped GAN-family generators' targets
DIFFUSION_PRECISION, DIFFUSION_COVERAGE = 0.8, 0.7  # the shipped U-Net's, sampled with DDIM in 50 steps
FACE_ATTRIBUTE_DISTANCE = 0.2
CONDITIONAL_PRECISION, CONDITIONAL_COVERAGE, CONDITIONAL_ACCURACY = 0.8, 0.7, 0.9  # the shipped conditional DCGAN's


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """04-normal trained for one epoch into a temporary folder (the files a user's rebuild writes)."""
    folder = tmp_path_factory.mktemp("pretrained")
    info = pretrained.train("04-normal", folder=folder, epochs=1, threads=None)
    return folder, info


def _copy(built, tmp_path):
    folder, _ = built
    for path in folder.iterdir():
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def test_a_rebuild_writes_weights_and_a_manifest_that_load_checks(built):
    folder, info = built
    saved = json.loads((folder / "04-normal.json").read_text())
    assert saved == json.loads(json.dumps(info))
    assert saved["command"] == "python scripts/pretrain.py 04-normal --epochs 1"
    assert saved["sha256"] == pretrained.sha256(folder / "04-normal.pt") and saved["torch"] == torch.__version__
    assert saved["epochs"] == 1 and saved["steps"] == 32 and saved["prior"] == "normal(0, 1)"
    assert set(saved["metrics"]) >= {"precision", "coverage", "density", "fid"}
    state = torch.load(folder / "04-normal.pt", weights_only=True)
    assert {v.dtype for v in state.values() if v.is_floating_point()} == {torch.float16}
    with zipfile.ZipFile(folder / "04-normal.pt") as archive:  # no temporary name inside: same weights, same bytes
        assert {name.split("/")[0] for name in archive.namelist()} == {"archive"}
    models = pretrained.load("04-normal", folder=folder)
    assert models.D is None and not models.G.training
    assert next(models.G.parameters()).dtype == torch.float32
    assert models.G(torch.zeros(2, models.latent_dim)).shape == (2, 3, 32, 32)


def test_rescore_rewrites_only_the_metrics(built, tmp_path):
    folder = _copy(built, tmp_path)
    before = pretrained.manifest("04-normal", folder=folder)
    after = pretrained.rescore("04-normal", folder=folder)
    assert pretrained.manifest("04-normal", folder=folder) == after and "rescored" in after
    assert {k: v for k, v in after.items() if k != "rescored"} == before  # same weights and seeds: same metrics


def test_a_changed_file_is_refused_with_the_rebuild_command(built, tmp_path):
    folder = _copy(built, tmp_path)
    data = bytearray((folder / "04-normal.pt").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "04-normal.pt").write_bytes(bytes(data))
    with pytest.raises(pretrained.PretrainedError, match=r"sha256 .*changed or truncated.*scripts/pretrain.py 04-normal"):
        pretrained.load("04-normal", folder=folder)


def test_a_truncated_file_is_refused(built, tmp_path):
    folder = _copy(built, tmp_path)
    data = (folder / "04-normal.pt").read_bytes()
    (folder / "04-normal.pt").write_bytes(data[: len(data) // 3])
    with pytest.raises(pretrained.PretrainedError, match="truncated"):
        pretrained.load("04-normal", folder=folder)


def test_missing_files_and_unknown_names_say_what_to_do(built, tmp_path):
    folder = _copy(built, tmp_path)
    (folder / "04-normal.pt").unlink()
    with pytest.raises(pretrained.PretrainedError, match="04-normal.pt is missing; rebuild it with"):
        pretrained.load("04-normal", folder=folder)
    with pytest.raises(pretrained.PretrainedError, match="04-uniform.json is missing"):
        pretrained.load("04-uniform", folder=folder)
    with pytest.raises(ValueError, match="did you mean '05-gan'"):
        pretrained.load("05-gna")


def test_every_planned_model_is_shipped_small_and_intact():
    total = 0
    for name in pretrained.names():
        info = pretrained.manifest(name)
        path = pretrained.ASSETS / f"{name}.pt"
        assert pretrained.sha256(path) == info["sha256"], name
        plan = pretrained.PLANS[name]
        assert info["run"]["epochs"] == plan.epochs and info["command"].endswith(name)
        # the epochs it ships: the last, or the one chosen on held-out images among those the plan checks
        assert info["epochs"] == (info["selected"]["epoch"] if plan.select else plan.epochs), name
        assert ("selected" in info) == bool(plan.select) and info["epochs"] in (plan.select or (plan.epochs,)), name
        total += path.stat().st_size
    assert total <= 30 * 2 ** 20


def test_shipped_files_are_written_as_a_rebuild_writes_them(tmp_path):
    """The same weights give the same bytes: a rebuild whose tensors match the shipped ones reproduces its sha256."""
    for name in pretrained.names():
        path = pretrained.ASSETS / f"{name}.pt"
        checkpoint.save(torch.load(path, weights_only=True), tmp_path / path.name)
        assert pretrained.sha256(tmp_path / path.name) == pretrained.manifest(name)["sha256"], name


def test_every_plan_still_trains_what_was_shipped(built, tmp_path, monkeypatch):
    # a quick profile that changes after a generator was shipped must not change what its rebuild trains
    for name in pretrained.names():
        assert pretrained.changed_settings(name) == {}, name
    folder = _copy(built, tmp_path)
    planned = pretrained.PLANS["04-normal"].epochs
    assert pretrained.changed_settings("04-normal", folder=folder) == {"epochs": (1, planned)}  # with --epochs 1
    plan = pretrained.PLANS["01-wgan"]
    monkeypatch.setitem(pretrained.PLANS, "01-wgan", pretrained.Plan(plan.notebook, plan.variant, plan.epochs))
    changed = pretrained.changed_settings("01-wgan")
    assert set(changed) == {"clip_value", "n_critic", "lr_decay", "model_options"}
    assert [changed[key] for key in ("clip_value", "n_critic", "lr_decay")] == [(0.01, 0.05), (2, 1), ("linear", "none")]
    assert (changed["model_options"][0]["minibatch_std"], changed["model_options"][1]["minibatch_std"]) == (4, 0)
    # a model option missing from a manifest (one written before minibatch_std existed) had its default
    older = json.loads((pretrained.ASSETS / "01-wgan-gp.json").read_text())
    del older["run"]["model_options"]["minibatch_std"]
    (folder / "01-wgan-gp.json").write_text(json.dumps(older))
    recorded, planned = pretrained.changed_settings("01-wgan-gp", folder=folder)["model_options"]
    assert (recorded["minibatch_std"], planned["minibatch_std"]) == (0, 4)
    info = pretrained.manifest("04-normal", folder=folder)
    del info["run"]
    (folder / "04-normal.json").write_text(json.dumps(info))
    with pytest.raises(pretrained.PretrainedError, match="records no run setting; rebuild it with"):
        pretrained.changed_settings("04-normal", folder=folder)


def test_a_plan_that_selects_ships_its_best_checkpoint_on_held_out_images(tmp_path, monkeypatch):
    import copy
    import dataclasses

    plan = pretrained.PLANS["04-normal"]
    monkeypatch.setitem(pretrained.PLANS, "04-normal", dataclasses.replace(plan, select=(1, 2)))
    real_score, seen = pretrained.held_out_score, {}

    def first_is_best(trainer, reference, run):
        found = real_score(trainer, reference, run)
        assert reference.n == pretrained.HELD_OUT and found["score"] == pytest.approx(
            min(found["precision"] / pretrained.GAN_TARGETS[0], found["coverage"] / pretrained.GAN_TARGETS[1]),
            abs=1e-3)
        seen[trainer.epoch] = copy.deepcopy(trainer.G_ema.state_dict())
        return {**found, "score": found["score"] + (10.0 if trainer.epoch == 1 else 0.0)}

    monkeypatch.setattr(pretrained, "held_out_score", first_is_best)
    info = pretrained.train("04-normal", folder=tmp_path, epochs=2, threads=None)
    assert sorted(seen) == [1, 2]
    assert (info["epochs"], info["steps"]) == (1, 32) and info["run"]["epochs"] == 2  # trained 2, ships the first
    assert info["selected"]["epoch"] == 1 and info["selected"]["of"] == 2
    assert list(info["selected"]["held_out"]) == ["1", "2"] and info["selected"]["held_out"]["1"]["score"] >= 10
    shipped = pretrained.load("04-normal", folder=tmp_path).G.state_dict()
    for key, value in seen[1].items():
        assert torch.equal(shipped[key], value.half().float()), key
    assert not all(torch.equal(shipped[k], v.half().float()) for k, v in seen[2].items())
    with pytest.raises(ValueError, match="needs a plan with a 'limit'"):
        pretrained._held_out_reference(pretrained.spec("05-gan").replace(limit=None))


def _scored(name):
    models = pretrained.load(name)
    return pretrained.score(models, pretrained.spec(name)), pretrained.manifest(name)["metrics"]


@pytest.mark.slow
@pytest.mark.parametrize("name", pretrained.names())
def test_the_shipped_metrics_are_what_the_weights_score(name):
    """500 samples scored now give the manifest's figures (the same seeds: only float rounding may differ)."""
    now, shipped = _scored(name)
    for column, value in shipped.items():
        assert now[column] == pytest.approx(value, abs=0.01), column


def _gan_names():
    return [n for n in pretrained.names() if n not in ("01-vae", "06-ddpm", "07-cgan")]


# Targets of the shipped generators; those a CPU budget of about ten minutes does not reach are listed with what they
# reach (also in benchmarks/README.md "Shipped generators"), so that the day they are met the strict xfail turns red
# and the entry is removed.
SHORT_OF_TARGET: dict[str, str] = {}
# attribute distance, both sides read by the predictor (an independent sample of 500 real faces: 0.06); every face
# generator meets the 0.2 since 06-ddpm was trained for 80 epochs instead of 60 (0.22 then). A generator that falls
# short is listed here with its figure, as SHORT_OF_TARGET does.
ATTRIBUTES_SHORT: dict[str, str] = {}


@pytest.mark.slow
@pytest.mark.parametrize("name", _gan_names())
def test_shipped_gan_family_generators_reach_the_targets(name, request):
    if name in SHORT_OF_TARGET:
        request.applymarker(pytest.mark.xfail(strict=True, reason=SHORT_OF_TARGET[name]))
    metrics = pretrained.manifest(name)["metrics"]
    assert metrics["precision"] >= GAN_PRECISION and metrics["coverage"] >= GAN_COVERAGE


def test_the_shipped_unet_reaches_its_targets_with_ddim_50():
    info = pretrained.manifest("06-ddpm")
    assert info["model_spec"]["options"]["sample_steps"] == 50  # the sampler its 500 samples were scored with
    assert info["metrics"]["precision"] >= DIFFUSION_PRECISION and info["metrics"]["coverage"] >= DIFFUSION_COVERAGE


def test_the_shipped_conditional_generator_obeys_every_condition():
    """500 faces per attribute value (scored by pretrained.score): the judge sees the asked value in >= 90 %."""
    info = pretrained.manifest("07-cgan")
    metrics, conditions = info["metrics"], info["model_spec"]["options"]["conditions"]
    assert list(conditions) == ["hair_color", "hair_style"]
    for attribute in conditions:
        assert metrics[f"accuracy {attribute}"] >= CONDITIONAL_ACCURACY, attribute
    assert metrics["precision"] >= CONDITIONAL_PRECISION and metrics["coverage"] >= CONDITIONAL_COVERAGE


@pytest.mark.parametrize("name", [n for n in pretrained.names() if n[:2] != "04"])
def test_shipped_face_generators_match_the_attribute_distribution(name, request):
    if name in ATTRIBUTES_SHORT:
        request.applymarker(pytest.mark.xfail(strict=True, reason=ATTRIBUTES_SHORT[name]))
    assert pretrained.manifest(name)["metrics"]["attribute_distance"] <= FACE_ATTRIBUTE_DISTANCE


def test_the_longer_training_sentence_is_computed_from_both_rows():
    run, shipped = {"precision": 0.6, "coverage": 0.3}, {"precision": 0.9, "coverage": 0.85}
    text = conclusions.longer_training("05-gan", run, shipped, run_epochs=40, shipped_epochs=180, shipped_minutes=8.2)
    assert text == ("05-gan: trained for 180 epochs (8 min on one CPU thread) instead of 40, the same architecture "
                    "reaches precision 0.90 and coverage 0.85 (this run: 0.60 / 0.30); coverage rises by 0.55, and it "
                    "reaches the course's targets (0.7 / 0.5).")
    worse = conclusions.longer_training("x", shipped, run, run_epochs=1, shipped_epochs=2, shipped_minutes=1,
                                        targets=False)
    assert "coverage falls by 0.55" in worse and "targets" not in worse
    counted = conclusions.longer_training("04-normal", run, shipped, run_epochs=75, shipped_epochs=400,
                                          shipped_minutes=10.4, run_steps=675, shipped_steps=12800)
    assert counted.startswith("04-normal: trained for 400 epochs (12,800 iterations, 10 min on one CPU thread) "
                              "instead of 75 (675 iterations), the same architecture reaches")
    one_side = conclusions.longer_training("x", run, shipped, run_epochs=1, shipped_epochs=2, shipped_minutes=1,
                                           run_steps=9)  # the other count unknown: neither is named
    assert "iterations" not in one_side


def test_the_longer_training_sentence_names_a_changed_architecture():
    from facegen_utils import profiles

    run = profiles.get("05", "quick").spec
    assert pretrained.architecture_change("05-gan", run.model.options) == "the same architecture"
    # against its own quick profile: the option belongs to the discriminator, which is not shipped (the generators are
    # the same network), but it is part of the setting a student would change to train the same
    assert pretrained.architecture_change("03-gan") == ("the same generator trained against a discriminator with "
                                                        "minibatch_std 4 (this run: 0)")
    assert pretrained.architecture_change("01-wgan") == ("the same generator trained against a critic with "
                                                         "minibatch_std 4 (this run: 0)")
    assert pretrained.architecture_change("01-wgan", {"base_channels": 8, "bn_momentum": 0.1}) == (
        "the same architecture with base_channels 16 (this run: 8), trained against a critic with minibatch_std 4 "
        "(this run: 0)")
    # the option really builds the discriminator alone: the generators of the two settings are the same network
    from facegen_utils.models import registry

    for key in registry.DISCRIMINATOR_OPTIONS:
        for model in (m for m in registry.names() if key in registry.options(m)):
            plain, with_option = (registry.build(model, image_size=32, **{key: value})
                                  for value in (registry.options(model)[key], 4))
            assert repr(plain.G) == repr(with_option.G), (model, key)
            assert repr(plain.D) != repr(with_option.D), (model, key)
    narrow = run.replace(model_options={"base_channels": 8}).build_models()
    assert pretrained.architecture_change("05-gan", narrow.options) == ("the same architecture with base_channels 32 "
                                                                        "(this run: 8)")
    assert pretrained.architecture_change("04-normal") == ("the same architecture with base_channels 32 (this run: 16), "
                                                           "noise_inputs True (this run: False)")
    # a width only this run sets is compared with the shipped model's default (01-gan's manifest leaves it out)
    assert "base_channels" not in pretrained.manifest("01-gan")["model_spec"]["options"]
    # a tuple of the run and the list of the manifest are the same setting
    assert pretrained.architecture_change("06-ddpm") == "the same architecture with sample_steps 50 (this run: 25)"
    # and a changed one reads the same way on both sides, as training_change writes betas
    fewer_levels = {**pretrained.manifest("06-ddpm")["model_spec"]["options"], "channel_mults": (1, 2)}
    assert pretrained.architecture_change("06-ddpm", fewer_levels) == (
        "the same architecture with channel_mults (1, 2, 2) (this run: (1, 2))")
    assert pretrained.architecture_change("01-gan", {"base_channels": 16, "bn_momentum": 0.1}) == (
        "the same architecture with base_channels 32 (this run: 16)")
    text = conclusions.longer_training("05-gan", {"precision": 0.1, "coverage": 0.1}, {"precision": 0.9,
                                       "coverage": 0.9}, run_epochs=1, shipped_epochs=2, shipped_minutes=1,
                                       architecture="the same architecture with base_channels 32 (this run: 8)")
    assert "instead of 1, the same architecture with base_channels 32 (this run: 8) reaches precision 0.90" in text


def test_the_longer_training_sentence_names_the_changed_training_settings():
    from facegen_utils import profiles

    # against its notebook's quick profile: every training setting the plan changed, in the manifest's words
    assert pretrained.training_change("04-normal") == (
        "limit 1024 (this run: 300), lr 0.0002 (this run: 0.0006), ema 0.9995 (this run: None)")
    # the quick run with the report's training step (exercise 5 of notebook 04): the step's settings are named too
    report_step = profiles.get("04", "quick").spec.replace(real_label=0.8, fake_label=0.1, betas=(0.5, 0.999),
                                                           augment="none", hflip=False)
    assert pretrained.training_change("04-normal", report_step) == (
        "limit 1024 (this run: 300), lr 0.0002 (this run: 0.0006), betas (0.0, 0.99) (this run: (0.5, 0.999)), "
        "real_label 1.0 (this run: 0.8), fake_label 0.0 (this run: 0.1), hflip True (this run: False), augment "
        "translation (this run: none), ema 0.9995 (this run: None)")
    # the plan itself, or the plan run elsewhere with another seed: no training change
    for name in pretrained.names():
        assert pretrained.training_change(name, pretrained.spec(name)) == "", name
    moved = pretrained.spec("05-gan").replace(device="cpu", seed=3, log_every=1, sample_every=2, epochs=1)
    assert pretrained.training_change("05-gan", moved) == ""
    quick = profiles.get("01", "quick", variant="vae").spec
    assert pretrained.training_change("01-vae", quick.replace(vae_beta=0.5)) == ""
    assert pretrained.training_change("01-vae", quick.replace(vae_beta=0.25)) == "vae_beta 0.5 (this run: 0.25)"
    text = conclusions.longer_training("x", {"precision": 0.1, "coverage": 0.1}, {"precision": 0.9, "coverage": 0.9},
                                       run_epochs=1, shipped_epochs=2, shipped_minutes=1,
                                       training="lr 0.0002 (this run: 0.0004)")
    assert text.endswith("(0.7 / 0.5). Trained with lr 0.0002 (this run: 0.0004).")


def test_after_longer_training_is_not_shown_on_real_data():
    from facegen_utils import profiles

    spec = profiles.get("05", "report").spec
    result = pretrained.after_longer_training({"05-gan": None}, None, spec, run_epochs=1)
    assert result.figure is None and "this run uses celeba at 64 px" in result.reason
    models, line = pretrained.for_exploration("05-gan", "this run's models", spec)
    assert models == "this run's models" and line.startswith("Exploring this run's generator: the shipped 05-gan")


def test_after_longer_training_puts_the_run_beside_the_shipped_generator():
    from facegen_utils import metrics, profiles

    run = profiles.get("05", "quick").spec
    reference = metrics.reference(run.load_dataset(), n=100, seed=0)
    this_run = run.replace(model_options={"base_channels": 8}).build_models()  # an untrained stand-in
    result = pretrained.after_longer_training({"05-gan": this_run}, reference, run, run_epochs=3, grid=4)
    assert result.reason is None
    assert list(result.table["n_fake"]) == [100, 100]  # as many generated as real images, by default
    assert list(result.table.index) == ["05-gan: this run (3 epochs)", "05-gan: shipped (180 epochs)"]
    assert result.table["coverage"].iloc[1] > result.table["coverage"].iloc[0]
    assert result.sentences[0].startswith("05-gan: trained for 180 epochs (") and "instead of 3" in result.sentences[0]
    assert "the same architecture with base_channels 32 (this run: 8) reaches" in result.sentences[0]
    assert result.sentences[0].endswith(" Trained with lr 0.0002 (this run: 0.0004), ema 0.999 (this run: None).")
    # a Trainer built from a model set and a tensor (notebook 04's way) knows no data specification: its training
    # settings are its own, the data's those of the notebook's run
    from facegen_utils.training import Trainer

    changed = run.replace(lr=1e-3, hflip=True)
    trainer = Trainer(changed.build_models(), run.load_dataset(), changed.train)
    result = pretrained.after_longer_training({"05-gan": trainer}, reference, run, run_epochs=0, grid=4, n=20)
    assert result.sentences[0].endswith(" Trained with lr 0.0002 (this run: 0.001), hflip False (this run: True), "
                                        "ema 0.999 (this run: None).")
    # a Trainer knows its iterations: both are named, since an epoch of another batch or dataset size differs
    trainer.fit(1)
    result = pretrained.after_longer_training({"05-gan": trainer}, reference, run, run_epochs=1, grid=4, n=20)
    steps = len(run.load_dataset()) // run.train.batch_size
    assert steps > 0 and trainer.step == steps
    assert (f"trained for 180 epochs (5,760 iterations, {pretrained.manifest('05-gan')['seconds'] / 60:.0f} min on one "
            f"CPU thread) instead of 1 ({steps} iterations), ") in result.sentences[0]
    assert list(result.table.index) == ["05-gan: this run (1 epoch)", "05-gan: shipped (180 epochs)"]  # 32 an epoch
    # where an epoch holds fewer iterations than the shipped run's (notebook 04's 300 paintings), the labels name them
    few = Trainer(changed.build_models(), run.replace(limit=4 * run.train.batch_size).load_dataset(), changed.train)
    few.fit(1)
    result = pretrained.after_longer_training({"05-gan": few}, reference, run, run_epochs=1, grid=4, n=20)
    assert list(result.table.index) == ["05-gan: this run (1 epoch, 4 iterations)",
                                        "05-gan: shipped (180 epochs, 5,760 iterations)"]


def test_the_script_lists_each_plan_with_its_checkpoint_choice(capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "pretrain.py"
    script = importlib.util.spec_from_file_location("pretrain_script", path)
    module = importlib.util.module_from_spec(script)
    script.loader.exec_module(module)
    assert module.main(["--list"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert set(lines) == set(pretrained.names())
    assert "450 epochs (best of 350, 400, 450 on held-out images)" in lines["04-normal"]
    assert lines["05-gan"].split(" epochs")[1].startswith("  {'precision'")  # a plan without a choice: no note
