"""Decode images once, safely, into 8-bit RGB; derive every size the site needs from that one decode.

    data = read(path)
    im, (width, height) = decode(data, max_side=1024)   # width, height: the original, after EXIF rotation
    lightbox = encode(fit(im, 1024))
    thumb = encode(fit(im, 256))
    model_input = square(im, 224)                        # (224, 224, 3) uint8

Every problem with an input file (empty, not an image, corrupt, truncated, too large, a type Pillow
cannot decode here, not a regular file) is raised as ImageError with a human reason, so the caller can
skip the file and report it.

File types: EXTENSIONS are the file name extensions of the types decoded here (the classic web and
scanner formats always; AVIF and JPEG 2000 when Pillow was built with their codecs).
UNSUPPORTED_EXTENSIONS are other image types people keep beside their pictures (SVG, HEIC, PSD, ...):
pixmap.sources lists them too, so that decode reports each as "unsupported image type: ..." instead of
the file being ignored silently. decode judges the content, not the name: only DECODED_FORMATS are
opened, whatever the file is called.
"""
from __future__ import annotations

import io
import os
import stat
import threading
import zlib
from functools import lru_cache

import numpy as np
from PIL import Image, UnidentifiedImageError
from PIL import features as pil_features

try:
    from PIL import ImageCms  # colour management (Pillow built with LittleCMS)
except ImportError:  # pragma: no cover
    ImageCms = None

MAX_PIXELS = Image.MAX_IMAGE_PIXELS  # Pillow's default decompression-bomb limit (about 89.5 million)
MAX_FILE_BYTES = 2 * 1024 ** 3       # read refuses bigger files (2 GiB)
BACKGROUND = (128, 128, 128)         # transparent pixels are shown over this neutral mid-grey

# The classic formats: always decoded. pixmap.sources drops exactly these extensions from ids.
CLASSIC_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")
_CLASSIC_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP")  # Pillow opens MPO (camera JPEG) as JPEG
# Decoded only when Pillow was built with the codec: (extensions, Pillow format, type name, feature).
_OPTIONAL_TYPES = (
    ((".avif",), "AVIF", "AVIF", "avif"),
    ((".jp2", ".j2k", ".jpf", ".jpx"), "JPEG2000", "JPEG 2000", "jpg_2000"),
)
# Image types that are never decoded here (Pillow cannot, or PSD, which it reads only in part).
_OTHER_EXTENSIONS = (".svg", ".svgz", ".heic", ".heif", ".psd", ".jxl")


def _has_codec(feature: str) -> bool:
    try:
        return bool(pil_features.check(feature))
    except Exception:  # pragma: no cover (an unknown feature name in an older Pillow)
        return False


def _file_types() -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], dict[str, str]]:
    """(decoded extensions, unsupported extensions, decoded Pillow formats, {format: type name})."""
    extensions = list(CLASSIC_EXTENSIONS) + [".jfif"]
    unsupported = list(_OTHER_EXTENSIONS)
    formats = list(_CLASSIC_FORMATS)
    missing_codecs = {}
    for exts, fmt, name, feature in _OPTIONAL_TYPES:
        if _has_codec(feature):
            extensions.extend(exts)
            formats.append(fmt)
        else:
            unsupported.extend(exts)
            missing_codecs[fmt] = name
    return tuple(extensions), tuple(unsupported), tuple(formats), missing_codecs


EXTENSIONS, UNSUPPORTED_EXTENSIONS, DECODED_FORMATS, _MISSING_CODECS = _file_types()

# Pillow's name of a format -> the name shown in messages, where they differ.
_TYPE_NAMES = {"JPEG2000": "JPEG 2000", "EPS": "PostScript (EPS)", "PPM": "PPM/PGM (Netpbm)"}

# EXIF orientation -> the transpose that shows the image upright (as ImageOps.exif_transpose).
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_EXIF_ORIENTATION_TAG = 0x0112

# How files of each format start, to tell "a broken PNG" from "not an image at all".
_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF87a", "GIF"), (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"BM", "BMP"),
)

# Image.open checks Pillow's global Image.MAX_IMAGE_PIXELS; decode applies its own max_pixels instead,
# so it lifts the global limit while it opens a file (header only), one thread at a time.
_open_lock = threading.Lock()


class ImageError(Exception):
    """An input file that cannot be used; the message is the human reason."""


