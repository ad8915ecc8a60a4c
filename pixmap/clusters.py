"""Hotspots: groups of similar images, each with a representative image and a label.

Clustering runs on a low-dimensional space, never on the raw feature vectors, which is what stopped PixPlot
from scaling. `hotspots(space, ...)` is HDBSCAN on a given space (e.g. the 2D layout; KMeans when HDBSCAN
finds fewer than two groups). The build uses `cluster_sets(...)` (below): one or several methods (hdbscan,
kmeans, agglomerative, dbscan, spectral, affinity propagation) on an 8-d UMAP of a space's neighbour graph,
each a ClusterSet with its quality (pixmap.quality), k-selection curve and linkage; `write_clusterings`
writes them into the site (format 6: `clusterings`).
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


# ---------------------------------------------------------------------------------------------------------
# Several clusterings of one map (`--cluster-method`, `--cluster-space`, ...), each with its quality.
#
# Every method clusters the same thing: a seeded CLUSTER_DIMS-d UMAP of the chosen space's neighbour graph
# (for the CNN space, the graph the map's own UMAP and the similar images use), not the 2D layout (which
# tears groups apart to fit a plane) and not the raw vectors (where density-based methods see no density).
# Methods that cost O(n^2) (agglomerative, spectral, affinity propagation) run on a seeded sample of at most
# QUADRATIC_SAMPLE rows; the other rows join the cluster with the nearest centre.

METHODS = ("hdbscan", "kmeans", "agglomerative", "dbscan", "spectral", "affinity")
EVALS = ("silhouette", "dbindex", "derivative")
LINKAGES = ("ward", "complete", "average", "single")
SPACES = ("cnn", "blend", "palette", "composition", "structure")
NEEDS_K = ("kmeans", "agglomerative", "spectral")
QUADRATIC = ("agglomerative", "spectral", "affinity")
QUADRATIC_SAMPLE = 5000     # rows the O(n^2) methods cluster
K_SEARCH_SAMPLE = 3000      # rows the k search scores each k on
CLUSTER_DIMS = 8            # dimensions of the UMAP every method clusters
CLUSTER_NEIGHBORS = 15      # its neighbours
# Above this many images a second UMAP would cost as much as the map's own (44 min at 1M on one core): the
# methods then cluster the map's 2D layout (the cnn space, as pixmap did before) or a PCA of the space.
CLUSTER_UMAP_MAX = 250_000
# The clustering UMAP's epochs: 200, not umap-learn's 500 below 10,000 rows. Measured (same run, same
# features): flowers5 NMI 0.290 -> 0.290 (noise 0%), 8.5 s -> 3.7 s; the paintings by period 0.162 -> 0.174.
CLUSTER_EPOCHS = 200
VOTE_NEIGHBORS = 10         # a noise point joins a hotspot when at least VOTE_SHARE of its
VOTE_SHARE = 0.3            # VOTE_NEIGHBORS nearest neighbours are in it (hdbscan, dbscan)


class ClusterError(ValueError):
    """A clustering option names something this build does not have (message says what to give)."""


@dataclass
class ClusterSet:
    """One clustering of the map: `clustering` holds the labels and the hotspots (medoids, names)."""
    name: str                      # unique in the build: "hdbscan", "kmeans", "agglomerative-palette", ...
    method: str
    params: dict
    space: str
    clustering: Clustering
    quality: dict
    k_curve: list | None = None    # [(k, score)] of the k search, or None
    linkage: np.ndarray | None = None          # scipy linkage matrix of the (sampled) rows, or None
    sample_index: np.ndarray | None = None     # the rows `linkage` is over, or None

    @property
    def file(self) -> str:
        return f"data/clusters-{self.name}.i32"

    def manifest_entry(self) -> dict:
        """The site manifest's entry in `clusterings` (site format 6)."""
        sil = {c["id"]: c["silhouette"] for c in self.quality.get("per_cluster", [])}
        overall = {k: v for k, v in self.quality.items() if k != "per_cluster"}
        return {"name": self.name, "method": self.method, "params": _jsonable(self.params), "space": self.space,
                "file": self.file,
                "hotspots": [h.to_json() | {"silhouette": sil.get(h.id)} for h in self.clustering.hotspots],
                "quality": overall}


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def parse_methods(value) -> list[str]:
    """'hdbscan,agglomerative' (or a list) -> ['hdbscan', 'agglomerative']; ClusterError on an unknown one."""
    if value is None or value == "":
        return ["hdbscan"]
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    methods = []
    for item in items:
        m = str(item).strip().lower()
        if not m:
            continue
        if m not in METHODS:
            raise ClusterError(f"unknown cluster method {m!r}; choose from {', '.join(METHODS)} "
                               "(several: comma-separated, e.g. hdbscan,agglomerative)")
        if m not in methods:
            methods.append(m)
    if not methods:
        raise ClusterError(f"cluster-method is empty; choose from {', '.join(METHODS)}")
    return methods


