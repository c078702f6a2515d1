"""Shots and face tracks: the time structure of a clip, found online while frames stream by.

A shot ends where the colour make-up of consecutive sampled frames changes abruptly (a cut).
Within a shot, a face continues a track of the previous sampled frame when their boxes overlap
(intersection over union, matched one-to-one); a track is one appearance of one person. Only a
few of each track's best faces are encoded; where two of them disagree (boxes overlapped, faces
did not: people crossing, a missed cut) the track is split there. The faces of a track share
the mean embedding of its encoded faces. Where every face is encoded, the split and the mean
weigh each face by how frontal it is: an aligned profile describes a person poorly.

Boxes are (top, right, bottom, left) in frame pixels.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from .errors import BadInput
from .table import iou

SIGNATURE_DIM = 8 * 4 * 4


@dataclass(frozen=True)
class TrackParams:
    """How shots and tracks are found, and how many faces of a track are encoded.

    shot_cut: Hellinger distance (0..1) between the colour histograms of consecutive sampled
        frames above which a new shot starts. Motion within a shot stays under ~0.25 at two
        frames a second on the labelled clips; their cuts are 0.38-0.47.
    min_iou: box overlap a face needs with a face of the previous sampled frame to continue its
        track. Low, because people move in half a second; one-to-one matching keeps it safe.
    batch: faces of a track held before its best ones are encoded (bounds memory on long tracks).
    encode_per_batch: faces encoded from a full batch (one from a batch of 3 faces or fewer).
    split_distance: distance between the mean embeddings of a track's faces before and after a
        point above which the track is cut there (``split_disagreeing``); None: the embedder's
        (``embed.THRESHOLDS``). With dlib, encoded faces of one track lie within 0.34 of each
        other on the labelled clips; faces of different people 0.38 and more.
    link: False makes every face a track of its own: every face is encoded and described alone
        (the behaviour before tracks, kept for comparison).
    """

    link: bool = True
    shot_cut: float = 0.3
    min_iou: float = 0.15
    batch: int = 8
    encode_per_batch: int = 2
    split_distance: float | None = None

    def validate(self) -> None:
        if not 0.0 < self.shot_cut <= 1.0:
            raise BadInput(f"shot_cut must be in (0, 1], got {self.shot_cut}")
        if not 0.0 < self.min_iou <= 1.0:
            raise BadInput(f"min_iou must be in (0, 1], got {self.min_iou}")
        if not 1 <= self.encode_per_batch <= self.batch:
            raise BadInput(f"encode_per_batch must be 1..batch, got {self.encode_per_batch}")
        if self.split_distance is not None and not 0.0 < self.split_distance <= 2.0:
            raise BadInput(f"split_distance must be in (0, 2], got {self.split_distance}")


def frame_signature(image: np.ndarray) -> np.ndarray:
    """Square root of the normalised 8x4x4 HSV histogram of a BGR frame, float32 (128,): the
    Euclidean distance between two signatures, over sqrt(2), is their Hellinger distance."""
    small = cv2.resize(image, (160, 120), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, [8, 4, 4], [0, 180, 0, 256, 0, 256]).ravel()
    return np.sqrt(hist / max(hist.sum(), 1e-9)).astype(np.float32)


def signature_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Hellinger distance (0..1) between two frame signatures."""
    return float(np.linalg.norm(a - b) / np.sqrt(2.0))


@dataclass
class _Track:
    box: np.ndarray
    waiting: list[tuple[float, int, object]] = field(default_factory=list)  # (quality, face id, payload)


class Tracker:
    """Assigns shots and tracks to the faces of sampled frames given in order, and says which
    faces to encode: the best ``encode_per_batch`` of every ``batch`` faces of a track, by
    quality (detection score x sharpness).
    """

    def __init__(self, params: TrackParams):
        self.params = params
        self.shot = -1
        self.tracks = 0
        self._signature: np.ndarray | None = None
        self._active: dict[int, _Track] = {}

    def add(
        self,
        signature: np.ndarray,
        boxes: np.ndarray,
        face_ids: list[int],
        qualities: list[float],
        payloads: list,
    ) -> tuple[int, list[int], list[tuple[int, object]]]:
        """One sampled frame: its signature, its faces' boxes (F, 4), ids, qualities and
        payloads (what an encoder needs). Returns the frame's shot, each face's track, and the
        (face id, payload) pairs to encode now."""
        ready: list[tuple[int, object]] = []
        if self._signature is None or signature_distance(signature, self._signature) > self.params.shot_cut:
            self.shot += 1
            ready += self._end(list(self._active))
        self._signature = signature
        previous = list(self._active)
        matched: dict[int, int] = {}  # face index -> track
        if previous and len(boxes) and self.params.link:
            overlap = iou(np.stack([self._active[t].box for t in previous]), boxes)
            for row, col in zip(*linear_sum_assignment(-overlap), strict=True):
                if overlap[row, col] >= self.params.min_iou:
                    matched[col] = previous[row]
        ready += self._end([t for t in previous if t not in matched.values()])
        tracks = []
        for i, (box, face_id, quality, payload) in enumerate(
            zip(boxes, face_ids, qualities, payloads, strict=True)
        ):
            track = matched.get(i)
            if track is None:
                track, self.tracks = self.tracks, self.tracks + 1
                self._active[track] = _Track(box)
            state = self._active[track]
            state.box = box
            state.waiting.append((quality, face_id, payload))
            if len(state.waiting) >= self.params.batch:
                ready += self._choose(state)
            tracks.append(track)
        return self.shot, tracks, ready

    def finish(self) -> list[tuple[int, object]]:
        """The faces still to encode once the clip has ended."""
        return self._end(list(self._active))

    def _end(self, tracks: list[int]) -> list[tuple[int, object]]:
        ready = []
        for track in tracks:
            ready += self._choose(self._active.pop(track))
        return ready

    def _choose(self, state: _Track) -> list[tuple[int, object]]:
        waiting, state.waiting = state.waiting, []
        if not waiting:
            return []
        count = 1 if len(waiting) <= 3 else self.params.encode_per_batch
        best = sorted(waiting, key=lambda w: -w[0])[:count]
        return [(face_id, payload) for _, face_id, payload in best]


