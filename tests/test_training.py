"""Training engine: every objective trains on procedural tiny_faces, events, logs, EMA, data batches, bad settings."""
from __future__ import annotations

import contextlib
import math
from types import SimpleNamespace

import pandas as pd
import pytest
import torch

from facegen_utils import models
from facegen_utils.datasets.procedural import SyntheticFaces
from facegen_utils.device import resolve_device
from facegen_utils.training import COLUMNS, EVENTS, NonFiniteLossError, Trainer, TrainConfig, load_generator
from facegen_utils.training import objectives
from facegen_utils.training.data import BatchSource

SIZE = 16  # the image size of the conftest fixture tiny_faces
pytestmark = pytest.mark.usefixtures("one_thread")
TINY = {  # the smallest versions of the report models that still train
    "dcgan": {"base_channels": 8},
    "keras-gan": {"base_channels": 8},
    "keras-wgan": {"base_channels": 8},
    "mlp-wgan-gp": {"hidden_dims": (16, 32, 64)},
    "keras-vae": {"base_channels": 8},
}


def tiny(name: str, seed: int = 0) -> models.ModelSet:
    torch.manual_seed(seed)
    return models.build(name, image_size=SIZE, latent_dim=8, **TINY[name])


def config(**overrides) -> TrainConfig:
    return TrainConfig(**{"epochs": 1, "batch_size": 16, "sample_every": 0, "log_every": 2, **overrides})


def flat_params(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in module.parameters()])


def optimiser_steps(optimizer: torch.optim.Optimizer) -> int:
    return int(next(iter(optimizer.state.values()))["step"])


@pytest.mark.parametrize("name, overrides", [
    ("dcgan", {"objective": "gan", "real_label": 0.8, "fake_label": 0.1}),
    ("keras-wgan", {"objective": "wgan-clip", "optimizer": "rmsprop", "lr": 5e-5}),
    ("mlp-wgan-gp", {"objective": "wgan-gp", "betas": (0.0, 0.9), "lr": 1e-4}),
    ("keras-vae", {"objective": "vae"}),
])
def test_every_objective_trains_and_its_losses_move(tiny_faces, name, overrides):
    m = tiny(name)
    before = {role: flat_params(module) for role, module in m.modules().items()}
    trainer = Trainer(m, tiny_faces, config(**overrides))
    history = trainer.fit()
    assert list(history.columns) == ["epoch", "step", *COLUMNS[trainer.config.objective]]
    assert len(history) == trainer.step == 3 and history["step"].tolist() == [1, 2, 3]
    losses = history.drop(columns=["epoch", "step"])
    assert losses.notna().all().all() and losses.map(math.isfinite).all().all()
    main_loss = "loss" if name == "keras-vae" else "loss_D"
    assert history[main_loss].nunique() == 3
    for role, module in m.modules().items():
        assert not torch.equal(before[role], flat_params(module)), f"{role} did not change"
    if trainer.config.objective == "wgan-clip":
        assert flat_params(m.D).abs().max() <= trainer.config.clip_value
    if trainer.config.objective == "gan":
        assert history["d_acc"].between(0, 1).all()


@pytest.mark.parametrize("schedule, g_steps", [("every-nth", [1, 3, 5]), ("inner", [2, 4, 6])])
def test_critic_schedules_step_the_generator_on_the_right_batches(schedule, g_steps):
    data = SyntheticFaces(n=48, image_size=SIZE, seed=1)
    trainer = Trainer(tiny("mlp-wgan-gp"), data, config(objective="wgan-gp", batch_size=8, n_critic=2,
                                                        critic_schedule=schedule))
    history = trainer.fit()
    assert history.loc[history["loss_G"].notna(), "step"].tolist() == g_steps
    assert optimiser_steps(trainer.optimizers["D"]) == 6
    assert optimiser_steps(trainer.optimizers["G"]) == 3


