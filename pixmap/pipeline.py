"""The build: images -> features -> layout -> hotspots -> atlases -> site. The Python API behind the CLI.

Each image is read and decoded once. One pass streams every image through a thread pool that writes its
lightbox image and thumbnail and returns its atlas cell and model input; the main thread packs the cells
into atlas pages and feeds the model in batches while the pool decodes the next images. Everything after
that works on arrays.
"""
from __future__ import annotations

import csv
import json
import logging
import os
import platform
import sys
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import __version__, atlas, clusters, features, models, site, sources
from . import images as imageio
from . import metadata as metadataio
from .layouts import umap as umap_layouts

log = logging.getLogger("pixmap")

DEFAULTS = dict(
    model=models.DEFAULT_MODEL, weights="default", batch_size=32,
    n_neighbors=10, min_dist=0.0, metric="cosine", pca_components=100,
    layouts="auto", group_by="category", sort_by=None, supervised=False,
    min_cluster_size=None, max_clusters=20,
    cell_size=None, atlas_size=2048, thumb_size=256, lightbox_size=1024, image_format="webp",
    seed=0, max_images=None, max_pixels=imageio.MAX_PIXELS,
)


MAX_PENDING = 2048   # model inputs held while the model loads (~300 MB at 224 px)


@dataclass
class BuildResult:
    out_dir: Path
    artifacts_dir: Path
    n_images: int
    skipped: list[tuple[str, str]] = field(default_factory=list)       # (path, reason)
    metadata_unmatched: list[tuple[int, str, str]] = field(default_factory=list)  # (line, filename, reason)
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)           # seconds per stage
    n_computed: int = 0                                                 # feature vectors not in the cache
    layouts: list[str] = field(default_factory=list)                    # layout names, in manifest order


class BuildError(Exception):
    """The build cannot go on (no images, bad options, an unwritable folder...)."""


@dataclass
class _Done:
    key: str
    size: tuple[int, int]
    cell: object            # PIL image for the atlas
    model_input: np.ndarray | None
    vector: np.ndarray | None


@dataclass
class _Skip:
    reason: str


def build(images_path=None, metadata_path=None, out_dir="pixmap-map", *, images=None, metadata=None,
          force: bool = False, cache_dir=None, artifacts_dir=None, title: str | None = None,
          progress: bool = True, **options) -> BuildResult:
    """Build a map of the images at `images` (a folder, a glob with **, a file, or a list of them).

    `metadata`: a CSV or JSON file keyed by `filename`. `out_dir`: the site folder (must not exist,
    be empty, or be an earlier pixmap map with force=True). Options are those of DEFAULTS; see
    `pixmap build --help` for their meaning. Returns a BuildResult.
    """
    images = images if images is not None else images_path
    metadata_file = metadata if metadata is not None else metadata_path
    if images is None:
        raise BuildError("no images given: pass a folder, a glob or a list of image files")
    unknown = set(options) - set(DEFAULTS)
    if unknown:
        raise TypeError(f"unknown build option(s): {', '.join(sorted(unknown))}")
    opts = {**DEFAULTS, **options}
    _check_options(opts)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter
    out_dir = Path(os.path.expanduser(str(out_dir))).resolve()
    artifacts = Path(artifacts_dir).resolve() if artifacts_dir else out_dir.with_name(out_dir.name + "-artifacts")
    if cache_dir is None:
        cache_dir = features.default_cache_dir()
    elif str(cache_dir).lower() == "none":
        cache_dir = None
    t_all = time.perf_counter()
    timings: dict[str, float] = {}

    try:
        site.check_output(out_dir, force)
    except site.OutputError as exc:
        raise BuildError(str(exc)) from None

    # ---- sources and metadata
    t = time.perf_counter()
    try:
        root, srcs = sources.find_images(images, max_images=opts["max_images"])
    except sources.SourceError as exc:
        raise BuildError(str(exc)) from None
    meta = None
    if metadata_file:
        try:
            meta = metadataio.load_metadata(Path(os.path.expanduser(str(metadata_file))), root, srcs)
        except metadataio.MetadataError as exc:
            raise BuildError(str(exc)) from None
        for line, name, reason in meta.unmatched:
            log.warning("metadata line %s (%s): %s", line, name, reason)
    log.info("found %d images under %s", len(srcs), root)
    timings["sources"] = time.perf_counter() - t

    staging = site.staging_folder(out_dir)
    try:
        result = _build_into(staging, out_dir, artifacts, root, srcs, meta, opts, cache_dir,
                             title or root.name or "pixmap", progress, timings)
        site.publish(staging, out_dir)
    except BaseException:
        import shutil
        shutil.rmtree(staging, ignore_errors=True)
        raise
    timings["total"] = time.perf_counter() - t_all
    _write_config(artifacts, opts, images, metadata_file, result)
    log.info("built %s: %d images, %d skipped, %.1f s", out_dir, result.n_images, len(result.skipped),
             timings["total"])
    return result


