"""Conditions for a conditional generator (notebook 07): which attributes, their labels in the data, and whether the
generator obeys them, measured.

- :class:`Conditions`: the chosen attributes and their values, in order. Labels are integer rows (one value index
  per attribute; -1 leaves an attribute free). ``schema(dataset, names)`` makes them for ``synthetic-faces`` (its
  categorical factors) or ``celeba`` (any of its 40 yes/no annotations), with a suggestion for a misspelt name.
- :func:`labelled`: a dataset with a ``labels`` tensor the trainer feeds to a conditional objective. Images without a
  label row (CelebA files missing from ``list_attr_celeba``) are listed in the log and left out of training; the
  dataset folder is never touched.
- :func:`conditioned`: a generator with some attribute values fixed, usable wherever a generator is (metrics,
  explorer, grids).
- Measured, not eyeballed: :func:`conditioning_accuracy` asks a judge (the package's attribute predictor on the
  procedural faces, or on real data a small classifier trained by :func:`train_judge` on the labelled images) which
  value it sees in each generated face; :func:`condition_swap` changes one attribute at a fixed latent and counts
  the faces whose other attributes change too.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from facegen_utils._log import logger
from facegen_utils.spec import suggest
from facegen_utils.tensors import eval_mode, from_unit, to_unit

__all__ = ["Conditions", "DEFAULT_FACE_CONDITIONS", "CELEBA_ATTRIBUTES", "LabelledImages", "schema", "labelled",
           "conditioned", "Conditioned", "package_judge", "AttributeJudge", "train_judge", "conditioning_accuracy",
           "condition_grid", "condition_swap", "per_condition_quality", "natural_shares", "choose_judge",
           "compare_generators"]

#: the attributes a conditional generator of the procedural faces is told by default: both are read by the
#: package's predictor with held-out accuracy >= 0.98 and change large areas of the image
DEFAULT_FACE_CONDITIONS: tuple[str, ...] = ("hair_color", "hair_style")
#: CelebA's 40 annotations (list_attr_celeba.csv / .txt), each yes or no
CELEBA_ATTRIBUTES: tuple[str, ...] = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips", "Big_Nose",
    "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin", "Eyeglasses",
    "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache",
    "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks",
    "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick",
    "Wearing_Necklace", "Wearing_Necktie", "Young")
_YES_NO = ("no", "yes")
_MAX_LISTED = 10  # unlabelled files named in the log


@dataclass(frozen=True)
class Conditions:
    """The attributes a conditional generator is told, each with its values in a fixed order."""

    attributes: tuple[str, ...]
    values: tuple[tuple[str, ...], ...]

    def __post_init__(self) -> None:
        if not self.attributes or len(self.attributes) != len(self.values):
            raise ValueError("Conditions need at least one attribute and one value list per attribute")
        for name, values in zip(self.attributes, self.values):
            if len(values) < 2:
                raise ValueError(f"attribute {name!r} has {len(values)} value(s); a condition needs at least two")

    @classmethod
    def from_option(cls, option: Mapping[str, Sequence[str]] | None) -> "Conditions":
        """From the model option ``conditions`` ({attribute: [values]}); None: the faces' default attributes."""
        if option is None:
            return schema("synthetic-faces", DEFAULT_FACE_CONDITIONS)
        if not isinstance(option, Mapping):
            raise ValueError(f"conditions={option!r} must map each attribute to its values, e.g. "
                             f"{{'hair_style': ['bob', 'bun', 'long', 'short', 'twin_tails']}}")
        return cls(tuple(map(str, option)), tuple(tuple(map(str, v)) for v in option.values()))

    def as_option(self) -> dict[str, list[str]]:
        """The model option ``conditions`` that rebuilds these (stored in checkpoints and manifests)."""
        return {a: list(v) for a, v in zip(self.attributes, self.values)}

    @property
    def sizes(self) -> tuple[int, ...]:
        """Number of values of each attribute."""
        return tuple(len(v) for v in self.values)

    def position(self, attribute: str) -> int:
        """The column of ``attribute`` in a label row."""
        if attribute not in self.attributes:
            raise ValueError(f"{attribute!r} is not a condition of this generator{suggest(attribute, self.attributes)}"
                             f"; its conditions: {', '.join(self.attributes)}")
        return self.attributes.index(attribute)

    def index(self, attribute: str, value: Any) -> int:
        """The index of ``value`` among the values of ``attribute`` (True/False and 1/0 read as yes/no)."""
        values = self.values[self.position(attribute)]
        text = {True: "yes", False: "no"}.get(value, str(value)) if values == _YES_NO else str(value)
        text = {"1": "yes", "0": "no"}.get(text, text) if values == _YES_NO else text
        if text not in values:
            raise ValueError(f"{attribute}={value!r} is not one of its values{suggest(text, values)}: "
                             f"{', '.join(values)}")
        return values.index(text)

    def labels(self, n: int, **chosen: Any) -> torch.Tensor:
        """``n`` identical label rows with the ``chosen`` values (attribute=value) and every other attribute free."""
        row = torch.full((len(self.attributes),), -1, dtype=torch.long)
        for attribute, value in chosen.items():
            row[self.position(attribute)] = self.index(attribute, value)
        return row.expand(n, -1).clone()

    def encode(self, table: pd.DataFrame) -> torch.Tensor:
        """Label rows (N, A) of an attribute table; -1 where a row has no value (e.g. a missing annotation)."""
        missing = [a for a in self.attributes if a not in table.columns]
        if missing:
            raise ValueError(f"the attribute table has no column(s) {missing}{suggest(missing[0], table.columns)}")
        columns = []
        for attribute, values in zip(self.attributes, self.values):
            column = table[attribute]
            if values == _YES_NO:
                text = column.map(lambda v: None if pd.isna(v) else _YES_NO[int(bool(v) and v != 0)])
            else:
                text = column.astype(object).map(lambda v: None if pd.isna(v) else str(v))
            codes = text.map({v: i for i, v in enumerate(values)})
            columns.append(torch.from_numpy(codes.fillna(-1).to_numpy(dtype=np.int64).copy()))
        return torch.stack(columns, dim=1)

    def describe(self, row: torch.Tensor | Sequence[int]) -> str:
        """A label row in words: ``"hair_color=blonde, hair_style=free"``."""
        return ", ".join(f"{a}={'free' if int(i) < 0 else v[int(i)]}"
                         for a, v, i in zip(self.attributes, self.values, list(row)))


