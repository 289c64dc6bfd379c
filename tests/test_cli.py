"""The command line: --help, train / resume / sample on tiny procedural data, prepare on a folder, bad options."""
from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from facegen_utils.cli import main

TINY = ["--model", "dcgan", "--image-size", "16", "--base-channels", "8", "--limit", "32", "--batch-size", "16",
        "--device", "cpu"]


@pytest.mark.parametrize("command", [[], ["prepare"], ["train"], ["sample"], ["render"], ["run-all"]])
def test_help_exits_zero(command, capsys):
    assert main([*command, "--help"]) == 0
    assert "usage:" in capsys.readouterr().out


def test_python_dash_m_help():
    result = subprocess.run([sys.executable, "-m", "facegen_utils", "--help"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0
    for command in ("prepare", "train", "sample", "render", "run-all"):
        assert command in result.stdout


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "x"
    code = main(["train", *TINY, "--epochs", "1", "--out", str(out)])
    assert code == 0
    return out


def test_train_writes_checkpoint_and_losses(trained):
    assert (trained / "checkpoint.pt").is_file()
    losses = pd.read_csv(trained / "losses.csv")
    assert len(losses) == 2 and {"loss_D", "loss_G"} <= set(losses.columns)


def test_resume_continues_to_more_epochs(trained, tmp_path, capsys):
    out = tmp_path / "copy"
    out.mkdir()
    for item in trained.iterdir():
        if item.is_file():
            (out / item.name).write_bytes(item.read_bytes())
    assert main(["train", "--resume", "--epochs", "2", "--out", str(out)]) == 0
    assert "resuming" in capsys.readouterr().out
    losses = pd.read_csv(out / "losses.csv")
    assert list(losses["epoch"]) == [1, 1, 2, 2]
    assert main(["train", "--resume", "--epochs", "2", "--out", str(out)]) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_sample_writes_a_png(trained, tmp_path):
    from PIL import Image

    png = tmp_path / "grid.png"
    assert main(["sample", "--checkpoint", str(trained / "checkpoint.pt"), "--n", "9", "--out", str(png),
                 "--seed", "3", "--truncation", "1.5"]) == 0
    with Image.open(png) as image:
        assert image.size == (3 * 16 + 4 * 2, 3 * 16 + 4 * 2)


def test_prepare_prints_counts_and_problems(tmp_path, capsys):
    from facegen_utils.datasets.procedural import SyntheticFaces

    folder = tmp_path / "imgs"
    SyntheticFaces(n=6, image_size=32).save_to_folder(folder, fmt="png")
    (folder / "empty.jpg").write_bytes(b"")
    assert main(["prepare", "--dataset", "folder", "--data-dir", str(folder), "--image-size", "16"]) == 0
    text = capsys.readouterr().out
    assert "usable images: 6" in text
    assert "zero-byte" in text
    assert "uint8 cache ready: (6, 3, 16, 16)" in text
    assert (folder / "empty.jpg").exists()


@pytest.mark.parametrize("argv, words", [
    (["train", "--model", "dcgn", "--out", "x"], ["model='dcgn' is invalid", "did you mean 'dcgan'", "mlp-wgan-gp"]),
    (["train", "--epochs", "-1", "--out", "x"], ["epochs=-1", ">= 1"]),
    (["train", "--dataset", "synthetic-face", "--out", "x"], ["did you mean 'synthetic-faces'"]),
    (["train", "--objective", "wgan", "--out", "x"], ["objective='wgan' is invalid", "'wgan-clip'"]),
    (["train", "--model", "dcgan", "--objective", "vae", "--out", "x"], ["keras-vae"]),
    (["train", "--image-size", "48", "--out", "x"], ["power of two"]),
    (["train", "--model-option", "nope", "--out", "x"], ["KEY=VALUE"]),
    (["train", "--profile", "08:quick", "--out", "x"], ["unknown notebook"]),
    (["train", "--profile", "05:quik", "--out", "x"], ["did you mean 'quick'"]),
    (["train", "--out", "x", "--epoch", "2"], ["--epochs"]),
    (["sample", "--checkpoint", "missing.pt", "--out", "g.png"], ["missing.pt", "no such file"]),
    (["prepare", "--dataset", "celebA", "--data-dir", "x"], ["did you mean 'celeba'"]),
    (["frobnicate"], ["invalid choice"]),
])
def test_bad_options_exit_nonzero_with_a_clear_message(argv, words, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    for word in words:
        assert word in err


def test_missing_real_dataset_names_the_download(tmp_path, capsys):
    code = main(["train", "--dataset", "celeba", "--data-dir", str(tmp_path / "nothing"), "--out",
                 str(tmp_path / "run")])
    assert code == 2
    err = capsys.readouterr().err
    assert "kaggle datasets download" in err and "nothing" in err


def test_resume_without_checkpoint_is_a_clear_error(tmp_path, capsys):
    assert main(["train", "--resume", "--out", str(tmp_path / "empty")]) == 2
    assert "no checkpoint found" in capsys.readouterr().err


def test_unknown_model_option_is_reported(tmp_path, capsys):
    code = main(["train", *TINY, "--model-option", "depth=3", "--out", str(tmp_path / "r")])
    assert code == 2
    assert "depth" in capsys.readouterr().err


def test_train_from_a_profile(tmp_path):
    out = tmp_path / "p"
    assert main(["train", "--profile", "05:smoke", "--device", "cpu", "--out", str(out)]) == 0
    assert (out / "checkpoint.pt").is_file()


def test_run_all_without_gallery_module(monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, globals=None, locals=None, fromlist=(), level=0):
        if name == "facegen_utils" and fromlist and "gallery" in fromlist:
            raise ModuleNotFoundError("No module named 'facegen_utils.gallery'", name="facegen_utils.gallery")
        return real_import(name, globals, locals, fromlist, level)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    assert main(["run-all", "--profile", "smoke", "--out", "o"]) == 2
    assert "gallery" in capsys.readouterr().err


def test_run_all_dispatches_to_the_gallery(monkeypatch, tmp_path):
    from facegen_utils import gallery

    calls = []
    monkeypatch.setattr(gallery, "run_all", lambda **kw: calls.append(kw) or [])
    assert main(["run-all", "--profile", "smoke", "--out", str(tmp_path), "--notebooks", "01,05"]) == 0
    assert calls == [{"profile": "smoke", "out": str(tmp_path), "notebooks": ["01", "05"]}]


@pytest.mark.parametrize("extra, expected", [([], None), (["--keep-checkpoints"], "weights"),
                                             (["--keep-checkpoints", "full"], "full"),
                                             (["--no-channels-last"], None),
                                             (["--no-cpu-gemm-grad"], None)])
def test_keep_checkpoints_and_memory_options_parse(extra, expected):
    from facegen_utils.cli import _train_settings, build_parser

    args = build_parser().parse_args(["train", "--out", "x", *extra])
    assert args.keep_checkpoints == expected
    assert args.channels_last is (False if "--no-channels-last" in extra else None)
    assert args.cpu_gemm_grad is (False if "--no-cpu-gemm-grad" in extra else None)
    settings = _train_settings(args, {})
    assert settings.get("cpu_gemm_grad", True) is ("--no-cpu-gemm-grad" not in extra)


def test_lr_decay_reaches_the_run_spec():
    from facegen_utils.cli import _train_settings, build_parser
    from facegen_utils.spec import RunSpec

    args = build_parser().parse_args(["train", "--out", "x", "--lr-decay", "cosine", "--model", "dcgan"])
    assert RunSpec.from_flat(_train_settings(args, {})).train.lr_decay == "cosine"
    assert "lr_decay" not in _train_settings(build_parser().parse_args(["train", "--out", "x"]), {})
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--out", "x", "--lr-decay", "step"])


def test_weight_decay_and_augment_flags_reach_the_training_settings():
    from facegen_utils.cli import _train_settings, build_parser
    from facegen_utils.spec import RunSpec

    def train(*extra):
        settings = _train_settings(build_parser().parse_args(["train", "--out", "x", *extra]), {})
        settings.pop("profile", None)  # as the train command does: the profile is recorded, not a setting
        return RunSpec.from_flat(settings).train

    both = train("--weight-decay", "0.5")
    assert (both.for_role("weight_decay", "G"), both.for_role("weight_decay", "D")) == (0.5, 0.5)
    own = train("--weight-decay", "2", "--weight-decay-d", "0", "--profile", "03:quick")
    assert (own.for_role("weight_decay", "G"), own.for_role("weight_decay", "D")) == (2.0, 0.0)
    assert train("--profile", "05:quick").weight_decay == 0.0
    with pytest.raises(ValueError, match="weight_decay"):
        train("--weight-decay", "-1")
    assert train("--augment", "translation").augment == "translation"
    assert train("--profile", "05:quick").augment == "none"
    # a profile's own augmentation (04's quick runs shift what the critic sees), and the flag that turns it off
    assert train("--profile", "04:quick").augment == "translation"
    assert train("--profile", "04:quick", "--augment", "none").augment == "none"


@pytest.mark.parametrize("extra, expected", [([], None), (["--compile"], True),
                                             (["--compile", "reduce-overhead"], "reduce-overhead")])
def test_compile_option_takes_an_optional_mode(extra, expected):
    from facegen_utils.cli import build_parser

    assert build_parser().parse_args(["train", "--out", "x", *extra]).compile == expected


def test_unknown_compile_mode_is_refused(capsys):
    from facegen_utils.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--out", "x", "--compile", "fastest"])
    assert "invalid choice: 'fastest'" in capsys.readouterr().err


def test_newest_checkpoint_prefers_checkpoint_pt_then_unnumbered_files(tmp_path):
    import os

    from facegen_utils.cli import newest_checkpoint

    assert newest_checkpoint(tmp_path) is None
    for age, name in enumerate(["checkpoint_epoch_0005.pt", "renamed.pt", "checkpoint_epoch_0010.pt"]):
        (tmp_path / name).write_bytes(b"")
        os.utime(tmp_path / name, (1_000_000 + age, 1_000_000 + age))
    assert newest_checkpoint(tmp_path).name == "renamed.pt"          # numbered copies may hold weights only
    (tmp_path / "renamed.pt").unlink()
    assert newest_checkpoint(tmp_path).name == "checkpoint_epoch_0010.pt"
    (tmp_path / "checkpoint.pt").write_bytes(b"")
    assert newest_checkpoint(tmp_path).name == "checkpoint.pt"


def _weights(path):
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)["models"]


def _same_networks(a, b):
    import torch

    return all(torch.equal(x, y) for role in a for x, y in zip(a[role].values(), b[role].values()))


REPEAT = ["--model", "dcgan", "--image-size", "16", "--base-channels", "4", "--limit", "64", "--batch-size", "16",
          "--seed", "7", "--device", "cpu"]


def test_the_seed_makes_a_cli_run_repeat_bit_for_bit(tmp_path):
    for name in ("a", "b"):
        assert main(["train", *REPEAT, "--epochs", "2", "--out", str(tmp_path / name)]) == 0
    assert _same_networks(_weights(tmp_path / "a" / "checkpoint.pt"), _weights(tmp_path / "b" / "checkpoint.pt"))
    a, b = (pd.read_csv(tmp_path / name / "losses.csv") for name in ("a", "b"))
    pd.testing.assert_frame_equal(a, b)
    assert main(["train", *REPEAT[:-4], "--seed", "8", "--device", "cpu", "--epochs", "1",
                 "--out", str(tmp_path / "c")]) == 0
    assert not _same_networks(_weights(tmp_path / "a" / "checkpoint.pt"), _weights(tmp_path / "c" / "checkpoint.pt"))


def test_one_epoch_and_resume_equals_two_straight_through_the_cli(tmp_path):
    assert main(["train", *REPEAT, "--epochs", "2", "--out", str(tmp_path / "straight")]) == 0
    assert main(["train", *REPEAT, "--epochs", "1", "--out", str(tmp_path / "resumed")]) == 0
    assert main(["train", "--resume", "--epochs", "2", "--out", str(tmp_path / "resumed")]) == 0
    straight, resumed = (_weights(tmp_path / name / "checkpoint.pt") for name in ("straight", "resumed"))
    assert _same_networks(straight, resumed)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "straight" / "losses.csv"),
                                  pd.read_csv(tmp_path / "resumed" / "losses.csv"))