def test_events_fire_in_order_and_outputs_are_written(tiny_faces, tmp_path, capsys):
    trainer = Trainer(tiny("dcgan"), tiny_faces, config(epochs=2, out_dir=str(tmp_path), sample_every=1, grid_size=4))
    fired = []
    for event in EVENTS:
        trainer.on(event, lambda t, event=event: fired.append((event, t.epoch, t.step)))
    trainer.fit()
    epoch = [("on_sample",), ("on_checkpoint",), ("on_epoch_end",)]
    expected = [("on_train_start", 0, 0)]
    for e in range(2):
        expected += [("on_epoch_start", e, 3 * e)] + [("on_step_end", e, 3 * e + s) for s in (1, 2, 3)]
        expected += [(name[0], e + 1, 3 * e + 3) for name in epoch]
    expected += [("on_train_end", 2, 6)]
    assert fired == expected
    assert "it/s" not in capsys.readouterr().err  # tqdm honours TQDM_DISABLE=1 (set for the tests)

    history = pd.read_csv(tmp_path / "losses.csv")
    pd.testing.assert_frame_equal(history, trainer.history, check_exact=False, rtol=1e-12)
    per_epoch = pd.read_csv(tmp_path / "losses_epoch.csv")
    assert per_epoch["epoch"].tolist() == [1, 2] and per_epoch["step"].tolist() == [3, 6]
    assert per_epoch["loss_D"].iloc[0] == pytest.approx(history["loss_D"].iloc[:3].mean())
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["epoch_0001.png", "epoch_0002.png"]
    assert sorted(trainer.samples) == [1, 2] and trainer.samples[2].dtype.name == "uint8"
    assert (tmp_path / "checkpoint.pt").is_file()
    with pytest.raises(ValueError, match="unknown event 'on_batch_end'"):
        trainer.on("on_batch_end", print)


def test_ema_generator_differs_from_g_and_is_used_for_samples(tiny_faces, tmp_path):
    trainer = Trainer(tiny("dcgan"), tiny_faces, config(ema=0.9, out_dir=str(tmp_path)))
    trainer.fit()
    assert not torch.equal(flat_params(trainer.G_ema), flat_params(trainer.models.G))
    images = trainer.sample(4, seed=3)
    assert images.shape == (4, 3, SIZE, SIZE) and images.min() >= -1 and images.max() <= 1
    assert torch.equal(images, trainer.sample(4, seed=3))
    assert trainer.models.G.training  # sampling puts G back in train mode

    loaded = load_generator(tmp_path / "checkpoint.pt")
    assert not loaded.G.training
    assert torch.equal(flat_params(loaded.G), flat_params(trainer.G_ema))
    raw = load_generator(tmp_path / "checkpoint.pt", ema=False)
    assert torch.equal(flat_params(raw.G), flat_params(trainer.models.G))


def test_non_finite_loss_stops_with_step_and_last_good_checkpoint(tiny_faces, tmp_path):
    trainer = Trainer(tiny("dcgan"), tiny_faces, config(epochs=2, out_dir=str(tmp_path)))

    def poison(t: Trainer) -> None:
        if t.step == 4:
            with torch.no_grad():
                next(t.models.D.parameters()).fill_(float("nan"))

    trainer.on("on_step_end", poison)
    with pytest.raises(NonFiniteLossError, match=r"epoch 2, step 5 .*loss_D=nan") as info:
        trainer.fit()
    assert info.value.step == 5 and info.value.epoch == 2
    assert info.value.checkpoint == tmp_path / "checkpoint.pt" and str(tmp_path / "checkpoint.pt") in str(info.value)
    assert Trainer.from_checkpoint(tmp_path / "checkpoint.pt", tiny_faces).step == 3  # the good one was kept
    assert trainer.history["step"].tolist() == [1, 2, 3, 4]


