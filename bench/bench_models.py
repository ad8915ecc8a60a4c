"""Throughput of the image-feature models (images per second, CPU).

    python bench/bench_models.py                    # all models, batch 32, 256 images
    python bench/bench_models.py --models efficientnet-lite0 --jit both

Lite0 runs with its packaged ImageNet weights; inception_v3 / resnet50 with random weights
(weights=None: same speed as ImageNet weights, and no download). Timing starts after one warm-up
batch (tracing, graph optimisation); the peak resident memory of the process is printed as well.
"""
import argparse
import os
import resource
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from pixmap.models import MODEL_NAMES, FeatureModel, input_size, load_model  # noqa: E402


def unfolded(model):
    """The same model without BatchNorm folding (for comparison only)."""
    return FeatureModel(model.name, model.keras_model, model.keras_model, model._preprocess,
                        False, model.weights, batch_size=model.batch_size,
                        jit_compile=model.jit_compile, folded=0)


def bench(name, n_images, batch_size, jit, repeats, fold=True):
    weights = "default" if name == "efficientnet-lite0" else None
    t0 = time.perf_counter()
    model = load_model(name, weights=weights, batch_size=batch_size, jit_compile=jit)
    if not fold:
        model = unfolded(model)
    load_s = time.perf_counter() - t0
    S = input_size(name)
    images = np.random.default_rng(0).integers(0, 256, (n_images, S, S, 3), dtype=np.uint8)
    t0 = time.perf_counter()
    model(images[:batch_size])  # warm-up: trace + optimise
    warm_s = time.perf_counter() - t0
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        feats = model(images)
        rates.append(n_images / (time.perf_counter() - t0))
    assert feats.shape == (n_images, model.dim)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{name:18s} jit={str(jit):5s} fold={str(fold):5s} batch={batch_size}: "
          f"{np.median(rates):7.1f} img/s (best {max(rates):.1f}; load {load_s:.1f}s, "
          f"first batch {warm_s:.1f}s, process peak RSS so far {rss_mb:.0f} MB)", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(MODEL_NAMES), choices=MODEL_NAMES)
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3, help="timed passes over the images")
    ap.add_argument("--jit", choices=("off", "on", "both"), default="off",
                    help="XLA jit_compile (much slower on CPU here)")
    ap.add_argument("--compare-unfolded", action="store_true",
                    help="also time each model without BatchNorm folding")
    args = ap.parse_args(argv)
    jits = {"off": [False], "on": [True], "both": [False, True]}[args.jit]
    print(f"CPU cores: {os.cpu_count()}", flush=True)
    for name in args.models:
        for jit in jits:
            bench(name, args.images, args.batch_size, jit, args.repeats)
            if args.compare_unfolded:
                bench(name, args.images, args.batch_size, jit, args.repeats, fold=False)


if __name__ == "__main__":
    main()
