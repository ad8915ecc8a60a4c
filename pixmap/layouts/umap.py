"""UMAP layouts: PCA reduction, nearest neighbours, UMAP (2D, 3D, supervised) and a numba warm-up.

The numba cost of umap-learn, and what this module does about it:
- pynndescent's NNDescent compiles for ~20 s in every new process. `knn` avoids it with an exact
  brute-force search (scikit-learn's chunked, multi-threaded ArgKmin; no numba) up to `EXACT_KNN_MAX`
  points, and passes the result to UMAP as `precomputed_knn`, so UMAP never builds its own index.
- UMAP's own functions (fuzzy simplicial set, layout optimiser) compile for ~4-6 s per process.
  `warm_up()` pays that on a tiny input, e.g. in a thread while features are being computed.
- `enable_numba_cache()` (called automatically; PIXMAP_NUMBA_CACHE=0 turns it off) switches numba's
  on-disk cache on for umap-learn's and pynndescent's jitted functions, so a second process loads
  the compiled code instead of compiling again.

At a million images (bench/bench_scale_build.py measures it):
- `reduce_pca` takes the features as a read-only memmap, fits on a seeded sample of PCA_SAMPLE rows and
  projects every row in chunks, letting go of the file's pages as it goes (`release_pages`).
- `knn` (pynndescent there) and `umap_layout` copy the reduced features only where they hold NaN or
  inf; UMAP runs from the precomputed kNN graph, never building a second index, and starts from PCA
  coordinates above SPECTRAL_INIT_MAX points (its spectral init needs n * sqrt(n) floats).
- `import_umap` keeps TensorFlow out of a process that has not loaded it (~650 MB).
"""
from __future__ import annotations

import threading
import warnings

import numpy as np

from .. import fitcache
from .base import Layout

# Above this many points `knn` switches from exact brute force to pynndescent (approximate). Measured on
# 2 cores, d=50, k=15 (bench/bench_layouts.py --knn): exact 5 s at 30k, 7-15 s at 60k, 34-38 s at 100k;
# pynndescent warm 0.5 / 1.3 / 3-11 s (recall 0.98-0.99), but its first call in a process compiles for
# ~50 s without numba's cache and ~13 s with it (enable_numba_cache). The crossover is ~60k points with
# the cache and ~110k without.
EXACT_KNN_MAX = 75_000

# Above this many points UMAP starts from PCA coordinates instead of its spectral embedding. umap-learn's
# spectral init (scipy's eigsh) keeps sqrt(n) Lanczos vectors of n floats: 0.25 GB at 100k points, 2.8 GB
# at 500k, 8 GB at 1M (measured: 8.5 GB and rising after 10 min, when it was stopped). Measured on 100k
# rows of real features (bench/bench_scale_build.py data, 200 epochs, 2 cores): spectral init 17 s before
# the optimiser, map quality 0.264 of each point's 9 neighbours kept, 0.759 10-NN same class; PCA init
# ~0 s, 0.266 and 0.763. So the same quality, none of the memory; below the limit nothing changes.
SPECTRAL_INIT_MAX = 100_000

_EXACT_METRICS = ("cosine", "euclidean")
_warm_lock = threading.Lock()
_warmed: set = set()
_cache_lock = threading.Lock()
_cache_done = False


def import_umap():
    """umap-learn, imported without TensorFlow when TensorFlow is not loaded already.

    `import umap` imports umap.parametric_umap, which imports TensorFlow (~650 MB of memory, seconds)
    for ParametricUMAP, which pixmap does not use. When TensorFlow is not in this process yet (a build
    whose features all came from the cache, a layout benchmark), that submodule is held back during the
    import: umap-learn then offers a placeholder ParametricUMAP (it handles a missing TensorFlow that
    way), and `from umap.parametric_umap import ParametricUMAP` still works later.
    """
    import sys

    if "umap" in sys.modules:
        return sys.modules["umap"]
    hold = "tensorflow" not in sys.modules and "umap.parametric_umap" not in sys.modules
    if hold:
        sys.modules["umap.parametric_umap"] = None   # makes its import raise ImportError
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ImportWarning)
            import umap
    finally:
        if hold and "umap.parametric_umap" in sys.modules and sys.modules["umap.parametric_umap"] is None:
            del sys.modules["umap.parametric_umap"]
    return umap


