"""facegen_utils — the shared package of the facegen notebooks.

Datasets (procedural and real), models of the reports (GANs, VAE, a diffusion U-Net), losses, latent priors, diffusion
samplers, conditions for a conditional GAN, one training engine, metrics, plots and latent-space widgets. Notebooks import it once:
``import facegen_utils as fu``.
Submodules load on first attribute access, so ``import facegen_utils`` stays cheap.
"""
from __future__ import annotations

import importlib
from types import ModuleType

__version__ = "0.1.0"

_SUBMODULES = (
    "datasets", "eda", "models", "losses", "noise", "training", "profiles", "metrics", "viz", "widgets",
    "device", "cli", "notebook", "gallery", "conclusions", "tensors", "spec", "pretrained", "latent", "diffusion",
    "conditioning",
)

__all__ = ["__version__", *_SUBMODULES]


def __getattr__(name: str) -> ModuleType:
    """Import a submodule the first time it is used as an attribute of the package."""
    if name in _SUBMODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'facegen_utils' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
