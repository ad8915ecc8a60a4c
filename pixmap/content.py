"""Content terms: what the images show, as words for the search index and labels for hotspots.

    from pixmap import content, models
    W, b = models.classifier_weights("efficientnet-lite0")        # the model's ImageNet head
    classes, probs = content.classify(features, W, b)             # top 5 classes per image
    ct = content.content_terms(classes, probs)                    # CSR: per image (term, p)
    ct.image(0)                        # [("plant", 0.8), ("daisy", 0.79), ("flower", 0.79), ...]
    shares = content.colour_shares(rgb)                           # per PALETTE colour, sums to 1
    content.colour_names(shares)                                  # [("yellow", 0.41), ("green", 0.3)]
    labels = content.distinctive_terms(clusters, ct)              # {3: ["retriever", "dog"], ...}
    content.hotspot_label(labels[3])                              # "retriever · dog"

Plain functions over numpy arrays, for a million images: nothing holds an (n x 1000) or (n x terms) array.

**Classes and terms.** The model's ImageNet-1k classifier (the Dense layer on top of the very features pixmap
stores) gives each image its top classes; each class brings its words and, through WordNet's hypernym
hierarchy, broader words (``golden retriever`` -> ``golden``, ``retriever``, ``dog``, ``canine``, ``mammal``,
``animal`` ...). The table is ``pixmap/data/imagenet-terms.json``, made by ``tools/make_imagenet_terms.py``
from WordNet 3.0 (Princeton; its licence permits redistribution and is copied into the file). Terms are
raw lower-case words; the search index stems them (``content_terms(..., normalise=...)``).

**Colours.** PALETTE: basic colour names, each with one or more sRGB reference colours (CSS Color Module
Level 4 named colours, converted to CIELAB D65 here); every pixel of a small copy of the image (32 px on
its longer side) goes to the nearest reference colour in CIELAB (Euclidean distance, i.e. CIE76 delta E).
A name has several entries where one colour would not cover how the name is used (sky blue and navy are
both ``blue``), so names repeat in PALETTE; :func:`colour_names` adds up their shares.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Callable, NamedTuple, Sequence

import numpy as np

__all__ = [
    "TermTable", "load_terms", "classify", "ContentTerms", "content_terms",
    "Colour", "PALETTE", "COLOUR_NAMES", "srgb_to_lab", "colour_shares", "name_shares",
    "colour_names", "palette_manifest", "distinctive_terms", "hotspot_label",
]

TOP = 5            # classes kept per image (the contract: at most 5)
MIN_P = 0.05       # a class counts when its probability is at least this
TERMS_FILE = "imagenet-terms.json"


# --------------------------------------------------------------------------------------------
# The ImageNet class -> terms table
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TermTable:
    """``pixmap/data/imagenet-terms.json`` as arrays.

    ``names``: the 1000 class names (clean, for display); ``terms``: every term (str); class ``c``'s terms
    are ``class_terms[class_offsets[c]:class_offsets[c + 1]]`` (indices into ``terms``): its own words
    first (``own[c]`` of them), then its hypernyms' words, the nearest first. ``heads[t]``: term ``t`` is
    the head word of some WordNet synset's first lemma (``retriever``, ``dog``; not ``golden``).
    ``technical[t]``: a rare word only some hypernym has (``craniate``, ``canid``): searchable, but no
    hotspot label.
    ``n_classes[t]``: how many of the 1000 classes have term ``t``. ``index``: term -> its index.
    """
    names: tuple
    terms: tuple
    class_offsets: np.ndarray      # int32 (1001,)
    class_terms: np.ndarray        # int32
    own: np.ndarray                # int16 (1000,)
    heads: np.ndarray              # bool (len(terms),)
    technical: np.ndarray          # bool (len(terms),)
    n_classes: np.ndarray          # int32 (len(terms),)
    index: dict
    wnids: tuple = ()
    licence: str = ""

    def terms_of_class(self, c: int) -> list[str]:
        """The terms of class ``c`` (own words first, then broader ones)."""
        lo, hi = self.class_offsets[c], self.class_offsets[c + 1]
        return [self.terms[t] for t in self.class_terms[lo:hi]]


@functools.lru_cache(maxsize=1)
def load_terms() -> TermTable:
    """The class -> terms table shipped in the package (read once, then cached)."""
    raw = json.loads(resources.files("pixmap").joinpath("data", TERMS_FILE).read_text(encoding="utf-8"))
    classes = raw["classes"]
    lengths = np.array([len(c) for c in classes], np.int64)
    offsets = np.zeros(len(classes) + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.fromiter((t for c in classes for t in c), np.int32, count=int(offsets[-1]))
    n_terms = len(raw["terms"])
    heads = np.zeros(n_terms, bool)
    heads[np.asarray(raw["heads"], np.int64)] = True
    technical = np.zeros(n_terms, bool)
    technical[np.asarray(raw.get("technical", []), np.int64)] = True
    return TermTable(
        names=tuple(raw["names"]), terms=tuple(raw["terms"]), class_offsets=offsets, class_terms=flat,
        own=np.asarray(raw["own"], np.int16), heads=heads, technical=technical,
        n_classes=np.bincount(flat, minlength=n_terms).astype(np.int32),
        index={t: i for i, t in enumerate(raw["terms"])}, wnids=tuple(raw.get("wnids", ())),
        licence=raw.get("licence", ""))


# --------------------------------------------------------------------------------------------
# Classification from stored features
# --------------------------------------------------------------------------------------------

def classify(features, weights, bias, chunk: int = 4096, top: int = TOP) -> tuple[np.ndarray, np.ndarray]:
    """Top ImageNet classes of every image from its stored feature vector.

    ``features``: (n, d) float32, any array-like that slices rows (a read-only ``np.memmap`` of
    ``features.npy`` at a million rows is fine); ``weights`` (d, 1000), ``bias`` (1000,): the model's head
    (:func:`pixmap.models.classifier_weights`). Computes ``softmax(features @ weights + bias)`` ``chunk`` rows
    at a time (memory ~ chunk x 1000 x 4 bytes x 2) and keeps each row's ``top`` classes.

    Returns ``(classes, probs)``: int16 (n, top) class indices and float32 (n, top) probabilities, each
    row in decreasing probability (ties: the lower class index first). A row of zeros (an image never
    computed) gets the bias' own softmax; a row with NaN gets NaN probabilities, which
    :func:`content_terms` ignores.
    """
    W = np.asarray(weights, np.float32)
    b = np.asarray(bias, np.float32).reshape(-1)
    n = len(features)
    k = W.shape[1] if W.ndim == 2 else -1
    if k < 1 or b.shape != (k,) or not 1 <= top <= k:
        raise ValueError(f"weights must be (d, k) and bias (k,), got {W.shape} and {b.shape}")
    classes = np.zeros((n, top), np.int16 if k <= 32767 else np.int32)
    probs = np.zeros((n, top), np.float32)
    chunk = max(1, int(chunk))
    for lo in range(0, n, chunk):
        x = np.asarray(features[lo:lo + chunk], np.float32)
        if x.ndim != 2 or x.shape[1] != W.shape[0]:
            raise ValueError(f"features must be (n, {W.shape[0]}), got rows of shape {x.shape[1:]}")
        z = x @ W
        z += b
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        rows = np.arange(len(z))
        for j in range(top):            # top x argmax: 4x faster than argpartition for top 5 of 1000
            best = z.argmax(axis=1)     # the first maximum: equal p, lower class index first
            classes[lo + rows, j] = best
            probs[lo + rows, j] = z[rows, best]
            z[rows, best] = -1.0
    return classes, probs


# --------------------------------------------------------------------------------------------
# Content terms per image (CSR)
# --------------------------------------------------------------------------------------------

class ContentTerms(NamedTuple):
    """Every image's content terms, in CSR form (what the search index reads).

    Image ``i``'s terms are ``terms[offsets[i]:offsets[i + 1]]`` (int32 indices into ``vocabulary``,
    increasing within an image, each at most once) with probabilities ``probs[...]`` (float32 in (0, 1]).
    ``offsets``: int64 (n + 1,). ``vocabulary``: the term strings (the table's raw words, or their
    ``normalise``d forms). ``groups``: int32 (len(vocabulary),) equal for terms that the same set of
    ImageNet classes has (synonyms as far as the classes go: ``canine``/``canid``, ``mammal``/``mammalian``).
    ``label_weight``: float32 (len(vocabulary),), how fit the term is for a hotspot label: 1 for a head
    word (``retriever``), 0.75 for another word (``golden``), 0 for a technical one (``craniate``); see
    :class:`TermTable`.
    """
    offsets: np.ndarray
    terms: np.ndarray
    probs: np.ndarray
    vocabulary: tuple
    groups: np.ndarray
    label_weight: np.ndarray

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def image(self, i: int) -> list[tuple[str, float]]:
        """Image ``i``'s terms as (term, p), the most probable first (equal p: table order)."""
        lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
        pairs = [(self.vocabulary[t], float(p)) for t, p in zip(self.terms[lo:hi], self.probs[lo:hi])]
        return sorted(pairs, key=lambda tp: -tp[1])

    def term_set(self, i: int) -> set[str]:
        """Image ``i``'s terms (strings)."""
        lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
        return {self.vocabulary[t] for t in self.terms[lo:hi]}


