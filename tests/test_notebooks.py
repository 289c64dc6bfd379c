"""The notebooks: committed clean, shaped as the spec says, and runnable through papermill and `make run`."""
from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from facegen_utils import profiles

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
EXPECTED = [f"{name}.ipynb" for name in profiles.NOTEBOOKS.values()]
NOTEBOOKS = [NOTEBOOK_DIR / name for name in EXPECTED]
IDS = [p.stem[:2] for p in NOTEBOOKS]
CHECK = "# NBVAL_CHECK_OUTPUT"  # nbval compares the committed outputs of these cells


def _code_cells(path: Path) -> list:
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def test_the_notebooks_exist() -> None:
    found = sorted(p.name for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    assert found == EXPECTED


def _checked(cell) -> bool:
    """Whether nbval --nbval-lax compares the cell's output: a code cell with a ``# NBVAL_CHECK_OUTPUT`` line."""
    return cell.cell_type == "code" and any(line.strip() == CHECK for line in cell.source.splitlines())


def _text(cell) -> str:
    return "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in cell.outputs)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_committed_with_outputs_only_in_the_checked_cells_and_the_python3_kernel(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert any(_checked(c) for c in nb.cells), f"{path.name}: no {CHECK} cell, so nbval would compare nothing"
    refresh = "run scripts/refresh_checked_outputs.py"
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if not _checked(cell):
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: strip outputs"
            continue
        # nbval skips the comparison of a cell whose execution_count is None (and fails it if it has outputs)
        assert cell.outputs and isinstance(cell.execution_count, int), f"{path.name} {cell.id}: {refresh}"
        for output in cell.outputs:
            assert output.output_type in ("stream", "display_data", "execute_result"), output.output_type
            assert output.get("name", "stdout") == "stdout", f"{path.name} {cell.id}: no warnings or logs"
            assert not output.get("metadata"), f"{path.name} {cell.id}: {refresh}"
        assert not re.search(r"0x[0-9a-f]{6,}|/tmp/|/home/|\d+\.\d+ ?s\b", _text(cell)), \
            f"{path.name} {cell.id}: addresses, paths and timings differ from run to run"


# what the checked outputs must show: the report's numbers, whatever the profile
REPORT_NUMBERS = {
    "01": ["Model: \"KerasGenerator\"", "(None, 128, 8, 8)", "(None, 3, 64, 64)", "(None, 256, 4, 4)",
           "layer shapes at 64x64: OK"],
    "02": ["Total params: 13,277,952", "Total params: 13,240,321", "(None, 12288)"],
    "03": ["Total params: 16,859,139", "Trainable params: 16,850,691", "Non-trainable params: 8,448",
           "Total params: 6,423,553"],
    "04": ["G 3,576,704 parameters, D 2,765,568 parameters", "U(-1, 1)", "Gamma(2, 1)", "N(0, 0.01)", "N(0, 100)"],
    "05": ["ConvTranspose2d(100, 512, kernel_size=(4, 4)", "(12): Sigmoid()", "3,576,704 and 2,765,568 parameters"],
    "06": ["report U-Net at 64x64: 35,746,307 parameters", "Ho et al.'s CIFAR-10 model: 35.7 M parameters"],
    "07": ["report conditions: Male, Eyeglasses, Smiling", "conditional G: 3,625,856 parameters",
           "projection D: 2,768,640 parameters", "concat D: 2,771,712 parameters"],
}
# names of the run's (profile-dependent) objects, which a checked cell must not print from
PROFILE_NAMES = {"run", "p", "ds", "models", "base", "G", "D", "prior_specs", "variants", "modelsets", "trainer"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_checked_cells_show_the_report_architecture_not_the_profiles(path: Path) -> None:
    checked = [c for c in _code_cells(path) if _checked(c)]
    text = "".join(_text(c) for c in checked)
    for number in REPORT_NUMBERS[path.stem[:2]]:
        assert number in text, f"{path.name}: the checked outputs lack {number!r}"
    for cell in checked:
        used = {n.id for n in ast.walk(ast.parse(cell.source)) if isinstance(n, ast.Name)}
        assert not used & PROFILE_NAMES, f"{path.name} {cell.id}: build the report's models, not the profile's"
        assert "fu.profiles.get(" in cell.source or "REPORT_" in cell.source


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
    # the gallery shows the quality measures beside the FID (07 lists its table's columns, precision and coverage too)
    quality = {k: v for k, v in summary["numbers"].items() if re.match(r"(\w+ )?(precision|coverage)", k)}
    assert quality, f"{path.name}: no precision / coverage in the gallery numbers"
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
    "06": ("celeba", "img_align_celeba/img_align_celeba", "faces"),
    "07": ("celeba", "img_align_celeba/img_align_celeba", "faces"),
}
# notebooks whose latent exploration studies attribute directions (notebook 06 explores a diffusion model's noise)
DIRECTION_STUDIES = {"01", "02", "03", "04", "05"}


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_papermill_run_on_the_real_dataset_layout(path: Path, tmp_path: Path, monkeypatch) -> None:
    """The report profile's path: the real loader on a folder laid out like the download (smoke-sized)."""
    from facegen_utils.datasets.procedural import SyntheticFaces, SyntheticPaintings

    name, inner, kind = REAL_LAYOUTS[path.stem[:2]]
    root = tmp_path / name
    (SyntheticFaces if kind == "faces" else SyntheticPaintings)(40, image_size=48, seed=5).save_to_folder(root / inner)
    if path.stem[:2] == "07":  # CelebA's annotations in the Kaggle layout; the first two images have no row
        from facegen_utils.conditioning import CELEBA_ATTRIBUTES

        files = sorted(p.name for p in (root / inner).glob("*.jpg"))[2:]
        rows = [[1 if (i + j) % 3 else -1 for j in range(len(CELEBA_ATTRIBUTES))] for i in range(len(files))]
        pd.DataFrame(rows, columns=CELEBA_ATTRIBUTES, index=pd.Index(files, name="image_id")).to_csv(
            root / "list_attr_celeba.csv")
    monkeypatch.setenv("FACEGEN_CACHE_DIR", str(tmp_path / "cache"))
    before = sorted((p.relative_to(root), p.stat().st_mtime_ns) for p in root.rglob("*"))
    out = tmp_path / "out"
    nb = _execute(path, tmp_path, profile="smoke", dataset=name, data_dir=str(root), output_dir=str(out))
    text = "".join(str(o.get("text", "")) + str(o.get("data", {})) for c in nb.cells if c.cell_type == "code"
                   for o in c.outputs)
    assert name in text and (out / "summary.json").is_file()
    assert "After longer training: not shown" in text  # a procedural generator is never shown on real data
    if path.stem[:2] in DIRECTION_STUDIES:
        assert "need known attributes" in text
    elif path.stem[:2] == "07":
        assert "a learned judge" in text and "left out for lack of a label row: 2 image(s)" in text
    else:
        assert "GAN side: none" in text  # nor the shipped DCGAN as the GAN side of notebook 06's comparison
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


def _smoke_env(tmp_path: Path) -> dict[str, str]:
    """The environment of ``make test``'s nbval run."""
    return {**os.environ, "FACEGEN_PROFILE": "smoke", "TQDM_DISABLE": "1", "FACEGEN_OUTPUT_DIR": str(tmp_path / "out")}


@pytest.mark.slow
def test_nbval_fails_when_a_checked_count_changes(tmp_path: Path) -> None:
    """One digit of a committed parameter count changed: nbval must fail the cell and show both numbers."""
    dcgan = NOTEBOOK_DIR / f"{profiles.NOTEBOOKS['05']}.ipynb"  # the report's DCGAN counts
    nb = nbformat.read(dcgan, as_version=4)
    (cell,) = [c for c in nb.cells if _checked(c) and "3,576,704" in _text(c)]
    for output in cell.outputs:
        output.text = output.text.replace("3,576,704", "3,576,705")
    copy = tmp_path / dcgan.name
    nbformat.write(nb, copy)
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--color=no",
                             "--nbval-lax", str(copy)], cwd=tmp_path, env=_smoke_env(tmp_path),
                            capture_output=True, text=True, timeout=900)
    log = result.stdout + result.stderr
    assert result.returncode == 1, log[-3000:]
    assert "1 failed" in log and "Cell outputs differ" in log, log[-3000:]
    assert "mismatch 'stdout'" in log and "3,576,705" in log and "3,576,704" in log, log[-3000:]


@pytest.mark.slow
def test_committed_outputs_are_what_the_refresh_script_writes(tmp_path: Path) -> None:
    """``refresh_checked_outputs.py --check`` reruns a notebook and finds nothing to change (05: the fastest)."""
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "refresh_checked_outputs.py"), "--check", "05"],
                            cwd=ROOT, env=_smoke_env(tmp_path), capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "05_celeba_dcgan.ipynb: 1 checked cell(s) c15: unchanged" in result.stdout
