"""The image pass on a Dask cluster (dask.distributed): `pixmap build --dask local:4` or `--dask tcp://host:8786`.

    client, owned = connect("local:2")          # or a scheduler address, a scheduler file, a Client
    for idx, src, done in image_results(sources, data_dir, opts, cache, cell_size):
        collector.add(idx, src, done)           # pixmap.imagepass.Collector, on the client, in input order

The image list is cut into partitions (`--partition-size`, else sized from the collection and the
workers); each partition is one task. A task reads, decodes and writes each image's lightbox and thumbnail
(pixmap.imagepass.process_image, the function the local pass runs in its threads), makes its atlas cells,
looks its vector up in the feature cache (the same keys as a local build, when the cache folder is visible
to the worker) and runs the model on the rest. The model is loaded once per worker process, and only when
some image of a partition is not cached. The client gathers the tasks as they complete, takes them in input
order (so ids, atlas cells and positions are those of a local build) and keeps only a few partitions in
memory; it packs the atlas pages, puts the new vectors into the cache, and does the rest of the build.

Files: with --dask-transfer shared the workers write the per-image files straight into the (staging) site
folder, which must be the same path on every worker; with client they return the bytes and the client
writes them; auto checks whether every worker sees the site folder (always true for local:N).

Failures: a task whose worker dies is run again elsewhere (Dask's own rescheduling), a task that raises is
retried (RETRIES); a bad image is never a failure, it comes back with the local pass's skip reason.
Ctrl-C or an error cancels what is left on the cluster and closes what this module started.
"""
from __future__ import annotations

import logging
import math
import os
import re
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from . import features, imagepass, models

log = logging.getLogger("pixmap")

RETRIES = 2                  # a task that raises is run again this many times (a dying worker: Dask reschedules)
CONNECT_TIMEOUT = 10.0       # seconds to reach a scheduler
MAX_PARTITION = 1024         # images per task at most (by default)
SCHEMES = ("tcp://", "tls://", "ws://", "wss://", "ucx://", "inproc://")
ADDRESS_HELP = ("give local:N (N worker processes on this machine), a scheduler address such as "
                "tcp://scheduler:8786, or a scheduler file (scheduler.json, written by `dask scheduler "
                "--scheduler-file`)")


class DaskError(Exception):
    """The Dask cluster cannot be used: a bad --dask value, an unreachable scheduler, no workers."""


# ---- the --dask option ----------------------------------------------------------------------------------

def parse(value) -> tuple[str, object]:
    """The --dask value as ("local", n_workers), ("address", "tcp://host:port"), ("file", path) or
    ("client", a dask.distributed Client). DaskError says what to give instead."""
    if value is None:
        raise DaskError(f"no Dask cluster given; {ADDRESS_HELP}")
    if not isinstance(value, (str, os.PathLike)):
        if hasattr(value, "submit") and hasattr(value, "scheduler"):
            return "client", value
        raise DaskError(f"dask must be a dask.distributed Client or a string, not {type(value).__name__}; "
                        f"{ADDRESS_HELP}")
    text = str(value).strip()
    m = re.fullmatch(r"local(?::(\d+))?", text, re.IGNORECASE)
    if m:
        n = int(m.group(1)) if m.group(1) else max(1, os.cpu_count() or 1)
        if n < 1:
            raise DaskError(f"--dask {text}: a local cluster needs at least 1 worker (local:1, local:4, ...)")
        return "local", n
    if text.lower().startswith("local"):
        raise DaskError(f"--dask {text}: write local:N with N the number of worker processes, e.g. local:4")
    if text.lower().endswith(".json"):
        return "file", str(Path(os.path.expanduser(text)))
    if "://" in text:
        if not text.lower().startswith(SCHEMES):
            raise DaskError(f"--dask {text}: not a Dask scheduler address (its scheme must be one of "
                            f"{', '.join(s[:-3] for s in SCHEMES)}); {ADDRESS_HELP}")
        return "address", text
    if re.fullmatch(r"[A-Za-z0-9._\-\[\]:]+:\d+", text):   # host:port: Dask's default protocol, tcp
        return "address", f"tcp://{text}"
    raise DaskError(f"--dask {text!r}: not a Dask cluster; {ADDRESS_HELP}")


