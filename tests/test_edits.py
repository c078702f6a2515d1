import numpy as np

from faceclust.edits import Edits


def test_merge_move_rename_and_hide():
    labels = np.array([0, 0, 1, 1, 2, -1])
    ids = np.array([10, 11, 12, 13, 14, 15])
    edits = Edits()
    edits.merge([2], into=1)
    edits.merge([1], into=0)  # chains: 2 -> 1 -> 0
    edits.moved[15] = 1  # into a cluster that was merged away: lands where 1 went
    edits.moved[10] = -1
    edits.names[0] = "Yoo Jae-suk"
    edits.hidden.add(3)
    assert list(edits.apply(labels, ids)) == [-1, 0, 0, 0, 0, 0]
    assert edits.name(0) == "Yoo Jae-suk" and edits.name(1) == "person_01" and edits.name(-1) == "unassigned"
    assert len(edits) == 6
    assert list(edits.names_of(np.array([1, 0, -1, 1]))) == [
        "person_01",
        "Yoo Jae-suk",
        "unassigned",
        "person_01",
    ]
    assert edits.names_of(np.array([], int)).shape == (0,)


def test_merging_into_itself_changes_nothing():
    edits = Edits()
    edits.merge([1], into=0)
    edits.merge([0], into=1)  # 0 and 1 are already one cluster
    assert list(edits.apply(np.array([0, 1]), np.array([1, 2]))) == [0, 0]
