"""pixmap.layouts.umap: PCA, exact kNN, seeded UMAP (2D, 3D, supervised), tiny inputs, warm-up."""
import numpy as np
import pytest
from scipy.spatial.distance import cdist

from pixmap.layouts.base import normalise
from pixmap.layouts.umap import knn, reduce_pca, umap_layout, warm_up


def clustered(n=160, d=24, centres=4, seed=0):
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centres, d)) * 5
    lab = rng.integers(0, centres, n)
    return (c[lab] + rng.normal(size=(n, d))).astype(np.float32), lab


def test_reduce_pca_shapes_and_dtype():
    x, _ = clustered(120, 64)
    for n_comp, want in ((50, 50), (10, 10), (500, 64)):
        p = reduce_pca(x, n_comp)
        assert p.shape == (120, want) and p.dtype == np.float32
    assert reduce_pca(x[:7], 50).shape == (7, 7)
    assert reduce_pca(x[:1], 50).shape == (1, 1)
    assert reduce_pca(x[:0], 50).shape[0] == 0
    # deterministic, and the first component carries the most variance
    p1, p2 = reduce_pca(x, 10, seed=3), reduce_pca(x, 10, seed=3)
    assert np.array_equal(p1, p2)
    assert p1[:, 0].var() >= p1[:, 1].var()


@pytest.mark.parametrize("metric,scipy_metric", [("cosine", "cosine"), ("euclidean", "euclidean"),
                                                 ("manhattan", "cityblock")])
def test_knn_exact_matches_brute_force(metric, scipy_metric):
    x, _ = clustered(300, 16, seed=1)
    idx, dist = knn(x, 10, metric)
    assert idx.shape == dist.shape == (300, 10)
    assert dist.dtype == np.float32
    d = cdist(x.astype(np.float64), x.astype(np.float64), scipy_metric)
    ref = np.argsort(d, axis=1, kind="stable")[:, :10]
    assert (idx == ref).mean() > 0.999
    np.testing.assert_allclose(dist, np.sort(d, axis=1)[:, :10], atol=1e-5)
    assert (idx[:, 0] == np.arange(300)).all() and (dist[:, 0] == 0).all()
    assert (np.diff(dist, axis=1) >= 0).all()


def test_knn_self_first_with_duplicates_and_zero_vectors():
    x, _ = clustered(50, 8)
    x = np.vstack([x] + [x[:2]] * 8)          # 9 copies of rows 0 and 1
    x[5] = 0
    idx, dist = knn(x, 5, "cosine")
    assert (idx[:, 0] == np.arange(len(x))).all()
    assert (dist[:, 0] == 0).all() and np.isfinite(dist).all()
    assert idx.shape == (len(x), 5)
    i3, _ = knn(x[:3], 10)                      # k > n: k becomes n
    assert i3.shape == (3, 3)


def test_umap_reproducible_shape_dtype():
    x, _ = clustered()
    a = umap_layout(x, seed=7)
    b = umap_layout(x, seed=7)
    assert a.name == "umap" and a.dims == 2
    assert a.positions.shape == (len(x), 2) and a.positions.dtype == np.float32
    assert np.array_equal(a.positions, b.positions)
    assert np.isfinite(a.positions).all()
    assert a.params["n_neighbors"] == 15 and a.params["min_dist"] == 0.1
    c = umap_layout(x, seed=8)
    assert not np.array_equal(a.positions, c.positions)
    normalise(a)


def test_umap_keeps_clusters_apart():
    x, lab = clustered(200, 24, centres=3, seed=2)
    pos = umap_layout(x, seed=0).positions
    centroid = np.stack([pos[lab == k].mean(0) for k in range(3)])
    nearest = np.argmin(cdist(pos, centroid), axis=1)
    assert (nearest == lab).mean() > 0.95


def test_umap_3d_and_precomputed_neighbours():
    x, _ = clustered(120)
    nb = knn(x, 30)
    l3 = umap_layout(x, dims=3, neighbors=nb)
    assert l3.name == "umap-3d" and l3.positions.shape == (120, 3)
    a = umap_layout(x, n_neighbors=10, neighbors=nb)
    b = umap_layout(x, n_neighbors=10)
    assert np.array_equal(a.positions, b.positions)   # sliced neighbours == fresh ones


