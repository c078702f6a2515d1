"""The on-disk extraction cache: one folder per (clip content, parameters, feature version).

Layout of an entry ``$FACECLUST_CACHE/extract/<key>/``: ``faces.csv`` (the face table),
``arrays.npz`` (``face_embedding``, ``cloth_feature``, ``own_embedding``), ``thumbs/``, ``context/`` and
``meta.json`` (with the SHA-256 of the two data files, the entry's size in bytes, and as its
modification time the entry's last use); later, what a server would otherwise compute again
(``keep_array``): ``layouts/`` (UMAP layouts) and ``trees/`` (clustering trees).

- An entry is built in a temporary folder ``.<key>-<pid>-*`` and renamed into place when
  complete, so a crash never leaves a half-written entry that reads as complete; the temporary
  folders of processes that died are removed by the next build.
- An entry whose files are missing, unreadable or do not match their checksums is rebuilt.
- The cache holds at most ``FACECLUST_CACHE_MAX_GB`` (default 10) GB: after each build the
  least recently used entries are removed (never the one just built) until it fits.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import BadInput
from .models import file_sha256
from .progress import Progress, no_progress
from .table import CLOTH_BOX, COLUMNS, FaceTable

log = logging.getLogger(__name__)


DATA_FILES = ("faces.csv", "arrays.npz")
#: A temporary build folder older than this is abandoned even when its process id is in use.
STALE_BUILD_S = 24 * 3600


def cache_root() -> Path:
    """``FACECLUST_CACHE``, default ``~/.cache/faceclust``."""
    return Path(os.environ.get("FACECLUST_CACHE") or "~/.cache/faceclust").expanduser()


def max_bytes() -> int:
    """The cache's size limit: ``FACECLUST_CACHE_MAX_GB`` (default 10) in bytes."""
    value = os.environ.get("FACECLUST_CACHE_MAX_GB") or "10"
    try:
        return int(float(value) * 1e9)
    except ValueError:
        raise BadInput(f"FACECLUST_CACHE_MAX_GB must be a number of gigabytes, got {value!r}") from None


def _folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def clip_hash(path: str | Path, progress: Progress = no_progress) -> str:
    """BLAKE2b of the clip's bytes (hex): the same content gives the same key wherever it lies.
    progress: told of the bytes read (stage ``hash``)."""
    digest = hashlib.blake2b(digest_size=20)
    size = os.path.getsize(path)
    done = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            digest.update(block)
            done += len(block)
            progress("hash", done, size)
    return digest.hexdigest()


