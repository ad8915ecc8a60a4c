import numpy as np

from pixmap import features


def test_content_hash_depends_on_bytes_only():
    assert features.content_hash(b"abc") == features.content_hash(b"abc")
    assert features.content_hash(b"abc") != features.content_hash(b"abd")


def test_cache_round_trip_and_compaction(tmp_path, monkeypatch):
    key = features.model_key("efficientnet-lite0", "default")
    c = features.FeatureCache(tmp_path, key)
    assert c.get("a") is None
    c.put(["a", "b"], np.ones((2, 4), np.float32))
    c.save()
    c2 = features.FeatureCache(tmp_path, key)
    assert len(c2) == 2 and np.allclose(c2.get("b"), 1)
    monkeypatch.setattr(features, "MAX_SHARDS", 3)
    for i in range(5):
        c2.put([f"k{i}"], np.full((1, 4), i, np.float32))
        c2.save()
    assert len(list((tmp_path / key).glob("shard-*.npz"))) <= 3
    c3 = features.FeatureCache(tmp_path, key)
    assert len(c3) == 7 and c3.get("k4")[0] == 4


def test_damaged_shard_is_ignored(tmp_path):
    key = "m-default"
    (tmp_path / key).mkdir()
    (tmp_path / key / "shard-1.npz").write_bytes(b"not a zip")
    assert len(features.FeatureCache(tmp_path, key)) == 0


def test_model_key(tmp_path):
    w = tmp_path / "w.h5"
    w.write_bytes(b"123")
    k1 = features.model_key("resnet50", str(w))
    w.write_bytes(b"124")
    assert k1 != features.model_key("resnet50", str(w))
    # random weights are never cached
    c = features.FeatureCache(tmp_path, features.model_key("resnet50", None))
    c.put(["x"], np.zeros((1, 2)))
    c.save()
    assert not (tmp_path / "resnet50-random").exists()
