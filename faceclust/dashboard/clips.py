"""Clips the dashboard offers and receives: the sample clips, the batch folders, uploads."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
import uuid
from pathlib import Path

import streamlit as st

import faceclust as fc


def samples_dir() -> Path:
    """Where sample clips are listed from (``FACECLUST_SAMPLES``)."""
    return Path(os.environ.get("FACECLUST_SAMPLES", "samples")).expanduser()


def batches_dir() -> Path:
    """Where the Series page looks for batches first (``FACECLUST_BATCHES``, default batches/)."""
    return Path(os.environ.get("FACECLUST_BATCHES", "batches")).expanduser()


def sample_clips() -> list[Path]:
    folder = samples_dir()
    return (
        sorted(p for p in folder.glob("*") if p.suffix.lower().lstrip(".") in fc.CLIP_TYPES)
        if folder.is_dir()
        else []
    )


def labels_beside(clip: Path) -> Path | None:
    """A labels file for a sample clip: ``CLIP.labels.csv`` beside it or in ``../labels/``."""
    for candidate in (
        clip.with_name(f"{clip.name}.labels.csv"),
        clip.parent.parent / "labels" / f"{clip.name}.labels.csv",
    ):
        if candidate.is_file():
            return candidate
    return None


#: Uploaded clips are deleted this long after their last use (s).
UPLOAD_KEEP_S = 24 * 3600


def save_upload(upload) -> Path:
    """Store an uploaded file under a name made of its content (never the user's path), so that
    one clip uploaded again, or by several sessions, is stored once.

    Uploads not used for ``UPLOAD_KEEP_S`` are deleted then, so the folder does not grow forever.
    """
    saved = st.session_state.setdefault("uploads", {})  # file id -> path: hashed once per session
    path = saved.get(upload.file_id)
    if path is not None and path.is_file():
        path.touch()  # in use
        return path
    folder = Path(tempfile.gettempdir()) / "faceclust-uploads"
    folder.mkdir(exist_ok=True)
    for old in folder.iterdir():
        if time.time() - old.stat().st_mtime > UPLOAD_KEEP_S:
            old.unlink(missing_ok=True)
    content = upload.getbuffer()
    suffix = Path(upload.name).suffix.lower()
    name = hashlib.sha256(content).hexdigest()[:32] + (suffix if suffix.lstrip(".") in fc.CLIP_TYPES else "")
    path = folder / name
    if path.is_file() and path.stat().st_size == len(content):
        path.touch()  # in use
    else:
        partial = folder / f".{name}.{uuid.uuid4().hex}"  # never half-written under the final name
        partial.write_bytes(content)
        os.replace(partial, path)
    saved[upload.file_id] = path
    return path
