"""Stream sampled frames from a clip, never holding the clip in memory."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .errors import BadInput
from .ranges import STEP

log = logging.getLogger(__name__)

# FFmpeg and OpenCV print their own warnings for damaged files ("moov atom not found"); faceclust
# reports those files as one clear line instead. Users can still raise the levels.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)

#: File name extensions taken for clips (folders of clips, uploads).
CLIP_TYPES = ["mp4", "avi", "mov", "mkv", "webm"]

# A clip whose decoding stops before this share of its duration is truncated. Time, not frame
# count: variable-frame-rate clips hold fewer frames than their header's count suggests.
_TRUNCATED_BELOW = 0.9


@dataclass(frozen=True)
class SamplingParams:
    """Which frames to look at.

    step: every ``step``-th decoded frame from frame 0 (0, step, 2*step, ...). More frames find
        more faces and cost proportionally more time.
    fps: about ``fps`` frames per second instead; it resolves to ``step = round(clip_fps / fps)``
        so that sampled frames stay on the same index grid. Overrides ``step`` when set.
    """

    step: int = 15
    fps: float | None = None

    def validate(self) -> None:
        if self.fps is None:
            STEP.check("--step", self.step)
        if self.fps is not None and not (0 < self.fps <= 1000):
            raise BadInput(f"--fps must be above 0, got {self.fps}")

    def resolve_step(self, clip_fps: float) -> int:
        """The frame step these parameters mean for a clip of ``clip_fps`` frames per second."""
        if self.fps is None:
            return self.step
        if not clip_fps or math.isnan(clip_fps):
            return max(1, round(25 / self.fps))
        return max(1, round(clip_fps / self.fps))


@dataclass(frozen=True)
class ClipInfo:
    """What the container says about a clip: frame count (an estimate), rate and size in pixels."""

    frame_count: int
    fps: float
    width: int
    height: int

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.fps if self.fps else 0.0


@dataclass(frozen=True)
class Frame:
    """One decoded frame: decode-order index from 0, presentation time (s), BGR uint8 (H, W, 3)."""

    index: int
    t_sec: float
    image: np.ndarray


def _open(path: Path) -> cv2.VideoCapture:
    if not path.is_file():
        raise BadInput(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise BadInput(f"{path}: the file is empty")
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not cap.isOpened():
        raise BadInput(f"{path}: not a readable video (cannot open a video stream)")
    cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)  # apply rotation metadata
    return cap


def probe(path: str | Path) -> ClipInfo:
    """Read a clip's header; raise BadInput when it is not a video with at least one frame."""
    path = Path(path)
    cap = _open(path)
    try:
        ok, image = cap.read()
        if not ok or image is None:
            raise BadInput(f"{path}: no video frame can be decoded (audio only or damaged?)")
        height, width = image.shape[:2]
        return ClipInfo(
            frame_count=max(1, int(cap.get(cv2.CAP_PROP_FRAME_COUNT))),
            fps=float(cap.get(cv2.CAP_PROP_FPS) or 0.0),
            width=width,
            height=height,
        )
    finally:
        cap.release()


def iter_frames(path: str | Path, step: int) -> Iterator[Frame]:
    """Yield every ``step``-th frame of the clip, decoding only those (others are grabbed).

    Raises BadInput when decoding stops well before the frame count in the header (truncated).
    """
    path = Path(path)
    info = probe(path)
    cap = _open(path)
    index, last_t = 0, 0.0
    try:
        while cap.grab():
            last_t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if index % step == 0:
                ok, image = cap.retrieve()
                if ok and image is not None:
                    yield Frame(index, last_t, image)
            index += 1
    finally:
        cap.release()
    if info.frame_count > 1 and last_t < _TRUNCATED_BELOW * info.duration_s - 1.0 / info.fps:
        raise BadInput(
            f"{path}: the clip is truncated or damaged: decoding stopped at {last_t:.1f} s "
            f"of {info.duration_s:.1f} s"
        )
