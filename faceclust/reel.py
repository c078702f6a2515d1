"""Highlight reels: a person's appearances as time segments, cut from the clip into an mp4 (and a
9:16 one whose crop follows their face), with the cuts as timelines for editors (OTIO, CMX 3600
EDL, FCP XML) and a CSV.

Segments come from the times the person's faces were sampled: each sampled face stands for
``seconds_per_frame`` of clip from its time on (as screen time counts it); appearances closer than
``gap`` are joined, ones shorter than ``min_length`` dropped, the rest padded by ``pad`` on each
side within the clip. The People page's timeline draws the same segments; a rendered reel ends
a segment that runs into the next shot at the cut (``ending_at_cuts``).

Rendering uses the ffmpeg binary of the ``imageio-ffmpeg`` wheel: each segment is cut from its
clip (frame-accurate seek, re-encoded to H.264 at the clip's frame rate, audio kept as PCM), then
the pieces are joined and the audio encoded to AAC once. Files are written into a temporary folder
and moved into place when complete: an interrupted render leaves no half-written reel.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd

from . import folders
from .errors import BadInput
from .progress import Progress, no_progress
from .ranges import GAP, MIN_LENGTH, PAD

log = logging.getLogger(__name__)

#: Columns of a reel's segment table (and of its CSV): the clip it is cut from, start and end in
#: that clip's time (s), the person's sampled faces inside, their mean face height (px).
SEGMENT_COLUMNS = ["clip", "start", "end", "faces", "face_px"]
#: Width over height of a vertical reel.
VERTICAL = 9 / 16
#: The face box is widened by this share of its width on each side before the vertical crop is
#: made to contain it, for the movement between two sampled frames.
FACE_MARGIN = 0.3
AUDIO_RATE = 48_000
_X264 = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p"]


@dataclass(frozen=True)
class ReelParams:
    """How a person's sampled appearances become segments, in seconds.

    gap: appearances at most this far apart are joined into one segment (a look away, a missed
        detection, a short cutaway stays in). min_length: segments shorter than this (before
        padding) are dropped: a glimpse makes a jarring cut. pad: added before and after each
        segment, so that a cut does not fall on the first or last word.
    """

    gap: float = 1.0
    pad: float = 0.5
    min_length: float = 1.0

    def validate(self) -> None:
        GAP.check("--gap", self.gap)
        PAD.check("--pad", self.pad)
        MIN_LENGTH.check("--min-length", self.min_length)


def shot_of(shots: np.ndarray, times):
    """Index of the shot (of ``shots``: (S, 2) first and last sampled time, s, in order) each of
    ``times`` (s) lies in: the last one starting at or before it (the first before any)."""
    return np.maximum(np.searchsorted(shots[:, 0], times, side="right") - 1, 0)


def segments(
    faces: pd.DataFrame,
    seconds_per_frame: float,
    duration: float,
    params: ReelParams,
    shots: np.ndarray | None = None,
) -> pd.DataFrame:
    """The segments (``SEGMENT_COLUMNS`` but ``clip``, sorted by time) of one person in one clip.

    faces: the person's faces (``t_sec``, ``top``, ``bottom``); seconds_per_frame: clip time each
    sampled frame stands for (s); duration: the clip's length (s), which segments stay within;
    shots: (S, 2) each shot's first and last sampled time (s, ``Source.shots``), which padding
    does not cross: a segment starting a shot is not padded before it, one ending a shot not
    after it (the cut lies somewhere between two samples; 0.6 s of the next shot's close-up was
    cut into a reel).
    """
    columns = SEGMENT_COLUMNS[1:]
    times = np.unique(faces["t_sec"].to_numpy(float))
    if not len(times):
        return pd.DataFrame(columns=columns)
    ends = times + seconds_per_frame
    apart = times[1:] - ends[:-1] > params.gap + 1e-6
    group = np.concatenate([[0], np.cumsum(apart)])
    start = pd.Series(times).groupby(group).min().to_numpy()
    end = pd.Series(ends).groupby(group).max().to_numpy()
    keep = end - start >= params.min_length - 1e-6
    start, end = start[keep], end[keep]
    low, high = np.zeros(len(start)), np.full(len(start), duration)
    if shots is not None and len(shots):
        low = np.maximum(low, shots[shot_of(shots, start), 0])  # the shot each segment starts in
        high = np.minimum(high, shots[shot_of(shots, end - seconds_per_frame), 1] + seconds_per_frame)
    start, end = np.maximum(start - params.pad, low), np.minimum(end + params.pad, high)
    merged: list[list[float]] = []
    for a, b in zip(start, end, strict=True):  # padding can make neighbours overlap
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    table = pd.DataFrame(merged, columns=["start", "end"]).round(3)
    t = faces["t_sec"].to_numpy(float)
    inside = (t[:, None] >= table["start"].to_numpy()) & (t[:, None] < table["end"].to_numpy())
    heights = (faces["bottom"] - faces["top"]).to_numpy(float)
    counts = inside.sum(axis=0)
    table["faces"] = counts
    table["face_px"] = np.round(heights @ inside / np.maximum(counts, 1), 1)
    return table[columns]


#: Frame rates of editing timelines; a clip's rate within 0.1 % of one of them is taken as it.
SMPTE_RATES = [Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30)]
SMPTE_RATES += [2 * rate for rate in SMPTE_RATES]


def frame_rate(fps: float) -> Fraction:
    """A clip's frame rate as an exact fraction: the nearest SMPTE rate (29.97 -> 30000/1001)
    where within 0.1 %, else ``fps`` itself (25 where the container states none)."""
    fps = fps or 25.0
    nearest = min(SMPTE_RATES, key=lambda rate: abs(float(rate) - fps))
    return nearest if abs(float(nearest) - fps) <= 0.001 * fps else Fraction(fps).limit_denominator(1001)


@dataclass(frozen=True)
class Source:
    """A clip that reels are cut from: its path and what its extraction recorded of it.

    given_name: what the user calls the clip where the file at ``path`` is not theirs (an upload
    stored under a name the app made), else None; hash: its content hash; fps: frames per
    second (``frame_rate``); width, height: frame size (px); duration: length (s);
    seconds_per_frame: clip time each sampled frame stands for (s); shots: each shot's first and
    last sampled time with a face (s), in order (``segments`` pads within them).
    """

    path: Path
    hash: str
    fps: Fraction
    width: int
    height: int
    duration: float
    seconds_per_frame: float
    given_name: str | None = None
    shots: tuple[tuple[float, float], ...] = ()

    @property
    def name(self) -> str:
        """The clip's name as the user knows it: what timelines, tables and messages call it."""
        return Path(self.given_name).name if self.given_name else self.path.name

    @property
    def url(self) -> str:
        """Where an editor's timeline finds the media: the file's own URL, or, for a clip the user
        knows by another name, that name alone (relative: their editor relinks it by name)."""
        return quote(self.name) if self.given_name else self.path.resolve().as_uri()

    @classmethod
    def of(cls, meta: dict, path: Path | None = None, faces: pd.DataFrame | None = None) -> Source:
        """The clip an extraction's ``meta`` (``Extraction.meta``, run.json's ``clip``) describes,
        at ``path`` where given, else where it was; its shots from its ``faces`` (``t_sec``,
        ``shot_id``) where given."""
        fps = meta["fps"] or 25.0  # the clip's time is counted at the rate it states
        spans = (
            () if faces is None else faces.groupby("shot_id")["t_sec"].agg(["min", "max"]).sort_values("min")
        )
        return cls(
            Path(path or meta["path"]),
            meta["hash"],
            frame_rate(fps),
            meta["width"],
            meta["height"],
            meta.get("duration_s", meta["frame_count"] / fps),  # run folders older than it state none
            meta["params"]["sampling"]["step"] / fps,
            meta.get("name"),
            tuple(map(tuple, np.asarray(spans, float).tolist())),
        )

    @property
    def shot_spans(self) -> np.ndarray:
        """``shots`` as an (S, 2) array (s)."""
        return np.array(self.shots, float).reshape(-1, 2)

    @property
    def media(self) -> Media:
        return media(self.path)


