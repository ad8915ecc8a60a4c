"""Compact vectors for the viewer's recommendations (docs/site-format.md, "Version 5").

    entry = write_vectors(data, reduced)      # data/vectors/<c>.i8; the manifest's `vectors`

Each image's vector is the first DIMS (64) components of the build's PCA reduction of its CNN features
(the same PCA the map and the neighbours use: its components are ordered by variance, so the first 64 of
100 are the 64-component PCA), L2-normalised, then quantised to int8 with one scale for the whole site:
`v ~= q * scale`, scale = (the largest |component| of any image) / 127, so no value is clipped and each
component is within scale / 2 of the true one. 64 bytes per image (64 MB at a million images), in chunks of
CHUNK images (1 MB), which the viewer loads only when someone first likes an image. `--no-vectors` leaves
them out (the viewer then offers no recommendations; similar images and the graph need only the neighbours).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

DIMS = 64
CHUNK = 16384        # images per file: 1 MB at 64 dimensions
DIR = "data/vectors"
_BLOCK = 65536       # rows normalised at a time (bounded memory at a million images)


def normalised(x: np.ndarray, dims: int = DIMS) -> np.ndarray:
    """The first `dims` columns of x, each row scaled to unit length (float32; an all-zero row stays 0)."""
    v = np.nan_to_num(np.asarray(x[:, :dims], dtype=np.float32))
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.where(norms > 0, norms, 1.0)


def quantisation_scale(x: np.ndarray, dims: int = DIMS) -> float:
    """The site's one scale: the largest |component| of the normalised vectors / 127 (1/127 for none)."""
    top = 0.0
    for a in range(0, x.shape[0], _BLOCK):
        block = normalised(x[a:a + _BLOCK], dims)
        if block.size:
            top = max(top, float(np.abs(block).max()))
    return (top if top > 0 else 1.0) / 127.0


def quantise(v: np.ndarray, scale: float) -> np.ndarray:
    """int8 q = round(v / scale), clipped to [-127, 127]."""
    return np.clip(np.rint(np.asarray(v, dtype=np.float64) / scale), -127, 127).astype(np.int8)


def dequantise(q: np.ndarray, scale: float) -> np.ndarray:
    return np.asarray(q, dtype=np.float32) * np.float32(scale)


def write_vectors(data: Path, reduced: np.ndarray, dims: int = DIMS, chunk: int = CHUNK) -> dict:
    """Write the compact vectors of `reduced` (the build's PCA reduction, (n, >= 1) float) in chunks under
    data/vectors/; return the manifest's `vectors` entry."""
    data = Path(data)
    folder = data / "vectors"
    folder.mkdir(parents=True, exist_ok=True)
    n = reduced.shape[0]
    dims = int(min(dims, reduced.shape[1]))
    scale = float(np.float32(quantisation_scale(reduced, dims)))   # (the value the manifest states)
    for c, a in enumerate(range(0, max(n, 1), chunk)):
        q = quantise(normalised(reduced[a:a + chunk], dims), scale)
        np.ascontiguousarray(q, dtype=np.int8).tofile(folder / f"{c}.i8")
    return {"dims": dims, "chunk": int(chunk), "dir": DIR, "dtype": "int8", "scale": scale,
            "space": "pca", "normalised": True}


def read_vectors(site: Path) -> tuple[np.ndarray, dict]:
    """A built site's vectors as written: (int8 (n, dims), the manifest entry); dequantise(q, entry["scale"])."""
    import json

    site = Path(site)
    manifest = json.loads((site / "data" / "manifest.json").read_text(encoding="utf-8"))
    entry = manifest.get("vectors")
    if not entry:
        raise ValueError(f"{site} has no vectors (a site of format version 5 built without --no-vectors has)")
    n, dims, chunk = int(manifest["count"]), int(entry["dims"]), int(entry["chunk"])
    out = np.empty((n, dims), dtype=np.int8)
    for c, a in enumerate(range(0, n, chunk)):
        b = min(n, a + chunk)
        out[a:b] = np.fromfile(site / entry["dir"] / f"{c}.i8", dtype=np.int8).reshape(b - a, dims)
    return out, entry
