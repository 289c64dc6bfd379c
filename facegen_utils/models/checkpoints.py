"""Loading weights safely: a checkpoint of another architecture is rejected with a message that says why."""
from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

GUESS_SIZES = (16, 32, 64, 128)
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # DistributedDataParallel, torch.compile
_ROLES = {"G": "generator (G)", "D": "discriminator/critic (D)", "vae": "VAE"}


class ArchitectureMismatchError(ValueError):
    """The weights in a checkpoint do not fit the model they are loaded into."""


def _as_state_dict(state_dict: Mapping[str, object]) -> dict[str, torch.Tensor]:
    """Validate that ``state_dict`` maps names to tensors (not a whole checkpoint dict)."""
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"expected a state_dict (a mapping of names to tensors), got {type(state_dict).__name__}")
    not_tensors = [k for k, v in state_dict.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise TypeError(f"expected a state_dict (names -> tensors) but some entries are not tensors "
                        f"({', '.join(map(repr, not_tensors[:5]))}); "
                        "pass the entry of one network, e.g. checkpoint['G'].")
    return dict(state_dict)


def _unwrap(state_dict: dict[str, torch.Tensor], model_keys: set[str]) -> dict[str, torch.Tensor]:
    """Remove DistributedDataParallel/torch.compile key prefixes that the model itself does not use."""
    changed = True
    while changed and state_dict:
        changed = False
        for prefix in _WRAPPER_PREFIXES:
            if all(k.startswith(prefix) for k in state_dict) and not any(k.startswith(prefix) for k in model_keys):
                state_dict = {k[len(prefix):]: v for k, v in state_dict.items()}
                changed = True
    return state_dict


def _shapes(state_dict: Mapping[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in state_dict.items()}


def describe_model(model: nn.Module) -> str:
    """Short description such as "Generator of 'dcgan' at image_size=64 (3,576,704 parameters)"."""
    parts = [type(model).__name__]
    if getattr(model, "model_name", None):
        parts.append(f"of {model.model_name!r}")
    if getattr(model, "image_size", None):
        parts.append(f"at image_size={model.image_size}")
    count = sum(p.numel() for p in model.parameters())
    return " ".join(parts) + f" ({count:,} parameters)"


def check_compatible(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> list[str]:
    """List what stops ``state_dict`` from loading into ``model``: missing/unexpected keys, shape mismatches."""
    expected = _shapes(model.state_dict())
    found = _shapes(_unwrap(_as_state_dict(state_dict), set(expected)))
    problems = []
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    mismatched = [k for k in expected if k in found and found[k] != expected[k]]
    if missing:
        problems.append(f"{len(missing)} missing key(s): {_listing(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s): {_listing(unexpected)}")
    if mismatched:
        pairs = [f"{k} is {found[k]} in the checkpoint but {expected[k]} in the model" for k in mismatched]
        problems.append(f"{len(mismatched)} shape mismatch(es): {_listing(pairs, sep='; ')}")
    return problems


def _listing(items: list[str], *, sep: str = ", ", limit: int = 4) -> str:
    more = f"{sep}... ({len(items) - limit} more)" if len(items) > limit else ""
    return sep.join(items[:limit]) + more


def guess_architecture(state_dict: Mapping[str, torch.Tensor]) -> str | None:
    """Say which registered network (default options, image_size 16–128) these weights belong to, if any."""
    from .registry import build, names

    found = _shapes(_as_state_dict(state_dict))
    exact: list[str] = []
    similar: list[str] = []
    for name in names():
        for size in GUESS_SIZES:
            try:
                with torch.device("meta"):
                    models = build(name, image_size=size)
            except ValueError:
                continue
            for role, module in models.modules().items():
                expected = _shapes(module.state_dict())
                found_here = _shapes(_unwrap(dict(state_dict), set(expected)))
                if found_here == expected:
                    exact.append(f"the {_ROLES[role]} of {name!r} at image_size={size}")
                elif set(found_here) == set(expected):
                    similar.append(f"the {_ROLES[role]} of {name!r}")
    if exact:
        return " or ".join(dict.fromkeys(exact))
    if similar:
        return " or ".join(dict.fromkeys(similar)) + " built with other settings (image_size, latent_dim or widths)"
    return None


def load_state_dict_checked(model: nn.Module, state_dict: Mapping[str, torch.Tensor], *,
                            source: str = "checkpoint") -> nn.Module:
    """Load ``state_dict`` into ``model`` strictly, or raise ArchitectureMismatchError explaining the difference."""
    problems = check_compatible(model, state_dict)
    if problems:
        guess = guess_architecture(state_dict)
        lines = [f"{source} does not fit the {describe_model(model)}:", *(f"  - {p}" for p in problems)]
        lines.append(f"The weights look like {guess}." if guess else
                     "The weights match none of the registered models at their default settings.")
        lines.append("Build the model with the settings the checkpoint was trained with (models.build(name, "
                     "image_size=..., latent_dim=..., ...)), or start a new run in another output directory.")
        raise ArchitectureMismatchError("\n".join(lines))
    model.load_state_dict(_unwrap(_as_state_dict(state_dict), set(model.state_dict())))
    return model
