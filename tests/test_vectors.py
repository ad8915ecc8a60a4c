"""Compact vectors for recommendations (pixmap.vectors): the first 64 PCA components, L2-normalised, int8
with one stated scale, in chunk files (docs/site-format.md, "Version 5")."""
from __future__ import annotations

import json

import numpy as np
import pytest

from pixmap import vectors


def pca_like(n=3000, d=100, seed=0) -> np.ndarray:
    """Rows with decreasing variance per column, as a PCA reduction has."""
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, d)) * np.linspace(3, 0.1, d)).astype(np.float32)


def test_normalised_keeps_the_first_dims_at_unit_length():
    x = pca_like()
    v = vectors.normalised(x)
    assert v.shape == (3000, 64)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(v[0], x[0, :64] / np.linalg.norm(x[0, :64]), rtol=1e-5)
    zero = vectors.normalised(np.zeros((2, 70), np.float32))
    assert not zero.any()


def test_quantisation_error_is_bounded_by_half_the_scale():
    x = pca_like()
    v = vectors.normalised(x)
    scale = vectors.quantisation_scale(x)
    assert scale == pytest.approx(np.abs(v).max() / 127)
    q = vectors.quantise(v, scale)
    assert q.dtype == np.int8 and np.abs(q).max() == 127          # the full range is used, nothing clipped
    back = vectors.dequantise(q, scale)
    assert np.abs(back - v).max() <= scale / 2 + 1e-7
    # cosine similarities survive: within 0.01 of the float ones
    qa = back / np.linalg.norm(back, axis=1, keepdims=True)
    sims, want = qa[:200] @ qa[:200].T, v[:200] @ v[:200].T
    assert np.abs(sims - want).max() < 0.01


def test_chunk_files_round_trip(tmp_path):
    x = pca_like(n=1000)
    entry = vectors.write_vectors(tmp_path / "data", x, chunk=300)
    assert entry == {"dims": 64, "chunk": 300, "dir": "data/vectors", "dtype": "int8", "scale": entry["scale"],
                     "space": "pca", "normalised": True}
    names = sorted(p.name for p in (tmp_path / "data" / "vectors").iterdir())
    assert names == ["0.i8", "1.i8", "2.i8", "3.i8"]
    assert (tmp_path / "data" / "vectors" / "3.i8").stat().st_size == 100 * 64
    (tmp_path / "data" / "manifest.json").write_text(json.dumps({"count": 1000, "vectors": entry}))
    q, got = vectors.read_vectors(tmp_path)
    assert got == entry and q.shape == (1000, 64)
    assert (q == vectors.quantise(vectors.normalised(x), entry["scale"])).all()
    assert np.abs(vectors.dequantise(q, entry["scale"]) - vectors.normalised(x)).max() <= entry["scale"] / 2 + 1e-7


def test_fewer_components_than_64_are_kept_whole(tmp_path):
    entry = vectors.write_vectors(tmp_path, pca_like(n=50, d=20))
    assert entry["dims"] == 20 and (tmp_path / "vectors" / "0.i8").stat().st_size == 50 * 20


def test_chunked_scale_equals_the_whole():
    x = pca_like(n=5000, seed=3)
    assert vectors.quantisation_scale(x) == pytest.approx(np.abs(vectors.normalised(x)).max() / 127)
