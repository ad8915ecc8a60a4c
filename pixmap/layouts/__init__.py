"""Layouts: every way pixmap arranges a collection. Each is a plain function over arrays returning a
`base.Layout` (positions in the layout's own units; the site writer normalises them).

`LAYOUTS` names each layout, what it needs and the function that makes it. What the inputs are:
  features   the (PCA-reduced) feature matrix, n x d
  umap       the 2D UMAP positions (n x 2); layouts that use it arrange images so similar ones stay near
  <column>   a metadata column, one value per image in data order (missing: None / "")

`compute_layouts(names, ...)` runs the named ones whose inputs are there, e.g.

    from pixmap.layouts import compute_layouts
    out = compute_layouts(["umap", "grid", "date"], features=reduced, columns={"year": years})
"""
from __future__ import annotations

import builtins
from dataclasses import dataclass

import numpy as np

from .base import Layout, normalise

__all__ = ["LAYOUTS", "LayoutSpec", "Layout", "normalise", "compute_layouts", "labels_to_ints",
           "missing_inputs"]


@dataclass(frozen=True)
class LayoutSpec:
    name: str                 # the layout's name (file name in the site, key in the manifest)
    label: str                # menu text
    needs: tuple[str, ...]    # inputs: "features", "umap", or metadata column names
    any_of: tuple[str, ...] = ()   # at least one of these columns (used by "date": year or date)
    function: str = ""        # module:function that builds it
    dims: int = 2


LAYOUTS: dict[str, LayoutSpec] = {s.name: s for s in (
    LayoutSpec("umap", "UMAP", ("features",), function="umap:umap_layout"),
    LayoutSpec("umap-3d", "UMAP 3D", ("features",), function="umap:umap_layout", dims=3),
    LayoutSpec("umap-supervised", "UMAP (supervised)", ("features", "label"),
               function="umap:umap_layout"),
    LayoutSpec("umap-variants", "UMAP variants (group 'umap')", ("features",),
               function="umap:umap_variants"),
    LayoutSpec("grid", "Grid", ("umap",), function="grid:grid_layout"),
    LayoutSpec("umap-spread", "UMAP (spread)", ("umap",), function="spread:spread_layout"),
    LayoutSpec("categorical", "By category", ("umap", "category"),
               function="categorical:categorical_layout"),
    LayoutSpec("date", "Date", ("umap",), any_of=("year", "date"), function="date:date_layout"),
    LayoutSpec("geographic", "Map", ("lat", "lng"), function="geographic:geographic_layout"),
    LayoutSpec("alphabetic", "Alphabetic", ("title",), function="sorted:sorted_layout"),
    LayoutSpec("custom", "Custom", ("x", "y"), function="sorted:custom_layout"),
)}


def labels_to_ints(values) -> np.ndarray:
    """Category values -> ints for supervised UMAP (missing -> -1), numbered in natural order."""
    from ._blocks import is_missing, natural_key, text_of

    texts = [None if is_missing(v) else text_of(v) for v in values]
    # builtins.sorted: importing the submodule `sorted` binds that name in this package's namespace
    codes = {t: i for i, t in enumerate(builtins.sorted({t for t in texts if t is not None}, key=natural_key))}
    return np.array([-1 if t is None else codes[t] for t in texts], dtype=np.int64)


def _has_column(columns: dict | None, name: str) -> bool:
    from ._blocks import is_missing

    return bool(columns) and name in columns and any(not is_missing(v) for v in columns[name])


def missing_inputs(name: str, features=None, umap=None, columns: dict | None = None) -> list[str]:
    """What `name` needs that is not there ([] = it can be computed). "umap" counts as there when
    features are (compute_layouts makes it)."""
    spec = LAYOUTS[name]
    lacking = []
    for need in spec.needs:
        if need == "features":
            ok = features is not None
        elif need == "umap":
            ok = umap is not None or features is not None
        else:
            ok = _has_column(columns, need)
        if not ok:
            lacking.append(need)
    if spec.any_of and not any(_has_column(columns, c) for c in spec.any_of):
        lacking.append(" or ".join(spec.any_of))
    return lacking


def compute_layouts(names, features: np.ndarray | None = None, umap: Layout | None = None,
                    columns: dict | None = None, seed: int = 0, n_neighbors: int = 15,
                    min_dist: float = 0.1, metric: str = "cosine",
                    variants: tuple = ((5, 15, 50), (0.01, 0.1, 0.5)),
                    skipped: dict | None = None) -> list[Layout]:
    """Build the named layouts (in order). Inputs as in the module docstring; `umap` is the 2D UMAP
    Layout if already made (else it is made from `features` when needed). Layouts whose inputs are
    missing are left out; their reasons go into `skipped` (name -> text) when a dict is given.
    """
    from . import categorical, date, geographic, grid, sorted as sorted_, spread
    from . import umap as umap_

    columns = columns or {}
    out: list[Layout] = []
    nb = None

    def neighbours():
        nonlocal nb
        if nb is None:
            k = max([n_neighbors] + (list(variants[0]) if "umap-variants" in names else []))
            nb = umap_.knn(features, k, metric, seed=seed)
        return nb

    def base_umap() -> Layout:
        nonlocal umap
        if umap is None:
            umap = umap_.umap_layout(features, n_neighbors, min_dist, metric, 2, seed,
                                     neighbors=neighbours())
        return umap

    for name in names:
        if name not in LAYOUTS:
            raise KeyError(f"unknown layout {name!r}; known: {', '.join(LAYOUTS)}")
        lacking = missing_inputs(name, features, umap, columns)
        if lacking:
            if skipped is not None:
                skipped[name] = "needs " + ", ".join(lacking)
            continue
        if name == "umap":
            out.append(base_umap())
        elif name == "umap-3d":
            out.append(umap_.umap_layout(features, n_neighbors, min_dist, metric, 3, seed,
                                         neighbors=neighbours()))
        elif name == "umap-supervised":
            out.append(umap_.umap_layout(features, n_neighbors, min_dist, metric, 2, seed,
                                         labels=labels_to_ints(columns["label"]),
                                         neighbors=neighbours()))
        elif name == "umap-variants":
            out.extend(umap_.umap_variants(features, variants[0], variants[1], seed, metric,
                                           reference=base_umap(), neighbors=neighbours()))
        elif name == "grid":
            out.append(grid.grid_layout(base_umap().positions))
        elif name == "umap-spread":
            out.append(spread.spread_layout(base_umap().positions, seed=seed))
        elif name == "categorical":
            out.append(categorical.categorical_layout(base_umap().positions, columns["category"]))
        elif name == "date":
            col = "year" if _has_column(columns, "year") else "date"
            years = list(columns[col])
            if col == "year" and _has_column(columns, "date"):   # fill gaps of year from date
                years = [y if date.parse_year(y) is not None else d
                         for y, d in zip(years, columns["date"])]
            out.append(date.date_layout(base_umap().positions, years))
        elif name == "geographic":
            xy = umap.positions if umap is not None else None
            out.append(geographic.geographic_layout(columns["lat"], columns["lng"], xy=xy))
        elif name == "alphabetic":
            out.append(sorted_.sorted_layout(columns["title"], "title"))
        elif name == "custom":
            z = columns["z"] if _has_column(columns, "z") else None
            out.append(sorted_.custom_layout(columns["x"], columns["y"], z))
    return out
