"""Feature extractors behind every metric: Inception-v3 when its weights are on disk, else the package's own net.

FID (Heusel et al. 2017) and KID (Binkowski et al. 2018) compare image sets in the feature space of a network: the
standard Inception-v3 with the 2015 TensorFlow weights, through torchmetrics (``NoTrainInceptionV3``, the module
inside ``FrechetInceptionDistance``), **only** when the weights are already on disk (``FACEGEN_INCEPTION_WEIGHTS``,
or ``weights-inception-2015-12-05-6726825d.pth`` in the torch hub cache); nothing is ever downloaded. Otherwise the
metrics use ``FeatureNet``, a small CNN in ``facegen_utils/assets/`` trained on the procedural faces and paintings,
labelled ``facegen-synthetic-v1``: it ranks models fairly but is not comparable to published Inception FID.

``python scripts/train_feature_extractor.py`` reproduces the committed weights (torch seed 0, procedural seeds 1 and
2, one CPU thread, deterministic; about 16 minutes on a busy 2-core CPU); ``--check`` tells whether they still match.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from facegen_utils._log import logger, progress
from facegen_utils.metrics.result import INCEPTION, SYNTHETIC
from facegen_utils.tensors import to_uint8, to_unit

__all__ = ["Features", "FeatureNet", "extract_features", "resolve_features", "available_features",
           "load_feature_net", "images_from", "WEIGHTS_PATH", "INCEPTION_ENV"]

#: The committed weights of the package's feature extractor.
WEIGHTS_PATH = Path(__file__).resolve().parents[1] / "assets" / f"{SYNTHETIC}.pt"
#: Environment variable naming a local copy of the torch-fidelity Inception-v3 weights.
INCEPTION_ENV = "FACEGEN_INCEPTION_WEIGHTS"
_INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
_AUTO_NOTE_SHOWN = False


@dataclass(frozen=True)
class Features:
    """Feature vectors (N, D) of one image set, float64 on the CPU, with the label of the extractor."""

    values: torch.Tensor
    name: str

    def __len__(self) -> int:
        return int(self.values.shape[0])

    @property
    def dim(self) -> int:
        """Feature dimension D."""
        return int(self.values.shape[1])


class FeatureNet(nn.Module):
    """Small CNN: RGB images in [0, 1] at 64x64 -> a 128-d pooled embedding, plus linear heads on that embedding.

    The embedding is the spatial mean of the last (post-ReLU) feature map, like Inception's pool features; the heads
    (domain, degradation, procedural attributes) are linear in it, so stored features give attribute predictions.
    """

    def __init__(self, *, widths: Sequence[int] = (32, 64, 128, 128, 128), strides: Sequence[int] = (2, 2, 2, 2, 1),
                 head_sizes: Sequence[int] = (), input_size: int = 64):
        super().__init__()
        if len(widths) != len(strides):
            raise ValueError(f"widths {tuple(widths)} and strides {tuple(strides)} must have the same length")
        layers: list[nn.Module] = []
        channels = 3
        for width, stride in zip(widths, strides):
            layers += [nn.Conv2d(channels, width, kernel_size=3, stride=stride, padding=1, bias=False),
                       nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            channels = width
        self.trunk = nn.Sequential(*layers)
        self.heads = nn.ModuleList(nn.Linear(channels, size) for size in head_sizes)
        self.input_size = int(input_size)
        self.feature_dim = channels
        self.meta: dict[str, Any] = {}

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Embedding (N, feature_dim) of images (N, 3, input_size, input_size) in [0, 1]."""
        return self.trunk(x * 2.0 - 1.0).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Embedding and the outputs of every head."""
        z = self.embed(x)
        return z, [head(z) for head in self.heads]


@functools.lru_cache(maxsize=4)
def load_feature_net(path: str | Path | None = None) -> FeatureNet:
    """Load the package's feature extractor (default: the committed weights) in eval mode; cached per path."""
    path = Path(path) if path is not None else WEIGHTS_PATH
    if not path.is_file():
        raise FileNotFoundError(f"feature-extractor weights not found at {path}; recreate them with "
                                f"`python scripts/train_feature_extractor.py --out {path}`")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    meta = blob["meta"]
    net = FeatureNet(widths=meta["widths"], strides=meta["strides"], input_size=meta["input_size"],
                     head_sizes=[len(h["classes"]) if h["kind"] == "categorical" else 1 for h in meta["heads"]])
    missing, unexpected = net.load_state_dict({k: v.float() for k, v in blob["state_dict"].items()}, strict=False)
    wrong = [k for k in missing if not k.endswith("num_batches_tracked")] + list(unexpected)
    if wrong:
        raise RuntimeError(f"{path} does not match the network its metadata describes (keys {wrong[:4]}); "
                           f"recreate it with `python scripts/train_feature_extractor.py --out {path}`")
    net.meta = meta
    return net.eval().requires_grad_(False)


def _inception_weights() -> Path | None:
    env = os.environ.get(INCEPTION_ENV)
    if env:
        path = Path(env).expanduser()
        if path.is_file():
            return path
        logger.warning("%s=%s is not a file: Inception-v3 features are unavailable. Point it at "
                       "%s (the torch-fidelity weights).", INCEPTION_ENV, env, _INCEPTION_FILE)
        return None
    cached = Path(torch.hub.get_dir()) / "checkpoints" / _INCEPTION_FILE
    return cached if cached.is_file() else None


