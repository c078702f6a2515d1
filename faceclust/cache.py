"""The on-disk extraction cache: one folder per (clip content, parameters, feature version).

Layout of an entry ``$FACECLUST_CACHE/extract/<key>/``: ``faces.csv`` (the face table),
``arrays.npz`` (``face_embedding``, ``cloth_feature``), ``thumbs/``, ``context/`` and
``meta.json``. An entry is built in a temporary folder and renamed into place when complete,
so a crash never leaves a half-written entry that reads as complete.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from .extract import CLOTH_BOX, FaceTable

log = logging.getLogger(__name__)


def cache_root() -> Path:
    """``FACECLUST_CACHE``, default ``~/.cache/faceclust``."""
    return Path(os.environ.get("FACECLUST_CACHE") or "~/.cache/faceclust").expanduser()


def clip_hash(path: str | Path) -> str:
    """BLAKE2b of the clip's bytes (hex): the same content gives the same key wherever it lies."""
    digest = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def entry_key(content_hash: str, params: dict, version: int) -> str:
    """Cache key from the clip's hash, the canonical parameters and the feature version."""
    canonical = json.dumps({"clip": content_hash, "params": params, "version": version}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _save(faces: FaceTable, meta: dict) -> None:
    faces.table.to_csv(faces.folder / "faces.csv", index=False)
    np.savez(
        faces.folder / "arrays.npz",
        face_embedding=faces.face_embedding,
        cloth_feature=faces.cloth_feature,
    )
    (faces.folder / "meta.json").write_text(json.dumps({**meta, "n_faces": len(faces.table)}))


def _load(folder: Path) -> tuple[FaceTable, dict] | None:
    try:
        meta = json.loads((folder / "meta.json").read_text())
        table = pd.read_csv(folder / "faces.csv", dtype={c: "Int64" for c in CLOTH_BOX})
        with np.load(folder / "arrays.npz") as arrays:
            faces = FaceTable(table, arrays["face_embedding"], arrays["cloth_feature"], folder)
    except (OSError, ValueError, KeyError) as e:
        log.warning("cache entry %s is unreadable (%s); rebuilding it", folder.name, e)
        return None
    if not (meta["n_faces"] == len(table) == len(faces.face_embedding) == len(faces.cloth_feature)):
        log.warning("cache entry %s is inconsistent; rebuilding it", folder.name)
        return None
    return faces, meta


def cached(key: str, build: Callable[[Path], tuple[FaceTable, dict]]) -> tuple[FaceTable, dict, bool]:
    """The entry for ``key``: loaded when present and sound, else built by ``build(folder)``.

    Returns (faces, meta, hit). ``build`` writes crops into the folder it is given and returns
    the face table and a JSON-able meta dict.
    """
    final = cache_root() / "extract" / key
    if final.is_dir():
        loaded = _load(final)
        if loaded is not None:
            return *loaded, True
        shutil.rmtree(final, ignore_errors=True)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{key}-"))
    try:
        faces, meta = build(tmp)
        _save(faces, meta)
        try:
            os.rename(tmp, final)
        except OSError:  # another process finished the same entry first: use that one
            shutil.rmtree(tmp, ignore_errors=True)
        loaded = _load(final)
        if loaded is None:
            raise RuntimeError(f"cache entry {final} cannot be read back")
        return *loaded, False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
