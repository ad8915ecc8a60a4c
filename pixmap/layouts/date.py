"""The "date" layout: a timeline of columns, one per year (or per bin of years), oldest on the left.

Bins are the smallest of 1, 5, 10, 25, 50, 100 (then 250, 500, 1000, ...) years that gives at most
`max_columns` non-empty columns. Each column is a narrow stack of cells growing upward from the axis;
inside it images are arranged from their UMAP positions so similar images stay together. Year labels
sit under the columns; images without a parseable year stand in a last column labelled "(no date)".
Units: one grid cell = 1 (point_size = 1).
"""
from __future__ import annotations

import datetime as _dt
import math
import re

import numpy as np

from ._blocks import block, is_missing
from .base import Layout

BINS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
NO_DATE = "(no date)"

_YEAR = re.compile(r"(?<!\d)(-?\d{3,4})(?!\d)")
_BC = re.compile(r"\b(b\.?\s?c\.?(\s?e\.?)?|bce)(?![a-z])", re.IGNORECASE)
_CENTURY = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)\s+(?:c\.|cent(?:ury)?)", re.IGNORECASE)
_MIN_YEAR, _MAX_YEAR = -10000, 3000


def _number_year(x: float) -> int | None:
    if not math.isfinite(x):
        return None
    y = int(math.floor(x))
    return y if _MIN_YEAR <= y <= _MAX_YEAR else None


def parse_year(value) -> int | None:
    """A year from a lenient date value, or None.

    1884, 1884.0, "1884", "c. 1884", "ca 1500", "1884-86", "1690/95", "1884-03-02", "March 2, 1884",
    "02/03/1884", "1700-1799" -> the first year; "500 BC" -> -500; "19th century" -> 1800;
    "Date unknown", "", None, NaN -> None. Dates and datetimes give their year.
    """
    if is_missing(value) or isinstance(value, bool):
        return None
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.year
    if isinstance(value, (int, np.integer)):
        return _number_year(float(value))
    if isinstance(value, (float, np.floating)):
        return _number_year(float(value))
    text = str(value).strip()
    try:
        return _number_year(float(text))
    except ValueError:
        pass
    bc = _BC.search(text) is not None
    m = _YEAR.search(text)
    if m:
        year = int(m.group(1))
        if bc and year > 0:
            year = -year
        return year if _MIN_YEAR <= year <= _MAX_YEAR else None
    m = _CENTURY.search(text)
    if m:
        c = int(m.group(1))
        return -c * 100 if bc else (c - 1) * 100
    m = re.search(r"(?<!\d)(\d{1,4})\s*(?:bc|bce|b\.c\.)", text, re.IGNORECASE)
    if m:
        return -int(m.group(1))
    return None


def choose_bin(years, max_columns: int = 60) -> int:
    """Smallest bin width in BINS for which the known years fall in at most max_columns bins."""
    ys = np.asarray([y for y in years if y is not None], dtype=np.int64)
    if ys.size == 0:
        return 1
    for b in BINS:
        if np.unique(np.floor_divide(ys, b)).size <= max_columns:
            return b
    return BINS[-1]


def bin_label(start: int, width: int) -> str:
    if width == 1:
        return str(start)
    return f"{start}\u2013{start + width - 1}"


def date_layout(xy: np.ndarray | None, years, name: str = "date", label: str = "Date",
                max_columns: int = 60, bin_width: int | None = None) -> Layout:
    """Timeline columns by year. `years`: per image, anything parse_year reads (ints, strings, None).

    xy: the UMAP positions (n, 2) used to arrange each column (None: data order).
    """
    parsed = [parse_year(v) for v in years]
    n = len(parsed)
    if xy is not None and len(xy) != n:
        raise ValueError(f"{len(xy)} positions for {n} years")
    b = int(bin_width) if bin_width else choose_bin(parsed, max_columns)
    cols: dict[int, list[int]] = {}
    undated: list[int] = []
    for i, y in enumerate(parsed):
        if y is None:
            undated.append(i)
        else:
            cols.setdefault((y // b) * b, []).append(i)
    keys = sorted(cols)
    columns = [(bin_label(k, b), np.asarray(cols[k], dtype=np.int64)) for k in keys]
    if undated:
        columns.append((NO_DATE, np.asarray(undated, dtype=np.int64)))
    pos = np.zeros((n, 2), dtype=np.float64)
    labels = []
    if columns:
        tallest = max(m.size for _, m in columns)
        # column width w: the whole about as wide as it is tall: len * (w + 1) ~ tallest / w
        width = max(1, int(round(math.sqrt(tallest / len(columns)))))
        x = 0.0
        for j, (text, members) in enumerate(columns):
            if text == NO_DATE and j > 0:
                x += 1.0                               # a wider gap before the undated column
            pos[members] = block(members, xy, width, origin=(x, 0.0), top_down=False)
            used = min(width, members.size)
            labels.append({"text": text, "x": float(x + (used - 1) / 2), "y": -1.5})
            x += width + 1
    return Layout(name=name, label=label, positions=pos.astype(np.float32), labels=labels,
                  point_size=1.0, params={"bin": b})
