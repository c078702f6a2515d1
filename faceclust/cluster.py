"""Cluster fused face + clothing distances into people, by algorithm name.

Labels are ints, one per face; -1 means unassigned (noise); clusters are numbered by size, 0 the
largest. Two faces of one frame never share a cluster.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

import numpy as np
from scipy import sparse
from scipy.cluster.hierarchy import fcluster

from .cache import keep_array, kept_array
from .errors import BadInput
from .fuse import fused_distances, radius_graph
from .ranges import EPS, MIN_SAMPLES, WEIGHT
from .track_rules import TrackRules, sharing_a_frame

log = logging.getLogger(__name__)


def _apart(n: int) -> float:
    """The distance given to two faces of one frame among n: so large that the average over any
    two groups holding such a pair exceeds every eps."""
    return 2.0 * n**2 + 2.0


@dataclass(frozen=True)
class ClusterParams:
    """How faces are grouped into people.

    algorithm: ``agglomerative`` (average linkage that never merges two groups sharing a frame:
        robust to the chaining that merges look-alikes), ``dbscan``, ``hdbscan`` or
        ``chinese_whispers``.
    weight: clothing weight w in [0, 1]; 0 is face-only. Clothing helps within a scene and
        misleads where people change clothes or wear the same costume.
    eps: fused distance under which two faces are neighbours. Lower splits people into more
        clusters; higher merges look-alikes. Its scale is the embedder's (``embed.THRESHOLDS``):
        dlib's embedding needs a lower value for East-Asian faces (about 0.40-0.45 against
        0.50-0.55 for Western faces, face-only). None: calibrated on the clip, or the embedder's
        default where there is no clip evidence (``Extraction.resolve``); ``Clusterer`` needs it set.
    min_samples: neighbours (the face included) a face needs to start a cluster; clusters
        smaller than this become unassigned. 1 keeps every face in some cluster.
    """

    algorithm: str = "agglomerative"
    weight: float = 0.2
    eps: float | None = None
    min_samples: int = 2

    def validate(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise BadInput(
                f"unknown clustering algorithm '{self.algorithm}'; choose one of: {', '.join(ALGORITHMS)}"
            )
        WEIGHT.check("--weight", self.weight)
        if self.eps is not None:
            EPS.check("--eps", self.eps)
        MIN_SAMPLES.check("--min-samples", self.min_samples)


def _drop_small(labels: np.ndarray, min_samples: int) -> np.ndarray:
    """Unassign members of clusters with fewer than ``min_samples`` faces."""
    sizes = np.bincount(labels[labels >= 0], minlength=1)
    return np.where((labels >= 0) & (sizes[np.maximum(labels, 0)] >= min_samples), labels, -1)


def _agglomerative(faces: Clusterer, params: ClusterParams) -> np.ndarray:
    tree = faces.tree(params.weight)
    if tree is None:
        return _drop_small(np.zeros(faces.n, dtype=int), params.min_samples)
    points = fcluster(tree, params.eps, "distance") - 1
    return _drop_small(points[faces.points.of_face], params.min_samples)


def _dbscan(faces: Clusterer, params: ClusterParams) -> np.ndarray:
    from sklearn.cluster import DBSCAN  # here: keeps extraction's worker processes light

    graph = faces.graph(params.weight, params.eps)
    return DBSCAN(params.eps, min_samples=params.min_samples, metric="precomputed").fit_predict(graph)


def _hdbscan(faces: Clusterer, params: ClusterParams) -> np.ndarray:
    from sklearn.cluster import HDBSCAN

    if faces.n < 2:
        return np.full(faces.n, -1)
    return HDBSCAN(
        min_cluster_size=max(2, params.min_samples),
        min_samples=params.min_samples,
        cluster_selection_epsilon=params.eps,
        metric="precomputed",
        copy=False,
    ).fit_predict(faces.constrained_distances(params.weight).astype(np.float64))


def _chinese_whispers(faces: Clusterer, params: ClusterParams) -> np.ndarray:
    import dlib

    graph = faces.graph(params.weight, params.eps).tocoo()
    edges = [(int(i), int(j)) for i, j in zip(graph.row, graph.col, strict=True) if i <= j]
    return _drop_small(np.asarray(dlib.chinese_whispers(edges), dtype=int), params.min_samples)


@dataclass(frozen=True)
class Algorithm:
    """One clustering algorithm. fit: (Clusterer, params) -> raw labels (N,); eps_share: where its
    eps starts, as a share of agglomerative's (a clip's calibrated eps is agglomerative's);
    meaning: what eps is to it, in a sentence (the dashboard's help)."""

    fit: Callable[[Clusterer, ClusterParams], np.ndarray]
    eps_share: float
    meaning: str

    def starting_eps(self, agglomerative_eps: float) -> float:
        """Where this algorithm's eps starts, to 0.01, where agglomerative's is ``agglomerative_eps``
        (a clip's calibrated eps, or an embedder's default without a clip)."""
        return round(agglomerative_eps * self.eps_share, 2)


#: Clustering algorithms by name. eps_share: average linkage joins two groups whose faces are eps
#: apart on average; dbscan, chinese whispers and hdbscan's selection epsilon chain faces eps
#: apart pair by pair, so one close pair of two people joins them: their eps sits lower. On
#: multi_face.avi, short_hamilton_clip.mp4 and mudo_variety.mp4, with dlib and an ArcFace-style
#: model, 0.75 came within 0.07 BCubed F of each one's best eps (1.000 on 9 of 18), where
#: agglomerative's eps gave them 0.29-0.92 (``bench/algorithms.py``).
ALGORITHMS = {
    "agglomerative": Algorithm(
        _agglomerative, 1.0, "two groups of faces join while their faces are this far apart on average."
    ),
    "dbscan": Algorithm(
        _dbscan,
        0.75,
        "faces this close are neighbours, and neighbours chain into one person, so it sits lower "
        "than agglomerative's.",
    ),
    "hdbscan": Algorithm(
        _hdbscan,
        0.75,
        "people whose faces come this close are merged, so it sits lower than agglomerative's.",
    ),
    "chinese_whispers": Algorithm(
        _chinese_whispers,
        0.75,
        "faces this close are linked and take their person from their links, so it sits lower than "
        "agglomerative's.",
    ),
}


def average_linkage(dist: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Average-linkage tree (scipy's format, (U-1) x 4) of U weighted points: a point of weight w
    stands for w identical faces, and the distance between two groups is the mean over their
    faces' pairs, so the tree cuts into the groups that average linkage over the faces gives.

    dist: (U, U) float32 symmetric distances, overwritten. Nearest-neighbour chain (average
    linkage is reducible), O(U^2) time and no memory beyond ``dist``.
    """
    n = len(dist)
    size = weights.astype(np.float64)
    np.fill_diagonal(dist, np.inf)
    merges: list[tuple[int, int, float]] = []  # (kept point, merged point, distance)
    chain: list[int] = []
    alive = np.ones(n, bool)
    for _ in range(n - 1):
        while True:
            if not chain:
                chain.append(int(np.argmax(alive)))
            a = chain[-1]
            b = int(np.argmin(dist[a]))
            if len(chain) > 1 and dist[a, chain[-2]] <= dist[a, b]:
                b = chain[-2]  # ties go back down the chain: it always ends
            if len(chain) > 1 and b == chain[-2]:
                break
            chain.append(b)
        del chain[-2:]
        merges.append((a, b, float(dist[a, b])))
        row = (size[a] * dist[a] + size[b] * dist[b]) / (size[a] + size[b])
        dist[a], dist[:, a] = row, row
        dist[b], dist[:, b] = np.inf, np.inf
        size[a] += size[b]
        alive[b] = False
    tree, count = np.zeros((n - 1, 4)), np.ones(2 * n - 1)
    parent, cluster = np.arange(n), np.arange(n)  # union-find over points; each root's cluster id

    def root(point: int) -> int:
        while parent[point] != point:
            parent[point] = point = parent[parent[point]]
        return point

    for k, (a, b, distance) in enumerate(sorted(merges, key=lambda merge: merge[2])):  # stable
        a, b = root(a), root(b)
        count[n + k] = count[cluster[a]] + count[cluster[b]]
        tree[k] = [*sorted((cluster[a], cluster[b])), distance, count[n + k]]
        parent[b], cluster[a] = a, n + k
    return tree


class Points(NamedTuple):
    """Faces that are one point (the same face and clothing vectors, clothing use and shot):
    first: (U,) each point's first face; of_face: (N,) each face's point; count: (U,) faces."""

    first: np.ndarray
    of_face: np.ndarray
    count: np.ndarray


def _by_size(labels: np.ndarray) -> np.ndarray:
    """Renumber clusters 0, 1, ... from the largest; ties go to the one seen first."""
    out = np.full(len(labels), -1)
    kept = labels[labels >= 0]
    if not len(kept):
        return out
    ids, first, counts = np.unique(kept, return_index=True, return_counts=True)
    order = ids[np.lexsort((first, -counts))]
    for new, old in enumerate(order):
        out[labels == old] = new
    return out


#: The version of how a tree is made from its faces' vectors (fused distances, same-frame
#: constraints, linkage over points): bump it when that changes, so that trees kept in cache
#: entries are made again (the vectors themselves are in a kept tree's name, ``_digest``).
TREE_VERSION = 1


class Clusterer:
    """Clusters one clip's faces, again and again as the parameters change.

    face: (N, D) face vectors (L2-normalised, or in a clip's learned metric), cloth: (N, K)
    L2-normalised; has_cloth: (N,) bool; frames: (N,) frame index of each face; shots: (N,)
    shot of each face (clothing then counts only within a shot) or None; tracks: (N,) track of
    each face, or None. Faces of one track share their vectors, so they meet at distance 0 and
    stay together, and ``TrackRules`` leave an ambiguous track and a person of glimpses only
    unassigned. attach: (margin, limit) or None: a face still
    unassigned then joins the person whose faces it is nearest to on average among those with
    no face in its frame, where that person is at least ``margin`` (a fraction) nearer than the
    next such person and nearer than ``limit`` (a distance). The agglomerative
    tree depends only on the clothing weight and is kept for the last 32 weights, so a new eps
    or min_samples only re-cuts it, and ``prefit`` can build the trees of the weights a slider
    offers ahead of time (a tree is (U-1) x 4 floats, U the ``points``). trees_in: a folder
    (a cache entry's ``trees/``) where each tree is also kept for the next process, or None.
    """

    _TREES_KEPT = 32

    def __init__(
        self,
        face: np.ndarray,
        cloth: np.ndarray,
        has_cloth: np.ndarray,
        frames: np.ndarray,
        shots: np.ndarray | None = None,
        tracks: np.ndarray | None = None,
        attach: tuple[float, float] | None = None,
        trees_in: Path | None = None,
    ):
        self.face, self.cloth, self.has_cloth, self.frames = face, cloth, has_cloth, frames
        self.shots, self.attach, self.trees_in = shots, attach, trees_in
        self.track_rules = (
            None if tracks is None else TrackRules(face, cloth, has_cloth, frames, shots, tracks)
        )
        self.n = len(face)
        self._trees: dict[float, np.ndarray] = {}

    @property
    def _shot_of_face(self) -> np.ndarray:
        """(N,) each face's shot, all 0 where shots are not used."""
        return np.zeros(self.n) if self.shots is None else self.shots

    @cached_property
    def points(self) -> Points:
        """The faces grouped into the points they are: faces of one track share their vectors
        and shot, so the trees are built over track parts (thousands), not faces (tens of
        thousands)."""
        key = np.column_stack([self.face, self.cloth, self.has_cloth, self._shot_of_face])
        _, first, of_face, count = np.unique(
            key, axis=0, return_index=True, return_inverse=True, return_counts=True
        )
        return Points(first, of_face.ravel(), count)

    @cached_property
    def _digest(self) -> str:
        """What a tree is made from (``TREE_VERSION``, the faces' vectors, shots and frames) in
        a few characters: a kept tree is read only by a clusterer of the same."""
        digest = hashlib.blake2b(str(TREE_VERSION).encode(), digest_size=8)
        for part in (self.face, self.cloth, self.has_cloth, self._shot_of_face, self.frames):
            digest.update(np.ascontiguousarray(part).tobytes())
        return digest.hexdigest()

    @cached_property
    def _points_together(self) -> sparse.coo_matrix:
        """Which ``points`` hold faces of one frame (``sharing_a_frame``): the same for every weight."""
        return sharing_a_frame(self.points.of_face, self.frames).tocoo()

    def _constrained(self, weight: float, rows: np.ndarray, together: sparse.coo_matrix) -> np.ndarray:
        """Dense fused distances (R, R) float32 between faces ``rows``, symmetric, 0 on the
        diagonal, with every pair ``together`` marks (holding faces of one frame, R x R) set so
        far apart (``_apart``) that any average over two groups containing it exceeds every eps."""
        shots = None if self.shots is None else self.shots[rows]
        dist = fused_distances(self.face[rows], self.cloth[rows], self.has_cloth[rows], weight, shots=shots)
        dist[together.row, together.col] = _apart(self.n)
        np.fill_diagonal(dist, 0.0)
        return dist

    def constrained_distances(self, weight: float) -> np.ndarray:
        """``_constrained`` over all faces: (N, N) float32."""
        faces = np.arange(self.n)
        return self._constrained(weight, faces, sharing_a_frame(faces, self.frames).tocoo())

    def graph(self, weight: float, eps: float):
        """Sparse fused distances within eps, same-frame pairs left out (see ``radius_graph``)."""
        return radius_graph(self.face, self.cloth, self.has_cloth, weight, eps, self.frames, self.shots)

    def _distances(self, weight: float, rows: np.ndarray | None = None) -> np.ndarray:
        return fused_distances(self.face, self.cloth, self.has_cloth, weight, rows, self.shots)

    def tree(self, weight: float) -> np.ndarray | None:
        """Average-linkage tree (scipy format) over ``points`` of the constrained distances, each
        point weighing its faces: it cuts into the groups average linkage over the faces gives.
        None below 2 points."""
        points = self.points
        if len(points.first) < 2:
            return None
        key = round(weight, 6)  # 0.15 and 0.15000000000000002 (a slider's float) are one weight
        if key not in self._trees:
            path = None if self.trees_in is None else self.trees_in / f"{key:.6f}_{self._digest}.npy"
            tree = None if path is None else kept_array(path, (len(points.first) - 1, 4))
            if tree is None:
                dist = self._constrained(weight, points.first, self._points_together)
                tree = average_linkage(dist, points.count)
                if path is not None:
                    keep_array(path, tree)
            self._trees[key] = tree
            while len(self._trees) > self._TREES_KEPT:
                del self._trees[next(iter(self._trees))]
        return self._trees[key]

    def prefit(self, weights: list[float]) -> None:
        """Build the trees of ``weights`` now (for example in a background thread), so that
        moving to any of them later costs a re-cut only."""
        for weight in weights:
            self.tree(weight)

    def _split_same_frame(self, labels: np.ndarray, weight: float) -> np.ndarray:
        """Unassign all but the most central face of each frame within each cluster."""
        labels = labels.copy()
        for label in np.unique(labels[labels >= 0]):
            members = np.flatnonzero(labels == label)
            member_frames = self.frames[members]
            if len(np.unique(member_frames)) == len(members):
                continue
            dist = self._distances(weight, members)
            spread = dist[:, members].mean(axis=1)
            for frame in np.unique(member_frames):
                same = np.flatnonzero(member_frames == frame)
                if len(same) > 1:
                    keep = same[np.argmin(spread[same])]
                    labels[members[same[same != keep]]] = -1
        return labels

    def _attach_leftovers(self, labels: np.ndarray, weight: float) -> np.ndarray:
        """Give unassigned faces to the person they are clearly nearest to (``attach``), the
        nearest first; a person takes no second face of a frame."""
        leftovers = np.flatnonzero(labels < 0)
        people = np.unique(labels[labels >= 0])
        if self.attach is None or not len(leftovers) or not len(people):
            return labels
        margin, limit = self.attach
        dist = self._distances(weight, leftovers)
        mean = np.full((len(leftovers), len(people)), np.inf)
        for k, person in enumerate(people):
            members = labels == person
            meets = np.isin(self.frames[leftovers], self.frames[members])
            mean[:, k] = np.where(meets, np.inf, dist[:, members].mean(axis=1))
        ranked = np.sort(mean, axis=1)
        second = ranked[:, 1] if len(people) > 1 else np.full(len(leftovers), np.inf)
        clear = np.flatnonzero((ranked[:, 0] < limit) & (ranked[:, 0] <= (1 - margin) * second))
        labels = labels.copy()
        taken: set[tuple[int, int]] = set()  # (frame, person) given a leftover here; members: ``meets``
        for k in clear[np.argsort(ranked[clear, 0], kind="stable")]:  # the nearest first
            frame, person = int(self.frames[leftovers[k]]), int(people[mean[k].argmin()])
            if (frame, person) not in taken:  # two leftovers of one frame never join one person
                taken.add((frame, person))
                labels[leftovers[k]] = person
        return labels

    def labels(self, params: ClusterParams) -> np.ndarray:
        """Cluster labels (N,) int: -1 unassigned, 0 the largest cluster."""
        params.validate()
        if params.eps is None:
            raise ValueError("eps must be set: Extraction.resolve fixes it for a clip's embedder")
        if self.n == 0:
            return np.zeros(0, dtype=int)
        raw = np.asarray(ALGORITHMS[params.algorithm].fit(self, params))
        raw = self._split_same_frame(raw, params.weight)
        if self.track_rules is not None:
            raw = self.track_rules.apply(raw, params.weight)
        raw = self._attach_leftovers(_drop_small(raw, params.min_samples), params.weight)
        return _by_size(raw)


def cluster_faces(
    face: np.ndarray,
    cloth: np.ndarray,
    has_cloth: np.ndarray,
    frames: np.ndarray,
    params: ClusterParams,
    shots: np.ndarray | None = None,
    tracks: np.ndarray | None = None,
) -> np.ndarray:
    """Cluster faces into people once: labels (N,) int, -1 unassigned, 0 the largest cluster.

    Arguments as for ``Clusterer``, which re-clusters the same faces cheaply.
    """
    return Clusterer(face, cloth, has_cloth, frames, shots, tracks).labels(params)
