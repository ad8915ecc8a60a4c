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
                   repeat the last colour. (k-means++ seeded, 8 Lloyd iterations on every other pixel
                   of each row and column; the proportions are those of all 4,096 pixels.)
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

structure, 172 floats (greyscale, histogram-equalised: lighting differences do not dominate)
    [0, 144)   HOG (skimage.feature.hog) of a 64 x 64 copy: 9 orientations, 16 x 16 cells, 1 x 1 blocks
               (4 x 4 cells x 9, L2-Hys normalised)
    [144, 154) LBP histogram (skimage.feature.local_binary_pattern, "uniform", P=8, R=1) of a 64 x 64 copy
    [154, 172) LBP histogram ("uniform", P=16, R=2) of the same copy

scores, 6 floats, named in SCORE_NAMES
    brightness     mean HSV value (0..1)
    colourfulness  Hasler and Suesstrunk's M (on 0..255 RGB; ~0 grey, > 100 very colourful)
    contrast       RMS contrast: standard deviation of the luminance (0..1)
    sharpness      variance of the Laplacian of the luminance (0..1 scale) of the thumbnail
    edge_density   as composition[54]
    aspect_ratio   width / height

Measured cost: bench/bench_descriptors.py prints the milliseconds per image of each block.
"""
from __future__ import annotations

import numpy as np

SCORE_NAMES = ("brightness", "colourfulness", "contrast", "sharpness", "edge_density", "aspect_ratio")
BLOCKS = ("palette", "composition", "structure")
DEFAULT_COLORS = 6
PALETTE_SIDE = 64          # k-means runs on this many pixels squared
GRID = 4
EDGE_THRESHOLD = 0.1       # Sobel magnitude (of 0..1 brightness) counted as an edge
KMEANS_ITERATIONS = 8
HUE_BINS, SAT_BINS, GREY_BINS = 12, 2, 4
CHROMA_MIN = 0.15          # HSV saturation and value above which a pixel has a hue
COMPOSITION_LENGTH = 3 * GRID * GRID + 2 + 2 + 2 + 1 + 8 + 2 + 1 + GRID * GRID
STRUCTURE_LENGTH = 144 + 10 + 18


def block_lengths(palette_colors: int = DEFAULT_COLORS) -> dict[str, int]:
    """Each block's length for k palette colours."""
    k = int(palette_colors)
    return {"palette": 4 * k + HUE_BINS * SAT_BINS + GREY_BINS, "composition": COMPOSITION_LENGTH,
            "structure": STRUCTURE_LENGTH, "scores": len(SCORE_NAMES)}


def describe(image, palette_colors: int = DEFAULT_COLORS, timings: dict | None = None,
             size: tuple[int, int] | None = None) -> dict[str, np.ndarray]:
    """The four blocks (module docstring) of a PIL image, as float32 vectors. `size`: the original's
    (width, height) when `image` is a smaller copy (for the aspect ratio; default: the image's). `timings`:
    when a dict is given, each block's seconds are added to it (block name -> seconds)."""
    import time

    t0 = time.perf_counter()
    rgb_img = image.convert("RGB")
    width, height = size if size is not None else rgb_img.size
    small = _resized(rgb_img, PALETTE_SIDE, PALETTE_SIDE)           # (64, 64, 3) 0..1
    hsv = _hsv(small)
    t1 = time.perf_counter()
    palette = palette_block(small, hsv, palette_colors)
    t2 = time.perf_counter()
    composition = composition_block(small, hsv, width, height)
    t3 = time.perf_counter()
    structure = structure_block(rgb_img)
    t4 = time.perf_counter()
    scores = scores_block(rgb_img, hsv, composition, width, height)
    t5 = time.perf_counter()
    if timings is not None:
        for name, s in (("palette", t2 - t1 + (t1 - t0) / 2), ("composition", t3 - t2 + (t1 - t0) / 2),
                        ("structure", t4 - t3), ("scores", t5 - t4)):
            timings[name] = timings.get(name, 0.0) + s
    return {"palette": palette, "composition": composition, "structure": structure, "scores": scores}


def empty(palette_colors: int = DEFAULT_COLORS) -> dict[str, np.ndarray]:
    """Zero blocks of the right lengths (for an image that could not be described)."""
    return {name: np.zeros(n, np.float32) for name, n in block_lengths(palette_colors).items()}


# ---- helpers

