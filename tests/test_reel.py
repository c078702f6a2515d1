"""Highlight reels cut from the labelled clips: segments, mp4s, the vertical crop, timelines, errors."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np
import opentimelineio as otio
import pandas as pd
import pytest

import faceclust as fc
import faceclust.reel as reel
from faceclust.cli import main
from faceclust.edits import EDITS_FILE, Edits, dump_edits, load_edits
from faceclust.reel import ReelParams, read_people, segments, timeline, write_reel

from corpus import crop_left, person_in_vertical


def _faces(times: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"t_sec": times, "top": 0, "bottom": 40})


def test_segments_join_close_appearances_drop_glimpses_and_pad_within_the_clip():
    # Sampled every 0.5 s: 0-2 s, a missed sample, 2.5-4 s, then a glimpse at 10 s and 19.5-20 s.
    times = [0.0, 0.5, 1.0, 1.5, 2.5, 3.0, 3.5, 10.0, 19.5, 20.0]
    table = segments(_faces(times), 0.5, 20.3, ReelParams(gap=1.0, pad=0.5, min_length=1.0))
    # 0-2 and 2.5-4 join (0.5 s apart); the 0.5 s glimpse at 10 s is dropped; padding stays in
    # 0..20.3 s.
    assert table[["start", "end"]].values.tolist() == [[0.0, 4.5], [19.0, 20.3]]
    assert table["faces"].tolist() == [7, 2]
    assert table["face_px"].tolist() == [40.0, 40.0]
    apart = segments(_faces(times), 0.5, 20.3, ReelParams(gap=0.0, pad=0.0, min_length=0.0))
    assert apart[["start", "end"]].values.tolist() == [[0.0, 2.0], [2.5, 4.0], [10.0, 10.5], [19.5, 20.3]]
    # Padding that makes two segments overlap merges them.
    close = segments(_faces([0.0, 0.5, 3.0, 3.5]), 0.5, 10, ReelParams(gap=1.0, pad=1.2, min_length=0.0))
    assert close[["start", "end"]].values.tolist() == [[0.0, 5.2]]
    assert segments(_faces([]), 0.5, 10, ReelParams()).empty


def test_padding_stops_at_shot_cuts():
    """Shots sampled every 0.5 s over 0-4.5 s and 5-10 s: a person seen from 2 s to the end of the
    first is not padded into the second (0.6 s of the next shot's close-up was), one seen from
    the start of the second to 6.5 s not into the first; within a shot padding stays."""
    shots, params = np.array([[0.0, 4.5], [5.0, 10.0]]), ReelParams(gap=1.0, pad=0.5, min_length=1.0)
    first = segments(_faces([2.0, 2.5, 3.0, 3.5, 4.0, 4.5]), 0.5, 10.5, params, shots)
    second = segments(_faces([5.0, 5.5, 6.0, 6.5]), 0.5, 10.5, params, shots)
    assert first[["start", "end"]].values.tolist() == [[1.5, 5.0]]
    assert second[["start", "end"]].values.tolist() == [[5.0, 7.5]]
    unaware = segments(_faces([2.0, 2.5, 3.0, 3.5, 4.0, 4.5]), 0.5, 10.5, params)
    assert unaware[["start", "end"]].values.tolist() == [[1.5, 5.5]]


def test_the_vertical_crop_holds_each_shot_s_face_up_to_the_cut_and_jumps_there():
    """A segment joined across a cut, sampled every 0.5 s: the person at the left edge, then at
    the right. The crop holds the first shot's face until half-way between the two shots'
    samples and the second's after; a pan across the cut showed the frame's middle."""
    faces = pd.DataFrame(
        {
            "t_sec": [0, 0.5, 1, 1.5, 2, 2.5],
            "left": [40, 60, 80, 1120, 1100, 1080],
            "shot_id": [0, 0, 0, 1, 1, 1],
        }
    )
    faces["right"] = faces["left"] + 100
    path = reel.crop_expression(faces, 0.0, 3.0, frame_width=1280, width=404)
    for t in np.arange(0, 3, 0.05):
        own = faces[faces["shot_id"] == int(t >= 1.25)]
        left = np.interp(t, own["t_sec"], own["left"])  # where the face is, between samples
        x = crop_left(path, t)
        assert x <= left and left + 100 <= x + 404, t


@pytest.mark.parametrize(("fps", "first"), [(25.0, 0.0), (30000 / 1001, 0.117)])
def test_a_segment_ends_at_the_cut_not_a_sample_later(tmp_path, fps, first):
    """A clip cut from one shot to another at frame 20, the person's faces sampled every 0.4 s
    from ``first`` (on the frame grid or off it): the last face stands for clip time to 0.4 s
    after it, and padding may reach there, but the reel ends at the cut (0.5 s of the next
    shot's two women were cut into a host's reel), its timeline and table too."""
    clip = tmp_path / "cut.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), fps, (320, 240))
    for frame in range(75):
        writer.write(np.full((240, 320, 3), (40, 40, 220) if frame < 20 else (220, 120, 20), np.uint8))
    writer.release()
    times = [first, first + 0.4]
    source = fc.Source(
        clip, "cut", reel.frame_rate(fps), 320, 240, 75 / fps, 0.4, shots=((first, times[-1]),)
    )
    faces = pd.DataFrame({"t_sec": times, "left": 100, "right": 160, "top": 60, "bottom": 120, "shot_id": 0})
    person = fc.person("host", {"cut": faces}, {"cut": source}, ReelParams(pad=0.5, min_length=0.5))
    assert person.segments["end"].tolist() == [round(first + 0.8, 3)]  # a sample's share past the last face
    cut = round(19.5 / fps, 3)  # half a frame before the next shot's first
    assert reel.ending_at_cuts(person, {"cut": source}).segments["end"].tolist() == [cut]
    files = write_reel(person, {"cut": source}, tmp_path / "out")
    assert pd.read_csv(files[-1])["end"].tolist() == [cut]
    assert abs(_ffprobe(files[0])[0] - (cut - first)) <= 1.5 / fps
    capture = cv2.VideoCapture(str(files[0]))
    frames = [frame for ok, frame in iter(capture.read, (False, None))]
    assert frames and all(f[..., 2].mean() > f[..., 0].mean() for f in frames)  # none of the next shot


@pytest.mark.parametrize(("bad", "message"), [({"gap": -1}, "--gap"), ({"pad": 11}, "--pad")])
def test_absurd_reel_settings_are_refused(bad, message):
    with pytest.raises(fc.BadInput, match=message):
        ReelParams(**bad).validate()


def _ffprobe(path: Path) -> tuple[float, set[str]]:
    """Duration (s) and stream types of a media file, as ffprobe reads them."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_name", "-of", "json", path],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = json.loads(out)
    return float(found["format"]["duration"]), {s["codec_name"] for s in found["streams"]}


