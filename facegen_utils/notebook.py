"""The second cell of every notebook: check the parameters cell and turn it into one training setting.

A notebook's parameters cell (tagged ``parameters`` for papermill) holds literals only::

    profile = "quick"      # "smoke" | "quick" | "report"
    epochs = None          # None: the profile's value
    ...

and the next cell calls ``run = fu.notebook.setup("05", globals())``. Where each value comes from, strongest
first:

1. a value papermill injected (``papermill … -p epochs 3``);
2. the ``FACEGEN_*`` environment variable of that parameter (``FACEGEN_PROFILE=smoke`` shrinks a run under nbval
   or ``make run`` without editing the notebook; see :data:`facegen_utils.profiles.ENV_VARS`);
3. a value written in the parameters cell other than ``None``;
4. the profile (:mod:`facegen_utils.profiles`).

``output_dir`` defaults to ``outputs/<notebook name>`` in the checkout; ``FACEGEN_OUTPUT_DIR`` names a parent folder
for all notebooks (each writes into its own sub-folder), so one variable can redirect a whole test run.

Papermill's injected cell is recognised in the kernel's input history (the cell that starts with
``# Parameters``), so an injected value wins even when it equals the notebook's default. A name that is not a
parameter of the notebook — a misspelling such as ``-p epoch 3`` — stops the notebook with a message naming the
accepted parameters.
"""
from __future__ import annotations

import ast
import random
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch

from facegen_utils import profiles
from facegen_utils.device import resolve_device
from facegen_utils.spec import check_choice, suggest

#: the parameters every notebook has (its knobs come on top, from its profile)
COMMON_PARAMETERS: tuple[str, ...] = (
    "profile", "dataset", "data_dir", "image_size", "epochs", "batch_size", "limit", "seed", "device", "amp",
    "compile_mode", "output_dir",
)
#: run settings that only some notebooks expose as parameters
NOTEBOOK_PARAMETERS: dict[str, tuple[str, ...]] = {"07": ("conditions",)}
_IGNORED_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open", "display"}
_PAPERMILL_MARKER = "# Parameters"
_CHECKED_FLAG = "_facegen_parameters_checked"


def _knobs(notebook: str) -> list[str]:
    return list(dict.fromkeys(knob for variant in profiles.VARIANTS[notebook]
                              for knob in profiles.get(notebook, "report", variant=variant).knobs))


def parameters(notebook: str | int) -> tuple[str, ...]:
    """Every parameter name the notebook accepts: the common ones, then its own knobs."""
    key, _ = profiles.resolve_notebook(notebook)
    return COMMON_PARAMETERS + NOTEBOOK_PARAMETERS.get(key, ()) + tuple(_knobs(key))


def injected_names(namespace: Mapping[str, Any]) -> set[str]:
    """Names assigned by papermill's injected-parameters cell, read from the kernel's input history."""
    history = namespace.get("In")
    if not isinstance(history, list):
        return set()
    names: set[str] = set()
    for source in history:
        if isinstance(source, str) and source.lstrip().startswith(_PAPERMILL_MARKER):
            try:
                tree = ast.parse(source)
            except SyntaxError:
                continue
            for node in tree.body:
                if isinstance(node, ast.Assign):
                    names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _list_literal(value: Any) -> Any:
    """A list or tuple written as text (papermill's ``-p models '["wgan"]'`` injects a string), parsed; else as is."""
    if isinstance(value, str) and value.strip()[:1] in ("[", "("):
        try:
            parsed = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            return value  # the profile's check names the parameter and what it expects
        return parsed if isinstance(parsed, (list, tuple)) else value
    return value


def _user_names(namespace: Mapping[str, Any]) -> list[str]:
    return [name for name, value in namespace.items()
            if not name.startswith("_") and name not in _IGNORED_NAMES and not isinstance(value, ModuleType)
            and not callable(value)]


