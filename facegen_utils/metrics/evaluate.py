"""``evaluate``: registered metrics of a generator against a dataset in one DataFrame row, for each notebook's end.

Real features are computed once per ``Reference`` and reused, so a study of several generators (the noise priors
of notebook 04, the three models of notebook 01) pays for the real images only once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Mapping, Sequence

import pandas as pd
import torch
from torch import nn

from facegen_utils._log import logger, progress
from facegen_utils.metrics.attributes import (attribute_heads, attribute_match, guess_domain,
                                              predict_attributes)
from facegen_utils.metrics.features import Features, extract_features, images_from, resolve_features
from facegen_utils.metrics.result import SYNTHETIC, MetricResult, features_note
from facegen_utils.metrics.scores import (COLLAPSE_GATE_K, collapse_verdict, density_coverage, fid, kid,
                                          precision_recall)
from facegen_utils.noise import parse
from facegen_utils.tensors import eval_mode

__all__ = ["Reference", "reference", "generate", "evaluate", "shown", "MetricInputs", "Metric", "DEFAULT_METRICS",
           "register", "names", "get_metric", "REAL_DATA_NOTE"]

#: The note of a table whose FID/KID use the package's features on real (not procedural) images.
REAL_DATA_NOTE = (f"These FIDs and KIDs use {SYNTHETIC} features, trained on cartoon faces and paintings: they rank "
                  "the runs of this course and are not comparable to published FIDs; install the inception extra "
                  "(pip install -e \".[inception]\") and see README 'Metrics' for the standard Inception-v3 features.")
_REAL_NOTE_SHOWN = False


@dataclass(frozen=True)
class Reference:
    """Features of a sample of real images (and their procedural attributes, if any), computed once.

    ``read_attributes`` are those images' attributes as the package's predictor reads them: generated images are
    compared with these, so the predictor's errors cancel (``metrics.attributes``); ``attributes`` are the true ones.
    """

    features: Features
    attributes: pd.DataFrame | None
    n: int
    read_attributes: pd.DataFrame | None = None


@dataclass(frozen=True)
class MetricInputs:
    """What a metric function gets: real and generated features, the real sample and the evaluation settings."""

    real: Features
    fake: Features
    reference: Reference
    extract: Callable[..., Features]  # extract(features=name): the generated images' features with another extractor
    seed: int
    kid_subsets: int
    _done: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def once(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()``'s result, computed on the first call with ``key`` only: metrics that share a computation
        (the k-NN precision of precision_recall and of the collapse flag's gate) pay for it once per row."""
        if key not in self._done:
            self._done[key] = compute()
        return self._done[key]


MetricFn = Callable[[MetricInputs], Mapping[str, Any] | None]


@dataclass(frozen=True)
class Metric:
    """A registered metric: its name, the columns it adds to a row (in order) and the function computing them."""

    name: str
    columns: tuple[str, ...]
    fn: MetricFn


_METRICS: dict[str, Metric] = {}
DEFAULT_METRICS = ("fid", "kid", "precision_recall", "density_coverage", "mode_collapse", "attributes")


def register(name: str, columns: str | Sequence[str]) -> Callable[[MetricFn], MetricFn]:
    """Decorator registering ``fn(inputs) -> {column: value}`` (None: not applicable) as metric ``name``."""
    columns = (columns,) if isinstance(columns, str) else tuple(columns)

    def add(fn: MetricFn) -> MetricFn:
        _METRICS[name] = Metric(name, columns, fn)  # registering a name again replaces it
        return fn
    return add


def names() -> list[str]:
    """Names of the registered metrics, in registration order."""
    return list(_METRICS)


def get_metric(name: str) -> Metric:
    """The registered metric ``name``; a ValueError with a "did you mean" hint for an unknown one."""
    if name not in _METRICS:
        from facegen_utils.profiles import suggest

        raise ValueError(f"unknown metric {name!r}{suggest(name, _METRICS)}; registered: {', '.join(_METRICS)}")
    return _METRICS[name]


@register("fid", ["fid"])
def _fid(x: MetricInputs) -> dict[str, Any]:
    return {"fid": fid(x.real, x.fake).value}


@register("kid", ["kid", "kid_std"])
def _kid(x: MetricInputs) -> dict[str, Any]:
    result = kid(x.real, x.fake, n_subsets=x.kid_subsets, seed=x.seed)
    return {"kid": result.value, "kid_std": result.std}


