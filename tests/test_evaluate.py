import tracemalloc

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from faceclust.evaluate import _scores, evaluate


def _labels(rows):
    return pd.DataFrame(rows, columns=["frame_index", "top", "right", "bottom", "left", "identity"])


def _faces(rows):
    return pd.DataFrame(rows, columns=["frame_index", "top", "right", "bottom", "left", "cluster"])


LABELS = _labels(
    [
        (0, 0, 10, 10, 0, "a"),
        (0, 0, 30, 10, 20, "b"),
        (1, 0, 10, 10, 0, "a"),
        (1, 0, 30, 10, 20, "b"),
        (2, 0, 10, 10, 0, "a"),
        (2, 50, 60, 60, 50, "ignore"),
    ]
)


def test_perfect_clustering_scores_one():
    faces = _faces(
        [
            (0, 1, 10, 10, 1, 0),
            (0, 0, 30, 10, 20, 1),
            (1, 0, 10, 10, 0, 0),
            (1, 0, 30, 10, 20, 1),
            (2, 0, 10, 10, 0, 0),
        ]
    )
    m = evaluate(faces, LABELS)
    assert m["coverage"] == 1 and m["bcubed_f"] == 1 and m["pairwise_f"] == 1
    assert m["nmi"] == pytest.approx(1) and m["wcp"] == 1 and m["same_frame_violations"] == 0
    assert m["labelled_faces"] == 5  # "ignore" is not scored


def test_missed_and_merged_faces_are_scored_end_to_end():
    # Frame 2's "a" is not detected (a singleton); both people merged elsewhere.
    faces = _faces([(0, 0, 10, 10, 0, 0), (0, 0, 30, 10, 20, 0), (1, 0, 10, 10, 0, 0), (1, 0, 30, 10, 20, 0)])
    m = evaluate(faces, LABELS)
    assert m["coverage"] == pytest.approx(0.8)
    # Precision: four faces in a cluster of 4 with 2 of their own: 0.5 each; the singleton 1.
    assert m["bcubed_precision"] == pytest.approx((4 * 0.5 + 1) / 5)
    # Recall: a's: 2/3, 2/3, 1/3; b's: 1, 1.
    assert m["bcubed_recall"] == pytest.approx((2 / 3 + 2 / 3 + 1 / 3 + 1 + 1) / 5)
    assert m["pairwise_precision"] == pytest.approx(2 / 6) and m["pairwise_recall"] == pytest.approx(2 / 4)
    assert m["same_frame_violations"] == 2


def test_boxes_below_the_iou_threshold_do_not_match():
    faces = _faces([(0, 0, 40, 40, 30, 0)])  # overlaps "b" (IoU 0.25 < 0.3)
    assert evaluate(faces, LABELS)["coverage"] == 0


def _by_pairs(truth: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """The scores from N x N same-cluster matrices: the textbook definitions, for reference."""
    same_pred, same_truth = pred[:, None] == pred[None, :], truth[:, None] == truth[None, :]
    both = same_pred & same_truth
    upper = np.triu(np.ones(both.shape, bool), 1)
    purity = pd.crosstab(pred, truth).max(axis=1).sum() / len(truth)
    return {
        "bcubed_precision": np.mean(both.sum(1) / same_pred.sum(1)),
        "bcubed_recall": np.mean(both.sum(1) / same_truth.sum(1)),
        "pairwise_precision": (both & upper).sum() / max((same_pred & upper).sum(), 1),
        "pairwise_recall": (both & upper).sum() / max((same_truth & upper).sum(), 1),
        "ari": adjusted_rand_score(truth, pred),
        "wcp": purity,
    }


@pytest.mark.parametrize("seed", range(5))
def test_contingency_scores_equal_the_pairwise_definitions(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 400))
    truth = rng.integers(0, rng.integers(1, 12), n)
    pred = np.where(rng.random(n) < 0.7, truth, rng.integers(-n, 15, n))  # some mistakes, singletons
    got, want = _scores(truth, pred), _by_pairs(truth, pred)
    assert got.keys() == want.keys()
    for key in got:
        assert got[key] == pytest.approx(want[key], abs=1e-12), key


def test_scoring_an_episode_of_faces_holds_no_n_by_n_matrix():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 30, 20_000)
    pred = np.where(rng.random(20_000) < 0.9, truth, -1 - np.arange(20_000))
    tracemalloc.start()
    scores = _scores(truth, pred)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20e6  # an N x N boolean matrix alone is 400 MB
    assert scores["ari"] == pytest.approx(adjusted_rand_score(truth, pred), abs=1e-12)
