"""Descriptors: what an image's pixels say about its colours, its composition and how it is made.

    d = describe(pil_image, palette_colors=6)
    d["palette"], d["composition"], d["structure"], d["scores"]     # float32 vectors of fixed lengths

Computed by the image pass (pixmap.imagepass) from the image it has already decoded (its thumbnail, at
most 256 px; no second decode), in the decoding threads. Each block is a space of its own (the `colour`,
`composition` and `structure` layouts, `--blend`, `--cluster-space`); the scores are numeric metadata
fields the viewer's filters offer.

Block layouts (k = palette_colors; lengths from `block_lengths(k)`):

palette, 4k + 28 floats
    [0, 4k)        the k dominant colours, by proportion (largest first): L, a, b (CIELAB, scikit-image's
                   rgb2lab, D65), proportion (0..1, summing to 1). Found by k-means on the pixels of a
                   64 x 64 copy, in LAB. Fewer distinct colours than k: the rest have proportion 0 and
                   repeat the last colour. (k-means++ seeded, at most 8 Lloyd iterations on a fixed,
                   seeded sample of 512 of the pixels; the proportions are those of all 4,096 pixels.)
    [4k, 4k+24)    colour histogram of the chromatic pixels (HSV saturation and value > 0.15): 12 hue
                   bins (30 degrees each, from red) x 2 saturation bins (< 0.5, >= 0.5); square roots of
                   the shares of all pixels (Hellinger), so the Euclidean distance compares histograms
    [4k+24, 4k+28) the achromatic pixels by value: 4 bins (< 0.25, < 0.5, < 0.75, <= 1), square roots of shares

composition, 82 floats (on a 64 x 64 copy; the frame's shape in the last 17)
    [0, 16)    4 x 4 grid, row by row from the top left: mean brightness (HSV value, 0..1)
    [16, 32)   the same grid: mean saturation (0..1)
    [32, 48)   the same grid: mean edge energy (Sobel magnitude of the brightness)
    [48, 50)   centre of mass of the brightness (x, y; 0..1 from the top left)
    [50, 52)   centre of mass of the saliency (edge energy plus distance from the mean colour) (x, y)
    [52, 54)   symmetry left-right, top-bottom (1 - mean absolute difference from the mirror image)
    [54]       edge density (share of pixels whose Sobel magnitude is above EDGE_THRESHOLD)
    [55, 63)   orientation histogram of the gradients (8 bins over 0..180 degrees, weighted by magnitude,
               summing to 1)
    [63, 65)   dominant orientation as (cos 2t, sin 2t) times its strength (0: no dominant orientation)
    [65]       log2 of the aspect ratio (width / height): 0 square, > 0 landscape, < 0 portrait
    [66, 82)   the frame: the image centred in a square, 4 x 4 grid of the share of each cell it covers
               (all 1 for a square image; a portrait leaves the side columns empty, a landscape the top and
               bottom rows), so portraits and landscapes stand apart in this space

structure, 172 floats (the brightness of the 64 x 64 copy, histogram-equalised on its 8-bit levels:
lighting differences do not dominate)
    [0, 144)   HOG (as skimage.feature.hog; `hog` here, in numpy): 9 orientations, 16 x 16 cells, 1 x 1
               blocks (4 x 4 cells x 9, L2-Hys normalised)
    [144, 154) LBP histogram (as skimage.feature.local_binary_pattern, "uniform", P=8, R=1; `lbp_histogram`
               here, exact integer samples) of the codes of every other pixel of each row and column
    [154, 172) LBP histogram ("uniform", P=16, R=2) of the same pixels

scores, 6 floats, named in SCORE_NAMES
    brightness     mean HSV value (0..1)
    colourfulness  Hasler and Suesstrunk's M (on 0..255 RGB; ~0 grey, > 100 very colourful)
    contrast       RMS contrast: standard deviation of the luminance (0..1)
    sharpness      variance of the Laplacian of the luminance (0..1 scale) of the thumbnail
    edge_density   as composition[54]
    aspect_ratio   width / height

Measured cost: bench/bench_descriptors.py prints the milliseconds per image of each block (about 2.8 ms for
all four on a 256 px thumbnail, one thread). The image pass caches the blocks by image content
(pixmap.imagepass.descriptor_caches, `cache_keys`): bump FORMAT_VERSION whenever a block's values change.
"""
from __future__ import annotations

