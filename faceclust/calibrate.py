"""Calibrate the distance threshold on the clip itself.

Two faces in one frame are two different people, so every clip carries its own sample of
distances between different people: the face distances between tracks that share a frame. Where
that sample sits depends on the faces (dlib's embedding puts different East-Asian faces closer
together than different Western faces), so eps is set a fixed margin above its low end rather
than at one global value.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from .extract import FaceTable

#: eps = the 5th percentile of different-person distances + EPS_MARGIN, within EPS_BOUNDS. Fit on
#: the two labelled clips (5th percentiles 0.45 and 0.39; eps 0.55 and 0.49 score best there).
EPS_MARGIN = 0.1
EPS_BOUNDS = (0.35, 0.65)
#: Fewer pairs of tracks sharing a frame than this: no calibration.
MIN_PAIRS = 10


def different_person_distances(faces: FaceTable) -> np.ndarray:
    """Face distances between every two tracks that share a frame, one per pair of tracks (the
    faces of a track share one description)."""
    tracks = faces.table["track_id"].to_numpy()
    pairs: dict[tuple[int, int], tuple[int, int]] = {}
    for members in faces.table.groupby("frame_index").indices.values():
        for i, j in combinations(members, 2):
            pairs.setdefault((min(tracks[i], tracks[j]), max(tracks[i], tracks[j])), (i, j))
    if not pairs:
        return np.zeros(0, np.float32)
    first, second = np.array(list(pairs.values())).T
    return np.linalg.norm(faces.face_embedding[first] - faces.face_embedding[second], axis=1)


def calibrated_eps(faces: FaceTable) -> float | None:
    """eps for this clip, rounded to 0.01; None when the clip has too few pairs to tell."""
    distances = different_person_distances(faces)
    if len(distances) < MIN_PAIRS:
        return None
    eps = float(np.percentile(distances, 5)) + EPS_MARGIN
    return round(min(max(eps, EPS_BOUNDS[0]), EPS_BOUNDS[1]), 2)
