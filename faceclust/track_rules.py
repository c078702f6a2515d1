"""The clustering rules that use a clip's tracks, applied to the labels of any algorithm.

A track (one person's consecutive faces) is evidence the clusters alone lack: a track hardly
closer to its own person than to another is ambiguous, and a "person" made only of one-face
tracks is glimpses that found each other by their blur, not by who they are. Both are left
unassigned rather than pollute a person.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
from scipy import sparse

from .fuse import BLOCK, fused_distances, squared_distances, weighted_sums

#: A track whose mean distance to the rest of its person is not at least this fraction below its
#: mean distance to the nearest other person is ambiguous (a profile, a blur, a face from archive
#: footage between two people) and is left unassigned rather than pollute either.
AMBIGUITY = 0.05
#: Where at least this share of a clip's faces are in tracks of two or more (tracking works at
#: this frame step), a person seen only in single-face tracks is left unassigned: glimpses (a
#: motion blur, a turned head, a passer-by) that found each other by their blur, not by who they are.
TRACKED_SHARE = 0.5
#: More than float32's rounding of a squared distance between unit vectors: taken off the squares
#: of the ambiguity rule's lower bound, so that rounding never rules out a pair that decides.
ROUNDING = 1e-4


def sharing_a_frame(groups: np.ndarray, frames: np.ndarray) -> sparse.csr_matrix:
    """Which groups of faces hold faces of one frame: sparse (G, G), zero diagonal. groups: (N,)
    each face's group, 0..G-1; frames: (N,) each face's frame index."""
    _, frame = np.unique(frames, return_inverse=True)
    seen = sparse.csr_matrix(
        (np.ones(len(groups)), (groups, frame)), shape=(groups.max() + 1, frame.max() + 1)
    )
    together = seen @ seen.T
    together.setdiag(0)  # every group has its diagonal entry: values change, not structure
    return together


class TrackRules:
    """The two rules over one clip's faces. face: (N, D) face vectors, cloth: (N, K), has_cloth:
    (N,) bool, frames: (N,) frame index, shots: (N,) shot or None, tracks: (N,) track of each
    face (a track's faces share their vectors and shot)."""

    def __init__(
        self,
        face: np.ndarray,
        cloth: np.ndarray,
        has_cloth: np.ndarray,
        frames: np.ndarray,
        shots: np.ndarray | None,
        tracks: np.ndarray,
    ):
        self.face, self.cloth, self.has_cloth, self.frames = face, cloth, has_cloth, frames
        self.shots, self.tracks = shots, tracks
        self.n = len(face)

    def apply(self, labels: np.ndarray, weight: float) -> np.ndarray:
        """``labels`` (N,) with ambiguous tracks and people of glimpses unassigned."""
        return self.unassign_glimpses(self.unassign_ambiguous(labels, weight))

    @cached_property
    def _by_track(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, sparse.csr_matrix]:
        """What the two rules need of the tracks, which never change: each track's first face
        (T,), each face's track index (N,), each track's length (T,), and which tracks share a
        frame (sparse T x T, zero diagonal)."""
        _, first, of_face, length = np.unique(
            self.tracks, return_index=True, return_inverse=True, return_counts=True
        )
        return first, of_face, length, sharing_a_frame(of_face, self.frames)

    @cached_property
    def _track_vectors(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """Each track's face (T, D), clothing (T, K), has-clothing (T,) and shot (T,) or None:
        those of its first face, which its other faces share."""
        first = self._by_track[0]
        return (
            self.face[first],
            self.cloth[first],
            self.has_cloth[first],
            None if self.shots is None else self.shots[first],
        )

    def unassign_ambiguous(self, labels: np.ndarray, weight: float) -> np.ndarray:
        """Unassign the faces of tracks hardly closer to their own person than to another.

        Works on one row per track (a track's faces share their vectors and shot): a track's
        distance to a person is the mean over that person's faces outside the track; a person
        with a face in one of the track's frames is infinitely far. Only the pairs that can
        decide are measured. The mean distance to a person is at least sqrt(1 - weight) times the
        face distance to the mean face vector of all the person's faces: the fused distance is at
        least sqrt(1 - weight) times the face distance (weight in 0..1), the mean of distances at
        least the distance to the mean, and the track's own faces in the person (one vector) only
        pull that mean towards the track. A person whose bound already says "clearly farther" is
        not measured.
        """
        if labels.max(initial=-1) < 1:
            return labels
        first, of_face, _, together = self._by_track
        members = np.zeros((len(first), labels.max() + 1), np.float32)  # faces of track t in person k
        np.add.at(members, (of_face[labels >= 0], labels[labels >= 0]), 1)
        others = members.sum(axis=0)[None, :] - members  # faces of person k outside track t
        comparable = ~(together @ (members > 0) > 0) & (others > 0)  # no shared frame, someone left
        rows, own = np.arange(len(first)), np.argmax(members, axis=1)
        mine = np.full(len(first), np.nan, np.float32)  # nan: alone, or no own person to be near
        known = comparable[rows, own] & (members[rows, own] > 0)
        mine[known] = self._mean_distances(members, others, weight, rows[known], own[known])
        points = self._track_vectors[0]
        centres = members.T @ points / np.maximum(members.sum(axis=0), 1)[:, None]
        # The bound (see above), its squares lowered by more than float32's rounding.
        bound = np.sqrt((1 - weight) * np.maximum(squared_distances(points, centres) - ROUNDING, 0))
        candidates = comparable & (bound - mine[:, None] < AMBIGUITY * bound)  # False where nan
        candidates[rows, own] = False
        tracks, people = np.nonzero(candidates)
        distance = self._mean_distances(members, others, weight, tracks, people)
        ambiguous = np.zeros(len(first), bool)
        ambiguous[tracks[distance - mine[tracks] < AMBIGUITY * distance]] = True
        return np.where(ambiguous[of_face], -1, labels)

    def _mean_distances(
        self,
        members: np.ndarray,
        others: np.ndarray,
        weight: float,
        tracks: np.ndarray,
        people: np.ndarray,
    ) -> np.ndarray:
        """The mean fused distance from each of ``tracks`` (P,) to the faces of the matching one of
        ``people`` (P,) outside that track: (P,), from ``members`` (T, K) and ``others`` (T, K) as in
        ``unassign_ambiguous``. One person at a time, the tracks
        asking against the person's tracks, never all tracks against all: where most of the
        person's own tracks ask, each pair among them once (``weighted_sums``); memory O(BLOCK x T)."""
        out = np.zeros(len(tracks), np.float32)
        face, cloth, has_cloth, shots = self._track_vectors
        for person in np.unique(people):
            asking = np.flatnonzero(people == person)
            theirs = np.flatnonzero(members[:, person])
            count = members[theirs, person]
            summed = np.zeros(len(asking), np.float32)
            inside = np.isin(tracks[asking], theirs)
            pairwise = 2 * inside.sum() > len(theirs)  # most of the person's tracks ask
            if pairwise:
                subset = face[theirs], cloth[theirs], has_cloth[theirs]
                within = weighted_sums(*subset, weight, count, None if shots is None else shots[theirs])
                summed[inside] = within[np.searchsorted(theirs, tracks[asking[inside]])]
            rest = np.flatnonzero(~inside) if pairwise else np.arange(len(asking))
            for block in np.array_split(rest, max(1, len(rest) // BLOCK)):
                distances = fused_distances(
                    face, cloth, has_cloth, weight, tracks[asking[block]], shots, columns=theirs
                )
                summed[block] = distances @ count
            out[asking] = summed / others[tracks[asking], person]
        return out

    def unassign_glimpses(self, labels: np.ndarray) -> np.ndarray:
        """Unassign the people whose every track is one face, where the clip's faces are mostly
        tracked (``TRACKED_SHARE``)."""
        if not self.n:
            return labels
        _, of_face, length, _ = self._by_track
        tracked = length[of_face] >= 2
        if tracked.mean() < TRACKED_SHARE:
            return labels
        assigned = labels >= 0
        tracked_faces = np.bincount(labels[assigned], weights=tracked[assigned], minlength=1)
        return np.where(assigned & (tracked_faces[np.maximum(labels, 0)] > 0), labels, -1)
