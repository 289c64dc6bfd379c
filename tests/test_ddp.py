"""Two processes under torchrun on CPU (gloo): identical weights on both ranks, the expected number of steps."""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).with_name("ddp_train.py")
IMAGES, BATCH, WORLD, EPOCHS = 40, 4, 2, 2


@pytest.fixture(scope="module")
def ranks(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ddp")
    env = {**os.environ, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
                             "--nproc_per_node", str(WORLD), str(SCRIPT), str(out)],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out


@pytest.mark.parametrize("objective, g_every", [("gan", 1), ("wgan-gp", 2)])
def test_both_ranks_end_identical_after_the_expected_steps(ranks, objective, g_every):
    states = [torch.load(ranks / f"rank{r}_{objective}.pt", weights_only=True) for r in range(WORLD)]
    per_epoch = IMAGES // (BATCH * WORLD)
    steps = EPOCHS * per_epoch
    for state in states:
        assert state["step"] == steps and state["history_rows"] == steps
        assert set(state["optimizer_steps"]["D"]) == {steps}
        assert set(state["optimizer_steps"]["G"]) == {EPOCHS * math.ceil(per_epoch / g_every)}  # batches 0, 2, 4
    assert ("G_ema" in states[0]["models"]) == (objective == "gan")
    for role, weights in states[0]["models"].items():
        for name, tensor in weights.items():
            assert torch.equal(tensor, states[1]["models"][role][name]), f"{role}.{name} differs between ranks"


@pytest.mark.parametrize("objective, roles", [("diffusion", {"denoiser"}), ("cgan", {"G", "D"})])
def test_a_diffusion_model_and_a_conditional_gan_train_under_ddp(ranks, objective, roles):
    states = [torch.load(ranks / f"rank{r}_{objective}.pt", weights_only=True) for r in range(WORLD)]
    steps = EPOCHS * (IMAGES // (BATCH * WORLD))
    for state in states:
        assert state["step"] == steps and all(set(s) == {steps} for s in state["optimizer_steps"].values())
    assert set(states[0]["models"]) == {*roles, "G_ema"}
    for role, weights in states[0]["models"].items():
        for name, tensor in weights.items():
            assert torch.equal(tensor, states[1]["models"][role][name]), f"{role}.{name} differs between ranks"


def test_only_rank_zero_writes_files(ranks):
    run = ranks / "gan"
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint.pt", "losses.csv", "losses_epoch.csv", "samples"]
    assert len((run / "losses.csv").read_text().splitlines()) == 1 + EPOCHS * (IMAGES // (BATCH * WORLD))