import functools

import numpy as np

FORMAT_VERSION = 2         # bump when any block changes: cached descriptors (cache_keys) of others are not read
SCORE_NAMES = ("brightness", "colourfulness", "contrast", "sharpness", "edge_density", "aspect_ratio")
BLOCKS = ("palette", "composition", "structure")
DEFAULT_COLORS = 6
PALETTE_SIDE = 64          # k-means runs on this many pixels squared
GRID = 4
EDGE_THRESHOLD = 0.1       # Sobel magnitude (of 0..1 brightness) counted as an edge
KMEANS_ITERATIONS = 8
PALETTE_FIT_PIXELS = 512   # k-means is fitted on this many of the 64 x 64 pixels (a fixed, seeded sample)
LBP_STEP = 2               # LBP codes of every LBP_STEP-th pixel of each row and column (its neighbours: all)
HUE_BINS, SAT_BINS, GREY_BINS = 12, 2, 4
CHROMA_MIN = 0.15          # HSV saturation and value above which a pixel has a hue
COMPOSITION_LENGTH = 3 * GRID * GRID + 2 + 2 + 2 + 1 + 8 + 2 + 1 + GRID * GRID
STRUCTURE_LENGTH = 144 + 10 + 18


def cache_keys(palette_colors: int = DEFAULT_COLORS) -> dict[str, str]:
    """The feature-cache folder name of each block and the scores (the image pass caches them by image
    content, like the features): block name, its parameters and FORMAT_VERSION, so that another
    --palette-colors or a change of the descriptors never reads vectors of another kind."""
    k = int(palette_colors)
    return {"palette": f"descriptors-v{FORMAT_VERSION}-palette-k{k}",
            "composition": f"descriptors-v{FORMAT_VERSION}-composition",
            "structure": f"descriptors-v{FORMAT_VERSION}-structure",
            "scores": f"descriptors-v{FORMAT_VERSION}-scores"}


def block_lengths(palette_colors: int = DEFAULT_COLORS) -> dict[str, int]:
    """Each block's length for k palette colours."""
    k = int(palette_colors)
    return {"palette": 4 * k + HUE_BINS * SAT_BINS + GREY_BINS, "composition": COMPOSITION_LENGTH,
            "structure": STRUCTURE_LENGTH, "scores": len(SCORE_NAMES)}


def describe(image, palette_colors: int = DEFAULT_COLORS, timings: dict | None = None,
             size: tuple[int, int] | None = None) -> dict[str, np.ndarray]:
    """The four blocks (module docstring) of a PIL image, as float32 vectors. `size`: the original's
    (width, height) when `image` is a smaller copy (for the aspect ratio; default: the image's). `timings`:
    when a dict is given, each block's seconds are added to it (block name -> seconds).

    The 64 x 64 copy, its HSV and its brightness are made once and shared by the blocks; only the scores
    (sharpness, contrast, colourfulness) look at the image itself. Same image, same bits."""
    import time

    t0 = time.perf_counter()
    rgb_img = image.convert("RGB")
    width, height = size if size is not None else rgb_img.size
    small8 = _resized8(rgb_img, PALETTE_SIDE)                    # (64, 64, 3) uint8
    small = small8.astype(np.float32) / np.float32(255.0)        # the same, 0..1
    hsv = _hsv(small)
    grey = _grey(small)
    t1 = time.perf_counter()
    palette = palette_block(small8, hsv, palette_colors)
    t2 = time.perf_counter()
    composition = composition_block(small, hsv, width, height, grey=grey)
    t3 = time.perf_counter()
    structure = structure_block(grey)
    t4 = time.perf_counter()
    scores = scores_block(rgb_img, hsv, composition, width, height)
    t5 = time.perf_counter()
    if timings is not None:
        for name, s in (("palette", t2 - t1 + (t1 - t0) / 3), ("composition", t3 - t2 + (t1 - t0) / 3),
                        ("structure", t4 - t3 + (t1 - t0) / 3), ("scores", t5 - t4)):
            timings[name] = timings.get(name, 0.0) + s
    return {"palette": palette, "composition": composition, "structure": structure, "scores": scores}


