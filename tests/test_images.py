import gzip
import io
import os
import random
import threading

import numpy as np
import pytest
from PIL import Image, ImageFile
from PIL import features as pil_features

from pixmap import images
from pixmap.images import MAX_FILE_BYTES, ImageError, decode, encode, fit, read, square

from .badimages import (HEIC_HEADER, SVG_TEXT, dataset_images, jpeg_with_orientation, make_bad_folder,
                        png_bytes, png_header_only, psd_bytes)


def saved(im, fmt, **params):
    out = io.BytesIO()
    im.save(out, fmt, **params)
    return out.getvalue()


def halves(size, left, right, mode="RGB"):
    """An image whose left half is `left` and right half is `right`."""
    im = Image.new(mode, size, left)
    im.paste(right, (size[0] // 2, 0, size[0], size[1]))
    return im


def close(pixel, expected, tol=12):
    return all(abs(int(a) - int(b)) <= tol for a, b in zip(pixel, expected))


@pytest.fixture(scope="module")
def painting_bytes():
    return dataset_images(1)[0].read_bytes()


# ---- good inputs ------------------------------------------------------------------------------------

def test_real_jpeg(painting_bytes):
    im, size = decode(painting_bytes)
    with Image.open(io.BytesIO(painting_bytes)) as ref:
        assert size == ref.size
    assert im.mode == "RGB" and im.size == size
    assert im.info == {}


def test_exif_orientation_6_rotates_and_swaps_size():
    stored = halves((40, 20), (255, 0, 0), (0, 0, 255))  # left red, right blue
    im, size = decode(jpeg_with_orientation(stored, 6))
    assert size == (20, 40) and im.size == (20, 40)
    # Orientation 6: turn 90 degrees clockwise to show it, so the stored left side is now the top.
    assert close(im.getpixel((10, 5)), (255, 0, 0), 40)
    assert close(im.getpixel((10, 34)), (0, 0, 255), 40)


@pytest.mark.parametrize("orientation", [1, 2, 3, 4, 5, 6, 7, 8])
def test_every_orientation_gives_upright_size(orientation):
    stored = Image.new("RGB", (40, 20), "white")
    im, size = decode(jpeg_with_orientation(stored, orientation))
    expected = (20, 40) if orientation >= 5 else (40, 20)
    assert size == expected and im.size == expected


def test_orientation_with_draft_reports_original_size():
    big = Image.new("RGB", (2000, 1500), "gray")
    im, size = decode(jpeg_with_orientation(big, 6), max_side=256)
    assert size == (1500, 2000)
    assert im.width < im.height and min(im.size) >= 256 and max(im.size) < 2000


def test_draft_decodes_smaller_but_not_below_max_side():
    big = Image.new("RGB", (2000, 1500), (10, 200, 30))
    data = saved(big, "JPEG", quality=85)
    im, size = decode(data, max_side=256)
    assert size == (2000, 1500)
    assert im.size == (500, 375)  # DCT scaling by 4: both sides still >= 256
    full, _ = decode(data, max_side=1024)  # a factor of 2 would go below 1024: decoded at full size
    assert full.size == (2000, 1500)
    small, _ = decode(saved(Image.new("RGB", (100, 80)), "JPEG"), max_side=1024)
    assert small.size == (100, 80)  # never upscaled


def test_big_png_is_box_reduced_to_at_least_max_side():
    im, size = decode(png_bytes(Image.new("RGB", (1200, 900), "red")), max_side=200)
    assert size == (1200, 900)
    assert im.size == (300, 225) and im.getpixel((10, 10)) == (255, 0, 0)


def test_cmyk_jpeg():
    data = saved(Image.new("CMYK", (32, 24), (0, 255, 255, 0)), "JPEG", quality=95)
    im, size = decode(data)
    assert im.mode == "RGB" and size == (32, 24)
    assert close(im.getpixel((16, 12)), (255, 0, 0))


def test_palette_with_transparency_over_grey():
    p = Image.new("P", (20, 10), 0)
    p.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    p.paste(1, (10, 0, 20, 10))
    im, _ = decode(png_bytes(p, transparency=0))
    assert im.mode == "RGB"
    assert im.getpixel((2, 5)) == (128, 128, 128)
    assert im.getpixel((15, 5)) == (255, 0, 0)


def test_palette_without_transparency():
    p = Image.new("P", (8, 8), 1)
    p.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    im, _ = decode(png_bytes(p))
    assert im.getpixel((4, 4)) == (0, 255, 0)


def test_gif_with_transparency_and_frames():
    frames = [Image.new("P", (16, 16), i) for i in (1, 2)]
    for frame in frames:
        frame.putpalette([0, 0, 0, 255, 0, 0, 0, 0, 255] + [0] * 759)
    frames[0].paste(0, (0, 0, 8, 16))
    data = saved(frames[0], "GIF", save_all=True, append_images=frames[1:], transparency=0)
    im, size = decode(data)
    assert size == (16, 16)
    assert im.getpixel((2, 8)) == (128, 128, 128)  # transparent
    assert im.getpixel((12, 8)) == (255, 0, 0)     # first frame, not the blue second one


def test_alpha_composited_over_grey():
    rgba = Image.new("RGBA", (30, 10), (255, 255, 255, 0))
    rgba.paste((255, 0, 0, 255), (10, 0, 20, 10))
    rgba.paste((255, 255, 255, 128), (20, 0, 30, 10))
    im, _ = decode(png_bytes(rgba))
    assert im.getpixel((5, 5)) == (128, 128, 128)
    assert im.getpixel((15, 5)) == (255, 0, 0)
    assert close(im.getpixel((25, 5)), (191, 191, 191), 2)


def test_la_png_over_grey():
    src = Image.new("LA", (10, 10), (255, 0))
    src.paste((0, 255), (5, 0, 10, 10))
    im, _ = decode(png_bytes(src))
    assert im.getpixel((2, 5)) == (128, 128, 128) and im.getpixel((7, 5)) == (0, 0, 0)


def test_pa_over_grey():
    # No common file format stores PA for Pillow to write, so convert an in-memory image.
    src = Image.new("PA", (10, 10), (1, 0))
    src.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    src.paste((1, 255), (5, 0, 10, 10))
    im = images._to_rgb(src, None)
    assert im.getpixel((2, 5)) == (128, 128, 128) and im.getpixel((7, 5)) == (0, 0, 255)


@pytest.mark.parametrize("mode", ["I;16", "I;16B"])
@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16_bit_keeps_its_gradient(mode, fmt):
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (4, 1))
    dtype = "<u2" if mode == "I;16" else ">u2"
    src = Image.frombytes(mode, (256, 4), ramp.astype(dtype).tobytes())
    im, _ = decode(saved(src, fmt))
    row = np.asarray(im)[1, :, 0].astype(int)
    assert row[0] == 0 and row[-1] == 255
    assert abs(row[128] - 128) <= 1  # scaled, not clipped to white
    assert np.all(np.diff(row) >= 0) and len(set(row)) > 200


def test_32_bit_integer_tiff():
    a = np.tile(np.linspace(0, 65535, 64).astype(np.int32), (4, 1))
    im, _ = decode(saved(Image.fromarray(a, "I"), "TIFF"))
    row = np.asarray(im)[0, :, 0]
    assert row[0] == 0 and row[-1] == 255 and 100 < row[32] < 160


def test_float_tiff():
    a = np.tile(np.linspace(0.0, 1.0, 64, dtype=np.float32), (4, 1))
    im, _ = decode(saved(Image.fromarray(a, "F"), "TIFF"))
    row = np.asarray(im)[0, :, 0]
    assert row[0] == 0 and row[-1] == 255 and 100 < row[32] < 160


@pytest.mark.parametrize("mode", ["1", "L"])
def test_one_bit_and_greyscale(mode):
    src = halves((16, 8), 0, 255, mode)
    im, _ = decode(png_bytes(src))
    assert im.mode == "RGB"
    assert im.getpixel((2, 4)) == (0, 0, 0) and im.getpixel((12, 4)) == (255, 255, 255)


def test_tiff_multi_frame_first_frame():
    first, second = Image.new("RGB", (12, 12), (0, 255, 0)), Image.new("RGB", (12, 12), (0, 0, 255))
    im, size = decode(saved(first, "TIFF", save_all=True, append_images=[second]))
    assert size == (12, 12) and im.getpixel((5, 5)) == (0, 255, 0)


@pytest.mark.parametrize("fmt", ["BMP", "WEBP", "GIF"])
def test_other_formats(fmt):
    im, size = decode(saved(Image.new("RGB", (20, 10), (200, 200, 200)), fmt))
    assert size == (20, 10) and im.mode == "RGB"


# ---- bad inputs -------------------------------------------------------------------------------------

def test_empty():
    with pytest.raises(ImageError, match=r"empty file \(0 bytes\)"):
        decode(b"")


def test_text_named_jpg(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("shopping list\n")
    with pytest.raises(ImageError, match="not an image file"):
        decode(read(path))


def test_html_page_named_jpg():
    with pytest.raises(ImageError, match="HTML"):
        decode(b"<!DOCTYPE html><html><body>404</body></html>")


def test_corrupt_header():
    with pytest.raises(ImageError, match="corrupt PNG header"):
        decode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)


def test_truncated_jpeg(painting_bytes):
    assert not ImageFile.LOAD_TRUNCATED_IMAGES
    with pytest.raises(ImageError, match="truncated JPEG"):
        decode(painting_bytes[: len(painting_bytes) // 2])


def test_truncated_png():
    data = png_bytes(Image.effect_noise((200, 200), 64).convert("RGB"))
    with pytest.raises(ImageError, match="truncated PNG"):
        decode(data[: len(data) // 2])


def test_max_pixels_checked_before_decoding():
    data = png_bytes(Image.new("RGB", (100, 100)))
    with pytest.raises(ImageError, match=r"image too large: .*10000 pixels exceeds the limit of 5000"):
        decode(data, max_pixels=5000)
    decode(data, max_pixels=10000)


def test_pillow_default_limit_becomes_image_error():
    # 400 million pixels declared in a tiny file: above Pillow's own bomb limit.
    with pytest.raises(ImageError, match="decompression bomb.*--max-pixels"):
        decode(png_header_only(20000, 20000))
    assert images.MAX_PIXELS == Image.MAX_IMAGE_PIXELS  # the global limit is left as it was


def test_lifting_the_limit_gets_past_the_size_check():
    # With no limit the header passes; the missing pixel data is then the error.
    with pytest.raises(ImageError) as err:
        decode(png_header_only(20000, 20000), max_pixels=None)
    assert "too large" not in str(err.value)


def test_pillow_bomb_errors_during_decoding_are_converted(monkeypatch):
    def bomb(im, icc):
        raise Image.DecompressionBombError("Image size (200000000 pixels) exceeds limit")
    monkeypatch.setattr(images, "_to_rgb", bomb)
    with pytest.raises(ImageError, match="image too large.*decompression bomb"):
        decode(png_bytes(Image.new("RGB", (4, 4))))


def test_read_errors(tmp_path):
    with pytest.raises(ImageError, match="file not found"):
        read(tmp_path / "missing.jpg")
    with pytest.raises(ImageError, match="folder"):
        read(tmp_path)


def test_read_refuses_a_named_pipe_without_blocking(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes here")
    pipe = tmp_path / "x.jpg"
    os.mkfifo(pipe)
    outcome = []

    def attempt():
        try:
            outcome.append(read(pipe))
        except ImageError as e:
            outcome.append(e)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(10)
    if worker.is_alive():  # blocked in open(): a writer that opens and closes the pipe lets it go
        os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(10)
        pytest.fail("read blocked on a named pipe")
    assert isinstance(outcome[0], ImageError) and "not a regular file" in str(outcome[0])
    assert "named pipe" in str(outcome[0])


def test_read_refuses_a_device_behind_a_link(tmp_path):
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero here")
    try:
        os.symlink("/dev/zero", tmp_path / "zero.jpg")
    except (OSError, NotImplementedError):
        pytest.skip("no symbolic links here")
    with pytest.raises(ImageError, match="not a regular file: it is a character device .*symbolic link"):
        read(tmp_path / "zero.jpg")  # before the fix: read for ever, into memory


def test_read_size_limit(tmp_path):
    assert MAX_FILE_BYTES == 2 * 1024 ** 3
    path = tmp_path / "big.jpg"
    path.write_bytes(b"x" * 1000)
    assert read(path, max_bytes=1000) == b"x" * 1000
    with pytest.raises(ImageError, match="file too large: 1000 bytes exceeds the limit of 999 bytes"):
        read(path, max_bytes=999)


def test_read_is_bounded_when_the_size_is_not_known_in_advance(tmp_path):
    # Files in /proc say they hold 0 bytes and yet have content: read reads them, up to the limit.
    if not os.path.exists("/proc/self/status"):
        pytest.skip("no /proc here")
    os.symlink("/proc/self/status", tmp_path / "status.jpg")
    assert os.stat(tmp_path / "status.jpg").st_size == 0
    assert b"Name:" in read(tmp_path / "status.jpg")
    with pytest.raises(ImageError, match="file too large: more than 101 bytes exceeds the limit of 100"):
        read(tmp_path / "status.jpg", max_bytes=100)


@pytest.mark.parametrize("data, kind, advice", [
    (SVG_TEXT, "SVG", "convert it to PNG"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "SVG", "convert it to PNG"),
    (b"\xef\xbb\xbf  <svg xmlns='http://www.w3.org/2000/svg'/>", "SVG", "convert it to PNG"),
    (gzip.compress(SVG_TEXT), "SVG", "convert it to PNG"),  # .svgz
    (HEIC_HEADER + b"\x00" * 64, "HEIC", "convert it to JPEG or PNG"),
    (psd_bytes(), "PSD", "convert it to JPEG or PNG"),  # Pillow reads PSD, but only in part
    (b"\xff\x0a\xfa\x7f\x01\x90\x08", "JPEG XL", "convert it to JPEG or PNG"),
    (saved(Image.new("RGB", (4, 4)), "PPM"), "PPM", "convert it to JPEG or PNG"),
    (saved(Image.new("RGB", (4, 4)), "TGA"), "TGA", "convert it to JPEG or PNG"),
], ids=["svg", "svg-bare", "svg-bom", "svgz", "heic", "psd", "jxl", "ppm", "tga"])
def test_image_types_not_decoded_here_are_named(tmp_path, data, kind, advice):
    with pytest.raises(ImageError) as err:
        decode(data)
    assert str(err.value).startswith(f"unsupported image type: {kind}") and advice in str(err.value)
    path = tmp_path / "file.jpg"  # the content decides, not the name
    path.write_bytes(data)
    with pytest.raises(ImageError, match=f"unsupported image type: {kind}"):
        decode(read(path))


def test_html_is_not_taken_for_svg():
    with pytest.raises(ImageError, match="HTML page"):
        decode(b"<!DOCTYPE html><html><body><svg></svg></body></html>")


@pytest.mark.parametrize("fmt, feature, ext", [("AVIF", "avif", ".avif"), ("JPEG2000", "jpg_2000", ".jp2")])
def test_optional_types_decoded_when_pillow_has_the_codec(fmt, feature, ext):
    assert (ext in images.EXTENSIONS) == bool(pil_features.check(feature))
    assert (ext in images.UNSUPPORTED_EXTENSIONS) != (ext in images.EXTENSIONS)
    if not pil_features.check(feature):
        assert "built without" in images.unsupported_reason("AVIF" if fmt == "AVIF" else "JPEG 2000")
        pytest.skip(f"Pillow was built without {fmt}")
    im, size = decode(saved(Image.new("RGB", (40, 30), (250, 10, 10)), fmt))
    assert size == (40, 30) and close(im.getpixel((20, 15)), (250, 10, 10), 30)


def test_bad_folder_helper_reasons(tmp_path):
    info = make_bad_folder(tmp_path / "photos")
    for rel in info["good"]:
        im, size = decode(read(info["root"] / rel), max_side=256)
        assert im.mode == "RGB" and size == info["sizes"][rel], rel
    for rel, reason in info["bad"].items():
        with pytest.raises(ImageError, match=reason):
            decode(read(info["root"] / rel))


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about some damaged TIFF tags
def test_damaged_files_raise_only_image_error():
    rng = random.Random(1)
    base = Image.effect_noise((24, 16), 40).convert("RGB")
    originals = [saved(base, fmt) for fmt in ("JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP")]
    originals.append(jpeg_with_orientation(base, 6))
    for data in originals:
        for _ in range(40):
            damaged = bytearray(data)
            if rng.random() < 0.5:
                damaged = damaged[: rng.randrange(1, len(damaged))]
            for _ in range(rng.randrange(1, 6)):
                damaged[rng.randrange(len(damaged))] = rng.randrange(256)
            try:
                im, _ = decode(bytes(damaged), max_side=8, max_pixels=1_000_000)
            except ImageError as e:
                assert str(e)
            else:
                assert im.mode == "RGB"


# ---- derived sizes ----------------------------------------------------------------------------------

def test_fit_downscales_keeping_aspect_and_never_upscales():
    im = Image.new("RGB", (2000, 1000), "red")
    small = fit(im, 256)
    assert small.size == (256, 128)
    assert fit(small, 1024) is small
    assert fit(Image.new("RGB", (3, 1000)), 64).size == (1, 64)


def test_square_squashes_whole_image():
    im = halves((400, 100), (255, 0, 0), (0, 0, 255))
    a = square(im, 64)
    assert a.shape == (64, 64, 3) and a.dtype == np.uint8
    assert tuple(a[32, 5]) == (255, 0, 0) and tuple(a[32, 58]) == (0, 0, 255)
    assert square(Image.new("L", (10, 10), 7), 4).shape == (4, 4, 3)


@pytest.mark.parametrize("fmt", ["webp", "jpeg", "jpg"])
def test_encode(fmt):
    data = encode(Image.new("RGB", (40, 30), (0, 128, 255)), fmt, quality=80)
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == ("WEBP" if fmt == "webp" else "JPEG") and im.size == (40, 30)


def test_encode_drops_exif_so_browsers_do_not_rotate_twice():
    im, _ = decode(jpeg_with_orientation(Image.new("RGB", (40, 20)), 6))
    for fmt in ("webp", "jpeg"):
        with Image.open(io.BytesIO(encode(im, fmt))) as out:
            assert out.size == (20, 40)
            assert out.getexif().get(0x0112) is None


def test_encode_rejects_other_formats():
    with pytest.raises(ValueError):
        encode(Image.new("RGB", (4, 4)), "png")


# ---- colour profiles and threads --------------------------------------------------------------------

def test_srgb_profile_changes_nothing_and_a_broken_profile_is_ignored():
    from PIL import ImageCms
    src = Image.effect_noise((16, 16), 50).convert("RGB")
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    plain, _ = decode(png_bytes(src))
    tagged, _ = decode(png_bytes(src, icc_profile=srgb))
    broken, _ = decode(png_bytes(src, icc_profile=b"not a profile" * 10))
    assert np.array_equal(np.asarray(plain), np.asarray(tagged))
    assert np.array_equal(np.asarray(plain), np.asarray(broken))


def test_decode_from_threads_keeps_pillow_limit():
    from concurrent.futures import ThreadPoolExecutor
    limit = Image.MAX_IMAGE_PIXELS
    good = saved(Image.new("RGB", (300, 200), "blue"), "JPEG")
    bomb = png_header_only(20000, 20000)

    def one(i):
        try:
            return decode(bomb if i % 3 == 0 else good, max_side=64)[1]
        except ImageError as e:
            return str(e)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(one, range(60)))
    assert all(r == (300, 200) for i, r in enumerate(results) if i % 3)
    assert all("too large" in r for i, r in enumerate(results) if i % 3 == 0)
    assert Image.MAX_IMAGE_PIXELS == limit
