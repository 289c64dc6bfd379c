"""Generators trained much longer than a quick run, shipped with the package: where each notebook's training leads.

Each shipped model is the quick profile's setting of one notebook model with the changes of its :data:`PLANS` entry
(more epochs, an average of G's weights, and where the quick profile changed after it was shipped, the values it was
trained with), trained on the procedural data by ``scripts/pretrain.py NAME`` (seeded, CPU, one thread). The
weights are stored in float16 beside a manifest (``NAME.json``): the exact command, seconds, torch version, the
file's sha256, the whole run setting and the metrics reached (500 samples against 500 training images in the
package's features).

    models = fu.pretrained.load("05-gan")   # a ModelSet like the trainer's (D is None: only G is shipped)
    fu.metrics.evaluate(models, dataset)

Loading reads the file with ``weights_only=True`` and checks its sha256 first: a changed or truncated file is an
error naming the command that rebuilds it. These generators know procedural faces and paintings only; the report
profile (real data) never shows them as a result.
"""
from __future__ import annotations

import copy
import hashlib
import json
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import torch

from facegen_utils._log import logger
from facegen_utils.spec import check_choice

if TYPE_CHECKING:
    from facegen_utils.models import ModelSet
    from facegen_utils.spec import RunSpec

__all__ = ["ASSETS", "PLANS", "Plan", "PretrainedError", "names", "manifest", "load", "spec", "train", "score",
           "rescore", "architecture_change", "training_change", "NOT_TRAINING", "setting", "changed_settings",
           "sha256", "GAN_TARGETS", "HELD_OUT", "held_out_score", "for_notebook", "rebuild_command", "LongerTraining",
           "after_longer_training", "applies", "for_exploration", "by_prior", "gan_for_comparison"]

#: where the weights and manifests live (inside the package, so an installed copy has them)
ASSETS = Path(__file__).resolve().parent / "assets" / "pretrained"
SCORE_N = 500  # generated and real images each model is scored with
#: precision and coverage every shipped GAN-family generator should reach on SCORE_N samples
GAN_TARGETS = (0.85, 0.8)
HELD_OUT = 500  # images past a plan's training set that its checkpoints are chosen on (``Plan.select``)


@dataclass(frozen=True)
class Plan:
    """How one shipped generator is trained: a notebook model's quick profile, longer, with an EMA of G."""

    notebook: str
    variant: str
    epochs: int
    overrides: dict[str, Any] = field(default_factory=dict)  # settings that differ from the quick profile
    # decay of the average of G's weights (what is shipped; None for the VAE), applied at each generator update: a
    # run with few updates (02's generator steps on every fifth batch) needs a smaller decay, or the average still
    # holds a share of the initial weights (0.999 ** updates)
    ema: float | None = 0.999
    # epochs at which the average is scored on paintings or faces the run never trains on (``HELD_OUT`` images past
    # the training set); the best checkpoint by ``held_out_score`` is shipped (empty: the last epoch's)
    select: tuple[int, ...] = ()


