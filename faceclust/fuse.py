"""Fuse face and clothing distances with a clothing weight.

With L2-normalised face vectors f, clothing vectors c and weight w in [0, 1], the fused squared
distance is ``(1 - w) * |fa - fb|^2 + w * |ca - cb|^2``; w = 0 is face-only, and eps keeps one
meaning across weights. Rule for missing clothing: where either face of a pair has no usable
clothing region, the pair's distance is the face distance alone, so a face whose clothes are
out of frame is neither pushed away from nor pulled towards anyone by clothing. The same holds
for two faces of different shots when shots are given: people change clothes between scenes,
and two people in matching costumes (a suit and tie, a uniform) appear in different shots.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from scipy import sparse

#: Rows per block of distances: bounds memory to BLOCK x N floats.
BLOCK = 1024


def squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between rows of a (m, d) and b (n, d): float32 (m, n)."""
    a, b = a.astype(np.float32, copy=False), b.astype(np.float32, copy=False)
    d2 = a @ b.T
    d2 *= -2.0
    d2 += (a * a).sum(1)[:, None]
    d2 += (b * b).sum(1)[None, :]
    return np.maximum(d2, 0.0, out=d2)


def _mirror_upper(square: np.ndarray) -> np.ndarray:
    """Copy the upper triangle of a square (view of an) array onto its lower one, in place.

    The matrix product rounds d(i, j) and d(j, i) differently on some CPUs (the BLAS kernel
    depends on the block's shape and the processor); mirroring makes every pair's distance one
    value, so the matrix is symmetric by construction.
    """
    np.copyto(square, square.T, where=np.tri(len(square), k=-1, dtype=bool))
    return square


def _fused(
    face: np.ndarray,
    cloth: np.ndarray,
    has_cloth: np.ndarray,
    weight: float,
    rows: np.ndarray,
    columns: slice | np.ndarray,
    shots: np.ndarray | None,
) -> np.ndarray:
    """Fused distances from faces ``rows`` to faces ``columns`` (a slice, or indices in strictly
    ascending order): float32 (len(rows), C), a face's distance to itself exactly 0; not yet
    symmetric (see ``_mirror_upper``)."""
    d2 = squared_distances(face[rows], face[columns])
    if weight > 0:
        # d2 += w * (c2 - d2) on pairs where both have clothing; in place, no (rows, C) masks.
        change = squared_distances(cloth[rows], cloth[columns])
        change -= d2
        change *= has_cloth[rows][:, None].astype(np.float32) * np.float32(weight)
        change *= has_cloth[None, columns]
        if shots is not None:
            change *= shots[rows][:, None] == shots[None, columns]
        d2 += change
    ids = np.arange(len(face))[columns]  # the columns' faces, ascending
    at = np.searchsorted(ids, rows)  # where each row's own face would be among them
    itself = np.flatnonzero(at < len(ids))
    itself = itself[ids[at[itself]] == rows[itself]]
    d2[itself, at[itself]] = 0.0
    return np.sqrt(d2, out=d2)


def fused_distances(
    face: np.ndarray,
    cloth: np.ndarray,
    has_cloth: np.ndarray,
    weight: float,
    rows: np.ndarray | None = None,
    shots: np.ndarray | None = None,
    columns: np.ndarray | None = None,
) -> np.ndarray:
    """Fused distances from faces ``rows`` to faces ``columns`` (strictly ascending; None: all
    faces): float32 (len(rows), len(columns)); with ``rows`` None (and ``columns`` None), all faces
    to all faces: (N, N), symmetric by construction.

    face: (N, D) face vectors and cloth: (N, K) L2-normalised; has_cloth: (N,) bool; shots: (N,) shot
    of each face, or None to use clothing across the whole clip. Computed in float32 (4x faster
    than float64 here); a face's distance to itself is exactly 0.
    """
    if rows is None and columns is not None:
        raise ValueError("columns are chosen only with rows")
    if rows is not None:
        return _fused(
            face, cloth, has_cloth, weight, rows, slice(None) if columns is None else columns, shots
        )
    n = len(face)
    square = np.empty((n, n), np.float32)  # filled a block of rows at a time: no second N x N
    for block_rows, block in upper_blocks(face, cloth, has_cloth, weight, shots=shots):
        start, end = block_rows[0], block_rows[-1] + 1
        square[start:end, start:] = block
        square[start:, start:end] = block.T
    return square


