import numpy as np

from faceclust.fuse import fused_distances, radius_graph


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