def test_umap_supervised_runs():
    x, lab = clustered(150)
    labels = lab.copy()
    labels[::5] = -1                                   # unknown
    sup = umap_layout(x, labels=labels)
    assert sup.name == "umap-supervised" and sup.params["supervised"] is True
    assert sup.positions.shape == (150, 2) and np.isfinite(sup.positions).all()
    # a single known class cannot supervise: still runs, unsupervised
    one = umap_layout(x, labels=np.where(labels > 0, 0, -1))
    assert one.params["supervised"] is False and np.isfinite(one.positions).all()
    with pytest.raises(ValueError):
        umap_layout(x, labels=labels[:10])


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 9, 15, 16, 17])
@pytest.mark.parametrize("dims", [2, 3])
def test_umap_tiny_inputs(n, dims):
    x, _ = clustered(max(n, 1), 10)
    x = x[:n]
    layout = umap_layout(x, dims=dims)
    assert layout.positions.shape == (n, dims)
    assert layout.positions.dtype == np.float32
    assert np.isfinite(layout.positions).all()
    if n >= 2:
        normalise(layout)
        assert len({tuple(p) for p in layout.positions.round(6)}) == n


def test_umap_identical_points():
    x = np.ones((4, 6), np.float32)
    pos = umap_layout(x).positions
    assert len({tuple(p) for p in pos.round(6)}) == 4


def test_warm_up_runs_each_variant_once(monkeypatch):
    from pixmap.layouts import umap as umap_module

    monkeypatch.setattr(umap_module, "_warmed", {(2, False)})   # as if the 2D warm-up had run
    assert warm_up() == []
    assert warm_up(dims=(2, 3)) == [(3, False)]
    assert warm_up(dims=3) == [] and warm_up(dims=(3, 2)) == []
    assert umap_module._warmed == {(2, False), (3, False)}


_WARM_UP_PROBE = """
import hashlib, json, sys
import numpy as np
from numba.core.registry import CPUDispatcher
import umap
from pixmap.layouts import umap as U

def compiled(prefix):
    found = {}
    for name, mod in list(sys.modules.items()):
        if mod is not None and (name == prefix or name.startswith(prefix + ".")):
            for obj in list(vars(mod).values()):
                if isinstance(obj, CPUDispatcher):
                    found[id(obj)] = obj
    return sum(len(d.signatures) for d in found.values())

x = np.load(sys.argv[1])
out = {"before": compiled("umap"), "nndescent_before": compiled("pynndescent"), "first": U.warm_up()}
out["warm"] = compiled("umap")
out["second"] = U.warm_up()
out["after_second"] = compiled("umap")
pos = U.umap_layout(x, seed=7).positions
out["after_fit"] = compiled("umap")
out["nndescent"] = compiled("pynndescent")
out["sha"] = hashlib.sha256(pos.tobytes()).hexdigest()
print(json.dumps(out))
"""