@functools.lru_cache(maxsize=8)
def _class_csr(normalise: Callable | None):
    """(vocabulary, class offsets, class terms, groups, label weights), terms mapped by `normalise`."""
    table = load_terms()
    if normalise is None:
        vocab = list(table.terms)
        offsets, flat = table.class_offsets, table.class_terms
        weight = _label_weights(table.heads, table.technical)
    else:
        vocab, index, rows, best = [], {}, [], {}
        for c in range(len(table.names)):
            ids = []
            for t in table.class_terms[table.class_offsets[c]:table.class_offsets[c + 1]]:
                key = normalise(table.terms[t])
                if not key:
                    continue
                if key not in index:
                    index[key] = len(vocab)
                    vocab.append(key)
                if index[key] not in ids:
                    ids.append(index[key])
                w = _label_weights(table.heads[t:t + 1], table.technical[t:t + 1])[0]
                best[index[key]] = max(best.get(index[key], 0.0), float(w))
            rows.append(ids)
        weight = np.array([best.get(k, 0.0) for k in range(len(vocab))], np.float32)
        offsets = np.zeros(len(rows) + 1, np.int32)
        np.cumsum([len(r) for r in rows], out=offsets[1:])
        flat = np.fromiter((t for r in rows for t in r), np.int32, count=int(offsets[-1]))
    # Terms with the same set of classes share a group.
    members: dict[int, list[int]] = {}
    for c in range(len(offsets) - 1):
        for t in flat[offsets[c]:offsets[c + 1]]:
            members.setdefault(int(t), []).append(c)
    signature: dict[tuple, int] = {}
    groups = np.array([signature.setdefault(tuple(members.get(t, ())), len(signature))
                       for t in range(len(vocab))], np.int32)
    return tuple(vocab), offsets, flat, groups, weight


