"""Checkpoints: exact resume, the interrupt checkpoint, atomic writes and wrong-architecture checkpoints."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from facegen_utils import models
from facegen_utils.models import ArchitectureMismatchError
from facegen_utils.training import Trainer, TrainConfig
from facegen_utils.training import checkpoint as ckpt

SIZE = 16  # the image size of the conftest fixture tiny_faces
pytestmark = pytest.mark.usefixtures("one_thread")
# keras-gan: dropout in D (global RNG), BatchNorm buffers; EMA, flips and the critic's augmentation add state and
# the per-step noise stream
CONFIG = {"epochs": 2, "batch_size": 16, "ema": 0.9, "hflip": True, "augment": "translation", "log_every": 2,
          "sample_every": 1}


def keras_gan(**options) -> models.ModelSet:
    torch.manual_seed(0)
    return models.build("keras-gan", image_size=SIZE, latent_dim=8, **{"base_channels": 8, **options})


@pytest.fixture(scope="module")
def straight(tiny_faces, tmp_path_factory) -> Trainer:
    """Two epochs in one go: the reference every resumed run must equal bit for bit."""
    out = tmp_path_factory.mktemp("straight")
    trainer = Trainer(keras_gan(), tiny_faces, TrainConfig(**CONFIG, out_dir=str(out)))
    trainer.fit()
    return trainer


def assert_same_state(a: Trainer, b: Trainer) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert (sa["epoch"], sa["step"]) == (sb["epoch"], sb["step"])
    for role, weights in sa["models"].items():
        for name, tensor in weights.items():
            assert torch.equal(tensor, sb["models"][role][name]), f"{role}.{name} differs"
    for role, opt in sa["optimizers"].items():
        for index, state in opt["state"].items():
            for key, value in state.items():
                assert torch.equal(value, sb["optimizers"][role]["state"][index][key]), f"{role} optimiser {key}"
    assert a.history.equals(b.history)
    assert torch.equal(sa["rng"]["torch"], sb["rng"]["torch"])


def test_one_epoch_plus_resume_equals_two_epochs_bit_for_bit(tiny_faces, straight, tmp_path):
    first = Trainer(keras_gan(), tiny_faces, TrainConfig(**CONFIG, out_dir=str(tmp_path)))
    first.fit(1)
    resumed = Trainer.from_checkpoint(tmp_path / "checkpoint.pt", tiny_faces)
    assert (resumed.epoch, resumed.step) == (1, 3)
    resumed.fit()
    assert_same_state(straight, resumed)
    assert resumed.epoch_history.equals(straight.epoch_history)
    assert (tmp_path / "losses.csv").read_text() == (straight.last_checkpoint.parent / "losses.csv").read_text()


def test_a_generator_with_noise_inputs_resumes_bit_for_bit(tiny_faces, tmp_path):
    def trainer(out: Path) -> Trainer:
        torch.manual_seed(0)
        dcgan = models.build("dcgan", image_size=SIZE, latent_dim=8, base_channels=8, noise_inputs=True)
        return Trainer(dcgan, tiny_faces, TrainConfig(**CONFIG, out_dir=str(out)))

    straight = trainer(tmp_path / "straight")
    straight.fit()
    first = trainer(tmp_path / "resumed")
    first.fit(1)
    resumed = Trainer.from_checkpoint(tmp_path / "resumed" / "checkpoint.pt", tiny_faces)
    resumed.fit()
    assert_same_state(straight, resumed)
    from facegen_utils.models.dcgan import NoiseInput

    scales = [m.weight for m in resumed.models.G.modules() if isinstance(m, NoiseInput)]
    assert len(scales) == 2 and all(s.abs().sum() > 0 for s in scales)  # the scales moved from zero: noise was used


def test_keyboard_interrupt_writes_a_checkpoint_that_resumes_exactly(tiny_faces, straight, tmp_path):
    trainer = Trainer(keras_gan(), tiny_faces, TrainConfig(**CONFIG, out_dir=str(tmp_path)))

    def interrupt(t: Trainer) -> None:
        if t.step == 5:
            raise KeyboardInterrupt

    trainer.on("on_step_end", interrupt)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    state = ckpt.load(tmp_path / "checkpoint.pt")
    assert (state["epoch"], state["step"]) == (1, 5)
    assert state["history"]["step"].tolist() == [1, 2, 3, 4, 5]

    resumed = Trainer.from_checkpoint(tmp_path / "checkpoint.pt", tiny_faces)
    resumed.fit()
    assert_same_state(straight, resumed)


def test_a_crash_while_saving_leaves_the_previous_checkpoint(tiny_faces, tmp_path, monkeypatch):
    trainer = Trainer(keras_gan(), tiny_faces, TrainConfig(**{**CONFIG, "epochs": 1}, out_dir=str(tmp_path)))
    trainer.fit()
    path = tmp_path / "checkpoint.pt"
    good = path.read_bytes()

    def crash(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        trainer.save_checkpoint()
    monkeypatch.undo()
    assert path.read_bytes() == good
    assert ckpt.load(path)["step"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt", "losses.csv", "losses_epoch.csv",
                                                           "samples"]


def test_numbered_checkpoints_keep_the_weights_and_refuse_to_resume(tiny_faces, tmp_path):
    config = TrainConfig(**{**CONFIG, "epochs": 2}, out_dir=str(tmp_path), keep_checkpoints=True)
    trainer = Trainer(keras_gan(), tiny_faces, config)
    trainer.fit()
    first, last = tmp_path / "checkpoint_epoch_0001.pt", tmp_path / "checkpoint_epoch_0002.pt"
    assert ckpt.load(first)["epoch"] == 1 and ckpt.load(last)["epoch"] == 2
    assert "optimizers" not in ckpt.load(last) and len(ckpt.load(last)["history"]["step"]) == trainer.step
    assert last.stat().st_size < 0.6 * (tmp_path / "checkpoint.pt").stat().st_size
    sampler = ckpt.load_generator(last)                   # the EMA weights of the last epoch, as in checkpoint.pt
    for a, b in zip(sampler.G.state_dict().values(), trainer.G_ema.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="networks only.*keep_checkpoints='full'"):
        Trainer.from_checkpoint(first, tiny_faces)


def test_full_numbered_checkpoints_resume_and_overrides_apply(tiny_faces, tmp_path):
    config = TrainConfig(**{**CONFIG, "epochs": 2, "ema": None}, out_dir=str(tmp_path), keep_checkpoints="full")
    Trainer(keras_gan(), tiny_faces, config).fit()
    assert ckpt.load(tmp_path / "checkpoint_epoch_0001.pt")["epoch"] == 1
    assert ckpt.load(tmp_path / "checkpoint_epoch_0002.pt")["epoch"] == 2
    with pytest.raises(ValueError, match="keep_checkpoints='maybe'"):
        TrainConfig(keep_checkpoints="maybe")
    resumed = Trainer.from_checkpoint(tmp_path / "checkpoint_epoch_0001.pt", tiny_faces,
                                      config_overrides={"lr": 1e-5, "epochs": 3})
    assert resumed.config.epochs == 3 and resumed.optimizers["G"].param_groups[0]["lr"] == 1e-5
    with pytest.raises(ValueError, match="did you mean 'epochs'"):
        Trainer.from_checkpoint(tmp_path / "checkpoint.pt", tiny_faces, config_overrides={"epoch": 3})


def test_a_checkpoint_of_another_architecture_is_rejected_clearly(tiny_faces, straight, tmp_path):
    path = straight.last_checkpoint
    wider = Trainer(keras_gan(base_channels=16), tiny_faces, TrainConfig(**CONFIG))
    with pytest.raises(ArchitectureMismatchError, match="shape mismatch"):
        wider.resume(path)
    torch.manual_seed(0)
    other = Trainer(models.build("dcgan", image_size=SIZE, latent_dim=8, base_channels=8), tiny_faces,
                    TrainConfig(**CONFIG))
    with pytest.raises(ArchitectureMismatchError, match="holds 'keras-gan'.*trains 'dcgan'"):
        other.resume(path)

    torch.save({"G": straight.models.G.state_dict()}, tmp_path / "weights.pt")
    with pytest.raises(ValueError, match="not a facegen training checkpoint"):
        Trainer.from_checkpoint(tmp_path / "weights.pt", tiny_faces)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable facegen checkpoint"):
        Trainer.from_checkpoint(tmp_path / "junk.pt", tiny_faces)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Trainer.from_checkpoint(tmp_path / "missing.pt", tiny_faces)


FORMAT_1 = Path(__file__).parent / "data" / "checkpoint_format1_dcgan.pt"  # written by facegen_utils 0.1.0 (format 1)


def test_a_checkpoint_of_the_previous_format_still_resumes_and_samples(tmp_path):
    from facegen_utils import datasets, spec

    state = ckpt.load(FORMAT_1)
    assert state["format"] == 1 and "data_spec" not in state
    data = datasets.get("synthetic-faces", image_size=16, limit=32)
    trainer = Trainer.from_checkpoint(FORMAT_1, data, config_overrides={"epochs": 2, "out_dir": str(tmp_path)})
    assert (trainer.epoch, trainer.models.name, trainer.models.latent_dim) == (1, "dcgan", 8)
    assert trainer.spec.model == spec.ModelSpec("dcgan", 16, 8, {"base_channels": 4})
    trainer.fit()
    assert trainer.epoch == 2 and ckpt.load(tmp_path / "checkpoint.pt")["format"] == ckpt.FORMAT
    assert ckpt.load_generator(FORMAT_1).G(torch.zeros(2, 8, 1, 1)).shape == (2, 3, 16, 16)
    with pytest.raises(ValueError, match="format 1.*pass the data"):
        Trainer.from_checkpoint(FORMAT_1)


def test_a_checkpoint_names_its_run_specification(tmp_path):
    from facegen_utils.spec import RunSpec

    spec = RunSpec.from_flat({"model": "dcgan", "image_size": 16, "model_options": {"base_channels": 4},
                              "latent_dim": 8, "limit": 32, "batch_size": 16, "epochs": 1, "seed": 5,
                              "out_dir": str(tmp_path)})
    Trainer.from_spec(spec).fit()
    state = ckpt.load(tmp_path / "checkpoint.pt")
    assert state["data_spec"] == {"name": "synthetic-faces", "data_dir": None, "limit": 32, "conditions": ()}
    resumed = Trainer.from_checkpoint(tmp_path / "checkpoint.pt")  # the data come from the spec
    assert resumed.spec == spec and len(resumed.batches.images) == 32


@pytest.mark.parametrize("decay", ["linear", "cosine"])
def test_a_decaying_learning_rate_follows_the_step_and_resumes_exactly(tiny_faces, tmp_path, decay, caplog):
    config = {**CONFIG, "lr_decay": decay, "lr_D": 1e-3}
    straight = Trainer(keras_gan(), tiny_faces, TrainConfig(**config))
    used: list[tuple[float, float]] = []
    straight.on("on_step_end", lambda t: used.append((t.optimizers["G"].param_groups[0]["lr"],
                                                      t.optimizers["D"].param_groups[0]["lr"])))
    straight.fit()
    total = 2 * straight.steps_per_epoch
    progress = [step / total for step in range(total)]  # the step count before each update
    factors = ([1 - x for x in progress] if decay == "linear"
               else [0.5 * (1 + torch.cos(torch.tensor(torch.pi * x)).item()) for x in progress])
    assert [g for g, _ in used] == pytest.approx([2e-4 * f for f in factors])
    assert [d for _, d in used] == pytest.approx([1e-3 * f for f in factors])  # lr_D decays alike
    assert used[0] == pytest.approx((2e-4, 1e-3)) and used[-1][0] < used[0][0] / 2

    first = Trainer(keras_gan(), tiny_faces, TrainConfig(**config, out_dir=str(tmp_path)))
    first.fit(1)
    resumed = Trainer.from_checkpoint(tmp_path / "checkpoint.pt", tiny_faces)
    resumed.fit()
    assert_same_state(straight, resumed)

    with caplog.at_level("WARNING", logger="facegen"):
        resumed.fit(3)  # past the decay's end: the learning rate is 0, and the log says so
    assert f"lr_decay='{decay}' reaches a learning rate of 0 at epoch 2" in caplog.text
    assert resumed.optimizers["G"].param_groups[0]["lr"] == 0.0


def test_an_unknown_learning_rate_decay_is_refused():
    with pytest.raises(ValueError, match="lr_decay"):
        TrainConfig(lr_decay="step")


def _norm(module: torch.nn.Module) -> float:
    return float(sum(p.detach().pow(2).sum() for p in module.parameters()).sqrt())


def test_weight_decay_shrinks_the_networks_it_is_set_for_and_resumes_exactly(tiny_faces, tmp_path):
    config = {**CONFIG, "weight_decay": 50.0, "weight_decay_D": 0.0}  # lr 2e-4: 1 % of every weight per step
    plain = Trainer(keras_gan(), tiny_faces, TrainConfig(**CONFIG))
    decayed = Trainer(keras_gan(), tiny_faces, TrainConfig(**config))
    assert type(decayed.optimizers["G"]) is torch.optim.AdamW and type(decayed.optimizers["D"]) is torch.optim.Adam
    assert decayed.optimizers["G"].param_groups[0]["weight_decay"] == 50.0
    start = _norm(decayed.models.G)
    plain.fit()
    decayed.fit()
    steps = decayed.optimizers["G"].state_dict()["state"][0]["step"].item()
    assert _norm(decayed.models.G) < 0.95 * _norm(plain.models.G) and _norm(decayed.models.G) < start * (
        1 - 0.5 * 2e-4 * 50) ** steps  # the generator shrank by about the decay; the plain one did not
    both = Trainer(keras_gan(), tiny_faces, TrainConfig(**{**config, "weight_decay_D": None}))
    assert all(type(opt) is torch.optim.AdamW for opt in both.optimizers.values())  # None: D decays alike

    first = Trainer(keras_gan(), tiny_faces, TrainConfig(**config, out_dir=str(tmp_path)))
    first.fit(1)
    resumed = Trainer.from_checkpoint(tmp_path / "checkpoint.pt", tiny_faces)
    assert type(resumed.optimizers["G"]) is torch.optim.AdamW
    resumed.fit()
    assert_same_state(decayed, resumed)


@pytest.mark.parametrize("settings, message", [({"weight_decay": -0.1}, "weight_decay"),
                                               ({"weight_decay_D": 0.5, "optimizer": "rmsprop"},
                                                "weight_decay_D=0.5 is invalid.*optimizer='adam'")])
def test_a_negative_weight_decay_or_one_without_adam_is_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**settings)
