"""A user's corrections on top of cluster labels: rename, merge, hide, move one face.

Edits belong to one clustering: when the clustering parameters change, labels are renumbered
and the edits no longer apply (the dashboard says so before it discards them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import BadInput
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

    def new_person(self, face_ids, labels: np.ndarray) -> int:
        """Move the faces ``face_ids`` to a person of their own, numbered after every person in
        ``labels`` (the current labels, (N,)) and in these edits; returns that number."""
        taken = [int(labels.max(initial=-1)), *self.moved.values(), *self.merged, *self.merged.values()]
        fresh = 1 + max(taken)
        self.moved.update(dict.fromkeys(map(int, face_ids), fresh))
        return fresh

    def name(self, label: int) -> str:
        """Display name: the user's, else ``person_NN`` (``unassigned`` for -1)."""
        return self.names.get(label, cluster_name(label))

    def apply(self, labels: np.ndarray, face_ids: np.ndarray) -> np.ndarray:
        """Labels (N,) after merges and moves; face_ids (N,) says which face each row is."""
        out = _per_label(labels, lambda label: self.target(label) if label >= 0 else -1, int)
        if self.moved:
            position = {int(face_id): i for i, face_id in enumerate(face_ids)}
            for face_id, label in self.moved.items():
                if face_id in position:
                    out[position[face_id]] = self.target(label) if label >= 0 else -1
        return out

    def names_of(self, labels: np.ndarray) -> np.ndarray:
        """Each label's display name (``name``): object (N,), one lookup per person."""
        return _per_label(labels, self.name, object)


def _per_label(labels: np.ndarray, value, dtype) -> np.ndarray:
    """``value(label)`` of each of ``labels`` (N,) as ``dtype`` (N,), called once per distinct label."""
    numbers, of_face = np.unique(np.asarray(labels, dtype=int), return_inverse=True)
    return np.array([value(int(number)) for number in numbers], dtype=dtype)[of_face]


#: A run folder's edits file: written from the dashboard, applied by ``faceclust reel``.
EDITS_FILE = "edits.json"


def _rounded(value):
    """``value`` with floats to 6 decimals and tuples as lists: parameters compared after JSON
    and sliders."""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


def dump_edits(edits: Edits, made_for: dict) -> str:
    """``edits`` as the JSON of an edits file. made_for: the clip's ``clip_hash``, the
    ``extract_params`` and ``cluster_params`` of the clustering the edits were made on."""
    return json.dumps(
        {
            "made_for": made_for,
            "names": {str(k): v for k, v in edits.names.items()},
            "merged": {str(k): v for k, v in edits.merged.items()},
            "hidden": sorted(edits.hidden),
            "moved": {str(k): v for k, v in edits.moved.items()},
        },
        indent=2,
    )


def load_edits(path: Path, made_for: dict) -> Edits:
    """The edits of file ``path``; BadInput when it is unreadable or was made for another clip or
    clustering than ``made_for`` (see ``dump_edits``): its labels would name other people."""
    try:
        data = json.loads(path.read_text())
        edits = Edits(
            {int(k): str(v) for k, v in data["names"].items()},
            {int(k): int(v) for k, v in data["merged"].items()},
            {int(k) for k in data["hidden"]},
            {int(k): int(v) for k, v in data["moved"].items()},
        )
        theirs = data["made_for"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise BadInput(f"{path} is not a faceclust edits file ({e})") from None
    if _rounded(theirs) != _rounded(made_for):
        raise BadInput(
            f"{path} was made for another clip or other settings than this run; "
            "re-run with the dashboard's settings or remove the file"
        )
    return edits
