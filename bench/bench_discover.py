"""Similar images, recommendations and the similarity graph: quality on flowers5, speed at 100k and 1M.

Prints:
- flowers5 (4,317 labelled photos beside the project, ../shared/datasets/flowers5; built once into
  out/bench-discover/ with its feature cache there): for each image, the share of its 12 neighbours in the
  site's neighbour files that carry its label, beside the same share in the feature space itself (the raw
  CNN features, cosine, exact: the space the layouts' quality is measured in), in the build's PCA space
  (exact) and among the 64-dimensional int8 vectors; then, for 10 random liked images of each flower (the
  same seed every run), the share of `pixmap.recommend(50)` (headless Chromium, the real viewer) that has
  the liked label, and the same for the formula computed exactly in numpy; and a mixed set (5 daisies and
  5 tulips liked): how many of the top 30 are of each;
- the bytes per image of the neighbour files and the vectors, on flowers5 and as the format fixes them;
- synthetic sites of 100,000 and 1,000,000 images (bench/bench_viewer.py's version-3 sites, cached in
  out/bench-sites/, made version 5 with vectors from clustered random 64-d vectors and neighbours from the
  2D positions, both written by pixmap.vectors / pixmap.neighbors): the first recommendation for 10 likes
  (loading every vector: 6.4 / 64 MB) and then the recommendation itself (stats().recommendMs: the
  ranking, vectors in memory; median of 7, and the call's wall time in the page), target < 200 ms;
- the graph: ms per frame (drawn and rendered: a 1-pixel readPixels waits for the GPU) at 100k with and
  without the graph, and the time to load it (every neighbour chunk) and make its edge texture.

    python bench/bench_discover.py                 # everything
    python bench/bench_discover.py --skip-flowers  # only the synthetic sites
    python bench/bench_discover.py --sizes 100000 --graph-sizes 100000

Headless Chromium draws with SwiftShader (WebGL on the CPU): frame times are the CPU's, far slower than a
GPU's. On a shared 2-core machine run it alone; figures vary with the load.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser import CHROMIUM_FLAGS, StaticServer, find_chromium  # noqa: E402

FLOWERS = ROOT.parent / "shared" / "datasets" / "flowers5"
LABELS = ["daisy", "dandelion", "rose", "sunflower", "tulip"]
OUT = ROOT / "out" / "bench-discover"
SITE_VERSION = "discover-v5-1"   # bump when the overlay below changes (cached sites are rewritten)
VIEWPORT = {"width": 1280, "height": 720}


# ------------------------------------------------------------------------------------------ flowers5
def flowers_site(progress=True):
    """flowers5 built once (default options) into out/bench-discover/flowers5; returns (site, artifacts)."""
    import pixmap

    site, art = OUT / "flowers5", OUT / "flowers5-artifacts"
    marker = OUT / "flowers5.built"
    if not (marker.exists() and (site / "data" / "manifest.json").exists()
            and json.loads((site / "data" / "manifest.json").read_text()).get("version") == 5):
        print("building flowers5 (once) ...", flush=True)
        t = time.time()
        pixmap.build(images=FLOWERS / "images", metadata=FLOWERS / "metadata.csv", out_dir=site, artifacts_dir=art,
                     cache_dir=OUT / "cache", force=True, progress=progress)
        marker.write_text(f"{time.time() - t:.0f} s")
    shutil.copytree(ROOT / "viewer", site, dirs_exist_ok=True)   # measure the current viewer
    return site, art


def knn_exact(x, k, metric="cosine"):
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=k + 1, metric=metric, algorithm="brute").fit(x)
    idx = nn.kneighbors(x, return_distance=False)
    out = np.empty((len(x), k), dtype=np.int64)
    for i, row in enumerate(idx):   # drop the image itself wherever it is (duplicates may come first)
        out[i] = [j for j in row if j != i][:k]
    return out


def formula_recs(v, liked, k, alpha=0.5):
    """js/recommend.js's score, exactly, in numpy (v: unit rows)."""
    lv = v[liked]
    c = lv.sum(0)
    c /= np.linalg.norm(c)
    score = alpha * (v @ c) + (1 - alpha) * (v @ lv.T).max(1)
    score[liked] = -np.inf
    return np.argsort(-score, kind="stable")[:k]


