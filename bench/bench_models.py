"""Throughput of the image-feature models (images per second, CPU), Keras vs LiteRT, and what
``--precision fast`` (fp16) does to the features.

    python bench/bench_models.py                                  # all models, keras and litert float32
    python bench/bench_models.py --models efficientnet-lite0 --backends keras litert litert-fast
    python bench/bench_models.py --models efficientnet-lite0 --jit both

Lite0 runs with its packaged ImageNet weights; inception_v3 / resnet50 with random weights
(weights=None: same speed as ImageNet weights, and no download; LiteRT then converts in memory). Timing
starts after one warm-up batch (tracing, graph optimisation); the peak resident memory of the process
is printed as well (cumulative: run one backend per process for clean memory figures).

``litert-fast`` runs the fp16 conversion whatever this CPU is (a build only uses it where the CPU has
native fp16: pixmap.litert.native_fp16). With ``--agreement N`` the fast features of N real photos
(flowers5 beside the project, else the bundled paintings) are compared with float32: largest
1 - cosine and the share of each image's 10 nearest neighbours (cosine) that stay the same.
"""
import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pixmap.models import MODEL_NAMES, FeatureModel, input_size, load_model  # noqa: E402

BACKENDS = ("keras", "litert", "litert-fast")


def unfolded(model):
    """The same model without BatchNorm folding (for comparison only)."""
    return FeatureModel(model.name, model.keras_model, model.keras_model, model._preprocess,
                        False, model.weights, batch_size=model.batch_size,
                        jit_compile=model.jit_compile, folded=0)


def make_model(name, backend, batch_size, jit, fold, cache_dir):
    weights = "default" if name == "efficientnet-lite0" else None
    if backend == "keras":
        model = load_model(name, weights=weights, batch_size=batch_size, jit_compile=jit)
        return model if fold else unfolded(model)
    from pixmap import litert

    precision = "fast" if backend == "litert-fast" else "float32"
    return litert.load(name, weights, batch_size=batch_size, precision=precision, cache_dir=cache_dir)


def bench(name, backend, n_images, batch_size, jit, repeats, cache_dir, fold=True):
    t0 = time.perf_counter()
    model = make_model(name, backend, batch_size, jit, fold, cache_dir)
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
    print(f"{name:18s} {backend:11s} jit={str(jit):5s} fold={str(fold):5s} batch={batch_size}: "
          f"{np.median(rates):7.1f} img/s (best {max(rates):.1f}; load {load_s:.1f}s, "
          f"first batch {warm_s:.1f}s, process peak RSS so far {rss_mb:.0f} MB)", flush=True)
    return float(np.median(rates))


def real_photos(n, size):
    """n real photos as uint8 (n, size, size, 3): flowers5 beside the project, else the demo paintings."""
    from pixmap import images as imgs

    root = Path(os.environ.get("PIXMAP_FLOWERS5", REPO.parent / "shared" / "datasets" / "flowers5")) / "images"
    if not root.is_dir():
        root = REPO / "datasets" / "aic-paintings" / "images"
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    paths = [paths[i] for i in np.random.default_rng(0).permutation(len(paths))[:n]]
    out = []
    for p in paths:
        im, _ = imgs.decode(imgs.read(p), max_side=1024)
        out.append(imgs.square(imgs.fit(im, 1024), size))
    return np.stack(out), root


def agreement(name, n, batch_size, cache_dir, k=10):
    """fp16 ("fast") vs float32 LiteRT features of n real photos: 1 - cosine and 10-NN overlap."""
    from pixmap import litert

    weights = "default" if name == "efficientnet-lite0" else None
    x, root = real_photos(n, input_size(name))
    a = litert.load(name, weights, batch_size=batch_size, cache_dir=cache_dir)(x)
    b = litert.load(name, weights, batch_size=batch_size, precision="fast", cache_dir=cache_dir)(x)
    an = a / np.linalg.norm(a, axis=1, keepdims=True)
    bn = b / np.linalg.norm(b, axis=1, keepdims=True)
    one_minus = 1 - (an * bn).sum(1)
    na = np.argsort(-(an @ an.T), axis=1)[:, 1:k + 1]
    nb = np.argsort(-(bn @ bn.T), axis=1)[:, 1:k + 1]
    same = np.mean([len(set(p) & set(q)) / k for p, q in zip(na, nb)])
    print(f"{name}: fast vs float32 on {len(x)} photos ({root.parent.name}): 1 - cosine median "
          f"{np.median(one_minus):.2g}, max {one_minus.max():.2g}; {k}-NN kept {same:.3f}", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(MODEL_NAMES), choices=MODEL_NAMES)
    ap.add_argument("--backends", nargs="+", default=["keras", "litert"], choices=BACKENDS)
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3, help="timed passes over the images")
    ap.add_argument("--jit", choices=("off", "on", "both"), default="off",
                    help="XLA jit_compile, keras only (much slower on CPU here)")
    ap.add_argument("--compare-unfolded", action="store_true",
                    help="also time each Keras model without BatchNorm folding")
    ap.add_argument("--agreement", type=int, default=0, metavar="N",
                    help="also compare fp16 (fast) with float32 features on N real photos")
    ap.add_argument("--cache-dir", default=None,
                    help="where LiteRT conversions are cached [default: a temporary folder]")
    args = ap.parse_args(argv)
    cache_dir = args.cache_dir or tempfile.mkdtemp(prefix="pixmap-bench-models-")
    jits = {"off": [False], "on": [True], "both": [False, True]}[args.jit]
    from pixmap.litert import native_fp16

    print(f"CPU cores: {os.cpu_count()}; native fp16: {native_fp16()}", flush=True)
    for name in args.models:
        rates = {}
        for backend in args.backends:
            for jit in (jits if backend == "keras" else [False]):
                rates[(backend, jit)] = bench(name, backend, args.images, args.batch_size, jit, args.repeats,
                                              cache_dir)
                if args.compare_unfolded and backend == "keras":
                    bench(name, backend, args.images, args.batch_size, jit, args.repeats, cache_dir, fold=False)
        base = rates.get(("keras", False))
        if base:
            for (backend, jit), r in rates.items():
                if backend != "keras":
                    print(f"{name}: {backend} / keras = {r / base:.2f}x (same run)", flush=True)
        if args.agreement:
            agreement(name, args.agreement, args.batch_size, cache_dir)


if __name__ == "__main__":
    main()
