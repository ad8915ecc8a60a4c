"""Layouts: every way pixmap arranges a collection. Each is a plain function over arrays returning a
`base.Layout` (positions in the layout's own units; the site writer normalises them).

`LAYOUTS` names each layout, what it needs and the function that makes it. What the inputs are:
  features   the (PCA-reduced) feature matrix, n x d
  umap       the 2D UMAP positions (n x 2); layouts that use it arrange images so similar ones stay near
  <column>   a metadata column, one value per image in data order (missing: None / "")
  space:<name>  a descriptor space of pixmap.descriptors ("palette", "composition", "structure"), n x d,
             given in compute_layouts' `spaces`

`compute_layouts(names, ...)` runs the named ones whose inputs are there (the build calls it), e.g.

    from pixmap.layouts import compute_layouts
    out = compute_layouts(["umap", "grid", "date"], features=reduced, columns={"year": years})
"""
from __future__ import annotations

import builtins
from dataclasses import dataclass

import numpy as np

from .base import Layout, normalise

__all__ = ["LAYOUTS", "LayoutSpec", "Layout", "normalise", "compute_layouts", "labels_to_ints",
           "missing_inputs", "AUTO_LAYOUTS", "AUTO_LIMITS", "auto_layouts", "auto_left_out"]


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
    LayoutSpec("categorical", "By category", ("umap", "<group_by>"),
               function="categorical:categorical_layout"),
    LayoutSpec("date", "Date", ("umap",), any_of=("year", "date"), function="date:date_layout"),
    LayoutSpec("geographic", "Map", ("lat", "lng"), function="geographic:geographic_layout"),
    LayoutSpec("alphabetic", "Alphabetic", ("<sort_by>",), function="sorted:sorted_layout"),
    LayoutSpec("custom", "Custom", ("x", "y"), function="sorted:custom_layout"),
    LayoutSpec("colour", "Colour", ("space:palette",), function="descriptors:colour_layout"),
    LayoutSpec("hue", "Hue", ("space:palette",), function="descriptors:hue_layout"),
    LayoutSpec("composition", "Composition", ("space:composition",), function="descriptors:composition_layout"),
    LayoutSpec("structure", "Structure", ("space:structure",), function="descriptors:structure_layout"),
)}


# What `--layouts auto` asks for (each made when the metadata allows it), in this order.
AUTO_LAYOUTS = ("umap", "umap-3d", "grid", "umap-spread", "categorical", "date", "geographic", "alphabetic",
                "custom", "colour", "hue", "composition", "structure")

# Layouts "auto" leaves out from this many images on, and why. The rule: a layout "auto" adds may cost
# at most ~5 minutes on 2 cores at that size (the grid and metadata layouts take under 40 s at 1M).
# Figures measured with bench/bench_scale_build.py: see auto_layouts.
AUTO_LIMITS: dict[str, tuple[int, str]] = {
    "umap-3d": (250_000, "a second UMAP optimisation, as long as the 2D map's, and UMAP's seeded optimiser "
                         "runs on one core: 101 s at 100,000 images, ~45 min at 1,000,000"),
    "umap-spread": (500_000, "pushing a million thumbnails apart takes 14 min (32 s at 100,000 images; "
                             "~5 min at 500,000)"),
    # each a UMAP of its own kNN graph, as long as the main map's optimisation (one core, seeded)
    "colour": (250_000, "a UMAP of the palette space, as long as the main map's: ~100 s at 100,000 images, "
                        "~45 min at 1,000,000"),
    "composition": (250_000, "a UMAP of the composition space, as long as the main map's: ~100 s at 100,000 "
                             "images, ~45 min at 1,000,000"),
    "structure": (250_000, "a UMAP of the structure space, as long as the main map's: ~100 s at 100,000 "
                           "images, ~45 min at 1,000,000"),
}


def auto_layouts(n: int) -> tuple[str, ...]:
    """The layouts `--layouts auto` builds for n images: AUTO_LAYOUTS, less those AUTO_LIMITS leaves out
    at this size (`auto_left_out(n)` says why). A layout named in --layouts is made at any size.

    Measured on 2 shared cores (bench/bench_scale_build.py: flowers5 features by the default model,
    repeated with jitter to n rows; the build's default options; seconds, then the process's peak RSS
    during the stage, all stages in one process that also holds the metadata columns):

        stage          100,000 images      1,000,000 images
        pca             18 s    0.9 GB      31 s    1.1 GB   (features.npy read as a memmap, 5.1 GB at 1M)
        knn             51 s    0.7 GB     171 s    2.7 GB   (pynndescent; 3.2 GB before knn stopped copying
                                                              its input; 556 s on a busier machine)
        umap           108 s    0.9 GB    2671 s    2.3 GB   (one core: the seeded optimiser)
        umap-3d        101 s    0.7 GB   ~2700 s             (extrapolated: a second fit as long as umap's)
        grid           1.3 s    0.5 GB      39 s    1.2 GB
        umap-spread     32 s    0.7 GB     820 s    2.4 GB
        categorical    1.5 s    0.5 GB      28 s    1.1 GB
        date           1.6 s    0.5 GB      17 s    1.2 GB
        geographic     0.3 s    0.5 GB     6.4 s    1.2 GB
        alphabetic     1.7 s    0.6 GB      30 s    2.2 GB
        hotspots       4.8 s    0.8 GB     249 s    2.5 GB
        whole process           0.9 GB              2.7 GB   (VmHWM; 0.3 / 0.47 GB of it imports and metadata)

    The 2 cores were shared with other jobs (load 3.5 to 7), so the seconds are upper bounds.

    The descriptor layouts (bench/bench_descriptors.py, flowers5's 4,317 photos, same machine): colour,
    composition and structure are a UMAP each (of 52, 82 and 172 columns; kNN and optimisation) taking
    8-25 s there (by the machine's load), like the main map's; so, like umap-3d, ~100 s each at 100,000
    and ~45 min at 1,000,000: AUTO_LIMITS leaves them out from 250,000 on. hue is a sort (0.02 s at 4,317;
    ~5 s at 1,000,000).
    """
    return tuple(name for name in AUTO_LAYOUTS if n < AUTO_LIMITS.get(name, (n + 1, ""))[0])


