"""Decoded uint8 image cache and folder-scan cache, kept outside the dataset folder.

Decoding JPEGs costs ~1 ms per image on one CPU core, a uint8 tensor in memory ~10 µs: the first pass over a
folder decodes every image once, at the working resolution, into ``<cache dir>/<name>-<size>px-<slot>-<key>.npy``
(uint8, shape (N, 3, S, S)), and every later epoch or run memory-maps that file instead. The key hashes the
folder, the file list with sizes and modification times, the image size and the transform, so touching, editing,
adding or removing a file, or changing ``image_size``, builds a fresh entry; the stale entry of the same
selection (its "slot") is deleted then. The cache folder is ``$FACEGEN_CACHE_DIR``, else
``$XDG_CACHE_HOME/facegen``, else ``~/.cache/facegen``; nothing is ever written into the dataset folder.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from facegen_utils._log import logger
from facegen_utils._log import progress as progress_bar

CACHE_VERSION = 1
LOCK_STALE_SECONDS = 60.0
_CHUNK = 32


def cache_dir(directory: str | Path | None = None) -> Path:
    """The cache folder: ``directory``, else $FACEGEN_CACHE_DIR, $XDG_CACHE_HOME/facegen or ~/.cache/facegen."""
    if directory is not None:
        return Path(directory).expanduser()
    if env := os.environ.get("FACEGEN_CACHE_DIR"):
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "facegen"


def fingerprint(*parts: Any) -> str:
    """A stable hex digest of JSON-serialisable parts (paths and other objects are turned into strings)."""
    return hashlib.sha256(json.dumps(parts, separators=(",", ":"), default=str).encode()).hexdigest()


def default_workers() -> int:
    """Threads used for decoding and scanning: the CPU count, at most 8."""
    return max(1, min(8, os.cpu_count() or 1))


def _replace_json(path: Path, payload: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, separators=(",", ":")))
    os.replace(tmp, path)


def describe_error(exc: BaseException) -> tuple[str, str]:
    """Map an exception raised while opening/decoding an image to (problem, detail)."""
    message = str(exc) or type(exc).__name__
    if "truncat" in message.lower():
        return "truncated", message
    return "unreadable", f"{type(exc).__name__}: {message}"


def decode_into(out: np.ndarray, paths: Sequence[Path], decode: Callable[[Path], np.ndarray], *,
                workers: int | None = None, progress: bool = False, desc: str = "decoding",
                heartbeat: Callable[[], None] | None = None) -> dict[int, tuple[str, str]]:
    """Decode ``paths[i]`` into ``out[i]`` on a thread pool; return ``{index: (problem, detail)}`` of failed files.

    ``heartbeat`` is called after every chunk of images (it keeps a build lock fresh).
    """
    failures: dict[int, tuple[str, str]] = {}

    def work(start: int) -> int:
        stop = min(start + _CHUNK, len(paths))
        for i in range(start, stop):
            try:
                out[i] = decode(paths[i])
            except Exception as exc:  # a bad file is reported and skipped, whatever PIL raised
                failures[i] = describe_error(exc)
        return stop - start

    with progress_bar(total=len(paths), desc=desc, unit="img", show=progress) as bar, \
            ThreadPoolExecutor(max_workers=workers or default_workers()) as pool:
        for fut in as_completed([pool.submit(work, s) for s in range(0, len(paths), _CHUNK)]):
            bar.update(fut.result())
            if heartbeat is not None:
                heartbeat()
    return failures


class ArrayStore:
    """One decoded selection of a folder: ``<stem>.npy`` (uint8, N×3×S×S) and ``<stem>.json`` (its file list)."""

    def __init__(self, directory: str | Path | None, *, label: str, slot: str, key: str) -> None:
        self.directory = cache_dir(directory)
        self.slot = slot[:12]
        self.key = key
        self.stem = f"{label}-{self.slot}-{key[:16]}"

    @property
    def npy_path(self) -> Path:
        """The memory-mapped image array."""
        return self.directory / f"{self.stem}.npy"

    @property
    def meta_path(self) -> Path:
        """The JSON file naming the images in the array, in order, and the files that failed to decode."""
        return self.directory / f"{self.stem}.json"

    def load(self) -> tuple[np.ndarray, dict] | None:
        """Memory-map the cached array (copy-on-write) with its metadata, or None on a miss."""
        try:
            meta = json.loads(self.meta_path.read_text())
            if meta.get("version") != CACHE_VERSION or meta.get("key") != self.key:
                return None
            array = np.load(self.npy_path, mmap_mode="c")
        except (OSError, ValueError):
            return None
        if array.dtype != np.uint8 or array.ndim != 4 or array.shape[0] != len(meta["files"]):
            return None
        return array, meta

    def build(self, paths: Sequence[Path], names: Sequence[str], decode: Callable[[Path], np.ndarray], *,
              image_size: int, workers: int | None = None, progress: bool = False,
              info: dict | None = None) -> tuple[np.ndarray, dict]:
        """Decode every file into a new cache entry (atomically renamed into place) and return it memory-mapped.

        Falls back to an in-memory array, with a warning, when the cache folder cannot be written or lacks space.
        """
        shape = (len(paths), 3, image_size, image_size)
        nbytes = int(np.prod(shape))
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            if (free := shutil.disk_usage(self.directory).free) < nbytes + (64 << 20):
                raise OSError(f"only {free / 2**30:.2f} GiB free, {nbytes / 2**30:.2f} GiB needed")
        except OSError as exc:
            logger.warning("cannot write the image cache to %s (%s); decoding into memory for this session only. "
                           "Set FACEGEN_CACHE_DIR (or cache_dir=...) to a writable folder with space to keep it.",
                           self.directory, exc)
            return build_in_memory(paths, names, decode, image_size=image_size, workers=workers,
                                   progress=progress, info=info)
        while not self._acquire():
            if (loaded := self._wait_for_other_builder()) is not None:
                return loaded
        tmp = self.directory / f".{self.stem}.{os.getpid()}.tmp.npy"
        try:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
            failures = decode_into(out, paths, decode, workers=workers, progress=progress,
                                   desc=f"decoding {len(paths)} images", heartbeat=self._touch_lock)
            if failures:
                out = self._compact(out, tmp, failures)
            out.flush()
            del out
            meta = {"version": CACHE_VERSION, "key": self.key, "image_size": image_size,
                    "files": [n for i, n in enumerate(names) if i not in failures],
                    "failures": {names[i]: list(fail) for i, fail in sorted(failures.items())},
                    "created": time.strftime("%Y-%m-%d %H:%M:%S"), **(info or {})}
            os.replace(tmp, self.npy_path)
            _replace_json(self.meta_path, meta)
        finally:
            tmp.unlink(missing_ok=True)
            self.lock_path.unlink(missing_ok=True)
        self._remove_stale()
        if (loaded := self.load()) is None:
            raise OSError(f"the image cache {self.npy_path} could not be read back right after writing it")
        return loaded

    @property
    def lock_path(self) -> Path:
        """Present while one process decodes this entry; DataLoader workers and parallel runs wait for it."""
        return self.directory / f".{self.stem}.lock"

    def _acquire(self) -> bool:
        try:
            os.close(os.open(self.lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return False
        return True

    def _touch_lock(self) -> None:
        with contextlib.suppress(OSError):
            os.utime(self.lock_path)

    def _wait_for_other_builder(self) -> tuple[np.ndarray, dict] | None:
        """Wait while another process builds this entry; its result, or None when its lock went stale or vanished."""
        logger.info("another process is decoding %s; waiting for it", self.npy_path)
        while True:
            try:
                age = time.time() - self.lock_path.stat().st_mtime
            except FileNotFoundError:
                return self.load()
            if age > LOCK_STALE_SECONDS:
                logger.warning("removing the stale build lock %s (no progress for %.0f s)", self.lock_path, age)
                self.lock_path.unlink(missing_ok=True)
                return None
            time.sleep(0.2)

    def _compact(self, out: np.memmap, tmp: Path, failures: dict) -> np.memmap:
        """Rewrite the array without the rows of files that failed to decode."""
        keep = np.array([i for i in range(out.shape[0]) if i not in failures], dtype=np.int64)
        tmp2 = tmp.with_name(tmp.name.replace(".tmp.npy", ".tmp2.npy"))
        small = np.lib.format.open_memmap(tmp2, mode="w+", dtype=np.uint8, shape=(len(keep), *out.shape[1:]))
        for s in range(0, len(keep), 1024):
            small[s:s + 1024] = out[keep[s:s + 1024]]
        del out
        os.replace(tmp2, tmp)
        return small

    def _remove_stale(self) -> None:
        """Delete older entries of the same slot (same folder, size and options, different files or times)."""
        for old in self.directory.glob(f"*-{self.slot}-*"):
            if old.suffix in (".npy", ".json") and old.stem != self.stem:
                try:
                    old.unlink()
                except OSError as exc:  # e.g. still memory-mapped by another process on Windows
                    logger.debug("could not remove the stale cache file %s: %s", old, exc)


def build_in_memory(paths: Sequence[Path], names: Sequence[str], decode: Callable[[Path], np.ndarray], *,
                    image_size: int, workers: int | None = None, progress: bool = False,
                    info: dict | None = None) -> tuple[np.ndarray, dict]:
    """Decode every file into a uint8 array in memory (no file written); same return value as ``ArrayStore.build``."""
    out = np.empty((len(paths), 3, image_size, image_size), dtype=np.uint8)
    failures = decode_into(out, paths, decode, workers=workers, progress=progress, desc=f"decoding {len(paths)} images")
    if failures:
        out = out[[i for i in range(len(paths)) if i not in failures]]
    return out, {"version": CACHE_VERSION, "key": None, "image_size": image_size,
                 "files": [n for i, n in enumerate(names) if i not in failures],
                 "failures": {names[i]: list(fail) for i, fail in sorted(failures.items())}, **(info or {})}


def _scan_path(root: Path, directory: str | Path | None) -> Path:
    return cache_dir(directory) / f"scan-{fingerprint(str(root))[:20]}.json"


def load_scan(root: Path, directory: str | Path | None = None) -> dict[str, list]:
    """The cached per-file scan facts of a folder, ``{relative path: [size, mtime_ns, ...]}`` (empty on a miss)."""
    try:
        payload = json.loads(_scan_path(root, directory).read_text())
    except (OSError, ValueError):
        return {}
    if payload.get("version") != CACHE_VERSION or payload.get("root") != str(root):
        return {}
    return payload.get("files", {})


def save_scan(root: Path, files: dict[str, list], directory: str | Path | None = None) -> None:
    """Store the per-file scan facts of a folder next to the image cache (silently skipped if not writable)."""
    path = _scan_path(root, directory)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _replace_json(path, {"version": CACHE_VERSION, "root": str(root), "files": files})
    except OSError as exc:
        logger.debug("scan cache not written to %s: %s", path, exc)


def clear(directory: str | Path | None = None) -> int:
    """Delete every facegen cache file (decoded images and scans) in the cache folder; return how many were removed."""
    folder = cache_dir(directory)
    if not folder.is_dir():
        return 0
    entries = [p for p in folder.iterdir() if p.is_file()]
    arrays = {p.stem for p in entries if p.suffix == ".npy"}
    doomed = [p for p in entries if p.suffix in (".npy", ".lock") or ".tmp" in p.name
              or (p.suffix == ".json" and (p.name.startswith("scan-") or p.stem in arrays))]
    for path in doomed:
        path.unlink()
    return len(doomed)