def describe(value) -> str | None:
    """What config.json says for the dask option: the string given, or a Client's scheduler address."""
    if value is None or isinstance(value, (str, os.PathLike)):
        return None if value is None else str(value)
    try:
        return str(value.scheduler.address)
    except AttributeError:
        return repr(value)


def connect(value, timeout: float = CONNECT_TIMEOUT):
    """(client, owned): a dask.distributed Client for the --dask value; `owned` lists what this call
    started (the Client, a LocalCluster), to be closed with `close`. A Client given is used as it is."""
    kind, what = parse(value)
    if kind == "client":
        return what, []
    from distributed import Client, LocalCluster

    if kind == "local":
        # the in-process scheduler's INFO lines (start, workers joining, closing) would bury the build's own
        logging.getLogger("distributed").setLevel(logging.WARNING)
        # Dask's nanny sets its workers' environment (OMP/MKL/OPENBLAS_NUM_THREADS=1, PYTHONHASHSEED, ...) in
        # this process's os.environ before it spawns them, and leaves it there: every process started later
        # would inherit it (a one-thread BLAS, other bits). It is put back once the workers are up, and
        # again when the cluster closes (a restarted worker sets it anew).
        env = _EnvironRestorer()
        try:
            # any free port for the dashboard (8787 may be taken by another cluster on this machine)
            cluster = LocalCluster(n_workers=what, threads_per_worker=1, processes=True, dashboard_address=":0",
                                   silence_logs=logging.ERROR)
        finally:
            env.close()
        try:
            client = Client(cluster, set_as_default=False)
        except BaseException:
            cluster.close()
            env.close()
            raise
        return client, [client, cluster, env]
    try:
        if kind == "file":
            if not Path(what).is_file():
                raise DaskError(f"Dask scheduler file not found: {what}; start the scheduler with "
                                f"`dask scheduler --scheduler-file {what}` (or {ADDRESS_HELP})")
            client = Client(scheduler_file=what, timeout=timeout, set_as_default=False)
        else:
            client = Client(what, timeout=timeout, set_as_default=False)
    except DaskError:
        raise
    except (OSError, TimeoutError, ValueError) as exc:
        raise DaskError(f"cannot reach the Dask scheduler at {what} within {timeout:g} s "
                        f"({type(exc).__name__}: {exc}); start one there (`dask scheduler`, then `dask worker "
                        f"{what}` on each machine), check the address and the firewall, or use --dask local:N "
                        "to run the workers on this machine") from None
    return client, [client]


class _EnvironRestorer:
    """os.environ as it was when this was made, put back by close()."""

    def __init__(self):
        self.saved = dict(os.environ)

    def close(self) -> None:
        for key in [k for k in os.environ if k not in self.saved]:
            del os.environ[key]
        for key, value in self.saved.items():
            if os.environ.get(key) != value:
                os.environ[key] = value


def close(owned: list) -> None:
    """Close what `connect` started (the Client first, then its LocalCluster)."""
    for thing in owned:
        try:
            thing.close()
        except Exception as exc:  # noqa: BLE001 (closing never hides the build's own outcome)
            log.debug("closing %s: %s", type(thing).__name__, exc)


def _has_dashboard() -> bool:
    """The dashboard needs bokeh; without it the cluster runs without one."""
    try:
        import bokeh  # noqa: F401
    except ImportError:
        return False
    return True


def dashboard_link(client, local: bool = False) -> str | None:
    """The cluster's dashboard URL, or None when it has none (`local`: a LocalCluster, whose dashboard
    shows nothing without bokeh installed here)."""
    if local and not _has_dashboard():
        return None
    try:
        if "dashboard" not in client.scheduler_info().get("services", {}):
            return None
        return client.dashboard_link
    except Exception:  # noqa: BLE001 (only a link to print)
        return None


