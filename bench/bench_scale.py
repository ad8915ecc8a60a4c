"""Scale benchmark: Fashion-MNIST (70,000 labelled 28x28 images) built end to end.

The data comes from Debian's package registry (package dataset-fashion-mnist, MIT licence), so the
benchmark can fetch it itself: it uses /usr/share/datasets/fashion-mnist when the package is installed,
else `apt-get download`s it into a temporary folder and unpacks it there. Images are written as PNG files
with a metadata.csv (filename, label), then built with the default options.

    python bench/bench_scale.py              # all 70,000
    python bench/bench_scale.py --n 20000    # the first N
    python bench/bench_scale.py --n 105000   # past 70,000: mirrored copies of the first ones are added
Prints seconds per stage, images/s, peak memory, site size (and per image, lightbox images excluded) and
map quality (10-NN label agreement). Mirrored copies are real, different images for the model (a
mirrored shoe points the other way) with the label of their original; they make a 100,000+ collection
from registry data. `--cache DIR` keeps the feature cache between runs (a rebuild's figures).
"""
from __future__ import annotations

import argparse
import gzip
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pixmap.site import read_metadata  # noqa: E402
CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot"]


def find_data(tmp: Path) -> Path:
    installed = Path("/usr/share/datasets/fashion-mnist")
    if list(installed.glob("*idx3-ubyte.gz")):
        return installed
    subprocess.run(["apt-get", "download", "dataset-fashion-mnist"], cwd=tmp, check=True)
    deb = next(tmp.glob("dataset-fashion-mnist*.deb"))
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp / "pkg")], check=True)
    return next((tmp / "pkg").rglob("fashion-mnist"))


def read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def write_images(src: Path, out: Path, n: int) -> Path:
    from PIL import Image

    images = np.concatenate([read_idx(next(src.glob("train-images-idx3-ubyte.gz"))),
                             read_idx(next(src.glob("t10k-images-idx3-ubyte.gz")))])
    labels = np.concatenate([read_idx(next(src.glob("train-labels-idx1-ubyte.gz"))),
                             read_idx(next(src.glob("t10k-labels-idx1-ubyte.gz")))])
    extra = max(0, n - len(images))      # past 70,000: mirrored copies
    images = np.concatenate([images[:n], images[:extra, :, ::-1]])
    labels = np.concatenate([labels[:n], labels[:extra]])
    rows = ["filename,label"]
    for i, (im, lab) in enumerate(zip(images, labels)):
        folder = CLASSES[lab] if i < 70_000 else f"mirrored/{CLASSES[lab]}"
        rel = f"{folder}/{i % 70_000:05d}.png"
        (out / folder).mkdir(parents=True, exist_ok=True)
        Image.fromarray(im).save(out / rel)
        rows.append(f"{rel},{CLASSES[lab]}")
    (out / "metadata.csv").write_text("\n".join(rows) + "\n")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=70_000, help="number of images (past 70,000: mirrored copies)")
    ap.add_argument("--cache", type=Path, default=None, help="feature cache folder [default: a new one: cold]")
    ap.add_argument("--layouts", default="auto", help="layouts to build (as pixmap build --layouts)")
    args = ap.parse_args()

    import pixmap
    from bench.bench_build import knn_label_share

    tmp = Path(tempfile.mkdtemp(prefix="pixmap-scale-"))
    t = time.perf_counter()
    folder = write_images(find_data(tmp), tmp / "fashion", args.n)
    print(f"wrote {args.n} PNGs in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    res = pixmap.build(images=folder, metadata=folder / "metadata.csv", out_dir=tmp / "site",
                       cache_dir=args.cache or tmp / "cache", layouts=args.layouts, progress=True)
    total = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n== pixmap build of {res.n_images} Fashion-MNIST images")
    for k, v in res.timings.items():
        print(f"{k:<28}{v:>9.2f}")
    print(f"{'end-to-end (wall)':<28}{total:>9.2f}   ({res.n_images / total:.0f} img/s), peak RSS {peak:.0f} MB")
    files = [p for p in (tmp / "site").rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    lightbox = sum(p.stat().st_size for p in files if "lightbox" in p.relative_to(tmp / "site").parts)
    print(f"site: {size / 1e6:.1f} MB in {len(files)} files, {(size - lightbox) / res.n_images:.0f} bytes per image "
          f"without the lightbox images; {res.n_computed} vectors computed; layouts {res.layouts}")
    import json
    meta = read_metadata(tmp / "site")
    labels = np.array([r[meta["fields"].index("label")] for r in meta["rows"]])
    feats = np.load(res.artifacts_dir / "features.npy")
    sample = np.random.default_rng(0).choice(len(labels), min(len(labels), 20_000), replace=False)
    q_feat = knn_label_share(feats[sample], labels[sample], metric="cosine")
    q_map = knn_label_share(np.load(res.artifacts_dir / "layout_umap.npy")[sample], labels[sample])
    print(f"map quality (10-NN same label, {len(sample)} sampled): layout {q_map:.3f}, features {q_feat:.3f}, "
          f"kept {q_map / q_feat:.3f}")
    print(f"(output left in {tmp})")


if __name__ == "__main__":
    main()
