"""The dashboard at an episode's size: page render times and chart payloads at 20k / 40k faces.

The faces are those of the hour-long clip of `long_clip.py` (multi_face.avi concatenated): its
copies are the same frames, so its extraction is the 23.4 s clip's extraction repeated, each copy
shifted by the clip's length in frames, time, shots and tracks, and its vectors moved a little
(the same person in another scene: each copy's track parts are points of their own), made here
in seconds rather than an hour. The extraction job's last stage (``Extraction.prepare_views``:
clustering and the two UMAP layouts, UMAP's compilation included in a new process) is timed,
then each page is run with Streamlit's AppTest in this process (the server's side: the script,
clustering, building the charts; not the browser's drawing): first visit after the extraction
ended, a second visit, after an eps move (a re-cut of the kept tree). Payload: bytes of each
page's chart specs and of everything the page sends, against what the Altair Compare page sent
before (every point twice, each with its face as a data URI). Then a server started again on the
same entry (``restarted``): Compare's first visit with the trees the first server kept and,
the baseline in the same process, without them; and the last stage there.

    .venv/bin/python bench/dashboard.py [FACES ...]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest

import faceclust as fc
from faceclust import dashboard, ranges
from faceclust.dashboard import charts, sidebar

from common import DATA, table

PAGES = {"People": "views/people.py", "Compare": "views/compare.py", "Download": "views/download.py"}


def repeated(extraction: fc.Extraction, copies: int, folder: Path) -> fc.Extraction:
    """``extraction`` as the extraction of its clip concatenated ``copies`` times (crops linked)."""
    faces, meta = extraction.faces, extraction.meta
    rows = faces.table
    n, frames = len(rows), meta["frame_count"]
    duration, shots, tracks = frames / meta["fps"], rows["shot_id"].max() + 1, rows["track_id"].max() + 1
    copied = []
    for k in range(copies):
        copy = rows.copy()
        copy["face_id"] += k * n
        copy["frame_index"] += k * frames
        copy["t_sec"] += k * duration
        copy["shot_id"] += k * shots
        copy["track_id"] += k * tracks
        copied.append(copy)
    for sub in ("thumbs", "context"):
        if (folder / sub).is_dir():
            continue  # made by an earlier process (a server started again on the same entry)
        (folder / sub).mkdir(parents=True)
        for face_id in range(n * copies):
            os.link(faces.folder / sub / f"{face_id % n}.jpg", folder / sub / f"{face_id}.jpg")
    tile = lambda a: np.tile(a, (copies, 1))  # noqa: E731
    # Each copy moved by its own small offset: the same people, seen again, as new points.
    offsets = np.random.default_rng(0).normal(0, 0.01, (copies, faces.face_embedding.shape[1]))
    moved = np.repeat(offsets, n, axis=0)
    long = fc.FaceTable(
        pd.concat(copied, ignore_index=True),
        (tile(faces.face_embedding) + moved).astype(np.float32),
        tile(faces.cloth_feature),
        tile(faces.own_embedding),
        folder,
    )
    return fc.Extraction(long, {**meta, "frame_count": frames * copies}, cache_hit=True)


def altair_payload(extraction: fc.Extraction, people: np.ndarray) -> int:
    """Bytes the Altair Compare page sent: both charts, every point with x, y, person, time, id
    and its face as a data URI (``charts.thumbnail_uri``, the same 48 px JPEG)."""
    point = len('{"x":-1.2345678,"y":3.4567891,"person":"person_00","t_sec":1234.5,"face_id":1234,"uri":""}')
    faces = extraction.faces
    # The copies' crops are links to the clip's: one picture per original face.
    uri = [len(charts.thumbnail_uri(str(faces.thumb_path(i).resolve()))) for i in range(len(people))]
    return 2 * sum(point + size for size in uri)


def timed(app: AppTest) -> float:
    started = time.perf_counter()
    app.run(timeout=1800)
    assert not app.exception, app.exception
    return time.perf_counter() - started


def chart_bytes(app: AppTest) -> int:
    return sum(len(chart.proto.spec) for chart in app.get("plotly_chart"))


def visit(extraction: fc.Extraction, page: str) -> AppTest:
    app = AppTest.from_file(str(dashboard.APP), default_timeout=1800).switch_page(page)
    app.session_state["extraction"] = extraction
    app.session_state["clip_name"] = "long.avi"
    return app


def restarted(size: int, folder: Path) -> dict:
    """A server started again on the entry in ``folder`` an earlier one filled (its layouts and
    trees kept): Compare's first visit as the entry stands, and the same without its kept trees
    (the baseline: the clustering made again), and the extraction's last stage on it (what Run
    does with an episode the cache holds)."""
    base = fc.extract(DATA / "clips" / "multi_face.avi")
    copies = round(size / len(base.faces.table))
    trees, aside = folder / "trees", folder / "trees-aside"
    trees.rename(aside)
    without = timed(visit(repeated(base, copies, folder), PAGES["Compare"]))
    shutil.rmtree(trees)
    aside.rename(trees)
    kept = timed(visit(repeated(base, copies, folder), PAGES["Compare"]))
    extraction = repeated(base, copies, folder)
    started = time.perf_counter()
    extraction.prepare_views(extraction.resolve(sidebar.DEFAULT_CLUSTERING), ranges.WEIGHT.offered, True)
    return {
        "faces": len(extraction.faces.table),
        "Compare after a restart, trees made again s": without,
        "Compare after a restart, trees kept s": kept,
        "last stage after a restart s": time.perf_counter() - started,
    }


def one_size(size: int, folder: Path) -> dict:
    """The pages at ``size`` faces in this process (a server started for it) after the
    extraction's last stage, the cache entry in ``folder``."""
    base = fc.extract(DATA / "clips" / "multi_face.avi")
    extraction = repeated(base, round(size / len(base.faces.table)), folder)
    faces = len(extraction.faces.table)
    started = time.perf_counter()
    extraction.prepare_views(extraction.resolve(sidebar.DEFAULT_CLUSTERING), ranges.WEIGHT.offered, True)
    prepared = time.perf_counter() - started
    rows = []
    for name, page in PAGES.items():
        app = visit(extraction, page)
        row = {"faces": faces, "page": name, "extraction's last stage s": prepared}
        row |= {"first visit s": timed(app), "again s": timed(app)}
        eps = app.session_state["clustering"].eps
        app.sidebar.slider(key="w_eps").set_value(round(eps + 0.02, 2))
        row["after an eps move s"] = timed(app)
        row["charts KB"] = chart_bytes(app) / 1e3
        rows.append(row)
        if name == "Compare":
            labels = fc.cluster(extraction, app.session_state["clustering"])
            points = app.session_state["extraction"].clusterer.points
            payload = {
                "faces": faces,
                "track parts": len(points.first),
                "Compare before (Altair) MB": altair_payload(extraction, labels) / 1e6,
                "Compare now MB": chart_bytes(app) / 1e6,
            }
    return {"rows": rows, "payload": payload}


def measured(*args: str) -> dict:
    """``one_size`` in a process of its own: a cold server, no background work left over."""
    command = [sys.executable, __file__, *args]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(sizes: list[int]) -> None:
    rows, payloads, restarts = [], [], []
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        for size in sizes:
            entry = str(Path(tmp) / f"long-{size}")
            first = measured("--one", str(size), entry)
            rows += first["rows"]
            payloads.append(first["payload"])
            restarts.append(measured("--restarted", str(size), entry))
            print(table(first["rows"], "{:.2f}"), restarts[-1], flush=True)
    print(table(rows, "{:.2f}"))
    print()
    print(table([{**p, **r} for p, r in zip(payloads, restarts, strict=True)], "{:.2f}"))


if __name__ == "__main__":
    if sys.argv[1:2] in (["--one"], ["--restarted"]):
        measure = restarted if sys.argv[1] == "--restarted" else one_size
        result = measure(int(sys.argv[2]), Path(sys.argv[3]))
        print(json.dumps(result), flush=True)
        os._exit(0)  # not waiting for the pages' background threads (UMAP of every slider weight)
    else:
        main([int(a) for a in sys.argv[1:]] or [20000, 40000])
