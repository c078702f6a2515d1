"""A corpus of awkward and broken clips, generated from the shared real clips and photos.

Each entry is made on demand with ffmpeg (nothing binary is committed). ``make_corpus(folder)``
writes them all and returns {name: path}.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import cv2
import numpy as np

#: Clips a user may really bring: each must give a correct result.
READABLE = [
    "one_frame.mp4",
    "4k.mp4",
    "portrait_rotated.mp4",
    "variable_rate.mkv",
    "crowd_30_faces.mp4",
    "예능 하이라이트 1화 (final cut).mp4",
]
#: Clips that cannot give a result: each must give a clear one-line message.
BROKEN = {
    "empty.mp4": "empty",
    "random_bytes.mp4": "not a readable video",
    "truncated_10pct.mp4": "truncated",
    "truncated_50pct.mp4": "truncated",
    "truncated_90pct.mp4": "truncated",
    "audio_only.mp4": "not a readable video",
    "all_black.mp4": "no faces",
}


def ffmpeg(*args) -> None:
    """Run ffmpeg quietly, overwriting outputs; fails on error or after 5 minutes."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", *map(str, args)], check=True, timeout=300)


def _crowd_frame(faces_dir: Path, rows: int = 5, cols: int = 6, side: int = 200) -> np.ndarray:
    """30 labelled photos of 12 people tiled in one 1200x1000 frame (faces about 70 px)."""
    photos = sorted(faces_dir.glob("*/*.jpg"))
    people = sorted({p.parent.name for p in photos})
    picked = [sorted(faces_dir.glob(f"{people[i % len(people)]}/*.jpg"))[i // len(people)] for i in range(30)]
    tiles = [cv2.resize(cv2.imread(str(p)), (side, side), interpolation=cv2.INTER_AREA) for p in picked]
    return np.vstack([np.hstack(tiles[r * cols : (r + 1) * cols]) for r in range(rows)])


def make_corpus(folder: Path, data: Path) -> dict[str, Path]:
    """Write every corpus clip into ``folder``; ``data`` is ../shared/data."""
    folder.mkdir(parents=True, exist_ok=True)
    office = data / "clips" / "multi_face.avi"
    path = {name: folder / name for name in [*READABLE, *BROKEN]}

    path["empty.mp4"].write_bytes(b"")
    path["random_bytes.mp4"].write_bytes(np.random.default_rng(0).bytes(200_000))
    # An mp4 with its index first (as streamed files are), then cut: readable up to the cut.
    whole = folder / "whole.mp4"
    ffmpeg("-i", office, "-c:v", "libx264", "-preset", "ultrafast", "-movflags", "+faststart", whole)
    content = whole.read_bytes()
    for share in (10, 50, 90):
        path[f"truncated_{share}pct.mp4"].write_bytes(content[: len(content) * share // 100])
    whole.unlink()
    ffmpeg("-i", data / "clips" / "short_hamilton_clip.mp4", "-vn", "-c:a", "copy", path["audio_only.mp4"])
    ffmpeg("-f", "lavfi", "-i", "color=black:s=640x480:r=25:d=3", "-c:v", "libx264", path["all_black.mp4"])

    ffmpeg("-i", office, "-frames:v", "1", "-c:v", "libx264", path["one_frame.mp4"])
    ffmpeg(
        "-i",
        office,
        "-t",
        "3",
        "-vf",
        "scale=3840:2160",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        path["4k.mp4"],
    )
    upright = folder / "upright.mp4"  # 480x640 portrait stored sideways, as phones do
    ffmpeg(
        "-i",
        office,
        "-t",
        "4",
        "-vf",
        "scale=480:360,pad=480:640:0:140,transpose=1",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        upright,
    )
    ffmpeg("-i", upright, "-c", "copy", "-metadata:s:v:0", "rotate=90", path["portrait_rotated.mp4"])
    upright.unlink()
    # 10 frames a second, then 30 from 2 s to 4 s, then 10 again: timestamps are irregular.
    ffmpeg(
        "-i",
        office,
        "-t",
        "6",
        "-vf",
        "select='not(mod(n\\,3))+between(n\\,60\\,119)'",
        "-fps_mode",
        "vfr",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        path["variable_rate.mkv"],
    )
    still = folder / "crowd.png"
    cv2.imwrite(str(still), _crowd_frame(data / "faces" / "lfw_deepfunneled_subset"))
    ffmpeg(
        "-loop",
        "1",
        "-i",
        still,
        "-t",
        "2",
        "-r",
        "25",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        path["crowd_30_faces.mp4"],
    )
    still.unlink()
    ffmpeg(
        "-i",
        office,
        "-t",
        "6",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        path["예능 하이라이트 1화 (final cut).mp4"],
    )
    return path


if __name__ == "__main__":  # python tests/corpus.py FOLDER: look at the corpus by hand
    import sys

    for name, p in make_corpus(
        Path(sys.argv[1]), Path(__file__).resolve().parents[2] / "shared" / "data"
    ).items():
        print(f"{os.path.getsize(p):>10}  {name}")


#: A progress line of the command line when stderr is not a terminal ("extract: 12/47 frames").
PROGRESS_LINE = re.compile(r"^[^:]+: \d+(/\d+)? (B|MB|frames|clips|segments)\b")


def error_lines(stderr: str) -> list[str]:
    """The lines of a run's stderr less the progress lines and the notices it may print first
    ('WARNING ...': on a machine without the network, auto falls back from SFace to dlib)."""
    lines = stderr.strip().splitlines()
    return [line for line in lines if not line.startswith("WARNING ") and not PROGRESS_LINE.match(line)]


def yunet_boxes(image: np.ndarray, model: Path) -> np.ndarray:
    """YuNet's face boxes (N, 4) as x, y, width, height in pixels, not clipped to the image (a
    face cut by the frame's edge reaches past it), at YuNet's default 0.8 score."""
    net = cv2.FaceDetectorYN.create(str(model), "", (image.shape[1], image.shape[0]), 0.8, 0.3, 5000)
    _, faces = net.detect(image)
    return np.zeros((0, 4)) if faces is None else faces[:, :4]


def crop_left(path: str, t: float) -> float:
    """The value of ``reel.crop_expression``'s ffmpeg expression ``path`` at ``t`` (s)."""
    return eval(path, {"clip": lambda v, a, b: min(max(v, a), b), "gte": lambda a, b: float(a >= b), "t": t})


def person_in_vertical(person, sources: dict, video: Path, model: Path) -> tuple[int, int, int]:
    """Look at ``person``'s vertical reel ``video`` at each of their sampled faces that it holds:
    (faces looked for, faces YuNet finds where the crop put them (IoU >= 0.3 with the sampled
    box moved into the crop), of those the ones wholly inside the frame)."""
    from faceclust.reel import crop_expression, crop_width

    capture = cv2.VideoCapture(str(video))
    fps, height = capture.get(cv2.CAP_PROP_FPS), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)
    wanted = {}  # reel frame index -> expected box x, y, w, h
    offset = 0.0
    for cut in person.segments.itertuples(index=False):
        source = sources[cut.clip]
        own = person.faces[person.faces["clip"] == cut.clip]
        path = crop_expression(own, cut.start, cut.end, source.width, crop_width(source))
        scale = height / source.height
        inside = own[(own["t_sec"] >= cut.start) & (own["t_sec"] < cut.end)]
        for face in inside.itertuples(index=False):
            left = crop_left(path, face.t_sec - cut.start)
            box = (face.left - left, face.top, face.right - face.left, face.bottom - face.top)
            wanted[round((offset + face.t_sec - cut.start) * fps)] = np.array(box) * scale
        offset += cut.end - cut.start
    looked = found = whole = 0
    index = 0
    while wanted:
        ok, frame = capture.read()
        if not ok:
            break
        if index in wanted:
            expected = wanted.pop(index)
            boxes = yunet_boxes(frame, model)
            looked += 1
            if len(boxes):
                overlap = _iou_xywh(boxes, expected)
                if overlap.max() >= 0.3:
                    x, y, w, h = boxes[overlap.argmax()]
                    found += 1
                    whole += x >= 0 and y >= 0 and x + w <= frame.shape[1] and y + h <= frame.shape[0]
        index += 1
    capture.release()
    return looked + len(wanted), found, whole


def _iou_xywh(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    x1, y1 = np.maximum(boxes[:, 0], box[0]), np.maximum(boxes[:, 1], box[1])
    x2 = np.minimum(boxes[:, 0] + boxes[:, 2], box[0] + box[2])
    y2 = np.minimum(boxes[:, 1] + boxes[:, 3], box[1] + box[3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    return inter / (boxes[:, 2] * boxes[:, 3] + box[2] * box[3] - inter)
