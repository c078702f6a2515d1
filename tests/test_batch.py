"""Batch mode over "episodes" cut from a labelled clip: linking, faults, a real local Ray cluster."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import cv2
import opentimelineio as otio
import pandas as pd
import pytest
from conftest import EPISODE_FRAMES

import faceclust as fc
from faceclust import dashboard
from faceclust.batch import run_batch
from faceclust.cli import main
from faceclust.reel import ReelParams, read_people

from corpus import error_lines

CLI = [sys.executable, "-m", "faceclust.cli"]
BUILDING = re.compile(r"^\.[0-9a-f]{32}-(\d+)-")  # a cache entry being built: .<key>-<pid>-...


def _series_scores(out: Path, data: Path) -> dict:
    """BCubed and pairwise scores of the series identities against multi_face.avi's labels."""
    series = pd.read_csv(out / "series.csv")
    identity = {(row.clip, row.person): row.identity for row in series.itertuples()}
    tables = []
    for k in range(3):
        clip = f"episode_{k + 1}"
        faces = pd.read_csv(out / "clips" / clip / "faces.csv")
        faces["cluster"] = [
            identity.get((clip, f"person_{c:02d}"), -1) if c >= 0 else -1 for c in faces["cluster"]
        ]
        tables.append(faces.assign(frame_index=faces["frame_index"] + k * EPISODE_FRAMES))
    labels = pd.read_csv(data / "labels" / "multi_face.avi.labels.csv")
    return fc.evaluate(pd.concat(tables, ignore_index=True), labels)


@pytest.fixture(scope="module")
def season(episodes, tmp_path_factory) -> tuple[Path, list, pd.DataFrame]:
    """The episodes as one batch on the local process pool: (out folder, results, series)."""
    out = tmp_path_factory.mktemp("season")
    return out, *run_batch([episodes], out, jobs=2)


def test_the_three_men_become_three_series_identities_and_a_corrupt_clip_is_reported(season, data):
    tmp_path, results, series = season
    assert [r.folder for r in results] == ["episode_1", "episode_2", "episode_3", "episode_4"]
    assert results[3].error and "not a readable video" in results[3].error
    assert all(r.error is None and len(r.people) == 3 for r in results[:3])
    assert series["identity"].nunique() == 3
    assert (series.groupby("identity")["clip"].nunique() == 3).all()  # each man in every episode
    assert _series_scores(tmp_path, data)["bcubed_f"] >= 0.99
    info = json.loads((tmp_path / "batch.json").read_text())
    assert info["identities"] == 3 and info["clips"][3]["error"] == results[3].error
    for name, rows in series.groupby("name"):
        with zipfile.ZipFile(tmp_path / "series" / f"{name}.zip") as archive:
            names = archive.namelist()
        assert "manifest.csv" in names
        assert {n.split("/")[0] for n in names if "/" in n} == set(rows["clip"])


def test_the_series_page_shows_each_identity_per_episode_and_its_zip(season, monkeypatch):
    from streamlit.testing.v1 import AppTest

    out, _, series = season
    monkeypatch.setenv("FACECLUST_BATCHES", str(out.parent))  # a folder of batches: pick this one
    app = AppTest.from_file(str(dashboard.APP), default_timeout=120)
    app = app.switch_page("views/series.py").run()
    assert not app.exception
    app.selectbox[0].set_value(out).run()
    assert not app.exception
    assert [h.value.split(":")[0] for h in app.subheader] == sorted(series["name"].unique())
    assert "episode_4" in app.warning[0].value
    assert len(app.get("download_button")) == 3 and len(app.get("image")) == 3 * 3  # a face per episode
    assert len(app.get("vega_lite_chart")) == 1


def test_batch_reels_cut_each_series_identity_across_the_episodes(episodes, tmp_path, capsys):
    out = tmp_path / "season"
    args = ["batch", str(episodes), "--out", str(out), "--workers", "2", "--reels", "--json"]
    assert main(args) == 3  # finished, episode_4 left out
    summary = json.loads(capsys.readouterr().out)
    assert [c["error"] is None for c in summary["clips"]] == [True, True, True, False]
    assert summary["identities"] == 3
    reels = out / "reels"
    assert sorted(p.name for p in reels.glob("*.mp4")) == [f"identity_{k:02d}.mp4" for k in range(3)]
    _, people = read_people(out, ReelParams())
    assert [r["segments"] for r in summary["reels"]] == [len(p.segments) for p in people]
    for person in people:
        # Each man is in all three 8 s episodes: one segment in each, in episode order.
        assert person.segments["clip"].tolist() == ["episode_1", "episode_2", "episode_3"]
        track = otio.adapters.read_from_file(str(reels / f"{person.name}.otio")).tracks[0]
        assert [Path(c.media_reference.target_url).name for c in track] == [
            f"episode_{k}.mp4" for k in (1, 2, 3)
        ]
        capture = cv2.VideoCapture(str(reels / f"{person.name}.mp4"))
        frames = capture.get(cv2.CAP_PROP_FRAME_COUNT) / capture.get(cv2.CAP_PROP_FPS)
        assert abs(frames - person.seconds) < 0.1