def test_batches_come_from_a_seeded_permutation_shared_out_between_ranks(tiny_faces):
    device = torch.device("cpu")
    shards = [BatchSource(tiny_faces, batch_size=4, value_range=(-1, 1), device=device, seed=5, rank=r, world_size=2)
              for r in range(2)]
    assert len(shards[0]) == 48 // (4 * 2)
    assert BatchSource(tiny_faces, batch_size=4, value_range=(-1, 1), device=device, seed=5, limit=20).size == 20
    first, second = (s.indices(0) for s in shards)
    assert not set(first.flatten().tolist()) & set(second.flatten().tolist())
    assert torch.equal(first, shards[0].indices(0)) and not torch.equal(first, shards[0].indices(1))

    fast = next(shards[0].epoch(0))
    assert fast.dtype == torch.float32 and fast.min() >= -1 and fast.max() <= 1
    as_floats = torch.utils.data.TensorDataset(tiny_faces.to_uint8().float() / 255)  # no to_uint8: DataLoader path
    as_floats.value_range = (0.0, 1.0)
    slow = next(BatchSource(as_floats, batch_size=4, value_range=(-1, 1), device=device, seed=5,
                            world_size=2).epoch(0))
    torch.testing.assert_close(slow, fast)


def test_adam_on_the_cpu_is_fused_and_follows_the_plain_update(tiny_faces):
    trainer = Trainer(tiny("dcgan"), tiny_faces, config(device="cpu", betas=(0.5, 0.999)))
    assert all(group["fused"] for opt in trainer.optimizers.values() for group in opt.param_groups)
    fused = trainer.optimizers["D"]
    module = trainer.models.D
    plain = torch.optim.Adam([p.detach().clone().requires_grad_() for p in module.parameters()],
                             lr=fused.defaults["lr"], betas=(0.5, 0.999))
    for _ in range(3):
        grads = [torch.randn_like(p) for p in module.parameters()]
        for params, opt in ((list(module.parameters()), fused), (plain.param_groups[0]["params"], plain)):
            for p, g in zip(params, grads):
                p.grad = g.clone()
            opt.step()
    for p, q in zip(module.parameters(), plain.param_groups[0]["params"]):
        torch.testing.assert_close(p.detach(), q.detach(), rtol=1e-5, atol=1e-6)


def test_channels_last_is_automatic_for_convolutional_models_on_the_cpu(tiny_faces):
    def conv_weight(trainer):
        return next(p for p in trainer.models.D.parameters() if p.dim() == 4)

    auto = Trainer(tiny("dcgan"), tiny_faces, config(device="cpu"))
    assert auto.channels_last and conv_weight(auto).is_contiguous(memory_format=torch.channels_last)
    off = Trainer(tiny("dcgan"), tiny_faces, config(device="cpu", channels_last=False))
    assert not off.channels_last and conv_weight(off).is_contiguous()
    assert not Trainer(tiny("mlp-wgan-gp"), tiny_faces, config(device="cpu", objective="wgan-gp")).channels_last
    with pytest.raises(ValueError, match="channels_last"):
        config(channels_last="yes")


@pytest.mark.parametrize("asked", [None, True])
def test_channels_last_is_off_for_transposed_convolutions_compiled_on_cuda(asked, caplog):
    # the rule reads the config, the device and the networks only, so a stand-in shows the CUDA decision here
    def decide(name, device, compile):
        networks = tiny(name).modules()
        stand_in = SimpleNamespace(config=config(channels_last=asked, compile=compile),
                                   device=torch.device(device), _modules=networks)
        return Trainer._use_channels_last(stand_in)

    assert decide("dcgan", "cuda", "reduce-overhead") is False
    assert ("ignored" in caplog.text) is (asked is True)
    assert decide("dcgan", "cuda", False) is True  # not compiled: NHWC as asked or automatic
    assert decide("dcgan", "cpu", True) is True    # inductor's CPU path is not affected
    assert decide("mlp-wgan-gp", "cuda", True) is bool(asked)  # no convolutions: only when asked


