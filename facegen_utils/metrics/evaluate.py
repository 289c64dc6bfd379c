"""``evaluate``: every metric of a generator against a dataset in one DataFrame row, for the end of each notebook.

Real features are computed once per ``Reference`` and reused, so a study of several generators (the noise priors
of notebook 04, the three models of notebook 01) pays for the real images only once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import pandas as pd
import torch
from torch import nn

from facegen_utils.metrics.attributes import attribute_match
from facegen_utils.metrics.features import Features, extract_features, images_from, resolve_features
from facegen_utils.metrics.result import SYNTHETIC, features_note
from facegen_utils.metrics.scores import fid, kid, mode_collapse_report

__all__ = ["Reference", "reference", "generate", "evaluate"]


@dataclass(frozen=True)
class Reference:
    """Features of a sample of real images (and their procedural attributes, if any), computed once."""

    features: Features
    attributes: pd.DataFrame | None
    n: int


def _pick(size: int, n: int, seed: int) -> torch.Tensor:
    if n >= size:
        return torch.arange(size)
    return torch.randperm(size, generator=torch.Generator().manual_seed(seed))[:n].sort().values


def reference(dataset: Any, *, n: int = 1000, features: str = "auto", seed: int = 0,
              value_range: Sequence[float] = (-1.0, 1.0), batch_size: int = 256,
              device: str | torch.device | None = None) -> Reference:
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
    table = getattr(dataset, "attributes", None)
    attrs = table.iloc[idx.numpy()].reset_index(drop=True) if isinstance(table, pd.DataFrame) else None
    feats = extract_features(images, features=name, value_range=value_range, batch_size=batch_size, device=device)
    return Reference(feats, attrs, len(feats))


@torch.no_grad()
def generate(G: nn.Module, n: int, *, latent_dim: int | None = None, prior: Any = "normal(0, 1)", seed: int = 0,
             batch_size: int = 256) -> torch.Tensor:
    """``n`` images from a generator in eval mode, latents drawn from ``prior`` with ``seed`` (CPU output)."""
    from facegen_utils.noise import parse

    latent_dim = latent_dim or getattr(G, "latent_dim", None)
    if latent_dim is None:
        raise ValueError("the generator has no latent_dim attribute; pass latent_dim=")
    z = parse(prior).sample(n, latent_dim, generator=torch.Generator().manual_seed(seed))
    device = next(G.parameters()).device
    was_training = G.training
    G.eval()
    try:
        return torch.cat([G(z[i:i + batch_size].to(device)).float().cpu() for i in range(0, n, batch_size)])
    finally:
        G.train(was_training)


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


def evaluate(source: Any, data: Any, *, n: int = 1000, features: str = "auto", prior: Any = "normal(0, 1)",
             seed: int = 0, value_range: Sequence[float] | None = None, label: str | None = None,
             kid_subsets: int = 50, batch_size: int = 256, device: str | torch.device | None = None) -> pd.DataFrame:
    """FID, KID, precision, recall, diversity, duplicate share, collapse flag [and attribute distance] as one row.

    ``source`` is generated images, a ModelSet, a Trainer or a generator (``n`` samples drawn from ``prior`` with
    ``seed``); ``data`` is a dataset, a real image tensor or a ``Reference`` made once with ``reference()``.
    """
    ref = data if isinstance(data, Reference) else reference(
        data, n=n, features=features, seed=seed, batch_size=batch_size, device=device,
        value_range=value_range or (-1.0, 1.0))
    fake, vr = _fake(source, n, prior=prior, seed=seed, batch_size=batch_size, value_range=value_range)
    kw = {"value_range": vr, "batch_size": batch_size, "device": device}
    ff = extract_features(fake, features=ref.features.name, **kw)
    fid_result = fid(ref.features, ff)
    kid_result = kid(ref.features, ff, n_subsets=kid_subsets, seed=seed)
    collapse = mode_collapse_report(ref.features, ff, seed=seed)
    row = {
        "fid": fid_result.value,
        "kid": kid_result.value,
        "kid_std": kid_result.std,
        "precision": collapse["precision"],
        "recall": collapse["recall"],
        "diversity": collapse["diversity_fake"],
        "diversity_ratio": collapse["diversity_ratio"],
        "duplicate_share": collapse["duplicate_share"],
        "collapsed": collapse["collapsed"],
    }
    if ref.attributes is not None:
        fake_syn = ff if ff.name == SYNTHETIC else extract_features(fake, features=SYNTHETIC, **kw)
        row["attribute_distance"] = attribute_match(fake_syn, ref.attributes).value
    row.update({"features": ff.name, "n_real": len(ref.features), "n_fake": len(ff)})
    table = pd.DataFrame([row], index=[label] if label is not None else None)
    table.attrs["note"] = features_note(ff.name)
    return table
