"""pixmap.descriptors: palette, composition, structure and scores of real images (the demo paintings), and
the build that computes them in the image pass (artifacts, the scores as metadata fields, the site's palette)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from pixmap import descriptors as D

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "datasets" / "aic-paintings" / "images"


def demo_images(n, start=0):
    paths = sorted(DEMO.iterdir())[start:start + n]
    out = []
    for p in paths:
        im = Image.open(p).convert("RGB")
        im.thumbnail((256, 256))
        out.append(im)
    return out


# ------------------------------------------------------------------------------------ palette
def test_pure_red_is_red_in_lab_with_all_the_pixels():
    d = D.describe(Image.new("RGB", (120, 80), (255, 0, 0)))
    pal = D.palette_colours(d["palette"][None], 6)[0]
    L, a, b, share = pal[0]
    assert abs(L - 53.24) < 0.5 and abs(a - 80.09) < 0.5 and abs(b - 67.20) < 0.5
    assert share == pytest.approx(1.0) and pal[1:, 3].sum() == 0
    assert D.palette_rgb8(d["palette"][None], 6)[0, 0].tolist() == [255, 0, 0, 255]
    hue, light = D.dominant_hue(d["palette"][None], 6)
    assert hue[0] == pytest.approx(40.0, abs=1.0) and light[0] == pytest.approx(53.2, abs=0.5)


def test_two_colours_have_their_proportions_largest_first():
    arr = np.zeros((64, 64, 3), np.uint8)
    arr[:, :48] = (0, 0, 255)       # three quarters blue
    arr[:, 48:] = (255, 255, 0)     # a quarter yellow
    d = D.describe(Image.fromarray(arr), palette_colors=4)
    rgb = D.palette_rgb8(d["palette"][None], 4)[0]
    assert rgb[0, :3].tolist() == [0, 0, 255] and rgb[1, :3].tolist() == [255, 255, 0]
    # bilinear resizing blends a column of pixels at the border: the shares are 3/4 and 1/4 within a column
    assert abs(rgb[0, 3] / 255 - 0.75) < 0.03 and abs(rgb[1, 3] / 255 - 0.25) < 0.03
    assert abs(rgb[:, 3].sum() - 255) <= 2


def test_every_block_has_its_fixed_length_whatever_the_image():
    lengths = D.block_lengths(5)
    images = [*demo_images(3), Image.new("L", (1, 1), 7), Image.new("RGBA", (300, 20), (1, 2, 3, 0)),
              Image.new("RGB", (3, 700), (255, 255, 255))]
    for im in images:
        d = D.describe(im, palette_colors=5)
        assert {k: len(v) for k, v in d.items()} == lengths
        assert all(v.dtype == np.float32 and np.isfinite(v).all() for v in d.values())


def test_the_palette_is_deterministic_and_its_histogram_is_a_distribution():
    im = demo_images(1, 10)[0]
    a, b = D.describe(im)["palette"], D.describe(im)["palette"]
    assert np.array_equal(a, b)
    hist = a[24:] ** 2          # the square roots of the shares of all pixels
    assert hist.sum() == pytest.approx(1.0, abs=1e-4)


# ------------------------------------------------------------------------------------ composition
def _crop(im, aspect):
    """The largest centred crop of `im` with width / height = aspect."""
    w, h = im.size
    cw, ch = (w, int(w / aspect)) if w / h < aspect else (int(h * aspect), h)
    cw, ch = min(cw, w), min(ch, h)
    x, y = (w - cw) // 2, (h - ch) // 2
    return im.crop((x, y, x + cw, y + ch))


def _one_nn_accuracy(x, y):
    from pixmap.blend import standardise

    z = standardise(x).astype(np.float64)
    d = ((z[:, None] - z[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    return float((y[d.argmin(1)] == y).mean())


def test_composition_separates_portrait_from_landscape_crops_of_the_same_paintings():
    rows, kind = [], []
    for im in demo_images(12, 40):
        for label, aspect in ((0, 0.6), (1, 1.7)):
            rows.append(D.describe(_crop(im, aspect))["composition"])
            kind.append(label)
    x, y = np.array(rows), np.array(kind)
    assert (x[y == 0, 65] < -0.5).all() and (x[y == 1, 65] > 0.5).all()     # log2 aspect ratio
    # each crop's nearest other in the composition space has its shape, not its painting (the two crops of
    # one painting share much of their content: without the frame grid only 1 in 3 did)
    assert _one_nn_accuracy(x, y) >= 0.9


def test_composition_separates_centred_from_off_centre_subjects():
    """Each painting (a small copy) pasted on a plain grey canvas, in the middle or near one edge."""
    rows, kind, xs = [], [], []
    for j, im in enumerate(demo_images(12, 80)):
        subject = im.copy()
        subject.thumbnail((90, 90))
        for label in (0, 1):
            canvas = Image.new("RGB", (256, 256), (128, 128, 128))
            sw, sh = subject.size
            x = (256 - sw) // 2 if label == 0 else (4 if j % 2 else 256 - sw - 4)
            canvas.paste(subject, (x, (256 - sh) // 2))
            c = D.describe(canvas)["composition"]
            rows.append(c)
            kind.append(label)
            xs.append(c[50])      # the saliency's centre of mass, x
    xs, y = np.array(xs), np.array(kind)
    assert (np.abs(xs[y == 0] - 0.5) < 0.05).all()
    assert (np.abs(xs[y == 1] - 0.5) > 0.2).all()
    # in the whole composition space (82 values, most of them about the content), a centred picture's
    # nearest other is mostly centred, an off-centre one's off-centre (left and right both count); chance: 0.5
    assert _one_nn_accuracy(np.array(rows), y) >= 0.8


# ------------------------------------------------------------------------------------ structure, scores
def test_structure_ignores_lighting():
    """The same painting darker and flatter stays nearer itself than any other painting is, by far."""
    im = demo_images(1, 5)[0]
    dark = Image.eval(im, lambda v: int(30 + v * 0.6))
    a, b = D.describe(im)["structure"], D.describe(dark)["structure"]
    others = [D.describe(o)["structure"] for o in demo_images(8, 120)]
    assert np.linalg.norm(a - b) < 0.4 * min(np.linalg.norm(a - o) for o in others)


def test_scores_rank_real_images_as_a_viewer_would():
    names = list(D.SCORE_NAMES)
    im = demo_images(1, 30)[0]
    s = dict(zip(names, D.describe(im)["scores"]))
    grey = dict(zip(names, D.describe(im.convert("L").convert("RGB"))["scores"]))
    blurred = dict(zip(names, D.describe(im.filter(ImageFilter.GaussianBlur(3)))["scores"]))
    dark = dict(zip(names, D.describe(Image.eval(im, lambda v: v // 3))["scores"]))
    assert grey["colourfulness"] < 1.0 < s["colourfulness"]
    assert blurred["sharpness"] < 0.5 * s["sharpness"] and blurred["edge_density"] < s["edge_density"]
    assert dark["brightness"] < 0.5 * s["brightness"] and dark["contrast"] < s["contrast"]
    assert s["aspect_ratio"] == pytest.approx(im.size[0] / im.size[1], rel=1e-5)


def test_score_columns_never_replace_a_metadata_field():
    fields, rows = ["filename", "Brightness"], [["a.jpg", 3], ["b.jpg", 4]]
    scores = np.arange(12, dtype=np.float32).reshape(2, 6)
    f2, r2 = D.add_score_columns(fields, rows, scores)
    assert f2 == fields + [n for n in D.SCORE_NAMES if n != "brightness"]
    assert r2[1][:2] == ["b.jpg", 4] and r2[1][2:] == [7.0, 8.0, 9.0, 10.0, 11.0]


# ------------------------------------------------------------------------------------ numpy in place of scikit-image
def _small_copies(n=6):
    """(8-bit 64 x 64 RGB, its 0..1 float32) of real paintings."""
    out = []
    for im in demo_images(n, 30):
        s8 = D._resized8(im, D.PALETTE_SIDE)
        out.append((s8, s8.astype(np.float32) / np.float32(255)))
    return out


def test_hsv_and_lab_are_scikit_image_s():
    from skimage.color import rgb2hsv, rgb2lab

    for s8, rgb in _small_copies():
        assert np.array_equal(D._hsv(rgb), rgb2hsv(rgb).astype(np.float32))
        lab = D.lab8(s8.reshape(-1, 3))
        assert np.abs(lab.T - rgb2lab(s8.reshape(-1, 3)[None] / 255.0)[0]).max() < 1e-9


def test_hog_is_scikit_image_s():
    from skimage.feature import hog

    for _, rgb in _small_copies():
        eq = D.equalized8(D._grey(rgb)).astype(np.float32)
        ref = hog(eq, orientations=9, pixels_per_cell=(16, 16), cells_per_block=(1, 1), block_norm="L2-Hys")
        assert np.abs(D.hog(eq) - ref).max() < 1e-6


def test_lbp_is_scikit_image_s_up_to_its_rounding_ties(monkeypatch):
    """Every pixel's code as scikit-image's but where its floating-point interpolation rounds a neighbour equal
    to the centre below it (a few pixels of flat areas); LBP_STEP takes every n-th pixel's code."""
    import warnings

    from skimage.feature import local_binary_pattern

    for _, rgb in _small_copies(4):
        g8 = np.round(D.equalized8(D._grey(rgb)) * 255).astype(np.uint8)
        for step in (1, 2):
            monkeypatch.setattr(D, "LBP_STEP", step)
            for p, r in D.LBP_SETTINGS:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    codes = local_binary_pattern(g8, p, r, method="uniform")[::step, ::step]
                ref = np.bincount(codes.astype(int).ravel(), minlength=p + 2) / codes.size
                ours = D.lbp_histogram(g8, p, r)
                assert ours.sum() == pytest.approx(1.0) and np.abs(ours - ref).sum() < 0.02
    flat = np.full((16, 16), 100, np.uint8)   # no rounding: every neighbour equal is "at or above"
    monkeypatch.setattr(D, "LBP_STEP", 1)
    hist = D.lbp_histogram(flat, 8, 1)
    inner = 14 * 14 / 256                     # the border's outside neighbours are 0: below
    assert hist[8] == pytest.approx(inner)