def n_workers(client, wait: float = 0.0) -> int:
    """The number of workers now (waiting up to `wait` seconds for a first one)."""
    deadline = time.monotonic() + wait
    while True:
        n = len(client.scheduler_info().get("workers", {}))
        if n or time.monotonic() >= deadline:
            return n
        time.sleep(0.2)


def partition_size(n: int, workers: int, batch_size: int, given: int | None = None) -> int:
    """Images per task: `given` (--partition-size), else about four tasks per worker (so a slow or lost
    task costs little and every worker stays busy), a multiple of the model's batch (whole batches on the
    workers), at most MAX_PARTITION (bounded memory on the client and the workers)."""
    if given:
        return max(1, int(given))
    bs = max(1, int(batch_size))
    size = math.ceil(max(1, n) / (4 * max(1, workers)))
    size = bs * math.ceil(size / bs)
    return max(bs, min(MAX_PARTITION, size))


# ---- on the workers -------------------------------------------------------------------------------------

_LOCK = threading.Lock()
_MODELS: dict = {}           # (model, weights, batch_size, backend, precision) -> loaded model
_CACHES: dict = {}           # cache folder -> (its mtime when opened, FeatureCache)
_FETCHERS: dict = {}
_LOADS = 0                   # models loaded in this process (tests read it through client.run)


def worker_model(opts: dict):
    """The feature model of this worker process: loaded once (models.load_from_options), on first need."""
    global _LOADS
    key = tuple(str(opts.get(k)) for k in ("model", "weights", "batch_size", "backend", "precision"))
    with _LOCK:
        model = _MODELS.get(key)
        if model is None:
            model = _MODELS[key] = models.load_from_options(opts)
            _LOADS += 1
        return model


def model_loads() -> int:
    """How many models this process has loaded (1 per worker in a normal pass)."""
    return _LOADS


def worker_cache(folder: str | None):
    """This worker's read-only view of the feature cache at `folder` (None: no cache), opened again when a
    new shard was written there (the folder's mtime changed)."""
    if folder is None:
        return None
    path = Path(folder)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:   # not visible from this worker (or not made yet): nothing cached
        return None
    with _LOCK:
        held = _CACHES.get(folder)
        if held is None or held[0] != stamp:
            held = _CACHES[folder] = (stamp, features.FeatureCache(path.parent, path.name))
        return held[1]


def _worker_fetcher(cache_dir, workers, timeout):
    from .iiif.fetch import Fetcher

    key = (cache_dir, workers, timeout)
    with _LOCK:
        if key not in _FETCHERS:
            _FETCHERS[key] = Fetcher(Path(cache_dir) if cache_dir else None, workers=workers, timeout=timeout)
        return _FETCHERS[key]