def test_real_and_fake_share_one_critic_pass_only_without_batch_norm(tiny_faces, monkeypatch):
    batch_sizes = []
    joint = Trainer(tiny("keras-wgan"), tiny_faces, config(objective="wgan-clip", optimizer="rmsprop"))
    bn = Trainer(tiny("dcgan"), tiny_faces, config())
    for trainer in (joint, bn):
        monkeypatch.setitem(trainer._nets, "D", lambda x, D=trainer._nets["D"]: batch_sizes.append(len(x)) or D(x))
        batch_sizes.clear()
        trainer._train_step(next(iter(trainer.batches.epoch(0))), 0)
        assert batch_sizes == ([32] if trainer is joint else [16, 16])


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
@pytest.mark.parametrize("name, overrides", [
    ("dcgan", {"objective": "gan"}),
    ("mlp-wgan-gp", {"objective": "wgan-gp", "betas": (0.0, 0.9)}),
])
def test_autocast_trains_with_finite_losses_on_the_cpu(tiny_faces, tmp_path, amp, name, overrides):
    """The mixed-precision path of the GPUs (autocast, GradScaler with fused Adam for fp16), run on the CPU."""
    trainer = Trainer(tiny(name), tiny_faces, config(amp=amp, out_dir=str(tmp_path), epochs=2, **overrides))
    history = trainer.fit()
    assert history[["loss_D", "loss_G"]].notna().any().all()
    assert history["loss_D"].dropna().map(math.isfinite).all()
    assert trainer.scaler.is_enabled() is (amp == "fp16")
    resumed = Trainer.from_checkpoint(tmp_path / "checkpoint.pt", tiny_faces)
    assert resumed.step == trainer.step and resumed.scaler.get_scale() == trainer.scaler.get_scale()


