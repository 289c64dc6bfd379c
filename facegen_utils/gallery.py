"""`make run`: execute the notebooks with papermill and collect what they produced into one HTML gallery.

Each notebook ends by calling :func:`record`, which writes ``summary.json`` into its output folder (title, key
numbers, images). :func:`run_all` executes every notebook into ``<out>/<notebook>/`` (with an HTML copy made by
nbconvert beside it), then :func:`write_index` turns the summaries into ``<out>/index.html``, one section per
notebook, with a preview of the built-in datasets at the top.
"""
from __future__ import annotations

import html
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from facegen_utils._log import logger, progress as _progress

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
SUMMARY_FILE = "summary.json"


@dataclass
class NotebookRun:
    """The outcome of executing one notebook."""

    name: str
    output_dir: Path
    seconds: float
    error: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)


def record(output_dir: str | Path, *, title: str, numbers: Mapping[str, Any] | None = None,
           images: Mapping[str, str | Path] | None = None, notes: str = "") -> Path:
    """Write ``summary.json`` (title, key numbers, captioned images) for the gallery and return its path.

    An image whose path is None (a figure this run did not make) is left out.
    """
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {caption: Path(path) for caption, path in (images or {}).items() if path is not None}
    rel_images = {caption: os.path.relpath(path.resolve(), out.resolve()) if path.is_absolute() or path.exists()
                  else str(path) for caption, path in paths.items()}
    clean_numbers = {k: _plain(v) for k, v in (numbers or {}).items()}
    summary = {"title": title, "numbers": clean_numbers, "images": rel_images, "notes": notes}
    target = out / SUMMARY_FILE
    target.write_text(json.dumps(summary, indent=2))
    return target


def quality(table: Any, *, label: str = "{}") -> dict[str, str]:
    """Gallery numbers "precision / coverage <row>" -> "0.86 / 0.68" for each row of a metrics table (rows of
    :func:`facegen_utils.metrics.evaluate`); ``label`` formats each row's index value ("epoch {}" -> "epoch 25").

    The gallery then shows what the course judges quality by (the k-NN precision and Naeem et al.'s 2020 coverage),
    beside the FID.
    """
    missing = sorted({"precision", "coverage"} - set(table.columns))
    if missing:
        raise ValueError(f"the table has no {' and no '.join(missing)} column: score it with fu.metrics.evaluate's "
                         "default metrics")
    return {f"precision / coverage {label.format(index)}": f"{row['precision']:.2f} / {row['coverage']:.2f}"
            for index, row in table.iterrows()}


def _plain(value: Any) -> Any:
    """Make numbers JSON-friendly (tensors, numpy scalars, rounding of long floats)."""
    if hasattr(value, "item") and callable(value.item):
        try:
            value = value.item()
        except (ValueError, RuntimeError):
            value = str(value)
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, (int, str, bool)) or value is None:
        return value
    return str(value)


def find_notebooks(names: Iterable[str] | None = None, *, directory: Path = NOTEBOOK_DIR) -> list[Path]:
    """The notebooks to run, in order; ``names`` selects by prefix ("01") or stem."""
    found = sorted(p for p in directory.glob("[0-9][0-9]_*.ipynb"))
    if names is None:
        return found
    chosen = []
    for name in names:
        matches = [p for p in found if p.stem == name or p.stem.startswith(f"{name}_") or p.name == name]
        if not matches:
            raise ValueError(f"no notebook matches {name!r}; available: {', '.join(p.stem for p in found)}")
        chosen.extend(m for m in matches if m not in chosen)
    return chosen


def run_notebook(path: Path, out: Path, *, profile: str, parameters: Mapping[str, Any] | None = None,
                 progress: bool = True) -> NotebookRun:
    """Execute one notebook with papermill into ``out/<stem>/`` and read back its summary."""
    import papermill

    target_dir = out / path.stem
    target_dir.mkdir(parents=True, exist_ok=True)
    params = {"profile": profile, "output_dir": str(target_dir.resolve()), **(parameters or {})}
    start = time.perf_counter()
    error = None
    try:
        papermill.execute_notebook(str(path), str(target_dir / path.name), parameters=params,
                                   kernel_name="python3", progress_bar=progress, cwd=str(path.parent))
    except Exception as exc:  # papermill raises PapermillExecutionError with the failing cell
        error = f"{type(exc).__name__}: {exc}"
        logger.error("notebook %s failed; the executed copy with the error is %s", path.name,
                     target_dir / path.name)
    seconds = time.perf_counter() - start
    if (target_dir / path.name).is_file():
        export_html(target_dir / path.name)
    summary_path = target_dir / SUMMARY_FILE
    summary = json.loads(summary_path.read_text()) if summary_path.exists() and error is None else {}
    return NotebookRun(path.stem, target_dir, seconds, error, summary)


