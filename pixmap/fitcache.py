"""A cache of seeded fits (UMAP embeddings, kNN graphs), keyed by everything that decides their result.

A rebuild whose images did not change has the same features, so the same PCA-reduced input: its UMAP fits
(the map, the 3D map, the descriptor spaces, the clustering space) and its neighbour search would give the
same arrays again, bit for bit (they are seeded). They are the slowest part of such a rebuild, so a build
keeps their results in ``<cache>/fits/`` and looks them up first.

The key is a BLAKE2b hash of: what is fitted (its kind and this module's FORMAT), every input array's dtype,
shape and bytes, every parameter, and the versions of the libraries that compute it (pixmap, umap-learn,
pynndescent, numba, numpy, scikit-learn). Anything else changes the key, and then the fit runs again.
Unseeded fits are never cached (they are not reproducible anyway).

A build turns the cache on for its own duration with ``using(folder)``; outside it (a library call, a test
comparing two fits) ``cached`` simply computes. Entries are written atomically (a temporary file, then
``os.replace``), so builds sharing a cache folder never see half an entry; an unreadable entry is
computed again and replaced. Nothing is ever evicted: delete the folder to reclaim its space.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
from pathlib import Path

import numpy as np

log = logging.getLogger("pixmap")

FORMAT = 1            # bump when what a key means changes
_lock = threading.Lock()
_folder: Path | None = None   # the build's folder (set by `using`; seen by every thread of the build)
_counts = {"hits": 0, "misses": 0}


@contextlib.contextmanager
def using(folder):
    """Look up and keep fits in `folder` (a path, or None: off) until the block ends."""
    global _folder
    with _lock:
        before, _folder = _folder, (Path(folder) if folder else None)
    try:
        yield
    finally:
        with _lock:
            _folder = before


def folder_of(cache_dir) -> Path | None:
    """The fit cache's folder inside a build's cache folder (None: no cache)."""
    return Path(cache_dir) / "fits" if cache_dir else None


def stats() -> dict:
    """{"hits": n, "misses": n} since the process started (for the build's log and the tests)."""
    return dict(_counts)


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    from . import __version__

    out = {"pixmap": __version__, "format": FORMAT}
    for dist in ("umap-learn", "pynndescent", "numba", "numpy", "scikit-learn"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    return out


_VERSIONS: dict | None = None


def key_of(kind: str, arrays: dict, params: dict) -> str:
    """The hash of a fit: its kind, its input arrays (name -> array or None) and its parameters (JSON)."""
    global _VERSIONS
    if _VERSIONS is None:
        _VERSIONS = _versions()
    h = hashlib.blake2b(digest_size=20)
    h.update(json.dumps({"kind": kind, "params": params, "versions": _VERSIONS}, sort_keys=True,
                        default=str).encode())
    for name in sorted(arrays):
        a = arrays[name]
        if a is None:
            h.update(f"{name}:none;".encode())
            continue
        a = np.ascontiguousarray(a)
        h.update(f"{name}:{a.dtype.str}:{a.shape};".encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()


def cached(kind: str, arrays: dict, params: dict, compute):
    """`compute()` (a function returning one array or a tuple of arrays), or what it returned last time for
    the same kind, arrays and params, when a build's fit cache is on."""
    folder = _folder
    if folder is None:
        return compute()
    key = key_of(kind, arrays, params)
    path = folder / key[:2] / f"{key}.npz"
    try:
        with np.load(path, allow_pickle=False) as z:
            parts = [z[f"a{i}"] for i in range(int(z["count"]))]
            single = bool(z["single"])
        _counts["hits"] += 1
        return parts[0] if single else tuple(parts)
    except FileNotFoundError:
        pass
    except Exception as exc:  # noqa: BLE001 (a damaged entry: computed again and replaced)
        log.info("fit cache: %s unreadable (%s): computed again", path, exc)
    _counts["misses"] += 1
    out = compute()
    single = not isinstance(out, tuple)
    parts = [out] if single else list(out)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{key}.{os.getpid()}.{threading.get_ident()}.tmp")
        with open(tmp, "wb") as f:
            np.savez(f, count=len(parts), single=single, **{f"a{i}": np.asarray(p) for i, p in enumerate(parts)})
        os.replace(tmp, path)
    except OSError as exc:   # a full disk or a read-only cache: the build goes on without keeping it
        log.info("fit cache: cannot keep %s (%s)", path, exc)
        with contextlib.suppress(OSError):
            tmp.unlink()
    return out
