"""Extraction: frames -> faces -> face and clothing features, on all cores, into a folder.

The result is a face table (one row per face, see ARCHITECTURE.md) with row-aligned arrays and
one thumbnail and one context crop per face, written as JPEG files into the given folder.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import closing
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from .detect import Box, DetectParams, detect_faces, sharpness
from .features import (
    EMBEDDING_DIM,
    FeatureParams,
    cloth_dim,
    clothing_box,
    clothing_feature,
    face_embedding,
)
from .progress import Progress, no_progress
from .superres import SRParams, sr_scale, upscale
from .video import Frame, SamplingParams, iter_frames, probe

log = logging.getLogger(__name__)

#: Bump whenever a change alters extraction results: it is part of every cache key.
FEATURE_VERSION = 1

BOX = ["top", "right", "bottom", "left"]
CLOTH_BOX = ["cloth_top", "cloth_right", "cloth_bottom", "cloth_left"]
COLUMNS = ["face_id", "frame_index", "t_sec", *BOX, "score", *CLOTH_BOX, "cloth_visible", "sharpness"]

THUMB_PX = 112  # face thumbnails are THUMB_PX x THUMB_PX
CONTEXT_PX = 224  # context crops fit in CONTEXT_PX x CONTEXT_PX
_JPEG = [cv2.IMWRITE_JPEG_QUALITY, 90]


@dataclass(frozen=True)
class ExtractParams:
    """Every parameter that changes what extraction finds; together they form the cache key."""

    sampling: SamplingParams = field(default_factory=SamplingParams)
    detect: DetectParams = field(default_factory=DetectParams)
    sr: SRParams = field(default_factory=SRParams)
    features: FeatureParams = field(default_factory=FeatureParams)

    def validate(self) -> None:
        for part in (self.sampling, self.detect, self.sr, self.features):
            part.validate()

    def resolved(self, clip_fps: float) -> ExtractParams:
        """Canonical form for one clip: the frame step fixed, detector and SR method named."""
        sampling = SamplingParams(step=self.sampling.resolve_step(clip_fps))
        return replace(self, sampling=sampling, detect=self.detect.resolved(), sr=self.sr.resolved())

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class FaceTable:
    """The faces of one clip.

    table: one row per face, columns ``COLUMNS``; boxes in original-frame pixels.
    face_embedding: (N, 128) float32, L2-normalised, row-aligned with ``table``.
    cloth_feature: (N, K) float32, L2-normalised; zero rows where the face has no clothing box.
    folder: holds ``thumbs/<face_id>.jpg`` and ``context/<face_id>.jpg``.
    """

    table: pd.DataFrame
    face_embedding: np.ndarray
    cloth_feature: np.ndarray
    folder: Path

    @property
    def has_cloth(self) -> np.ndarray:
        """(N,) bool: whether each face has a usable clothing region."""
        return self.table["cloth_top"].notna().to_numpy()

    def thumb_path(self, face_id: int) -> Path:
        return self.folder / "thumbs" / f"{face_id}.jpg"

    def context_path(self, face_id: int) -> Path:
        return self.folder / "context" / f"{face_id}.jpg"


def _square_crop(image: np.ndarray, box: Box, grow: float, size: int) -> np.ndarray:
    """A square crop centred on ``box``, ``grow`` times its longer side, padded at the edges."""
    top, right, bottom, left = box
    half = grow * max(bottom - top, right - left) / 2
    cy, cx = (top + bottom) / 2, (left + right) / 2
    y0, y1, x0, x1 = (round(v) for v in (cy - half, cy + half, cx - half, cx + half))
    height, width = image.shape[:2]
    crop = image[max(0, y0) : min(height, y1), max(0, x0) : min(width, x1)]
    pads = (max(0, -y0), max(0, y1 - height), max(0, -x0), max(0, x1 - width))
    crop = cv2.copyMakeBorder(crop, *pads, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)


def _context_crop(image: np.ndarray, face: Box, cloth: Box | None) -> np.ndarray:
    """The face with the clothing below it, fitted into CONTEXT_PX x CONTEXT_PX."""
    top, right, bottom, left = face
    if cloth is not None:
        top, right, bottom, left = (
            min(top, cloth[0]),
            max(right, cloth[1]),
            max(bottom, cloth[2]),
            min(left, cloth[3]),
        )
    crop = image[top:bottom, left:right]
    factor = CONTEXT_PX / max(crop.shape[:2])
    size = (max(1, round(crop.shape[1] * factor)), max(1, round(crop.shape[0] * factor)))
    return cv2.resize(crop, size, interpolation=cv2.INTER_AREA)


def analyse_frame(frame: Frame, params: ExtractParams) -> list[dict]:
    """Detect, filter and describe the faces of one frame (``params`` must be resolved).

    Returns one dict per kept face: the table's columns (no face_id), ``face_embedding`` (128,),
    ``cloth_feature`` (K,) or None, and ``thumb`` / ``context`` JPEG bytes.
    """
    image = frame.image
    scale = sr_scale(params.sr.method)
    if min(image.shape[:2]) < params.sr.frame_below_px and scale > 1:
        work = upscale(image, params.sr.method)  # find faces a few pixels tall
    else:
        work, scale = image, 1
    faces = []
    for box, score in detect_faces(work, params.detect):
        top, right, bottom, left = box
        if min(bottom - top, right - left) < params.detect.min_face_px:
            continue
        sharp = sharpness(work, box)
        if sharp < params.detect.min_sharpness:
            continue
        vector = face_embedding(work, box, params.features, params.sr)
        original = (top // scale, -(-right // scale), -(-bottom // scale), left // scale)
        cloth, visible = clothing_box(original, image.shape, params.features)
        faces.append(
            {
                "frame_index": frame.index,
                "t_sec": round(frame.t_sec, 4),
                **dict(zip(BOX, original, strict=True)),
                "score": round(score, 4),
                **dict(zip(CLOTH_BOX, cloth or (None,) * 4, strict=True)),
                "cloth_visible": round(visible, 4),
                "sharpness": round(sharp, 2),
                "face_embedding": vector,
                "cloth_feature": None if cloth is None else clothing_feature(image, cloth, params.features),
                "thumb": cv2.imencode(".jpg", _square_crop(work, box, 1.3, THUMB_PX), _JPEG)[1].tobytes(),
                "context": cv2.imencode(".jpg", _context_crop(image, original, cloth), _JPEG)[1].tobytes(),
            }
        )
    return faces


def _init_worker(parent: int) -> None:
    cv2.setNumThreads(1)  # one process per core; threads inside would fight over cores
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """End this worker when the process that started it is gone (killed, crashed)."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def _analysed(frames: Iterator[Frame], params: ExtractParams, workers: int) -> Iterator[list[dict]]:
    """Each frame's faces, in frame order; with workers > 1, a bounded window of frames in flight."""
    if workers <= 1:
        for frame in frames:
            yield analyse_frame(frame, params)
        return
    window: deque[Future] = deque()
    # Spawned, not forked: a fork of a process whose OpenCV/FFmpeg threads hold locks deadlocks.
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(os.getpid(),))
    try:
        for frame in frames:
            window.append(pool.submit(analyse_frame, frame, params))
            if len(window) >= 3 * workers:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()
    finally:  # also when the caller stops early (cancel, error): drop the frames not yet started
        pool.shutdown(wait=True, cancel_futures=True)


