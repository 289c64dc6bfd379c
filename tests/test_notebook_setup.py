"""The notebooks' parameter cell: validation, the papermill > environment > notebook > profile order."""
from __future__ import annotations

import pytest

from facegen_utils import notebook, profiles

DEFAULTS = {"profile": "quick", "dataset": None, "data_dir": None, "image_size": None, "epochs": None,
            "batch_size": None, "limit": None, "seed": 0, "device": "cpu", "amp": "off", "compile_mode": None,
            "grid_epochs": None}


def namespace(tmp_path, injected: str = "", **values):
    ns = {**DEFAULTS, "output_dir": str(tmp_path / "out"), **values}
    ns["In"] = ["", injected] if injected else [""]
    return ns


def test_profile_values_fill_what_the_notebook_leaves_none(tmp_path) -> None:
    run = notebook.setup("05", namespace(tmp_path), environ={})
    p = run.profile()
    assert p.profile == "quick" and p.dataset == "synthetic-faces"
    assert p.epochs == profiles.get("05", "quick").epochs
    assert run.sources["epochs"] == "profile" and run.sources["seed"] == "notebook"
    assert (tmp_path / "out").is_dir()


def test_environment_overrides_notebook_defaults(tmp_path) -> None:
    run = notebook.setup("05", namespace(tmp_path), environ={"FACEGEN_PROFILE": "smoke", "FACEGEN_EPOCHS": "2"})
    assert run.profile().profile == "smoke" and run.profile().epochs == 2
    assert run.sources["profile"] == "environment"


def test_papermill_values_win_over_the_environment_even_when_equal_to_the_default(tmp_path) -> None:
    ns = namespace(tmp_path, injected='# Parameters\nprofile = "quick"\nepochs = 3\n', epochs=3)
    run = notebook.setup("05", ns, environ={"FACEGEN_PROFILE": "smoke", "FACEGEN_EPOCHS": "1"})
    assert run.profile().profile == "quick" and run.profile().epochs == 3
    assert run.sources["profile"] == "papermill" and run.sources["epochs"] == "papermill"


def test_misspelt_parameter_is_named_with_a_suggestion(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"unknown parameter 'epoch'.*did you mean 'epochs'"):
        notebook.setup("05", namespace(tmp_path, epoch=3), environ={})


@pytest.mark.parametrize("name, value, pattern", [
    ("profile", "quik", r"profile.*did you mean 'quick'"),
    ("epochs", -1, r"epochs"),
    ("dataset", "celebb", r"dataset.*celeba"),
    ("device", "gpu", r"device"),
    ("amp", "fp8", r"amp='fp8' is invalid; expected 'off' \(float32\), 'bf16' or 'fp16'"),
    ("compile_mode", "fast",
     r"compile_mode='fast' is invalid; expected None \(not compiled\), 'default', 'reduce-overhead'"),
])
def test_invalid_values_stop_with_a_clear_message(tmp_path, name, value, pattern) -> None:
    with pytest.raises(ValueError, match=pattern):
        notebook.setup("05", namespace(tmp_path, **{name: value}), environ={})


def test_mixed_precision_reaches_the_training_config_and_is_listed_as_a_change(tmp_path) -> None:
    ns = namespace(tmp_path, injected='# Parameters\namp = "bf16"\n', amp="bf16")
    run = notebook.setup("05", ns, environ={})
    p = run.profile()
    assert p.train_config().amp == "bf16" and "amp: off -> bf16" in p.changes
    assert notebook.setup("05", namespace(tmp_path), environ={"FACEGEN_AMP": "fp16"}).profile().amp == "fp16"
    assert notebook.setup("05", namespace(tmp_path), environ={}).profile().train_config().amp == "off"


