"""Helpers shared by the metadata layouts: missing values, natural sort, blocks of grid cells."""
from __future__ import annotations

import math
import re
import unicodedata

import numpy as np

from .grid import assign_cells, grid_cells

_NUM = re.compile(r"(\d+)")


def is_missing(value) -> bool:
    """None, NaN, empty or whitespace-only strings (and empty lists) count as missing."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, np.floating) and np.isnan(value):
        return True
    if isinstance(value, str) and not value.strip():
        return True
    if isinstance(value, (list, tuple)) and not value:
        return True
    return type(value).__name__ in ("NAType", "NaTType")   # pandas' NA / NaT, without importing it


def text_of(value) -> str:
    """A value as display text: lists joined with ' | ', floats that are whole without '.0'."""
    if isinstance(value, (list, tuple)):
        return " | ".join(text_of(v) for v in value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def natural_key(text: str) -> tuple:
    """Case- and accent-insensitive natural order: 'img2' < 'img10', 'Apple' by 'apple', 'Étretat'
    by 'etretat' (exact text breaks ties)."""
    folded = "".join(ch for ch in unicodedata.normalize("NFKD", text.casefold())
                     if not unicodedata.combining(ch))
    parts = _NUM.split(folded)
    key = tuple((0, int(p), p) if i % 2 else (1, 0, p) for i, p in enumerate(parts) if p != "")
    return key + ((2, 0, text),)


def to_float(value) -> float:
    """Lenient float: numbers, numeric strings ('12.5', ' 3 '); anything else -> nan."""
    if is_missing(value) or isinstance(value, bool):
        return float("nan")
    try:
        out = float(value)
    except (TypeError, ValueError):
        try:
            out = float(str(value).strip().replace(",", "."))
        except ValueError:
            return float("nan")
    return out if math.isfinite(out) else float("nan")


def floats(values) -> np.ndarray:
    """to_float over a sequence (vectorised when the values are plain numbers or numeric strings)."""
    try:
        out = np.array(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        out = np.array([to_float(v) for v in values], dtype=np.float64)
    out[~np.isfinite(out)] = np.nan
    return out


def block(members: np.ndarray, xy: np.ndarray | None, cols: int, origin=(0.0, 0.0),
          top_down: bool = True, order: np.ndarray | None = None) -> np.ndarray:
    """Positions (m, 2) for `members` in a block `cols` cells wide whose first cell is at origin.

    With xy: a neighbourhood-keeping assignment of the members' xy to the cells (similar images near
    each other). Without: cells filled in `order` (or index) order, reading order.
    """
    m = members.size
    cells = grid_cells(m, cols, origin=origin, top_down=top_down)
    if m == 0:
        return cells
    if xy is not None:
        return cells[assign_cells(np.asarray(xy, dtype=np.float64)[members, :2], cells)]
    pos = np.empty_like(cells)
    rank = np.argsort(order if order is not None else np.arange(m), kind="stable")
    pos[rank] = cells
    return pos


def square_cols(m: int, aspect: float = 1.0) -> int:
    """Columns of a near-square block for m items (aspect = width / height)."""
    return max(1, int(math.ceil(math.sqrt(max(m, 1) * aspect))))
