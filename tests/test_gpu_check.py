"""scripts/gpu_check.py, the one command a lent GPU runs: its CPU dry run goes through every step."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu_check.py"


def _run(*args: str, out: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OUT": str(out), "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
def test_the_cpu_dry_run_goes_through_every_step(tmp_path):
    result = _run("--device", "cpu", "--tiny", out=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    found = json.loads((tmp_path / "gpu_check.json").read_text())
    steps = {"tests", "throughput", "profile", "profile graphs", "celeba", "ddp", "notebooks"}
    assert found["failures"] == {} and set(found["seconds"]) == steps
    loops = [row["loop"] for row in found["rows"]]
    assert loops[0].startswith("reference") and len(loops) == 5
    assert all(row["img_s"] > 0 and row["limit_share"] > 0 for row in found["rows"])
    assert "skipped" in found["figures"]["CUDA tests"]  # collected and skipped without a GPU
    assert found["figures"]["CelebA epoch seconds"] > 0
    assert "backend gloo" in found["figures"]["DDP, 1 process"]
    trained = found["figures"]["notebook models"]  # one model per notebook setting, diffusion and conditional too
    assert trained.startswith("10 trained") and "06/ddpm ddpm-unet" in trained and "07/projection cdcgan" in trained
    assert "largest difference 0.000" in found["figures"]["05-gan scored on the device and the CPU"]
    assert "ms wall" in found["figures"]["bf16 step"] and "ms wall" in found["figures"]["bf16 + CUDA graphs step"]
    for kind in ("eager", "graphs"):  # the profiler's tables of host operations
        assert "Self CPU" in (tmp_path / f"profile_{kind}.txt").read_text()
    assert "skipped" in (tmp_path / "cuda_tests.log").read_text()  # pytest's whole output is kept
    table = (tmp_path / "gpu_check.md").read_text()
    assert "| engine bf16 + channels_last |" in table and "every step passed" in table


def test_without_a_gpu_the_real_run_says_how_to_dry_run(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the real run would start")
    result = _run(out=tmp_path)
    assert result.returncode == 2 and "--device cpu --tiny" in result.stderr


@pytest.mark.slow
def test_a_failing_step_is_reported_and_fails_the_run(tmp_path):
    # tests only, pointed at a file that fails: the step is recorded, the exit status is 1
    result = _run("--device", "cpu", "--tiny", "--skip", "throughput,profile,celeba,ddp,notebooks",
                  "--tests", "tests/no_such_file.py", out=tmp_path)
    assert result.returncode == 1
    found = json.loads((tmp_path / "gpu_check.json").read_text())
    assert list(found["failures"]) == ["tests"] and "pytest exited" in found["failures"]["tests"]
    assert "FAILED: tests" in (tmp_path / "gpu_check.md").read_text()


@pytest.mark.slow
def test_the_notebooks_step_trains_only_the_notebooks_asked_for(tmp_path):
    result = _run("--device", "cpu", "--tiny", "--skip", "tests,throughput,profile,celeba,ddp", "--notebooks", "7",
                  out=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    found = json.loads((tmp_path / "gpu_check.json").read_text())
    assert found["figures"]["notebook models"].startswith("1 trained") and "07/projection" in found["figures"][
        "notebook models"]
    assert "graph breaks" in found["figures"]["notebook models"]  # counted per model (none without compile)
    assert "05-gan scored on the device and the CPU" in found["figures"]  # the comparison always runs


@pytest.mark.parametrize("option, wrong, message", [("--notebooks", "3,09", "--notebooks 09: no such notebook"),
                                                     ("--skip", "ddp,celebA", "--skip celebA: no such step")])
def test_a_wrong_step_or_notebook_name_stops_the_check_before_any_step_runs(tmp_path, option, wrong, message):
    result = _run("--device", "cpu", "--tiny", option, wrong, out=tmp_path)
    assert result.returncode == 2 and message in result.stderr, result.stderr[-2000:]
    assert "choose from" in result.stderr and not list(tmp_path.iterdir())  # no step ran, no report written


def test_the_throughput_benchmark_refuses_a_mixed_run_smaller_than_one_batch_before_it_starts(tmp_path):
    # gpu_check runs benchmarks/train_throughput.py's loops; a too-small mixed run used to fail only at its end
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "train_throughput.py"), "--device", "cpu",
                             "--mixed-images", "8"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "--mixed-images 8" in result.stderr and "at least 64" in result.stderr
    assert "device:" not in result.stdout  # nothing was measured