def read(path: str | os.PathLike, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The file's bytes, or ImageError with a clear reason.

    Only regular files are read (a symbolic link is followed to its target): a named pipe would block
    forever and a device such as /dev/zero never ends, so both are refused before they are opened, and
    the file is opened non-blocking in case it is swapped for one in between. Files over `max_bytes`
    (MAX_FILE_BYTES by default) are refused, and the read stops there even if the file keeps growing.
    """
    try:
        _check_file(path, os.stat(path), max_bytes)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with open(fd, "rb") as f:
            info = os.fstat(f.fileno())
            _check_file(path, info, max_bytes)  # the same checks on what was actually opened
            return _read_at_most(f, info.st_size, max_bytes)
    except FileNotFoundError:
        reason = "broken symbolic link" if os.path.islink(path) else "file not found"
        raise ImageError(reason) from None
    except IsADirectoryError:
        raise ImageError("is a folder, not a file") from None
    except PermissionError:
        raise ImageError("permission denied (cannot read the file)") from None
    except OSError as e:
        raise ImageError(f"cannot read the file: {e.strerror or e}") from None


def _check_file(path, info: os.stat_result, max_bytes: int) -> None:
    """ImageError unless `info` is a regular file of at most max_bytes."""
    mode = info.st_mode
    if stat.S_ISDIR(mode):
        raise ImageError("is a folder, not a file")
    if not stat.S_ISREG(mode):
        kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(mode) else
                "a character device" if stat.S_ISCHR(mode) else
                "a block device" if stat.S_ISBLK(mode) else
                "a socket" if stat.S_ISSOCK(mode) else "a special file")
        link = " (through a symbolic link)" if os.path.islink(path) else ""
        raise ImageError(f"not a regular file: it is {kind}{link}")
    if info.st_size > max_bytes:
        raise ImageError(_too_big(info.st_size, max_bytes))


def _read_at_most(f, expected: int, max_bytes: int) -> bytes:
    """Read f to its end, `expected` bytes as stat said; ImageError past max_bytes (the file grew)."""
    data = f.read(min(expected, max_bytes) + 1)  # one byte more than expected tells if it grew
    if len(data) <= expected:
        return data
    parts, total = [data], len(data)
    while total <= max_bytes:
        chunk = f.read(min(1 << 20, max_bytes + 1 - total))
        if not chunk:
            break
        parts.append(chunk)
        total += len(chunk)
    if total > max_bytes:
        raise ImageError(_too_big(total, max_bytes, growing=True))
    return b"".join(parts)


def _too_big(size: int, max_bytes: int, growing: bool = False) -> str:
    what = "more than " if growing else ""
    return (f"file too large: {what}{size} bytes exceeds the limit of {max_bytes} bytes "
            f"({max_bytes / 1024 ** 3:.3g} GiB)")


def decode(data: bytes, max_side: int | None = None,
           max_pixels: int | None = MAX_PIXELS) -> tuple[Image.Image, tuple[int, int]]:
    """Decode image bytes into (8-bit RGB image, (width, height) of the original after EXIF orientation).

    With `max_side`, the image may be decoded smaller (JPEG DCT scaling) and box-reduced, but both of its
    sides stay >= max_side where the source is that big, so `fit` can then make any size up to max_side
    at full quality. `max_pixels` (None: no limit) rejects images above that many pixels before their
    pixels are decoded. Raises ImageError, and only ImageError, for any problem with the data.
    """
    if not data:
        raise ImageError("empty file (0 bytes)")
    im = _open(data)
    rgb = None
    try:
        fmt = im.format or _sniff(data) or "image"
        width, height = im.size
        if width < 1 or height < 1:
            raise ImageError(f"{fmt} with an empty size ({width}x{height})")
        if max_pixels is not None and width * height > max_pixels:
            raise ImageError(
                f"image too large: {width}x{height} = {width * height} pixels exceeds the limit of "
                f"{max_pixels} pixels (decompression bomb guard); raise it with --max-pixels")
        try:
            if max_side:  # JPEG: DCT scaling, keeps both sides >= max_side; other formats: no-op
                im.draft("RGB", (max_side, max_side))
            im.load()
            orientation = _orientation(im)
            icc = im.info.get("icc_profile")
            rgb = _to_rgb(im, icc)
            if max_side:
                factor = min(rgb.size) // max_side
                if factor >= 2:  # fast box reduction; fit() does the rest with a good filter
                    rgb = rgb.reduce(factor)
            if orientation in _ORIENTATION:
                rgb = rgb.transpose(_ORIENTATION[orientation])
        except ImageError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise ImageError(f"image too large: {e} (decompression bomb guard); "
                             f"raise the limit with --max-pixels") from None
        except MemoryError:
            raise ImageError(f"out of memory decoding this {fmt} ({width}x{height})") from None
        except Exception as e:  # Pillow raises many kinds: OSError, SyntaxError, ValueError, ...
            raise ImageError(_load_reason(fmt, e)) from None
    finally:
        if rgb is not im:  # im's pixels are no longer needed (its fp is only a BytesIO)
            im.close()
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    rgb.info = {}  # no EXIF (already applied) or colour profile (already converted) travels on
    return rgb, (width, height)


def fit(im: Image.Image, max_side: int) -> Image.Image:
    """Downscale so the longest side is <= max_side, keeping the aspect ratio; never upscale.

    Returns `im` itself when it is already small enough.
    """
    w, h = im.size
    if max(w, h) <= max_side:
        return im
    scale = max_side / max(w, h)
    size = (max(1, min(max_side, round(w * scale))), max(1, min(max_side, round(h * scale))))
    # reducing_gap: a fast integer box reduction first, then Lanczos over the last factor of <= 3.
    return im.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def square(im: Image.Image, size: int) -> np.ndarray:
    """The whole image resized to size x size (squashed, as PixPlot does): a (size, size, 3) uint8 array."""
    if im.mode != "RGB":
        im = im.convert("RGB")
    if im.size != (size, size):
        im = im.resize((size, size), Image.Resampling.BICUBIC, reducing_gap=3.0)
    return np.array(im, dtype=np.uint8)


def encode(im: Image.Image, fmt: str = "webp", quality: int = 80, method: int = 4) -> bytes:
    """Encode for browsers: fmt "webp" or "jpeg" ("jpg" is accepted).

    `method` is WebP's effort, 0 (fast) to 6 (smallest files); 4 is Pillow's default.
    """
    fmt = fmt.lower()
    if im.mode not in ("RGB", "L"):
        im = im.convert("RGB")
    out = io.BytesIO()
    if fmt == "webp":
        im.save(out, "WEBP", quality=quality, method=method)
    elif fmt in ("jpeg", "jpg"):
        im.save(out, "JPEG", quality=quality, optimize=True)
    else:
        raise ValueError(f"unsupported output format {fmt!r}: use 'webp' or 'jpeg'")
    return out.getvalue()


def _open(data: bytes) -> Image.Image:
    """Image.open (reads the header only) of DECODED_FORMATS only, with Pillow's own bomb limit lifted:
    decode checks its own."""
    with _open_lock:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            return Image.open(io.BytesIO(data), formats=DECODED_FORMATS)
        except UnidentifiedImageError:
            other = _other_type(data)
            if other:
                raise ImageError(unsupported_reason(other)) from None
            fmt = _sniff(data)
            if fmt:
                raise ImageError(f"corrupt {fmt} header (the file starts like a {fmt} "
                                 f"but cannot be read)") from None
            raise ImageError(_not_an_image(data)) from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise ImageError(f"image too large: {e}") from None
        except Exception as e:
            raise ImageError(_load_reason(_sniff(data) or "image", e)) from None
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def unsupported_reason(type_name: str) -> str:
    """The reason given for a file of an image type that is not decoded here."""
    if type_name == "SVG":
        advice = "convert it to PNG"
    elif type_name in _MISSING_CODECS.values():
        advice = f"this Pillow was built without {type_name} support; convert it to JPEG or PNG"
    else:
        advice = "convert it to JPEG or PNG"
    return f"unsupported image type: {type_name} ({advice})"


# ISO base media ("ftyp") brands of the HEIF family: HEIC photos (iPhones) and AVIF.
_HEIC_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1")
_AVIF_BRANDS = (b"avif", b"avis")


def _other_type(data: bytes) -> str | None:
    """The name of an image type that is not decoded here (SVG, HEIC, PSD, ...), or None."""
    if data[4:8] == b"ftyp":
        if data[8:12] in _AVIF_BRANDS:
            return "AVIF"
        if data[8:12] in _HEIC_BRANDS:
            return "HEIC"
    if data.startswith((b"\xff\x0a", b"\x00\x00\x00\x0cJXL \r\n\x87\n")):
        return "JPEG XL"
    if _is_svg(data):
        return "SVG"
    try:  # a format Pillow knows but is not decoded here: only the header is read, to name it
        with Image.open(io.BytesIO(data)) as im:
            return _TYPE_NAMES.get(im.format, im.format)
    except Exception:
        return None


def _is_svg(data: bytes) -> bool:
    """An SVG drawing, plain or gzip-compressed (.svgz)."""
    head = data[:4096]
    if head.startswith(b"\x1f\x8b"):
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data[:65536], 4096)
        except zlib.error:
            return False
    head = head.lstrip().lower()
    if head.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark
        head = head[3:].lstrip()
    return head.startswith(b"<svg") or (head.startswith((b"<?xml", b"<!--", b"<!doctype svg"))
                                        and b"<svg" in head)


def _sniff(data: bytes) -> str | None:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    for signature, fmt in _SIGNATURES:
        if data.startswith(signature):
            return fmt
    return None


def _not_an_image(data: bytes) -> str:
    head = data[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return "not an image file (it is an HTML page, maybe a failed download)"
    try:
        data[:512].decode("utf-8")
    except UnicodeDecodeError:
        return "not an image file (unknown format)"
    return "not an image file (it contains text)"


def _load_reason(fmt: str, e: Exception) -> str:
    text = str(e) or type(e).__name__
    if "not available" in text:  # e.g. "decoder jpeg2k not available": a codec Pillow was built without
        return f"unsupported kind of {fmt} ({text}); convert it to JPEG or PNG"
    if "truncated" in text.lower() or isinstance(e, EOFError):
        return f"truncated {fmt} ({text})"
    return f"corrupt {fmt} data ({text})"


def _orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(_EXIF_ORIENTATION_TAG, 1)
        return int(value)
    except Exception:  # unreadable EXIF: show the image as stored
        return 1


def _to_rgb(im: Image.Image, icc: bytes | None) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB; transparency composited over BACKGROUND; colour profiles to sRGB."""
    mode = im.mode
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode in ("PA", "LA", "La", "RGBa"):
        im = im.convert("RGBA")
    elif mode == "L" and "transparency" in im.info:  # grey PNG with a transparent grey value
        im = im.convert("RGBA")
    elif mode == "RGB" and "transparency" in im.info:  # RGB PNG with a transparent colour
        im = im.convert("RGBA")
    elif mode.startswith("I") or mode == "F":
        im = _high_depth_to_l(im)

    if im.mode == "RGBA":
        alpha = im.getchannel("A")
        if alpha.getextrema() == (255, 255):
            im = im.convert("RGB")
        else:
            background = Image.new("RGBA", im.size, BACKGROUND + (255,))
            im = Image.alpha_composite(background, im).convert("RGB")

    if icc and ImageCms is not None and im.mode in ("RGB", "CMYK"):
        converted = _icc_to_srgb(im, icc)
        if converted is not None:
            return converted
    if im.mode != "RGB":
        try:
            im = im.convert("RGB")
        except ValueError:
            raise ImageError(f"unsupported colour mode {mode}") from None
    return im


def _high_depth_to_l(im: Image.Image) -> Image.Image:
    """16-bit, 32-bit integer or float greyscale -> 8-bit L, scaled (not clipped) to 0..255."""
    a = np.asarray(im)
    if im.mode.startswith("I;16"):
        scaled = a.astype(np.float32) / 257.0
    elif im.mode == "I":
        a = a.astype(np.float64)
        lo, hi = float(a.min()), float(a.max())
        if lo >= 0 and hi <= 255:
            scaled = a                  # 8-bit values stored as 32-bit
        elif lo >= 0 and hi <= 65535:
            scaled = a / 257.0          # 16-bit values (e.g. a 16-bit TIFF or PGM)
        else:
            scaled = (a - lo) * (255.0 / (hi - lo))
    else:  # "F": 0..1, 0..255, or anything else stretched to 0..255
        a = np.nan_to_num(a.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        lo, hi = float(a.min()), float(a.max())
        if lo >= 0 and hi <= 1:
            scaled = a * 255.0
        elif lo >= 0 and hi <= 255:
            scaled = a
        else:
            scaled = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), "L")


def _icc_to_srgb(im: Image.Image, icc: bytes) -> Image.Image | None:
    """Convert with the embedded colour profile to sRGB; None when that is not possible or not needed."""
    transform = _srgb_transform(bytes(icc), im.mode)
    if transform is None:
        return None
    try:
        return ImageCms.applyTransform(im, transform)
    except Exception:
        return None


@lru_cache(maxsize=16)
def _srgb_transform(icc: bytes, mode: str):
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if mode == "RGB" and "srgb" in ImageCms.getProfileDescription(profile).lower():
            return None  # already sRGB
        return ImageCms.buildTransform(profile, ImageCms.createProfile("sRGB"), mode, "RGB")
    except Exception:  # a broken or unsupported profile: fall back to a plain conversion
        return None
