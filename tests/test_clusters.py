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
