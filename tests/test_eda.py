"""EDA tables and figures on tiny datasets whose statistics are known exactly."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image

from facegen_utils import eda


class ConstantImages(torch.utils.data.Dataset):
    """Four 3×4×5 images, each channel of each image one constant value, returned with a label like a loader."""

    value_range = (-1.0, 1.0)
    # per image: (R, G, B) in [0, 1]
    levels = np.array([[0.0, 0.5, 1.0], [0.25, 0.5, 0.0], [0.5, 0.5, 0.5], [1.0, 0.5, 0.25]])

    def __len__(self) -> int:
        return len(self.levels)

    def __getitem__(self, i: int):
        unit = torch.tensor(self.levels[i], dtype=torch.float32).view(3, 1, 1).expand(3, 4, 5)
        return unit * 2 - 1, i


def test_pixel_statistics_constant_images_exact():
    res = eda.pixel_statistics(ConstantImages(), batch_size=3)
    stats = res.data
    lv = ConstantImages.levels
    assert stats.count == 4
    assert stats.mean.shape == (3, 4, 5)
    for c in range(3):
        np.testing.assert_allclose(stats.min[c], lv[:, c].min(), atol=1e-7)
        np.testing.assert_allclose(stats.max[c], lv[:, c].max(), atol=1e-7)
        np.testing.assert_allclose(stats.mean[c], lv[:, c].mean(), atol=1e-7)
        np.testing.assert_allclose(stats.variance[c], lv[:, c].var(), atol=1e-7)
        np.testing.assert_allclose(stats.std[c], lv[:, c].std(), atol=1e-7)
    # G is constant 0.5 in every image: zero variance
    np.testing.assert_allclose(stats.variance[1], 0.0, atol=1e-12)
    overall = stats.overall()
    np.testing.assert_allclose(overall["min"], 0.0, atol=1e-7)
    np.testing.assert_allclose(overall["max"], 1.0, atol=1e-7)
    np.testing.assert_allclose(overall["mean"], lv.mean(), atol=1e-7)
    np.testing.assert_allclose(overall["variance"], lv.var(), atol=1e-7)
    np.testing.assert_allclose(overall["std"], lv.std(), atol=1e-7)

    table = res.table
    assert list(table.index) == ["R", "G", "B", "all"]
    assert list(table.columns) == ["mean", "std", "min", "max"]
    assert "[0, 1]" in table.columns.name
    np.testing.assert_allclose(table.loc["R"], [lv[:, 0].mean(), lv[:, 0].std(), 0.0, 1.0], atol=1e-7)
    np.testing.assert_allclose(table.loc["G"], [0.5, 0.0, 0.5, 0.5], atol=1e-7)
    np.testing.assert_allclose(table.loc["all"], [lv.mean(), lv.std(), 0.0, 1.0], atol=1e-7)
    assert table.attrs["images"] == 4


def test_pixel_statistics_figure_layout():
    res = eda.pixel_statistics(ConstantImages())
    assert isinstance(res.figure, Figure)
    # rows: min, max, mean, variance, std; columns: RGB, all channels, R, G, B
    assert len(res.figure.axes) == 25
    assert [ax.get_title() for ax in res.figure.axes[:5]] == ["RGB", "all channels", "R", "G", "B"]
    assert "[0, 1]" in res.figure.get_suptitle()
    table, fig = res
    assert table is res.table and fig is res.figure
    assert "<table" in res._repr_html_()


def _random_set(n=37, h=6, w=7, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, h, w), dtype=torch.uint8, generator=g)


def _numpy_reference(u8: torch.Tensor) -> dict:
    x = u8.numpy().astype(np.float64) / 255.0
    pooled = np.moveaxis(x, 1, 0).reshape(-1, *x.shape[2:])
    return {"min": x.min(0), "max": x.max(0), "mean": x.mean(0), "variance": x.var(0),
            "overall_mean": pooled.mean(0), "overall_variance": pooled.var(0)}


@pytest.mark.parametrize("batch_size", [1, 5, 64])
def test_streaming_matches_numpy_on_uint8_tensor(batch_size):
    u8 = _random_set()
    ref = _numpy_reference(u8)
    stats = eda.pixel_statistics(u8, batch_size=batch_size).data
    for key in ("min", "max", "mean", "variance"):
        np.testing.assert_allclose(getattr(stats, key), ref[key], atol=1e-12)
    np.testing.assert_allclose(stats.overall()["mean"], ref["overall_mean"], atol=1e-12)
    np.testing.assert_allclose(stats.overall()["variance"], ref["overall_variance"], atol=1e-12)


def test_streaming_sources_agree():
    u8 = _random_set()
    ref = _numpy_reference(u8)
    unit = u8.float() / 255
    sources = {
        "float in (0, 1)": (unit, {"value_range": (0.0, 1.0)}),
        "float default (-1, 1)": (unit * 2 - 1, {}),
        "numpy uint8": (u8.numpy(), {}),
        "list of uneven batches": ([u8[:10], u8[10:11], u8[11:]], {}),
        "iterable of images": ((img for img in u8), {"batch_size": 8}),
        "dataloader of (x, y)": (torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(unit * 2 - 1, torch.zeros(len(u8))), batch_size=9), {}),
    }
    for name, (source, kw) in sources.items():
        stats = eda.pixel_statistics(source, **kw).data
        assert stats.count == len(u8), name
        np.testing.assert_allclose(stats.mean, ref["mean"], atol=1e-6, err_msg=name)
        np.testing.assert_allclose(stats.variance, ref["variance"], atol=1e-6, err_msg=name)


def test_pixel_statistics_limit_and_errors():
    u8 = _random_set()
    stats = eda.pixel_statistics(u8, limit=10, batch_size=4).data
    assert stats.count == 10
    np.testing.assert_allclose(stats.mean, _numpy_reference(u8[:10])["mean"], atol=1e-12)
    with pytest.raises(ValueError, match="empty"):
        eda.pixel_statistics(u8[:0])
    with pytest.raises(ValueError, match="image shape changed"):
        eda.pixel_statistics([u8[:2], torch.zeros(2, 3, 5, 5, dtype=torch.uint8)])


def test_value_range_attribute_of_a_dataset_is_used():
    class ZeroOne(torch.utils.data.Dataset):
        value_range = (0.0, 1.0)

        def __len__(self):
            return 2

        def __getitem__(self, i):
            return torch.full((3, 2, 2), float(i))

    table = eda.pixel_statistics(ZeroOne()).table
    np.testing.assert_allclose(table["mean"], 0.5)
    np.testing.assert_allclose(table["min"], 0.0)
    np.testing.assert_allclose(table["max"], 1.0)


def test_sample_grid_indices_and_attributes():
    class WithAttributes(ConstantImages):
        attributes = pd.DataFrame({"hair": ["red", "black", "blond", "brown"]})

    res = eda.sample_grid(WithAttributes(), n=3, seed=5)
    assert len(res.table) == 3
    idx = res.table["index"].tolist()
    assert len(set(idx)) == 3 and all(0 <= i < 4 for i in idx)
    assert res.table["hair"].tolist() == [WithAttributes.attributes["hair"][i] for i in idx]
    assert eda.sample_grid(WithAttributes(), n=3, seed=5).table["index"].tolist() == idx
    # n larger than the dataset: every image once; 2 per row -> 2×2 grid of 4×5 images, padding 2
    res = eda.sample_grid(ConstantImages(), n=64, nrow=2)
    assert sorted(res.table["index"]) == [0, 1, 2, 3]
    assert res.data.shape == (2 * 4 + 3 * 2, 2 * 5 + 3 * 2, 3)
    first = res.table["index"][0]
    expected = np.round(ConstantImages.levels[first] * 255)
    np.testing.assert_array_equal(res.data[2, 2], expected)


def _write_images(folder, specs):
    folder.mkdir(parents=True, exist_ok=True)
    for name, (w, h, mode) in specs.items():
        Image.new(mode, (w, h), color=0).save(folder / name)


def test_image_sizes_from_headers(tmp_path):
    _write_images(tmp_path, {"a.png": (10, 20, "RGB"), "b.png": (10, 20, "L"), "c.jpg": (30, 15, "RGB")})
    _write_images(tmp_path / "sub", {"d.png": (8, 8, "RGBA")})
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    (tmp_path / "notes.txt").write_text("ignored: not an image suffix")
    before = sorted((p.name, p.stat().st_size) for p in tmp_path.rglob("*"))
    res = eda.image_sizes(tmp_path)
    t = res.table.set_index(res.table["path"].map(lambda p: p.rsplit("/", 1)[-1]))
    assert sorted(t.index) == ["a.png", "b.png", "broken.jpg", "c.jpg", "d.png"]
    assert (t.loc["c.jpg", "width"], t.loc["c.jpg", "height"], t.loc["c.jpg", "mode"]) == (30, 15, "RGB")
    assert t.loc["b.png", "mode"] == "L" and t.loc["d.png", "mode"] == "RGBA"
    assert pd.isna(t.loc["broken.jpg", "width"])
    counts = res.data.set_index(["width", "height"])["files"]
    assert counts.loc[(10, 20)] == 2 and counts.loc[(8, 8)] == 1
    assert isinstance(res.figure, Figure)
    assert sorted((p.name, p.stat().st_size) for p in tmp_path.rglob("*")) == before


def test_file_sizes_describe(tmp_path):
    sizes = [0, 1024, 2048, 4096]
    for k, n in enumerate(sizes):
        (tmp_path / f"f{k}.jpg").write_bytes(b"x" * n)
    res = eda.file_sizes(tmp_path)
    col = res.table["size (KiB)"]
    assert col["count"] == 4
    assert col["mean"] == pytest.approx(np.mean(sizes) / 1024)
    assert col["max"] == pytest.approx(4.0) and col["min"] == 0.0
    assert res.table.attrs["zero_byte_files"] == 1
    assert sorted(res.data["bytes"]) == sizes
    assert "(1 empty)" in res.figure.axes[0].get_title()
    # an explicit list of files works too
    assert eda.file_sizes([tmp_path / "f1.jpg"]).table.loc["count", "size (KiB)"] == 1


def test_missing_or_empty_folder_messages(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        eda.file_sizes(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="no image files"):
        eda.image_sizes(tmp_path)


def test_cleaning_summary_counts():
    scan = pd.DataFrame({
        "path": [f"p{k}" for k in range(8)],
        "problem": [None, "ok", "zero-byte", "zero-byte", "grayscale", "truncated", "grayscale", ""],
        "action": ["keep", "keep", "skip", "skip", "convert", "skip", "convert", "keep"],
    })
    res = eda.cleaning_summary(scan)
    counts = res.table.set_index(["problem", "action"])["files"]
    assert counts.loc[("ok", "keep")] == 3
    assert counts.loc[("zero-byte", "skip")] == 2
    assert counts.loc[("grayscale", "convert")] == 2
    assert counts.loc[("truncated", "skip")] == 1
    assert counts.sum() == 8 and res.table.attrs["total_files"] == 8
    ax = res.figure.axes[0]
    assert "3 ok, 5 with a problem" in ax.get_title()
    assert sorted(t.get_text() for t in ax.get_yticklabels()) == ["grayscale", "truncated", "zero-byte"]


def test_cleaning_summary_clean_folder_and_bad_input():
    res = eda.cleaning_summary(pd.DataFrame({"path": ["a"], "problem": [None], "action": ["keep"]}))
    assert res.table["files"].tolist() == [1]
    with pytest.raises(ValueError, match="datasets.scan"):
        eda.cleaning_summary(pd.DataFrame({"path": ["a"]}))


def test_cleaning_line_counts_skipped_and_listed_files():
    class Scanned(list):
        name = "anime"
        report = pd.DataFrame({"path": ["a", "b", "c"], "problem": ["zero-byte", "duplicate", "truncated"],
                               "action": ["skip", "keep", "skip"]})

    assert eda.cleaning_line(Scanned(range(5))) == "anime: 5 usable images; 2 files skipped, 3 listed by the scan"
    generated = type("SyntheticFaces", (list,), {"report": pd.DataFrame(columns=["path", "problem", "action"])})([0])
    assert eda.cleaning_line(generated) == "SyntheticFaces: 1 usable images; 0 files skipped, 0 listed by the scan"
    assert eda.cleaning_line(generated, "synthetic-faces").startswith("synthetic-faces: 1 usable images; 0 files")


def _stats_of(u8: torch.Tensor) -> eda.PixelStats:
    return eda.pixel_statistics(u8).data


def test_painting_signature_finds_a_drawn_horizon_and_corner_circle():
    """Sky 0.8 above row 5, ground 0.2 below; one image with white corners: the circle shows, the horizon at 5."""
    u8 = torch.zeros(10, 3, 16, 16, dtype=torch.uint8)
    u8[:, :, :5] = 204
    u8[:, :, 5:] = 51
    u8[0, :, [0, 0, -1, -1], [0, -1, 0, -1]] = 255
    sig = eda.painting_signature(_stats_of(u8))
    assert (sig.horizon, sig.rows) == (5, 16)
    assert sig.above == pytest.approx(0.8, abs=0.01) and sig.below < 0.3
    assert sig.corners == pytest.approx(1.0) and sig.circle
    first, second = sig.lines()
    assert "between rows 4 and 5 of 16" in first and "circle of the round canvases shows" in second


def test_painting_signature_without_round_canvases_has_no_circle():
    u8 = torch.full((6, 3, 16, 16), 120, dtype=torch.uint8)
    u8[:, :, 10:] = 40
    sig = eda.painting_signature(_stats_of(u8))
    assert sig.horizon == 10 and not sig.circle
    assert "no circle here" in sig.lines()[1]


def test_painting_signature_of_the_generated_paintings():
    """The procedural paintings (about 2 % round) show both: the circle in the max image, a horizon in the mean."""
    from facegen_utils.datasets.procedural import SyntheticPaintings

    ds = SyntheticPaintings(400, image_size=32, seed=3)
    sig = eda.painting_signature(eda.pixel_statistics(ds).data)
    assert sig.circle
    median_row = (ds.attributes.horizon.median() + 1) / 2 * 32
    assert abs(sig.horizon - median_row) <= 4 and sig.above > sig.below
