"""Everything after the model at up to 1,000,000 images: seconds and peak memory per stage.

    python bench/bench_scale_build.py                          # 1,000,000 rows
    python bench/bench_scale_build.py --n 100000
    python bench/bench_scale_build.py --n 100000 --stages pca,knn,umap,grid,hotspots
    python bench/bench_scale_build.py --n 100000 --stages umap-3d,umap-spread   # (and what they need)
    python bench/bench_scale_build.py --reuse --stages grid,hotspots   # pca, knn, umap of the last run

What runs, as the build runs it (pixmap.pipeline), with the build's default options (options.DEFAULTS):
features.npy opened read-only as a memmap -> layouts.umap.reduce_pca -> knn -> UMAP 2D -> the other
layouts `layouts.auto_layouts(n)` keeps at this size (or those named in --stages) -> clusters.hotspots.
They run in a fresh process (no TensorFlow in it, as in a build whose features are all cached), which
prints per stage the seconds, the peak resident memory during the stage (VmRSS sampled every 20 ms,
and exact where the stage set a new high-water mark; with its anonymous and file-backed parts) and
the process's peak so far (VmHWM, /proc/self/status). Not ru_maxrss: on Linux a child's ru_maxrss
starts at its parent's peak (it survives fork and exec), and the parent wrote the 5 GB of rows.
Quality figures follow, computed after the timed stages (so they do not count in the peak): the share
of the variance of all rows the sampled PCA keeps (against a fit on every row, from the exact
covariance), kNN recall against exact search, how many of a row's feature-space neighbours stay near
it in the map, the flower class agreement of 10-NN in the map, the grid's neighbourhood preservation,
the hotspots found.

The vectors are real: the flowers5 photos (4,317; ../shared/datasets/flowers5, see its README) through
pixmap's default model (efficientnet-lite0, 1280 floats), computed once and kept in a feature cache
(--cache-dir, default <pixmap's cache folder>/bench; ~3 min on 2 cores the first time). Row i of the
benchmark is photo i mod 4,317 plus seeded Gaussian jitter shaped like the photos' own covariance (its
top 256 principal directions, 88% of the variance), scaled so that the jitter's expected length is
JITTER (1.0) times the median distance from a photo to its nearest other photo (10.1 in these
features; a photo's rms distance to the mean photo is 12.0). The rows are written to a .npy file
(--work-dir, kept for reruns with the same --n and --seed) and opened read-only as a memmap, as the
build does with the image pass's output.

What that leaves out: a real collection of a million images has a million distinct images, with more
distinct structure (many more small groups, near-duplicates, outliers) than 4,317 photos seen 232
times each. Here a row's nearest neighbours are mostly copies of the same photo (the "own photo share"
printed: 0.57 of 9 neighbours at 100k rows, 0.81 at 1M), so the kNN graph is made of tight clumps,
loosely joined: NN-descent converges faster and HDBSCAN's task differs from real data, and which of
the ~232 interchangeable copies of a photo lie nearest in the map is chance (so "neighbours kept in
the map" falls from 0.26 at 100k to 0.07 at 1M while the class agreement rises). PCA, UMAP's
optimiser, the grid and the metadata layouts cost about the same per row whatever the structure. The
metadata layouts get synthetic columns (category = the flower class; title = the photo's name and
copy number; year and lat/lng from a seeded generator, 10% missing): only their cost is measured.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
FLOWERS = REPO.parent / "shared" / "datasets" / "flowers5"
JITTER = 1.0      # expected jitter length / median nearest-neighbour distance of the real vectors
RANK = 256        # principal directions the jitter is drawn in
CHUNK = 32_768    # rows generated at a time
DEFAULT_EPOCHS = "umap-learn's default (200 above 10,000 rows)"
STAGES = ("pca", "knn", "umap", "grid", "categorical", "date", "geographic", "alphabetic", "hotspots",
          "umap-spread", "umap-3d")
NEEDS = {"knn": ("pca",), "umap": ("knn",), "umap-3d": ("umap",), "grid": ("umap",), "umap-spread": ("umap",),
         "categorical": ("umap",), "date": ("umap",), "hotspots": ("umap",)}


# ---- memory ---------------------------------------------------------------------------------------------

def proc_status() -> dict[str, float]:
    """VmRSS, RssAnon, RssFile (MB) of this process, from /proc/self/status (Linux)."""
    out = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                key = line.split(":", 1)[0]
                if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                    out[key] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return out


def max_rss_mb() -> float:
    """This process's peak RSS since it started (VmHWM); ru_maxrss where /proc is missing (it may include
    the parent's peak)."""
    hwm = proc_status().get("VmHWM")
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Sampler(threading.Thread):
    """Samples VmRSS / RssAnon / RssFile every `every` seconds; peak() since the last mark()."""

    def __init__(self, every: float = 0.02):
        super().__init__(daemon=True)
        self.every = every
        self.lock = threading.Lock()
        self.mark()

    def mark(self) -> None:
        with self.lock:
            self._peak = proc_status()
            self._start_hwm = self._peak.get("VmHWM", 0.0)

    def peak(self) -> dict[str, float]:
        now = proc_status()
        with self.lock:
            out = {k: max(v, now.get(k, 0.0)) for k, v in self._peak.items()}
            if now.get("VmHWM", 0.0) > self._start_hwm:   # a new high-water mark: this stage's exact peak
                out["VmRSS"] = max(out.get("VmRSS", 0.0), now["VmHWM"])
            return out

    def run(self) -> None:
        while True:
            now = proc_status()
            with self.lock:
                for k, v in now.items():
                    if v > self._peak.get(k, 0.0):
                        self._peak[k] = v
            time.sleep(self.every)


