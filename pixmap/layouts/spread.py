"""The "umap-spread" layout: UMAP de-overlapped so that thumbnails do not cover one another.

Each image is a square of side s (chosen from n and the area the layout occupies). First crowded
regions swell (points flow down the gradient of the excess density, on a grid), then overlapping pairs
(found with a KD-tree, Chebyshev distance < s) are pushed apart along the axis of least overlap until
none is left (bounded rounds). The layout's shape stays; dense clusters grow into the space around them.
"""
from __future__ import annotations

import numpy as np

from .base import Layout


def thumb_size(xy: np.ndarray, fill: float = 0.45) -> float:
    """Side s of one thumbnail so that n squares cover `fill` of the area the layout occupies.

    The occupied area is the number of non-empty cells of a ~sqrt(n)/2 x sqrt(n)/2 histogram.
    """
    xy = np.asarray(xy, dtype=np.float64)
    n = xy.shape[0]
    if n < 2:
        return 1.0
    lo, hi = xy.min(0), xy.max(0)
    ext = np.maximum(hi - lo, 1e-12)
    b = int(np.clip(np.sqrt(n) / 2, 4, 256))
    bins = np.maximum(1, np.round(b * ext / ext.max())).astype(int)
    hist, _, _ = np.histogram2d(xy[:, 0], xy[:, 1], bins=bins, range=[[lo[0], hi[0]], [lo[1], hi[1]]])
    cell_area = (ext[0] / bins[0]) * (ext[1] / bins[1])
    area = max(np.count_nonzero(hist), 1) * cell_area
    return float(np.sqrt(fill * area / n))


def separate(xy: np.ndarray, size: float, max_iter: int = 200, step: float = 1.0, seed: int = 0,
             tol: float = 0.0, damp: float = 0.0, clip: float = 1.0) -> tuple[np.ndarray, int]:
    """Push squares of side `size` centred at xy apart until none overlap (or max_iter rounds).

    Returns (positions, overlapping pairs left). Vectorised: one KD-tree query per round.
    """
    from scipy.spatial import cKDTree

    p = np.array(xy, dtype=np.float64)
    n = p.shape[0]
    rng = np.random.default_rng(seed)
    s = float(size) * (1 - 1e-9)
    left = 0
    for _ in range(max_iter):
        pairs = cKDTree(p).query_pairs(s, p=np.inf, output_type="ndarray")
        left = len(pairs)
        if left <= tol * n:
            break
        i, j = pairs[:, 0], pairs[:, 1]
        d = p[j] - p[i]
        ad = np.abs(d)
        ox, oy = size * 1.02 - ad[:, 0], size * 1.02 - ad[:, 1]     # a little margin: no creeping
        along_x = ox < oy
        # coincident points: a random direction
        zero = (ad[:, 0] < 1e-12 * size) & (ad[:, 1] < 1e-12 * size)
        sign = np.sign(d)
        if zero.any():
            sign[zero] = rng.choice([-1.0, 1.0], size=(int(zero.sum()), 2))
        sign[sign == 0] = 1.0
        push = np.zeros_like(d)
        push[along_x, 0] = (ox * sign[:, 0])[along_x] / 2
        push[~along_x, 1] = (oy * sign[:, 1])[~along_x] / 2
        # a point in many pairs moves by the mean of its pushes (keeps crowded cores stable)
        cnt = np.bincount(i, minlength=n) + np.bincount(j, minlength=n)
        move = np.zeros_like(p)
        for axis in (0, 1):
            move[:, axis] = (np.bincount(j, push[:, axis], minlength=n)
                             - np.bincount(i, push[:, axis], minlength=n))
        if damp:
            move /= np.maximum(cnt, 1)[:, None] ** damp
        if clip:
            norm = np.sqrt((move ** 2).sum(1))
            big = norm > clip * size
            move[big] *= (clip * size / norm[big])[:, None]
        p += step * move
    return p, left


