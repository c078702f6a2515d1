"""Score clusters against hand-checked labels (ARCHITECTURE.md, "Ground truth and metrics").

A predicted face matches a labelled face of the same frame_index when their boxes' IoU is at
least 0.3 (greedy, highest IoU first). Scores are end-to-end over the scored labelled faces
(identity not ``ignore``): a labelled face that was not detected, or whose face is unassigned,
counts as a singleton cluster of its own.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .errors import BadInput
from .table import BOX, iou

MIN_IOU = 0.3
LABEL_COLUMNS = ["frame_index", *BOX, "identity"]


def read_table(path: str | Path, columns: list[str], what: str) -> pd.DataFrame:
    """Read a CSV that must have ``columns``; BadInput with a clear line otherwise."""
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError) as e:
        raise BadInput(f"cannot read {what} {path}: {e}") from None
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise BadInput(f"{what} {path} lacks column(s): {', '.join(missing)}")
    return table


def match_faces(faces: pd.DataFrame, labels: pd.DataFrame) -> np.ndarray:
    """For each label row, the positional index of its matched face row, or -1."""
    matched = np.full(len(labels), -1)
    face_frames = faces["frame_index"].to_numpy()
    for frame, rows in labels.groupby("frame_index").indices.items():
        candidates = np.flatnonzero(face_frames == frame)
        if not len(candidates):
            continue
        overlap = iou(labels[BOX].to_numpy(float)[rows], faces[BOX].to_numpy(float)[candidates])
        while overlap.size and overlap.max() >= MIN_IOU:
            i, j = np.unravel_index(np.argmax(overlap), overlap.shape)
            matched[rows[i]] = candidates[j]
            overlap[i, :] = overlap[:, j] = -1
    return matched


def identities(faces: pd.DataFrame, labels: pd.DataFrame) -> np.ndarray:
    """Each face's labelled identity (object array, row-aligned with ``faces``), None where it
    matches no scored label."""
    labels = labels[labels["identity"] != "ignore"].reset_index(drop=True)
    out = np.full(len(faces), None, dtype=object)
    matched = match_faces(faces, labels)
    out[matched[matched >= 0]] = labels["identity"].to_numpy()[matched >= 0]
    return out


def _bcubed(truth: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    same_pred = pred[:, None] == pred[None, :]
    same_truth = truth[:, None] == truth[None, :]
    both = (same_pred & same_truth).sum(axis=1)
    return float(np.mean(both / same_pred.sum(axis=1))), float(np.mean(both / same_truth.sum(axis=1)))


def _pairwise(truth: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    upper = np.triu(np.ones((len(truth), len(truth)), bool), 1)
    same_pred = (pred[:, None] == pred[None, :]) & upper
    same_truth = (truth[:, None] == truth[None, :]) & upper
    tp = (same_pred & same_truth).sum()
    precision = tp / same_pred.sum() if same_pred.any() else 1.0
    recall = tp / same_truth.sum() if same_truth.any() else 1.0
    return float(precision), float(recall)


def _f(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def same_frame_violations(faces: pd.DataFrame) -> int:
    """Pairs of faces of one frame in one cluster (must be 0)."""
    assigned = faces[faces["cluster"] >= 0]
    counts = assigned.groupby(["frame_index", "cluster"]).size()
    return int((counts * (counts - 1) // 2).sum())


def evaluate(faces: pd.DataFrame, labels: pd.DataFrame) -> dict[str, float]:
    """Metrics of predicted ``faces`` (face table with ``cluster``) against ``labels``.

    Returns coverage, bcubed_precision/recall/f, pairwise_precision/recall/f, nmi, wcp (weighted
    cluster purity), same_frame_violations and the counts they rest on.
    """
    from sklearn.metrics import normalized_mutual_info_score

    labels = labels[labels["identity"].astype(str) != "ignore"].reset_index(drop=True)
    if labels.empty:
        raise BadInput("the labels file has no scored faces")
    matched = match_faces(faces, labels)
    clusters = faces["cluster"].to_numpy()
    pred = np.where(matched >= 0, clusters[np.maximum(matched, 0)], -1)
    # Undetected and unassigned faces are singletons: give each its own negative id.
    pred = np.where(pred >= 0, pred, -1 - np.arange(len(pred)))
    truth = pd.factorize(labels["identity"].astype(str))[0]
    bp, br = _bcubed(truth, pred)
    pp, pr = _pairwise(truth, pred)
    purity = pd.crosstab(pred, truth).max(axis=1).sum() / len(truth)
    return {
        "labelled_faces": len(labels),
        "detected_faces": len(faces),
        "coverage": float(np.mean(matched >= 0)),
        "bcubed_precision": bp,
        "bcubed_recall": br,
        "bcubed_f": _f(bp, br),
        "pairwise_precision": pp,
        "pairwise_recall": pr,
        "pairwise_f": _f(pp, pr),
        "nmi": float(normalized_mutual_info_score(truth, pred)),
        "wcp": float(purity),
        "clusters": len(np.unique(clusters[clusters >= 0])),
        "same_frame_violations": same_frame_violations(faces),
    }
