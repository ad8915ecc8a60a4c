"""Layouts from a metadata column: "alphabetic" (a grid in the column's order) and "custom" (x, y(, z)
taken from columns).

Both keep positions aligned to the image index: a row without a value is never dropped or shifted, it is
set aside in a labelled block of its own (PixPlot's custom layout shifted everyone after a missing row).
"""
from __future__ import annotations

import math

import numpy as np

from ._blocks import floats, is_missing, natural_key, square_cols, text_of
from .base import Layout
from .grid import grid_cells

MISSING_VALUES = "(missing values)"


def sorted_layout(values, column: str, name: str = "alphabetic", label: str | None = None) -> Layout:
    """A near-square grid in reading order (left to right, top to bottom) sorted by the column's value:
    natural, case-insensitive ("img2" < "img10", "apple" next to "Apple"); ties keep data order.
    Images without a value come last, in their own block below, labelled "(no <column>)".
    Labels: the first value (above the first cell), the last value (under the last cell) and the
    missing block's title. Units: one cell = 1.
    """
    values = list(values)
    n = len(values)
    present = [i for i, v in enumerate(values) if not is_missing(v)]
    missing = [i for i, v in enumerate(values) if is_missing(v)]
    present.sort(key=lambda i: natural_key(text_of(values[i])))
    pos = np.zeros((n, 2), dtype=np.float64)
    labels = []
    cols = square_cols(max(len(present), len(missing), 1))
    if present:
        pos[present] = grid_cells(len(present), cols)
        first, last = text_of(values[present[0]]), text_of(values[present[-1]])
        labels.append({"text": _short(first), "x": 0.0, "y": 1.0})
        lastpos = pos[present[-1]]
        labels.append({"text": _short(last), "x": float(lastpos[0]), "y": float(lastpos[1] - 1.0)})
    if missing:
        top = -math.ceil(len(present) / cols) - 2.5 if present else 0.0
        pos[missing] = grid_cells(len(missing), cols, origin=(0.0, top))
        labels.append({"text": f"(no {column})", "x": 0.0, "y": float(top + 1.0)})
    return Layout(name=name, label=label or f"By {column}", positions=pos.astype(np.float32),
                  labels=labels, point_size=1.0, params={"column": column})


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def custom_layout(x, y, z=None, name: str = "custom", label: str = "Custom") -> Layout:
    """Positions straight from metadata columns (numbers or numeric strings).

    Rows missing any coordinate keep their index: they are placed in a grid block below the data,
    labelled "(missing values)". 3D when z is given. point_size: a cell of that block, about
    extent / sqrt(n).
    """
    cols_in = [x, y] + ([z] if z is not None else [])
    arrays = [floats(c) for c in cols_in]
    n = arrays[0].size
    if any(a.size != n for a in arrays):
        raise ValueError("x, y (and z) must have one value per image")
    pos = np.stack(arrays, axis=1) if n else np.zeros((0, len(arrays)))
    ok = np.isfinite(pos).all(axis=1)
    labels = []
    if ok.any():
        lo, hi = pos[ok].min(0), pos[ok].max(0)
        extent = float((hi - lo)[:2].max()) or 1.0
        cell = extent / max(math.sqrt(ok.sum()), 1.0)
    else:
        lo = hi = np.zeros(pos.shape[1])
        cell = 1.0
    bad = np.flatnonzero(~ok)
    if bad.size:
        per_row = max(1, min(square_cols(bad.size), int(max((hi - lo)[0], cell) / cell) + 1)) \
            if ok.any() else square_cols(bad.size)
        top = float(lo[1] - 3 * cell) if ok.any() else 0.0
        cells = grid_cells(bad.size, per_row, origin=(0.0, 0.0)) * cell + [float(lo[0]), top]
        pos[bad, 0] = cells[:, 0]
        pos[bad, 1] = cells[:, 1]
        if pos.shape[1] == 3:
            pos[bad, 2] = float(lo[2])
        lab = {"text": MISSING_VALUES, "x": float(lo[0]), "y": top + cell}
        if pos.shape[1] == 3:
            lab["z"] = float(lo[2])
        labels.append(lab)
    return Layout(name=name, label=label, positions=pos.astype(np.float32), labels=labels,
                  point_size=float(cell))