def run_partition(ctx: imagepass.Context, items: list, cache_folder: str | None, iiif: tuple | None,
                  desc_folders: dict | None = None) -> dict:
    """One Dask task: every image of a partition through imagepass.process_image, then the model on those
    the cache did not have (in whole batches). `items`: (index, source, wants a model vector).
    `desc_folders`: {block: its descriptor cache folder} (imagepass.descriptor_caches; read like the feature
    cache: an image whose blocks are all there is not described). Returns
    {"results": [(index, _Done | _Skip)], "model_seconds", "worker": pid}; the _Done carry their vector
    (`computed` when the model made it) and no model input."""
    opts = ctx.opts
    cache = worker_cache(cache_folder)
    lookup = cache.get if cache is not None else None
    describe_lookup = imagepass.descriptor_lookup({name: worker_cache(folder)
                                                   for name, folder in (desc_folders or {}).items()})
    fetcher = _worker_fetcher(*iiif) if iiif is not None and any(s.remote is not None for _, s, _ in items) else None
    bs = int(opts["batch_size"])
    out: list = []
    pending: list[int] = []   # positions in `out` waiting for the model
    model_seconds = 0.0

    def one(item):
        _, src, wants = item
        raw_from = None
        if src.remote is not None:
            def raw_from(src=src):
                raw, _url = fetcher.image_bytes(service=src.remote.service, url=src.remote.url,
                                                max_side=int(opts["lightbox_size"]))
                return raw
        return imagepass.process_image(ctx, src, raw_from, lookup, want_input=wants, describe_lookup=describe_lookup)

    def run_model(final=False):
        nonlocal model_seconds
        while len(pending) >= bs or (final and pending):
            chunk = pending[:bs]
            del pending[:bs]
            model = worker_model(opts)   # loaded on first need only: a cached partition never loads it
            t0 = time.perf_counter()
            vecs = np.asarray(model(np.stack([out[j][1].model_input for j in chunk])), np.float32)
            model_seconds += time.perf_counter() - t0
            for j, vec in zip(chunk, vecs):
                done = out[j][1]
                done.vector, done.model_input, done.computed = np.array(vec), None, True

    threads = max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="pixmap-decode") as pool:
        for _, item, done in imagepass.ordered(pool, one, items, ahead=max(8, 2 * threads)):
            out.append((item[0], done))
            if isinstance(done, imagepass._Done) and done.vector is None and done.model_input is not None:
                pending.append(len(out) - 1)
                run_model()
    run_model(final=True)
    return {"results": out, "model_seconds": model_seconds, "worker": os.getpid()}


def sees_folder(folder: str, token: str) -> bool:
    """On a worker: True when `folder`/.pixmap-dask-check holds `token` (the folder is shared storage)."""
    try:
        return (Path(folder) / ".pixmap-dask-check").read_text(encoding="utf-8") == token
    except OSError:
        return False


def workers_see(client, folder: Path) -> bool:
    """True when every worker sees `folder` (the same path, the same files): a file with a random token is
    written there and each worker is asked to read it."""
    token = uuid.uuid4().hex
    marker = folder / ".pixmap-dask-check"
    marker.write_text(token, encoding="utf-8")
    try:
        answers = client.run(sees_folder, str(folder), token)
    finally:
        marker.unlink(missing_ok=True)
    return bool(answers) and all(answers.values())


# ---- on the client --------------------------------------------------------------------------------------

def transfer_mode(client, kind: str, data_dir: Path, asked: str) -> str:
    """"shared" (workers write the files into the site folder) or "client" (they send them back)."""
    if asked == "client":
        return "client"
    if kind == "local" and asked == "auto":
        return "shared"
    seen = workers_see(client, data_dir)
    if asked == "shared" and not seen:
        raise DaskError(f"--dask-transfer shared: the Dask workers cannot see the site folder {data_dir.parent} "
                        "(it must be storage mounted at the same path on every worker); use --dask-transfer "
                        "client to send the files back to this machine, or build into a shared folder")
    return "shared" if seen else "client"


