"""Shots and tracks: on synthetic boxes for the rules, on the labelled clips for the result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import faceclust as fc
from faceclust.calibrate import calibrated_eps, different_person_distances, learned_metric
from faceclust.evaluate import identities
from faceclust.table import frontality
from faceclust.track import Tracker, TrackParams, frame_signature, shared_means, split_disagreeing
from faceclust.video import iter_frames

from corpus import ffmpeg


def _signature(colour: tuple[int, int, int]) -> np.ndarray:
    return frame_signature(np.full((120, 160, 3), colour, np.uint8))


def _frames(tracker: Tracker, frames: list[tuple[tuple[int, int, int], list]]):
    """Feed frames (colour, boxes); returns each frame's (shot, tracks) and all faces to encode."""
    seen, encode, face_id = [], [], 0
    for colour, boxes in frames:
        ids = list(range(face_id, face_id + len(boxes)))
        face_id += len(boxes)
        shot, tracks, ready = tracker.add(
            _signature(colour), np.array(boxes).reshape(-1, 4), ids, [1.0] * len(ids), ids
        )
        seen.append((shot, tracks))
        encode += [i for i, _ in ready]
    return seen, encode + [i for i, _ in tracker.finish()]


def test_overlapping_boxes_continue_tracks_one_to_one_and_a_cut_ends_them():
    grey, red = (128, 128, 128), (0, 0, 200)
    left, right = [100, 200, 200, 100], [100, 420, 200, 320]
    moved = [[110, 215, 210, 115], [100, 440, 200, 340]]
    seen, _ = _frames(
        Tracker(TrackParams()),
        [(grey, [left, right]), (grey, moved), (grey, [moved[1]]), (red, [moved[1]]), (red, [])],
    )
    assert seen[0] == (0, [0, 1]) and seen[1] == (0, [0, 1])
    assert seen[2] == (0, [1])  # the left face is gone: its track has ended
    assert seen[3] == (1, [2])  # same place, new shot: a new track
    assert seen[4] == (1, [])


def test_the_best_faces_of_each_batch_are_encoded():
    params = TrackParams(batch=8, encode_per_batch=2)
    box = [[100, 200, 200, 100]]
    tracker = Tracker(params)
    ready = []
    for i, quality in enumerate([1, 5, 2, 9, 3, 3, 3, 3, 7, 1]):  # one track of 10 faces
        ready += tracker.add(_signature((90, 90, 90)), np.array(box), [i], [quality], [f"face {i}"])[2]
    ready += tracker.finish()
    # First batch of 8: the two best (ids 3 and 1); the last two faces: one (id 8).
    assert sorted(i for i, _ in ready) == [1, 3, 8] and dict(ready)[8] == "face 8"


def test_shared_means_give_each_group_the_mean_of_its_usable_rows():
    vectors = np.array([[1, 0], [0, 1], [9, 9], [3, 4]], np.float32)
    shared = shared_means(vectors, np.array([0, 0, 0, 1]), np.array([True, True, False, True]))
    assert np.allclose(shared[:3], [np.sqrt(0.5), np.sqrt(0.5)]) and np.allclose(shared[3], [0.6, 0.8])
    weighted = shared_means(vectors, np.array([0, 0, 0, 1]), np.array([3.0, 1.0, 0.0, 0.0]))
    assert np.allclose(weighted[:3], [0.9487, 0.3162], atol=1e-4)  # (3, 1) normalised
    assert np.array_equal(weighted[3], vectors[3])  # no usable row: kept as it is


def test_frontality_is_one_facing_the_camera_and_zero_in_profile():
    frontal = "30 40 70 40 50 60 35 80 65 80"  # nose tip midway between the eyes
    turned = "30 40 70 40 60 60 35 80 65 80"  # a quarter of an eye distance to one side
    profile = "30 40 70 40 72 60 35 80 65 80"  # beyond the eye
    scores = frontality(pd.Series([frontal, turned, profile, None]))
    assert np.allclose(scores, [1.0, 0.5, 0.0, 1.0])


