import importlib

import numpy as np
import pytest
from scipy.spatial.distance import squareform

from faceclust import fuse
from faceclust.cache import kept_array
from faceclust.cluster import ALGORITHMS, Clusterer, ClusterParams, cluster_faces
from faceclust.errors import BadInput
from faceclust.track_rules import AMBIGUITY, TrackRules


def _people(rng, sizes, spread=0.08, dim=128):
    """Unit vectors around one random centre per person; returns (vectors, person of each)."""
    centres = rng.normal(size=(len(sizes), dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    person = np.repeat(np.arange(len(sizes)), sizes)
    x = centres[person] + rng.normal(scale=spread / np.sqrt(dim), size=(len(person), dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), person


@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
def test_every_algorithm_finds_separated_people_numbered_by_size(algorithm):
    rng = np.random.default_rng(0)
    face, person = _people(rng, [30, 20, 10])
    cloth = np.zeros((len(face), 4), np.float32)
    frames = np.concatenate([np.arange(30), np.arange(20), np.arange(10)])
    labels = cluster_faces(
        face, cloth, np.zeros(len(face), bool), frames, ClusterParams(algorithm, 0.0, 0.5, 3)
    )
    assert np.array_equal(labels, person)


@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
def test_two_faces_of_one_frame_never_share_a_cluster(algorithm):
    rng = np.random.default_rng(3)
    face, _ = _people(rng, [40], spread=0.5)  # one tight blob...
    frames = np.arange(40) // 2  # ...but two faces in every frame
    labels = cluster_faces(
        face, face[:, :4], np.zeros(40, bool), frames, ClusterParams(algorithm, 0.0, 1.5, 2)
    )
    for frame in range(20):
        pair = labels[frames == frame]
        assert pair[0] < 0 or pair[0] != pair[1]


def test_clothing_pulls_one_person_together():
    rng = np.random.default_rng(4)
    face, person = _people(rng, [10, 10], spread=0.2)
    face[10:] = face[:10] * 0.6 + face[10:] * 0.4  # two look-alike people...
    face /= np.linalg.norm(face, axis=1, keepdims=True)
    cloth = np.eye(4, dtype=np.float32)[person]  # ...in different clothes
    frames = np.arange(20)
    has = np.ones(20, bool)
    face_only = cluster_faces(face, cloth, has, frames, ClusterParams(weight=0.0, eps=0.9))
    fused = cluster_faces(face, cloth, has, frames, ClusterParams(weight=0.3, eps=0.6))
    assert len(set(face_only)) == 1
    assert np.array_equal(fused, person)


def test_small_clusters_are_unassigned_and_empty_input_is_fine():
    rng = np.random.default_rng(5)
    face, _ = _people(rng, [5, 1])
    labels = cluster_faces(
        face, face[:, :4], np.zeros(6, bool), np.arange(6), ClusterParams(eps=0.5, min_samples=2)
    )
    assert list(labels) == [0, 0, 0, 0, 0, -1]
    assert cluster_faces(
        face[:0], face[:0, :4], np.zeros(0, bool), np.arange(0), ClusterParams(eps=0.5)
    ).shape == (0,)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (ClusterParams(eps=0), "--eps"),
        (ClusterParams(eps=-1), "--eps"),
        (ClusterParams(weight=1.5), "--weight"),
        (ClusterParams(weight=-0.1), "--weight"),
        (ClusterParams(min_samples=0), "--min-samples"),
        (ClusterParams(algorithm="kmeans"), "agglomerative, dbscan"),
    ],
)
def test_absurd_parameters_are_bad_input(params, message):
    with pytest.raises(BadInput, match=message):
        params.validate()


def test_prefitted_weights_give_the_same_labels_as_fitting_on_demand():
    from faceclust.cluster import Clusterer

    rng = np.random.default_rng(6)
    face, _ = _people(rng, [15, 15], spread=0.4)
    cloth = rng.random((30, 4)).astype(np.float32)
    cloth /= np.linalg.norm(cloth, axis=1, keepdims=True)
    args = (face, cloth, np.ones(30, bool), np.arange(30))
    prefitted = Clusterer(*args)
    prefitted.prefit([0.15, 0.3])
    for weight in (0.15000000000000002, 0.3):  # a slider's float is the same weight
        params = ClusterParams(weight=weight, eps=0.6)
        assert np.array_equal(prefitted.labels(params), Clusterer(*args).labels(params))
    assert len(prefitted._trees) == 2


def test_a_kept_tree_is_read_by_a_clusterer_of_the_same_faces_only(tmp_path, monkeypatch):
    """An episode's tree takes seconds per weight: a server started again (a new Clusterer of the
    same faces) reads the trees the last one kept in the cache entry instead of linking its
    points again; faces with other vectors never read it, and a damaged file is made again."""
    cluster = importlib.import_module("faceclust.cluster")  # the package's `cluster` is a function
    rng = np.random.default_rng(7)
    face, _ = _people(rng, [20, 20, 20], spread=0.4)
    args = (face, np.zeros((60, 4), np.float32), np.zeros(60, bool), np.arange(60))
    params = ClusterParams(weight=0.2, eps=0.6)
    expected = Clusterer(*args).labels(params)
    assert np.array_equal(Clusterer(*args, trees_in=tmp_path).labels(params), expected)
    (kept,) = tmp_path.glob("*.npy")

    def linked(*_):
        raise AssertionError("linked again")

    monkeypatch.setattr(cluster, "average_linkage", linked)
    assert np.array_equal(Clusterer(*args, trees_in=tmp_path).labels(params), expected)  # read back
    with pytest.raises(AssertionError, match="linked again"):  # other vectors: not that tree
        Clusterer(face * 0.99, *args[1:], trees_in=tmp_path).labels(params)
    monkeypatch.undo()
    kept.write_bytes(b"not a tree")
    assert np.array_equal(Clusterer(*args, trees_in=tmp_path).labels(params), expected)  # made again
    assert kept_array(kept, (59, 4)) is not None


def test_the_tree_over_track_parts_cuts_as_average_linkage_over_every_face():
    """Faces of a track share their vectors: the tree is built over the track parts, each
    weighing its faces, and must cut into the groups scipy's average linkage over the faces gives,
    same-frame pairs kept apart, at every eps."""
    from scipy.cluster.hierarchy import fcluster, linkage

    from faceclust.cluster import Clusterer

    rng = np.random.default_rng(7)
    parts = 600
    face, _ = _people(rng, [parts // 6] * 6, spread=0.6)
    cloth = rng.random((parts, 4)).astype(np.float32)
    cloth /= np.linalg.norm(cloth, axis=1, keepdims=True)
    length = rng.integers(1, 9, parts)  # faces per track part: 2,700 faces, three blocks of rows
    of_face = np.repeat(np.arange(parts), length)
    start = rng.integers(0, 400, parts)  # a track part's faces are consecutive frames
    frames = start[of_face] + np.concatenate([np.arange(k) for k in length])
    has_cloth = np.repeat(rng.random(parts) > 0.3, length)
    clusterer = Clusterer(face[of_face], cloth[of_face], has_cloth, frames, np.repeat(start // 100, length))
    assert len(clusterer.points.first) == parts < clusterer.n
    for weight in (0.0, 0.3):
        faces = linkage(squareform(clusterer.constrained_distances(weight), checks=False), "average")
        points = clusterer.tree(weight)
        for eps in np.linspace(0.3, 1.3, 11):
            expected = fcluster(faces, eps, "distance")
            got = fcluster(points, eps, "distance")[clusterer.points.of_face]
            assert len(set(zip(expected, got, strict=True))) == len(set(expected)) == len(set(got)), (
                weight,
                eps,
            )


@pytest.mark.parametrize(("angle", "assigned"), [(0.40, False), (0.2, True)])
def test_a_track_about_as_close_to_another_person_as_to_its_own_is_left_unassigned(angle, assigned):
    from faceclust.cluster import Clusterer

    def unit(theta: float) -> np.ndarray:
        vector = np.zeros(128, np.float32)
        vector[:2] = np.cos(theta), np.sin(theta)
        return vector

    # Person A (track 0) at angle 0, person B (track 1) at 0.81 rad (0.79 apart), one face between.
    face = np.stack([unit(0.0)] * 5 + [unit(0.81)] * 5 + [unit(angle)])
    tracks, frames = np.repeat([0, 1, 2], [5, 5, 1]), np.arange(11)
    args = (face, face[:, :4], np.zeros(11, bool), frames, None)
    params = ClusterParams(weight=0.0, eps=0.45, min_samples=1)
    boxes_only = Clusterer(*args).labels(params)
    assert boxes_only[10] == boxes_only[0]  # average linkage alone takes it into A
    labels = Clusterer(*args, tracks).labels(params)
    assert (labels[10] == labels[0]) == assigned and (labels[10] == -1) != assigned
    assert len(set(labels[:5])) == 1 and len(set(labels[5:10])) == 1 and labels[0] != labels[5]


def test_a_person_seen_only_in_single_face_glimpses_is_unassigned_where_tracking_works():
    from faceclust.cluster import Clusterer

    rng = np.random.default_rng(3)
    face, person = _people(rng, [12, 12, 4])
    # People 0 and 1 are followed in tracks of 4 faces; person 2 is four one-face glimpses.
    tracks = np.concatenate([np.repeat(np.arange(6), 4), 6 + np.arange(4)])
    frames = np.arange(len(face))
    args = (face, face[:, :4], np.zeros(len(face), bool), frames, None)
    params = ClusterParams(weight=0.0, eps=0.5, min_samples=2)
    assert len(set(Clusterer(*args).labels(params))) == 3  # without tracks: three people
    labels = Clusterer(*args, tracks).labels(params)
    assert (labels[person == 2] == -1).all() and set(labels[person < 2]) == {0, 1}
    # Where most faces are glimpses (a large frame step), the rule is off.
    alone = np.arange(len(face))
    assert len(set(Clusterer(*args, alone).labels(params))) == 3


@pytest.mark.parametrize("block", [7, 13, 64])
def test_every_distance_route_is_symmetric_whatever_the_blocks(monkeypatch, block):
    """Exact equality, not closeness: HDBSCAN rejects a matrix that is symmetric only up to
    rounding, and the BLAS kernel (so the rounding) depends on the block's shape and the CPU."""
    monkeypatch.setattr(fuse, "BLOCK", block)  # 7 and 13 split the 100 rows unevenly
    rng = np.random.default_rng(7)
    face, person = _people(rng, [50, 30, 20], spread=0.3)
    cloth = rng.random((100, 16)).astype(np.float32)
    cloth /= np.linalg.norm(cloth, axis=1, keepdims=True)
    has = rng.random(100) > 0.2
    frames = np.concatenate([np.arange(50), np.arange(30), np.arange(20)])
    shots = frames // 10
    clusterer = Clusterer(face, cloth, has, frames, shots)
    dense = clusterer.constrained_distances(0.3)
    assert np.array_equal(dense, dense.T)
    graph = clusterer.graph(0.3, 0.6)
    assert (graph != graph.T).nnz == 0
    between = fuse.fused_distances(face, cloth, has, 0.3, shots=shots)  # the track-level route
    assert np.array_equal(between, between.T)
    for algorithm in ALGORITHMS:
        labels = clusterer.labels(ClusterParams(algorithm, 0.3, 0.6, 3))
        assert np.array_equal(labels, person), algorithm


def _ambiguous_by_every_distance(rules, labels: np.ndarray, weight: float) -> np.ndarray:
    """The ambiguity rule's definition, over the whole T x T matrix of track distances."""
    first, of_face, _, together = rules._by_track
    members = np.zeros((len(first), labels.max() + 1), np.float32)
    np.add.at(members, (of_face[labels >= 0], labels[labels >= 0]), 1)
    between = fuse.fused_distances(
        rules.face[first],
        rules.cloth[first],
        rules.has_cloth[first],
        weight,
        shots=None if rules.shots is None else rules.shots[first],
    )
    others = members.sum(axis=0)[None, :] - members
    distance = between @ members / np.maximum(others, 1)
    distance[(together @ (members > 0) > 0) | (others == 0)] = np.inf
    rows, own = np.arange(len(first)), np.argmax(members, axis=1)
    mine = np.where(np.isfinite(distance[rows, own]), distance[rows, own], np.nan)
    distance[rows, own] = np.inf
    nearest = distance.min(axis=1)
    return np.where((nearest - mine < AMBIGUITY * nearest)[of_face], -1, labels)


@pytest.mark.parametrize(("weight", "by_shot"), [(0.0, True), (0.3, True), (0.3, False), (1.0, True)])
def test_the_ambiguity_rule_measures_only_the_pairs_that_can_decide_and_decides_as_every_pair(
    weight, by_shot
):
    """Tracks between people, tracks cut between two people, people sharing a frame: the rule
    unassigns what its definition over every pair of tracks unassigns, whatever the weight."""

    rng = np.random.default_rng(11)
    face, person = _people(rng, [60, 50, 40, 30], spread=0.9)
    cloth = rng.random((180, 16)).astype(np.float32)
    cloth /= np.linalg.norm(cloth, axis=1, keepdims=True)
    has, shots = rng.random(180) > 0.2, np.arange(180) // 45
    tracks = np.sort(rng.integers(0, 90, 180))  # tracks of 0-5 faces, sharing their vectors
    _, first = np.unique(tracks, return_index=True)
    face, cloth, has, shots = (
        a[first][np.searchsorted(tracks[first], tracks)] for a in (face, cloth, has, shots)
    )
    frames = rng.integers(0, 120, 180)  # some faces of different tracks share a frame
    rules = TrackRules(face, cloth, has, frames, shots if by_shot else None, tracks)
    unassigned = 0
    for trial in range(6):
        labels = np.where(
            rng.random(180) < 0.15,
            rng.integers(-1, 4, 180),
            person[first][np.searchsorted(tracks[first], tracks)],
        )
        got = rules.unassign_ambiguous(labels, weight)
        assert np.array_equal(got, _ambiguous_by_every_distance(rules, labels, weight)), trial
        unassigned += int(((got == -1) & (labels >= 0)).sum())
    assert unassigned > 0  # the rule did decide something


def test_a_leftover_joins_only_a_person_it_is_clearly_nearest_to():
    rng = np.random.default_rng(8)
    face, _ = _people(rng, [10, 10], spread=0.1)
    a, b = face[0], face[10]
    odd = np.vstack([0.55 * a + 0.45 * rng.normal(size=128) / 11, 0.5 * a + 0.5 * b, 0.6 * b + 0.4 * a])
    odd /= np.linalg.norm(odd, axis=1, keepdims=True)
    face = np.vstack([face, odd])  # nearer A (0.77 against 1.37); halfway; nearer B but in B's frame 10
    frames = np.concatenate([np.arange(20), [100, 101, 10]])
    cloth, has = np.zeros((23, 4), np.float32), np.zeros(23, bool)
    params = ClusterParams(eps=0.3, min_samples=3)
    plain = cluster_faces(face, cloth, has, frames, params)
    assert (plain[20:] == -1).all() and len(set(plain[:20])) == 2
    attached = Clusterer(face, cloth, has, frames, attach=(0.05, 0.85)).labels(params)
    assert attached[20] == attached[0] and attached[21] == -1 and attached[22] == -1
    assert Clusterer(face, cloth, has, frames, attach=(0.05, 0.1)).labels(params)[20] == -1  # too far
    # B is in its frame, so the third can only be A: it joins A once A is near enough (0.90).
    assert Clusterer(face, cloth, has, frames, attach=(0.05, 2.0)).labels(params)[22] == attached[0]


def test_two_leftovers_of_one_frame_never_join_the_same_person():
    rng = np.random.default_rng(9)
    face, _ = _people(rng, [10, 10], spread=0.1)
    noise = np.random.default_rng(1).normal(size=(2, 128)) / 11
    odd = np.array([[0.6], [0.65]]) * face[0] + np.array([[0.4], [0.35]]) * noise
    odd /= np.linalg.norm(odd, axis=1, keepdims=True)
    face = np.vstack([face, odd])  # two leftovers of frame 100, both clearly nearest to A (0.58, 0.45)
    frames = np.concatenate([np.arange(20), [100, 100]])
    cloth, has = np.zeros((22, 4), np.float32), np.zeros(22, bool)
    params = ClusterParams(eps=0.3, min_samples=3)
    assert (cluster_faces(face, cloth, has, frames, params)[20:] == -1).all()
    labels = Clusterer(face, cloth, has, frames, attach=(0.05, 0.9)).labels(params)
    assert labels[21] == labels[0] and labels[20] == -1  # the nearer one joins A, the other waits


def test_the_weight_slider_offers_every_twentieth_from_face_only_to_clothing_only():
    from faceclust import ranges

    offered = ranges.WEIGHT.offered
    assert len(offered) == 21 and offered[:3] == [0.0, 0.05, 0.1] and offered[-1] == 1.0
    assert ClusterParams().weight in offered  # the default: its tree is among those built ahead
