"""Near-duplicates: groups of images whose features are nearly identical (the same work photographed twice,
a crop, a resized or recoloured copy), for the artifacts' duplicates.csv, the report and the viewer
(docs/site-format.md, "Version 6", "Near-duplicates").

    dups = find_duplicates(reduced, threshold=0.08, graph=graph)   # graph: the build's kNN search, if any
    dups.groups          # [array of image indices, first member first], the tightest group first
    write_csv(artifacts / "duplicates.csv", dups, ids, paths)
    manifest["duplicates"] = write_site(data_dir, dups)

The space is the build's PCA reduction of the CNN features with the cosine distance: the space of the
build's one neighbour search (pixmap.discover.search), whose graph is reused when it was made with the
cosine metric; otherwise a search of its own (pixmap.neighbors.knn_graph: exact up to 75,000 images,
pynndescent above), of a few neighbours. Every kNN edge at most `threshold` apart joins two images; the
groups are the connected components of those edges (scipy.sparse.csgraph) with two or more images.

On the demo paintings a resized copy of a painting, cropped by a few per cent on each side, lies 0.045 from
its original while the closest two different paintings are 0.12 apart: DEFAULT_THRESHOLD (0.08) sits
between them.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DEFAULT_THRESHOLD = 0.08   # cosine distance in the PCA space (--duplicates-threshold; 0: none searched)
SEARCH_K = 6               # neighbours (the image itself included) searched when the build's graph is not reused
FILE = "data/duplicates.json"


@dataclass
class Duplicates:
    threshold: float
    groups: list[np.ndarray] = field(default_factory=list)      # image indices (int64), increasing
    distances: list[np.ndarray] = field(default_factory=list)   # per member: cosine distance to groups[g][0]
    closest: list[float] = field(default_factory=list)          # per group: its smallest edge
    metric: str = "cosine"

    @property
    def n_images(self) -> int:
        return int(sum(len(g) for g in self.groups))


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def find_duplicates(x: np.ndarray, threshold: float = DEFAULT_THRESHOLD, graph=None, metric: str = "cosine",
                    seed: int = 0) -> Duplicates:
    """Groups of near-identical rows of `x` (n, d): rows joined by kNN edges of cosine distance <= threshold.

    `graph`: (indices (n, k), distances (n, k)) of a kNN search of x, each row's own index first
    (pixmap.neighbors.knn_graph), reused when its `metric` is cosine. Groups are ordered by their
    smallest edge (the most certain first); each group's members by index.
    """
    n = len(x)
    out = Duplicates(threshold=float(threshold))
    if n < 2 or not threshold > 0:
        return out
    if graph is None or metric != "cosine":
        from .neighbors import knn_graph

        graph = knn_graph(np.asarray(x, dtype=np.float32), min(SEARCH_K, n), "cosine", seed=seed)
    idx = np.asarray(graph[0], dtype=np.int64)
    dist = np.asarray(graph[1], dtype=np.float64)
    rows = np.repeat(np.arange(n, dtype=np.int64), idx.shape[1])
    cols, d = idx.ravel(), dist.ravel()
    keep = (cols >= 0) & (cols != rows) & (d <= threshold)
    rows, cols, d = rows[keep], cols[keep], d[keep]
    if len(rows) == 0:
        return out
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    adj = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n)).tocsr()
    _, comp = connected_components(adj, directed=True, connection="weak")
    sizes = np.bincount(comp)
    in_group = np.flatnonzero(sizes[comp] >= 2)
    order = in_group[np.argsort(comp[in_group], kind="stable")]   # members by group, each by index
    starts = np.flatnonzero(np.r_[True, comp[order][1:] != comp[order][:-1]])
    first = np.repeat(order[starts], np.diff(np.r_[starts, len(order)]))   # per member: its group's first
    closest = np.full(len(sizes), np.inf)
    np.minimum.at(closest, comp[rows], d)
    dist_first = np.empty(len(order), np.float64)
    for a in range(0, len(order), 65_536):   # cosine distance of each member to its group's first, in chunks
        u, v = _unit(np.asarray(x[order[a:a + 65_536]])), _unit(np.asarray(x[first[a:a + 65_536]]))
        dist_first[a:a + 65_536] = np.clip(1.0 - (u * v).sum(axis=1), 0.0, 2.0)
    groups = np.split(order, starts[1:])
    dists = np.split(dist_first, starts[1:])
    tight = closest[comp[order[starts]]]
    for j in np.lexsort((order[starts], tight)):   # the tightest group first, then by first member
        out.groups.append(groups[j])
        out.distances.append(dists[j])
        out.closest.append(float(tight[j]))
    return out


def write_csv(path: Path, dups: Duplicates, ids: list[str], paths: list[str]) -> None:
    """duplicates.csv: one row per image in a group: group (1, 2, ...), id, its cosine distance to the
    group's first member, its path."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["group", "id", "distance", "path"])
        for g, (members, dist) in enumerate(zip(dups.groups, dups.distances), start=1):
            for i, d in zip(members.tolist(), dist.tolist()):
                w.writerow([g, ids[i], f"{d:.4f}", paths[i]])


def write_site(data_dir: Path, dups: Duplicates) -> dict:
    """data/duplicates.json ({"threshold", "metric", "groups": [[image index, ...], ...]}); returns the
    manifest's `duplicates` entry."""
    doc = {"threshold": dups.threshold, "metric": dups.metric, "space": "pca",
           "groups": [[int(i) for i in g] for g in dups.groups]}
    (Path(data_dir) / "duplicates.json").write_text(json.dumps(doc, separators=(",", ":")), encoding="utf-8")
    return {"file": FILE, "groups": len(dups.groups), "images": dups.n_images, "threshold": dups.threshold}