def test_tracks_split_where_the_faces_before_and_after_disagree():
    tracks = np.array([0, 1, 0, 0, 1, 0, 0])
    own = np.tile([1.0, 0.0], (7, 1))
    own[5:] = [0.0, 1.0]  # track 0 turns into someone else at its 4th face
    encoded = np.array([1, 1, 0, 1, 1, 1, 0], bool)
    assert split_disagreeing(tracks, own, encoded, 0.4).tolist() == [0, 1, 0, 0, 1, 2, 2]
    assert split_disagreeing(tracks, own, encoded, 2.0).tolist() == [0, 1, 0, 0, 1, 0, 0]


def test_a_two_person_track_is_cut_once_and_one_odd_face_does_not_cut_it():
    rng = np.random.default_rng(0)
    a, b = np.eye(64, dtype=np.float32)[:2]
    own = np.vstack([a + 0.05 * rng.normal(size=(6, 64)), b + 0.05 * rng.normal(size=(5, 64))])
    own[2] = rng.normal(size=64)  # a profile or a blur: far from both people
    own /= np.linalg.norm(own, axis=1, keepdims=True)
    parts = split_disagreeing(np.zeros(11, int), own, np.ones(11, bool), 1.0)
    assert parts.tolist() == [0] * 6 + [1] * 5


def test_shots_follow_the_cuts_of_a_real_clip(extractions):
    table = extractions["short_hamilton_clip.mp4"].faces.table
    shot_at = table.groupby("frame_index")["shot_id"].first()
    # Wide stage, pianist close-up (f30), performer close-ups (f90-f210), the audience (f225-).
    assert (
        shot_at[0] == shot_at[15] < shot_at[30] < shot_at[90] == shot_at[210] < shot_at[225] == shot_at[270]
    )
    assert extractions["multi_face.avi"].faces.table["shot_id"].nunique() == 1  # one long shot


@pytest.mark.parametrize(
    ("name", "most_encoded"), [("multi_face.avi", 0.45), ("short_hamilton_clip.mp4", 0.55)]
)
def test_tracks_hold_one_person_and_spare_the_encoder(extractions, data, name, most_encoded):
    faces = extractions[name].faces
    table = faces.table
    who = pd.Series(identities(table, pd.read_csv(data / "labels" / f"{name}.labels.csv"))).dropna()
    people_per_track = who.groupby(table["track_id"].to_numpy()[who.index]).nunique()
    assert (people_per_track == 1).all()
    assert table["encoded"].mean() <= most_encoded
    assert table.groupby("track_id")["encoded"].any().all()  # every track is described
    # The faces of a track share their description, and so their cluster.
    for _, members in table.groupby("track_id").indices.items():
        assert np.ptp(faces.face_embedding[members], axis=0).max() == 0
    labels_ = fc.cluster(extractions[name])
    assert (pd.Series(labels_).groupby(table["track_id"].to_numpy()).nunique() == 1).all()


def test_eps_is_calibrated_on_each_clip_and_follows_its_faces(extractions):
    for extraction in extractions.values():
        assert 0.45 <= extraction.calibrated_eps <= 0.6
        assert extraction.resolve(fc.ClusterParams()).eps == extraction.calibrated_eps
        assert extraction.resolve(fc.ClusterParams(eps=0.3)).eps == 0.3  # a given eps wins
    # Faces that the embedding packs closer together (as dlib does East-Asian faces) get a lower eps.
    extraction = extractions["multi_face.avi"]
    face, table = extraction.face_vectors, extraction.faces.table
    packed = face.mean(axis=0) + 0.8 * (face - face.mean(axis=0))
    closer, apart = different_person_distances(packed, table), different_person_distances(face, table)
    assert np.median(closer) < np.median(apart)
    thresholds = extraction.thresholds
    assert calibrated_eps(closer, thresholds) < calibrated_eps(apart, thresholds)


