"""Refresh the committed outputs of the notebooks' checked cells, the ones marked ``# NBVAL_CHECK_OUTPUT``.

``make test`` runs ``pytest --nbval-lax notebooks``: nbval executes every notebook under the smoke profile and compares
the outputs of the checked cells (the report's architectures, parameter counts and priors) with the outputs committed
in the notebook; every other cell is committed without outputs. This script executes each notebook the same way
(``FACEGEN_PROFILE=smoke TQDM_DISABLE=1 FACEGEN_OUTPUT_DIR=<a temporary folder>``, kernel ``python3``, run in
``notebooks/``) and writes back only the outputs of the checked cells. Nothing else of the notebook changes: cell
ids, sources and metadata stay as they are, unchecked cells lose any output, and no timing or kernel metadata is
added, so a second run leaves the files byte for byte the same.

nbval ignores the committed outputs of a cell whose ``execution_count`` is None (and fails if it has outputs), so a
checked cell gets its position among the code cells (1, 2, ...) as its execution count; the others keep None.
A checked cell that writes to stderr (a warning, a log line) is refused: its output must be deterministic.

Usage::

    .venv/bin/python scripts/refresh_checked_outputs.py          # all the notebooks
    .venv/bin/python scripts/refresh_checked_outputs.py 05 03    # some of them, by number or path
    .venv/bin/python scripts/refresh_checked_outputs.py --check  # write nothing; exit 1 if a committed output is stale
"""
from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
MARKER = "NBVAL_CHECK_OUTPUT"
SMOKE_ENV = {"FACEGEN_PROFILE": "smoke", "TQDM_DISABLE": "1"}


def is_checked(cell: nbformat.NotebookNode) -> bool:
    """Whether nbval compares this cell's output: a code cell with a ``# NBVAL_CHECK_OUTPUT`` comment line."""
    comments = [line.strip() for line in cell.source.splitlines() if line.strip().startswith("#")]
    return cell.cell_type == "code" and any(line.lstrip("#").strip() == MARKER for line in comments)


def notebook_paths(names: list[str]) -> list[Path]:
    """The notebooks named by number ("05"), file name or path; all of them when ``names`` is empty."""
    every = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    if not names:
        return every
    paths = []
    for name in names:
        found = [p for p in every if p.stem[:2] == name.zfill(2) or p.name == Path(name).name]
        if len(found) != 1:
            raise SystemExit(f"no notebook {name!r}; choose from {', '.join(p.name for p in every)}")
        paths += found
    return paths


@contextmanager
def smoke_environment(output_dir: Path) -> Iterator[None]:
    """The environment of ``make test`` for the kernels started inside the block (they inherit it)."""
    values = {**SMOKE_ENV, "FACEGEN_OUTPUT_DIR": str(output_dir)}
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def execute(path: Path, output_dir: Path) -> nbformat.NotebookNode:
    """Run a stripped copy of the notebook in ``notebooks/`` under the smoke profile and return it with its outputs."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    with smoke_environment(output_dir):
        NotebookClient(nb, timeout=1800, kernel_name="python3", record_timing=False,
                       resources={"metadata": {"path": str(NOTEBOOK_DIR)}}).execute()
    return nb


def clean_outputs(outputs: list, execution_count: int, where: str) -> list:
    """The outputs as committed: consecutive stdout text merged, no output metadata, no stderr, no errors."""
    cleaned: list = []
    for output in outputs:
        kind = output.output_type
        if kind == "stream" and output.name == "stderr":
            raise SystemExit(f"{where} wrote to stderr, so its output is not deterministic enough to check:\n"
                             f"{output.text}")
        if kind == "error":
            raise SystemExit(f"{where} raised {output.ename}: {output.evalue}")
        if kind == "stream":
            if cleaned and cleaned[-1].output_type == "stream":
                cleaned[-1].text += output.text
            else:
                cleaned.append(nbformat.v4.new_output("stream", name="stdout", text=output.text))
        elif kind == "execute_result":
            cleaned.append(nbformat.v4.new_output(kind, data=copy.deepcopy(output.data),
                                                  execution_count=execution_count))
        else:
            cleaned.append(nbformat.v4.new_output(kind, data=copy.deepcopy(output.data)))
    return cleaned


def refreshed(path: Path, output_dir: Path) -> tuple[str, list[str]]:
    """The notebook's text with fresh outputs in its checked cells and none elsewhere, and the checked cells' ids."""
    nb = nbformat.read(path, as_version=4)
    ran = execute(path, output_dir)
    checked, number = [], 0
    for cell, ran_cell in zip(nb.cells, ran.cells, strict=True):
        if cell.cell_type != "code":
            continue
        number += 1
        if is_checked(cell):
            where = f"{path.name}, cell {cell.get('id')}"
            cell.outputs = clean_outputs(ran_cell.outputs, number, where)
            if not cell.outputs:
                raise SystemExit(f"{where} is marked # {MARKER} but printed nothing")
            cell.execution_count = number
            checked.append(cell.get("id"))
        else:
            cell.outputs, cell.execution_count = [], None
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n", checked  # nbformat.write adds the same final newline


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="notebook numbers or paths (default: all)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a committed output is stale")
    args = parser.parse_args(argv)
    stale = []
    with tempfile.TemporaryDirectory(prefix="facegen-refresh-") as tmp:
        for path in notebook_paths(args.notebooks):
            text, checked = refreshed(path, Path(tmp) / path.stem)
            changed = text != path.read_text(encoding="utf-8")
            if changed and not args.check:
                path.write_text(text, encoding="utf-8")
            state = ("stale" if args.check else "updated") if changed else "unchanged"
            print(f"{path.name}: {len(checked)} checked cell(s) {', '.join(checked) or '-'}: {state}", flush=True)
            stale += [path.name] if changed else []
    if args.check and stale:
        print(f"stale: {', '.join(stale)}; run {Path(__file__).relative_to(ROOT)} to refresh them", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
