"""Atlas level 1 (pixmap.tileset): tiles grouped by position, cells packed without overlap, real pixels."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pixmap import atlas, tileset


def _plan(n=3000, seed=0, tile=256, cell=32):
    rng = np.random.default_rng(seed)
    pos = np.concatenate([rng.normal(c, 0.3, size=(n // 3, 2)) for c in ((-2, 0), (2, 1), (0, -2))])
    widths = rng.integers(20, 900, size=len(pos))
    heights = rng.integers(20, 900, size=len(pos))
    return pos, widths, heights, tileset.plan_tiles(pos, widths, heights, tile_size=tile, cell_size=cell)


def test_every_image_has_one_cell_inside_its_tile_and_cells_do_not_overlap():
    pos, widths, heights, plan = _plan()
    n = len(pos)
    assert plan.tile_of.shape == (n,) and plan.cells.shape == (n, 4)
    assert plan.count == plan.tile_of.max() + 1
    x, y, w, h = (plan.cells[:, k].astype(int) for k in range(4))
    assert (x + w <= 256).all() and (y + h <= 256).all() and (h <= 32).all() and (w <= 64).all()
    # the cell keeps the image's aspect ratio (as atlas.cell_box makes it)
    for i in range(0, n, 97):
        assert (w[i], h[i]) == atlas.cell_box(int(widths[i]), int(heights[i]), 32)
    for members in plan.members():
        cover = np.zeros((256, 256), np.int32)
        for i in members:
            cover[y[i]:y[i] + h[i], x[i]:x[i] + w[i]] += 1
        assert cover.max() == 1


def test_tiles_are_compact_regions_nearly_full_and_deterministic():
    pos, widths, heights, plan = _plan()
    members = plan.members()
    sizes = np.array([len(m) for m in members])
    # evenly filled: no tile is much emptier than the rest (k-d split into ceil(n / capacity) parts)
    assert sizes.min() >= 0.5 * sizes.max()
    # a tile covers a small part of the map: its bounding box is far smaller than the whole extent
    whole = np.ptp(pos, axis=0).prod()
    areas = [np.ptp(pos[m], axis=0).prod() for m in members]
    assert np.median(areas) < 4 * whole / plan.count
    # neighbouring tile numbers are neighbouring regions: consecutive tiles' centres are close
    centres = np.array([pos[m].mean(axis=0) for m in members])
    steps = np.linalg.norm(np.diff(centres, axis=0), axis=1)
    random_steps = np.linalg.norm(np.diff(centres[np.random.default_rng(1).permutation(len(centres))], axis=0), axis=1)
    assert np.median(steps) < 0.5 * np.median(random_steps)
    again = tileset.plan_tiles(pos, widths, heights, tile_size=256, cell_size=32)
    assert np.array_equal(again.tile_of, plan.tile_of) and np.array_equal(again.cells, plan.cells)


def test_one_image_and_very_wide_images():
    plan = tileset.plan_tiles(np.zeros((1, 2)), [5000], [10], tile_size=64, cell_size=16)
    assert plan.count == 1 and tuple(plan.cells[0]) == (0, 0, 32, 1)
    plan = tileset.plan_tiles(np.zeros((5, 2)), [5000] * 5, [100] * 5, tile_size=64, cell_size=32)
    assert plan.count == 3  # two 64 px wide cells per tile: 2 rows of one
    with pytest.raises(ValueError, match="larger than the tile"):
        tileset.plan_tiles(np.zeros((1, 2)), [10], [10], tile_size=16, cell_size=32)


def test_cell_pack_and_tiles_hold_the_real_pixels(tmp_path):
    rng = np.random.default_rng(3)
    n = 40
    colours = rng.integers(0, 256, size=(n, 3))
    sizes = [(int(w), int(h)) for w, h in rng.integers(10, 200, size=(n, 2))]
    pack = tileset.CellPack(tmp_path / "cells.pack", 4)   # grows past its first size
    for i in reversed(range(n)):  # any order
        cell = atlas.cell_image(Image.new("RGB", sizes[i], tuple(int(c) for c in colours[i])), 32)
        pack.add(i, tileset.encode_cell(cell))
    pack.finish()
    assert pack.get(7).size == atlas.cell_box(*sizes[7], 32)
    pos = rng.normal(size=(n, 2))
    plan = tileset.plan_tiles(pos, [s[0] for s in sizes], [s[1] for s in sizes], tile_size=128, cell_size=32)
    files = tileset.write_tiles(plan, pack.get, tmp_path / "tiles", fmt="webp", quality=90, workers=2)
    assert [f.relative_to(tmp_path).as_posix() for f in files] == [f"tiles/0/{t}.webp" for t in range(plan.count)]
    for i in range(n):
        x, y, w, h = (int(v) for v in plan.cells[i])
        with Image.open(files[plan.tile_of[i]]) as im:
            assert im.size == (128, 128)
            centre = np.asarray(im.convert("RGB"))[y + h // 2, x + w // 2].astype(int)
        assert np.abs(centre - colours[i]).max() <= 12, (i, centre, colours[i])
    pack.close()
    assert not (tmp_path / "cells.pack").exists()
    with pytest.raises(KeyError):
        tileset.CellPack(tmp_path / "p2", 2).get(0)


def test_tile_files_are_sharded_by_thousands(tmp_path):
    assert tileset.tile_path(tmp_path, 999, "webp") == tmp_path / "0" / "999.webp"
    assert tileset.tile_path(tmp_path, 1000, "jpg") == tmp_path / "1" / "1000.jpg"


def test_level0_cell_size_fits_every_image_in_a_few_pages():
    assert atlas.level0_cell_size(267) == 64
    assert atlas.level0_cell_size(5000) == 64       # one level: 64 px cells in at most 8 pages
    assert atlas.level0_cell_size(5500) < 64        # tiles hold the 64 px cells; level 0 serves the overview
    assert atlas.level0_cell_size(100_000) == 7
    assert atlas.level0_cell_size(1_000_000) == 4   # the smallest cell
    for n in (1000, 5000, 5500, 20_000, 50_000, 100_000, 1_000_000):
        c = atlas.level0_cell_size(n)
        pages = n * 1.5 * c * c / (2048 * 2048)
        assert pages <= atlas.LEVEL0_PAGES
        if c < 64 and c > atlas.LEVEL0_MIN_CELL:  # tiled: about LEVEL0_TILED_PAGES pages
            assert atlas.LEVEL0_TILED_PAGES / 2 <= pages <= atlas.LEVEL0_TILED_PAGES, (n, c, pages)
