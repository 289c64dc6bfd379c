"""Latent attribute directions: vector arithmetic on face latents (Radford et al. 2016), measured.

Radford et al. averaged the latents of a few faces showing a concept ("smiling woman") and added and subtracted
such means. Here the concept labels come for free: the procedural faces' attributes are known, and the package's
attribute predictor reads them off generated images. :func:`attribute_directions` samples latents from the prior,
labels the generated faces with the predictor and takes, for every class of every reliably predicted attribute,
the **difference of class means**: mean latent of the faces predicted "blonde" minus the mean latent of the others.
A linear classifier's normal would also separate the classes, but with a hundred latent dimensions and a few hundred
faces per class it fits noise in the dimensions that do not matter; the difference of means averages that noise
away, needs no fitting and is what the original vector arithmetic does. :func:`vae_directions` does the same for a
VAE from encoded real images, whose attributes are known exactly (the classic "add glasses" vector).

Each :class:`Direction` is a unit vector; moving ``t`` along it adds ``t`` prior standard deviations in that
direction. :func:`direction_effect` measures what a move does: the predicted share of the attribute, and how much
the other attributes' predicted distributions change (total variation distance from the unmoved faces).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from facegen_utils.noise import parse
from facegen_utils.tensors import eval_mode

if TYPE_CHECKING:
    from facegen_utils.models import ModelSet

__all__ = ["Direction", "attribute_directions", "vae_directions", "direction_effect", "direction_grid",
           "move", "DEFAULT_STEPS", "DOMAINS", "PREFERRED", "DirectionStudy", "direction_study", "strongest"]

#: positions along a direction, in prior standard deviations, of the effect table and the grid
DEFAULT_STEPS: tuple[float, ...] = (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)


@dataclass(frozen=True)
class Direction:
    """A unit vector in latent space along which one attribute class becomes more frequent."""

    attribute: str        # the attribute column, e.g. "hair_color"
    value: str            # the class, e.g. "blonde" ("True" for a yes/no attribute)
    vector: torch.Tensor  # (latent_dim,), unit length
    separation: float     # distance between the two class means along the vector, in prior standard deviations
    n_with: int           # latents labelled with the class
    n_without: int        # the others

    @property
    def label(self) -> str:
        """``"hair_color: blonde"``, or just ``"blush"`` for a yes/no attribute."""
        return self.attribute if self.value == "True" else f"{self.attribute}: {self.value}"


def _resolve(source: Any) -> Any:
    """A checkpoint path loaded as its ModelSet (EMA weights if saved); anything else unchanged."""
    import os

    if isinstance(source, (str, os.PathLike)):
        from facegen_utils.training.checkpoint import load_generator

        return load_generator(source)
    return source


def _unpack(source: Any, latent_dim: int | None) -> tuple[nn.Module, int]:
    """(generator, latent_dim) of a generator module or a ModelSet."""
    G = source.G if isinstance(getattr(source, "G", None), nn.Module) else source
    if not isinstance(G, nn.Module):
        raise TypeError(f"expected a generator (nn.Module) or a ModelSet, got {type(source).__name__}")
    latent_dim = latent_dim or getattr(source, "latent_dim", None) or getattr(G, "latent_dim", None)
    if latent_dim is None:
        raise ValueError(f"{type(G).__name__} has no latent_dim attribute; pass latent_dim=")
    return G, int(latent_dim)


def _value_range(source: Any) -> tuple[float, float]:
    return tuple(getattr(source, "value_range", (-1.0, 1.0)))  # type: ignore[return-value]


@torch.no_grad()
def _decode(G: nn.Module, z: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    device = next(G.parameters()).device
    with eval_mode(G):
        return torch.cat([G(z[i:i + batch_size].to(device)).float().cpu() for i in range(0, len(z), batch_size)])


def _predict(images: torch.Tensor, value_range: Sequence[float], domain: str) -> pd.DataFrame:
    from facegen_utils.metrics import predict_attributes

    return predict_attributes(images, domain=domain, value_range=value_range)


def _categorical(domain: str, attributes: Sequence[str] | None) -> list[str]:
    """The categorical attributes to use: those named, or every reliably predicted one of ``domain``."""
    from facegen_utils.metrics import attribute_heads
    from facegen_utils.spec import check_choice

    heads = {h["column"]: h for h in attribute_heads(domain) if h["kind"] == "categorical"}
    if attributes is None:
        return [c for c, h in heads.items() if h["match"]]
    for name in attributes:
        check_choice("attributes", name, tuple(heads))
    return list(attributes)


def _directions(z: torch.Tensor, labels: pd.DataFrame, columns: Sequence[str], std: float,
                min_count: int) -> dict[str, Direction]:
    found: dict[str, Direction] = {}
    for column in columns:
        values = labels[column].astype(str).to_numpy()
        for value in sorted(set(values)):
            if value == "False" and set(values) <= {"False", "True"}:
                continue  # a yes/no attribute gets one direction, towards "True"
            inside = torch.from_numpy(values == value)
            n_with, n_without = int(inside.sum()), int((~inside).sum())
            if min(n_with, n_without) < min_count:
                continue
            diff = z[inside].mean(0) - z[~inside].mean(0)
            norm = float(diff.norm())
            if norm == 0.0:
                continue
            direction = Direction(column, value, diff / norm, norm / std, n_with, n_without)
            found[direction.label] = direction
    return found


def attribute_directions(source: "nn.Module | ModelSet", *, n: int = 2000, prior: Any = "normal(0, 1)",
                         seed: int = 0, domain: str = "faces", attributes: Sequence[str] | None = None,
                         min_count: int = 20, latent_dim: int | None = None) -> dict[str, Direction]:
    """One direction per class of each attribute, from ``n`` generated images labelled by the attribute predictor.

    ``attributes`` names attribute columns (default: every categorical one the predictor reads reliably, see
    :func:`facegen_utils.metrics.attribute_heads`); classes seen fewer than ``min_count`` times (or all but that
    often) get no direction. Keys are the directions' labels (``"hair_color: blonde"``, ``"blush"``).
    """
    source = _resolve(source)
    G, latent_dim = _unpack(source, latent_dim)
    p = parse(prior)
    z = p.sample(n, latent_dim, generator=torch.Generator().manual_seed(seed))
    labels = _predict(_decode(G, z), _value_range(source), domain)
    return _directions(z, labels, _categorical(domain, attributes), p.std or 1.0, min_count)


@torch.no_grad()
def vae_directions(source: Any, dataset: Any, *, n: int = 2000, attributes: Sequence[str] | None = None,
                   min_count: int = 20, batch_size: int = 256) -> dict[str, Direction]:
    """Directions of a VAE from ``n`` encoded images of a procedural dataset, labelled with their true attributes.

    ``source`` is a VAE module (with ``encode``) or a ModelSet holding one; the latents are posterior means. A
    dataset without known attributes (a real one) gives no directions (an empty dict, logged).
    """
    vae = getattr(source, "vae", None) or source
    if not hasattr(vae, "encode"):
        raise TypeError(f"vae_directions needs a VAE (a module with encode) or its ModelSet, got {type(source).__name__}")
    table = getattr(dataset, "attributes", None)
    if not isinstance(table, pd.DataFrame):
        from facegen_utils._log import logger

        logger.info("VAE attribute directions: the dataset has no known attributes (only the procedural ones do), "
                    "so there are none")
        return {}
    n = min(n, len(dataset))
    images = torch.stack([dataset[i][0] if isinstance(dataset[i], (tuple, list)) else dataset[i] for i in range(n)])
    device = next(vae.parameters()).device
    with eval_mode(vae):
        z = torch.cat([vae.encode(images[i:i + batch_size].to(device))[0].float().cpu()
                       for i in range(0, n, batch_size)])
    domain = "faces" if "hair_color" in table.columns else "paintings"
    return _directions(z, table.iloc[:n].reset_index(drop=True), _categorical(domain, attributes), 1.0, min_count)


def move(z: torch.Tensor, direction: Direction, t: float, *, prior: Any = "normal(0, 1)") -> torch.Tensor:
    """``z`` moved ``t`` prior standard deviations along ``direction`` (a new tensor)."""
    unit = parse(prior).std or 1.0
    return z + t * unit * direction.vector.to(z.device, z.dtype)


def _share(labels: pd.DataFrame, direction: Direction) -> float:
    return float((labels[direction.attribute].astype(str) == direction.value).mean())


def direction_effect(source: "nn.Module | ModelSet", direction: Direction, *, steps: Sequence[float] = DEFAULT_STEPS,
                     n: int = 200, prior: Any = "normal(0, 1)", seed: int = 1, domain: str = "faces",
                     latent_dim: int | None = None) -> pd.DataFrame:
    """What moving ``n`` latents along ``direction`` does, one row per step.

    Columns: ``step``; ``share`` (predicted share of the direction's class); ``others`` (mean total variation
    distance between the other reliably predicted attributes' distributions at this step and at step 0; 0 = the
    other attributes unchanged). Use a ``seed`` other than the directions' so the effect is measured on new faces.
    """
    from facegen_utils.metrics import total_variation

    G, latent_dim = _unpack(source, latent_dim)
    z = parse(prior).sample(n, latent_dim, generator=torch.Generator().manual_seed(seed))
    others = [c for c in _categorical(domain, None) if c != direction.attribute]
    base = _predict(_decode(G, z), _value_range(source), domain)
    rows = []
    for t in steps:
        labels = base if t == 0 else _predict(_decode(G, move(z, direction, t, prior=prior)), _value_range(source),
                                                domain)
        change = float(np.mean([total_variation(labels[c], base[c]) for c in others])) if others else 0.0
        rows.append({"step": float(t), "share": _share(labels, direction), "others": change})
    table = pd.DataFrame(rows)
    table.attrs["direction"] = direction.label
    return table


def direction_grid(source: "nn.Module | ModelSet", directions: Sequence[Direction], *,
                   steps: Sequence[float] = DEFAULT_STEPS, seed: int = 1, prior: Any = "normal(0, 1)",
                   latent_dim: int | None = None) -> torch.Tensor:
    """Images of one face moved along each direction: rows are directions, columns ``steps`` (nrow=len(steps))."""
    G, latent_dim = _unpack(source, latent_dim)
    z = parse(prior).sample(1, latent_dim, generator=torch.Generator().manual_seed(seed))
    rows = [move(z, d, t, prior=prior) for d in directions for t in steps]
    return _decode(G, torch.cat(rows))


#: directions shown first when a generator has them: each takes its attribute's predicted share from under 20 % to
#: about 80 % or more between steps -3 and +3, measured on the shipped 05-gan (faces, tests/test_latent.py) and
#: 04-normal (paintings: 0-14 % to 77-98 %; poplars, once among them, reach only 57 % since the noise inputs)
PREFERRED: dict[str, tuple[str, ...]] = {
    "faces": ("hair_color: black", "hair_style: long", "skin_tone: fair", "eye_color: blue"),
    "paintings": ("scene: water", "time_of_day: sunset", "sun", "flowers"),
}


def strongest(directions: Mapping[str, Direction], k: int = 4, *, prefer: Sequence[str] | None = None) -> list[str]:
    """Labels of ``k`` directions, at most one per attribute: the ``prefer`` ones found (default: the
    :data:`PREFERRED` of both domains), then by separation."""
    prefer = [label for labels in PREFERRED.values() for label in labels] if prefer is None else prefer
    picked: dict[str, str] = {}
    ranked = sorted(directions.items(), key=lambda item: -item[1].separation)
    for label, d in [(p, directions[p]) for p in prefer if p in directions] + ranked:
        picked.setdefault(d.attribute, label)
    return list(picked.values())[:k]


@dataclass
class DirectionStudy:
    """Directions of one generator, the measured effect of a few of them, a plot, a grid and their sentences."""

    directions: dict[str, Direction]
    effects: list[pd.DataFrame] = field(default_factory=list)
    figure: Any = None       # the effect plot (facegen_utils.viz.plot_direction_effects)
    grid: Any = None         # one face moved along each studied direction (rows) by the steps (columns)
    sentences: list[str] = field(default_factory=list)

    def save(self, folder: Any, stem: str = "attribute_directions") -> Any:
        """Write the effect plot (``stem.png``), the grid (``stem_grid.png``) and the effects (``stem.csv``); the plot's
        path, or None when there is nothing to save."""
        if self.figure is None:
            return None
        from pathlib import Path

        from facegen_utils.viz import save_figure

        pd.concat([t.assign(direction=t.attrs["direction"]) for t in self.effects]).to_csv(
            Path(folder) / f"{stem}.csv", index=False)
        save_figure(self.grid, Path(folder) / f"{stem}_grid.png", close=False)
        return save_figure(self.figure, Path(folder) / f"{stem}.png", close=False)

    def chosen(self) -> list[Direction]:
        """The studied directions, in the order of the plot and the grid's rows."""
        return [self.directions[t.attrs["direction"]] for t in self.effects]

    def _ipython_display_(self) -> None:
        from IPython.display import display

        for figure in (self.figure, self.grid):
            if figure is not None:
                display(figure)
        print("\n".join(self.sentences))