_nogil_lock = threading.Lock()
_nogil_done = None


def release_gil_in_optimiser() -> bool:
    """Let seeded UMAP fits run side by side in threads (pixmap.layouts.compute_layouts with an executor).

    umap-learn's seeded optimiser (single-threaded, for reproducibility) runs each epoch in a numba function
    compiled without nogil, so a second thread's fit waits for the GIL at every epoch and two fits take as
    long as one after the other. This compiles the same Python function again with nogil=True and otherwise
    umap-learn's flags (fastmath, not parallel) and puts it where umap-learn looks it up: the same code in
    the same order, so the same bits, and now two layouts use two cores. Idempotent; False (and nothing
    changed) when umap-learn's internals are not what this expects.
    """
    global _nogil_done
    with _nogil_lock:
        if _nogil_done is not None:
            return _nogil_done
        _nogil_done = False
        try:
            import numba

            import_umap()
            from umap import layouts as ul

            serial = ul._nb_optimize_layout_euclidean_single_epoch
            if (ul._get_optimize_layout_euclidean_single_epoch_fn(False) is not serial
                    or serial.targetoptions.get("parallel") or not hasattr(serial, "py_func")):
                return False
            if serial.targetoptions.get("nogil"):
                _nogil_done = True
                return True
            ul._nb_optimize_layout_euclidean_single_epoch = numba.njit(
                serial.py_func, fastmath=True, parallel=False, nogil=True)
            _nogil_done = True
        except Exception:  # an optimisation only: the layouts then run one after the other's epochs
            return False
        return True


def enable_numba_cache() -> int:
    """Persist umap-learn's and pynndescent's numba compilations across processes.

    Most of their jitted functions are not declared cache=True, so every new process recompiles them
    (UMAP ~4 s, NNDescent ~20 s). This switches numba's on-disk cache on for each module-level
    dispatcher whose Python function is jitted only once (umap's optimiser exists in a serial and a
    parallel copy of one function; those share a cache key, so they are left alone). The cache lives
    where numba puts it (the package's __pycache__, or the user's cache folder when that is read-only,
    or NUMBA_CACHE_DIR) and is invalidated by numba when the library's source files change.
    Set PIXMAP_NUMBA_CACHE=0 to skip. Idempotent; returns how many dispatchers it switched on.
    """
    global _cache_done
    import os

    with _cache_lock:
        if _cache_done or os.environ.get("PIXMAP_NUMBA_CACHE", "1") == "0":
            return 0
        _cache_done = True
        count = 0
        try:
            import importlib
            import pkgutil

            from numba.core.registry import CPUDispatcher

            modules = []
            import_umap()
            for pkg in ("umap", "pynndescent"):
                root = importlib.import_module(pkg)
                for info in pkgutil.iter_modules(root.__path__):
                    if "parametric" in info.name or info.name.startswith(("plot", "tests")):
                        continue
                    try:
                        modules.append(importlib.import_module(f"{pkg}.{info.name}"))
                    except Exception:  # optional extras (plotting, tensorflow) may be missing
                        continue
            by_func: dict[int, list] = {}
            for mod in modules:
                for obj in list(vars(mod).values()):
                    if isinstance(obj, CPUDispatcher):
                        group = by_func.setdefault(id(obj.py_func), [])
                        if obj not in group:
                            group.append(obj)
            for group in by_func.values():
                if len(group) == 1 and type(group[0]._cache).__name__ == "NullCache":
                    group[0].enable_caching()
                    count += 1
        except Exception:  # the cache is an optimisation only
            return count
        return count


# reduce_pca: at most this many rows fit the PCA (a seeded random sample of them above it); every row is
# then projected in chunks of PCA_CHUNK rows. Up to PCA_SAMPLE rows the result is exactly that of a PCA
# fitted on all rows. 50,000 rows of 1280 floats are 256 MB. Measured on 1M rows of real features
# (bench/bench_scale_build.py): 100 components fitted on the sample keep 0.7995 of the variance of all
# rows, the best 100 (a fit on every row) 0.8004; 31 s and 1.1 GB peak for the whole process.
PCA_SAMPLE = 50_000
PCA_CHUNK = 16_384