def test_warm_up_compiles_what_a_fit_needs_and_changes_no_result(tmp_path):
    """In a fresh process: warm_up() compiles umap-learn's numba code once; a real seeded fit after it
    compiles nothing more (nor pynndescent's), and gives the same positions, bit for bit, as a fit in
    this process (whatever this process compiled or warmed before)."""
    import hashlib
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    x, _ = clustered(300, 24, seed=1)
    np.save(tmp_path / "x.npy", x)
    root = Path(__file__).resolve().parent.parent
    run = subprocess.run([sys.executable, "-c", _WARM_UP_PROBE, str(tmp_path / "x.npy")], cwd=root,
                         capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    assert run.returncode == 0, run.stderr[-3000:]
    probe = json.loads(run.stdout.strip().splitlines()[-1])
    assert probe["first"] == [[2, False]] and probe["second"] == [], probe
    # (functions with explicit signatures are compiled at import: counted in the "before" numbers)
    assert probe["warm"] > probe["before"] and probe["after_second"] == probe["warm"], probe
    assert probe["after_fit"] == probe["warm"], "the real fit compiled what warm_up() did not"
    assert probe["nndescent"] == probe["nndescent_before"], "pynndescent compiled: UMAP built its own index"
    here = umap_layout(x, seed=7).positions
    assert probe["sha"] == hashlib.sha256(here.tobytes()).hexdigest(), "warm_up() changed a seeded fit"


# -- at scale: PCA from a memmap, fitted on a sample, projected in chunks --------------------------------------

def _anisotropic(n, d=40, seed=0):
    """Rows with clearly ordered principal directions (standard deviations 20, 12, 7, 4, 2, then 1)."""
    rng = np.random.default_rng(seed)
    scales = np.ones(d)
    scales[:5] = [20, 12, 7, 4, 2]
    basis = np.linalg.qr(rng.normal(size=(d, d)))[0]
    return ((rng.normal(size=(n, d)) * scales) @ basis.T + 3.0).astype(np.float32)


def test_reduce_pca_of_a_read_only_memmap_equals_the_in_memory_result(tmp_path):
    x = _anisotropic(1500, 64)
    x[7, 3] = np.nan                                  # replaced by 0 in both, changed in neither
    np.save(tmp_path / "f.npy", x)
    mm = np.load(tmp_path / "f.npy", mmap_mode="r")
    for kwargs in ({}, {"sample": 400, "chunk": 256}):    # the full fit, and the sampled one
        a = reduce_pca(mm, 10, seed=3, **kwargs)
        b = reduce_pca(x, 10, seed=3, **kwargs)
        assert a.dtype == np.float32 and a.shape == (1500, 10)
        assert np.array_equal(a, b), kwargs
    assert np.isnan(x[7, 3]) and np.isnan(np.load(tmp_path / "f.npy")[7, 3])


def test_reduce_pca_below_the_sample_size_is_the_plain_fit():
    """Up to `sample` rows the result is sklearn's PCA fitted on every row, bit for bit (as before the
    sampled path existed)."""
    from sklearn.decomposition import PCA

    x = _anisotropic(1500, 64, seed=4)
    ref = PCA(n_components=12, svd_solver="auto", random_state=5).fit_transform(x).astype(np.float32)
    assert np.array_equal(reduce_pca(x, 12, seed=5), ref)
    assert np.array_equal(reduce_pca(x, 12, seed=5, sample=1500), ref)


def test_sampled_pca_finds_the_same_directions_and_is_deterministic():
    x = _anisotropic(6000, 40, seed=1)
    full = reduce_pca(x, 8, seed=0)
    part = reduce_pca(x, 8, seed=0, sample=800, chunk=700)
    assert part.shape == (6000, 8) and part.dtype == np.float32
    for j in range(5):                                 # the five clear directions, up to sign
        r = np.corrcoef(full[:, j], part[:, j])[0, 1]
        assert abs(r) > 0.97, (j, r)                   # (0.987 or more over 30 data sets and samples)
    assert part.var(0).sum() > 0.99 * full.var(0).sum()
    assert (abs(part.mean(0)) < 4 * part.std(0) / np.sqrt(800)).all()  # centred by the sample's mean
    assert np.array_equal(part, reduce_pca(x, 8, seed=0, sample=800, chunk=700))
    np.testing.assert_allclose(part, reduce_pca(x, 8, seed=0, sample=800, chunk=6000), atol=1e-4)
    other = reduce_pca(x, 8, seed=1, sample=800)
    assert not np.array_equal(part, other)              # another sample...
    assert abs(np.corrcoef(part[:, 0], other[:, 0])[0, 1]) > 0.99   # ...the same map


def _rss_file_mb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("RssFile:")) / 1024


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_release_pages_lets_go_of_what_a_memmap_read(tmp_path):
    from pixmap.layouts.umap import release_pages

    x = np.random.default_rng(0).normal(size=(16_384, 1024)).astype(np.float32)   # 64 MB
    np.save(tmp_path / "f.npy", x)
    mm = np.load(tmp_path / "f.npy", mmap_mode="r")
    before = _rss_file_mb()
    total = float(mm.sum(dtype=np.float64))
    assert _rss_file_mb() > before + 40               # the pages read are counted in this process
    release_pages(mm[100:200])                         # a view: the whole mapping is released
    assert _rss_file_mb() < before + 10
    assert float(mm.sum(dtype=np.float64)) == total    # and the data is all still there
    release_pages(x)                                   # an in-memory array: nothing happens
    assert np.array_equal(np.asarray(mm[:3]), x[:3])


