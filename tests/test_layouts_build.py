"""Every layout, built by the real pipeline from real images, keeps its invariants."""
import json

import numpy as np
import pytest

import pixmap

from .conftest import DEMO
from pixmap.site import read_metadata


def manifest(site):
    return json.loads((site / "data" / "manifest.json").read_text())


def positions(site, name):
    man = manifest(site)
    lay = next(l for l in man["layouts"] if l["name"] == name)
    return np.fromfile(site / lay["file"], "<f4").reshape(man["count"], lay["dims"]), lay


def test_demo_build_lists_every_layout_its_metadata_allows(built_site_result):
    site = built_site_result.out_dir
    names = [l["name"] for l in manifest(site)["layouts"]]
    assert names == ["umap", "umap-3d", "grid", "umap-spread", "categorical", "date", "alphabetic",
                     "colour", "hue", "composition", "structure"]       # the last four: pixmap.descriptors
    for name in names:
        art = np.load(built_site_result.artifacts_dir / f"layout_{name}.npy")
        assert art.shape[0] == 267 and np.isfinite(art).all(), name
    pos3, lay = positions(site, "umap-3d")
    assert lay["dims"] == 3 and np.ptp(pos3[:, 2]) > 0.1


def test_grid_cells_are_unique(built_site_result):
    grid = np.load(built_site_result.artifacts_dir / "layout_grid.npy")
    assert len({tuple(c) for c in np.round(grid, 4).tolist()}) == 267
    assert np.allclose(grid, np.round(grid))  # whole cells


def test_categorical_blocks_are_contiguous_and_labelled(built_site_result):
    site = built_site_result.out_dir
    meta = read_metadata(site)
    cat = [r[meta["fields"].index("category")] for r in meta["rows"]]
    pos, lay = positions(site, "categorical")
    labels = {l["text"] for l in lay["labels"]}
    assert set(cat) <= labels
    boxes = {}
    for c in set(cat):
        p = pos[[i for i, v in enumerate(cat) if v == c]]
        boxes[c] = (p.min(0), p.max(0))
    for a in boxes:  # no other category's image falls inside a block's bounding box
        lo, hi = boxes[a]
        inside = [cat[i] for i in range(267) if (pos[i] >= lo - 1e-6).all() and (pos[i] <= hi + 1e-6).all()]
        assert set(inside) == {a}, a


def test_date_columns_are_ordered_and_undated_kept(built_site_result):
    site = built_site_result.out_dir
    meta = read_metadata(site)
    from pixmap.layouts.date import parse_year

    f = meta["fields"]
    # the year column, else a year read from the free-text date column ("c. 1650")
    years = [r[f.index("year")] if r[f.index("year")] is not None else parse_year(r[f.index("date")])
             for r in meta["rows"]]
    pos, lay = positions(site, "date")
    dated = [(y, pos[i, 0]) for i, y in enumerate(years) if y is not None]
    dated.sort()
    xs = [x for _, x in dated]
    assert xs == sorted(xs)                                  # later years never left of earlier ones
    undated = [pos[i, 0] for i, y in enumerate(years) if y is None]
    assert 0 < len(undated) <= 9 and min(undated) > max(xs)      # own column at the end, not dropped
    assert any("no date" in l["text"] for l in lay["labels"])


def test_geographic_and_custom_keep_everyone_in_place(geo_build):
    res, names = geo_build
    site = res.out_dir
    meta = read_metadata(site)
    f = meta["fields"]
    rows = {r[0]: dict(zip(f, r)) for r in meta["rows"]}
    ids = [r[0] for r in meta["rows"]]
    geo = np.load(res.artifacts_dir / "layout_geographic.npy")
    for i, fn in enumerate(ids):
        r = rows[fn]
        if fn.split("/")[-1] in names and r["lat"] is not None and r["lng"] is not None:
            assert abs(geo[i, 0] - r["lng"]) < 3 and abs(geo[i, 1] - r["lat"]) < 3, fn  # at its place
        else:
            assert geo[i, 1] < -90                                 # set aside below the world
    _, lay = positions(site, "geographic")
    assert "lines" in lay and (site / lay["lines"]).exists()
    assert any("no coordinates" in l["text"] for l in lay["labels"])
    custom = np.load(res.artifacts_dir / "layout_custom.npy")
    for i, fn in enumerate(ids):
        r = rows[fn]
        if r["x"] is not None and r["y"] is not None:
            assert custom[i].tolist() == [float(r["x"]), float(r["y"])], fn   # no shifting (PixPlot bug)
    names_built = [l["name"] for l in manifest(site)["layouts"]]
    assert names_built == ["umap", "umap-n10-d0", "geographic", "custom", "alphabetic", "umap-supervised"]
    variant = next(l for l in manifest(site)["layouts"] if l["name"] == "umap-n10-d0")
    assert variant["group"] == "umap" and variant["params"]["n_neighbors"] == 10


def test_asking_for_an_impossible_layout_is_reported_not_fatal(tmp_path, built_site_result):
    res = pixmap.build(images=DEMO / "images", out_dir=tmp_path / "s", max_images=12, layouts="umap,geographic",
                       cache_dir=built_site_result.out_dir.parent / "cache", progress=False)
    assert res.layouts == ["umap"] and any("geographic" in w for w in res.warnings)
    with pytest.raises(pixmap.pipeline.BuildError, match="unknown layout"):
        pixmap.build(images=DEMO / "images", out_dir=tmp_path / "t", max_images=12, layouts="umap,spiral",
                     progress=False)
