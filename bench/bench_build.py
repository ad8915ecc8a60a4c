"""Build benchmark: the flowers5 collection (4,317 photos) end to end, in a fresh process.

Prints seconds per stage, end-to-end images/s, the ratio of end-to-end time to model inference alone,
and map quality: for each image, the share of its 10 nearest neighbours that carry its label, in the 2D
layout and in the feature space (the layout should keep >= 0.95 of the feature space's score).

    python bench/bench_build.py                    # flowers5 from the shared datasets beside the project
    python bench/bench_build.py --images DIR --metadata CSV --label-column label
    python bench/bench_build.py --paintings        # the bundled demo collection, labelled by period
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from pixmap.site import read_metadata

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def knn_label_share(x: np.ndarray, labels: np.ndarray, k: int = 10, metric: str = "euclidean") -> float:
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=k + 1, metric=metric, algorithm="brute").fit(x)
    idx = nn.kneighbors(x, return_distance=False)[:, 1:]
    return float((labels[idx] == labels[:, None]).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, default=None, help="images folder")
    ap.add_argument("--metadata", type=Path, default=None, help="metadata CSV with a label column")
    ap.add_argument("--label-column", default="label", help="metadata column used for map quality")
    ap.add_argument("--paintings", action="store_true", help="use the bundled demo collection (label: category)")
    ap.add_argument("--max-images", type=int, default=None)
    ap.add_argument("--warm-cache", action="store_true", help="keep the feature cache between runs (default: cold)")
    args, extra = ap.parse_known_args()
    if args.paintings:
        args.images = REPO / "datasets" / "aic-paintings"
        args.metadata = args.images / "metadata.csv"
        args.label_column = "category"
    if args.images is None:
        args.images = REPO.parent / "shared" / "datasets" / "flowers5"
        args.metadata = args.images / "metadata.csv"
    options = {}
    for item in extra:  # --n_neighbors=30 style overrides of build options
        k, _, v = item.lstrip("-").partition("=")
        options[k.replace("-", "_")] = json.loads(v) if v[:1].isdigit() or v in ("true", "false") else v

    import pixmap

    tmp = Path(tempfile.mkdtemp(prefix="pixmap-bench-"))
    cache = REPO / ".cache" / "bench" if args.warm_cache else tmp / "cache"
    t0 = time.perf_counter()
    res = pixmap.build(images=args.images, metadata=args.metadata, out_dir=tmp / "site", cache_dir=cache,
                       max_images=args.max_images, progress=False, **options)
    total = time.perf_counter() - t0
    n = res.n_images

    # Model inference alone: the same model over the same images' 224 px inputs, decoded beforehand.
    from pixmap import images as imgs, models

    from pixmap.options import DEFAULTS   # the build's own backend (LiteRT by default), as the build loaded it

    model = models.load_from_options({**DEFAULTS, **options, "model_cache_dir": models.model_cache_root(cache)})
    size = models.input_size(model.name)
    paths = [row[1] for row in csv.reader(open(res.artifacts_dir / "images.csv", encoding="utf-8"))][1:]
    inputs = []
    for p in paths:
        im, _ = imgs.decode(imgs.read(p), max_side=1024)
        inputs.append(imgs.square(imgs.fit(im, 1024), size))
    inputs = np.stack(inputs)
    bs = int(options.get("batch_size", 32))
    model(inputs[:bs])  # warm-up (graph tracing), as the build's first batch pays it too
    t = time.perf_counter()
    for i in range(0, n, bs):
        model(inputs[i:i + bs])
    inference = time.perf_counter() - t

    print(f"\n== pixmap build of {n} images ({args.images.name}), {res.n_computed} feature vectors computed")
    print(f"{'stage':<28}{'seconds':>9}")
    for k, v in res.timings.items():
        print(f"{k:<28}{v:>9.2f}")
    print(f"{'end-to-end (wall)':<28}{total:>9.2f}")
    print(f"{'model inference alone':<28}{inference:>9.2f}   ({n / inference:.0f} img/s, "
          f"{getattr(model, 'backend', 'keras')})")
    print(f"end-to-end: {n / total:.1f} img/s; ratio end-to-end / inference = {total / inference:.2f}")
    site_bytes = sum(p.stat().st_size for p in (tmp / "site").rglob("*") if p.is_file())
    n_files = sum(1 for p in (tmp / "site").rglob("*") if p.is_file())
    print(f"site: {site_bytes / 1e6:.1f} MB in {n_files} files")

    meta = read_metadata(tmp / "site")
    if args.label_column in meta["fields"]:
        j = meta["fields"].index(args.label_column)
        labels = np.array([str(r[j]) for r in meta["rows"]])
        feats = np.load(res.artifacts_dir / "features.npy")
        layout = np.load(res.artifacts_dir / "layout_umap.npy")
        q_feat = knn_label_share(feats, labels, metric="cosine")
        q_map = knn_label_share(layout, labels)
        print(f"map quality (share of 10 nearest neighbours with the same {args.label_column}): "
              f"layout {q_map:.3f}, feature space {q_feat:.3f}, kept {q_map / q_feat:.3f}")


if __name__ == "__main__":
    main()