# ---- the real vectors and the rows made from them ----------------------------------------------------------

def flower_features(cache_dir: Path, folder: Path = FLOWERS) -> tuple[np.ndarray, list[str], list[str]]:
    """(vectors (4317, 1280), labels, file names) of the flowers5 photos, by pixmap's default model,
    as the image pass computes them (decode, fit to the lightbox size, square to the model's input),
    through a FeatureCache so that only the first run computes them."""
    from pixmap import features, models
    from pixmap import images as imageio
    from pixmap.options import DEFAULTS

    with open(folder / "metadata.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    cache = features.FeatureCache(cache_dir, features.model_key(DEFAULTS["model"], DEFAULTS["weights"]))
    keys, todo = [], []
    for r in rows:
        raw = imageio.read(folder / r["filename"])
        key = features.content_hash(raw)
        keys.append(key)
        if cache.get(key) is None:
            todo.append((key, raw))
    if todo:
        print(f"computing {len(todo)} feature vectors with {DEFAULTS['model']} (once; cached in {cache_dir})",
              flush=True)
        t = time.perf_counter()
        model = models.load_model(DEFAULTS["model"], DEFAULTS["weights"], batch_size=DEFAULTS["batch_size"])
        size = models.input_size(DEFAULTS["model"])
        for a in range(0, len(todo), 32):
            part = todo[a:a + 32]
            batch = []
            for _, raw in part:
                im, _ = imageio.decode(raw, max_side=DEFAULTS["lightbox_size"])
                batch.append(imageio.square(imageio.fit(im, DEFAULTS["lightbox_size"]), size))
            cache.put([k for k, _ in part], model(np.stack(batch)))
        cache.flush()
        print(f"  {len(todo) / (time.perf_counter() - t):.0f} img/s", flush=True)
    x = np.stack([cache.get(k) for k in keys]).astype(np.float32)
    cache.close()
    return x, [r["label"] for r in rows], [Path(r["filename"]).stem for r in rows]


def jitter_basis(base: np.ndarray, jitter: float = JITTER, rank: int = RANK) -> tuple[np.ndarray, dict]:
    """B (rank, d) such that z @ B, z ~ N(0, I), is Gaussian with the shape of base's covariance in its
    top `rank` directions and an expected length of jitter x the median nearest-neighbour distance."""
    from sklearn.neighbors import NearestNeighbors

    dist, _ = NearestNeighbors(n_neighbors=2).fit(base).kneighbors(base)
    nn = float(np.median(dist[:, 1]))
    centred = base - base.mean(0)
    _, s, vt = np.linalg.svd(centred.astype(np.float64), full_matrices=False)
    var = s ** 2 / (len(base) - 1)
    r = min(rank, len(var))
    scale = jitter * nn / np.sqrt(var[:r].sum())
    basis = (np.sqrt(var[:r])[:, None] * vt[:r] * scale).astype(np.float32)
    info = {"median_nn_distance": nn, "rms_distance_to_mean": float(np.sqrt(var.sum())),
            "jitter_expected_length": float(jitter * nn), "jitter_rank": r,
            "jitter_variance_share": float(var[:r].sum() / var.sum())}
    return basis, info


def write_rows(path: Path, base: np.ndarray, n: int, seed: int, jitter: float) -> dict:
    """Row i = base[i % m] + seeded jitter, written chunk by chunk into a .npy (never all in memory)."""
    from pixmap.layouts.umap import release_pages

    basis, info = jitter_basis(base, jitter)
    m, d = base.shape
    tmp = path.with_name(path.name + ".part")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, d))
    for c, a in enumerate(range(0, n, CHUNK)):
        b = min(n, a + CHUNK)
        z = np.random.default_rng([seed, c]).standard_normal((b - a, basis.shape[0]), dtype=np.float32)
        out[a:b] = base[np.arange(a, b) % m] + z @ basis
        out.flush()
        release_pages(out)
    del out
    os.replace(tmp, path)
    return info


