"""Dataset registry and real-folder loaders on tiny folders built in each layout users actually download."""
from __future__ import annotations

import importlib.util
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import facegen_utils.datasets as datasets
from facegen_utils.datasets import DatasetNotFoundError

REAL = ["anime", "art-portraits", "celeba", "monet"]
ATTRS = ["5_o_Clock_Shadow", "Arched_Eyebrows", "Smiling"]


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEGEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("FACEGEN_DATA_DIR", raising=False)


def save_image(path: Path, size=(40, 48), color=(200, 30, 90), mode="RGB") -> Path:
    """Write a solid image (format from the suffix), creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path)
    return path


def fill(folder: Path, n: int, *, fmt="jpg", start=1, name="{:06d}") -> list[Path]:
    rng = np.random.default_rng(start)
    return [save_image(folder / f"{name.format(i)}.{fmt}", (int(rng.integers(36, 60)), int(rng.integers(36, 60))),
                       tuple(int(c) for c in rng.integers(0, 256, 3)))
            for i in range(start, start + n)]


def build_anime(root: Path) -> Path:
    fill(root / "images", 5, name="{}_2005")
    return root / "images"


def build_art(root: Path) -> Path:
    fill(root / "Portraits", 4)
    return root / "Portraits"


def celeba_tables(root: Path, n: int, *, txt: bool) -> None:
    ids = [f"{i:06d}.jpg" for i in range(1, n + 1)]
    values = np.where((np.arange(n)[:, None] + np.arange(len(ATTRS))) % 2 == 0, 1, -1)
    parts = [i % 3 for i in range(n)]
    if txt:
        rows = "\n".join(f"{i} " + " ".join(f"{v:2d}" for v in row) for i, row in zip(ids, values))
        (root / "list_attr_celeba.txt").write_text(f"{n}\n{' '.join(ATTRS)}\n{rows}\n")
        (root / "list_eval_partition.txt").write_text("".join(f"{i} {p}\n" for i, p in zip(ids, parts)))
    else:
        rows = "\n".join(f"{i}," + ",".join(str(v) for v in row) for i, row in zip(ids, values))
        (root / "list_attr_celeba.csv").write_text(f"image_id,{','.join(ATTRS)}\n{rows}\n")
        (root / "list_eval_partition.csv").write_text(
            "image_id,partition\n" + "".join(f"{i},{p}\n" for i, p in zip(ids, parts)))


def build_celeba_kaggle(root: Path) -> Path:
    images = root / "img_align_celeba" / "img_align_celeba"
    fill(images, 6)
    celeba_tables(root, 6, txt=False)
    return images


def build_celeba_torchvision(root: Path) -> Path:
    images = root / "celeba" / "img_align_celeba"
    fill(images, 6)
    celeba_tables(root / "celeba", 6, txt=True)
    return images


def build_monet(root: Path) -> Path:
    fill(root / "monet_jpg", 3)
    fill(root / "photo_jpg", 5, start=100)
    (root / "monet_tfrec").mkdir()
    (root / "monet_tfrec" / "monet00-60.tfrec").write_bytes(b"\x00" * 64)
    (root / "photo_tfrec").mkdir()
    return root / "monet_jpg"


def build_folder(root: Path) -> Path:
    fill(root / "a", 2, fmt="png")
    fill(root / "b" / "c", 2, fmt="bmp", start=10)
    save_image(root / "x.webp")
    save_image(root / "y.JPEG")
    return root


LAYOUT_CASES = [
    ("anime", build_anime, ["", "images"], 5),
    ("art-portraits", build_art, ["", "Portraits"], 4),
    ("celeba", build_celeba_kaggle, ["", "img_align_celeba", "img_align_celeba/img_align_celeba"], 6),
    ("celeba", build_celeba_torchvision, ["", "celeba", "celeba/img_align_celeba"], 6),
    ("monet", build_monet, ["", "monet_jpg"], 3),
    ("folder", build_folder, [""], 6),
]


def test_names_lists_every_dataset():
    assert datasets.names() == ["anime", "art-portraits", "celeba", "monet", "folder", "synthetic-faces",
                                "synthetic-paintings"]


@pytest.mark.parametrize("name, build, pointed, n", LAYOUT_CASES,
                         ids=[f"{c[0]}-{c[1].__name__}" for c in LAYOUT_CASES])
def test_loader_accepts_root_or_image_folder(tmp_path, name, build, pointed, n):
    images = build(tmp_path / "download")
    for sub in pointed:
        ds = datasets.get(name, data_dir=tmp_path / "download" / sub, image_size=16)
        assert len(ds) == n
        assert all(images.resolve() in f.parents for f in ds.files)
        x = ds[0]
        assert x.shape == (3, 16, 16) and x.dtype == torch.float32
        assert ds.image_size == 16 and ds.value_range == (-1.0, 1.0)
        assert ds.to_uint8().shape == (n, 3, 16, 16)


def test_monet_uses_only_monet_jpg(tmp_path):
    build_monet(tmp_path / "monet")
    ds = datasets.get("monet", data_dir=tmp_path / "monet", image_size=16)
    assert {f.parent.name for f in ds.files} == {"monet_jpg"}
    report = datasets.scan(tmp_path / "monet", dataset="monet")
    assert report.attrs["n_files"] == 3


def test_default_data_dir_is_data_name_in_working_folder(tmp_path, monkeypatch):
    build_anime(tmp_path / "project" / "data" / "anime")
    monkeypatch.chdir(tmp_path / "project")
    assert len(datasets.get("anime", image_size=16)) == 5
    (tmp_path / "project" / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "project" / "notebooks")
    assert len(datasets.get("anime", image_size=16)) == 5


def test_facegen_data_dir_is_the_parent_of_every_dataset(tmp_path, monkeypatch):
    build_art(tmp_path / "store" / "art-portraits")
    monkeypatch.setenv("FACEGEN_DATA_DIR", str(tmp_path / "store"))
    monkeypatch.chdir(tmp_path)
    assert len(datasets.get("art-portraits", image_size=16)) == 4


@pytest.mark.parametrize("name, command", [
    ("anime", "kaggle datasets download -d splcher/animefacedataset -p data/anime --unzip"),
    ("art-portraits", "kaggle datasets download -d karnikakapoor/art-portraits -p data/art-portraits --unzip"),
    ("celeba", "kaggle datasets download -d jessicali9530/celeba-dataset -p data/celeba --unzip"),
    ("monet", "kaggle competitions download -c gan-getting-started -p data/monet"),
])
def test_missing_dataset_names_path_and_download_command(tmp_path, monkeypatch, name, command):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetNotFoundError) as err:
        datasets.get(name)
    assert isinstance(err.value, FileNotFoundError)
    message = str(err.value)
    assert f"data/{name}" in message and command in message
    if name == "monet":
        assert "unzip -q data/monet/gan-getting-started.zip -d data/monet" in message


def test_missing_dataset_with_explicit_dir_uses_it_in_the_command(tmp_path):
    where = tmp_path / "somewhere" / "anime"
    with pytest.raises(DatasetNotFoundError, match="splcher/animefacedataset") as err:
        datasets.get("anime", data_dir=where)
    assert f"-p {where} --unzip" in str(err.value)


def test_empty_folder_and_zip_left_zipped_are_explained(tmp_path):
    (tmp_path / "anime").mkdir()
    (tmp_path / "anime" / "animefacedataset.zip").write_bytes(b"PK\x03\x04")
    with pytest.raises(DatasetNotFoundError, match="still zipped: unzip"):
        datasets.get("anime", data_dir=tmp_path / "anime")
    (tmp_path / "monet" / "photo_jpg").mkdir(parents=True)
    save_image(tmp_path / "monet" / "photo_jpg" / "a.jpg")
    with pytest.raises(DatasetNotFoundError, match="monet_jpg/ is not"):
        datasets.get("monet", data_dir=tmp_path / "monet")


def test_folder_needs_data_dir():
    with pytest.raises(ValueError, match="data_dir"):
        datasets.get("folder")


def test_unknown_name_suggests_the_closest():
    with pytest.raises(ValueError, match="did you mean 'anime'") as err:
        datasets.get("anme")
    assert "synthetic-faces" in str(err.value)
    assert datasets.get is not None and "art-portraits" in datasets.names()


def test_names_are_normalised(tmp_path):
    build_art(tmp_path / "art")
    assert len(datasets.get("Art_Portraits", data_dir=tmp_path / "art", image_size=16)) == 4


@pytest.mark.parametrize("options, word", [
    ({"imagesize": 32}, "image_size"),
    ({"splt": "train"}, "split"),
])
def test_unknown_option_is_named(tmp_path, options, word):
    with pytest.raises(TypeError) as err:
        datasets.get("celeba", data_dir=tmp_path, **options)
    assert repr(next(iter(options))) in str(err.value) and word in str(err.value)


def test_option_of_another_dataset_is_rejected(tmp_path):
    build_anime(tmp_path / "anime")
    with pytest.raises(TypeError, match="'split'"):
        datasets.get("anime", data_dir=tmp_path / "anime", split="train")


@pytest.mark.parametrize("kwargs, word", [
    ({"image_size": 0}, "image_size"), ({"image_size": "64"}, "image_size"), ({"image_size": True}, "image_size"),
    ({"value_range": (1, 1)}, "value_range"), ({"value_range": "01"}, "value_range"),
    ({"limit": 0}, "limit"), ({"limit": 2.5}, "limit"),
])
def test_bad_common_values_are_named(tmp_path, kwargs, word):
    with pytest.raises(ValueError, match=word):
        datasets.get("folder", data_dir=tmp_path, **kwargs)


@pytest.mark.parametrize("value_range", [(-1.0, 1.0), (0.0, 1.0)])
def test_values_are_scaled_to_value_range(tmp_path, value_range):
    save_image(tmp_path / "f" / "red.png", (40, 40), (255, 0, 0))
    save_image(tmp_path / "f" / "grey.png", (40, 40), (51, 102, 153))
    ds = datasets.get("folder", data_dir=tmp_path / "f", image_size=8, value_range=value_range)
    lo, hi = value_range
    grey, red = ds[0], ds[1]
    assert torch.equal(red[0], torch.full((8, 8), hi)) and torch.equal(red[1], torch.full((8, 8), lo))
    torch.testing.assert_close(grey[:, 0, 0], torch.tensor([0.2, 0.4, 0.6]) * (hi - lo) + lo)
    u8 = ds.to_uint8()
    assert torch.equal(u8[1].float() / 255 * (hi - lo) + lo, red)
    assert all(float(ds[i].min()) >= lo and float(ds[i].max()) <= hi for i in range(len(ds)))


@pytest.mark.parametrize("size", [(96, 32), (32, 96)])
def test_centre_square_is_cropped(tmp_path, size):
    w, h = size
    img = Image.new("RGB", size, (255, 0, 0))
    centre = (32, 0, 64, 32) if w > h else (0, 32, 32, 64)
    img.paste((0, 255, 0), centre)
    img.save(tmp_path / "wide.png")
    x = datasets.get("folder", data_dir=tmp_path, image_size=16, value_range=(0, 1))[0]
    inner = x[:, 1:-1, 1:-1]
    assert float(inner[1].min()) > 0.95 and float(inner[0].max()) < 0.05


def test_large_jpeg_decoded_at_reduced_size_matches_full_decode(tmp_path):
    yy, xx = np.mgrid[0:480, 0:640]
    smooth = np.stack([xx * 255 // 639, yy * 255 // 479, (xx + yy) * 255 // 1118], -1).astype(np.uint8)
    Image.fromarray(smooth).save(tmp_path / "big.jpg", quality=95)
    Image.fromarray(smooth).save(tmp_path / "big.png")
    ds = datasets.get("folder", data_dir=tmp_path, image_size=32, value_range=(0, 1))
    by_name = {f.suffix: ds[i] for i, f in enumerate(ds.files)}
    assert float((by_name[".jpg"] - by_name[".png"]).abs().mean()) < 3 / 255


def test_small_images_are_upscaled(tmp_path):
    save_image(tmp_path / "small.jpg", (20, 24))
    ds = datasets.get("folder", data_dir=tmp_path, image_size=32, min_size=16)
    assert ds[0].shape == (3, 32, 32)


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (32, 32), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 32, 16))  # top half red as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed rotated 90° clockwise: the red half on the right
    img.save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    x = datasets.get("folder", data_dir=tmp_path, image_size=16, value_range=(0, 1))[0]
    assert float(x[0, :, -2:].mean()) > 0.8 and float(x[2, :, :2].mean()) > 0.8


def test_limit_takes_the_first_usable_files(tmp_path):
    paths = fill(tmp_path / "f", 6)
    paths[0].write_bytes(b"")
    ds = datasets.get("folder", data_dir=tmp_path / "f", image_size=16, limit=3)
    assert [f.name for f in ds.files] == [p.name for p in paths[1:4]]


def test_celeba_attributes_and_splits(tmp_path):
    images = build_celeba_kaggle(tmp_path / "celeba")
    ds = datasets.get("celeba", data_dir=tmp_path / "celeba", image_size=16)
    attrs = ds.attributes
    assert list(attrs.columns) == ["image_id", *ATTRS]
    assert list(attrs["image_id"]) == [f.name for f in ds.files]
    assert attrs.loc[0, "5_o_Clock_Shadow"] == 1 and attrs.loc[1, "5_o_Clock_Shadow"] == 0
    assert set(np.unique(attrs[ATTRS].to_numpy())) == {0, 1}
    sizes = {s: len(datasets.get("celeba", data_dir=images, image_size=16, split=s))
             for s in ("train", "valid", "test", "all")}
    assert sizes == {"train": 2, "valid": 2, "test": 2, "all": 6}
    for pointed in (tmp_path / "celeba", images.parent, images):  # the CSVs are found from any of them
        assert datasets.get("celeba", data_dir=pointed, image_size=16).attributes.shape == (6, 1 + len(ATTRS))
    valid = datasets.get("celeba", data_dir=images, image_size=16, split="valid")
    assert [f.name for f in valid.files] == ["000002.jpg", "000005.jpg"]
    assert list(valid.attributes["image_id"]) == ["000002.jpg", "000005.jpg"]
    with pytest.raises(ValueError, match="split='dev'"):
        datasets.get("celeba", data_dir=images, split="dev")


def test_celeba_torchvision_txt_attributes_and_return_attributes(tmp_path):
    build_celeba_torchvision(tmp_path)
    ds = datasets.get("celeba", data_dir=tmp_path, image_size=16, return_attributes=True)
    x, a = ds[2]
    assert x.shape == (3, 16, 16) and a.dtype == torch.float32
    assert a.tolist() == ds.attributes.loc[2, ATTRS].astype(float).tolist()
    assert len(datasets.get("celeba", data_dir=tmp_path, image_size=16, split="test")) == 2


def test_celeba_without_annotation_files(tmp_path):
    fill(tmp_path / "img_align_celeba", 3)
    ds = datasets.get("celeba", data_dir=tmp_path, image_size=16)
    assert ds.attributes is None and len(ds) == 3
    with pytest.raises(DatasetNotFoundError, match="list_eval_partition"):
        datasets.get("celeba", data_dir=tmp_path, split="train")
    with pytest.raises(DatasetNotFoundError, match="list_attr_celeba"):
        datasets.get("celeba", data_dir=tmp_path, return_attributes=True)


def test_register_a_custom_dataset(monkeypatch):
    monkeypatch.setattr(datasets, "_REGISTRY", dict(datasets._REGISTRY))

    class Ones(torch.utils.data.Dataset):
        def __init__(self, n, image_size):
            self.n, self.image_size = n, image_size

        def __len__(self):
            return self.n

        def __getitem__(self, i):
            return torch.ones(3, self.image_size, self.image_size)

    datasets.register("ones", lambda *, data_dir, image_size, value_range, limit, n=3: Ones(limit or n, image_size))
    assert "ones" in datasets.names()
    assert len(datasets.get("ones", image_size=8, limit=2)) == 2
    with pytest.raises(TypeError, match="'m'"):
        datasets.get("ones", m=1)


def test_synthetic_factories_map_limit_to_n(monkeypatch):
    calls = []

    class Fake:
        def __init__(self, n=10000, *, image_size=64, seed=0, value_range=(-1, 1), return_attributes=False):
            calls.append(dict(n=n, image_size=image_size, seed=seed, value_range=value_range,
                              return_attributes=return_attributes))

    fake = types.ModuleType("facegen_utils.datasets.procedural")
    fake.SyntheticFaces = fake.SyntheticPaintings = Fake
    monkeypatch.setitem(sys.modules, "facegen_utils.datasets.procedural", fake)
    monkeypatch.setattr(datasets, "procedural", fake, raising=False)
    datasets.get("synthetic-faces")
    datasets.get("synthetic-faces", limit=50, image_size=32, seed=3, value_range=(0, 1), data_dir="data/anime")
    datasets.get("synthetic-paintings", n=20, limit=100, return_attributes=True)
    assert calls[0] == dict(n=10000, image_size=64, seed=0, value_range=(-1.0, 1.0), return_attributes=False)
    assert calls[1] == dict(n=50, image_size=32, seed=3, value_range=(0.0, 1.0), return_attributes=False)
    assert calls[2]["n"] == 20 and calls[2]["return_attributes"]
    with pytest.raises(TypeError, match="'colour'"):
        datasets.get("synthetic-faces", colour="red")


@pytest.mark.skipif(importlib.util.find_spec("facegen_utils.datasets.procedural") is None,
                    reason="procedural datasets not available")
def test_synthetic_datasets_through_the_registry():
    for name in ("synthetic-faces", "synthetic-paintings"):
        ds = datasets.get(name, image_size=16, limit=4, value_range=(0, 1))
        assert len(ds) == 4 and ds[0].shape == (3, 16, 16)
        assert ds.to_uint8().shape == (4, 3, 16, 16)


@pytest.mark.parametrize("name", [n for n in datasets.names() if n not in datasets.LAYOUTS])
def test_procedural_datasets_have_an_empty_report_like_the_folders(name, tmp_path):
    fill(tmp_path / "f", 2)
    folder_report = datasets.get("folder", data_dir=tmp_path / "f", image_size=16).report
    ds = datasets.get(name, image_size=16, limit=2)
    assert isinstance(ds.report, pd.DataFrame) and len(ds.report) == 0 and ds.report.empty
    assert list(ds.report.columns) == list(folder_report.columns)
    assert {"path", "problem", "action"} <= set(ds.report.columns)


def test_dataset_pickles_without_its_images_and_works_in_a_dataloader(tmp_path):
    fill(tmp_path / "f", 5)
    ds = datasets.get("folder", data_dir=tmp_path / "f", image_size=16)
    first = ds[0]
    blob = pickle.dumps(ds)
    assert len(blob) < 5 * 3 * 16 * 16
    assert torch.equal(pickle.loads(blob)[0], first)
    batches = list(torch.utils.data.DataLoader(ds, batch_size=2))
    assert [b.shape[0] for b in batches] == [2, 2, 1]
    assert torch.equal(batches[0][0], first)
    assert "n=5" in repr(ds)


def test_linked_folders_are_followed_once(tmp_path):
    fill(tmp_path / "f" / "a", 2)
    (tmp_path / "f" / "a" / "loop").symlink_to(tmp_path / "f")
    (tmp_path / "f" / ".cache").mkdir()
    save_image(tmp_path / "f" / ".cache" / "thumb.jpg")
    assert len(datasets.get("folder", data_dir=tmp_path / "f", image_size=16)) == 2


def test_negative_and_out_of_range_indices(tmp_path):
    fill(tmp_path / "f", 3)
    ds = datasets.get("folder", data_dir=tmp_path / "f", image_size=16)
    assert torch.equal(ds[-1], ds[2])
    with pytest.raises(IndexError, match="out of range"):
        ds[3]