@pytest.mark.slow
def test_compiled_training_on_the_cpu_saves_plain_weights(tiny_faces, tmp_path):
    """torch.compile (the GPU's graph path) through inductor's CPU backend: losses finite, checkpoint keys bare."""
    trainer = Trainer(tiny("dcgan"), tiny_faces, config(compile=True, out_dir=str(tmp_path)))
    history = trainer.fit()
    assert history["loss_D"].map(math.isfinite).all() and history["loss_G"].map(math.isfinite).all()
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)["models"]["D"]
    assert not any("_orig_mod" in key or key.startswith("module.") for key in saved)
    plain = Trainer.from_checkpoint(tmp_path / "checkpoint.pt", tiny_faces, config_overrides={"compile": False})
    for a, b in zip(plain.models.G.parameters(), trainer.models.G.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("mode", [True, "reduce-overhead", "max-autotune"])
def test_compile_modes_reach_torch_compile(tiny_faces, monkeypatch, mode):
    calls = []
    monkeypatch.setattr(torch, "compile", lambda module, mode=None: calls.append(mode) or module)
    trainer = Trainer(tiny("dcgan"), tiny_faces, config(compile=mode))
    assert calls == [None if mode is True else mode] * 3  # G, D, and D for the generator step
    assert trainer._cuda_graphs is False  # CUDA graphs are a GPU feature; on the CPU the mode only picks kernels
    assert trainer._gemm_layers == []  # the CPU's GEMM weight gradients stay out of compiled graphs


def test_generated_images_reach_the_critic_in_the_real_batch_s_dtype_and_layout():
    real = torch.rand(4, 3, 8, 8).contiguous(memory_format=torch.channels_last)
    step = objectives.Step(real=real, phases=("D",), nets={}, plain={}, modules={}, latent_dim=2, prior=None,
                           noise=torch.Generator(), autocast=contextlib.nullcontext)
    fake = torch.rand(4, 3, 8, 8, dtype=torch.bfloat16, requires_grad=True)
    seen = step.like_real(fake)
    assert seen.dtype == torch.float32 and seen.is_contiguous(memory_format=torch.channels_last)
    seen.sum().backward()  # the generator still gets its gradient through the conversion
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    step.real = torch.rand(4, 3, 8, 8)  # an NCHW batch turns a channels_last fake back into NCHW
    assert step.like_real(fake.detach().contiguous(memory_format=torch.channels_last)).is_contiguous()


def test_compiled_networks_trace_once_per_kind_of_input_and_a_fifth_gan_still_compiles(tiny_faces, monkeypatch):
    """Under autocast the generator returns bf16 and the batch is float32: the critic must still see one dtype. Every
    critic shares one forward function, whose traces torch.compile counts together (8 by default): the fifth GAN
    of a process must not fall back to eager mode."""
    from torch._dynamo import config as dynamo_config
    from torch._dynamo.utils import counters

    seen: list[torch.dtype] = []

    def record(graph, example_inputs):  # a torch.compile backend that notes the image inputs and runs eagerly
        seen.extend(t.dtype for t in example_inputs if isinstance(t, torch.Tensor) and t.dim() == 4)
        return graph.forward

    real_compile = torch.compile
    monkeypatch.setattr(torch, "compile", lambda module, mode=None: real_compile(module, backend=record))
    monkeypatch.setattr(dynamo_config, "recompile_limit", 8)
    torch._dynamo.reset()
    runs = [("keras-gan", "gan", TINY["keras-gan"]), ("keras-wgan", "wgan-clip", TINY["keras-wgan"]),
            ("mlp-wgan-gp", "wgan-gp", TINY["mlp-wgan-gp"]), ("dcgan", "gan", TINY["dcgan"]),
            ("dcgan", "gan", {"base_channels": 12})]  # other shapes: new traces of the same functions
    traced = []
    try:
        for name, objective, options in runs:
            before = counters["frames"]["total"]
            m = models.build(name, image_size=SIZE, latent_dim=8, **options)
            Trainer(m, tiny_faces, config(compile=True, amp="bf16", objective=objective)).fit()
            traced.append(counters["frames"]["total"] - before)
    finally:
        torch._dynamo.reset()
    assert dynamo_config.recompile_limit == 64
    assert set(seen) == {torch.float32}, seen  # the images each traced frame takes: float32 only
    # G once, the critic for images without and with gradients (once for both where it scores them in one pass);
    # the last, fifth GAN too (with the default limit its critic would run uncompiled)
    assert all(2 <= n <= 3 for n in traced), traced


def test_bad_settings_are_named(tiny_faces):
    with pytest.raises(ValueError, match="objective='gans' is invalid.*expected one of 'gan'"):
        TrainConfig(objective="gans")
    with pytest.raises(ValueError, match="compile='fast' is invalid; expected False, True or a torch.compile mode"):
        TrainConfig(compile="fast")
    with pytest.raises(ValueError, match="batch_size=0"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="prior='normal"):
        TrainConfig(prior="normal(0")
    with pytest.raises(ValueError, match="did you mean 'lr'"):
        TrainConfig.from_dict({"lrr": 1e-3})
    with pytest.raises(ValueError, match="objective='vae' needs a VAE"):
        Trainer(tiny("dcgan"), tiny_faces, config(objective="vae"))
    with pytest.raises(ValueError, match=r"makes \(3, 32, 32\)"):
        Trainer(models.build("dcgan", image_size=32, base_channels=8), tiny_faces, config())
    with pytest.raises(ValueError, match="fewer than one batch"):
        Trainer(tiny("dcgan"), tiny_faces, config(batch_size=64))
    with pytest.raises(ValueError, match="uint8 tensor"):
        Trainer(tiny("dcgan"), torch.rand(8, 3, SIZE, SIZE), config(batch_size=4))


def test_device_names_resolve_or_fail_clearly():
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert resolve_device("auto").type in ("cpu", "mps")
        with pytest.raises(ValueError, match="sees no CUDA GPU"):
            resolve_device("cuda")
    with pytest.raises(ValueError, match="not a device name"):
        resolve_device("gpu0")