def bench_flowers(browser):
    from pixmap.layouts.umap import reduce_pca
    from pixmap.neighbors import label_share, read_neighbors
    from pixmap.site import read_metadata
    from pixmap.sitesize import sizes
    from pixmap.vectors import read_vectors

    site, art = flowers_site()
    meta = read_metadata(site)
    ids = meta["ids"]
    labels = np.array([r[meta["fields"].index("label")] for r in meta["rows"]])
    n = len(ids)
    idx, _, entry = read_neighbors(site)
    feats = np.load(art / "features.npy")
    reduced = reduce_pca(feats, 100, seed=0)
    q, ventry = read_vectors(site)
    v = q.astype(np.float64)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    k = entry["k"]
    print(f"\n== flowers5: {n} photos, 5 labels; similar images: k = {k}, space {entry['space']}, {entry['metric']}")
    shares = {
        "site's neighbour files": label_share(idx, labels),
        "raw CNN features (1280-d, cosine, exact)": label_share(knn_exact(feats, k), labels),
        "PCA space (exact)": label_share(knn_exact(reduced, k), labels),
        "64-d int8 vectors (exact)": label_share(knn_exact(v, k), labels),
    }
    print(f"share of each image's {k} neighbours with its label (chance ~0.2):")
    for name, s in shares.items():
        print(f"  {name:<44}{s:.3f}")
    same = (labels[idx] == labels[:, None]).mean(1)
    per = {lab: float(same[labels == lab].mean()) for lab in LABELS}
    print("  site, per label: " + ", ".join(f"{lab} {s:.3f}" for lab, s in per.items()))

    server = StaticServer(site)
    ctx = browser.new_context(viewport=VIEWPORT)
    page = ctx.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url + "index.html")
    page.evaluate("pixmap.ready")
    print("recommendations for 10 random liked images of one flower (5 draws each, seeds 0-4): share of the")
    print("top 50 with that label, mean (min-max)")
    print(f"  {'label':<12}{'viewer':>22}{'numpy (exact formula)':>24}{'same top 50':>14}")
    for lab in LABELS:
        mine = np.flatnonzero(labels == lab)
        got, want, same = [], [], []
        for seed in range(5):
            liked = np.random.default_rng(seed).choice(mine, 10, replace=False)
            page.evaluate("async (ids) => { for (const id of pixmap.likes()) await pixmap.unlike(id);"
                          " for (const id of ids) await pixmap.like(id); }", [ids[i] for i in liked])
            recs = page.evaluate("pixmap.recommend(50)")
            ref = formula_recs(v, liked, 50)
            got.append(float(np.mean([labels[ids.index(r)] == lab for r in recs])))
            want.append(float(np.mean(labels[ref] == lab)))
            same.append(len(set(recs) & {ids[i] for i in ref}))
        show = lambda x: f"{np.mean(x):.2f} ({min(x):.2f}-{max(x):.2f})"  # noqa: E731
        print(f"  {lab:<12}{show(got):>22}{show(want):>24}{min(same):>11}/50")
    mixed = np.concatenate([np.flatnonzero(labels == "daisy")[:5], np.flatnonzero(labels == "tulip")[:5]])
    page.evaluate("async (ids) => { for (const id of pixmap.likes()) await pixmap.unlike(id);"
                  " for (const id of ids) await pixmap.like(id); }", [ids[i] for i in mixed])
    recs = page.evaluate("pixmap.recommend(30)")
    got = [labels[ids.index(r)] for r in recs]
    print("mixed likes (5 daisies, 5 tulips): top 30 = " + ", ".join(f"{lab} {got.count(lab)}" for lab in LABELS))
    s = page.evaluate("pixmap.stats()")
    print(f"recommendation on flowers5 (exact, every image scored): {s['recommendMs']:.1f} ms")
    ctx.close()
    server.close()
    if errors:
        print(f"  console errors: {errors[:3]}")
    sz = sizes(site)
    print(f"size per image on flowers5: neighbours {sz['neighbors'] / n:.0f} B ({k} x 4 B ids + {k} x 1 B distances), "
          f"vectors {sz['vectors'] / n:.0f} B ({ventry['dims']} int8); the whole site {sz['site'][0] / n / 1e3:.1f} KB")


