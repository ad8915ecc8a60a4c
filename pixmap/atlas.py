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
LEVEL0_TILED_PAGES = 2  # ... and when level-1 tiles hold the 64 px cells, level 0 only serves the overview
LEVEL0_MIN_CELL = 4     # (the smallest cell that still shows an image's colours and shape at overview zoom)
# Atlas pages are JPEG (4:4:4, so that small cells keep their colours): a browser decodes a 2048 px JPEG
# page ~3x faster than a WebP one (Chromium: ~90 ms vs 250-460 ms), and the first frame waits for them.
PAGE_FORMAT = "jpeg"
PAGE_QUALITY = 90


def auto_cell_size(n: int, page_size: int = 2048, requested: int = 64) -> int:
    """The largest cell size <= requested whose atlases for n images fit in about MAX_PAGES pages."""
    if n <= 0:
        return requested
    fit = int(math.sqrt(MAX_PAGES * page_size * page_size / (1.5 * n)))
    return int(max(MIN_CELL, min(requested, fit)))


def level0_cell_size(n: int, page_size: int = 2048, cell_size: int = 64, max_pages: int = LEVEL0_PAGES,
                     tiled_pages: int = LEVEL0_TILED_PAGES) -> int:
    """The cell size of atlas level 0, which holds every image and is drawn whole.

    When every image fits at cell_size in max_pages pages (cells 1.5 cells wide on average, shelves one cell
    high; up to ~5,000 images at 64 px), that is level 0 and there are no tiles. Otherwise the site also
    gets level-1 tiles at cell_size (pixmap.tileset), and level 0 only has to carry the views in which too
    many images are visible for tiles: its cells fill about tiled_pages pages (the first frame decodes them
    all), but are at least LEVEL0_MIN_CELL px: 16 px at 20,000 images, 7 px at 100,000, 4 px at 1,000,000
    (6 pages)."""
    if n <= 0:
        return cell_size
    area = page_size * page_size / (1.5 * n)
    if cell_size * cell_size <= max_pages * area:
        return cell_size
    fit = int(math.sqrt(tiled_pages * area))
    return int(max(LEVEL0_MIN_CELL, min(cell_size - 1, fit)))


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

    def __init__(self, folder: Path, n: int, size: int = 2048, cell_size: int = 64, fmt: str = PAGE_FORMAT,
                 quality: int = PAGE_QUALITY, executor: Executor | None = None):
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
        self.pages.append(f"atlas-{len(self.pages):03d}.{'jpg' if self.fmt == 'jpeg' else self.fmt}")

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
        # (no optimize=True: with it Pillow needs the whole file in one buffer and fails on large, busy pages)
        page.save(path, "JPEG", quality=quality, subsampling=0)


HOTSPOT_THUMB = 64
HOTSPOT_COLUMNS = 16


def hotspot_sheet(images: list, size: int = HOTSPOT_THUMB, columns: int = HOTSPOT_COLUMNS) -> Image.Image:
    """The hotspots' representative thumbnails in one small image for the hotspot panel of a site whose
    level-0 cells are too small for it: each image scaled to cover a size x size square (centred, the
    overflow cropped), left to right in rows of `columns`, in the order given."""
    rows = max(1, -(-len(images) // columns))
    sheet = Image.new("RGB", (size * min(columns, max(1, len(images))), size * rows))
    for k, im in enumerate(images):
        im = im.convert("RGB")
        s = max(size / im.width, size / im.height)
        w, h = max(size, round(im.width * s)), max(size, round(im.height * s))
        im = im.resize((w, h), Image.Resampling.BICUBIC)
        left, top = (w - size) // 2, (h - size) // 2
        sheet.paste(im.crop((left, top, left + size, top + size)), ((k % columns) * size, (k // columns) * size))
    return sheet
