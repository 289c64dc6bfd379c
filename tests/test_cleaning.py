"""Folder scan on every kind of bad input: what is reported, skipped, converted; the folder is never touched."""
from __future__ import annotations

import io
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import facegen_utils.datasets as datasets
from facegen_utils._log import logger
from facegen_utils.datasets import cleaning

EXPECTED = {
    "zero.jpg": ("zero-byte", "skip"),
    "zero2.jpg": ("zero-byte", "skip"),
    "notes.jpg": ("not-an-image", "skip"),
    "page.jpg": ("not-an-image", "skip"),
    "truncated.jpg": ("truncated", "skip"),
    "truncated.png": ("truncated", "skip"),
    "damaged.png": ("unreadable", "skip"),
    "tiny.png": ("too-small", "skip"),
    "gray.jpg": ("grayscale", "convert"),
    "bilevel.png": ("grayscale", "convert"),
    "rgba.png": ("rgba", "convert"),
    "la.png": ("rgba", "convert"),
    "palette.png": ("palette", "convert"),
    "palette_alpha.png": ("palette", "convert"),
    "deep.png": ("16-bit", "convert"),
    "cmyk.jpg": ("cmyk", "convert"),
    "good_copy.jpg": ("duplicate", "report"),
}
SKIPPED = {name for name, (_, action) in EXPECTED.items() if action == "skip"}


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEGEN_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def facegen_log(caplog):
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, logger="facegen")
    yield caplog
    logger.removeHandler(caplog.handler)