# ------------------------------------------------------------------------------------------ synthetic sites
def synthetic_site(n):
    """bench_viewer's cached version-3 site of n images, overlaid (symlinks) with a version-5 manifest,
    neighbour files (each image's 12 nearest in the UMAP layout) and vectors (clustered, 64-d)."""
    from scipy.spatial import cKDTree

    from bench.bench_viewer import site_for
    from pixmap.neighbors import drop_self, write_neighbors
    from pixmap.vectors import write_vectors

    cache = ROOT / "out" / "bench-sites"
    base = site_for(n, cache)
    folder = cache / f"{SITE_VERSION}-{n}"
    marker = folder / ".bench-version"
    if not (marker.exists() and marker.read_text() == SITE_VERSION):
        t = time.time()
        print(f"  writing the neighbours and vectors of {n:,} images (once) ...", flush=True)
        shutil.rmtree(folder, ignore_errors=True)
        (folder / "data").mkdir(parents=True)
        for entry in base.iterdir():
            if entry.name not in ("data", "index.html", "js", "style.css", "discover.css", "favicon.svg", "vendor") \
                    and not entry.name.startswith("."):
                (folder / entry.name).symlink_to(entry)
        for entry in (base / "data").iterdir():
            if entry.name not in ("manifest.json", "neighbors", "vectors"):
                (folder / "data" / entry.name).symlink_to(entry)
        manifest = json.loads((base / "data" / "manifest.json").read_text())
        layout = next(e for e in manifest["layouts"] if e["name"] == manifest["default_layout"])
        pos = np.fromfile(base / layout["file"], dtype="<f4").reshape(n, layout["dims"])[:, :2]
        tree = cKDTree(pos)
        dist, idx = tree.query(pos, k=13, workers=-1)
        idx, dist = idx.astype(np.int64), dist.astype(np.float32)
        for i in np.flatnonzero(idx[:, 0] != np.arange(n)):   # (duplicate positions: the image itself first)
            row = [j for j in idx[i] if j != i][:12]
            idx[i] = [i, *row]
            dist[i, 0] = 0
        nb_idx, nb_dist = drop_self(idx, dist, 12)
        manifest["neighbors"] = write_neighbors(folder / "data", nb_idx, nb_dist, "euclidean", space="layout-umap")
        del idx, dist, nb_idx, nb_dist, tree
        labels = np.fromfile(base / manifest["clusters"]["file"], dtype="<i4")
        rng = np.random.default_rng(5)
        scale = np.exp(-np.arange(64) / 24.0).astype(np.float32)         # PCA-like: variance falls with the index
        centres = rng.normal(size=(labels.max() + 2, 64)).astype(np.float32) * scale
        x = np.empty((n, 64), dtype=np.float32)
        for a in range(0, n, 65536):
            b = min(n, a + 65536)
            x[a:b] = centres[labels[a:b] + 1] + rng.normal(size=(b - a, 64)).astype(np.float32) * scale * 0.7
        manifest["vectors"] = write_vectors(folder / "data", x)
        del x
        manifest["version"] = 5
        (folder / "data" / "manifest.json").write_text(json.dumps(manifest, indent=1))
        marker.write_text(SITE_VERSION)
        print(f"  wrote them in {time.time() - t:.0f} s", flush=True)
    for name in ("index.html", "style.css", "discover.css", "favicon.svg"):
        if (ROOT / "viewer" / name).exists():
            shutil.copyfile(ROOT / "viewer" / name, folder / name)
    for name in ("js", "vendor"):
        shutil.rmtree(folder / name, ignore_errors=True)
        shutil.copytree(ROOT / "viewer" / name, folder / name)
    return folder


