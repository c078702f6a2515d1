"""Shots and tracks: on synthetic boxes for the rules, on the labelled clips for the result."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import faceclust as fc
from faceclust.evaluate import match_faces
from faceclust.track import Tracker, TrackParams, frame_signature, shared_means


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
    labels = pd.read_csv(data / "labels" / f"{name}.labels.csv")
    labels = labels[labels["identity"] != "ignore"].reset_index(drop=True)
    matched = match_faces(table, labels)
    who = pd.Series(labels["identity"].to_numpy()[matched >= 0], index=matched[matched >= 0])
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
    from dataclasses import replace

    from faceclust.calibrate import calibrated_eps, different_person_distances

    for extraction in extractions.values():
        assert 0.45 <= extraction.calibrated_eps <= 0.6
        assert extraction.resolve(fc.ClusterParams()).eps == extraction.calibrated_eps
        assert extraction.resolve(fc.ClusterParams(eps=0.3)).eps == 0.3  # a given eps wins
    # Faces that the embedding packs closer together (as dlib does East-Asian faces) get a lower eps.
    faces = extractions["multi_face.avi"].faces
    centre = faces.face_embedding.mean(axis=0)
    packed = centre + 0.8 * (faces.face_embedding - centre)
    closer = replace(faces, face_embedding=packed / np.linalg.norm(packed, axis=1, keepdims=True))
    assert np.median(different_person_distances(closer)) < np.median(different_person_distances(faces))
    assert calibrated_eps(closer) < calibrated_eps(faces)