def test_describe_gives_the_same_bits_in_threads():
    from concurrent.futures import ThreadPoolExecutor

    ims = demo_images(6, 40)
    alone = [D.describe(im) for im in ims]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(D.describe, ims * 3))
    for i, d in enumerate(threaded):
        assert all(d[k].tobytes() == alone[i % len(ims)][k].tobytes() for k in d)


def test_kmeans_finds_well_separated_colours_whatever_the_sample():
    rng = np.random.default_rng(1)
    centres = np.array([[20.0, 0, 0], [60, 40, -30], [90, -20, 60]])
    pts = np.concatenate([c + rng.normal(0, 1, (300, 3)) for c in centres]).T
    found, labels = D.kmeans(pts, 3)
    assert np.abs(np.sort(found[:, 0]) - centres[:, 0]).max() < 0.5
    assert sorted(np.bincount(labels, minlength=3).tolist()) == [300, 300, 300]
    assert np.array_equal(D.fit_pixels(4096, 512), D.fit_pixels(4096, 512)) and len(D.fit_pixels(4096, 512)) == 512
    assert D.fit_pixels(100, 512).tolist() == list(range(100))


# ------------------------------------------------------------------------------------ the build
@pytest.fixture(scope="module")
def build(tmp_path_factory):
    import pixmap

    tmp = tmp_path_factory.mktemp("descriptors-build")
    images = tmp / "images"
    images.mkdir()
    for p in sorted(DEMO.iterdir())[:20]:
        (images / p.name).write_bytes(p.read_bytes())
    Image.new("RGB", (300, 200), (255, 0, 0)).save(images / "zz-red.png")
    with open(tmp / "meta.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["filename", "sharpness"])       # the user's field wins over the score of that name
        w.writerows([[p.name, "7"] for p in sorted(images.iterdir())])
    res = pixmap.build(images=images, metadata=tmp / "meta.csv", out_dir=tmp / "site", cache_dir=tmp / "cache",
                       progress=False, layouts="umap,hue", report=False, duplicates_threshold=0)
    return res


def test_the_build_writes_the_descriptor_artifacts(build):
    art = build.artifacts_dir
    n = build.n_images
    assert n == 21
    lengths = D.block_lengths(6)
    for name in D.BLOCKS:
        x = np.load(art / f"features_{name}.npy")
        assert x.shape == (n, lengths[name]) and x.dtype == np.float32 and np.isfinite(x).all()
    with open(art / "scores.csv", encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    ids = [r["id"] for r in csv.DictReader(open(art / "images.csv", encoding="utf-8"))]
    assert [r["id"] for r in table] == ids and list(table[0]) == ["id", *D.SCORE_NAMES]
    red = ids.index([r["id"] for r in csv.DictReader(open(art / "images.csv", encoding="utf-8"))
                     if r["path"].endswith("zz-red.png")][0])
    pal = np.load(art / "features_palette.npy")[red, :4]
    assert np.allclose(pal, [53.24, 80.09, 67.20, 1.0], atol=0.5)
    assert float(table[red]["aspect_ratio"]) == pytest.approx(1.5)
    assert any(k.startswith("descriptors ") for k in build.timings)


def test_the_site_has_the_palette_and_the_scores_as_numeric_fields(build):
    site = build.out_dir
    manifest = json.loads((site / "data" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["palette"] == {"file": "data/palette.u8", "colors": 6}
    pal = np.fromfile(site / "data" / "palette.u8", np.uint8).reshape(-1, 6, 4)
    assert len(pal) == build.n_images
    fields = manifest["metadata"]["fields"]
    for name in D.SCORE_NAMES:
        assert fields.count(name) == 1
        if name != "sharpness":   # the user's field of that name is kept
            assert name in manifest["metadata"]["columns"]    # numeric: the viewer's range filters
    from pixmap.site import read_metadata

    meta = read_metadata(site)
    j = meta["fields"].index("sharpness")
    assert {str(r[j]) for r in meta["rows"]} == {"7"}            # the user's sharpness, not ours
    red = [r[0] for r in meta["rows"]].index("zz-red.png")
    assert pal[red, 0].tolist() == [255, 0, 0, 255]
    assert [lay["name"] for lay in manifest["layouts"]] == ["umap", "hue"]


def test_no_descriptors_leaves_them_all_out(tmp_path, build):
    import pixmap

    images = tmp_path / "images"
    images.mkdir()
    for p in sorted(DEMO.iterdir())[:10]:
        (images / p.name).write_bytes(p.read_bytes())
    res = pixmap.build(images=images, out_dir=tmp_path / "site", cache_dir=build.out_dir.parent / "cache",
                       progress=False, layouts="auto", report=False, duplicates_threshold=0, descriptors=False)
    manifest = json.loads((res.out_dir / "data" / "manifest.json").read_text(encoding="utf-8"))
    assert "palette" not in manifest and not (res.out_dir / "data" / "palette.u8").exists()
    assert not set(D.SCORE_NAMES) & set(manifest["metadata"]["fields"])
    assert not list(res.artifacts_dir.glob("features_*.npy")) and not (res.artifacts_dir / "scores.csv").exists()
    assert not {"colour", "hue", "composition", "structure"} & set(res.layouts)


def test_blend_without_descriptors_is_refused_before_any_work(tmp_path):
    import pixmap

    with pytest.raises(pixmap.pipeline.BuildError, match="no-descriptors"):
        pixmap.build(images=DEMO, out_dir=tmp_path / "site", descriptors=False, blend="cnn=1,palette=0.5",
                     progress=False)
