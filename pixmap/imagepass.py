"""The image pass: every image read and decoded once, its site files written, its feature vector computed.

    result = run(sources, data_dir, options, cache, cell_size, features_path=..., pack=...)
    result.kept, result.sizes, result.features, result.skipped, result.cells, result.pages

A thread pool reads, hashes and decodes each image, writes its lightbox image and thumbnail (into folders
sharded by id, docs/site-format.md), and returns its atlas cells and model input; the main thread packs the
level-0 cells into atlas pages, appends the level-1 cells to a CellPack (tiled once the layout is known), and
feeds the model in batches while the pool decodes the next images. Vectors go to a VectorFile on disk as
they come (a memmap at the end), so nothing per image is held in memory but its size and id. TensorFlow is loaded (in a thread, while decoding goes on)
only when some image is not in the feature cache. New vectors go to the cache as the pass goes, and what
is left is saved even when the pass is interrupted (Ctrl-C), so a restarted build loses at most one batch.

With `descriptors` on (--descriptors, the default), the decoding threads also describe each image's
thumbnail (pixmap.descriptors: palette, composition, structure, scores; the pixels already decoded, no
second decode); the blocks go to features_<block>.npy beside the features, as the vectors do. Like the
features, they are cached by image content: each block has a FeatureCache of its own beside the feature
cache's folder (`descriptor_caches`, keyed by block, parameters and descriptor version), looked up before
describing, so a rebuild describes only new images.

One image that cannot be read, decoded, encoded or written is reported in `skipped` with the reason and
left out; it never stops the pass.

The work is split in two so that a Dask cluster (pixmap.distributed, --dask) can do the first half:
`process_image(context, source)` is everything done to one image (a module-level function of a picklable
Context, run by the local threads or by a Dask task), and `Collector.add(index, source, result)` is the
client's step that takes each result in, in input order (atlas packing, vectors, cache, model batches for
the inputs that came without a vector). Both paths give the same ids, cells and vectors.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import atlas, content, descriptors, features, models
from . import images as imageio
from .site import shard_of
from .tileset import encode_cell
from .vectorfile import VectorFile

log = logging.getLogger("pixmap")

MAX_PENDING = 2048   # model inputs held while the model loads (~300 MB at 224 px)


DECODE_THREADS = None   # threads that read, decode, describe and write the images (None: decode_threads())


def decode_threads() -> int:
    """How many threads decode: DECODE_THREADS, else one per core (at most 8). Once the model runs, one of
    them stands aside for it (run's gate). Measured on flowers5, 2 cores, LiteRT on 2 threads: a cold pass
    of 1,500 photos 18.6 s with 1 decoding thread, 19.1 s with 2, 23.5 s with 2 and LiteRT on 1; a pass whose
    features are all cached (no model) 6.5-6.9 s with 1, 4.9-5.6 s with 2."""
    if DECODE_THREADS:
        return int(DECODE_THREADS)
    return max(1, min(8, os.cpu_count() or 1))


class PassError(Exception):
    """The pass cannot go on (the model cannot be loaded)."""


@dataclass
class PassResult:
    kept: list = field(default_factory=list)             # the sources that made it, in input order
    indices: list[int] = field(default_factory=list)     # each kept source's index in the input list
    sizes: list[tuple[int, int]] = field(default_factory=list)  # original (width, height)
    lightbox_sizes: list[tuple[int, int]] = field(default_factory=list)  # (width, height) of its lightbox image
    features: np.ndarray | None = None                   # (n, d) float32, a read-only memmap of features_path
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    pages: list[Path] = field(default_factory=list)      # atlas page files
    cells: np.ndarray | None = None                      # (n, 5) uint16 [page, x, y, w, h] in level 0
    n_computed: int = 0                                  # vectors computed (not from the cache)
    tiles: dict = field(default_factory=dict)            # kept index -> "data/tiles/<shard>/<id>/info.json" (--deep-zoom)
    model_seconds: float = 0.0
    download_wait_seconds: float = 0.0                   # decoding waiting for IIIF downloads (summed)
    colours: np.ndarray | None = None                    # (n, len(content.COLOUR_NAMES)) uint8 shares x 255
    # pixmap.descriptors (--descriptors): "palette", "composition", "structure" ((n, d) float32, read-only
    # memmaps of features_<name>.npy beside features_path) and "scores" ((n, 6) float32, SCORE_NAMES); {} when off
    descriptors: dict = field(default_factory=dict)
    palette: np.ndarray | None = None                    # (n, k, 4) float32: L, a, b, proportion (a view)
    descriptor_seconds: dict = field(default_factory=dict)  # seconds per block, summed over the threads
    n_described: int = 0                                 # images described (not from the descriptor cache)


@dataclass
class _Done:
    key: str
    size: tuple[int, int]
    cell: object            # PIL image for atlas level 0
    cell1: bytes | None     # level-1 cell (tileset.encode_cell) when the site has tiles
    model_input: np.ndarray | None
    vector: np.ndarray | None
    tiles: str | None = None   # "data/tiles/<id>/info.json" when --deep-zoom wrote tiles for it
    colours: np.ndarray | None = None  # its colour names' shares (content.name_shares), uint8 x 255
    descriptors: dict | None = None    # pixmap.descriptors.describe of its thumbnail (--descriptors)
    descriptor_seconds: dict | None = None
    files: list | None = None   # [(path in the site folder, bytes)] for the client to write (write_files off)
    computed: bool = False      # vector made by the model elsewhere (a Dask worker): the client caches it
    described: bool = False     # descriptors computed here (not from the cache, not the zeros of a failure)
    lightbox_size: tuple[int, int] | None = None   # (width, height) of its lightbox image
    coloured: bool = False      # colour shares computed here (not from the colour cache)


@dataclass
class _Skip:
    reason: str


@dataclass(frozen=True)
class Context:
    """What the work on one image needs, and nothing else: picklable, so that a Dask task (pixmap.distributed)
    gets the same as the local thread pool. Made by `make_context`."""
    data_dir: Path          # the site's data folder (the staging one while building)
    opts: dict              # the build options (see `run`), without a Dask Client
    cell_size: int          # atlas level 0's cells
    tile_cell: int | None   # the level-1 cells' size when the site has tiles (None: no tiles)
    cell_source: int        # the longest side the cells are made from (when there are no thumbnails)
    write_files: bool = True   # False: the lightbox/thumb (and tile) files are returned in _Done.files

    @property
    def thumb_size(self) -> int:
        return int(self.opts["thumb_size"] or 0)

    @property
    def ext(self) -> str:
        return "webp" if self.opts["image_format"] == "webp" else "jpg"


def make_context(data_dir: Path, opts: dict, cell_size: int, tile_cell: int | None = None,
                 tiles: bool = False, write_files: bool = True) -> Context:
    """The Context of a pass: `tiles` says whether level-1 cells are made (the site has tiles)."""
    plain = {k: v for k, v in opts.items() if k != "dask"}
    plain["dask"] = None   # a dask.distributed Client is not sent to the workers
    cell_source = max(2 * int(tile_cell or cell_size), 2 * cell_size)
    return Context(Path(data_dir), plain, int(cell_size), int(tile_cell) if tiles and tile_cell else None,
                   cell_source, write_files)


def descriptor_caches(cache: features.FeatureCache, opts: dict) -> dict:
    """Each descriptor block's FeatureCache (and the scores'), in the folder that holds the feature cache's
    (descriptors.cache_keys: block, --palette-colors, descriptor version); {} without --descriptors or
    without a cache folder. They do not depend on the model: shared by builds of any model."""
    if not opts.get("descriptors", False) or cache.folder is None:
        return {}
    k = int(opts.get("palette_colors") or descriptors.DEFAULT_COLORS)
    return {name: features.FeatureCache(cache.folder.parent, key) for name, key in descriptors.cache_keys(k).items()}


def colour_cache(cache: features.FeatureCache, ctx: Context) -> features.FeatureCache | None:
    """The cache of the colour names' shares (content.name_shares), by image content, beside the feature
    cache (None without one). Keyed by what they are computed from: the thumbnail's longest side and the
    lightbox size it is made from, and content.COLOUR_VERSION."""
    if cache.folder is None:
        return None
    side = ctx.thumb_size or ctx.cell_source
    key = f"colours-v{content.COLOUR_VERSION}-{int(ctx.opts['lightbox_size'])}-{side}"
    return features.FeatureCache(cache.folder.parent, key)


def descriptor_lookup(caches: dict):
    """`lookup(content key)` -> every block from `caches` ({name: FeatureCache or None}), or None when one
    is missing (then the image is described). None when there is nothing to look in."""
    if not caches or any(c is None for c in caches.values()):
        return None

    def lookup(key: str) -> dict | None:
        out = {}
        for name, c in caches.items():
            v = c.get(key)
            if v is None:
                return None
            out[name] = np.asarray(v, np.float32)
        return out

    return lookup


def process_image(ctx: Context, src, raw_from=None, lookup=None, want_input: bool = True, made: set | None = None,
                  waited: list | None = None, describe_lookup=None, colour_lookup=None) -> _Done | _Skip:
    """Everything done to one image before the client takes it in: read (or download), content hash (the
    feature-cache key), decode, lightbox and thumbnail files, atlas cells, colour shares, descriptors, cache
    lookup and model input. The local pass's threads and the Dask workers both call it.

    `raw_from`: None (read src.path), a Future or a callable giving the downloaded bytes (IIIF). `lookup(key)`:
    the cached vector or None (None: nothing is cached). `want_input`: False when the model's vector is not
    needed (given vectors, pixmap.byo). `made`: (sub, shard) folders already made (saves a mkdir per image).
    `waited`: seconds spent waiting for downloads are appended there. `describe_lookup(key)`: the cached
    descriptor blocks or None (`descriptor_lookup`); `colour_lookup(key)`: the cached colour shares or None
    (`colour_cache`). Never raises for a bad image: returns _Skip with the
    reason instead."""
    opts, thumb_size, cell_size = ctx.opts, ctx.thumb_size, ctx.cell_size
    try:
        if raw_from is None:
            raw = imageio.read(src.path)
        else:
            t0 = time.perf_counter()
            try:
                raw = raw_from.result() if isinstance(raw_from, Future) else raw_from()
            except Exception as exc:  # FetchError: its message names the URL and the reason
                return _Skip(f"cannot download it: {exc}")
            finally:
                if waited is not None:
                    waited.append(time.perf_counter() - t0)
        key = features.content_hash(raw)
        im, size = imageio.decode(raw, max_side=opts["lightbox_size"], max_pixels=opts["max_pixels"])
        if src.remote is not None and src.remote.width and src.remote.height:
            size = (int(src.remote.width), int(src.remote.height))  # the original, not the download
        large = imageio.fit(im, opts["lightbox_size"])
        # WebP effort 0 for the large image (3x faster than the default, ~10% larger), 2 for thumbs.
        large_bytes = imageio.encode(large, opts["image_format"], quality=82, method=0)
        if thumb_size:
            thumb = imageio.fit(large, thumb_size)
            thumb_bytes = large_bytes if thumb is large else imageio.encode(thumb, opts["image_format"], method=2)
        else:
            thumb, thumb_bytes = imageio.fit(large, ctx.cell_source), None
        cell = atlas.cell_image(thumb, cell_size)
        cell1 = encode_cell(atlas.cell_image(thumb, ctx.tile_cell)) if ctx.tile_cell else None
        cached = colour_lookup(key) if colour_lookup is not None else None
        coloured = cached is None
        if coloured:
            colours = content.name_shares(content.colour_shares(np.asarray(thumb.convert("RGB"))))
            colours = np.round(colours * 255).astype(np.uint8)
        else:
            colours = np.asarray(cached).astype(np.uint8)
        desc, desc_seconds, described = None, None, False
        if opts.get("descriptors", False):   # from the same decoded pixels: the thumbnail (at most 256 px)
            palette_colors = int(opts.get("palette_colors") or descriptors.DEFAULT_COLORS)
            desc_seconds = {}
            desc = describe_lookup(key) if describe_lookup is not None else None
            if desc is None:
                try:
                    desc = descriptors.describe(thumb, palette_colors, timings=desc_seconds, size=size)
                    described = True
                except Exception as exc:  # noqa: BLE001 (never worth losing the image: zeros, and a warning)
                    log.warning("no descriptors for %s (zeros instead): %s: %s", src.location, type(exc).__name__,
                                exc)
                    desc = descriptors.empty(palette_colors)
        files = None if ctx.write_files else []
        tiles = None
        if opts.get("deep_zoom") and src.remote is None:
            tiles = _deep_zoom_tiles(raw, src, ctx.data_dir, opts) if ctx.write_files else \
                _deep_zoom_tile_files(raw, src, opts, files)
        vector = lookup(key) if lookup is not None else None
        model_input = imageio.square(large, models.input_size(opts["model"])) \
            if vector is None and want_input else None
    except imageio.ImageError as exc:
        return _Skip(str(exc))
    except (OSError, ValueError, MemoryError) as exc:  # an encoder failing on this one image
        return _Skip(f"cannot make its thumbnails: {type(exc).__name__}: {exc}")
    shard = shard_of(src.id)
    parts = [(sub, data) for sub, data in (("lightbox", large_bytes), ("thumbs", thumb_bytes)) if data is not None]
    if files is not None:   # the client writes them (pixmap.distributed, --dask-transfer client)
        files.extend((f"data/{sub}/{shard}/{src.id}.{ctx.ext}", data) for sub, data in parts)
    else:
        written = []
        try:
            for sub, data in parts:
                folder = ctx.data_dir / sub / shard
                if made is None:
                    folder.mkdir(parents=True, exist_ok=True)
                elif (sub, shard) not in made:
                    folder.mkdir(exist_ok=True)
                    made.add((sub, shard))
                path = folder / f"{src.id}.{ctx.ext}"
                _write(path, data)
                written.append(path)
        except OSError as exc:
            for path in written:  # no half of an image's files is left behind
                path.unlink(missing_ok=True)
            return _Skip(write_failure(exc))
    return _Done(key, size, cell, cell1, model_input, vector, tiles, colours, desc, desc_seconds, files,
                 described=described, lightbox_size=(int(large.width), int(large.height)), coloured=coloured)


def write_failure(exc: OSError) -> str:
    """The skip reason of an image whose files cannot be written into the site folder."""
    return f"cannot write its thumbnail into the site folder: {exc.strerror or exc}"


class Collector:
    """The client's side of the pass: takes each image's result, in input order, into the PassResult
    (atlas pages, level-1 cells, vectors, descriptor blocks, colour shares, skips), runs the model on the
    inputs that came without a vector, and puts new vectors into the cache. The local pass and the Dask
    pass (pixmap.distributed) both feed it, so both make the same ids, cells and vectors in the same order.

        collector = Collector(sources, data_dir, opts, cache, cell_size, executor=pool, ...)
        collector.add(idx, src, done)      # for each source, in input order
        result = collector.finish()        # or collector.abort() after an error
    """

    def __init__(self, sources: list, data_dir: Path, opts: dict, cache: features.FeatureCache, cell_size: int,
                 executor=None, features_path: Path | None = None, pack=None, vectors_for=None,
                 desc_caches: dict | None = None, on_model=None, colours_cache=None):
        self.res = PassResult()
        self.colours_cache = colours_cache   # colour_cache(): the colour shares computed go there
        self.on_model = on_model   # called once, when the model starts loading (some image is not cached)
        self.desc_caches = desc_caches or {}   # block -> FeatureCache: what was described goes there
        self.data_dir, self.opts, self.cache, self.pack, self.vectors_for = data_dir, opts, cache, pack, vectors_for
        self.bs = int(opts["batch_size"])
        n = len(sources)
        self.with_descriptors = bool(opts.get("descriptors", False))
        self.palette_colors = int(opts.get("palette_colors") or descriptors.DEFAULT_COLORS)
        vectors_path = features_path or data_dir.parent / ".features.npy"
        # the descriptor blocks go to disk as they come, like the features (bounded memory at a million
        # images); float32, the type every later stage (standardising, PCA, UMAP) computes in
        hidden = "" if features_path else "."   # (beside a hidden default .features.npy: hidden too)
        self.desc_files = {name: VectorFile(vectors_path.parent / f"{hidden}features_{name}.npy", capacity=n)
                           for name in descriptors.BLOCKS} if self.with_descriptors else {}
        self.score_rows = np.zeros((n, len(descriptors.SCORE_NAMES)), np.float32) if self.with_descriptors else None
        self.colour_rows = np.zeros((n, len(content.COLOUR_NAMES)), np.uint8)
        self.vectors = VectorFile(vectors_path, capacity=n)
        self.writer = atlas.AtlasWriter(data_dir / "atlas", n, size=int(opts["atlas_size"]), cell_size=cell_size,
                                        executor=executor)
        self.pending: list[tuple[int, str, np.ndarray]] = []
        self.model_future: Future | None = None
        self.loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        self.made: set = set()

    def add(self, idx: int, src, done: _Done | _Skip) -> None:
        """Take in the result of source number `idx` (called in input order)."""
        res = self.res
        if isinstance(done, _Done) and done.files:
            done = self._write_files(done)
        if isinstance(done, _Skip):
            res.skipped.append((src.location, done.reason))
            log.warning("skipped %s: %s", src.location, done.reason)
            return
        i = len(res.kept)
        res.kept.append(src)
        res.indices.append(idx)
        res.sizes.append(done.size)
        res.lightbox_sizes.append(done.lightbox_size)
        self.writer.add(i, done.cell)
        self.colour_rows[i] = done.colours
        if done.coloured and self.colours_cache is not None:
            self.colours_cache.put([done.key], done.colours[None])
        if done.descriptors is not None:
            for name, vf in self.desc_files.items():
                vf.write(i, done.descriptors[name])
            self.score_rows[i] = done.descriptors["scores"]
            for name, sec in (done.descriptor_seconds or {}).items():
                res.descriptor_seconds[name] = res.descriptor_seconds.get(name, 0.0) + sec
            if done.described:
                res.n_described += 1
                for name, c in self.desc_caches.items():   # cached like the vectors, by content
                    c.put([done.key], done.descriptors[name][None])
        if self.pack is not None:
            self.pack.add(i, done.cell1)
        if done.tiles:
            res.tiles[i] = done.tiles
        given = self.vectors_for(src) if self.vectors_for is not None else None
        if given is not None:  # --vectors FILE (pixmap.byo): the model is neither loaded nor run
            self.vectors.write(i, given)
        elif done.vector is not None:
            self.vectors.write(i, done.vector)
            if done.computed:   # computed by a Dask worker: cached here, under the same key
                self.cache.put([done.key], done.vector[None])
                res.n_computed += 1
        else:
            if self.model_future is None:  # TensorFlow is loaded only when some image is not cached
                self.model_future = self.loader.submit(models.load_from_options, self.opts)
                if self.on_model is not None:
                    self.on_model()
            self.pending.append((i, done.key, done.model_input))
            # While TensorFlow is still loading, keep decoding (up to MAX_PENDING inputs).
            if len(self.pending) >= self.bs and (self.model_future.done() or len(self.pending) >= MAX_PENDING):
                self._run_batches()

    def _write_files(self, done: _Done) -> _Done | _Skip:
        """Write the files a Dask worker sent back into the site folder (all of them, or none)."""
        site_dir = self.data_dir.parent
        written = []
        try:
            for rel, data in done.files:
                path = site_dir / rel
                if path.parent not in self.made:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    self.made.add(path.parent)
                _write(path, data)
                written.append(path)
        except OSError as exc:
            for path in written:
                path.unlink(missing_ok=True)
            return _Skip(write_failure(exc))
        done.files = None
        return done

    def _run_batches(self, final=False):
        """Feed the model every full batch (and, when final, the rest)."""
        try:
            model = self.model_future.result()
        except models.ModelError as exc:
            raise PassError(str(exc)) from None
        pending, bs = self.pending, self.bs
        while len(pending) >= bs or (final and pending):
            chunk = pending[:bs]
            del pending[:bs]
            t0 = time.perf_counter()
            out = model(np.stack([p[2] for p in chunk]))
            self.res.model_seconds += time.perf_counter() - t0
            self.vectors.write_rows([p[0] for p in chunk], out)
            self.cache.put([p[1] for p in chunk], out)
            self.res.n_computed += len(chunk)

    def finish(self) -> PassResult:
        """Run the model on what is left, close the atlas and the files; the PassResult."""
        if self.pending:
            self._run_batches(final=True)
        pages, cells = self.writer.close()
        res, n = self.res, len(self.res.kept)
        res.pages = pages
        res.cells = cells[:n]
        res.colours = self.colour_rows[:n]
        res.features = self.vectors.close(n)
        if self.with_descriptors:
            res.descriptors = {name: vf.close(n) for name, vf in self.desc_files.items()}
            res.descriptors["scores"] = self.score_rows[:n]
            if n:
                res.palette = descriptors.palette_colours(res.descriptors["palette"], self.palette_colors)
        if self.pack is not None:
            self.pack.finish()
        return res

    def abort(self) -> None:
        """After an error or Ctrl-C: the vector files are removed."""
        self.vectors.abort()
        for vf in self.desc_files.values():
            vf.abort()

    def close(self) -> None:
        self.loader.shutdown(wait=False, cancel_futures=True)


def run(sources: list, data_dir: Path, opts: dict, cache: features.FeatureCache, cell_size: int,
        progress: bool = True, fetcher=None, features_path: Path | None = None, pack=None,
        tile_cell: int | None = None, vectors_for=None, on_model_start=None) -> PassResult:
    """Stream every source through decode -> site files -> atlas + model. See the module docstring.

    `cell_size`: atlas level 0's cells. `pack` (a tileset.CellPack) and `tile_cell`: where and how large the
    level-1 cells go, when the site has tiles. `features_path`: the .npy the vectors are written to
    (default: data_dir/../.features.npy). `opts` holds the build options used here: model, weights,
    batch_size, lightbox_size, thumb_size (0: none), atlas_size, image_format, max_pixels, download_workers. IIIF sources (src.remote set) are downloaded
    by `fetcher` (a pixmap.iiif.fetch.Fetcher) in a pool of their own, started well ahead of decoding, so
    the pass never waits for all downloads first and the network overlaps decoding and the model.
    `vectors_for(src)`: a vector given for the source (pixmap.byo, --vectors FILE) that replaces the model's.
    `on_model_start()`: called once, when the model starts loading (the first image that is not cached).
    With opts["dask"] set (pixmap.distributed), the per-image work runs on a Dask cluster instead of the
    thread pool; the client takes the results in the same order, so the result is the same.
    """
    from tqdm.auto import tqdm

    thumb_size = int(opts["thumb_size"] or 0)
    subs = ("lightbox", "thumbs") if thumb_size else ("lightbox",)
    for sub in (*subs, "atlas"):
        (data_dir / sub).mkdir(parents=True, exist_ok=True)
    if opts.get("dask") is not None:
        return _run_on_dask(sources, data_dir, opts, cache, cell_size, progress, fetcher, features_path, pack,
                            tile_cell, vectors_for)
    ctx = make_context(data_dir, opts, cell_size, tile_cell, tiles=pack is not None)
    made_shards: set = set()
    bs = int(opts["batch_size"])
    waited: list[float] = []   # seconds each decode spent waiting for its download

    def download(src) -> bytes:
        im = src.remote
        raw, _url = fetcher.image_bytes(service=im.service, url=im.url, max_side=int(opts["lightbox_size"]))
        return raw

    desc_caches = descriptor_caches(cache, opts)
    describe_lookup = descriptor_lookup(desc_caches)
    colours_cache = colour_cache(cache, ctx)

    n_workers = decode_threads()
    # every core decodes until the model starts; from then on one decoding thread fewer runs (the model's
    # threads use the cores too: measured in decode_threads)
    gate = threading.Semaphore(n_workers)

    def process(item) -> _Done | _Skip:
        src, pending_download = item
        with gate:
            return process_image(ctx, src, pending_download, cache.get, made=made_shards, waited=waited,
                                 describe_lookup=describe_lookup,
                                 colour_lookup=colours_cache.get if colours_cache is not None else None)

    def model_starts() -> None:
        if on_model_start is not None:
            on_model_start()
        if n_workers > 1:
            gate.acquire()   # (kept: released only by the pass's end)
    n_remote = sum(src.remote is not None for src in sources)
    downloads = ThreadPoolExecutor(max_workers=max(1, int(opts.get("download_workers") or 8)),
                                   thread_name_prefix="download") if n_remote else None
    dl_bar = tqdm(total=n_remote, desc="downloads", unit="img", disable=not progress or not n_remote)

    def items():
        """(source, its download started now) pairs, drawn `ahead` of decoding by `ordered`."""
        for src in sources:
            if src.remote is None:
                yield src, None
            else:
                fut = downloads.submit(download, src)
                fut.add_done_callback(lambda _f: dl_bar.update(1))
                yield src, fut

    collector = None
    try:
        with ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="decode") as pool:
            collector = Collector(sources, data_dir, opts, cache, cell_size, executor=pool,
                                  features_path=features_path, pack=pack, vectors_for=vectors_for,
                                  desc_caches=desc_caches, on_model=model_starts, colours_cache=colours_cache)
            bar = tqdm(total=len(sources), desc="images", unit="img", disable=not progress, smoothing=0.1)
            try:
                for idx, (src, _), done in ordered(pool, process, items(), ahead=max(64, 4 * bs)):
                    bar.update(1)
                    collector.add(idx, src, done)
                res = collector.finish()
            finally:
                bar.close()
    except BaseException:
        if collector is not None:
            collector.abort()
        raise
    finally:
        if downloads is not None:
            downloads.shutdown(wait=False, cancel_futures=True)
        dl_bar.close()
        _keep_what_was_computed(collector, cache, {**desc_caches, "colours": colours_cache})
    res.download_wait_seconds = float(sum(waited))
    return res


def _run_on_dask(sources, data_dir, opts, cache, cell_size, progress, fetcher, features_path, pack, tile_cell,
                 vectors_for) -> PassResult:
    """The pass with its per-image work on a Dask cluster (pixmap.distributed.image_results); the client
    takes the results in input order into the same Collector as the local pass."""
    from . import distributed

    collector = None
    stream = None
    desc_caches = descriptor_caches(cache, opts)
    try:
        with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1)), thread_name_prefix="atlas") as pool:
            collector = Collector(sources, data_dir, opts, cache, cell_size, executor=pool,
                                  features_path=features_path, pack=pack, vectors_for=vectors_for,
                                  desc_caches=desc_caches)
            stream = distributed.image_results(sources, data_dir, opts, cache, cell_size, tile_cell=tile_cell,
                                               tiles=pack is not None, vectors_for=vectors_for, progress=progress,
                                               stats=collector.res, desc_caches=desc_caches)
            for idx, src, done in stream:
                collector.add(idx, src, done)
            res = collector.finish()
    except BaseException:
        if stream is not None:
            stream.close()   # cancels what is left on the cluster (also on Ctrl-C)
        if collector is not None:
            collector.abort()
        raise
    finally:
        _keep_what_was_computed(collector, cache, desc_caches)
    return res


def _keep_what_was_computed(collector, cache: features.FeatureCache, desc_caches: dict) -> None:
    """The end of a pass, local or on Dask, finished or interrupted: the collector's files closed, the
    vectors and descriptors computed so far kept in their caches."""
    if collector is not None:
        collector.close()
    cache.flush()
    for c in desc_caches.values():
        if c is not None:
            c.close()


def _deep_zoom_tiles(raw: bytes, src, data_dir: Path, opts: dict) -> str | None:
    """--deep-zoom: static IIIF level-0 tiles of the image at full resolution (a second, full decode).
    Returns the info.json's path in the site; None (and a warning) when the tiles cannot be written."""
    from . import tiles
    from .iiif.publish import DEFAULT_SITE_URL, site_file_url

    rel = f"data/tiles/{shard_of(src.id)}/{src.id}"
    try:
        full, _ = imageio.decode(raw, max_side=None, max_pixels=opts["max_pixels"])
        tiles.write_tiles(full, data_dir.parent / rel,
                          service_id=site_file_url(opts.get("site_url") or DEFAULT_SITE_URL, rel))
    except (imageio.ImageError, OSError, ValueError, MemoryError) as exc:
        log.warning("no deep-zoom tiles for %s: %s", src.location, exc)
        return None
    return f"{rel}/info.json"


