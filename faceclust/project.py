"""2-D projections (UMAP) of face and fused face + clothing vectors, for looking at clusters.

umap-learn costs ~4 s to import and ~10-50 s of JIT compilation on its first fits in a process,
then seconds per fit: call ``warm_up_projection`` for the path a clip's fits will take once its
clip is loaded (in the background), reduce to ``pca_dims`` first, and cache projections by their
inputs.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

#: One projection at a time in a process: numba's default threading layer aborts on two UMAP
#: fits at once.
_FITTING = threading.Lock()


@dataclass(frozen=True)
class ProjectParams:
    """UMAP settings. n_neighbors: larger keeps more global structure, smaller more local;
    min_dist: how tightly points pack; n_epochs: optimisation rounds (umap-learn uses 500 below
    10k points; 200 looks the same for clusters of faces at 2.5x less time); pca_dims: PCA
    first (faster, ~same picture); seed: fixes the layout."""

    n_neighbors: int = 15
    min_dist: float = 0.1
    n_epochs: int = 200
    pca_dims: int = 32
    seed: int = 0

    @property
    def key(self) -> str:
        """These settings in a file name: layouts made with other settings are not reused."""
        return f"n{self.n_neighbors}_d{self.min_dist}_e{self.n_epochs}_p{self.pca_dims}_s{self.seed}"


def fused_vectors(face: np.ndarray, cloth: np.ndarray, has_cloth: np.ndarray, weight: float) -> np.ndarray:
    """Vectors whose Euclidean distances are the fused distances: [sqrt(1-w) f, sqrt(w) c].

    Exact for pairs that both have clothing; a face without clothing gets a zero clothing part,
    which places it a little away from everyone (display only: clustering uses the exact rule).
    face: (N, D), cloth: (N, K); returns float32 (N, D + K).
    """
    clothing = cloth * has_cloth[:, None]
    return np.hstack([np.sqrt(1.0 - weight) * face, np.sqrt(weight) * clothing]).astype(np.float32)


def project(vectors: np.ndarray, params: ProjectParams | None = None) -> np.ndarray:
    """UMAP of vectors (N, D) to float32 (N, 2); tiny inputs get a PCA (or zeros) instead. Safe
    from any thread: calls wait for each other (their first imports of scikit-learn and UMAP
    too, which are not safe to run in two threads at once)."""
    with _FITTING:
        return _project(vectors, params or ProjectParams())


def _project(vectors: np.ndarray, params: ProjectParams) -> np.ndarray:
    from sklearn.decomposition import PCA

    n = len(vectors)
    if n < 4:
        out = np.zeros((n, 2), np.float32)
        out[:, 0] = np.arange(n)
        return out
    if vectors.shape[1] > params.pca_dims and n > params.pca_dims:
        vectors = PCA(params.pca_dims, random_state=params.seed).fit_transform(vectors)
    import umap

    model = umap.UMAP(
        n_neighbors=min(params.n_neighbors, n - 1),
        min_dist=params.min_dist,
        n_epochs=params.n_epochs,
        random_state=params.seed,
        n_jobs=1,  # a fixed seed makes umap-learn single-threaded anyway
        init="spectral" if n > params.n_neighbors + 1 else "random",
    )
    return model.fit_transform(vectors).astype(np.float32)


#: umap-learn finds neighbours exactly below this many points and with NN-descent from it on:
#: each path compiles on its first use in a process (~10 s and ~50 s here).
EXACT_BELOW = 4096


def warm_up_projection(exact: bool) -> None:
    """Import umap and compile, with a quick fit, the neighbour search of fits below
    ``EXACT_BELOW`` points (``exact``) or from it on (NN-descent). One path at a time: a fit
    waiting behind the other path's compile waits for nothing it needs."""
    size = 64 if exact else EXACT_BELOW + 104
    rng = np.random.default_rng(0)
    project(rng.normal(size=(size, 8)).astype(np.float32), ProjectParams(n_epochs=10))
