"""Train the package's feature extractor ``facegen-synthetic-v1`` on the procedural faces and paintings.

The metrics (FID, KID, precision/recall, diversity, attribute match) fall back to this network when the standard
Inception-v3 weights are not on disk. It is a small CNN (``facegen_utils.metrics.FeatureNet``, 64x64 input,
128-d embedding) trained from scratch, with linear heads on the embedding for three tasks:

1. domain: procedural face or painting;
2. degradation: clean, or one of the defects generators produce (noise, blur, pixelation, ghosting by blending
   two images, shuffled patches, colour cast, checkerboard), its type and its severity (regression) -- this makes
   the embedding sensitive to image quality, so that FID computed on it rises with the damage;
3. every attribute of the procedural data (hair colour, eye size, horizon height, ...): categorical attributes as
   classification, continuous ones as regression of the standardised value -- these heads are the attribute
   predictor of ``facegen_utils.metrics.attribute_match``.

Reproduce the committed weights (``facegen_utils/assets/facegen-synthetic-v1.pt``, 0.85 MB) with::

    python scripts/train_feature_extractor.py

which took 946 s (2,000 steps of 64 images) on a 2-core CPU shared with other jobs.

Everything is fixed by ``CONFIG`` below (seed 0, procedural data seeds 1 and 2, one CPU thread, deterministic
algorithms), so the same torch version on the same kind of CPU reproduces the weights; the file stores the hash of
``CONFIG`` and a fingerprint of the training images. ``--check`` tells whether the committed file still matches this
script and the current procedural renderer (exit status 1 if the weights need retraining). ``--steps``/``--n`` make
a short smoke run (used by the tests) and write wherever ``--out`` says.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F

from facegen_utils.metrics.features import WEIGHTS_PATH, FeatureNet
from facegen_utils.metrics.result import SYNTHETIC

CONFIG: dict[str, Any] = {
    "version": SYNTHETIC,
    "seed": 0,                      # torch seed of initialisation, batches and degradations
    "threads": 1,                   # CPU threads (results depend on it through float summation order)
    "image_size": 64,               # network input size; metrics resize images to it
    "train_seed": 1,                # procedural seed of the training images (notebooks and tests use seed 0)
    "val_seed": 2,                  # procedural seed of the validation images
    "n_train": 6000,                # training images per domain (faces, paintings)
    "n_val": 500,                   # validation images per domain
    "widths": [32, 64, 128, 128, 128],
    "strides": [2, 2, 2, 2, 1],
    "steps": 2000,
    "batch_size": 64,               # half faces, half paintings
    "lr": 2e-3,
    "weight_decay": 1e-4,
    "degradation_weight": 3.0,      # loss weight of the degradation type and severity heads (others: 1)
    "warmup_steps": 100,            # linear warm-up, then cosine decay to zero
    "clean_share": 0.5,             # share of clean images in a batch; the rest get one degradation each
    "degradations": ["clean", "noise", "blur", "pixelate", "blend", "shuffle", "colour", "checkerboard"],
    "attribute_degradations": ["clean", "noise", "blur", "checkerboard"],  # images the attribute heads learn from
    "attribute_max_severity": 0.5,  # ... when their degradation is at most this strong
    "max_classes": 16,              # a column with more distinct values than this is treated as continuous
    "not_matched_suffixes": ["_r", "_g", "_b"],  # colour channels: trained as heads, left out of attribute_match
    "fingerprint_images": 16,       # images per domain whose mean colours are stored to detect renderer changes
    "min_accuracy": 0.8,            # attribute_match uses only heads this accurate on held-out images ...
    "min_r2": 0.6,                  # ... or with this R^2 (continuous attributes)
}
DOMAINS = ("faces", "paintings")


def config_hash(config: dict[str, Any]) -> str:
    """Stable hash of a training configuration (stored in the weights file)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def _dataset(domain: str, n: int, seed: int, image_size: int):
    from facegen_utils.datasets.procedural import SyntheticFaces, SyntheticPaintings

    if domain == "faces":
        return SyntheticFaces(n, image_size=image_size, seed=seed)
    # the committed weights were trained when 30 % of the paintings sat on a round canvas (the default is now 2 %)
    return SyntheticPaintings(n, image_size=image_size, seed=seed, round_share=0.3)


