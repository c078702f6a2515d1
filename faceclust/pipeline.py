"""The pipeline: extract (expensive, cached on disk) -> cluster (cheap, re-run live) -> export."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from .cache import cached, clip_hash, entry_key, keep_array, kept_array, kept_entry
from .calibrate import (
    MIN_PAIRS,
    Evidence,
    calibrated_eps,
    different_person_distances,
    learned_metric,
    same_person_distances,
)
from .cluster import ALGORITHMS, Clusterer, ClusterParams
from .embed import Thresholds, thresholds
from .errors import BadInput
from .export import cluster_summary, write_run
from .extract import FEATURE_VERSION, ExtractParams, extract_faces
from .library import Library, name_people
from .progress import Progress, no_progress
from .project import ProjectParams, fused_vectors, project
from .table import FaceTable
from .version import __version__
from .video import probe

log = logging.getLogger(__name__)


@dataclass
class Extraction:
    """A clip's faces with what produced them.

    meta: the clip's ``path``, ``name`` (``extract``), ``hash``, ``fps``, ``frame_count``,
    ``width``, ``height``, ``duration_s`` (``video.ClipInfo``), the
    resolved ``params``, ``feature_version``, ``extract_s`` (seconds the extraction took) and
    ``stage_s`` (seconds in each stage, ``extract.extract_faces``).
    cache_hit: whether it came from the cache.
    """

    faces: FaceTable
    meta: dict
    cache_hit: bool

    @property
    def key(self) -> str:
        """The name of its cache entry: ``kept_extraction`` finds it again."""
        return self.faces.folder.name

    @property
    def embedder(self) -> str:
        """The embedder that described these faces (``dlib``, ``sface``, ``onnx:PATH``)."""
        return self.meta["params"]["embed"]["embedder"]

    @property
    def thresholds(self) -> Thresholds:
        """The settings that depend on this extraction's embedder (``embed.THRESHOLDS``)."""
        return thresholds(self.embedder)

    @cached_property
    def metric(self) -> np.ndarray | None:
        """This clip's learned metric (``learned_metric``); None where the clip has too little
        evidence or the embedder learns none."""
        if not self.thresholds.learned_metric:
            return None
        faces = self.faces
        return learned_metric(faces.own_embedding, faces.face_embedding, faces.table)

    @cached_property
    def face_vectors(self) -> np.ndarray:
        """(N, D) float32 face embeddings in ``metric``, or the plain ones where there is none:
        what faces are clustered, calibrated and laid out on."""
        embedding = self.faces.face_embedding
        return embedding if self.metric is None else embedding @ self.metric

    @cached_property
    def clusterer(self) -> Clusterer:
        """Clusters these faces; keeps what later parameter changes can reuse."""
        margin, attach = self.thresholds.attach_margin, None
        if margin is not None:
            apart = self.evidence.different
            attach = (margin, float(np.median(apart)) if len(apart) else 0.0)
        return self._clusterer_of(slice(None), attach, self.faces.folder / "trees")

    def _clusterer_of(
        self, rows: slice | np.ndarray, attach: tuple[float, float] | None, trees_in: Path | None = None
    ) -> Clusterer:
        """A ``Clusterer`` of the faces at ``rows`` (a slice or row indices), its trees kept in
        the folder ``trees_in`` where given."""
        faces, table = self.faces, self.faces.table.iloc[rows]
        frames, shots, tracks = (table[c].to_numpy() for c in ("frame_index", "shot_id", "track_id"))
        return Clusterer(
            self.face_vectors[rows],
            faces.cloth_feature[rows],
            faces.has_cloth[rows],
            frames,
            shots,
            tracks,
            attach,
            trees_in,
        )

    @cached_property
    def evidence(self) -> Evidence:
        """The clip's own samples of same-person and different-person distances between
        ``face_vectors`` (``calibrate``): eps and the leftover rule are set by them."""
        faces = self.faces
        own = faces.own_embedding if self.metric is None else faces.own_embedding @ self.metric
        return Evidence(
            same=same_person_distances(own, faces.table),
            different=different_person_distances(self.face_vectors, faces.table),
        )

    @cached_property
    def calibrated_eps(self) -> float | None:
        """eps calibrated on this clip's own different-person pairs (see ``calibrate``)."""
        return calibrated_eps(self.evidence.different, self.thresholds)

    def thresholds_report(self, params: ClusterParams, given: ExtractParams | None = None) -> dict:
        """What run.json says of the thresholds: the clip's evidence (``Evidence.summary``) and,
        for eps, the track split distance and the leftover rule, the value used and where it
        came from (``given``, ``clip`` or the embedder's ``prior``). params: as given (eps None
        when not); given: the extraction parameters as the user gave them."""
        prior, evidence = self.thresholds, self.evidence
        split_given = given is not None and given.tracks.split_distance is not None
        eps_from = {"given": "given", "calibrated": "clip", "default": "prior"}[self.eps_source(params)]
        low, high = prior.eps_bounds
        attach = self.clusterer.attach
        leftover = None
        if attach is not None:  # the limit is the median different-person distance: 0 (off) without one
            margin, limit = attach
            source = "clip" if len(evidence.different) else "off: no faces seen together"
            leftover = {"margin": margin, "limit": round(limit, 3), "from": source}
        report = {
            "evidence": evidence.summary(),
            "eps": {
                "value": self.resolve(params).eps,
                "from": eps_from,
                "rule": f"5th percentile of different-person distances + {prior.eps_margin}, "
                f"within [{low}, {high}], x {ALGORITHMS[params.algorithm].eps_share} for {params.algorithm}",
            },
            "split_distance": {
                "value": self.meta["params"]["tracks"]["split_distance"],
                "from": "given" if split_given else "prior",
            },
            "leftover": leftover,
            "learned_metric": self.metric is not None,
            "embedder_defaults": asdict(prior),
        }
        if not evidence.enough:
            report["note"] = self.evidence_note
        return report

    @property
    def evidence_note(self) -> str | None:
        """One line where the clip has too little evidence to calibrate on, else None."""
        if self.evidence.enough:
            return None
        return (
            f"too little evidence to calibrate on ({len(self.evidence.different)} pairs of faces "
            f"seen together, fewer than {MIN_PAIRS}: one person or one shot?): the embedder's "
            "prior thresholds are used where none is given"
        )

    def split(self, members: np.ndarray, params: ClusterParams) -> np.ndarray:
        """One person's faces clustered again on their own, tighter: agglomerative with eps
        lowered 0.02 at a time until they fall into two people or more (or eps reaches the
        bottom of its range). members: row indices; returns their labels (len(members),),
        0 the largest, -1 left over; all 0 where they do not split."""
        alone = self._clusterer_of(members, attach=None)
        eps, low = self.resolve(params).eps, self.thresholds.eps_range[0]
        while (eps := round(eps - 0.02, 2)) >= low:
            labels = alone.labels(replace(params, algorithm="agglomerative", eps=eps))
            if labels.max() >= 1:
                return labels
        return np.zeros(len(members), int)

    def _layout_path(self, weight: float | None) -> Path:
        name = "face" if weight is None else f"fused_{weight:.2f}"
        return self.faces.folder / "layouts" / f"{name}_{ProjectParams().key}.npy"

    def kept_layout(self, weight: float | None) -> np.ndarray | None:
        """The ``layout`` kept in the cache entry, or None where there is none (or it is damaged)."""
        return kept_array(self._layout_path(weight), (len(self.faces.table), 2))

    def layout(self, weight: float | None) -> np.ndarray:
        """UMAP layout (N, 2) float32 of ``face_vectors`` (``weight`` None) or of the face +
        clothing vectors fused at ``weight``: fitted once, then kept in the clip's cache entry
        (``layouts/``), so that a restarted server does not fit it again. Faces with equal
        vectors (a track part's) are one point of the fit and share its place: an hour's
        20,000 faces are a few thousand points. Safe to call from several threads and
        processes (the last writer wins with the same layout)."""
        kept = self.kept_layout(weight)
        if kept is not None:
            return kept
        faces, path = self.faces, self._layout_path(weight)
        vectors = self.face_vectors
        if weight is not None:
            vectors = fused_vectors(vectors, faces.cloth_feature, faces.has_cloth, weight)
        distinct, of_face = np.unique(vectors, axis=0, return_inverse=True)
        layout = project(distinct, ProjectParams())[of_face.ravel()]
        keep_array(path, layout)
        return layout

    def prepare_views(
        self, params: ClusterParams, weights: list[float], layouts: bool, progress: Progress = no_progress
    ) -> None:
        """Do now what the first look at the clip's people would: cluster at ``params`` (the tree
        of its weight kept), build the trees of ``weights`` too and, with ``layouts``, fit the
        face-only and fused layouts at its weight (kept in the cache entry), so that the
        dashboard's pages open as reads. Reports stage "prepare" after each step (a tree or a
        fit: seconds each at an episode's size), so a callback can stop it between them."""
        steps = [
            lambda: cluster(self, params),
            *(lambda w=w: self.clusterer.tree(w) for w in weights),
            *([lambda: self.layout(None), lambda: self.layout(params.weight)] if layouts else []),
        ]
        for done, step in enumerate(steps):
            progress("prepare", done, len(steps))
            step()
        progress("prepare", len(steps), len(steps))

    def resolve(self, params: ClusterParams) -> ClusterParams:
        """``params`` with eps fixed: the given one, else calibrated, else the embedder's default,
        as eps means to ``params.algorithm`` (its ``eps_share`` of agglomerative's)."""
        if params.eps is not None:
            return params
        eps = ALGORITHMS[params.algorithm].starting_eps(self.calibrated_eps or self.thresholds.eps)
        return replace(params, eps=eps)

    def eps_source(self, params: ClusterParams) -> str:
        """Where ``resolve`` takes eps from: ``given``, ``calibrated`` or ``default``."""
        return "given" if params.eps is not None else "calibrated" if self.calibrated_eps else "default"

    @property
    def _fps(self) -> float:
        return self.meta["fps"] or 25.0  # containers that state no rate: assume PAL

    @property
    def seconds_per_frame(self) -> float:
        """Clip time each sampled frame stands for (s)."""
        return self.meta["params"]["sampling"]["step"] / self._fps

    @property
    def duration_s(self) -> float:
        """The clip's length (s), from its header."""
        return self.meta["duration_s"]


