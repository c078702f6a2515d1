"""Cheap frames against exact frames: decoding time and quality on every labelled clip.

For each labelled clip: the seconds to decode the sampled frames at step 15 (``iter_frames``
alone, each mode the median of ``RUNS``, in the same run, with the ratio), then with each
embedder the BCubed F, coverage and faces of a full extraction + clustering at the defaults in
each mode. The labels sit on the exact grid (every 15th frame); cheap frames are matched to
them in the sampled frame nearest to each label's, within half a step.

    .venv/bin/python bench/sampling.py
"""

from __future__ import annotations

import statistics
import time

import faceclust as fc
from faceclust.video import iter_frames

from common import DATA, EMBEDDERS, EVERY_LABELLED, labels, table

STEP, RUNS = 15, 3


def decode_s(clip, frames: str) -> tuple[float, int]:
    """Median seconds to decode the sampled frames of ``clip`` in mode ``frames``, and their count."""
    times, count = [], 0
    for _ in range(RUNS):
        started = time.perf_counter()
        count = sum(1 for _ in iter_frames(clip, STEP, frames))
        times.append(time.perf_counter() - started)
    return statistics.median(times), count


def main() -> None:
    speed, quality = [], []
    for name in EVERY_LABELLED:
        clip = DATA / "clips" / name
        (exact_s, exact_n), (cheap_s, cheap_n) = decode_s(clip, "exact"), decode_s(clip, "cheap")
        speed.append(
            {
                "clip": name,
                "frames exact / cheap": f"{exact_n} / {cheap_n}",
                "decode s exact": round(exact_s, 2),
                "decode s cheap": round(cheap_s, 2),
                "cheap / exact": round(cheap_s / exact_s, 2),
            }
        )
        for title, embedder in EMBEDDERS.items():
            row = {"clip": name, "embedder": title}
            for mode in ("exact", "cheap"):
                params = fc.ExtractParams(
                    sampling=fc.SamplingParams(step=STEP, frames=mode), embed=fc.EmbedParams(embedder)
                )
                extraction = fc.extract(clip, params, workers=2)
                faces = extraction.faces.table.assign(cluster=fc.cluster(extraction))
                metrics = fc.evaluate(faces, labels(name), within=STEP // 2 if mode == "cheap" else 0)
                row |= {
                    f"F {mode}": round(metrics["bcubed_f"], 3),
                    f"coverage {mode}": round(metrics["coverage"], 3),
                    f"faces {mode}": len(faces),
                }
            row["F cheap - exact"] = round(row["F cheap"] - row["F exact"], 3)
            quality.append(row)
    print(f"## Decoding the sampled frames (step {STEP}, median of {RUNS})\n")
    print(table(speed, floats="{}"))
    print("\n## Quality: exact frames against cheap frames (labels matched within half a step)\n")
    print(table(quality, floats="{}"))


if __name__ == "__main__":
    main()
