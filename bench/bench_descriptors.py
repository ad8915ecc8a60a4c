"""The descriptors (pixmap.descriptors) on the flowers5 photos: what each block costs per image next to the
model, and how well the descriptor layouts group the labels.

    python bench/bench_descriptors.py                  # every photo of ../shared/datasets/flowers5
    python bench/bench_descriptors.py --per-label 200  # a quicker run

Each photo is read and decoded once and made into the 256 px thumbnail the image pass hands the
descriptors (pixmap.images.fit); the blocks are timed one by one in one thread (the pass runs them in its
decoding threads, in parallel with the model). The model's time is one forward pass of the default model
(efficientnet-lite0, packaged ImageNet weights) on batches of its 224 px inputs, after a warm-up batch.

Printed: ms/image of each block and of the model; the 10-NN label share (of each image's 10 nearest, the
share with its label; at random about 0.2 for five even labels) of each block's own space and of the colour, hue,
composition and structure layouts; in the hue layout, the share of yellow flowers (sunflower, dandelion)
among the 10 nearest of a yellow flower and of the others.
"""
import argparse
import csv
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from pixmap import descriptors as D  # noqa: E402
from pixmap import images as imageio  # noqa: E402

FLOWERS = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets" / "flowers5"


def knn_share(pos, labels, k=10):
    """Mean share of each point's k nearest (Euclidean, exact) that have its label."""
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=k + 1).fit(pos)
    idx = nn.kneighbors(pos, return_distance=False)[:, 1:]
    return float((labels[idx] == labels[:, None]).mean()), idx


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-label", type=int, default=0, help="photos per label (0: all)")
    ap.add_argument("--model-images", type=int, default=128, help="photos the model is timed on")
    args = ap.parse_args()

    with open(FLOWERS / "metadata.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if args.per_label:
        by = {}
        for r in rows:
            by.setdefault(r["label"], []).append(r)
        rows = [r for rs in by.values() for r in rs[: args.per_label]]
    labels = np.array([r["label"] for r in rows])
    print(f"{len(rows)} photos of flowers5 ({', '.join(sorted(set(labels)))})")

    from tqdm import tqdm

    timings: dict[str, float] = {}
    blocks = {name: [] for name in (*D.BLOCKS, "scores")}
    inputs = []
    t_decode = 0.0
    for r in tqdm(rows, desc="descriptors", unit="img"):
        t0 = time.perf_counter()
        im, size = imageio.decode(imageio.read(FLOWERS / r["filename"]), max_side=1024)
        thumb = imageio.fit(im, 256)
        t_decode += time.perf_counter() - t0
        d = D.describe(thumb, timings=timings, size=size)
        for name in blocks:
            blocks[name].append(d[name])
        if len(inputs) < args.model_images:
            inputs.append(imageio.square(im, 224))
    n = len(rows)
    spaces = {name: np.stack(v) for name, v in blocks.items()}

    from pixmap.models import load_model

    model = load_model(batch_size=32)
    batch = np.stack(inputs[:32])
    model(batch)                       # warm-up: tracing
    t0 = time.perf_counter()
    for s in range(0, len(inputs), 32):
        model(np.stack(inputs[s:s + 32]))
    model_ms = (time.perf_counter() - t0) / len(inputs) * 1000

    print("\ncost per image (ms, one thread):")
    print(f"  decode + 256 px thumbnail  {t_decode / n * 1000:7.2f}   (done by the pass anyway)")
    total = 0.0
    for name in ("palette", "composition", "structure", "scores"):
        ms = timings[name] / n * 1000
        total += ms
        print(f"  {name:<26} {ms:7.2f}")
    print(f"  descriptors, all blocks    {total:7.2f}")
    print(f"  model (efficientnet-lite0) {model_ms:7.2f}   (batches of 32, {len(inputs)} images)")

    from pixmap.blend import standardise

    print("\n10-NN label share of each block's own space (columns standardised, Euclidean; at random ~0.2):")
    for name, space in spaces.items():
        share, _ = knn_share(standardise(space), labels)
        print(f"  {name:<12} {share:.4f}")

    from pixmap.layouts import descriptors as L

    print("\n10-NN label share of the layouts (at random ~0.2):")
    made = {}
    for name, make, space in (("colour", L.colour_layout, "palette"),
                              ("composition", L.composition_layout, "composition"),
                              ("structure", L.structure_layout, "structure")):
        t0 = time.perf_counter()
        made[name] = make(spaces[space], n_neighbors=10, min_dist=0.0, seed=0)
        secs = time.perf_counter() - t0
        share, _ = knn_share(made[name].positions, labels)
        print(f"  {name:<12} {share:.3f}   (UMAP {secs:.1f} s)")
    t0 = time.perf_counter()
    hue = L.hue_layout(spaces["palette"], 6)
    secs = time.perf_counter() - t0
    share, idx = knn_share(hue.positions, labels)
    print(f"  {'hue':<12} {share:.3f}   ({secs:.2f} s)")
    yellow = np.isin(labels, ["sunflower", "dandelion"])
    ys = yellow[idx].mean(1)
    print(f"\nhue layout: share of yellow flowers (sunflower, dandelion) among the 10 nearest: of a yellow flower "
          f"{ys[yellow].mean():.3f}, of another {ys[~yellow].mean():.3f} (all photos: {yellow.mean():.3f})")
    for lab in sorted(set(labels)):
        h, _ = D.dominant_hue(spaces["palette"][labels == lab], 6)
        print(f"  {lab:<10} median dominant hue {np.nanmedian(h):5.0f} deg (LAB), no hue: {np.isnan(h).mean():.2f}")


if __name__ == "__main__":
    main()