def image_results(sources: list, data_dir: Path, opts: dict, cache, cell_size: int, tile_cell=None,
                  tiles: bool = False, vectors_for=None, progress: bool = True, stats=None,
                  desc_caches: dict | None = None):
    """Yield (index, source, _Done | _Skip) for every source, in input order, computed on the Dask cluster
    named by opts["dask"]. `stats` (an imagepass.PassResult) gets the workers' model seconds. `desc_caches`:
    the descriptor caches (imagepass.descriptor_caches) the workers look in. Closing the
    generator (Ctrl-C, an error on the client) cancels what is left on the cluster; what this call started
    (a LocalCluster, a Client) is closed at the end."""
    from tqdm.auto import tqdm

    try:
        kind, _ = parse(opts["dask"])
        client, owned = connect(opts["dask"])
    except DaskError as exc:
        raise imagepass.PassError(str(exc)) from None
    futures: list = []
    bar = None
    try:
        workers = n_workers(client, wait=CONNECT_TIMEOUT)
        if not workers:
            raise imagepass.PassError(f"the Dask cluster at {describe(client)} has no workers (waited "
                                      f"{CONNECT_TIMEOUT:g} s); start some with `dask worker {describe(client)}`")
        link = dashboard_link(client, local=kind == "local")
        if progress:
            print(f"Dask: {workers} worker(s) at {describe(client)}" + (f"; dashboard: {link}" if link else ""),
                  file=sys.stderr, flush=True)
        if link:
            log.info("Dask dashboard: %s", link)
        try:
            mode = transfer_mode(client, kind, data_dir, opts.get("dask_transfer") or "auto")
        except DaskError as exc:
            raise imagepass.PassError(str(exc)) from None
        ctx = imagepass.make_context(data_dir, opts, cell_size, tile_cell, tiles=tiles, write_files=mode == "shared")
        cache_folder = str(cache.folder) if cache.enabled and cache.folder is not None else None
        desc_folders = {name: str(c.folder) for name, c in (desc_caches or {}).items() if c.enabled}
        iiif = None
        if any(s.remote is not None for s in sources):
            cache_root = cache.folder.parent if cache.folder is not None else None
            iiif = (str(cache_root / "iiif") if cache_root is not None else None,
                    int(opts.get("download_workers") or 8), float(opts.get("download_timeout") or 30))
        size = partition_size(len(sources), workers, int(opts["batch_size"]), opts.get("partition_size"))
        parts = [range(i, min(i + size, len(sources))) for i in range(0, len(sources), size)]
        window = max(4, 3 * workers)   # partitions submitted or waiting to be taken in (bounded memory)
        log.info("image pass on Dask: %d images in %d partitions of %d, %d workers, files %s",
                 len(sources), len(parts), size, workers,
                 "written by the workers" if mode == "shared" else "sent to the client")
        from distributed import as_completed

        bar = tqdm(total=len(sources), desc="images", unit="img", disable=not progress, smoothing=0.1)
        ac = as_completed(loop=client.loop)
        by_key: dict = {}
        submitted = 0

        def submit():
            nonlocal submitted
            k = submitted
            items = [(i, sources[i], vectors_for is None or vectors_for(sources[i]) is None) for i in parts[k]]
            fut = client.submit(run_partition, ctx, items, cache_folder, iiif, desc_folders, pure=False,
                                retries=RETRIES,
                                key=f"pixmap-images-{uuid.uuid4().hex[:12]}-{k}")
            by_key[fut.key] = k
            futures.append(fut)
            ac.add(fut)
            submitted += 1

        while submitted < min(window, len(parts)):
            submit()
        ready: dict = {}
        taken = 0
        for fut in ac:
            k = by_key.pop(fut.key)
            try:
                out = fut.result()
            except Exception as exc:
                raise imagepass.PassError(_task_failure(exc, parts[k])) from None
            futures.remove(fut)
            fut.release()
            bar.update(len(parts[k]))
            if stats is not None:
                stats.model_seconds += out["model_seconds"]
            ready[k] = out["results"]
            while taken in ready:
                for idx, done in ready.pop(taken):
                    yield idx, sources[idx], done
                taken += 1
                if submitted < len(parts):
                    submit()
    finally:
        if futures:   # Ctrl-C or an error: nothing is left running on the cluster
            try:
                client.cancel(futures)
            except Exception as exc:  # noqa: BLE001
                log.debug("cancelling the Dask tasks: %s", exc)
        if bar is not None:
            bar.close()
        close(owned)


def _task_failure(exc: BaseException, part: range) -> str:
    """The message of a task that failed after its retries."""
    where = f"images {part.start + 1}-{part.stop} of the input"
    if isinstance(exc, models.ModelError):
        return str(exc)
    if type(exc).__name__ == "KilledWorker":
        return (f"the Dask workers running {where} died repeatedly ({exc}); they may run out of memory: "
                "give them more, or use a smaller --partition-size")
    return f"a Dask task failed on {where} after {RETRIES} retries: {type(exc).__name__}: {exc}"