def check_cluster_options(opts: dict) -> None:
    """The clustering options on their own (before any work); ClusterError says which and what to give."""
    parse_methods(opts.get("cluster_method"))
    if str(opts.get("cluster_eval") or "silhouette") not in EVALS:
        raise ClusterError(f"unknown cluster-eval {opts.get('cluster_eval')!r}; choose from {', '.join(EVALS)}")
    if str(opts.get("linkage") or "ward") not in LINKAGES:
        raise ClusterError(f"unknown linkage {opts.get('linkage')!r}; choose from {', '.join(LINKAGES)}")
    if str(opts.get("cluster_space") or "cnn") not in SPACES:
        raise ClusterError(f"unknown cluster-space {opts.get('cluster_space')!r}; choose from {', '.join(SPACES)}")
    space = str(opts.get("cluster_space") or "cnn")
    if space == "blend" and not opts.get("blend"):
        raise ClusterError("cluster-space blend needs --blend (e.g. --blend cnn=1,palette=0.4); "
                           "or choose another space")
    if space in ("palette", "composition", "structure") and opts.get("descriptors") is False:
        raise ClusterError(f"cluster-space {space} needs the descriptors, which --no-descriptors turns off")
    k = opts.get("n_clusters")
    if k is not None:
        try:
            k = int(k)
        except (TypeError, ValueError):
            k = 0
        if k < 2:
            raise ClusterError(f"n-clusters must be a whole number of at least 2, not {opts.get('n_clusters')!r} "
                               "(leave it out to choose k by --cluster-eval)")


def cluster_embedding(x: np.ndarray, graph=None, metric: str = "cosine", seed: int = 0,
                      dims: int = CLUSTER_DIMS, n_neighbors: int = CLUSTER_NEIGHBORS, layout=None):
    """(what the methods cluster, the kNN graph (indices, distances) of x, its name for the params).

    That is a seeded `dims`-d UMAP of x's neighbour graph, up to CLUSTER_UMAP_MAX rows; above, `layout` (the
    map's 2D positions, when x is the space the map was made from) or a `dims`-component PCA of x.
    `graph`: a kNN graph of x already searched (pixmap.neighbors.knn_graph: itself first), reused when it
    has enough columns; else one is searched here."""
    from .layouts import umap as umap_layouts

    x = np.asarray(x, dtype=np.float32)
    k = int(min(n_neighbors, max(1, len(x) - 1)))
    need = min((k if len(x) <= CLUSTER_UMAP_MAX else VOTE_NEIGHBORS) + 1, len(x))   # (columns, itself first)
    if graph is None or graph[0].shape[1] < need or graph[0].shape[0] != len(x):
        from .neighbors import knn_graph

        graph = knn_graph(x, min(max(k, VOTE_NEIGHBORS) + 1, len(x)), metric, seed=seed)
    if len(x) > CLUSTER_UMAP_MAX:
        if layout is not None:
            return np.asarray(layout, dtype=np.float64), graph, "layout-2d"
        return umap_layouts.reduce_pca(x, min(dims, x.shape[1]), seed=seed).astype(np.float64), graph, \
            f"pca-{min(dims, x.shape[1])}"
    emb = umap_layouts.umap_layout(x, k, 0.0, metric, dims=dims, seed=seed, neighbors=graph,
                                   name="clusters", n_epochs=CLUSTER_EPOCHS).positions
    return np.asarray(emb, dtype=np.float64), graph, f"umap-{dims}d"


