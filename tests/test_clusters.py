import numpy as np

from pixmap import clusters


def blobs(seed=0, sizes=(60, 40, 25), noise=10):
    rng = np.random.default_rng(seed)
    centres = [(0, 0), (10, 0), (0, 10)]
    pts = [rng.normal(c, 0.5, size=(s, 2)) for c, s in zip(centres, sizes)]
    pts.append(rng.uniform(-5, 15, size=(noise, 2)))
    return np.vstack(pts)


def test_hdbscan_finds_the_blobs_sorted_by_size():
    x = blobs()
    labels, method = clusters.find_clusters(x, min_cluster_size=8)
    assert method == "hdbscan"
    assert set(labels[:60]) == {0} and set(labels[60:100]) == {1} and set(labels[100:125]) == {2}
    assert labels.dtype == np.int32


def test_max_clusters_keeps_the_largest():
    labels, _ = clusters.find_clusters(blobs(), min_cluster_size=8, max_clusters=2)
    assert set(labels.tolist()) <= {-1, 0, 1}
    assert (labels[100:125] == -1).all()


def test_kmeans_when_hdbscan_finds_less_than_two():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(80, 2))  # one blob: HDBSCAN sees a single group or noise
    labels, method = clusters.find_clusters(x, min_cluster_size=30)
    assert method == "kmeans"
    assert len(set(labels.tolist())) >= 2 and (labels >= 0).all()


def test_medoid_is_the_most_central_member():
    x = np.array([[0, 0], [1, 0], [2, 0], [3, 0], [100, 0]], float)
    assert clusters.medoid(x, np.array([0, 1, 2, 3]), metric="euclidean") in (1, 2)
    assert clusters.medoid(x, np.array([0, 1, 2]), metric="euclidean") == 1
    # sampled path agrees with the exact one on a big symmetric blob
    rng = np.random.default_rng(0)
    big = rng.normal(size=(5000, 2))
    i = clusters.medoid(big, np.arange(5000), metric="euclidean", sample=1000)
    assert np.linalg.norm(big[i]) < 0.2


def test_labels_use_the_most_common_category():
    labels = np.array([0, 0, 0, 1, 1, -1])
    cats = ["rose", "rose", "tulip", None, "", "rose"]
    assert clusters.label_hotspots(labels, cats) == ["rose", "Cluster 2"]
    assert clusters.label_hotspots(np.array([0, 1]), ["a", "a"]) == ["a", "a (2)"]


def test_hotspots_end_to_end():
    x = blobs()
    res = clusters.hotspots(x, x, ["a"] * 60 + ["b"] * 65 + [None] * 10, min_cluster_size=8)
    assert [h.size for h in res.hotspots] == sorted((h.size for h in res.hotspots), reverse=True)
    assert res.hotspots[0].label == "a"
    for h in res.hotspots:
        assert res.labels[h.representative] == h.id


def test_tiny_inputs():
    assert clusters.find_clusters(np.zeros((0, 2)))[0].shape == (0,)
    labels, _ = clusters.find_clusters(np.zeros((3, 2)))
    assert (labels == -1).all()


def test_members_by_label_matches_a_scan_per_cluster():
    labels = np.random.default_rng(3).integers(-1, 6, 5000)
    groups = clusters._members_by_label(labels, 6)
    for c in range(6):
        assert np.array_equal(groups[c], np.flatnonzero(labels == c))


def test_medoid_of_a_huge_hotspot_reads_its_members_in_chunks():
    """The sampled medoid of 200,000 members of 64 floats (51 MB) is the same whatever the chunk, near
    the blob's centre, and allocates far less than a copy of the members."""
    import tracemalloc

    rng = np.random.default_rng(0)
    pts = rng.normal(size=(200_000, 64)).astype(np.float32) + 5
    members = np.arange(200_000)
    clusters.medoid(pts[:3000], members[:3000], metric="euclidean", sample=500)  # imports done
    tracemalloc.start()
    try:
        i = clusters.medoid(pts, members, metric="euclidean", sample=500, chunk=4096)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < pts.nbytes / 3, peak
    assert i == clusters.medoid(pts, members, metric="euclidean", sample=500, chunk=10**6)
    assert np.linalg.norm(pts[i] - 5) < np.percentile(np.linalg.norm(pts - 5, axis=1), 5)


