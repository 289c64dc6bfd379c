"""One command for a lent GPU: the engine's CUDA paths tested, DCGAN-64 throughput and a CelebA-sized epoch timed.

Run on the GPU machine from the repository root (its ``python3`` holds torch, torchvision, pandas, matplotlib, tqdm
and pytest; nothing is installed)::

    PYTHONPATH=. python3 scripts/gpu_check.py            # ~9 minutes on one H200 (4 without step 6); $OUT/gpu_check.md

and its dry run on a CPU (what tests/test_gpu_check.py runs, so the script cannot rot)::

    python scripts/gpu_check.py --device cpu --tiny

Steps, each timed, each failure recorded with the end of its traceback while the other steps still run:

1. ``pytest -q tests/test_cuda.py`` and the CUDA-only tests of tests/test_losses.py and tests/test_noise.py;
2. DCGAN-64 (report 004's networks) training throughput at batch 128: the tutorial-style reference loop of
   benchmarks/train_throughput.py (ImageFolder over JPEGs, BCELoss on a Sigmoid, fp32), then the engine on a
   GPU-resident uint8 dataset in fp32, bf16, bf16 + channels_last and bf16 + ``compile="reduce-overhead"`` (CUDA
   graphs); warm-up excluded; img/s, the ratio to the reference and the share of the FLOP-bound limit (FLOPs of one
   step per image over the measured bf16 matrix-multiply rate);
3. where an eager bf16 step and a CUDA-graph step of step 2 spend their time (torch.profiler over one epoch):
   launches per step and the GPU's busy time against step 2's wall time per step (the host operations that take
   longest go to ``profile_eager.txt`` and ``profile_graphs.txt``);
4. one epoch of notebook 05's report setting (DCGAN-64, batch 128, Adam 1e-4, BCE) on a CelebA-sized set of
   202,599 procedural faces at 64 px held on the GPU, with the fastest engine setting of step 2, after one warm-up
   epoch: the "CelebA epoch";
5. a short DDP run with one process on NCCL (``torch.distributed.run``), which must end with finite losses;
6. every notebook's model in its quick setting (GANs, VAE, diffusion U-Net, conditional pair) trained for two
   epochs with bf16 + torch.compile (its graph breaks counted) and scored by ``metrics.evaluate`` on the GPU; a
   shipped generator's precision and coverage on the GPU and on the CPU must agree within 0.02. About 5 minutes,
   mostly compilation; ``--notebooks 06,07`` trains only those notebooks' models (the comparison always runs).

The table is printed and written to ``$OUT/gpu_check.md`` (and ``gpu_check.json``; the CUDA tests' whole output
to ``cuda_tests.log``) when ``OUT`` (or ``--out``) is set. The exit status is 1 when any step failed. Targets (the
GPU-check issue): DCGAN-64 bf16 + CUDA graphs >= 50,000 img/s and >= 10x the reference loop; a CelebA-sized epoch
<= 4 s; every CUDA test passes.
"""
from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
CELEBA_IMAGES = 202_599
TARGET_IMG_S, TARGET_RATIO, TARGET_EPOCH_S = 50_000, 10.0, 4.0
#: the CUDA tests: all of test_cuda.py and the CUDA-only tests elsewhere (their names say cuda or gpu)
CUDA_TESTS = ["tests/test_cuda.py", "tests/test_losses.py", "tests/test_noise.py", "-k", "cuda or gpu"]
#: the steps, in the order they run (``--skip`` names them)
STEPS = ("tests", "throughput", "profile", "celeba", "ddp", "notebooks")
#: the engine settings of step 2: label -> TrainConfig fields
VARIANTS: dict[str, dict[str, Any]] = {
    "engine fp32": {"amp": "off", "channels_last": False, "compile": False},
    "engine bf16": {"amp": "bf16", "channels_last": False, "compile": False},
    "engine bf16 + channels_last": {"amp": "bf16", "channels_last": True, "compile": False},
    # NCHW: inductor fails on transposed convolutions in channels_last on CUDA (the Trainer turns it off there)
    "engine bf16 + CUDA graphs": {"amp": "bf16", "channels_last": False, "compile": "reduce-overhead"},
}


