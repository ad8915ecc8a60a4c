"""Atlas level 1: every image's cell again, at full cell size, in square tiles grouped by position.

Level 0 of the atlas (atlas.py) holds every image at a few pixels and is drawn whole; this level holds them
at `cell_size` (64 px) in tiles that the viewer loads only for the region in view (docs/site-format.md,
"Version 3"). Which images share a tile is decided once, by their position in the UMAP layout: a k-d split
at the median of the longer axis, until each group packs into one tile. Tiles are numbered in the split's
order, so neighbouring numbers are neighbouring regions.

    pack = CellPack(tmp / "cells.pack", n)        # during the image pass: each image's level-1 cell
    pack.add(i, encoded_cell_bytes)               #   (encode_cell(image) in a worker thread)
    plan = plan_tiles(umap_xy, widths, heights, tile_size=1024, cell_size=64)
    write_tiles(plan, pack.get, site / "data/atlas/tiles", fmt="webp")
    plan.tile_of, plan.cells                      # per image: its tile; x, y, w, h in it

The cells wait in `CellPack`, an append-only file of small JPEGs (~3 KB each) on disk, because the layout
that decides the tiles exists only after the image pass: nothing is held in memory but one tile per worker.
"""
from __future__ import annotations

import io
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

TILE_SIZE = 1024
SHARD = 1000          # tiles per folder


@dataclass
class TilePlan:
    tile_of: np.ndarray      # (n,) uint32: the tile of each image
    cells: np.ndarray        # (n, 4) uint16: x, y, w, h of its cell in the tile
    count: int               # number of tiles
    tile_size: int
    cell_size: int

    def members(self) -> list[np.ndarray]:
        """The images of each tile, in tile order."""
        order = np.argsort(self.tile_of, kind="stable")
        bounds = np.searchsorted(self.tile_of[order], np.arange(self.count + 1))
        return [order[bounds[t]:bounds[t + 1]] for t in range(self.count)]


