"""Static IIIF Image API 3 level-0 tiles, for deep zoom into local high-resolution images.

`write_tiles(image, folder)` writes `folder/info.json` and one file per tile at exactly the paths
OpenSeadragon's IIIFTileSource (viewer/vendor/openseadragon, `getTileUrl`) requests from a level-0
Image API 3 service, so any static web server can serve them (docs/site-format.md, "Deep zoom"):

    folder/info.json
    folder/{x},{y},{w},{h}/{sw},{sh}/0/default.jpg     a tile: region in full-resolution pixels, size scaled
    folder/full/{w},{h}/0/default.jpg                  a level that fits in one tile (also listed in "sizes")
    folder/full/max/0/default.jpg                      the full image, only when it fits in one tile

Levels are the scale factors 1, 2, 4, ... up to the first one at which the whole image fits in one tile.
A level with scale factor s is the image scaled to ceil(width / s) x ceil(height / s); tile (x, y) of that
level covers its pixels [x * tile_size, ...) and the full-resolution region [x * tile_size * s, ...).
"""
from __future__ import annotations

import json
from pathlib import Path

from PIL import Image, ImageOps

CONTEXT = "http://iiif.io/api/image/3/context.json"
FORMATS = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def scale_factors(width: int, height: int, tile_size: int) -> list[int]:
    """1, 2, 4, ... up to the first scale factor at which the whole image fits in one tile."""
    if width < 1 or height < 1 or tile_size < 1:
        raise ValueError(f"bad image or tile size: {width}x{height}, tile {tile_size}")
    factors = [1]
    while _ceil_div(width, factors[-1]) > tile_size or _ceil_div(height, factors[-1]) > tile_size:
        factors.append(factors[-1] * 2)
    return factors


def tile_requests(width: int, height: int, tile_size: int) -> list[tuple[int, str, tuple[int, int, int, int]]]:
    """Every tile of the pyramid: (scale factor, path relative to the service folder, crop box in that level's
    pixels). The paths are what OpenSeadragon requests for a level-0 Image API 3 service
    (IIIFTileSource.getTileUrl: region "x,y,w,h" or "full", size "w,h" or "max", rotation 0, "default")."""
    out = []
    for s in scale_factors(width, height, tile_size):
        lw, lh = _ceil_div(width, s), _ceil_div(height, s)   # the level's size (OpenSeadragon: ceil)
        span = tile_size * s                                 # one tile in full-resolution pixels
        for y in range(_ceil_div(lh, tile_size)):
            for x in range(_ceil_div(lw, tile_size)):
                rx, ry = x * span, y * span
                rw, rh = min(span, width - rx), min(span, height - ry)
                sw, sh = min(tile_size, lw - x * tile_size), min(tile_size, lh - y * tile_size)
                whole = x == 0 and y == 0 and rw == width and rh == height
                region = "full" if whole else f"{rx},{ry},{rw},{rh}"
                size = "max" if (sw, sh) == (width, height) else f"{sw},{sh}"
                out.append((s, f"{region}/{size}/0/default",
                            (x * tile_size, y * tile_size, x * tile_size + sw, y * tile_size + sh)))
    return out


def _prepare(image: Image.Image, fmt: str) -> Image.Image:
    image = ImageOps.exif_transpose(image)
    keep = ("RGB", "L", "RGBA", "LA") if fmt in ("png", "webp") else ("RGB", "L")
    if image.mode in keep:
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    if image.mode.startswith("I;16") or image.mode in ("I", "F"):
        return image.convert("I").point(lambda v: v / 256).convert("L")  # 16-bit grey: keep the top 8 bits
    return image.convert("RGB")


def write_tiles(image: Image.Image, folder: Path, *, tile_size: int = 512, fmt: str = "jpg", quality: int = 85,
                service_id: str = ".") -> dict:
    """Write static IIIF Image API 3 level-0 tiles of image into folder; return the info.json dict.

    The image is used after EXIF orientation. service_id is info.json's "id": by default the placeholder
    "." (the viewer replaces it with the folder's absolute URL); give the folder's absolute URL to publish
    the tiles as a service of their own. Files already in folder are overwritten, never removed.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown tile format {fmt!r} (one of {', '.join(FORMATS)})")
    folder = Path(folder)
    image = _prepare(image, fmt)
    width, height = image.size
    factors = scale_factors(width, height, tile_size)
    save = {"quality": quality} if fmt in ("jpg", "webp") else {}
    if fmt == "webp":
        save["method"] = 4

    requests = tile_requests(width, height, tile_size)
    written = set()
    level = image
    for s in factors:
        size = (_ceil_div(width, s), _ceil_div(height, s))
        if level.size != size:
            level = level.resize(size, Image.Resampling.LANCZOS)   # from the previous level: fast
        for _, path, box in (r for r in requests if r[0] == s):
            target = folder / f"{path}.{fmt}"
            target.parent.mkdir(parents=True, exist_ok=True)
            level.crop(box).save(target, FORMATS[fmt], **save)
            written.add(path)
        path = f"full/{size[0]},{size[1]}/0/default"
        if size[0] <= tile_size and size[1] <= tile_size and path not in written:
            # a size in "sizes" is fetchable as full/w,h (also when OpenSeadragon asks for it as full/max)
            target = folder / f"{path}.{fmt}"
            target.parent.mkdir(parents=True, exist_ok=True)
            level.save(target, FORMATS[fmt], **save)
            written.add(path)

    sizes = [{"width": _ceil_div(width, s), "height": _ceil_div(height, s)} for s in reversed(factors)
             if _ceil_div(width, s) <= tile_size and _ceil_div(height, s) <= tile_size]
    info = {
        "@context": CONTEXT,
        "id": service_id,
        "type": "ImageService3",
        "protocol": "http://iiif.io/api/image",
        "profile": "level0",
        "width": width,
        "height": height,
        "tiles": [{"width": tile_size, "height": tile_size, "scaleFactors": factors}],
        "sizes": sizes,
    }
    if fmt != "jpg":
        info["preferredFormats"] = [fmt]
        info["extraFormats"] = [fmt]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "info.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    return info


def tile_files(info: dict, fmt: str | None = None) -> list[str]:
    """The files write_tiles wrote for info (paths relative to the service folder, info.json first)."""
    fmt = fmt or (info.get("preferredFormats") or ["jpg"])[0]
    width, height = info["width"], info["height"]
    tile_size = info["tiles"][0]["width"]
    files = ["info.json"]
    seen = set()
    for _, path, _ in tile_requests(width, height, tile_size):
        if path not in seen:
            seen.add(path)
            files.append(f"{path}.{fmt}")
    for size in info.get("sizes", []):
        path = f"full/{size['width']},{size['height']}/0/default"
        if path not in seen:
            seen.add(path)
            files.append(f"{path}.{fmt}")
    return files

