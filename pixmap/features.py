"""Features: CNN vectors per image, batched, cached by image content hash + model.

The models themselves live in `models.py`; this stage feeds them batches and remembers their answers, so a
rebuild after adding images computes only the new ones (and does not even load TensorFlow when nothing is
new).
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import secrets
import threading
import time
import zipfile
from pathlib import Path

import numpy as np

try:
    import fcntl
except ImportError:  # not POSIX: shards are written, never compacted
    fcntl = None

log = logging.getLogger(__name__)

MAX_SHARDS = 16        # more shard files than this in a folder -> the smallest are merged into one
STALE_TMP_S = 3600     # a temp file this old was left by a killed writer: deleted by the next compaction
_TMP_PREFIX = ".tmp-"  # temp files never match the shard pattern, so readers cannot see a half-written one
_LOCK_NAME = ".lock"   # flock'd while compacting
MEMORY_MAX = 20_000    # vectors kept in memory when they cannot be written (~100 MB of 1280 floats)
REINDEX_AT = 64        # open shard files above which the folder is indexed afresh


def content_hash(data: bytes) -> str:
    """The cache key of an image: a hash of its file's bytes (the same image under any name or path)."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pixmap"


def model_key(model: str, weights, precision: str = "float32") -> str:
    """A folder name for (model, weights, precision): a weights file is identified by its content.

    ``precision``: what :func:`pixmap.models.effective_precision` says; "float32" features (Keras or
    LiteRT: the same up to ~1e-7) share one key, fp16 ("fast") features differ a little and get their own."""
    if weights in (None, "default"):
        tag = "random" if weights is None else "default"
    else:
        h = hashlib.blake2b(digest_size=8)
        with open(weights, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        tag = "w-" + h.hexdigest()
    if precision == "fast":
        tag += "-fp16"
    return re.sub(r"[^A-Za-z0-9._-]", "_", f"{model}-{tag}")


class _Vanished(Exception):
    """A file listed a moment ago is gone (another process compacted it away)."""


def _is_shard(name: str) -> bool:
    # "shard-*.tmp.npz" is the temp name of older versions: possibly half-written, never read.
    return name.startswith("shard-") and name.endswith(".npz") and not name.endswith(".tmp.npz")


def _is_temp(name: str) -> bool:
    return name.startswith(_TMP_PREFIX) or (name.startswith("shard-") and name.endswith(".tmp.npz"))


def _unique(prefix: str) -> str:
    return f"{prefix}{time.time_ns()}-{os.getpid()}-{secrets.token_hex(4)}.npz"


def _why(exc: BaseException) -> str:
    if isinstance(exc, (FileExistsError, NotADirectoryError)):
        return f"a file is in the way: {exc.strerror}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {exc}"


def _key_bytes(keys: np.ndarray) -> np.ndarray:
    """Keys (a str array) as a bytes array (UTF-8): 32 bytes per content hash instead of 128."""
    try:
        return keys.astype("S")       # ASCII, as content hashes are: fast
    except UnicodeEncodeError:
        return np.array([k.encode("utf-8") for k in keys.tolist()], dtype="S")


_F32 = np.dtype("<f4")


class _Shard:
    """One shard file held open for reading: its keys, sorted for lookup, and where its vectors are.

    Vectors are read from the file when asked for (os.pread of one row), never held in memory, except for
    shards whose vectors are compressed or not float32 (written by other tools or old versions), which
    are read once. The open file keeps the shard readable after another process compacts it away.
    """

    __slots__ = ("name", "file", "keys", "rows", "n", "dim", "offset", "vectors", "_seek_lock")

    def __init__(self, name: str, file, keys: np.ndarray, dim: int, offset: int, vectors=None):
        self.name, self.file, self.n, self.dim, self.offset = name, file, len(keys), dim, offset
        self.vectors = vectors
        self._seek_lock = threading.Lock()
        order = np.argsort(keys, kind="stable")   # duplicates: the first row is found first
        self.keys = keys[order]
        self.rows = order.astype(np.int64 if len(keys) > 2**31 - 1 else np.int32)

    def find(self, key: bytes) -> int:
        """The row of `key`, or -1."""
        if self.n == 0 or len(key) > self.keys.dtype.itemsize:
            return -1
        i = int(np.searchsorted(self.keys, key))
        return int(self.rows[i]) if i < self.n and self.keys[i] == key else -1

    def keys_in_order(self) -> np.ndarray:
        out = np.empty_like(self.keys)
        out[self.rows] = self.keys
        return out

    def read_rows(self, lo: int, hi: int) -> np.ndarray:
        """Rows lo..hi-1 as float32 (hi - lo, dim). Raises OSError when the file is shorter."""
        if self.vectors is not None:
            return np.array(self.vectors[lo:hi])
        size = (hi - lo) * self.dim * 4
        where = self.offset + lo * self.dim * 4
        if hasattr(os, "pread"):
            data = os.pread(self.file.fileno(), size, where)
        else:
            with self._seek_lock:
                self.file.seek(where)
                data = self.file.read(size)
        if len(data) != size:
            raise OSError(f"{self.name} is shorter than its header says")
        return np.frombuffer(data, dtype=_F32).reshape(hi - lo, self.dim).astype(np.float32)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.file.close()

    # A shard replaced in the index (merged, re-indexed) is not closed there: a get() in another thread
    # may still be reading it. Its file closes when the last reference goes.
    __del__ = close


def _open_shard(path: Path, dim: int | None) -> _Shard:
    """Open a shard file: raises _Vanished, OSError (cannot read) or anything else (damaged)."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise _Vanished(path) from None
    try:
        return _read_shard(path.name, f, dim)
    except BaseException:
        f.close()
        raise


def _read_shard(name: str, f, dim: int | None) -> _Shard:
    with zipfile.ZipFile(f) as zf:
        with zf.open("keys.npy") as m:
            keys = np.lib.format.read_array(m, allow_pickle=False)
        if keys.ndim != 1:
            raise ValueError(f"keys of shape {keys.shape}")
        info = zf.getinfo("vectors.npy")
        vectors = None
        offset = -1
        if info.compress_type == zipfile.ZIP_STORED:
            f.seek(info.header_offset)
            local = f.read(30)
            if len(local) != 30 or local[:4] != b"PK\x03\x04":
                raise ValueError("bad zip member header")
            f.seek(info.header_offset + 30 + int.from_bytes(local[26:28], "little")
                   + int.from_bytes(local[28:30], "little"))
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f"npy version {version}")
            if dtype == _F32 and not fortran and len(shape) == 2:
                offset = f.tell()
                if os.fstat(f.fileno()).st_size < offset + shape[0] * shape[1] * 4:
                    raise ValueError("vectors cut short")
        if offset < 0:  # compressed, or another dtype or order: read once
            with zf.open("vectors.npy") as m:
                vectors = np.lib.format.read_array(m, allow_pickle=False)
            shape = vectors.shape
            if vectors.ndim == 2:
                vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if len(shape) != 2 or shape[0] != len(keys):
        raise ValueError(f"{len(keys)} keys but vectors of shape {shape}")
    if dim is not None and shape[1] != dim:
        raise ValueError(f"vectors of length {shape[1]}, not {dim}")
    return _Shard(name, f, _key_bytes(keys), int(shape[1]), offset, vectors)


class FeatureCache:
    """Feature vectors keyed by content hash, stored as `.npz` shards in one folder per model.

        cache = FeatureCache(cache_dir, model_key("efficientnet-lite0", "default"))
        vec = cache.get(key)            # or None
        cache.put(keys, vectors)        # buffered; every `flush_every` new vectors become a new shard
        cache.flush()                   # (or save()) writes what is still buffered

    Only an index is held in memory: per shard its keys (sorted, as bytes: ~36 bytes per vector, 36 MB
    for a million) and an open file. `get` reads the one vector asked for from its shard (the shards are
    stored uncompressed, so a row is found by its offset); vectors are never all loaded, so a cache of a
    million 1280-float vectors (5 GB) costs the build ~40 MB of memory. Shards written by other tools
    or older versions with compressed vectors are read into memory once.

    Every shard is written to a uniquely named temp file and renamed into place, so a build killed at any
    moment loses at most the last `flush_every` vectors, a reader never sees a half-written shard, and
    builds sharing a folder never overwrite each other. When a folder holds more than MAX_SHARDS shards,
    the smallest are merged into one (streamed from their files) under an exclusive (non-blocking) flock;
    the merger deletes exactly the shards it merged, after the merged one is in place. A shard deleted
    by another process's compaction stays readable here through its open file until this cache indexes
    the merged one (after its own compaction, or a re-scan once it holds more than REINDEX_AT files).

    A folder that cannot be written (or read) never fails a build: one warning is logged and kept in
    `warning`, `writable` turns False, and the build goes on without caching. Vectors that cannot be
    written (or with caching off) are kept in memory for `get`, up to MEMORY_MAX of them.
    A random-weights model is never cached (its vectors change with every initialisation).
    Thread-safe: `get` may be called from many threads while another one calls `put`, and does not wait
    for a flush or a compaction (it reads a snapshot of the index: the list of shards is replaced, never
    changed in place).
    """

    def __init__(self, folder: Path | None, key: str, enabled: bool = True, flush_every: int = 1000):
        self.enabled = enabled and folder is not None and not key.endswith("-random")
        self.folder = Path(folder) / key if folder is not None else None
        self.flush_every = max(1, int(flush_every))
        self.warning: str | None = None
        self._shards: list[_Shard] = []           # oldest first: a key in two shards is read from the first
        self._count: int | None = None             # distinct keys in _shards (computed when asked)
        self._buf_keys: list[str] = []
        self._buf_vecs: list[np.ndarray] = []
        self._pending: dict[str, np.ndarray] = {}  # the buffer, by key (for get)
        self._mem: dict[str, np.ndarray] = {}     # vectors that could not be written
        self._dim: int | None = None
        self._lock = threading.RLock()
        if self.enabled:
            shards = self._open_all()
            if shards is not None:
                self._shards = shards

    # -- public API ------------------------------------------------------------------------------------

    @property
    def writable(self) -> bool:
        """False when caching is off: disabled, random weights, or after the folder's one warning."""
        return self.enabled and self.warning is None

    def __len__(self) -> int:
        with self._lock:
            if self._count is None:
                if not self._shards:
                    self._count = 0
                elif len(self._shards) == 1:
                    self._count = int(np.unique(self._shards[0].keys).size)
                else:
                    self._count = int(np.unique(np.concatenate([s.keys for s in self._shards])).size)
            return self._count + len(self._buf_keys) + len(self._mem)

    def get(self, key: str) -> np.ndarray | None:
        v = self._pending.get(key)
        if v is None:
            v = self._mem.get(key)
        if v is not None:
            return v
        kb = key.encode("utf-8")
        for shard in self._shards:   # a snapshot: flush and compaction assign a new list
            row = shard.find(kb)
            if row >= 0:
                try:
                    return shard.read_rows(row, row + 1)[0]
                except (OSError, ValueError) as exc:   # cut short, unreadable, or closed: recompute
                    log.warning("cannot read feature cache file %s (%s)", shard.name, _why(exc))
                    return None
        return None

    def __contains__(self, key: str) -> bool:
        with self._lock:
            if key in self._pending or key in self._mem:
                return True
            kb = key.encode("utf-8")
            return any(shard.find(kb) >= 0 for shard in self._shards)

    def put(self, keys: list[str], vectors: np.ndarray) -> None:
        with self._lock:
            for k, v in zip(keys, vectors):
                if k in self:
                    continue
                if self.writable:
                    self._pending[k] = v
                    self._buf_keys.append(k)
                    self._buf_vecs.append(v)
                else:
                    self._remember(k, v)
            if len(self._buf_keys) >= self.flush_every:
                self.flush()

    def flush(self) -> None:
        """Write the buffered vectors as one new shard (then compact if there are too many). Never raises
        for I/O errors: the first one turns caching off with a warning."""
        with self._lock:
            keys, vecs = self._buf_keys, self._buf_vecs
            self._buf_keys, self._buf_vecs = [], []   # (_pending still serves get() until the shard does)
            if not keys:
                self._pending = {}
                return
            if not self.writable:
                for k, v in zip(keys, vecs):
                    self._remember(k, v)
                self._pending = {}
                return
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                arr = np.stack(vecs).astype(np.float32, copy=False)
                shard = self._write_shard(keys, [arr], len(keys), arr.shape[1])
            except Exception as exc:
                for k, v in zip(keys, vecs):
                    self._remember(k, v)
                self._pending = {}
                self._disable(f"cannot write to it ({_why(exc)})")
                return
            del arr, vecs
            if self._dim is None:
                self._dim = shard.dim
            self._shards = [*self._shards, shard]
            self._pending = {}
            self._count = None
            self._maybe_compact()
            if len(self._shards) > REINDEX_AT:
                self._reindex()

    save = flush

    def close(self) -> None:
        """Write what is buffered and close the shard files; the cache serves only what is still in
        memory after this."""
        with self._lock:
            self.flush()
            for shard in self._shards:
                shard.close()
            self._shards, self._count = [], None

    # -- reading ---------------------------------------------------------------------------------------

    def _remember(self, key: str, vector) -> None:
        if len(self._mem) < MEMORY_MAX:
            self._mem[key] = vector

    def _scan(self) -> tuple[list[os.DirEntry], list[os.DirEntry]]:
        shards, temps = [], []
        with os.scandir(self.folder) as it:
            for e in it:
                if _is_shard(e.name):
                    shards.append(e)
                elif _is_temp(e.name):
                    temps.append(e)
        return sorted(shards, key=lambda e: e.name), temps

    def _open_all(self) -> list[_Shard] | None:
        """Every shard in the folder, open (oldest first); None when the folder cannot be read."""
        opened: dict[str, _Shard] = {}
        done: set[str] = set()
        temps: list[os.DirEntry] = []
        for _attempt in range(5):  # a shard merged away while we read: list again for the merged one
            try:
                entries, temps = self._scan()
            except (FileNotFoundError, NotADirectoryError):
                return []  # nothing cached yet (or a file in the way: the first write says so)
            except OSError as exc:
                self._disable(f"cannot list it ({_why(exc)})")
                return None
            vanished = False
            for e in entries:
                if e.name in done:
                    continue
                try:
                    shard = _open_shard(Path(e.path), self._dim)
                except _Vanished:
                    vanished = True
                    continue
                except OSError as exc:
                    for s in opened.values():
                        s.close()
                    self._disable(f"cannot read {e.name} ({_why(exc)})")
                    return None
                except Exception as exc:  # a damaged shard only costs recomputation
                    log.warning("ignoring damaged feature cache file %s (%s)", e.path, exc)
                    done.add(e.name)
                    continue
                done.add(e.name)
                opened[e.name] = shard
                if self._dim is None:
                    self._dim = shard.dim
            if not vanished:
                break
        if any(self._stale(e) for e in temps):
            with self._exclusive() as locked:
                if locked:
                    self._clean_temps()
        return [opened[name] for name in sorted(opened)]

    def _reindex(self) -> None:
        """Index the folder afresh: shards other processes merged away are replaced by the merged ones
        (their open files closed, so their disk space is freed)."""
        shards = self._open_all()
        if shards is None:
            return   # keep the index we have: its files are still open and readable
        self._shards, self._count = shards, None

    # -- writing ---------------------------------------------------------------------------------------

    def _write_shard(self, keys, chunks, n: int, dim: int) -> _Shard:
        """Stream keys and (n, dim) float32 vectors, given as row chunks, into a new shard, atomically.
        Returns the new shard, open for reading."""
        tmp = self.folder / _unique(_TMP_PREFIX)
        reader = None
        try:
            with open(tmp, "xb") as f:
                with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
                    with zf.open("keys.npy", "w", force_zip64=True) as m:
                        np.lib.format.write_array(m, np.asarray(keys, dtype=str), allow_pickle=False)
                    with zf.open("vectors.npy", "w", force_zip64=True) as m:
                        np.lib.format.write_array_header_1_0(
                            m, {"descr": np.lib.format.dtype_to_descr(_F32),
                                "fortran_order": False, "shape": (n, dim)})
                        rows = 0
                        for chunk in chunks:
                            chunk = np.ascontiguousarray(chunk, dtype=_F32)
                            if chunk.ndim != 2 or chunk.shape[1] != dim:
                                raise ValueError(f"vectors of shape {chunk.shape}, expected (*, {dim})")
                            m.write(chunk.data)
                            rows += len(chunk)
                        if rows != n:
                            raise ValueError(f"{rows} vectors written, {n} expected")
                f.flush()
                os.fsync(f.fileno())
            reader = open(tmp, "rb")   # opened before the rename: no compaction elsewhere can take it away
            name = _unique("shard-")
            os.replace(tmp, self.folder / name)
        except BaseException:
            if reader is not None:
                reader.close()
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        try:
            return _read_shard(name, reader, self._dim)
        except BaseException:
            reader.close()
            raise

    def _disable(self, reason: str) -> None:
        for k, v in zip(self._buf_keys, self._buf_vecs):
            self._remember(k, v)
        self._buf_keys, self._buf_vecs, self._pending = [], [], {}
        if self.warning is None:
            self.warning = (f"feature cache: {self.folder}: {reason}; going on without caching (features "
                            "computed now will be computed again next time). Choose another folder with "
                            "--cache-dir DIR, or turn the cache off with --cache-dir none.")
            log.warning("%s", self.warning)

    # -- compaction ------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _exclusive(self):
        """Yield True while holding the folder's compaction lock, False if it is held elsewhere (or
        locking is impossible here)."""
        if fcntl is None:
            yield False
            return
        try:
            fd = os.open(self.folder / _LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError:
            yield False
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # BlockingIOError: another process is compacting
                yield False
                return
            yield True
        finally:
            os.close(fd)  # releases the lock

    @staticmethod
    def _stale(e: os.DirEntry) -> bool:
        try:
            return e.stat().st_mtime < time.time() - STALE_TMP_S
        except OSError:
            return False

    def _clean_temps(self) -> None:
        """Delete temp files left by killed writers (call with the lock held: only a compaction writes
        a temp file for long, and it holds the lock)."""
        with contextlib.suppress(OSError):
            for e in self._scan()[1]:
                if self._stale(e):
                    with contextlib.suppress(OSError):
                        os.unlink(e.path)

    def _maybe_compact(self) -> None:
        try:
            if len(self._scan()[0]) <= MAX_SHARDS:
                return
            with self._exclusive() as locked:
                if locked:
                    self._compact()
        except _Vanished:
            pass  # the folder changed under us (removed by hand?): try again at the next flush
        except Exception as exc:
            self._disable(f"cannot compact it ({_why(exc)})")

    @staticmethod
    def _pick(shards: list[tuple[int, str]]) -> list[str]:
        """Of (size, name) sorted by size: the smallest, enough to get down to MAX_SHARDS // 2 + 1 files,
        plus each next one no larger than those together (so a vector is rewritten about log(n) times,
        not at every compaction)."""
        k = min(len(shards), max(2, len(shards) - MAX_SHARDS // 2))
        total = sum(s for s, _ in shards[:k])
        while k < len(shards) and shards[k][0] <= total:
            total += shards[k][0]
            k += 1
        return [name for _, name in shards[:k]] if k >= 2 else []

    def _compact(self) -> None:
        """Merge the smallest shards into one (lock held), streaming their vectors from their files.
        Only the listed shards are merged and deleted: shards written meanwhile by other processes are
        left alone."""
        self._clean_temps()
        sized = []
        for e in self._scan()[0]:
            try:
                sized.append((e.stat().st_size, e.name))
            except FileNotFoundError:
                continue
        if len(sized) <= MAX_SHARDS:
            return  # another process just compacted
        pick = self._pick(sorted(sized))
        opened: list[_Shard] = []
        merged: list[str] = []
        new = None
        try:
            for name in pick:
                try:
                    shard = _open_shard(self.folder / name, self._dim)
                except (_Vanished, OSError):
                    raise
                except Exception as exc:
                    log.warning("deleting damaged feature cache file %s (%s)", self.folder / name, exc)
                    merged.append(name)
                    continue
                if self._dim is None:
                    self._dim = shard.dim
                opened.append(shard)
                merged.append(name)
            if opened:
                keys, plan = _merge_plan(opened)
                new = self._write_shard(np.char.decode(keys, "utf-8"), _merged_rows(plan), len(keys),
                                        opened[0].dim)
            for name in merged:  # only now, with their vectors safely in the merged shard
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.folder / name)
        finally:
            for shard in opened:
                shard.close()
        gone = set(merged)
        self._shards = [s for s in self._shards if s.name not in gone] + ([new] if new is not None else [])
        self._count = None


def _merge_plan(shards: list[_Shard]) -> tuple[np.ndarray, list[tuple[_Shard, np.ndarray]]]:
    """The keys of the merged shard (each once, the first occurrence, in shard then row order) and,
    per shard, the rows to copy."""
    every = np.concatenate([s.keys_in_order() for s in shards])
    _, first = np.unique(every, return_index=True)
    first.sort()
    bounds = np.cumsum([0] + [s.n for s in shards])
    plan = []
    for j, s in enumerate(shards):
        lo, hi = np.searchsorted(first, [bounds[j], bounds[j + 1]])
        plan.append((s, first[lo:hi] - bounds[j]))
    return every[first], plan


def _merged_rows(plan, window: int = 4096):
    """The planned rows' vectors, in order, read a window of rows at a time (bounded memory)."""
    for shard, rows in plan:
        for lo in range(0, shard.n, window):
            hi = min(shard.n, lo + window)
            a, b = np.searchsorted(rows, [lo, hi])
            if b > a:
                block = shard.read_rows(lo, hi)
                yield block if b - a == hi - lo else block[rows[a:b] - lo]