@functools.cache
def _face_categories() -> dict[str, tuple[str, ...]]:
    from facegen_utils.datasets.procedural import SyntheticFaces

    table = SyntheticFaces(n=1, image_size=8).attributes
    return {c: tuple(map(str, table[c].cat.categories)) if isinstance(table[c].dtype, pd.CategoricalDtype)
            else ("False", "True") for c in table.columns if isinstance(table[c].dtype, pd.CategoricalDtype)
            or table[c].dtype == bool}


def schema(dataset: str, names: Sequence[str]) -> Conditions:
    """The conditions ``names`` of a dataset: ``synthetic-faces`` categorical factors or CelebA's yes/no annotations."""
    names = (names,) if isinstance(names, str) else tuple(names)
    if not names:
        raise ValueError("conditions: name at least one attribute, e.g. ('hair_color', 'hair_style')")
    if len(set(names)) != len(names):
        raise ValueError(f"conditions {names} name an attribute twice")
    if dataset == "synthetic-faces":
        known = _face_categories()
    elif dataset == "celeba":
        known = {a: _YES_NO for a in CELEBA_ATTRIBUTES}
    else:
        raise ValueError(f"dataset {dataset!r} has no attribute labels to condition on; use 'synthetic-faces' "
                         f"(its factors, e.g. hair_color) or 'celeba' (list_attr_celeba, e.g. Eyeglasses)")
    for name in names:
        if name not in known:
            hint = ""
            if dataset == "synthetic-faces":
                hint = " (a continuous factor such as face_width cannot be a condition)"
            raise ValueError(f"conditions: {name!r} is not a yes/no or categorical attribute of {dataset!r}"
                             f"{suggest(name, known)}{hint}; choose from: {', '.join(known)}")
    return Conditions(names, tuple(known[n] for n in names))


