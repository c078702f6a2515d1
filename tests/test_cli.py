import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import faceclust as fc
from faceclust.cli import main

from corpus import PROGRESS_LINE, error_lines

CLI = [sys.executable, "-m", "faceclust.cli"]


def test_run_then_eval_on_a_real_clip(extractions, data, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", str(data / "clips" / "multi_face.avi"), "--out", str(out), "--step", "15"]) == 0
    assert "3 people" in capsys.readouterr().out
    labels = data / "labels" / "multi_face.avi.labels.csv"
    assert main(["eval", "--faces", str(out / "faces.csv"), "--labels", str(labels), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["bcubed_f"] >= 0.97 and metrics["coverage"] >= 0.97


def test_cheap_frames_run_and_are_scored_at_the_nearest_sampled_frame(data, tmp_path, capsys):
    out, clip = tmp_path / "out", data / "clips" / "song_kbs_interview.mp4"
    assert main(["run", str(clip), "--out", str(out), "--frames", "cheap", "--embedder", "dlib"]) == 0
    assert json.loads((out / "run.json").read_text())["clip"]["params"]["sampling"]["frames"] == "cheap"
    capsys.readouterr()
    labels = data / "labels" / "song_kbs_interview.mp4.labels.csv"
    scoring = ["eval", "--faces", str(out / "faces.csv"), "--labels", str(labels), "--json"]
    scores = []
    for within in ("0", "7"):
        assert main([*scoring, "--within", within]) == 0
        scores.append(json.loads(capsys.readouterr().out))
    # Off the labels' grid, labelled faces are found only in the nearest sampled frames.
    assert scores[0]["coverage"] < 0.9 <= scores[1]["coverage"]


def test_fps_sampling_shares_the_cache_with_the_same_step(extractions, data, tmp_path, capsys):
    # --fps 2 on a 30 fps clip is --step 15: the same cache entry.
    assert main(["run", str(data / "clips" / "multi_face.avi"), "--out", str(tmp_path), "--fps", "2"]) == 0
    assert "(cache)" in capsys.readouterr().out


def _bad(args, tmp_path):
    result = subprocess.run(
        [*CLI, *args], capture_output=True, text=True, cwd=tmp_path, env=os.environ, timeout=120
    )
    return result.returncode, error_lines(result.stderr)


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        (lambda p: None, [], "no such file"),
        (lambda p: p.write_bytes(b"x"), ["--eps", "0"], "--eps"),
        (lambda p: p.write_bytes(b"x"), ["--eps", "-0.3"], "--eps"),
        (lambda p: p.write_bytes(b"x"), ["--weight", "1.5"], "--weight"),
        (lambda p: p.write_bytes(b"x"), ["--step", "0"], "--step"),
        (lambda p: p.write_bytes(b"x"), ["--sr", "edsr_x9"], "invalid choice"),
        (lambda p: p.write_bytes(b"x"), ["--frames", "fast"], "invalid choice"),
        (lambda p: p.write_bytes(b"x"), ["--workers", "0"], "--workers"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_output(tmp_path, make, args, message):
    clip = tmp_path / "clip.mp4"
    make(clip)
    code, lines = _bad(["run", str(clip), "--out", str(tmp_path / "out"), *args], tmp_path)
    assert code == 2
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("faceclust: error:")
    assert not (tmp_path / "out" / "run.json").exists()


@pytest.mark.parametrize(
    ("embedder", "message"),
    [
        ("sface", "run 'faceclust models fetch sface'"),
        ("arcface", "unknown embedder 'arcface'"),
        ("onnx:{tmp}/missing.onnx", "does not exist"),
        ("onnx:{tmp}/garbage.onnx", "cannot be loaded by ONNX Runtime"),
        ("onnx:{models}/face_detection_yunet_2026may.onnx", "takes input of shape [1, 3, 0, 0]"),
    ],
)
def test_an_embedder_that_cannot_run_exits_2_with_one_line(data, tmp_path, embedder, message):
    (tmp_path / "garbage.onnx").write_bytes(b"\x08\x07not a model" * 50)
    embedder = embedder.format(tmp=tmp_path, models=data / "models")
    env = {**os.environ, "FACECLUST_MODELS": str(data / "models"), "https_proxy": "http://127.0.0.1:9"}
    clip = data / "clips" / "multi_face.avi"
    result = subprocess.run(
        [*CLI, "run", str(clip), "--out", str(tmp_path / "out"), "--embedder", embedder],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    lines = error_lines(result.stderr)
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith("faceclust: error:") and message in lines[0]
    assert not (tmp_path / "out" / "run.json").exists()


def test_missing_model_offline_exits_2(data, tmp_path):
    models = os.pathsep.join([str(tmp_path / "models"), str(data / "models")])  # YuNet, no SR models
    env = {**os.environ, "FACECLUST_MODELS": models, "https_proxy": "http://127.0.0.1:9"}
    result = subprocess.run(
        [
            *CLI,
            "run",
            str(data / "clips" / "multi_face.avi"),
            "--out",
            str(tmp_path / "out"),
            "--sr",
            "edsr_x2",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 2
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and "could not be downloaded" in lines[0]


def test_eval_with_a_bad_labels_file_exits_2(tmp_path):
    faces = tmp_path / "faces.csv"
    faces.write_text("frame_index,top,right,bottom,left,cluster\n0,0,10,10,0,0\n")
    labels = tmp_path / "labels.csv"
    labels.write_text("frame,who\n1,a\n")
    code, lines = _bad(["eval", "--faces", str(faces), "--labels", str(labels)], tmp_path)
    assert code == 2 and len(lines) == 1 and "identity" in lines[0]


def test_models_list_names_every_model(capsys):
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "fsrcnn_x2" in out and "edsr_x4" in out and "yunet" in out


def test_installed_command_exists():
    script = Path(sys.executable).parent / "faceclust"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "run" in result.stdout


def _start(args) -> subprocess.Popen:
    """Start the command line in its own process group; return once it is extracting."""
    process = subprocess.Popen(
        [*CLI, "-v", *args], stderr=subprocess.PIPE, text=True, env=os.environ, start_new_session=True
    )
    for line in process.stderr:
        if "extract:" in line:
            break
    time.sleep(1)  # into the frames (351 of them: half a minute here)
    return process


def _children(pid: int) -> set[int]:
    """Process ids of ``pid``'s children (Linux)."""
    tasks = Path(f"/proc/{pid}/task").iterdir()
    return {int(child) for task in tasks for child in (task / "children").read_text().split()}


def test_an_interrupted_or_killed_run_leaves_nothing_and_runs_again(data, tmp_path):
    cache = Path(os.environ["FACECLUST_CACHE"]) / "extract"
    before = set(cache.iterdir()) if cache.exists() else set()
    args = ["run", str(data / "clips" / "multi_face.avi"), "--step", "2", "--out", str(tmp_path / "out")]

    # Ctrl-C (SIGINT to the whole process group, as a terminal sends it): a clean stop.
    process = _start(args)
    os.killpg(process.pid, signal.SIGINT)
    assert process.wait(timeout=60) == 130
    assert process.stderr.read().strip().splitlines()[-1] == "faceclust: interrupted"
    assert set(cache.iterdir()) == before and not (tmp_path / "out" / "run.json").exists()

    # SIGKILL, which nothing can catch: the workers end by themselves; the build folder stays
    # behind but never reads as an entry, and the next run removes it.
    process = _start(args)
    workers = _children(process.pid)
    process.kill()
    process.wait(timeout=30)
    deadline = time.monotonic() + 15
    while any(Path(f"/proc/{w}").exists() for w in workers) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert workers and not any(Path(f"/proc/{w}").exists() for w in workers)
    (left,) = set(cache.iterdir()) - before
    assert left.name.startswith(".")

    result = subprocess.run([*CLI, *args], capture_output=True, text=True, env=os.environ, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "run.json").exists()
    assert [p.name.startswith(".") for p in set(cache.iterdir()) - before] == [False]


def test_version_and_help_state_defaults_environment_and_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"faceclust {fc.__version__}"
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    help_text = capsys.readouterr().out
    for shown in ["(default: 0.2)", "(default: agglomerative)", "lapsrn_x8", "FACECLUST_MODELS", "130"]:
        assert shown in help_text


def test_progress_through_a_pipe_is_plain_lines_and_json_is_machine_readable(data, tmp_path):
    env = {**os.environ, "FACECLUST_CACHE": str(tmp_path / "cache")}  # a cold run: every stage
    clip = data / "clips" / "short_hamilton_clip.mp4"
    args = ["run", str(clip), "--out", str(tmp_path / "out"), "--json", "--workers", "1"]
    result = subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    progress = [line for line in result.stderr.splitlines() if PROGRESS_LINE.match(line)]
    assert progress[0].startswith("hash: ") and progress[-1] == "extract: 19/19 frames"
    assert error_lines(result.stderr) == []
    summary = json.loads(result.stdout)
    assert summary["faces"] == 31 and summary["people"] == len(summary["clusters"]) > 0
    # -q anywhere: no progress at all, the result line only.
    quiet = subprocess.run([*CLI, *args[:-3], "-q"], capture_output=True, text=True, env=env, timeout=300)
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert quiet.stdout.startswith("31 faces (cache) described by")


def test_an_internal_error_is_one_line_and_v_adds_the_traceback(data, tmp_path, capsys, monkeypatch):
    import faceclust.cli as cli

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "run", broken)
    args = ["run", str(data / "clips" / "multi_face.avi"), "--out", str(tmp_path)]
    assert main(args) == 1
    assert capsys.readouterr().err == "faceclust: internal error: RuntimeError: boom\n"
    assert main([*args, "-v"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback") and err.endswith("faceclust: internal error: RuntimeError: boom\n")
