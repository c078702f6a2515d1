"""Quality on the labelled clips: the known methods against faceclust, and the defaults sweep.

One shared extraction per clip and detector. Known methods are re-implemented on
face_recognition embeddings (faceclust's L2-normalised ones) of face_recognition HOG detections
(upsample 1, no super-resolution) of the same frames, and again on faceclust's YuNet faces, so
that detection and clustering gains show separately.

    .venv/bin/python bench/methods.py            # tables for the README
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from sklearn.cluster import DBSCAN, AgglomerativeClustering

import faceclust as fc
from faceclust.calibrate import calibrated_eps, different_person_distances
from faceclust.cluster import Clusterer
from faceclust.embed import thresholds
from faceclust.track import TrackParams

from common import DATA, LABELLED, labels, table

METRICS = ["coverage", "bcubed_precision", "bcubed_recall", "bcubed_f", "pairwise_f", "nmi", "wcp"]
HOG = fc.ExtractParams(
    detect=fc.DetectParams(detector="hog", upsample=1),
    sr=fc.SRParams(method="none"),
    tracks=TrackParams(link=False),
)
NO_TRACKS = fc.ExtractParams(tracks=TrackParams(link=False))


def greedy_nearest_mean(face: np.ndarray, threshold: float = 0.44) -> np.ndarray:
    """The "unknown face classifier": each face joins the nearest person's mean within
    ``threshold``; unknown faces wait until two of them are within ``threshold`` of each other,
    and then start a new person together. Faces that never match stay unassigned."""
    labels_ = np.full(len(face), -1)
    means: list[np.ndarray] = []
    counts: list[int] = []
    unknown: list[int] = []
    for i, vector in enumerate(face):
        if means:
            d = np.linalg.norm(np.array(means) - vector, axis=1)
            best = int(np.argmin(d))
            if d[best] < threshold:
                labels_[i] = best
                means[best] = (means[best] * counts[best] + vector) / (counts[best] + 1)
                counts[best] += 1
                continue
        partner = next((j for j in unknown if np.linalg.norm(face[j] - vector) < threshold), None)
        if partner is None:
            unknown.append(i)
            continue
        unknown.remove(partner)
        labels_[[i, partner]] = len(means)
        means.append((face[i] + face[partner]) / 2)
        counts.append(2)
    return labels_


def known_methods(extraction: fc.Extraction) -> dict[str, np.ndarray]:
    """Labels of the four known recipes on an extraction's faces."""
    import dlib

    faces = extraction.faces
    face = faces.face_embedding
    vectors = [dlib.vector(v.astype(float)) for v in face]
    fused = np.hstack([face, 0.7 * faces.cloth_feature])
    single = AgglomerativeClustering(n_clusters=None, linkage="single", distance_threshold=0.5)
    return {
        "DBSCAN eps 0.5, min_samples 5": DBSCAN(eps=0.5, min_samples=5).fit_predict(face),
        "chinese whispers 0.5 (dlib)": np.array(dlib.chinese_whispers_clustering(vectors, 0.5)),
        "greedy nearest mean 0.44": greedy_nearest_mean(face),
        "single linkage, face + 0.7 x clothing": single.fit_predict(fused)
        if len(face) > 1
        else np.zeros(len(face)),
    }


def evaluate(extraction: fc.Extraction, name: str, raw_labels: np.ndarray) -> dict:
    metrics = fc.evaluate(extraction.faces.table.assign(cluster=raw_labels), labels(name))
    return {k: metrics[k] for k in METRICS}


def main() -> None:
    defaults = fc.ClusterParams()
    plain = replace(defaults, eps=thresholds("dlib").eps)  # what a clip without evidence gets
    comparison, sweep, encoder = [], [], []
    for name in LABELLED:
        clip = DATA / "clips" / name
        yunet, hog, untracked = fc.extract(clip), fc.extract(clip, HOG), fc.extract(clip, NO_TRACKS)
        for detector, extraction in (("HOG", hog), ("YuNet", untracked)):
            for method, raw in known_methods(extraction).items():
                comparison.append(
                    {"clip": name, "faces": detector, "method": method, **evaluate(extraction, name, raw)}
                )
        faces, tracked = untracked.faces, yunet.faces
        frames = faces.table["frame_index"].to_numpy()
        clip_wide = Clusterer(faces.face_embedding, faces.cloth_feature, faces.has_cloth, frames)
        untracked_shots = faces.table["shot_id"].to_numpy()
        frames, shots, tracks = (tracked.table[c].to_numpy() for c in ("frame_index", "shot_id", "track_id"))
        variants = [
            ("no tracks, face only", clip_wide, untracked, replace(plain, weight=0.0)),
            ("no tracks, face + clothing (the earlier default)", clip_wide, untracked, plain),
            (
                "no tracks, face + clothing within shots",
                Clusterer(
                    faces.face_embedding, faces.cloth_feature, faces.has_cloth, frames, untracked_shots
                ),
                untracked,
                plain,
            ),
        ]
        for metric, vectors in (("", tracked.face_embedding), ("learned metric, ", yunet.face_vectors)):
            eps = calibrated_eps(different_person_distances(vectors, tracked.table), yunet.thresholds)
            for rule, by_track in (("", None), ("ambiguous tracks and glimpses out, ", tracks)):
                clusterer = Clusterer(
                    vectors, tracked.cloth_feature, tracked.has_cloth, frames, shots, by_track
                )
                for what, weight in (("face only", 0.0), ("clothing within shots", defaults.weight)):
                    title = f"tracks, {metric}{rule}{what}, eps {eps}"
                    default = metric and rule and weight == defaults.weight
                    params = replace(defaults, weight=weight, eps=eps)
                    variants.append((title + " (default)" * bool(default), clusterer, yunet, params))
        variants += [
            (
                f"the default but {algorithm}",
                yunet.clusterer,
                yunet,
                yunet.resolve(params),
            )
            for algorithm in fc.ALGORITHMS
            if algorithm != defaults.algorithm
            for params in [replace(defaults, algorithm=algorithm)]
        ]
        for title, clusterer, extraction, params in variants:
            labels_ = clusterer.labels(params)
            comparison.append(
                {"clip": name, "faces": "YuNet", "method": title, **evaluate(extraction, name, labels_)}
            )
        for title, extraction in (("every face", untracked), ("tracks", yunet)):
            table_ = extraction.faces.table
            encoder.append(
                {
                    "clip": name,
                    "encoded": title,
                    "faces": len(table_),
                    "tracks": table_["track_id"].nunique(),
                    "shots": table_["shot_id"].nunique(),
                    "faces encoded": int(table_["encoded"].sum()),
                    "share encoded": f"{table_['encoded'].mean():.2f}",
                    "extraction s (cold)": extraction.meta["extract_s"],
                }
            )
        for weight in (0.0, 0.1, 0.2, 0.3, 0.5):
            row = {"clip": name, "weight": weight}
            for eps in (0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7):
                params = fc.ClusterParams(weight=weight, eps=eps)
                row[f"eps {eps}"] = evaluate(yunet, name, fc.cluster(yunet, params))["bcubed_f"]
            sweep.append(row)
    print("## Known methods against faceclust (end-to-end, labelled faces)\n")
    print(table(comparison))
    print("\n## Faces the encoder sees\n")
    print(table(encoder))
    print(f"\n## BCubed F over clothing weight x eps (agglomerative, min_samples {defaults.min_samples})\n")
    print(table(sweep))


if __name__ == "__main__":
    main()
