"""Hotspots: groups of similar images, each with a representative image and a label.

HDBSCAN runs on a low-dimensional space (the 2D layout), never on the raw feature vectors, which is what
stopped PixPlot from scaling. When HDBSCAN finds fewer than two groups, KMeans is used instead.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)


@dataclass
class Hotspot:
    id: int                 # the value in the per-image label array
    label: str
    size: int
    representative: int     # index of the medoid image

    def to_json(self) -> dict:
        return {"id": self.id, "label": self.label, "size": self.size, "representative": self.representative}


@dataclass
class Clustering:
    labels: np.ndarray                       # (n,) int32, -1 = in no hotspot
    hotspots: list[Hotspot] = field(default_factory=list)
    method: str = "hdbscan"


def default_min_cluster_size(n: int) -> int:
    """Small collections get small hotspots; large ones are not shattered into thousands."""
    return int(max(5, min(500, round(n / 100))))


def find_clusters(space: np.ndarray, min_cluster_size: int | None = None, max_clusters: int = 20,
                  seed: int = 0) -> tuple[np.ndarray, str]:
    """Cluster ids (n,) int32 for the rows of `space`, -1 for noise; and the method used.

    Only the `max_clusters` largest groups are kept; ids are renumbered by size, 0 = largest.
    """
    n = len(space)
    if n == 0:
        return np.zeros(0, np.int32), "none"
    if n < 4 or max_clusters < 1:
        return np.full(n, -1, np.int32), "none"
    mcs = min_cluster_size or default_min_cluster_size(n)
    mcs = int(max(2, min(mcs, n // 2)))
    import hdbscan  # noqa: WPS433 (imported where used: it is slow to import)

    labels = hdbscan.HDBSCAN(min_cluster_size=mcs, min_samples=min(mcs, 10),
                             core_dist_n_jobs=1).fit_predict(space.astype(np.float64))
    method = "hdbscan"
    if len(set(labels.tolist()) - {-1}) < 2:
        from sklearn.cluster import KMeans

        k = int(min(max_clusters, max(2, round(np.sqrt(n / 2)))))
        k = min(k, n)
        log.info("HDBSCAN found fewer than two hotspots; using KMeans with %d clusters", k)
        labels = KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(space)
        method = "kmeans"
    return _renumber_by_size(labels, max_clusters), method


def _renumber_by_size(labels: np.ndarray, max_clusters: int) -> np.ndarray:
    ids, counts = np.unique(labels[labels >= 0], return_counts=True)
    order = ids[np.lexsort((ids, -counts))][:max_clusters]  # largest first, ties by old id
    mapping = np.full(int(labels.max(initial=-1)) + 2, -1, np.int32)
    mapping[order] = np.arange(len(order), dtype=np.int32)
    return mapping[labels]  # labels == -1 maps to mapping[-1] == -1


def _members_by_label(labels: np.ndarray, n_clusters: int) -> list[np.ndarray]:
    """Per cluster id 0..n_clusters-1, its members' indices in increasing order (one stable sort, not
    one pass over all labels per cluster)."""
    labels = np.asarray(labels)
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(n_clusters + 1))
    return [order[bounds[c]:bounds[c + 1]] for c in range(n_clusters)]


def medoid(points: np.ndarray, members: np.ndarray, metric: str = "cosine", sample: int = 2000,
           seed: int = 0, chunk: int = 65_536) -> int:
    """Index (into `points`) of the member with the smallest total distance to the other members.

    Exact up to `sample` members; beyond that, the 500 candidates nearest the centroid are scored
    against a seeded random sample of `sample` members. The members' rows are read `chunk` at a time
    (for the centroid and the distances to it), never copied all at once: O(m) time and
    O(chunk + sample) memory for a hotspot of m images (a million rows of 100 floats would be 400 MB).
    """
    from sklearn.metrics import pairwise_distances

    members = np.asarray(members)
    m = len(members)
    if m <= sample:
        x = points[members]
        totals = pairwise_distances(x, x, metric=metric).sum(axis=1)
        return int(members[int(np.argmin(totals))])
    rng = np.random.default_rng(seed)
    ref = points[members[rng.choice(m, sample, replace=False)]]
    total = np.zeros(points.shape[1], dtype=np.float64)
    for a in range(0, m, chunk):
        total += points[members[a:a + chunk]].sum(axis=0, dtype=np.float64)
    centre = (total / m)[None, :]
    closeness = np.empty(m, dtype=np.float64)
    for a in range(0, m, chunk):
        closeness[a:a + chunk] = pairwise_distances(points[members[a:a + chunk]], centre, metric=metric).ravel()
    cand = np.argsort(closeness, kind="stable")[:500]
    totals = pairwise_distances(points[members[cand]], ref, metric=metric).sum(axis=1)
    return int(members[cand[int(np.argmin(totals))]])


def label_hotspots(labels: np.ndarray, categories: list | None = None) -> list[str]:
    """A label per hotspot id: the most common category among its members, else "Cluster N"."""
    n_clusters = int(labels.max(initial=-1)) + 1
    names = []
    groups = _members_by_label(labels, n_clusters)
    for c in range(n_clusters):
        name = None
        if categories is not None:
            counts = Counter(v for v in (categories[i] for i in groups[c].tolist()) if v not in (None, ""))
            if counts:
                name = str(sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[0][0])
        names.append(name or f"Cluster {c + 1}")
    seen = Counter()
    unique = []
    for name in names:  # two hotspots of the same category: "Roses", "Roses (2)"
        seen[name] += 1
        unique.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return unique


def hotspots(space: np.ndarray, features: np.ndarray, categories: list | None = None,
             min_cluster_size: int | None = None, max_clusters: int = 20, seed: int = 0) -> Clustering:
    """Cluster `space` (e.g. the 2D layout), pick each hotspot's medoid in `features`, label them."""
    labels, method = find_clusters(space, min_cluster_size, max_clusters, seed)
    names = label_hotspots(labels, categories)
    spots = []
    groups = _members_by_label(labels, len(names))
    for c, name in enumerate(names):
        members = groups[c]
        spots.append(Hotspot(id=c, label=name, size=len(members),
                             representative=medoid(features, members, seed=seed)))
    return Clustering(labels=labels.astype(np.int32), hotspots=spots, method=method)