@dataclass
class Sizes:
    """How big each step is: the GPU run, or the CPU dry run (--tiny)."""

    batch: int = 128
    warmup: int = 30
    steps: int = 300
    reference_steps: int = 100
    jpegs: int = 2048
    celeba: int = CELEBA_IMAGES
    rendered: int = 8192  # distinct procedural faces, repeated up to ``celeba``
    base_channels: int = 64
    notebook_profile: str = "quick"  # step 6: the notebooks' setting the models are trained in
    notebook_images: int = 1024      # step 6: images each notebook model trains on (two epochs)
    scored: int = 500            # step 6: samples metrics.evaluate scores

    @classmethod
    def tiny(cls) -> "Sizes":
        return cls(batch=8, warmup=1, steps=2, reference_steps=2, jpegs=32, celeba=64, rendered=32, base_channels=8,
                   notebook_profile="smoke", notebook_images=64, scored=32)


@dataclass
class Report:
    """What the steps found: rows of the throughput table, named figures, failures."""

    device: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def step(self, name: str, fn: Callable[[], None]) -> None:
        """Run one step; record its time, or its failure and the end of its traceback."""
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        try:
            fn()
        except Exception:  # every step runs; the exit status reports the failures
            self.failures[name] = traceback.format_exc()[-3000:]
            print(self.failures[name], file=sys.stderr, flush=True)
        self.seconds[name] = round(time.perf_counter() - started, 1)

    def markdown(self) -> str:
        """The report as the markdown that goes to benchmarks/README.md."""
        lines = [f"device: {self.device}", ""]
        if self.rows:
            lines += ["| loop | img/s | x reference | share of the FLOP limit |", "| --- | ---: | ---: | ---: |"]
            lines += [f"| {r['loop']} | {r['img_s']:,.0f} | {r['ratio']:.2f} | "
                      f"{'' if r['limit_share'] is None else format(r['limit_share'], '.1%')} |" for r in self.rows]
            lines.append("")
        lines += [f"- {name}: {value}" for name, value in self.figures.items()]
        lines += [f"- step '{name}': {sec} s" for name, sec in self.seconds.items()]
        lines += [f"- FAILED: {name}" for name in self.failures] or ["- every step passed"]
        return "\n".join(lines) + "\n"


