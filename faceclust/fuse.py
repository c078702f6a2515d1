"""Fuse face and clothing distances with a clothing weight.

With L2-normalised face vectors f, clothing vectors c and weight w in [0, 1], the fused squared
distance is ``(1 - w) * |fa - fb|^2 + w * |ca - cb|^2``; w = 0 is face-only, and eps keeps one
meaning across weights. Rule for missing clothing: where either face of a pair has no usable
clothing region, the pair's distance is the face distance alone, so a face whose clothes are
out of frame is neither pushed away from nor pulled towards anyone by clothing.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

# Rows per block when building a sparse graph: bounds memory to _BLOCK x N floats.
_BLOCK = 1024


def _squared(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between rows of a (m, d) and b (n, d): (m, n).

    In float64 and with the rows' own norms: float32 rounding would leave ~3e-4 in a face's
    distance to itself.
    """
    a, b = a.astype(np.float64), b.astype(np.float64)
    return np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T), 0.0)


def fused_distances(
    face: np.ndarray,
    cloth: np.ndarray,
    has_cloth: np.ndarray,
    weight: float,
    rows: np.ndarray | slice = slice(None),
) -> np.ndarray:
    """Fused distances from faces ``rows`` to all faces: float32 (len(rows), N).

    face: (N, 128) and cloth: (N, K), both L2-normalised; has_cloth: (N,) bool.
    """
    d2 = _squared(face[rows], face)
    if weight > 0:
        both = has_cloth[rows][:, None] & has_cloth[None, :]
        fused = (1.0 - weight) * d2 + weight * _squared(cloth[rows], cloth)
        d2 = np.where(both, fused, d2)
    return np.sqrt(d2, dtype=np.float32)


def radius_graph(
    face: np.ndarray,
    cloth: np.ndarray,
    has_cloth: np.ndarray,
    weight: float,
    radius: float,
    frames: np.ndarray,
) -> sparse.csr_matrix:
    """Sparse (N, N) fused distances of the pairs within ``radius``, excluding same-frame pairs.

    frames: (N,) frame index of each face. Stored distances are at least 1e-6 so that a zero
    distance is never mistaken for a missing edge. Memory is O(N x 1024), not O(N^2).
    """
    n = len(face)
    blocks = []
    for start in range(0, n, _BLOCK):
        rows = np.arange(start, min(n, start + _BLOCK))
        dist = fused_distances(face, cloth, has_cloth, weight, rows)
        dist[frames[rows][:, None] == frames[None, :]] = np.inf
        dist[np.arange(len(rows)), rows] = 0.0  # a face is its own neighbour
        keep = dist <= radius
        r, c = np.nonzero(keep)
        blocks.append((r + start, c, np.maximum(dist[r, c], 1e-6)))
    r, c, v = (np.concatenate(parts) for parts in zip(*blocks, strict=True)) if blocks else ([], [], [])
    return sparse.csr_matrix((v, (r, c)), shape=(n, n))