def _label_weights(heads: np.ndarray, technical: np.ndarray) -> np.ndarray:
    return np.where(technical, 0.0, np.where(heads, 1.0, 0.75)).astype(np.float32)


def content_terms(classes, probs, min_p: float = MIN_P, normalise: Callable[[str], str] | None = None,
                  chunk: int = 65536) -> ContentTerms:
    """Every image's content terms with their probabilities, from its top classes (:func:`classify`).

    ``classes`` int (n, k), ``probs`` float (n, k): an image's classes with ``p >= min_p`` count (negative
    class indices are ignored). A term's probability is the sum of the probabilities of the counted classes
    having it, at most 1: an image that is 0.5 ``golden retriever`` and 0.3 ``Labrador retriever`` gets
    ``golden`` 0.5, ``labrador`` 0.3, ``retriever`` 0.8, ``dog`` 0.8 ...; an image with no class at ``min_p``
    gets none.

    ``normalise``: optional ``term -> key`` applied to the table's words first (e.g. the search index's
    stemmer; a falsy key drops the word); the words of one class that map to one key count once, so
    sums over classes stay right. Use a module-level function (it keys a cache).

    Returns a :class:`ContentTerms` (CSR; see there). Processed ``chunk`` images at a time; memory is
    about 40 bytes per (image, class, term) of a chunk plus the output (8 bytes per (image, term); ~14
    terms per image on real photos: ~120 MB at 1,000,000 images).
    """
    vocab, cls_off, cls_terms, groups, weight = _class_csr(normalise)
    n_vocab = len(vocab)
    classes = np.asarray(classes)
    probs = np.asarray(probs)
    if classes.shape != probs.shape or classes.ndim != 2:
        raise ValueError(f"classes and probs must be (n, k) arrays of one shape, got {classes.shape}, {probs.shape}")
    n = len(classes)
    n_classes = len(cls_off) - 1
    lengths = np.diff(cls_off).astype(np.int64)
    counts = np.zeros(n, np.int64)
    out_terms, out_probs = [], []
    chunk = max(1, int(chunk))
    for lo in range(0, n, chunk):
        c = classes[lo:lo + chunk].astype(np.int64)
        p = probs[lo:lo + chunk].astype(np.float64)
        keep = (p >= min_p) & (c >= 0) & (c < n_classes)
        rows, cols = np.nonzero(keep)
        cc, pp = c[rows, cols], p[rows, cols]
        reps = lengths[cc]
        total = int(reps.sum())
        if total == 0:
            continue
        # Gather every counted class's terms: concatenated ranges cls_off[cc] .. + reps.
        starts = np.repeat(cls_off[cc].astype(np.int64) - np.cumsum(reps) + reps, reps)
        term = cls_terms[starts + np.arange(total)].astype(np.int64)
        key = np.repeat(rows.astype(np.int64), reps) * n_vocab + term
        order = np.argsort(key, kind="stable")
        key = key[order]
        first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        sums = np.add.reduceat(np.repeat(pp, reps)[order], first)
        uniq = key[first]
        img = uniq // n_vocab
        counts[lo:lo + len(c)] = np.bincount(img, minlength=len(c))
        out_terms.append((uniq % n_vocab).astype(np.int32))
        out_probs.append(np.minimum(sums, 1.0).astype(np.float32))
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    terms = np.concatenate(out_terms) if out_terms else np.zeros(0, np.int32)
    tprobs = np.concatenate(out_probs) if out_probs else np.zeros(0, np.float32)
    return ContentTerms(offsets, terms, tprobs, vocab, groups, weight)