#: name -> plan; 5-15 minutes each on one CPU thread (06-ddpm: about 50) (the measured seconds are in each manifest)
PLANS: dict[str, Plan] = {
    # 01's GAN and WGANs keep the quick settings they were trained with before the quick profile changed (each
    # manifest's "run" holds the whole setting, and a test checks that the plans still produce it)
    "01-gan": Plan("01", "gan", 100, {"lr": 2e-4, "batch_size": 64, "model_options": {"base_channels": 32}},
                   ema=0.995),
    # half the KL weight: attribute distance 0.202 / 0.189 / 0.189 at 90 / 120 / 150 epochs; at the report's 1.0,
    # 0.254 / 0.210 / 0.204 / 0.212 at 60 / 90 / 120 / 150 (benchmarks/README.md)
    "01-vae": Plan("01", "vae", 120, {"vae_beta": 0.5}, ema=None),
    # a minibatch-standard-deviation critic and a learning rate falling linearly to 0: attribute distance 0.246 /
    # 0.216 / 0.197 / 0.195 at 150 / 200 / 250 / 300 epochs (400 epochs at a constant rate without it: 0.261)
    "01-wgan": Plan("01", "wgan", 300, {"n_critic": 2, "clip_value": 0.01, "lr_decay": "linear",
                                        "model_options": {"minibatch_std": 4}}),
    # a minibatch-standard-deviation map in the critic (Karras et al. 2018) widens the faces' sizes: attribute
    # distance 0.194 at 350 epochs (0.204-0.222 at 250-325; without it 0.224-0.226 at 200-250 and falling no more)
    "01-wgan-gp": Plan("01", "wgan-gp", 350, {"lr": 3e-4, "model_options": {"minibatch_std": 4}}),
    # a minibatch-standard-deviation critic, trained longer: attribute distance 0.233 / 0.218 / 0.205 / 0.200 / 0.192
    # at 100 / 120 / 140 / 160 / 180 epochs (without it, 80 epochs: 0.254; with a linear decay as well: 0.252 at 110)
    "02-wgan-gp": Plan("02", "wgan-gp", 180, {"model_options": {"minibatch_std": 4}}, ema=0.99),
    # a slower average: with 0.999, precision 0.78 at 150 and 200 epochs; with 0.9995, 0.85 at both (coverage 0.82).
    # Decoupled weight decay on G (AdamW, 1.0) and a minibatch-standard-deviation discriminator: attribute distance
    # 0.213 / 0.204 / 0.198 / 0.196 / 0.209 at 150 / 160 / 170 / 180 / 190 epochs, FID 17-23 (without either: 0.28,
    # FID 29; the decay alone: 0.208 / 0.208 / 0.199 / 0.204 / 0.209)
    "03-gan": Plan("03", "gan", 180, {"weight_decay": 1.0, "weight_decay_D": 0.0,
                                      "model_options": {"minibatch_std": 4}}, ema=0.9995),
    # twice the quick width: at base 16, 19,200 iterations reached precision 0.16, coverage 0.33 (FID 15); at base 32
    # 6,400-9,600 iterations reach 0.7-0.8 / 0.8-0.87 (FID 3). Labels 1 / 0 instead of the report's 0.8 / 0.1
    # (precision 0.75 against 0.73 at 4,800 iterations). Adam's beta1 = 0 and DiffAugment's translation of all the
    # critic sees steady the raw generator (precision 0.70-0.75 instead of 0.2-0.5) and lift U(-1, 1) from 0.68 to
    # 0.77-0.81; both fall back after 500 epochs (N(0, 1) 0.50 at 700), so 400 (12,800 iterations). Random flips of
    # the paintings on top: precision 0.82 / 0.85, coverage 0.92 / 0.90 (N(0, 1) / U(-1, 1); without 0.79 / 0.77).
    # Noise inputs in G (Karras et al. 2019) and the slower average: at 350 / 400 / 450 epochs N(0, 1) 0.86 / 0.83 /
    # 0.80 precision, U(-1, 1) 0.82 / 0.83 / 0.85, each swinging by the checkpoint; the best of the three on 500
    # held-out paintings (N(0, 1) 350, U(-1, 1) 450) meets both targets (benchmarks/README.md)
    **{f"04-{short}": Plan("04", "gan", 450, {"lr": 2e-4, "prior": prior, "limit": 1024,
                                             "model_options": {"base_channels": 32, "noise_inputs": True},
                                             "real_label": 1.0, "fake_label": 0.0, "betas": (0.0, 0.99),
                                             "augment": "translation", "hflip": True}, ema=0.9995,
                           select=(350, 400, 450))
       for short, prior in (("normal", "normal(0, 1)"), ("uniform", "uniform(-1, 1)"))},
    "05-gan": Plan("05", "gan", 180, {"lr": 2e-4}),
    # 80 epochs: DDIM-50 attribute distance 0.219 at 60 epochs, 0.179 at 80 (precision 0.96 / 0.97, coverage 0.73 /
    # 0.79, FID 24.5 / 20.1; benchmarks/README.md)
    "06-ddpm": Plan("06", "ddpm", 80, {"lr": 5e-4, "limit": 2048, "batch_size": 64,
                                       "model_options": {"sample_steps": 50}}, ema=0.995),
    "07-cgan": Plan("07", "projection", 180, {"lr": 2e-4}),
}


class PretrainedError(RuntimeError):
    """A shipped generator that is missing, changed or truncated."""


def names() -> list[str]:
    """The shipped generators' names (``"05-gan"``, ``"04-uniform"``, ...)."""
    return list(PLANS)


