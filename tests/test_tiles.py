"""pixmap.tiles: static IIIF Image API 3 level-0 tiles, at the paths OpenSeadragon requests.

`osd_tile_urls` below is a line-by-line transcription of the vendored OpenSeadragon's
IIIFTileSource (constructor: maxLevel from scaleFactors, levelSizes from sizes; getNumTiles; getTileUrl),
independent of pixmap.tiles, so a tile that OpenSeadragon would ask for and pixmap did not write fails here.
(tests/test_viewer_deepzoom.py checks the same with the real OpenSeadragon in a browser.)
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from PIL import Image

from pixmap.tiles import scale_factors, tile_files, write_tiles

REPO = Path(__file__).resolve().parent.parent
DEMO_IMAGES = sorted((REPO / "datasets" / "aic-paintings" / "images").glob("*.jpg"))
OSD = REPO / "viewer" / "vendor" / "openseadragon"


def js_round(v):
    return math.floor(v + 0.5)


def osd_tile_urls(info):
    """{url relative to the service: (width, height) the tile is drawn at} for every tile of every level."""
    width, height = info["width"], info["height"]
    tiles = info["tiles"]
    assert len(tiles) == 1
    tile_w = tiles[0]["width"]
    tile_h = tiles[0].get("height") or tiles[0]["width"]
    factors = tiles[0]["scaleFactors"]
    max_level = js_round(math.log(max(factors)) * (1 / math.log(2)))
    level_sizes = None
    sizes = info.get("sizes") or []
    if sizes:
        ordered = sorted(sizes, key=lambda s: s["width"])
        if ordered[-1]["width"] < width and ordered[-1]["height"] < height:
            ordered.append({"width": width, "height": height})
        if len(ordered) == max_level + 1:
            ok = True
            if len(factors) == len(ordered):
                for i in range(len(ordered)):
                    f = factors[len(ordered) - i - 1]
                    if js_round(width / ordered[i]["width"]) != f or js_round(height / ordered[i]["height"]) != f:
                        ok = False
                        break
            if ok:
                level_sizes = ordered
    urls = {}
    for level in range(0, max_level + 1):
        scale = 0.5 ** (max_level - level)
        if level_sizes:
            lw, lh = level_sizes[level]["width"], level_sizes[level]["height"]
            nx, ny = math.ceil(lw / tile_w), math.ceil(lh / tile_h)
        else:
            lw, lh = math.ceil(width * scale), math.ceil(height * scale)
            nx, ny = math.ceil(scale * width / tile_w), math.ceil(scale * height / tile_h)
        ts_w, ts_h = js_round(tile_w / scale), js_round(tile_h / scale)
        for y in range(ny):
            for x in range(nx):
                if lw < tile_w and lh < tile_h:
                    size = "max" if (lw == width and lh == height) else f"{lw},{lh}"
                    region = "full"
                    px = (lw, lh)
                else:
                    tx, ty = x * ts_w, y * ts_h
                    tw, th = min(ts_w, width - tx), min(ts_h, height - ty)
                    region = "full" if (x == 0 and y == 0 and tw == width and th == height) else f"{tx},{ty},{tw},{th}"
                    sw, sh = min(tile_w, lw - x * tile_w), min(tile_h, lh - y * tile_h)
                    size = "max" if (sw == width and sh == height) else f"{sw},{sh}"
                    px = (sw, sh)
                urls[f"{region}/{size}/0/default.jpg"] = px
    return urls


def check_service(folder: Path, width: int, height: int, tile: int):
    info = json.loads((folder / "info.json").read_text(encoding="utf-8"))
    assert info["@context"] == "http://iiif.io/api/image/3/context.json"
    assert info["type"] == "ImageService3"
    assert info["protocol"] == "http://iiif.io/api/image"
    assert info["profile"] == "level0"
    assert (info["width"], info["height"]) == (width, height)
    assert info["tiles"][0]["width"] == tile
    factors = info["tiles"][0]["scaleFactors"]
    assert factors == [2 ** k for k in range(len(factors))]
    top = factors[-1]
    assert math.ceil(width / top) <= tile and math.ceil(height / top) <= tile, "the top level fits in one tile"
    if len(factors) > 1:
        assert math.ceil(width / (top // 2)) > tile or math.ceil(height / (top // 2)) > tile, "no needless level"
    urls = osd_tile_urls(info)
    assert urls, info
    for url, (w, h) in urls.items():
        path = folder / url
        assert path.is_file(), f"OpenSeadragon requests {url}, which was not written"
        with Image.open(path) as im:
            assert im.size == (w, h), url
    # every size listed in "sizes" is fetchable (full/w,h), as a level-0 service promises
    for s in info["sizes"]:
        assert s["width"] <= tile and s["height"] <= tile
        assert (folder / f"full/{s['width']},{s['height']}/0/default.jpg").is_file()
    written = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert written == sorted(tile_files(info))
    # nothing but what OpenSeadragon, the sizes and info.json need
    extra = set(written) - set(urls) - {"info.json"} - {f"full/{s['width']},{s['height']}/0/default.jpg"
                                                         for s in info["sizes"]}
    assert extra == set(), extra
    return info, urls


@pytest.mark.parametrize("size, tile", [
    ((3000, 2000), 512),    # several levels, ragged right and bottom edges
    ((2049, 700), 256),     # one pixel past a power of two
    ((1024, 1024), 512),    # exact multiples
    ((512, 300), 512),      # exactly one tile wide at full resolution: region full, size max
    ((300, 200), 512),      # smaller than one tile
    ((1, 3001), 256),       # a one-pixel sliver
    ((1025, 513), 512),     # levels where the image is exactly one tile wide
])
def test_every_tile_openseadragon_requests_exists_with_its_size(tmp_path, size, tile):
    img = Image.new("RGB", size, (200, 120, 40))
    info = write_tiles(img, tmp_path / "svc", tile_size=tile)
    got, urls = check_service(tmp_path / "svc", *size, tile)
    assert got == info
    assert info["id"] == "."


def test_real_image_pixels_land_in_the_right_tiles(tmp_path):
    """A real painting upscaled to 3000 px: a tile deep in the pyramid shows that part of the picture."""
    import numpy as np

    with Image.open(DEMO_IMAGES[0]) as src:
        src = src.convert("RGB")
        scale = 3000 / max(src.size)
        big = src.resize((round(src.width * scale), round(src.height * scale)), Image.Resampling.BICUBIC)
    info = write_tiles(big, tmp_path / "t", tile_size=512, quality=92)
    check_service(tmp_path / "t", big.width, big.height, 512)
    a = np.asarray(big).astype(np.int16)
    # full resolution, tile (1, 1)
    with Image.open(tmp_path / "t" / "512,512,512,512" / "512,512" / "0" / "default.jpg") as t:
        b = np.asarray(t.convert("RGB")).astype(np.int16)
    assert np.abs(a[512:1024, 512:1024] - b).mean() < 6
    # scale factor 2: tile (0, 0) is the top-left 1024 px, halved
    with Image.open(tmp_path / "t" / "0,0,1024,1024" / "512,512" / "0" / "default.jpg") as t:
        b = np.asarray(t.convert("RGB")).astype(np.int16)
    half = np.asarray(big.crop((0, 0, 1024, 1024)).resize((512, 512), Image.Resampling.BOX)).astype(np.int16)
    assert np.abs(half - b).mean() < 8
    # the smallest level is the whole picture
    s = info["sizes"][0]
    with Image.open(tmp_path / "t" / "full" / f"{s['width']},{s['height']}" / "0" / "default.jpg") as t:
        small = np.asarray(t.convert("RGB")).astype(np.int16)
    ref = np.asarray(big.resize(t.size, Image.Resampling.BOX)).astype(np.int16)
    assert np.abs(ref - small).mean() < 8


def test_exif_orientation_modes_and_formats(tmp_path):
    # EXIF orientation 6 (rotate 90 clockwise): the service describes the upright image
    img = Image.new("RGB", (600, 300), (10, 20, 30))
    exif = Image.Exif()
    exif[0x0112] = 6
    img.save(tmp_path / "o.jpg", exif=exif)
    with Image.open(tmp_path / "o.jpg") as im:
        info = write_tiles(im, tmp_path / "rot", tile_size=256)
    assert (info["width"], info["height"]) == (300, 600)
    check_service(tmp_path / "rot", 300, 600, 256)
    # modes JPEG cannot store are flattened (transparency on white), 16-bit grey kept as 8-bit grey
    rgba = Image.new("RGBA", (700, 400), (255, 0, 0, 0))
    write_tiles(rgba, tmp_path / "rgba", tile_size=256)
    with Image.open(tmp_path / "rgba" / "0,0,256,256" / "256,256" / "0" / "default.jpg") as t:
        assert t.mode == "RGB" and min(t.getpixel((5, 5))) > 245
    write_tiles(Image.new("I;16", (300, 300), 40000), tmp_path / "grey", tile_size=256)
    with Image.open(tmp_path / "grey" / "0,0,256,256" / "256,256" / "0" / "default.jpg") as t:
        assert t.mode == "L" and abs(t.getpixel((5, 5)) - 40000 // 256) <= 2
    # another format: listed in preferredFormats (OpenSeadragon asks for it) and extraFormats
    info = write_tiles(Image.new("RGB", (900, 600)), tmp_path / "webp", tile_size=512, fmt="webp")
    assert info["preferredFormats"] == ["webp"] and info["extraFormats"] == ["webp"]
    assert (tmp_path / "webp" / "512,0,388,512" / "388,512" / "0" / "default.webp").is_file()
    assert sorted(str(p.relative_to(tmp_path / "webp")) for p in (tmp_path / "webp").rglob("*") if p.is_file()) \
        == sorted(tile_files(info))
    with pytest.raises(ValueError):
        write_tiles(Image.new("RGB", (10, 10)), tmp_path / "x", fmt="tiff")


def test_service_id_and_scale_factors(tmp_path):
    info = write_tiles(Image.new("RGB", (800, 800)), tmp_path / "s", tile_size=256,
                       service_id="https://example.org/iiif/s")
    assert json.loads((tmp_path / "s" / "info.json").read_text())["id"] == "https://example.org/iiif/s"
    assert info["tiles"][0]["scaleFactors"] == [1, 2, 4]
    assert scale_factors(256, 256, 256) == [1]
    assert scale_factors(257, 10, 256) == [1, 2]
    assert scale_factors(10000, 10, 512) == [1, 2, 4, 8, 16, 32]
    with pytest.raises(ValueError):
        scale_factors(0, 10, 256)


def test_vendored_openseadragon_is_the_transcribed_version():
    """osd_tile_urls transcribes OpenSeadragon 6 (tests/test_viewer_deepzoom.py compares it with the vendored
    build's own IIIFTileSource in a browser); a new major version is a reminder to re-check it."""
    src = (OSD / "openseadragon.min.js").read_text(encoding="utf-8")
    assert (OSD / "LICENSE.txt").is_file()
    version = re.search(r'versionStr:"([0-9.]+)"', src).group(1)
    assert version.split(".")[0] == "6", f"re-check osd_tile_urls against OpenSeadragon {version}"
