"""Command line of facegen: ``python -m facegen_utils {prepare,train,sample,render,run-all} ...``.

- ``prepare`` scans a dataset folder (nothing is modified unless ``--quarantine``), prints the usable image count
  and a summary of the problems, and builds the decoded uint8 cache the training engine reads.
- ``train`` trains one model through :class:`facegen_utils.training.Trainer` and writes ``checkpoint.pt`` and
  ``losses.csv`` into ``--out``; ``--resume`` continues from the newest checkpoint there. Under
  ``torchrun --nproc_per_node N -m facegen_utils train ...`` the engine runs DistributedDataParallel itself.
  The options become one :class:`facegen_utils.spec.RunSpec` (validated there), whose seed also initialises the
  networks, so two runs with the same options give the same weights.
- ``sample`` draws a grid from a checkpoint's generator.
- ``render`` writes the procedural datasets as the README grids or as a folder of images.
- ``run-all`` executes the notebooks and writes the gallery (``make run``).

Every subcommand returns 0 on success, 2 for a usage error (bad option or value, missing data) and 1 when the
work itself failed.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from facegen_utils import __version__, profiles
from facegen_utils.spec import (AUGMENTS, COMPILE_MODES, LR_DECAYS, RunSpec, check_choice, check_int, check_number,
                                suggest)

PROG = "python -m facegen_utils"
RUN_FILE = "run.json"  # the train command's resolved arguments, read back by --resume

EXAMPLES = f"""examples:
  {PROG} prepare --dataset celeba --data-dir data/celeba
  {PROG} train --model dcgan --dataset synthetic-faces --epochs 1 --out runs/x
  {PROG} train --resume --epochs 5 --out runs/x
  {PROG} train --profile 05:report --data-dir data/celeba --out runs/celeba
  torchrun --nproc_per_node 2 -m facegen_utils train --profile 05:report --out runs/ddp
  {PROG} sample --checkpoint runs/x/checkpoint.pt --n 64 --out grid.png
  {PROG} render --grid docs/images
  {PROG} run-all --profile quick --out outputs
"""

# train options that describe the data and model; --resume reads them back from run.json when not given
_RUN_KEYS = ("model", "objective", "dataset", "data_dir", "image_size", "limit", "latent_dim", "model_options",
             "conditions")
#: option destinations whose RunSpec setting is spelled otherwise (a discriminator's own setting ends in "_D")
_SETTING_OF = {"lr_d": "lr_D", "weight_decay_d": "weight_decay_D"}


class UsageError(ValueError):
    """An invalid option value found after parsing (reported like an argparse error, exit code 2)."""


def _int_at_least(minimum: int):
    """An argparse type: a whole number, checked by the run specification's rule (for options outside a spec)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
            check_int("value", value, minimum)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= {minimum}") from None
        return value

    parse.__name__ = f"int>={minimum}"
    return parse


