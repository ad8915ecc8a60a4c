"""Features: CNN vectors per image, batched, cached by image content hash + model.

The models themselves live in `models.py`; this stage feeds them batches and remembers their answers, so a
rebuild after adding images computes only the new ones (and does not even load TensorFlow when nothing is
new).
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

MAX_SHARDS = 16


def content_hash(data: bytes) -> str:
    """The cache key of an image: a hash of its file's bytes (the same image under any name or path)."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pixmap"


def model_key(model: str, weights) -> str:
    """A folder name for (model, weights): a weights file is identified by its content."""
    if weights in (None, "default"):
        tag = "random" if weights is None else "default"
    else:
        h = hashlib.blake2b(digest_size=8)
        with open(weights, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        tag = "w-" + h.hexdigest()
    return re.sub(r"[^A-Za-z0-9._-]", "_", f"{model}-{tag}")


class FeatureCache:
    """Feature vectors keyed by content hash, stored as a few `.npz` shards in one folder per model.

        cache = FeatureCache(cache_dir, model_key("efficientnet-lite0", "default"))
        vec = cache.get(key)            # or None
        cache.put(keys, vectors)        # kept in memory ...
        cache.save()                    # ... and written as one new shard
    A random-weights model is never cached (its vectors change with every initialisation).
    """

    def __init__(self, folder: Path | None, key: str, enabled: bool = True):
        self.enabled = enabled and folder is not None and not key.endswith("-random")
        self.folder = Path(folder) / key if folder is not None else None
        self._vectors: dict[str, np.ndarray] = {}
        self._new_keys: list[str] = []
        self._new_vecs: list[np.ndarray] = []
        if self.enabled and self.folder.is_dir():
            for shard in sorted(self.folder.glob("shard-*.npz")):
                try:
                    with np.load(shard) as z:
                        for k, v in zip(z["keys"].tolist(), z["vectors"]):
                            self._vectors[k] = v
                except Exception as exc:  # a damaged shard only costs recomputation
                    log.warning("ignoring damaged feature cache file %s (%s)", shard, exc)

    def __len__(self) -> int:
        return len(self._vectors)

    def get(self, key: str) -> np.ndarray | None:
        return self._vectors.get(key)

    def put(self, keys: list[str], vectors: np.ndarray) -> None:
        for k, v in zip(keys, vectors):
            if k not in self._vectors:
                self._vectors[k] = v
                self._new_keys.append(k)
                self._new_vecs.append(v)

    def save(self) -> None:
        if not self.enabled or not self._new_keys:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        shards = sorted(self.folder.glob("shard-*.npz"))
        if len(shards) >= MAX_SHARDS:  # compact: everything into one shard
            keys, vecs = list(self._vectors), np.stack(list(self._vectors.values()))
        else:
            keys, vecs, shards = self._new_keys, np.stack(self._new_vecs), []
        name = self.folder / f"shard-{time.time_ns()}.npz"
        tmp = name.with_suffix(".tmp.npz")
        np.savez(tmp, keys=np.array(keys), vectors=vecs.astype(np.float32))
        tmp.rename(name)
        for old in shards:
            old.unlink(missing_ok=True)
        self._new_keys, self._new_vecs = [], []