class LabelledImages(torch.utils.data.Dataset):
    """Images with one label row each: ``to_uint8()``, ``labels`` (N, A), ``attributes`` and the conditions.

    Indexing gives the image as the wrapped dataset does; the trainer reads ``labels`` beside ``to_uint8()``."""

    def __init__(self, base: Any, conditions: Conditions, keep: np.ndarray | None = None,
                 labels: torch.Tensor | None = None, unlabelled: Sequence[str] = ()) -> None:
        self.base, self.conditions = base, conditions
        self.unlabelled = list(unlabelled)  # images left out for lack of a label row (their files stay)
        self.keep = np.arange(len(base)) if keep is None else np.asarray(keep)
        self.labels = labels if labels is not None else torch.zeros(len(self.keep), len(conditions.attributes),
                                                                    dtype=torch.long)
        self.value_range = tuple(getattr(base, "value_range", (-1.0, 1.0)))
        self.image_size = getattr(base, "image_size", None)
        self.name = getattr(base, "name", type(base).__name__)

    def __len__(self) -> int:
        return len(self.keep)

    def __repr__(self) -> str:
        return f"LabelledImages({self.base!r}, {len(self)} images, conditions={list(self.conditions.attributes)})"

    def __getitem__(self, index: int) -> Any:
        item = self.base[int(self.keep[index])]
        return item[0] if isinstance(item, tuple) else item

    def to_uint8(self, *, progress: bool = False) -> torch.Tensor:
        images = self.base.to_uint8(progress=progress)
        return images if len(self.keep) == len(images) else images[torch.from_numpy(self.keep)]

    @property
    def attributes(self) -> pd.DataFrame:
        """The wrapped dataset's attribute table, rows of the kept images."""
        return self.base.attributes.iloc[self.keep].reset_index(drop=True)

    def label_shares(self) -> pd.DataFrame:
        """How many images carry each value of each condition, and their share."""
        rows = []
        for a, (attribute, values) in enumerate(zip(self.conditions.attributes, self.conditions.values)):
            counts = torch.bincount(self.labels[:, a], minlength=len(values))
            rows += [{"attribute": attribute, "value": v, "images": int(c), "share": float(c) / len(self)}
                     for v, c in zip(values, counts.tolist())]
        return pd.DataFrame(rows)

    def with_values(self, **chosen: Any) -> torch.Tensor:
        """The indices (into this dataset) of the images whose labels have the ``chosen`` values (attribute=value)."""
        mask = torch.ones(len(self), dtype=torch.bool)
        for attribute, value in chosen.items():
            mask &= self.labels[:, self.conditions.position(attribute)] == self.conditions.index(attribute, value)
        return mask.nonzero().view(-1)

    def images_with(self, n: int | None = None, *, seed: int = 0, **chosen: Any) -> torch.Tensor:
        """The uint8 images whose labels have the ``chosen`` values: all of them, or ``n`` drawn with ``seed``.

        Only the chosen rows are read (CelebA's decoded cache is a memory-mapped array of gigabytes)."""
        index = self.with_values(**chosen)
        if n is not None and n < len(index):
            index = index[torch.randperm(len(index), generator=torch.Generator().manual_seed(seed))[:n].sort().values]
        return self.base.to_uint8()[torch.from_numpy(self.keep)[index]]