def _mapping_of(a):
    """The mmap.mmap behind a numpy memmap (or a view of one) opened read-only or shared, else None."""
    seen = 0
    while a is not None and seen < 32:
        mm = getattr(a, "_mmap", None)
        if mm is not None:
            # "c" (copy-on-write) maps privately: dropping its pages would drop the caller's changes
            return mm if getattr(a, "mode", "c") in ("r", "r+", "w+", "readonly", "readwrite", "write") else None
        a = getattr(a, "base", None)
        seen += 1
    return None


def release_pages(a) -> None:
    """Let go of the pages of a file-backed memmap that this process has read (madvise DONTNEED).

    Reading a memmap keeps every page read resident in this process (counted in its RSS) until the
    kernel needs the memory; streaming a 5 GB feature file would show as 5 GB of RSS. The data stays in
    the file and the page cache, so later reads are as fast. A no-op for in-memory arrays.
    """
    import mmap

    mm = _mapping_of(a)
    if mm is None or not hasattr(mm, "madvise") or getattr(mm, "closed", False):
        return
    try:
        mm.madvise(mmap.MADV_DONTNEED)
    except (OSError, ValueError):  # an optimisation only
        pass


def _finite(chunk: np.ndarray) -> np.ndarray:
    """float32 rows with NaN/inf replaced as np.nan_to_num does; copies only when something is replaced
    (or the dtype differs)."""
    c = np.asarray(chunk, dtype=np.float32)
    if not np.isfinite(c).all():
        c = np.nan_to_num(np.array(c, dtype=np.float32), copy=False)
    return c


def _pca_solver(n: int, d: int, k: int) -> str:
    # "full" for small inputs; randomized SVD when we keep a small part of a large matrix; otherwise
    # sklearn's own choice (covariance eigh when n >> d).
    if max(n, d) <= 1000:
        return "full"
    if k < 0.8 * min(n, d) and n * d > 5_000_000:
        return "randomized"
    return "auto"


def reduce_pca(features: np.ndarray, n_components: int = 50, seed: int = 0, *, sample: int = PCA_SAMPLE,
               chunk: int = PCA_CHUNK) -> np.ndarray:
    """Project features onto their first principal components (float32 (n, k), not whitened).

    Keeps k = min(n, d, n_components) components; uses a randomized SVD for large inputs. `features`
    may be a read-only memmap (e.g. the build's features.npy): it is never modified or loaded whole.
    Up to `sample` rows: the PCA is fitted on all rows (exactly as before there was a sampled path).
    Above: fitted on a seeded random sample of `sample` rows, then every row is projected in chunks of
    `chunk` rows, so the extra memory is the sample plus the (n, k) result (1M x 100: 400 MB).
    Deterministic for a given input and seed.
    """
    if not isinstance(features, np.ndarray):
        features = np.asarray(features, dtype=np.float32)
    if features.ndim != 2:
        raise ValueError(f"features must be 2-D, got shape {features.shape}")
    n, d = features.shape
    k = max(0, min(n, d, int(n_components)))
    if n <= 1 or k == 0:
        return np.zeros((n, k), dtype=np.float32)
    from sklearn.decomposition import PCA

    sample = max(2, int(sample))
    if n <= sample:
        x = np.asarray(features, dtype=np.float32)
        if x is features or not x.flags.writeable or _mapping_of(x) is not None:
            x = np.array(x, dtype=np.float32)  # never write into the caller's array or file
        release_pages(features)
        x = np.nan_to_num(x, copy=False)
        pca = PCA(n_components=k, whiten=False, svd_solver=_pca_solver(n, d, k), random_state=seed)
        return np.ascontiguousarray(pca.fit_transform(x), dtype=np.float32)

    rows = np.sort(np.random.default_rng(seed).choice(n, size=sample, replace=False))
    fit_rows = np.empty((sample, d), dtype=np.float32)
    step = max(1, int(chunk))
    # in small pieces: each scattered row a memmap reads maps ~64 KB around it (the kernel's fault-around)
    piece = max(1, min(step, 2048))
    for a in range(0, sample, piece):
        fit_rows[a:a + piece] = _finite(features[rows[a:a + piece]])
        release_pages(features)
    k = min(k, sample)
    pca = PCA(n_components=k, whiten=False, svd_solver=_pca_solver(sample, d, k), random_state=seed)
    pca.fit(fit_rows)
    del fit_rows
    components = np.ascontiguousarray(pca.components_.T, dtype=np.float32)   # (d, k)
    shift = (np.asarray(pca.mean_, dtype=np.float32) @ components)[None, :]
    out = np.empty((n, k), dtype=np.float32)
    for a in range(0, n, step):
        b = min(n, a + step)
        np.matmul(_finite(features[a:b]), components, out=out[a:b])
        out[a:b] -= shift
        release_pages(features)
    return out