def fingerprint(config: dict[str, Any]) -> dict[str, list[list[float]]]:
    """Mean colour of the first images of each domain, rendered now with the training seed."""
    out = {}
    for domain in DOMAINS:
        u8 = _dataset(domain, config["fingerprint_images"], config["train_seed"], config["image_size"]).to_uint8()
        out[domain] = u8.double().mean(dim=(2, 3)).tolist()
    return out


def attribute_specs(table: pd.DataFrame, domain: str, *, max_classes: int,
                    not_matched_suffixes: list[str]) -> list[dict[str, Any]]:
    """One head per informative attribute column: categorical (classes) or continuous (mean, std).

    Columns with missing values (parameters that exist only for some images, such as the sun's position) and
    constant columns get no head.
    """
    specs = []
    for col in table.columns:
        values = table[col]
        n_unique = values.nunique()
        if n_unique < 2 or values.isna().any():
            continue
        spec = {"task": "attribute", "domain": domain, "column": str(col),
                "match": not str(col).endswith(tuple(not_matched_suffixes))}
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        if numeric and n_unique > max_classes:
            spec.update(kind="continuous", mean=float(values.mean()), std=float(values.std()))
        elif n_unique <= max_classes:
            spec.update(kind="categorical", classes=sorted(values.astype(str).unique().tolist()))
        else:
            continue
        specs.append(spec)
    return specs


def _targets(table: pd.DataFrame, spec: dict[str, Any]) -> torch.Tensor:
    values = table[spec["column"]]
    if spec["kind"] == "categorical":
        index = {c: i for i, c in enumerate(spec["classes"])}
        return torch.tensor([index.get(v, -100) for v in values.astype(str)], dtype=torch.long)
    return torch.tensor(((values.astype(float) - spec["mean"]) / spec["std"]).to_numpy(), dtype=torch.float32)


