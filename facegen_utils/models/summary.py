"""Keras-style model summaries: a pandas table of layers, output shapes and parameter counts.

Counts follow the Keras convention so that a notebook shows the numbers a Keras report printed: a BatchNorm layer's
moving mean and variance count as non-trainable parameters (Keras ``BatchNormalization`` has four weights per
channel, two of them trainable); PyTorch's ``num_batches_tracked`` counter is not a parameter. Trainable parameters
are exactly the PyTorch parameters with ``requires_grad=True``.
"""
from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch
from torch import nn

from facegen_utils.tensors import eval_mode

COLUMNS = ["layer", "type", "output shape", "params", "trainable"]


def _statistics(module: nn.Module) -> int:
    """BatchNorm moving statistics (running mean and variance) held directly by ``module``."""
    if isinstance(module, nn.modules.batchnorm._NormBase) and module.track_running_stats:
        return sum(buf.numel() for buf in (module.running_mean, module.running_var) if buf is not None)
    return 0


def _counts(module: nn.Module, *, recurse: bool) -> tuple[int, int]:
    """(params in the Keras convention, trainable params) of a module."""
    params = list(module.parameters(recurse=recurse))
    modules = module.modules() if recurse else [module]
    total = sum(p.numel() for p in params) + sum(_statistics(m) for m in modules)
    return total, sum(p.numel() for p in params if p.requires_grad)


def _shape(output: object) -> object:
    """Keras-style output shape with ``None`` for the batch dimension (a tuple of shapes for several outputs)."""
    if isinstance(output, torch.Tensor):
        return (None, *output.shape[1:])
    if isinstance(output, (tuple, list)):
        return tuple(_shape(o) for o in output)
    return None


def _example_input(model: nn.Module, input_size: Sequence[int] | torch.Tensor | None) -> torch.Tensor:
    """A one-sample example input on the model's device: from input_size, a given tensor or ``model.input_shape``."""
    if isinstance(input_size, torch.Tensor):
        return input_size
    shape = input_size if input_size is not None else getattr(model, "input_shape", None)
    if shape is None:
        raise ValueError(f"summary() cannot tell the input shape of {type(model).__name__}: pass input_size (the shape"
                         " of one sample without the batch dimension, e.g. (3, 64, 64)) or an example input tensor.")
    reference = next(model.parameters(), None)
    device = reference.device if reference is not None else torch.device("cpu")
    dtype = reference.dtype if reference is not None and reference.is_floating_point() else torch.float32
    return torch.zeros((1, *tuple(shape)), device=device, dtype=dtype)


def summary(model: nn.Module, input_size: Sequence[int] | torch.Tensor | None = None) -> pd.DataFrame:
    """Run one example through ``model`` and tabulate its leaf layers (layer, type, output shape, params, trainable).

    ``input_size`` is the shape of one sample without the batch dimension (default: ``model.input_shape``) or an
    example batch. The model runs in eval mode without gradients and its train/eval flags are restored, so
    BatchNorm statistics are untouched. Totals in the Keras convention are in ``df.attrs``: ``total``,
    ``trainable``, ``non_trainable`` and ``model`` (the class name).
    """
    example = _example_input(model, input_size)
    rows: list[dict[str, object]] = []
    seen: set[int] = set()

    def record(name: str):
        def hook(module: nn.Module, _inputs: object, output: object) -> None:
            params, trainable = _counts(module, recurse=False) if id(module) not in seen else (0, 0)
            seen.add(id(module))
            rows.append({"layer": name, "type": type(module).__name__, "output shape": _shape(output),
                         "params": params, "trainable": trainable})
        return hook

    leaves = [(name, m) for name, m in model.named_modules() if not any(True for _ in m.children())]
    handles = [m.register_forward_hook(record(name or type(m).__name__)) for name, m in leaves]
    try:
        with eval_mode(model), torch.no_grad():
            model(example)
    finally:
        for handle in handles:
            handle.remove()

    df = pd.DataFrame(rows, columns=COLUMNS)
    total, trainable = _counts(model, recurse=True)
    df.attrs.update({"model": type(model).__name__, "total": total, "trainable": trainable,
                     "non_trainable": total - trainable})
    return df


def format_summary(df: pd.DataFrame) -> str:
    """Render a :func:`summary` table as text in the layout of Keras ``model.summary()``."""
    def shape_text(shape: object) -> str:
        if isinstance(shape, tuple) and shape and isinstance(shape[0], tuple):
            return ", ".join(shape_text(s) for s in shape)
        return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")" if shape is not None else "-"

    cells = [(f"{row['layer']} ({row['type']})", shape_text(row["output shape"]), f"{row['params']:,}")
             for _, row in df.iterrows()]
    header = ("Layer (type)", "Output Shape", "Param #")
    widths = [max(len(c[i]) for c in [header, *cells]) + 3 for i in range(3)]
    width = sum(widths)

    def line(cols: Sequence[str]) -> str:
        return "".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip()

    out = [f'Model: "{df.attrs.get("model", "model")}"', "_" * width, line(header), "=" * width]
    for i, cell in enumerate(cells):
        out.append(line(cell))
        out.append("=" * width if i == len(cells) - 1 else "_" * width)
    if "total" in df.attrs:
        out += [f"Total params: {df.attrs['total']:,}", f"Trainable params: {df.attrs['trainable']:,}",
                f"Non-trainable params: {df.attrs['non_trainable']:,}"]
    return "\n".join(out)
