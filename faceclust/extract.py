"""Extraction: frames -> faces -> shots and tracks -> face and clothing features, on all cores.

Worker processes detect and describe the faces of sampled frames (clothing, crops); the main
process follows shots and tracks as the frames come back in order and sends only a few faces of
each track to the workers' encoder. The result is a face table (one row per face, see
ARCHITECTURE.md) with row-aligned arrays, and one thumbnail and one context crop per face,
written as JPEG files into the given folder.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from .detect import DetectParams, detect_faces, sharpness
from .embed import EmbedParams, FaceInput, embedder, face_crop, thresholds
from .features import FeatureParams, cloth_dim, clothing_box, clothing_feature
from .progress import Progress, no_progress
from .superres import SRParams, sr_scale, upscale
from .table import BOX, CLOTH_BOX, COLUMNS, Box, FaceTable, frontality
from .track import Tracker, TrackParams, frame_signature, shared_means, split_disagreeing
from .video import Frame, SamplingParams, iter_frames, probe
from .workers import spawn_pool

log = logging.getLogger(__name__)

#: Bump whenever a change alters extraction results: it is part of every cache key.
FEATURE_VERSION = 7  # 2: shots, tracks, one shared description per track; 3: shot_id, track_id;
# 4: tracks split where encodings disagree, own_embedding kept; 5: embedders, landmarks;
# 6: track means and splits weighted by frontality where every face is encoded; 7: the clip's
# stated length (meta duration_s)
#: A profile's weight in its track's mean and split, against 1 for a frontal face
#: (``table.frontality``), where every face is encoded: small, yet a track seen only in profile
#: keeps its faces' mean.
PROFILE_WEIGHT = 1e-3

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
    embed: EmbedParams = field(default_factory=EmbedParams)
    tracks: TrackParams = field(default_factory=TrackParams)

    def validate(self) -> None:
        for part in (self.sampling, self.detect, self.sr, self.features, self.embed, self.tracks):
            part.validate()

    def resolved(self, clip_fps: float) -> ExtractParams:
        """Canonical form for one clip: the frame step fixed, detector, SR method and embedder
        named, the detector's score threshold, the face size for super-resolution and the track
        split distance the embedder's where none is given."""
        sampling = SamplingParams(step=self.sampling.resolve_step(clip_fps), frames=self.sampling.frames)
        embed = self.embed.resolved()
        defaults = thresholds(embed.embedder)
        detect, sr, tracks = self.detect.resolved(), self.sr.resolved(), self.tracks
        if detect.min_score is None:
            detect = replace(detect, min_score=defaults.min_score)
        if sr.face_below_px is None:
            sr = replace(sr, face_below_px=defaults.sr_face_below_px)
        if tracks.split_distance is None:
            tracks = replace(tracks, split_distance=defaults.split_distance)
        return replace(
            self,
            sampling=sampling,
            detect=detect,
            sr=sr,
            embed=embed,
            tracks=tracks,
        )

    def to_dict(self) -> dict:
        return asdict(self)


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


@contextmanager
def _timed(seconds: Counter, stage: str) -> Iterator[None]:
    """Add the time spent in the ``with`` block to ``seconds[stage]``."""
    started = time.perf_counter()
    try:
        yield
    finally:
        seconds[stage] += time.perf_counter() - started


def analyse_frame(frame: Frame, params: ExtractParams) -> dict:
    """Detect, filter and describe the faces of one frame (``params`` must be resolved); runs in
    a worker.

    Returns ``frame_index``, ``signature`` (see ``frame_signature``) and ``faces``: one dict per
    kept face with the table's detection columns, ``cloth_feature`` (K,) or None, ``thumb`` /
    ``context`` JPEG bytes, and either its ``embedding`` (D,) where the embedder embeds every
    face, or its ``encoder_input`` (``face_crop``) for ``encode_face``; ``seconds`` spent in
    each stage (``superres``, ``detect``, ``describe``, ``embed``).
    """
    image, seconds = frame.image, Counter()
    scale = sr_scale(params.sr.method)
    if min(image.shape[:2]) < params.sr.frame_below_px and scale > 1:
        with _timed(seconds, "superres"):
            work = upscale(image, params.sr.method)  # find faces a few pixels tall
    else:
        work, scale = image, 1
    with _timed(seconds, "detect"):
        found = detect_faces(work, params.detect)
    with _timed(seconds, "describe"):
        faces = _described(frame, params, work, scale, found)
    model = embedder(params.embed)
    if model.every_face and faces:
        with _timed(seconds, "embed"):
            vectors = model.embed([face.pop("encoder_input") for face in faces], params.sr)
        for face, vector in zip(faces, vectors, strict=True):
            face["embedding"] = vector
    signature = frame_signature(image)
    return {"frame_index": frame.index, "signature": signature, "faces": faces, "seconds": seconds}


