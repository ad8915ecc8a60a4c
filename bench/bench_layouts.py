"""Layout timings: PCA -> kNN -> UMAP once per size, then every layout from the UMAP positions.

    python bench/bench_layouts.py                      # 10k and 100k points
    python bench/bench_layouts.py --sizes 10000        # one size
    python bench/bench_layouts.py --knn 10000 30000 60000 100000   # exact vs pynndescent kNN
    python bench/bench_layouts.py --compile            # UMAP numba compile: cold, warm_up, cached

Synthetic data: clustered features (40 Gaussian clusters in 256-d), categories from the clusters (5%
missing), years 1500-2000 (8% missing), coordinates (10% missing, 5% sharing a handful of places),
titles. Prints seconds per layout and the grid's / spread's neighbourhood preservation: the mean share
of each point's 10 nearest neighbours in UMAP that are among its 10 nearest in the layout.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pixmap.layouts import categorical, date, geographic, grid, sorted as sorted_, spread  # noqa: E402
from pixmap.layouts import umap as U  # noqa: E402


def synthetic(n: int, d: int = 256, clusters: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, d)) * 2.0
    lab = rng.integers(0, clusters, n)
    x = (centres[lab] + rng.normal(size=(n, d))).astype(np.float32)
    cats = [None if rng.random() < 0.05 else f"group {c % 12}" for c in lab]
    years = [None if rng.random() < 0.08 else str(1500 + (c * 13 + int(rng.integers(0, 40))) % 500)
             for c in lab]
    lat = rng.uniform(-60, 70, n).round(4)
    lng = rng.uniform(-180, 180, n).round(4)
    places = rng.random(n) < 0.05
    pick = rng.integers(0, 5, int(places.sum()))
    lat[places] = np.array([48.85, 41.88, 35.68, -33.87, 51.5])[pick]
    lng[places] = np.array([2.35, -87.62, 139.69, 151.21, -0.12])[pick]
    lat_l = [None if rng.random() < 0.1 else float(v) for v in lat]
    titles = [f"Image {int(v)}" if rng.random() > 0.02 else None for v in rng.integers(0, n * 10, n)]
    return x, lab, cats, years, lat_l, lng.tolist(), titles


def timed(label, fn, *args, **kw):
    t = time.perf_counter()
    out = fn(*args, **kw)
    dt = time.perf_counter() - t
    print(f"  {label:<34s} {dt:8.2f} s", flush=True)
    return out, dt


def run_sizes(sizes):
    for n in sizes:
        print(f"\n== n = {n:,}", flush=True)
        x, lab, cats, years, lat, lng, titles = synthetic(n)
        p, _ = timed("PCA 256 -> 50", U.reduce_pca, x, 50)
        how = "exact" if n <= U.EXACT_KNN_MAX else "pynndescent"
        nb, _ = timed(f"knn k=15 ({how})", U.knn, p, 15)
        um, _ = timed("UMAP 2D (first in process)", U.umap_layout, p, neighbors=nb)
        xy = um.positions
        g, _ = timed("grid", grid.grid_layout, xy)
        kept = grid.neighbourhood_kept(xy, g.positions)
        g0 = grid.grid_layout(xy, refine=0)
        kept0 = grid.neighbourhood_kept(xy, g0.positions)
        print(f"    grid neighbourhood kept (10-NN): {kept:.3f} (bisection only: {kept0:.3f})")
        s, _ = timed("umap-spread", spread.spread_layout, xy)
        print(f"    spread neighbourhood kept: {grid.neighbourhood_kept(xy, s.positions):.3f}, "
              f"overlapping pairs left: {s.params['overlaps_left']}")
        timed("categorical", categorical.categorical_layout, xy, cats)
        d, _ = timed("date", date.date_layout, xy, years)
        print(f"    date: bin {d.params['bin']} years, {len(d.labels)} columns")
        timed("geographic", geographic.geographic_layout, lat, lng, xy)
        timed("alphabetic", sorted_.sorted_layout, titles, "title")
        timed("custom", sorted_.custom_layout, lng, lat)
        if n <= 20_000:
            timed("UMAP 3D", U.umap_layout, p, dims=3, neighbors=nb)
            timed("UMAP supervised", U.umap_layout, p, labels=lab, neighbors=nb)


def run_knn(sizes):
    print("exact (sklearn brute force, no numba) vs pynndescent (approximate) kNN, k=15, d=50")
    for n in sizes:
        x, *_ = synthetic(n)
        p = U.reduce_pca(x, 50)
        t = time.perf_counter()
        ie, _ = U._exact_knn(p, 15, "cosine")
        te = time.perf_counter() - t
        saved = U.EXACT_KNN_MAX
        U.EXACT_KNN_MAX = 0
        try:
            t = time.perf_counter()
            ia, _ = U.knn(p, 15) if n > 20_000 else (None, None)
            ta = time.perf_counter() - t
            t = time.perf_counter()
            if ia is not None:
                U.knn(p, 15)
            ta2 = time.perf_counter() - t
        finally:
            U.EXACT_KNN_MAX = saved
        recall = np.nan if ia is None else np.mean([len(set(a) & set(b)) / 15 for a, b in zip(ie, ia)])
        print(f"  n={n:>7,}: exact {te:6.1f} s | pynndescent first {ta:6.1f} s, second {ta2:6.1f} s,"
              f" recall {recall:.3f}", flush=True)


COMPILE_CHILD = textwrap.dedent("""
    import sys, time, numpy as np
    sys.path.insert(0, %r)
    t = time.perf_counter(); import umap; t_imp = time.perf_counter() - t
    from pixmap.layouts import umap as U
    rng = np.random.default_rng(0)
    c = rng.normal(size=(20, 50)) * 4
    x = (c[rng.integers(0, 20, 4317)] + rng.normal(size=(4317, 50))).astype(np.float32)
    nb = U.knn(x, 15)
    t_w = 0.0
    if sys.argv[1] == "warm":
        t = time.perf_counter(); U.warm_up(); t_w = time.perf_counter() - t
    t = time.perf_counter(); U.umap_layout(x, neighbors=nb); t1 = time.perf_counter() - t
    t = time.perf_counter(); U.umap_layout(x, neighbors=nb); t2 = time.perf_counter() - t
    print(f"import umap {t_imp:.1f} s, warm_up {t_w:.1f} s, fit 1 {t1:.1f} s, fit 2 {t2:.1f} s")
