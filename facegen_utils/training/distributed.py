"""Several processes through PyTorch's own distributed engine (``torchrun --nproc_per_node N``).

``torchrun`` starts one process per GPU and sets RANK, WORLD_SIZE and LOCAL_RANK. The engine then joins the
process group (NCCL on GPUs, gloo on CPUs), wraps the networks in DistributedDataParallel (gradients are averaged
across processes in every backward pass, so the weights stay identical), gives each rank its own share of every
epoch, and lets rank 0 alone log, draw progress grids and write checkpoints. BatchNorm running statistics are
buffers, not gradients: each rank updates its own during an epoch (training normalises with the batch's
statistics, so the weights stay identical regardless), and the engine copies rank 0's to the others at the end of
each epoch, so that all ranks hold the same state when rank 0 writes its checkpoint (see :func:`ddp` for why not at
every forward pass).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

__all__ = ["DistInfo", "from_environment", "init", "ddp", "wrap", "barrier", "broadcast_buffers", "shutdown"]


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: its rank, the number of processes and its GPU index on this machine."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        """True when several processes train together."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on the process that logs and writes files (rank 0)."""
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    if not (text := os.environ.get(name)):
        return default
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"environment variable {name}={text!r} must be an integer (torchrun sets it).") from None


def from_environment() -> DistInfo:
    """Read the rank and world size of a running process group, else those torchrun put in the environment."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), _env_int("LOCAL_RANK", 0))
    info = DistInfo(_env_int("RANK", 0), _env_int("WORLD_SIZE", 1), _env_int("LOCAL_RANK", 0))
    if not 0 <= info.rank < info.world_size:
        raise ValueError(f"RANK={info.rank} must lie in [0, WORLD_SIZE={info.world_size}); start the processes "
                         f"with torchrun --nproc_per_node N.")
    return info


def init(info: DistInfo, device: torch.device) -> None:
    """Join the process group (NCCL for CUDA, gloo otherwise) unless it is joined already or not needed."""
    if not info.enabled or dist.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")


def shutdown() -> None:
    """Leave the process group at the end of a distributed run (call once, after the last ``fit``)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def ddp(module: nn.Module, device: torch.device) -> DistributedDataParallel:
    """DistributedDataParallel around ``module``, its buffers left alone in the forward pass.

    DDP's default copies rank 0's buffers into every rank at each forward call, in place. A discriminator called
    twice before one backward pass (real images, then fakes) then finds its BatchNorm statistics changed under the
    graph, which cuDNN's batch norm saved for the backward pass: autograd stops with "modified by an inplace
    operation" on GPUs (the CPU kernel saves no statistics, so CPUs never showed it). The Trainer copies rank 0's
    buffers once an epoch instead (:func:`broadcast_buffers`)."""
    return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None,
                                   broadcast_buffers=False)


def wrap(module: nn.Module, device: torch.device, info: DistInfo) -> nn.Module:
    """The module itself, or DistributedDataParallel around it (:func:`ddp`) when several processes train."""
    return ddp(module, device) if info.enabled else module


def barrier(info: DistInfo) -> None:
    """Wait for every process (no-op in a single process)."""
    if info.enabled:
        dist.barrier()


@torch.no_grad()
def broadcast_buffers(modules: list[nn.Module], info: DistInfo) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every process."""
    if not info.enabled:
        return
    for module in modules:
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)