def _betas(text: str) -> tuple[float, float]:
    try:
        b1, b2 = (float(p) for p in text.replace("(", "").replace(")", "").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not two numbers such as 0.5,0.999") from None
    return b1, b2


def _option_value(text: str) -> Any:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if "," in text:
        return tuple(_option_value(t) for t in text.split(",") if t)
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _model_option(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE, e.g. base_channels=16 or hidden_dims=128,256")
    return key.strip(), _option_value(value.strip())


class _Parser(argparse.ArgumentParser):
    """A parser that takes no abbreviated options (``--epoch`` is an error, not ``--epochs``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)
        self.commands: dict[str, argparse.ArgumentParser] = {}

    def parse_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> argparse.Namespace:
        """Parse like argparse, but report an unknown option by the subcommand with a spelling hint."""
        parsed, extra = self.parse_known_args(args, namespace)
        if extra:
            command = self.commands.get(getattr(parsed, "command", None) or "", self)
            known = [o for action in command._actions for o in action.option_strings]
            hint = next((suggest(e.split("=")[0], known) for e in extra if e.startswith("-")), "")
            command.error(f"unrecognized arguments: {' '.join(extra)}{hint}")
        return parsed


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of all subcommands."""
    parser = _Parser(
        prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="facegen: prepare datasets, train and sample the models of the notebooks.",
        epilog=EXAMPLES + f"\nRun '{PROG} COMMAND --help' for the options of one command.")
    parser.add_argument("--version", action="version", version=f"facegen_utils {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    datasets_help = ", ".join(profiles.DATASETS)

    p = parser.commands["prepare"] = sub.add_parser(
        "prepare", help="scan a dataset folder, report problems and build the uint8 cache",
        description="Scan a dataset folder (read-only unless --quarantine), print the usable images and the "
                    "problems found, then decode everything once into the uint8 cache the training engine reads.")
    p.add_argument("--dataset", required=True, help=f"dataset name ({datasets_help})")
    p.add_argument("--data-dir", help="the dataset folder (default: the dataset's own, e.g. data/celeba)")
    p.add_argument("--image-size", type=_int_at_least(8), default=64, help="cache resolution in pixels (default 64)")
    p.add_argument("--limit", type=_int_at_least(1), help="only the first N images")
    p.add_argument("--quarantine", action="store_true",
                   help="move unreadable files into a quarantine folder next to the data (default: only report)")
    p.add_argument("--no-cache", action="store_true", help="scan only; do not build the cache")

    t = parser.commands["train"] = sub.add_parser(
        "train", help="train a model and write checkpoint.pt and losses.csv into --out",
        description="Train one model with the facegen engine. Options left out come from the run's earlier "
                    "settings (--resume), then --profile (when given), then the engine's defaults. Works under "
                    "torchrun --nproc_per_node N -m facegen_utils train ...")
    t.add_argument("--profile", metavar="NOTEBOOK[/VARIANT]:PROFILE",
                   help="start from a notebook's setting, e.g. 05:report, 01/wgan:quick (profiles: "
                        f"{', '.join(profiles.PROFILES)})")
    t.add_argument("--model", help="model name (dcgan, keras-gan, keras-wgan, keras-vae, mlp-wgan-gp, mlp-gan, "
                                   "ddpm-unet, cdcgan); default dcgan")
    t.add_argument("--objective", help="training objective: gan, wgan-clip, wgan-gp, vae, diffusion or cgan (default: "
                                       "the model's)")
    t.add_argument("--dataset", help=f"dataset name ({datasets_help}); default synthetic-faces")
    t.add_argument("--data-dir", help="folder of a real dataset")
    t.add_argument("--image-size", type=int, help="image size in pixels (default 64)")
    t.add_argument("--limit", type=int, metavar="N", help="use the first N images")
    t.add_argument("--conditions", type=lambda text: tuple(p.strip() for p in text.split(",") if p.strip()),
                   metavar="A,B", help="attributes a conditional model (cdcgan) is told, e.g. hair_color,hair_style "
                                       "or Male,Eyeglasses on celeba")
    t.add_argument("--epochs", type=int, help="total epochs to reach (with --resume: including the epochs "
                                              "already trained)")
    t.add_argument("--batch-size", type=int)
    t.add_argument("--lr", type=float, help="learning rate (generator; also the critic unless --lr-d)")
    t.add_argument("--lr-d", type=float, help="discriminator/critic learning rate")
    t.add_argument("--lr-decay", choices=LR_DECAYS, default=None,
                   help="learning rate over the run: constant (none, the default), or linear or cosine down to 0 at "
                        "the last of --epochs")
    t.add_argument("--weight-decay", type=float,
                   help="decoupled weight decay (AdamW) of the generator; also the critic's unless --weight-decay-d "
                        "(default 0: plain Adam)")
    t.add_argument("--weight-decay-d", type=float, help="decoupled weight decay of the discriminator/critic")
    t.add_argument("--betas", type=_betas, metavar="B1,B2", help="Adam betas, e.g. 0.5,0.999")
    t.add_argument("--optimizer", help="adam or rmsprop")
    t.add_argument("--n-critic", type=int, help="critic steps per generator step (WGAN)")
    t.add_argument("--critic-schedule",
                   help="inner: n critic steps per generator step; every-nth: critic every batch, generator "
                        "every n-th (report 001)")
    t.add_argument("--clip-value", type=float, help="weight clipping c of wgan-clip")
    t.add_argument("--gp-weight", type=float, help="gradient-penalty weight of wgan-gp")
    t.add_argument("--real-label", type=float, help="BCE target of real images (label smoothing)")
    t.add_argument("--fake-label", type=float, help="BCE target of generated images")
    t.add_argument("--prior", help="latent prior, e.g. 'normal(0, 1)', 'uniform(-1, 1)', 'gamma(2, 1)'")
    t.add_argument("--latent-dim", type=int, help="latent size (default: the model's)")
    t.add_argument("--base-channels", "--width", dest="base_channels", type=int,
                   help="channel width of the convolutional models (model option base_channels)")
    t.add_argument("--model-option", type=_model_option, action="append", default=[], metavar="KEY=VALUE",
                   help="any other keyword of facegen_utils.models.build, repeatable")
    t.add_argument("--seed", type=int)
    t.add_argument("--device", help="auto (cuda, mps, cpu), cpu, cuda, cuda:N or mps")
    t.add_argument("--amp", help="mixed precision on CUDA: off, bf16 or fp16")
    t.add_argument("--compile", nargs="?", const=True, default=None, metavar="MODE",
                   choices=(True, *COMPILE_MODES),
                   help="torch.compile the models; MODE reduce-overhead adds CUDA graphs (GPU), max-autotune also "
                        "searches kernel configurations")
    t.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="channels_last memory format (default: on for convolutional models on CPU and CUDA)")
    t.add_argument("--cpu-gemm-grad", action=argparse.BooleanOptionalAction, default=None,
                   help="CPU: weight gradients of small convolution layers (DCGAN's 4x4) as one matrix product "
                        "(default: on)")
    t.add_argument("--ema", type=float, help="EMA decay of the generator, e.g. 0.999")
    t.add_argument("--sample-every", type=int, help="epochs between progress grids")
    t.add_argument("--checkpoint-every", type=int, help="epochs between checkpoints (0: at the end)")
    t.add_argument("--keep-checkpoints", nargs="?", const="weights", default=None, choices=("weights", "full"),
                   help="also keep checkpoint_epoch_XXXX.pt of every checkpoint: the networks only (weights, the "
                        "default) or complete resumable copies (full)")
    t.add_argument("--hflip", action="store_true", default=None, help="random horizontal flips of the real images")
    t.add_argument("--augment", choices=AUGMENTS,
                   help="differentiable augmentation of every image the critic scores, real and generated "
                        "(DiffAugment): translation shifts each by up to 1/8 of its side (default: none)")
    t.add_argument("--num-workers", type=int, help="DataLoader workers")
    t.add_argument("--out", required=True, help="run folder: checkpoint.pt, losses.csv, samples/")
    t.add_argument("--resume", action="store_true",
                   help="continue from the newest checkpoint in --out up to --epochs")

    s = parser.commands["sample"] = sub.add_parser(
        "sample", help="draw a grid of images from a checkpoint",
        description="Load a checkpoint's generator (EMA weights when present) and save a PNG grid.")
    s.add_argument("--checkpoint", required=True, help="checkpoint.pt written by train")
    s.add_argument("--n", type=_int_at_least(1), default=64, help="number of images (default 64)")
    s.add_argument("--out", required=True, help="PNG file to write")
    s.add_argument("--seed", type=_int_at_least(0), default=0)
    s.add_argument("--prior", help="latent prior (default: the one the model was trained with)")
    s.add_argument("--truncation", type=float, help="resample latent values beyond this threshold")
    s.add_argument("--nrow", type=_int_at_least(1), help="images per row (default: a square grid)")
    s.add_argument("--device", default="cpu", help="cpu (default), cuda, mps or auto")
    s.add_argument("--no-ema", action="store_true", help="use the raw generator even if EMA weights exist")

    g = parser.commands["render"] = sub.add_parser(
        "render", help="write the README grids or a folder of procedural images",
        description="Render the procedural datasets: the README sample grids (--grid) and/or a dataset written as "
                    "numbered image files with attributes.csv (--save).")
    g.add_argument("--grid", metavar="DIR", help="write synthetic_faces.png and synthetic_paintings.png here")
    g.add_argument("--save", metavar="DIR", help="write a dataset as an image folder here")
    g.add_argument("--kind", choices=("faces", "paintings"), default="faces", help="dataset of --save (default faces)")
    g.add_argument("--n", type=_int_at_least(1), default=1000, help="images written by --save (default 1000)")
    g.add_argument("--image-size", type=_int_at_least(8), default=64, help="image size in pixels (default 64)")
    g.add_argument("--seed", type=_int_at_least(0), default=0, help="procedural seed (default 0)")
    g.add_argument("--fmt", choices=("jpg", "png"), default="jpg", help="image format of --save (default jpg)")

    r = parser.commands["run-all"] = sub.add_parser(
        "run-all", help="execute the notebooks and write the gallery (make run)",
        description="Execute the notebooks with papermill into --out and write --out/index.html.")
    r.add_argument("--profile", default="quick", choices=profiles.PROFILES)
    r.add_argument("--out", default="outputs", help="output folder (default outputs)")
    r.add_argument("--notebooks", help="comma-separated subset, e.g. 01,05 (default: all)")
    return parser


def _is_main_process() -> bool:
    return os.environ.get("RANK", "0") == "0"


def _say(message: str) -> None:
    if _is_main_process():
        print(message, flush=True)


def _print_problems(report: Any) -> None:
    """Print a one-line-per-problem summary of a scan report (columns path, problem, action)."""
    if report is None or not len(report):
        print("problems found: none")
        return
    summary = report.groupby(["problem", "action"]).size().rename("files").reset_index()
    print(f"problems found: {len(report)} file(s)")
    print(summary.to_string(index=False))


def _cmd_prepare(args: argparse.Namespace) -> int:
    from facegen_utils import datasets

    check_choice("dataset", args.dataset, datasets.names())
    options: dict[str, Any] = {"quarantine": True} if args.quarantine else {}
    try:
        ds = datasets.get(args.dataset, data_dir=args.data_dir, image_size=args.image_size, limit=args.limit,
                          **options)
    except datasets.DatasetNotFoundError:
        if args.data_dir is not None and Path(args.data_dir).is_dir() and args.dataset in datasets.LAYOUTS:
            _print_problems(datasets.scan(args.data_dir, dataset=args.dataset))
        raise
    root = getattr(ds, "root", None)
    print(f"dataset {args.dataset}" + (f" in {root}" if root is not None else " (generated)"))
    _print_problems(ds.report)
    if args.quarantine and root is not None:
        print(f"files with action 'skip' were moved to {Path(root).with_name(Path(root).name + '-quarantine')}")
    print(f"usable images: {len(ds)}")
    if args.no_cache:
        return 0
    start = time.perf_counter()
    u8 = ds.to_uint8(progress=True)
    seconds = time.perf_counter() - start
    where = getattr(ds, "cache_path", None)
    print(f"uint8 cache ready: {tuple(u8.shape)}, {u8.numel() / 1e6:.1f} MB, {seconds:.1f} s"
          + (f" ({where})" if where else ""))
    return 0


def newest_checkpoint(folder: str | Path) -> Path | None:
    """The checkpoint to resume from in ``folder``: ``checkpoint.pt`` if present, else the newest ``*.pt``.

    Numbered copies (``checkpoint_epoch_XXXX.pt``) come last: with ``--keep-checkpoints`` they hold the networks only.
    """
    folder = Path(folder)
    if (folder / "checkpoint.pt").is_file():
        return folder / "checkpoint.pt"
    candidates = sorted(folder.glob("*.pt"),
                        key=lambda p: (p.name.startswith("checkpoint_epoch_"), -p.stat().st_mtime))
    return candidates[0] if candidates else None


def _train_settings(args: argparse.Namespace, previous: dict[str, Any]) -> dict[str, Any]:
    """Merge explicit options > the previous run (resume) > --profile > defaults into flat RunSpec settings."""
    explicit = {_SETTING_OF.get(k, k): v for k, v in vars(args).items()
                if v is not None and k not in ("command", "out", "resume")}
    options = dict(explicit.pop("model_option", []))
    if "base_channels" in explicit:
        options["base_channels"] = explicit.pop("base_channels")
    settings: dict[str, Any] = {}
    spec = explicit.pop("profile", None) or previous.get("profile")
    if spec:
        notebook, variant, profile_name = profiles.parse_spec(spec)
        flat = profiles.get(notebook, profile_name, variant=variant).spec.flat()
        settings.update({k: v for k, v in flat.items() if k != "device"})
        settings["profile"] = spec
    settings.update({k: v for k, v in previous.items() if k in _RUN_KEYS and v is not None})
    settings["model_options"] = {**settings.get("model_options", {}), **options}
    settings.update(explicit)
    return settings


def _cmd_train(args: argparse.Namespace) -> int:
    from facegen_utils.training import Trainer

    out = Path(args.out)
    previous: dict[str, Any] = {}
    checkpoint = None
    if args.resume:
        checkpoint = newest_checkpoint(out)
        if checkpoint is None:
            raise UsageError(f"--resume: no checkpoint found in {out}; run once without --resume to start it")
        if (out / RUN_FILE).is_file():
            previous = json.loads((out / RUN_FILE).read_text())
    settings = _train_settings(args, previous)
    profile = settings.pop("profile", None)
    spec = RunSpec.from_flat({**settings, "out_dir": str(out)})
    if _is_main_process():
        out.mkdir(parents=True, exist_ok=True)
        record = {k: v for k, v in spec.flat().items() if k in _RUN_KEYS}
        record["profile"] = profile
        (out / RUN_FILE).write_text(json.dumps(record, indent=2, default=list) + "\n")

    if checkpoint is not None:
        given = {_SETTING_OF.get(k, k) for k, v in vars(args).items() if v is not None}
        train = dataclasses.asdict(spec.train)
        overrides = {k: train[k] for k in given if k in train}
        trainer = Trainer.from_checkpoint(checkpoint, spec.load_dataset(), config_overrides={**overrides,
                                                                                              "out_dir": str(out)})
        _say(f"resuming {checkpoint} at epoch {trainer.epoch}")
    else:
        trainer = Trainer.from_spec(spec)
    target = trainer.config.epochs
    if trainer.epoch >= target:
        _say(f"nothing to do: {out} is already at epoch {trainer.epoch} (--epochs {target})")
        return 0
    _say(f"training {spec.model.name} ({trainer.config.objective}) on {spec.data.name} [{trainer.batches.size} "
         f"images, {spec.model.image_size} px] on {trainer.device} up to epoch {target}")
    start = time.perf_counter()
    history = trainer.fit(target)
    seconds = time.perf_counter() - start
    last = history.iloc[-1] if len(history) else None
    losses = "" if last is None else ", last " + " ".join(f"{c} {last[c]:.4f}" for c in trainer.objective.columns
                                                           if c.startswith("loss"))
    _say(f"done: epoch {trainer.epoch} in {seconds:.1f} s{losses}; wrote {out / 'checkpoint.pt'} and "
         f"{out / 'losses.csv'}")
    return 0


def _cmd_sample(args: argparse.Namespace) -> int:
    import torch

    from facegen_utils import noise, viz
    from facegen_utils.device import resolve_device
    from facegen_utils.training import checkpoint, load_generator

    path = Path(args.checkpoint)
    if not path.is_file():
        raise UsageError(f"--checkpoint {path}: no such file; give the checkpoint.pt written by "
                         f"'{PROG} train --out DIR'")
    check_number("--truncation", args.truncation, 0, optional="no truncation", example="1.5")
    device = resolve_device(args.device)
    model_set = load_generator(path, map_location="cpu", ema=not args.no_ema)
    G = model_set.G.to(device).eval()
    spec = args.prior or checkpoint.load(path)["config"].get("prior", "normal(0, 1)")
    try:
        prior = noise.parse(spec)
    except ValueError as exc:
        raise UsageError(f"invalid --prior {spec!r}: {exc}") from None
    generator = torch.Generator().manual_seed(args.seed)
    z = prior.sample(args.n, model_set.latent_dim, generator=generator)
    if args.truncation is not None:
        z = noise.truncate(z, args.truncation, prior, generator=generator)
    with torch.inference_mode():
        images = G(z.to(device)).float().cpu()
    nrow = args.nrow or math.ceil(math.sqrt(args.n))
    written = viz.save_grid(images, args.out, nrow=nrow, value_range=tuple(model_set.value_range))
    print(f"wrote {written} ({args.n} images of {model_set.name}, prior {spec}, seed {args.seed})")
    return 0


def _cmd_render(args: argparse.Namespace) -> int:
    from facegen_utils.datasets import procedural

    if not args.grid and not args.save:
        raise UsageError("nothing to do: give --grid DIR and/or --save DIR")
    if args.grid:
        for path in procedural.write_readme_grids(args.grid, image_size=args.image_size, seed=args.seed):
            print(path)
    if args.save:
        print(procedural.render_to_folder(args.save, kind=args.kind, n=args.n, image_size=args.image_size,
                                          seed=args.seed, fmt=args.fmt))
    return 0


def _cmd_run_all(args: argparse.Namespace) -> int:
    try:
        from facegen_utils import gallery
    except ModuleNotFoundError as exc:
        if exc.name != "facegen_utils.gallery":
            raise
        print(f"{PROG} run-all: error: facegen_utils.gallery is not installed in this checkout; "
              "update the package (pip install -e .) and try again", file=sys.stderr)
        return 2
    notebooks = None
    if args.notebooks:
        notebooks = [n.strip() for n in args.notebooks.split(",") if n.strip()]
        for name in notebooks:
            profiles.resolve_notebook(name)
    runs = gallery.run_all(profile=args.profile, out=args.out, notebooks=notebooks)
    failed = [r for r in runs or [] if getattr(r, "error", None)]
    for run in failed:
        print(f"{PROG} run-all: {getattr(run, 'name', run)} failed: {run.error}", file=sys.stderr)
    return 1 if failed else 0


_COMMANDS = {"prepare": _cmd_prepare, "train": _cmd_train, "sample": _cmd_sample, "render": _cmd_render,
             "run-all": _cmd_run_all}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and argparse errors
        return int(exc.code or 0)
    try:
        return _COMMANDS[args.command](args)
    except (UsageError, ValueError, FileNotFoundError, NotADirectoryError) as exc:
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG} {args.command}: interrupted", file=sys.stderr)
        return 130
    except (FloatingPointError, RuntimeError) as exc:
        print(f"{PROG} {args.command}: failed: {exc}", file=sys.stderr)
        return 1
