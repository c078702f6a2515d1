"""A user's corrections on top of cluster labels: rename, merge, hide, move one face.

Edits belong to one clustering: when the clustering parameters change, labels are renumbered
and the edits no longer apply (the dashboard says so before it discards them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .export import cluster_name


@dataclass
class Edits:
    """names: cluster -> display name; merged: cluster -> cluster it went into; hidden: clusters
    left out of views and downloads; moved: face_id -> cluster it was moved to (-1 unassigns)."""

    names: dict[int, str] = field(default_factory=dict)
    merged: dict[int, int] = field(default_factory=dict)
    hidden: set[int] = field(default_factory=set)
    moved: dict[int, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.names) + len(self.merged) + len(self.hidden) + len(self.moved)

    def target(self, label: int) -> int:
        """Where cluster ``label`` ended up after merges (itself when not merged)."""
        seen = set()
        while label in self.merged and label not in seen:
            seen.add(label)
            label = self.merged[label]
        return label

    def merge(self, sources: list[int], into: int) -> None:
        """Merge clusters ``sources`` into cluster ``into``."""
        for source in sources:
            if self.target(source) != self.target(into):
                self.merged[self.target(source)] = self.target(into)

    def name(self, label: int) -> str:
        """Display name: the user's, else ``person_NN`` (``unassigned`` for -1)."""
        return self.names.get(label, cluster_name(label))

    def apply(self, labels: np.ndarray, face_ids: np.ndarray) -> np.ndarray:
        """Labels (N,) after merges and moves; face_ids (N,) says which face each row is."""
        out = np.array([self.target(int(label)) if label >= 0 else -1 for label in labels], dtype=int)
        position = {int(face_id): i for i, face_id in enumerate(face_ids)}
        for face_id, label in self.moved.items():
            if face_id in position:
                out[position[face_id]] = self.target(label) if label >= 0 else -1
        return out
