"""A long clip through `faceclust run`: minutes per hour of video, each stage, peak memory, and
the floors measured in the same run.

A labelled clip concatenated without re-encoding to about ``--minutes`` of video (multi_face.avi:
640x480 MPEG-4; short_hamilton_clip.mp4: 640x360 H.264; mudo_variety.mp4: 720p HEVC, broadcast
style), run cold at the default settings (or ``--frames cheap``) with one embedder, in a fresh
cache. Memory is the sum of the resident sets of faceclust and its worker processes, sampled
every half second. The floors: ffmpeg decoding every frame, only I and P frames, only keyframes;
and faceclust's decoder producing only the sampled frames, in each mode.

    .venv/bin/python bench/long_clip.py [--source mudo_variety.mp4] [--minutes 60]
                                        [--embedder dlib|test] [--frames exact|cheap]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from faceclust.video import iter_frames, probe

from common import DATA, TEST_MODEL, concatenated

EMBEDDERS = {"dlib": "dlib", "test": TEST_MODEL}  # --embedder's choices
STEP = 15


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants (MB, Linux /proc)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS")))
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration):
            continue
    return total / 1024


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def floors(clip: Path) -> dict[str, float]:
    """Seconds to decode ``clip``: every frame, I and P frames, keyframes (ffmpeg, all threads),
    and the frames faceclust samples at step ``STEP`` in each mode."""
    ffmpeg = ["ffmpeg", "-v", "error", "-threads", "0"]
    rest = ["-i", str(clip), "-an", "-f", "null", "-"]
    seconds = {
        "ffmpeg every frame": timed([*ffmpeg, *rest]),
        "ffmpeg I and P frames": timed([*ffmpeg, "-skip_frame", "bidir", *rest]),
        "ffmpeg keyframes": timed([*ffmpeg, "-skip_frame", "nokey", *rest]),
    }
    for mode in ("exact", "cheap"):
        started = time.perf_counter()
        for _ in iter_frames(clip, STEP, mode):
            pass
        seconds[f"faceclust sampled, {mode}"] = time.perf_counter() - started
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="multi_face.avi")
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--embedder", choices=EMBEDDERS, default="dlib")
    parser.add_argument("--frames", choices=["exact", "cheap"], default="exact")
    args = parser.parse_args()
    source = DATA / "clips" / args.source
    copies = max(1, round(args.minutes * 60 / probe(source).duration_s))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clip = concatenated(source, copies, tmp / f"long{source.suffix}")
        hours = probe(clip).duration_s / 3600
        floor = floors(clip)
        env = {**os.environ, "FACECLUST_CACHE": str(tmp / "cache")}
        command = [
            *(sys.executable, "-m", "faceclust.cli", "-q", "run", str(clip), "--out", str(tmp / "out")),
            *("--step", str(STEP), "--embedder", EMBEDDERS[args.embedder], "--frames", args.frames),
        ]
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
        peak = 0.0
        while process.poll() is None:
            peak = max(peak, tree_rss_mb(process.pid))
            time.sleep(0.5)
        wall = time.perf_counter() - started
        if process.returncode:
            sys.exit(f"faceclust run failed (exit {process.returncode})")
        run = json.loads((tmp / "out" / "run.json").read_text())
    print(f"clip: {args.source} x {copies} = {hours * 60:.1f} min of video", end="; ")
    print(f"embedder {args.embedder}, frames {args.frames}")
    print(f"faceclust run: {wall:.0f} s = {wall / 60 / hours:.1f} min per hour of video", end="; ")
    print(f"{run['faces']} faces;")
    print(f"  peak memory of the process tree {peak:.0f} MB; clustering {run['timings_s']['cluster']:.1f} s")
    print("  seconds in each stage (workers' summed):", run["clip"]["stage_s"])
    for name, seconds in floor.items():
        print(f"floor, {name}: {seconds:.1f} s = {seconds / 60 / hours:.1f} min per hour")


if __name__ == "__main__":
    main()
