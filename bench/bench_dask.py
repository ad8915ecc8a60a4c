"""Dask benchmark: the image pass of a plain local build vs --dask local:1 vs --dask local:2, each from a cold
feature cache, in this process (the converted model made once beforehand, so no run pays for it).

Prints per run the image pass's seconds, the whole build's, images/s; then the distributed path's fixed cost
(cluster start and the workers' model loads: the local:1 pass minus its per-image work), its overhead per
image over the local pass, the throughput per worker, and the scaling model that predicts the image pass on
N machines of this kind:

    t(N) = start + n_images / (N * per_worker_rate)

(start: seconds before the first image is done, paid once; per_worker_rate: images/s of one worker once its
model is loaded). The rest of the build (PCA, UMAP, hotspots, site) runs on the client and does not scale
with N: it is printed beside it.

    python bench/bench_dask.py                       # flowers5 from the shared datasets beside the project
    python bench/bench_dask.py --max-images 600      # bounded time
    python bench/bench_dask.py --images DIR --workers 1,2,4
    python bench/bench_dask.py --fashion-mnist 5000  # the first N Fashion-MNIST images (bench_scale.py's data)
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _run(images, max_images, cache_dir, out, dask=None, partition_size=None):
    import pixmap

    for sub in cache_dir.iterdir():   # a cold feature cache (the converted model is kept)
        if sub.is_dir() and sub.name not in ("models", "iiif"):
            shutil.rmtree(sub)
    t0 = time.perf_counter()
    res = pixmap.build(images=images, out_dir=out, cache_dir=cache_dir, max_images=max_images, progress=False,
                       dask=dask, partition_size=partition_size)
    total = time.perf_counter() - t0
    return res, total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, default=None,
                    help="images folder [default: flowers5 in the shared datasets beside the project, "
                         "or $PIXMAP_FLOWERS5]")
    ap.add_argument("--max-images", type=int, default=None, help="use only the first N images (bounded time)")
    ap.add_argument("--workers", default="1,2", help="the local:N clusters to time, comma-separated [1,2]")
    ap.add_argument("--partition-size", type=int, default=None, help="images per Dask task [default: automatic]")
    ap.add_argument("--fashion-mnist", type=int, default=None, metavar="N",
                    help="the first N Fashion-MNIST images (28x28 PNGs, from Debian's dataset-fashion-mnist, as "
                         "bench_scale.py writes them) instead of flowers5")
    args = ap.parse_args()
    if args.fashion_mnist:
        from bench_scale import find_data, write_images   # (this folder is on sys.path when run as a script)

        fm = Path(tempfile.mkdtemp(prefix="pixmap-bench-fm-"))
        args.images = write_images(find_data(fm), fm / "fashion", args.fashion_mnist)
    images = args.images or Path(os.environ.get("PIXMAP_FLOWERS5") or REPO.parent / "shared" / "datasets" / "flowers5")
    if not images.exists():
        sys.exit(f"no images at {images}: pass --images DIR (or set PIXMAP_FLOWERS5)")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    from pixmap import models
    from pixmap.options import DEFAULTS

    tmp = Path(tempfile.mkdtemp(prefix="pixmap-bench-dask-"))
    cache = tmp / "cache"
    cache.mkdir()
    t = time.perf_counter()
    models.load_from_options({**DEFAULTS, "model_cache_dir": str(cache)})   # the conversion, paid here once
    print(f"model made ready once (not counted): {time.perf_counter() - t:.1f} s", flush=True)

    rows = []
    res, total = _run(images, args.max_images, cache, tmp / "local")
    n = res.n_images
    rows.append(("local", None, res.timings["images_and_features"], total, res.timings.get("model_inference", 0)))
    print(f"{n} images from {images}", flush=True)
    for w in [int(x) for x in args.workers.split(",") if x]:
        res, total = _run(images, args.max_images, cache, tmp / f"dask{w}", dask=f"local:{w}",
                          partition_size=args.partition_size)
        assert res.n_images == n
        rows.append((f"local:{w}", w, res.timings["images_and_features"], total, res.timings.get("model_inference", 0)))

    print(f"\n{'run':<10}{'image pass s':>14}{'build s':>10}{'pass img/s':>12}{'model s (sum)':>15}")
    for name, _w, p, total, model_s in rows:
        print(f"{name:<10}{p:>14.1f}{total:>10.1f}{n / p:>12.1f}{model_s:>15.1f}")
    local_pass = rows[0][2]
    rest = rows[0][3] - local_pass   # the client's part (layouts, hotspots, site): the same with Dask
    one = next((r for r in rows if r[1] == 1), None)
    if one is None:
        print("\n(add local:1 to --workers for the scaling model)")
        return
    # local:1 runs the same per-image work as the local pass in one process, plus the fixed cost of starting
    # the cluster and loading the model there. Measure that fixed cost with a tiny local:1 pass.
    small = min(n, 32)
    res_small, _ = _run(images, small, cache, tmp / "dask-small", dask="local:1")
    start = res_small.timings["images_and_features"]
    rate1 = max(1e-9, n - small) / max(1e-9, one[2] - start)   # images/s of one worker, model loaded
    print(f"\ndistributed fixed cost (cluster start + model load, local:1 on {small} images): {start:.1f} s")
    print(f"per-image time: local pass {1000 * local_pass / n:.1f} ms; one Dask worker {1000 / rate1:.1f} ms "
          f"(overhead {1000 * ((one[2] - start) / max(1, n - small) - local_pass / n):+.1f} ms per image)")
    for name, w, p, _total, _m in rows[1:]:
        eff = (p - start) and (n / max(1e-9, p - start)) / w
        print(f"{name}: {n / p:.1f} img/s over the whole pass; {eff:.1f} img/s per worker after the start")
    print(f"\nscaling model: t(N) = {start:.1f} s + n / (N x {rate1:.1f} img/s), plus {rest:.1f} s on the client "
          f"(for these {n} images)")
    for big in (n, 100_000, 1_000_000):
        preds = ", ".join(f"N={k}: {start + big / (k * rate1):,.0f} s" for k in (1, 4, 16, 64))
        print(f"  {big:>9,} images, image pass: {preds}")
    print("(a worker here is this whole machine, as local:1 runs it: N counts machines like this one; "
          "the client's own stages grow with n too and are not in the model)")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