def test_reduce_pca_streams_a_memmap_with_bounded_memory(tmp_path):
    """The sampled path allocates about the sample, a chunk and the result, not the whole input."""
    import tracemalloc

    x = _anisotropic(40_000, 200, seed=2)              # 32 MB
    np.save(tmp_path / "f.npy", x)
    mm = np.load(tmp_path / "f.npy", mmap_mode="r")
    del x
    tracemalloc.start()
    try:
        out = reduce_pca(mm, 10, seed=0, sample=2000, chunk=2048)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.shape == (40_000, 10)
    assert peak < 12e6, peak       # result 1.6 MB + sample 1.6 MB + chunks ~3 MB (+ sklearn's copies)


def test_import_umap_does_not_load_tensorflow():
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys; from pixmap.layouts import umap as U; u = U.import_umap(); U.enable_numba_cache(); "
            "print('tensorflow' in sys.modules, sys.modules.get('umap.parametric_umap', 'absent'), "
            "u.UMAP.__name__)")
    run = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["False", "absent", "UMAP"], run.stdout


def test_fits_side_by_side_give_the_bits_of_fits_one_after_the_other():
    """release_gil_in_optimiser: two seeded fits in two threads at once are the same fits as one by one."""
    from concurrent.futures import ThreadPoolExecutor

    from pixmap.layouts.umap import release_gil_in_optimiser

    assert release_gil_in_optimiser()
    import umap.layouts as ul

    assert ul._get_optimize_layout_euclidean_single_epoch_fn(False).targetoptions.get("nogil")
    rng = np.random.default_rng(3)
    x = np.vstack([rng.normal(size=(150, 12)) + 4 * (i % 3) for i in range(3)]).astype(np.float32)
    jobs = [dict(dims=2, seed=0), dict(dims=3, seed=1), dict(dims=2, seed=2, n_epochs=60)]
    alone = [umap_layout(x, 10, 0.1, "euclidean", **kw).positions for kw in jobs]
    with ThreadPoolExecutor(3) as pool:
        together = [f.result().positions for f in
                    [pool.submit(umap_layout, x, 10, 0.1, "euclidean", **kw) for kw in jobs]]
    for a, b in zip(alone, together):
        assert np.array_equal(a, b)


def test_compute_layouts_with_an_executor_equals_without():
    from concurrent.futures import ThreadPoolExecutor

    from pixmap.layouts import compute_layouts

    rng = np.random.default_rng(5)
    feats = np.vstack([rng.normal(size=(80, 16)) + 5 * i for i in range(3)]).astype(np.float32)
    spaces = {"palette": rng.random((240, 30)).astype(np.float32),
              "composition": rng.random((240, 20)).astype(np.float32),
              "structure": rng.random((240, 25)).astype(np.float32)}
    names = ["umap", "umap-3d", "grid", "colour", "composition", "structure", "hue"]
    done_a, done_b = [], []
    plain = compute_layouts(names, features=feats, spaces=spaces, seed=0, n_neighbors=10,
                            on_done=lambda n, s: done_a.append(n))
    with ThreadPoolExecutor(2) as pool:
        side = compute_layouts(names, features=feats, spaces=spaces, seed=0, n_neighbors=10, executor=pool,
                               on_done=lambda n, s: done_b.append(n))
    assert [lay.name for lay in plain] == [lay.name for lay in side] == names
    assert sorted(done_a) == sorted(done_b) == sorted(names)
    for a, b in zip(plain, side):
        assert np.array_equal(a.positions, b.positions), a.name