def assign_noise(labels: np.ndarray, graph_indices: np.ndarray, k: int = VOTE_NEIGHBORS,
                 share: float = VOTE_SHARE, rounds: int = 3) -> np.ndarray:
    """Noise points (-1) whose k nearest neighbours (graph_indices: itself first) are at least `share` in
    one cluster join it; repeated `rounds` times, so points at a hotspot's rim follow their neighbours."""
    labels = np.asarray(labels).astype(np.int32).copy()
    idx = np.asarray(graph_indices)[:, 1:k + 1]
    if idx.shape[1] == 0:
        return labels
    for _ in range(rounds):
        noise = np.flatnonzero(labels < 0)
        if not len(noise):
            break
        nb = labels[idx[noise]]
        changed = False
        for row, i in zip(nb, noise):
            votes = row[row >= 0]
            if len(votes):
                counts = np.bincount(votes)
                c = int(np.argmax(counts))
                if counts[c] >= share * idx.shape[1]:
                    labels[i] = c
                    changed = True
        if not changed:
            break
    return labels


def _centres(x: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ids = np.unique(labels[labels >= 0])
    return ids, np.stack([x[labels == c].mean(axis=0) for c in ids]) if len(ids) else np.zeros((0, x.shape[1]))


def _assign_rest(x: np.ndarray, sample: np.ndarray, sample_labels: np.ndarray) -> np.ndarray:
    """Labels for all rows of x: the sample's own, and for the others the cluster with the nearest centre."""
    labels = np.full(len(x), -1, np.int64)
    labels[sample] = sample_labels
    ids, centres = _centres(x[sample], sample_labels)
    rest = np.setdiff1d(np.arange(len(x)), sample)
    if len(rest) and len(ids):
        from sklearn.metrics import pairwise_distances_argmin

        labels[rest] = ids[pairwise_distances_argmin(x[rest], centres)]
    return labels


def _sample(n: int, size: int, seed: int) -> np.ndarray:
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


def _dispersion(x: np.ndarray, labels: np.ndarray) -> float:
    """Within-cluster sum of squared distances to the cluster's centre."""
    total = 0.0
    for c in np.unique(labels[labels >= 0]):
        part = x[labels == c]
        total += float(((part - part.mean(axis=0)) ** 2).sum())
    return total


def _elbow(ks: list[int], values: list[float]) -> int:
    """The k where a decreasing curve bends most (the derivative method): the largest ratio of the drop
    into k to the drop after it, so a steep fall that then flattens wins whatever the curve's scale."""
    if len(ks) < 3:
        return ks[0]
    v = np.asarray(values, dtype=np.float64)
    before, after = v[:-2] - v[1:-1], v[1:-1] - v[2:]     # at ks[1:-1]
    tiny = max(1e-12, 1e-9 * float(np.nanmax(np.abs(v))))
    bend = before / np.maximum(after, tiny)
    return int(ks[1 + int(np.nanargmax(bend))])


def _fit_k(x: np.ndarray, method: str, k: int, linkage_method: str, seed: int, tree=None) -> np.ndarray:
    if method == "kmeans":
        from sklearn.cluster import KMeans

        return KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(x)
    if method == "agglomerative":
        from scipy.cluster.hierarchy import fcluster

        return fcluster(tree, t=k, criterion="maxclust").astype(np.int64) - 1
    if method == "spectral":
        import warnings

        from sklearn.cluster import SpectralClustering

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)   # "graph is not fully connected"
            return SpectralClustering(n_clusters=k, affinity="nearest_neighbors",
                                      n_neighbors=min(CLUSTER_NEIGHBORS, len(x) - 1), assign_labels="cluster_qr",
                                      random_state=seed).fit_predict(x)
    raise ValueError(method)


