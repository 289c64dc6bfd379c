"""Checkpoint files: written atomically, read with ``torch.load(weights_only=True)``.

A checkpoint is one dict of tensors and plain containers (no pickled objects), so loading it never runs code:
the networks' and optimisers' state dicts, the GradScaler, the random-number states, epoch and step, the loss
history, the fixed latent grid, and the run specification (``config``: the TrainConfig, ``model_spec``: what rebuilds
the networks, ``data_spec``: the dataset, absent before format 2) with the package version. It is written to a
temporary file in the same folder, then renamed over the old one: a crash while saving leaves the previous intact.
"""
from __future__ import annotations

import dataclasses
import os
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["FORMAT", "atomic_write", "save", "copy", "weights_only", "load", "rng_state", "set_rng_state",
           "model_spec", "build_models", "load_generator", "stored_config"]

FORMAT = 2  # version of the checkpoint layout; 2 added the run's data spec (format 1 files load without it)
REQUIRED_KEYS = ("format", "model_spec", "models", "config", "epoch", "step")


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(temporary_path)``, then rename the result to ``path``; on any error ``path`` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def save(state: dict[str, Any], path: str | Path) -> Path:
    """Write a checkpoint dict atomically (flushed to disk before it replaces the old file)."""
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
    return atomic_write(path, write)


def copy(source: str | Path, target: str | Path) -> Path:
    """Copy a checkpoint file atomically (e.g. checkpoint.pt to checkpoint_epoch_0005.pt)."""
    return atomic_write(target, lambda tmp: shutil.copyfile(source, tmp))


def weights_only(state: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint dict without the optimiser, GradScaler and random-number states (for sampling and evaluation)."""
    return {key: value for key, value in state.items() if key not in ("optimizers", "scaler", "rng")}


def load(path: str | Path, *, map_location: str | torch.device | None = "cpu") -> dict[str, Any]:
    """Read a training checkpoint safely (``weights_only=True``), or raise an error that says what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist; train first (it is written to out_dir/"
                                f"checkpoint.pt) or give the path of an existing checkpoint.pt.")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated file, a pickle with arbitrary objects, not a torch file at all
        lines = str(exc).splitlines()
        reason = next((line.strip() for line in lines if "WeightsUnpickler error" in line), lines[0] if lines else "")
        raise ValueError(f"{path} is not a readable facegen checkpoint ({type(exc).__name__}: {reason}); use a "
                         f"checkpoint.pt written by the training engine.") from None
    if not isinstance(state, dict) or any(k not in state for k in REQUIRED_KEYS):
        found = list(state)[:8] if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"{path} is not a facegen training checkpoint (it holds {found}); a bare state_dict "
                         f"loads with facegen_utils.models.load_state_dict_checked instead.")
    if state["format"] > FORMAT:
        raise ValueError(f"{path} uses checkpoint format {state['format']}, newer than this package "
                         f"(format {FORMAT}); update facegen_utils.")
    return state


def rng_state(device: torch.device) -> dict[str, Any]:
    """The random-number states of Python, NumPy, torch (CPU) and the GPUs, as plain containers and tensors."""
    np_state = np.random.get_state(legacy=False)
    state: dict[str, Any] = {"python": random.getstate(),
                             "numpy": {"key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
                                       "pos": int(np_state["state"]["pos"]), "has_gauss": int(np_state["has_gauss"]),
                                       "gauss": float(np_state["gauss"])},
                             "torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    """Restore the random-number states saved by :func:`rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np_state = state["numpy"]
    np.random.set_state({"bit_generator": "MT19937",
                         "state": {"key": np_state["key"].cpu().numpy().astype(np.uint32), "pos": np_state["pos"]},
                         "has_gauss": np_state["has_gauss"], "gauss": np_state["gauss"]})
    torch.set_rng_state(state["torch"].cpu())
    if device.type == "cuda" and "cuda" in state and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def model_spec(models: Any) -> dict[str, Any]:
    """What ``build`` needs to make the same networks again: name, image_size, latent_dim and options."""
    return models.spec.as_dict()


def stored_config(state: dict[str, Any], path: str | Path, overrides: dict[str, Any] | None = None) -> Any:
    """The TrainConfig a checkpoint was written with, updated by ``overrides`` (entries unknown here are dropped)."""
    from facegen_utils._log import logger
    from facegen_utils.spec import TrainConfig

    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    if dropped := sorted(set(state["config"]) - fields):
        logger.warning("%s: ignoring config entries this version does not know: %s", path, ", ".join(dropped))
    stored = {k: tuple(v) if k == "betas" else v for k, v in state["config"].items() if k in fields}
    return TrainConfig.from_dict({**stored, **(overrides or {})})


def build_models(spec: dict[str, Any]) -> Any:
    """Rebuild the networks described by a checkpoint's model spec (weights not loaded yet)."""
    from facegen_utils.spec import ModelSpec

    return ModelSpec(**spec).build()


def load_generator(checkpoint_path: str | Path, *, map_location: str | torch.device = "cpu", ema: bool = True) -> Any:
    """The trained networks of a checkpoint as a ModelSet in eval mode; G holds the EMA weights if asked and saved."""
    from facegen_utils.models import load_state_dict_checked

    state = load(checkpoint_path, map_location=map_location)
    models = build_models(state["model_spec"])
    for role, module in models.modules().items():
        load_state_dict_checked(module, state["models"][role], source=f"{checkpoint_path} [{role}]")
    if ema and "G_ema" in state["models"]:
        load_state_dict_checked(models.G, state["models"]["G_ema"], source=f"{checkpoint_path} [G_ema]")
    for module in (models.G, models.D, models.vae):
        if module is not None:
            module.to(map_location).eval()
    return models
