"""Batch mode over a longer set: 1 and 2 local workers against a local Ray cluster, cold.

The set: the three shared clips (scaled to 640x360, 30 fps) one after another, the reel repeated
``REPEATS`` times and cut into ``EPISODES`` episodes. Each engine runs ``faceclust batch`` on it
in a fresh cache; Ray runs on a cluster started beforehand (``ray start --head --num-cpus 2``:
a long-lived cluster is how Ray is used), whose start-up is timed apart. From the one-worker run
comes the cost per sampled frame, and from it an estimate for a season.

    .venv/bin/python bench/batch.py
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from common import DATA, table

REPEATS, EPISODES = 10, 6
CLIPS = ["facenet_pytorch_video.mp4", "multi_face.avi", "short_hamilton_clip.mp4"]
RAY = Path(sys.executable).parent / "ray"
#: The season of the estimate: 20 episodes of 60 minutes, to be done within an hour.
SEASON_EPISODES, EPISODE_MIN, DEADLINE_MIN = 20, 60, 60


def ffmpeg(*args) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *map(str, args)], check=True)


def make_episodes(folder: Path) -> tuple[list[Path], float]:
    """The set's episodes and their total length (s)."""
    inputs = [arg for name in CLIPS for arg in ("-i", DATA / "clips" / name)]
    scaled = "".join(f"[{i}:v]scale=640:360,setsar=1,fps=30,format=yuv420p[v{i}];" for i in range(len(CLIPS)))
    joined = "".join(f"[v{i}]" for i in range(len(CLIPS))) + f"concat=n={len(CLIPS)}:v=1:a=0[v]"
    reel = folder / "reel.mp4"
    ffmpeg(
        *inputs,
        "-filter_complex",
        scaled + joined,
        "-map",
        "[v]",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        reel,
    )
    listing = folder / "reel.txt"
    listing.write_text(f"file '{reel}'\n" * REPEATS)
    whole = folder / "whole.mp4"
    ffmpeg("-f", "concat", "-safe", "0", "-i", listing, "-c", "copy", whole)
    length = float(
        subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", whole],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    part = length / EPISODES
    episodes = []
    for k in range(EPISODES):
        episodes.append(folder / "episodes" / f"episode_{k + 1:02d}.mp4")
        episodes[-1].parent.mkdir(exist_ok=True)
        ffmpeg(
            "-ss", k * part, "-i", whole, "-t", part, "-c:v", "libx264", "-preset", "ultrafast", episodes[-1]
        )
    return episodes, length


def run_batch(folder: Path, name: str, *args) -> dict:
    """``faceclust batch`` on the episodes in a fresh cache: wall time and what it found."""
    out = folder / f"out-{name}"
    env = {**os.environ, "FACECLUST_CACHE": str(folder / f"cache-{name}")}
    command = [
        sys.executable,
        "-m",
        "faceclust.cli",
        "batch",
        str(folder / "episodes"),
        "--out",
        str(out),
        *args,
    ]
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - started
    info = json.loads((out / "batch.json").read_text())
    faces = sum(len(pd.read_csv(out / "clips" / c["folder"] / "faces.csv")) for c in info["clips"])
    return {"engine": name, "wall s": round(wall, 1), "identities": info["identities"], "faces": faces}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        episodes, length = make_episodes(folder)
        frames = math.ceil(length * 30 / 15)  # sampled at the default step 15 of 30 fps
        rows = [
            run_batch(folder, "process pool, 1 worker", "--jobs", "1"),
            run_batch(folder, "process pool, 2 workers", "--jobs", "2"),
        ]
        started = time.perf_counter()
        subprocess.run(
            [RAY, "start", "--head", "--num-cpus", "2", "--include-dashboard", "false"],
            check=True,
            capture_output=True,
        )
        ray_start = time.perf_counter() - started
        try:
            rows.append(run_batch(folder, "ray, local cluster, 2 CPUs", "--ray", "auto"))
        finally:
            subprocess.run([RAY, "stop", "--force"], capture_output=True)
    one, two, ray = (row["wall s"] for row in rows)
    for row in rows:
        row["speed-up"] = f"{one / row['wall s']:.2f}"
    print(f"{len(episodes)} episodes, {length / 60:.1f} min of video, {frames} sampled frames\n")
    print(table(rows))
    per_frame = one / frames
    per_episode_min = per_frame * EPISODE_MIN * 60 * 2 / 60  # core-minutes for one episode
    overhead = ray / two - 1
    rounds = DEADLINE_MIN // per_episode_min if per_episode_min <= DEADLINE_MIN else 0
    cores = math.ceil(SEASON_EPISODES / rounds) if rounds else None
    print(
        f"\nRay cluster start-up {ray_start:.1f} s (not in the Ray wall time). Ray against the "
        f"2-worker process pool: {overhead:+.0%}.\nOne core: {per_frame:.3f} s per sampled frame "
        f"({rows[0]['faces'] / frames:.1f} faces per frame), so a {EPISODE_MIN}-minute episode "
        f"(7,200 sampled frames) takes {per_episode_min:.0f} core-minutes."
    )
    if cores:
        print(
            f"A season of {SEASON_EPISODES} such episodes, one task per episode on one core: "
            f"{int(rounds)} episodes per core fit in {DEADLINE_MIN} min, so {cores} cores "
            f"({math.ceil(cores * (1 + max(overhead, 0)))} with the Ray overhead measured here)."
        )
    else:
        print("One episode alone takes a core longer than the deadline: split episodes in time.")


if __name__ == "__main__":
    main()