def for_notebook(notebook: str) -> list[str]:
    """The names of the shipped generators of one notebook ("01".."07")."""
    return [name for name, plan in PLANS.items() if plan.notebook == notebook]


def rebuild_command(name: str) -> str:
    """The command that trains ``name`` again and rewrites its files."""
    return f"python scripts/pretrain.py {name}"


def _check_name(name: str) -> Plan:
    check_choice("pretrained model", name, tuple(PLANS))
    return PLANS[name]


def _paths(name: str, folder: Path | None = None) -> tuple[Path, Path]:
    folder = ASSETS if folder is None else Path(folder)
    return folder / f"{name}.pt", folder / f"{name}.json"


def sha256(path: str | Path) -> str:
    """The hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest(name: str, *, folder: str | Path | None = None) -> dict[str, Any]:
    """The manifest of a shipped generator: command, seconds, torch version, sha256, metrics, model spec."""
    _check_name(name)
    _, path = _paths(name, folder)
    if not path.is_file():
        raise PretrainedError(f"pretrained model {name!r}: {path} is missing; rebuild it with "
                              f"`{rebuild_command(name)}` (or reinstall the package)")
    return json.loads(path.read_text())


def _quick_spec(name: str, **overrides: Any) -> "RunSpec":
    """The quick profile of the notebook model ``name`` is a longer run of (with ``overrides``): what a student runs."""
    from facegen_utils import profiles

    plan = _check_name(name)
    return profiles.get(plan.notebook, "quick", variant=plan.variant, **overrides).spec


def spec(name: str) -> "RunSpec":
    """The run specification ``name`` is trained with: its notebook's quick profile, the plan's epochs and changes."""
    plan = _check_name(name)
    return _quick_spec(name, **plan.overrides).replace(epochs=plan.epochs, ema=plan.ema, sample_every=0,
                                                       checkpoint_every=0, out_dir=None)


def _as_json(value: Any) -> Any:
    """``value`` in the types a manifest holds (tuples as lists, other objects as text)."""
    return json.loads(json.dumps(value, default=str))


def _full_options(model: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """A model's options with its defaults filled in, in JSON types: two networks compare equal through this."""
    from facegen_utils.models import registry

    return _as_json({**registry.options(model), **options})


def setting(run: "RunSpec") -> dict[str, Any]:
    """A run's whole setting as a manifest records it: the flat spec in JSON types, model options with defaults."""
    flat = run.flat()
    flat["model_options"] = _full_options(run.model.name, flat["model_options"])
    return _as_json(flat)


def _recorded_setting(name: str, folder: str | Path | None = None) -> dict[str, Any]:
    """The whole setting the shipped ``name`` was trained with, as :func:`setting` gives it for a run."""
    recorded = manifest(name, folder=folder).get("run")
    if recorded is None:
        raise PretrainedError(f"pretrained model {name!r}: its manifest records no run setting; rebuild it with "
                              f"`{rebuild_command(name)}`")
    from facegen_utils.spec import RunSpec

    # a setting or a model option added to the package after the manifest was written had its default then
    defaults = _as_json(RunSpec.flat_defaults())
    recorded = {**{key: value for key, value in defaults.items() if key != "model_options"}, **recorded}
    recorded["model_options"] = _full_options(recorded["model"], recorded.get("model_options") or {})
    return recorded


def changed_settings(name: str, *, folder: str | Path | None = None) -> dict[str, tuple[Any, Any]]:
    """{setting: (recorded, planned)} where :func:`spec` no longer gives what the shipped ``name`` was trained with.

    Empty when ``scripts/pretrain.py NAME`` would train the same run again; a quick profile that changed since
    shows here (pin the old value in the plan's overrides)."""
    recorded = _recorded_setting(name, folder)
    planned = setting(spec(name))
    return {key: (recorded.get(key), planned.get(key)) for key in sorted(set(recorded) | set(planned))
            if recorded.get(key) != planned.get(key)}