def _knn_precision_recall(x: MetricInputs) -> tuple[MetricResult, MetricResult]:
    return x.once("precision_recall", lambda: precision_recall(x.real, x.fake, k=COLLAPSE_GATE_K))


def _knn_density_coverage(x: MetricInputs) -> tuple[MetricResult, MetricResult]:
    return x.once("density_coverage", lambda: density_coverage(x.real, x.fake))


@register("precision_recall", ["precision", "recall"])  # k-NN manifolds, Kynkaanniemi et al. 2019
def _precision_recall(x: MetricInputs) -> dict[str, Any]:
    precision, recall = _knn_precision_recall(x)
    return {"precision": precision.value, "recall": recall.value}


@register("density_coverage", ["density", "coverage"])  # k = 5, Naeem et al. 2020
def _density_coverage(x: MetricInputs) -> dict[str, Any]:
    density, coverage = _knn_density_coverage(x)
    return {"density": density.value, "coverage": coverage.value}


@register("mode_collapse", ["diversity", "diversity_ratio", "duplicate_share", "collapsed"])
def _mode_collapse(x: MetricInputs) -> dict[str, Any]:
    check = collapse_verdict(x.real, x.fake, _knn_precision_recall(x)[0].value,
                             coverage=_knn_density_coverage(x)[1], seed=x.seed)
    return {"diversity": check["diversity_fake"], **check}


@register("attributes", ["attribute_distance"])
def _attributes(x: MetricInputs) -> dict[str, Any] | None:
    if x.reference.attributes is None:  # only the procedural datasets know their images' attributes
        return None
    fake = x.fake if x.fake.name == SYNTHETIC else x.extract(features=SYNTHETIC)
    read = x.reference.read_attributes  # both sides read by the predictor (None: a Reference built by hand)
    return {"attribute_distance": attribute_match(fake, x.reference.attributes if read is None else read).value}


def _pick(size: int, n: int, seed: int) -> torch.Tensor:
    if n >= size:
        return torch.arange(size)
    return torch.randperm(size, generator=torch.Generator().manual_seed(seed))[:n].sort().values


def reference(dataset: Any, *, n: int = 1000, features: str = "auto", seed: int = 0, batch_size: int = 256,
              value_range: Sequence[float] = (-1.0, 1.0), device: str | torch.device | None = None) -> Reference:
    """Real-image features (and attributes) of ``n`` images drawn from a dataset or an image tensor with ``seed``."""
    name = resolve_features(features)
    idx = _pick(len(dataset), n, seed)
    if isinstance(dataset, torch.Tensor):
        images, value_range = images_from(dataset[idx], value_range=value_range)
    elif len(idx) == len(dataset) and hasattr(dataset, "to_uint8"):
        images, value_range = images_from(dataset, value_range=value_range)
    else:  # read only the chosen images, not a whole (possibly large, uncached) folder
        images, value_range = images_from(torch.utils.data.Subset(dataset, idx.tolist()),
                                          value_range=getattr(dataset, "value_range", value_range))
    table = getattr(dataset, "attributes", None)  # procedural attributes only (not CelebA's annotations)
    procedural = isinstance(table, pd.DataFrame) and any(h["column"] in table.columns for h in attribute_heads())
    attrs = table.iloc[idx.numpy()].reset_index(drop=True) if procedural else None
    feats = extract_features(images, features=name, value_range=value_range, batch_size=batch_size, device=device)
    read = None
    if attrs is not None:
        read = predict_attributes(feats if feats.name == SYNTHETIC else images, domain=guess_domain(attrs),
                                  value_range=value_range, batch_size=batch_size, device=device)
    return Reference(feats, attrs, len(feats), read)


@torch.no_grad()
def generate(G: nn.Module, n: int, *, latent_dim: int | None = None, prior: Any = "normal(0, 1)", seed: int = 0,
             batch_size: int = 256) -> torch.Tensor:
    """``n`` images from a generator in eval mode, latents drawn from ``prior`` with ``seed`` (CPU output)."""
    latent_dim = latent_dim or getattr(G, "latent_dim", None)
    if latent_dim is None:
        raise ValueError("the generator has no latent_dim attribute; pass latent_dim=")
    z = parse(prior).sample(n, latent_dim, generator=torch.Generator().manual_seed(seed))
    device = next(G.parameters()).device
    with eval_mode(G):
        return torch.cat([G(z[i:i + batch_size].to(device)).float().cpu() for i in range(0, n, batch_size)])