def noise_bytes(fmt: str, size=(48, 40), seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(buf, fmt)
    return buf.getvalue()


@pytest.fixture
def messy(tmp_path) -> Path:
    """A folder with one file of every kind of trouble, some good files, and files a loader must ignore."""
    root = tmp_path / "messy"
    (root / "sub").mkdir(parents=True)
    (root / "good.jpg").write_bytes(noise_bytes("JPEG"))
    shutil.copy(root / "good.jpg", root / "good_copy.jpg")
    (root / "sub" / "nested.png").write_bytes(noise_bytes("PNG", seed=1))
    (root / "zero.jpg").write_bytes(b"")
    (root / "zero2.jpg").write_bytes(b"")
    (root / "notes.jpg").write_text("shopping list: eggs, milk\n")
    (root / "page.jpg").write_text("<!DOCTYPE html><html><body>403 Forbidden</body></html>")
    jpeg, png = noise_bytes("JPEG", seed=2), noise_bytes("PNG", seed=3)
    (root / "truncated.jpg").write_bytes(jpeg[: len(jpeg) * 2 // 3])
    (root / "truncated.png").write_bytes(png[: len(png) // 2])
    damaged = bytearray(png)
    damaged[16] ^= 0xFF  # width field of the IHDR chunk: the CRC no longer matches
    (root / "damaged.png").write_bytes(bytes(damaged))
    Image.new("RGB", (16, 16), (10, 200, 10)).save(root / "tiny.png")
    Image.new("L", (40, 40), 128).save(root / "gray.jpg")
    Image.new("1", (40, 40), 1).save(root / "bilevel.png")
    rgba = Image.new("RGBA", (40, 40), (255, 0, 0, 0))
    rgba.paste((0, 0, 255, 255), (0, 0, 40, 20))
    rgba.save(root / "rgba.png")
    Image.new("LA", (40, 40), (50, 255)).save(root / "la.png")
    palette = Image.new("P", (40, 40), 1)
    palette.putpalette([0, 0, 0, 0, 128, 255] + [0] * 762)
    palette.save(root / "palette.png")
    palette.save(root / "palette_alpha.png", transparency=1)
    deep = np.full((40, 40), 32896, dtype=np.uint16)  # 32896 / 257 = 128
    deep[:20] = 65535
    Image.fromarray(deep).save(root / "deep.png")
    Image.new("CMYK", (40, 40), (0, 255, 255, 0)).save(root / "cmyk.jpg")
    (root / "readme.txt").write_text("not an image extension: ignored")
    (root / ".hidden.jpg").write_bytes(b"")
    return root


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every path under root with its bytes and modification time (folders too)."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else b"", p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


def by_name(report: pd.DataFrame) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for row in report.itertuples():
        out.setdefault(Path(row.path).name, []).append((row.problem, row.action))
    return out


def test_scan_reports_every_kind_of_bad_input(messy):
    report = datasets.scan(messy)
    assert list(report.columns) == ["path", "problem", "action", "detail"]
    assert by_name(report) == {name: [kind] for name, kind in EXPECTED.items()}
    assert report.attrs["n_files"] == 19 and report.attrs["n_usable"] == 19 - len(SKIPPED)
    details = dict(zip(report.path.map(lambda p: Path(p).name), report.detail))
    assert "good.jpg" in details["good_copy.jpg"]
    assert "text file" in details["notes.jpg"] and "HTML" in details["page.jpg"]
    assert "16×16" in details["tiny.png"] and "min_size=32" in details["tiny.png"]


def test_scan_and_loading_never_modify_the_folder(messy):
    before = snapshot(messy)
    datasets.scan(messy)
    datasets.scan(messy)
    ds = datasets.get("folder", data_dir=messy, image_size=16)
    ds.to_uint8()
    [ds[i] for i in range(len(ds))]
    cleaning.inventory(messy)
    assert snapshot(messy) == before


def test_loader_skips_unusable_files_naming_each_and_converts_the_rest(messy, facegen_log):
    ds = datasets.get("folder", data_dir=messy, image_size=32, value_range=(0, 1))
    names = {f.name for f in ds.files}
    assert names.isdisjoint(SKIPPED | {"damaged.png"})
    assert {"good.jpg", "good_copy.jpg", "nested.png", "gray.jpg", "rgba.png", "deep.png", "cmyk.jpg"} <= names
    text = facegen_log.text
    for name in SKIPPED:
        assert f"skipping {messy / name}: {EXPECTED[name][0]}" in text
    assert "zero-byte" in text and "converting to RGB on load" in text and "duplicate" in text
    assert all(ds[i].shape == (3, 32, 32) for i in range(len(ds)))


def test_conversions_give_the_right_colours(messy):
    ds = datasets.get("folder", data_dir=messy, image_size=8, value_range=(0, 1))
    img = {f.name: ds[i] for i, f in enumerate(ds.files)}
    gray = img["gray.jpg"]
    assert torch_close(gray[:, 3, 3], [128 / 255] * 3, 1 / 255)
    rgba = img["rgba.png"]  # opaque blue on top, fully transparent red below: white
    assert torch_close(rgba[:, 0, 4], [0, 0, 1]) and torch_close(rgba[:, -1, 4], [1, 1, 1])
    assert torch_close(img["la.png"][:, 4, 4], [50 / 255] * 3)
    assert torch_close(img["palette.png"][:, 4, 4], [0, 128 / 255, 1])
    assert torch_close(img["palette_alpha.png"][:, 4, 4], [1, 1, 1])
    deep = img["deep.png"]
    assert torch_close(deep[:, 0, 0], [1, 1, 1]) and torch_close(deep[:, -1, 0], [128 / 255] * 3)
    assert torch_close(img["cmyk.jpg"][:, 4, 4], [1, 0, 0], 3 / 255)
    assert torch_close(img["bilevel.png"][:, 4, 4], [1, 1, 1])


def torch_close(x, expected, atol=0.5 / 255) -> bool:
    return bool(np.allclose(x.numpy(), np.asarray(expected, dtype=np.float32), atol=atol))


def test_corrupt_data_with_a_valid_header_is_skipped_when_decoding(messy, facegen_log):
    png = bytearray(noise_bytes("PNG", seed=4))
    png[60:80] = b"\x00" * 20  # inside the image data; the end marker is intact, so only decoding notices
    (messy / "corrupt.png").write_bytes(bytes(png))
    assert "corrupt.png" not in by_name(datasets.scan(messy))
    ds = datasets.get("folder", data_dir=messy, image_size=16)
    n_before = len(ds)
    ds.to_uint8()
    assert len(ds) == n_before - 1 and "corrupt.png" not in {f.name for f in ds.files}
    assert by_name(ds.report)["corrupt.png"] == [("unreadable", "skip")]
    assert "corrupt.png" in facegen_log.text and "failed to decode" in facegen_log.text
    again = datasets.get("folder", data_dir=messy, image_size=16)
    assert len(again) == n_before - 1


def test_min_size_threshold(messy):
    assert "tiny.png" not in by_name(datasets.scan(messy, min_size=8))
    report = datasets.scan(messy, min_size=41)
    assert by_name(report)["good.jpg"] == [("too-small", "skip")]
    assert by_name(report)["good_copy.jpg"] == [("too-small", "skip")]
    small = {f.name for f in datasets.get("folder", data_dir=messy, image_size=16).files}
    large = {f.name for f in datasets.get("folder", data_dir=messy, image_size=64).files}
    assert "tiny.png" in small and "tiny.png" not in large  # the loader's default min_size is min(32, image_size)


def test_duplicates_are_reported_not_skipped_unless_asked(messy):
    shutil.copy(messy / "sub" / "nested.png", messy / "sub" / "nested_again.png")
    report = by_name(datasets.scan(messy))
    assert report["nested_again.png"] == [("duplicate", "report")]
    assert report["zero2.jpg"] == [("zero-byte", "skip")]  # empty files are not duplicates of each other
    kept = datasets.get("folder", data_dir=messy, image_size=16)
    dropped = datasets.get("folder", data_dir=messy, image_size=16, drop_duplicates=True)
    assert len(kept) - len(dropped) == 2
    assert by_name(dropped.report)["good_copy.jpg"] == [("duplicate", "skip")]


def test_a_converted_file_can_also_be_a_duplicate(messy):
    shutil.copy(messy / "gray.jpg", messy / "gray_again.jpg")
    assert by_name(datasets.scan(messy))["gray_again.jpg"] == [("grayscale", "convert"), ("duplicate", "report")]


def test_quarantine_moves_files_only_when_asked(messy, tmp_path):
    before = snapshot(messy)
    report = datasets.scan(messy)
    datasets.get("folder", data_dir=messy, image_size=16)
    assert snapshot(messy) == before
    moved = datasets.quarantine(messy, report, to=tmp_path / "q")
    assert {Path(p).name for p in moved["original"]} == SKIPPED
    assert all(Path(p).exists() for p in moved["moved_to"]) and not any(Path(p).exists() for p in moved["original"])
    assert (tmp_path / "q" / "zero.jpg").exists()
    log = pd.read_csv(tmp_path / "q" / "quarantine-log.csv")
    assert set(log["problem"]) == {kind for kind, action in EXPECTED.values() if action == "skip"}
    remaining = snapshot(messy)
    assert {k: v for k, v in before.items() if Path(k).name not in SKIPPED} == remaining
    assert datasets.scan(messy)["action"].eq("skip").sum() == 0


def test_get_with_quarantine_moves_skipped_files_to_a_sibling_folder(messy):
    ds = datasets.get("folder", data_dir=messy, image_size=32, quarantine=True)
    sibling = messy.with_name("messy-quarantine")
    assert {p.name for p in sibling.iterdir()} == SKIPPED | {"quarantine-log.csv"}
    assert len(ds) == 19 - len(SKIPPED)
    with pytest.raises(ValueError, match="outside"):
        datasets.quarantine(messy, datasets.scan(messy), to=messy / "bad")


def test_quarantine_keeps_subfolders_and_never_overwrites(tmp_path):
    root = tmp_path / "data"
    (root / "a").mkdir(parents=True)
    (root / "a" / "x.jpg").write_bytes(b"")
    (root / "ok.jpg").write_bytes(noise_bytes("JPEG"))
    q = tmp_path / "q"
    (q / "a").mkdir(parents=True)
    (q / "a" / "x.jpg").write_bytes(b"earlier")
    moved = datasets.quarantine(root, to=q)
    assert Path(moved.loc[0, "moved_to"]) == q / "a" / "x-1.jpg"
    assert (q / "a" / "x.jpg").read_bytes() == b"earlier"


def test_scan_uses_its_cache_and_rereads_changed_files(messy, monkeypatch):
    first = datasets.scan(messy)
    read = []
    original = cleaning.inspect_file
    monkeypatch.setattr(cleaning, "inspect_file", lambda path, entry: read.append(path.name) or original(path, entry))
    pd.testing.assert_frame_equal(datasets.scan(messy), first)
    assert read == []
    (messy / "zero.jpg").write_bytes(noise_bytes("JPEG", seed=9))
    assert "zero.jpg" not in by_name(datasets.scan(messy))
    assert read == ["zero.jpg"]


def test_inventory_has_one_row_per_file(messy):
    table = cleaning.inventory(messy)
    assert len(table) == 19
    row = table.set_index(table["path"].map(lambda p: Path(p).name)).loc["good.jpg"]
    assert (row["width"], row["height"], row["bytes"], row["action"]) == (48, 40, (messy / "good.jpg").stat().st_size,
                                                                           "use")
    assert table.loc[table["path"].str.endswith("zero.jpg"), "action"].item() == "skip"


def test_scan_of_a_missing_folder_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        datasets.scan(tmp_path / "nowhere")


def test_a_folder_of_only_bad_files_raises_a_clear_error(tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.jpg").write_bytes(b"")
    (tmp_path / "bad" / "b.jpg").write_text("hello")
    with pytest.raises(datasets.DatasetNotFoundError, match="none of the 2 image files") as err:
        datasets.get("folder", data_dir=tmp_path / "bad")
    assert "zero-byte" in str(err.value) and "not-an-image" in str(err.value)


@pytest.mark.parametrize("mode, values, expected", [
    ("F", [[0.0, 0.5], [1.0, 0.25]], [0, 128, 255, 64]),
    ("I", [[0, 65535], [257, 32896]], [0, 255, 1, 128]),
])
def test_to_rgb_scales_high_bit_depth(mode, values, expected):
    dtype = np.float32 if mode == "F" else np.int32
    rgb = cleaning.to_rgb(Image.fromarray(np.array(values, dtype=dtype), mode))
    assert rgb.mode == "RGB"
    assert np.asarray(rgb)[..., 0].ravel().tolist() == expected


def test_without_cache_a_corrupt_file_raises_naming_it(messy):
    png = bytearray(noise_bytes("PNG", seed=4))
    png[60:80] = b"\x00" * 20
    (messy / "corrupt.png").write_bytes(bytes(png))
    ds = datasets.get("folder", data_dir=messy, image_size=16, cache=False)
    index = [f.name for f in ds.files].index("corrupt.png")
    with pytest.raises(RuntimeError, match="corrupt.png"):
        ds[index]
