"""Stream sampled frames from a clip, never holding the clip in memory.

Two ways to choose the frames (``SamplingParams.frames``): ``exact`` takes every ``step``-th
decoded frame (OpenCV), ``cheap`` the frame nearest to each target time among those that are
cheap to decode (PyAV, FFmpeg's binding, told to skip B-frames, or to decode keyframes alone
where they come at least once per step): broadcast H.264 and HEVC are mostly B-frames.
"""

from __future__ import annotations

import bisect
import logging
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import av
import cv2
import numpy as np

from .errors import BadInput
from .ranges import STEP

log = logging.getLogger(__name__)

# FFmpeg and OpenCV print their own warnings for damaged files ("moov atom not found"); faceclust
# reports those files as one clear line instead. Users can still raise the levels.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)

#: How sampled frames are chosen (``SamplingParams.frames``).
FRAME_MODES = ("exact", "cheap")
#: Seconds of a clip's start read (packets only, nothing decoded) to tell how often keyframes come.
_KEYFRAME_PROBE_S = 60.0

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
    frames: ``exact``: frames 0, step, 2 x step, ... of the decoded frames (the grid labels files
        use); ``cheap``: for each target time k x step / clip fps, the nearest frame that is cheap
        to decode, within half a step (a target with none is skipped): the same frames as
        ``exact`` where a clip has neither B-frames nor a keyframe every step, far less
        decoding where it has B-frames (``iter_frames``).
    """

    step: int = 15
    fps: float | None = None
    frames: str = "exact"

    def validate(self) -> None:
        if self.fps is None:
            STEP.check("--step", self.step)
        if self.fps is not None and not (0 < self.fps <= 1000):
            raise BadInput(f"--fps must be above 0, got {self.fps}")
        if self.frames not in FRAME_MODES:
            raise BadInput(f"--frames must be one of {', '.join(FRAME_MODES)}, got {self.frames!r}")

    def resolve_step(self, clip_fps: float) -> int:
        """The frame step these parameters mean for a clip of ``clip_fps`` frames per second."""
        if self.fps is None:
            return self.step
        if not clip_fps or math.isnan(clip_fps):
            return max(1, round(25 / self.fps))
        return max(1, round(clip_fps / self.fps))


@dataclass(frozen=True)
class ClipInfo:
    """What the container says about a clip: frame count (an estimate), rate, size in pixels and
    the video's length (s; frame count / rate where the container states none: a variable frame
    rate makes that estimate seconds off)."""

    frame_count: int
    fps: float
    width: int
    height: int
    duration_s: float


def _stated_seconds(path: Path) -> float | None:
    """The video stream's length (s) as the container states it (else the container's), or None."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            if stream.duration and stream.time_base:
                return float(stream.duration * stream.time_base)
            return container.duration / av.time_base if container.duration else None
    except (av.FFmpegError, IndexError):
        return None


@dataclass(frozen=True)
class Frame:
    """One decoded frame: its index among the clip's frames in presentation order from 0, its
    presentation time (s), BGR uint8 (H, W, 3)."""

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
        frame_count = max(1, int(cap.get(cv2.CAP_PROP_FRAME_COUNT)))
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        estimate = frame_count / fps if fps else 0.0
        return ClipInfo(frame_count, fps, width, height, _stated_seconds(path) or estimate)
    finally:
        cap.release()


def iter_frames(path: str | Path, step: int, frames: str = "exact") -> Iterator[Frame]:
    """Yield the sampled frames of the clip (``SamplingParams.frames``): with ``exact`` every
    ``step``-th frame, decoding only those (others are grabbed); with ``cheap`` the frame
    nearest to each target time k x step / fps among those cheap to decode. Each frame carries
    its real index among the clip's frames and its time.

    Raises BadInput when decoding stops well before the frame count in the header (truncated).
    """
    path = Path(path)
    info = probe(path)
    reached = [0.0]  # the time (s) of the last frame read, sampled or not
    if frames == "cheap":
        yield from _cheap_frames(path, step, info, reached)
    else:
        yield from _exact_frames(path, step, reached)
    stated = max(info.duration_s, info.frame_count / info.fps)  # a cut file may state what is left
    if info.frame_count > 1 and reached[0] < _TRUNCATED_BELOW * stated - 1.0 / info.fps:
        raise BadInput(
            f"{path}: the clip is truncated or damaged: decoding stopped at {reached[0]:.1f} s "
            f"of {stated:.1f} s"
        )


