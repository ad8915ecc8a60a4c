"""The build's part of similar images, the similarity graph and recommendations (site format 5): one kNN
search in the PCA space, shared with UMAP, and the site's neighbour and vector files.

    graph = discover.search(reduced, opts)                 # before the layouts: pass it to them
    manifest.update(discover.write(data, graph, reduced, opts))
"""
from __future__ import annotations

import numpy as np

from . import neighbors, vectors
from .options import parse_list


def search(reduced: np.ndarray, opts: dict):
    """The build's one nearest-neighbour search (pixmap.neighbors.knn_graph), with enough neighbours for the
    UMAP layouts (every --n-neighbors) and for --neighbors-k similar images; None when no similar images
    are asked for (UMAP then searches for itself, as before)."""
    k = int(opts.get("neighbors_k") or 0)
    if k <= 0 or reduced.shape[0] < 2:
        return None
    wanted = neighbors.search_k(k, max(parse_list(opts["n_neighbors"], int)))
    return neighbors.knn_graph(reduced, wanted, opts["metric"], seed=int(opts["seed"]))


def write(data, graph, reduced: np.ndarray, opts: dict) -> dict:
    """The manifest entries `neighbors` (when graph is given) and `vectors` (unless opts["vectors"] is
    false), their files written under data/."""
    out = {}
    if graph is not None:
        idx, dist = neighbors.drop_self(graph[0], graph[1], int(opts["neighbors_k"]))
        if idx.shape[1] > 0:
            out["neighbors"] = neighbors.write_neighbors(data, idx, dist, opts["metric"],
                                                         space=f"pca-{reduced.shape[1]}")
    if opts.get("vectors", True) and reduced.shape[0] > 0 and reduced.shape[1] > 0:
        out["vectors"] = vectors.write_vectors(data, reduced)
    return out