def _described(frame: Frame, params: ExtractParams, work: np.ndarray, scale: int, found: list) -> list[dict]:
    """The faces ``found`` in ``work`` (the frame, upscaled ``scale`` times) that pass the size
    and sharpness filters, each with its table columns, clothing, crops and encoder input."""
    image, faces = frame.image, []
    for box, score, landmarks in found:
        top, right, bottom, left = box
        if min(bottom - top, right - left) < params.detect.min_face_px:
            continue
        sharp = sharpness(work, box)
        if sharp < params.detect.min_sharpness:
            continue
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
                "landmarks": None
                if landmarks is None
                else " ".join(f"{v / scale:.1f}" for v in landmarks.ravel()),
                "cloth_feature": None if cloth is None else clothing_feature(image, cloth, params.features),
                "thumb": cv2.imencode(".jpg", _square_crop(work, box, 1.3, THUMB_PX), _JPEG)[1].tobytes(),
                "context": cv2.imencode(".jpg", _context_crop(image, original, cloth), _JPEG)[1].tobytes(),
                "encoder_input": face_crop(work, box, landmarks),
            }
        )
    return faces


def encode_face(encoder_input: FaceInput, params: ExtractParams) -> tuple[np.ndarray, float]:
    """The embedding (D,) of one face cut out by ``analyse_frame`` and the seconds it took;
    runs in a worker."""
    started = time.perf_counter()
    vector = embedder(params.embed).embed([encoder_input], params.sr)[0]
    return vector, time.perf_counter() - started


class _Workers:
    """Frames analysed in order and faces encoded, on ``workers`` spawned processes (or in this
    process with one worker), with a bounded number of frames and faces in flight."""

    def __init__(self, workers: int, params: ExtractParams):
        self.params, self.limit = params, 3 * workers
        self.pool = None
        if workers > 1:
            self.pool = spawn_pool(workers)
        self.encodings: dict[int, np.ndarray] = {}
        self.seconds: Counter = Counter()  # the workers' seconds in each stage, summed
        self._encoding: deque[tuple[int, Future]] = deque()

    def _submit(self, fn, *args) -> Future:
        if self.pool is not None:
            return self.pool.submit(fn, *args)
        done: Future = Future()
        done.set_result(fn(*args))
        return done

    def analysed(self, frames: Iterator[Frame]) -> Iterator[dict]:
        """``analyse_frame`` of each frame, in frame order."""
        window: deque[Future] = deque()
        for frame in frames:
            window.append(self._submit(analyse_frame, frame, self.params))
            if len(window) >= self.limit:
                yield self._analysed(window.popleft())
        while window:
            yield self._analysed(window.popleft())

    def _analysed(self, future: Future) -> dict:
        result = future.result()
        self.seconds.update(result.pop("seconds"))
        return result

    def encode(self, face_id: int, encoder_input: FaceInput) -> None:
        """Encode a face into ``encodings[face_id]``; waits while too many are in flight."""
        self._encoding.append((face_id, self._submit(encode_face, encoder_input, self.params)))
        while len(self._encoding) > self.limit:
            self._collect()

    def finish(self) -> dict[int, np.ndarray]:
        while self._encoding:
            self._collect()
        return self.encodings

    def _collect(self) -> None:
        face_id, future = self._encoding.popleft()
        self.encodings[face_id], seconds = future.result()
        self.seconds["embed"] += seconds

    def close(self) -> None:
        """Stop the workers, dropping work not yet started (also when the caller gives up)."""
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