def extract_faces(
    clip: str | Path,
    params: ExtractParams,
    folder: Path,
    workers: int | None = None,
    progress: Progress = no_progress,
) -> FaceTable:
    """Run extraction on ``clip`` with resolved ``params``, writing crops into ``folder``.

    workers: processes to use (default: all cores). They are spawned, so a script that calls
    this must guard its entry point with ``if __name__ == "__main__":`` (as Streamlit pages
    must too). Memory stays bounded: frames are streamed, at most 3 x workers in flight.
    """
    workers = workers or os.cpu_count() or 1
    info = probe(clip)
    step = params.sampling.step
    total = -(-info.frame_count // step)
    for sub in ("thumbs", "context"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    rows, vectors, cloths = [], [], []
    k = cloth_dim(params.features)
    started = time.perf_counter()
    progress("extract", 0, total)
    analysed = _analysed(iter_frames(clip, step), params, workers)
    with closing(analysed):  # stops the workers at once when the caller gives up (cancel)
        for done, faces in enumerate(analysed, 1):
            for face in faces:
                face_id = len(rows)
                (folder / "thumbs" / f"{face_id}.jpg").write_bytes(face.pop("thumb"))
                (folder / "context" / f"{face_id}.jpg").write_bytes(face.pop("context"))
                vectors.append(face.pop("face_embedding"))
                cloth = face.pop("cloth_feature")
                cloths.append(np.zeros(k, np.float32) if cloth is None else cloth)
                rows.append({"face_id": face_id, **face})
            progress("extract", done, max(total, done))
    log.info("extracted %d faces in %.1f s", len(rows), time.perf_counter() - started)
    table = pd.DataFrame(rows, columns=COLUMNS)
    return FaceTable(
        table=table.astype({c: "Int64" for c in CLOTH_BOX}),
        face_embedding=np.array(vectors, np.float32).reshape(-1, EMBEDDING_DIM),
        cloth_feature=np.array(cloths, np.float32).reshape(-1, k),
        folder=folder,
    )