@dataclass
class Person:
    """One person's reel material: their faces (``clip``, ``t_sec`` and the box ``top``,
    ``right``, ``bottom``, ``left`` in the clip's pixels) and their segments (``SEGMENT_COLUMNS``),
    from one clip or, for a series identity, several (``clip`` names a key of the sources)."""

    name: str
    faces: pd.DataFrame
    segments: pd.DataFrame

    @property
    def seconds(self) -> float:
        """The reel's length (s)."""
        return float((self.segments["end"] - self.segments["start"]).sum())


def person(
    name: str, faces: dict[str, pd.DataFrame], sources: dict[str, Source], params: ReelParams
) -> Person:
    """A person's reel material from their faces in each clip (clip key -> that clip's faces)."""
    parts, tables = [], []
    for key, own in faces.items():
        source = sources[key]
        parts.append(own.assign(clip=key))
        cut = segments(own, source.seconds_per_frame, source.duration, params, source.shot_spans)
        tables.append(cut.assign(clip=key)[SEGMENT_COLUMNS])
    return Person(
        name,
        pd.concat(parts, ignore_index=True),
        pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=SEGMENT_COLUMNS),
    )


@cache
def ffmpeg() -> str:
    """The ffmpeg executable of the imageio-ffmpeg wheel."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class Media:
    """What ffmpeg needs to know of a clip beyond its run: whether it has sound, and where its
    first video frame lies on ffmpeg's clock (s; ``t_sec`` 0 of the face table). Broadcast files
    often start their video after their audio (0.84 s in short_hamilton_clip.mp4)."""

    has_audio: bool
    video_start: float
    #: Whether browsers play the file as it is (H.264 in MP4/MOV): else the dashboard plays a proxy.
    plays_in_browsers: bool


@cache
def media(path: Path) -> Media:
    """``Media`` of the clip at ``path``, from ffmpeg's description of it and its first frame."""
    command = [ffmpeg(), "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:v:0", "-frames:v", "1"]
    found = subprocess.run([*command, "-vf", "showinfo", "-f", "null", "-"], capture_output=True, text=True)
    first = re.search(r"pts_time:\s*(-?[\d.]+)", found.stderr)
    container = re.search(r"Input #0, ([\w,]+),", found.stderr)
    return Media(
        re.search(r"Stream #\d+:\d+.*: Audio:", found.stderr) is not None,
        float(first.group(1)) if first else 0.0,
        re.search(r"Stream #\d+:\d+.*: Video: h264", found.stderr) is not None
        and container is not None
        and "mp4" in container.group(1),
    )