def load(name: str, *, device: str | torch.device = "cpu", folder: str | Path | None = None) -> "ModelSet":
    """The shipped generator ``name`` as a ModelSet in eval mode (``G``; for the VAE also ``vae``), float32.

    The file's sha256 must match the manifest's and the file is read with ``weights_only=True``; otherwise a
    :class:`PretrainedError` names the file and the command that rebuilds it.
    """
    from facegen_utils.models import load_state_dict_checked
    from facegen_utils.spec import ModelSpec

    info = manifest(name, folder=folder)
    weights, _ = _paths(name, folder)
    fix = f"rebuild it with `{rebuild_command(name)}` (or reinstall the package)"
    if not weights.is_file():
        raise PretrainedError(f"pretrained model {name!r}: {weights} is missing; {fix}")
    if (found := sha256(weights)) != info["sha256"]:
        raise PretrainedError(f"pretrained model {name!r}: {weights} has sha256 {found[:12]}…, the manifest says "
                              f"{info['sha256'][:12]}… (changed or truncated file); {fix}")
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as error:  # a file that matches its manifest but does not load: written by another torch
        raise PretrainedError(f"pretrained model {name!r}: {weights} does not load ({error}); {fix}") from error
    models = ModelSpec(**info["model_spec"]).build()
    role, module = ("vae", models.vae) if models.vae is not None else ("G", models.G)
    load_state_dict_checked(module, {k: v.float() for k, v in state.items()}, source=f"{weights} [{role}]")
    models.D = None  # only the generator is shipped
    for net in (models.G, models.vae):
        if net is not None:
            net.to(device).eval()
    return models


def score(models: "ModelSet", run: "RunSpec", *, n: int = SCORE_N, seed: int = 2) -> dict[str, float]:
    """Precision, coverage, density, FID and attribute distance of ``n`` samples against ``n`` training images."""
    from facegen_utils import metrics

    data = run.load_dataset()
    ref = metrics.reference(data, n=min(n, len(data)), seed=1)
    row = metrics.evaluate(models, ref, n=n, prior=run.train.prior, seed=seed,
                           metrics=("fid", "precision_recall", "density_coverage", "mode_collapse", "attributes"))
    columns = ("precision", "coverage", "density", "fid", "attribute_distance", "duplicate_share")
    found = {c: round(float(row[c].iloc[0]), 4) for c in columns if c in row.columns}
    if hasattr(models.G, "conditions"):  # a conditional generator: does it draw the values it is told?
        from facegen_utils.conditioning import conditioning_accuracy

        accuracy = conditioning_accuracy(models, n=n, seed=seed).attrs["mean"]
        found.update({f"accuracy {attribute}": round(value, 4) for attribute, value in accuracy.items()})
    return found