def _change_points(vectors: np.ndarray, limit: float) -> list[int]:
    """Where a sequence of embeddings (n, D), each scaled by its weight, changes person: the
    indices that start a new part.

    Binary segmentation: the cut that puts the L2-normalised means of the two sides farthest
    apart is made when that distance exceeds ``limit``, then each side is searched again. Means
    of several faces, not single faces, are compared, so one odd face (a profile, a blur) within
    a person's run of faces does not split it; a side may still be a single face at either end.
    """
    n = len(vectors)
    if n < 2:
        return []
    before = np.cumsum(vectors, axis=0)[:-1]  # sums of faces 0..k-1 for cuts k = 1..n-1
    after = before[-1] + vectors[-1] - before
    before = before / np.maximum(np.linalg.norm(before, axis=1, keepdims=True), 1e-9)
    after = after / np.maximum(np.linalg.norm(after, axis=1, keepdims=True), 1e-9)
    apart = np.linalg.norm(before - after, axis=1)
    cut = int(np.argmax(apart)) + 1
    if apart[cut - 1] <= limit:
        return []
    return [
        *_change_points(vectors[:cut], limit),
        cut,
        *(cut + k for k in _change_points(vectors[cut:], limit)),
    ]


def split_disagreeing(tracks: np.ndarray, own: np.ndarray, weights: np.ndarray, limit: float) -> np.ndarray:
    """Tracks (N,) renumbered from 0 in order of first face, split where embeddings disagree.

    tracks: (N,) ints, faces in time order; own: (N, D) each face's own encoding; weights: (N,)
    bool or non-negative floats, each face's weight in the means compared (0: not encoded). A
    track's encoded faces, in order, are cut into parts of one person each (``_change_points``
    with ``limit``); every other face joins the part of the encoded face nearest to it in the
    track (the earlier one on a tie).
    """
    parts = np.zeros(len(tracks), int)
    if not len(tracks):
        return parts
    weights = np.asarray(weights, np.float32)
    for members in _groups(tracks):
        chosen = np.flatnonzero(weights[members] > 0)
        if not len(chosen):
            continue
        of_chosen = np.zeros(len(chosen), int)
        faces = members[chosen]
        for cut in _change_points(own[faces] * weights[faces, None], limit):
            of_chosen[cut:] += 1
        nearest = np.abs(np.arange(len(members))[:, None] - chosen[None, :]).argmin(axis=1)
        parts[members] = of_chosen[nearest]
    pairs = np.stack([tracks, parts], axis=1).astype(int)
    _, first, split = np.unique(pairs, axis=0, return_index=True, return_inverse=True)
    return np.argsort(np.argsort(first))[split.ravel()]


def shared_means(vectors: np.ndarray, groups: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Each row replaced by the L2-normalised weighted mean of its group's rows.

    vectors: (N, D); groups: (N,) ints (tracks); weights: (N,) bool or non-negative floats, 0
    for a row not to use. Groups without a usable row keep their rows as they are.
    """
    out = vectors.copy()
    weights = np.asarray(weights, np.float64)
    for members in _groups(groups):
        chosen = members[weights[members] > 0]
        if len(chosen):
            mean = weights[chosen] @ vectors[chosen]
            norm = np.linalg.norm(mean)
            if norm > 0:
                out[members] = mean / norm
    return out


def _groups(groups: np.ndarray) -> Iterator[np.ndarray]:
    order = np.argsort(groups, kind="stable")
    bounds = np.flatnonzero(np.diff(groups[order])) + 1
    yield from np.split(order, bounds)