def test_hotspots_on_a_large_2d_layout():
    rng = np.random.default_rng(2)
    centres = rng.uniform(-50, 50, size=(12, 2))
    lab = rng.integers(0, 12, 60_000)
    xy = centres[lab] + rng.normal(size=(60_000, 2))
    feats = np.hstack([xy, rng.normal(size=(60_000, 6))]).astype(np.float32)
    res = clusters.hotspots(xy, feats, [f"c{k}" for k in lab], max_clusters=20)
    assert res.method == "hdbscan" and res.labels.shape == (60_000,)
    assert 2 <= len(res.hotspots) <= 20
    for h in res.hotspots:
        members = np.flatnonzero(res.labels == h.id)
        assert h.size == members.size and res.labels[h.representative] == h.id
        assert h.label.split(" (")[0] == f"c{np.bincount(lab[members]).argmax()}"


# ---- several clusterings (--cluster-method, --cluster-eval, ...): real scikit-learn / hdbscan / scipy

import json  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

import pixmap  # noqa: E402


def kblobs(k=4, per=50, dims=6, seed=0, spread=0.6):
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-12, 12, size=(k, dims))
    x = np.vstack([rng.normal(c, spread, size=(per, dims)) for c in centres])
    return x, np.repeat(np.arange(k), per)


@pytest.mark.parametrize("method", ["kmeans", "agglomerative", "spectral"])
@pytest.mark.parametrize("cluster_eval", ["silhouette", "dbindex", "derivative"])
def test_k_selection_finds_the_number_of_blobs(method, cluster_eval):
    x, truth = kblobs()
    got = clusters.cluster_labels(x, method, cluster_eval=cluster_eval, max_clusters=10)
    assert got["params"]["k"] == 4 and got["params"]["k_from"] == cluster_eval
    ks = [k for k, _ in got["k_curve"]]
    assert 4 in ks and min(ks) >= 2 and max(ks) <= 10
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(truth, got["labels"]) > 0.95


def test_k_curve_scores_mean_what_they_say():
    x, _ = kblobs(k=3, seed=1)
    k, curve = clusters.choose_k(x, "kmeans", range(2, 7), "silhouette")
    scores = dict(curve)
    assert k == 3 and scores[3] == max(scores.values())
    k, curve = clusters.choose_k(x, "kmeans", range(2, 7), "dbindex")
    assert k == 3 and dict(curve)[3] == min(dict(curve).values())
    k, curve = clusters.choose_k(x, "kmeans", range(2, 7), "derivative")   # dispersion falls, then flattens
    values = [v for _, v in curve]
    assert k == 3 and values == sorted(values, reverse=True)


def test_given_n_clusters_and_linkage_are_used():
    x, _ = kblobs(k=4, seed=2)
    got = clusters.cluster_labels(x, "agglomerative", n_clusters=6, linkage_method="average")
    assert got["params"]["k"] == 6 and got["params"]["linkage"] == "average" and got["k_curve"] is None
    assert got["linkage"].shape == (len(x) - 1, 4) and (got["sample_index"] == np.arange(len(x))).all()


def test_quadratic_methods_cluster_a_sample_and_assign_the_rest():
    x, truth = kblobs(k=3, per=200, seed=3)
    for method in ("agglomerative", "spectral", "affinity"):
        got = clusters.cluster_labels(x, method, sample=150, seed=0)
        assert got["params"]["sample"] == 150
        assert (got["labels"] >= 0).all() and len(got["labels"]) == 600
        from sklearn.metrics import adjusted_rand_score

        if method != "affinity":   # affinity propagation finds its own (finer) number of clusters
            assert adjusted_rand_score(truth, got["labels"]) > 0.95
    agg = clusters.cluster_labels(x, "agglomerative", sample=150, seed=0)
    assert agg["linkage"].shape == (149, 4) and len(agg["sample_index"]) == 150