@dataclass
class NotebookRun:
    """What a notebook runs with: the resolved profile per variant, where each value came from, the output folder."""

    notebook: str
    profile_name: str
    values: dict[str, Any]
    sources: dict[str, str]
    output_dir: Path
    device: torch.device
    _profiles: dict[str, profiles.Profile] = field(default_factory=dict, repr=False)

    def profile(self, variant: str | None = None) -> profiles.Profile:
        """The complete setting of one model of the notebook (its first variant by default)."""
        variant = variant or profiles.VARIANTS[self.notebook][0]
        if variant not in self._profiles:
            knobs = profiles.get(self.notebook, "report", variant=variant).knobs
            given = {k: v for k, v in self.values.items()
                     if v is not None and k != "profile"
                     and (k in COMMON_PARAMETERS or k in NOTEBOOK_PARAMETERS.get(self.notebook, ()) or k in knobs)}
            given["output_dir"] = str(self.output_dir)
            self._profiles[variant] = profiles.get(self.notebook, self.profile_name, variant=variant, **given)
        return self._profiles[variant]

    def table(self) -> pd.DataFrame:
        """The parameters, their values and where each came from."""
        p = self.profile()
        rows = []
        for name in parameters(self.notebook):
            value = self.values.get(name)
            source = self.sources.get(name, "profile")
            if value is None and name != "profile":
                value = getattr(p, name, None)
            rows.append({"parameter": name, "value": value, "from": source})
        return pd.DataFrame(rows).set_index("parameter")

    def _repr_html_(self) -> str:
        changes = self.profile().changes
        text = "".join(f"<li>{c}</li>" for c in changes) or "<li>none: this is the report's setting</li>"
        return (self.table().to_html() + f"<p>Changes from the report's setting ({self.profile_name} profile):</p>"
                f"<ul>{text}</ul>")

    def __str__(self) -> str:
        lines = [self.table().to_string(), f"changes from the report ({self.profile_name} profile):"]
        lines += [f"  - {c}" for c in self.profile().changes] or ["  none"]
        return "\n".join(lines)


def _project_root() -> Path:
    """The checkout the notebook runs in (found from the working directory), else the working directory."""
    cwd = Path.cwd()
    for folder in (cwd, *cwd.parents):
        if (folder / "notebooks").is_dir() and (folder / "facegen_utils").is_dir():
            return folder
    return cwd


def _output_dir(notebook: str, value: Any, source: str) -> Path:
    """``output_dir`` as given; ``FACEGEN_OUTPUT_DIR`` names a parent shared by all notebooks."""
    name = profiles.NOTEBOOKS[notebook]
    if value is None:
        return _project_root() / "outputs" / name
    return Path(value) / name if source == "environment" else Path(value)


def _inline_figures() -> None:
    """Show matplotlib figures inline when running inside IPython (papermill and nbval kernels included)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and getattr(shell, "kernel", None) is not None:
        shell.run_line_magic("matplotlib", "inline")


def setup(notebook: str | int, namespace: Mapping[str, Any], *, environ: Mapping[str, str] | None = None,
          seed_everything: bool = True) -> NotebookRun:
    """Validate the parameters in ``namespace`` (a notebook's ``globals()``) and resolve the notebook's setting."""
    key, _ = profiles.resolve_notebook(notebook)
    accepted = parameters(key)
    injected = injected_names(namespace)
    # every global is a parameter the first time; a re-run of this cell also sees the notebook's own variables
    candidates = injected if namespace.get(_CHECKED_FLAG) else set(_user_names(namespace)) | injected
    unknown = sorted(n for n in candidates if n not in accepted)
    if unknown:
        name = unknown[0]
        raise ValueError(f"unknown parameter {name!r} for notebook {profiles.NOTEBOOKS[key]}"
                         f"{suggest(name, accepted)}; accepted parameters: {', '.join(accepted)}")
    missing = [n for n in COMMON_PARAMETERS if n not in namespace]
    if missing:
        raise ValueError(f"the parameters cell of {profiles.NOTEBOOKS[key]} lacks {', '.join(missing)}; "
                         "restore it from the repository")
    env = profiles.env_defaults(environ)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name in accepted:
        if name in injected:
            values[name], sources[name] = _list_literal(namespace[name]), "papermill"
        elif name in env:
            values[name], sources[name] = env[name], "environment"
        elif namespace.get(name) is not None:
            values[name], sources[name] = namespace[name], "notebook"
        else:
            values[name], sources[name] = None, "profile"
    profile_name = values["profile"] = values.get("profile") or "quick"
    check_choice("profile", profile_name, profiles.PROFILES)
    output_dir = _output_dir(key, values.get("output_dir"), sources["output_dir"])
    values["output_dir"] = str(output_dir)
    run = NotebookRun(key, profile_name, values, sources, output_dir, torch.device("cpu"))
    for variant in profiles.VARIANTS[key]:
        run.profile(variant)  # validates every value now, before any work is done
    run.device = resolve_device(run.profile().device)
    output_dir.mkdir(parents=True, exist_ok=True)
    if isinstance(namespace, dict):
        namespace[_CHECKED_FLAG] = True
    _inline_figures()
    if seed_everything:
        seed = run.profile().seed
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)
    return run