def _throughput_module() -> Any:
    """benchmarks/train_throughput.py as a module: its reference loop, FLOP count and matmul probe."""
    spec = importlib.util.spec_from_file_location("train_throughput", ROOT / "benchmarks" / "train_throughput.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def run_tests(report: Report, device: str, selection: list[str], out: Path) -> None:
    """pytest over the CUDA tests (on a CPU they skip, which still checks that they import and collect); the whole
    output goes to ``out/cuda_tests.log``."""
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", *selection],
                            cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    out.mkdir(parents=True, exist_ok=True)
    (out / "cuda_tests.log").write_text(result.stdout + result.stderr)
    summary = (result.stdout.strip().splitlines() or ["(no output)"])[-1]
    report.figures["CUDA tests"] = summary
    print(result.stdout[-4000:], result.stderr[-2000:], flush=True)
    if result.returncode != 0:
        raise RuntimeError(f"pytest exited {result.returncode}: {summary}")
    if device == "cuda" and "skipped" in summary and "passed" not in summary:
        raise RuntimeError(f"the CUDA tests were skipped on a CUDA machine: {summary}")


def _engine_rate(models: Any, images: Any, config: Any, *, warmup: int, steps: int, synchronize: Callable) -> float:
    """Images per second of the Trainer over ``steps`` iterations after ``warmup`` (epochs as needed)."""
    from facegen_utils.training import Trainer

    trainer = Trainer(models, images, config)
    per_epoch = trainer.steps_per_epoch
    marks: dict[str, float] = {}

    def on_step(t: Any) -> None:
        if t.step == warmup:
            synchronize(t.device)
            marks["start"] = time.perf_counter()
        elif t.step == warmup + steps:
            synchronize(t.device)
            marks["stop"] = time.perf_counter()

    trainer.on("on_step_end", on_step)
    trainer.fit(math.ceil((warmup + steps) / per_epoch))
    return steps * config.batch_size / (marks["stop"] - marks["start"])


@functools.lru_cache(maxsize=4)
def _rendered(n: int, size: int) -> Any:
    from facegen_utils.datasets.procedural import SyntheticFaces

    return SyntheticFaces(n=n, image_size=size, seed=0).to_uint8()


def _faces_uint8(n: int, rendered: int, size: int = 64) -> Any:
    """``n`` uint8 faces (N, 3, size, size): ``rendered`` distinct procedural ones (made once), repeated."""
    faces = _rendered(min(n, rendered), size)
    reps = math.ceil(n / len(faces))
    return faces.repeat(reps, 1, 1, 1)[:n] if reps > 1 else faces


def _settings(label: str, device: Any) -> dict[str, Any]:
    """The TrainConfig fields of the engine setting ``label``; not compiled on a CPU (inductor there takes minutes,
    and the dry run only checks that every step runs)."""
    settings = dict(VARIANTS[label])
    if device.type != "cuda":
        settings["compile"] = False
    return settings


def _dcgan_config(device: Any, sizes: Sizes, settings: dict[str, Any], *, log_every: int) -> Any:
    """The engine's DCGAN-64 setting of steps 2 and 3: batch ``sizes.batch``, Adam 1e-4, BCE, data on the device."""
    from facegen_utils.training import TrainConfig

    return TrainConfig(objective="gan", batch_size=sizes.batch, lr=1e-4, device=str(device), sample_every=0,
                       checkpoint_every=0, gpu_dataset="on", log_every=log_every, **settings)


def _row(report: Report, label: str) -> dict[str, Any] | None:
    """Step 2's row of the engine setting ``label`` (its CPU rows carry a note in brackets)."""
    return next((r for r in report.rows if r["loop"].split(" (")[0] == label), None)


def throughput(report: Report, device: Any, sizes: Sizes, tt: Any) -> None:
    """Step 2: the reference loop and the engine variants on DCGAN-64."""
    import torch

    from facegen_utils import models as zoo

    family = tt.Family("dcgan-64", "dcgan", "gan", lr=1e-4, options={"base_channels": sizes.base_channels})
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        tt.write_faces(root, sizes.jpegs, size=64)
        ref = tt.run_reference(family, root, device=device, image_size=64, batch_size=sizes.batch,
                               warmup=sizes.warmup, steps=sizes.reference_steps, workers=2).wall
    flops = tt.flops_per_image(family, device=device, image_size=64, batch=sizes.batch)
    rate = tt.matmul_flops(device, torch.bfloat16 if device.type == "cuda" else torch.float32)
    limit = rate / flops
    report.figures["FLOPs per image and step"] = f"{flops / 1e9:.2f} GFLOP"
    report.figures["matmul rate"] = f"{rate / 1e12:.1f} TFLOP/s ({'bf16' if device.type == 'cuda' else 'fp32'})"
    report.figures["FLOP-bound limit"] = f"{limit:,.0f} img/s"
    report.rows.append({"loop": "reference (tutorial loop, fp32, JPEGs)", "img_s": ref, "ratio": 1.0,
                        "limit_share": ref / limit})
    images = _faces_uint8(sizes.rendered, sizes.rendered)  # 64 steps per epoch at batch 128: few epoch ends
    for name in VARIANTS:
        settings = _settings(name, device)
        label = name if settings["compile"] == VARIANTS[name]["compile"] else f"{name} (not compiled on the CPU)"
        torch.manual_seed(0)
        config = _dcgan_config(device, sizes, settings, log_every=50)
        value = _engine_rate(zoo.build("dcgan", image_size=64, base_channels=sizes.base_channels), images, config,
                             warmup=sizes.warmup, steps=sizes.steps, synchronize=tt.synchronize)
        report.rows.append({"loop": label, "img_s": value, "ratio": value / ref, "limit_share": value / limit})
        print(f"{label}: {value:,.0f} img/s ({value / ref:.1f}x the reference)", flush=True)


def profile_step(report: Report, device: Any, sizes: Sizes, out: Path, label: str) -> None:
    """Step 3: where an engine step of step 2 (``label``: eager bf16, or bf16 + CUDA graphs) spends its time:
    kernels per step and the GPU's busy time (torch.profiler over one epoch after a warm-up epoch, which also
    compiles), against the wall time per step that step 2 measured. A busy share far below 100 % says the host
    (Python, autograd, kernel launches) sets the pace; the host operations that take longest go to
    ``out/profile_<eager|graphs>.txt``."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from facegen_utils import models as zoo
    from facegen_utils.training import Trainer

    config = _dcgan_config(device, sizes, _settings(label, device), log_every=10_000)
    torch.manual_seed(0)
    trainer = Trainer(zoo.build("dcgan", image_size=64, base_channels=sizes.base_channels),
                      _faces_uint8(sizes.rendered, sizes.rendered), config)
    trainer.fit(1)  # warm-up: compilation, cuDNN's algorithm search, the allocator
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        trainer.fit(2)
    steps = trainer.steps_per_epoch
    averages = prof.key_averages()
    launches = sum(e.count for e in averages if "LaunchKernel" in e.key or "GraphLaunch" in e.key)
    device_us = sum(getattr(e, "self_device_time_total", 0) for e in averages
                    if getattr(e, "device_type", None) == torch.autograd.DeviceType.CUDA)
    row = _row(report, label)
    wall_ms = sizes.batch / row["img_s"] * 1e3 if row else float("nan")
    name = f"{label.removeprefix('engine ')} step"
    if device.type == "cuda":
        busy_ms = device_us / steps / 1e3
        report.figures[name] = (f"{wall_ms:.2f} ms wall (step 2), GPU busy {busy_ms:.2f} ms "
                                f"({busy_ms / wall_ms:.0%}), {launches / steps:.0f} kernel or graph launches")
    else:
        report.figures[name] = f"{wall_ms:.2f} ms wall (step 2); on a CPU the profile holds host operations"
    out.mkdir(parents=True, exist_ok=True)
    kind = "graphs" if VARIANTS[label]["compile"] else "eager"
    (out / f"profile_{kind}.txt").write_text(averages.table(sort_by="self_cpu_time_total", row_limit=25))


def celeba_epoch(report: Report, device: Any, sizes: Sizes, tt: Any) -> None:
    """Step 4: notebook 05's report setting for one epoch over a CelebA-sized GPU-resident set."""
    import torch

    from facegen_utils import profiles
    from facegen_utils.training import Trainer

    fastest = max((r for r in report.rows if r["loop"].startswith("engine")), key=lambda r: r["img_s"], default=None)
    label = fastest["loop"].split(" (")[0] if fastest else "engine bf16 + channels_last"
    settings = _settings(label, device)
    started = time.perf_counter()
    images = _faces_uint8(sizes.celeba, sizes.rendered)
    report.figures["CelebA-sized set"] = (f"{len(images):,} images at 64 px ({images.nbytes / 2**30:.2f} GiB uint8), "
                                          f"made in {time.perf_counter() - started:.1f} s")
    p = profiles.get("05", "report", batch_size=sizes.batch, model_options={"base_channels": sizes.base_channels})
    config = p.train_config(device=str(device), sample_every=0, checkpoint_every=0, gpu_dataset="on", out_dir=None,
                            **{"amp": settings["amp"], "channels_last": settings["channels_last"],
                               "compile": settings["compile"]})
    torch.manual_seed(0)
    trainer = Trainer(p.build_models(), images, config)
    starts: dict[int, float] = {}
    ends: dict[int, float] = {}

    def epoch_start(t: Any) -> None:
        tt.synchronize(t.device)
        starts[t.epoch + 1] = time.perf_counter()

    def epoch_end(t: Any) -> None:
        tt.synchronize(t.device)
        ends[t.epoch] = time.perf_counter()

    trainer.on("on_epoch_start", epoch_start)
    trainer.on("on_epoch_end", epoch_end)
    trainer.fit(2)  # the first epoch compiles and warms up; the second is the figure (a non-finite loss raises)
    seconds = ends[2] - starts[2]
    report.figures["CelebA epoch"] = (f"{seconds:.2f} s for {trainer.steps_per_epoch * sizes.batch:,} images "
                                      f"({trainer.steps_per_epoch} steps of {sizes.batch}) with {label}; first epoch "
                                      f"{ends[1] - starts[1]:.2f} s")
    report.figures["CelebA epoch seconds"] = round(seconds, 3)


def ddp_smoke(report: Report, device: Any, out: Path) -> None:
    """Step 5: one process under torchrun trains a tiny DCGAN (NCCL on a GPU, gloo on a CPU)."""
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
                             "--nproc_per_node", "1", str(Path(__file__).resolve()), "--ddp-worker",
                             "--device", device.type, "--out", str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "TQDM_DISABLE": "1"})
    print(result.stdout[-2000:], result.stderr[-3000:], flush=True)
    if result.returncode != 0:
        raise RuntimeError(f"torchrun exited {result.returncode}: {result.stderr[-500:]}")
    found = json.loads((out / "ddp_worker.json").read_text())
    report.figures["DDP, 1 process"] = (f"backend {found['backend']}: all_reduce and a DistributedDataParallel step "
                                        f"(loss {found['ddp_loss']:.3f}); the engine trained {found['steps']} steps "
                                        f"under torchrun (last loss_D {found['loss_D']:.3f})")


