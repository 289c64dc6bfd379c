"""Procedural datasets: determinism, shapes and ranges, attributes, bulk access, folders, and the EDA signatures
(round canvases and horizon) the Monet report relies on."""
from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from facegen_utils.datasets.procedural import SyntheticFaces, SyntheticPaintings, render_to_folder, write_readme_grids

KINDS = [SyntheticFaces, SyntheticPaintings]


@pytest.fixture(scope="module")
def paintings_u8() -> tuple[SyntheticPaintings, torch.Tensor]:
    ds = SyntheticPaintings(400, image_size=32, seed=3)
    return ds, ds.to_uint8()


@pytest.mark.parametrize("cls", KINDS)
def test_same_seed_and_index_give_identical_images_in_any_order(cls):
    a = cls(40, image_size=32, seed=5)
    b = cls(40, image_size=32, seed=5)
    forward = [a[i] for i in range(40)]
    backward = [b[i] for i in reversed(range(40))][::-1]
    for x, y in zip(forward, backward):
        assert torch.equal(x, y)
    assert torch.equal(a[-1], a[39])


@pytest.mark.parametrize("cls", KINDS)
@pytest.mark.parametrize("size", [16, 33, 64])
def test_images_do_not_depend_on_chunking(cls, size):
    # one image per batch draws in that image's own bounding boxes, a long chunk in their union over the batch
    reference = cls(24, image_size=size, seed=1, chunk_size=1).to_uint8()
    for chunk in (5, 256):
        assert torch.equal(cls(24, image_size=size, seed=1, chunk_size=chunk).to_uint8(), reference)
    rendered = cls(300, image_size=size, seed=1).render([23, 3, 17])
    assert torch.equal(rendered, reference[[23, 3, 17]])


@pytest.mark.parametrize("cls", KINDS)
def test_a_longer_dataset_starts_with_the_same_images(cls):
    short = cls(10, image_size=32, seed=2).to_uint8()
    long = cls(300, image_size=32, seed=2)
    assert torch.equal(long.render(range(10)), short)


@pytest.mark.parametrize("cls", KINDS)
def test_seeds_and_indices_differ(cls):
    a = cls(8, image_size=32, seed=0).to_uint8()
    b = cls(8, image_size=32, seed=1).to_uint8()
    assert not torch.equal(a, b)
    flat = a.view(8, -1)
    assert all(not torch.equal(flat[i], flat[j]) for i in range(8) for j in range(i))


@pytest.mark.parametrize("cls", KINDS)
@pytest.mark.parametrize("size", [16, 32, 64, 128])
def test_shape_dtype_and_range(cls, size):
    ds = cls(3, image_size=size)
    x = ds[2]
    assert x.shape == (3, size, size) and x.dtype == torch.float32
    assert x.min() >= -1.0 and x.max() <= 1.0
    assert x.std() > 0.05
    assert len(ds) == 3 and ds.image_size == size and ds.value_range == (-1.0, 1.0)


@pytest.mark.parametrize("cls", KINDS)
def test_value_range_zero_one_is_the_same_image_rescaled(cls):
    x11 = cls(4, image_size=32, value_range=(-1, 1))[1]
    x01 = cls(4, image_size=32, value_range=(0, 1))[1]
    assert x01.min() >= 0.0 and x01.max() <= 1.0 and x11.min() < 0.0
    torch.testing.assert_close((x11 + 1) / 2, x01, atol=1e-6, rtol=0)


@pytest.mark.parametrize("cls", KINDS)
def test_to_uint8_matches_items(cls):
    ds = cls(20, image_size=32, value_range=(-1, 1), chunk_size=8)
    u8 = ds.to_uint8()
    assert u8.shape == (20, 3, 32, 32) and u8.dtype == torch.uint8
    for i in (0, 7, 8, 19):
        quantised = ((ds[i] + 1) / 2 * 255).round().to(torch.uint8)
        assert torch.equal(quantised, u8[i])
        assert torch.equal(ds[i], u8[i].float() / 255 * 2 - 1)  # the engine's conversion gives ds[i] exactly


@pytest.mark.parametrize("cls", KINDS)
def test_to_uint8_renders_once_when_the_set_fits_the_cache(cls, monkeypatch):
    ds = cls(20, image_size=16, chunk_size=8)
    first = ds.to_uint8()
    calls = []
    monkeypatch.setattr(ds, "render", lambda idx: calls.append(idx) or pytest.fail("rendered again"))
    second = ds.to_uint8()
    assert calls == [] and torch.equal(first, second)
    second.zero_()                                   # callers own their copy: the cache is untouched
    assert torch.equal(ds.to_uint8(), first)


def test_to_uint8_beyond_the_cache_budget_renders_without_keeping():
    ds = SyntheticFaces(20, image_size=16, chunk_size=8, cache_mb=0.001)
    assert torch.equal(ds.to_uint8(), SyntheticFaces(20, image_size=16, chunk_size=8).to_uint8())
    assert len(ds._cache) == 0