def _check_options(opts: dict) -> None:
    if opts["model"] not in models.MODEL_NAMES:
        raise BuildError(f"unknown model {opts['model']!r}; choose one of {', '.join(models.MODEL_NAMES)}")
    if opts["image_format"] not in ("webp", "jpeg"):
        raise BuildError(f"image format must be webp or jpeg, not {opts['image_format']!r}")
    for name in ("batch_size", "atlas_size", "thumb_size", "lightbox_size", "max_clusters"):
        if int(opts[name]) < 1:
            raise BuildError(f"{name.replace('_', '-')} must be at least 1")
    try:
        nn, md = parse_list(opts["n_neighbors"], int), parse_list(opts["min_dist"], float)
    except ValueError:
        raise BuildError("n-neighbors and min-dist take a number or a comma-separated list, e.g. 5,15,50") from None
    if not nn or not md or min(nn) < 2 or not all(0 <= d <= 1 for d in md):
        raise BuildError("n-neighbors must be at least 2 and min-dist between 0 and 1")
    if opts["cell_size"] is not None and not 8 <= int(opts["cell_size"]) <= int(opts["atlas_size"]):
        raise BuildError("cell-size must be between 8 and the atlas size")


def _build_into(staging, out_dir, artifacts, root, srcs, meta, opts, cache_dir, title, progress, timings):
    from tqdm.auto import tqdm

    data = staging / "data"
    for sub in ("thumbs", "lightbox", "atlas", "layouts"):
        (data / sub).mkdir(parents=True, exist_ok=True)
    ext = "webp" if opts["image_format"] == "webp" else "jpg"
    cell_size = int(opts["cell_size"] or atlas.auto_cell_size(len(srcs), int(opts["atlas_size"])))
    weights = opts["weights"]
    cache = features.FeatureCache(cache_dir, features.model_key(opts["model"], weights))
    in_size = models.input_size(opts["model"])

    # Compilation of UMAP's optimiser (numba) runs beside the image pass instead of after it.
    warm = threading.Thread(target=umap_layouts.warm_up, name="umap-warm-up", daemon=True)
    warm.start()

    model_future: Future | None = None
    loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")

    def process(src) -> _Done | _Skip:
        try:
            raw = imageio.read(src.path)
            key = features.content_hash(raw)
            im, size = imageio.decode(raw, max_side=opts["lightbox_size"], max_pixels=opts["max_pixels"])
        except imageio.ImageError as exc:
            return _Skip(str(exc))
        large = imageio.fit(im, opts["lightbox_size"])
        # WebP effort 0 for the large image (3x faster than the default, files ~10% larger), 2 for thumbs.
        large_bytes = imageio.encode(large, opts["image_format"], quality=82, method=0)
        (data / "lightbox" / f"{src.id}.{ext}").write_bytes(large_bytes)
        thumb = imageio.fit(large, opts["thumb_size"])
        thumb_bytes = large_bytes if thumb is large else imageio.encode(thumb, opts["image_format"], method=2)
        (data / "thumbs" / f"{src.id}.{ext}").write_bytes(thumb_bytes)
        cell = atlas.cell_image(thumb, cell_size)  # here, in the pool, rather than in the main thread
        vector = cache.get(key)
        model_input = imageio.square(large, in_size) if vector is None else None
        return _Done(key, size, cell, model_input, vector)

    kept, sizes, vectors, skipped, meta_rows = [], [], [], [], []
    pending: list[tuple[int, str, np.ndarray]] = []
    model_time = 0.0
    n_computed = 0

    def run_batches(final=False):
        """Feed the model every full batch (and, when final, the rest)."""
        nonlocal n_computed, model_time
        try:
            model = model_future.result()
        except models.ModelError as exc:
            raise BuildError(str(exc)) from None
        bs = int(opts["batch_size"])
        while len(pending) >= bs or (final and pending):
            chunk = pending[:bs]
            del pending[:bs]
            t0 = time.perf_counter()
            out = model(np.stack([p[2] for p in chunk]))
            model_time += time.perf_counter() - t0
            for (i, _key, _), vec in zip(chunk, out):
                vectors[i] = vec
            cache.put([p[1] for p in chunk], out)
            n_computed += len(chunk)

    t = time.perf_counter()
    n_workers = max(1, min(8, (os.cpu_count() or 1) - 1))  # leave TensorFlow a core
    with ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="decode") as pool:
        writer = atlas.AtlasWriter(data / "atlas", len(srcs), size=int(opts["atlas_size"]),
                                   cell_size=cell_size, fmt=opts["image_format"], executor=pool)
        bar = tqdm(total=len(srcs), desc="images", unit="img", disable=not progress, smoothing=0.1)
        for idx, src, res in _ordered(pool, process, srcs, ahead=max(64, 4 * int(opts["batch_size"]))):
            bar.update(1)
            if isinstance(res, _Skip):
                skipped.append((str(src.path), res.reason))
                log.warning("skipped %s: %s", src.path, res.reason)
                continue
            i = len(kept)
            kept.append(src)
            sizes.append(res.size)
            meta_rows.append(meta.rows[idx] if meta is not None else None)
            writer.add(i, res.cell)
            vectors.append(res.vector)
            if res.vector is None:
                if model_future is None:  # TensorFlow is loaded only when some image is not cached
                    model_future = loader.submit(models.load_model, opts["model"], weights,
                                                 batch_size=int(opts["batch_size"]))
                pending.append((i, res.key, res.model_input))
                # While TensorFlow is still loading, keep decoding (up to MAX_PENDING inputs in memory).
                if len(pending) >= int(opts["batch_size"]) and (model_future.done() or len(pending) >= MAX_PENDING):
                    run_batches()
        if pending:
            run_batches(final=True)
        bar.close()
        pages, cells = writer.close()
    loader.shutdown()
    n = len(kept)
    timings["images_and_features"] = time.perf_counter() - t
    timings["model_inference"] = model_time
    if n == 0:
        reasons = "; ".join(f"{p}: {r}" for p, r in skipped[:5])
        raise BuildError(f"no image could be read ({len(skipped)} skipped: {reasons})")
    cache.save()
    feats = np.stack(vectors).astype(np.float32)
    cells = cells[:n]

    # ---- layouts
    t = time.perf_counter()
    print_stage(progress, f"layouts: PCA + UMAP of {n} images")
    reduced = umap_layouts.reduce_pca(feats, int(opts["pca_components"]), seed=int(opts["seed"]))
    warm.join()
    fields, rows = _metadata_table(kept, sizes, meta, meta_rows)
    layouts, layout_times, layout_notes = compute_layouts(reduced, fields, rows, opts, progress=progress)
    umap2d = layouts[0]
    timings["layouts"] = time.perf_counter() - t
    timings.update({f"layout {k}": v for k, v in layout_times.items()})
    for note in layout_notes:
        log.warning(note)

    # ---- hotspots
    t = time.perf_counter()
    print_stage(progress, "hotspots: HDBSCAN")
    # hotspots are named by their most common category (PixPlot's column), else by their most common label
    categories = _column(fields, rows, "category") or _column(fields, rows, "label")
    clustering = clusters.hotspots(umap2d.positions, reduced, categories, opts["min_cluster_size"],
                                   int(opts["max_clusters"]), int(opts["seed"]))
    timings["hotspots"] = time.perf_counter() - t

    # ---- site and artifacts
    t = time.perf_counter()
    manifest = site.base_manifest(title, n, f"pixmap {__version__}")
    manifest["layouts"] = [site.write_layout(staging, lay) for lay in layouts]
    manifest["default_layout"] = "umap"
    manifest["atlas"] = {"size": int(opts["atlas_size"]), "cell_size": cell_size, "format": opts["image_format"],
                         "pages": [f"data/atlas/{p.name}" for p in pages], "cells": "data/atlas/cells.u16"}
    np.ascontiguousarray(cells, dtype="<u2").tofile(data / "atlas" / "cells.u16")
    manifest["thumbs"] = {"size": int(opts["thumb_size"]), "dir": "data/thumbs", "ext": ext}
    manifest["lightbox"] = {"size": int(opts["lightbox_size"]), "dir": "data/lightbox", "ext": ext}
    np.ascontiguousarray(clustering.labels, dtype="<i4").tofile(data / "clusters.i32")
    manifest["clusters"] = {"file": "data/clusters.i32", "method": clustering.method,
                            "hotspots": [h.to_json() for h in clustering.hotspots]}
    ids = [s.id for s in kept]
    site.write_metadata(data / "metadata.json", ids, fields, rows)
    site.write_manifest(staging, manifest)
    site.copy_viewer(staging)
    site.mark(staging)

    artifacts.mkdir(parents=True, exist_ok=True)
    np.save(artifacts / "features.npy", feats)
    for lay in layouts:
        np.save(artifacts / f"layout_{lay.name}.npy", lay.positions.astype(np.float32))
    np.save(artifacts / "clusters.npy", clustering.labels.astype(np.int32))
    with open(artifacts / "images.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "path", "width", "height"])
        for s, (wd, ht) in zip(kept, sizes):
            w.writerow([s.id, str(s.path), wd, ht])
    timings["site"] = time.perf_counter() - t

    return BuildResult(out_dir=out_dir, artifacts_dir=artifacts, n_images=n, skipped=skipped,
                       metadata_unmatched=list(meta.unmatched) if meta else [],
                       warnings=(list(meta.warnings) if meta else []) + layout_notes, timings=timings,
                       layouts=[lay.name for lay in layouts],
                       n_computed=n_computed)


def print_stage(progress: bool, text: str) -> None:
    if progress:
        print(text, file=sys.stderr, flush=True)


def _ordered(pool, fn, items, ahead: int):
    """Like pool.map(fn, items) in order, but with at most `ahead` results in flight (bounded memory)."""
    queue: deque = deque()
    it = iter(enumerate(items))
    for idx, item in it:
        queue.append((idx, item, pool.submit(fn, item)))
        if len(queue) >= ahead:
            break
    while queue:
        idx, item, fut = queue.popleft()
        nxt = next(it, None)
        if nxt is not None:
            queue.append((nxt[0], nxt[1], pool.submit(fn, nxt[1])))
        yield idx, item, fut.result()


AUTO_LAYOUTS = ("umap", "umap-3d", "grid", "umap-spread", "categorical", "date", "geographic", "alphabetic",
                "custom")
HINTS = {"categorical": " (choose the column with --group-by)", "alphabetic": " (choose the column with --sort-by)"}


def parse_list(value, kind=float) -> list:
    """'5,15,50' or 15 or [5, 15] -> a list of numbers."""
    if isinstance(value, (list, tuple)):
        return [kind(v) for v in value]
    return [kind(v) for v in str(value).replace(" ", "").split(",") if v]


def compute_layouts(reduced: np.ndarray, fields: list[str], rows: list[list], opts: dict, progress: bool = False):
    """Every layout asked for (or, with layouts="auto", every one the metadata allows), made by
    pixmap.layouts.compute_layouts from the metadata columns.

    Returns (layouts with "umap" first, seconds per layout, notes on layouts that were skipped and why).
    """
    from tqdm.auto import tqdm

    from .layouts import LAYOUTS, compute_layouts as make_layouts

    names = [name for name in LAYOUTS if name != "umap-variants"]
    asked = AUTO_LAYOUTS if opts["layouts"] in (None, "auto") else parse_list(opts["layouts"], str)
    unknown = [a for a in asked if a not in names]
    if unknown:
        raise BuildError(f"unknown layout(s) {', '.join(unknown)}; choose from {', '.join(names)}")
    explicit = opts["layouts"] not in (None, "auto")
    nn_list = parse_list(opts["n_neighbors"], int)
    md_list = parse_list(opts["min_dist"], float)
    wanted = ["umap"] + (["umap-variants"] if len(nn_list) * len(md_list) > 1 else [])
    wanted += [a for a in asked if a != "umap"]
    if opts.get("supervised") and "umap-supervised" not in wanted:
        wanted.append("umap-supervised")
    # metadata columns by lower-case name (reversed: where two names differ only in case, the first wins)
    columns = {f.lower(): [r[j] for r in rows] for j, f in reversed(list(enumerate(fields)))}
    sort_by = str(opts["sort_by"] or ("title" if "title" in columns else "filename")).lower()

    times, skipped = {}, {}
    bar = tqdm(total=len(wanted), desc="layouts", unit="layout", disable=not progress)

    def done(name, seconds):
        times[name] = seconds
        bar.set_postfix_str(name)
        bar.update(1)

    layouts = make_layouts(wanted, features=reduced, columns=columns, seed=int(opts["seed"]),
                           n_neighbors=nn_list[0], min_dist=md_list[0], metric=opts["metric"],
                           variants=(nn_list, md_list), skipped=skipped,
                           group_by=str(opts["group_by"]).lower(), sort_by=sort_by, on_done=done)
    bar.update(bar.total - bar.n)
    bar.close()
    notes = []
    for name, why in skipped.items():
        why = f"{why}{HINTS.get(name, '')}"
        if explicit or name == "umap-supervised":  # asked for by name: say why it is missing
            notes.append(f"layout {name} skipped: {why}")
        else:
            log.info("layout %s not made: %s", name, why)
    return layouts, times, notes


def _metadata_table(kept, sizes, meta, meta_rows):
    """The fields and rows of metadata.json: filename, width, height, then every metadata column."""
    extra = list(meta.fields) if meta is not None else []
    renamed = [f if f not in ("filename", "width", "height") else f"{f} (metadata)" for f in extra]
    fields = ["filename", "width", "height"] + renamed
    rows = []
    for src, (w, h), row in zip(kept, sizes, meta_rows):
        values = [src.relpath, w, h]
        values += [row.get(f) if row else None for f in extra]
        rows.append(values)
    return fields, rows


def _column(fields, rows, name):
    """The values of the metadata column `name` (any letter case), or None when there is none."""
    lowered = [f.lower() for f in fields]
    if not name or str(name).lower() not in lowered:
        return None
    j = lowered.index(str(name).lower())
    return [r[j] for r in rows]


def _versions() -> dict:
    from importlib import metadata as md

    out = {"python": platform.python_version(), "pixmap": __version__}
    for dist in ("numpy", "pillow", "tensorflow", "tensorflow-cpu", "keras", "umap-learn", "pynndescent",
                 "hdbscan", "scikit-learn", "numba"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    return out


def _write_config(artifacts: Path, opts, images, metadata_file, result: BuildResult) -> None:
    doc = {
        "pixmap": __version__,
        "images": [str(x) for x in images] if isinstance(images, (list, tuple)) else str(images),
        "metadata": str(metadata_file) if metadata_file else None,
        "out_dir": str(result.out_dir),
        "options": {k: v for k, v in opts.items()},
        "versions": _versions(),
        "n_images": result.n_images,
        "n_features_computed": result.n_computed,
        "skipped": [{"path": p, "reason": r} for p, r in result.skipped],
        "metadata_unmatched": [{"line": ln, "filename": fn, "reason": r} for ln, fn, r in result.metadata_unmatched],
        "timings_s": {k: round(v, 3) for k, v in result.timings.items()},
    }
    (artifacts / "config.json").write_text(json.dumps(doc, indent=2, default=str), encoding="utf-8")
