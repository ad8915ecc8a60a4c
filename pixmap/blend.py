"""--blend: one space made of several, each block standardised before it is weighted.

    weights = parse_blend("cnn=1,palette=0.4,composition=0.8")     # {"cnn": 1.0, "palette": 0.4, ...}
    fused = fuse({"cnn": reduced, "palette": pal, "composition": comp}, weights, max_dim=100)

Each block is z-scored per column (constant columns become 0), then divided by the square root of its
number of columns, so every block has the same total variance (1) whatever its width: the 100 columns of
the CNN's PCA do not drown the palette's 52. Then each block is multiplied by its weight (a block's
share of the squared distances is proportional to its weight squared) and the blocks are put side by
side. Wider than `max_dim`, the result is reduced by PCA (seeded) to `max_dim` columns.
The fused space drives UMAP and the hotspots; without --blend the CNN's space does, as before.
"""
from __future__ import annotations

import numpy as np

BLOCKS = ("cnn", "palette", "composition", "structure")


class BlendError(ValueError):
    """A --blend value that cannot be used; the message says what to give."""


def parse_blend(text) -> dict[str, float]:
    """'cnn=1,palette=0.4' (or a dict) -> {block: weight}. Weights are numbers >= 0, at least one > 0;
    blocks are those of BLOCKS, each named once."""
    if isinstance(text, dict):
        items = [(str(k), v) for k, v in text.items()]
    else:
        items = []
        for part in str(text or "").split(","):
            part = part.strip()
            if not part:
                continue
            if "=" not in part:
                raise BlendError(f"--blend {text!r}: {part!r} is not block=weight (e.g. cnn=1,palette=0.4)")
            name, value = part.split("=", 1)
            items.append((name.strip(), value.strip()))
    if not items:
        raise BlendError("--blend is empty; give block=weight pairs such as cnn=1,palette=0.4,composition=0.8")
    out: dict[str, float] = {}
    for name, value in items:
        key = name.lower()
        if key not in BLOCKS:
            raise BlendError(f"--blend: unknown block {name!r}; the blocks are {', '.join(BLOCKS)}")
        if key in out:
            raise BlendError(f"--blend: block {name!r} is named twice")
        try:
            weight = float(value)
        except (TypeError, ValueError):
            raise BlendError(f"--blend: the weight of {name} must be a number, not {value!r}") from None
        if not np.isfinite(weight) or weight < 0:
            raise BlendError(f"--blend: the weight of {name} must be a number of 0 or more, not {value!r}")
        out[key] = weight
    if not any(w > 0 for w in out.values()):
        raise BlendError("--blend: every weight is 0; give at least one block a weight above 0")
    return out


def standardise(block: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """z-score per column (constant columns: 0), scaled by 1/sqrt(columns) so the block's total variance is 1
    (of its non-constant columns). float32; read in chunks (a memmap is never copied whole as float64)."""
    x = np.asarray(block)
    n, d = x.shape
    mean = np.zeros(d)
    sq = np.zeros(d)
    for s in range(0, n, chunk):
        c = np.nan_to_num(np.asarray(x[s:s + chunk], dtype=np.float64))
        mean += c.sum(0)
        sq += (c * c).sum(0)
    mean /= max(n, 1)
    std = np.sqrt(np.maximum(sq / max(n, 1) - mean * mean, 0))
    live = std > 1e-12 * (1 + np.abs(mean))
    scale = np.zeros(d)
    scale[live] = 1.0 / (std[live] * np.sqrt(max(int(live.sum()), 1)))
    out = np.empty((n, d), np.float32)
    for s in range(0, n, chunk):
        c = np.nan_to_num(np.asarray(x[s:s + chunk], dtype=np.float64))
        out[s:s + chunk] = (c - mean) * scale
    return out


def fuse(blocks: dict[str, np.ndarray], weights: dict[str, float], max_dim: int | None = 100,
         seed: int = 0) -> np.ndarray:
    """The blocks named in `weights` (with a weight > 0), each standardised, weighted and put side by
    side; PCA'd to `max_dim` columns when wider (None: never). Raises BlendError for a block not given."""
    missing = [name for name, w in weights.items() if w > 0 and blocks.get(name) is None]
    if missing:
        raise BlendError(f"--blend names {', '.join(missing)}, which this build has not computed "
                         "(the descriptor blocks need --descriptors)")
    parts = [standardise(blocks[name]) * np.float32(w) for name, w in weights.items() if w > 0]
    n = {len(p) for p in parts}
    if len(n) != 1:
        raise BlendError(f"--blend: the blocks have different numbers of rows ({sorted(n)})")
    fused = np.hstack(parts).astype(np.float32)
    if max_dim is not None and fused.shape[1] > max_dim and len(fused) > max_dim:
        from sklearn.decomposition import PCA

        fused = PCA(n_components=int(max_dim), random_state=seed, svd_solver="randomized").fit_transform(fused)
        fused = fused.astype(np.float32)
    return fused