def _gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Blur image i with a Gaussian of ``sigma[i]`` pixels (separable, replicate padding)."""
    n, c, h, w = x.shape
    r = int(math.ceil(3 * float(sigma.max())))
    t = torch.arange(-r, r + 1, dtype=x.dtype)
    k = torch.exp(-t.square() / (2 * sigma.view(-1, 1).square()))
    k = (k / k.sum(1, keepdim=True)).repeat_interleave(c, dim=0)
    y = F.conv2d(F.pad(x.reshape(1, n * c, h, w), (r, r, 0, 0), mode="replicate"), k.view(n * c, 1, 1, -1),
                 groups=n * c)
    y = F.conv2d(F.pad(y, (0, 0, r, r), mode="replicate"), k.view(n * c, 1, -1, 1), groups=n * c)
    return y.reshape(n, c, h, w)


def _pixelate(x: torch.Tensor, factor: int) -> torch.Tensor:
    small = F.interpolate(x, scale_factor=1 / factor, mode="area")
    return F.interpolate(small, size=x.shape[-2:], mode="nearest")


def _tiles(x: torch.Tensor, p: int) -> torch.Tensor:
    c, h, w = x.shape
    return x.reshape(c, p, h // p, p, w // p).permute(1, 3, 0, 2, 4).reshape(p * p, c, h // p, w // p)


def _untile(tiles: torch.Tensor, p: int) -> torch.Tensor:
    _, c, th, tw = tiles.shape
    return tiles.reshape(p, p, c, th, tw).permute(2, 0, 3, 1, 4).reshape(c, p * th, p * tw)


def degrade(x: torch.Tensor, labels: torch.Tensor, severity: torch.Tensor, names: list[str],
            g: torch.Generator) -> torch.Tensor:
    """Apply degradation ``names[labels[i]]`` at strength ``severity[i]`` in [0, 1] to image i (values in [0, 1])."""
    out = x.clone()
    for k, name in enumerate(names):
        idx = (labels == k).nonzero().flatten()
        if name == "clean" or idx.numel() == 0:
            continue
        xs, m, s = x[idx], idx.numel(), severity[idx].view(-1, 1, 1, 1)

        def signs(*shape: int) -> torch.Tensor:
            return torch.empty(m, *shape).uniform_(-1.0, 1.0, generator=g)

        if name == "noise":
            y = xs + (0.01 + 0.29 * s) * torch.randn(xs.shape, generator=g)
        elif name == "blur":
            y = _gaussian_blur(xs, 0.3 + 2.7 * s.flatten())
        elif name == "pixelate":
            y = torch.stack([_pixelate(xi[None], 2 ** (1 + int(2.999 * float(si))))[0] for xi, si in zip(xs, s)])
        elif name == "blend":
            y = (1 - (0.1 + 0.4 * s)) * xs + (0.1 + 0.4 * s) * x[torch.randint(x.shape[0], (m,), generator=g)]
        elif name == "shuffle":
            tiles = [_tiles(xi, 4) for xi in xs]
            for t, si in zip(tiles, s.flatten().tolist()):
                moved = torch.randperm(16, generator=g)[:2 + round(14 * si)]
                t[moved] = t[moved.roll(1)].clone()
            y = torch.stack([_untile(t, 4) for t in tiles])
        elif name == "colour":
            y = xs * (1 + (0.05 + 0.45 * s) * signs(3, 1, 1)) + (0.02 + 0.18 * s) * signs(3, 1, 1)
        elif name == "checkerboard":
            h, w = xs.shape[-2:]
            sign = ((torch.arange(h)[:, None] + torch.arange(w)[None, :]) % 2) * 2.0 - 1.0
            y = xs + (0.01 + 0.14 * s) * sign
        else:
            raise ValueError(f"unknown degradation {name!r} in CONFIG['degradations']")
        out[idx] = y.clamp(0.0, 1.0)
    return out


def _render(config: dict[str, Any], n: int, seed: int) -> dict[str, tuple[torch.Tensor, pd.DataFrame]]:
    out = {}
    for domain in DOMAINS:
        ds = _dataset(domain, n, seed, config["image_size"])
        out[domain] = (ds.to_uint8(), ds.attributes.reset_index(drop=True))
    return out


def _fixed_heads(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The heads every image trains: domain, degradation type and degradation severity."""
    return [
        {"task": "domain", "domain": None, "column": "domain", "kind": "categorical", "classes": list(DOMAINS)},
        {"task": "degradation", "domain": None, "column": "degradation", "kind": "categorical",
         "classes": list(config["degradations"])},
        {"task": "severity", "domain": None, "column": "severity", "kind": "continuous", "mean": 0.0, "std": 1.0},
    ]


_N_FIXED = 3


