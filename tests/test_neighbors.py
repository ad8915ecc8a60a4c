"""Similar images (pixmap.neighbors, pixmap.discover): each image's k nearest neighbours, best first, as the
site's chunked files (docs/site-format.md, "Version 5"); and what a real build writes with and without them."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pixmap import discover, neighbors, options
from pixmap.layouts import umap as umap_layouts

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "datasets" / "aic-paintings"


def brute_cosine(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Every row's k nearest other rows by cosine distance, in float64, ties by index."""
    y = x.astype(np.float64)
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    d = 1.0 - y @ y.T
    np.fill_diagonal(d, np.inf)
    order = np.lexsort((np.broadcast_to(np.arange(len(x)), d.shape), d), axis=1)[:, :k]
    return order, np.take_along_axis(d, order, axis=1)


def clustered(n=600, d=24, groups=6, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(groups, d)) * 3
    return (centres[rng.integers(0, groups, n)] + rng.normal(size=(n, d))).astype(np.float32)


def test_knn_graph_matches_brute_force_best_first():
    x = clustered()
    graph = neighbors.knn_graph(x, 13, "cosine")
    idx, dist = neighbors.drop_self(*graph, 12)
    assert idx.shape == dist.shape == (600, 12) and idx.dtype == np.uint32
    want, want_d = brute_cosine(x, 12)
    assert (idx == want).mean() > 0.999           # the same neighbours, in the same order (ties aside)
    np.testing.assert_allclose(dist, want_d, atol=1e-5)
    assert (np.diff(dist, axis=1) >= -1e-7).all()  # best first
    assert not (idx == np.arange(600)[:, None]).any()


def test_drop_self_needs_self_first_and_caps_k():
    idx = np.array([[0, 1, 2], [1, 0, 2], [2, 1, 0]])
    dist = np.array([[0, .1, .2], [0, .1, .3], [0, .2, .3]], dtype=np.float32)
    a, d = neighbors.drop_self(idx, dist, 12)         # only 2 others exist
    assert a.tolist() == [[1, 2], [0, 2], [1, 0]] and d.shape == (3, 2)
    with pytest.raises(ValueError):
        neighbors.drop_self(idx[:, ::-1], dist, 2)


def test_quantised_distances_within_half_a_step():
    rng = np.random.default_rng(2)
    d = rng.uniform(0, 0.9, size=(500, 12)).astype(np.float32)
    q, scale = neighbors.quantise_distances(d)
    assert q.dtype == np.uint8 and scale == pytest.approx(d.max()) and q.max() == 255
    assert np.abs(q / 255.0 * scale - d).max() <= scale / 510 + 1e-7
    zeros, s0 = neighbors.quantise_distances(np.zeros((3, 2)))
    assert s0 == 1.0 and not zeros.any()


def test_chunk_files_round_trip(tmp_path):
    x = clustered(n=1000)
    idx, dist = neighbors.drop_self(*neighbors.knn_graph(x, 9, "cosine"), 8)
    entry = neighbors.write_neighbors(tmp_path / "data", idx, dist, "cosine", chunk=300)
    assert entry["k"] == 8 and entry["chunk"] == 300 and entry["dir"] == "data/neighbors"
    files = sorted(p.name for p in (tmp_path / "data" / "neighbors").iterdir())
    assert files == sorted([f"{c}.u32" for c in range(4)] + [f"{c}.u8" for c in range(4)])
    assert (tmp_path / "data" / "neighbors" / "3.u32").stat().st_size == 100 * 8 * 4   # the last, shorter
    (tmp_path / "data" / "manifest.json").write_text(json.dumps({"count": 1000, "neighbors": entry}))
    got, q, _ = neighbors.read_neighbors(tmp_path)
    assert (got == idx).all()
    np.testing.assert_allclose(q / 255.0 * entry["distance_scale"], dist, atol=entry["distance_scale"] / 500)