@pytest.mark.parametrize("cls", KINDS)
def test_attributes_table(cls):
    ds = cls(300, image_size=32)
    table = ds.attributes
    assert isinstance(table, pd.DataFrame) and len(table) == 300
    assert not ds._cache, "attributes must not render images"
    for column in table.columns:
        assert table[column].nunique(dropna=True) > 1, f"attribute {column} never varies"
    assert table.equals(cls(300, image_size=64).attributes), "attributes depend on seed and index only"
    assert not table.equals(cls(300, image_size=32, seed=9).attributes)


def test_face_attributes_cover_the_spec():
    table = SyntheticFaces(500).attributes
    for column in ("face_shape", "face_width", "face_height", "skin_tone", "skin_r", "hair_color", "hair_style",
                   "bangs", "eye_size", "eye_color", "eye_spacing", "mouth", "background_top_r",
                   "background_bottom_r", "accessory", "blush"):
        assert column in table.columns
    assert set(table.accessory.unique()) == {"none", "bow", "glasses"}
    assert set(table.hair_style.unique()) == {"short", "bob", "long", "twin_tails", "bun"}
    assert set(table.bangs.unique()) == {"blunt", "spiky", "side_swept", "parted", "none"}


@pytest.mark.parametrize("cls", KINDS)
def test_return_attributes_gives_image_and_row(cls):
    ds = cls(6, image_size=16, return_attributes=True)
    image, attrs = ds[4]
    assert torch.equal(image, cls(6, image_size=16)[4])
    row = ds.attributes.iloc[4]
    assert set(attrs) == set(ds.attributes.columns)
    for key, value in attrs.items():
        assert isinstance(value, (str, bool, int, float))
        if isinstance(value, float) and np.isnan(value):
            assert pd.isna(row[key])
        else:
            assert value == row[key]
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=3)))
    assert batch[0].shape == (3, 3, 16, 16)


@pytest.mark.parametrize("cls", KINDS)
@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_save_to_folder(cls, fmt, tmp_path):
    ds = cls(12, image_size=24)
    folder = ds.save_to_folder(tmp_path / "out", fmt=fmt, limit=5)
    files = sorted(p.name for p in folder.glob(f"*.{fmt}"))
    assert files == [f"{i:06d}.{fmt}" for i in range(5)]
    table = pd.read_csv(folder / "attributes.csv")
    assert len(table) == 5 and list(table.filename) == files
    u8 = ds.to_uint8()
    for i, name in enumerate(files):
        with Image.open(folder / name) as im:
            assert im.size == (24, 24) and im.mode == "RGB"
            pixels = torch.from_numpy(np.array(im)).permute(2, 0, 1)
        if fmt == "png":
            assert torch.equal(pixels, u8[i])
        else:
            assert (pixels.float() - u8[i].float()).abs().mean() < 4


@pytest.mark.parametrize("cls", KINDS)
def test_pickles_without_its_cache(cls):
    ds = cls(10, image_size=16)
    first = ds[3]
    clone = pickle.loads(pickle.dumps(ds))
    assert not clone._cache
    assert torch.equal(clone[3], first)


def test_cache_stays_within_budget():
    ds = SyntheticFaces(40, image_size=16, chunk_size=4, cache_mb=2 * 4 * 3 * 16 * 16 / 2 ** 20)
    for i in range(40):
        ds[i]
    assert len(ds._cache) == 2


@pytest.mark.parametrize("cls", KINDS)
def test_bad_arguments_name_the_parameter(cls):
    with pytest.raises(ValueError, match="image_size"):
        cls(4, image_size=4)
    with pytest.raises(ValueError, match="value_range"):
        cls(4, value_range=(1, -1))
    with pytest.raises(ValueError, match="n must be"):
        cls(0)
    with pytest.raises(ValueError, match="fmt"):
        cls(2).save_to_folder("unused", fmt="gif")
    with pytest.raises(IndexError):
        cls(4)[4]


def test_round_canvases_are_flagged_and_framed():
    ds = SyntheticPaintings(400, image_size=32, seed=3, round_share=0.3)  # many round ones to check the frames on
    u8 = ds.to_uint8()
    flag = torch.from_numpy(ds.attributes.round_canvas.to_numpy(copy=True))
    assert 0.2 < flag.float().mean() < 0.4
    corners = u8[:, :, [0, 0, -1, -1], [0, -1, 0, -1]].float()            # (N, 3, 4)
    framed = (corners.min(dim=2).values.min(dim=1).values > 232)          # every corner near-white
    assert torch.equal(framed, flag)
    spread = corners[flag].amax(dim=2) - corners[flag].amin(dim=2)
    assert spread.max() <= 2, "the frame outside a round canvas is one uniform colour"


