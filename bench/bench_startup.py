"""Start-up and memory benchmark: Keras vs LiteRT, each figure from a fresh Python process.

    python bench/bench_startup.py                    # flowers5 from the shared datasets beside the project
    python bench/bench_startup.py --skip-builds      # only: fresh process -> first feature vector
    python bench/bench_startup.py --images DIR --max-images 500

Prints, per backend:
- fresh process to first feature vector with the model already converted/cached (import, load, one image);
- a flowers5 build with a cold feature cache (model conversion cached): seconds and the process' peak RSS;
- a fully cached rebuild (every feature from the cache, into a new output folder): seconds, peak RSS, and
  whether TensorFlow was imported.
The LiteRT conversion is made once beforehand (not timed) in a temporary cache folder.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PEAK_RSS = """
def peak_rss_mb():  # VmHWM: this process' own peak (ru_maxrss would include the parent's, kept across exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""

CONVERT = """
from pixmap import litert
litert.load({model!r}, cache_dir={cache!r})
print("RESULT done")
"""

FIRST_FEATURE = PEAK_RSS + """
import sys, time
t0 = time.perf_counter()
import numpy as np
from pixmap import models
m = models.load_from_options(dict(model={model!r}, weights="default", batch_size=32, backend={backend!r},
                                  precision="float32", model_cache_dir={cache!r}))
x = np.random.default_rng(0).integers(0, 256, (1, m.input_size, m.input_size, 3), dtype=np.uint8)
f = m(x)
t1 = time.perf_counter()
print("RESULT", t1 - t0, peak_rss_mb(), "tensorflow" in sys.modules)
"""

BUILD = PEAK_RSS + """
import sys, time
t0 = time.perf_counter()
import pixmap
r = pixmap.build(images={images!r}, metadata={metadata!r}, out_dir={out!r}, cache_dir={cache!r}, progress=False,
                 max_images={max_images!r}, backend={backend!r})
t1 = time.perf_counter()
print("RESULT", t1 - t0, peak_rss_mb(), "tensorflow" in sys.modules,
      r.n_images, r.n_computed)
"""


def run(code: str) -> tuple[float, list[str]]:
    """Run code in a fresh interpreter: (wall seconds from spawn to exit, the RESULT line's fields)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT")][-1]
    return wall, line.split()[1:]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, default=None, help="images folder [default: flowers5 beside the project]")
    ap.add_argument("--metadata", type=Path, default=None, help="metadata file, if any")
    ap.add_argument("--max-images", type=int, default=None)
    ap.add_argument("--model", default="efficientnet-lite0")
    ap.add_argument("--backends", nargs="+", default=["keras", "litert"], choices=["keras", "litert"])
    ap.add_argument("--repeats", type=int, default=3, help="fresh processes timed per backend (first feature)")
    ap.add_argument("--skip-builds", action="store_true", help="only time fresh process -> first feature")
    args = ap.parse_args()
    if args.images is None:
        root = Path(os.environ.get("PIXMAP_FLOWERS5", REPO.parent / "shared" / "datasets" / "flowers5"))
        args.images = root / "images" if (root / "images").is_dir() else root
        if args.metadata is None and (root / "metadata.csv").is_file():
            args.metadata = root / "metadata.csv"

    tmp = Path(tempfile.mkdtemp(prefix="pixmap-bench-startup-"))
    models_cache = tmp / "model-cache"
    wall, _ = run(CONVERT.format(model=args.model, cache=str(models_cache)))   # once, in its own process
    print(f"conversion (once, not part of the figures below): {wall:.1f} s; CPU cores {os.cpu_count()}", flush=True)

    print("\n== fresh process -> first feature vector (model cached); seconds in-process / wall incl. "
          "interpreter start; peak RSS")
    best = {}
    for backend in args.backends:
        rows = []
        for _ in range(args.repeats):
            wall, (inner, rss, tf) = run(FIRST_FEATURE.format(model=args.model, backend=backend,
                                                              cache=str(models_cache)))
            rows.append((wall, float(inner), float(rss), tf))
        wall, inner, rss, tf = min(rows)
        best[backend] = wall
        print(f"{backend:7s} best of {args.repeats}: {inner:5.2f} s in-process, {wall:5.2f} s wall, "
              f"peak RSS {rss:5.0f} MB, tensorflow imported: {tf}", flush=True)
    if len(best) == 2:
        print(f"keras / litert (wall, same run): {best['keras'] / best['litert']:.1f}x")

    if args.skip_builds:
        return
    print(f"\n== builds of {args.images} (max_images={args.max_images})")
    for backend in args.backends:
        cache = tmp / f"cache-{backend}"
        shutil.copytree(models_cache, cache)   # the model conversion is cached, the features are not
        for label, out in (("cold features", "site-cold"), ("fully cached rebuild", "site-warm")):
            wall, (inner, rss, tf, n, computed) = run(BUILD.format(
                images=str(args.images), metadata=str(args.metadata) if args.metadata else None,
                out=str(tmp / f"{out}-{backend}"), cache=str(cache), max_images=args.max_images, backend=backend))
            print(f"{backend:7s} {label:21s}: {float(inner):6.1f} s in-process, {wall:6.1f} s wall, "
                  f"peak RSS {float(rss):5.0f} MB, {n} images ({computed} computed), tensorflow imported: {tf}",
                  flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps({"note": "figures from a shared machine are disturbed by its load; compare same-run ratios"}))


if __name__ == "__main__":
    main()