def train(name: str, *, folder: str | Path | None = None, threads: int | None = 1,
          epochs: int | None = None) -> dict[str, Any]:
    """Train ``name`` from its plan, write ``NAME.pt`` (float16) and ``NAME.json``; return the manifest.

    ``epochs`` replaces the plan's (a short run for tests); the manifest records what was run.
    """
    from facegen_utils.training import Trainer
    from facegen_utils.training.checkpoint import save

    plan = _check_name(name)
    if threads:
        torch.set_num_threads(threads)
    run = spec(name) if epochs is None else spec(name).replace(epochs=epochs)
    started = time.perf_counter()
    trainer = Trainer.from_spec(run)
    checked = [e for e in plan.select if e <= run.train.epochs]
    chosen: dict[str, Any] | None = None  # the best checked epoch: its steps, seconds and the weights it ships
    held_out: dict[str, dict[str, float]] = {}
    if checked:
        reference = _held_out_reference(run)
        for epoch in checked:
            trainer.fit(epoch)
            found = held_out[str(epoch)] = held_out_score(trainer, reference, run)
            logger.info("%s epoch %d on %d held-out images: precision %.3f, coverage %.3f", name, epoch,
                        reference.n, found["precision"], found["coverage"])
            if chosen is None or found["score"] > held_out[str(chosen["epoch"])]["score"]:
                chosen = {"epoch": epoch, "steps": trainer.step, "seconds": time.perf_counter() - started,
                          "weights": copy.deepcopy(_shipped_module(trainer).state_dict())}
    trainer.fit()
    seconds = time.perf_counter() - started
    models = trainer.models
    module = models.vae if models.vae is not None else models.G
    module.load_state_dict(chosen["weights"] if chosen is not None else _shipped_module(trainer).state_dict())
    module.eval()
    half = {k: (v.half() if v.is_floating_point() else v).clone() for k, v in module.state_dict().items()}
    weights, info_path = _paths(name, folder)
    save(half, weights)  # through a file object: the archive's inner folder is "archive", not the temporary file's
    #                      name, so the same weights always give the same bytes and sha256
    info = {
        "name": name, "notebook": plan.notebook, "variant": plan.variant,
        "command": rebuild_command(name) + (f" --threads {threads}" if threads not in (1, None) else "")
        + (f" --epochs {epochs}" if epochs is not None else ""),
        "seconds": round(seconds, 1), "threads": torch.get_num_threads(), "torch": torch.__version__,
        "python": sys.version.split()[0], "epochs": chosen["epoch"] if chosen else run.train.epochs,
        "steps": chosen["steps"] if chosen else trainer.step, "ema": plan.ema,
        "changes_from_quick": {**plan.overrides, "epochs": run.train.epochs, "ema": plan.ema},
        "model_spec": {"name": models.name, "image_size": models.image_size, "latent_dim": models.latent_dim,
                       "options": dict(models.options)},
        "prior": run.train.prior, "dataset": run.data.name, "limit": run.data.limit, "seed": run.train.seed,
        "sha256": sha256(weights), "bytes": weights.stat().st_size, "run": setting(run),
    }
    if chosen is not None:
        info["selected"] = {"epoch": chosen["epoch"], "of": run.train.epochs, "seconds": round(chosen["seconds"], 1),
                            "held_out": held_out,
                            "rule": f"the highest held_out_score: min(precision / {GAN_TARGETS[0]}, coverage / "
                                    f"{GAN_TARGETS[1]}) of the average on {HELD_OUT} images past the training set"}
    if models.denoiser is not None:  # a diffusion model is scored through its G: deterministic DDIM
        info["sampler"] = f"DDIM, {models.G.steps} steps, eta 0 (the model's G)"
    _write_manifest(info_path, info)
    _add_metrics(info, name, run, folder)
    return info


def _shipped_module(trainer: Any) -> "torch.nn.Module":
    """What a plan ships of a trainer now: the average of G's weights, else G (a VAE: the whole model)."""
    models = trainer.models
    if models.vae is not None:
        return models.vae
    return trainer.G_ema if trainer.G_ema is not None else models.G


def _held_out_reference(run: "RunSpec", n: int = HELD_OUT) -> Any:
    """Features of the ``n`` images that follow a run's training set in its procedural dataset (never trained on)."""
    from facegen_utils import metrics

    if run.data.limit is None:
        raise ValueError(f"Plan.select needs a plan with a 'limit' (its training set's size) to hold {n} images out "
                         f"of {run.data.name!r}")
    wider = run.replace(limit=run.data.limit + n).load_dataset()
    subset = torch.utils.data.Subset(wider, range(run.data.limit, run.data.limit + n))
    return metrics.reference(subset, n=n, seed=0)


def held_out_score(trainer: Any, reference: Any, run: "RunSpec", *, seed: int = 3) -> dict[str, float]:
    """Precision and coverage of what a trainer would ship now, on held-out images, and how close they come to
    ``GAN_TARGETS``: min(precision / 0.85, coverage / 0.8), 1 or more when both are reached. Other latents
    (``seed``) and other real images than :func:`score`'s, so choosing a checkpoint does not tune the reported
    figures."""
    from facegen_utils import metrics

    row = metrics.evaluate(_shipped_module(trainer), reference, n=reference.n, prior=run.train.prior, seed=seed,
                           metrics=("precision_recall", "density_coverage")).iloc[0]
    precision, coverage = float(row["precision"]), float(row["coverage"])
    return {"precision": round(precision, 4), "coverage": round(coverage, 4),
            "score": round(min(precision / GAN_TARGETS[0], coverage / GAN_TARGETS[1]), 4)}


def _write_manifest(path: Path, info: Mapping[str, Any]) -> None:
    from facegen_utils.training.checkpoint import atomic_write

    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(info, indent=1) + "\n"))


def _add_metrics(info: dict[str, Any], name: str, run: "RunSpec", folder: str | Path | None) -> None:
    """Score the shipped (float16-rounded) weights as a user loads them; record the metrics in the manifest."""
    info["metrics"] = score(load(name, folder=folder), run)
    info["metrics_n"] = SCORE_N
    _write_manifest(_paths(name, folder)[1], info)