def empty(palette_colors: int = DEFAULT_COLORS) -> dict[str, np.ndarray]:
    """Zero blocks of the right lengths (for an image that could not be described)."""
    return {name: np.zeros(n, np.float32) for name, n in block_lengths(palette_colors).items()}


# ---- helpers

def _resized8(rgb_img, side: int) -> np.ndarray:
    """A side x side bilinear copy of a PIL RGB image, as an (side, side, 3) uint8 array."""
    from PIL import Image

    return np.asarray(rgb_img.resize((side, side), Image.BILINEAR))


def _grey(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of 0..1 RGB."""
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def _hsv(rgb: np.ndarray) -> np.ndarray:
    """HSV (each 0..1) of a 0..1 float32 RGB array: scikit-image's rgb2hsv, in fewer numpy steps (the same
    values: hue from the largest channel, red before green before blue on ties; 0 hue and saturation for
    greys)."""
    r, g, b = np.moveaxis(rgb, -1, 0).reshape(3, -1).copy()     # contiguous planes
    v = np.maximum(np.maximum(r, g), b)
    delta = v - np.minimum(np.minimum(r, g), b)
    grey = delta == 0
    safe = delta.copy()
    safe[grey] = 1
    s = delta / np.where(v == 0, np.float32(1), v)
    h = np.where(b == v, np.float32(4) + (r - g) / safe, np.float32(0))
    h = np.where(g == v, np.float32(2) + (b - r) / safe, h)
    h = np.where(r == v, (g - b) / safe, h)
    h = (h / np.float32(6)) % np.float32(1)
    h[grey] = 0
    return np.stack([h, s, v], -1).reshape(rgb.shape).astype(np.float32, copy=False)


def _srgb_linear_table() -> np.ndarray:
    """sRGB -> linear RGB of each 8-bit level (scikit-image's rgb2xyz gamma), float64."""
    c = np.arange(256) / 255.0
    return np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)


_LINEAR = _srgb_linear_table()
_XYZ_FROM_RGB = np.array([[0.412453, 0.357580, 0.180423],      # scikit-image's, sRGB D65
                          [0.212671, 0.715160, 0.072169],
                          [0.019334, 0.119193, 0.950227]])
_WHITE = np.array([0.95047, 1.0, 1.08883])                     # D65, 2 degree observer


