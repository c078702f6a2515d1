"""Face embedders compared: photo sets, the labelled clips end to end, and speed.

For each embedder (dlib and the ArcFace-style MobileFaceNet kept for tests, standing in for
SFace and the models users bring) and each labelled photo set (the East-Asian
``kpop_idols_photos`` and ``kpop_idols_crops``, the Western LFW subset): the largest face YuNet
finds in each photo is embedded (crops are padded first: YuNet wants some room around a face),
then every pair of photos gives a same-person or a different-person distance. Reported: ROC AUC
of distance as a same-person test, true-accept rate at 1 % and 0.1 % false accepts (and the
distance thresholds that give them), the equal-error distance, leave-one-out rank-1 (the
nearest other photo is the same person), and the embedding time per face on one core (wall
clock, the faces in the model's batches). Then ``faceclust run`` with each embedder's defaults
on every labelled clip (BCubed F, coverage, eps) and a cold run on multi_face.avi against
decoding + detection alone, in the same run.

    .venv/bin/python bench/embedders.py
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from sklearn.metrics import roc_auc_score
from speed import run_stage

import faceclust as fc
from faceclust.detect import DetectParams, detect_faces
from faceclust.embed import embedder, face_crop

from common import DATA, LABELLED, labels, table

EMBEDDERS = {"dlib": "dlib", "MobileFaceNet (test)": f"onnx:{DATA / 'models' / 'mobilefacenet_test.onnx'}"}
PHOTO_SETS = ["kpop_idols_photos", "kpop_idols_crops", "lfw_deepfunneled_subset"]
CLIPS = [*LABELLED, "mudo_variety.mp4"]
UNLABELLED = ["song_kbs_interview.mp4", "ytn_news.mp4", "filmset_songkangho.mp4"]


def photo_faces(folder: Path) -> tuple[list[tuple], np.ndarray, int]:
    """The largest face of every photo under ``folder/<person>/``: face inputs (``face_crop``),
    each one's person (P,) and the number of photos where YuNet found no face."""
    detector = DetectParams(detector="yunet", min_score=0.6)
    faces, people, missed = [], [], 0
    for person in sorted(p for p in folder.iterdir() if p.is_dir()):
        for photo in sorted(person.iterdir()):
            image = cv2.imread(str(photo))
            if image is None:
                continue
            if max(image.shape[:2]) <= 200:  # a tight crop: give YuNet room around the face
                image = cv2.copyMakeBorder(image, *(image.shape[0] // 2,) * 4, cv2.BORDER_REPLICATE)
            found = detect_faces(image, detector)
            if not found:
                missed += 1
                continue
            box, _, landmarks = max(found, key=lambda d: (d[0][2] - d[0][0]) * (d[0][1] - d[0][3]))
            faces.append(face_crop(image, box, landmarks))
            people.append(person.name)
    return faces, np.array(people), missed


def photo_rows(name: str) -> list[dict]:
    faces, people, missed = photo_faces(DATA / "faces" / name)
    rows = []
    for title, embedder_name in EMBEDDERS.items():
        model = embedder(fc.EmbedParams(embedder_name).resolved())
        sr = fc.SRParams().resolved()
        started = time.perf_counter()
        vectors = model.embed(faces, sr)  # in the model's batches, as extraction does a frame's faces
        per_face_ms = 1000 * (time.perf_counter() - started) / len(faces)
        dist = np.linalg.norm(vectors[:, None] - vectors[None], axis=2)
        upper = np.triu_indices(len(vectors), 1)
        same = (people[:, None] == people[None, :])[upper]
        d = dist[upper]
        at_1, at_01 = np.quantile(d[~same], [0.01, 0.001])
        # Equal error: the distance where as many same-person pairs lie above as different below.
        grid = np.linspace(0, 2, 2001)
        equal = grid[
            np.argmin(np.abs((d[same][:, None] > grid).mean(0) - (d[~same][:, None] <= grid).mean(0)))
        ]
        np.fill_diagonal(dist, np.inf)
        rows.append(
            {
                "set": name,
                "embedder": title,
                "people": len(set(people)),
                "faces": f"{len(faces)} ({missed} missed)",
                "same median": float(np.median(d[same])),
                "different median": float(np.median(d[~same])),
                "ROC AUC": float(roc_auc_score(same, -d)),
                "TAR @ FAR 1 %": float((d[same] <= at_1).mean()),
                "at distance": float(at_1),
                "TAR @ FAR 0.1 %": float((d[same] <= at_01).mean()),
                "at distance ": float(at_01),
                "equal error at": float(equal),
                "rank-1": float((people[dist.argmin(axis=1)] == people).mean()),
                "ms / face": f"{per_face_ms:.0f}",
            }
        )
    return rows


def extractions(clips: list[str]) -> Iterator[tuple[str, str, fc.Extraction]]:
    """(clip, embedder title, extraction with that embedder's defaults) for every clip and embedder."""
    for name in clips:
        for title, embedder_name in EMBEDDERS.items():
            params = fc.ExtractParams(embed=fc.EmbedParams(embedder_name))
            yield name, title, fc.extract(DATA / "clips" / name, params)


def clip_rows() -> list[dict]:
    rows = []
    for name, title, extraction in extractions(CLIPS):
        params = extraction.resolve(fc.ClusterParams())
        table_ = extraction.faces.table.assign(cluster=fc.cluster(extraction, params))
        metrics = fc.evaluate(table_, labels(name))
        rows.append(
            {
                "clip": name,
                "embedder": title,
                "faces": len(table_),
                "tracks": table_["track_id"].nunique(),
                "eps": f"{params.eps:.2f} ({extraction.eps_source(fc.ClusterParams())})",
                "coverage": metrics["coverage"],
                "bcubed_precision": metrics["bcubed_precision"],
                "bcubed_recall": metrics["bcubed_recall"],
                "bcubed_f": metrics["bcubed_f"],
            }
        )
    return rows


def unlabelled_rows() -> list[dict]:
    """What each embedder makes of the unlabelled Korean clips: no scores, only counts."""
    rows = []
    for name, title, extraction in extractions(UNLABELLED):
        labels_ = fc.cluster(extraction)
        sizes = np.bincount(labels_[labels_ >= 0])
        rows.append(
            {
                "clip": name,
                "embedder": title,
                "faces": len(labels_),
                "tracks": extraction.faces.table["track_id"].nunique(),
                "eps": f"{extraction.resolve(fc.ClusterParams()).eps:.2f}",
                "people": len(sizes),
                "faces per person": " ".join(map(str, sizes)),
                "unassigned": int((labels_ < 0).sum()),
            }
        )
    return rows


def speed_rows() -> list[dict]:
    clip = DATA / "clips" / "multi_face.avi"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        floor = run_stage("decode + detect", clip, tmp / "cache-floor", tmp / "out")["seconds"]
        rows.append({"stage": "decode + detect", "seconds": f"{floor:.1f}", "x floor": "1.0"})
        for title, embedder_name in EMBEDDERS.items():
            cache = tmp / f"cache-{title}"
            cold = run_stage("faceclust run, cold cache", clip, cache, tmp / "out", embedder_name)["seconds"]
            rows.append(
                {
                    "stage": f"faceclust run, cold cache, {title}",
                    "seconds": f"{cold:.1f}",
                    "x floor": f"{cold / floor:.1f}",
                }
            )
    return rows


def main() -> None:
    cv2.setNumThreads(1)  # per-face times on one core, as each extraction worker runs
    print("## Photo sets (largest face of each photo, every pair)\n")
    print(table([row for name in PHOTO_SETS for row in photo_rows(name)]))
    print("\n## Labelled clips, each embedder's defaults\n")
    print(table(clip_rows()))
    print("\n## Unlabelled Korean clips, each embedder's defaults\n")
    print(table(unlabelled_rows()))
    print("\n## Cold run on multi_face.avi (2 cores) against decode + detect, same run\n")
    print(table(speed_rows()))


if __name__ == "__main__":
    main()