def preview(source: Source, progress: Progress = no_progress) -> tuple[Path, float]:
    """A file of ``source`` that browsers play, and the seconds to add to the face table's times
    to find them in it: the clip itself where it is H.264 in MP4 (its video may start late, see
    ``Media``), else an H.264/AAC copy at most 480 px tall starting at the first video frame,
    kept under ``FACECLUST_CACHE/previews`` (made once per clip; HEVC broadcast files and AVIs
    need one)."""
    from .cache import cache_root

    if source.media.plays_in_browsers:
        return source.path, source.media.video_start
    folder = cache_root() / "previews"
    target = folder / f"{source.hash}.mp4"
    if not target.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".partial-{os.getpid()}-{target.name}"
        progress("preview", 0, 1)
        command = [ffmpeg(), "-nostdin", "-y", "-v", "error", "-ss", f"{source.media.video_start:.3f}"]
        command += [
            "-i",
            str(source.path),
            "-map",
            "0:v:0",
            "-map",
            "0:a:0?",
            "-vf",
            "scale=-2:'min(480,ih)'",
        ]
        command += [
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-crf",
            "28",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
        ]
        try:
            _run(
                [*command, "-movflags", "+faststart", str(partial)],
                f"make a playable copy of {source.path.name}",
            )
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        progress("preview", 1, 1)
    return target, 0.0


