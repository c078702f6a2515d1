"""The pipeline: extract (expensive, cached on disk) -> cluster (cheap, re-run live) -> export."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__
from .cache import cached, clip_hash, entry_key
from .calibrate import calibrated_eps, different_person_distances, learned_metric
from .cluster import Clusterer, ClusterParams
from .embed import Thresholds, thresholds
from .errors import BadInput
from .export import cluster_summary, write_run
from .extract import FEATURE_VERSION, ExtractParams, extract_faces
from .progress import Progress, no_progress
from .table import FaceTable
from .video import probe

log = logging.getLogger(__name__)


@dataclass
class Extraction:
    """A clip's faces with what produced them.

    meta: the clip's ``path``, ``hash``, ``fps``, ``frame_count``, ``width``, ``height``, the
    resolved ``params``, ``feature_version`` and ``extract_s`` (seconds the extraction took).
    cache_hit: whether it came from the cache.
    """

    faces: FaceTable
    meta: dict
    cache_hit: bool

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
        faces, table = self.faces, self.faces.table
        frames, shots, tracks = (table[c].to_numpy() for c in ("frame_index", "shot_id", "track_id"))
        margin, attach = self.thresholds.attach_margin, None
        if margin is not None:
            apart = self.different_person_distances
            attach = (margin, float(np.median(apart)) if len(apart) else 0.0)
        return Clusterer(
            self.face_vectors, faces.cloth_feature, faces.has_cloth, frames, shots, tracks, attach
        )

    @cached_property
    def different_person_distances(self) -> np.ndarray:
        """Distances of ``face_vectors`` between faces sharing a frame (``calibrate``): the
        clip's own sample of different people, which eps and the leftover rule are set by."""
        return different_person_distances(self.face_vectors, self.faces.table)

    @cached_property
    def calibrated_eps(self) -> float | None:
        """eps calibrated on this clip's own different-person pairs (see ``calibrate``)."""
        return calibrated_eps(self.different_person_distances, self.thresholds)

    def resolve(self, params: ClusterParams) -> ClusterParams:
        """``params`` with eps fixed: the given one, else calibrated, else the embedder's default."""
        if params.eps is not None:
            return params
        return replace(params, eps=self.calibrated_eps or self.thresholds.eps)

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
        return self.meta["frame_count"] / self._fps


def extract(
    clip: str | Path,
    params: ExtractParams | None = None,
    workers: int | None = None,
    progress: Progress = no_progress,
) -> Extraction:
    """Faces of ``clip`` under ``params``, from the cache when this clip and params were seen.

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
        faces = extract_faces(clip, resolved, folder, workers, progress)
        meta = {
            "path": str(clip),
            "hash": content,
            **asdict(info),
            "params": resolved.to_dict(),
            "feature_version": FEATURE_VERSION,
            "extract_s": round(time.perf_counter() - started, 3),
        }
        return faces, meta

    faces, meta, hit = cached(key, build)
    if hit:
        log.info("extraction of %s loaded from the cache (%d faces)", clip, len(faces.table))
    return Extraction(faces, meta, hit)


def cluster(extraction: Extraction, params: ClusterParams | None = None) -> np.ndarray:
    """Cluster labels (N,) of an extraction's faces; -1 unassigned, 0 the largest cluster.

    Cheap to call again with new parameters: a new eps or min_samples re-cuts a kept tree.
    """
    return extraction.clusterer.labels(extraction.resolve(params or ClusterParams()))


def run(
    clip: str | Path,
    out: str | Path,
    extract_params: ExtractParams | None = None,
    cluster_params: ClusterParams | None = None,
    workers: int | None = None,
    progress: Progress = no_progress,
) -> tuple[Extraction, np.ndarray, pd.DataFrame]:
    """Extract (or load), cluster and export ``clip`` into ``out``; returns what it wrote.

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
    eps_source = extraction.eps_source(cluster_params)
    cluster_params = extraction.resolve(cluster_params)
    labels = cluster(extraction, cluster_params)
    clustered = time.perf_counter()
    clusters = cluster_summary(extraction.faces, labels, extraction.seconds_per_frame)
    info = {
        "faceclust_version": __version__,
        "clip": extraction.meta,
        "cluster_params": asdict(cluster_params),
        "eps_calibrated": extraction.calibrated_eps,
        "embedder": extraction.embedder,
        "thresholds": {
            "eps": {"value": cluster_params.eps, "from": eps_source},
            "split_distance": {
                "value": extraction.meta["params"]["tracks"]["split_distance"],
                "from": "given" if extract_params and extract_params.tracks.split_distance else "embedder",
            },
            "learned_metric": extraction.metric is not None,
            "embedder_defaults": asdict(extraction.thresholds),
        },
        "faces": len(labels),
        "clusters": len(clusters),
        "unassigned": int((labels < 0).sum()),
        "cache_hit": extraction.cache_hit,
        "timings_s": {
            "extract": round(extracted - started, 3),
            "cluster": round(clustered - extracted, 3),
        },
    }
    write_run(Path(out), extraction.faces, labels, clusters, info)
    return extraction, labels, clusters