def _resized(rgb_img, w: int, h: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(rgb_img.resize((w, h), Image.BILINEAR), dtype=np.float32) / 255.0


def _grey(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of 0..1 RGB."""
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def _hsv(rgb: np.ndarray) -> np.ndarray:
    from skimage.color import rgb2hsv

    return rgb2hsv(rgb).astype(np.float32)


def kmeans(points: np.ndarray, k: int, iterations: int = KMEANS_ITERATIONS, seed: int = 0):
    """A few Lloyd iterations from a seeded k-means++ start: (centres (k, d), labels (n,)). Deterministic.
    Fewer distinct points than k: the surplus centres are duplicates with no members."""
    x = np.asarray(points, dtype=np.float64)
    n = len(x)
    rng = np.random.default_rng(seed)
    centres = np.empty((k, x.shape[1]))
    centres[0] = x[rng.integers(n)]
    d2 = ((x - centres[0]) ** 2).sum(1)
    for j in range(1, k):
        total = d2.sum()
        centres[j] = x[rng.choice(n, p=d2 / total)] if total > 0 else centres[j - 1]
        d2 = np.minimum(d2, ((x - centres[j]) ** 2).sum(1))
    for _ in range(iterations):
        labels = nearest(x, centres)
        counts = np.bincount(labels, minlength=k)
        sums = np.stack([np.bincount(labels, weights=x[:, c], minlength=k) for c in range(x.shape[1])], 1)
        moved = counts > 0
        new = centres.copy()
        new[moved] = sums[moved] / counts[moved, None]
        if np.allclose(new, centres):
            break
        centres = new
    return centres, nearest(x, centres)


def nearest(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of each row's nearest centre (squared Euclidean). np.einsum (not optimised) is numpy's own loop,
    not BLAS: the same bits in any thread, whatever else runs (a BLAS call beside another may not be)."""
    return ((centres ** 2).sum(1)[None, :] - 2 * np.einsum("ij,kj->ik", x, centres)).argmin(1)


# ---- blocks

def palette_block(rgb: np.ndarray, hsv: np.ndarray, k: int = DEFAULT_COLORS) -> np.ndarray:
    """The palette block (module docstring) of a small 0..1 RGB array and its HSV."""
    from skimage.color import rgb2lab

    k = int(k)
    lab = rgb2lab(rgb)
    centres, _ = kmeans(lab[::2, ::2].reshape(-1, 3), k)      # fitted on every other pixel (1,024)...
    lab = lab.reshape(-1, 3)
    labels = nearest(lab, centres)                                                 # ...the shares of all
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    # duplicate centres (an image of fewer colours than k) pool their members into the first
    for j in range(k):
        for i in range(j):
            if counts[i] >= 0 and np.abs(centres[i] - centres[j]).max() < 1.0:
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


def composition_block(rgb: np.ndarray, hsv: np.ndarray, width: int, height: int) -> np.ndarray:
    """The composition block (module docstring) of a small 0..1 RGB array, its HSV and the frame's size."""
    value, sat = hsv[..., 2], hsv[..., 1]
    grey = _grey(rgb)
    gx, gy, mag = _sobel(grey)
    off = np.linalg.norm(rgb - rgb.reshape(-1, 3).mean(0), axis=2)     # distance from the mean colour
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


def structure_block(rgb_img) -> np.ndarray:
    """The structure block (module docstring) of a PIL RGB image."""
    import warnings

    from skimage.exposure import equalize_hist
    from skimage.feature import hog, local_binary_pattern

    from PIL import Image

    grey_img = rgb_img.convert("L")
    g64 = equalize_hist(np.asarray(grey_img.resize((64, 64), Image.BILINEAR), dtype=np.float32) / 255.0)
    h = hog(g64, orientations=9, pixels_per_cell=(16, 16), cells_per_block=(1, 1), block_norm="L2-Hys",
            feature_vector=True)
    g8 = np.round(g64 * 255).astype(np.uint8)     # LBP on the same equalised copy
    hists = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")    # skimage warns about float input; ours is uint8
        for p, r in ((8, 1), (16, 2)):
            codes = local_binary_pattern(g8, p, r, method="uniform")
            hists.append(np.bincount(codes.astype(int).ravel(), minlength=p + 2)[: p + 2] / codes.size)
    return np.concatenate([h, *hists]).astype(np.float32)


def colourfulness(rgb255: np.ndarray) -> float:
    """Hasler and Suesstrunk's colourfulness M of an (h, w, 3) RGB array on 0..255."""
    r, g, b = (rgb255[..., i].astype(np.float64) for i in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def scores_block(rgb_img, hsv: np.ndarray, composition: np.ndarray, width: int, height: int) -> np.ndarray:
    """The scores (SCORE_NAMES) of a PIL RGB image (its small copy's HSV and composition block given)."""
    from scipy import ndimage

    rgb = np.asarray(rgb_img, dtype=np.float32)
    grey = _grey(rgb / 255.0)
    sharp = float(ndimage.laplace(grey.astype(np.float64)).var())
    return np.array([float(hsv[..., 2].mean()), colourfulness(rgb), float(grey.std()), sharp,
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
