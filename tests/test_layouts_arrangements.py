"""The layouts other than plain UMAP: grid, spread, categorical, date, geographic, alphabetic, custom,
UMAP 3D / variants, and the registry. Invariants checked on the demo collection's real metadata, with
UMAP positions of its real images (PCA of tiny grey thumbnails)."""
import csv
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial import cKDTree

from pixmap.layouts import LAYOUTS, compute_layouts, labels_to_ints, missing_inputs
from pixmap.layouts.base import normalise
from pixmap.layouts.categorical import categorical_layout
from pixmap.layouts.date import choose_bin, date_layout, parse_year
from pixmap.layouts.geographic import geographic_layout, world_lines
from pixmap.layouts.grid import assign_cells, grid_cells, grid_layout, grid_shape, neighbourhood_kept
from pixmap.layouts.sorted import custom_layout, sorted_layout
from pixmap.layouts.spread import spread_layout
from pixmap.layouts.umap import procrustes_align, reduce_pca, umap_layout, umap_variants

DEMO = Path(__file__).resolve().parent.parent / "datasets" / "aic-paintings"


@pytest.fixture(scope="module")
def demo():
    from PIL import Image

    with open(DEMO / "metadata.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    feats = []
    for r in rows:
        with Image.open(DEMO / r["filename"]) as im:
            im.draft("L", (32, 32))
            feats.append(np.asarray(im.convert("L").resize((12, 12)), dtype=np.float32).ravel())
    x = reduce_pca(np.stack(feats), 20)
    xy = umap_layout(x, seed=0).positions
    columns = {k: [r[k] for r in rows] for k in rows[0]}
    return {"rows": rows, "x": x, "xy": xy, "columns": columns, "n": len(rows)}


def cells_unique(pos):
    return len({tuple(p) for p in np.round(pos, 6).tolist()}) == len(pos)


# ---------------------------------------------------------------- grid
def test_grid_shape():
    assert grid_shape(100, 1.0) == (10, 10)
    r, c = grid_shape(1000, 2.0)
    assert r * c >= 1000 and 1.6 < c / r < 2.5
    assert grid_shape(1) == (1, 1) and grid_shape(0) == (0, 0)
    for n in (2, 3, 7, 10, 99):
        r, c = grid_shape(n, 0.3)
        assert r * c >= n and (r - 1) * c < n


def test_assign_cells_is_a_bijection_and_keeps_order():
    rng = np.random.default_rng(0)
    pts = rng.uniform(size=(500, 2))
    cells = grid_cells(500, 25)
    where = assign_cells(pts, cells)
    assert sorted(where.tolist()) == list(range(500))
    # monotone-ish: x order of points agrees with x order of their cells
    rho = np.corrcoef(np.argsort(np.argsort(pts[:, 0])), np.argsort(np.argsort(cells[where, 0])))[0, 1]
    assert rho > 0.9
    assert assign_cells(np.zeros((0, 2)), np.zeros((0, 2))).size == 0


def test_grid_layout_on_umap(demo):
    g = grid_layout(demo["xy"])
    n = demo["n"]
    assert g.name == "grid" and g.positions.shape == (n, 2) and g.point_size == 1.0
    assert cells_unique(g.positions)
    assert np.allclose(g.positions, np.round(g.positions))           # on integer cells
    rows, cols = g.params["rows"], g.params["cols"]
    assert rows * cols >= n and (rows - 1) * cols < n
    kept = neighbourhood_kept(demo["xy"], g.positions, k=10)
    assert kept > 0.35, kept                                          # random would be ~0.04
    for tiny in (0, 1, 2, 3):
        t = grid_layout(demo["xy"][:tiny])
        assert t.positions.shape == (tiny, 2) and cells_unique(t.positions)


# ---------------------------------------------------------------- spread
def test_spread_removes_overlaps_and_keeps_shape(demo):
    xy = demo["xy"]
    s = spread_layout(xy)
    assert s.name == "umap-spread" and s.positions.shape == xy.shape
    size = s.point_size
    pairs = cKDTree(s.positions.astype(np.float64)).query_pairs(size * 0.999, p=np.inf)
    assert not pairs and s.params["overlaps_left"] == 0
    assert neighbourhood_kept(xy, s.positions) > 0.5
    # the shape stays: once both are normalised, images move little on average
    from pixmap.layouts.base import Layout
    a = normalise(Layout("a", "a", xy)).positions
    b = normalise(s).positions
    assert np.linalg.norm(a - b, axis=1).mean() < 0.3
    assert spread_layout(xy[:1]).positions.shape == (1, 2)
    same = spread_layout(np.zeros((20, 2)), size=1.0)                 # coincident points separate
    assert not cKDTree(same.positions.astype(np.float64)).query_pairs(0.999, p=np.inf)


# ---------------------------------------------------------------- categorical
def test_categorical_blocks(demo):
    values = list(demo["columns"]["category"])
    values[0] = ""
    values[1] = None
    layout = categorical_layout(demo["xy"], values)
    pos = layout.positions
    assert pos.shape == (demo["n"], 2) and cells_unique(pos)
    titles = [lab["text"] for lab in layout.labels]
    assert titles[-1] == "(no category)"
    sizes = {}
    for v in values:
        key = v if v else "(no category)"
        sizes[key] = sizes.get(key, 0) + 1
    assert sorted(titles) == sorted(sizes)
    listed = [sizes[t] for t in titles[:-1]]
    assert listed == sorted(listed, reverse=True)                    # largest block first
    # blocks do not overlap: bounding boxes of different values are disjoint
    boxes = {}
    for key in sizes:
        members = [i for i, v in enumerate(values) if (v if v else "(no category)") == key]
        p = pos[members]
        boxes[key] = (p.min(0), p.max(0))
    keys = list(boxes)
    for a in range(len(keys)):
        for b in range(a + 1, len(keys)):
            (lo1, hi1), (lo2, hi2) = boxes[keys[a]], boxes[keys[b]]
            assert (hi1 < lo2).any() or (hi2 < lo1).any()
    # each label sits above its block
    for lab in layout.labels:
        lo, hi = boxes[lab["text"]]
        assert lab["y"] > hi[1] and lo[0] - 1 <= lab["x"] <= hi[0] + 1
    normalise(layout)


# ---------------------------------------------------------------- date
@pytest.mark.parametrize("value,year", [
    ("1884", 1884), ("c. 1884", 1884), ("1884-86", 1884), ("ca 1500", 1500), ("1884-03-02", 1884),
    ("March 2, 1884", 1884), (1884.0, 1884), (1884, 1884), ("1884.0", 1884), ("c.1884", 1884),
    ("1690/95", 1690), ("c. 1875\u201390", 1875), ("Date unknown", None), ("", None), (None, None),
    (float("nan"), None), ("500 BC", -500), ("19th century", 1800), (np.int64(1901), 1901),
])
def test_parse_year(value, year):
    assert parse_year(value) == year


def test_parse_year_on_demo_dates(demo):
    dates = demo["columns"]["date"]
    years = demo["columns"]["year"]
    for d, y in zip(dates, years):
        if y:
            assert parse_year(y) == int(y)
    parsed = [parse_year(d) for d in dates]
    assert sum(p is None for p in parsed) == sum(d == "Date unknown" for d in dates)


def test_choose_bin():
    assert choose_bin([1880, 1881, 1890]) == 1
    assert choose_bin(list(range(1800, 1900))) == 5
    assert choose_bin(list(range(1000, 2000))) == 25
    assert choose_bin(list(range(-3000, 2000, 3))) == 100
    assert choose_bin([None]) == 1


def test_date_layout(demo):
    years = list(demo["columns"]["year"])
    layout = date_layout(demo["xy"], years)
    pos = layout.positions
    assert pos.shape == (demo["n"], 2) and cells_unique(pos)
    parsed = [parse_year(y) for y in years]
    assert any(p is None for p in parsed)
    assert layout.labels[-1]["text"] == "(no date)"
    b = layout.params["bin"]
    assert len(layout.labels) - 1 == len({p // b for p in parsed if p is not None}) <= 60
    # x ordered by year; undated rightmost; labels below the columns
    dated = [i for i, p in enumerate(parsed) if p is not None]
    undated = [i for i, p in enumerate(parsed) if p is None]
    order = sorted(dated, key=lambda i: parsed[i])
    xs = pos[order, 0]
    bins = np.array([parsed[i] // b for i in order])
    for a, c in zip(range(len(order) - 1), range(1, len(order))):
        if bins[c] > bins[a]:
            assert xs[c] > xs[a]
    assert pos[undated, 0].min() > pos[dated, 0].max()
    assert all(lab["y"] < pos[:, 1].min() for lab in layout.labels)
    # wide spans get bins
    wide = date_layout(None, [str(y) for y in range(1000, 2000)])
    assert wide.params["bin"] == 25 and len(wide.labels) <= 60


# ---------------------------------------------------------------- geographic
def test_world_outline_ships():
    lines = world_lines()
    assert len(lines) > 100
    allpts = np.concatenate(lines)
    assert allpts[:, 0].min() >= -180 and allpts[:, 0].max() <= 180
    assert allpts[:, 1].min() >= -90 and allpts[:, 1].max() <= 90
    # no segment jumps across the map (antimeridian split)
    assert max(np.abs(np.diff(line[:, 0])).max() for line in lines) < 180


def test_geographic_layout(demo):
    n = demo["n"]
    rng = np.random.default_rng(1)
    lat = [str(v) for v in rng.uniform(-60, 70, n)]
    lng = rng.uniform(-180, 180, n).tolist()
    lat[:4] = [None, "", "abc", "95"]          # missing / junk / out of range
    lat[10:30] = ["41.88"] * 20                # 20 images at one place (Chicago)
    lng[10:30] = [-87.62] * 20
    layout = geographic_layout(lat, lng, xy=demo["xy"])
    pos = layout.positions
    assert pos.shape == (n, 2) and cells_unique(pos)
    assert layout.lines and layout.labels[0]["text"] == "(no coordinates)"
    assert (pos[:4, 1] < -90).all()                                   # set aside below Antarctica
    assert np.allclose(pos[40:, 0], np.asarray(lng[40:], np.float32), atol=1e-4)   # others in place
    chicago = pos[10:30]
    assert np.linalg.norm(chicago - [-87.62, 41.88], axis=1).max() < 10 * layout.point_size
    assert cKDTree(chicago.astype(np.float64)).query_pairs(layout.point_size * 0.3) == set()
    normalise(layout)


# ---------------------------------------------------------------- alphabetic, custom
def test_sorted_layout(demo):
    titles = list(demo["columns"]["title"])
    titles[5] = ""
    layout = sorted_layout(titles, "title")
    pos = layout.positions
    assert cells_unique(pos)
    reading = sorted(range(len(titles)), key=lambda i: (-pos[i, 1], pos[i, 0]))
    got = [titles[i] for i in reading if titles[i]]
    assert [t.casefold() for t in got][:3] == sorted(t.casefold() for t in titles if t)[:3]
    assert reading[-1] == 5 and layout.labels[-1]["text"] == "(no title)"
    names = ["img10", "IMG2", "img1", None, "img3"]
    natural = sorted_layout(names, "filename").positions
    reading = sorted(range(5), key=lambda i: (-natural[i, 1], natural[i, 0]))
    assert [names[i] for i in reading] == ["img1", "IMG2", "img3", "img10", None]


def test_custom_layout_keeps_index_alignment():
    x = ["1", "2", None, "4", "5"]
    y = [10, 20, 30, "", 50.5]
    layout = custom_layout(x, y)
    pos = layout.positions
    assert pos.shape == (5, 2)
    assert pos[0].tolist() == [1, 10] and pos[1].tolist() == [2, 20] and pos[4].tolist() == [5, 50.5]
    assert (pos[[2, 3], 1] < 10).all() and cells_unique(pos)
    assert layout.labels[0]["text"] == "(missing values)"
    three = custom_layout([1, 2, 3], [1, 2, 3], [0, None, 3])
    assert three.dims == 3 and three.positions[2].tolist() == [3, 3, 3]
    none = custom_layout([None, None], [None, None])
    assert np.isfinite(none.positions).all() and cells_unique(none.positions)


# ---------------------------------------------------------------- UMAP 3D, variants, registry
def test_umap_3d_and_variants(demo):
    x = demo["x"]
    three = umap_layout(x, dims=3)
    assert three.name == "umap-3d" and three.positions.shape == (demo["n"], 3)
    ref = umap_layout(x)
    variants = umap_variants(x, (5, 15), (0.1, 0.5), reference=ref)
    assert [v.name for v in variants] == ["umap-n5-d0.1", "umap-n5-d0.5", "umap-n15-d0.1",
                                          "umap-n15-d0.5"]
    assert all(v.group == "umap" and set(v.params) >= {"n_neighbors", "min_dist"} for v in variants)
    assert np.array_equal(variants[2].positions, ref.positions)
    # aligned: each variant is no farther from the reference than a fresh, unaligned fit
    r = normalise(ref).positions
    for v in variants:
        p = normalise(v).positions
        assert np.linalg.norm(p - r, axis=1).mean() < 0.5


def test_procrustes_recovers_a_rotation():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 2))
    t = np.deg2rad(40)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    b = 3 * a @ rot + [5, -2]
    assert np.allclose(procrustes_align(b, a), a, atol=1e-4)


def test_registry_and_compute_layouts(demo):
    cols = dict(demo["columns"])
    cols["label"] = cols["collection"]
    skipped = {}
    names = ["umap", "grid", "umap-spread", "categorical", "date", "alphabetic", "geographic",
             "umap-supervised"]
    out = compute_layouts(names, features=demo["x"], columns=cols, skipped=skipped)
    assert [l.name for l in out] == ["umap", "grid", "umap-spread", "categorical", "date",
                                     "alphabetic", "umap-supervised"]
    assert skipped == {"geographic": "needs lat, lng"}
    assert missing_inputs("custom", columns=cols) == ["x", "y"]
    assert set(LAYOUTS) >= {"umap", "umap-3d", "grid", "umap-spread", "categorical", "date",
                            "geographic", "alphabetic", "custom", "umap-supervised"}
    for layout in out:
        assert layout.positions.shape[0] == demo["n"]
        assert np.isfinite(normalise(layout).positions).all()
    assert labels_to_ints(["b", "a", None, "a"]).tolist() == [1, 0, -1, 0]


def test_compute_layouts_uses_the_neighbours_it_is_given(demo):
    from pixmap.layouts.umap import knn

    x = demo["x"]
    fresh = compute_layouts(["umap"], features=x, n_neighbors=10)[0]
    same = compute_layouts(["umap"], features=x, n_neighbors=10, neighbors=knn(x, 10, "cosine"))[0]
    assert np.array_equal(fresh.positions, same.positions)
    other = compute_layouts(["umap"], features=x, n_neighbors=10, neighbors=knn(x[:, :5], 10, "cosine"))[0]
    assert not np.array_equal(fresh.positions, other.positions)


def test_auto_layouts_by_collection_size():
    from pixmap.layouts import AUTO_LAYOUTS, AUTO_LIMITS, auto_layouts, auto_left_out

    assert auto_layouts(267) == AUTO_LAYOUTS and auto_left_out(267) == {}
    sizes = [1, 10_000, 100_000, 250_000, 500_000, 1_000_000, 5_000_000]
    for small, big in zip(sizes, sizes[1:]):          # a larger collection never gains a layout
        assert set(auto_layouts(big)) <= set(auto_layouts(small))
    at_scale = auto_layouts(1_000_000)
    assert at_scale[0] == "umap" and {"grid", "categorical", "date", "geographic", "alphabetic"} <= set(at_scale)
    left = auto_left_out(1_000_000)
    assert set(left) == set(AUTO_LAYOUTS) - set(at_scale) and set(left) <= set(AUTO_LIMITS)
    assert all(len(why) > 20 for why in left.values())
    for name, (limit, _) in AUTO_LIMITS.items():      # the limit is where it is left out
        assert name in auto_layouts(limit - 1) and name not in auto_layouts(limit)
    assert [a for a in AUTO_LAYOUTS if a in at_scale] == list(at_scale)   # the order is kept