def crop_expression(faces: pd.DataFrame, start: float, end: float, frame_width: int, width: int) -> str:
    """An ffmpeg expression of ``t`` (s from ``start``) for the left edge of a crop ``width`` px
    wide that follows the person's face through one segment of a clip ``frame_width`` px wide.

    The path goes through one point per sampled face: the face centres smoothed over three
    samples of the same shot, moved where needed so that the face box (widened by
    ``FACE_MARGIN``) lies inside the crop, kept within the frame. Between two points of one shot
    it moves linearly; between two shots it holds, then jumps half-way between their samples
    (the cut lies somewhere there: a pan across it showed the frame's middle, neither shot's
    face); before the first point and after the last it stays. faces: the person's faces in
    this clip (``t_sec``, ``left``, ``right``, ``shot_id`` where known).
    """
    inside = faces[(faces["t_sec"] >= start - 1e-6) & (faces["t_sec"] < end)].sort_values("t_sec")
    room = frame_width - width
    if inside.empty:
        return str(room // 2)
    times = inside["t_sec"].to_numpy(float) - start
    shot = inside["shot_id"].to_numpy() if "shot_id" in inside else np.zeros(len(inside), int)
    centre = ((inside["left"] + inside["right"]) / 2).to_numpy(float)
    half = (inside["right"] - inside["left"]).to_numpy(float) * (0.5 + FACE_MARGIN)
    smooth = (
        pd.Series(centre).groupby(shot).transform(lambda v: v.rolling(3, center=True, min_periods=1).mean())
    )
    x = smooth.to_numpy() - width / 2
    low, high = centre + half - width, centre - half  # the face inside: low <= x <= high
    fits = low <= high
    x[fits] = np.clip(x[fits], low[fits], high[fits])
    x[~fits] = centre[~fits] - width / 2
    x = np.clip(x, 0, room)
    terms = [f"{x[0]:.1f}"]
    for k in range(len(x) - 1):
        span, move = times[k + 1] - times[k], x[k + 1] - x[k]
        if span <= 0 or move == 0:
            continue
        if shot[k + 1] != shot[k]:
            terms.append(f"{move:.1f}*gte(t,{times[k] + span / 2:.3f})")
        else:
            terms.append(f"{move / span:.3f}*clip(t-{times[k]:.3f},0,{span:.3f})")
    return "+".join(terms)


def _even(n: float) -> int:
    return max(2, round(n / 2) * 2)


def crop_width(source: Source) -> int:
    """Width (px) of a vertical reel's crop of ``source``: 9:16 of its full height, even."""
    return _even(source.height * VERTICAL)


def reel_size(sources: list[Source], vertical: bool) -> tuple[int, int]:
    """The reel's frame (width, height) in px: the first clip's, or its height in 9:16 (even)."""
    first = sources[0]
    height = _even(first.height)
    return (_even(height * VERTICAL), height) if vertical else (_even(first.width), height)


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise BadInput(f"ffmpeg could not {what}: {lines[-1] if lines else f'exit {done.returncode}'}")


def _cut(
    source: Source,
    start: float,
    end: float,
    size: tuple[int, int],
    fps: Fraction,
    audio: bool,
    crop: str | None,
    out: Path,
) -> None:
    """One segment as an H.264 + PCM Matroska file of ``size`` at ``fps``."""
    width, height = size
    frame = f"scale={width}:{height}:force_original_aspect_ratio=decrease,pad={width}:{height}:-1:-1"
    if crop is not None:
        frame = f"crop=w={crop_width(source)}:h={source.height}:x='{crop}':y=0,scale={width}:{height}"
    seek = start + source.media.video_start
    command = [ffmpeg(), "-nostdin", "-y", "-v", "error", "-ss", f"{seek:.3f}", "-i", str(source.path)]
    audio_map = []
    if audio and source.media.has_audio:
        audio_map = ["-map", "0:a:0"]
    elif audio:  # another clip of the reel has sound: silence here keeps the tracks aligned
        command += ["-f", "lavfi", "-i", f"anullsrc=r={AUDIO_RATE}:cl=stereo"]
        audio_map = ["-map", "1:a:0"]
    command += ["-t", f"{end - start:.3f}", "-map", "0:v:0", *audio_map]
    command += ["-vf", f"{frame},setsar=1,fps={fps}", *_X264]
    if audio:
        command += ["-c:a", "pcm_s16le", "-ar", str(AUDIO_RATE), "-ac", "2"]
    _run([*command, str(out)], f"cut {source.path.name} at {start:.2f}-{end:.2f} s")


def render(
    person: Person,
    sources: dict[str, Source],
    out: Path,
    vertical: bool = False,
    progress: Progress = no_progress,
    stage: str = "reel",
) -> None:
    """Write ``person``'s segments as one H.264/AAC mp4 at ``out`` (replaced only when complete).

    vertical: a 9:16 reel whose crop follows the face (``crop_expression``) instead of the whole
    frame. The reel takes the first clip's frame size and rate; audio is kept where any clip has
    it (silence for the others).
    """
    cuts = list(person.segments.itertuples(index=False))
    if not cuts:
        raise BadInput(f"{person.name} has no segment to cut")
    used = [sources[key] for key in dict.fromkeys(person.segments["clip"])]
    size, fps = reel_size(used, vertical), used[0].fps
    audio = any(source.media.has_audio for source in used)
    work = Path(tempfile.mkdtemp(dir=out.parent, prefix=".partial-reel-"))
    try:
        listing = []
        for k, cut in enumerate(cuts):
            progress(stage, k, len(cuts))
            source = sources[cut.clip]
            crop = None
            if vertical:
                own = person.faces[person.faces["clip"] == cut.clip]
                crop = crop_expression(own, cut.start, cut.end, source.width, crop_width(source))
            piece = work / f"{k:05d}.mkv"
            _cut(source, cut.start, cut.end, size, fps, audio, crop, piece)
            listing.append(f"file '{piece.name}'\n")
        (work / "pieces.txt").write_text("".join(listing))
        partial = work / "reel.mp4"
        command = [ffmpeg(), "-nostdin", "-y", "-v", "error", "-f", "concat", "-safe", "0"]
        command += ["-i", str(work / "pieces.txt"), "-map", "0:v", "-c:v", "copy"]
        if audio:
            command += ["-map", "0:a", "-c:a", "aac", "-b:a", "160k", "-af", "aresample=async=1"]
        _run([*command, "-movflags", "+faststart", str(partial)], f"join the segments of {person.name}")
        os.replace(partial, out)
        progress(stage, len(cuts), len(cuts))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def timeline(person: Person, sources: dict[str, Source]):
    """The segments as an OpenTimelineIO timeline: one video track, a clip per segment referring
    to the original file, times on each clip's frame grid."""
    import opentimelineio as otio

    track = otio.schema.Track(name=person.name, kind=otio.schema.TrackKind.Video)
    for k, cut in enumerate(person.segments.itertuples(index=False)):
        source = sources[cut.clip]
        rate = float(source.fps)
        first, last = round(cut.start * rate), round(cut.end * rate)
        reference = otio.schema.ExternalReference(
            target_url=source.url,
            available_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(0, rate),
                otio.opentime.RationalTime(round(source.duration * rate), rate),
            ),
        )
        reference.name = source.name
        track.append(
            otio.schema.Clip(
                name=f"{person.name} {k + 1}",
                media_reference=reference,
                source_range=otio.opentime.TimeRange(
                    otio.opentime.RationalTime(first, rate), otio.opentime.RationalTime(last - first, rate)
                ),
            )
        )
    return otio.schema.Timeline(name=person.name, tracks=[track])