def _fake(source: Any, n: int, *, prior: Any, seed: int, batch_size: int,
          value_range: Sequence[float] | None) -> tuple[Any, Sequence[float]]:
    if isinstance(source, (torch.Tensor, Features)):
        return source, value_range or (-1.0, 1.0)
    if hasattr(source, "G") and hasattr(source, "value_range"):
        return generate(source.G, n, latent_dim=source.latent_dim, prior=prior, seed=seed,
                        batch_size=batch_size), value_range or source.value_range
    if hasattr(source, "sample") and hasattr(source, "models"):
        return source.sample(n, seed=seed, prior=prior), value_range or source.models.value_range
    if isinstance(source, nn.Module):
        return generate(source, n, prior=prior, seed=seed, batch_size=batch_size), value_range or (-1.0, 1.0)
    raise TypeError(f"cannot evaluate a {type(source).__name__}: pass generated images (N, 3, H, W), a ModelSet, "
                    f"a Trainer or a generator module")


def evaluate(source: Any, data: Any, *, metrics: Sequence[str] = DEFAULT_METRICS, n: int = 1000,
             features: str = "auto", prior: Any = "normal(0, 1)", seed: int = 0,
             value_range: Sequence[float] | None = None, label: str | None = None, kid_subsets: int = 50,
             batch_size: int = 256, device: str | torch.device | None = None) -> pd.DataFrame:
    """The registered ``metrics`` (default: ``DEFAULT_METRICS``) as one row.

    ``source`` is generated images, a ModelSet, a Trainer or a generator (``n`` samples drawn from ``prior`` with
    ``seed``); ``data`` is a dataset, a real image tensor or a ``Reference`` made once with ``reference()``. Columns:
    each metric's in order (``attribute_distance`` only for procedural data), then features, n_real and n_fake.
    ``attrs["note"]`` names the features; on real images scored with the package's own, it is ``REAL_DATA_NOTE``.
    """
    chosen = [get_metric(name) for name in dict.fromkeys([metrics] if isinstance(metrics, str) else metrics)]
    row: dict[str, Any] = {}
    with progress(total=len(chosen) + 3, desc="evaluate", unit="step", delay=2, leave=False) as bar:
        ref = data if isinstance(data, Reference) else reference(
            data, n=n, features=features, seed=seed, batch_size=batch_size, device=device,
            value_range=value_range or (-1.0, 1.0))
        bar.update()
        fake, vr = _fake(source, n, prior=prior, seed=seed, batch_size=batch_size, value_range=value_range)
        bar.update()
        extract = partial(extract_features, fake, value_range=vr, batch_size=batch_size, device=device)
        ff = extract(features=ref.features.name)
        bar.update()
        inputs = MetricInputs(ref.features, ff, ref, extract, seed, kid_subsets)
        for metric in chosen:
            values = metric.fn(inputs)
            if values is not None:
                row.update((column, values[column]) for column in metric.columns)
            bar.update()
    row.update({"features": ff.name, "n_real": len(ref.features), "n_fake": len(ff)})
    table = pd.DataFrame([row], index=[label] if label is not None else None)
    table.attrs["note"] = _note(ff.name, ref)
    return table


def _note(features: str, ref: Reference) -> str:
    global _REAL_NOTE_SHOWN
    if features != SYNTHETIC or ref.attributes is not None:  # Inception features, or the procedural data
        return features_note(features)
    if not _REAL_NOTE_SHOWN:
        logger.warning(REAL_DATA_NOTE)
        _REAL_NOTE_SHOWN = True
    return REAL_DATA_NOTE


#: the columns the notebooks show, in order; recall stays in the tables (see RECALL_NOTE)
SHOWN = ("fid", "kid", "precision", "coverage", "density", "diversity_ratio", "duplicate_share", "collapsed",
         "attribute_distance")
RECALL_NOTE = ("Recall is kept in the table but not shown: in these features a mild blur alone drives it to almost 0, "
               "so it cannot tell a good run from a collapsed one; coverage answers the same question reliably.")


def shown(table: pd.DataFrame, *extra: str, digits: int = 3) -> pd.DataFrame:
    """The columns of an evaluation table a student reads (``SHOWN`` present, then ``extra``), rounded."""
    return table[[c for c in (*SHOWN, *extra) if c in table.columns]].round(digits)