def entry_key(content_hash: str, params: dict, version: int) -> str:
    """Cache key from the clip's hash, the canonical parameters and the feature version."""
    canonical = json.dumps({"clip": content_hash, "params": params, "version": version}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def kept_array(path: Path, shape: tuple[int, ...]) -> np.ndarray | None:
    """The array ``keep_array`` kept at ``path``, or None where there is none, it is damaged or
    it is not of ``shape``."""
    try:
        kept = np.load(path)
    except (OSError, ValueError, EOFError):
        return None
    return kept if kept.shape == shape else None


def keep_array(path: Path, array: np.ndarray) -> None:
    """Keep ``array`` at ``path`` in a cache entry (a layout, a clustering tree: what a restarted
    server would otherwise compute again), written whole: of several threads or processes
    keeping one array, the last wins. In a read-only cache it is only not kept (a warning)."""
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    try:
        path.parent.mkdir(exist_ok=True)
        with partial.open("wb") as f:
            np.save(f, array)
        os.replace(partial, path)
    except OSError as e:
        with contextlib.suppress(OSError):  # a read-only folder refuses even that
            partial.unlink(missing_ok=True)
        log.warning("could not keep %s in %s: %s", path.name, path.parent, e)


def _save(faces: FaceTable, meta: dict) -> None:
    folder = faces.folder
    faces.table.to_csv(folder / "faces.csv", index=False)
    np.savez(
        folder / "arrays.npz",
        face_embedding=faces.face_embedding,
        cloth_feature=faces.cloth_feature,
        own_embedding=faces.own_embedding,
    )
    checks = {name: file_sha256(folder / name) for name in DATA_FILES}
    meta = {**meta, "n_faces": len(faces.table), "sha256": checks, "bytes": _folder_bytes(folder)}
    (folder / "meta.json").write_text(json.dumps(meta))


def load_entry(folder: Path) -> tuple[FaceTable, dict] | None:
    """The entry in ``folder``, or None (with a warning) when any part of it is missing or wrong."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
        if any(file_sha256(folder / name) != meta["sha256"][name] for name in DATA_FILES):
            raise ValueError("a data file does not match its checksum")
        table = pd.read_csv(folder / "faces.csv", dtype={c: "Int64" for c in CLOTH_BOX})
        if missing := set(COLUMNS) - set(table.columns):
            raise ValueError(f"its table lacks {', '.join(sorted(missing))}")
        with np.load(folder / "arrays.npz") as arrays:
            faces = FaceTable(
                table, arrays["face_embedding"], arrays["cloth_feature"], arrays["own_embedding"], folder
            )
        n = meta["n_faces"]
        if {n} != {len(table), len(faces.face_embedding), len(faces.cloth_feature), len(faces.own_embedding)}:
            raise ValueError("its parts disagree on the number of faces")
        for sub in ("thumbs", "context"):
            if sum(1 for _ in (folder / sub).iterdir()) != n:
                raise ValueError(f"{sub}/ does not hold one picture per face")
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as e:
        log.warning("cache entry %s is damaged (%s); rebuilding it", folder.name, e)
        return None
    with contextlib.suppress(OSError):  # a read-only cache is still read
        os.utime(folder / "meta.json")  # last use, for eviction
    return faces, meta


def entry_folder(key: str) -> Path:
    """Where the entry named ``key`` (an ``entry_key``) lies, made or not."""
    return cache_root() / "extract" / key


def kept_entry(key: str) -> tuple[FaceTable, dict] | None:
    """The sound entry named ``key`` (an ``entry_key``) as ``load_entry`` reads it, or None where
    there is none: never made, evicted, damaged, or ``key`` is no entry's name."""
    if not re.fullmatch(r"[0-9a-f]{32}", key):
        return None
    folder = entry_folder(key)
    return load_entry(folder) if folder.is_dir() else None


def _remove(folder: Path) -> None:
    """Remove an entry so that no reader ever sees part of it: rename first, then delete."""
    doomed = folder.with_name(f".removed-{folder.name}-{os.getpid()}-{time.monotonic_ns()}")
    try:
        os.rename(folder, doomed)
    except OSError:
        return  # already gone
    shutil.rmtree(doomed, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_abandoned_builds(root: Path) -> None:
    """Delete temporary folders left by builds whose process died (crash, kill, power cut)."""
    for folder in root.glob(".*"):
        parts = folder.name.split("-")
        pid = int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else None
        age = time.time() - folder.stat().st_mtime
        if pid is None or not _alive(pid) or age > STALE_BUILD_S:
            log.info("removing abandoned cache folder %s", folder.name)
            shutil.rmtree(folder, ignore_errors=True)


def evict(root: Path, limit: int, keep: Path) -> None:
    """Remove the least recently used entries of ``root`` until they fit in ``limit`` bytes."""
    entries = []
    for folder in root.iterdir():
        if folder.name.startswith(".") or folder == keep:
            continue
        try:
            meta = folder / "meta.json"
            entries.append((meta.stat().st_mtime, json.loads(meta.read_text())["bytes"], folder))
        except (OSError, ValueError, KeyError):
            entries.append((0.0, _folder_bytes(folder), folder))  # damaged: first to go
    total = sum(size for _, size, _ in entries) + _folder_bytes(keep)
    for _, size, folder in sorted(entries, key=lambda e: e[0]):
        if total <= limit:
            break
        log.info("cache over %.1f GB: removing the least recently used entry %s", limit / 1e9, folder.name)
        _remove(folder)
        total -= size


#: One lock per entry key being built in this process (the dashboard's sessions are threads).
_BUILDING: dict[str, threading.Lock] = {}
_BUILDING_LOCK = threading.Lock()


def cached(key: str, build: Callable[[Path], tuple[FaceTable, dict]]) -> tuple[FaceTable, dict, bool]:
    """The entry for ``key``: loaded when present and sound, else built by ``build(folder)``;
    in one process one key is built once at a time, and a second caller waits for it and loads
    it (three sessions uploading one clip: one extraction, not three on the same cores).

    Returns (faces, meta, hit). ``build`` writes crops into the folder it is given and returns
    the face table and a JSON-able meta dict.
    """
    with _BUILDING_LOCK:
        lock = _BUILDING.setdefault(key, threading.Lock())
    with lock:
        return _cached(key, build)


def _cached(key: str, build: Callable[[Path], tuple[FaceTable, dict]]) -> tuple[FaceTable, dict, bool]:
    limit = max_bytes()
    final = entry_folder(key)
    root = final.parent
    if final.is_dir():
        loaded = load_entry(final)
        if loaded is not None:
            return *loaded, True
        _remove(final)
    root.mkdir(parents=True, exist_ok=True)
    remove_abandoned_builds(root)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{key}-{os.getpid()}-"))
    try:
        faces, meta = build(tmp)
        _save(faces, meta)
        try:
            os.rename(tmp, final)
        except OSError:  # another process finished the same entry first: use that one
            shutil.rmtree(tmp, ignore_errors=True)
        loaded = load_entry(final)
        if loaded is None:
            raise RuntimeError(f"cache entry {final} cannot be read back")
        evict(root, limit, keep=final)
        return *loaded, False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
