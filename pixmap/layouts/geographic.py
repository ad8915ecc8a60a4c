"""The "geographic" layout: images at their coordinates on an equirectangular world map (x = lng, y = lat).

The world outline (coastlines and borders) ships with the package as polylines: pixmap/data/world-110m.json,
Natural Earth 1:110m (public domain), converted once from the TopoJSON of the npm package world-atlas.
Images sharing one coordinate are laid on a small sunflower spiral around it so all stay visible. Images
without valid coordinates are set aside in a grid block below Antarctica labelled "(no coordinates)".
Units: degrees.
"""
from __future__ import annotations

import functools
import json
import math
from importlib import resources

import numpy as np

from ._blocks import floats, square_cols
from .base import Layout
from .grid import assign_cells, grid_cells

NO_COORDINATES = "(no coordinates)"
_GOLDEN = math.pi * (3 - math.sqrt(5))


@functools.lru_cache(maxsize=1)
def _world_flat() -> tuple:
    data = json.loads(resources.files("pixmap").joinpath("data/world-110m.json").read_text("utf-8"))
    return tuple(tuple(line) for line in data["lines"])


def world_lines() -> list[np.ndarray]:
    """The world outline: a list of (m, 2) float32 arrays of (lng, lat)."""
    return [np.asarray(line, dtype=np.float32).reshape(-1, 2) for line in _world_flat()]


def valid_coordinates(lat, lng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lat, lng, ok): floats parsed leniently; lng in (180, 360] wrapped to (-180, 0]; ok where both
    are finite and in range."""
    la = floats(lat)
    lo = floats(lng)
    if la.size != lo.size:
        raise ValueError("lat and lng must have one value per image")
    with np.errstate(invalid="ignore"):
        wrap = (lo > 180) & (lo <= 360)
        lo[wrap] -= 360
        ok = np.isfinite(la) & np.isfinite(lo) & (np.abs(la) <= 90) & (np.abs(lo) <= 180)
    return la, lo, ok


def spiral_offsets(count: int, spacing: float) -> np.ndarray:
    """Sunflower (Vogel) spiral: count points ~spacing apart, the first at the centre."""
    k = np.arange(count, dtype=np.float64)
    r = spacing * np.sqrt(k) * 0.6
    t = k * _GOLDEN
    return np.stack([r * np.cos(t), r * np.sin(t)], axis=1)


def geographic_layout(lat, lng, xy: np.ndarray | None = None, name: str = "geographic",
                      label: str = "Map", outline: bool = True) -> Layout:
    """Equirectangular map of per-image (lat, lng) (numbers or numeric strings; None / bad = missing).

    xy: optional UMAP positions, used to order the "(no coordinates)" block by similarity.
    point_size: about sqrt(world area / n) / 3 degrees, between 0.05 and 3.
    """
    la, lo, ok = valid_coordinates(lat, lng)
    n = la.size
    point = float(np.clip(math.sqrt(360.0 * 180.0 / max(int(ok.sum()), 1)) / 3.0, 0.05, 3.0))
    pos = np.zeros((n, 2), dtype=np.float64)
    pos[ok, 0], pos[ok, 1] = lo[ok], la[ok]
    # spread images sharing a coordinate on a spiral
    if ok.any():
        idx = np.flatnonzero(ok)
        keys = np.round(pos[idx] * 1e6).astype(np.int64)
        _, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
        inverse = inverse.reshape(-1)
        order = np.argsort(inverse, kind="stable")
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        rank = np.empty(idx.size, dtype=np.int64)
        rank[order] = np.arange(idx.size) - np.repeat(starts, counts)
        shared = counts[inverse] > 1
        if shared.any():
            offs = spiral_offsets(int(counts.max()), point)
            pos[idx[shared]] += offs[rank[shared]]
    labels = []
    bad = np.flatnonzero(~ok)
    if bad.size:
        per_row = max(1, min(square_cols(bad.size), int(360.0 / point)))
        top = -90.0 - 6.0 * point - 4.0
        cells = grid_cells(bad.size, per_row) * point + [-180.0 + point / 2, top]
        if xy is not None:
            pos[bad] = cells[assign_cells(np.asarray(xy, dtype=np.float64)[bad, :2], cells)]
        else:
            pos[bad] = cells
        labels.append({"text": NO_COORDINATES, "x": -180.0 + point / 2, "y": top + 1.5 * point + 1.0})
    lines = world_lines() if outline else []
    return Layout(name=name, label=label, positions=pos.astype(np.float32), labels=labels,
                  lines=lines, point_size=point)
