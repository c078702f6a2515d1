import numpy as np
import pytest

from faceclust import fuse
from faceclust.fuse import fused_distances, radius_graph, weighted_sums


def _unit(rng, n, d):
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_fusion_rule_and_the_missing_clothing_rule():
    rng = np.random.default_rng(1)
    face, cloth = _unit(rng, 5, 128), _unit(rng, 5, 16)
    has = np.array([True, True, True, False, True])
    df = np.linalg.norm(face[:, None] - face[None], axis=2)
    dc = np.linalg.norm(cloth[:, None] - cloth[None], axis=2)
    assert np.allclose(fused_distances(face, cloth, has, 0.0), df, atol=1e-5)
    fused = fused_distances(face, cloth, has, 0.3)
    assert np.isclose(fused[0, 1], np.sqrt(0.7 * df[0, 1] ** 2 + 0.3 * dc[0, 1] ** 2), atol=1e-5)
    # A face without clothing keeps its face-only distance to everyone.
    assert np.allclose(fused[3], df[3], atol=1e-5) and np.allclose(fused[:, 3], df[:, 3], atol=1e-5)
    assert np.allclose(fused_distances(face, cloth, has, 0.3, np.array([2, 4])), fused[[2, 4]])
    part = fused_distances(face, cloth, has, 0.3, np.array([4, 1]), columns=np.array([1, 3]))
    assert np.allclose(part, fused[np.ix_([4, 1], [1, 3])]) and part[1, 0] == 0.0  # itself: exactly 0


def test_radius_graph_matches_dense_distances_without_same_frame_pairs():
    rng = np.random.default_rng(2)
    n = 2500  # more than one block of rows
    face, cloth = _unit(rng, n, 8), _unit(rng, n, 4)
    has = rng.random(n) > 0.2
    frames = rng.integers(0, 800, n)
    graph = radius_graph(face, cloth, has, 0.4, 0.5, frames).toarray()
    dense = fused_distances(face, cloth, has, 0.4)
    expect = (dense <= 0.5) & (frames[:, None] != frames[None, :])
    np.fill_diagonal(expect, True)
    assert np.array_equal(graph > 0, expect)
    assert np.allclose(
        graph[expect & ~np.eye(n, dtype=bool)], dense[expect & ~np.eye(n, dtype=bool)], atol=1e-5
    )


@pytest.mark.parametrize("block", [7, 13, 1024])
def test_weighted_sums_match_the_dense_matrix_whatever_the_blocks(monkeypatch, block):
    monkeypatch.setattr(fuse, "BLOCK", block)  # 7 and 13 split the 100 rows unevenly
    rng = np.random.default_rng(3)
    face, cloth = _unit(rng, 100, 32), _unit(rng, 100, 8)
    has, shots, counts = rng.random(100) > 0.2, np.arange(100) // 30, rng.integers(0, 4, 100)
    dense = fused_distances(face, cloth, has, 0.3, shots=shots) @ counts
    np.testing.assert_allclose(weighted_sums(face, cloth, has, 0.3, counts, shots), dense, rtol=1e-5)
