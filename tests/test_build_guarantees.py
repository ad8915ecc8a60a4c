"""What a build promises whatever happens: the same map for the same input, options checked before any
work, work kept when interrupted, one bad image never stopping the build, hotspots named as asked."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import pixmap
from pixmap.site import read_metadata, shard_of
from pixmap import features, fitcache, imagepass
from pixmap.pipeline import BuildError

from .conftest import DEMO, REPO

SMALL = 200  # paintings per build here (their vectors are cached by the demo build)


def _site_arrays(site: Path) -> dict[str, bytes]:
    """Every layout and the hotspot labels of a built site, as raw bytes."""
    man = json.loads((site / "data" / "manifest.json").read_text())
    out = {lay["name"]: (site / lay["file"]).read_bytes() for lay in man["layouts"]}
    out["clusters"] = (site / man["clusters"]["file"]).read_bytes()
    out["hotspots"] = json.dumps(man["clusters"]["hotspots"]).encode()
    return out


def test_same_input_gives_the_same_map_bit_for_bit_under_other_cpu_load(tmp_path, built_site_result):
    """Two builds of the same images give identical files: one in this process (UMAP already compiled, BLAS
    lowered to one thread) beside two busy processes competing for the cores, one alone in a fresh process
    whose UMAP warm-up runs as long as it possibly can. (Before the fix, PCA ran beside the warm-up and gave
    other bits.)"""
    # each build its own copy of the cache without its fits (pixmap.fitcache): the vectors are cached, the
    # UMAP and kNN fits are computed, not looked up (they are what this test is about)
    shared = built_site_result.out_dir.parent / "cache"
    caches = {}
    for name in ("a", "b"):
        caches[name] = tmp_path / f"cache-{name}"
        shutil.copytree(shared, caches[name], ignore=lambda d, names: ["fits"] if Path(d) == shared else [])
    args = dict(images=DEMO, max_images=SMALL, cache_dir=caches["a"], progress=False,
                layouts="umap,umap-3d,grid,umap-spread")
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    misses = fitcache.stats()["misses"]
    try:
        # and with BLAS left on one thread by earlier work in this process (scikit-learn's calls in threads
        # can leave it so): the build sets the count a fresh process has, then gives the caller's back
        with threadpool_limits(limits=1, user_api="blas"):
            pixmap.build(out_dir=tmp_path / "a", **args)
            assert {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"} == {1}
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    assert fitcache.stats()["misses"] - misses >= 4   # the 2D, 3D and spread maps and the clustering space

    # In the second build the warm-up thread repeats its first step (a multi-threaded neighbour search)
    # for as long as it can overlap the build's numerical work: until the build waits for it (join), or,
    # if the build never does, until PCA has finished.
    script = textwrap.dedent(f"""
        import threading, time
        import numpy as np
        import pixmap
        from pixmap.layouts import umap as umap_layouts

        real_warm_up, real_pca, real_join = umap_layouts.warm_up, umap_layouts.reduce_pca, threading.Thread.join
        stop = threading.Event()

        def busy_warm_up(*args, **kwargs):
            x = np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32)
            start = time.time()
            while not stop.is_set() and time.time() - start < 300:
                umap_layouts.knn(x, 10)
            return real_warm_up(*args, **kwargs)

        def pca_then_stop(*args, **kwargs):
            try:
                return real_pca(*args, **kwargs)
            finally:
                stop.set()

        def join(thread, *args, **kwargs):
            if thread.name == "umap-warm-up":
                stop.set()
            return real_join(thread, *args, **kwargs)

        umap_layouts.warm_up, umap_layouts.reduce_pca, threading.Thread.join = busy_warm_up, pca_then_stop, join
        pixmap.build(out_dir={str(tmp_path / "b")!r}, images={str(DEMO)!r}, max_images={SMALL},
                     cache_dir={str(caches["b"])!r}, progress=False, layouts="umap,umap-3d,grid,umap-spread")
        from pixmap import fitcache
        print("fit cache misses", fitcache.stats()["misses"])
    """)
    run = subprocess.run([sys.executable, "-c", script], check=True, cwd=REPO, timeout=600, capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert int(run.stdout.split("fit cache misses")[-1]) >= 4, run.stdout
    a, b = _site_arrays(tmp_path / "a"), _site_arrays(tmp_path / "b")
    assert a.keys() == b.keys()
    different = [name for name in a if a[name] != b[name]]
    assert different == [], different


def test_options_are_checked_before_any_work(tmp_path):
    """A typo in any option is reported before the images are even looked for (here they do not exist,
    so an options error proves the check came first), and nothing is written."""
    missing = tmp_path / "no-such-folder"
    cases = {
        "layouts": ("umpa,grid", "unknown layout(s) umpa"),
        "metric": ("cosin", "unknown metric 'cosin'"),
        "pca_components": (1, "pca-components"),
        "min_dist": ("0.1,x", "min-dist"),
        "weights": (str(tmp_path / "nope.h5"), "weights file not found"),
    }
    for option, (value, message) in cases.items():
        with pytest.raises(BuildError, match=message.replace("(", r"\(").replace(")", r"\)")):
            pixmap.build(images=missing, out_dir=tmp_path / "out", progress=False, **{option: value})
    assert sorted(os.listdir(tmp_path)) == []


def test_column_options_are_checked_before_the_image_pass(tmp_path, demo_metadata):
    """--group-by/--sort-by naming a column that is not there, and --supervised without a label
    column, fail once the metadata is read: before any image is decoded."""
    for option, value, message in (("group_by", "schol", "--group-by schol: no such metadata column"),
                                   ("sort_by", "titel", "--sort-by titel: no such metadata column"),
                                   ("supervised", True, "--supervised needs a 'label'")):
        with pytest.raises(BuildError, match=message) as err:
            pixmap.build(images=DEMO, metadata=demo_metadata, out_dir=tmp_path / "out", progress=False,
                         cache_dir="none", **{option: value})
        assert "category" in str(err.value)  # the message lists the columns there are
    assert not (tmp_path / "out").exists() and not (tmp_path / "out-artifacts").exists()
    assert [p for p in os.listdir(tmp_path) if "building" in p] == []


def test_hotspots_are_named_from_the_group_by_column(tmp_path, built_site_result):
    """With --group-by collection, hotspots are labelled by the collection column, not by category."""
    man = json.loads((built_site_result.out_dir / "data" / "manifest.json").read_text())
    assert man["clusters"]["hotspots"]
    import csv
    with open(DEMO / "metadata.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    collections = {r["collection"] for r in rows}
    categories = {r["category"] for r in rows}
    assert not collections & categories  # the two columns have different values
    res = pixmap.build(images=DEMO, metadata=DEMO / "metadata.csv", out_dir=tmp_path / "site",
                       cache_dir=built_site_result.out_dir.parent / "cache", progress=False,
                       layouts="umap", group_by="collection")
    spots = json.loads((res.out_dir / "data" / "manifest.json").read_text())["clusters"]["hotspots"]
    assert len(spots) >= 2
    for h in spots:
        assert h["label"].split(" (")[0] in collections, h["label"]


def test_interrupted_pass_keeps_the_computed_vectors(tmp_path, monkeypatch):
    """Ctrl-C during the image pass (raised here right after the model's second batch) keeps both
    batches' vectors in the cache, leaves no half-built site, and a restart computes only the rest."""
    cache_dir = tmp_path / "cache"
    real_put = features.FeatureCache.put
    calls = []

    model_cache = features.model_key("efficientnet-lite0", "default")

    def put_then_interrupt(self, keys, vectors):
        real_put(self, keys, vectors)
        if self.folder is None or self.folder.name != model_cache:   # (the descriptors' caches)
            return
        calls.append(len(keys))
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(features.FeatureCache, "put", put_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        pixmap.build(images=DEMO, max_images=100, out_dir=tmp_path / "site", cache_dir=cache_dir,
                     progress=False, layouts="umap", batch_size=16)
    monkeypatch.undo()
    assert calls == [16, 16]
    assert not (tmp_path / "site").exists() and not (tmp_path / "site-artifacts").exists()
    assert [p for p in os.listdir(tmp_path) if p.startswith(".")] == []
    key = features.model_key("efficientnet-lite0", "default")
    assert len(features.FeatureCache(cache_dir, key)) == 32

    res = pixmap.build(images=DEMO, max_images=100, out_dir=tmp_path / "site", cache_dir=cache_dir,
                       progress=False, layouts="umap", batch_size=16)
    assert res.n_images == 100 and res.n_computed == 100 - 32


def test_an_image_whose_thumbnail_cannot_be_written_is_skipped_not_fatal(tmp_path, built_site_result):
    """One thumbnail write failing (here: a folder sits where its file must go) skips that image with
    the reason, removes its other file, and the pass goes on with the rest."""
    from pixmap import sources

    _, srcs = sources.find_images(DEMO, max_images=12)
    data = tmp_path / "data"
    blocked = srcs[5]
    (data / "thumbs" / shard_of(blocked.id) / f"{blocked.id}.webp").mkdir(parents=True)
    cache = features.FeatureCache(built_site_result.out_dir.parent / "cache",
                                  features.model_key("efficientnet-lite0", "default"))
    opts = {**pixmap.pipeline.DEFAULTS, "thumb_size": 256}
    res = imagepass.run(srcs, data, opts, cache, cell_size=32, progress=False)
    assert [s.id for s in res.kept] == [s.id for s in srcs if s is not blocked]
    assert len(res.skipped) == 1 and res.skipped[0][0] == str(blocked.path)
    assert "cannot write its thumbnail" in res.skipped[0][1]
    assert not (data / "lightbox" / shard_of(blocked.id) / f"{blocked.id}.webp").exists()
    assert res.features.shape == (11, 1280) and np.isfinite(res.features).all()
    assert res.cells.shape == (11, 5)


_BUILD_SCRIPT = textwrap.dedent("""
    import sys
    import pixmap, pixmap.features as F
    init = F.FeatureCache.__init__
    def small_batches(self, *a, **k):   # a shard every 16 vectors (1,000 in real builds) to test it on 80 images
        k["flush_every"] = 16
        init(self, *a, **k)
    F.FeatureCache.__init__ = small_batches
    images, out, cache, first = sys.argv[1:5]
    pixmap.build(images=images, max_images=80, out_dir=out, cache_dir=cache, progress=False,
                 layouts="umap", batch_size=8, **({"sample": 60, "seed": int(first)} if first != "-" else {}))
""")


def _start_build(tmp_path, out, cache, variant="-"):
    script = tmp_path / "build.py"
    script.write_text(_BUILD_SCRIPT)
    return subprocess.Popen([sys.executable, str(script), str(DEMO / "images"), str(out), str(cache), variant],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _cached(cache_dir) -> int:
    key = features.model_key("efficientnet-lite0", "default")
    return len(features.FeatureCache(cache_dir, key))


def test_a_killed_build_restarts_where_it_was_and_gives_the_same_features(tmp_path):
    """SIGKILL in the middle of the image pass (no chance to clean up): the cache keeps every shard written
    before the kill, the restarted build computes only the rest, and its features equal those of a build
    that was never interrupted."""
    import signal
    import time

    cache = tmp_path / "cache"
    proc = _start_build(tmp_path, tmp_path / "site", cache)
    deadline = time.monotonic() + 240
    while _cached(cache) < 32 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = _cached(cache)
    assert 32 <= kept < 80 and kept % 16 == 0, kept        # whole shards only, and the pass was not over
    assert not (tmp_path / "site").exists()                 # nothing half-published

    res = pixmap.build(images=DEMO / "images", max_images=80, out_dir=tmp_path / "site", cache_dir=cache,
                       progress=False, layouts="umap", batch_size=8)
    assert res.n_computed == 80 - kept
    again = np.load(res.artifacts_dir / "features.npy")
    clean = pixmap.build(images=DEMO / "images", max_images=80, out_dir=tmp_path / "clean",
                         cache_dir=tmp_path / "cache2", progress=False, layouts="umap", batch_size=8)
    assert clean.n_computed == 80
    # the same vectors (TensorFlow's CPU kernels may differ in the last bits between batch compositions)
    assert np.allclose(again, np.load(clean.artifacts_dir / "features.npy"), rtol=1e-5, atol=1e-6)


def test_two_builds_sharing_a_cache_at_once_both_succeed(tmp_path):
    cache = tmp_path / "cache"
    procs = [_start_build(tmp_path, tmp_path / f"site{k}", cache, variant=str(k)) for k in (1, 2)]
    outs = [p.communicate(timeout=400)[0].decode(errors="replace") for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    n = _cached(cache)
    ids = [set(read_metadata(tmp_path / f"site{k}")["ids"]) for k in (1, 2)]
    assert n == len(ids[0] | ids[1]) and len(ids[0]) == len(ids[1]) == 60   # every vector of both, once
    key = features.model_key("efficientnet-lite0", "default")
    cache_obj = features.FeatureCache(cache, key)
    assert len(cache_obj) == n   # readable again from a fresh process' point of view