def export_html(notebook: Path) -> Path | None:
    """Write an HTML copy of an executed notebook beside it; None, with a warning, when nbconvert fails."""
    target = notebook.with_suffix(".html")
    target.unlink(missing_ok=True)  # never link a copy left by an earlier run
    try:
        from nbconvert import HTMLExporter

        body, _ = HTMLExporter().from_filename(str(notebook))
    except Exception as exc:  # a broken notebook or a missing nbconvert template: the gallery links the .ipynb only
        logger.warning("could not convert %s to HTML (%s: %s)", notebook.name, type(exc).__name__, exc)
        return None
    target.write_text(body, encoding="utf-8")
    return target


def dataset_preview(out: Path) -> dict[str, str]:
    """Write sample grids and EDA figures of the built-in datasets into ``out/datasets`` and return them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from facegen_utils import datasets, eda, viz

    folder = out / "datasets"
    folder.mkdir(parents=True, exist_ok=True)
    images: dict[str, str] = {}
    for name in ("synthetic-faces", "synthetic-paintings"):
        ds = datasets.get(name, image_size=64, limit=512)
        u8 = ds.to_uint8()
        grid = viz.save_grid(u8[:64], folder / f"{name}_grid.png", value_range=(0, 255))
        images[f"{name}: 64 samples"] = os.path.relpath(grid, out)
        stats = eda.pixel_statistics(u8)
        fig_path = folder / f"{name}_pixel_statistics.png"
        viz.save_figure(stats.figure, fig_path)
        plt.close(stats.figure)
        images[f"{name}: per-pixel statistics over {len(u8)} images"] = os.path.relpath(fig_path, out)
    return images


def write_index(out: Path, runs: list[NotebookRun], preview: Mapping[str, str], *, profile: str) -> Path:
    """Write ``out/index.html``: the datasets preview, then one section per notebook run."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>facegen gallery</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
        "figure{display:inline-block;margin:.5em;vertical-align:top}figure img{max-width:520px;"
        "image-rendering:pixelated;border:1px solid #ccc}figcaption{font-size:.85em;color:#555;max-width:520px}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}"
        ".error{color:#a00;white-space:pre-wrap}</style></head><body>",
        f"<h1>facegen gallery</h1><p>Profile <b>{html.escape(profile)}</b>, generated "
        f"{time.strftime('%Y-%m-%d %H:%M')}. Each section links the executed notebook (HTML and .ipynb).</p>",
    ]
    if preview:
        parts.append("<h2>Built-in datasets</h2>")
        parts += [_figure(src, caption) for caption, src in preview.items()]
    for run in runs:
        rel_dir = os.path.relpath(run.output_dir, out)
        title = run.summary.get("title", run.name)
        links = [f"<a href='{html.escape(f'{rel_dir}/{name}')}'>{label}</a>" for name, label in
                 ((f"{run.name}.html", "executed notebook"), (f"{run.name}.ipynb", ".ipynb"))
                 if (run.output_dir / name).is_file()]
        parts.append(f"<h2>{html.escape(title)}</h2><p>{' · '.join([*links, f'{run.seconds:.0f} s'])}</p>")
        if run.error:
            parts.append(f"<p class='error'>Failed: {html.escape(run.error[-2000:])}</p>")
            continue
        numbers = run.summary.get("numbers", {})
        if numbers:
            rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                           for k, v in numbers.items())
            parts.append(f"<table>{rows}</table>")
        for caption, src in run.summary.get("images", {}).items():
            parts.append(_figure(f"{rel_dir}/{src}", caption))
        if run.summary.get("notes"):
            parts.append(f"<p>{html.escape(run.summary['notes'])}</p>")
    parts.append("</body></html>")
    index = out / "index.html"
    index.write_text("\n".join(parts))
    return index


def _figure(src: str, caption: str) -> str:
    return (f"<figure><img src='{html.escape(src)}' alt='{html.escape(caption)}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def run_all(*, profile: str = "quick", out: str | Path = "outputs", notebooks: Iterable[str] | None = None,
            parameters: Mapping[str, Any] | None = None, progress: bool = True) -> list[NotebookRun]:
    """Execute the notebooks (all, or the named ones) and write the gallery; returns one record per notebook."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    logger.info("writing dataset previews into %s", out / "datasets")
    preview = dataset_preview(out)
    runs = []
    selected = find_notebooks(notebooks)
    for k, path in enumerate(_progress(selected, show=progress, desc="gallery", unit="notebook"), 1):
        logger.info("[%d/%d] running %s (profile %s)", k, len(selected), path.name, profile)
        run = run_notebook(path, out, profile=profile, parameters=parameters, progress=progress)
        status = "failed" if run.error else "done"
        logger.info("[%d/%d] %s %s in %.0f s", k, len(selected), path.name, status, run.seconds)
        runs.append(run)
    index = write_index(out, runs, preview, profile=profile)
    logger.info("gallery: %s", index)
    return runs