def cut_in(path: Path, start: float, end: float) -> float | None:
    """The time (s) of the first frame of a new shot after ``start`` and at most ``end`` (s) in
    the clip at ``path``: the first frame whose colour histogram differs from the one before as
    much as a shot cut's does at extraction (``TrackParams.shot_cut``); None where none does."""
    import cv2

    from .track import TrackParams, frame_signature, signature_distance

    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    previous, threshold = None, TrackParams().shot_cut
    try:
        capture.set(cv2.CAP_PROP_POS_MSEC, start * 1000)
        while True:
            ok, frame = capture.read()
            t = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000  # the frame just read
            if not ok or t > end:
                return None
            signature = frame_signature(frame)
            cut = previous is not None and signature_distance(previous, signature) > threshold
            if cut and t > start:
                return t
            previous = signature
    finally:
        capture.release()


def ending_at_cuts(person: Person, sources: dict[str, Source]) -> Person:
    """``person`` with each segment that runs past the last sampled face of its shot ended just
    before the cut found there (``cut_in``), half a frame early so that no frame of the next
    shot is kept. A segment ends up to one sample's share of clip time and the padding after
    that face, and the cut lies somewhere within: 0.5 s of the next shot's two women were cut
    into a host's reel. Reads the clips' frames around those ends; ``write_reel`` calls it."""
    ends = person.segments["end"].to_numpy(float).copy()
    for k, segment in enumerate(person.segments.itertuples(index=False)):
        source = sources[segment.clip]
        own = person.faces.loc[person.faces["clip"] == segment.clip, "t_sec"].to_numpy(float)
        inside = own[(own >= segment.start - 1e-6) & (own < segment.end)]
        shots = source.shot_spans
        if not len(inside) or not len(shots):
            continue
        shot_end = shots[shot_of(shots, inside.max()), 1]
        if segment.end > shot_end + 1 / float(source.fps):
            cut = cut_in(source.path, shot_end, segment.end)
            if cut is not None:
                ends[k] = round(cut - 0.5 / float(source.fps), 3)
    return Person(person.name, person.faces, person.segments.assign(end=ends))