def choose_k(x: np.ndarray, method: str, ks, cluster_eval: str = "silhouette", linkage_method: str = "ward",
             seed: int = 0, tree=None) -> tuple[int, list]:
    """The k of `ks` that `cluster_eval` prefers for `method` on x, and the curve [(k, score)].

    silhouette: highest mean silhouette; dbindex: lowest Davies-Bouldin index; derivative: the elbow of the
    within-cluster dispersion (agglomerative: of the linkage's merge distances), as clustimage does."""
    from sklearn.metrics import davies_bouldin_score, silhouette_score

    ks = [int(k) for k in ks if 2 <= int(k) < len(x)]
    if not ks:
        return max(1, min(2, len(x))), []
    if method == "agglomerative" and cluster_eval == "derivative":
        heights = tree[:, 2]                                   # merge m leaves n - 1 - m clusters
        # score of k: the height of the merge that leaves k clusters; the cut goes where the next merge
        # (k -> k - 1) jumps highest relative to it (the dendrogram's longest branches)
        curve = [(k, round(float(heights[len(heights) - k]), 6)) for k in ks if len(heights) - k >= 0]
        jumps = [float(heights[len(heights) - k + 1]) / max(h, 1e-12) for k, h in curve]
        return (curve[int(np.argmax(jumps))][0] if curve else ks[0]), curve
    curve = []
    for k in ks:
        labels = _fit_k(x, method, k, linkage_method, seed, tree)
        if len(np.unique(labels)) < 2:
            score = float("nan")
        elif cluster_eval == "silhouette":
            score = float(silhouette_score(x, labels))
        elif cluster_eval == "dbindex":
            score = float(davies_bouldin_score(x, labels))
        else:
            score = _dispersion(x, labels)
        curve.append((k, round(score, 6)))
    scores = np.array([s for _, s in curve], dtype=np.float64)
    if cluster_eval == "derivative":
        return _elbow(ks, list(scores)), curve
    if np.isnan(scores).all():
        return ks[0], curve
    pick = np.nanargmax(scores) if cluster_eval == "silhouette" else np.nanargmin(scores)
    return int(ks[int(pick)]), curve


def dbscan_eps(x: np.ndarray, min_samples: int, seed: int = 0, sample: int = K_SEARCH_SAMPLE) -> float:
    """DBSCAN's eps from the kNN distance curve: each point's distance to its min_samples-th neighbour,
    sorted; eps is where that curve bends (its point farthest from the chord between its ends)."""
    from sklearn.neighbors import NearestNeighbors

    rows = _sample(len(x), sample, seed)
    k = int(min(min_samples, len(rows) - 1))
    d = NearestNeighbors(n_neighbors=k + 1).fit(x[rows]).kneighbors(x[rows])[0][:, k]
    d = np.sort(d)
    t = np.linspace(0.0, 1.0, len(d))
    span = d[-1] - d[0]
    if not span > 0:
        return float(d[-1]) or 1e-6
    gap = (t * span + d[0]) - d        # the chord lies above a convex curve
    return float(d[int(np.argmax(gap))]) or 1e-6


