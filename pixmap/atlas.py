"""Texture atlases: every image's small thumbnail packed into a few large square pages.

Cells keep the image's aspect ratio: each thumbnail is at most `cell_size` high and `2 * cell_size` wide,
and cells are packed left to right in rows ("shelves") of height `cell_size`. Pages are filled in data
order as images stream through the build, so no thumbnail is held in memory longer than its page.
"""
from __future__ import annotations

import math
from concurrent.futures import Executor
from pathlib import Path

import numpy as np
from PIL import Image

MAX_PAGES = 24          # ~400 MB of RGBA textures at 2048 px: what a laptop GPU holds comfortably
MIN_CELL = 8
LEVEL0_PAGES = 8        # level 0 of a version-3 site: every image in at most this many pages (~180 MB on a GPU)
LEVEL0_MIN_CELL = 2


def auto_cell_size(n: int, page_size: int = 2048, requested: int = 64) -> int:
    """The largest cell size <= requested whose atlases for n images fit in about MAX_PAGES pages."""
    if n <= 0:
        return requested
    fit = int(math.sqrt(MAX_PAGES * page_size * page_size / (1.5 * n)))
    return int(max(MIN_CELL, min(requested, fit)))


def level0_cell_size(n: int, page_size: int = 2048, cell_size: int = 64, max_pages: int = LEVEL0_PAGES) -> int:
    """The cell size of atlas level 0, which holds every image and is drawn whole: the largest <= cell_size
    whose cells (1.5 cells wide on average, shelves one cell high) fill at most max_pages pages.
    64 px up to ~5,000 images, 14 px at 100,000, 4 px at 1,000,000. When it is smaller than cell_size,
    the site also gets level-1 tiles at cell_size (pixmap.tileset)."""
    if n <= 0:
        return cell_size
    fit = int(math.sqrt(max_pages * page_size * page_size / (1.5 * n)))
    return int(max(LEVEL0_MIN_CELL, min(cell_size, fit)))


def cell_box(width: int, height: int, cell_size: int) -> tuple[int, int]:
    """The (w, h) of an image's cell: aspect kept, h <= cell_size, w <= 2 * cell_size, never upscaled."""
    scale = min(cell_size / height, 2 * cell_size / width, 1.0)
    return max(1, round(width * scale)), max(1, round(height * scale))


def cell_image(thumb: Image.Image, cell_size: int) -> Image.Image:
    """The thumbnail shrunk to its cell_box (itself when it already fits)."""
    box = cell_box(*thumb.size, cell_size)
    return thumb if box == thumb.size else thumb.resize(box, Image.Resampling.BILINEAR, reducing_gap=2.0)


class AtlasWriter:
    """Packs thumbnails into pages and writes each page as soon as it is full.

        writer = AtlasWriter(out_dir / "data/atlas", n, size=2048, cell_size=64)
        writer.add(i, pil_thumbnail)          # in any order, each i once
        pages, cells = writer.close()         # page paths, (n, 5) uint16 [page, x, y, w, h]
    """

    def __init__(self, folder: Path, n: int, size: int = 2048, cell_size: int = 64, fmt: str = "webp",
                 quality: int = 82, executor: Executor | None = None):
        if cell_size > size:
            raise ValueError(f"cell size {cell_size} is larger than the atlas size {size}")
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.size, self.cell_size, self.fmt, self.quality = size, cell_size, fmt, quality
        self.cells = np.zeros((n, 5), np.uint16)
        self.pages: list[str] = []
        self._executor = executor
        self._pending = []
        self._page = None
        self._x = self._y = 0

    def add(self, index: int, thumb: Image.Image) -> None:
        thumb = cell_image(thumb, self.cell_size)
        w, h = thumb.size
        w = min(w, self.size)
        if self._page is None:
            self._new_page()
        if self._x + w > self.size:  # next shelf
            self._x, self._y = 0, self._y + self.cell_size
        if self._y + self.cell_size > self.size:  # next page
            self._flush()
            self._new_page()
        self._page.paste(thumb, (self._x, self._y))
        self.cells[index] = (len(self.pages) - 1, self._x, self._y, w, h)
        self._x += w

    def _new_page(self) -> None:
        self._page = Image.new("RGB", (self.size, self.size), (0, 0, 0))
        self._x = self._y = 0
        self.pages.append(f"atlas-{len(self.pages):03d}.{self.fmt}")

    def _flush(self) -> None:
        if self._page is None:
            return
        page, path = self._page, self.folder / self.pages[-1]
        self._page = None
        if self._executor is None:
            _save(page, path, self.fmt, self.quality)
        else:
            self._pending.append(self._executor.submit(_save, page, path, self.fmt, self.quality))

    def close(self) -> tuple[list[Path], np.ndarray]:
        self._flush()
        for future in self._pending:
            future.result()
        return [self.folder / p for p in self.pages], self.cells


def _save(page: Image.Image, path: Path, fmt: str, quality: int) -> None:
    if fmt == "webp":
        page.save(path, "WEBP", quality=quality, method=4)
    else:
        page.save(path, "JPEG", quality=quality, optimize=True)
