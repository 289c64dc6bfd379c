"""The `make run` gallery on a fake papermill: HTML copies of the notebooks, and every link of index.html resolves."""
from __future__ import annotations

import logging
import re
from pathlib import Path

import nbformat
import papermill
from PIL import Image

from facegen_utils import gallery
from facegen_utils._log import logger


def _fake_execute(input_path: str, output_path: str, *, parameters: dict, **_) -> None:
    """Write a tiny "executed" notebook and its summary; 02 leaves an unreadable copy, 03 fails like papermill."""
    name = Path(input_path).stem
    out = Path(parameters["output_dir"])
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell(f"# Tiny {name}"),
        nbformat.v4.new_code_cell("print(6 * 7)", outputs=[nbformat.v4.new_output("stream", text="42\n")])])
    nbformat.write(nb, output_path)
    if name.startswith("02"):
        Path(output_path).write_text("{not a notebook")
    if name.startswith("03"):
        raise RuntimeError("cell 3 failed")
    Image.new("RGB", (4, 4)).save(out / "samples.png")
    gallery.record(out, title=f"Tiny {name}", numbers={"fid": 12.3456789}, images={"samples": out / "samples.png"})


def _fake_preview(out: Path) -> dict[str, str]:
    (out / "datasets").mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4)).save(out / "datasets" / "grid.png")
    return {"a grid": "datasets/grid.png"}


def test_gallery_links_html_copies_and_every_link_resolves(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(papermill, "execute_notebook", _fake_execute)
    monkeypatch.setattr(gallery, "dataset_preview", _fake_preview)
    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.WARNING, logger="facegen"):
            runs = gallery.run_all(profile="smoke", out=tmp_path, notebooks=["01", "02", "03"])
    finally:
        logger.removeHandler(caplog.handler)
    first, broken, failed = runs
    index = (tmp_path / "index.html").read_text()
    links = re.findall(r"(?:href|src)='([^']+)'", index)
    assert links and all((tmp_path / link).is_file() for link in links), links
    for run in (first, failed):  # a failed notebook's executed copy shows its error: it is rendered too
        assert f"{run.name}/{run.name}.html" in links and f"{run.name}/{run.name}.ipynb" in links
        page = (run.output_dir / f"{run.name}.html").read_text()
        assert "Tiny" in page and "42" in page and page.count("<div") > 5
    assert failed.error and "Failed: RuntimeError: cell 3 failed" in index
    # nbconvert could not read 02: no HTML copy, the .ipynb is still linked and the warning names the notebook
    assert f"{broken.name}/{broken.name}.ipynb" in links and not (broken.output_dir / f"{broken.name}.html").exists()
    assert f"could not convert {broken.name}.ipynb to HTML" in caplog.text
    assert "datasets/grid.png" in links and f"{first.name}/samples.png" in links


def test_quality_numbers_name_each_row_and_need_both_columns():
    import pandas as pd
    import pytest

    table = pd.DataFrame({"precision": [0.861, 0.5], "coverage": [0.675, 0.104], "fid": [30.0, 90.0]},
                         index=["gan", "vae"])
    assert gallery.quality(table) == {"precision / coverage gan": "0.86 / 0.68",
                                      "precision / coverage vae": "0.50 / 0.10"}
    by_epoch = table.set_axis([20, 25]).tail(1)
    assert gallery.quality(by_epoch, label="at epoch {}") == {"precision / coverage at epoch 25": "0.50 / 0.10"}
    with pytest.raises(ValueError, match="no coverage column"):
        gallery.quality(table.drop(columns="coverage"))