def lab8(rgb8: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of 8-bit RGB pixels (n, 3): scikit-image's rgb2lab on rgb8 / 255, as float64 planes
    (3, n): L, a, b."""
    lin = _LINEAR[np.asarray(rgb8).T]                          # a table, not a power per pixel; (3, n)
    m = _XYZ_FROM_RGB / _WHITE[:, None]
    xyz = [lin[0] * m[i, 0] + lin[1] * m[i, 1] + lin[2] * m[i, 2] for i in range(3)]
    f = [np.where(t > 0.008856, np.cbrt(t), 7.787 * t + 16.0 / 116.0) for t in xyz]
    return np.stack([116.0 * f[1] - 16.0, 500.0 * (f[0] - f[1]), 200.0 * (f[1] - f[2])])


def kmeans(points: np.ndarray, k: int, iterations: int = KMEANS_ITERATIONS, seed: int = 0):
    """A few Lloyd iterations from a seeded k-means++ start, on points given as planes (d, n): (centres
    (k, d), labels (n,)). Deterministic (numpy's elementwise arithmetic only, no BLAS). Stops early when no
    point changes its centre. Fewer distinct points than k: the surplus centres are duplicates with no
    members."""
    x = np.ascontiguousarray(points, dtype=np.float64)   # (rows of a plane side by side: fast)
    d, n = x.shape
    rng = np.random.default_rng(seed)
    centres = np.empty((k, d))
    centres[0] = x[:, rng.integers(n)]
    d2 = ((x - centres[0][:, None]) ** 2).sum(0)
    for j in range(1, k):
        cum = np.cumsum(d2)
        total = cum[-1]
        centres[j] = x[:, min(int(np.searchsorted(cum, rng.random() * total, side="right")), n - 1)] \
            if total > 0 else centres[j - 1]
        d2 = np.minimum(d2, ((x - centres[j][:, None]) ** 2).sum(0))
    labels = nearest(x, centres)
    offsets = (np.arange(d) * k)[:, None]     # the sums of all d coordinates in one bincount
    flat = x.ravel()
    for _ in range(iterations):
        counts = np.bincount(labels, minlength=k)
        sums = np.bincount((labels[None, :] + offsets).ravel(), weights=flat, minlength=d * k).reshape(d, k)
        np.divide(sums, counts, out=centres.T, where=counts > 0)    # (a centre without members stays)
        new = nearest(x, centres)
        if np.array_equal(new, labels):
            break
        labels = new
    return centres, labels


def nearest(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the nearest centre (k, d) of each point of the planes x (d, n) (squared Euclidean, the first
    on ties), by numpy's elementwise arithmetic (not BLAS: the same bits in any thread, whatever else runs)."""
    return ((x[None, :, :] - centres[:, :, None]) ** 2).sum(1).argmin(0)


@functools.lru_cache(maxsize=8)
def fit_pixels(n: int, count: int) -> np.ndarray:
    """The pixels (indices into n, sorted) the palette's k-means is fitted on: a fixed, seeded random
    sample of `count` of them (all when n <= count); the same for every image."""
    if n <= count:
        return np.arange(n)
    return np.sort(np.random.default_rng(12345).choice(n, count, replace=False))


# ---- blocks

def palette_block(rgb8: np.ndarray, hsv: np.ndarray, k: int = DEFAULT_COLORS) -> np.ndarray:
    """The palette block (module docstring) of a small 8-bit RGB array (h, w, 3) and its HSV."""
    k = int(k)
    h8, w8 = rgb8.shape[:2]
    lab = lab8(rgb8.reshape(-1, 3))                                                # planes (3, h * w)
    if PALETTE_FIT_PIXELS:
        sample = lab[:, fit_pixels(h8 * w8, PALETTE_FIT_PIXELS)]
    else:
        sample = lab.reshape(3, h8, w8)[:, ::2, ::2].reshape(3, -1)
    centres, _ = kmeans(sample, k)                        # fitted on a sample of the pixels...
    labels = nearest(lab, centres)                                                  # ...the shares of all
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    # duplicate centres (an image of fewer colours than k) pool their members into the first
    close = (np.abs(centres[:, None, :] - centres[None, :, :]).max(2) < 1.0).tolist()
    for j in range(k):
        for i in range(j):
            if close[i][j]:
                counts[i] += counts[j]
                counts[j] = 0
                break
    order = np.argsort(-counts, kind="stable")
    counts, centres = counts[order], centres[order]
    last = max(int((counts > 0).sum()) - 1, 0)
    centres[counts == 0] = centres[last]
    share = counts / max(counts.sum(), 1.0)
    colours = np.column_stack([centres, share]).ravel()

    h, s, v = hsv[..., 0].ravel(), hsv[..., 1].ravel(), hsv[..., 2].ravel()
    total = float(h.size)
    chroma = (s > CHROMA_MIN) & (v > CHROMA_MIN)
    hue_bin = np.minimum((h[chroma] * HUE_BINS).astype(int), HUE_BINS - 1)
    sat_bin = (s[chroma] >= 0.5).astype(int)
    hist = np.bincount(hue_bin * SAT_BINS + sat_bin, minlength=HUE_BINS * SAT_BINS) / total
    grey = np.bincount(np.minimum((v[~chroma] * GREY_BINS).astype(int), GREY_BINS - 1),
                       minlength=GREY_BINS) / total
    return np.concatenate([colours, np.sqrt(hist), np.sqrt(grey)]).astype(np.float32)


def _sobel(grey: np.ndarray):
    from scipy import ndimage

    gx = ndimage.sobel(grey, axis=1, mode="reflect") / 8.0
    gy = ndimage.sobel(grey, axis=0, mode="reflect") / 8.0
    return gx, gy, np.hypot(gx, gy)


def _grid_means(a: np.ndarray, g: int = GRID) -> np.ndarray:
    h, w = a.shape
    return a[: h - h % g, : w - w % g].reshape(g, h // g, g, w // g).mean(axis=(1, 3)).ravel()


def _centre_of_mass(weights: np.ndarray) -> tuple[float, float]:
    h, w = weights.shape
    total = float(weights.sum())
    if total <= 0:
        return 0.5, 0.5
    ys, xs = (np.arange(h) + 0.5) / h, (np.arange(w) + 0.5) / w
    return float((weights.sum(0) * xs).sum() / total), float((weights.sum(1) * ys).sum() / total)


def frame_grid(width: int, height: int, g: int = GRID) -> np.ndarray:
    """The share of each cell of a g x g grid over a square that a width x height frame centred in it covers."""
    w, h = max(width, 1), max(height, 1)
    fw, fh = (1.0, h / w) if w >= h else (w / h, 1.0)
    edges = np.arange(g + 1) / g

    def cover(extent):
        lo, hi = (1 - extent) / 2, (1 + extent) / 2
        return np.clip(np.minimum(edges[1:], hi) - np.maximum(edges[:-1], lo), 0, None) * g

    return np.outer(cover(fh), cover(fw)).ravel()


def composition_block(rgb: np.ndarray, hsv: np.ndarray, width: int, height: int,
                      grey: np.ndarray | None = None) -> np.ndarray:
    """The composition block (module docstring) of a small 0..1 RGB array, its HSV and the frame's size
    (`grey`: its brightness, _grey(rgb), when already made)."""
    value, sat = hsv[..., 2], hsv[..., 1]
    grey = _grey(rgb) if grey is None else grey
    gx, gy, mag = _sobel(grey)
    r, g, b = (rgb[..., i] for i in range(3))
    off = np.sqrt((r - r.mean()) ** 2 + (g - g.mean()) ** 2 + (b - b.mean()) ** 2)   # from the mean colour
    saliency = mag / (mag.mean() + 1e-6) + off / (off.mean() + 1e-6)
    symmetry_lr = 1.0 - float(np.abs(grey - grey[:, ::-1]).mean())
    symmetry_tb = 1.0 - float(np.abs(grey - grey[::-1, :]).mean())
    density = float((mag > EDGE_THRESHOLD).mean())
    angle = np.mod(np.arctan2(gy, gx), np.pi)                       # 0..pi
    hist = np.bincount(np.minimum((angle / np.pi * 8).astype(int), 7).ravel(), weights=mag.ravel(), minlength=8)
    total = hist.sum()
    hist = hist / total if total > 0 else np.full(8, 1 / 8)
    c2, s2 = (mag * np.cos(2 * angle)).sum(), (mag * np.sin(2 * angle)).sum()
    strength = float(np.hypot(c2, s2) / total) if total > 0 else 0.0
    theta = np.arctan2(s2, c2)
    aspect = float(np.log2(max(width, 1) / max(height, 1)))
    out = np.concatenate([_grid_means(value), _grid_means(sat), _grid_means(mag),
                          _centre_of_mass(value), _centre_of_mass(saliency), [symmetry_lr, symmetry_tb],
                          [density], hist, [np.cos(theta) * strength, np.sin(theta) * strength], [aspect],
                          frame_grid(width, height)])
    return out.astype(np.float32)


def equalized8(grey: np.ndarray) -> np.ndarray:
    """Histogram equalisation of a 0..1 brightness array on its 8-bit levels: each pixel becomes the share
    of pixels at or below its level (0..1, float64; scikit-image's equalize_hist of the 8-bit image)."""
    levels = np.round(grey * 255.0).astype(np.intp).clip(0, 255)
    cdf = np.cumsum(np.bincount(levels.ravel(), minlength=256)) / levels.size
    return cdf[levels]


def hog(image: np.ndarray, orientations: int = 9, cell: int = 16) -> np.ndarray:
    """Histogram of oriented gradients: scikit-image's hog(image, orientations, pixels_per_cell=(cell, cell),
    cells_per_block=(1, 1), block_norm="L2-Hys") in numpy. Central differences (0 on the border rows and
    columns), unsigned orientations in `orientations` equal bins over 0..180 degrees, each cell's histogram
    the mean magnitude per bin, then L2-Hys (L2, clipped at 0.2, L2 again). (rows, cols, orientations)
    cells, flattened."""
    image = np.asarray(image)
    g_row = np.zeros(image.shape, image.dtype)
    g_row[1:-1] = image[2:] - image[:-2]
    g_col = np.zeros(image.shape, image.dtype)
    g_col[:, 1:-1] = image[:, 2:] - image[:, :-2]
    g_row, g_col = g_row.astype(np.float64), g_col.astype(np.float64)
    magnitude = np.hypot(g_col, g_row)
    orientation = np.rad2deg(np.arctan2(g_row, g_col)) % 180
    edges = 180.0 / orientations * np.arange(1, orientations + 1)
    bins = np.searchsorted(edges, orientation, side="right")       # == orientations: no bin (180 exactly)
    rows, cols = image.shape[0] // cell, image.shape[1] // cell
    cell_of = (np.arange(image.shape[0]) // cell)[:, None] * cols + (np.arange(image.shape[1]) // cell)[None, :]
    keep = (bins < orientations) & (cell_of < rows * cols) & \
        (np.arange(image.shape[0]) < rows * cell)[:, None] & (np.arange(image.shape[1]) < cols * cell)[None, :]
    hist = np.bincount((cell_of * orientations + bins)[keep], weights=magnitude[keep],
                       minlength=rows * cols * orientations).reshape(rows * cols, orientations) / (cell * cell)
    eps = 1e-5
    out = hist / np.sqrt((hist ** 2).sum(1, keepdims=True) + eps ** 2)
    out = np.minimum(out, 0.2)
    out = out / np.sqrt((out ** 2).sum(1, keepdims=True) + eps ** 2)
    return out.ravel()


def _lbp_plan(p: int, r: int) -> list[list[tuple[int, int, float]]]:
    """LBP's p circular samples at radius r (scikit-image's sample points, rounded to 5 decimals), each as
    its bilinear terms [(row offset, column offset, weight x 1e10)]: integer weights, so that a sample of
    8-bit pixels is an exact integer (no rounding decides whether a neighbour is above its centre)."""
    plan = []
    for i in range(p):
        rr = round(-r * np.sin(2 * np.pi * i / p), 5)
        cc = round(r * np.cos(2 * np.pi * i / p), 5)
        r0, c0 = int(np.floor(rr)), int(np.floor(cc))
        fr, fc = round((rr - r0) * 100000), round((cc - c0) * 100000)
        plan.append([(r0 + dr, c0 + dc, float(wr * wc)) for dr, wr in ((0, 100000 - fr), (1, fr))
                     for dc, wc in ((0, 100000 - fc), (1, fc)) if wr and wc])
    return plan


LBP_SETTINGS = ((8, 1), (16, 2))
_LBP_PLANS = {pr: _lbp_plan(*pr) for pr in LBP_SETTINGS}


def lbp_histogram(image8: np.ndarray, p: int, r: int) -> np.ndarray:
    """The "uniform" local binary pattern histogram (p + 2 bins, shares of the pixels) of an 8-bit greyscale
    array: scikit-image's local_binary_pattern(image, p, r, "uniform") in numpy, computed exactly in
    integers. A pixel's code: the number of its p neighbours (bilinear samples on a circle of radius r;
    outside the image 0) at or above it when the circular pattern of those has at most 2 changes, else
    p + 1."""
    img = np.asarray(image8, dtype=np.float64)
    h, w = img.shape
    m = r + 1
    padded = np.zeros((h + 2 * m, w + 2 * m))
    padded[m:-m, m:-m] = img
    st = LBP_STEP
    img = img[::st, ::st]
    centre = img * 1e10
    bits = np.empty((p, *img.shape), bool)
    for i, terms in enumerate(_LBP_PLANS[(p, r)] if (p, r) in _LBP_PLANS else _lbp_plan(p, r)):
        if len(terms) == 1:                 # a whole-pixel neighbour: compared as it is
            dr, dc, _ = terms[0]
            np.greater_equal(padded[m + dr:m + dr + h:st, m + dc:m + dc + w:st], img, out=bits[i])
            continue
        acc = None
        for dr, dc, weight in terms:
            term = padded[m + dr:m + dr + h:st, m + dc:m + dc + w:st] * weight
            acc = term if acc is None else np.add(acc, term, out=acc)
        np.greater_equal(acc, centre, out=bits[i])
    flat = bits.reshape(p, -1)
    changes = np.not_equal(flat[1:], flat[:-1]).sum(0)   # (a circle's changes are even: <= 2 either way)
    codes = np.where(changes <= 2, flat.sum(0), p + 1)
    return np.bincount(codes, minlength=p + 2)[: p + 2] / codes.size


def structure_block(grey: np.ndarray) -> np.ndarray:
    """The structure block (module docstring) of a 64 x 64 brightness array (0..1): HOG and the two LBP
    histograms of its histogram-equalised copy."""
    eq = equalized8(grey)
    h = hog(eq.astype(np.float32), orientations=9, cell=16)
    g8 = np.round(eq * 255)                   # LBP on the same equalised copy, in 8-bit levels
    return np.concatenate([h, *(lbp_histogram(g8, p, r) for p, r in LBP_SETTINGS)]).astype(np.float32)


def colourfulness(rgb255: np.ndarray) -> float:
    """Hasler and Suesstrunk's colourfulness M of an (h, w, 3) RGB array on 0..255."""
    r, g, b = (np.asarray(rgb255[..., i], np.float32) for i in range(3))
    rg, yb = r - g, np.float32(0.5) * (r + g) - b                  # exact in float32 (0..255 values)
    return float(np.hypot(rg.std(dtype=np.float64), yb.std(dtype=np.float64))
                 + 0.3 * np.hypot(rg.mean(dtype=np.float64), yb.mean(dtype=np.float64)))


def scores_block(rgb_img, hsv: np.ndarray, composition: np.ndarray, width: int, height: int) -> np.ndarray:
    """The scores (SCORE_NAMES) of a PIL RGB image (its small copy's HSV and composition block given)."""
    from scipy import ndimage

    rgb = np.asarray(rgb_img, dtype=np.float32)
    grey = _grey(rgb) * np.float32(1 / 255.0)
    sharp = float(ndimage.laplace(grey).var(dtype=np.float64))
    return np.array([float(hsv[..., 2].mean()), colourfulness(rgb), float(grey.std(dtype=np.float64)), sharp,
                     float(composition[54]), max(width, 1) / max(height, 1)], np.float32)


# ---- from the blocks

def palette_colours(palette: np.ndarray, k: int) -> np.ndarray:
    """The raw palette (n, k, 4): L, a, b, proportion, from palette blocks (n, 4k + ...)."""
    p = np.asarray(palette)
    return p[:, : 4 * k].reshape(len(p), k, 4)


def palette_rgb8(palette: np.ndarray, k: int) -> np.ndarray:
    """The raw palette as (n, k, 4) uint8: r, g, b, proportion x 255 (the site's data/palette.u8)."""
    from skimage.color import lab2rgb

    raw = np.asarray(palette_colours(palette, k), dtype=np.float64)
    out = np.zeros(raw.shape, np.uint8)
    for start in range(0, len(raw), 65536):
        chunk = raw[start:start + 65536]
        rgb = lab2rgb(chunk[..., :3].reshape(-1, 1, 3)).reshape(len(chunk), k, 3)
        out[start:start + 65536, :, :3] = np.clip(np.round(rgb * 255), 0, 255)
        out[start:start + 65536, :, 3] = np.clip(np.round(chunk[..., 3] * 255), 0, 255)
    return out


def dominant_hue(palette: np.ndarray, k: int, min_chroma: float = 15.0, min_share: float = 0.1):
    """Per image: (hue angle in degrees 0..360, lightness L) of its dominant hue: the most chromatic of its
    palette colours that covers at least `min_share` of the image and has a LAB chroma of `min_chroma`
    (the accent a viewer sees: a yellow flower's yellow rather than the larger, duller green around it);
    hue NaN when no colour qualifies (greys, browns of low chroma), with the largest colour's lightness."""
    raw = np.asarray(palette_colours(palette, k), dtype=np.float64)
    chroma = np.hypot(raw[..., 1], raw[..., 2])
    ok = (chroma >= min_chroma) & (raw[..., 3] >= min_share)
    score = np.where(ok, chroma, -1.0)
    pick = score.argmax(1)
    rows = np.arange(len(raw))
    hue = np.degrees(np.arctan2(raw[rows, pick, 2], raw[rows, pick, 1])) % 360
    hue[~ok.any(1)] = np.nan
    light = np.where(ok.any(1), raw[rows, pick, 0], raw[:, 0, 0])
    return hue, light


def add_score_columns(fields: list[str], rows: list[list], scores: np.ndarray) -> tuple[list[str], list[list]]:
    """The metadata table with the scores as numeric columns (rounded to 4 significant digits); a score
    whose name a metadata field already has (any letter case) is left out: the user's field wins."""
    taken = {f.lower() for f in fields}
    add = [(j, name) for j, name in enumerate(SCORE_NAMES) if name not in taken]
    if not add or scores is None or len(scores) != len(rows):
        return fields, rows
    cols = [j for j, _ in add]
    values = np.asarray(scores, dtype=np.float64)[:, cols]
    out_rows = [list(r) + [float(f"{v:.4g}") for v in vals] for r, vals in zip(rows, values)]
    return list(fields) + [name for _, name in add], out_rows


def write_scores_csv(path, ids: list[str], scores: np.ndarray) -> None:
    """scores.csv in the artifacts: id and the SCORE_NAMES columns."""
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", *SCORE_NAMES])
        for i, row in zip(ids, np.asarray(scores)):
            w.writerow([i, *(f"{float(v):.6g}" for v in row)])


def write_palette(data, palette: np.ndarray, k: int, chunk: int = 65536) -> dict:
    """data/palette.u8 for the lightbox's swatches: per image, k x (r, g, b, proportion x 255) uint8, in
    data order (docs/site-format.md, "Palette"). Returns the manifest's `palette` entry."""
    from pathlib import Path

    with open(Path(data) / "palette.u8", "wb") as f:
        for s in range(0, len(palette), chunk):
            f.write(np.ascontiguousarray(palette_rgb8(palette[s:s + chunk], k)).tobytes())
    return {"file": "data/palette.u8", "colors": int(k)}