#: Timeline files written per person: OTIO's own JSON, a CMX 3600 EDL, an FCP 7 XML.
TIMELINE_FILES = {".otio": "otio_json", ".edl": "cmx_3600", ".xml": "fcp_xml"}


def write_reel(
    person: Person,
    sources: dict[str, Source],
    out: Path,
    vertical: bool = False,
    progress: Progress = no_progress,
) -> list[Path]:
    """Write a person's reel into the folder ``out``: ``<stem>.mp4`` (and ``<stem>_vertical.mp4``),
    ``<stem>.otio``, ``.edl``, ``.xml`` and ``.csv``, stem the person's safe name. Returns the
    files. They are moved into ``out`` together once all are made; raises BadInput, writing
    nothing, for a person without segments."""
    import opentimelineio as otio

    from .export import safe_name

    if person.segments.empty:
        raise BadInput(f"{person.name}: no appearance of the minimum length; no reel")
    person = ending_at_cuts(person, sources)
    out.mkdir(parents=True, exist_ok=True)
    stem = safe_name(person.name)
    work = Path(tempfile.mkdtemp(dir=out, prefix=".partial-"))
    try:
        names = []
        for vertical_too in [False, True] if vertical else [False]:
            names.append(f"{stem}{'_vertical' if vertical_too else ''}.mp4")
            stage = f"reel {person.name}" + " (9:16)" * vertical_too
            render(person, sources, work / names[-1], vertical_too, progress, stage)
        cuts = timeline(person, sources)
        for suffix, adapter in TIMELINE_FILES.items():
            names.append(f"{stem}{suffix}")
            otio.adapters.write_to_file(cuts, str(work / names[-1]), adapter_name=adapter)
        names.append(f"{stem}.csv")
        table = person.segments.assign(clip=[sources[key].name for key in person.segments["clip"]])
        table.to_csv(work / names[-1], index=False)
        for name in names:
            os.replace(work / name, out / name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return [out / name for name in names]


#: Bump when a change alters rendered reels: part of the key of reels kept in the cache. 2:
#: timelines name an uploaded clip by the user's name; 3: the 9:16 crop jumps at cuts; 4: segments
#: end at cuts.
REEL_VERSION = 4


def cached_reel(person: Person, sources: dict[str, Source], progress: Progress = no_progress) -> list[Path]:
    """``write_reel(person, sources, vertical=True)``'s files, kept under ``FACECLUST_CACHE/reels``
    by everything that decides them (clips and where timelines find them, segments, the faces the
    crop follows, name): asking again after any change of settings or edits renders again, else
    returns at once."""
    from .cache import cache_root, evict, max_bytes

    key = json.dumps(
        {
            "clips": {
                key: [sources[key].hash, sources[key].url] for key in sorted(set(person.segments["clip"]))
            },
            "segments": person.segments.to_dict("records"),
            "faces": person.faces[["clip", "t_sec", "left", "right", "shot_id"]].to_dict("records"),
            "name": person.name,
            "version": REEL_VERSION,
        },
        sort_keys=True,
        default=str,
    )
    root = cache_root() / "reels"
    folder = root / hashlib.sha256(key.encode()).hexdigest()[:32]
    if not folder.is_dir():
        root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(dir=root, prefix=".partial-"))
        try:
            files = write_reel(person, sources, work, vertical=True, progress=progress)
            size = sum(f.stat().st_size for f in files)
            (work / "meta.json").write_text(json.dumps({"bytes": size, "files": [f.name for f in files]}))
            os.rename(work, folder)
        except OSError:  # another session rendered the same reel first
            if not folder.is_dir():
                raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
        evict(root, max_bytes(), keep=folder)
    os.utime(folder / "meta.json")  # recently used
    return [folder / name for name in json.loads((folder / "meta.json").read_text())["files"]]