def test_dbscan_eps_comes_from_the_knn_distance_curve():
    x, truth = kblobs(k=3, seed=4, spread=0.5)
    rng = np.random.default_rng(5)
    x = np.vstack([x, rng.uniform(-30, 30, size=(10, x.shape[1]))])
    eps = clusters.dbscan_eps(x, 12)
    inside = np.linalg.norm(x[:50] - x[:50].mean(axis=0), axis=1).max()
    assert 0.1 < eps < 2 * inside                        # larger than the noise-free spacing, within a blob
    got = clusters.cluster_labels(x, "dbscan")
    assert got["params"]["eps_from"] == "knn-distance curve" and got["params"]["k"] == 3
    assert (got["labels"][150:] == -1).sum() >= 8          # the scattered points stay noise
    given = clusters.cluster_labels(x, "dbscan", eps=1e-3)
    assert given["params"]["eps_from"] == "given" and (given["labels"] == -1).all()


def test_confident_noise_joins_its_neighbours_hotspot():
    labels = np.array([0, 0, 0, -1, 1, 1, -1])
    graph = np.array([[0, 1, 2], [1, 0, 2], [2, 0, 1], [3, 0, 1], [4, 5, 6], [5, 4, 6], [6, 0, 4]])
    out = clusters.assign_noise(labels, graph, k=2, share=1.0)
    assert out.tolist() == [0, 0, 0, 0, 1, 1, -1]      # 6's neighbours disagree: it stays in none
    assert clusters.assign_noise(labels, graph, k=2, share=0.5)[6] in (0, 1)


def test_every_method_runs_and_names_are_unique():
    x, _ = kblobs(k=3, seed=6)
    for method in clusters.METHODS:
        got = clusters.cluster_labels(x, method, max_clusters=5)
        assert got["labels"].dtype == np.int32 and got["labels"].max() < 5, method
    assert clusters.set_name("kmeans", "palette", set()) == "kmeans-palette"
    assert clusters.set_name("kmeans", "cnn", {"kmeans"}) == "kmeans-2"


@pytest.mark.parametrize("opts, message", [
    ({"cluster_method": "hdbscan,kmeens"}, "unknown cluster method 'kmeens'"),
    ({"cluster_method": ","}, "cluster-method is empty"),
    ({"cluster_eval": "elbow"}, "unknown cluster-eval"),
    ({"linkage": "centroid"}, "unknown linkage"),
    ({"cluster_space": "colour"}, "unknown cluster-space"),
    ({"cluster_space": "blend"}, "needs --blend"),
    ({"n_clusters": 1}, "n-clusters must be"),
])
def test_bad_options_say_what_to_give(opts, message):
    with pytest.raises(clusters.ClusterError, match=message):
        clusters.check_cluster_options(opts)


def test_a_space_that_is_not_built_is_a_clear_error():
    x, _ = kblobs()
    with pytest.raises(clusters.ClusterError, match="'palette' is not in this build; this build has: cnn"):
        clusters.cluster_sets({"cnn": x, "palette": None}, None, {"cluster_space": "palette"})


DEMO = Path(__file__).resolve().parents[1] / "datasets" / "aic-paintings"


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory):
    """A build of 48 demo paintings with every clustering method (real model, UMAP, HDBSCAN, scikit-learn)."""
    root = tmp_path_factory.mktemp("clusterings")
    images = root / "images"
    images.mkdir()
    for p in sorted((DEMO / "images").glob("*.jpg"))[:48]:
        (images / p.name).symlink_to(p)
    out = root / "site"
    pixmap.build(str(images), str(DEMO / "metadata.csv"), str(out), progress=False, max_clusters=6,
                 cluster_method="hdbscan,kmeans,agglomerative,dbscan,spectral,affinity", cluster_eval="dbindex",
                 linkage="average")
    return out, json.loads((out / "data" / "manifest.json").read_text())