def auto_left_out(n: int) -> dict[str, str]:
    """Layout name -> why `--layouts auto` does not make it for n images ({} for small collections)."""
    return {name: why for name, (limit, why) in AUTO_LIMITS.items() if n >= limit}


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


def missing_inputs(name: str, features=None, umap=None, columns: dict | None = None,
                   group_by: str = "category", sort_by: str = "title", spaces: dict | None = None) -> list[str]:
    """What `name` needs that is not there ([] = it can be computed). "umap" counts as there when
    features are (compute_layouts makes it). <group_by> and <sort_by> stand for those columns."""
    spec = LAYOUTS[name]
    lacking = []
    for need in spec.needs:
        need = {"<group_by>": group_by, "<sort_by>": sort_by}.get(need, need)
        if need == "features":
            ok = features is not None
        elif need == "umap":
            ok = umap is not None or features is not None
        elif need.startswith("space:"):
            ok = bool(spaces) and spaces.get(need[6:]) is not None and len(spaces[need[6:]]) > 0
            need = f"the {need[6:]} descriptors (--descriptors)"
        else:
            ok = _has_column(columns, need)
        if not ok:
            lacking.append(need)
    if spec.any_of and not any(_has_column(columns, c) for c in spec.any_of):
        lacking.append(" or ".join(spec.any_of))
    elif name == "date" and not lacking and all(y is None for y in date_years(columns)):
        lacking.append("a year that can be read in year or date")
    return lacking


def date_years(columns: dict) -> list:
    """Per image, the year column's value, or the date column's where the year is missing."""
    from .date import parse_year

    if not _has_column(columns, "year"):
        return [parse_year(d) for d in columns["date"]]
    years = list(columns["year"])
    if _has_column(columns, "date"):
        years = [y if parse_year(y) is not None else d for y, d in zip(years, columns["date"])]
    return [parse_year(y) for y in years]


# The layouts that are UMAP fits of their own: with an executor they run side by side (each fit is seeded and
# single-threaded; pixmap.layouts.umap.release_gil_in_optimiser lets two of them use two cores).
SIDE_BY_SIDE = ("umap-3d", "umap-supervised", "umap-variants", "colour", "composition", "structure")