def expand(xy: np.ndarray, size: float, iters: int = 150, target: float = 0.15, cell: float = 3.0) -> np.ndarray:
    """Let crowded regions swell: points flow down the gradient of the excess density.

    Density is counted on a grid of cells `cell`*size wide (in thumbnails per size^2), blurred; where it
    exceeds `target` the excess acts as a pressure and points move along -grad(pressure)/density, at most
    half a cell per round. Areas at or below the target density do not move, so the shape stays.
    """
    from scipy.ndimage import gaussian_filter, map_coordinates

    p = np.array(xy, dtype=np.float64)
    h = cell * size
    for _ in range(iters):
        lo = p.min(0) - 3 * h
        shape = np.ceil((p.max(0) + 3 * h - lo) / h).astype(int) + 2
        if shape.prod() > 4_000_000:       # keep the grid bounded: coarser cells
            hh = h * np.sqrt(shape.prod() / 4_000_000)
            shape = np.ceil((p.max(0) + 3 * h - lo) / hh).astype(int) + 2
        else:
            hh = h
        g = (p - lo) / hh                  # in grid-node units
        i0 = np.floor(g).astype(np.int64)
        t = g - i0
        # cloud-in-cell deposit: the field is centred on the points themselves, so a blob has its
        # peak at its own centre and does not drift as a whole
        counts = np.zeros(int(shape.prod()))
        for dx in (0, 1):
            wx = t[:, 0] if dx else 1 - t[:, 0]
            for dy in (0, 1):
                wy = t[:, 1] if dy else 1 - t[:, 1]
                counts += np.bincount((i0[:, 0] + dx) * shape[1] + i0[:, 1] + dy, wx * wy,
                                      minlength=counts.size)
        dens = gaussian_filter(counts.reshape(shape), 1.0) * (size * size) / (hh * hh)
        if dens.max() <= target * 1.05:
            break
        press = np.maximum(dens - target, 0.0)
        gx, gy = np.gradient(press)
        coords = g.T
        vx = map_coordinates(gx, coords, order=1, mode="nearest")
        vy = map_coordinates(gy, coords, order=1, mode="nearest")
        d = np.maximum(map_coordinates(dens, coords, order=1, mode="nearest"), target)
        v = -np.stack([vx, vy], 1) / d[:, None]          # in cells per round
        norm = np.sqrt((v ** 2).sum(1))
        big = norm > 0.5
        v[big] *= (0.5 / norm[big])[:, None]
        p += v * hh
    return p


def _jitter_duplicates(xy: np.ndarray, size: float, seed: int) -> np.ndarray:
    """Images at one exact position get small random offsets (seeded), so pushes have a direction."""
    p = np.array(xy, dtype=np.float64)
    _, inverse, counts = np.unique(p, axis=0, return_inverse=True, return_counts=True)
    dup = counts[inverse.reshape(-1)] > 1
    if dup.any():
        rng = np.random.default_rng(seed)
        p[dup] += rng.uniform(-0.5, 0.5, size=(int(dup.sum()), 2)) * size
    return p


def spread_layout(xy: np.ndarray, size: float | None = None, fill: float = 0.45, max_iter: int = 200,
                  seed: int = 0, name: str = "umap-spread", label: str = "UMAP (spread)") -> Layout:
    """De-overlapped copy of a 2D layout; point_size = the thumbnail side s (in xy's units).

    Two phases: `expand` (crowded regions swell by a density-pressure flow on a grid, cheap and
    global) then `separate` (pairwise pushes until no two squares of side s overlap, bounded rounds).
    params["overlaps_left"] says how many overlapping pairs remain (0 unless max_iter ran out).
    """
    xy = np.nan_to_num(np.asarray(xy, dtype=np.float64)[:, :2])
    n = xy.shape[0]
    s = float(size) if size else thumb_size(xy, fill)
    if n < 2:
        return Layout(name=name, label=label, positions=xy.astype(np.float32), point_size=s,
                      params={"size": s, "overlaps_left": 0})
    pos = _jitter_duplicates(xy, s, seed)
    pos = expand(pos, s)
    pos, left = separate(pos, s, max_iter=max_iter, seed=seed)
    return Layout(name=name, label=label, positions=pos.astype(np.float32), point_size=s,
                  params={"size": s, "overlaps_left": int(left)})
