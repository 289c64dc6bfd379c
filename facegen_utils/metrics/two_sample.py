"""Classifier two-sample test (C2ST): can a small CNN tell two image sets apart?

Lopez-Paz & Oquab 2017, "Revisiting Classifier Two-Sample Tests" (ICLR): train a binary classifier to separate
sample A from sample B and measure its accuracy on held-out images. An accuracy of 0.5 means the classifier can do no
better than guessing, so the two sets are indistinguishable to it; 1.0 means it separates them perfectly (e.g. every
generated image gives itself away). The p-value is the one-sided binomial test of "accuracy > 0.5" under the null
hypothesis that the classifier guesses (each held-out image right with probability 1/2), computed exactly.
An accuracy clearly *below* 0.5 means the sets share images (e.g. a generator reproducing images that are also in
the other set): the classifier learns such an image under one label and meets its copy under the other.

Both sets are rescaled from their own value ranges to [-1, 1] first, so a VAE's [0, 1] output compares fairly with
[-1, 1] data. The classes are balanced by keeping the first min(len(a), len(b)) images of each set. The same inputs
and ``seed`` give the same result on the CPU, and the global random number generators are left untouched.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from facegen_utils._log import logger, progress

__all__ = ["TwoSampleResult", "classifier_two_sample_test", "pairwise_two_sample_tests", "MIN_IMAGE_SIZE"]

#: The smallest height and width the classifier takes: three stride-2 convolutions bring 8 pixels down to 1.
MIN_IMAGE_SIZE = 8


@dataclass(frozen=True)
class TwoSampleResult:
    """A C2ST outcome: held-out accuracy (0.5 = indistinguishable, 1.0 = fully separable), its p-value and sizes."""

    accuracy: float
    n_train: int
    n_test: int
    p_value: float
    label_a: str = "real"
    label_b: str = "generated"

    @property
    def pair(self) -> str:
        """The compared sets as ``"a vs b"``."""
        return f"{self.label_a} vs {self.label_b}"

    def as_row(self) -> dict[str, Any]:
        """The result as one row of a table: pair, accuracy, p_value, n_test."""
        return {"pair": self.pair, "accuracy": self.accuracy, "p_value": self.p_value, "n_test": self.n_test}

    def __str__(self) -> str:
        p = f"p={self.p_value:.2g}" if self.p_value > 0 else "p<1e-300"  # an exact tail below the float range
        return (f"C2ST {self.pair}: held-out accuracy {self.accuracy:.2f} "
                f"(n={self.n_test}; 0.5 = indistinguishable, {p})")

    __repr__ = __str__


class _Classifier(nn.Module):
    """Three stride-2 convolutions, global average pooling and one logit (positive: set b); any size >= 8."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        widths = (channels, 16, 32, 64)
        layers: list[nn.Module] = []
        for c_in, c_out in zip(widths, widths[1:]):
            layers += [nn.Conv2d(c_in, c_out, kernel_size=4, stride=2, padding=1),
                       nn.LeakyReLU(negative_slope=0.2)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(in_features=widths[-1], out_features=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3))).squeeze(1)