def test_training_a_vae_prints_its_own_losses(tmp_path, capsys):
    out = tmp_path / "vae"
    assert main(["train", "--model", "keras-vae", "--dataset", "synthetic-faces", "--image-size", "16",
                 "--limit", "32", "--batch-size", "16", "--epochs", "1", "--latent-dim", "8", "--device", "cpu",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "(vae)" in text and "last loss " in text and "loss_D" not in text
    assert list(pd.read_csv(out / "losses.csv").columns) == ["epoch", "step", "loss", "recon", "kl"]


def test_render_writes_grids_and_folders(tmp_path, capsys):
    assert main(["render", "--grid", str(tmp_path / "grids"), "--image-size", "16"]) == 0
    assert sorted(p.name for p in (tmp_path / "grids").iterdir()) == ["synthetic_faces.png",
                                                                       "synthetic_paintings.png"]
    assert main(["render", "--save", str(tmp_path / "faces"), "--n", "5", "--image-size", "16", "--fmt", "png"]) == 0
    assert len(list((tmp_path / "faces").glob("*.png"))) == 5
    assert main(["render"]) == 2 and "nothing to do" in capsys.readouterr().err


def test_a_conditional_model_trains_resumes_and_samples_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "cond"
    args = ["train", "--model", "cdcgan", "--conditions", "hair_color,hair_style", "--image-size", "16",
            "--base-channels", "8", "--limit", "32", "--batch-size", "16", "--device", "cpu", "--out", str(out)]
    assert main([*args, "--epochs", "1"]) == 0
    assert "cdcgan (cgan)" in capsys.readouterr().out
    assert main(["train", "--out", str(out), "--resume", "--epochs", "2"]) == 0  # the conditions come back
    assert main(["sample", "--checkpoint", str(out / "checkpoint.pt"), "--n", "4", "--out",
                 str(tmp_path / "s.png")]) == 0
    assert main(["train", "--model", "cdcgan", "--out", str(tmp_path / "bad")]) == 2
    assert "is conditional" in capsys.readouterr().err