@pytest.fixture(scope="module")
def runs(data, tmp_path_factory) -> dict[str, Path]:
    """A finished ``run`` folder of each labelled clip."""
    folders = {}
    for name in ("multi_face.avi", "short_hamilton_clip.mp4"):
        folders[name] = tmp_path_factory.mktemp("run")
        fc.run(data / "clips" / name, folders[name], workers=2)
    return folders


@pytest.mark.parametrize(
    ("clip", "sound"), [("short_hamilton_clip.mp4", {"h264", "aac"}), ("multi_face.avi", {"h264"})]
)
def test_a_person_s_reels_match_their_segments_keep_sound_and_follow_the_face(
    runs, data, tmp_path, clip, sound
):
    sources, people = read_people(runs[clip], ReelParams())
    # The performer of short_hamilton_clip.mp4, on stage from 0 to 7 s, as the reel cuts him:
    # each segment that runs past his shot's last sample ends at the cut.
    person = reel.ending_at_cuts(people[0], sources)
    files = write_reel(person, sources, tmp_path, vertical=True)
    assert [f.name for f in files] == [
        f"{person.name}{suffix}" for suffix in (".mp4", "_vertical.mp4", ".otio", ".edl", ".xml", ".csv")
    ]
    source = sources[clip]
    frame = 1 / float(source.fps)
    screen = person.faces["frame_index"].nunique() * source.seconds_per_frame
    # The reel is the screen time plus at most the padding (no gap is joined for this person), less
    # at most the last sample's share past the clip's end.
    assert screen - source.seconds_per_frame <= person.seconds <= screen + 2 * 0.5 * len(person.segments)
    for video in files[:2]:
        seconds, codecs = _ffprobe(video)
        assert abs(seconds - person.seconds) <= len(person.segments) * frame + 0.05
        assert codecs == sound
    # The vertical reel is 9:16 and holds the person's face, wholly, where it was sampled.
    capture = cv2.VideoCapture(str(files[1]))
    width, height = capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)
    assert height == source.height and abs(width / height - 9 / 16) < 0.01
    looked, found, inside = person_in_vertical(person, sources, files[1], data / "models" / YUNET)
    assert looked >= 12
    assert found >= 0.9 * looked and inside == found
    # Every timeline file reads back with OpenTimelineIO to the same cuts as the mp4's.
    expected = _cuts(timeline(person, sources))
    assert len(expected) == len(person.segments)
    assert _cuts(otio.adapters.read_from_file(str(files[2]))) == expected
    assert _cuts(otio.adapters.read_from_file(str(files[3]), rate=float(source.fps))) == expected
    assert _cuts(otio.adapters.read_from_file(str(files[4]))) == expected
    table = pd.read_csv(files[5])
    assert table.columns.tolist() == reel.SEGMENT_COLUMNS and set(table["clip"]) == {clip}
    assert np.allclose(table[["start", "end"]], person.segments[["start", "end"]])


