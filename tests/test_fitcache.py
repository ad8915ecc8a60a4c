"""pixmap.fitcache: seeded UMAP and kNN fits kept for a rebuild, keyed by everything that decides them."""
from __future__ import annotations

import numpy as np

from pixmap import fitcache
from pixmap.layouts import umap as umap_layouts


def counting(value):
    calls = []

    def compute():
        calls.append(1)
        return value() if callable(value) else value
    return compute, calls


def test_off_outside_a_build_computes_every_time():
    compute, calls = counting(np.arange(3))
    fitcache.cached("t", {"x": np.zeros(2)}, {"p": 1}, compute)
    fitcache.cached("t", {"x": np.zeros(2)}, {"p": 1}, compute)
    assert len(calls) == 2


def test_a_second_identical_fit_comes_from_the_cache(tmp_path):
    x = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    compute, calls = counting(lambda: (x * 2, np.arange(20)))
    with fitcache.using(tmp_path):
        a = fitcache.cached("t", {"x": x}, {"p": 1}, compute)
        b = fitcache.cached("t", {"x": x}, {"p": 1}, compute)
        assert len(calls) == 1
        assert isinstance(b, tuple) and all(np.array_equal(u, v) and u.dtype == v.dtype for u, v in zip(a, b))
        # anything that decides the result is in the key: parameters, kind, input bytes, dtype, shape
        fitcache.cached("t", {"x": x}, {"p": 2}, compute)
        fitcache.cached("u", {"x": x}, {"p": 1}, compute)
        y = x.copy()
        y[3, 1] += 1e-6
        fitcache.cached("t", {"x": y}, {"p": 1}, compute)
        fitcache.cached("t", {"x": x.astype(np.float64)}, {"p": 1}, compute)
        fitcache.cached("t", {"x": x.reshape(10, 6)}, {"p": 1}, compute)
        assert len(calls) == 6
    # no temporary files left; one entry per distinct fit
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) == 6 and all(p.suffix == ".npz" and not p.name.startswith(".") for p in files)


def test_a_damaged_entry_is_computed_again_and_replaced(tmp_path):
    x = np.ones((4, 2), np.float32)
    compute, calls = counting(np.full(4, 7.0))
    with fitcache.using(tmp_path):
        fitcache.cached("t", {"x": x}, {}, compute)
        (entry,) = [p for p in tmp_path.rglob("*.npz")]
        entry.write_bytes(entry.read_bytes()[:40])     # truncated, as by a crash of another writer
        assert np.array_equal(fitcache.cached("t", {"x": x}, {}, compute), np.full(4, 7.0))
        assert len(calls) == 2
        assert np.array_equal(fitcache.cached("t", {"x": x}, {}, compute), np.full(4, 7.0))
        assert len(calls) == 2


def test_umap_and_knn_fits_are_the_same_bits_from_the_cache(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(120, 10)).astype(np.float32)
    x[:60] += 2.0
    plain = umap_layouts.umap_layout(x, n_neighbors=10, seed=3, n_epochs=50).positions
    graph = umap_layouts.knn(x, 11, "cosine", seed=3)
    with fitcache.using(tmp_path):
        before = fitcache.stats()
        first = umap_layouts.umap_layout(x, n_neighbors=10, seed=3, n_epochs=50).positions
        again = umap_layouts.umap_layout(x, n_neighbors=10, seed=3, n_epochs=50).positions
        g1 = umap_layouts.knn(x, 11, "cosine", seed=3)
        g2 = umap_layouts.knn(x, 11, "cosine", seed=3)
        other = umap_layouts.umap_layout(x, n_neighbors=10, seed=4, n_epochs=50).positions
        unseeded = umap_layouts.umap_layout(x, n_neighbors=10, seed=None, n_epochs=50).positions
        after = fitcache.stats()
    assert np.array_equal(plain, first) and np.array_equal(first, again)
    assert all(np.array_equal(a, b) for a, b in zip(graph, g1)) and all(np.array_equal(a, b) for a, b in zip(g1, g2))
    assert not np.array_equal(first, other) and unseeded.shape == first.shape
    # umap_layout searches its own 10-NN graph: the first fit misses twice (graph, positions), the second hits
    # twice; the 11-NN graph misses, then hits; seed 4 misses twice (the seed is in both keys); the unseeded
    # fit's graph (seed 0: pynndescent's) misses and its positions are not kept
    assert after["hits"] - before["hits"] == 3
    assert after["misses"] - before["misses"] == 6


def test_a_rebuild_takes_every_fit_from_the_cache_and_gives_the_same_map(tmp_path):
    from pathlib import Path

    import pixmap

    demo = Path(__file__).resolve().parent.parent / "datasets" / "aic-paintings" / "images"
    images = sorted(p for p in demo.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:40]
    assert len(images) == 40
    kw = dict(images=[str(p) for p in images], cache_dir=tmp_path / "cache", progress=False, seed=0,
              layouts="umap,umap-3d,grid")
    first = pixmap.build(out_dir=tmp_path / "a", **kw)
    before = fitcache.stats()
    second = pixmap.build(out_dir=tmp_path / "b", **kw)
    after = fitcache.stats()
    assert after["misses"] == before["misses"] and after["hits"] > before["hits"]
    for name in ("umap", "umap-3d", "grid"):
        a = np.load(first.artifacts_dir / f"layout_{name}.npy")
        b = np.load(second.artifacts_dir / f"layout_{name}.npy")
        assert np.array_equal(a, b), name
    assert np.array_equal(np.load(first.artifacts_dir / "clusters.npy"), np.load(second.artifacts_dir / "clusters.npy"))
    assert (tmp_path / "cache" / "fits").is_dir()
