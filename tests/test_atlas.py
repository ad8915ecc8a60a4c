import numpy as np
from PIL import Image

from pixmap import atlas


def test_cell_box_keeps_aspect_and_never_upscales():
    assert atlas.cell_box(640, 480, 64) == (85, 64)
    assert atlas.cell_box(480, 640, 64) == (48, 64)
    assert atlas.cell_box(1000, 100, 64) == (128, 13)      # panoramas: width capped at 2 cells
    assert atlas.cell_box(20, 10, 64) == (20, 10)          # small images are not upscaled


def test_auto_cell_size():
    assert atlas.auto_cell_size(267) == 64
    assert atlas.auto_cell_size(1_000_000) < 64
    assert atlas.auto_cell_size(100_000_000) == atlas.MIN_CELL


def test_pack_and_read_back(tmp_path):
    rng = np.random.default_rng(0)
    colours = rng.integers(0, 255, size=(300, 3))
    w = atlas.AtlasWriter(tmp_path, 300, size=256, cell_size=32, fmt="webp", quality=100)
    for i, c in enumerate(colours):
        size = (64, 32) if i % 3 == 0 else (24, 32) if i % 3 == 1 else (32, 32)
        w.add(i, Image.new("RGB", size, tuple(int(v) for v in c)))
    pages, cells = w.close()
    assert len(pages) > 1 and all(p.exists() for p in pages)
    imgs = [np.asarray(Image.open(p).convert("RGB")) for p in pages]
    boxes = set()
    for i, (page, x, y, cw, ch) in enumerate(cells.tolist()):
        assert x + cw <= 256 and y + ch <= 256
        assert (page, x, y) not in boxes
        boxes.add((page, x, y))
        centre = imgs[page][y + ch // 2, x + cw // 2].astype(int)
        assert np.abs(centre - colours[i]).max() < 30, i
    # cells never overlap within a page
    for p in range(len(pages)):
        mask = np.zeros((256, 256), int)
        for page, x, y, cw, ch in cells.tolist():
            if page == p:
                mask[y:y + ch, x:x + cw] += 1
        assert mask.max() == 1


def test_oversized_thumbnail_is_shrunk(tmp_path):
    w = atlas.AtlasWriter(tmp_path, 1, size=128, cell_size=16, fmt="jpeg")
    w.add(0, Image.new("RGB", (300, 100)))
    _, cells = w.close()
    assert cells[0].tolist()[3:] == [32, 11]


def test_pages_are_jpeg_and_a_busy_page_saves(tmp_path):
    """Level-0 pages are JPEG by default (they decode ~3x faster than WebP in a browser); a page full of
    noise (the hardest input for the encoder's buffer) still saves, with its colours kept cell by cell."""
    import numpy as np

    rng = np.random.default_rng(0)
    w = atlas.AtlasWriter(tmp_path, 1200, size=1024, cell_size=32)
    for i in range(1200):
        w.add(i, Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)))
    pages, cells = w.close()
    assert [p.suffix for p in pages] == [".jpg"] * len(pages)
    with Image.open(pages[0]) as im:
        assert im.format == "JPEG" and im.size == (1024, 1024)
        # 4:4:4: no chroma subsampling (a 4 px cell keeps its own colour)
        assert im.layer[0][1:3] == im.layer[1][1:3] == (1, 1)