#: the procedural datasets whose attributes the predictor reads, and the predictor's domain for each
DOMAINS = {"synthetic-faces": "faces", "synthetic-paintings": "paintings"}


def direction_study(source: "nn.Module | ModelSet", *, dataset: str = "synthetic-faces",
                    labels: Sequence[str] | None = None, n: int = 1000, n_effect: int = 100,
                    steps: Sequence[float] = DEFAULT_STEPS, prior: Any = "normal(0, 1)", seed: int = 0,
                    directions: Mapping[str, Direction] | None = None,
                    latent_dim: int | None = None) -> DirectionStudy:
    """Directions of ``source`` (or the given ``directions``) and the measured effect of ``labels`` (default: the
    :data:`PREFERRED` ones found, then the strongest; four, one per attribute), on new latents (``seed + 1``).

    ``dataset`` is what the generator was trained on: only the procedural datasets (:data:`DOMAINS`) have known
    attributes; for any other the study is empty and its sentence says so.
    """
    from facegen_utils import conclusions
    from facegen_utils.viz import plot_direction_effects, show_grid

    if dataset not in DOMAINS:
        return DirectionStudy({}, sentences=[f"Attribute directions need known attributes: {dataset} has none, so "
                                             f"only the per-dimension sliders are shown."])
    domain, source = DOMAINS[dataset], _resolve(source)

    found = dict(directions) if directions is not None else attribute_directions(
        source, n=n, prior=prior, seed=seed, domain=domain, latent_dim=latent_dim)
    if not found:
        return DirectionStudy(found, sentences=["No attribute class is both frequent and rare enough among this "
                                                "generator's faces to give a direction (a barely trained generator "
                                                "draws nearly the same attributes everywhere)."])
    labels = list(labels) if labels is not None else strongest(found)
    missing = [label for label in labels if label not in found]
    if missing:
        from facegen_utils.spec import suggest

        raise ValueError(f"no direction {missing[0]!r}{suggest(missing[0], list(found))}; found: {', '.join(found)}")
    effects = [direction_effect(source, found[label], steps=steps, n=n_effect, prior=prior, seed=seed + 1,
                                domain=domain, latent_dim=latent_dim) for label in labels]
    images = direction_grid(source, [found[label] for label in labels], steps=steps, seed=seed + 1, prior=prior,
                            latent_dim=latent_dim)
    grid = show_grid(images, nrow=len(steps), value_range=_value_range(source),
                     title=f"rows: {', '.join(labels)}; columns: steps {', '.join(f'{t:+g}' for t in steps)}")
    return DirectionStudy(found, effects, plot_direction_effects(effects), grid,
                          [conclusions.direction_effect(t) for t in effects])
