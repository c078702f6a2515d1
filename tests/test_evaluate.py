import pandas as pd
import pytest

from faceclust.evaluate import evaluate


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