def test_the_learned_metric_brings_a_person_closer_relative_to_other_people(extractions, data):
    name = "multi_face.avi"  # (short_hamilton_clip.mp4 has too few tracks per person to tell)
    extraction = extractions[name]
    faces = extraction.faces
    metric = learned_metric(faces.own_embedding, faces.face_embedding, faces.table)
    assert metric.shape == (128, 128) and metric.dtype == np.float32
    who = identities(faces.table, pd.read_csv(data / "labels" / f"{name}.labels.csv"))
    tracks = faces.table["track_id"].to_numpy()
    first = np.unique(tracks, return_index=True)[1]
    first = first[who[first] != None]  # noqa: E711 (an object array)

    def same_over_different(vectors: np.ndarray) -> float:
        distances = np.linalg.norm(vectors[first][:, None] - vectors[first][None], axis=2)
        same = who[first][:, None] == who[first][None]
        np.fill_diagonal(same, False)
        apart = who[first][:, None] != who[first][None]
        return distances[same].mean() / distances[apart].mean()

    assert same_over_different(extraction.face_vectors) < same_over_different(faces.face_embedding)
    # Without tracks (every face alone) there is no within-track evidence: no learned metric.
    alone = faces.table.assign(track_id=np.arange(len(faces.table)))
    assert learned_metric(faces.own_embedding, faces.face_embedding, alone) is None


def _swap_clip(folder: Path, data: Path) -> Path:
    """Two people's photos, 4 s each, at one place on a grey stage: no cut, boxes overlap."""
    people = sorted((data / "faces" / "lfw_deepfunneled_subset").iterdir())[:2]
    photos = [next(iter(sorted(person.iterdir()))) for person in people]
    parts = []
    for i, photo in enumerate(photos):
        parts.append(folder / f"part{i}.mp4")
        ffmpeg(
            "-f", "lavfi", "-i", "color=c=gray:s=1280x720:r=30:d=4", "-loop", "1", "-t", "4", "-i", photo,
            "-filter_complex", "[0:v][1:v]overlay=515:235,format=yuv420p", "-t", "4", parts[-1],
        )  # fmt: skip
    listing = folder / "parts.txt"
    listing.write_text("".join(f"file '{part}'\n" for part in parts))
    ffmpeg("-f", "concat", "-safe", "0", "-i", listing, "-c", "copy", folder / "swap.mp4")
    return folder / "swap.mp4"


def test_a_track_is_split_where_its_faces_stop_looking_alike(tmp_path, data):
    clip = _swap_clip(tmp_path, data)
    linked_on_boxes = fc.extract(clip, fc.ExtractParams(tracks=TrackParams(split_distance=2.0)), workers=1)
    assert linked_on_boxes.faces.table["track_id"].nunique() == 1  # one place, no cut: one track
    table = fc.extract(clip, workers=1).faces.table
    before = table["t_sec"] < 4
    assert before.any() and (~before).any()
    assert table["track_id"].nunique() == 2
    # Faces between the last encoded face of one photo and the first of the other go to the
    # nearer one: at most the face at the change lands on the wrong side.
    wrong_side = table.groupby("track_id")["t_sec"].agg(lambda t: min((t < 4).sum(), (t >= 4).sum()))
    assert wrong_side.sum() <= 1


@pytest.mark.parametrize("transition", ["dissolve", "fadeblack"])
def test_dissolves_and_fades_start_a_new_shot(tmp_path, data, transition):
    clips = data / "clips"
    clip = tmp_path / f"{transition}.mp4"
    ffmpeg(
        "-i", clips / "multi_face.avi", "-i", clips / "short_hamilton_clip.mp4", "-filter_complex",
        "[0:v]scale=640:360,setsar=1,fps=30,format=yuv420p,trim=0:6,setpts=PTS-STARTPTS[a];"
        "[1:v]scale=640:360,setsar=1,fps=30,format=yuv420p,trim=0:3,setpts=PTS-STARTPTS[b];"
        f"[a][b]xfade=transition={transition}:duration=1:offset=5[v]", "-map", "[v]", clip,
    )  # fmt: skip
    tracker, shots = Tracker(TrackParams()), {}
    for frame in iter_frames(clip, 15):
        shots[frame.t_sec] = tracker.add(frame_signature(frame.image), np.zeros((0, 4)), [], [], [])[0]
    assert {shots[t] for t in shots if t < 5} == {0}  # multi_face.avi is one shot
    assert min(shots[t] for t in shots if t >= 6) > 0
