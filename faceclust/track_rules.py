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

from .fuse import upper_blocks

#: A track whose mean distance to the rest of its person is not at least this fraction below its
#: mean distance to the nearest other person is ambiguous (a profile, a blur, a face from archive
#: footage between two people) and is left unassigned rather than pollute either.
AMBIGUITY = 0.05
#: Where at least this share of a clip's faces are in tracks of two or more (tracking works at
#: this frame step), a person seen only in single-face tracks is left unassigned: glimpses (a
#: motion blur, a turned head, a passer-by) that found each other by their blur, not by who they are.
TRACKED_SHARE = 0.5


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

    def unassign_ambiguous(self, labels: np.ndarray, weight: float) -> np.ndarray:
        """Unassign the faces of tracks hardly closer to their own person than to another.

        Works on one row per track (a track's faces share their vectors and shot): a track's
        distance to a person is the mean over that person's faces outside the track; a person
        with a face in one of the track's frames is infinitely far.
        """
        if labels.max(initial=-1) < 1:
            return labels
        first, of_face, _, together = self._by_track
        members = np.zeros((len(first), labels.max() + 1), np.float32)  # faces of track t in person k
        np.add.at(members, (of_face[labels >= 0], labels[labels >= 0]), 1)
        meets = together @ (members > 0) > 0  # track t shares a frame with person k
        own = np.argmax(members, axis=1)
        others = members.sum(axis=0)[None, :] - members  # faces of person k outside track t
        distance = self._summed_distances(first, members, weight) / np.maximum(others, 1)
        distance[meets | (others == 0)] = np.inf
        rows = np.arange(len(first))
        mine = np.where(np.isfinite(distance[rows, own]), distance[rows, own], np.nan)  # nan: alone
        distance[rows, own] = np.inf
        nearest = distance.min(axis=1)
        ambiguous = nearest - mine < AMBIGUITY * nearest  # False where nan or nearest is inf
        return np.where(ambiguous[of_face], -1, labels)

    def _summed_distances(self, first: np.ndarray, members: np.ndarray, weight: float) -> np.ndarray:
        """Each track's summed fused distance to the faces of each person: (T, K), from the
        tracks' ``first`` faces (T,) and ``members`` (T, K). A block of tracks at a time, each pair
        once (``upper_blocks``): memory O(T x 1024), not the T x T distances."""
        summed = np.zeros_like(members)
        blocks = upper_blocks(
            self.face[first],
            self.cloth[first],
            self.has_cloth[first],
            weight,
            shots=None if self.shots is None else self.shots[first],
        )
        for rows, block in blocks:  # block: distances from tracks rows to tracks rows[0]..T-1
            start, end = rows[0], rows[-1] + 1
            summed[start:end] += block @ members[start:]
            summed[end:] += block[:, end - start :].T @ members[start:end]  # the pairs mirrored
        return summed

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