def extract(
    clip: str | Path,
    params: ExtractParams | None = None,
    workers: int | None = None,
    progress: Progress = no_progress,
    name: str | None = None,
) -> Extraction:
    """Faces of ``clip`` under ``params``, from the cache when this clip and params were seen.

    name: what the user calls the clip where the file is not theirs (an upload the app stored
    under a name it made): kept as ``meta["name"]``, what exports and searches call the clip
    then. ``meta["path"]`` and ``meta["name"]`` are this call's, also on a cache hit.
    Raises BadInput for an unusable clip or parameter.
    """
    params = params or ExtractParams()
    params.validate()
    info = probe(clip)
    resolved = params.resolved(info.fps)
    content = clip_hash(clip, progress)
    key = entry_key(content, resolved.to_dict(), FEATURE_VERSION)

    def build(folder: Path) -> tuple[FaceTable, dict]:
        started = time.perf_counter()
        faces, stage_s = extract_faces(clip, resolved, folder, workers, progress)
        meta = {
            "path": str(clip),
            "name": name,
            "hash": content,
            **asdict(info),
            "params": resolved.to_dict(),
            "feature_version": FEATURE_VERSION,
            "extract_s": round(time.perf_counter() - started, 3),
            "stage_s": stage_s,
        }
        return faces, meta

    faces, meta, hit = cached(key, build)
    if hit:
        log.info("extraction of %s loaded from the cache (%d faces)", clip, len(faces.table))
    meta = {**meta, "path": str(clip), "name": name}  # the entry may have been made from another copy
    return Extraction(faces, meta, hit)