def columns_for(n: int, labels: list[str], names: list[str], seed: int) -> dict[str, list]:
    """Metadata columns as the build passes them to the layouts (one value per row, None = missing)."""
    rng = np.random.default_rng(seed + 1)
    m = len(labels)
    years = rng.integers(1850, 2025, n)
    lat, lng = rng.uniform(-60, 70, n).round(4), rng.uniform(-180, 180, n).round(4)
    miss = rng.random((3, n)) < 0.10
    return {
        "category": [labels[i % m] for i in range(n)],
        "title": [f"{names[i % m]} #{i // m}" for i in range(n)],
        "year": [None if miss[0, i] else int(years[i]) for i in range(n)],
        "lat": [None if miss[1, i] else float(lat[i]) for i in range(n)],
        "lng": [None if miss[2, i] else float(lng[i]) for i in range(n)],
    }


# ---- the measured process --------------------------------------------------------------------------------

def with_needs(stages: list[str]) -> list[str]:
    want = set(stages)
    changed = True
    while changed:
        changed = False
        for s in list(want):
            for need in NEEDS.get(s, ()):
                if need not in want:
                    want.add(need)
                    changed = True
    return [s for s in STAGES if s in want]


def child(args) -> None:
    sampler = Sampler()
    sampler.start()
    t0 = time.perf_counter()
    from pixmap import clusters
    from pixmap.layouts import auto_layouts, compute_layouts
    from pixmap.layouts import umap as U
    from pixmap.options import DEFAULTS

    U.enable_numba_cache()
    U.import_umap()
    import hdbscan  # noqa: F401 (imported here so that its import is not counted in a stage)

    opts = dict(DEFAULTS)
    seed = int(opts["seed"])
    n_neighbors = int(str(opts["n_neighbors"]).split(",")[0])
    min_dist = float(str(opts["min_dist"]).split(",")[0])
    meta = json.loads(Path(args.child + ".json").read_text())
    x = np.load(args.child, mmap_mode="r")
    n = x.shape[0]
    stages = with_needs(args.stages.split(",")) if args.stages else with_needs(
        ["pca", "knn", "umap", *[a for a in auto_layouts(n) if a in STAGES], "hotspots"])
    cols = columns_for(n, meta["labels"], meta["names"], seed)
    base = proc_status()
    print(f"\n== {n:,} x {x.shape[1]} float32 rows ({x.nbytes / 1e9:.1f} GB memmap, read-only); "
          f"auto_layouts({n:,}) = {', '.join(auto_layouts(n))}", flush=True)
    print(f"   options: pca_components={opts['pca_components']}, n_neighbors={n_neighbors}, "
          f"min_dist={min_dist}, metric={opts['metric']}, seed={seed}; umap n_epochs="
          f"{args.umap_epochs or DEFAULT_EPOCHS}")
    print(f"   imports + metadata columns: {time.perf_counter() - t0:.1f} s, RSS {base.get('VmRSS', 0):.0f} MB "
          f"(anon {base.get('RssAnon', 0):.0f})", flush=True)
    print(f"   {'stage':<14}{'seconds':>9}{'peak RSS MB':>13}{'(anon':>8}{'file)':>7}{'VmHWM MB':>14}")
    res: dict = {"n": n, "stages": {}, "baseline_rss_mb": base.get("VmRSS")}
    state: dict = {}

    def run(name, fn):
        sampler.mark()
        t = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t
        pk = sampler.peak()
        rec = {"seconds": round(dt, 2), "peak_rss_mb": round(pk.get("VmRSS", 0)),
               "peak_anon_mb": round(pk.get("RssAnon", 0)), "peak_file_mb": round(pk.get("RssFile", 0)),
               "process_peak_mb": round(max_rss_mb())}
        res["stages"][name] = rec
        print(f"   {name:<14}{dt:>9.1f}{rec['peak_rss_mb']:>13}{rec['peak_anon_mb']:>8}{rec['peak_file_mb']:>7}"
              f"{rec['process_peak_mb']:>14}", flush=True)
        return out

    saved = Path(args.child + ".state")
    saved.mkdir(exist_ok=True)
    for name in stages:
        if args.reuse and name in ("pca", "knn", "umap") and (saved / f"{name}.npz").exists():
            with np.load(saved / f"{name}.npz") as z:
                if name == "umap":
                    from pixmap.layouts import Layout
                    state[name] = Layout(name="umap", label="UMAP", positions=z["a"])
                else:
                    state[name] = z["a"] if name == "pca" else (z["a"], z["b"])
            print(f"   {name:<14} loaded from {saved} (computed by an earlier run)", flush=True)
            continue
        if name == "pca":
            state["pca"] = run(name, lambda: U.reduce_pca(x, int(opts["pca_components"]), seed=seed))
        elif name == "knn":
            state["knn"] = run(name, lambda: U.knn(state["pca"], n_neighbors, opts["metric"], seed=seed))
        elif name == "umap":
            state["umap"] = run(name, lambda: U.umap_layout(
                state["pca"], n_neighbors, min_dist, opts["metric"], 2, seed, neighbors=state["knn"],
                n_epochs=args.umap_epochs))
        elif name == "hotspots":
            state["hotspots"] = run(name, lambda: clusters.hotspots(
                state["umap"].positions, state["pca"], cols["category"], opts["min_cluster_size"],
                int(opts["max_clusters"]), seed))
        else:
            made = run(name, lambda: compute_layouts(
                [name], features=state.get("pca"), umap=state.get("umap"), columns=cols, seed=seed,
                n_neighbors=n_neighbors, min_dist=min_dist, metric=opts["metric"], neighbors=state.get("knn"),
                group_by="category", sort_by="title"))
            state[name] = made[0] if made else None
        if name in ("pca", "knn") or (name == "umap" and not args.umap_epochs):   # for --reuse
            a = state[name]
            arrays = {"a": a} if name == "pca" else ({"a": a[0], "b": a[1]} if name == "knn" else {"a": a.positions})
            np.savez(saved / f"{name}.npz", **arrays)
    res["peak_rss_mb"] = round(max_rss_mb())
    total = sum(r["seconds"] for r in res["stages"].values())
    print(f"   {'total':<14}{total:>9.1f}   peak RSS of the process (VmHWM): {res['peak_rss_mb']} MB",
          flush=True)
    quality(x, state, meta, res, seed)
    print("BENCH_RESULT " + json.dumps(res), flush=True)