def ddp_worker(device: str, out: Path) -> None:
    """Inside torchrun: the process group (NCCL on a GPU), an all_reduce, a DistributedDataParallel step of the
    DCGAN's discriminator, then the engine training a tiny DCGAN in the same process.

    The engine wraps its networks in DDP only when several processes train (two ranks cannot share one GPU under
    NCCL), so with one process this checks the backend and DDP itself, and that the engine runs under torchrun."""
    import torch
    import torch.distributed as dist

    from facegen_utils import losses, models
    from facegen_utils.training import Trainer, TrainConfig, distributed

    where = torch.device(device, 0) if device == "cuda" else torch.device("cpu")
    if where.type == "cuda":
        torch.cuda.set_device(where)
    dist.init_process_group(backend="nccl" if where.type == "cuda" else "gloo")
    total = torch.ones(4, device=where)
    dist.all_reduce(total)
    if total.tolist() != [1.0] * 4:
        raise RuntimeError(f"all_reduce over one process gave {total.tolist()}")
    D = models.build("dcgan", image_size=16, base_channels=8).D.to(where)
    ddp = distributed.ddp(D, where)  # the engine's own wrapper, as several processes would get it
    opt = torch.optim.Adam(ddp.parameters(), lr=1e-4)
    real, fake = torch.rand(8, 3, 16, 16, device=where) * 2 - 1, torch.rand(8, 3, 16, 16, device=where) * 2 - 1
    loss = losses.bce_d_loss(ddp(real), ddp(fake))
    loss.backward()
    opt.step()
    loss = loss.item()
    trainer = Trainer(models.build("dcgan", image_size=16, base_channels=8), _faces_uint8(64, 64, size=16),
                      TrainConfig(epochs=2, batch_size=8, device=str(where), sample_every=0, checkpoint_every=0))
    trainer.fit()
    last = float(trainer.history["loss_D"].iloc[-1])
    if not (math.isfinite(loss) and math.isfinite(last)):
        raise RuntimeError(f"non-finite losses under torchrun: DDP step {loss}, engine {last}")
    result = {"backend": dist.get_backend(), "ddp_loss": loss, "steps": trainer.step, "loss_D": last}
    out.mkdir(parents=True, exist_ok=True)
    (out / "ddp_worker.json").write_text(json.dumps(result))
    dist.destroy_process_group()