def _exact_frames(path: Path, step: int, reached: list[float]) -> Iterator[Frame]:
    """``iter_frames``'s ``exact`` mode (OpenCV); ``reached[0]`` follows the last frame's time."""
    cap = _open(path)
    index = 0
    try:
        while cap.grab():
            reached[0] = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if index % step == 0:
                ok, image = cap.retrieve()
                if ok and image is not None:
                    yield Frame(index, reached[0], image)
            index += 1
    finally:
        cap.release()


Item = TypeVar("Item")


def nearest_to_targets(
    candidates: Iterable[tuple[float, Item]], period: float
) -> Iterator[tuple[float, Item]]:
    """Of ``candidates`` (time in seconds, item) in time order, the one nearest to each target
    time 0, period, 2 x period, ... up to the last candidate's time, within half a period; none
    for a target without one, and no candidate twice."""
    half, k = period / 2, 0
    previous = chosen = None
    for candidate in candidates:
        while k * period <= candidate[0]:
            target = k * period
            near = [c for c in (previous, candidate) if c is not None and abs(c[0] - target) <= half]
            best = min(near, key=lambda c: abs(c[0] - target), default=None)
            if best is not None and best is not chosen:
                chosen = best
                yield best
            k += 1
        previous = candidate


def _cheap_frames(path: Path, step: int, info: ClipInfo, reached: list[float]) -> Iterator[Frame]:
    """``iter_frames``'s ``cheap`` mode: PyAV decodes the I and P frames (or the keyframes where
    they come at least once per step) with FFmpeg's threads; each frame's index is its place
    among all the clip's frames in presentation order, counted from the packets' timestamps
    (a frame leaves the decoder only after the packets of the frames shown before it);
    ``reached[0]`` follows the latest packet's time, decoded or not."""
    fps = info.fps if info.fps and math.isfinite(info.fps) else 25.0
    period = step / fps
    try:
        container = av.open(str(path))
        stream = container.streams.video[0]
    except (av.FFmpegError, IndexError) as e:
        raise BadInput(f"{path}: not a readable video ({e})") from None
    with container:
        stream.thread_type = "AUTO"
        stream.codec_context.skip_frame = "NONKEY" if _keyframe_gap(path) <= period else "BIDIR"
        base, unit = stream.start_time or 0, float(stream.time_base)
        seen: list[int] = []  # every frame's timestamp so far, in order

        def decoded() -> Iterator[tuple[float, av.VideoFrame]]:
            try:
                for packet in container.demux(stream):
                    if packet.pts is not None and not packet.is_discard:  # not cut by an edit list
                        bisect.insort(seen, packet.pts)
                        reached[0] = max(reached[0], (packet.pts - base) * unit)
                    try:
                        frames = packet.decode()
                    except av.FFmpegError as e:  # one damaged packet: go on with the next
                        log.debug("a packet of %s could not be decoded: %s", path, e)
                        continue
                    for frame in frames:
                        if frame.pts is not None:
                            yield (frame.pts - base) * unit, frame
            except av.FFmpegError as e:  # the file itself stops: the truncation check speaks
                log.debug("reading %s stopped: %s", path, e)

        for t_sec, frame in nearest_to_targets(decoded(), period):
            image = frame.to_ndarray(format="bgr24")
            if frame.rotation:  # degrees counter-clockwise that the display matrix asks for
                image = np.ascontiguousarray(np.rot90(image, round(frame.rotation / 90)))
            yield Frame(bisect.bisect_left(seen, frame.pts), t_sec, image)


def _keyframe_gap(path: Path) -> float:
    """The longest time (s) between keyframes over the clip's first ``_KEYFRAME_PROBE_S``
    seconds, read from packet headers (nothing decoded); infinite with fewer than two or where
    the packets cannot be read (then B-frames alone are skipped)."""
    times: list[float] = []
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            unit = float(stream.time_base)
            for packet in container.demux(stream):
                if packet.pts is None:
                    continue
                if packet.is_keyframe:
                    times.append(packet.pts * unit)
                if times and packet.pts * unit - times[0] > _KEYFRAME_PROBE_S:
                    break
    except (av.FFmpegError, IndexError) as e:
        log.debug("the keyframes of %s cannot be read: %s", path, e)
        return math.inf
    return float(np.diff(times).max()) if len(times) >= 2 else math.inf
