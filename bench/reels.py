"""Highlight reels of the labelled clips: every person's reel against their screen time, audio,
the vertical reel's face in frame, the timelines read back, and render time per minute of reel.

    .venv/bin/python bench/reels.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import opentimelineio as otio

import faceclust as fc
from faceclust.reel import ReelParams, read_people, render, segments, timeline, write_reel

from common import DATA, LABELLED

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from corpus import person_in_vertical

YUNET = DATA / "models" / "face_detection_yunet_2026may.onnx"


def probe(path: Path) -> tuple[float, bool]:
    """ffprobe's duration (s) of a file and whether it has an audio stream."""
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=codec_type",
            "-of",
            "csv=p=0",
            path,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return float(out[-1]), "audio" in out


def ranges(tl) -> list[tuple[int, int]]:
    """(first frame, frame count) of each clip of a timeline's first track."""
    track = tl.tracks[0]
    return [(round(c.source_range.start_time.value), round(c.source_range.duration.value)) for c in track]


def agrees(person, source, params: ReelParams) -> str:
    """Whether the reel's length is the screen time give or take what the settings change: it may
    be longer by the joined gaps and the padding, shorter by the dropped glimpses."""

    def length(**changes) -> float:
        cut = segments(person.faces, source.seconds_per_frame, source.duration, ReelParams(**changes))
        return float((cut["end"] - cut["start"]).sum())

    screen = length(gap=0, pad=0, min_length=0)
    joined = length(gap=params.gap, pad=0, min_length=0) - screen
    dropped = joined + screen - length(gap=params.gap, pad=0, min_length=params.min_length)
    padding = 2 * params.pad * len(person.segments)
    ok = screen - dropped - 1e-3 <= person.seconds <= screen + joined + padding + 1e-3
    return f"{'ok' if ok else 'NO'} (+{joined:.2f} joined, +<={padding:.1f} pad, -{dropped:.2f} dropped)"


def main() -> None:
    params = ReelParams()
    print(f"reel settings: gap {params.gap} s, pad {params.pad} s, min length {params.min_length} s")
    header = (
        "clip person segs screen_s reel_s agree mp4_s v_mp4_s audio v_face v_inside edl fcp render v_render"
    )
    print(header.replace(" ", " | ") + "  (render: s per minute of reel)")
    totals = {"landscape": [0.0, 0.0], "vertical": [0.0, 0.0]}
    with tempfile.TemporaryDirectory() as tmp:
        for name in LABELLED:
            run_dir = Path(tmp) / name
            fc.run(DATA / "clips" / name, run_dir, workers=2)
            sources, people = read_people(run_dir, params)
            for person in people:
                source = next(iter(sources.values()))
                screen = person.faces["frame_index"].nunique() * source.seconds_per_frame
                if person.segments.empty:
                    print(f"{name} | {person.name} | 0 | {screen:.2f} | no reel")
                    continue
                out = Path(tmp) / "reels" / name
                out.mkdir(parents=True, exist_ok=True)
                seconds = {}
                for kind in totals:
                    path = out / f"{person.name}_{kind}.mp4"
                    started = time.perf_counter()
                    render(person, sources, path, vertical=kind == "vertical")
                    seconds[kind] = time.perf_counter() - started
                    totals[kind][0] += seconds[kind]
                    totals[kind][1] += person.seconds
                files = write_reel(person, sources, out / "files", vertical=False)
                expected = ranges(timeline(person, sources))
                edl = ranges(otio.adapters.read_from_file(str(files[2]), rate=float(source.fps)))
                fcp = ranges(otio.adapters.read_from_file(str(files[3])))
                mp4_s, audio = probe(out / f"{person.name}_landscape.mp4")
                v_mp4_s, _ = probe(out / f"{person.name}_vertical.mp4")
                looked, found, inside = person_in_vertical(
                    person, sources, out / f"{person.name}_vertical.mp4", YUNET
                )
                same = ["same" if got == expected else "DIFFERS" for got in (edl, fcp)]
                per_minute = [seconds[kind] / person.seconds * 60 for kind in totals]
                row = [name, person.name, len(person.segments), f"{screen:.2f}", f"{person.seconds:.2f}"]
                row += [agrees(person, source, params)]
                row += [f"{mp4_s:.2f}", f"{v_mp4_s:.2f}", "yes" if audio else "no", f"{found}/{looked}"]
                row += [f"{inside}/{found}", *same, *(f"{s:.1f}" for s in per_minute)]
                print(" | ".join(map(str, row)))
    for kind, (spent, length) in totals.items():
        print(f"{kind}: {spent:.1f} s for {length:.1f} s of reel, {spent / length * 60:.1f} s per minute")


if __name__ == "__main__":
    main()