def rescore(name: str, *, folder: str | Path | None = None) -> dict[str, Any]:
    """Score the shipped ``name`` again and rewrite the metrics of its manifest (after a metric's definition changed).

    The weights, command and seconds stay as trained; the manifest records when it was rescored.
    """
    info = manifest(name, folder=folder)
    info["rescored"] = time.strftime("%Y-%m-%d")
    _add_metrics(info, name, spec(name), folder)
    return info


def by_prior(notebook: str, runs: "Mapping[str, Any]") -> dict[str, Any]:
    """{shipped name: run} for the runs (keyed by prior, as in notebook 04) whose prior a shipped generator of
    ``notebook`` was trained with."""
    from facegen_utils.noise import parse

    found = {}
    for name in for_notebook(notebook):
        prior = parse(spec(name).train.prior)
        found.update({name: run for key, run in runs.items() if parse(key) == prior})
    return found


def applies(name: str, run: "RunSpec") -> str | None:
    """None when the shipped ``name`` was trained on this run's data and image size, else why it does not apply."""
    info = manifest(name)
    trained = tuple(info["model_spec"]["options"].get("conditions") or ())
    if trained != tuple(run.data.conditions):
        return (f"the shipped {name} was trained with the conditions {', '.join(trained) or 'none'} and this run "
                f"uses {', '.join(run.data.conditions) or 'none'}.")
    if (run.data.name, run.model.image_size) == (info["dataset"], info["model_spec"]["image_size"]):
        return None
    return (f"the shipped {name} was trained on {info['dataset']} at {info['model_spec']['image_size']} px and this "
            f"run uses {run.data.name} at {run.model.image_size} px (a procedural model is never shown as a result "
            f"on other data).")


def architecture_change(name: str, options: Mapping[str, Any] | None = None) -> str:
    """How the shipped ``name`` differs from a network with model ``options`` (default: its notebook's quick profile).

    "the same architecture", or "the same architecture with" the options that differ; an option that builds only the
    discriminator/critic (``registry.DISCRIMINATOR_OPTIONS``) reads "trained against a discriminator with" it.
    """
    info = manifest(name)
    model = info["model_spec"]
    if options is None:
        options = _quick_spec(name).model.options
    # an option left out on either side is the model's default, so a width set only by this run counts too; a tuple
    # of this run equals the list the manifest holds
    from facegen_utils.models.registry import DISCRIMINATOR_OPTIONS

    shipped, ran = (_full_options(model["name"], given) for given in (model["options"], options))
    changed = {key: f"{key} {_shown(shipped[key])} (this run: {_shown(ran[key])})" for key in shipped
               if key != "conditions" and ran.get(key) != shipped[key]}
    own = [text for key, text in changed.items() if key not in DISCRIMINATOR_OPTIONS]
    opponent = [text for key, text in changed.items() if key in DISCRIMINATOR_OPTIONS]
    text = ("the same architecture with " + ", ".join(own) if own
            else "the same generator" if opponent else "the same architecture")
    if opponent:  # the shipped file holds no discriminator, but training the same again needs it
        critic = "critic" if str(info.get("run", {}).get("objective", "")).startswith("wgan") else "discriminator"
        text += f"{',' if own else ''} trained against a {critic} with " + ", ".join(opponent)
    return text


#: flat settings that do not change what a run learns (where and how fast it runs, what it writes), or that the
#: "After longer training" sentence names elsewhere (the network: :func:`architecture_change`; the epochs; the data and
#: prior, which must match for the comparison to apply); every other setting is part of how a model was trained
NOT_TRAINING = frozenset({"dataset", "data_dir", "conditions", "model", "image_size", "latent_dim", "model_options",
                          "epochs", "prior", "seed", "device", "amp", "channels_last", "compile", "cpu_gemm_grad",
                          "gpu_dataset", "grid_size", "sample_every", "checkpoint_every", "keep_checkpoints",
                          "out_dir", "num_workers", "log_every", "deterministic"})


def _shown(value: Any) -> str:
    return "(" + ", ".join(map(str, value)) + ")" if isinstance(value, (list, tuple)) else str(value)


