"""The CPU's GEMM weight gradient (``TrainConfig.cpu_gemm_grad``) against oneDNN's, layer by layer and per step.

1. For every 2-D convolution layer of the chosen models at the chosen batch size: the milliseconds of the weight
   gradient alone, computed by oneDNN (``aten.convolution_backward``) and by the chunked GEMM of
   ``facegen_utils.training.cpu_conv``, their ratio, and whether the layer qualifies for the GEMM path (at most
   ``MAX_POSITIONS`` positions on its small side). The non-qualifying layers show why the rule stops there.
2. One whole DCGAN-64 training step of the engine (discriminator and generator), timed in interleaved pairs with the
   GEMM path on and off in the same process, so that load on a shared machine hits both alike; medians and ratio.

Nothing is asserted; compare the ratios.

    python benchmarks/conv_weight_grad.py                      # dcgan and keras-gan layers at batch 64, 10 step pairs
    python benchmarks/conv_weight_grad.py --batch-size 128 --models dcgan --pairs 6
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from typing import Callable

os.environ.setdefault("TQDM_DISABLE", "1")

import torch  # noqa: E402
from torch import nn  # noqa: E402


def best_ms(fn: Callable[[], object], repeats: int) -> float:
    """The fastest of ``repeats`` timed calls after one warm-up call, in milliseconds."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def layer_table(model: str, batch: int, repeats: int) -> None:
    """Weight-gradient time of every convolution layer of ``model``: oneDNN vs the GEMM path."""
    from facegen_utils import models
    from facegen_utils.training import cpu_conv

    torch.manual_seed(0)
    model_set = models.build(model, image_size=64)
    for role, network in model_set.modules().items():
        example = torch.zeros(2, model_set.latent_dim) if role == "G" else torch.zeros(2, 3, 64, 64)
        sizes = cpu_conv._input_sizes(network.eval(), example)  # one forward pass, without gradients
        for layer, hw in sizes.items():
            layer = layer.to(memory_format=torch.channels_last).requires_grad_(True)
            x = torch.randn(batch, layer.in_channels, *hw).contiguous(memory_format=torch.channels_last)
            out = layer(x)
            grad = torch.randn_like(out)
            transposed = isinstance(layer, nn.ConvTranspose2d)

            def onednn() -> torch.Tensor:
                return torch.ops.aten.convolution_backward(
                    grad, x, layer.weight, None, list(layer.stride), list(layer.padding), [1, 1], transposed,
                    list(layer.output_padding) if transposed else [0, 0], 1, [False, True, False])[1]

            def gemm() -> torch.Tensor:
                return cpu_conv.weight_gradient(x, grad, layer.weight, layer.stride, layer.padding,
                                                transposed=transposed)

            a, b = best_ms(onednn, repeats), best_ms(gemm, repeats)
            small = f"{tuple(out.shape[2:]) if not transposed else hw}"
            print(f"{model:<10} {role:<2} {type(layer).__name__:<16} {layer.in_channels:>4}x{hw[0]:<3} -> "
                  f"{out.shape[1]:>4}x{out.shape[2]:<3} small side {small:<9} {a:8.1f} {b:8.1f} {a / b:6.2f}  "
                  f"{'yes' if cpu_conv.qualifies(layer, hw) else 'no'}", flush=True)


def step_pairs(batch: int, pairs: int) -> None:
    """Interleaved DCGAN-64 engine steps with the GEMM path on and off; medians and ratio."""
    from facegen_utils import datasets, models
    from facegen_utils.training import Trainer, TrainConfig, cpu_conv

    torch.manual_seed(0)
    model_set = models.build("dcgan", image_size=64)
    data = datasets.get("synthetic-faces", n=2 * batch, image_size=64)
    trainer = Trainer(model_set, data, TrainConfig(batch_size=batch, device="cpu", sample_every=0))
    real = trainer._augment(next(iter(trainer.batches.epoch(0))))

    def step() -> float:
        start = time.perf_counter()
        trainer._train_step(real, 0)  # n_critic 1: the critic and the generator step
        return time.perf_counter() - start

    step(), step()
    timings: dict[bool, list[float]] = {True: [], False: []}
    for i in range(pairs):
        for use in ((True, False) if i % 2 == 0 else (False, True)):  # alternate which one goes first
            if use:
                with cpu_conv.gemm_weight_grad(trainer._gemm_layers):
                    timings[True].append(step())
            else:
                timings[False].append(step())
    on, off = statistics.median(timings[True]), statistics.median(timings[False])
    paired = statistics.median(a / b for a, b in zip(timings[False], timings[True]))
    fastest = min(timings[False]) / min(timings[True])
    print(f"DCGAN-64 step (D and G), batch {batch}, {pairs} interleaved pairs: oneDNN median {1e3 * off:.0f} ms, "
          f"GEMM path median {1e3 * on:.0f} ms; speed-up {off / on:.3f} (median of pairwise ratios {paired:.3f}, "
          f"fastest step against fastest step {fastest:.3f}); {batch / on:.1f} vs {batch / off:.1f} img/s")


def main(argv: list[str] | None = None) -> int:
    """Print the layer table and the step comparison."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--models", default="dcgan,keras-gan", help="comma-separated convolutional models")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per layer and path (best kept)")
    parser.add_argument("--pairs", type=int, default=10, help="interleaved step pairs (0: skip the step test)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message=".*TF32.*")
    from facegen_utils.training import cpu_conv

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; load average "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}; batch {args.batch_size}; the GEMM path is used for "
          f"layers with <= {cpu_conv.MAX_POSITIONS} positions on their small side\n")
    print(f"{'model':<10} {'net':<2} {'layer':<16} {'in':>8}    {'out':>9} {'':<20} {'oneDNN ms':>8} {'GEMM ms':>8} "
          f"{'ratio':>6}  used")
    for model in args.models.split(","):
        layer_table(model.strip(), args.batch_size, args.repeats)
    if args.pairs:
        print()
        step_pairs(args.batch_size, args.pairs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
