"""Speed of the procedural datasets (synthetic faces and paintings) on one CPU thread.

For each dataset this prints images per second of

- ``ds[i]`` over a fresh dataset in index order, first access included (rendering in vectorised chunks of 256 and
  serving items from the cached chunk) and in a shuffled order (a DataLoader's first epoch),
- ``ds.to_uint8()`` (the training engine's bulk path), and
- the same images rendered one at a time (chunk_size=1), the reference measured in the same run,

in wall-clock time and in process CPU time, with the ratio against the target of issue 2 (>= 2,000 images/s at
64x64 through ``ds[i]`` on one core) and against the one-at-a-time reference. Nothing is asserted. On a shared
machine other processes slow the wall clock down; the CPU-time figure is the one to compare with the target, the
load average printed first says how busy the machine was.

    python benchmarks/procedural_speed.py              # 4,096 images per measurement, best of 3 (~1 min)
    python benchmarks/procedural_speed.py --n 1024 --repeats 1 --image-size 128
"""
from __future__ import annotations

import argparse
import os
import time
from typing import Callable

import numpy as np
import torch

from facegen_utils.datasets.procedural import SyntheticFaces, SyntheticPaintings

TARGET = 2000.0  # images/s at 64x64 through ds[i] on one core


def measure(run: Callable[[], None], repeats: int) -> tuple[float, float]:
    """Best wall-clock and best CPU seconds of ``run`` over ``repeats`` calls."""
    wall, cpu = float("inf"), float("inf")
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        run()
        wall, cpu = min(wall, time.perf_counter() - w), min(cpu, time.process_time() - c)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=4096, help="images per measurement")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    torch.set_num_threads(1)
    n, size = args.n, args.image_size
    print(f"procedural datasets, {n} images of {size}x{size}, 1 thread, best of {args.repeats}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'dataset':20s} {'access':30s} {'img/s wall':>11s} {'img/s cpu':>10s} {'vs target':>10s}")
    for cls in (SyntheticFaces, SyntheticPaintings):
        start = time.perf_counter()
        cls(8, image_size=size)[0]  # once per process and size: stroke tables, scratch buffers
        print(f"{cls.__name__:20s} {'one-off set-up per process':30s} {time.perf_counter() - start:10.3f}s")
        order = np.random.default_rng(0).permutation(n)

        def in_order() -> None:
            ds = cls(n, image_size=size)
            for i in range(n):
                ds[i]

        def shuffled() -> None:
            ds = cls(n, image_size=size)
            for i in order:
                ds[int(i)]

        def bulk() -> None:
            cls(n, image_size=size).to_uint8()

        ref_n = max(1, n // 32)

        def one_at_a_time() -> None:
            ds = cls(ref_n, image_size=size, chunk_size=1)
            for i in range(ref_n):
                ds[i]

        rates = {}
        for label, run, count, repeats in (("ds[i], index order", in_order, n, args.repeats),
                                           ("ds[i], shuffled", shuffled, n, args.repeats),
                                           ("to_uint8()", bulk, n, args.repeats),
                                           ("ds[i], one image per render", one_at_a_time, ref_n, 1)):
            wall, cpu = measure(run, repeats)
            rates[label] = count / cpu
            print(f"{cls.__name__:20s} {label:30s} {count / wall:11.0f} {count / cpu:10.0f} "
                  f"{count / cpu / TARGET:9.2f}x")
        speedup = rates["ds[i], index order"] / rates["ds[i], one image per render"]
        verdict = "PASS" if rates["ds[i], index order"] >= TARGET else "BELOW"
        print(f"{cls.__name__:20s} chunked vs one-at-a-time: {speedup:.1f}x; target {TARGET:.0f}/s (cpu): {verdict}")


if __name__ == "__main__":
    main()