def training_change(name: str, run: "RunSpec | None" = None) -> str:
    """The training settings the shipped ``name`` was trained with that differ from ``run``'s (default: its
    notebook's quick profile), as "lr 0.0002 (this run: 0.0006), ..."; "" when there are none.

    The network is :func:`architecture_change`'s part; the settings of :data:`NOT_TRAINING` are left out.
    """
    recorded = _recorded_setting(name)
    ran = setting(_quick_spec(name) if run is None else run)
    return ", ".join(f"{key} {_shown(recorded[key])} (this run: {_shown(ran.get(key))})" for key in recorded
                     if key not in NOT_TRAINING and ran.get(key) != recorded[key])


def for_exploration(name: str, run_models: Any, run: "RunSpec") -> tuple[Any, str]:
    """The generator a notebook's interactive parts act on, and one line saying which.

    The shipped ``name`` when it applies to this run (see :func:`applies`), else this run's own ``run_models``.
    """
    reason = applies(name, run)
    if reason is None:
        info = manifest(name)
        return load(name), (f"Exploring the shipped {name} ({info['epochs']} epochs); pass this run's models to "
                            f"explore what you trained.")
    return run_models, f"Exploring this run's generator: {reason}"


@dataclass
class LongerTraining:
    """This run's generators beside the shipped ones: a figure, the metric rows and one sentence per model.

    ``reason`` is set (and the rest empty) when the comparison does not apply, e.g. on real data.
    """

    figure: Any = None
    table: Any = None
    sentences: list[str] = field(default_factory=list)
    reason: str | None = None

    def save(self, folder: str | Path, stem: str = "after_longer_training") -> Path | None:
        """Write the figure as ``stem.png`` and the table as ``stem.csv`` into ``folder`` (nothing if not applicable)."""
        if self.reason is not None:
            return None
        from facegen_utils.viz import save_figure

        self.table.to_csv(Path(folder) / f"{stem}.csv")
        return save_figure(self.figure, Path(folder) / f"{stem}.png", close=False)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        if self.reason is not None:
            print(self.reason)
            return
        from facegen_utils.metrics import shown

        display(self.figure)
        display(shown(self.table))
        print("\n".join(self.sentences))


def _options(source: Any) -> Mapping[str, Any] | None:
    """The model options of what a run trained (a Trainer or a ModelSet); None for a bare generator."""
    options = getattr(getattr(source, "models", source), "options", None)
    return options if isinstance(options, Mapping) else None


def _run_spec(source: Any, run: "RunSpec") -> "RunSpec":
    """What ``source`` was trained with: a Trainer's own training settings on the notebook ``run``'s data and model
    (a Trainer built from a model set and a tensor knows no data specification), else ``run``."""
    from facegen_utils.spec import RunSpec
    from facegen_utils.training import Trainer

    return RunSpec(run.data, run.model, source.config) if isinstance(source, Trainer) else run


def _seconds(info: Mapping[str, Any]) -> float:
    """How long the shipped generator trained: to its selected checkpoint (``Plan.select``), else the whole run."""
    return float(info.get("selected", {}).get("seconds", info["seconds"]))


def _spans(run_epochs: int, run_steps: int | None, shipped_epochs: int, shipped_steps: int | None) -> tuple[str, str]:
    """How long this run and the shipped one trained, for the rows' labels: epochs, and the iterations as well when
    an epoch holds another number of them on the two sides (notebook 04: 9 on 300 paintings, 32 on 1,024)."""
    counted = (run_steps is not None and shipped_steps is not None
               and run_steps * shipped_epochs != shipped_steps * run_epochs)
    run, shipped = ((f"{epochs} epoch{'' if epochs == 1 else 's'}" + (f", {steps:,} iterations" if counted else ""))
                    for epochs, steps in ((run_epochs, run_steps), (shipped_epochs, shipped_steps)))
    return run, shipped


