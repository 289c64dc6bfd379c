"""Serving training batches: the whole dataset as one uint8 tensor, indexed in a seeded order every epoch.

Decoding JPEGs every epoch costs more than a small model's training step, so the engine asks the dataset once for all
its images as uint8 (``ds.to_uint8()``), keeps them on the GPU when they fit (else in CPU memory, copied per batch
through pinned memory) and converts each batch to float on the device. The order of epoch ``e`` is a permutation seeded
by (seed, e) alone, so a resumed run sees the same batches; with several processes each rank takes its own strided share
of it (the rule of ``torch.utils.data.DistributedSampler``). Datasets without ``to_uint8`` go through a ``DataLoader``
in the same order. With ``labels`` (one integer row per image, for a conditional objective) every batch comes with
its label rows, which live where the images do.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from facegen_utils._log import logger
from facegen_utils.tensors import from_uint8, from_unit, to_unit

__all__ = ["BatchSource", "derive_seed"]

GPU_SHARE = 0.5  # "auto" keeps the images on the GPU when they take at most this share of its free memory


def derive_seed(*parts: int) -> int:
    """A 63-bit seed that depends on every part (e.g. seed, stream, epoch) and on nothing else."""
    words = np.random.SeedSequence([int(p) for p in parts]).generate_state(2, np.uint32)
    return (int(words[0]) << 31) ^ int(words[1])


class BatchSource:
    """Float image batches on the device, one seeded permutation per epoch, one share of it per process."""

    def __init__(self, data: Dataset | torch.Tensor, *, batch_size: int, value_range: Sequence[float],
                 device: torch.device, seed: int, rank: int = 0, world_size: int = 1, limit: int | None = None,
                 gpu_dataset: str = "auto", num_workers: int = 0, progress: bool = False,
                 labels: torch.Tensor | None = None) -> None:
        self.batch_size, self.device, self.seed = batch_size, device, seed
        self.rank, self.world_size, self.num_workers = rank, world_size, num_workers
        self.images: torch.Tensor | None = None
        self.dataset: Dataset | None = None
        if isinstance(data, torch.Tensor):
            self.images = _checked_uint8(data)[:limit]
        elif hasattr(data, "to_uint8"):
            self.images = _checked_uint8(data.to_uint8(progress=progress))[:limit]
        elif hasattr(data, "__getitem__") and hasattr(data, "__len__"):
            self.dataset = data if limit is None else Subset(data, range(min(limit, len(data))))
        else:
            raise TypeError(f"data must be a torch Dataset or a uint8 tensor (N, 3, H, W), got {type(data).__name__}.")
        self.size = len(self.images) if self.images is not None else len(self.dataset)
        self.labels = None
        if labels is not None:
            if self.images is None:
                raise TypeError("labelled batches need the images as one uint8 tensor (a dataset with to_uint8)")
            self.labels = torch.as_tensor(labels, dtype=torch.long)[:limit]
            if len(self.labels) != self.size:
                raise ValueError(f"got {len(self.labels)} label rows for {self.size} images; one row per image")
        self.steps_per_epoch = self.size // (batch_size * world_size)
        if self.steps_per_epoch == 0:
            raise ValueError(f"the data hold {self.size} images, fewer than one batch (batch_size={batch_size} x "
                             f"{world_size} process(es)); lower batch_size or use more images (limit).")

        self.value_range = tuple(value_range)
        self.source_range = tuple(getattr(data, "value_range", value_range))  # float datasets: their own range
        self._place_images(gpu_dataset)

    def _place_images(self, mode: str) -> None:
        if self.images is None or self.device.type != "cuda" or mode == "off":
            return
        if mode == "auto" and self.images.nbytes > GPU_SHARE * torch.cuda.mem_get_info(self.device)[0]:  # free bytes
            logger.info("keeping the %.2f GiB of uint8 images in CPU memory (more than %d%% of the GPU's free memory); "
                        "batches are copied through pinned memory", self.images.nbytes / 2**30, GPU_SHARE * 100)
            return
        self.images = self.images.to(self.device)
        if self.labels is not None:
            self.labels = self.labels.to(self.device)

    def __len__(self) -> int:
        """Batches per epoch and process."""
        return self.steps_per_epoch

    @property
    def image_shape(self) -> tuple[int, ...]:
        """Shape (C, H, W) of one image."""
        if self.images is not None:
            return tuple(self.images.shape[1:])
        first = self.dataset[0]
        return tuple((first[0] if isinstance(first, (tuple, list)) else first).shape)

    def indices(self, epoch: int) -> torch.Tensor:
        """This process's image indices of ``epoch``, shape (steps_per_epoch, batch_size)."""
        order = torch.randperm(self.size, generator=torch.Generator().manual_seed(derive_seed(self.seed, 0, epoch)))
        used = order[: self.steps_per_epoch * self.batch_size * self.world_size]
        return used[self.rank::self.world_size].view(self.steps_per_epoch, self.batch_size)

    def epoch(self, epoch: int, *, start: int = 0) -> Iterator[torch.Tensor | tuple[torch.Tensor, torch.Tensor]]:
        """Yield the float batches of ``epoch`` on the device, from batch ``start`` on (to resume mid-epoch); with
        labels, (images, label rows) pairs."""
        batches = self.indices(epoch)[start:]
        if self.images is None:
            yield from self._from_loader(batches)
            return
        for idx in batches.to(self.images.device):
            batch = self.images.index_select(0, idx)
            if batch.device != self.device:
                batch = (batch.pin_memory() if self.device.type == "cuda" else batch).to(self.device, non_blocking=True)
            if self.labels is None:
                yield self._to_float(batch)
            else:
                yield self._to_float(batch), self.labels.index_select(0, idx).to(self.device)  # idx is where both live

    def _from_loader(self, batches: torch.Tensor) -> Iterator[torch.Tensor]:
        loader = DataLoader(self.dataset, batch_sampler=batches.tolist(), num_workers=self.num_workers,
                            pin_memory=self.device.type == "cuda")
        for batch in loader:
            batch = batch[0] if isinstance(batch, (tuple, list)) else batch
            yield self._to_float(batch.to(self.device, non_blocking=True))

    def _to_float(self, batch: torch.Tensor) -> torch.Tensor:
        if batch.dtype == torch.uint8:
            return from_uint8(batch, self.value_range)
        return from_unit(to_unit(batch, self.source_range, clamp=False), self.value_range)


def _checked_uint8(images: torch.Tensor) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4:
        what = f"{images.dtype} tensor of shape {tuple(images.shape)}" if isinstance(images, torch.Tensor) else \
            type(images).__name__
        raise ValueError(f"expected the images as a uint8 tensor (N, C, H, W), got a {what}; convert float images in "
                         f"[0, 1] with (x * 255).round().to(torch.uint8), or pass the dataset itself.")
    return images
