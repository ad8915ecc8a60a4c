"""The descriptor cache (pixmap.imagepass.descriptor_caches): each block cached by image content beside the
feature cache, so a rebuild describes nothing it has described before, locally and on the Dask path's
workers (pixmap.distributed.run_partition, called here in this process)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pixmap import descriptors as D
from pixmap import features, imagepass

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "datasets" / "aic-paintings" / "images"
N = 6


@pytest.fixture
def counted(monkeypatch):
    """Counts the calls of descriptors.describe (the real one is called: its results are used)."""
    calls = []
    real = D.describe

    def describe(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(D, "describe", describe)
    return calls


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("descriptor-cache") / "images"
    folder.mkdir()
    for p in sorted(DEMO.iterdir())[:N]:
        (folder / p.name).write_bytes(p.read_bytes())
    return folder


def _build(images, out, cache, **kw):
    import pixmap

    return pixmap.build(images=images, out_dir=out, cache_dir=cache, progress=False, layouts="umap",
                        report=False, duplicates_threshold=0, **kw)


def _blocks(res) -> dict:
    out = {name: np.load(res.artifacts_dir / f"features_{name}.npy") for name in D.BLOCKS}
    out["scores"] = (res.artifacts_dir / "scores.csv").read_bytes()
    return out


def test_a_rebuild_describes_nothing_and_gives_the_same_bits(tmp_path, images, counted):
    cache = tmp_path / "cache"
    first = _build(images, tmp_path / "a", cache)
    assert len(counted) == N and any(k.startswith("descriptors ") for k in first.timings)
    for name, key in D.cache_keys(6).items():     # one cache per block, beside the feature cache
        assert len(features.FeatureCache(cache, key)) == N, name
    counted.clear()
    second = _build(images, tmp_path / "b", cache)
    assert counted == [] and not any(k.startswith("descriptors ") for k in second.timings)
    a, b = _blocks(first), _blocks(second)
    for name in D.BLOCKS:
        assert a[name].dtype == np.float32 and a[name].tobytes() == b[name].tobytes(), name
    assert a["scores"] == b["scores"]


def test_other_palette_colours_have_cache_entries_of_their_own(tmp_path, images, counted):
    cache = tmp_path / "cache"
    six = _build(images, tmp_path / "six", cache)
    counted.clear()
    four = _build(images, tmp_path / "four", cache, palette_colors=4)
    assert len(counted) == N                      # no palette of 4 colours cached yet: described again
    assert np.load(four.artifacts_dir / "features_palette.npy").shape == (N, D.block_lengths(4)["palette"])
    assert len(features.FeatureCache(cache, D.cache_keys(4)["palette"])) == N
    assert len(features.FeatureCache(cache, D.cache_keys(6)["palette"])) == N
    counted.clear()
    again = _build(images, tmp_path / "six-again", cache)   # the 6-colour entries are still there
    assert counted == []
    assert np.array_equal(np.load(six.artifacts_dir / "features_palette.npy"),
                          np.load(again.artifacts_dir / "features_palette.npy"))


def test_the_cache_keys_name_the_block_its_parameters_and_the_version():
    keys = D.cache_keys(5)
    assert set(keys) == {*D.BLOCKS, "scores"}
    assert len(set(keys.values())) == 4 and "k5" in keys["palette"] and keys["palette"] != D.cache_keys(6)["palette"]
    assert all(f"v{D.FORMAT_VERSION}" in k for k in keys.values())
    # the model does not matter: the same folders whatever feature cache they sit beside
    cache = features.FeatureCache(Path("somewhere"), "some-model-default", enabled=False)
    assert imagepass.descriptor_caches(cache, {"descriptors": False}) == {}
    assert imagepass.descriptor_caches(features.FeatureCache(None, "x", enabled=False), {"descriptors": True}) == {}


def test_the_lookup_needs_every_block(tmp_path):
    caches = imagepass.descriptor_caches(features.FeatureCache(tmp_path, "m-default"), {"descriptors": True})
    d = D.describe(D_image())
    for name, c in caches.items():
        if name != "scores":
            c.put(["k1"], d[name][None])
    lookup = imagepass.descriptor_lookup(caches)
    assert lookup("k1") is None                    # the scores are missing: described again
    caches["scores"].put(["k1"], d["scores"][None])
    got = lookup("k1")
    assert all(got[name].tobytes() == d[name].tobytes() for name in d)
    assert imagepass.descriptor_lookup({}) is None and imagepass.descriptor_lookup({"palette": None}) is None


def D_image():
    from PIL import Image

    im = Image.open(sorted(DEMO.iterdir())[3]).convert("RGB")
    im.thumbnail((256, 256))
    return im


def test_a_dask_partition_looks_the_descriptors_up_on_the_worker(tmp_path, images, counted):
    """run_partition (what a Dask task runs) with the descriptor cache folders: nothing described, the same
    blocks as the local build's."""
    from pixmap import distributed, sources
    from pixmap.options import DEFAULTS

    cache_dir = tmp_path / "cache"
    local = _build(images, tmp_path / "local", cache_dir)
    _, srcs = sources.find_images(images)
    opts = {**DEFAULTS, "thumb_size": 64}
    cache = features.FeatureCache(cache_dir, features.model_key(opts["model"], opts["weights"],
                                                                features_precision(opts)))
    caches = imagepass.descriptor_caches(cache, opts)
    folders = {name: str(c.folder) for name, c in caches.items()}
    ctx = imagepass.make_context(tmp_path / "data", opts, cell_size=32)
    counted.clear()
    out = distributed.run_partition(ctx, [(i, s, True) for i, s in enumerate(srcs)], str(cache.folder), None,
                                    folders)
    assert counted == [] and len(out["results"]) == N
    ids = [line.split(",")[0] for line in (local.artifacts_dir / "scores.csv").read_text().splitlines()[1:]]
    palette = np.load(local.artifacts_dir / "features_palette.npy")
    for (i, done), src in zip(out["results"], srcs):
        assert not done.described and done.vector is not None   # the features came from the cache too
        assert done.descriptors["palette"].tobytes() == palette[ids.index(src.id)].tobytes()
    # without the folders (an older client): described on the worker, flagged for the client to cache
    out = distributed.run_partition(ctx, [(i, s, False) for i, s in enumerate(srcs)], None, None)
    assert len(counted) == N and all(done.described for _, done in out["results"])


def features_precision(opts):
    from pixmap import models

    return models.effective_precision(opts)