NOTEBOOK_METRICS = ("fid", "precision_recall", "density_coverage")


def notebook_settings() -> list[tuple[str, str]]:
    """Step 6's models: one (notebook, variant) per shipped plan's pair, in the plans' order."""
    from facegen_utils import pretrained

    return list(dict.fromkeys((p.notebook, p.variant) for p in pretrained.PLANS.values()))


def check_notebooks(only: set[str]) -> None:
    """Raise a ValueError naming any of ``only`` (notebook ids such as "07") that step 6 does not know."""
    known = {notebook for notebook, _ in notebook_settings()}  # "01".."07"
    if only - known:
        raise ValueError(f"--notebooks {','.join(sorted(only - known))}: no such notebook; choose from "
                         f"{', '.join(sorted(known))}")


def notebook_models(report: Report, device: Any, sizes: Sizes, only: set[str] | None = None) -> None:
    """Step 6: each notebook's model in its quick setting (smoke in the dry run), one per shipped plan's notebook
    and variant (the GANs, the VAE, the diffusion U-Net, the conditional pair), trains two epochs on
    ``sizes.notebook_images`` procedural images with bf16 autocast and torch.compile, and ``metrics.evaluate``
    scores its samples on the device; then one shipped generator (05-gan) is scored on the device and on the CPU,
    which must agree. ``only``: the notebooks to train (e.g. ``{"07"}``; default every one); the comparison always
    runs."""
    import torch
    from torch._dynamo.utils import counters

    from facegen_utils import metrics, pretrained, profiles
    from facegen_utils.training import Trainer

    cuda = device.type == "cuda"
    done = []
    settings = notebook_settings()
    if only:
        check_notebooks(only)
        settings = [(notebook, variant) for notebook, variant in settings if notebook in only]
    for notebook, variant in settings:
        started = time.perf_counter()
        run = profiles.get(notebook, sizes.notebook_profile, variant=variant,
                           limit=sizes.notebook_images).spec.replace(
            epochs=2, device=str(device), amp="bf16" if cuda else "off", compile=cuda, sample_every=0,
            checkpoint_every=0, out_dir=None)
        data = run.load_dataset()
        trainer = Trainer.from_spec(run, data)  # a non-finite loss stops fit() with NonFiniteLossError
        counters.clear()
        trainer.fit()
        breaks = sum(counters["graph_break"].values())  # where torch.compile split a network's graph
        row = metrics.evaluate(trainer, data, metrics=NOTEBOOK_METRICS, n=min(sizes.scored, len(data)),
                               prior=run.train.prior, device=device).iloc[0]
        values = {c: float(row[c]) for c in ("precision", "coverage", "fid")}
        if not all(math.isfinite(v) for v in values.values()) or not 0 <= values["coverage"] <= 1:
            raise RuntimeError(f"{notebook}/{variant}: metrics on {device} read {values}")
        done.append(f"{notebook}/{variant} {run.model.name} {time.perf_counter() - started:.0f} s, "
                    f"{breaks} graph breaks")
        print(f"{notebook}/{variant}: {trainer.step} steps, {breaks} graph breaks, metrics {values}", flush=True)
    report.figures["notebook models"] = (f"{len(done)} trained 2 epochs (bf16 + compile on a GPU) and scored on "
                                         f"{device.type}: " + ", ".join(done))
    shipped = pretrained.load("05-gan")
    run = pretrained.spec("05-gan")
    ref_data = run.load_dataset()
    scores = {}
    for where in dict.fromkeys([device, torch.device("cpu")]):
        shipped.G.to(where)
        row = metrics.evaluate(shipped, ref_data, metrics=("precision_recall", "density_coverage"),
                               n=sizes.scored, prior=run.train.prior, seed=2, device=where).iloc[0]
        scores[where.type] = {c: round(float(row[c]), 3) for c in ("precision", "coverage")}
    gap = max(abs(scores[device.type][c] - scores["cpu"][c]) for c in ("precision", "coverage"))
    report.figures["05-gan scored on the device and the CPU"] = f"{scores} (largest difference {gap:.3f})"
    if gap > 0.02:
        raise RuntimeError(f"05-gan's metrics differ between {device} and the CPU by {gap:.3f}: {scores}")