def _self_first(idx: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Make column 0 of every row the point itself at distance 0 (UMAP expects it)."""
    n, k = idx.shape
    rows = np.arange(n)
    ok = idx[:, 0] == rows
    if ok.all():
        dist[:, 0] = 0
        return idx, dist
    for i in np.flatnonzero(~ok):
        where = np.flatnonzero(idx[i] == i)
        others = [j for j in range(k) if j not in set(where.tolist())][: k - 1]
        idx[i] = np.concatenate([[i], idx[i, others]])
        dist[i] = np.concatenate([[0.0], dist[i, others]])
    dist[:, 0] = 0
    return idx, dist


def _pair_distances(x: np.ndarray, idx: np.ndarray, metric: str, chunk: int = 8192) -> np.ndarray:
    """Distance (float64) from row i to rows idx[i, :], computed exactly, in chunks of rows."""
    n, k = idx.shape
    norms = np.linalg.norm(x.astype(np.float64), axis=1)
    safe = np.where(norms > 0, norms, 1.0)
    dist = np.empty((n, k), dtype=np.float64)
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        q = x[a:b].astype(np.float64)
        r = x[idx[a:b]].astype(np.float64)
        if metric == "cosine":
            d = 1.0 - np.einsum("ij,ikj->ik", q, r) / (safe[a:b, None] * safe[idx[a:b]])
            d[(norms[a:b, None] == 0) | (norms[idx[a:b]] == 0)] = 1.0
            dist[a:b] = np.clip(d, 0.0, 2.0)
        else:
            diff = q[:, None, :] - r
            dist[a:b] = np.sqrt(np.einsum("ikj,ikj->ik", diff, diff))
    return dist


def _exact_knn(x: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Exact kNN: sklearn's brute-force ArgKmin (chunked, multi-threaded, no numba) on euclidean
    distances (of unit vectors for cosine: same ranking), then distances recomputed in float64."""
    from sklearn.neighbors import NearestNeighbors

    x = np.ascontiguousarray(x, dtype=np.float32)
    n = x.shape[0]
    norms = np.linalg.norm(x, axis=1)
    y = x / np.where(norms > 0, norms, 1)[:, None] if metric == "cosine" else x
    nn = NearestNeighbors(n_neighbors=k, algorithm="brute", metric="euclidean").fit(y)
    idx = nn.kneighbors(y, return_distance=False).astype(np.int64)
    dist = _pair_distances(x, idx, metric)
    self_col = idx == np.arange(n)[:, None]
    dist[self_col] = -1.0
    order = np.lexsort((idx, dist), axis=1)           # by distance, ties by index
    idx = np.take_along_axis(idx, order, axis=1)
    dist = np.take_along_axis(dist, order, axis=1)
    return _self_first(idx, dist.astype(np.float32))


def knn(x: np.ndarray, n_neighbors: int, metric: str = "cosine",
        seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The n_neighbors nearest neighbours of every row, itself included (column 0, distance 0).

    Returns (indices int64 (n, k), distances float32 (n, k)), sorted by distance: the form
    umap.UMAP(precomputed_knn=(indices, distances)) accepts. k = min(n_neighbors, n).
    Exact (brute force, no numba) for cosine/euclidean up to EXACT_KNN_MAX points and for any sklearn
    metric on small n; pynndescent (approximate, ~20 s compile per process) beyond.
    """
    x = _finite(x)   # no copy of finite float32 input (1M x 100: 400 MB saved); nothing here writes to it
    n = x.shape[0]
    k = int(min(max(1, n_neighbors), n))
    if n == 0:
        return np.zeros((0, k), np.int64), np.zeros((0, k), np.float32)
    # a rebuild with the same input gets the same graph from the build's fit cache (pixmap.fitcache)
    return fitcache.cached("knn", {"x": x}, {"k": k, "metric": metric, "seed": None if seed is None else int(seed)},
                           lambda: _search(x, k, metric, seed))


def _search(x: np.ndarray, k: int, metric: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """knn's search, not cached."""
    n = x.shape[0]
    if metric in _EXACT_METRICS and n <= EXACT_KNN_MAX:
        return _exact_knn(x, k, metric)
    if n <= 20_000 or k >= n:
        from sklearn.neighbors import NearestNeighbors

        nn = NearestNeighbors(n_neighbors=k, algorithm="brute", metric=metric).fit(x)
        dist, idx = nn.kneighbors(x)
        return _self_first(idx.astype(np.int64), dist.astype(np.float32))
    enable_numba_cache()
    from pynndescent import NNDescent

    from numba.core.errors import NumbaWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=NumbaWarning)
        # for cosine, NNDescent works on a unit-normalised copy of its own (the one copy of x made here);
        # other metrics get a copy, so that nothing it does can reach the caller's array
        index = NNDescent(
            x if metric == "cosine" else np.array(x), metric=metric, n_neighbors=k, random_state=seed,
            n_trees=min(64, 5 + int(round(n ** 0.5 / 20.0))),
            n_iters=max(5, int(round(np.log2(n)))),
            max_candidates=60, low_memory=True, verbose=False,
        )
        idx, dist = index.neighbor_graph
        del index   # its search structures (forest leaves, normalised data) go now, before the copies below
    return _self_first(np.asarray(idx, dtype=np.int64), np.asarray(dist, dtype=np.float32))


def _trivial_coords(x: np.ndarray, dims: int) -> np.ndarray:
    """PCA coordinates (padded with zeros) for inputs too small for UMAP; 1 point -> origin."""
    x = np.nan_to_num(np.asarray(x, dtype=np.float64))
    n = x.shape[0]
    out = np.zeros((n, dims), dtype=np.float32)
    if n <= 1:
        return out
    c = x - x.mean(axis=0)
    u, s, _ = np.linalg.svd(c, full_matrices=False)
    m = min(dims, s.size)
    out[:, :m] = (u[:, :m] * s[:m])
    if not np.any(out):  # all points identical: a small circle so they stay apart
        t = 2 * np.pi * np.arange(n) / n
        out[:, 0], out[:, 1 % dims] = np.cos(t), np.sin(t)
    return out


def _layout_meta(dims: int, labels_given: bool, name: str | None):
    if name is None:
        name = "umap-supervised" if labels_given else ("umap" if dims == 2 else f"umap-{dims}d")
    if labels_given:
        label = "UMAP (supervised)"
    else:
        label = "UMAP" if dims == 2 else f"UMAP {dims}D"
    return name, label


def umap_layout(x: np.ndarray, n_neighbors: int = 15, min_dist: float = 0.1, metric: str = "cosine",
                dims: int = 2, seed: int = 0, labels=None, name: str | None = None, *,
                neighbors: tuple[np.ndarray, np.ndarray] | None = None,
                n_epochs: int | None = None, init=None, target_weight: float = 0.5,
                negative_sample_rate: int = 10, cache: bool = True) -> Layout:
    """UMAP of x (n, d) into `dims` dimensions, seeded: same input + seed -> identical positions.

    labels: optional ints per row (-1 = unknown) -> supervised UMAP (target_metric "categorical").
    neighbors: optional (indices, distances) from knn(x, >= n_neighbors, metric), to reuse across calls.
    Inputs too small for UMAP (n < 8, or n < dims + 3) get PCA coordinates; n <= n_neighbors uses
    n_neighbors = n - 1. Name defaults to "umap", "umap-3d" or "umap-supervised".
    init: None (default) is "spectral" up to SPECTRAL_INIT_MAX rows and "pca" above (see there); or any
    init umap-learn takes ("spectral", "pca", "random", an (n, dims) array).
    n_epochs: None is umap-learn's default (500 up to 10,000 rows, 200 above).
    Note: random_state makes umap-learn run single-threaded; that is the price of reproducibility.
    seed=None: not reproducible, but umap-learn runs its optimiser on all cores.
    cache: look the positions up in (and keep them in) a build's fit cache (pixmap.fitcache), when it is on
    and the fit is seeded.
    """
    x = _finite(x)   # (copies only where something is not finite)
    if x.ndim != 2:
        raise ValueError(f"x must be 2-D, got shape {x.shape}")
    n = x.shape[0]
    y = None
    if labels is not None:
        y = np.asarray(labels).astype(np.int64).reshape(-1)
        if y.shape[0] != n:
            raise ValueError(f"labels has {y.shape[0]} entries for {n} rows")
    lname, llabel = _layout_meta(dims, y is not None, name)
    k = int(min(n_neighbors, n - 1))
    params = {"n_neighbors": int(n_neighbors), "min_dist": float(min_dist), "metric": metric,
              "seed": None if seed is None else int(seed)}
    if y is not None:
        known = np.unique(y[y >= 0])
        params["supervised"] = bool(known.size >= 2)
        if known.size < 2:  # nothing to supervise with
            y = None
    if n < max(8, dims + 3) or k < 2:
        pos = _trivial_coords(x, dims)
        return Layout(name=lname, label=llabel, positions=pos, params=params | {"method": "pca"})

    if neighbors is None or neighbors[0].shape[1] < k or neighbors[0].shape[0] != n:
        neighbors = knn(x, k + 1 if k < n_neighbors else k, metric, seed=seed or 0)
    kk = min(k if k < n_neighbors else n_neighbors, neighbors[0].shape[1])
    idx = np.ascontiguousarray(neighbors[0][:, :kk])
    dist = np.ascontiguousarray(neighbors[1][:, :kk], dtype=np.float32)

    if init is None:
        init = "spectral" if n <= SPECTRAL_INIT_MAX else "pca"
    fit = lambda: _fit(x, y, idx, dist, kk, min_dist, dims, metric, seed, n_epochs, init,  # noqa: E731
                       target_weight, negative_sample_rate)
    if seed is None or not cache:   # unseeded (not reproducible) fits are never cached
        pos = fit()
    else:              # a rebuild with the same input gets the same positions from the build's fit cache
        init_array = None if isinstance(init, str) else np.asarray(init)
        pos = fitcache.cached("umap", {"x": x, "y": y, "idx": idx, "dist": dist, "init": init_array},
                              {"n_neighbors": kk, "min_dist": float(min_dist), "dims": int(dims), "metric": metric,
                               "seed": int(seed), "n_epochs": n_epochs,
                               "init": init if isinstance(init, str) else "array",
                               "target_weight": float(target_weight),
                               "negative_sample_rate": int(negative_sample_rate)}, fit)
    return Layout(name=lname, label=llabel, positions=pos, params=params)


def _fit(x, y, idx, dist, kk, min_dist, dims, metric, seed, n_epochs, init, target_weight, negative_sample_rate):
    """umap-learn's fit of x on the given neighbours: (n, dims) float32 positions, never NaN."""
    enable_numba_cache()
    release_gil_in_optimiser()
    UMAP = import_umap().UMAP
    from numba.core.errors import NumbaWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=NumbaWarning)
        warnings.filterwarnings("ignore", message=".*knn_search_index.*")
        warnings.filterwarnings("ignore", message=".*n_jobs value.*")
        warnings.filterwarnings("ignore", message=".*n_neighbors is larger than the dataset.*")
        warnings.filterwarnings("ignore", category=UserWarning, module="umap")
        model = UMAP(
            n_neighbors=kk, min_dist=min_dist, n_components=dims, metric=metric,
            random_state=seed, n_jobs=1 if seed is not None else -1,
            precomputed_knn=(idx, dist), n_epochs=n_epochs,
            init=init, target_metric="categorical", target_weight=target_weight,
            negative_sample_rate=negative_sample_rate,
            low_memory=True, verbose=False,
        )
        pos = model.fit_transform(x, y=y)
    pos = np.asarray(pos, dtype=np.float32)
    if not np.isfinite(pos).all():  # never hand out NaNs: fall back to PCA for broken rows
        bad = ~np.isfinite(pos).all(axis=1)
        pos[bad] = _trivial_coords(x, dims)[bad]
    return pos