def test_compile_mode_reaches_the_training_config_without_counting_as_a_change(tmp_path) -> None:
    injected = '# Parameters\ncompile_mode = "reduce-overhead"\n'
    ns = namespace(tmp_path, injected=injected, compile_mode="reduce-overhead")
    p = notebook.setup("05", ns, environ={}).profile()
    assert p.train_config().compile == "reduce-overhead"
    assert not any("compile" in change for change in p.changes)  # the same maths, compiled
    assert p.train_config(compile=False).compile is False  # an explicit override still wins
    env = {"FACEGEN_COMPILE": "default"}
    assert notebook.setup("05", namespace(tmp_path), environ=env).profile().train_config().compile == "default"
    env = {"FACEGEN_COMPILE": "none"}
    assert notebook.setup("05", namespace(tmp_path), environ=env).profile().train_config().compile is False


def test_knobs_are_parameters_of_their_notebook_only(tmp_path) -> None:
    assert "priors" in notebook.parameters("04") and "priors" not in notebook.parameters("05")
    run = notebook.setup("05", namespace(tmp_path, grid_epochs=(1, 2)), environ={})
    assert run.profile().grid_epochs == (1, 2)


def test_every_variant_of_notebook_01_resolves(tmp_path) -> None:
    ns = {**namespace(tmp_path), "models": None, "comparison_epochs": None}
    del ns["grid_epochs"]
    run = notebook.setup("01", ns, environ={"FACEGEN_PROFILE": "smoke"})
    objectives = {v: run.profile(v).objective for v in profiles.VARIANTS["01"]}
    assert objectives == {"gan": "gan", "vae": "vae", "wgan": "wgan-clip", "wgan-gp": "wgan-gp"}


def test_table_lists_every_parameter_with_its_source(tmp_path) -> None:
    run = notebook.setup("05", namespace(tmp_path), environ={})
    table = run.table()
    assert list(table.index) == list(notebook.parameters("05"))
    assert set(table["from"]) <= {"papermill", "environment", "notebook", "profile"}
    assert "changes from the report" in str(run)


def test_environment_output_dir_is_a_parent_for_every_notebook(tmp_path) -> None:
    ns = namespace(tmp_path, output_dir=None)
    run = notebook.setup("05", ns, environ={"FACEGEN_OUTPUT_DIR": str(tmp_path / "all")})
    assert run.output_dir == tmp_path / "all" / profiles.NOTEBOOKS["05"]
    assert run.profile().output_dir == str(run.output_dir)


def test_re_running_the_setup_cell_ignores_the_notebooks_own_variables(tmp_path) -> None:
    ns = namespace(tmp_path)
    notebook.setup("05", ns, environ={})
    ns["trainer_steps"] = 3  # a variable made by a later cell
    assert notebook.setup("05", ns, environ={}).profile().profile == "quick"
    ns["In"].append("# Parameters\nepoch = 2\n")
    ns["epoch"] = 2
    with pytest.raises(ValueError, match="unknown parameter 'epoch'"):
        notebook.setup("05", ns, environ={})


def test_a_list_injected_as_text_by_papermill_is_parsed(tmp_path) -> None:
    """``papermill ... -p grid_epochs "[1, 5, 10]"`` injects the text; the notebooks' exercises pass lists that way."""
    ns = namespace(tmp_path, injected='# Parameters\ngrid_epochs = "[1, 5, 10]"\n', grid_epochs="[1, 5, 10]")
    assert notebook.setup("05", ns, environ={}).profile().grid_epochs == (1, 5, 10)
    knobs = {"conditions": '["eye_color", "hair_style"]', "models": '["concat"]', "eval_samples": None,
             "judge_epochs": None, "baseline_checkpoint": None}
    injected = "# Parameters\n" + "".join(f"{k} = {v!r}\n" for k, v in knobs.items() if v)
    ns = {**namespace(tmp_path, injected=injected, **knobs)}
    ns.pop("grid_epochs")
    run = notebook.setup("07", ns, environ={})
    assert run.profile("concat").conditions == ("eye_color", "hair_style") and run.profile().models == ("concat",)
    ns = namespace(tmp_path, injected='# Parameters\ngrid_epochs = "[1, 5"\n', grid_epochs="[1, 5")
    with pytest.raises(ValueError, match="grid_epochs"):
        notebook.setup("05", ns, environ={})
