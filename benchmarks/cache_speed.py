"""Decoding JPEGs through the folder loader vs reading the decoded uint8 cache, measured in one run.

Builds a temporary folder of mixed-size JPEGs (90–250 px, like the anime and art-portrait sets), then times:
``ds[i]`` decoding every file (``cache=False``, what a plain ImageFolder does each epoch), the one-off cache
build (threaded), a second run (``get`` + ``to_uint8`` + reading every byte), ``ds[i]`` served from the cache,
and the batch path the training engine uses (``to_uint8`` slices converted to float). Prints images/s and the
ratio to decoding; the target is a cached path at least 20× faster than decoding.

    python benchmarks/cache_speed.py [--n 400] [--image-size 64]
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

import facegen_utils.datasets as datasets
from facegen_utils._log import logger

TARGET = 20.0


def make_folder(root: Path, n: int, seed: int = 0) -> None:
    """Write ``n`` JPEGs of random sizes (90–250 px) with smooth colour fields plus grain, quality 90."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        w, h = (int(v) for v in rng.integers(90, 251, 2))
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        base = rng.uniform(0, 255, 3) + np.stack([xx / w * rng.uniform(-90, 90), yy / h * rng.uniform(-90, 90),
                                                  (xx + yy) / (w + h) * rng.uniform(-90, 90)], -1)
        img = np.clip(base + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(root / f"{i:05d}.jpg", quality=90)


def best_of(repeats: int, fn: Callable[[], object]) -> float:
    """The shortest wall time of ``repeats`` calls, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table, return 0 if the cached path is at least 20× faster than decoding."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400, help="number of JPEGs (default 400)")
    parser.add_argument("--image-size", type=int, default=64, help="working resolution (default 64)")
    parser.add_argument("--workers", type=int, default=None, help="decoding threads for the cache build")
    parser.add_argument("--rounds", type=int, default=3, help="alternating measurement rounds (default 3)")
    args = parser.parse_args(argv)
    logger.setLevel(logging.WARNING)
    torch.set_num_threads(1)
    S, n = args.image_size, args.n

    with tempfile.TemporaryDirectory(prefix="facegen-bench-") as tmp:
        folder, cache_dir = Path(tmp) / "images", Path(tmp) / "cache"
        make_folder(folder, n)
        opts = dict(data_dir=folder, image_size=S, cache_dir=cache_dir, workers=args.workers)
        plain = datasets.get("folder", **{**opts, "cache": False})
        first = datasets.get("folder", **opts)
        build = best_of(1, first.to_uint8)
        cached = datasets.get("folder", **opts)

        def second_run() -> None:
            datasets.get("folder", **opts).to_uint8().clone()  # the copy reads every byte of the mapped file

        def batches() -> None:
            u8 = cached.to_uint8()
            for s in range(0, n, 128):
                u8[s:s + 128].float().div_(255).mul_(2).sub_(1)

        # decoding and cached reads alternate, so both see the same machine load; the best round of each counts
        timings: dict[str, list[float]] = {"decode": [], "second": [], "item": [], "batch": []}
        for _ in range(args.rounds):
            timings["decode"].append(best_of(1, lambda: [plain[i] for i in range(n)]))
            timings["second"].append(best_of(3, second_run))
            timings["item"].append(best_of(3, lambda: [cached[i] for i in range(n)]))
            timings["batch"].append(best_of(3, batches))
        rows = [("decode JPEG per item: ds[i], cache=False", min(timings["decode"])),
                (f"first pass: build the cache ({args.workers or 'auto'} threads)", build),
                ("second run: get() + to_uint8() + read all", min(timings["second"])),
                ("cached per item: ds[i]", min(timings["item"])),
                ("cached batches of 128: to_uint8()[a:b] -> float", min(timings["batch"]))]

    reference = n / rows[0][1]
    print(f"{n} JPEGs of 90-250 px -> {S}x{S}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} torch thread(s)")
    print(f"{'path':52s} {'images/s':>12s} {'x decode':>9s}")
    for name, seconds in rows:
        rate = n / seconds
        print(f"{name:52s} {rate:12,.0f} {rate / reference:8.1f}x")
    ratio = (n / rows[3][1]) / reference
    verdict = "met" if ratio >= TARGET else "NOT met"
    print(f"cached ds[i] vs decoding ds[i]: {ratio:.1f}x; second run vs decoding: "
          f"{(n / rows[2][1]) / reference:.1f}x (target for the cached path >= {TARGET:.0f}x: {verdict})")
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