LIKE_AND_RECOMMEND = """async (likes) => {
  for (const id of pixmap.likes()) await pixmap.unlike(id);
  for (const id of likes) await pixmap.like(id);
  let t = performance.now();
  const first = await pixmap.recommend(50);
  const firstMs = performance.now() - t;
  const firstRank = pixmap.stats().recommendMs;
  const rank = [], wall = [];
  for (let r = 0; r < 7; r++) {
    t = performance.now();
    await pixmap.recommend(50);
    wall.push(performance.now() - t);
    rank.push(pixmap.stats().recommendMs);
  }
  const med = (a) => a.slice().sort((x, y) => x - y)[a.length >> 1];
  return {firstMs, firstRank, rankMs: med(rank), rankMax: Math.max(...rank), wallMs: med(wall), count: first.length};
}"""

FRAMES = """async (frames) => {
  const gl = pixmap.debug.gl, px = new Uint8Array(4), out = [];
  for (let f = 0; f < frames; f++) {
    const t = performance.now();
    pixmap.debug.render();
    gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px);
    out.push(performance.now() - t);
    await new Promise((r) => setTimeout(r, 0));
  }
  out.sort((a, b) => a - b);
  return {median: out[out.length >> 1], max: out[out.length - 1]};
}"""


def bench_synthetic(browser, n, graph, frames):
    folder = synthetic_site(n)
    manifest = json.loads((folder / "data" / "manifest.json").read_text())
    labels = np.fromfile(folder / manifest["clusters"]["file"], dtype="<i4")
    first = labels[:4096]
    c = np.bincount(first[first >= 0]).argmax()
    liked = np.flatnonzero(first == c)[:10]
    ids = json.loads((folder / manifest["ids"]["dir"] / "0.json").read_text())
    server = StaticServer(folder)
    ctx = browser.new_context(viewport=VIEWPORT)
    page = ctx.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_default_timeout(600_000)
    page.goto(server.url + "index.html")
    page.evaluate("pixmap.ready")
    r = page.evaluate(LIKE_AND_RECOMMEND, [ids[i] for i in liked])
    vec_mb = n * 64 / 1e6
    print(f"\n== {n:,} images, 10 likes: first recommendation {r['firstMs']:.0f} ms (loading {vec_mb:.1f} MB of vectors; "
          f"its ranking {r['firstRank']:.0f} ms); then ranking {r['rankMs']:.1f} ms median (max {r['rankMax']:.1f}), "
          f"the call {r['wallMs']:.1f} ms (target < 200 ms)")
    if graph:
        off = page.evaluate(FRAMES, frames)
        t = time.perf_counter()
        page.evaluate("pixmap.showGraph(true)")
        load = time.perf_counter() - t
        on = page.evaluate(FRAMES, frames)
        s = page.evaluate("pixmap.stats()")
        print(f"graph: {s['graphEdges']:,} edges, loaded and uploaded in {load:.1f} s (in page {s['graphLoadMs']:.0f} ms); "
              f"frame {off['median']:.0f} ms without it, {on['median']:.0f} ms with it (max {on['max']:.0f}), "
              f"alpha {s['graphAlpha']:.3f}")
    if errors:
        print(f"  console errors: {errors[:3]}")
    ctx.close()
    server.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skip-flowers", action="store_true")
    ap.add_argument("--sizes", default="100000,1000000", help="synthetic site sizes (comma-separated)")
    ap.add_argument("--graph-sizes", default="100000", help="sizes at which graph frames are timed")
    ap.add_argument("--frames", type=int, default=9)
    a = ap.parse_args()
    chromium = find_chromium()
    if not chromium:
        sys.exit("no Chromium found (apt-get install chromium, or set PIXMAP_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    print(f"vectors: 64 B per image (64 int8); neighbours: 60 B per image at k = 12 (12 uint32 + 12 uint8)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        if not a.skip_flowers:
            bench_flowers(browser)
        graph_sizes = {int(s) for s in a.graph_sizes.split(",") if s}
        for n in [int(s) for s in a.sizes.split(",") if s]:
            bench_synthetic(browser, n, n in graph_sizes, a.frames)
        browser.close()


if __name__ == "__main__":
    main()
