"""Train the generators shipped in facegen_utils/assets/pretrained (one command per model, seeded, on the CPU).

    python scripts/pretrain.py 05-gan            # one model (5-15 minutes on one thread; 06-ddpm 44)
    python scripts/pretrain.py --all             # all of them, one after another
    python scripts/pretrain.py --list            # names, plans and the metrics of the shipped files
    python scripts/pretrain.py --rescore --all   # score the shipped files again (after a metric changed)

Each run writes NAME.pt (float16 weights of G, or of the whole VAE) and NAME.json (the command, seconds, torch
version, sha256 and the metrics reached on 500 samples) through facegen_utils.pretrained.train. A plan with
``select`` (04's) scores its average after each of those epochs on 500 images the run never trains on and ships
the best checkpoint; the manifest's "selected" holds the scores and the epoch chosen.
"""
from __future__ import annotations

import argparse
import json
import os
import sys


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TQDM_DISABLE", "1")
    from facegen_utils import pretrained

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help=f"models to train: {', '.join(pretrained.names())}")
    parser.add_argument("--all", action="store_true", help="train every model")
    parser.add_argument("--list", action="store_true", help="list the models and their shipped metrics")
    parser.add_argument("--rescore", action="store_true",
                        help="score the shipped files again and rewrite their manifests' metrics (no training)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1, as shipped)")
    parser.add_argument("--epochs", type=int, default=None, help="replace the plan's epochs (a short trial run)")
    parser.add_argument("--out", default=None, help="folder for the files (default: the package's assets)")
    args = parser.parse_args(argv)
    if args.list:
        for name, plan in pretrained.PLANS.items():
            try:
                metrics = pretrained.manifest(name, folder=args.out).get("metrics", {})
            except pretrained.PretrainedError:
                metrics = "not built"
            chosen = f" (best of {', '.join(map(str, plan.select))} on held-out images)" if plan.select else ""
            print(f"{name:12s} notebook {plan.notebook} {plan.variant:8s} {plan.epochs:4d} epochs{chosen}  {metrics}")
        return 0
    chosen = pretrained.names() if args.all else args.names
    if not chosen:
        parser.error("name a model (or --all / --list)")
    for name in chosen:
        if args.rescore:
            info = pretrained.rescore(name, folder=args.out)
            print(json.dumps({k: info[k] for k in ("name", "metrics")}), flush=True)
            continue
        info = pretrained.train(name, folder=args.out, threads=args.threads, epochs=args.epochs)
        print(json.dumps({k: info[k] for k in ("name", "seconds", "steps", "metrics")}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
