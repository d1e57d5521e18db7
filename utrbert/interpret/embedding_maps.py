"""Two-dimensional maps of embeddings (UMAP), seeded, for the chapters' scatter plots.

>>> coords, params = umap_2d(np.random.default_rng(0).normal(size=(40, 5)), seed=0, n_neighbors=5)
>>> coords.shape, params["n_neighbors"]
((40, 2), 5)
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

__all__ = ["umap_2d"]


def umap_2d(
    vectors: np.ndarray, seed: int, n_neighbors: int = 15, min_dist: float = 0.1
) -> tuple[np.ndarray, dict[str, Any]]:
    """UMAP coordinates ``(n, 2)`` of ``vectors`` and the parameters used (single-threaded, so seeded)."""
    with warnings.catch_warnings():  # umap-learn warns on import that TensorFlow (ParametricUMAP) is absent
        warnings.filterwarnings("ignore", message="Tensorflow not installed", category=ImportWarning)
        import umap

    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) <= n_neighbors:
        raise ValueError(f"need a 2-D array with more than n_neighbors={n_neighbors} rows, got shape {vectors.shape}")
    reducer = umap.UMAP(n_components=2, n_neighbors=n_neighbors, min_dist=min_dist, random_state=seed, n_jobs=1)
    with warnings.catch_warnings():  # "n_jobs value 1 overridden to 1 by setting random_state"
        warnings.filterwarnings("ignore", message=".*n_jobs.*", category=UserWarning)
        coords = reducer.fit_transform(vectors)
    return coords, {"n_neighbors": n_neighbors, "min_dist": min_dist, "random_state": seed}