# --------------------------------------------------------------------------------------------
# Colours
# --------------------------------------------------------------------------------------------

_D65 = np.array([0.95047, 1.0, 1.08883])        # reference white (CIE 1931 2 degrees)
_SRGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                         [0.2126729, 0.7151522, 0.0721750],
                         [0.0193339, 0.1191920, 0.9503041]])


def srgb_to_lab(rgb) -> np.ndarray:
    """sRGB (uint8 0..255, or floats 0..1 when the dtype is floating) -> CIELAB (D65), float32 (..., 3).

    The standard formulas: the sRGB transfer curve undone, the sRGB (D65) -> XYZ matrix, then CIE 1976
    L*a*b* relative to the D65 white. Pure red (255, 0, 0) -> (53.24, 80.09, 67.20); white -> (100, 0, 0).
    """
    a = np.asarray(rgb)
    c = a.astype(np.float64) / 255.0 if not np.issubdtype(a.dtype, np.floating) else a.astype(np.float64)
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = lin @ _SRGB_TO_XYZ.T / _D65
    eps = (6 / 29) ** 3
    f = np.where(xyz > eps, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    lab = np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)
    return lab.astype(np.float32)


class Colour(NamedTuple):
    """A PALETTE entry: the colour ``name`` (indexed), the CSS named colour it is (``css``, sRGB ``hex``),
    and its CIELAB value ``lab``."""
    name: str
    css: str
    hex: str
    lab: tuple