def test_one_search_serves_umap_and_the_similar_images():
    """discover.search finds enough neighbours for UMAP's largest n_neighbors and k similar images; none is
    searched when similar images are off."""
    x = clustered(n=300)
    opts = {**options.DEFAULTS, "n_neighbors": "5,15"}
    idx, _ = discover.search(x, opts)
    assert idx.shape == (300, 15)
    idx, _ = discover.search(x, {**opts, "n_neighbors": "10", "neighbors_k": 12})
    assert idx.shape == (300, 13) and (idx[:, 0] == np.arange(300)).all()
    assert discover.search(x, {**opts, "neighbors_k": 0}) is None


def test_label_share():
    labels = np.array(["a", "a", "b", "b"])
    assert neighbors.label_share(np.array([[1], [0], [0], [2]]), labels) == 0.75


# ---------------------------------------------------------------------------------------- real builds
@pytest.fixture(scope="module")
def small_builds(tmp_path_factory):
    """Two real builds of 30 demo paintings: the defaults, and without vectors and neighbours."""
    import pixmap

    tmp = tmp_path_factory.mktemp("nn-build")
    common = dict(images=DEMO / "images", max_images=30, cache_dir=tmp / "cache", progress=False, layouts="umap")
    full = pixmap.build(out_dir=tmp / "full", **common)
    bare = pixmap.build(out_dir=tmp / "bare", neighbors_k=0, vectors=False, **common)
    return full, bare


def test_a_build_writes_neighbours_in_its_pca_space(small_builds):
    from pixmap.site import read_metadata

    full, _ = small_builds
    man = json.loads((full.out_dir / "data" / "manifest.json").read_text())
    assert man["version"] == 6
    entry = man["neighbors"]
    assert entry["k"] == 12 and entry["metric"] == "cosine" and entry["space"] == "pca-30"
    idx, q, _ = neighbors.read_neighbors(full.out_dir)
    # the same neighbours as a brute-force search in the build's PCA space (recomputed from its features)
    feats = np.load(full.artifacts_dir / "features.npy")
    reduced = umap_layouts.reduce_pca(feats, 100, seed=0)
    want, want_d = brute_cosine(reduced, 12)
    assert (idx == want).mean() > 0.99
    np.testing.assert_allclose(q / 255.0 * entry["distance_scale"], want_d, atol=entry["distance_scale"] / 500)
    assert len(read_metadata(full.out_dir)["ids"]) == 30
    assert "neighbors" in full.timings


def test_a_build_without_neighbours_or_vectors(small_builds):
    full, bare = small_builds
    man = json.loads((bare.out_dir / "data" / "manifest.json").read_text())
    assert "neighbors" not in man and "vectors" not in man
    assert not (bare.out_dir / "data" / "neighbors").exists() and not (bare.out_dir / "data" / "vectors").exists()
    # the map itself is the same: UMAP searched its own neighbours, the same ones
    a = np.fromfile(full.out_dir / "data" / "layouts" / "umap.f32", dtype="<f4")
    b = np.fromfile(bare.out_dir / "data" / "layouts" / "umap.f32", dtype="<f4")
    np.testing.assert_array_equal(a, b)


def test_the_size_report_names_what_the_parts_cost(small_builds):
    from pixmap.sitesize import report, sizes

    full, bare = small_builds
    s = sizes(full.out_dir)
    assert s["neighbors"] == 30 * 12 * 5 and s["vectors"] == 30 * 30   # 30 images: PCA keeps 30 dims
    text = report(full.out_dir)
    assert "60 bytes per image" in text and "30 bytes per image" in text
    assert "none (--no-vectors)" in report(bare.out_dir) and "none (--neighbors-k 0)" in report(bare.out_dir)


def test_the_cli_offers_and_checks_the_options(tmp_path):
    from click.testing import CliRunner

    from pixmap.cli import main

    out = CliRunner().invoke(main, ["build", "--help"])
    assert "--neighbors-k" in out.output and "--no-vectors" in out.output
    bad = CliRunner().invoke(main, ["build", "--images", str(DEMO / "images"), "--neighbors-k", "-1",
                                    "--out", str(tmp_path / "x")])
    assert bad.exit_code != 0 and "neighbors-k" in bad.output
    with pytest.raises(options.OptionError, match="neighbors-k"):
        options.check_options({**options.DEFAULTS, "neighbors_k": 101})