YUNET = "face_detection_yunet_2026may.onnx"


def _cuts(tl) -> list[tuple[int, int]]:
    """(first frame, frames) of each clip of a timeline's first track."""
    return [
        (round(c.source_range.start_time.value), round(c.source_range.duration.value)) for c in tl.tracks[0]
    ]


def test_reel_command_writes_each_person_and_says_so(runs, tmp_path, capsys):
    out = tmp_path / "reels"
    assert (
        main(["reel", str(runs["short_hamilton_clip.mp4"]), "--out", str(out), "--person", "person_01"]) == 0
    )
    said = capsys.readouterr().out
    # 7.5 s to the clip's end: not padded back across the cut at 7.5 s (2.2 s before).
    assert said.startswith("person_01: 1 segments, 1.7 s reel (2.0 s on screen) -> ")
    assert sorted(p.name for p in out.iterdir()) == [
        f"person_01.{kind}" for kind in ("csv", "edl", "mp4", "otio", "xml")
    ]


def test_a_person_without_segments_gets_a_message_and_no_files(runs, tmp_path, capsys):
    out = tmp_path / "reels"
    args = ["reel", str(runs["short_hamilton_clip.mp4"]), "--out", str(out), "--min-length", "30"]
    assert main(args) == 2
    said = capsys.readouterr()
    assert "person_00: no appearance of at least 30 s; no reel" in said.out
    assert said.err.strip() == "faceclust: error: no reel written: no one appears for at least 30 s"
    assert not out.exists() or not any(out.iterdir())


def _moved_run(run: Path, tmp_path: Path, clip: Path) -> Path:
    """A copy of ``run`` whose run.json says its clip is at ``clip``."""
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    info = json.loads((copy / "run.json").read_text())
    info["clip"]["path"] = str(clip)
    (copy / "run.json").write_text(json.dumps(info))
    return copy