def warm_up(dims=(2,), supervised: bool = False) -> list[tuple[int, bool]]:
    """Compile umap-learn's numba functions on a tiny input (safe to call from a thread, idempotent).

    Takes the same code path as umap_layout (precomputed exact knn, spectral init, the seeded
    single-threaded optimiser), so a later real fit in this process skips that compilation.
    Returns the (dims, supervised) variants this call ran; [] when all were warm already.
    """
    if isinstance(dims, int):
        dims = (dims,)
    release_gil_in_optimiser()   # (before the fit below, so that it compiles the copy the layouts will use)
    done: list[tuple[int, bool]] = []
    with _warm_lock:
        rng = np.random.default_rng(0)
        x = rng.normal(size=(64, 8)).astype(np.float32)
        x[:32] += 3
        for d in dims:
            for sup in ((False, True) if supervised else (False,)):
                key = (d, sup)
                if key in _warmed:
                    continue
                labels = np.repeat([0, 1], 32) if sup else None
                umap_layout(x, n_neighbors=10, dims=d, labels=labels, n_epochs=20, cache=False)  # (compiles)
                _warmed.add(key)
                done.append(key)
    return done


def procrustes_align(moving: np.ndarray, target: np.ndarray) -> np.ndarray:
    """`moving` rotated/reflected, scaled and shifted to best match `target` (least squares)."""
    a = np.asarray(target, dtype=np.float64)
    b = np.asarray(moving, dtype=np.float64)
    if b.shape[0] < 2:
        return b.astype(np.float32)
    ma, mb = a.mean(0), b.mean(0)
    a0, b0 = a - ma, b - mb
    u, s, vt = np.linalg.svd(b0.T @ a0)
    rot = u @ vt
    norm = (b0 ** 2).sum()
    scale = s.sum() / norm if norm > 0 else 1.0
    return (scale * b0 @ rot + ma).astype(np.float32)