def extract_faces(
    clip: str | Path,
    params: ExtractParams,
    folder: Path,
    workers: int | None = None,
    progress: Progress = no_progress,
) -> tuple[FaceTable, dict[str, float]]:
    """Run extraction on ``clip`` with resolved ``params``, writing crops into ``folder``; returns
    the faces and the seconds spent in each stage (``decode``, ``tracks`` and ``write`` in this
    process; ``superres``, ``detect``, ``describe`` and ``embed`` in the workers, summed).

    workers: processes to use (default: all cores). They are spawned, so a script that calls
    this must guard its entry point with ``if __name__ == "__main__":`` (as Streamlit pages
    must too). Memory stays bounded: frames are streamed, at most 3 x workers frames and faces
    in flight, and at most ``params.tracks.batch`` faces of a track wait for the encoder.
    """
    workers = workers or os.cpu_count() or 1
    info = probe(clip)
    step = params.sampling.step
    total = -(-info.frame_count // step)
    for sub in ("thumbs", "context"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    rows, cloths = [], []
    embedded: dict[int, np.ndarray] = {}  # faces the workers embedded with their frame
    k = cloth_dim(params.features)
    tracker = Tracker(params.tracks)
    pool = _Workers(workers, params)
    seconds = pool.seconds
    started = time.perf_counter()
    progress("extract", 0, total)
    try:
        frames = _decoding(iter_frames(clip, step, params.sampling.frames), seconds)
        for done, frame in enumerate(pool.analysed(frames), 1):
            faces = frame["faces"]
            ids = list(range(len(rows), len(rows) + len(faces)))
            boxes = np.array([[face[c] for c in BOX] for face in faces]).reshape(-1, 4)
            with _timed(seconds, "tracks"):
                shot, tracks, ready = tracker.add(
                    frame["signature"],
                    boxes,
                    ids,
                    [face["score"] * face["sharpness"] for face in faces],
                    [face.pop("encoder_input", None) for face in faces],  # None: embedded already
                )
            for face_id, face, track in zip(ids, faces, tracks, strict=True):
                if "embedding" in face:
                    embedded[face_id] = face.pop("embedding")
                with _timed(seconds, "write"):
                    (folder / "thumbs" / f"{face_id}.jpg").write_bytes(face.pop("thumb"))
                    (folder / "context" / f"{face_id}.jpg").write_bytes(face.pop("context"))
                cloth = face.pop("cloth_feature")
                cloths.append(np.zeros(k, np.float32) if cloth is None else cloth)
                rows.append({"face_id": face_id, **face, "shot_id": shot, "track_id": track})
            for face_id, encoder_input in ready:
                if encoder_input is not None:
                    pool.encode(face_id, encoder_input)
            progress("extract", done, max(total, done))
        for face_id, encoder_input in tracker.finish():
            if encoder_input is not None:
                pool.encode(face_id, encoder_input)
        encodings = {**pool.finish(), **embedded}
    finally:
        pool.close()  # at once when the caller gives up (cancel): work not started is dropped
    table = pd.DataFrame(rows, columns=COLUMNS).astype({c: "Int64" for c in CLOTH_BOX})
    table["encoded"] = table["face_id"].isin(encodings)
    encoded = table["encoded"].to_numpy()
    model = embedder(params.embed)
    own = np.zeros((len(table), model.dim), np.float32)
    for face_id, vector in encodings.items():
        own[face_id] = vector
    weights = encoded.astype(np.float32)
    if model.every_face:  # a profile among a track's many faces barely counts
        weights *= np.maximum(frontality(table["landmarks"]), PROFILE_WEIGHT)
    with _timed(seconds, "tracks"):
        tracks = split_disagreeing(table["track_id"].to_numpy(), own, weights, params.tracks.split_distance)
        table["track_id"] = tracks
        cloth = np.array(cloths, np.float32).reshape(-1, k)
        faces = FaceTable(table, shared_means(own, tracks, weights), cloth, own, folder)
        faces.cloth_feature = shared_means(faces.cloth_feature, tracks, faces.has_cloth)
        faces.cloth_feature[~faces.has_cloth] = 0.0
    log.info(
        "extracted %d faces in %d tracks (%d split where encodings disagree), encoded %d, in %.1f s",
        len(rows),
        tracks.max(initial=-1) + 1,
        tracks.max(initial=-1) + 1 - tracker.tracks,
        len(encodings),
        time.perf_counter() - started,
    )
    return faces, {stage: round(spent, 3) for stage, spent in sorted(seconds.items())}


def _decoding(frames: Iterator[Frame], seconds: Counter) -> Iterator[Frame]:
    """``frames``, the time spent producing each added to ``seconds["decode"]``."""
    while True:
        with _timed(seconds, "decode"):
            frame = next(frames, None)
        if frame is None:
            return
        yield frame
