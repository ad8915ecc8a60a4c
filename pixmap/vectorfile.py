"""Feature vectors written to disk as they are computed: an .npy file that is a memory-mapped array.

    vf = VectorFile(artifacts / "features.npy", capacity=len(sources))
    vf.write(i, vector)            # rows in any order, as the image pass finds or computes them (runs of
                                   # consecutive rows are buffered and written together)
    features = vf.close(n)         # the first n rows, as a read-only np.memmap (n, d) float32

At a million images the vectors are 5 GB (1280 floats each): they are never all in memory. The later
stages (PCA, kNN) read the memmap in chunks. The file is a standard .npy (np.load(..., mmap_mode="r")).
"""
from __future__ import annotations

import ast
import os
from pathlib import Path

import numpy as np

HEADER = 128    # bytes: magic, version, length, the header dict padded with spaces (a multiple of 64)


def _header(rows: int, dim: int) -> bytes:
    text = repr({"descr": "<f4", "fortran_order": False, "shape": (rows, dim)})
    body = text.encode("latin1")
    pad = HEADER - 10 - len(body) - 1
    if pad < 0:
        raise ValueError("shape too large for the header")
    return b"\x93NUMPY\x01\x00" + (HEADER - 10).to_bytes(2, "little") + body + b" " * pad + b"\n"


class VectorFile:
    BUFFER_ROWS = 256   # consecutive rows are written together (one write call per run of up to this many)

    def __init__(self, path: Path, capacity: int):
        self.path = Path(path)
        self.capacity = max(int(capacity), 0)
        self.dim: int | None = None
        self._fd: int | None = None
        self._start = 0                       # the first row of the buffered run
        self._rows: list[bytes] = []          # consecutive rows not written yet

    def _open(self, dim: int) -> None:
        self.dim = int(dim)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        os.pwrite(self._fd, _header(self.capacity, self.dim), 0)
        os.ftruncate(self._fd, HEADER + self.capacity * self.dim * 4)   # sparse until written

    def write(self, i: int, vector) -> None:
        v = np.ascontiguousarray(vector, dtype="<f4").ravel()
        if self._fd is None:
            self._open(len(v))
        if len(v) != self.dim:
            raise ValueError(f"vector of length {len(v)}, expected {self.dim}")
        if not 0 <= i < self.capacity:
            raise IndexError(f"row {i} outside 0..{self.capacity - 1}")
        if self._rows and (i != self._start + len(self._rows) or len(self._rows) >= self.BUFFER_ROWS):
            self.flush()
        if not self._rows:
            self._start = i
        self._rows.append(v.tobytes())

    def flush(self) -> None:
        """Write the buffered rows."""
        if self._rows:
            os.pwrite(self._fd, b"".join(self._rows), HEADER + self._start * self.dim * 4)
            self._rows = []

    def write_rows(self, indices, vectors) -> None:
        for i, v in zip(indices, vectors):
            self.write(int(i), v)

    def close(self, rows: int) -> np.ndarray:
        """Keep the first `rows` rows; return them as a read-only memmap ((0, 0) array when nothing was written)."""
        if self._fd is None:
            return np.zeros((0, 0), np.float32)
        self.flush()
        os.pwrite(self._fd, _header(rows, self.dim), 0)
        os.ftruncate(self._fd, HEADER + rows * self.dim * 4)
        os.close(self._fd)
        self._fd = None
        if rows == 0:
            return np.zeros((0, self.dim), np.float32)
        return np.load(self.path, mmap_mode="r")

    def abort(self) -> None:
        self._rows = []
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def read_header(path: Path) -> tuple[int, int]:
    """(rows, dim) of a VectorFile's .npy."""
    with open(path, "rb") as f:
        head = f.read(HEADER)
    shape = ast.literal_eval(head[10:].decode("latin1").strip())["shape"]
    return int(shape[0]), int(shape[1])
