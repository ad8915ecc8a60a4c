import numpy as np
import pytest

from pixmap.quality import cluster_quality


def blobs(seed=0, k=3, per=40, spread=0.4):
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-10, 10, size=(k, 5))
    x = np.vstack([rng.normal(c, spread, size=(per, 5)) for c in centres])
    return x, np.repeat(np.arange(k), per)


def test_well_separated_clusters_score_high_and_match_their_categories():
    x, truth = blobs()
    q = cluster_quality(x, truth, categories=[f"c{t}" for t in truth])
    assert q["n_clusters"] == 3 and q["noise_share"] == 0
    assert q["silhouette"] > 0.8 and q["davies_bouldin"] < 0.3
    assert q["nmi"] == pytest.approx(1.0) and q["ari"] == pytest.approx(1.0) and q["categorised"] == 120
    assert [c["id"] for c in q["per_cluster"]] == [0, 1, 2] and all(c["size"] == 40 for c in q["per_cluster"])
    assert all(c["silhouette"] > 0.8 for c in q["per_cluster"])


def test_random_labels_score_low_and_noise_is_left_out_of_the_shape_figures():
    x, truth = blobs(seed=1)
    rng = np.random.default_rng(2)
    shuffled = rng.permutation(truth)
    q = cluster_quality(x, shuffled, categories=[str(t) for t in truth])
    assert q["silhouette"] < 0.1 and q["nmi"] < 0.2
    noisy = truth.copy()
    noisy[:30] = -1                          # a quarter of the images in no cluster
    q2 = cluster_quality(x, noisy, categories=[str(t) for t in truth])
    assert q2["noise_share"] == 0.25 and q2["silhouette"] > 0.8   # noise does not spoil the silhouette...
    assert q2["nmi"] < 1.0                                          # ...but counts against the categories


def test_a_bad_cluster_shows_in_its_own_silhouette():
    x, truth = blobs(seed=3)
    labels = truth.copy()
    labels[labels == 2] = np.where(np.arange((labels == 2).sum()) % 2, 2, 3)   # one blob cut in two halves
    q = cluster_quality(x, labels)
    per = {c["id"]: c["silhouette"] for c in q["per_cluster"]}
    assert per[0] > 0.8 and per[1] > 0.8 and per[2] < 0.2 and per[3] < 0.2
    assert "nmi" not in q


def test_sampling_keeps_the_figures_close_and_is_seeded():
    x, truth = blobs(seed=4, per=400, spread=2.0)
    full = cluster_quality(x, truth, sample=10_000)
    part = cluster_quality(x, truth, sample=300, seed=5)
    assert part == cluster_quality(x, truth, sample=300, seed=5)
    assert abs(part["silhouette"] - full["silhouette"]) < 0.05


def test_degenerate_inputs_give_none_not_errors():
    x, _ = blobs()
    one = cluster_quality(x, np.zeros(len(x), int), categories=["a"] * len(x))
    assert one["n_clusters"] == 1 and one["silhouette"] is None and one["davies_bouldin"] is None
    none = cluster_quality(x, np.full(len(x), -1))
    assert none["n_clusters"] == 0 and none["noise_share"] == 1.0 and none["per_cluster"] == []
    unlabelled = cluster_quality(x, np.zeros(len(x), int), categories=[None] * len(x))
    assert unlabelled["categorised"] == 0 and unlabelled["nmi"] is None
    with pytest.raises(ValueError, match="rows of space"):
        cluster_quality(x[:5], np.zeros(len(x), int))