def _deep_zoom_tile_files(raw: bytes, src, opts: dict, files: list) -> str | None:
    """--deep-zoom with the files sent back to the client: the tiles are made in a temporary folder and
    appended to `files` as (path in the site, bytes)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="pixmap-tiles-") as tmp:
        rel = _deep_zoom_tiles(raw, src, Path(tmp) / "data", opts)
        if rel is None:
            return None
        root = Path(tmp) / Path(rel).parent
        for path in sorted(root.rglob("*")):
            if path.is_file():
                files.append((path.relative_to(tmp).as_posix(), path.read_bytes()))
    return rel


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


def ordered(pool, fn, items, ahead: int):
    """Like pool.map(fn, items) in order, but with at most `ahead` results in flight (bounded memory).
    Yields (index, item, result)."""
    queue: deque = deque()
    it = iter(enumerate(items))
    for idx, item in it:
        queue.append((idx, item, pool.submit(fn, item)))
        if len(queue) >= ahead:
            break
    try:
        while queue:
            idx, item, fut = queue.popleft()
            nxt = next(it, None)
            if nxt is not None:
                queue.append((nxt[0], nxt[1], pool.submit(fn, nxt[1])))
            yield idx, item, fut.result()
    finally:  # interrupted: do not decode the rest
        for _, _, fut in queue:
            fut.cancel()
