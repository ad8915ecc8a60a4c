"""Feature vectors on disk as they are computed (pixmap.vectorfile): a standard .npy, memory-mapped."""
from __future__ import annotations

import numpy as np
import pytest

from pixmap.vectorfile import VectorFile, read_header


def test_rows_in_any_order_then_trimmed_to_the_kept_count(tmp_path):
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(7, 33)).astype(np.float32)
    vf = VectorFile(tmp_path / "f.npy", capacity=10)
    vf.write_rows([4, 0, 2], rows[[4, 0, 2]])
    for i in (1, 3, 6, 5):
        vf.write(i, rows[i])
    out = vf.close(7)
    assert isinstance(out, np.memmap) and not out.flags.writeable
    assert out.shape == (7, 33) and out.dtype == np.float32
    assert np.array_equal(out, rows)
    assert np.array_equal(np.load(tmp_path / "f.npy"), rows)   # a standard .npy file
    assert read_header(tmp_path / "f.npy") == (7, 33)
    assert (tmp_path / "f.npy").stat().st_size == 128 + 7 * 33 * 4


def test_wrong_length_or_row_is_refused_and_nothing_written_gives_an_empty_array(tmp_path):
    vf = VectorFile(tmp_path / "f.npy", capacity=2)
    vf.write(0, np.zeros(4))
    with pytest.raises(ValueError, match="length 5"):
        vf.write(1, np.zeros(5))
    with pytest.raises(IndexError):
        vf.write(2, np.zeros(4))
    vf.abort()
    assert VectorFile(tmp_path / "g.npy", capacity=3).close(0).shape == (0, 0)


def test_a_million_rows_header_fits(tmp_path):
    vf = VectorFile(tmp_path / "big.npy", capacity=1_000_000)
    vf.write(999_999, np.ones(1280, np.float32))
    out = vf.close(1_000_000)   # the file is sparse until written: no 5 GB on disk
    assert out.shape == (1_000_000, 1280) and out[999_999, 0] == 1 and out[0, 0] == 0


def test_rows_in_runs_and_out_of_order_land_where_they_belong(tmp_path):
    """Runs of consecutive rows are buffered (VectorFile.BUFFER_ROWS) and written together; a row out of
    order, a rewritten row and a run longer than the buffer all end up in their places."""
    rng = np.random.default_rng(0)
    n, d = 700, 5
    want = rng.normal(size=(n, d)).astype(np.float32)
    order = list(range(0, 300)) + list(range(650, 700)) + list(range(300, 650))[::-1]
    vf = VectorFile(tmp_path / "f.npy", capacity=n)
    vf.write(10, np.zeros(d))                 # written, then replaced by its real row later
    for i in order:
        vf.write(i, want[i])
    got = vf.close(n)
    assert np.array_equal(np.asarray(got), want)