def variant_name(n_neighbors: int, min_dist: float, dims: int = 2) -> str:
    base = "umap" if dims == 2 else f"umap-{dims}d"
    return f"{base}-n{int(n_neighbors)}-d{min_dist:g}"


def umap_variants(x: np.ndarray, n_neighbors_list=(5, 15, 50), min_dist_list=(0.01, 0.1, 0.5),
                  seed: int = 0, metric: str = "cosine", dims: int = 2,
                  reference: Layout | None = None, neighbors=None,
                  init_from_reference: bool = True) -> list[Layout]:
    """UMAP for every (n_neighbors, min_dist) pair, aligned to one another for a slider.

    Neighbours are searched once (for the largest n_neighbors) and sliced for the others. The
    reference is `reference` (e.g. the main "umap" layout) or else the pair nearest (15, 0.1), fitted
    first; every other variant starts from the reference's positions (init) and is then
    Procrustes-aligned to it (rotation/reflection, scale, shift), so sliding between variants moves
    points as little as the parameters allow. Layouts: name "umap-n{k}-d{min_dist}", group "umap",
    params {"n_neighbors", "min_dist"}; in the order of the lists (n_neighbors outer).
    """
    x = _finite(x)   # (copies only where something is not finite)
    combos = [(int(k), float(d)) for k in n_neighbors_list for d in min_dist_list]
    if not combos:
        return []
    kmax = max(k for k, _ in combos)
    if neighbors is None or neighbors[0].shape[1] < min(kmax, x.shape[0]):
        neighbors = knn(x, kmax, metric, seed=seed or 0)
    ref_key = min(combos, key=lambda kd: (abs(np.log(kd[0] / 15)), abs(kd[1] - 0.1)))
    results: dict[tuple, np.ndarray] = {}
    if reference is not None:
        ref_pos = np.asarray(reference.positions, dtype=np.float32)
        rp = reference.params
        if (rp.get("n_neighbors"), rp.get("min_dist")) in combos:
            results[(int(rp["n_neighbors"]), float(rp["min_dist"]))] = ref_pos
    else:
        ref_pos = umap_layout(x, ref_key[0], ref_key[1], metric, dims, seed,
                              neighbors=neighbors).positions
        results[ref_key] = ref_pos
    usable_init = ref_pos.shape[0] >= max(8, dims + 3) and np.isfinite(ref_pos).all()
    for k, d in combos:
        if (k, d) in results:
            continue
        init = None
        if init_from_reference and usable_init:
            init = ref_pos.astype(np.float32)
        pos = umap_layout(x, k, d, metric, dims, seed, neighbors=neighbors, init=init).positions
        results[(k, d)] = procrustes_align(pos, ref_pos)
    out = []
    for k, d in combos:
        out.append(Layout(name=variant_name(k, d, dims), label=f"UMAP (n_neighbors={k}, min_dist={d:g})",
                          positions=np.asarray(results[(k, d)], dtype=np.float32), group="umap",
                          params={"n_neighbors": k, "min_dist": d, "metric": metric,
                                  "seed": None if seed is None else int(seed)}))
    return out
