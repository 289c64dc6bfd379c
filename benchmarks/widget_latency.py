"""Milliseconds per latent-explorer update on the CPU, against the 100 ms budget of SPEC.md.

One update is what a slider release does in a notebook: the observer recomputes the latent, runs the generator
under eval() + inference_mode, encodes the PNG and hands it to the image widget. The generator's forward pass
alone is timed in the same run as the reference, so the widget's own overhead shows as the difference. Wall time
is what a student feels; process CPU time is printed beside it because a shared machine inflates wall time (the
load average is printed first): with ``--threads 1`` the CPU time is the update's cost on an idle core.
Configurations: the DCGAN of notebooks 04/05 at 64×64 with its full widths (base_channels 64, 3.6 M parameters),
a small one (base_channels 16), a 4×4 grid of the full DCGAN, the full DCGAN moved along an attribute direction
(one of four direction sliders) and the VAE explorer of report 000, each at the default pixel enlargement (×4 for
one image, ×2 for a grid); notebook 06's diffusion explorer (quick U-Net, 32×32): moving the step slider (a cached
trajectory) and typing a new seed (one DDIM-25 run of one image; the forward column is one U-Net pass); notebook
07's conditional DCGAN at 64×64 (full widths), switching an attribute menu.

    python benchmarks/widget_latency.py [--repeats 30] [--threads N]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import torch

from facegen_utils.latent import Direction
from facegen_utils.models import build
from facegen_utils import profiles
from facegen_utils.widgets import LatentExplorer, VAEExplorer, diffusion_explorer, latent_explorer, vae_explorer

BUDGET_MS = 100.0


def timings_ms(repeats: int, fn: Callable[[int], object], warmup: int = 3) -> tuple[list[float], list[float]]:
    """Wall and process CPU times of ``fn(i)`` for i in range(repeats) after ``warmup`` untimed calls, in ms."""
    for i in range(warmup):
        fn(i)
    wall, cpu = [], []
    for i in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn(i)
        wall.append((time.perf_counter() - start) * 1000.0)
        cpu.append((time.process_time() - start_cpu) * 1000.0)
    return wall, cpu


def p90(values: list[float]) -> float:
    """90th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * len(ordered)) - 1)]


def slider_update(explorer: LatentExplorer | VAEExplorer) -> Callable[[int], object]:
    """Move the first offset slider to a new value each call, as a release in the browser does."""
    values = [-2.0, -1.0, 0.5, 1.5, 2.5, -0.5]
    return lambda i: setattr(explorer.sliders[0], "value", values[i % len(values)])


def direction_update(explorer: LatentExplorer) -> Callable[[int], object]:
    """Move the first attribute-direction slider to a new value each call."""
    values = [-2.0, -1.0, 0.5, 1.5, 2.5, -0.5]
    return lambda i: setattr(explorer.direction_sliders[0], "value", values[i % len(values)])


def random_directions(latent_dim: int, k: int = 4) -> list[Direction]:
    """``k`` unit directions standing in for attribute directions (the cost does not depend on what they mean)."""
    vectors = torch.nn.functional.normalize(torch.randn(k, latent_dim), dim=1)
    return [Direction("attribute", str(i), v, 1.0, 1, 1) for i, v in enumerate(vectors)]


def report(label: str, update: tuple[list[float], list[float]], forward: tuple[list[float], list[float]]) -> None:
    """Print one row: an update's wall median, p90 and CPU median, the forward pass's CPU median, the budget share."""
    (wall, cpu), (_, forward_cpu) = update, forward
    median = statistics.median(wall)
    print(f"{label:<41} {median:8.1f} {p90(wall):8.1f} {statistics.median(cpu):8.1f} "
          f"{statistics.median(forward_cpu):12.1f} {median / BUDGET_MS:8.2f}")


def main() -> None:
    """Time each configuration and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30, help="timed updates per configuration")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch CPU threads: {torch.get_num_threads()} of {os.cpu_count()} cores, load average {load:.1f}, "
          f"repeats: {args.repeats}, budget: {BUDGET_MS:.0f} ms per update")
    print(f"{'configuration':<41} {'wall ms':>8} {'wall p90':>8} {'cpu ms':>8} {'forward cpu':>12} {'/budget':>8}")

    for label, base_channels, n in (("dcgan 64x64 full (base 64), 1 image x4", 64, 1),
                                    ("dcgan 64x64 small (base 16), 1 image x4", 16, 1),
                                    ("dcgan 64x64 full (base 64), 4x4 grid x2", 64, 16)):
        models = build("dcgan", image_size=64, base_channels=base_channels)
        explorer = latent_explorer(models, n=n)
        z = explorer.latent()
        models.G.eval()

        def forward(_: int, G: torch.nn.Module = models.G, z: torch.Tensor = z) -> object:
            with torch.inference_mode():
                return G(z)

        report(label, timings_ms(args.repeats, slider_update(explorer)), timings_ms(args.repeats, forward))

    models = build("dcgan", image_size=64, base_channels=64)
    explorer = latent_explorer(models, directions=random_directions(models.latent_dim))
    z = explorer.latent()
    models.G.eval()

    def forward_full(_: int) -> object:
        with torch.inference_mode():
            return models.G(z)

    report("dcgan 64x64 full, 1 image x4, direction", timings_ms(args.repeats, direction_update(explorer)),
           timings_ms(args.repeats, forward_full))

    vae_models = build("keras-vae", image_size=64)
    explorer = vae_explorer(vae_models, torch.rand(3, 64, 64))
    z = explorer.latent()
    vae_models.vae.eval()

    def decode(_: int) -> object:
        with torch.inference_mode():
            return vae_models.vae.decode(z)

    report("keras-vae 64x64, 3-image strip x4", timings_ms(args.repeats, slider_update(explorer)),
           timings_ms(args.repeats, decode))

    # notebook 07: the conditional DCGAN at 64x64 (full widths), one image; a menu switches the hair colour
    cond_models = build("cdcgan", image_size=64, base_channels=64)
    explorer = latent_explorer(cond_models)
    z, labels = explorer.latent(), explorer.labels()
    cond_models.G.eval()

    def switch_condition(i: int) -> object:
        explorer.condition_menus[0].value = i % 10
        return explorer.image.value

    def forward_conditional(_: int) -> object:
        with torch.inference_mode():
            return cond_models.G(z, labels)

    report("cdcgan 64x64 full, 1 image x4, condition", timings_ms(args.repeats, switch_condition),
           timings_ms(args.repeats, forward_conditional))

    # notebook 06: the step slider redraws a cached trajectory; a new seed runs DDIM-25 on one image (32 px, the
    # quick profile's U-Net), which the forward column shows for one U-Net pass
    unet_models = profiles.get("06", "quick").build_models()
    explorer = diffusion_explorer(unet_models, steps=25)

    def move_step(i: int) -> object:
        explorer.step.value = 1 + i % 25
        return explorer.image.value

    def new_seed(i: int) -> object:
        explorer.seed.value = 1000 + i
        return explorer.image.value

    x = torch.randn(1, 3, 32, 32)

    def unet_pass(_: int) -> object:
        with torch.inference_mode():
            return unet_models.denoiser(x, torch.tensor([500]))

    report("ddpm-unet 32x32, step slider (cached)", timings_ms(args.repeats, move_step),
           timings_ms(args.repeats, unet_pass))
    report("ddpm-unet 32x32, new seed (DDIM-25)", timings_ms(max(3, args.repeats // 5), new_seed, warmup=1),
           timings_ms(args.repeats, unet_pass))


if __name__ == "__main__":
    main()
