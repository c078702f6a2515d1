"""Naming a clip's people after the library: each person's mean face against each known
person's prototype, on the clip's own embedder, within that embedder's ``name_distance``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..embed import EmbedParams, thresholds
from .faces import ensure_vectors
from .store import Library, embedder_key

#: A rejected name is not given again to a person at least this share of whose faces were
#: among the rejected ones (clustering with other settings moves a few faces).
REJECTED_SHARE = 0.5


@dataclass(frozen=True)
class Match:
    """A library person's ``name`` and how far (``distance``, the embedder's scale) their
    prototype lies from the clip person's mean face."""

    name: str
    distance: float


def person_means(embedding: np.ndarray, labels: np.ndarray) -> tuple[list[int], np.ndarray]:
    """Each person's (label >= 0) L2-normalised mean face: their labels in order and (P, D)."""
    people = sorted(int(c) for c in np.unique(labels[labels >= 0]))
    means = np.array([embedding[labels == c].mean(axis=0) for c in people], np.float32)
    if people:
        means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-9)
    return people, means.reshape(len(people), embedding.shape[1])


def assign(
    vectors: np.ndarray, names: list[str], prototypes: np.ndarray, within: float, banned: set[tuple[int, str]]
) -> list[Match | None]:
    """A name for each of ``vectors`` (P, D): the assignment of library people to them with the
    least total distance, where a pair counts only within ``within`` and not in ``banned``
    ((row, name) pairs); two rows never get one name. None where a row gets none."""
    if not len(vectors) or not names:
        return [None] * len(vectors)
    distances = np.linalg.norm(vectors[:, None] - prototypes[None], axis=2)
    allowed = distances <= within
    for row, name in banned:
        allowed[row, names.index(name)] = False
    cost = np.where(allowed, distances, 1e6)
    rows, cols = linear_sum_assignment(cost)
    matches: list[Match | None] = [None] * len(vectors)
    for row, col in zip(rows, cols, strict=True):
        if allowed[row, col]:
            matches[row] = Match(names[col], round(float(distances[row, col]), 4))
    return matches


def name_people(
    library: Library, embedding: np.ndarray, labels: np.ndarray, face_ids: np.ndarray, embed: dict, clip: str
) -> dict[int, Match]:
    """Library names for a clip's people: label -> ``Match`` for the people named.

    embedding: (N, D) the clip's plain face embeddings (``FaceTable.face_embedding``); labels,
    face_ids: (N,); embed: the clip's resolved ``EmbedParams`` as a dict; clip: its content
    hash, under which rejections are remembered. Kept faces with no vector of this embedder
    are described by it first.
    """
    params = EmbedParams(**embed)
    ensure_vectors(library, params)
    names, prototypes = library.prototypes(embedder_key(embed))
    people, means = person_means(embedding, labels)
    banned = set()
    for name, rejected in library.rejections(clip):
        if name not in names:
            continue
        for row, label in enumerate(people):
            own = face_ids[labels == label]
            if np.isin(own, rejected).mean() >= REJECTED_SHARE:
                banned.add((row, name))
    within = thresholds(params.embedder).name_distance
    matches = assign(means, names, prototypes, within, banned)
    return {label: match for label, match in zip(people, matches, strict=True) if match is not None}
