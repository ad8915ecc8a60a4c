"""pixmap.blend: --blend parsing and the fusion of standardised blocks (on real descriptors of the demo)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixmap import descriptors as D
from pixmap.blend import BlendError, fuse, parse_blend, standardise

DEMO = Path(__file__).resolve().parent.parent / "datasets" / "aic-paintings" / "images"


@pytest.fixture(scope="module")
def blocks():
    rows = []
    for p in sorted(DEMO.iterdir())[:40]:
        im = Image.open(p).convert("RGB")
        im.thumbnail((256, 256))
        rows.append(D.describe(im))
    return {name: np.stack([r[name] for r in rows]) for name in D.BLOCKS}


def test_parse_blend_reads_weights():
    assert parse_blend("cnn=1,palette=0.4,composition=0.8") == {"cnn": 1.0, "palette": 0.4, "composition": 0.8}
    assert parse_blend(" CNN = 2 , structure=0 ") == {"cnn": 2.0, "structure": 0.0}
    assert parse_blend({"palette": 1}) == {"palette": 1.0}


@pytest.mark.parametrize("text, message", [
    ("cnn=1,colour=0.5", "unknown block 'colour'; the blocks are cnn, palette, composition, structure"),
    ("cnn=1,palette", "'palette' is not block=weight"),
    ("cnn=x", "the weight of cnn must be a number, not 'x'"),
    ("cnn=-1", "must be a number of 0 or more"),
    ("cnn=nan", "must be a number of 0 or more"),
    ("cnn=1,cnn=2", "named twice"),
    ("cnn=0,palette=0", "every weight is 0"),
    ("", "is empty"),
])
def test_parse_blend_says_what_is_wrong(text, message):
    with pytest.raises(BlendError) as err:
        parse_blend(text)
    assert message in str(err.value)


def test_each_standardised_block_has_total_variance_one(blocks):
    for name, x in blocks.items():
        z = standardise(x)
        assert z.dtype == np.float32 and z.shape == x.shape
        assert np.allclose(z.mean(0), 0, atol=1e-5)
        assert z.var(0).sum() == pytest.approx(1.0, rel=1e-3), name
    const = np.ones((10, 3), np.float32)
    assert not standardise(const).any()       # a constant column carries nothing


def test_fuse_weights_blocks_whatever_their_width(blocks):
    w = {"palette": 1.0, "structure": 2.0}
    fused = fuse(blocks, w, max_dim=None)
    d_pal = blocks["palette"].shape[1]
    assert fused.shape == (40, d_pal + blocks["structure"].shape[1])
    # the structure block (172 columns) has 4x the variance of the palette's (52): weight 2, squared
    share = fused[:, d_pal:].var(0).sum() / fused[:, :d_pal].var(0).sum()
    assert share == pytest.approx(4.0, rel=1e-3)
    # a weight of 0 leaves a block out; the neighbours of a fusion of one block are that block's
    only = fuse(blocks, {"palette": 1.0, "composition": 0.0}, max_dim=None)
    assert np.allclose(only, standardise(blocks["palette"]), atol=1e-6)


def test_fuse_bounds_the_dimension_with_pca(blocks):
    fused = fuse(blocks, {"palette": 1, "composition": 1, "structure": 1}, max_dim=16, seed=0)
    assert fused.shape == (40, 16) and fused.dtype == np.float32
    again = fuse(blocks, {"palette": 1, "composition": 1, "structure": 1}, max_dim=16, seed=0)
    assert np.array_equal(fused, again)


def test_fuse_moves_the_neighbours_towards_the_heavier_block(blocks):
    """With the palette weighted up, each painting's nearest neighbours in the fusion become its nearest
    neighbours by palette."""
    def knn(x, k=5):
        d = ((x[:, None].astype(np.float64) - x[None]) ** 2).sum(-1)
        np.fill_diagonal(d, np.inf)
        return np.argsort(d, 1)[:, :k]

    def overlap(a, b):
        return np.mean([len(set(r) & set(s)) / len(r) for r, s in zip(a, b)])

    ref = knn(standardise(blocks["palette"]))
    light = knn(fuse(blocks, {"palette": 0.2, "structure": 1}, max_dim=None))
    heavy = knn(fuse(blocks, {"palette": 5, "structure": 1}, max_dim=None))
    assert overlap(heavy, ref) > overlap(light, ref) + 0.3


def test_fuse_refuses_a_block_it_does_not_have(blocks):
    with pytest.raises(BlendError, match="cnn"):
        fuse(blocks, {"cnn": 1, "palette": 1})


def test_blend_drives_the_main_map_of_a_build(tmp_path):
    """A build with --blend palette only: the main map's neighbours are the palette space's, far more than in
    the same build without --blend (the CNN's map)."""
    import pixmap

    images = tmp_path / "images"
    images.mkdir()
    for p in sorted(DEMO.iterdir())[:40]:
        (images / p.name).write_bytes(p.read_bytes())
    common = dict(images=images, cache_dir=tmp_path / "cache", progress=False, layouts="umap", report=False,
                  duplicates_threshold=0)
    plain = pixmap.build(out_dir=tmp_path / "plain", **common)
    blended = pixmap.build(out_dir=tmp_path / "blend", blend="cnn=0,palette=1", **common)
    assert blended.n_images == plain.n_images == 40
    palette = np.load(blended.artifacts_dir / "features_palette.npy")

    def knn(x, k=5):
        x = np.asarray(x, np.float64)
        d = ((x[:, None] - x[None]) ** 2).sum(-1)
        np.fill_diagonal(d, np.inf)
        return np.argsort(d, 1)[:, :k]

    def kept(layout):
        return np.mean([len(set(a) & set(b)) / 5 for a, b in zip(knn(layout), knn(standardise(palette)))])

    with_blend = kept(np.load(blended.artifacts_dir / "layout_umap.npy"))
    without = kept(np.load(plain.artifacts_dir / "layout_umap.npy"))
    assert with_blend > 0.4 and with_blend > without + 0.2
    config = json.loads((blended.artifacts_dir / "config.json").read_text(encoding="utf-8"))
    assert config["options"]["blend"] == "cnn=0,palette=1"
