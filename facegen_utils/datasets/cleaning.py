"""Folder scan: find the files a loader must skip, convert or report, without ever modifying the folder.

Real image datasets are messy: the Kaggle anime-face folder holds dozens of zero-byte JPEGs and some exact
duplicates, scraped art collections mix grayscale, palette, RGBA, CMYK and 16-bit files, failed downloads leave
HTML pages named ``.jpg``. ``scan(path)`` reads every file once (header, content hash, and a full decode only
when the end-of-image marker is missing, which is how a truncated JPEG or PNG shows), and returns one row per
problem with the action a loader takes:

- ``skip``: zero-byte, not-an-image, unreadable, truncated, too-small (shorter side below ``min_size``);
- ``convert``: grayscale, rgba (RGBA/LA, composited on white), palette, 16-bit, cmyk, colour-mode → RGB on load;
- ``report``: duplicate (same bytes as an earlier file; kept unless the loader is asked to drop duplicates).

Per-file facts are cached outside the folder (see ``cache.py``), keyed by size and modification time, so a
second scan only reads new or changed files. ``quarantine`` moves the skipped files out of the folder, and only
when called explicitly.
"""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple, Sequence

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from facegen_utils._log import logger, progress

from . import cache

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
SKIP_PROBLEMS = ("zero-byte", "not-an-image", "unreadable", "truncated", "too-small")
CONVERT_PROBLEMS = ("grayscale", "rgba", "palette", "16-bit", "cmyk", "colour-mode")
REPORT_COLUMNS = ["path", "problem", "action", "detail"]

_CONVERT_BY_MODE = {"L": "grayscale", "1": "grayscale", "RGBA": "rgba", "LA": "rgba", "La": "rgba", "RGBa": "rgba",
                    "P": "palette", "PA": "palette", "CMYK": "cmyk", "I": "16-bit", "F": "16-bit",
                    "I;16": "16-bit", "I;16L": "16-bit", "I;16B": "16-bit", "I;16N": "16-bit"}
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")
_PNG_END = b"IEND\xaeB`\x82"


@dataclass(frozen=True)
class FileEntry:
    """One file of a folder: its path relative to the folder, size in bytes and modification time (ns)."""

    rel: str
    size: int
    mtime_ns: int


class Facts(NamedTuple):
    """What one read of a file found (independent of any threshold, hence cacheable)."""

    size: int
    mtime_ns: int
    width: int = 0
    height: int = 0
    mode: str = ""
    format: str = ""
    problem: str = ""
    detail: str = ""
    digest: str = ""

    def to_list(self) -> list:
        """Compact JSON form for the scan cache."""
        return list(self)


