"""What super-resolution does to coverage and BCubed F: the labelled clips at full size, and
multi_face.avi downscaled to a quarter of its size (160x120, faces 10-35 px).

    .venv/bin/python bench/superres.py
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

import pandas as pd

import faceclust as fc

from common import DATA, LABELLED, labels, table

METHODS = ["none", "bicubic_x4", "fsrcnn-small_x4", "fsrcnn_x4", "espcn_x4", "lapsrn_x4"]


def measure(clip: Path, truth: pd.DataFrame, method: str, title: str) -> dict:
    params = fc.ExtractParams(sr=fc.SRParams(method=method))
    started = time.perf_counter()
    extraction = fc.extract(clip, params)
    seconds = time.perf_counter() - started if not extraction.cache_hit else extraction.meta["extract_s"]
    metrics = fc.evaluate(extraction.faces.table.assign(cluster=fc.cluster(extraction)), truth)
    return {
        "clip": title,
        "sr": method,
        "faces": len(extraction.faces.table),
        "coverage": metrics["coverage"],
        "bcubed_f": metrics["bcubed_f"],
        "extract s": f"{seconds:.1f}",
    }


def main() -> None:
    rows = []
    for name in LABELLED:
        for method in METHODS[:4]:
            rows.append(measure(DATA / "clips" / name, labels(name), method, name))
    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "multi_face_quarter.avi"
        subprocess.run(
            [
                "ffmpeg",
                "-v",
                "error",
                "-i",
                str(DATA / "clips" / "multi_face.avi"),
                "-vf",
                "scale=160:120",
                "-c:v",
                "mpeg4",
                "-q:v",
                "2",
                str(small),
            ],
            check=True,
        )
        truth = labels("multi_face.avi")
        truth[["top", "right", "bottom", "left"]] = (truth[["top", "right", "bottom", "left"]] / 4).round()
        for method in METHODS:
            rows.append(measure(small, truth, method, "multi_face.avi at 160x120"))
    print(table(rows))


if __name__ == "__main__":
    main()