def _attribute_loss(spec: dict[str, Any], out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if spec["kind"] == "categorical":
        return F.cross_entropy(out, target)
    return F.smooth_l1_loss(out[:, 0], target)


def _loss(net: FeatureNet, heads: list[dict[str, Any]], batch: dict[str, Any], *,
          degradation_weight: float) -> torch.Tensor:
    _, outs = net(batch["x"])
    domain = batch["domain"]
    loss = (F.cross_entropy(outs[0], domain)
            + degradation_weight * (F.cross_entropy(outs[1], batch["degradation"])
                                    + F.smooth_l1_loss(outs[2][:, 0], batch["severity"])))
    attr_losses = []
    for k, spec in enumerate(heads[_N_FIXED:]):
        mask = batch["attribute_ok"] & (domain == DOMAINS.index(spec["domain"]))
        if mask.any():
            attr_losses.append(_attribute_loss(spec, outs[_N_FIXED + k][mask], batch["targets"][k][mask]))
    if attr_losses:
        loss = loss + torch.stack(attr_losses).sum()
    return loss


def _batch(config: dict[str, Any], data: dict, heads: list[dict[str, Any]], all_targets: dict,
           g: torch.Generator) -> dict[str, Any]:
    names = config["degradations"]
    half = config["batch_size"] // 2
    xs, doms, tgts = [], [], [[] for _ in heads[_N_FIXED:]]
    for d, domain in enumerate(DOMAINS):
        u8, _ = data[domain]
        idx = torch.randint(u8.shape[0], (half,), generator=g)
        xs.append(u8[idx].float() / 255.0)
        doms.append(torch.full((half,), d, dtype=torch.long))
        for k, spec in enumerate(heads[_N_FIXED:]):
            t = all_targets[domain][k]
            tgts[k].append(t[idx] if t is not None else
                           torch.zeros(half, dtype=torch.long if spec["kind"] == "categorical" else torch.float32))
    x = torch.cat(xs)
    clean = torch.rand(x.shape[0], generator=g) < config["clean_share"]
    other = torch.randint(1, len(names), (x.shape[0],), generator=g)
    degradation = torch.where(clean, torch.zeros_like(other), other)
    severity = torch.where(clean, 0.0, torch.rand(x.shape[0], generator=g))
    mild = torch.tensor([names[i] in config["attribute_degradations"] for i in degradation.tolist()])
    return {"x": degrade(x, degradation, severity, names, g), "domain": torch.cat(doms),
            "degradation": degradation, "severity": severity, "targets": [torch.cat(t) for t in tgts],
            "attribute_ok": clean | (mild & (severity < config["attribute_max_severity"]))}


def _targets_by_domain(data: dict, heads: list[dict[str, Any]]) -> dict[str, list[torch.Tensor | None]]:
    return {domain: [_targets(data[domain][1], spec) if spec["domain"] == domain else None
                     for spec in heads[_N_FIXED:]] for domain in DOMAINS}


def _r2(prediction: torch.Tensor, target: torch.Tensor) -> float:
    return float(1 - (prediction - target).square().mean() / target.var().clamp(min=1e-12))


@torch.no_grad()
def validate(net: FeatureNet, heads: list[dict[str, Any]], config: dict[str, Any],
             data: dict) -> dict[str, float]:
    """Accuracy (categorical heads) or R^2 (continuous heads) on held-out procedural images."""
    net.eval()
    g = torch.Generator().manual_seed(config["seed"] + 1)
    names = config["degradations"]
    scores: dict[str, float] = {}
    dom_correct, deg_correct, total = 0, 0, 0
    severities, predicted_severities = [], []
    for d, domain in enumerate(DOMAINS):
        u8, table = data[domain]
        x = u8.float() / 255.0
        _, outs = net(x)
        dom_correct += int((outs[0].argmax(1) == d).sum())
        labels = torch.randint(len(names), (x.shape[0],), generator=g)
        severity = torch.where(labels == 0, 0.0, torch.rand(x.shape[0], generator=g))
        _, outs_deg = net(degrade(x, labels, severity, names, g))
        deg_correct += int((outs_deg[1].argmax(1) == labels).sum())
        severities.append(severity)
        predicted_severities.append(outs_deg[2][:, 0])
        total += x.shape[0]
        for k, spec in enumerate(heads[_N_FIXED:], start=_N_FIXED):
            if spec["domain"] != domain:
                continue
            t = _targets(table, spec)
            if spec["kind"] == "categorical":
                scores[f"{domain}/{spec['column']} accuracy"] = float((outs[k].argmax(1) == t).float().mean())
            else:
                scores[f"{domain}/{spec['column']} R2"] = _r2(outs[k][:, 0], t)
    scores["domain accuracy"] = dom_correct / total
    scores["degradation accuracy"] = deg_correct / total
    scores["severity R2"] = _r2(torch.cat(predicted_severities), torch.cat(severities))
    net.train()
    return scores


def _log(message: str) -> None:
    print(message, flush=True)


def mark_reliable(heads: list[dict[str, Any]], scores: dict[str, float], config: dict[str, Any]) -> None:
    """Store each attribute head's validation score; leave those below the bars out of attribute_match."""
    for h in heads[_N_FIXED:]:
        categorical = h["kind"] == "categorical"
        score = scores[f"{h['domain']}/{h['column']} {'accuracy' if categorical else 'R2'}"]
        h["validation"] = score
        h["match"] = h["match"] and score >= (config["min_accuracy"] if categorical else config["min_r2"])


def train(config: dict[str, Any], *, log=_log) -> tuple[FeatureNet, dict[str, Any]]:
    """Train the extractor as ``config`` says; return the network (eval mode) and the metadata to store with it."""
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.manual_seed(config["seed"])
    torch.set_num_threads(config["threads"])
    torch.use_deterministic_algorithms(True)
    try:
        return _train(config, log)
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def _train(config: dict[str, Any], log) -> tuple[FeatureNet, dict[str, Any]]:
    start = time.perf_counter()
    data = _render(config, config["n_train"], config["train_seed"])
    val = _render(config, config["n_val"], config["val_seed"])
    heads = _fixed_heads(config)
    for domain in DOMAINS:
        heads += attribute_specs(data[domain][1], domain, max_classes=config["max_classes"],
                                 not_matched_suffixes=config["not_matched_suffixes"])
    all_targets = _targets_by_domain(data, heads)
    net = FeatureNet(widths=config["widths"], strides=config["strides"], input_size=config["image_size"],
                     head_sizes=[len(h["classes"]) if h["kind"] == "categorical" else 1 for h in heads])
    opt = torch.optim.AdamW(net.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
    steps, warmup = config["steps"], config["warmup_steps"]
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    g = torch.Generator().manual_seed(config["seed"])
    log(f"rendered {config['n_train']}+{config['n_val']} images per domain in {time.perf_counter() - start:.1f} s; "
        f"{len(heads) - _N_FIXED} attribute heads; training {steps} steps")
    net.train()
    for step in range(steps):
        loss = _loss(net, heads, _batch(config, data, heads, all_targets, g),
                     degradation_weight=config["degradation_weight"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if (step + 1) % max(1, steps // 10) == 0:
            log(f"step {step + 1}/{steps}  loss {loss.item():.4f}  {time.perf_counter() - start:.0f} s")
    scores = validate(net, heads, config, val)
    mark_reliable(heads, scores, config)
    meta = {
        "version": config["version"],
        "widths": list(config["widths"]),
        "strides": list(config["strides"]),
        "input_size": config["image_size"],
        "heads": heads,
        "config": config,
        "config_hash": config_hash(config),
        "torch_version": str(torch.__version__),
        "train_seconds": round(time.perf_counter() - start, 1),
        "validation": scores,
        "fingerprint": fingerprint(config),
    }
    return net.eval(), meta


def save(net: FeatureNet, meta: dict[str, Any], path: Path) -> Path:
    """Write the weights in float16 (BatchNorm counters dropped) with their metadata."""
    state = {k: v.half() for k, v in net.state_dict().items() if v.is_floating_point()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"state_dict": state, "meta": meta}, tmp)
    tmp.replace(path)
    return path


def check(path: Path, config: dict[str, Any], *, tolerance: float = 1.0) -> list[str]:
    """Reasons why the weights at ``path`` no longer match ``config`` and the current renderer (empty: up to date)."""
    meta = torch.load(path, map_location="cpu", weights_only=True)["meta"]
    problems = []
    if meta["config_hash"] != config_hash(config):
        problems.append(f"config hash {meta['config_hash']} != {config_hash(config)} of this script's CONFIG")
    now = fingerprint(config)
    for domain in DOMAINS:
        diff = (torch.tensor(now[domain]) - torch.tensor(meta["fingerprint"][domain])).abs().max()
        if float(diff) > tolerance:
            problems.append(f"the procedural {domain} render differently now (mean colour off by {float(diff):.1f})")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Command line: train and save, or ``--check`` the committed weights."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH, help="where to write the weights")
    parser.add_argument("--check", action="store_true", help="only check that the weights at --out are up to date")
    parser.add_argument("--steps", type=int, help="override CONFIG['steps'] (smoke runs)")
    parser.add_argument("--n", type=int, help="override CONFIG['n_train'] and n_val (smoke runs)")
    args = parser.parse_args(argv)
    config = dict(CONFIG)
    if args.check:
        problems = check(args.out, config)
        print("\n".join(problems) if problems else f"{args.out} matches this script (hash {config_hash(config)})")
        return 1 if problems else 0
    if args.steps is not None:
        config["steps"] = args.steps
        config["warmup_steps"] = min(config["warmup_steps"], args.steps)
    if args.n is not None:
        config["n_train"] = config["n_val"] = args.n
    net, meta = train(config)
    save(net, meta, args.out)
    print(json.dumps(meta["validation"], indent=1))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB) in {meta['train_seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
