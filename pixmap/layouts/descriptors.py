"""Layouts of the descriptor spaces (pixmap.descriptors): the collection by its colours, its composition,
how it is made.

    colour       UMAP of the palette space (each column standardised; Euclidean)
    hue          a grid: images sorted by their dominant hue (pixmap.descriptors.dominant_hue: the most
                 chromatic palette colour covering a tenth of the image; CIELAB hue angle: red, orange,
                 yellow, green, blue, purple), in bands of 15 degrees, each band by lightness (light first);
                 images with no such colour (greys, browns of low chroma) last, by lightness. Column by
                 column, so hue runs left to right and lightness top to bottom in each column.
    composition  UMAP of the composition space (standardised; Euclidean)
    structure    UMAP of the structure space (HOG and LBP; standardised; Euclidean)

The spaces are the "palette", "composition" and "structure" blocks of the image pass
(PassResult.descriptors); `palette_colors` is the k they were computed with.
"""
from __future__ import annotations

import numpy as np

from .base import Layout

HUE_BANDS = 24           # 15 degrees each
SPACE_EPOCHS = 200       # the descriptor spaces' UMAPs (see space_umap)


def space_umap(space: np.ndarray, name: str, label: str, n_neighbors: int = 15, min_dist: float = 0.1,
               seed: int = 0) -> Layout:
    """A 2D UMAP of a descriptor space, each column standardised first (pixmap.blend.standardise)."""
    from ..blend import standardise
    from . import umap as umap_

    x = standardise(space)
    # 200 epochs, not umap-learn's 500 below 10,000 rows: measured on flowers5 (4,317 photos), the 10-NN label
    # share of the colour / composition / structure layouts is 0.387 / 0.327 / 0.260 with 500 epochs and
    # 0.390 / 0.324 / 0.266 with 200, in 2.3-2.5x less time
    lay = umap_.umap_layout(x, n_neighbors, min_dist, "euclidean", 2, seed, name=name, n_epochs=SPACE_EPOCHS)
    lay.label = label
    lay.params = {**lay.params, "space": name}
    return lay


def colour_layout(palette: np.ndarray, n_neighbors: int = 15, min_dist: float = 0.1, seed: int = 0) -> Layout:
    return space_umap(palette, "colour", "Colour", n_neighbors, min_dist, seed)


def composition_layout(composition: np.ndarray, n_neighbors: int = 15, min_dist: float = 0.1,
                       seed: int = 0) -> Layout:
    return space_umap(composition, "composition", "Composition", n_neighbors, min_dist, seed)


def structure_layout(structure: np.ndarray, n_neighbors: int = 15, min_dist: float = 0.1,
                     seed: int = 0) -> Layout:
    return space_umap(structure, "structure", "Structure", n_neighbors, min_dist, seed)


def hue_order(palette: np.ndarray, palette_colors: int) -> np.ndarray:
    """The images' order in the hue layout (indices into the rows)."""
    from ..descriptors import dominant_hue

    hue, light = dominant_hue(palette, palette_colors)
    grey = ~np.isfinite(hue)
    band = np.where(grey, HUE_BANDS, np.floor(np.nan_to_num(hue) / 360.0 * HUE_BANDS)).astype(np.int64)
    # within a band: light to dark; among equal lightness, by the exact hue
    return np.lexsort((np.nan_to_num(hue), -light, band))


def hue_layout(palette: np.ndarray, palette_colors: int) -> Layout:
    """The hue layout (module docstring): a grid filled column by column in hue_order."""
    from .grid import grid_shape

    n = len(palette)
    order = hue_order(palette, palette_colors)
    rows, cols = grid_shape(n, 1.0)
    slot = np.empty(n, np.int64)
    slot[order] = np.arange(n)
    pos = np.zeros((n, 2), np.float32)
    pos[:, 0] = slot // max(rows, 1)                  # column: hue advances left to right
    pos[:, 1] = -(slot % max(rows, 1))                # row: lightness, light at the top
    return Layout(name="hue", label="Hue", positions=pos, point_size=1.0,
                  params={"palette_colors": int(palette_colors)})