def describe(device: Any) -> str:
    """The machine in one line."""
    import torch

    where = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "CPU"
    return (f"{where}; torch {torch.__version__}, Python {platform.python_version()}, {os.cpu_count()} CPU cores, "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")


def verdicts(report: Report, device: Any) -> None:
    """The targets, for a GPU run."""
    if device.type != "cuda":
        return
    graphs = next((r for r in report.rows if r["loop"] == "engine bf16 + CUDA graphs"), None)
    if graphs:
        met = graphs["img_s"] >= TARGET_IMG_S and graphs["ratio"] >= TARGET_RATIO
        report.figures["target DCGAN-64 bf16 + CUDA graphs"] = (
            f">= {TARGET_IMG_S:,} img/s and >= {TARGET_RATIO:.0f}x: {graphs['img_s']:,.0f} img/s, "
            f"{graphs['ratio']:.1f}x -> {'met' if met else 'NOT met'}")
    if "CelebA epoch seconds" in report.figures:
        seconds = report.figures["CelebA epoch seconds"]
        report.figures["target CelebA epoch"] = (f"<= {TARGET_EPOCH_S} s: {seconds:.2f} s -> "
                                                 f"{'met' if seconds <= TARGET_EPOCH_S else 'NOT met'}")


def _comma_set(text: str) -> set[str]:
    """The names of a comma-separated option (``--skip``, ``--notebooks``), blanks dropped."""
    return {name.strip() for name in text.split(",") if name.strip()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu (the dry run)")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes: the CPU dry run of every step")
    parser.add_argument("--out", default=os.environ.get("OUT"), help="folder for gpu_check.md/.json (default $OUT)")
    parser.add_argument("--skip", default="",
                        help=f"comma-separated steps to leave out: {','.join(STEPS)}")
    parser.add_argument("--notebooks", default="",
                        help="step 6: comma-separated notebook numbers to train (e.g. 06,07; default every one)")
    parser.add_argument("--tests", default=None, help="pytest arguments instead of the CUDA tests (space-separated)")
    parser.add_argument("--ddp-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("TQDM_DISABLE", "1")
    sys.path.insert(0, str(ROOT))
    skip = _comma_set(args.skip)
    only = {n.zfill(2) for n in _comma_set(args.notebooks)}
    if skip - set(STEPS):
        parser.error(f"--skip {','.join(sorted(skip - set(STEPS)))}: no such step; choose from {','.join(STEPS)}")
    try:  # a wrong name stops the run here, not after the steps before the one that reads it
        check_notebooks(only)
    except ValueError as error:
        parser.error(str(error))
    import torch

    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="gpu_check-"))
    if args.ddp_worker:
        ddp_worker(args.device, out)
        return 0
    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: run the dry run with --device cpu --tiny", file=sys.stderr)
        return 2
    device = torch.device(args.device)
    sizes = Sizes.tiny() if args.tiny else Sizes()
    report = Report(describe(device))
    print(report.device, flush=True)
    tt = _throughput_module()
    if "tests" not in skip:
        report.step("tests", lambda: run_tests(report, device.type, args.tests.split() if args.tests else CUDA_TESTS,
                                               out))
    if "throughput" not in skip:
        report.step("throughput", lambda: throughput(report, device, sizes, tt))
    if "profile" not in skip:
        report.step("profile", lambda: profile_step(report, device, sizes, out, "engine bf16"))
        report.step("profile graphs", lambda: profile_step(report, device, sizes, out, "engine bf16 + CUDA graphs"))
    if "celeba" not in skip:
        report.step("celeba", lambda: celeba_epoch(report, device, sizes, tt))
    if "ddp" not in skip:
        report.step("ddp", lambda: ddp_smoke(report, device, out))
    if "notebooks" not in skip:
        report.step("notebooks", lambda: notebook_models(report, device, sizes, only or None))
    verdicts(report, device)
    text = report.markdown()
    print(text, flush=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_check.md").write_text(text)
    (out / "gpu_check.json").write_text(json.dumps({"device": report.device, "rows": report.rows,
                                                    "figures": report.figures, "seconds": report.seconds,
                                                    "failures": report.failures}, indent=1, default=str))
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