""")


def run_compile():
    import tempfile

    root = str(Path(__file__).resolve().parent.parent)
    code = COMPILE_CHILD % root
    with tempfile.TemporaryDirectory() as cache:
        cases = [("no numba cache, cold", "cold", {"PIXMAP_NUMBA_CACHE": "0"}),
                 ("no numba cache, warm_up() first", "warm", {"PIXMAP_NUMBA_CACHE": "0"}),
                 ("numba cache, 1st process", "cold", {"NUMBA_CACHE_DIR": cache}),
                 ("numba cache, 2nd process", "cold", {"NUMBA_CACHE_DIR": cache}),
                 ("numba cache, 2nd + warm_up()", "warm", {"NUMBA_CACHE_DIR": cache})]
        print("UMAP of 4,317 x 50 (exact kNN precomputed), each line a new process:")
        for label, mode, env in cases:
            out = subprocess.run([sys.executable, "-c", code, mode], env={**os.environ, **env},
                                 capture_output=True, text=True)
            last = (out.stdout.strip().splitlines() or [out.stderr.strip()[-300:]])[-1]
            print(f"  {label:<34s} {last}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    ap.add_argument("--knn", type=int, nargs="*", help="measure exact vs approximate kNN at these sizes")
    ap.add_argument("--compile", action="store_true", help="measure UMAP's numba compile costs")
    args = ap.parse_args()
    print(f"{os.cpu_count()} CPUs; exact kNN up to {U.EXACT_KNN_MAX:,} points")
    if args.compile:
        run_compile()
    elif args.knn:
        run_knn(args.knn)
    else:
        run_sizes(args.sizes)


if __name__ == "__main__":
    main()
