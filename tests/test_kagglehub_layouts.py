"""The folders ``kagglehub`` downloads to load as ``data_dir``, and are left untouched (no network).

``kagglehub.dataset_download("<owner>/<dataset>")`` returns
``$KAGGLEHUB_CACHE/datasets/<owner>/<dataset>/versions/<N>`` (default cache ``~/.cache/kagglehub``) holding what
the Kaggle zip unpacks to; ``kagglehub.competition_download("gan-getting-started")`` returns
``$KAGGLEHUB_CACHE/competitions/gan-getting-started``. Each test builds such a cache in ``tmp_path`` with a few
procedural faces as JPEGs and passes the returned folder, as a string, to ``fu.datasets.get``.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import facegen_utils as fu

CELEBA_ATTRIBUTES = [
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips", "Big_Nose",
    "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin", "Eyeglasses",
    "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache",
    "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks",
    "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick",
    "Wearing_Necklace", "Wearing_Necktie", "Young"]
CELEBA_PARTITION = [0, 0, 0, 0, 0, 1, 1, 2]  # image i+1 -> 0 train / 1 valid / 2 test


@pytest.fixture(scope="module")
def faces() -> np.ndarray:
    """12 procedural faces, uint8 (N, 32, 32, 3)."""
    return fu.datasets.get("synthetic-faces", image_size=32, limit=12).to_uint8().permute(0, 2, 3, 1).numpy()


def _jpegs(folder: Path, names: list[str], faces: np.ndarray, size: tuple[int, int] = (32, 32),
           mode: str = "RGB") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.fromarray(faces[i % len(faces)]).resize(size).convert(mode).save(folder / name, quality=90)


def _dataset_version(cache: Path, handle: str, version: int) -> Path:
    """kagglehub's folder for ``dataset_download(handle)`` at ``version``, and its completion marker beside it."""
    owner, slug = handle.split("/")
    (cache / "datasets" / owner / slug).mkdir(parents=True)
    (cache / "datasets" / owner / slug / f"{version}.complete").touch()
    return cache / "datasets" / owner / slug / "versions" / str(version)


def _anime(cache: Path, faces: np.ndarray) -> Path:
    path = _dataset_version(cache, "splcher/animefacedataset", 3)
    _jpegs(path / "images", [f"{i}_{2000 + i}.jpg" for i in range(6)], faces, (40, 40))
    return path


def _art_portraits(cache: Path, faces: np.ndarray) -> Path:
    path = _dataset_version(cache, "karnikakapoor/art-portraits", 1)
    _jpegs(path / "Portraits", [f"portrait-{i}.jpg" for i in range(4)], faces, (36, 48))
    _jpegs(path / "Portraits", ["portrait-gray.jpg"], faces, (48, 36), mode="L")  # mixed colour modes
    return path


def _celeba(cache: Path, faces: np.ndarray) -> Path:
    path = _dataset_version(cache, "jessicali9530/celeba-dataset", 2)
    ids = [f"{i:06d}.jpg" for i in range(1, len(CELEBA_PARTITION) + 1)]
    _jpegs(path / "img_align_celeba" / "img_align_celeba", ids, faces, (36, 44))  # 178x218 scaled down
    rows = [",".join([image_id, *("1" if (k + a) % 3 == 0 else "-1" for a in range(40))])
            for k, image_id in enumerate(ids)]
    (path / "list_attr_celeba.csv").write_text("\n".join([",".join(["image_id", *CELEBA_ATTRIBUTES]), *rows]) + "\n")
    (path / "list_eval_partition.csv").write_text(
        "image_id,partition\n" + "".join(f"{i},{p}\n" for i, p in zip(ids, CELEBA_PARTITION)))
    (path / "list_bbox_celeba.csv").write_text(
        "image_id,x_1,y_1,width,height\n" + "".join(f"{i},95,71,226,313\n" for i in ids))
    (path / "list_landmarks_align_celeba.csv").write_text(
        "image_id,lefteye_x,lefteye_y,righteye_x,righteye_y,nose_x,nose_y,leftmouth_x,leftmouth_y,rightmouth_x,"
        "rightmouth_y\n" + "".join(f"{i},69,109,106,113,77,142,73,152,108,154\n" for i in ids))
    return path


