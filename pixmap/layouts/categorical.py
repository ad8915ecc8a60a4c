"""The "categorical" layout: one rectangular block of images per value of a column.

Blocks are sorted by size (largest first; images without a value last, in their own block), packed
left to right in shelves about as wide as the whole is tall. Inside a block the images sit in a little
grid, assigned from their UMAP positions so similar images stay near each other. Each block's title is
a label centred above it. Units: one grid cell = 1 (point_size = 1).
"""
from __future__ import annotations

import math

import numpy as np

from ._blocks import block, is_missing, natural_key, square_cols, text_of
from .base import Layout

GAP = 2.0          # empty cells between blocks
TITLE = 1.5        # room above a block for its title


def missing_label(column: str) -> str:
    return f"(no {column})"


def group_values(values, column: str = "category") -> list[tuple[str, np.ndarray]]:
    """[(title, member indices)] sorted by size (desc, then natural order), missing values last."""
    groups: dict[str, list[int]] = {}
    missing: list[int] = []
    for i, v in enumerate(values):
        if is_missing(v):
            missing.append(i)
        else:
            groups.setdefault(text_of(v), []).append(i)
    out = sorted(((k, np.asarray(v, dtype=np.int64)) for k, v in groups.items()),
                 key=lambda kv: (-kv[1].size, natural_key(kv[0])))
    if missing:
        title = missing_label(column)
        while title in groups:
            title = f"({title})"
        out.append((title, np.asarray(missing, dtype=np.int64)))
    return out


def pack_blocks(groups: list[tuple[str, np.ndarray]], xy: np.ndarray | None, n: int,
                gap: float = GAP, title: float = TITLE, aspect: float = 1.0
                ) -> tuple[np.ndarray, list[dict]]:
    """Shelf-pack near-square blocks; returns (positions (n, 2), labels)."""
    sizes = []
    for _, members in groups:
        cols = square_cols(members.size)
        rows = int(math.ceil(members.size / cols))
        sizes.append((cols, rows))
    area = sum((c + gap) * (r + gap + title) for c, r in sizes)
    width = max(max((c for c, _ in sizes), default=1), math.sqrt(area * aspect))
    pos = np.zeros((n, 2), dtype=np.float64)
    labels = []
    x = 0.0
    y = 0.0            # top of the current shelf (titles go above, rows grow downward)
    shelf_h = 0.0
    for (name, members), (cols, rows) in zip(groups, sizes):
        if x > 0 and x + cols > width + 1e-9:
            y -= shelf_h + gap + title
            x, shelf_h = 0.0, 0.0
        pos[members] = block(members, xy, cols, origin=(x, y))
        labels.append({"text": name, "x": float(x + (cols - 1) / 2), "y": float(y + title * 0.75)})
        x += cols + gap
        shelf_h = max(shelf_h, rows)
    return pos, labels


def categorical_layout(xy: np.ndarray | None, values, column: str = "category",
                       name: str = "categorical", label: str | None = None) -> Layout:
    """One block per distinct value of `values` (a column's values, one per image, in data order).

    xy: the UMAP positions (n, 2) used to arrange each block (None: data order).
    """
    values = list(values)
    n = len(values)
    if xy is not None and len(xy) != n:
        raise ValueError(f"{len(xy)} positions for {n} values")
    groups = group_values(values, column)
    pos, labels = pack_blocks(groups, xy, n)
    return Layout(name=name, label=label or f"By {column}", positions=pos.astype(np.float32),
                  labels=labels, point_size=1.0,
                  params={"column": column})