# (name, CSS Color Module Level 4 named colour, its sRGB value). Several entries per name where the name
# covers a range no single colour is near (light and dark blues, greens of leaves and of grass).
_PALETTE_SRGB = (
    ("black", "black", "#000000"),
    ("white", "white", "#ffffff"),
    ("grey", "gray", "#808080"),
    ("red", "red", "#ff0000"),
    ("red", "darkred", "#8b0000"),
    ("orange", "darkorange", "#ff8c00"),
    ("yellow", "yellow", "#ffff00"),
    ("yellow", "gold", "#ffd700"),
    ("green", "green", "#008000"),
    ("green", "olivedrab", "#6b8e23"),
    ("green", "darkolivegreen", "#556b2f"),
    ("blue", "blue", "#0000ff"),
    ("blue", "navy", "#000080"),
    ("blue", "steelblue", "#4682b4"),
    ("blue", "skyblue", "#87ceeb"),
    ("teal", "teal", "#008080"),
    ("teal", "turquoise", "#40e0d0"),
    ("purple", "purple", "#800080"),
    ("purple", "orchid", "#da70d6"),
    ("pink", "pink", "#ffc0cb"),
    ("pink", "hotpink", "#ff69b4"),
    ("brown", "saddlebrown", "#8b4513"),
    ("brown", "sienna", "#a0522d"),
    ("beige", "tan", "#d2b48c"),
)


def _hex_rgb(h: str) -> tuple[int, int, int]:
    return int(h[1:3], 16), int(h[3:5], 16), int(h[5:7], 16)


_PALETTE_LAB = srgb_to_lab(np.array([_hex_rgb(h) for _n, _c, h in _PALETTE_SRGB], np.uint8))
PALETTE: tuple[Colour, ...] = tuple(
    Colour(n, c, h, tuple(round(float(v), 1) + 0.0 for v in lab))
    for (n, c, h), lab in zip(_PALETTE_SRGB, _PALETTE_LAB))
COLOUR_NAMES: tuple[str, ...] = tuple(dict.fromkeys(c.name for c in PALETTE))
# bump when colour_shares or name_shares change: the build caches their result by image content
# (pixmap.imagepass.colour_cache)
COLOUR_VERSION = 1
_NAME_OF = np.array([COLOUR_NAMES.index(c.name) for c in PALETTE], np.int64)
_NAME_MATRIX = np.zeros((len(PALETTE), len(COLOUR_NAMES)), np.float32)
_NAME_MATRIX[np.arange(len(PALETTE)), _NAME_OF] = 1.0
COLOUR_SIZE = 32    # pixels on the longer side the shares are computed at


def palette_manifest() -> list[dict]:
    """PALETTE as the manifest's ``content.palette``: ``[{"name": "black", "lab": [0.0, 0.0, 0.0]}, ...]``
    (one entry per PALETTE colour, in order; names repeat)."""
    return [{"name": c.name, "lab": list(c.lab)} for c in PALETTE]


def _small(rgb: np.ndarray, size: int) -> np.ndarray:
    if max(rgb.shape[:2]) <= size:
        return rgb
    from PIL import Image
    h, w = rgb.shape[:2]
    scale = size / max(h, w)
    return np.asarray(Image.fromarray(rgb).resize((max(1, round(w * scale)), max(1, round(h * scale))),
                                                  Image.BOX))