def _monet(cache: Path, faces: np.ndarray) -> Path:
    (cache / "competitions").mkdir(parents=True)
    (cache / "competitions" / "gan-getting-started.complete").touch()
    path = cache / "competitions" / "gan-getting-started"
    _jpegs(path / "monet_jpg", [f"{h:010x}.jpg" for h in range(101, 105)], faces, (48, 48))
    _jpegs(path / "photo_jpg", [f"{h:010x}.jpg" for h in range(201, 204)], faces, (48, 48))  # must not be loaded
    for sub, name in (("monet_tfrec", "monet00-60.tfrec"), ("photo_tfrec", "photo00-352.tfrec")):
        (path / sub).mkdir()
        (path / sub / name).write_bytes(os.urandom(64))
    return path


# dataset -> (builder returning what kagglehub returns, image folder inside it, number of images to load)
KAGGLEHUB = {
    "anime": (_anime, "images", 6),
    "art-portraits": (_art_portraits, "Portraits", 5),
    "celeba": (_celeba, "img_align_celeba/img_align_celeba", len(CELEBA_PARTITION)),
    "monet": (_monet, "monet_jpg", 4),
}


def _snapshot(root: Path) -> list[tuple[str, int, int, str]]:
    """Every file and folder under ``root``: relative path, size, mtime and content hash."""
    return sorted((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns,
                   hashlib.sha1(p.read_bytes()).hexdigest() if p.is_file() else "dir") for p in root.rglob("*"))


@pytest.mark.parametrize("name", list(KAGGLEHUB))
def test_kagglehub_download_folder_is_a_data_dir(name: str, faces: np.ndarray, tmp_path: Path,
                                                 monkeypatch) -> None:
    build, inner, n = KAGGLEHUB[name]
    cache = tmp_path / "kagglehub"  # what KAGGLEHUB_CACHE (default ~/.cache/kagglehub) points at
    path = build(cache, faces)
    assert path.relative_to(cache).parts[0] == ("competitions" if name == "monet" else "datasets")
    before = _snapshot(cache)
    monkeypatch.setenv("FACEGEN_CACHE_DIR", str(tmp_path / "facegen-cache"))

    ds = fu.datasets.get(name, data_dir=str(path), image_size=16, cache=False)  # kagglehub returns a str

    assert len(ds) == n
    assert {f.parent for f in ds.files} == {(path / inner).resolve()}  # monet: no photo_jpg/ among them
    assert tuple(ds.to_uint8().shape) == (n, 3, 16, 16)
    assert tuple(ds[n - 1].shape) == (3, 16, 16)
    assert ds.report.query("action == 'skip'").empty
    assert _snapshot(cache) == before  # the download folder is left byte-identical
    assert not (tmp_path / "facegen-cache").exists() or not any((tmp_path / "facegen-cache").rglob("*"))


def test_kagglehub_celeba_annotations_and_splits(faces: np.ndarray, tmp_path: Path) -> None:
    path = _celeba(tmp_path / "kagglehub", faces)
    before = _snapshot(tmp_path / "kagglehub")

    for split, n in (("train", 5), ("valid", 2), ("test", 1), ("all", 8)):
        ds = fu.datasets.get("celeba", data_dir=str(path), image_size=16, cache=False, split=split)
        assert len(ds) == n, split
    ds = fu.datasets.get("celeba", data_dir=str(path), image_size=16, cache=False, return_attributes=True)
    image, attributes = ds[0]
    assert tuple(image.shape) == (3, 16, 16) and attributes.tolist() == [1.0 if a % 3 == 0 else 0.0 for a in range(40)]
    assert list(ds.attributes.columns) == ["image_id", *CELEBA_ATTRIBUTES]
    assert ds.attributes["image_id"].tolist() == [f"{i:06d}.jpg" for i in range(1, 9)]
    assert _snapshot(tmp_path / "kagglehub") == before


def test_kagglehubs_parent_folder_is_refused_with_the_folder_to_pass(tmp_path):
    versions = tmp_path / "datasets" / "splcher" / "animefacedataset" / "versions"
    (versions / "3" / "images").mkdir(parents=True)
    with pytest.raises(fu.datasets.DatasetNotFoundError, match="kagglehub's cache folder: pass the .*versions/<N>"):
        fu.datasets.get("anime", data_dir=versions.parent, image_size=16, cache=False)
