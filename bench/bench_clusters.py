"""Hotspot quality against known labels: the old default (HDBSCAN on the 2D layout), the new default and every
clustering method (pixmap.clusters), on flowers5 (by label) and the demo paintings (by period, `category`).

For each collection it reuses a build's artifacts (features.npy, images.csv, config.json; layout_umap.npy for
the old default), or builds them first with `pixmap.build` (its feature cache makes a rebuild cost no model
time), then prints a ceiling (the NMI of giving each image the majority label of its 10 nearest neighbours,
which uses the labels a clustering never sees) and per clustering: number of hotspots, noise share (images in
none), NMI and ARI against the labels (noise counts as a group of its own) and the silhouette (pixmap.quality,
in the clustered space: the PCA of the CNN features for the old default and the cnn space).

    python bench/bench_clusters.py                       # both collections, every method
    python bench/bench_clusters.py --only paintings --methods hdbscan,kmeans
    python bench/bench_clusters.py --flowers-artifacts out/bench-discover/flowers5-artifacts

Paths default to the repository's datasets and out/bench-clusters (flowers5 beside the repository, in
../shared/datasets/flowers5).
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pixmap import clusters, discover  # noqa: E402
from pixmap.layouts import umap as umap_layouts  # noqa: E402
from pixmap.options import DEFAULTS  # noqa: E402
from pixmap.quality import cluster_quality  # noqa: E402

COLLECTIONS = {
    "flowers5": {"images": REPO.parent / "shared" / "datasets" / "flowers5" / "images",
                 "metadata": REPO.parent / "shared" / "datasets" / "flowers5" / "metadata.csv", "column": "label"},
    "paintings": {"images": REPO / "datasets" / "aic-paintings" / "images",
                  "metadata": REPO / "datasets" / "aic-paintings" / "metadata.csv", "column": "category"},
}


def _tail(path: str, parts: int = 2) -> str:
    return "/".join(Path(str(path).replace("\\", "/")).parts[-parts:])


def artifacts_for(name: str, given: Path | None, work: Path) -> Path:
    """A build's artifacts folder for the collection: `given`, else out/bench-clusters/<name>-artifacts
    (built here when it has no features.npy yet, with the descriptors; its feature cache is
    out/bench-clusters/<name>-cache: copy another build's cache there to skip the model)."""
    if given is not None:
        if not (given / "features.npy").is_file():
            raise SystemExit(f"{given} has no features.npy: give a build's artifacts folder")
        return given
    art = work / f"{name}-artifacts"
    if not (art / "features.npy").is_file():
        import pixmap

        spec = COLLECTIONS[name]
        cache = work / f"{name}-cache"
        print(f"[{name}] building the features into {art} (cache {cache})", flush=True)
        pixmap.build(str(spec["images"]), str(spec["metadata"]), str(work / name), artifacts_dir=str(art),
                     cache_dir=str(cache), progress=False, layouts="umap", report=False)
    return art


def labels_of(art: Path, metadata: Path, column: str) -> list[str]:
    """Each image's label (by the last two parts of its path: `images/<file>` or `<label>/<file>`)."""
    with open(metadata, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    by = {_tail(r["filename"]): r[column] for r in rows}
    with open(art / "images.csv", newline="", encoding="utf-8") as f:
        paths = [r["path"] for r in csv.DictReader(f)]
    out = [by.get(_tail(p)) for p in paths]
    missing = sum(v is None for v in out)
    if missing:
        print(f"  ({missing} images without a label in {metadata.name})")
    return out


def line(name: str, labels: np.ndarray, space: np.ndarray, cats: list, seconds: float, extra: str = "") -> dict:
    q = cluster_quality(space, labels, cats)
    sil = "  n/a" if q["silhouette"] is None else f"{q['silhouette']:.3f}"
    print(f"  {name:34s} k={q['n_clusters']:3d}  noise={q['noise_share']:6.1%}  NMI={q['nmi']:.3f}  "
          f"ARI={q['ari']:.3f}  silhouette={sil}  {seconds:6.1f} s  {extra}", flush=True)
    return q | {"name": name, "seconds": round(seconds, 2)}


def vote_ceiling(neighbours: np.ndarray, cats: list) -> dict:
    """NMI of a leave-one-out k-NN majority vote against the labels: what the features' neighbourhoods allow.

    A clustering groups images by the same neighbourhoods but without the labels, so its NMI is not expected
    above this (a supervised classifier on the same neighbours)."""
    from sklearn.metrics import normalized_mutual_info_score

    names, y = np.unique(np.array(cats, dtype=str), return_inverse=True)
    votes = np.array([np.bincount(y[row], minlength=len(names)).argmax() for row in neighbours])
    return {"accuracy": float(np.mean(votes == y)), "nmi": float(normalized_mutual_info_score(y, votes))}


def run(name: str, art: Path, methods: list[str], spaces_wanted: list[str], blend: str | None = None) -> list[dict]:
    spec = COLLECTIONS[name]
    config = json.loads((art / "config.json").read_text(encoding="utf-8")) if (art / "config.json").is_file() else {}
    opts = {**DEFAULTS, **{k: v for k, v in config.get("options", {}).items() if k in DEFAULTS}}
    cats = labels_of(art, spec["metadata"], spec["column"])
    feats = np.load(art / "features.npy", mmap_mode="r")
    reduced = umap_layouts.reduce_pca(feats, int(opts["pca_components"]), seed=int(opts["seed"]))
    graph = discover.search(reduced, opts)
    share = np.mean(np.array(cats, dtype=object)[graph[0][:, 1:11]] == np.array(cats, dtype=object)[:, None])
    print(f"[{name}] {len(cats)} images, {len(set(cats))} labels; 10-NN label share in the PCA space "
          f"{share:.3f}", flush=True)
    ceiling = vote_ceiling(graph[0][:, 1:11], cats)
    print(f"  a ceiling: each image given the majority label of its 10 nearest neighbours (this uses the labels, "
          f"which a clustering cannot): accuracy {ceiling['accuracy']:.3f}, NMI {ceiling['nmi']:.3f}", flush=True)
    results = [{"name": "10-NN majority vote (uses the labels)", **ceiling}]
    t = time.perf_counter()
    if (art / "layout_umap.npy").is_file():
        u2 = np.load(art / "layout_umap.npy")
    else:
        u2 = umap_layouts.umap_layout(reduced, int(str(opts["n_neighbors"]).split(",")[0]),
                                      float(str(opts["min_dist"]).split(",")[0]), opts["metric"], 2,
                                      int(opts["seed"]), neighbors=graph).positions
    old = clusters.hotspots(u2, reduced, cats, opts["min_cluster_size"], int(opts["max_clusters"]),
                            int(opts["seed"]))
    results.append(line("old default (HDBSCAN on the 2D map)", old.labels, reduced, cats,
                        time.perf_counter() - t))
    spaces = {"cnn": reduced}
    for block in ("palette", "composition", "structure"):
        path = art / f"features_{block}.npy"
        if path.is_file():
            spaces[block] = np.load(path)
    if blend:   # pixmap.blend's fusion, as --blend makes it
        from pixmap import blend as blending

        try:
            spaces["blend"] = blending.fuse(spaces, blending.parse_blend(blend), max_dim=int(opts["pca_components"]),
                                            seed=int(opts["seed"]))
            spaces_wanted = [*spaces_wanted, "blend"]
        except Exception as exc:   # (a block the artifacts lack)
            print(f"  (blend {blend}: {exc})")
    for space in spaces_wanted:
        if space not in spaces:
            print(f"  (space {space}: not in {art.name}; build with the descriptors to measure it)")
            continue
        o = {**opts, "cluster_method": ",".join(methods), "cluster_space": space, "cluster_eval": "silhouette",
             "blend": blend}
        t = time.perf_counter()
        sets = clusters.cluster_sets(spaces, cats, o, graph=graph if space == "cnn" else None)
        took = (time.perf_counter() - t) / max(1, len(sets))
        for s in sets:
            label = f"{s.name}{' (new default)' if s.method == 'hdbscan' and space == 'cnn' else ''}"
            k = f"k from {s.params.get('k_from')}" if s.params.get("k_from") else ""
            results.append(line(label, s.clustering.labels, spaces[space], cats, took, k))
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", choices=sorted(COLLECTIONS), default=None)
    ap.add_argument("--methods", default=",".join(clusters.METHODS))
    ap.add_argument("--spaces", default="cnn,palette,composition,structure",
                    help="cluster spaces to measure (descriptor spaces when the artifacts have them)")
    ap.add_argument("--flowers-artifacts", type=Path, default=None)
    ap.add_argument("--paintings-artifacts", type=Path, default=None)
    ap.add_argument("--work", type=Path, default=REPO / "out" / "bench-clusters")
    ap.add_argument("--blend", default=None, help="also cluster this --blend fusion, e.g. cnn=1,palette=0.4")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args(argv)
    methods = clusters.parse_methods(args.methods)
    given = {"flowers5": args.flowers_artifacts, "paintings": args.paintings_artifacts}
    everything = {}
    for name in ([args.only] if args.only else ["flowers5", "paintings"]):
        art = artifacts_for(name, given[name], args.work)
        everything[name] = run(name, art, methods, [s for s in args.spaces.split(",") if s], args.blend)
    if args.json:
        args.json.write_text(json.dumps(everything, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
