"""Test helper: a folder of images mixing good ones with every kind of bad input.

    info = make_bad_folder(tmp_path / "photos")
    info["good"]     # relative paths that must be mapped, sorted
    info["bad"]      # {relative path: text the ImageError reason contains}: must be skipped and reported
    info["ignored"]  # relative paths that are not searched (hidden, not an image extension, pixmap's output)
    info["sizes"]    # {relative path: (width, height)} of the good images, after EXIF orientation
"""
from __future__ import annotations

import io
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

DATASET_IMAGES = Path(__file__).resolve().parent.parent / "datasets" / "aic-paintings" / "images"


def dataset_images(n: int) -> list[Path]:
    """The first n images of the demo collection (sorted by name)."""
    return sorted(DATASET_IMAGES.glob("*.jpg"))[:n]


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height but holds almost no pixel data (a decompression bomb stand-in)."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (struct.pack(">I", len(payload)) + kind + payload
                + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def psd_bytes() -> bytes:
    """A small Photoshop document (2x2, greyscale, one channel, no layers): Pillow can read it,
    pixmap reports it as an unsupported type."""
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 1, 2, 2, 8, 1)  # version, channels, h, w, depth, grey
    sections = struct.pack(">III", 0, 0, 0)  # colour mode data, image resources, layers: all empty
    return header + sections + struct.pack(">H", 0) + bytes([0, 255, 255, 0])  # raw pixel data


HEIC_HEADER = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"  # how an iPhone's HEIC photo starts
SVG_TEXT = (b'<?xml version="1.0" encoding="UTF-8"?>\n<!-- drawn by hand -->\n'
            b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">\n'
            b'<rect width="5" height="5"/></svg>\n')


def jpeg_with_orientation(im: Image.Image, orientation: int, quality: int = 90) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    im.convert("RGB").save(out, "JPEG", quality=quality, exif=exif.tobytes())
    return out.getvalue()


def png_bytes(im: Image.Image, **params) -> bytes:
    out = io.BytesIO()
    im.save(out, "PNG", **params)
    return out.getvalue()


def make_bad_folder(dir) -> dict:
    """Write the folder (created if needed) and say which relative paths are good, bad and ignored."""
    root = Path(dir)
    root.mkdir(parents=True, exist_ok=True)
    sources = dataset_images(6)
    good: dict[str, tuple[int, int]] = {}
    bad: dict[str, str] = {}
    ignored: list[str] = []

    def write(rel: str, data: bytes) -> Path:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def copy(rel: str, src: Path) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, path)
        with Image.open(src) as im:
            good[rel] = im.size

    # Good: real paintings, two of them with the same file name in different folders.
    for src in sources[:3]:
        copy(f"paintings/{src.name}", src)
    copy("a/same.jpg", sources[3])
    copy("b/same.jpg", sources[4])
    copy("paintings/UPPER.JPG", sources[5])

    # Good but tricky to decode.
    with Image.open(sources[0]) as im:
        painting = im.convert("RGB")
    write("tricky/rotated.jpg", jpeg_with_orientation(painting, 6))          # shown turned 90 degrees
    good["tricky/rotated.jpg"] = (painting.height, painting.width)
    cmyk = Image.new("CMYK", (48, 32), (0, 255, 255, 0))                      # red, in CMYK
    out = io.BytesIO()
    cmyk.save(out, "JPEG", quality=90)
    write("tricky/cmyk.jpg", out.getvalue())
    good["tricky/cmyk.jpg"] = (48, 32)
    palette = Image.new("P", (40, 30), 0)
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    palette.paste(1, (0, 0, 20, 30))
    write("tricky/transparent.png", png_bytes(palette, transparency=0))
    good["tricky/transparent.png"] = (40, 30)
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (16, 1))
    write("tricky/gradient16.png", png_bytes(Image.frombytes("I;16", (64, 16), ramp.tobytes())))
    good["tricky/gradient16.png"] = (64, 16)
    rgba = Image.new("RGBA", (30, 30), (255, 255, 255, 0))
    rgba.paste((0, 0, 255, 255), (10, 10, 20, 20))
    write("tricky/alpha.png", png_bytes(rgba))
    good["tricky/alpha.png"] = (30, 30)

    # Bad: each must be skipped with a clear reason.
    jpeg = sources[1].read_bytes()
    write("bad/empty.jpg", b"")
    bad["bad/empty.jpg"] = "empty file"
    write("bad/text.jpg", b"This is not a picture, just some notes.\n")
    bad["bad/text.jpg"] = "not an image"
    write("bad/corrupt-header.png", b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDX" + b"garbage" * 10)
    bad["bad/corrupt-header.png"] = "corrupt PNG header"
    write("bad/truncated.jpg", jpeg[: len(jpeg) // 2])
    bad["bad/truncated.jpg"] = "truncated JPEG"
    png = png_bytes(painting)
    write("bad/truncated.png", png[: len(png) // 2])
    bad["bad/truncated.png"] = "truncated PNG"
    write("bad/bomb.png", png_header_only(30000, 30000))
    bad["bad/bomb.png"] = "image too large"

    # Bad: image types that are not decoded, reported instead of ignored.
    write("bad/drawing.svg", SVG_TEXT)
    bad["bad/drawing.svg"] = "unsupported image type: SVG"
    write("bad/photo.heic", HEIC_HEADER + b"\x00" * 200)
    bad["bad/photo.heic"] = "unsupported image type: HEIC"
    write("bad/layers.psd", psd_bytes())
    bad["bad/layers.psd"] = "unsupported image type: PSD"

    # Ignored: not image names, hidden, or pixmap's own output (a map, a build's artifacts).
    for rel, data in (("notes.txt", b"notes"), (".hidden/secret.jpg", jpeg), (".dotfile.jpg", jpeg),
                      ("old-map/.pixmap-site", b""), ("old-map/data/thumbs/a.webp", jpeg),
                      ("old-map-artifacts/.pixmap-artifacts", b""), ("old-map-artifacts/plot.png", png)):
        write(rel, data)
        ignored.append(rel)

    return {"root": root, "good": sorted(good), "bad": bad, "ignored": sorted(ignored), "sizes": good}