def _run_clip(folder: Path, clip: Path | None = None) -> tuple[dict, Source, pd.DataFrame]:
    """A finished run folder's run.json, its clip (checked to be the one it ran on, at ``clip``
    where given, else where it was) and its faces.csv."""
    from .cache import clip_hash

    info, faces = folders.read_run(folder)
    source = Source.of(info["clip"], clip, faces)
    if not source.path.is_file():
        raise BadInput(
            f"the clip of {folder}, {source.path}, is not there any more; give its new place with --clip"
        )
    if clip_hash(source.path) != source.hash:
        raise BadInput(f"{source.path} is not the clip {folder} was made from (its content differs)")
    return info, source, faces


def read_run(
    folder: Path, params: ReelParams, clip: Path | None = None
) -> tuple[dict[str, Source], list[Person]]:
    """The clip and the people of a ``faceclust run`` folder, with the dashboard's edits saved
    beside run.json (``edits.EDITS_FILE``) applied and hidden people left out."""
    from .edits import EDITS_FILE, Edits, load_edits

    info, source, faces = _run_clip(folder, clip)
    edits = Edits()
    if (folder / EDITS_FILE).is_file():
        made_for = {
            "clip_hash": info["clip"]["hash"],
            "extract_params": info["clip"]["params"],
            "cluster_params": info["cluster_params"],
        }
        edits = load_edits(folder / EDITS_FILE, made_for)
    labels = edits.apply(faces["cluster"].to_numpy(), faces["face_id"].to_numpy())
    faces = faces.assign(cluster=labels)
    key = source.path.name
    people = [
        person(edits.name(label), {key: own}, {key: source}, params)
        for label, own in faces[faces["cluster"] >= 0].groupby("cluster", sort=True)
        if label not in edits.hidden
    ]
    return {key: source}, people


def read_batch(folder: Path, params: ReelParams) -> tuple[dict[str, Source], list[Person]]:
    """The clips and the series identities of a ``faceclust batch`` folder: each identity's
    people in the clips' order (``series.csv``)."""
    _, series = folders.read_batch(folder)
    sources, faces = {}, {}
    for key in dict.fromkeys(series["clip"]):
        _, sources[key], faces[key] = _run_clip(folder / folders.CLIPS_DIR / key)
    people = []
    for name, rows in series.groupby("name", sort=True):
        own = {}
        for row in rows.itertuples(index=False):
            label = int(row.person.removeprefix("person_"))
            own[row.clip] = faces[row.clip][faces[row.clip]["cluster"] == label]
        people.append(person(str(name), own, sources, params))
    return sources, people


def read_people(
    folder: Path, params: ReelParams, clip: Path | None = None
) -> tuple[dict[str, Source], list[Person]]:
    """``read_batch`` for a batch folder (it has ``batch.json``), else ``read_run``."""
    if folders.is_batch(folder):
        if clip is not None:
            raise BadInput("--clip is for a run folder; a batch folder names each clip's run")
        return read_batch(folder, params)
    return read_run(folder, params, clip)