def quality(x, state, meta, res, seed) -> None:
    """Quality figures, after the timed stages (not counted in their memory)."""
    from scipy.spatial import cKDTree

    from pixmap.layouts import grid
    from pixmap.layouts import umap as U

    n = x.shape[0]
    m = len(meta["labels"])
    rng = np.random.default_rng(seed + 7)
    sample = np.sort(rng.choice(n, min(n, 20_000), replace=False))
    label_of = np.unique(meta["labels"], return_inverse=True)[1].reshape(-1)
    lab = label_of[np.arange(n) % m]
    q: dict = {}
    print("   quality:")
    if "pca" in state:
        # the exact covariance of all n rows, accumulated chunk by chunk: what a PCA fitted on every row
        # would keep, against what the sampled fit keeps
        d = x.shape[1]
        total, gram = np.zeros(d), np.zeros((d, d))
        for a in range(0, n, 16_384):
            c = np.asarray(x[a:a + 16_384], dtype=np.float64)
            total += c.sum(0)
            gram += c.T @ c
            U.release_pages(x)
        mean = total / n
        cov = gram / n - np.outer(mean, mean)
        k = state["pca"].shape[1]
        best = float(np.sort(np.linalg.eigvalsh(cov))[::-1][:k].sum() / np.trace(cov))
        kept = float(state["pca"].astype(np.float64).var(0).sum() / np.trace(cov))
        q.update(pca_variance_kept=kept, pca_variance_kept_by_a_full_fit=best)
        print(f"     PCA: share of the variance of all {n:,} rows kept by {k} components fitted on "
              f"{min(n, U.PCA_SAMPLE):,} rows: {kept:.4f}; by the best {k} (a fit on every row): {best:.4f}")
    if "knn" in state:
        idx = state["knn"][0]
        k = idx.shape[1]
        red = state["pca"]
        queries = sample[:300]
        norms = np.linalg.norm(red, axis=1)
        norms[norms == 0] = 1
        exact = np.empty((len(queries), k), np.int64)
        for j, i in enumerate(queries):
            sims = red @ (red[i] / norms[i]) / norms
            top = np.argpartition(-sims, k)[:k]
            exact[j] = top[np.argsort(-sims[top], kind="stable")]
        recall = np.mean([len(set(a) & set(b)) / k for a, b in zip(exact, idx[queries])])
        own = float((idx[sample, 1:] % m == (sample % m)[:, None]).mean())
        same = float((lab[idx[sample, 1:]] == lab[sample][:, None]).mean())
        q.update(knn_recall=float(recall), own_photo_share=own, knn_same_class=same)
        print(f"     kNN: recall against exact search ({len(queries)} queries) {recall:.3f}; of a row's "
              f"{k - 1} neighbours, copies of its own photo {own:.3f}, same flower class {same:.3f}")
    if "umap" in state:
        xy = state["umap"].positions.astype(np.float64)
        tree = cKDTree(xy)
        _, near = tree.query(xy[sample], 11)
        same2d = float((lab[near[:, 1:]] == lab[sample][:, None]).mean())
        if "knn" in state:
            idx = state["knn"][0]
            k = idx.shape[1]
            _, nk = tree.query(xy[sample], k)
            kept = float(np.mean([len(set(a[1:]) & set(b[1:])) / (k - 1) for a, b in zip(idx[sample], nk)]))
            q["umap_knn_kept"] = kept
            print(f"     UMAP: of a row's {k - 1} feature-space neighbours, {kept:.3f} are among its "
                  f"{k - 1} nearest in the map")
        q["umap_10nn_same_class"] = same2d
        print(f"     UMAP: 10 nearest in the map of the same flower class: {same2d:.3f}")
        if state.get("grid") is not None:
            q["grid_kept"] = grid.neighbourhood_kept(xy, state["grid"].positions, sample=20_000, seed=seed)
            print(f"     grid: 10-NN of the UMAP map kept in the grid: {q['grid_kept']:.3f}")
        if state.get("umap-spread") is not None:
            s = state["umap-spread"]
            q["spread_kept"] = grid.neighbourhood_kept(xy, s.positions, sample=20_000, seed=seed)
            print(f"     umap-spread: 10-NN kept {q['spread_kept']:.3f}, overlapping pairs left "
                  f"{s.params.get('overlaps_left')}")
    if "hotspots" in state:
        h = state["hotspots"]
        sizes = [s.size for s in h.hotspots]
        q["hotspots"] = {"method": h.method, "count": len(sizes), "sizes": sizes[:20],
                         "in_none": float((h.labels < 0).mean())}
        print(f"     hotspots: {h.method}, {len(sizes)} found, sizes {sizes[:8]}{' ...' if len(sizes) > 8 else ''}, "
              f"{q['hotspots']['in_none']:.3f} of the rows in none; labels "
              f"{[s.label for s in h.hotspots[:6]]}")
    res["quality"] = q


