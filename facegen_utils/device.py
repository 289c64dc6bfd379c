"""Choosing the device to train on: ``"auto"`` means CUDA, then Apple's MPS, then the CPU."""
from __future__ import annotations

import torch

__all__ = ["resolve_device", "describe_device"]

_EXAMPLES = "'auto', 'cpu', 'cuda', 'cuda:1' or 'mps'"


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(name: str | torch.device = "auto", *, local_rank: int = 0) -> torch.device:
    """Turn a device name into a ``torch.device`` that exists here, or raise a ValueError saying what to use.

    ``local_rank`` picks the GPU of this process when several are started by ``torchrun`` and the name gives no
    index ("auto" or "cuda").
    """
    text = str(name).strip().lower()
    if text == "auto":
        text = "cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu"
    try:
        device = torch.device(text)
    except RuntimeError:
        raise ValueError(f"device={name!r} is not a device name; use {_EXAMPLES}.") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={name!r}, but this PyTorch build sees no CUDA GPU "
                             f"(torch {torch.__version__}, CUDA {torch.version.cuda}); use device='auto' or 'cpu'.")
        index = local_rank if device.index is None else device.index
        if index >= torch.cuda.device_count():
            raise ValueError(f"device={name!r} asks for GPU {index}, but only {torch.cuda.device_count()} "
                             f"GPU(s) are visible; use an index below {torch.cuda.device_count()}.")
        return torch.device("cuda", index)
    if device.type == "mps" and not _mps_available():
        raise ValueError(f"device={name!r}, but Apple's MPS backend is not available here; use 'auto' or 'cpu'.")
    if device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device={name!r} is not supported by the training engine; use {_EXAMPLES}.")
    return device


def describe_device(device: torch.device) -> str:
    """One line naming the device for logs and benchmark tables, e.g. ``cuda:0 (NVIDIA H100, 79.1 GiB)``."""
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"{device} ({props.name}, {props.total_memory / 2**30:.1f} GiB)"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(device)