def cluster_labels(x: np.ndarray, method: str, *, n_clusters: int | None = None,
                   cluster_eval: str = "silhouette", linkage_method: str = "ward", eps: float | None = None,
                   min_cluster_size: int | None = None, max_clusters: int = 20, graph_indices=None,
                   seed: int = 0, sample: int = QUADRATIC_SAMPLE) -> dict:
    """Cluster the rows of x (e.g. cluster_embedding's) with `method`.

    Returns {"labels" (n,) int32 renumbered by size (0 = largest, -1 = noise, at most max_clusters ids),
    "params", "k_curve", "linkage", "sample_index"}. graph_indices: the kNN graph of the rows (itself first),
    for assigning confident noise points (hdbscan, dbscan) to their neighbours' hotspot."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    out = {"params": {}, "k_curve": None, "linkage": None, "sample_index": None}
    if n < 4:
        out["labels"] = np.full(n, -1, np.int32)
        out["params"]["note"] = "too few images to cluster"
        return out
    mcs = int(max(2, min(min_cluster_size or default_min_cluster_size(n), n // 2)))
    if method in ("hdbscan", "dbscan"):
        if method == "hdbscan":
            import hdbscan

            ms = min(mcs, 10)
            labels = hdbscan.HDBSCAN(min_cluster_size=mcs, min_samples=ms, core_dist_n_jobs=1).fit_predict(x)
            out["params"] |= {"min_cluster_size": mcs, "min_samples": ms}
        else:
            from sklearn.cluster import DBSCAN

            ms = int(min(max(2 * x.shape[1], 4), n - 1))
            chosen = float(eps) if eps else dbscan_eps(x, ms, seed)
            labels = DBSCAN(eps=chosen, min_samples=ms).fit_predict(x)
            out["params"] |= {"eps": round(chosen, 6), "eps_from": "given" if eps else "knn-distance curve",
                              "min_samples": ms}
        found = len(set(labels.tolist()) - {-1})
        if method == "hdbscan" and found < 2 and n >= 6:   # one blob (or none): k-means, k by cluster_eval
            log.info("HDBSCAN found fewer than two hotspots; using k-means")
            got = cluster_labels(x, "kmeans", n_clusters=n_clusters, cluster_eval=cluster_eval,
                                 max_clusters=max_clusters, seed=seed)
            got["params"] = {"note": "HDBSCAN found fewer than two hotspots: k-means"} | got["params"]
            got["method"] = "kmeans"
            return got
        labels = _renumber_by_size(labels, max_clusters)
        if graph_indices is not None and found:
            labels = _renumber_by_size(assign_noise(labels, graph_indices), max_clusters)   # (sizes changed)
            out["params"] |= {"noise_assigned": f"{VOTE_SHARE:g} of {VOTE_NEIGHBORS} neighbours"}
        out["labels"] = labels.astype(np.int32)
        out["params"]["k"] = int(labels.max(initial=-1)) + 1
        return out
    rows = _sample(n, sample, seed) if method in QUADRATIC else np.arange(n)
    xs = x[rows]
    if len(rows) < n:
        out["params"]["sample"] = int(len(rows))
    tree = None
    if method == "agglomerative":
        from scipy.cluster.hierarchy import linkage

        tree = linkage(xs, method=linkage_method, metric="euclidean")
        out["linkage"], out["sample_index"] = tree, rows
        out["params"]["linkage"] = linkage_method
    if method == "affinity":
        from sklearn.cluster import AffinityPropagation

        ap = AffinityPropagation(random_state=seed, max_iter=400).fit(xs)
        labels_s = ap.labels_.astype(np.int64)
        if (labels_s < 0).all():   # did not converge: one cluster
            labels_s[:] = 0
        out["params"]["preference"] = "median similarity"
    else:
        if n_clusters:
            k = int(min(n_clusters, len(rows) - 1))
            out["params"] |= {"k_from": "given"}
        else:
            ks = range(2, int(min(max_clusters, len(rows) - 1)) + 1)
            search = _sample(len(rows), K_SEARCH_SAMPLE, seed) if method != "agglomerative" else None
            if search is not None and len(search) < len(rows):
                k, curve = choose_k(xs[search], method, ks, cluster_eval, linkage_method, seed)
            else:
                k, curve = choose_k(xs, method, ks, cluster_eval, linkage_method, seed, tree)
            out["k_curve"] = curve
            out["params"] |= {"k_from": cluster_eval}
        labels_s = _fit_k(xs, method, k, linkage_method, seed, tree)
    labels = _assign_rest(x, rows, labels_s) if len(rows) < n else labels_s
    kept = _renumber_by_size(labels, max_clusters)
    if (kept < 0).any() and (kept >= 0).any():   # clusters beyond max_clusters: to the nearest kept centre
        inside = np.flatnonzero(kept >= 0)
        kept = _assign_rest(x, inside, kept[inside]).astype(np.int32)
    out["labels"] = kept.astype(np.int32)
    out["params"]["k"] = int(kept.max(initial=-1)) + 1
    return out


def clustering_from_labels(labels: np.ndarray, features: np.ndarray, categories: list | None, method: str,
                           seed: int = 0) -> Clustering:
    """A Clustering (hotspots with medoid representatives in `features`, named) from labels."""
    names = label_hotspots(labels, categories)
    groups = _members_by_label(labels, len(names))
    spots = [Hotspot(id=c, label=name, size=len(groups[c]), representative=medoid(features, groups[c], seed=seed))
             for c, name in enumerate(names)]
    return Clustering(labels=np.asarray(labels, dtype=np.int32), hotspots=spots, method=method)


def set_name(method: str, space: str, taken) -> str:
    name = method if space == "cnn" else f"{method}-{space}"
    base, i = name, 2
    while name in taken:
        name, i = f"{base}-{i}", i + 1
    return name


def space_name(opts: dict) -> str:
    """--cluster-space, by default "blend" when --blend is given (the fused space drives the hotspots), else "cnn"."""
    given = opts.get("cluster_space")
    if given:
        return str(given)
    return "blend" if opts.get("blend") else "cnn"


def cluster_sets(spaces: dict, categories: list | None, opts: dict, graph=None, layout=None,
                 progress: bool = False) -> list[ClusterSet]:
    """One ClusterSet per --cluster-method, on --cluster-space (a key of `spaces`, e.g. {"cnn": reduced}).

    `graph`: the kNN graph of spaces["cnn"] already searched (pixmap.discover.search: itself first, in the
    map's --metric), reused when the clustered space is that one; `layout`: the map's 2D positions (made
    from spaces["blend"]), clustered instead above CLUSTER_UMAP_MAX images. Representatives (medoids) are chosen, and
    quality is measured, in the clustered space's own vectors (not in the UMAP the methods cluster)."""
    from tqdm import tqdm

    from .quality import cluster_quality

    check_cluster_options(opts)
    name_ = space_name(opts)
    if spaces.get(name_) is None:
        have = ", ".join(k for k, v in spaces.items() if v is not None)
        hint = " (give --blend to make it)" if name_ == "blend" else ""
        raise ClusterError(f"cluster-space {name_!r} is not in this build{hint}; this build has: {have}")
    is_cnn = spaces[name_] is spaces.get("cnn")
    x = np.asarray(spaces[name_], dtype=np.float32)
    seed = int(opts.get("seed") or 0)
    metric = opts.get("metric", "cosine") if is_cnn else "euclidean"
    methods = parse_methods(opts.get("cluster_method"))
    emb, knn, embedding = cluster_embedding(x, graph if is_cnn else None, metric, seed,
                                            layout=layout if spaces[name_] is spaces.get("blend") else None)
    sets: list[ClusterSet] = []
    for method in tqdm(methods, desc="clusterings", unit="method", disable=not progress or len(methods) < 2):
        got = cluster_labels(emb, method, n_clusters=opts.get("n_clusters"),
                             cluster_eval=str(opts.get("cluster_eval") or "silhouette"),
                             linkage_method=str(opts.get("linkage") or "ward"),
                             min_cluster_size=opts.get("min_cluster_size"),
                             max_clusters=int(opts.get("max_clusters") or 20), graph_indices=knn[0], seed=seed)
        labels = got["labels"]
        clustering = clustering_from_labels(labels, x, categories, got.get("method", method), seed)
        params = {"embedding": embedding} | got["params"]
        name = set_name(method, name_, {s.name for s in sets})
        sets.append(ClusterSet(name=name, method=method, params=params, space=name_, clustering=clustering,
                               quality=cluster_quality(x, labels, categories, seed=seed), k_curve=got["k_curve"],
                               linkage=got["linkage"], sample_index=got["sample_index"]))
    return sets


def write_clusterings(data, sets: list[ClusterSet], main_entry: dict, main: Clustering, spaces: dict,
                      categories=None, seed: int = 0) -> dict:
    """Write data/clusters-<name>.i32 per set and return {"clusterings": [...]} for the manifest (site
    format 6; {} when there are none). Also adds each hotspot's "silhouette" and the overall "quality" to
    the main `clusters` entry (`main_entry`, for `main`: the first set, or the curated / given hotspots,
    measured then in the cnn space), and "clustering": the name of the set it is, when it is one."""
    from pathlib import Path

    from .quality import cluster_quality

    first = sets[0] if sets and sets[0].clustering is main else None
    if first is not None:
        quality = first.quality
        main_entry["clustering"] = first.name
    elif spaces.get("cnn") is not None and len(main.labels):
        quality = cluster_quality(spaces["cnn"], main.labels, categories, seed=seed)
    else:
        quality = None
    if quality is not None:
        sil = {c["id"]: c["silhouette"] for c in quality["per_cluster"]}
        for spot in main_entry.get("hotspots", []):
            spot["silhouette"] = sil.get(spot["id"])
        main_entry["quality"] = {k: v for k, v in quality.items() if k != "per_cluster"}
    if not sets:
        return {}
    for cset in sets:
        np.ascontiguousarray(cset.clustering.labels, dtype="<i4").tofile(Path(data) / Path(cset.file).name)
    return {"clusterings": [cset.manifest_entry() for cset in sets]}
