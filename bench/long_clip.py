"""An hour of video through `faceclust run`: wall time and peak memory of the process tree.

multi_face.avi (23.4 s) concatenated N times (default 154, about an hour) without re-encoding,
run cold at the default settings, in a fresh cache. Memory is the sum of the resident sets of
faceclust and its worker processes, sampled every half second.

    .venv/bin/python bench/long_clip.py [N]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import DATA, concatenated


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


def main(copies: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clip = concatenated(DATA / "clips" / "multi_face.avi", copies, tmp / "long.avi")
        env = {**os.environ, "FACECLUST_CACHE": str(tmp / "cache")}
        command = [sys.executable, "-m", "faceclust.cli", "run", str(clip), "--out", str(tmp / "out")]
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
        peak = 0.0
        while process.poll() is None:
            peak = max(peak, tree_rss_mb(process.pid))
            time.sleep(0.5)
        wall = time.perf_counter() - started
        print(f"clip: multi_face.avi x {copies} = {copies * 23.4 / 60:.1f} min of video")
        print(f"faceclust run: {process.stdout.read().strip()} (exit {process.returncode})")
        print(f"wall {wall / 60:.1f} min, peak memory of the process tree {peak:.0f} MB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 154)