def test_a_clip_that_moved_or_changed_is_one_line(runs, data, tmp_path, capsys):
    moved = _moved_run(runs["short_hamilton_clip.mp4"], tmp_path, tmp_path / "gone.mp4")
    out = tmp_path / "reels"
    assert main(["reel", str(moved), "--out", str(out)]) == 2
    assert "is not there any more; give its new place with --clip" in capsys.readouterr().err
    # Given its new place it works; a different clip there is refused.
    copy = tmp_path / "here.mp4"
    shutil.copy(data / "clips" / "short_hamilton_clip.mp4", copy)
    assert main(["reel", str(moved), "--out", str(out), "--clip", str(copy), "--person", "person_05"]) == 0
    capsys.readouterr()
    with copy.open("r+b") as f:
        f.seek(5000)
        f.write(b"\0" * 16)
    assert main(["reel", str(moved), "--out", str(tmp_path / "other"), "--clip", str(copy)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"faceclust: error: {copy} is not the clip {moved} was made from (its content differs)"
    )
    assert not (tmp_path / "other").exists()


def test_an_interrupted_render_leaves_no_reel(runs, tmp_path, monkeypatch):
    sources, people = read_people(runs["short_hamilton_clip.mp4"], ReelParams())
    cut = reel._cut

    cuts = []

    def interrupted(*args):
        cuts.append(args)
        if len(cuts) == 3:  # the landscape reel is made, the vertical one half-way
            raise KeyboardInterrupt
        cut(*args)

    monkeypatch.setattr(reel, "_cut", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_reel(people[0], sources, tmp_path, vertical=True)  # two segments, twice
    assert list(tmp_path.iterdir()) == []


def test_edits_saved_from_the_dashboard_name_and_hide_people(runs, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(runs["multi_face.avi"], run)
    info = json.loads((run / "run.json").read_text())
    made_for = {
        "clip_hash": info["clip"]["hash"],
        "extract_params": info["clip"]["params"],
        "cluster_params": info["cluster_params"],
    }
    (run / EDITS_FILE).write_text(dump_edits(Edits(names={0: "Tadas"}, hidden={1, 2}), made_for))
    assert [p.name for p in read_people(run, ReelParams())[1]] == ["Tadas"]
    # Edits made at another eps name other people: refused.
    other = {**made_for, "cluster_params": {**made_for["cluster_params"], "eps": 0.3}}
    (run / EDITS_FILE).write_text(dump_edits(Edits(names={0: "Tadas"}), other))
    assert main(["reel", str(run), "--out", str(tmp_path / "reels")]) == 2
    assert "was made for another clip or other settings" in capsys.readouterr().err


def test_an_edits_file_reads_back_as_written(tmp_path):
    edits = Edits(names={0: "강호동"}, merged={3: 1}, hidden={2}, moved={17: -1})
    made_for = {"clip_hash": "x", "extract_params": {}, "cluster_params": asdict(fc.ClusterParams(eps=0.53))}
    (tmp_path / EDITS_FILE).write_text(dump_edits(edits, made_for))
    # eps through a slider: 0.53 and 0.5300000000000001 are the same setting.
    again = {**made_for, "cluster_params": asdict(fc.ClusterParams(eps=0.1 + 0.43))}
    assert load_edits(tmp_path / EDITS_FILE, again) == edits
    (tmp_path / EDITS_FILE).write_text("{")
    with pytest.raises(fc.BadInput, match="is not a faceclust edits file"):
        load_edits(tmp_path / EDITS_FILE, made_for)


def test_the_dashboard_plays_a_browser_copy_of_clips_browsers_cannot_play(runs, data):
    sources, _ = read_people(runs["multi_face.avi"], ReelParams())
    source = sources["multi_face.avi"]  # MPEG-4 Part 2 in AVI: no browser plays it
    playable, offset = reel.preview(source)
    assert playable.suffix == ".mp4" and offset == 0.0
    seconds, codecs = _ffprobe(playable)
    assert codecs == {"h264"} and abs(seconds - source.duration) < 0.1
    made = playable.stat().st_mtime_ns
    assert reel.preview(source) == (playable, 0.0) and playable.stat().st_mtime_ns == made  # kept
    # H.264 in MP4 plays as it is, from where its video starts.
    sources, _ = read_people(runs["short_hamilton_clip.mp4"], ReelParams())
    source = sources["short_hamilton_clip.mp4"]
    assert reel.preview(source) == (source.path, pytest.approx(0.844, abs=0.01))


def test_an_uploaded_clip_s_exports_name_the_user_s_file_not_the_server_s(data, tmp_path):
    """The dashboard stores an upload under a name it makes; timelines, the segments table and the
    extraction's meta name the clip as the user does, also when the cache entry came from
    another copy of it."""
    stored = tmp_path / "faceclust-uploads" / "5fc3416e0a.avi"
    stored.parent.mkdir()
    shutil.copyfile(data / "clips" / "multi_face.avi", stored)
    fc.extract(data / "clips" / "multi_face.avi", workers=2)  # the entry made from another copy
    extraction = fc.extract(stored, workers=2, name="회의 1화.avi")
    assert extraction.cache_hit
    assert (extraction.meta["path"], extraction.meta["name"]) == (str(stored), "회의 1화.avi")
    source = fc.Source.of(extraction.meta)
    faces = extraction.faces.table.assign(cluster=fc.cluster(extraction))
    who = fc.person(
        "person_00", {source.name: faces[faces["cluster"] == 0]}, {source.name: source}, ReelParams()
    )
    files = write_reel(who, {source.name: source}, tmp_path / "reel")
    for exported in files[1:]:
        text = exported.read_text()
        assert stored.stem not in text and str(stored.parent) not in text, exported.name
    cuts = otio.adapters.read_from_file(str(files[1]))
    assert {c.media_reference.target_url for c in cuts.tracks[0]} == {"%ED%9A%8C%EC%9D%98%201%ED%99%94.avi"}
    assert set(pd.read_csv(files[-1])["clip"]) == {"회의 1화.avi"}
    # A clip the user gave by its path keeps its own file URL.
    assert fc.Source.of(fc.extract(stored, workers=2).meta).url == stored.resolve().as_uri()


def test_a_run_folder_from_before_clips_stated_their_length_still_makes_reels(runs, tmp_path):
    """run.json gained the clip's stated length (``duration_s``); an older folder's reel is cut to
    its frame count / rate, as it was."""
    folder = tmp_path / "old-run"
    shutil.copytree(runs["multi_face.avi"], folder)
    info = json.loads((folder / "run.json").read_text())
    stated = info["clip"].pop("duration_s")
    (folder / "run.json").write_text(json.dumps(info))
    sources, people = read_people(folder, ReelParams())
    assert people and sources["multi_face.avi"].duration == pytest.approx(stated)  # 702 frames at 30