def test_max_image_shows_the_circle_and_mean_shows_the_horizon(paintings_u8):
    ds, u8 = paintings_u8
    brightest = u8.amax(dim=0).float().mean(dim=0)                       # per-pixel max, averaged over RGB
    corners = brightest[[0, 0, -1, -1], [0, -1, 0, -1]]
    centre = brightest[8:24, 8:24]
    assert corners.min() > centre.max() + 5, "the max image must show the round canvases as a circle"
    round_only = u8[torch.from_numpy(ds.attributes.round_canvas.to_numpy(copy=True))].amax(dim=0).float().mean(dim=0)
    assert round_only[[0, -1], [0, -1]].min() > round_only[8:24, 8:24].max()

    mean_rows = u8[~torch.from_numpy(ds.attributes.round_canvas.to_numpy(copy=True))].float().mean(dim=(0, 1, 3))
    horizon_row = int(round((ds.attributes.horizon.median() + 1) / 2 * 32))
    assert mean_rows[:horizon_row - 3].mean() > mean_rows[horizon_row + 3:].mean() + 10, \
        "the mean image must be brighter above the horizon than below it"


def test_faces_show_skin_where_the_face_is():
    ds = SyntheticFaces(48, image_size=64)
    u8 = ds.to_uint8().float() / 255
    table = ds.attributes
    grid = (torch.arange(64) + 0.5) / 32 - 1
    inside, border = [], []
    for i in range(48):
        skin = torch.tensor(table.loc[i, ["skin_r", "skin_g", "skin_b"]].to_numpy(dtype=np.float32))
        close = (u8[i] - skin[:, None, None]).abs().amax(dim=0) < 0.08
        dx, dy = grid - table.face_x[i], grid - table.face_y[i]
        lower_face = ((dy > 0) & (dy < 0.4 * table.face_height[i]))[:, None] \
            & (dx.abs() < 0.3 * table.face_width[i])[None, :]
        inside.append(close[lower_face].float().mean().item())
        border.append(close[:3].float().mean().item())
    assert min(inside) > 0.04, "every face shows skin below its centre"
    assert np.mean(inside) > 0.3 and np.mean(inside) > 3 * np.mean(border)


def test_write_readme_grids(tmp_path):
    written = write_readme_grids(tmp_path)
    assert [p.name for p in written] == ["synthetic_faces.png", "synthetic_paintings.png"]
    for name in ("synthetic_faces.png", "synthetic_paintings.png"):
        with Image.open(tmp_path / name) as im:
            assert im.size == (8 * 66 + 2, 8 * 66 + 2)


def test_render_to_folder_writes_the_dataset_of_a_kind(tmp_path):
    folder = render_to_folder(tmp_path / "out", kind="paintings", n=3, image_size=16, seed=2, fmt="png")
    assert sorted(p.name for p in folder.glob("*.png")) == ["000000.png", "000001.png", "000002.png"]
    with Image.open(folder / "000002.png") as im:
        pixels = torch.from_numpy(np.array(im)).permute(2, 0, 1)
    assert torch.equal(pixels, SyntheticPaintings(3, image_size=16, seed=2).render([2])[0])
    assert "time_of_day" in pd.read_csv(folder / "attributes.csv").columns
    with pytest.raises(ValueError, match="kind"):
        render_to_folder(tmp_path / "bad", kind="portraits")


def test_the_paintings_eda_signature_matches_the_monet_data():
    """Report 003's EDA: the round canvases' circle shows in the max image, the mean image stays a landscape."""
    from facegen_utils import eda

    ds = SyntheticPaintings(1024, image_size=32, seed=0)
    assert 0.005 < ds.attributes["round_canvas"].mean() < 0.04  # ~2 %: about 2 of the 300 Monet paintings
    stats = eda.pixel_statistics(ds.to_uint8()).data  # (C, H, W) images in [0, 1]

    def corner_minus_centre(image: np.ndarray) -> float:
        grey = image.mean(axis=0)
        corners = np.concatenate([grey[:3, :3].ravel(), grey[:3, -3:].ravel(), grey[-3:, :3].ravel(),
                                  grey[-3:, -3:].ravel()])
        return float(corners.mean() - grey[12:20, 12:20].mean())

    assert corner_minus_centre(stats.max) > 0.05            # white frame corners outshine every painted centre
    assert corner_minus_centre(stats.mean) < 0.03           # the mean is not dominated by the frames (0.08 at 30 %)
    assert corner_minus_centre(stats.std) < 0.03            # nor the std (0.09 when 30 % were round)
    rows = stats.mean.mean(axis=(0, 2))
    assert rows[:10].mean() - rows[-10:].mean() > 0.02      # sky above, water or field below: the horizon
    many = eda.pixel_statistics(SyntheticPaintings(1024, image_size=32, seed=0, round_share=0.3).to_uint8()).data
    assert corner_minus_centre(many.mean) > 0.05 and corner_minus_centre(many.std) > 0.05  # what the test tells apart
    with pytest.raises(ValueError, match="round_share"):
        SyntheticPaintings(8, round_share=1.5)