def labelled(dataset: Any, conditions: Conditions) -> LabelledImages:
    """``dataset`` with the label rows of ``conditions``; images without a complete label row are left out (listed
    in the log, never deleted)."""
    table = getattr(dataset, "attributes", None)
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"{getattr(dataset, 'name', type(dataset).__name__)} has no attribute table to read the "
                         f"conditions {list(conditions.attributes)} from; CelebA needs list_attr_celeba.csv (Kaggle) "
                         f"or list_attr_celeba.txt (torchvision) beside its images: datasets.get('celeba', "
                         f"return_attributes=True) names the download command")
    labels = conditions.encode(table)
    complete = (labels >= 0).all(dim=1).numpy()
    missing: list[str] = []
    if not complete.all():
        names = table["image_id"] if "image_id" in table.columns else pd.Series(table.index.astype(str))
        missing = list(names[~complete].astype(str))
        logger.warning("%d image(s) have no label row for %s and are left out of training (the files stay): %s%s",
                       len(missing), ", ".join(conditions.attributes), ", ".join(missing[:_MAX_LISTED]),
                       " ..." if len(missing) > _MAX_LISTED else "")
    keep = np.flatnonzero(complete)
    if keep.size == 0:
        raise ValueError(f"none of the {len(table)} images has a label row for {list(conditions.attributes)}: check "
                         f"that the attribute file lists these image files by name")
    return LabelledImages(dataset, conditions, keep, labels[torch.from_numpy(keep)], unlabelled=missing)


class Conditioned(nn.Module):
    """A conditional generator with fixed attribute values: ``Conditioned(G, row)(z) == G(z, row)`` for every z."""

    def __init__(self, G: nn.Module, row: torch.Tensor) -> None:
        super().__init__()
        self.G = G
        self.register_buffer("row", row.view(1, -1).long().clone(), persistent=False)
        self.latent_dim, self.image_size = G.latent_dim, G.image_size
        self.channels, self.input_shape = G.channels, G.input_shape

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.G(z, self.row.expand(z.shape[0], -1).to(z.device))


def _generator(source: Any) -> nn.Module:
    source = getattr(source, "models", source)  # a Trainer: its networks
    G = source.G if isinstance(getattr(source, "G", None), nn.Module) else source
    if not hasattr(G, "conditions"):
        raise TypeError(f"{type(G).__name__} is not a conditional generator (models.build('cdcgan') makes one)")
    return G


def conditioned(source: Any, **chosen: Any) -> Conditioned:
    """The generator of ``source`` (a ModelSet or module) drawing the ``chosen`` values; other attributes free."""
    G = _generator(source)
    return Conditioned(G, G.conditions.labels(1, **chosen)[0])


# ---- judges: which attribute values does an image show? ----------------------------------------------------------

def package_judge(conditions: Conditions, *, value_range: Sequence[float] = (-1.0, 1.0)) -> Callable[..., pd.DataFrame]:
    """The package's attribute predictor (procedural faces) as a judge: images -> a table of predicted values."""
    from facegen_utils.metrics import predict_attributes

    def judge(images: torch.Tensor) -> pd.DataFrame:
        predicted = predict_attributes(images, domain="faces", value_range=value_range)
        return predicted[list(conditions.attributes)].astype(str)
    judge.kind = "the package's attribute predictor"  # type: ignore[attr-defined]
    return judge


class _JudgeNet(nn.Module):
    def __init__(self, sizes: Sequence[int], channels: int = 3) -> None:
        super().__init__()
        widths = (channels, 32, 64, 128)
        layers: list[nn.Module] = []
        for c_in, c_out in zip(widths, widths[1:]):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*layers)
        self.heads = nn.ModuleList(nn.Linear(widths[-1], k) for k in sizes)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        pooled = self.features(x).mean(dim=(2, 3))
        return [head(pooled) for head in self.heads]


@dataclass
class AttributeJudge:
    """A small CNN trained on labelled real images: a learned judge of attribute values, with held-out accuracy."""

    net: nn.Module
    conditions: Conditions
    value_range: tuple[float, float]
    accuracy: dict[str, float]   # held-out accuracy per attribute
    majority: dict[str, float]   # held-out accuracy of always answering the most frequent value
    n_train: int
    n_test: int
    kind: str = "a learned judge (a small CNN trained on the labelled images)"

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> pd.DataFrame:
        x = _as_signed(images, self.value_range)
        device = next(self.net.parameters()).device
        with eval_mode(self.net):
            outs = [torch.cat(parts) for parts in zip(*(self.net(b.to(device)) for b in x.split(256)))]
        return pd.DataFrame({a: np.asarray(v, dtype=object)[o.argmax(1).cpu().numpy()]
                             for a, v, o in zip(self.conditions.attributes, self.conditions.values, outs)})

    def report(self) -> pd.DataFrame:
        """Held-out accuracy per attribute beside the majority-answer baseline."""
        return pd.DataFrame({"attribute": list(self.accuracy), "held-out accuracy": list(self.accuracy.values()),
                             "always the most frequent value": [self.majority[a] for a in self.accuracy],
                             "n_test": self.n_test})


