"""The loss history: one row per iteration, read from the device in groups so logging does not stall a GPU."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

__all__ = ["LossLog"]


class LossLog:
    """Per-iteration values (epoch, step and one column per loss), with per-epoch means."""

    def __init__(self, columns: list[str]) -> None:
        self.columns = list(columns)
        self._data: dict[str, list] = {name: [] for name in ("epoch", "step", *self.columns)}
        self._pending: list[tuple[int, int, tuple[str, ...], torch.Tensor]] = []
        self._frame: pd.DataFrame | None = None

    def __len__(self) -> int:
        return len(self._data["step"])

    def record(self, epoch: int, step: int, values: dict[str, torch.Tensor]) -> None:
        """Queue one iteration's values (0-dim tensors, still on the device); a value left out reads as NaN."""
        stacked = torch.stack([v.detach().float().reshape(()) for v in values.values()])
        self._pending.append((epoch, step, tuple(values), stacked))

    def flush(self) -> tuple[int, int, dict[str, float]] | None:
        """Copy the queued values to the host; stop at the first non-finite iteration: its (epoch, step, values)."""
        if not self._pending:
            return None
        flat = torch.cat([values for *_, values in self._pending]).cpu().double().numpy()
        pending, self._pending = self._pending, []
        self._frame = None
        start = 0
        for epoch, step, names, _ in pending:
            row = flat[start:start + len(names)]
            start += len(names)
            values = dict(zip(names, row.tolist()))
            if not np.isfinite(row).all():
                return epoch, step, values
            values.update(epoch=epoch, step=step)
            for name, column in self._data.items():
                column.append(values.get(name, math.nan))
        return None

    def latest(self) -> dict[str, float]:
        """The last recorded value of every column that has one in the last row."""
        return {c: self._data[c][-1] for c in self.columns if self._data[c] and not math.isnan(self._data[c][-1])}

    @property
    def frame(self) -> pd.DataFrame:
        """The recorded iterations as a DataFrame (columns epoch, step, then the losses)."""
        if self._frame is None:
            self._frame = pd.DataFrame({k: pd.Series(v, dtype="int64" if k in ("epoch", "step") else "float64")
                                        for k, v in self._data.items()})
        return self._frame

    def epoch_means(self) -> pd.DataFrame:
        """One row per epoch: its last step and the mean of every loss column (missing values skipped)."""
        means = self.frame.groupby("epoch", as_index=False).agg({"step": "max", **{c: "mean" for c in self.columns}})
        return means.reset_index(drop=True)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The recorded values as tensors, for a checkpoint that loads with ``weights_only=True``."""
        return {k: torch.tensor(v, dtype=torch.int64 if k in ("epoch", "step") else torch.float64)
                for k, v in self._data.items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Replace the history by the one of a checkpoint."""
        if missing := [k for k in self._data if k not in state]:
            raise ValueError(f"the checkpoint's loss history lacks the column(s) {missing}: it was written for "
                             f"another objective (its columns: {list(state)}).")
        self._data = {k: state[k].tolist() for k in self._data}
        self._pending = []
        self._frame = None