def upper_blocks(
    face: np.ndarray,
    cloth: np.ndarray,
    has_cloth: np.ndarray,
    weight: float,
    frames: np.ndarray | None = None,
    same_frame: float = 0.0,
    shots: np.ndarray | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Each pair's fused distance once, ``BLOCK`` rows at a time: (rows, float32 (len(rows),
    N - rows[0])), the distances from faces ``rows`` to faces rows[0]..N-1, with every pair of
    faces sharing a frame (a face and itself included) set to ``same_frame``.

    The block's leading square (rows x rows) is symmetric; the pairs left of it came in earlier
    blocks: mirror them (j, i) = (i, j) rather than compute them again, so every route built on
    these blocks is symmetric by construction. frames: (N,) frame index of each face, or None to
    set no pair apart; shots as in ``fused_distances``. Memory is O(N x 1024), not O(N^2).
    """
    n = len(face)
    for start in range(0, n, BLOCK):
        rows = np.arange(start, min(n, start + BLOCK))
        dist = _fused(face, cloth, has_cloth, weight, rows, slice(start, None), shots)
        if frames is not None:
            dist[frames[rows][:, None] == frames[None, start:]] = same_frame
        _mirror_upper(dist[:, : len(rows)])
        yield rows, dist


def weighted_sums(
    face: np.ndarray,
    cloth: np.ndarray,
    has_cloth: np.ndarray,
    weight: float,
    counts: np.ndarray,
    shots: np.ndarray | None = None,
) -> np.ndarray:
    """Each face's fused distances to every face, weighted by ``counts`` (N,) and summed: float32
    (N,), sum_j d(i, j) * counts[j]. Each pair computed once (``upper_blocks``); memory O(N x
    1024). Other arguments as in ``fused_distances``."""
    summed = np.zeros(len(face), np.float32)
    counts = counts.astype(np.float32, copy=False)
    for rows, block in upper_blocks(face, cloth, has_cloth, weight, shots=shots):
        start, end = rows[0], rows[-1] + 1  # block: faces rows to faces start..N-1
        summed[start:end] += block @ counts[start:]
        summed[end:] += block[:, end - start :].T @ counts[start:end]  # the pairs mirrored
    return summed


def radius_graph(
    face: np.ndarray,
    cloth: np.ndarray,
    has_cloth: np.ndarray,
    weight: float,
    radius: float,
    frames: np.ndarray,
    shots: np.ndarray | None = None,
) -> sparse.csr_matrix:
    """Sparse (N, N) fused distances of the pairs within ``radius``, excluding same-frame pairs;
    symmetric: each pair is found once (``upper_blocks``) and stored both ways.

    Arguments as in ``upper_blocks``. A face is its own neighbour; stored distances are at least
    1e-6 so that a zero distance is never mistaken for a missing edge.
    """
    n = len(face)
    first, second, values = [np.zeros(0, int)], [np.zeros(0, int)], [np.zeros(0, np.float32)]
    for rows, dist in upper_blocks(face, cloth, has_cloth, weight, frames, np.inf, shots):
        i, j = np.nonzero(np.triu(dist <= radius, k=1))  # pairs (i, j) with j > i
        first.append(i + rows[0])
        second.append(j + rows[0])
        values.append(np.maximum(dist[i, j], 1e-6))
    first, second, values = np.concatenate(first), np.concatenate(second), np.concatenate(values)
    itself = np.arange(n)
    return sparse.csr_matrix(
        (
            np.concatenate([values, values, np.full(n, 1e-6, np.float32)]),
            (np.concatenate([first, second, itself]), np.concatenate([second, first, itself])),
        ),
        shape=(n, n),
    )
