"""How good a clustering is: silhouette and Davies-Bouldin overall and per cluster, NMI/ARI against categories.

Plain functions over numpy arrays (scikit-learn's metrics). Noise (label -1) is left out of the silhouette
and Davies-Bouldin (they are about the clusters' shape); it is counted in `noise_share` and, as a group of
its own, in NMI/ARI (an image in no hotspot is not in its category's hotspot either).
"""
from __future__ import annotations

import numpy as np


def _finite(value) -> float | None:
    value = float(value)
    return round(value, 4) if np.isfinite(value) else None


def cluster_quality(space: np.ndarray, labels: np.ndarray, categories=None, sample: int = 10000,
                    seed: int = 0) -> dict:
    """Quality figures of `labels` (n,) (-1 = noise) over the rows of `space` (n, d).

    Returns {"n_clusters", "noise_share", "silhouette", "davies_bouldin", "per_cluster": [{"id", "size",
    "silhouette"}], and "nmi", "ari", "categorised" (rows with a category) when `categories` is given}.
    Silhouettes are computed on a seeded sample of at most `sample` clustered rows (O(sample^2) distances),
    so per cluster they are means over that cluster's sampled members (None when it has no sampled member
    or the clustering has fewer than two clusters). Figures that cannot be computed are None.
    """
    from sklearn.metrics import adjusted_rand_score, davies_bouldin_score, normalized_mutual_info_score
    from sklearn.metrics import silhouette_samples

    space = np.asarray(space, dtype=np.float64)
    labels = np.asarray(labels).astype(np.int64)
    n = len(labels)
    if len(space) != n:
        raise ValueError(f"cluster_quality: {len(space)} rows of space but {n} labels")
    ids, sizes = np.unique(labels[labels >= 0], return_counts=True)
    out = {"n_clusters": int(len(ids)), "noise_share": round(float(np.mean(labels < 0)), 4) if n else 0.0,
           "silhouette": None, "davies_bouldin": None,
           "per_cluster": [{"id": int(c), "size": int(s), "silhouette": None} for c, s in zip(ids, sizes)]}
    clustered = np.flatnonzero(labels >= 0)
    if len(ids) >= 2 and len(clustered) > len(ids):
        rows = clustered
        if len(rows) > sample:
            rng = np.random.default_rng(seed)
            rows = np.sort(rng.choice(rows, sample, replace=False))
        sub = labels[rows]
        if len(np.unique(sub)) >= 2:
            finite = np.isfinite(space[rows]).all(axis=1)
            rows, sub = rows[finite], sub[finite]
        if len(np.unique(sub)) >= 2 and len(rows) > len(np.unique(sub)):
            values = silhouette_samples(space[rows], sub, metric="euclidean")
            out["silhouette"] = _finite(values.mean())
            for entry in out["per_cluster"]:
                mine = values[sub == entry["id"]]
                entry["silhouette"] = _finite(mine.mean()) if len(mine) else None
            out["davies_bouldin"] = _finite(davies_bouldin_score(space[rows], sub))
    if categories is not None:
        cats = ["" if c is None else str(c) for c in categories]
        if len(cats) != n:
            raise ValueError(f"cluster_quality: {len(cats)} categories but {n} labels")
        known = np.array([c.strip() != "" for c in cats], dtype=bool)
        out["categorised"] = int(known.sum())
        if known.sum() >= 2:
            truth = [c for c, k in zip(cats, known) if k]
            found = labels[known]
            out["nmi"] = _finite(normalized_mutual_info_score(truth, found))
            out["ari"] = _finite(adjusted_rand_score(truth, found))
        else:
            out["nmi"] = out["ari"] = None
    return out