def after_longer_training(runs: "Mapping[str, Any]", reference: Any, run: "RunSpec", *,
                          run_epochs: "int | Mapping[str, int]", n: int | None = None, seed: int = 2,
                          grid: int = 36) -> LongerTraining:
    """Compare this run's generators with the shipped ones of the same models, on the procedural data only.

    ``runs`` maps a shipped name (``"05-gan"``) to what this run trained (a Trainer, a ModelSet or a generator);
    ``run_epochs`` the epochs this run trained (one number, or one per name; a Trainer's iterations are named
    beside them); ``reference`` is the real features
    of :func:`facegen_utils.metrics.reference`; ``run`` the run's
    specification: when its dataset or image size differs from the shipped generators', the comparison does not
    apply (a generator trained on procedural faces is never shown as a result on real data) and ``reason`` says so.
    ``n`` generated images per row: by default as many as the reference holds, because coverage and precision read
    lower when fewer generated than real images are compared (the manifests score 500 against 500).
    """
    from facegen_utils import conclusions, metrics
    from facegen_utils.metrics.evaluate import _fake
    from facegen_utils.training import Trainer
    from facegen_utils.viz import compare_grids

    if not runs:
        return LongerTraining(reason="After longer training: no shipped generator matches the models of this run.")
    for name in runs:
        if (reason := applies(name, run)) is not None:
            return LongerTraining(reason=f"After longer training: not shown, because {reason}")
    infos = {name: manifest(name) for name in runs}
    n = reference.n if n is None else n
    rows, samples, sentences, ranges = [], {}, [], {}
    for name, source in runs.items():
        info, shipped = infos[name], load(name)
        prior, epochs = info["prior"], run_epochs[name] if isinstance(run_epochs, Mapping) else run_epochs
        run_steps, shipped_steps = source.step if isinstance(source, Trainer) else None, info.get("steps")
        spans = _spans(epochs, run_steps, info["epochs"], shipped_steps)
        pair = {f"{name}: this run ({spans[0]})": source, f"{name}: shipped ({spans[1]})": shipped}
        found = []
        for label, what in pair.items():
            row = metrics.evaluate(what, reference, n=n, prior=prior, seed=seed, label=label,
                                   metrics=("fid", "precision_recall", "density_coverage", "mode_collapse",
                                            "attributes"))
            rows.append(row)
            found.append(row.iloc[0])
            images, value_range = _fake(what, grid, prior=prior, seed=seed, batch_size=grid, value_range=None)
            samples[label], ranges[label] = images, tuple(value_range)
        sentences.append(conclusions.longer_training(name, found[0], found[1], run_epochs=epochs,
                                                     shipped_epochs=info["epochs"],
                                                     run_steps=run_steps, shipped_steps=shipped_steps,
                                                     shipped_minutes=_seconds(info) / 60,
                                                     targets=shipped.vae is None,
                                                     architecture=architecture_change(name, _options(source)),
                                                     training=training_change(name, _run_spec(source, run))))
    import pandas as pd

    table = pd.concat(rows)
    figure = compare_grids(samples, value_range=ranges, nrow=6, ncols=2, panel_size=3.0,
                           title="this run (left) and the shipped generator trained longer (right)")
    return LongerTraining(figure, table, sentences)


def gan_for_comparison(run: "RunSpec", *, checkpoint: str | Path | None = None, name: str = "05-gan",
                       role: str = "GAN side", knob: str = "gan_checkpoint") -> tuple[Any, str]:
    """The DCGAN that notebook 06 compares its diffusion model with, and one line saying which.

    A checkpoint of notebook 05's run when given (e.g. its report run on CelebA), else the shipped ``name`` when it
    was trained on this run's data and image size, else None (the line says how to add one). ``role`` starts the
    line and ``knob`` names the notebook parameter that takes a checkpoint (notebook 07 uses the DCGAN as its
    unconditional baseline, given by ``baseline_checkpoint``).
    """
    run = replace(run, data=replace(run.data, conditions=())) if run.data.conditions else run
    if checkpoint is not None:
        from facegen_utils.training import load_generator

        models = load_generator(checkpoint)
        if models.image_size != run.model.image_size:
            raise ValueError(f"gan_checkpoint={str(checkpoint)!r} holds a generator of {models.image_size} px, this "
                             f"run's images are {run.model.image_size} px; train notebook 05 at the same image_size.")
        return models, f"{role}: the generator of {checkpoint}."
    reason = applies(name, run)
    if reason is None:
        info = manifest(name)
        return load(name), f"{role}: the shipped {name} (notebook 05's DCGAN, {info['epochs']} epochs)."
    return None, (f"{role}: none, because {reason} Pass {knob}= a checkpoint of notebook 05 trained on "
                  f"this data (outputs/05_celeba_dcgan/train/checkpoint.pt after its report run).")
