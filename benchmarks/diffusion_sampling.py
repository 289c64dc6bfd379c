"""Notebook 06's comparison at full size: the shipped U-Net under DDIM and DDPM at every step count, against the
shipped DCGAN of notebook 05, on the same real faces and on this machine's clock.

Scores ``--n`` samples of each setting against ``--n`` training images (the package's features): FID, precision,
coverage, density, near-duplicates, attribute distance, and the seconds per 64 samples. The DCGAN row, measured in
the same run, is the reference; the target is the shipped U-Net's (diffusion issue): precision >= 0.8 and coverage
>= 0.7 with DDIM in 50 steps. The 1000-step rows take 4 s per image on one core, so they are scored on ``--n-long``
samples (FID is biased upwards at small n: compare those rows with each other, not with the others). Then the
classifier two-sample tests of notebook 06 (real vs DCGAN, real vs the best diffusion setting, DCGAN vs it).

    python benchmarks/diffusion_sampling.py [--n 500] [--n-long 100] [--steps 10,25,50,100,1000] [--ddpm 100,1000]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

TARGET = ("DDIM-50", 0.8, 0.7)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=500, help="samples per row (default 500)")
    parser.add_argument("--n-long", type=int, default=100, help="samples of the 1000-step rows (default 100)")
    parser.add_argument("--steps", default="10,25,50,100,1000", help="DDIM step counts")
    parser.add_argument("--ddpm", default="100,1000", help="DDPM (ancestral) step counts")
    parser.add_argument("--seed", type=int, default=2)
    args = parser.parse_args(argv)
    os.environ.setdefault("TQDM_DISABLE", "1")
    import logging

    import pandas as pd

    import facegen_utils as fu
    from facegen_utils._log import logger

    logger.setLevel(logging.ERROR)
    started = time.perf_counter()
    run = fu.pretrained.spec("06-ddpm")
    data = run.load_dataset()
    unet, gan = fu.pretrained.load("06-ddpm"), fu.pretrained.load("05-gan")
    settings = [("ddim", int(s)) for s in args.steps.split(",")] + [("ddpm", int(s)) for s in args.ddpm.split(",")]
    tables, samples = [], {}
    for n, chosen, with_gan in ((args.n, [s for s in settings if s[1] < 1000], True),
                                (args.n_long, [s for s in settings if s[1] >= 1000], False)):
        if not chosen:
            continue
        reference = fu.metrics.reference(data, n=min(n, len(data)), seed=1)
        table, images = fu.diffusion.sampling_study(unet, reference, settings=chosen, n=n, seed=args.seed,
                                                    gan=gan if with_gan else None)
        table.insert(0, "n", n)
        tables.append(table)
        samples.update(images)
    study = pd.concat(tables)
    columns = ["n", "steps", "seconds_per_64", "fid", "precision", "coverage", "density", "duplicate_share",
               "attribute_distance"]
    pd.set_option("display.width", 160)
    print(f"06-ddpm ({fu.pretrained.manifest('06-ddpm')['epochs']} epochs) against 05-gan, "
          f"{study.attrs.get('note') or tables[0].attrs.get('note')}")
    print(study[columns].round(3).to_string())
    label, precision, coverage = TARGET
    row = study.loc[label]
    reached = row["precision"] >= precision and row["coverage"] >= coverage
    print(f"target {label}: precision >= {precision}, coverage >= {coverage}: "
          f"{row['precision']:.2f} / {row['coverage']:.2f} -> {'met' if reached else 'NOT met'}")
    first = study[study["n"] == args.n].drop(index="DCGAN")
    best = first["fid"].idxmin()
    real, real_range = fu.diffusion.real_images(data, args.n, seed=args.seed + 1)
    c2st = fu.diffusion.discriminator_between_outputs(real, samples, gan="DCGAN", diffusion_label=best,
                                                      real_range=real_range, seed=args.seed)
    print(c2st.round(3).to_string())
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0 if reached else 1


if __name__ == "__main__":
    sys.exit(main())
