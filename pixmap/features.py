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


def content_hash(data: bytes) -> str:
    """The cache key of an image: a hash of its file's bytes (the same image under any name or path)."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pixmap"


def model_key(model: str, weights) -> str:
    """A folder name for (model, weights): a weights file is identified by its content."""
    if weights in (None, "default"):
        tag = "random" if weights is None else "default"
    else:
        h = hashlib.blake2b(digest_size=8)
        with open(weights, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        tag = "w-" + h.hexdigest()
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


class FeatureCache:
    """Feature vectors keyed by content hash, stored as `.npz` shards in one folder per model.

        cache = FeatureCache(cache_dir, model_key("efficientnet-lite0", "default"))
        vec = cache.get(key)            # or None
        cache.put(keys, vectors)        # buffered; every `flush_every` new vectors become a new shard
        cache.flush()                   # (or save()) writes what is still buffered

    Every shard is written to a uniquely named temp file and renamed into place, so a build killed at any
    moment loses at most the last `flush_every` vectors, a reader never sees a half-written shard, and
    builds sharing a folder never overwrite each other. When a folder holds more than MAX_SHARDS shards,
    the smallest are merged into one under an exclusive (non-blocking) flock; the merger deletes exactly
    the shards it merged, after the merged one is in place.

    A folder that cannot be written (or read) never fails a build: one warning is logged and kept in
    `warning`, `writable` turns False, and the build goes on without caching.
    A random-weights model is never cached (its vectors change with every initialisation).
    """

    def __init__(self, folder: Path | None, key: str, enabled: bool = True, flush_every: int = 1000):
        self.enabled = enabled and folder is not None and not key.endswith("-random")
        self.folder = Path(folder) / key if folder is not None else None
        self.flush_every = max(1, int(flush_every))
        self.warning: str | None = None
        self._vectors: dict[str, np.ndarray] = {}
        self._buf_keys: list[str] = []
        self._buf_vecs: list[np.ndarray] = []
        self._dim: int | None = None
        self._lock = threading.RLock()
        if self.enabled:
            self._load()

    # -- public API ------------------------------------------------------------------------------------

    @property
    def writable(self) -> bool:
        """False when caching is off: disabled, random weights, or after the folder's one warning."""
        return self.enabled and self.warning is None

    def __len__(self) -> int:
        return len(self._vectors)

    def get(self, key: str) -> np.ndarray | None:
        return self._vectors.get(key)

    def put(self, keys: list[str], vectors: np.ndarray) -> None:
        with self._lock:
            for k, v in zip(keys, vectors):
                if k not in self._vectors:
                    self._vectors[k] = v
                    if self.writable:
                        self._buf_keys.append(k)
                        self._buf_vecs.append(v)
            if len(self._buf_keys) >= self.flush_every:
                self.flush()

    def flush(self) -> None:
        """Write the buffered vectors as one new shard (then compact if there are too many). Never raises
        for I/O errors: the first one turns caching off with a warning."""
        with self._lock:
            keys, vecs = self._buf_keys, self._buf_vecs
            self._buf_keys, self._buf_vecs = [], []
            if not keys or not self.writable:
                return
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                arr = np.stack(vecs).astype(np.float32, copy=False)
                del vecs
                self._write_shard(keys, [arr], len(keys), arr.shape[1])
                if self._dim is None:
                    self._dim = arr.shape[1]
            except Exception as exc:
                self._disable(f"cannot write to it ({_why(exc)})")
                return
            del arr
            self._maybe_compact()

    save = flush

    # -- reading ---------------------------------------------------------------------------------------

    def _scan(self) -> tuple[list[os.DirEntry], list[os.DirEntry]]:
        shards, temps = [], []
        with os.scandir(self.folder) as it:
            for e in it:
                if _is_shard(e.name):
                    shards.append(e)
                elif _is_temp(e.name):
                    temps.append(e)
        return sorted(shards, key=lambda e: e.name), temps

    def _load(self) -> None:
        loaded: set[str] = set()
        for _attempt in range(5):  # a shard merged away while we read: list again for the merged one
            try:
                shards, temps = self._scan()
            except (FileNotFoundError, NotADirectoryError):
                return  # nothing cached yet (or a file in the way: the first write says so)
            except OSError as exc:
                self._disable(f"cannot list it ({_why(exc)})")
                return
            vanished = False
            for e in shards:
                if e.name in loaded:
                    continue
                try:
                    keys, vecs = self._read_shard(Path(e.path))
                except _Vanished:
                    vanished = True
                    continue
                except OSError as exc:
                    self._disable(f"cannot read {e.name} ({_why(exc)})")
                    return
                except Exception as exc:  # a damaged shard only costs recomputation
                    log.warning("ignoring damaged feature cache file %s (%s)", e.path, exc)
                    loaded.add(e.name)
                    continue
                loaded.add(e.name)
                for k, v in zip(keys, vecs):
                    self._vectors.setdefault(k, v)
            if not vanished:
                break
        if any(self._stale(e) for e in temps):
            with self._exclusive() as locked:
                if locked:
                    self._clean_temps()

    def _read_shard(self, path: Path, need_vectors=True) -> tuple[list[str], np.ndarray | None]:
        """(keys, vectors) of a shard; raises _Vanished, OSError (cannot read) or anything else (damaged)."""
        try:
            f = open(path, "rb")
        except FileNotFoundError:
            raise _Vanished(path) from None
        with f, np.load(f) as z:
            keys = z["keys"]
            if keys.ndim != 1:
                raise ValueError(f"keys of shape {keys.shape}")
            keys = keys.tolist()
            if not need_vectors:
                return keys, None
            vecs = z["vectors"]
        if vecs.ndim != 2 or len(vecs) != len(keys):
            raise ValueError(f"{len(keys)} keys but vectors of shape {vecs.shape}")
        if self._dim is None:
            self._dim = vecs.shape[1]
        elif vecs.shape[1] != self._dim:
            raise ValueError(f"vectors of length {vecs.shape[1]}, not {self._dim}")
        return keys, vecs

    # -- writing ---------------------------------------------------------------------------------------

    def _write_shard(self, keys: list[str], chunks, n: int, dim: int) -> None:
        """Stream keys and (n, dim) float32 vectors, given as row chunks, into a new shard, atomically."""
        tmp = self.folder / _unique(_TMP_PREFIX)
        try:
            with open(tmp, "xb") as f:
                with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
                    with zf.open("keys.npy", "w", force_zip64=True) as m:
                        np.lib.format.write_array(m, np.array(keys, dtype=str), allow_pickle=False)
                    with zf.open("vectors.npy", "w", force_zip64=True) as m:
                        np.lib.format.write_array_header_1_0(
                            m, {"descr": np.lib.format.dtype_to_descr(np.dtype("<f4")),
                                "fortran_order": False, "shape": (n, dim)})
                        rows = 0
                        for chunk in chunks:
                            chunk = np.ascontiguousarray(chunk, dtype="<f4")
                            if chunk.ndim != 2 or chunk.shape[1] != dim:
                                raise ValueError(f"vectors of shape {chunk.shape}, expected (*, {dim})")
                            m.write(chunk.data)
                            rows += len(chunk)
                        if rows != n:
                            raise ValueError(f"{rows} vectors written, {n} expected")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.folder / _unique("shard-"))
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise

    def _disable(self, reason: str) -> None:
        self._buf_keys, self._buf_vecs = [], []
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
        """Merge the smallest shards into one (lock held). Only the listed shards are merged and deleted:
        shards written meanwhile by other processes are left alone."""
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
        order: list[str] = []   # every key once, in shard order
        seen: set[str] = set()
        extra: dict[str, np.ndarray] = {}  # vectors other processes wrote that this one does not hold
        merged: list[str] = []
        for name in pick:
            try:
                keys, _ = self._read_shard(self.folder / name, need_vectors=False)
                need = [i for i, k in enumerate(keys) if k not in seen and k not in self._vectors]
                if need:
                    keys, vecs = self._read_shard(self.folder / name)
            except (_Vanished, OSError):
                raise
            except Exception as exc:
                log.warning("deleting damaged feature cache file %s (%s)", self.folder / name, exc)
                merged.append(name)
                continue
            for i in need:
                extra.setdefault(keys[i], vecs[i])
            for k in keys:
                if k not in seen:
                    seen.add(k)
                    order.append(k)
            merged.append(name)
        del seen
        if order:
            def chunks(step=1024):
                for a in range(0, len(order), step):
                    yield np.stack([extra[k] if k in extra else self._vectors[k] for k in order[a:a + step]])
            dim = (extra[order[0]] if order[0] in extra else self._vectors[order[0]]).shape[-1]
            self._write_shard(order, chunks(), len(order), dim)
        for name in merged:  # only now, with their vectors safely in the merged shard
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.folder / name)
