"""The "grid" layout: the UMAP layout snapped to a rectangular grid, one image per cell.

An assignment, not a sort: `assign_cells` matches m points to m cells by recursive balanced bisection
(split the cells in half across their longer extent, split the points at the same count along the same
axis, recurse; O(m log^2 m), vectorised level by level), then optionally refines each small tile with an
exact linear_sum_assignment. Neighbours stay neighbours and no two images share a cell.
"""
from __future__ import annotations

import numpy as np

from .base import Layout


def _extent(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    finite = np.isfinite(a).all(axis=1)
    if not finite.any():
        return np.ones(2)
    return a[finite].max(axis=0) - a[finite].min(axis=0)


def grid_shape(n: int, aspect: float = 1.0) -> tuple[int, int]:
    """(rows, cols) with rows * cols >= n, cols / rows close to aspect (width / height)."""
    if n <= 0:
        return 0, 0
    aspect = float(aspect) if np.isfinite(aspect) and aspect > 0 else 1.0
    aspect = min(max(aspect, 1.0 / n), float(n))
    cols = int(max(1, min(n, round(np.sqrt(n * aspect)))))
    rows = int(np.ceil(n / cols))
    cols = int(np.ceil(n / rows))          # trim columns the rows made unnecessary
    return rows, cols


def grid_cells(n: int, cols: int, origin=(0.0, 0.0), top_down: bool = True) -> np.ndarray:
    """Centres of the first n cells of a grid `cols` wide, filled row by row (unit cells).

    top_down: row 0 at the top (y = origin.y, then y - 1, ...), the partial last row at the bottom;
    otherwise row 0 at the bottom and rows grow upward.
    """
    i = np.arange(n)
    r, c = i // max(cols, 1), i % max(cols, 1)
    y = -r if top_down else r
    return np.stack([origin[0] + c, origin[1] + y], axis=1).astype(np.float64)


def _region_ids(starts: np.ndarray, m: int) -> np.ndarray:
    sizes = np.diff(np.append(starts, m))
    return np.repeat(np.arange(starts.size), sizes)


def assign_cells(points: np.ndarray, cells: np.ndarray, refine: int = 64) -> np.ndarray:
    """Match m points (m, 2) to m cells (m, 2) one to one, keeping neighbours near each other.

    Returns `where` (m,) int: point i goes to cell where[i]. Deterministic.
    refine: if > 1, tiles of at most this many cells are re-solved exactly (Hungarian, on positions
    rescaled to the tile); 0 keeps the pure bisection. 64 (default) costs little and keeps
    ~5 points more of every 100 neighbours (measured: 0.50 -> 0.55 of 10-NN kept; exact global LSA 0.575).
    """
    p = np.nan_to_num(np.asarray(points, dtype=np.float64))
    c = np.asarray(cells, dtype=np.float64)
    m = p.shape[0]
    if c.shape[0] != m:
        raise ValueError(f"{m} points for {c.shape[0]} cells")
    if m == 0:
        return np.zeros(0, dtype=np.int64)
    porder = np.arange(m)
    corder = np.arange(m)
    starts = np.zeros(1, dtype=np.int64)
    stop_at = max(1, int(refine))
    while True:
        sizes = np.diff(np.append(starts, m))
        if sizes.max() <= stop_at:
            break
        rid = _region_ids(starts, m)
        cx, cy = c[corder, 0], c[corder, 1]
        ext_x = np.maximum.reduceat(cx, starts) - np.minimum.reduceat(cx, starts)
        ext_y = np.maximum.reduceat(cy, starts) - np.minimum.reduceat(cy, starts)
        split_x = (ext_x >= ext_y)[rid]
        k1 = np.where(split_x, cx, cy)
        k2 = np.where(split_x, cy, cx)
        corder = corder[np.lexsort((corder, k2, k1, rid))]
        px, py = p[porder, 0], p[porder, 1]
        k1 = np.where(split_x, px, py)
        k2 = np.where(split_x, py, px)
        porder = porder[np.lexsort((porder, k2, k1, rid))]
        big = sizes > stop_at
        mids = starts[big] + sizes[big] // 2
        starts = np.sort(np.concatenate([starts, mids]))
    if stop_at > 1:
        _refine_tiles(p, c, porder, corder, starts)
    where = np.empty(m, dtype=np.int64)
    where[porder] = corder
    return where


def _refine_tiles(p, c, porder, corder, starts):
    """Exact assignment within each tile (in place on corder), points rescaled to the tile's cells."""
    from scipy.optimize import linear_sum_assignment

    m = porder.size
    ends = np.append(starts[1:], m)
    for a, b in zip(starts, ends):
        if b - a < 2:
            continue
        pi, ci = porder[a:b], corder[a:b]
        pp, cc = p[pi], c[ci]
        lo, hi = pp.min(0), pp.max(0)
        clo, chi = cc.min(0), cc.max(0)
        span = np.where(hi > lo, hi - lo, 1.0)
        q = clo + (pp - lo) / span * (chi - clo)
        cost = ((q[:, None, :] - cc[None, :, :]) ** 2).sum(-1)
        _, col = linear_sum_assignment(cost)
        corder[a:b] = ci[col]


def grid_layout(xy: np.ndarray, name: str = "grid", label: str = "Grid", refine: int = 64) -> Layout:
    """The layout xy (n, 2) snapped to a grid of about sqrt(n) x sqrt(n) unit cells (its aspect kept).

    Rows fill from the top; the last row may be partial. point_size = 1 (one cell).
    """
    xy = np.asarray(xy, dtype=np.float64)[:, :2]
    n = xy.shape[0]
    if n == 0:
        return Layout(name=name, label=label, positions=np.zeros((0, 2), np.float32), point_size=1.0)
    w, h = _extent(xy)
    rows, cols = grid_shape(n, (w / h) if h > 0 else (1.0 if w == 0 else float(n)))
    cells = grid_cells(n, cols)
    where = assign_cells(xy, cells, refine=refine)
    pos = cells[where].astype(np.float32)
    return Layout(name=name, label=label, positions=pos, point_size=1.0,
                  params={"rows": rows, "cols": cols})


def neighbourhood_kept(a: np.ndarray, b: np.ndarray, k: int = 10, sample: int | None = 20000,
                       seed: int = 0) -> float:
    """Mean share of each point's k nearest neighbours in layout a that are among its k nearest in b."""
    from scipy.spatial import cKDTree

    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    n = a.shape[0]
    if n <= k:
        return 1.0
    rows = np.arange(n)
    if sample and n > sample:
        rows = np.random.default_rng(seed).choice(n, sample, replace=False)
    # tiny jitter so equal grid distances are broken without bias
    jitter = np.random.default_rng(seed).uniform(-1e-6, 1e-6, b.shape) * (np.ptp(b) or 1.0)
    _, ia = cKDTree(a).query(a[rows], k + 1)
    _, ib = cKDTree(b + jitter).query(b[rows] + jitter[rows], k + 1)
    kept = [len(set(x[1:]) & set(y[1:])) for x, y in zip(ia.tolist(), ib.tolist())]
    return float(np.mean(kept) / k)