def _as_signed(images: torch.Tensor, value_range: Sequence[float]) -> torch.Tensor:
    """Images (uint8, or float in ``value_range``) as float in [-1, 1], the judge's input range."""
    return from_unit(to_unit(images, value_range), (-1.0, 1.0))  # to_unit reads uint8 as 0..255


def train_judge(data: LabelledImages, *, epochs: int = 5, batch_size: int = 64, lr: float = 2e-3,
                test_share: float = 0.2, seed: int = 0, limit: int | None = None,
                device: str | torch.device = "cpu") -> AttributeJudge:
    """Train a small CNN to read the conditions from ``data`` (a :func:`labelled` dataset); report held-out accuracy.

    On real data there is no attribute predictor that knows the truth: this judge stands in for it, so its held-out
    accuracy bounds how well a generator's conditioning can be measured."""
    images, labels = data.to_uint8(), data.labels
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    n = len(images)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_test = max(1, int(round(test_share * n)))
    if n - n_test < 8:
        raise ValueError(f"train_judge needs at least {8 + n_test} labelled images to hold {n_test} out, got {n}")
    test, train = order[:n_test], order[n_test:]
    batch_size = min(batch_size, len(train))
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = _JudgeNet(data.conditions.sizes).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    net.train()
    for _ in range(epochs):
        shuffled = train[torch.randperm(len(train), generator=gen)]
        for idx in shuffled[: len(shuffled) // batch_size * batch_size].view(-1, batch_size):
            x = _as_signed(images[idx], (-1, 1)).to(device)
            flip = torch.rand(len(idx), generator=gen) < 0.5
            x = torch.where(flip.view(-1, 1, 1, 1).to(device), x.flip(-1), x)
            y = labels[idx].to(device)
            loss = sum(F.cross_entropy(out, y[:, a]) for a, out in enumerate(net(x)))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    judge = AttributeJudge(net.eval(), data.conditions, (-1.0, 1.0), {}, {}, len(train), n_test)
    predicted = judge(images[test])
    for a, attribute in enumerate(data.conditions.attributes):
        truth = np.asarray(data.conditions.values[a], dtype=object)[labels[test, a].numpy()]
        judge.accuracy[attribute] = float((predicted[attribute].to_numpy() == truth).mean())
        judge.majority[attribute] = float(pd.Series(truth).value_counts(normalize=True).iloc[0])
    judge.value_range = tuple(data.value_range)  # generated images come in the model's range
    return judge


def choose_judge(data: LabelledImages, *, epochs: int = 5, seed: int = 0,
                 device: str | torch.device = "cpu") -> Callable[..., pd.DataFrame]:
    """The judge of a dataset's conditions: the package's attribute predictor on the procedural faces (it knows
    their true factors), else a small classifier trained on the labelled images (see :func:`train_judge`)."""
    from facegen_utils.datasets.procedural import SyntheticFaces

    if isinstance(data.base, SyntheticFaces):
        return package_judge(data.conditions, value_range=data.value_range)
    return train_judge(data, epochs=epochs, seed=seed, device=device)


# ---- measurements ------------------------------------------------------------------------------------------------

def _latents(n: int, latent_dim: int, seed: int) -> torch.Tensor:
    return torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def _images(G: nn.Module, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    device = next(G.parameters()).device
    with eval_mode(G):
        parts = [G(zs.to(device), None if labels is None else ls.to(device)).float().cpu()
                 for zs, ls in zip(z.split(256), (labels if labels is not None else z).split(256))]
    return torch.cat(parts)


def _sweep(G: nn.Module, position: int, z: torch.Tensor) -> list[torch.Tensor]:
    """Images of the latents ``z`` drawn with each value of attribute ``position`` in turn (one batch per value),
    the other conditions held at the values the latents' condition coordinates choose."""
    held = G.draw_labels(z[:, G.code_dim:].to(G.shares.device)).cpu()
    batches = []
    for value in range(G.sizes[position]):
        labels = held.clone()
        labels[:, position] = value
        batches.append(_images(G, z, labels))
    return batches


def natural_shares(source: Any, judge: Callable[..., pd.DataFrame], conditions: Conditions, *, n: int = 500,
                   seed: int = 0) -> pd.DataFrame:
    """How often the judge sees each value in ``n`` samples of any generator (e.g. an unconditional DCGAN)."""
    from facegen_utils.metrics import generate

    source = getattr(source, "models", source)
    G = source.G if isinstance(getattr(source, "G", None), nn.Module) else source
    seen = judge(generate(G, n, seed=seed))  # latents from N(0, I) with ``seed``, as _latents draws them
    return pd.DataFrame([{"attribute": a, "value": v, "share": float((seen[a] == v).mean())}
                         for a, values in zip(conditions.attributes, conditions.values) for v in values])


def conditioning_accuracy(source: Any, judge: Callable[..., pd.DataFrame] | None = None, *, n: int = 500,
                          seed: int = 0, baseline: Any = None) -> pd.DataFrame:
    """For every attribute value: the share of ``n`` faces drawn with it in which the judge sees it.

    The other attributes stay free (drawn as in the data). ``baseline`` (e.g. notebook 05's unconditional DCGAN)
    adds the share of that value among its samples: what a generator that ignores the condition gets. The table's
    ``attrs["mean"]`` is the mean accuracy per attribute (values weighted equally)."""
    G = _generator(source)
    conditions = G.conditions
    judge = judge or package_judge(conditions)
    z = _latents(n, G.latent_dim, seed)
    rows = []
    for a, (attribute, values) in enumerate(zip(conditions.attributes, conditions.values)):
        for v, value in enumerate(values):
            seen = judge(_images(G, z, conditions.labels(n, **{attribute: value})))
            rows.append({"attribute": attribute, "value": value, "accuracy": float((seen[attribute] == value).mean()),
                         "n": n})
    table = pd.DataFrame(rows)
    if baseline is not None:
        natural = natural_shares(baseline, judge, conditions, n=n, seed=seed)
        table = table.merge(natural.rename(columns={"share": "share without condition"}), on=["attribute", "value"])
    table.attrs["mean"] = table.groupby("attribute", sort=False)["accuracy"].mean().to_dict()
    table.attrs["judge"] = getattr(judge, "kind", "a judge")
    return table


def compare_generators(runs: Mapping[str, Any], reference: Any, judge: Callable[..., pd.DataFrame], *,
                       n: int = 100, seed: int = 0, quality_n: int = 500) -> pd.DataFrame:
    """One row per conditional generator (label -> ModelSet, Trainer or module): the mean conditioning accuracy of
    each attribute (``n`` faces per value) and precision, coverage, density and FID of ``quality_n`` free samples."""
    from facegen_utils import metrics as fm

    rows = []
    for label, source in runs.items():
        models = getattr(source, "models", source)
        accuracy = conditioning_accuracy(models, judge, n=n, seed=seed).attrs["mean"]
        row = fm.evaluate(models, reference, n=quality_n, seed=seed + 1,
                          metrics=("precision_recall", "density_coverage", "fid"))
        rows.append({"generator": label, **{f"accuracy {a}": v for a, v in accuracy.items()},
                     **{c: float(row[c].iloc[0]) for c in ("precision", "coverage", "density", "fid")}})
    return pd.DataFrame(rows).set_index("generator")


def per_condition_quality(source: Any, data: LabelledImages, attribute: str, *, n: int = 200, seed: int = 0,
                          metrics: Sequence[str] = ("precision_recall", "density_coverage")) -> pd.DataFrame:
    """Precision, coverage and density of each value of ``attribute``: faces drawn with it against the real images
    labelled with it (up to ``n`` each; values with fewer than 10 real images are skipped with a log line)."""
    from facegen_utils import metrics as fm

    G = _generator(source)
    conditions = G.conditions
    rows = []
    for value in conditions.values[conditions.position(attribute)]:
        available = len(data.with_values(**{attribute: value}))
        if available < 10:
            logger.info("%s=%s: %d real image(s), too few to score; skipped", attribute, value, available)
            continue
        real = data.images_with(n, seed=seed, **{attribute: value})
        ref = fm.reference(real, n=len(real), seed=seed, value_range=data.value_range)
        row = fm.evaluate(conditioned(G, **{attribute: value}), ref, n=len(real), seed=seed + 1, metrics=metrics)
        rows.append({"attribute": attribute, "value": value, "n_real": available,
                     **{c: float(row[c].iloc[0]) for c in ("precision", "coverage", "density") if c in row}})
    return pd.DataFrame(rows)


#: held-out accuracy from which the package's predictor counts as reading a face attribute reliably
RELIABLE = 0.9


def condition_swap(source: Any, attribute: str, judge: Callable[..., pd.DataFrame] | None = None, *,
                   others: Sequence[str] | None = None, n: int = 200, seed: int = 0) -> pd.DataFrame:
    """Change ``attribute`` at fixed latents: per attribute, the share of faces whose judged value changes.

    Each latent is drawn with every value of ``attribute`` in turn, its other conditions held at the values its
    latent chooses; consecutive values are compared. Without a ``judge`` the package's predictor reads every
    categorical face attribute it reads reliably (held-out accuracy >= 0.9); a learned judge reads the conditions.
    A generator that keeps the face while changing the condition changes the others in few faces; the swapped
    attribute itself should change in nearly all of them. ``between different faces`` is the reference: how often
    the judged value differs between two neighbouring latents drawn with the same conditions (different faces)."""
    G = _generator(source)
    conditions = G.conditions
    position = conditions.position(attribute)
    z = _latents(n, G.latent_dim, seed)
    if judge is None:
        from facegen_utils.metrics import attribute_heads, predict_attributes

        readable = [h["column"] for h in attribute_heads("faces")
                    if h["kind"] == "categorical" and h["validation"] >= RELIABLE]

        def judge(images: torch.Tensor) -> pd.DataFrame:
            return predict_attributes(images, domain="faces")[readable].astype(str)
        default_others = [c for c in readable if c != attribute]
    else:
        default_others = [a for a in conditions.attributes if a != attribute]
    others = default_others if others is None else list(others)
    seen = [judge(images) for images in _sweep(G, position, z)]
    rows = [{"attribute": column,
             "changed": float(np.mean([(a[column].to_numpy() != b[column].to_numpy()).mean()
                                       for a, b in zip(seen, seen[1:])])),
             "between different faces": float(np.mean([(a[column].to_numpy()[1:] != a[column].to_numpy()[:-1]).mean()
                                                        for a in seen]))}
            for column in [attribute, *others]]
    table = pd.DataFrame(rows)
    table.attrs.update(swapped=attribute, n=n)
    return table


def condition_grid(source: Any, attribute: str, *, columns: int = 8, seed: int = 0,
                   value_range: Sequence[float] = (-1.0, 1.0), ax: Any = None, title: str | None = None) -> Any:
    """The classic conditional-GAN figure: one fixed latent per column, one value of ``attribute`` per row."""
    import matplotlib.pyplot as plt

    from facegen_utils.viz import image_grid

    G = _generator(source)
    conditions = G.conditions
    position = conditions.position(attribute)
    values = conditions.values[position]
    grid = image_grid(torch.cat(_sweep(G, position, _latents(columns, G.latent_dim, seed))), nrow=columns,
                      value_range=value_range)
    if ax is None:
        size = G.image_size
        _, ax = plt.subplots(figsize=(min(14, 1.2 + columns * max(size, 32) / 36),
                                      min(14, 0.6 + len(values) * max(size, 32) / 36)))
    ax.imshow(grid)
    step = grid.shape[0] / len(values)
    ax.set_yticks([step * (i + 0.5) for i in range(len(values))], labels=list(values))
    ax.set_xticks([])
    ax.set_ylabel(attribute)
    ax.set_title(title or f"one latent per column, one {attribute} per row")
    return ax.figure