def _binomial_tail(k: int, n: int) -> float:
    """P(X >= k) for X ~ Binomial(n, 1/2), exact (integer arithmetic; 0.0 only below the smallest float)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    term = math.comb(n, k)
    total = 0
    for i in range(k, n + 1):
        total += term
        term = term * (n - i) // (i + 1)
    return total / 2 ** n


def _checked_range(value_range: Sequence[float], name: str) -> tuple[float, float]:
    if len(value_range) != 2 or not float(value_range[1]) > float(value_range[0]):
        raise ValueError(f"{name} must be (low, high) with low < high, e.g. (-1.0, 1.0) or (0.0, 1.0); "
                         f"got {value_range!r}")
    return float(value_range[0]), float(value_range[1])


def _to_signed(images: torch.Tensor, value_range: tuple[float, float], name: str) -> torch.Tensor:
    """``images`` moved from ``value_range`` to [-1, 1] as float32 (a warning if they lie outside the range)."""
    lo, hi = value_range
    x = images.detach().float()
    x_min, x_max = float(x.min()), float(x.max())
    margin = 0.05 * (hi - lo)
    if x_min < lo - margin or x_max > hi + margin:
        logger.warning("C2ST: set %s spans [%.3g, %.3g], outside value_range_%s=(%g, %g); pass the range the images "
                       "are in, or the test may just detect the scale.", name, x_min, x_max, name, lo, hi)
    return (x - lo) * (2.0 / (hi - lo)) - 1.0


def classifier_two_sample_test(a: torch.Tensor, b: torch.Tensor, *, seed: int = 0, epochs: int = 20,
                               holdout: float = 0.3, batch_size: int = 64, device: str | torch.device | None = None,
                               value_range_a: Sequence[float] = (-1.0, 1.0),
                               value_range_b: Sequence[float] = (-1.0, 1.0), label_a: str = "real",
                               label_b: str = "generated") -> TwoSampleResult:
    """Train a small CNN to tell image sets ``a`` and ``b`` (N, C, H, W) apart; its held-out accuracy and p-value."""
    for name, x in (("a", a), ("b", b)):
        if not isinstance(x, torch.Tensor) or x.ndim != 4:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"C2ST: set {name} must be an image tensor (N, C, H, W), got {shape}; stack a dataset's "
                             f"images with torch.stack([ds[i] for i in range(n)]) first.")
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(f"C2ST: the two sets must hold images of one shape, got a {tuple(a.shape)} and b "
                         f"{tuple(b.shape)}; resize one set (e.g. torch.nn.functional.interpolate) to the other's "
                         f"channels, height and width.")
    if min(a.shape[2:]) < MIN_IMAGE_SIZE:
        raise ValueError(f"C2ST: images of {a.shape[2]}x{a.shape[3]} pixels are too small for the classifier, which "
                         f"needs at least {MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE}; upsample them first.")
    if not 0.0 < holdout < 1.0:
        raise ValueError(f"C2ST: holdout is the held-out share of the images and must lie in (0, 1), got {holdout!r}")
    if int(epochs) < 1 or int(batch_size) < 1:
        raise ValueError(f"C2ST: epochs and batch_size must be positive, got epochs={epochs!r}, "
                         f"batch_size={batch_size!r}")
    m = min(a.shape[0], b.shape[0])
    n_total = 2 * m
    n_test = round(holdout * n_total)
    n_train = n_total - n_test
    if n_test < 1 or n_train < 2:
        raise ValueError(f"C2ST: got {a.shape[0]} and {b.shape[0]} images; with holdout={holdout} that leaves "
                         f"{n_train} to train on and {n_test} to test, so pass more images (hundreds per set).")
    range_a = _checked_range(value_range_a, "value_range_a")
    range_b = _checked_range(value_range_b, "value_range_b")
    dev = torch.device(device) if device is not None else a.device

    with torch.inference_mode(False), torch.enable_grad():  # a caller's no_grad or inference_mode must not leak in
        x = torch.cat([_to_signed(a[:m], range_a, "a").to(dev), _to_signed(b[:m], range_b, "b").to(dev)])
        y = torch.cat([torch.zeros(m), torch.ones(m)]).to(dev)
        gen = torch.Generator().manual_seed(int(seed))
        order = torch.randperm(n_total, generator=gen).to(dev)
        train, test = order[:n_train], order[n_train:]
        with torch.random.fork_rng(devices=[]):  # the weights come from seed, the global stream stays as it was
            torch.manual_seed(int(seed))
            model = _Classifier(channels=a.shape[1])
        model.to(dev).train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        for _ in progress(range(int(epochs)), desc="C2ST", unit="epoch", delay=3, leave=False):
            for batch in train[torch.randperm(n_train, generator=gen).to(dev)].split(int(batch_size)):
                loss = F.binary_cross_entropy_with_logits(model(x[batch]), y[batch])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
    model.eval()
    with torch.inference_mode():
        correct = sum(int(((model(x[batch]) > 0).float() == y[batch]).sum())
                      for batch in test.split(max(int(batch_size), 256)))
    return TwoSampleResult(accuracy=correct / n_test, n_train=n_train, n_test=n_test,
                           p_value=_binomial_tail(correct, n_test), label_a=str(label_a), label_b=str(label_b))


def pairwise_two_sample_tests(sets: dict[str, torch.Tensor], pairs: list[tuple[str, str]], *, seed: int = 0,
                              value_ranges: dict[str, Sequence[float]] | None = None,
                              **kwargs: Any) -> pd.DataFrame:
    """One C2ST per ``(a, b)`` pair of named image sets, as a table indexed by ``"a vs b"``."""
    value_ranges = dict(value_ranges or {})
    unknown = sorted(set(value_ranges) - set(sets))
    if unknown:
        raise ValueError(f"value_ranges names {', '.join(map(repr, unknown))}, which are not among the sets "
                         f"({', '.join(map(repr, sets))}); use the sets' names as keys.")
    taken = sorted({"value_range_a", "value_range_b", "label_a", "label_b"} & set(kwargs))
    if taken:
        raise ValueError(f"pairwise_two_sample_tests sets {', '.join(taken)} itself from each pair; give value ranges "
                         f"as value_ranges={{name: (low, high)}} and name the sets by their keys instead.")
    rows = []
    for pair in pairs:
        if len(pair) != 2:
            raise ValueError(f"each pair must be two set names (a, b), got {pair!r}")
        missing = [name for name in pair if name not in sets]
        if missing:
            raise ValueError(f"pair {tuple(pair)!r} names {', '.join(map(repr, missing))}, which are not among the "
                             f"sets ({', '.join(map(repr, sets))}).")
        name_a, name_b = pair
        result = classifier_two_sample_test(sets[name_a], sets[name_b], seed=seed,
                                            value_range_a=value_ranges.get(name_a, (-1.0, 1.0)),
                                            value_range_b=value_ranges.get(name_b, (-1.0, 1.0)),
                                            label_a=name_a, label_b=name_b, **kwargs)
        rows.append(result.as_row())
    return pd.DataFrame(rows, columns=["pair", "accuracy", "p_value", "n_test"]).set_index("pair")