def test_every_method_runs_on_the_demo(demo_site):
    out, man = demo_site
    sets = man["clusterings"]
    assert [s["method"] for s in sets] == list(clusters.METHODS)
    assert [s["name"] for s in sets] == list(clusters.METHODS) and all(s["space"] == "cnn" for s in sets)
    for s in sets:
        labels = np.fromfile(out / s["file"], dtype="<i4")
        assert s["file"] == f"data/clusters-{s['name']}.i32" and len(labels) == man["count"] == 48
        ids = sorted(h["id"] for h in s["hotspots"])
        assert ids == list(range(len(ids))) and set(labels.tolist()) - {-1} == set(ids) and len(ids) <= 6
        for h in s["hotspots"]:
            assert h["size"] == int((labels == h["id"]).sum()) and labels[h["representative"]] == h["id"]
            assert h["silhouette"] is None or -1 <= h["silhouette"] <= 1
        q = s["quality"]
        assert q["n_clusters"] == len(ids) and 0 <= q["noise_share"] <= 1 and "nmi" in q and "per_cluster" not in q
    by = {s["method"]: s for s in sets}
    assert by["agglomerative"]["params"]["linkage"] == "average"
    assert by["kmeans"]["params"]["k_from"] == "dbindex" and by["kmeans"]["params"]["embedding"] == "umap-8d"


def test_the_first_clustering_is_the_sites_main_hotspots(demo_site):
    out, man = demo_site
    first = man["clusterings"][0]
    main = man["clusters"]
    assert main["clustering"] == first["name"] == "hdbscan" and main["method"] == "hdbscan"
    assert (out / main["file"]).read_bytes() == (out / first["file"]).read_bytes()
    assert [h["id"] for h in main["hotspots"]] == [h["id"] for h in first["hotspots"]]
    assert [h["silhouette"] for h in main["hotspots"]] == [h["silhouette"] for h in first["hotspots"]]
    assert main["quality"]["n_clusters"] == len(main["hotspots"])


def test_above_the_umap_limit_the_map_layout_or_a_pca_is_clustered(monkeypatch):
    x, _ = kblobs(k=3, seed=7)
    layout = x[:, :2] * 2
    monkeypatch.setattr(clusters, "CLUSTER_UMAP_MAX", 50)
    emb, graph, name = clusters.cluster_embedding(x, layout=layout)
    assert name == "layout-2d" and np.array_equal(emb, layout) and (graph[0][:, 0] == np.arange(len(x))).all()
    emb, _, name = clusters.cluster_embedding(x)
    assert name == "pca-6" and emb.shape == (len(x), 6)
    sets = clusters.cluster_sets({"cnn": x, "blend": x}, None, {"cluster_method": "kmeans", "n_clusters": 3},
                                 layout=layout)
    assert sets[0].params["embedding"] == "layout-2d" and sets[0].quality["n_clusters"] == 3


def test_hdbscan_falls_back_to_kmeans_on_one_blob():
    x = np.random.default_rng(8).normal(size=(80, 4))
    got = clusters.cluster_labels(x, "hdbscan", min_cluster_size=30, max_clusters=6)
    assert got["method"] == "kmeans" and "fewer than two" in got["params"]["note"]
    assert got["params"]["k"] >= 2 and (got["labels"] >= 0).all()


def test_hotspots_stay_numbered_by_size_after_noise_joins_them():
    x, _ = kblobs(k=4, per=40, seed=9, spread=1.5)
    from pixmap.neighbors import knn_graph

    got = clusters.cluster_labels(x, "hdbscan", min_cluster_size=5, graph_indices=knn_graph(x, 11)[0])
    sizes = np.bincount(got["labels"][got["labels"] >= 0])
    assert list(sizes) == sorted(sizes, reverse=True)
