"""The engine's GPU paths: bf16/fp16 autocast, channels_last, GPU-resident data, the critic's translation drawn on
the GPU, compile with CUDA graphs.

These run only where a CUDA device is present (the CPU-only CI skips them); their CPU counterparts are in
test_training.py (autocast on the CPU, compile through inductor's CPU backend).
"""
from __future__ import annotations

import math

import pytest
import torch

from facegen_utils import models
from facegen_utils.datasets.procedural import SyntheticFaces
from facegen_utils.training import Trainer, TrainConfig

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(scope="module")
def faces():
    return SyntheticFaces(n=256, image_size=32, seed=0)


def _config(**overrides) -> TrainConfig:
    return TrainConfig(**{"epochs": 1, "batch_size": 32, "device": "cuda", "sample_every": 0, "log_every": 4,
                          **overrides})


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_autocast_training_on_the_gpu_with_resident_data(faces, tmp_path, amp):
    torch.manual_seed(0)
    trainer = Trainer(models.build("dcgan", image_size=32, base_channels=16), faces,
                      _config(amp=amp, gpu_dataset="on", augment="translation", out_dir=str(tmp_path)))
    assert trainer.batches.images is not None and trainer.batches.images.is_cuda
    assert trainer.channels_last
    assert trainer.models.G.main[0].weight.is_contiguous(memory_format=torch.channels_last)
    history = trainer.fit()
    assert history[["loss_D", "loss_G"]].map(math.isfinite).all().all()
    assert trainer.scaler.is_enabled() is (amp == "fp16")
    resumed = Trainer.from_checkpoint(tmp_path / "checkpoint.pt", faces, map_location="cuda")
    assert resumed.step == trainer.step
    for a, b in zip(resumed.models.G.parameters(), trainer.models.G.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("mode, name, objective", [(True, "dcgan", "gan"), ("reduce-overhead", "dcgan", "gan"),
                                                   ("reduce-overhead", "mlp-wgan-gp", "wgan-gp")])
def test_compiled_training_on_the_gpu(faces, mode, name, objective):
    torch.manual_seed(0)
    options = {"base_channels": 16} if name == "dcgan" else {"hidden_dims": (64, 128, 256)}
    trainer = Trainer(models.build(name, image_size=32, **options), faces,
                      _config(amp="bf16", compile=mode, objective=objective, epochs=2))
    assert trainer._cuda_graphs is (mode == "reduce-overhead")
    assert trainer.channels_last is False  # DCGAN's transposed convolutions and the MLP: NCHW under compile
    history = trainer.fit()
    columns = ["loss_D", "loss_G"]
    assert history[columns].dropna().map(math.isfinite).all().all()
    assert history["loss_D"].iloc[:4].mean() != history["loss_D"].iloc[-4:].mean()  # it trained