@functools.lru_cache(maxsize=2)
def _load_inception(path: str) -> nn.Module | None:
    try:
        from torchmetrics.image.fid import NoTrainInceptionV3

        model = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"],
                                   feature_extractor_weights_path=path)
    except Exception as err:  # missing torchmetrics / torch-fidelity, or an unreadable file: fall back
        logger.warning("Inception-v3 weights at %s could not be loaded through torchmetrics (%s: %s); install the "
                       "inception extra (pip install -e \".[inception]\") to use them.", path, type(err).__name__, err)
        return None
    return model.eval().requires_grad_(False)


def _inception() -> nn.Module | None:
    path = _inception_weights()
    return _load_inception(str(path)) if path is not None else None


def available_features() -> list[str]:
    """Feature extractors usable on this machine now, preferred first."""
    return ([INCEPTION] if _inception() is not None else []) + [SYNTHETIC]


def resolve_features(features: str = "auto") -> str:
    """Turn ``"auto"`` into the extractor that will be used; check that a named one is available."""
    global _AUTO_NOTE_SHOWN
    if features == "auto":
        if _inception() is not None:
            return INCEPTION
        if not _AUTO_NOTE_SHOWN:
            logger.info("Inception-v3 weights not found locally (set %s to use them): metrics use the %s "
                        "features, not comparable to published FID.", INCEPTION_ENV, SYNTHETIC)
            _AUTO_NOTE_SHOWN = True
        return SYNTHETIC
    if features == SYNTHETIC:
        return SYNTHETIC
    if features == INCEPTION:
        if _inception() is None:
            raise RuntimeError(f"features={INCEPTION!r} needs the Inception-v3 weights on disk and torchmetrics: "
                               f"`pip install -e \".[inception]\"` and set {INCEPTION_ENV} to the path of "
                               f"{_INCEPTION_FILE}, or use features='auto' / {SYNTHETIC!r}.")
        return INCEPTION
    raise ValueError(f"features={features!r} is not known; use 'auto', {SYNTHETIC!r} or {INCEPTION!r}")


def images_from(source: Any, *, value_range: Sequence[float] = (-1.0, 1.0)) -> tuple[torch.Tensor, tuple[float, float]]:
    """Images (N, 3, H, W) and their value range from a tensor or a dataset (``to_uint8()`` or ``ds[i]`` items)."""
    if isinstance(source, torch.Tensor):
        images = source
    elif hasattr(source, "to_uint8"):
        images = source.to_uint8()
    elif hasattr(source, "__len__") and hasattr(source, "__getitem__"):
        items = [source[i] for i in range(len(source))]
        images = torch.stack([it[0] if isinstance(it, (tuple, list)) else it for it in items])
        value_range = getattr(source, "value_range", value_range)
    else:
        raise TypeError(f"expected images as a tensor (N, 3, H, W) or a dataset, got {type(source).__name__}")
    images = images.unsqueeze(0) if images.ndim == 3 else images
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected images of shape (N, 3, H, W), got {tuple(images.shape)}")
    if images.shape[0] == 0:
        raise ValueError("got an empty image set; metrics need at least 2 images")
    lo, hi = float(value_range[0]), float(value_range[1])
    if images.dtype != torch.uint8:
        _check_range(images, (lo, hi))
    return images, (lo, hi)


def _check_range(images: torch.Tensor, value_range: tuple[float, float]) -> None:
    lo, hi = value_range
    x_min, x_max = float(images.min()), float(images.max())
    margin = 0.05 * (hi - lo)
    if x_min < lo - margin or x_max > hi + margin:
        logger.warning("images span [%.3g, %.3g], outside value_range=(%g, %g); values are clipped. "
                       "Pass the generator's output range as value_range.", x_min, x_max, lo, hi)
    elif lo < 0 <= x_min and images.shape[0] >= 16:
        logger.warning("all image values are >= 0 but value_range=(%g, %g); if the images are in (0, 1) "
                       "(a sigmoid generator) pass value_range=(0, 1).", lo, hi)


@torch.inference_mode()
def _run(model_fn, images: torch.Tensor, *, batch_size: int, device: torch.device, desc: str) -> torch.Tensor:
    starts = progress(range(0, images.shape[0], batch_size), desc=desc, unit="batch", delay=2, leave=False)
    chunks = [model_fn(images[i:i + batch_size].to(device)) for i in starts]
    return torch.cat([c.to("cpu", torch.float64) for c in chunks])


def extract_features(images: Any, *, features: str = "auto", value_range: Sequence[float] = (-1.0, 1.0),
                     batch_size: int = 256, device: str | torch.device | None = None) -> Features:
    """Feature vectors of an image set (tensor in ``value_range`` or uint8, or a dataset) with the chosen extractor."""
    if isinstance(images, Features):
        if features not in ("auto", images.name):
            raise ValueError(f"these features were computed with {images.name!r}, not {features!r}")
        return images
    name = resolve_features(features)
    x, vr = images_from(images, value_range=value_range)
    dev = torch.device(device) if device is not None else x.device
    if name == INCEPTION:
        model = _inception().to(dev)

        def fn(batch: torch.Tensor) -> torch.Tensor:
            return model(to_uint8(batch, vr).expand(-1, 3, -1, -1))
    else:
        net = load_feature_net().to(dev)
        size = net.input_size

        def fn(batch: torch.Tensor) -> torch.Tensor:
            u = to_unit(batch, vr).expand(-1, 3, -1, -1)
            if u.shape[-2:] != (size, size):
                u = F.interpolate(u, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
            return net.embed(u)
    return Features(_run(fn, x, batch_size=batch_size, device=dev, desc=f"{name} features"), name)