def _walk_images(root: Path, recursive: bool) -> Iterator[tuple[str, os.DirEntry]]:
    """(relative path, entry) of each image file under ``root``; hidden names skipped, linked folders once."""
    seen = {os.path.realpath(root)}
    stack = [(root, "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError as exc:
            logger.warning("cannot list %s (%s); its images are left out", folder, exc)
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                if recursive and (real := os.path.realpath(entry.path)) not in seen:
                    seen.add(real)
                    stack.append((Path(entry.path), f"{prefix}{entry.name}/"))
            elif os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS and entry.is_file():
                yield prefix + entry.name, entry


def list_images(root: str | Path, *, recursive: bool = True) -> list[FileEntry]:
    """The image files under ``root`` (by extension, hidden files and folders skipped), sorted by relative path."""
    stats = [(rel, entry.stat()) for rel, entry in _walk_images(Path(root), recursive)]
    return sorted((FileEntry(rel, st.st_size, st.st_mtime_ns) for rel, st in stats), key=lambda e: e.rel)


def has_images(folder: Path, *, recursive: bool = False) -> bool:
    """Whether ``folder`` holds at least one file with an image extension (stops at the first one)."""
    return next(_walk_images(folder, recursive), None) is not None


def _what_is_it(data: bytes) -> str:
    """A short guess of what a non-image file is, for the report."""
    head = data[:200]
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive named like an image: unzip it"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return f"unknown format (first bytes {head[:8].hex(' ')})"
    snippet = " ".join(text.split())[:60]
    if snippet.lstrip().startswith("<"):
        return f"an HTML/XML page, probably a failed download ({snippet!r})"
    return f"a text file ({snippet!r})"


def _needs_full_decode(fmt: str, data: bytes) -> bool:
    """Whether only a full decode can tell if the file is complete (end-of-image marker missing or not checkable)."""
    if fmt == "JPEG":
        return not data.rstrip(b"\x00\r\n\t ").endswith(b"\xff\xd9")
    if fmt == "PNG":
        return _PNG_END not in data[-64:]
    return True


def inspect_file(path: Path, entry: FileEntry) -> Facts:
    """Read one file and report its size, mode and format, a content hash, and a problem that makes it unusable."""
    base = {"size": entry.size, "mtime_ns": entry.mtime_ns}
    if entry.size == 0:
        return Facts(**base, problem="zero-byte", detail="empty file (0 bytes), e.g. an interrupted download")
    try:
        data = path.read_bytes()
    except OSError as exc:
        return Facts(**base, problem="unreadable", detail=f"cannot be read: {exc.strerror or exc}")
    base["digest"] = hashlib.blake2b(data, digest_size=16).hexdigest()
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height, mode, fmt = img.width, img.height, img.mode, img.format or ""
            if _needs_full_decode(fmt, data):
                img.load()
    except UnidentifiedImageError:
        if data.startswith(_IMAGE_MAGIC) or data[8:12] == b"WEBP":
            return Facts(**base, problem="unreadable", detail="the image header is damaged")
        return Facts(**base, problem="not-an-image", detail=_what_is_it(data))
    except Exception as exc:  # PIL raises many types on broken files; each one means "skip this file"
        problem, detail = cache.describe_error(exc)
        return Facts(**base, problem=problem, detail=detail)
    return Facts(**base, width=width, height=height, mode=mode, format=fmt)


def gather_facts(root: Path, entries: Sequence[FileEntry], *, use_cache: bool = True,
                 cache_dir: str | Path | None = None, workers: int | None = None) -> dict[str, Facts]:
    """Facts for ``entries``: cached ones whose size and mtime still match, the rest read now (in threads)."""
    cached = cache.load_scan(root, cache_dir) if use_cache else {}
    facts: dict[str, Facts] = {}
    todo: list[FileEntry] = []
    for e in entries:
        rec = cached.get(e.rel)
        if rec is not None and rec[0] == e.size and rec[1] == e.mtime_ns:
            facts[e.rel] = Facts._make(rec)
        else:
            todo.append(e)
    if todo:
        chunks = [todo[s:s + 64] for s in range(0, len(todo), 64)]
        with ThreadPoolExecutor(max_workers=max(2, workers or cache.default_workers())) as pool, progress(
                total=len(todo), desc=f"scanning {root.name} (cached for later runs)", unit="file", delay=2) as bar:
            for chunk, found in zip(chunks, pool.map(lambda c: [inspect_file(root / e.rel, e) for e in c], chunks)):
                facts.update(zip((e.rel for e in chunk), found))
                bar.update(len(chunk))
        if use_cache:
            cached.update({rel: f.to_list() for rel, f in facts.items()})
            cache.save_scan(root, cached, cache_dir)
    return facts


def convert_problem(mode: str) -> str:
    """The conversion a colour mode needs to become 8-bit RGB ("" for RGB)."""
    return "" if mode == "RGB" else _CONVERT_BY_MODE.get(mode, "colour-mode")


def _convert_detail(problem: str, mode: str) -> str:
    return {"grayscale": f"mode {mode}: grey copied into R, G and B", "cmyk": "mode CMYK: converted to RGB",
            "rgba": f"mode {mode}: transparency composited on white",
            "palette": f"mode {mode}: palette expanded to RGB (transparency on white)",
            "16-bit": f"mode {mode}: high bit depth scaled to 8-bit RGB"}.get(problem, f"mode {mode}: converted to RGB")


@dataclass
class Survey:
    """The outcome of scanning a folder: report rows, the usable files in order, and the files examined."""

    root: Path
    rows: list[dict] = field(default_factory=list)
    usable: list[FileEntry] = field(default_factory=list)
    examined: int = 0
    facts: dict[str, Facts] = field(default_factory=dict)

    def report(self) -> pd.DataFrame:
        """The rows as a DataFrame (path, problem, action, detail) with counts in ``attrs``."""
        df = pd.DataFrame(self.rows, columns=REPORT_COLUMNS)
        df.attrs.update(root=str(self.root), n_files=self.examined, n_usable=len(self.usable))
        return df


def survey(root: Path, entries: Sequence[FileEntry], *, min_size: int = 32, want: int | None = None,
           drop_duplicates: bool = False, use_cache: bool = True, cache_dir: str | Path | None = None,
           workers: int | None = None) -> Survey:
    """Examine ``entries`` in order (only as many as needed to find ``want`` usable files) and classify each one."""
    out = Survey(root=root)
    prefix = str(root / "_")[:-1]  # the folder with a trailing separator; rows hold full paths
    first_copy: dict[str, str] = {}
    pos = 0
    while pos < len(entries) and (want is None or len(out.usable) < want):
        step = len(entries) if want is None else max(64, int((want - len(out.usable)) * 1.1) + 16)
        batch = entries[pos:pos + step]
        pos += len(batch)
        facts = gather_facts(root, batch, use_cache=use_cache, cache_dir=cache_dir, workers=workers)
        for e in batch:
            f = out.facts[e.rel] = facts[e.rel]
            out.examined += 1
            path, problem, detail = f"{prefix}{e.rel}", f.problem, f.detail
            if not problem and min(f.width, f.height) < min_size:
                problem, detail = "too-small", f"{f.width}×{f.height} px, shorter side below min_size={min_size}"
            if problem:
                out.rows.append(dict(zip(REPORT_COLUMNS, (path, problem, "skip", detail))))
                continue
            if conv := convert_problem(f.mode):
                out.rows.append(dict(zip(REPORT_COLUMNS, (path, conv, "convert", _convert_detail(conv, f.mode)))))
            if (original := first_copy.setdefault(f.digest, e.rel)) != e.rel:
                action = "skip" if drop_duplicates else "report"
                out.rows.append(dict(zip(REPORT_COLUMNS, (path, "duplicate", action, f"same bytes as {original}"))))
                if drop_duplicates:
                    continue
            if want is None or len(out.usable) < want:
                out.usable.append(e)
    return out


def _resolve_folder(path: str | Path) -> Path:
    root = Path(path).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder: pass the folder that holds the images")
    return root.resolve()


def scan(path: str | Path, *, min_size: int = 32, recursive: bool = True, use_cache: bool = True,
         cache_dir: str | Path | None = None, workers: int | None = None) -> pd.DataFrame:
    """Report the problem files of an image folder as a DataFrame (path, problem, action, detail); never modifies it.

    ``attrs`` holds ``root``, ``n_files`` (image files examined) and ``n_usable`` (files a loader will use).
    """
    root = _resolve_folder(path)
    return survey(root, list_images(root, recursive=recursive), min_size=min_size, use_cache=use_cache,
                  cache_dir=cache_dir, workers=workers).report()


def inventory(path: str | Path, *, min_size: int = 32, recursive: bool = True, use_cache: bool = True,
              cache_dir: str | Path | None = None) -> pd.DataFrame:
    """One row per image file: path, bytes, width, height, mode, format and the action a loader takes (from headers)."""
    root = _resolve_folder(path)
    entries = list_images(root, recursive=recursive)
    result = survey(root, entries, min_size=min_size, use_cache=use_cache, cache_dir=cache_dir)
    actions: dict[str, str] = {}
    for row in result.rows:
        if row["action"] == "skip" or actions.get(row["path"]) != "skip":
            actions[row["path"]] = row["action"]
    records = []
    for e in entries:
        f = result.facts[e.rel]
        path_str = str(root / e.rel)
        records.append({"path": path_str, "bytes": e.size, "width": f.width or np.nan, "height": f.height or np.nan,
                        "mode": f.mode, "format": f.format, "action": actions.get(path_str, "use")})
    return pd.DataFrame(records)


def to_rgb(img: Image.Image, *, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Convert any PIL colour mode to 8-bit RGB: transparency on ``background``, 16-bit scaled, CMYK/grey converted."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode.startswith("I") or mode == "F":
        a = np.asarray(img, dtype=np.float32)
        a = a * 255.0 if (mode == "F" and a.max(initial=0.0) <= 1.0) else a / (1.0 if mode == "F" else 257.0)
        return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), "L").convert("RGB")
    if mode in ("PA", "LA", "La", "RGBa") or (mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
    if img.mode == "RGBA":
        canvas = Image.new("RGB", img.size, background)
        canvas.paste(img, mask=img.getchannel("A"))
        return canvas
    return img.convert("RGB")


def quarantine(path: str | Path, report: pd.DataFrame | None = None, *, to: str | Path | None = None,
               actions: Iterable[str] = ("skip",)) -> pd.DataFrame:
    """Move the files whose report action is in ``actions`` out of ``path`` into ``to``; return what moved where.

    ``to`` defaults to a sibling folder ``<path>-quarantine``; relative paths are kept, and every move is appended
    to ``quarantine-log.csv`` there so it can be undone. Only called explicitly (or by ``get(..., quarantine=True)``).
    """
    root = _resolve_folder(path)
    if report is None:
        report = scan(root)
    dest_root = Path(to).expanduser().resolve() if to is not None else root.with_name(f"{root.name}-quarantine")
    if dest_root == root or root in dest_root.parents:
        raise ValueError(f"quarantine folder {dest_root} must lie outside the dataset folder {root}")
    wanted = report[report["action"].isin(list(actions))].drop_duplicates("path")
    moves = []
    for row in wanted.itertuples(index=False):
        src = root / row.path  # relative paths are taken from the scanned folder, absolute ones as they are
        src = src.resolve() if src.exists() else src
        if root not in src.parents:
            raise ValueError(f"{src} is not inside {root}; pass the folder that was scanned")
        if not src.exists():
            logger.warning("quarantine: %s no longer exists, nothing moved", src)
            continue
        dst = dest_root / src.relative_to(root)
        stem, n = dst, 1
        while dst.exists():
            dst = stem.with_name(f"{stem.stem}-{n}{stem.suffix}")
            n += 1
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(src), str(dst))
        logger.info("quarantined %s (%s: %s) -> %s", src, row.problem, row.detail, dst)
        moves.append({"original": str(src), "moved_to": str(dst), "problem": row.problem, "detail": row.detail,
                      "time": time.strftime("%Y-%m-%d %H:%M:%S")})
    table = pd.DataFrame(moves, columns=["original", "moved_to", "problem", "detail", "time"])
    if moves:
        log = dest_root / "quarantine-log.csv"
        table.to_csv(log, mode="a", header=not log.exists(), index=False)
    return table
