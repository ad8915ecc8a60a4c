"""The descriptor layouts (pixmap.layouts.descriptors): colour, hue, composition, structure, on real photos
(100 of the flowers5 set, 20 per label, and a few demo paintings)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixmap import descriptors as D
from pixmap.layouts import AUTO_LAYOUTS, LAYOUTS, auto_layouts, compute_layouts, missing_inputs
from pixmap.layouts import descriptors as L

REPO = Path(__file__).resolve().parent.parent
FLOWERS = REPO.parent / "shared" / "datasets" / "flowers5" / "images"
LABELS = ["daisy", "dandelion", "rose", "sunflower", "tulip"]


@pytest.fixture(scope="module")
def flowers():
    if not FLOWERS.is_dir():
        message = f"the flowers photos are missing: expected {FLOWERS}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    rows, labels = [], []
    for label in LABELS:
        every = sorted((FLOWERS / label).iterdir())
        for j in np.linspace(0, len(every) - 1, 20).astype(int):
            im = Image.open(every[j]).convert("RGB")
            im.thumbnail((256, 256))
            rows.append(D.describe(im))
            labels.append(label)
    spaces = {name: np.stack([r[name] for r in rows]) for name in D.BLOCKS}
    return spaces, np.array(labels)


def knn(pos, k=10):
    p = np.asarray(pos, dtype=np.float64)
    d = ((p[:, None] - p[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    return np.argsort(d, 1, kind="stable")[:, :k]


def test_hue_layout_puts_the_yellow_flowers_together(flowers):
    spaces, y = flowers
    lay = L.hue_layout(spaces["palette"], 6)
    assert lay.name == "hue" and lay.positions.shape == (100, 2)
    assert len({tuple(p) for p in lay.positions.tolist()}) == 100          # one image per grid cell
    yellow = np.isin(y, ["sunflower", "dandelion"])
    share = yellow[knn(lay.positions)].mean(1)
    # of a sunflower's or dandelion's 10 nearest in the hue grid, more are yellow flowers than of the
    # others' (the base rate is 0.4)
    assert share[yellow].mean() > 0.45 and share[yellow].mean() > share[~yellow].mean() + 0.05
    hue, _ = D.dominant_hue(spaces["palette"], 6)
    assert np.nanmedian(hue[y == "sunflower"]) == pytest.approx(100, abs=15)   # LAB hue of yellow


def test_hue_order_is_by_hue_band_then_lightness_greys_last():
    def pal(rgb, share=1.0):
        from skimage.color import rgb2lab

        lab = rgb2lab(np.array([[rgb]], np.float64) / 255)[0, 0]
        return np.array([*lab, share] + [*lab, 0.0] * 5 + [0.0] * 28, np.float32)

    palettes = np.stack([pal((0, 0, 255)), pal((128, 128, 128)), pal((255, 40, 40)), pal((120, 0, 0)),
                         pal((255, 255, 0))])
    order = L.hue_order(palettes, 6)
    assert order.tolist() == [2, 3, 4, 0, 1]      # light red, dark red, yellow, blue, then the grey
    lay = L.hue_layout(palettes, 6)
    assert lay.positions[2, 0] <= lay.positions[4, 0] <= lay.positions[1, 0]   # hue runs left to right


def test_colour_composition_and_structure_layouts_keep_their_space_neighbours(flowers):
    from pixmap.blend import standardise

    spaces, _ = flowers
    for name, space in (("colour", "palette"), ("composition", "composition"), ("structure", "structure")):
        lay = getattr(L, f"{name}_layout")(spaces[space], seed=0)
        assert lay.name == name and lay.positions.shape == (100, 2) and np.isfinite(lay.positions).all()
        again = getattr(L, f"{name}_layout")(spaces[space], seed=0)
        assert np.array_equal(lay.positions, again.positions)                  # seeded
        z = standardise(spaces[space])
        kept = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(knn(lay.positions), knn(z))])
        assert kept > 0.25, (name, kept)     # of each image's 10 nearest in its space; at random: 0.1


def test_the_layouts_are_registered_and_need_the_descriptors(flowers):
    spaces, _ = flowers
    for name in ("colour", "hue", "composition", "structure"):
        assert name in LAYOUTS and name in AUTO_LAYOUTS
        assert missing_inputs(name, features=np.zeros((3, 2))) != []
        assert missing_inputs(name, spaces=spaces) == []
    skipped = {}
    out = compute_layouts(["hue", "colour"], features=None, spaces={"palette": spaces["palette"]}, skipped=skipped)
    assert [lay.name for lay in out] == ["hue", "colour"]
    out = compute_layouts(["structure"], features=np.zeros((5, 2)), spaces=None, skipped=skipped)
    assert out == [] and "descriptors" in skipped["structure"]
    # at a million images "auto" keeps the hue grid (a sort) and leaves the three UMAPs out
    big = auto_layouts(1_000_000)
    assert "hue" in big and not {"colour", "composition", "structure"} & set(big)
    assert {"colour", "hue", "composition", "structure"} <= set(auto_layouts(1000))
