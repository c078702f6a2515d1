"""Awkward and broken clips (tests/corpus.py) through the command line and the dashboard.

Each readable clip gives a correct result, each broken one a clear one-line message; none
crashes or hangs (every run has a time limit).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from faceclust import dashboard

from corpus import BROKEN, READABLE, error_lines, make_corpus

CLI = [sys.executable, "-m", "faceclust.cli"]
LIMIT_S = 300
#: People each readable clip shows (the office clip's three men, or none to count).
PEOPLE = {
    "4k.mp4": 3,
    "portrait_rotated.mp4": 3,
    "variable_rate.mkv": 3,
    "예능 하이라이트 1화 (final cut).mp4": 3,
}


@pytest.fixture(scope="module")
def corpus(data, tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("corpus"), data)


def _run(clip, out):
    return subprocess.run(
        [*CLI, "run", str(clip), "--out", str(out)],
        capture_output=True,
        text=True,
        env=os.environ,
        timeout=LIMIT_S,
    )


@pytest.mark.parametrize("name", list(BROKEN))
def test_a_broken_clip_is_one_clear_line(corpus, tmp_path, name):
    result = _run(corpus[name], tmp_path / "out")
    lines = error_lines(result.stderr)
    assert result.returncode == 2
    assert len(lines) == 1 and lines[0].startswith("faceclust: error:") and BROKEN[name] in lines[0]
    assert not (tmp_path / "out" / "run.json").exists()


@pytest.mark.parametrize("name", READABLE)
def test_a_readable_clip_gives_a_correct_result(corpus, tmp_path, name):
    out = tmp_path / name  # the output folder carries the clip's own (Korean, spaced) name
    result = _run(corpus[name], out)
    assert result.returncode == 0, result.stderr
    run = json.loads((out / "run.json").read_text())
    faces = pd.read_csv(out / "faces.csv")
    width, height = run["clip"]["width"], run["clip"]["height"]
    # Boxes lie inside the upright frame; time runs forward; no person is twice in a frame.
    assert (faces["left"] >= 0).all() and (faces["right"] <= width).all()
    assert (faces["top"] >= 0).all() and (faces["bottom"] <= height).all()
    times = faces.groupby("frame_index")["t_sec"].first().sort_index()
    assert times.is_monotonic_increasing
    people = faces[faces["cluster"] >= 0]
    assert not people.duplicated(["frame_index", "cluster"]).any()
    thresholds = run["thresholds"]  # too little evidence is said, and the prior used
    if thresholds["evidence"]["different_person"]["pairs"] < 10:
        assert thresholds["eps"]["from"] == "prior" and thresholds["note"] in result.stdout + result.stderr
    else:
        assert thresholds["eps"]["from"] == "clip" and "note" not in thresholds
    if name in PEOPLE:
        assert run["clusters"] == PEOPLE[name]
        assert {f"person_0{i}.zip" for i in range(PEOPLE[name])} <= {p.name for p in out.iterdir()}
    if name == "portrait_rotated.mp4":
        assert (width, height) == (480, 640)
    if name == "4k.mp4":
        assert (width, height) == (3840, 2160) and len(faces) == 3 * faces["frame_index"].nunique()
    if name == "variable_rate.mkv":  # 10, then 30, then 10 frames a second: sampled times say so
        assert times.diff().dropna().round(1).nunique() >= 2
    if name == "one_frame.mp4":  # three men in one frame: three different people, none merged
        assert len(faces) == 3
    if name == "crowd_30_faces.mp4":
        assert faces.groupby("frame_index").size().min() >= 28


def test_the_dashboard_survives_every_clip(corpus, monkeypatch):
    """Each clip run from the Run page: an error message or the people, never an exception."""
    monkeypatch.setenv("FACECLUST_SAMPLES", str(next(iter(corpus.values())).parent))
    app = AppTest.from_file(str(dashboard.APP), default_timeout=LIMIT_S).run()
    names = [str(o) for o in app.selectbox[0].options]
    for name in [*READABLE, *BROKEN]:
        app.selectbox[0].select_index(names.index(name)).run()
        app.button[0].click().run()
        while "job" in app.session_state:  # the page's poll reruns it when the extraction ends
            app.session_state["job"].wait(LIMIT_S)
            app.run()
        assert not app.exception, name
        if name in BROKEN:  # a clip with no faces is an empty result with a note, not an error
            messages = [m.value.lower() for m in [*app.error, *app.info]]
            assert any(BROKEN[name] in m for m in messages), (name, messages)
        else:
            assert app.subheader[0].value == name and app.metric[0].label == "Faces"
