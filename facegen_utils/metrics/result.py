"""``MetricResult``: one number together with what it was measured with, printed so it cannot be misread."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

#: Label of the package's own feature extractor (trained on the procedural data).
SYNTHETIC = "facegen-synthetic-v1"
#: Label of the standard Inception-v3 pool features (torchmetrics / torch-fidelity weights).
INCEPTION = "inception-v3"
#: Label of raw-pixel distances (no network at all).
PIXELS = "pixels"


def features_note(features: str) -> str:
    """How a feature label is described next to a number: says when the number is not a published-style FID."""
    if features == SYNTHETIC:
        return f"{SYNTHETIC} features, not comparable to published Inception FID"
    if features == PIXELS:
        return "pixel space, RMS distance of [0, 1] images"
    return f"{features} features"


@dataclass(frozen=True)
class MetricResult:
    """A metric value labelled with its feature extractor and sample sizes.

    ``std`` is the spread over subsets (KID); ``details`` holds a per-item table where one exists (attribute match).
    """

    name: str
    value: float
    features: str
    n_real: int | None = None
    n_fake: int | None = None
    std: float | None = None
    details: Any = field(default=None, compare=False)

    def __float__(self) -> float:
        return float(self.value)

    def __str__(self) -> str:
        spread = f" \u00b1 {self.std:.4g}" if self.std is not None and math.isfinite(self.std) else ""
        sizes = [str(n) for n in (self.n_real, self.n_fake) if n is not None]
        counts = f" [n={'/'.join(sizes)}]" if sizes else ""
        return f"{self.name} ({features_note(self.features)}) = {self.value:.4g}{spread}{counts}"

    __repr__ = __str__