def kept_extraction(key: str) -> Extraction | None:
    """The extraction kept in the cache under ``key`` (``Extraction.key``), its ``meta`` as the run
    that made it wrote it, or None where the cache holds none (``cache.kept_entry``)."""
    loaded = kept_entry(key)
    return None if loaded is None else Extraction(*loaded, cache_hit=True)


def cluster(extraction: Extraction, params: ClusterParams | None = None) -> np.ndarray:
    """Cluster labels (N,) of an extraction's faces; -1 unassigned, 0 the largest cluster.

    Cheap to call again with new parameters: a new eps or min_samples re-cuts a kept tree.
    """
    return extraction.clusterer.labels(extraction.resolve(params or ClusterParams()))


def entry_labels(faces: FaceTable, meta: dict) -> np.ndarray:
    """Labels (N,) of a cache entry's faces (``cache.load_entry``) at the default clustering
    settings: what a search indexes a cached clip's people by. All -1 under two faces."""
    if len(faces.table) < 2:
        return np.full(len(faces.table), -1)
    return cluster(Extraction(faces, meta, True))


def run(
    clip: str | Path,
    out: str | Path,
    extract_params: ExtractParams | None = None,
    cluster_params: ClusterParams | None = None,
    workers: int | None = None,
    progress: Progress = no_progress,
    library: str | Path | None = None,
) -> tuple[Extraction, np.ndarray, pd.DataFrame]:
    """Extract (or load), cluster and export ``clip`` into ``out``; returns what it wrote.

    library: a library file whose people name the clip's people (``library_name`` and
    ``library_distance`` in the clusters table; see ``library.name_people``).
    Raises BadInput, writing nothing, when the clip holds fewer than two faces to cluster.
    Returns the extraction, the labels and the clusters table; run.json records the eps used.
    """
    cluster_params = cluster_params or ClusterParams()
    cluster_params.validate()
    started = time.perf_counter()
    extraction = extract(clip, extract_params, workers, progress)
    extracted = time.perf_counter()
    found = len(extraction.faces.table)
    if found < 2:
        what = "no faces were" if found == 0 else "only one face was"
        raise BadInput(f"{what} found in {clip}; nothing to cluster (try a smaller --step)")
    given_cluster, cluster_params = cluster_params, extraction.resolve(cluster_params)
    labels = cluster(extraction, cluster_params)
    clustered = time.perf_counter()
    clusters = cluster_summary(extraction.faces, labels, extraction.seconds_per_frame)
    known = None
    if library is not None:
        clusters = named(extraction, labels, clusters, library)
        known = {"path": str(library), "named": int(clusters["library_name"].notna().sum())}
    info = {
        "faceclust_version": __version__,
        "clip": extraction.meta,
        "cluster_params": asdict(cluster_params),
        "eps_calibrated": extraction.calibrated_eps,
        "embedder": extraction.embedder,
        "thresholds": extraction.thresholds_report(given_cluster, extract_params),
        "faces": len(labels),
        "clusters": len(clusters),
        "library": known,
        "cache_hit": extraction.cache_hit,
        "timings_s": {
            "extract": round(extracted - started, 3),
            "cluster": round(clustered - extracted, 3),
        },
    }
    write_run(Path(out), extraction.faces, labels, clusters, info)
    return extraction, labels, clusters


def named(
    extraction: Extraction, labels: np.ndarray, clusters: pd.DataFrame, library: str | Path
) -> pd.DataFrame:
    """``clusters`` with ``library_name`` and ``library_distance``: the library person each
    clip person is named after, empty where none is near enough."""
    faces = extraction.faces
    with Library(library) as known:
        matches = name_people(
            known,
            faces.face_embedding,
            labels,
            faces.table["face_id"].to_numpy(),
            extraction.meta["params"]["embed"],
            extraction.meta["hash"],
        )
    found = [matches.get(int(c)) for c in clusters["cluster"]]
    return clusters.assign(
        library_name=[m.name if m else None for m in found],
        library_distance=[m.distance if m else None for m in found],
    )
