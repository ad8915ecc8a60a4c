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
second decode); the blocks go to features_<block>.npy beside the features, as the vectors do.

One image that cannot be read, decoded, encoded or written is reported in `skipped` with the reason and
left out; it never stops the pass.
"""
from __future__ import annotations

import logging
import os
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


class PassError(Exception):
    """The pass cannot go on (the model cannot be loaded)."""


@dataclass
class PassResult:
    kept: list = field(default_factory=list)             # the sources that made it, in input order
    indices: list[int] = field(default_factory=list)     # each kept source's index in the input list
    sizes: list[tuple[int, int]] = field(default_factory=list)  # original (width, height)
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


@dataclass
class _Skip:
    reason: str


def run(sources: list, data_dir: Path, opts: dict, cache: features.FeatureCache, cell_size: int,
        progress: bool = True, fetcher=None, features_path: Path | None = None, pack=None,
        tile_cell: int | None = None, vectors_for=None) -> PassResult:
    """Stream every source through decode -> site files -> atlas + model. See the module docstring.

    `cell_size`: atlas level 0's cells. `pack` (a tileset.CellPack) and `tile_cell`: where and how large the
    level-1 cells go, when the site has tiles. `features_path`: the .npy the vectors are written to
    (default: data_dir/../.features.npy). `opts` holds the build options used here: model, weights,
    batch_size, lightbox_size, thumb_size (0: none), atlas_size, image_format, max_pixels, download_workers. IIIF sources (src.remote set) are downloaded
    by `fetcher` (a pixmap.iiif.fetch.Fetcher) in a pool of their own, started well ahead of decoding, so
    the pass never waits for all downloads first and the network overlaps decoding and the model.
    `vectors_for(src)`: a vector given for the source (pixmap.byo, --vectors FILE) that replaces the model's.
    """
    from tqdm.auto import tqdm

    thumb_size = int(opts["thumb_size"] or 0)
    subs = ("lightbox", "thumbs") if thumb_size else ("lightbox",)
    for sub in (*subs, "atlas"):
        (data_dir / sub).mkdir(parents=True, exist_ok=True)
    made_shards: set = set()
    ext = "webp" if opts["image_format"] == "webp" else "jpg"
    cell_source = max(2 * int(tile_cell or cell_size), 2 * cell_size)   # longest side the cells are made from
    in_size = models.input_size(opts["model"])
    bs = int(opts["batch_size"])

    def download(src) -> bytes:
        im = src.remote
        raw, _url = fetcher.image_bytes(service=im.service, url=im.url, max_side=int(opts["lightbox_size"]))
        return raw

    def process(item) -> _Done | _Skip:
        src, pending_download = item
        try:
            if pending_download is None:
                raw = imageio.read(src.path)
            else:
                t0 = time.perf_counter()
                try:
                    raw = pending_download.result()
                except Exception as exc:  # FetchError: its message names the URL and the reason
                    return _Skip(f"cannot download it: {exc}")
                finally:
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
                thumb, thumb_bytes = imageio.fit(large, cell_source), None
            cell = atlas.cell_image(thumb, cell_size)
            cell1 = encode_cell(atlas.cell_image(thumb, tile_cell)) if pack is not None else None
            colours = content.name_shares(content.colour_shares(np.asarray(thumb.convert("RGB"))))
            colours = np.round(colours * 255).astype(np.uint8)
            desc, desc_seconds = None, None
            if with_descriptors:   # from the same decoded pixels: the thumbnail (at most 256 px)
                desc_seconds = {}
                try:
                    desc = descriptors.describe(thumb, palette_colors, timings=desc_seconds, size=size)
                except Exception as exc:  # noqa: BLE001 (never worth losing the image: zeros, and a warning)
                    log.warning("no descriptors for %s (zeros instead): %s: %s", src.location, type(exc).__name__, exc)
                    desc = descriptors.empty(palette_colors)
            tiles = _deep_zoom_tiles(raw, src, data_dir, opts) if opts.get("deep_zoom") and src.remote is None else None
            vector = cache.get(key)
            model_input = imageio.square(large, in_size) if vector is None else None
        except imageio.ImageError as exc:
            return _Skip(str(exc))
        except (OSError, ValueError, MemoryError) as exc:  # an encoder failing on this one image
            return _Skip(f"cannot make its thumbnails: {type(exc).__name__}: {exc}")
        written = []
        try:
            shard = shard_of(src.id)
            for sub, data in (("lightbox", large_bytes), ("thumbs", thumb_bytes)):
                if data is None:
                    continue
                folder = data_dir / sub / shard
                if (sub, shard) not in made_shards:
                    folder.mkdir(exist_ok=True)
                    made_shards.add((sub, shard))
                path = folder / f"{src.id}.{ext}"
                _write(path, data)
                written.append(path)
        except OSError as exc:
            for path in written:  # no half of an image's files is left behind
                path.unlink(missing_ok=True)
            return _Skip(f"cannot write its thumbnail into the site folder: {exc.strerror or exc}")
        return _Done(key, size, cell, cell1, model_input, vector, tiles, colours, desc, desc_seconds)

    res = PassResult()
    with_descriptors = bool(opts.get("descriptors", False))
    palette_colors = int(opts.get("palette_colors") or descriptors.DEFAULT_COLORS)
    vectors_path = features_path or data_dir.parent / ".features.npy"
    # the descriptor blocks go to disk as they come, like the features (bounded memory at a million
    # images); float32, the type every later stage (standardising, PCA, UMAP) computes in
    hidden = "" if features_path else "."   # (beside a hidden default .features.npy: hidden too)
    desc_files = {name: VectorFile(vectors_path.parent / f"{hidden}features_{name}.npy", capacity=len(sources))
                  for name in descriptors.BLOCKS} if with_descriptors else {}
    score_rows = np.zeros((len(sources), len(descriptors.SCORE_NAMES)), np.float32) if with_descriptors else None
    colour_rows = np.zeros((len(sources), len(content.COLOUR_NAMES)), np.uint8)
    waited: list[float] = []   # seconds each decode spent waiting for its download
    vectors = VectorFile(vectors_path, capacity=len(sources))
    pending: list[tuple[int, str, np.ndarray]] = []
    model_future: Future | None = None
    loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")

    def run_batches(final=False):
        """Feed the model every full batch (and, when final, the rest)."""
        try:
            model = model_future.result()
        except models.ModelError as exc:
            raise PassError(str(exc)) from None
        while len(pending) >= bs or (final and pending):
            chunk = pending[:bs]
            del pending[:bs]
            t0 = time.perf_counter()
            out = model(np.stack([p[2] for p in chunk]))
            res.model_seconds += time.perf_counter() - t0
            vectors.write_rows([p[0] for p in chunk], out)
            cache.put([p[1] for p in chunk], out)
            res.n_computed += len(chunk)

    n_workers = max(1, min(8, (os.cpu_count() or 1) - 1))  # leave TensorFlow a core
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

    try:
        with ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="decode") as pool:
            writer = atlas.AtlasWriter(data_dir / "atlas", len(sources), size=int(opts["atlas_size"]),
                                       cell_size=cell_size, executor=pool)
            bar = tqdm(total=len(sources), desc="images", unit="img", disable=not progress, smoothing=0.1)
            try:
                for idx, (src, _), done in ordered(pool, process, items(), ahead=max(64, 4 * bs)):
                    bar.update(1)
                    if isinstance(done, _Skip):
                        res.skipped.append((src.location, done.reason))
                        log.warning("skipped %s: %s", src.location, done.reason)
                        continue
                    i = len(res.kept)
                    res.kept.append(src)
                    res.indices.append(idx)
                    res.sizes.append(done.size)
                    writer.add(i, done.cell)
                    colour_rows[i] = done.colours
                    if done.descriptors is not None:
                        for name, vf in desc_files.items():
                            vf.write(i, done.descriptors[name])
                        score_rows[i] = done.descriptors["scores"]
                        for name, sec in done.descriptor_seconds.items():
                            res.descriptor_seconds[name] = res.descriptor_seconds.get(name, 0.0) + sec
                    if pack is not None:
                        pack.add(i, done.cell1)
                    if done.tiles:
                        res.tiles[i] = done.tiles
                    given = vectors_for(src) if vectors_for is not None else None
                    if given is not None:  # --vectors FILE (pixmap.byo): the model is neither loaded nor run
                        vectors.write(i, given)
                    elif done.vector is not None:
                        vectors.write(i, done.vector)
                    else:
                        if model_future is None:  # TensorFlow is loaded only when some image is not cached
                            model_future = loader.submit(models.load_from_options, opts)
                        pending.append((i, done.key, done.model_input))
                        # While TensorFlow is still loading, keep decoding (up to MAX_PENDING inputs).
                        if len(pending) >= bs and (model_future.done() or len(pending) >= MAX_PENDING):
                            run_batches()
                if pending:
                    run_batches(final=True)
            finally:
                bar.close()
            pages, cells = writer.close()
    except BaseException:
        vectors.abort()
        for vf in desc_files.values():
            vf.abort()
        raise
    finally:
        loader.shutdown(wait=False, cancel_futures=True)
        if downloads is not None:
            downloads.shutdown(wait=False, cancel_futures=True)
        dl_bar.close()
        cache.flush()  # what was computed is kept, also when the pass is interrupted
    n = len(res.kept)
    res.download_wait_seconds = float(sum(waited))
    res.pages = pages
    res.cells = cells[:n]
    res.colours = colour_rows[:n]
    res.features = vectors.close(n)
    if with_descriptors:
        res.descriptors = {name: vf.close(n) for name, vf in desc_files.items()}
        res.descriptors["scores"] = score_rows[:n]
        if n:
            res.palette = descriptors.palette_colours(res.descriptors["palette"], palette_colors)
    if pack is not None:
        pack.finish()
    return res


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