def _cli(*args) -> subprocess.Popen:
    return subprocess.Popen(
        [*CLI, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ
    )


def _kill_a_clip_mid_extraction(cache: Path, timeout: float = 180) -> int:
    """SIGKILL the process extracting a clip, found by its cache build folder; its pid."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in cache.iterdir() if cache.exists() else []:
            if match := BUILDING.match(entry.name):
                time.sleep(1)  # into the frames
                os.kill(int(match[1]), signal.SIGKILL)
                return int(match[1])
        time.sleep(0.1)
    raise AssertionError("no clip started extracting")


def _assert_complete(process: subprocess.Popen, out: Path) -> str:
    """The batch ended well: every good episode's people are in the series table."""
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 3, stderr  # finished, with the corrupt episode left out
    assert "series identities across 3 clips, 1 clip(s) left out" in stdout
    clips = json.loads((out / "batch.json").read_text())["clips"]
    assert [c["error"] is None for c in clips] == [True, True, True, False]
    assert set(pd.read_csv(out / "series.csv")["clip"]) == {"episode_1", "episode_2", "episode_3"}
    return stdout


@pytest.mark.parametrize("engine", [[], ["--ray", "auto"]], ids=["process pool", "ray"])
def test_a_killed_worker_s_clip_is_retried_and_the_batch_completes(
    episodes, data, tmp_path, monkeypatch, engine, ray_cluster
):
    monkeypatch.setenv("FACECLUST_CACHE", str(tmp_path / "cache"))
    if engine:
        ray_cluster()
    process = _cli("batch", episodes, "--out", tmp_path / "out", "--step", "5", *engine)
    _kill_a_clip_mid_extraction(tmp_path / "cache" / "extract")
    _assert_complete(process, tmp_path / "out")
    # (at --step 5, chosen so that a clip takes long enough to be killed, episode_3 also holds
    # a small fourth "person": three odd single-face tracks of one man)
    assert _series_scores(tmp_path / "out", data)["bcubed_f"] >= 0.95
    if engine:
        assert json.loads((tmp_path / "out" / "batch.json").read_text())["engine"] == "ray auto"


def test_an_interrupted_batch_starts_again_from_what_is_cached(episodes, tmp_path, monkeypatch):
    monkeypatch.setenv("FACECLUST_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    process = _cli("batch", episodes, "--out", out, "--step", "5", "--jobs", "1")
    deadline = time.monotonic() + 180
    while not (out / "clips" / "episode_1" / "run.json").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 130
    assert not (out / "batch.json").exists()
    stdout = _assert_complete(_cli("batch", episodes, "--out", out, "--step", "5", "--jobs", "1"), out)
    assert re.search(r"episode_1: \d people \(cache\)", stdout)
    assert re.search(r"episode_3: \d people \(extraction\)", stdout)


@pytest.fixture
def ray_cluster():
    """Starts a real local Ray cluster (``ray start --head``, 2 CPUs) on demand; stops it after."""
    ray = Path(sys.executable).parent / "ray"
    started = []

    def start() -> None:
        subprocess.run(
            [
                ray,
                "start",
                "--head",
                "--num-cpus",
                "2",
                "--include-dashboard",
                "false",
                "--disable-usage-stats",
            ],
            check=True,
            capture_output=True,
            env=os.environ,
            timeout=120,
        )
        started.append(True)

    yield start
    if started:
        subprocess.run([ray, "stop", "--force"], capture_output=True, timeout=120)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ray", "127.0.0.1:9"], "no Ray cluster answers at 127.0.0.1:9"),
        (["--jobs", "0"], "--workers must be at least 1"),  # --jobs: the old name of --workers
        (["--eps", "7"], "--eps must be in (0, 2]"),
    ],
)
def test_bad_batch_arguments_are_one_line(episodes, tmp_path, args, message):
    result = subprocess.run(
        [*CLI, "batch", str(episodes), "--out", str(tmp_path), *args],
        capture_output=True,
        text=True,
        env=os.environ,
        timeout=120,
    )
    assert result.returncode == 2
    (line,) = error_lines(result.stderr)
    assert line.startswith("faceclust: error: ") and message in line


def test_a_batch_of_only_broken_clips_is_one_line(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"not a video")
    result = subprocess.run(
        [
            *CLI,
            "batch",
            str(tmp_path / "a.mp4"),
            str(tmp_path / "missing.mp4"),
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        env=os.environ,
        timeout=120,
    )
    assert (result.returncode, result.stderr.strip()) == (
        2,
        f"faceclust: error: no such clip or folder: {tmp_path / 'missing.mp4'}",
    )
    result = subprocess.run(
        [*CLI, "batch", str(tmp_path / "a.mp4"), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=os.environ,
        timeout=120,
    )
    assert result.returncode == 2 and len(error_lines(result.stderr)) == 1
    assert "no clip gave any people" in result.stderr and not (tmp_path / "out" / "batch.json").exists()
