"""The five notebooks: committed clean, shaped as the spec says, and runnable through papermill and `make run`."""
from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from facegen_utils import profiles

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
EXPECTED = [f"{name}.ipynb" for name in profiles.NOTEBOOKS.values()]
NOTEBOOKS = [NOTEBOOK_DIR / name for name in EXPECTED]
IDS = [p.stem[:2] for p in NOTEBOOKS]


def _code_cells(path: Path) -> list:
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def test_the_five_notebooks_exist() -> None:
    found = sorted(p.name for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    assert found == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_committed_without_outputs_with_the_python3_kernel(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: strip outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_first_code_cell_is_the_literal_parameters_cell(path: Path) -> None:
    first = _code_cells(path)[0]
    assert "parameters" in first.metadata.get("tags", [])
    names = []
    for node in ast.parse(first.source).body:
        assert isinstance(node, ast.Assign), f"{path.name}: the parameters cell holds assignments only"
        ast.literal_eval(node.value)  # literals only: papermill can override every one of them
        names += [t.id for t in node.targets]
    from facegen_utils import notebook

    assert names == list(notebook.parameters(path.stem[:2]))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_second_code_cell_imports_the_package_and_validates(path: Path) -> None:
    second = _code_cells(path)[1].source
    assert "import facegen_utils as fu" in second
    assert f'fu.notebook.setup("{path.stem[:2]}", globals())' in second


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_models_loops_or_losses_inside_the_notebook(path: Path) -> None:
    for cell in _code_cells(path):
        tree = ast.parse("\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!"))))
        for node in ast.walk(tree):
            assert not isinstance(node, (ast.ClassDef,)), f"{path.name}: define classes in facegen_utils"
            if isinstance(node, ast.Attribute):
                assert node.attr not in {"backward", "zero_grad"}, f"{path.name}: training steps belong in the engine"
            if isinstance(node, ast.Name):
                assert node.id not in {"BCEWithLogitsLoss", "BCELoss"}, f"{path.name}: losses belong in facegen_utils"


def _execute(path: Path, out: Path, **parameters):
    import papermill

    return papermill.execute_notebook(str(path), str(out / path.name), parameters=parameters, kernel_name="python3",
                                      progress_bar=False, cwd=str(NOTEBOOK_DIR))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_papermill_run_with_injected_parameters(path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    # bf16 autocast (the GPU speed setting) also runs on the CPU: every notebook goes through it here
    nb = _execute(path, tmp_path, profile="smoke", seed=3, amp="bf16", output_dir=str(out))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["title"]
    for caption, image in summary["images"].items():
        assert (out / image).is_file(), f"{path.name}: gallery image {caption!r} missing"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "injected-parameters" in code[1].metadata.get("tags", [])
    setup_output = "".join(str(o.get("data", {})) + str(o.get("text", "")) for o in code[2].outputs)
    assert "papermill" in setup_output  # the parameters table says where the injected values came from
    assert "amp: off -&gt; bf16" in setup_output or "amp: off -> bf16" in setup_output  # listed as a change


# notebook -> (real dataset, the folder inside data_dir where its download keeps the images, procedural kind)
REAL_LAYOUTS = {
    "01": ("anime", "images", "faces"),
    "02": ("art-portraits", "Portraits", "faces"),
    "03": ("celeba", "img_align_celeba/img_align_celeba", "faces"),
    "04": ("monet", "monet_jpg", "paintings"),
    "05": ("celeba", "img_align_celeba/img_align_celeba", "faces"),
}


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_papermill_run_on_the_real_dataset_layout(path: Path, tmp_path: Path, monkeypatch) -> None:
    """The report profile's path: the real loader on a folder laid out like the download (smoke-sized)."""
    from facegen_utils.datasets.procedural import SyntheticFaces, SyntheticPaintings

    name, inner, kind = REAL_LAYOUTS[path.stem[:2]]
    root = tmp_path / name
    (SyntheticFaces if kind == "faces" else SyntheticPaintings)(40, image_size=48, seed=5).save_to_folder(root / inner)
    monkeypatch.setenv("FACEGEN_CACHE_DIR", str(tmp_path / "cache"))
    before = sorted((p.relative_to(root), p.stat().st_mtime_ns) for p in root.rglob("*"))
    out = tmp_path / "out"
    nb = _execute(path, tmp_path, profile="smoke", dataset=name, data_dir=str(root), output_dir=str(out))
    text = "".join(str(o.get("text", "")) + str(o.get("data", {})) for c in nb.cells if c.cell_type == "code"
                   for o in c.outputs)
    assert name in text and (out / "summary.json").is_file()
    assert sorted((p.relative_to(root), p.stat().st_mtime_ns) for p in root.rglob("*")) == before  # untouched


@pytest.mark.slow
def test_misspelt_parameter_fails_with_the_notebooks_message(tmp_path: Path) -> None:
    from papermill.exceptions import PapermillExecutionError

    with pytest.raises(PapermillExecutionError) as info:
        _execute(NOTEBOOKS[-1], tmp_path, profile="smoke", epoch=2, output_dir=str(tmp_path / "out"))
    assert "unknown parameter 'epoch'" in str(info.value) and "did you mean 'epochs'" in str(info.value)


@pytest.mark.slow
def test_invalid_parameter_value_fails_with_the_notebooks_message(tmp_path: Path) -> None:
    from papermill.exceptions import PapermillExecutionError

    with pytest.raises(PapermillExecutionError) as info:
        _execute(NOTEBOOKS[-1], tmp_path, profile="smoke", dataset="celebb", output_dir=str(tmp_path / "out"))
    assert "dataset='celebb' is invalid (did you mean 'celeba'?)" in str(info.value)


@pytest.mark.slow
def test_make_run_builds_the_gallery(tmp_path: Path) -> None:
    out = tmp_path / "gallery"
    env = {**os.environ, "TQDM_DISABLE": "1"}
    result = subprocess.run(["make", "-s", "run", "PROFILE=smoke", f"OUT={out}", f"PY={sys.executable}"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    index = (out / "index.html").read_text()
    for name in profiles.NOTEBOOKS.values():
        assert (out / name / f"{name}.ipynb").is_file()
        assert (out / name / "summary.json").is_file()
    assert "Failed" not in index
    assert index.count("<h2>") == 1 + len(profiles.NOTEBOOKS)
    for src in re.findall(r"<img src='([^']+)'", index):
        assert (out / src).is_file(), src