# ---- the driver ------------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000, help="rows (default 1,000,000)")
    ap.add_argument("--stages", default="", help=f"comma-separated, of {', '.join(STAGES)} (default: pca, knn, "
                    "umap, the layouts auto_layouts(n) keeps, hotspots); what a stage needs runs too")
    ap.add_argument("--seed", type=int, default=0, help="jitter seed")
    ap.add_argument("--jitter", type=float, default=JITTER, help="jitter length / median NN distance")
    ap.add_argument("--umap-epochs", type=int, default=None, help="override UMAP's n_epochs (to measure)")
    ap.add_argument("--cache-dir", type=Path, default=None, help="feature cache for the flowers5 vectors")
    ap.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()) / "pixmap-bench-scale",
                    help="where the rows' .npy is written (and kept for reruns)")
    ap.add_argument("--reuse", action="store_true", help="load pca, knn and umap results saved by an earlier "
                    "run with the same rows (in --work-dir) instead of computing them again")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return

    from pixmap import features

    cache_dir = args.cache_dir or features.default_cache_dir() / "bench"
    t = time.perf_counter()
    base, labels, names = flower_features(cache_dir)
    print(f"flowers5: {base.shape[0]} real vectors of {base.shape[1]} floats ({time.perf_counter() - t:.1f} s)")
    args.work_dir.mkdir(parents=True, exist_ok=True)
    path = args.work_dir / f"rows-{args.n}-s{args.seed}-j{args.jitter:g}.npy"
    meta_path = Path(str(path) + ".json")
    if path.exists() and meta_path.exists():
        info = json.loads(meta_path.read_text())["jitter"]
        print(f"reusing {path}")
    else:
        t = time.perf_counter()
        info = write_rows(path, base, args.n, args.seed, args.jitter)
        meta_path.write_text(json.dumps({"labels": labels, "names": names, "jitter": info}))
        print(f"wrote {args.n:,} rows to {path} in {time.perf_counter() - t:.1f} s")
    print("jitter: " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in info.items()))
    del base
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(path), "--stages", args.stages]
    if args.reuse:
        cmd.append("--reuse")
    if args.umap_epochs:
        cmd += ["--umap-epochs", str(args.umap_epochs)]
    sys.stdout.flush()
    rc = subprocess.call(cmd, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if rc:
        sys.exit(rc)


if __name__ == "__main__":
    main()