def compute_layouts(names, features: np.ndarray | None = None, umap: Layout | None = None,
                    columns: dict | None = None, seed: int = 0, n_neighbors: int = 15,
                    min_dist: float = 0.1, metric: str = "cosine",
                    variants: tuple = ((5, 15, 50), (0.01, 0.1, 0.5)),
                    skipped: dict | None = None, group_by: str = "category", sort_by: str = "title",
                    on_done=None, neighbors: tuple[np.ndarray, np.ndarray] | None = None,
                    spaces: dict | None = None, palette_colors: int = 6, executor=None) -> list[Layout]:
    """Build the named layouts (in order). Inputs as in the module docstring; `umap` is the 2D UMAP
    Layout if already made (else it is made from `features` when needed). Layouts whose inputs are
    missing are left out; their reasons go into `skipped` (name -> text) when a dict is given.

    "umap-variants" adds the aligned UMAP for every pair of `variants` (n_neighbors list, min_dist list)
    but the main one's, all in group "umap". `group_by` / `sort_by` name the columns of the categorical
    and alphabetic layouts. `on_done(name, seconds)` is called after each layout is made.
    `neighbors`: (indices, distances) from umap.knn(features, k, metric) with k at least the largest
    n_neighbors used, when already computed (else they are searched once, when first needed).
    `spaces`: the descriptor spaces ("palette", "composition", "structure"; pixmap.descriptors) for the
    colour, hue, composition and structure layouts; `palette_colors`: the k of the palette space.
    `executor` (a concurrent.futures executor): the layouts that are UMAP fits of their own (SIDE_BY_SIDE) run
    in it, side by side with each other and with whatever else the caller runs there, once the main map
    (which several others start from) is made; the result is the same, in the same order.
    """
    import time

    from . import categorical, date, descriptors as descriptors_, geographic, grid, sorted as sorted_, spread
    from . import umap as umap_

    columns = columns or {}
    out: list[Layout] = []
    nb = neighbors

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

    def umap_3d() -> Layout:
        # Started from the 2D map plus the first principal component as depth: 2.5x faster than a
        # fresh 3D fit at the same map quality (flowers5: 0.953 vs 0.957 kept), and switching between
        # the 2D and 3D layouts moves images as little as possible.
        xy = base_umap().positions
        depth = features[:, :1] - features[:, :1].mean()
        depth = depth / (depth.std() or 1.0) * float(xy.std())
        init = np.hstack([xy, depth]).astype(np.float32)
        return umap_.umap_layout(features, n_neighbors, min_dist, metric, 3, seed, neighbors=neighbours(),
                                 init=init, n_epochs=200)

    def umap_variants() -> list[Layout]:
        base = base_umap()
        made = umap_.umap_variants(features, variants[0], variants[1], seed, metric,
                                   reference=base, neighbors=neighbours())
        base.group, base.params = "umap", {**base.params, "n_neighbors": n_neighbors, "min_dist": min_dist}
        return [v for v in made  # the main map is not repeated as a variant of itself
                if (v.params.get("n_neighbors"), v.params.get("min_dist")) != (n_neighbors, min_dist)]

    def make(name):
        t0 = time.perf_counter()
        if name == "umap-3d":
            made = umap_3d()
        elif name == "umap-supervised":
            made = umap_.umap_layout(features, n_neighbors, min_dist, metric, 2, seed,
                                     labels=labels_to_ints(columns["label"]), neighbors=neighbours())
        elif name == "umap-variants":
            made = umap_variants()
        else:
            made = {"colour": descriptors_.colour_layout, "composition": descriptors_.composition_layout,
                    "structure": descriptors_.structure_layout}[name](
                spaces["palette" if name == "colour" else name], n_neighbors, min_dist, seed)
        return made, time.perf_counter() - t0

    early: dict = {}   # name -> future of the fits that start before the main map is made
    base_seconds = 0.0
    if executor is not None and any(name in SIDE_BY_SIDE for name in names):
        def can(name):
            return name in names and not missing_inputs(name, features, umap, columns, group_by, sort_by, spaces)

        if any(can(name) for name in ("umap-3d", "umap-supervised", "umap-variants")):
            neighbours()   # searched once, here, before the fits that share it start
        for name in ("colour", "composition", "structure", "umap-supervised"):   # need nothing of the main map
            if can(name):
                early[name] = executor.submit(make, name)
        if features is not None and (can("umap-3d") or can("umap-variants")):
            t0 = time.perf_counter()
            base_umap()   # (here, beside the fits above; the 3D layout and the variants start from it)
            base_seconds = time.perf_counter() - t0
    for name in names:
        if name not in LAYOUTS:
            raise KeyError(f"unknown layout {name!r}; known: {', '.join(LAYOUTS)}")
        lacking = missing_inputs(name, features, umap, columns, group_by, sort_by, spaces)
        if lacking:
            if skipped is not None:
                skipped[name] = "needs " + ", ".join(lacking)
            continue
        t0 = time.perf_counter()
        if name in SIDE_BY_SIDE:
            if executor is not None:
                out.append((name, early.pop(name, None) or executor.submit(make, name)))
                continue
            made, _seconds = make(name)
            out.extend(made) if isinstance(made, list) else out.append(made)
        elif name == "umap":
            out.append(base_umap())
        elif name == "grid":
            out.append(grid.grid_layout(base_umap().positions))
        elif name == "umap-spread":
            out.append(spread.spread_layout(base_umap().positions, seed=seed))
        elif name == "categorical":
            out.append(categorical.categorical_layout(base_umap().positions, columns[group_by], column=group_by))
        elif name == "date":
            out.append(date.date_layout(base_umap().positions, date_years(columns)))
        elif name == "geographic":
            xy = umap.positions if umap is not None else None
            out.append(geographic.geographic_layout(columns["lat"], columns["lng"], xy=xy))
        elif name == "alphabetic":
            out.append(sorted_.sorted_layout(columns[sort_by], sort_by))
        elif name == "custom":
            z = columns["z"] if _has_column(columns, "z") else None
            out.append(sorted_.custom_layout(columns["x"], columns["y"], z))
        elif name == "hue":
            out.append(descriptors_.hue_layout(spaces["palette"], palette_colors))
        if on_done is not None:
            on_done(name, time.perf_counter() - t0 + (base_seconds if name == "umap" else 0.0))
    done = []
    for item in out:   # the fits run in the executor, in the order asked for
        if isinstance(item, tuple):
            name, future = item
            made, seconds = future.result()
            done.extend(made) if isinstance(made, list) else done.append(made)
            if on_done is not None:
                on_done(name, seconds)
        else:
            done.append(item)
    return done