def colour_shares(rgb, size: int = COLOUR_SIZE) -> np.ndarray:
    """The share of one image's pixels nearest (in CIELAB) to each PALETTE colour.

    ``rgb``: uint8 (H, W, 3) RGB (also (H, W) grey or (H, W, 4) RGBA, alpha ignored). An image larger
    than ``size`` px on its longer side is first reduced to that (PIL box filter: each small pixel the mean
    of the pixels it covers), so shares are about the image's regions rather than its fine texture; pass a
    thumbnail to save the work. The nearest colour comes from a lookup table over sRGB at 6 bits per
    channel (made on the first call, under a second; then ~0.05 ms for 32 x 32 pixels). Returns float32
    (len(PALETTE),) summing to 1 (zeros for an empty image).
    """
    a = np.asarray(rgb)
    if a.dtype != np.uint8:
        raise ValueError(f"colour_shares expects uint8 RGB, got {a.dtype}")
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    elif a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(f"colour_shares expects an (H, W, 3) image, got shape {a.shape}")
    a = np.ascontiguousarray(a[:, :, :3])
    if a.size == 0:
        return np.zeros(len(PALETTE), np.float32)
    q = _small(a, size).reshape(-1, 3) >> (8 - _LUT_BITS)
    cell = (q[:, 0].astype(np.int32) << (2 * _LUT_BITS)) | (q[:, 1].astype(np.int32) << _LUT_BITS) | q[:, 2]
    counts = np.bincount(_nearest_lut()[cell], minlength=len(PALETTE))
    return (counts / counts.sum()).astype(np.float32)


_LUT_BITS = 6    # the lookup table's bits per channel: 64^3 cells of 4 x 4 x 4 sRGB values


@functools.lru_cache(maxsize=1)
def _nearest_lut() -> np.ndarray:
    """uint8 (64^3,): per cell of sRGB space (6 bits per channel) the PALETTE index nearest in CIELAB to the
    cell's centre (made once). A pixel's error is at most 2 of 255 per channel."""
    step = 1 << (8 - _LUT_BITS)
    levels = (np.arange(1 << _LUT_BITS) * step + (step - 1) / 2) / 255.0
    r, g, b = np.meshgrid(levels, levels, levels, indexing="ij")
    lab = srgb_to_lab(np.stack([r.ravel(), g.ravel(), b.ravel()], -1))
    out = np.empty(len(lab), np.uint8)
    for lo in range(0, len(lab), 32768):
        d = ((lab[lo:lo + 32768, None, :] - _PALETTE_LAB[None, :, :]) ** 2).sum(-1)
        out[lo:lo + 32768] = d.argmin(1)
    return out


def name_shares(shares) -> np.ndarray:
    """Per-PALETTE shares (..., len(PALETTE)) -> per-name shares (..., len(COLOUR_NAMES)), for one image or
    many (n, len(PALETTE))."""
    return np.asarray(shares, np.float32) @ _NAME_MATRIX


def colour_names(shares, min_share: float = 0.05) -> list[tuple[str, float]]:
    """One image's colour names with their share (its PALETTE shares added up per name), those with a share
    of at least ``min_share``, the largest first: ``[("yellow", 0.46), ("green", 0.31), ...]``."""
    per_name = name_shares(shares)
    order = sorted(range(len(COLOUR_NAMES)), key=lambda j: (-per_name[j], j))
    return [(COLOUR_NAMES[j], float(per_name[j])) for j in order if per_name[j] >= min_share]


# --------------------------------------------------------------------------------------------
# Hotspot labels from distinctive terms
# --------------------------------------------------------------------------------------------

