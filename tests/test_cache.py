"""Decoded uint8 cache: hits decode nothing, and any change to files, times or image size builds a new entry."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import facegen_utils.datasets as datasets
from facegen_utils._log import logger
from facegen_utils.datasets import cache, folders


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv("FACEGEN_CACHE_DIR", str(path))
    return path


@pytest.fixture
def folder(tmp_path, cache_dir) -> Path:
    """Six small JPEGs of different sizes and colours."""
    root = tmp_path / "images"
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        h, w = (int(v) for v in rng.integers(36, 80, 2))
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / f"{i:03d}.jpg")
    return root


@pytest.fixture
def decodes(monkeypatch) -> list[str]:
    """Names of the files decoded from disk (the cache path never calls decode_image)."""
    calls: list[str] = []
    original = folders.decode_image

    def counting(path, image_size):
        calls.append(Path(path).name)
        return original(path, image_size)

    monkeypatch.setattr(folders, "decode_image", counting)
    return calls


def load(root: Path, **options) -> folders.FolderDataset:
    options.setdefault("image_size", 16)
    return datasets.get("folder", data_dir=root, **options)


def npy_files(cache_dir: Path) -> list[Path]:
    return sorted(cache_dir.glob("*.npy"))


def test_first_pass_decodes_once_then_every_access_and_run_hits(folder, cache_dir, decodes):
    ds = load(folder)
    u8 = ds.to_uint8()
    assert sorted(decodes) == [f"{i:03d}.jpg" for i in range(6)]
    assert u8.dtype == torch.uint8 and u8.shape == (6, 3, 16, 16)
    epoch = [ds[i] for i in range(len(ds)) for _ in range(2)]
    assert len(decodes) == 6 and len(epoch) == 12
    second_run = load(folder)
    assert torch.equal(second_run.to_uint8(), u8)
    assert torch.equal(second_run[3], ds[3])
    assert len(decodes) == 6
    assert len(npy_files(cache_dir)) == 1 and ds.cache_path == npy_files(cache_dir)[0]
    assert not any(p.suffix in (".npy", ".json") for p in folder.iterdir())


def test_cached_pixels_equal_a_direct_decode(folder):
    ds = load(folder)
    u8 = ds.to_uint8()
    for i in range(len(ds)):
        assert torch.equal(u8[i], ds.decode(i))
    on_disk = np.load(ds.cache_path)
    assert np.array_equal(on_disk, u8.numpy())


def test_first_item_access_builds_the_cache(folder, cache_dir, decodes):
    ds = load(folder)
    ds[0]
    assert len(decodes) == 6 and len(npy_files(cache_dir)) == 1
    ds[5]
    assert len(decodes) == 6


@pytest.mark.parametrize("change", ["touch", "modify", "add", "remove"])
def test_file_changes_invalidate(folder, cache_dir, decodes, change):
    first = load(folder).to_uint8().clone()
    decodes.clear()
    target = folder / "002.jpg"
    if change == "touch":
        st = target.stat()
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    elif change == "modify":
        Image.new("RGB", (50, 50), (255, 255, 0)).save(target)
    elif change == "add":
        Image.new("RGB", (50, 50), (0, 255, 255)).save(folder / "010.jpg")
    else:
        target.unlink()
    ds = load(folder)
    u8 = ds.to_uint8()
    assert decodes, "a changed folder must be decoded again"
    expected_n = {"add": 7, "remove": 5}.get(change, 6)
    assert len(ds) == expected_n
    if change == "touch":
        assert torch.equal(u8, first)
    if change == "modify":
        assert torch.equal(u8[2, :, 8, 8], torch.tensor([255, 255, 0], dtype=torch.uint8))
    assert len(npy_files(cache_dir)) == 1, "the stale entry of the same selection is removed"


def test_image_size_and_selection_are_part_of_the_key(folder, cache_dir, decodes):
    load(folder, image_size=16).to_uint8()
    load(folder, image_size=8).to_uint8()
    assert len(decodes) == 12
    assert load(folder, image_size=8).to_uint8().shape == (6, 3, 8, 8)
    load(folder, image_size=16, limit=3).to_uint8()
    assert len(decodes) == 15
    assert len(npy_files(cache_dir)) == 3
    load(folder, image_size=16).to_uint8()
    assert len(decodes) == 15


def test_value_range_is_applied_after_the_cache(folder, decodes):
    a = load(folder, value_range=(-1, 1))
    b = load(folder, value_range=(0, 1))
    torch.testing.assert_close(a[1], b[1] * 2 - 1)
    assert len(decodes) == 6


def test_cache_false_writes_nothing_and_decodes_every_access(folder, cache_dir, decodes):
    ds = load(folder, cache=False)
    ds[0]
    ds[0]
    assert decodes == ["000.jpg", "000.jpg"]
    assert ds.cache_path is None and not cache_dir.exists()
    assert torch.equal(ds.to_uint8()[0], load(folder).to_uint8()[0])


def test_unwritable_cache_folder_falls_back_to_memory(folder, tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("FACEGEN_CACHE_DIR", str(blocker / "cache"))
    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.WARNING, logger="facegen"):
            ds = load(folder)
            assert ds.to_uint8().shape == (6, 3, 16, 16)
    finally:
        logger.removeHandler(caplog.handler)
    assert "cannot write the image cache" in caplog.text and "FACEGEN_CACHE_DIR" in caplog.text


def test_decoded_cache_survives_pickling_without_decoding(folder, decodes):
    import pickle

    ds = load(folder)
    ds.to_uint8()
    clone = pickle.loads(pickle.dumps(ds))
    assert torch.equal(clone[4], ds[4]) and len(decodes) == 6


def test_explicit_cache_dir_and_clear(folder, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    load(folder, cache_dir=elsewhere).to_uint8()
    assert len(npy_files(elsewhere)) == 1 and (elsewhere / npy_files(elsewhere)[0].with_suffix(".json").name).exists()
    assert cache.clear(elsewhere) == 3  # images, their file list, and the scan
    assert list(elsewhere.iterdir()) == []


def test_cache_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv("FACEGEN_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "facegen"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache.cache_dir() == Path.home() / ".cache" / "facegen"
    monkeypatch.setenv("FACEGEN_CACHE_DIR", str(tmp_path / "c"))
    assert cache.cache_dir() == tmp_path / "c" and cache.cache_dir(tmp_path / "d") == tmp_path / "d"


def test_a_damaged_cache_entry_is_rebuilt(folder, decodes):
    ds = load(folder)
    ds.to_uint8()
    ds.cache_path.write_bytes(b"garbage")
    assert load(folder).to_uint8().shape == (6, 3, 16, 16)
    assert len(decodes) == 12


def test_a_build_in_another_process_is_awaited_not_repeated(folder, decodes, tmp_path):
    import threading

    ds = load(folder)
    ds.to_uint8()
    built = [ds.cache_path, ds.cache_path.with_suffix(".json")]
    aside = tmp_path / "aside"
    aside.mkdir()
    for p in built:
        p.rename(aside / p.name)
    lock = ds.cache_path.parent / f".{ds.cache_path.stem}.lock"
    lock.write_text("")  # another process is decoding the same entry

    def finish() -> None:
        for p in built:
            (aside / p.name).rename(p)
        lock.unlink()

    timer = threading.Timer(0.5, finish)
    timer.start()
    assert load(folder).to_uint8().shape == (6, 3, 16, 16)
    timer.join()
    assert len(decodes) == 6


def test_a_stale_build_lock_is_taken_over(folder, cache_dir, decodes):
    cache_dir.mkdir()
    ds = load(folder)
    lock = ds.cache_path.parent / f".{ds.cache_path.stem}.lock"
    lock.write_text("")
    os.utime(lock, (1, 1))
    assert ds.to_uint8().shape == (6, 3, 16, 16)
    assert len(decodes) == 6 and not lock.exists()


def test_decoding_progress_bar_obeys_tqdm_disable():
    # tqdm reads TQDM_* variables when it is imported, so each case runs in a fresh interpreter
    import subprocess
    import sys

    script = ("import numpy as np; from pathlib import Path; from facegen_utils.datasets.cache import decode_into; "
              "out = np.zeros((3, 2), dtype=np.uint8); "
              "decode_into(out, [Path(f'{i}.jpg') for i in range(3)], "
              "lambda p: np.full(2, int(p.stem), dtype=np.uint8), progress=True, desc='decoding test'); "
              "print(out[:, 0].tolist())")
    for disable, shown in (("1", False), (None, True)):
        env = {k: v for k, v in os.environ.items() if not k.startswith("TQDM_")}
        if disable:
            env["TQDM_DISABLE"] = disable
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
        assert done.stdout.strip() == "[0, 1, 2]"
        assert ("decoding test" in done.stderr) == shown, done.stderr
