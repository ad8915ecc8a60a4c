"""Similar images: each image's k nearest neighbours, for the lightbox's "Similar" strip, the similarity
graph and the recommendations (docs/site-format.md, "Version 5").

    graph = knn_graph(reduced, k_search, metric)      # the build's one kNN search (UMAP reuses it)
    idx, dist = drop_self(*graph, k)                   # each image's k neighbours, best first
    entry = write_neighbors(data, idx, dist, metric)   # data/neighbors/<c>.u32 and <c>.u8, in chunks

The space: the build's PCA reduction of the CNN features (`--pca-components`, 100 by default) with the
map's metric (`--metric`, cosine by default) -- the space UMAP's own neighbour search runs in, so one search
(`pixmap.layouts.umap.knn`: exact up to 75,000 images, pynndescent above) serves both the map and the
similar images. On flowers5 the 12 neighbours found there share the image's label as often as those of the
raw 1280-dimensional features do (bench/bench_discover.py prints both).

Files: per chunk of CHUNK images, `<c>.u32` holds their neighbours' indices (uint32 little-endian, k per
image, best first) and `<c>.u8` each edge's distance, quantised: `d ~= q / 255 * distance_scale` where
distance_scale is the largest distance of any edge (so q = 0 is the nearest possible, 255 the farthest
edge of the map). Only the chunks a view needs are loaded: one image's neighbours cost one chunk.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

DEFAULT_K = 12       # neighbours per image (--neighbors-k; 0: none)
CHUNK = 4096         # images per file: at k = 12, 196 KB of ids and 49 KB of distances
DIR = "data/neighbors"


def search_k(k: int, n_neighbors: int) -> int:
    """How many neighbours (the image itself included) the build's one search must find: enough for UMAP's
    largest n_neighbors and for k similar images."""
    return max(int(n_neighbors), int(k) + 1 if k > 0 else 0)


def knn_graph(x: np.ndarray, k: int, metric: str = "cosine", seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest neighbours of every row of x, itself first (pixmap.layouts.umap.knn: exact brute force
    up to its EXACT_KNN_MAX rows, pynndescent above). Returns (indices int64 (n, k), distances float32)."""
    from .layouts.umap import knn

    return knn(x, k, metric, seed=seed)


def drop_self(indices: np.ndarray, distances: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The first k neighbours of each row other than the row itself (column 0 of a knn_graph), as
    (uint32 (n, k'), float32 (n, k')) with k' = min(k, columns - 1)."""
    indices = np.asarray(indices)
    n = indices.shape[0]
    k = max(0, min(int(k), indices.shape[1] - 1))
    if n and not (indices[:, 0] == np.arange(n)).all():
        raise ValueError("each row's first neighbour must be the row itself (as knn_graph returns it)")
    return (np.ascontiguousarray(indices[:, 1:k + 1], dtype=np.uint32),
            np.ascontiguousarray(distances[:, 1:k + 1], dtype=np.float32))


def quantise_distances(distances: np.ndarray) -> tuple[np.ndarray, float]:
    """Distances as uint8 q = round(255 * d / scale), scale the largest distance (1.0 when all are 0 or
    there are none); d ~= q / 255 * scale, within scale / 510."""
    d = np.nan_to_num(np.asarray(distances, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    d = np.maximum(d, 0.0)
    scale = float(d.max()) if d.size else 0.0
    if not scale > 0:
        scale = 1.0
    q = np.clip(np.rint(d / scale * 255.0), 0, 255).astype(np.uint8)
    return q, scale


def write_neighbors(data: Path, indices: np.ndarray, distances: np.ndarray, metric: str, *,
                    space: str = "pca", chunk: int = CHUNK) -> dict:
    """Write each image's neighbours (drop_self's arrays) in chunks under data/neighbors/; return the
    manifest's `neighbors` entry."""
    data = Path(data)
    folder = data / "neighbors"
    folder.mkdir(parents=True, exist_ok=True)
    indices = np.asarray(indices)
    n, k = indices.shape
    q, scale = quantise_distances(distances)
    for c, a in enumerate(range(0, max(n, 1), chunk)):
        b = min(n, a + chunk)
        np.ascontiguousarray(indices[a:b], dtype="<u4").tofile(folder / f"{c}.u32")
        np.ascontiguousarray(q[a:b], dtype=np.uint8).tofile(folder / f"{c}.u8")
    return {"k": int(k), "chunk": int(chunk), "dir": DIR, "metric": str(metric), "space": space,
            "distance_scale": round(scale, 6)}


def read_neighbors(site: Path, entry: dict | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """A built site's neighbours: (indices uint32 (n, k), quantised distances uint8 (n, k), the manifest entry)."""
    import json

    site = Path(site)
    manifest = json.loads((site / "data" / "manifest.json").read_text(encoding="utf-8"))
    entry = entry or manifest.get("neighbors")
    if not entry:
        raise ValueError(f"{site} has no neighbours (a site of format version 5 built with --neighbors-k > 0 has)")
    n, k, chunk = int(manifest["count"]), int(entry["k"]), int(entry["chunk"])
    ids = np.empty((n, k), dtype=np.uint32)
    q = np.empty((n, k), dtype=np.uint8)
    for c, a in enumerate(range(0, n, chunk)):
        b = min(n, a + chunk)
        ids[a:b] = np.fromfile(site / entry["dir"] / f"{c}.u32", dtype="<u4").reshape(b - a, k)
        q[a:b] = np.fromfile(site / entry["dir"] / f"{c}.u8", dtype=np.uint8).reshape(b - a, k)
    return ids, q, entry


def label_share(indices: np.ndarray, labels) -> float:
    """The share of the neighbours (indices (n, k), self excluded) that carry their image's label."""
    labels = np.asarray(labels)
    indices = np.asarray(indices, dtype=np.int64)
    if indices.size == 0:
        return float("nan")
    return float((labels[indices] == labels[:, None]).mean())