def distinctive_terms(labels, doc_terms: ContentTerms, top: int = 3, min_mass: float = 0.15,
                      min_lift: float = 1.5) -> dict[int, list[str]]:
    """Per cluster, the content terms that set its images apart from the whole map (for hotspot labels).

    ``labels``: int (n,) cluster id per image (``clusters.i32``; negative = noise, no cluster);
    ``doc_terms``: :func:`content_terms` of the same n images. A term's *mass* in a cluster is its mean
    probability over the cluster's images, ``m_c``; over the whole map, ``m``. Score: ``m_c * ln(m_c / m)``
    (the term's contribution to the KL divergence of the cluster from the map): high for terms most of
    the cluster has and the rest of the map has not; near 0 for terms everywhere (``animal`` in a map of
    animals) however frequent. The score is weighted by the term's ``label_weight``: words that are not
    a WordNet head word (``golden``) count 0.75x, so ``retriever`` comes before ``golden``; technical words
    (``craniate``, ``spermatophyte``) are never chosen. A term must have ``m_c >= min_mass`` and
    ``m_c / m >= min_lift``; of terms in one group (the same classes: ``canine``/``canid``) only the best.

    Returns {cluster id: up to ``top`` terms, the most distinctive first}; a cluster with nothing
    distinctive gets ``[]`` (label it otherwise, e.g. by category or "Cluster 3").
    """
    labels = np.asarray(labels).reshape(-1)
    n = len(doc_terms)
    if len(labels) != n:
        raise ValueError(f"{len(labels)} labels for {n} images")
    vocab = doc_terms.vocabulary
    V = len(vocab)
    ids = np.unique(labels[labels >= 0])
    if n == 0 or len(ids) == 0:
        return {}
    cidx = np.where(labels >= 0, np.searchsorted(ids, labels), -1)
    ukey, sums = _cluster_term_sums(doc_terms, cidx, len(ids))
    map_mass = np.bincount(doc_terms.terms, weights=doc_terms.probs.astype(np.float64), minlength=V) / n
    if len(ukey) == 0:
        return {int(c): [] for c in ids}
    ucl, uterm = ukey // V, ukey % V
    sizes = np.bincount(cidx[cidx >= 0], minlength=len(ids)).astype(np.float64)
    m_c = sums / sizes[ucl]
    m = map_mass[uterm]
    lift = m_c / np.maximum(m, 1e-12)
    score = m_c * np.log(np.maximum(lift, 1e-12)) * doc_terms.label_weight[uterm]
    ok = (m_c >= min_mass) & (lift >= min_lift) & (score > 0)
    out: dict[int, list[str]] = {int(c): [] for c in ids}
    bounds = np.searchsorted(ucl, np.arange(len(ids) + 1))
    groups = doc_terms.groups
    for j in range(len(ids)):
        lo, hi = bounds[j], bounds[j + 1]
        cand = np.flatnonzero(ok[lo:hi]) + lo
        cand = cand[np.lexsort((uterm[cand], -score[cand]))]
        chosen, seen = [], set()
        for k in cand:
            g = int(groups[uterm[k]])
            if g in seen:
                continue
            seen.add(g)
            chosen.append(vocab[uterm[k]])
            if len(chosen) == top:
                break
        out[int(ids[j])] = chosen
    return out


def _cluster_term_sums(doc_terms: ContentTerms, cidx: np.ndarray, n_clusters: int, chunk: int = 262144):
    """(keys, sums): for every (cluster j, term t) some image of cluster j has, key j * V + t (increasing)
    and the sum of t's probabilities over cluster j's images. ``cidx``: per image its cluster's index (-1:
    none). Processed ``chunk`` images at a time."""
    V = len(doc_terms.vocabulary)
    size = n_clusters * V
    dense = size <= 30_000_000
    acc = np.zeros(size if dense else 0, np.float64)
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    per_image = np.diff(doc_terms.offsets)
    for lo in range(0, len(cidx), chunk):
        hi = min(lo + chunk, len(cidx))
        a, b = int(doc_terms.offsets[lo]), int(doc_terms.offsets[hi])
        ci = np.repeat(cidx[lo:hi].astype(np.int64), per_image[lo:hi])
        keep = ci >= 0
        key = ci[keep] * V + doc_terms.terms[a:b][keep]
        w = doc_terms.probs[a:b][keep].astype(np.float64)
        if dense:
            acc += np.bincount(key, weights=w, minlength=size)
        elif len(key):
            parts.append(_reduce_keys(key, w))
    if dense:
        keys = np.flatnonzero(acc)
        return keys, acc[keys]
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, np.float64)
    return _reduce_keys(np.concatenate([k for k, _ in parts]), np.concatenate([w for _, w in parts]))


def _reduce_keys(key: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique keys and the sum of w over each."""
    order = np.argsort(key, kind="stable")
    key = key[order]
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    return key[first], np.add.reduceat(w[order], first)


def hotspot_label(terms: Sequence, sep: str = " · ") -> str:
    """A hotspot's label from its distinctive terms: ``["retriever", "dog"]`` -> ``"retriever · dog"``
    (strings, or (term, score) pairs); ``""`` for none."""
    return sep.join(t[0] if isinstance(t, tuple) else str(t) for t in terms)
