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


def read_labels(path: str | Path) -> pd.DataFrame:
    """A labels file (``LABEL_COLUMNS``: one row per labelled face); BadInput when unreadable."""
    return read_table(path, LABEL_COLUMNS, "labels file")


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


def at_sampled_frames(labels: pd.DataFrame, frames: np.ndarray, within: int) -> pd.DataFrame:
    """``labels`` with each row's frame_index moved to the nearest of ``frames`` (sampled frame
    indices, sorted) at most ``within`` frames away: for faces sampled off the labels' grid
    (``SamplingParams.frames`` cheap). A row with none keeps its frame (and matches no face)."""
    if not len(frames):
        return labels
    wanted = labels["frame_index"].to_numpy()
    after = np.clip(np.searchsorted(frames, wanted), 0, len(frames) - 1)
    before = np.clip(after - 1, 0, len(frames) - 1)
    earlier = np.abs(frames[before] - wanted) <= np.abs(frames[after] - wanted)
    nearest = np.where(earlier, frames[before], frames[after])
    return labels.assign(frame_index=np.where(np.abs(nearest - wanted) <= within, nearest, wanted))


def identities(faces: pd.DataFrame, labels: pd.DataFrame) -> np.ndarray:
    """Each face's labelled identity (object array, row-aligned with ``faces``), None where it
    matches no scored label."""
    labels = labels[labels["identity"] != "ignore"].reset_index(drop=True)
    out = np.full(len(faces), None, dtype=object)
    matched = match_faces(faces, labels)
    out[matched[matched >= 0]] = labels["identity"].to_numpy()[matched >= 0]
    return out


def _contingency(truth: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The contingency table of two labelings (N,) in O(N) memory (no N x N matrix: 400 MB at
    20,000 faces): the count n_ij of each non-empty cell (C,), and each cell's predicted row
    and true column (C,) as indices into ``np.bincount`` totals."""
    _, pred_code = np.unique(pred, return_inverse=True)
    _, truth_code = np.unique(truth, return_inverse=True)
    cells, count = np.unique(np.stack([pred_code, truth_code], axis=1), axis=0, return_counts=True)
    return count.astype(np.float64), cells[:, 0], cells[:, 1]


def _pairs(sizes: np.ndarray) -> float:
    """Pairs within groups of these sizes."""
    return float((sizes * (sizes - 1) / 2).sum())


def _scores(truth: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """BCubed and pairwise precision and recall, the adjusted Rand index (Hubert and Arabie) and
    weighted cluster purity of ``pred`` against ``truth``, from their contingency table."""
    count, row, col = _contingency(truth, pred)
    rows, cols = np.bincount(row, weights=count), np.bincount(col, weights=count)
    total = count.sum()
    together, pred_pairs, truth_pairs = _pairs(count), _pairs(rows), _pairs(cols)
    all_pairs = _pairs(np.array([total]))
    expected = pred_pairs * truth_pairs / all_pairs if all_pairs else 0.0
    chance_free = (pred_pairs + truth_pairs) / 2 - expected
    purity = np.zeros(len(rows))
    np.maximum.at(purity, row, count)
    return {
        "bcubed_precision": float((count * count / rows[row]).sum() / total),
        "bcubed_recall": float((count * count / cols[col]).sum() / total),
        "pairwise_precision": together / pred_pairs if pred_pairs else 1.0,
        "pairwise_recall": together / truth_pairs if truth_pairs else 1.0,
        "ari": (together - expected) / chance_free if chance_free else 1.0,
        "wcp": float(purity.sum() / total),
    }


def _f(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def same_frame_violations(faces: pd.DataFrame) -> int:
    """Pairs of faces of one frame in one cluster (must be 0)."""
    assigned = faces[faces["cluster"] >= 0]
    counts = assigned.groupby(["frame_index", "cluster"]).size()
    return int((counts * (counts - 1) // 2).sum())


def evaluate(faces: pd.DataFrame, labels: pd.DataFrame, within: int = 0) -> dict[str, float]:
    """Metrics of predicted ``faces`` (face table with ``cluster``) against ``labels``; with
    ``within`` > 0, each label is matched in the frame holding faces nearest to its own, at most
    ``within`` frames away (``at_sampled_frames``: a sampled frame without faces is not known
    here, and a label next to one is looked for in the nearest frame with faces).

    Returns coverage, bcubed_precision/recall/f, pairwise_precision/recall/f, ari (adjusted Rand
    index), nmi, wcp (weighted cluster purity), same_frame_violations and the counts they rest
    on. Every score comes from the contingency table: O(N) memory.
    """
    from sklearn.metrics import normalized_mutual_info_score

    labels = labels[labels["identity"].astype(str) != "ignore"].reset_index(drop=True)
    if labels.empty:
        raise BadInput("the labels file has no scored faces")
    if within:
        labels = at_sampled_frames(labels, np.unique(faces["frame_index"].to_numpy()), within)
    matched = match_faces(faces, labels)
    clusters = faces["cluster"].to_numpy()
    pred = np.where(matched >= 0, clusters[np.maximum(matched, 0)], -1)
    # Undetected and unassigned faces are singletons: give each its own negative id.
    pred = np.where(pred >= 0, pred, -1 - np.arange(len(pred)))
    truth = pd.factorize(labels["identity"].astype(str))[0]
    scores = _scores(truth, pred)
    return {
        "labelled_faces": len(labels),
        "detected_faces": len(faces),
        "coverage": float(np.mean(matched >= 0)),
        "bcubed_precision": scores["bcubed_precision"],
        "bcubed_recall": scores["bcubed_recall"],
        "bcubed_f": _f(scores["bcubed_precision"], scores["bcubed_recall"]),
        "pairwise_precision": scores["pairwise_precision"],
        "pairwise_recall": scores["pairwise_recall"],
        "pairwise_f": _f(scores["pairwise_precision"], scores["pairwise_recall"]),
        "ari": scores["ari"],
        "nmi": float(normalized_mutual_info_score(truth, pred)),
        "wcp": scores["wcp"],
        "clusters": len(np.unique(clusters[clusters >= 0])),
        "same_frame_violations": same_frame_violations(faces),
    }