def cell_boxes(widths, heights, cell_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised atlas.cell_box: aspect kept, h <= cell_size, w <= 2 * cell_size, never upscaled."""
    w = np.maximum(np.asarray(widths, dtype=np.float64), 1)
    h = np.maximum(np.asarray(heights, dtype=np.float64), 1)
    scale = np.minimum(np.minimum(cell_size / h, 2 * cell_size / w), 1.0)
    return (np.maximum(1, np.round(w * scale)).astype(np.int64),
            np.maximum(1, np.round(h * scale)).astype(np.int64))


def _shelves(widths: list[int], tile_size: int, cell_size: int):
    """Shelf-pack cells of these widths into one tile: their (x, y), or None when they do not fit."""
    x = y = 0
    out = []
    for w in widths:
        w = min(w, tile_size)
        if x + w > tile_size:
            x, y = 0, y + cell_size
        if y + cell_size > tile_size:
            return None
        out.append((x, y))
        x += w
    return out


def plan_tiles(positions, widths, heights, tile_size: int = TILE_SIZE, cell_size: int = 64) -> TilePlan:
    """Group the images into tiles by position (a k-d split of `positions`, (n, 2)) and place each cell.

    `widths`, `heights`: the images' original sizes (their cells keep the aspect ratio). Pure function of
    its inputs: the same positions give the same tiles.
    """
    if cell_size > tile_size:
        raise ValueError(f"cell size {cell_size} is larger than the tile size {tile_size}")
    xy = np.asarray(positions, dtype=np.float64)[:, :2]
    n = len(xy)
    xy = np.where(np.isfinite(xy), xy, 0.0)
    cw, ch = cell_boxes(widths, heights, cell_size)
    cw = np.minimum(cw, tile_size)
    rows = tile_size // cell_size
    mean_w = float(cw.mean()) if n else cell_size
    # a tile's capacity if every cell had the mean width, less a margin for the shelves' ragged ends
    capacity = max(1, int(rows * max(1, int(tile_size / mean_w) - 1)))

    leaves: list[np.ndarray] = []
    stack = [np.arange(n)]
    while stack:  # depth first, left before right: tiles numbered in the split's order
        idx = stack.pop()
        m = -(-len(idx) // capacity)          # tiles this group needs
        if m <= 1:
            placed = _shelves(cw[idx].tolist(), tile_size, cell_size)
            if placed is not None or len(idx) <= 1:
                leaves.append(idx)
                continue
            m = 2                              # ragged shelves overflowed: split once more
        pts = xy[idx]
        axis = int(np.ptp(pts[:, 1]) > np.ptp(pts[:, 0])) if len(idx) else 0
        order = idx[np.lexsort((idx, pts[:, axis]))]   # ties broken by index: deterministic
        left = int(round(len(idx) * (m // 2) / m))
        stack.append(order[left:])
        stack.append(order[:left])

    tile_of = np.zeros(n, np.uint32)
    cells = np.zeros((n, 4), np.uint16)
    for t, idx in enumerate(leaves):
        placed = _shelves(cw[idx].tolist(), tile_size, cell_size)
        if placed is None:  # a single image always fits (its width is capped at the tile size)
            raise AssertionError("tile plan: a leaf does not fit")
        tile_of[idx] = t
        cells[idx, 0] = [p[0] for p in placed]
        cells[idx, 1] = [p[1] for p in placed]
        cells[idx, 2] = cw[idx]
        cells[idx, 3] = ch[idx]
    return TilePlan(tile_of=tile_of, cells=cells, count=len(leaves), tile_size=tile_size, cell_size=cell_size)


def tile_path(folder: Path, t: int, ext: str, shard: int = SHARD) -> Path:
    """Tile t's file: <folder>/<t // shard>/<t>.<ext>."""
    return Path(folder) / str(t // shard) / f"{t}.{ext}"


def write_tiles(plan: TilePlan, get_cell, folder: Path, fmt: str = "webp", quality: int = 80, workers: int = 2,
                progress: bool = False, shard: int = SHARD) -> list[Path]:
    """Compose and encode every tile from the cells (get_cell(i) -> PIL image of image i's cell, at most
    its planned box; called from worker threads). Returns the tile files in tile order."""
    from tqdm.auto import tqdm

    ext = "webp" if fmt == "webp" else "jpg"
    folder = Path(folder)
    members = plan.members()
    for s in range(0, plan.count, shard):
        (folder / str(s // shard)).mkdir(parents=True, exist_ok=True)

    def one(t: int) -> Path:
        idx = members[t]
        cells = plan.cells[idx]
        page = Image.new("RGB", (plan.tile_size, plan.tile_size), (0, 0, 0))
        for i, (x, y, w, h) in zip(idx.tolist(), cells.tolist()):
            im = get_cell(i)
            if im.size != (w, h):
                im = im.resize((w, h), Image.Resampling.BILINEAR)
            page.paste(im, (x, y))
        path = tile_path(folder, t, ext, shard)
        if ext == "webp":
            page.save(path, "WEBP", quality=quality, method=0)   # 25% faster than 2, ~7% larger
        else:
            page.save(path, "JPEG", quality=quality)
        return path

    bar = tqdm(total=len(plan.tile_of), desc="atlas tiles", unit="img", disable=not progress)
    out = []
    try:
        with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="tiles") as pool:
            # at most 2 tiles per worker in flight: memory stays a few tiles
            futures = {}
            for t in range(plan.count):
                futures[t] = pool.submit(one, t)
                if len(futures) >= 2 * max(1, workers):
                    first = min(futures)
                    out.append(futures.pop(first).result())
                    bar.update(len(members[first]))
            for t in sorted(futures):
                out.append(futures[t].result())
                bar.update(len(members[t]))
    finally:
        bar.close()
    return out


def encode_cell(image: Image.Image) -> bytes:
    """A level-1 cell as the bytes CellPack keeps (JPEG, quality 92: re-encoded once more into its tile)."""
    buf = io.BytesIO()
    image.convert("RGB").save(buf, "JPEG", quality=92)
    return buf.getvalue()


class CellPack:
    """Level-1 cells of the image pass, appended to one file as they come; read back by index.

    One file and an (n, 2) offset table instead of a million small files; the file is deleted by close().
    """

    def __init__(self, path: Path, n: int):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(self.path, "w+b")
        self.index = np.full((max(n, 0), 2), -1, np.int64)   # offset, length
        self._end = 0
        self._lock = threading.Lock()

    def add(self, i: int, data: bytes) -> None:
        with self._lock:
            if i >= len(self.index):
                grow = np.full((max(i + 1, 2 * len(self.index)) - len(self.index), 2), -1, np.int64)
                self.index = np.concatenate([self.index, grow])
            self._f.seek(self._end)
            self._f.write(data)
            self.index[i] = (self._end, len(data))
            self._end += len(data)

    def finish(self) -> None:
        """Writing is over (the data is flushed so that get() may read from any thread)."""
        self._f.flush()

    def get(self, i: int) -> Image.Image:
        offset, length = (int(v) for v in self.index[i])
        if offset < 0:
            raise KeyError(f"no cell for image {i}")
        data = os.pread(self._f.fileno(), length, offset)
        im = Image.open(io.BytesIO(data))
        im.load()
        return im

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()
        self.path.unlink(missing_ok=True)
