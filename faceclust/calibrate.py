"""Let the clip calibrate itself: the distance threshold and the metric, from its own evidence.

Two faces in one frame are two different people, and the faces of one track are one person, so
every clip carries a sample of both. Where these samples sit depends on the faces (dlib's
embedding puts different East-Asian faces closer together than different Western faces) and on
the footage (pose and light vary within a track without changing who it is):

- eps is set a fixed margin above the low end of the different-person distances (for average
  linkage; algorithms that chain faces pair by pair take a share of it, ``Algorithm.eps_share``);
- a clip-specific metric whitens the directions in which a track's own faces vary (unsupervised
  metric learning from tracks, after Cinbis, Verbeek & Schmid, ICCV 2011), scaled so that
  different people stay as far apart on average as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from .embed import Thresholds

#: Fewer pairs of tracks sharing a frame than this: no calibration.
MIN_PAIRS = 10
#: Fewer encoded faces in tracks with two or more encoded faces than this: no learned metric.
#: short_hamilton_clip.mp4 has 11 such faces, and a metric learned from them merged two people
#: at eps >= 0.5 (BCubed F 0.97 -> 0.87); multi_face.avi's 31 gave face-only 0.97 -> 1.00.
MIN_TRACK_FACES = 20
#: The percentiles of each evidence distribution that ``Evidence.summary`` reports.
QUANTILES = (5, 25, 50, 75, 95)


def different_person_pairs(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Row positions (first, second) of one face pair for every two tracks that share a frame."""
    tracks = table["track_id"].to_numpy()
    pairs: dict[tuple[int, int], tuple[int, int]] = {}
    for members in table.groupby("frame_index").indices.values():
        for i, j in combinations(members, 2):
            pairs.setdefault((min(tracks[i], tracks[j]), max(tracks[i], tracks[j])), (i, j))
    if not pairs:
        return np.zeros(0, int), np.zeros(0, int)
    first, second = np.array(list(pairs.values())).T
    return first, second


def different_person_distances(face: np.ndarray, table: pd.DataFrame) -> np.ndarray:
    """Face distances (float32) of ``different_person_pairs``; face: (N, D) row-aligned with
    ``table`` (the faces of a track share one description)."""
    first, second = different_person_pairs(table)
    return np.linalg.norm(face[first] - face[second], axis=1)


def same_person_distances(own: np.ndarray, table: pd.DataFrame) -> np.ndarray:
    """Distances (float32) between consecutive encoded faces of one track part: the clip's own
    sample of one person seen at two moments. own: (N, D) each face's own encoding, row-aligned
    with ``table``, whose rows are in time order."""
    encoded = np.flatnonzero(table["encoded"].to_numpy())
    tracks = table["track_id"].to_numpy()
    ordered = encoded[np.argsort(tracks[encoded], kind="stable")]  # by track, in time within one
    follows = tracks[ordered[1:]] == tracks[ordered[:-1]]
    return np.linalg.norm(own[ordered[1:][follows]] - own[ordered[:-1][follows]], axis=1)


@dataclass(frozen=True)
class Evidence:
    """A clip's own samples of distances, in the space faces are clustered in (the learned
    metric where there is one): ``same`` (P,) between two single faces of one person seen at
    two moments (``same_person_distances``), ``different`` (Q,) between the track vectors of
    two people seen in one frame (``different_person_distances``; a track's vector is the mean
    of its faces, so it sits nearer its person than a single face does)."""

    same: np.ndarray
    different: np.ndarray

    @property
    def enough(self) -> bool:
        """Whether the clip tells enough about its different people to calibrate on."""
        return len(self.different) >= MIN_PAIRS

    def summary(self) -> dict:
        """Pair counts and ``QUANTILES`` of both samples, rounded to 0.001 (for run.json)."""

        def described(distances: np.ndarray) -> dict:
            if not len(distances):
                return {"pairs": 0, "quantiles": None}
            values = np.percentile(distances, QUANTILES).round(3).tolist()
            quantiles = {f"p{q}": v for q, v in zip(QUANTILES, values, strict=True)}
            return {"pairs": len(distances), "quantiles": quantiles}

        return {"same_person": described(self.same), "different_person": described(self.different)}


def calibrated_eps(distances: np.ndarray, thresholds: Thresholds) -> float | None:
    """eps for a clip, rounded to 0.01, from its ``different_person_distances``: their 5th
    percentile plus the embedder's margin, within its bounds (``Thresholds``); None when the
    clip has too few pairs to tell."""
    if len(distances) < MIN_PAIRS:
        return None
    eps = float(np.percentile(distances, 5)) + thresholds.eps_margin
    low, high = thresholds.eps_bounds
    return round(min(max(eps, low), high), 2)


def learned_metric(own: np.ndarray, face: np.ndarray, table: pd.DataFrame) -> np.ndarray | None:
    """A (D, D) float32 projection P for this clip's face embeddings (use ``face @ P``), or
    None when the clip has too little evidence.

    own: (N, D) each face's own encoding, zero rows where it was not encoded (``encoded`` in
    ``table``); face: (N, D) the track-shared embeddings. P = S^-1/2 x scale, with S the
    covariance of encoded faces about their track's mean, shrunk towards a multiple of the
    identity (Ledoit-Wolf: a few dozen faces cannot estimate D x D covariances alone), and
    the scale keeping the mean distance between different people (``different_person_pairs``)
    unchanged.
    """
    from sklearn.covariance import LedoitWolf  # here: keeps extraction's worker processes light

    encoded = np.flatnonzero(table["encoded"].to_numpy())
    tracks = table["track_id"].to_numpy()[encoded]
    of_track = (encoded[tracks == track] for track in np.unique(tracks))
    deviations = [own[rows] - own[rows].mean(axis=0) for rows in of_track if len(rows) >= 2]
    first, second = different_person_pairs(table)
    if sum(map(len, deviations)) < MIN_TRACK_FACES or len(first) < MIN_PAIRS:
        return None
    covariance = LedoitWolf(assume_centered=True).fit(np.vstack(deviations)).covariance_
    values, vectors = np.linalg.eigh(covariance)
    whiten = (vectors / np.sqrt(values)) @ vectors.T
    differences = face[first] - face[second]
    scale = np.linalg.norm(differences, axis=1).mean() / np.linalg.norm(differences @ whiten, axis=1).mean()
    return (whiten * scale).astype(np.float32)
