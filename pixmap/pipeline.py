"""The build: images -> features -> layout -> hotspots -> atlases -> site. The Python API behind the CLI.

    result = build(images="~/paintings", metadata="paintings.csv", out_dir="paintings-map")

The stages, in order, each in its own module: every option is checked (before any work); `sources` finds
the images and `metadata` reads their rows; `output` checks, locks and stages the site and artifacts
folders; `imagepass` reads and decodes each image once, writing its thumbnails and atlas cell and
computing its feature vector; `layouts` (PCA, UMAP and the rest), `clusters` (hotspots) and `site` work on
arrays; `output` publishes both folders at the end. After the model, everything is bit-for-bit
reproducible for the same input, seed and machine.
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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import __version__, atlas, byo, clusters, curation, discover, features, findindex, imagepass, models, site, sources
from . import duplicates, fitcache, report
from . import blend as blending, descriptors
from . import metadata as metadataio
from .layouts import umap as umap_layouts
from .options import DEFAULTS, OptionError, check_columns, check_options, parse_list  # noqa: F401 (re-exported)

log = logging.getLogger("pixmap")




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
    model_loaded: bool = True                                           # False: no vector computed (given, cached)
    zip_path: Path | None = None                                        # --zip: <out>.zip

    def to_pandas(self):
        """The map as a pandas DataFrame (pixmap.frames.load): ids, sources, positions, hotspots, metadata."""
        from .frames import load

        return load(self.out_dir)

    def show(self, height: int = 600):
        """The map inline in a notebook (pixmap.notebook.show): an IFrame to a local server."""
        from .notebook import show

        return show(self.out_dir, height=height)


class BuildError(Exception):
    """The build cannot go on (no images, bad options, an unwritable folder...)."""


def build(images_path=None, metadata_path=None, out_dir="pixmap-map", *, images=None, metadata=None,
          iiif=None, force: bool = False, cache_dir=None, artifacts_dir=None, title: str | None = None,
          progress: bool = True, image_column: str = "path", **options) -> BuildResult:
    """Build a map of the images at `images` and/or `iiif`.

    `images`: a folder, a glob with **, an image file, a text file of IIIF manifest/collection URLs
    (one a line), a manifest URL, or a list of those; or a pandas DataFrame whose `image_column` holds image
    paths, http(s) or IIIF Image API URLs and whose other columns are the metadata (pixmap.frames). `iiif`: IIIF manifests or collections (URLs, JSON
    files, folders of them, or text files of URLs), one or a list. `metadata`: a CSV or JSON file keyed
    by `filename` (for the local images; Parquet too). `out_dir`: the site folder (must not exist, be empty, or be an
    earlier pixmap map with force=True). Options are those of DEFAULTS; see `pixmap build --help` for
    their meaning. Returns a BuildResult.
    """
    images = images if images is not None else images_path
    metadata_file = metadata if metadata is not None else metadata_path
    if images is None and not iiif:
        raise BuildError("no images given: pass a folder, a glob, image files or IIIF manifests")
    unknown = set(options) - set(DEFAULTS)
    if unknown:
        raise TypeError(f"unknown build option(s): {', '.join(sorted(unknown))}")
    opts = {**DEFAULTS, **options}
    try:
        check_options(opts)
    except OptionError as exc:
        raise BuildError(str(exc)) from None
    if opts["dask"] is not None:   # --dask: a well-formed cluster address, checked before any work
        from . import distributed

        try:
            distributed.parse(opts["dask"])
        except distributed.DaskError as exc:
            raise BuildError(str(exc)) from None
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter
    out_dir = Path(os.path.expanduser(str(out_dir))).resolve()
    artifacts = (Path(os.path.expanduser(str(artifacts_dir))).resolve() if artifacts_dir
                 else out_dir.with_name(out_dir.name + "-artifacts"))
    try:  # curated hotspots: --hotspots, or the hotspots.json a user put in the site folder (pixmap.curation)
        curated = curation.for_build(opts["hotspots"], out_dir)
    except curation.CurationError as exc:
        raise BuildError(str(exc)) from None
    if cache_dir is None:
        cache_dir = features.default_cache_dir()
    elif str(cache_dir).lower() == "none":
        cache_dir = None
    t_all = time.perf_counter()
    timings: dict[str, float] = {}

    # ---- sources and metadata
    t = time.perf_counter()
    from . import frames   # images=DataFrame: its image_column holds paths or URLs, the other columns metadata
    if frames.is_dataframe(images):
        if metadata_file:
            raise BuildError("images is a DataFrame: its other columns are the metadata; leave metadata out "
                             "(or merge the metadata file into the DataFrame first)")
        found = _sample(frames.find(images, image_column, opts, cache_dir, progress), opts)
        images = f"DataFrame ({len(images)} rows, column {image_column!r})"
    else:
        found = _sample(_find_sources(images, iiif, metadata_file, opts, cache_dir, progress), opts)
    try:  # --vectors FILE, --coords, --labels (pixmap.byo): images without a vector or position are left out
        given = byo.load(opts, found.root, found.sources)
    except byo.ByoError as exc:
        raise BuildError(str(exc)) from None
    if given is not None:
        found = byo.keep_found(found, given)
        found.problems.extend(given.skipped)
    root, srcs, meta = found.root, found.sources, found.meta
    try:
        check_columns(opts, meta)
    except OptionError as exc:
        raise BuildError(str(exc)) from None
    timings["sources"] = time.perf_counter() - t
    if title is None:
        title = root.name if found.n_local else (found.first_label or "pixmap")

    # ---- output: both folders checked and locked now, written into staging, published at the end
    from .output import Output, OutputError

    if opts["zip"]:
        from .sitezip import ZipError, check_target

        try:  # a <out>.zip pixmap did not write is never overwritten (checked before any work)
            check_target(out_dir, force)
        except ZipError as exc:
            raise BuildError(str(exc)) from None
    local_roots = [root] if found.n_local else []
    out = Output(out_dir, artifacts, force=force, cache_dir=cache_dir,
                 inputs=[*local_roots, *sorted({Path(s.path).parent for s in srcs if s.path is not None})])
    try:
        out.open()
        with fitcache.using(fitcache.folder_of(cache_dir)), _fresh_blas_threads():
            # (seeded UMAP and kNN fits kept for a rebuild; BLAS on as many threads as in a fresh process)
            result = _build_into(out.site, out_dir, out.artifacts, srcs, meta, opts, cache_dir,
                                 title or "pixmap", progress, timings, fetcher=found.fetcher, curated=curated,
                                 given=given)
        result.skipped[:0] = found.problems
        if given is not None:
            result.warnings[:0] = given.warnings
        result.artifacts_dir = out.artifacts_dir
        timings["total"] = time.perf_counter() - t_all
        _write_config(out.artifacts, opts, images, iiif, metadata_file, result)   # published with the rest
        out.publish()
        if opts["zip"]:   # the published site, zipped beside it while the output is still locked
            from .sitezip import write_zip

            result.zip_path = write_zip(out_dir, progress=progress)
    except OutputError as exc:
        raise BuildError(str(exc)) from None
    finally:
        out.close()   # removes what is left of the staging folders (all of them after a failure)
        if found.fetcher is not None:
            found.fetcher.close()
    for note in out.notes:
        log.warning(note)
    result.warnings.extend(out.notes)
    log.info("built %s: %d images, %d skipped, %.1f s", out_dir, result.n_images, len(result.skipped),
             timings["total"])
    return result


@dataclass
class _Found:
    root: Path | None
    sources: list
    meta: object | None               # metadataio.Metadata aligned with sources, or None
    problems: list                    # (url or path, reason) of IIIF documents and canvases skipped
    fetcher: object | None            # the IIIF Fetcher, kept open for the image downloads
    n_local: int = 0
    first_label: str | None = None


def _sample(found: _Found, opts) -> _Found:
    """--sample N: a seeded random sample of the images found, kept in their order (with their rows)."""
    n = opts.get("sample")
    if n is None or int(n) >= len(found.sources):
        return found
    rng = np.random.default_rng(int(opts["seed"]))
    keep = np.sort(rng.choice(len(found.sources), size=int(n), replace=False)).tolist()
    log.info("using a random sample of %d of the %d images found (--sample, seed %s)", len(keep),
             len(found.sources), opts["seed"])
    found.sources = [found.sources[i] for i in keep]
    found.n_local = sum(1 for i in keep if i < found.n_local)
    if found.meta is not None:
        found.meta = metadataio.Metadata(fields=found.meta.fields, rows=[found.meta.rows[i] for i in keep],
                                         unmatched=found.meta.unmatched, warnings=found.meta.warnings)
    return found


def _find_sources(images, iiif, metadata_file, opts, cache_dir, progress) -> _Found:
    """Local images (with their --metadata rows) and IIIF images (with theirs from the manifests)."""
    from . import inputs

    split = inputs.split_inputs(images, iiif)
    root, srcs = None, []
    if split.local:
        try:
            root, srcs = sources.find_images(split.local, max_images=opts["max_images"])
        except sources.SourceError as exc:
            raise BuildError(str(exc)) from None
        log.info("found %d images under %s", len(srcs), root)
    meta = None
    if metadata_file:
        if not srcs:
            raise BuildError("--metadata describes local images, and none were given; IIIF images take "
                             "their metadata from their manifests")
        try:
            meta = metadataio.load_metadata(Path(os.path.expanduser(str(metadata_file))), root, srcs)
        except metadataio.MetadataError as exc:
            raise BuildError(str(exc)) from None
        for line, name, reason in meta.unmatched:
            log.warning("metadata line %s (%s): %s", line, name, reason)
    found = _Found(root=root, sources=srcs, meta=meta, problems=[], fetcher=None, n_local=len(srcs))
    if not split.iiif:
        return found

    from .iiif.fetch import Fetcher

    found.fetcher = Fetcher(Path(cache_dir) / "iiif" if cache_dir else None,
                            workers=int(opts["download_workers"]), timeout=float(opts["download_timeout"]))
    language = parse_list(opts["language"], str) if opts["language"] else None
    remote = inputs.iiif_sources(split.iiif, found.fetcher, language=language,
                                 first_canvas_only=bool(opts["iiif_first_canvas_only"]), progress=progress,
                                 taken_ids=[s.id for s in srcs])
    found.problems = remote.problems
    if opts["max_images"] is not None:
        room = max(0, int(opts["max_images"]) - len(srcs))
        del remote.sources[room:], remote.rows[room:]
    if not srcs and not remote.sources:
        reasons = "; ".join(f"{u}: {r}" for u, r in remote.problems[:5]) or "no canvas paints an image"
        found.fetcher.close()
        raise BuildError(f"no image found in the IIIF input ({reasons})")
    log.info("found %d IIIF images in %d input(s)", len(remote.sources), len(split.iiif))
    if remote.sources:
        found.first_label = remote.sources[0].remote.manifest_label or None
    local_fields = list(meta.fields) if meta is not None else []
    fields = local_fields + [f for f in remote.fields if f not in local_fields]
    local_rows = list(meta.rows) if meta is not None else [None] * len(srcs)
    found.meta = metadataio.Metadata(fields=fields, rows=local_rows + remote.rows,
                                     unmatched=list(meta.unmatched) if meta is not None else [],
                                     warnings=list(meta.warnings) if meta is not None else [])
    found.sources = srcs + remote.sources
    found.root = root if root is not None else Path(".")
    return found


def _build_into(staging, out_dir, artifacts, srcs, meta, opts, cache_dir, title, progress, timings, fetcher=None,
                curated=None, given=None):
    from . import tileset

    data = staging / "data"
    (data / "layouts").mkdir(parents=True, exist_ok=True)
    artifacts.mkdir(parents=True, exist_ok=True)
    plan = atlas_plan(len(srcs), opts)
    cache = features.FeatureCache(cache_dir, features.model_key(opts["model"], opts["weights"],
                                                                models.effective_precision(opts)))
    vectors_for = given.vector_of if given is not None and given.vectors is not None else None
    if vectors_for is not None:   # the given vectors are the features: none of the model's is looked up
        cache = features.FeatureCache(None, "given-vectors", enabled=False)
    pass_opts = {**opts, "thumb_size": plan["thumb_size"], "model_cache_dir": models.model_cache_root(cache_dir)}

    # Compilation of UMAP's optimiser (numba) runs beside the image pass instead of after it, once the model
    # starts (some image is not cached: a long pass). In a rebuild whose vectors are all cached, the UMAP
    # fits are most likely in the fit cache too (pixmap.fitcache), and a compilation beside the pass would
    # only slow its decoding down; a fit that is not cached then compiles what it needs itself.
    warm = threading.Thread(target=umap_layouts.warm_up, name="umap-warm-up", daemon=True)

    def start_warm_up():
        if warm.ident is None:   # (once)
            warm.start()
    if opts.get("dask") is not None:   # (the model runs on the workers: this process never sees it start)
        start_warm_up()

    # the level-1 cells wait on disk (beside the artifacts, deleted at the end) until the layout decides the tiles
    pack = tileset.CellPack(artifacts / ".cells.pack", len(srcs)) if plan["tiles"] else None
    try:
        # ---- images and features
        t = time.perf_counter()
        try:
            images = imagepass.run(srcs, data, pass_opts, cache, plan["level0_cell"], progress=progress,
                                   fetcher=fetcher, features_path=artifacts / "features.npy", pack=pack,
                                   tile_cell=plan["cell_size"], vectors_for=vectors_for,
                                   on_model_start=start_warm_up)
        except imagepass.PassError as exc:
            raise BuildError(str(exc)) from None
        kept, sizes, skipped = images.kept, images.sizes, images.skipped
        n = len(kept)
        timings["images_and_features"] = time.perf_counter() - t
        timings["model_inference"] = images.model_seconds
        for name, sec in images.descriptor_seconds.items():   # summed over the decoding threads
            timings[f"descriptors {name}"] = sec
        if images.download_wait_seconds:
            timings["download_wait"] = images.download_wait_seconds
        if n == 0:
            reasons = "; ".join(f"{p}: {r}" for p, r in skipped[:5])
            raise BuildError(f"no image could be read ({len(skipped)} skipped: {reasons})")
        meta_rows = [meta.rows[i] if meta is not None else None for i in images.indices]
        cache_notes = [cache.warning] if getattr(cache, "warning", None) else []

        # ---- layouts
        t = time.perf_counter()
        print_stage(progress, f"layouts: PCA + UMAP of {n} images")
        # Everything from here on is bit-for-bit reproducible for a given input, seed and machine: the
        # warm-up must be finished first, because a BLAS call that runs while another thread uses BLAS
        # takes a different code path (and gives different bits) than one that runs alone.
        if warm.ident is not None:
            warm.join()
        reduced = umap_layouts.reduce_pca(images.features, int(opts["pca_components"]), seed=int(opts["seed"]))
        spaces = _spaces(reduced, images.descriptors, opts)   # "cnn", "blend" (--blend, else cnn) and the descriptors
        fields, rows = _metadata_table(kept, sizes, meta, meta_rows)
        if images.descriptors:   # the scores as numeric metadata fields: the viewer offers them as range filters
            fields, rows = descriptors.add_score_columns(fields, rows, images.descriptors["scores"])
        t_nn = time.perf_counter()   # one neighbour search for UMAP and the similar images (pixmap.discover)
        graph = discover.search(reduced, opts)
        timings["neighbors"] = time.perf_counter() - t_nn
        t_dup = time.perf_counter()   # near-duplicates (pixmap.duplicates): the same graph, when it is cosine
        dups = duplicates.find_duplicates(reduced, float(opts["duplicates_threshold"]), graph=graph,
                                          metric=opts["metric"], seed=int(opts["seed"])) \
            if opts["duplicates_threshold"] else None
        timings["duplicates"] = time.perf_counter() - t_dup
        given_layouts = byo.layout_of(given.coords_for(images.indices)) if given is not None \
            and given.coords is not None else None   # --coords: the main layout is the given positions
        # hotspots are named by their most common value of --group-by (default: PixPlot's category column),
        # else of category, else of label
        categories = (_column(fields, rows, opts["group_by"]) or _column(fields, rows, "category")
                      or _column(fields, rows, "label"))
        cluster_sets = []   # the clusterings (pixmap.clusters: --cluster-method, --cluster-space, ...)
        want_sets = given is None or given.labels is None
        # The UMAP fits (3D, descriptor spaces, variants) and the clusterings run side by side, two at a time
        # on two cores (pixmap.layouts.umap.release_gil_in_optimiser); each is seeded and single-threaded, and
        # BLAS runs on one thread meanwhile, so the bits do not depend on what ran beside what.
        with _side_by_side() as pool:
            hot = None
            if want_sets and n <= clusters.CLUSTER_UMAP_MAX:   # (above, they cluster the finished 2D map)
                hot = pool.submit(_timed, clusters.cluster_sets, spaces, categories, opts, graph=graph,
                                  progress=False)
            try:
                layouts, layout_times, layout_notes = compute_layouts(
                    spaces["blend"], fields, rows, opts, progress=progress, given=given_layouts, spaces=spaces,
                    neighbors=graph if spaces["blend"] is reduced else None,   # --blend: UMAP searches the fused space
                    executor=pool)
                umap2d = layouts[0]
                timings["layouts"] = time.perf_counter() - t
                timings.update({f"layout {k}": v for k, v in layout_times.items()})
                for note in layout_notes:
                    log.warning(note)

                # ---- hotspots
                t = time.perf_counter()
                print_stage(progress, f"hotspots: curated, from {curated.path.name}" if curated
                            else f"hotspots: {opts['cluster_method']}")
                if hot is not None:
                    cluster_sets, timings["hotspots_side_by_side"] = hot.result()
                elif want_sets:
                    cluster_sets = clusters.cluster_sets(spaces, categories, opts, graph=graph,
                                                         layout=umap2d.positions, progress=progress)
            except clusters.ClusterError as exc:
                raise BuildError(str(exc)) from None
            finally:
                if hot is not None:
                    hot.cancel()
        if given is not None and given.labels is not None:   # --labels: the given labels are the hotspots
            clustering = byo.label_clustering(given.labels_for(images.indices), reduced, int(opts["seed"]))
        elif curated is not None:   # the viewer's saved hotspots replace HDBSCAN's (pixmap.curation)
            curated_result = curation.apply_curation(curated, [s.id for s in kept], reduced, int(opts["seed"]))
            clustering = curated_result.clustering
        else:   # the first clustering is the map's own hotspots
            clustering = cluster_sets[0].clustering
        timings["hotspots"] = time.perf_counter() - t

        # ---- what the images show (for search and the hotspots' names)
        t = time.perf_counter()
        print_stage(progress, "content: ImageNet classes and colour names")
        if vectors_for is not None:   # the model's ImageNet head cannot read vectors made elsewhere
            found_content = findindex.Found(None, images.colours, findindex.search_language(opts),
                                            byo.content_note(opts["vectors_file"]))
            cache_notes.append(found_content.note)
        else:
            found_content = findindex.content_of(images.features, images.colours, opts, progress=progress)
        if found_content.note:
            log.info(found_content.note)
        if clustering.method != "labels":   # --labels: the hotspots keep the given names
            findindex.relabel_hotspots(clustering, found_content)
        for cset in cluster_sets:
            findindex.relabel_hotspots(cset.clustering, found_content)
        timings["content"] = time.perf_counter() - t

        # ---- site and artifacts
        t = time.perf_counter()
        manifest = site.base_manifest(title, n, f"pixmap {__version__}")
        manifest["layouts"] = [site.write_layout(staging, lay) for lay in layouts]
        manifest["default_layout"] = "umap"
        manifest["atlas"] = {"size": int(opts["atlas_size"]), "cell_size": plan["level0_cell"],
                             "format": opts["image_format"], "pages": [f"data/atlas/{p.name}" for p in images.pages],
                             "cells": "data/atlas/cells.u16"}
        np.ascontiguousarray(images.cells, dtype="<u2").tofile(data / "atlas" / "cells.u16")
        if pack is not None:
            manifest["atlas"]["tiles"] = write_atlas_tiles(pack, umap2d.positions, sizes, data, plan, opts, progress)
            timings["atlas_tiles"] = time.perf_counter() - t
        ext = "webp" if opts["image_format"] == "webp" else "jpg"
        manifest["thumbs"] = {"size": plan["thumb_size"], "dir": "data/thumbs", "ext": ext, "shard": site.SHARD}
        manifest["lightbox"] = {"size": int(opts["lightbox_size"]), "dir": "data/lightbox", "ext": ext,
                                "shard": site.SHARD}
        if images.palette is not None:   # the lightbox's swatches (version 6, "Palette")
            manifest["palette"] = descriptors.write_palette(data, images.descriptors["palette"],
                                                            int(opts["palette_colors"]))
        np.ascontiguousarray(clustering.labels, dtype="<i4").tofile(data / "clusters.i32")
        manifest["clusters"] = {"file": "data/clusters.i32", "method": clustering.method,
                                "hotspots": [h.to_json() for h in clustering.hotspots]}
        if curated is not None:
            manifest["clusters"]["curated"] = curation.manifest_entry(curated, curated_result)
        manifest.update(clusters.write_clusterings(data, cluster_sets, manifest["clusters"], clustering, spaces,
                                                   categories, int(opts["seed"])))   # site format 6
        if pack is not None and clustering.hotspots:
            # level 0's cells are small: the hotspot panel gets its thumbnails from one small sheet
            sheet = atlas.hotspot_sheet([pack.get(h.representative) for h in clustering.hotspots])
            sheet.save(data / "atlas" / "hotspots.jpg", "JPEG", quality=90)
            manifest["clusters"]["thumbs"] = {"file": "data/atlas/hotspots.jpg", "size": atlas.HOTSPOT_THUMB,
                                              "columns": atlas.HOTSPOT_COLUMNS}
        ids = [s.id for s in kept]
        manifest["metadata"], manifest["ids"] = site.write_chunks(data, ids, fields, rows)
        t_find = time.perf_counter()
        manifest.update(findindex.write_find(data, fields, rows, found_content, manifest["metadata"]["columns"],
                                             opts, progress=progress))
        timings["search_index"] = time.perf_counter() - t_find
        manifest.update(discover.write(data, graph, reduced, opts))   # neighbours and vectors (version 5)
        del graph
        deep_zoom = site.deep_zoom_entries(kept, images.tiles)
        if any(deep_zoom):
            manifest["deep_zoom"] = site.write_deep_zoom(data, deep_zoom)
        notes = _publish_iiif(staging, opts, title, kept, sizes, fields, rows, clustering, manifest,
                              images.tiles, images.lightbox_sizes)
        if dups is not None:   # data/duplicates.json for the viewer, duplicates.csv in the artifacts
            manifest["duplicates"] = duplicates.write_site(data, dups)
            duplicates.write_csv(artifacts / "duplicates.csv", dups, ids, [s.location for s in kept])
        if opts["report"]:   # report.html (pixmap.report), beside index.html
            t_rep = time.perf_counter()
            print_stage(progress, "report: clusters, their quality and the near-duplicates")
            sets = report.sets_from_build(cluster_sets, spaces)
            if not any(cs.clustering is clustering for cs in cluster_sets):   # curated or --labels hotspots
                sets.insert(0, report.set_from_clustering(clustering, reduced, "cnn", {"hotspots": clustering.method},
                                                          categories, int(opts["seed"])))
            manifest["report"] = report.write_report(
                staging, sets, ids=ids, manifest=manifest, features=reduced, colours=images.colours,
                terms=found_content.terms, categories=categories, category_name=_category_name(fields, opts),
                titles=_column(fields, rows, "title"), duplicates=dups)
            timings["report"] = time.perf_counter() - t_rep
        site.write_manifest(staging, manifest)
        site.copy_viewer(staging)
        (staging / ".nojekyll").write_bytes(b"")   # GitHub Pages serves the folder as is (no Jekyll)

        # features.npy is already in the artifacts folder: the image pass wrote it there
        for lay in layouts:
            np.save(artifacts / f"layout_{lay.name}.npy", lay.positions.astype(np.float32))
        np.save(artifacts / "clusters.npy", clustering.labels.astype(np.int32))
        if images.descriptors:   # features_<block>.npy are there already (the image pass wrote them)
            descriptors.write_scores_csv(artifacts / "scores.csv", ids, images.descriptors["scores"])
        with open(artifacts / "images.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["id", "path", "width", "height"])
            for s, (wd, ht) in zip(kept, sizes):
                w.writerow([s.id, s.location, wd, ht])
        timings["site"] = time.perf_counter() - t
    finally:
        if pack is not None:
            pack.close()

    return BuildResult(out_dir=out_dir, artifacts_dir=artifacts, n_images=n, skipped=skipped,
                       metadata_unmatched=list(meta.unmatched) if meta else [],
                       warnings=(list(meta.warnings) if meta else []) + cache_notes + layout_notes + notes
                       + (curation.notes(curated, curated_result) if curated is not None else []),
                       timings=timings, layouts=[lay.name for lay in layouts],
                       n_computed=images.n_computed, model_loaded=images.n_computed > 0)




IIIF_MAX_IMAGES = 100_000


def _publish_iiif(staging, opts, title, kept, sizes, fields, rows, clustering, manifest, tiles,
                  lightbox_sizes=None) -> list[str]:
    """Write the site's IIIF collection (iiif/collection.json, one Manifest per hotspot)."""
    from .iiif import publish

    site_url = opts["site_url"] or publish.DEFAULT_SITE_URL
    if len(kept) > IIIF_MAX_IMAGES:
        # ~2 KB and ~2 ms per canvas: 2 GB of JSON at a million images, more than the site itself
        note = (f"IIIF collection not written: {len(kept)} images is more than the {IIIF_MAX_IMAGES} it is made "
                "for (about 2 KB of JSON per image); build a sample or a subset to publish one")
        log.warning(note)
        return [note]
    entries = publish.collection_images(kept, sizes, fields, rows, tiles, lightbox_sizes)
    hotspots = [h.to_json() for h in clustering.hotspots]
    try:
        publish.write_collection(staging, site_url=site_url, title=title, ids=[s.id for s in kept],
                                 images=entries, hotspots=hotspots, labels=clustering.labels,
                                 lightbox=manifest["lightbox"], thumbs=manifest["thumbs"])
    except ValueError as exc:  # never fatal: the map itself is complete
        log.warning("IIIF collection not written: %s", exc)
        return [f"IIIF collection not written: {exc}"]
    manifest["iiif"] = {"collection": "iiif/collection.json", "site_url": site_url}
    if not opts["site_url"]:  # said once per build, not as a warning: most maps are looked at locally
        log.info(f"the IIIF collection (iiif/collection.json) is written for {site_url}, where `pixmap serve` "
                "serves the map; pass --site-url with the address you publish it at (e.g. your GitHub Pages "
                "URL) to make it open in Mirador or Universal Viewer from there")
    return []


THUMBS_MAX_IMAGES = 100_000   # above this, no per-image thumbnails by default (~10 KB per image saved)


def atlas_plan(n: int, opts: dict) -> dict:
    """How a site of n images stores its thumbnails (docs/site-format.md, "Version 3"): atlas level 0's cell
    size; whether level-1 tiles at cell_size are written (when level 0's cells are smaller); the per-image
    thumbnails' size (0: none)."""
    cell_size = int(opts["cell_size"] or 64)
    level0 = int(opts.get("level0_cell") or atlas.level0_cell_size(n, int(opts["atlas_size"]), cell_size))
    level0 = min(level0, cell_size)
    thumb = opts["thumb_size"]
    thumb = (256 if n <= THUMBS_MAX_IMAGES else 0) if thumb is None else int(thumb)
    return {"cell_size": cell_size, "level0_cell": level0, "tiles": level0 < cell_size, "thumb_size": thumb}


def write_atlas_tiles(pack, positions, sizes, data: Path, plan: dict, opts: dict, progress: bool) -> dict:
    """Atlas level 1: the cells grouped by their UMAP position into tiles (pixmap.tileset); the manifest's
    atlas.tiles entry."""
    from . import tileset

    sizes = np.asarray(sizes, dtype=np.int64).reshape(-1, 2)
    tiles = tileset.plan_tiles(positions, sizes[:, 0], sizes[:, 1], tileset.TILE_SIZE, plan["cell_size"])
    print_stage(progress, f"atlas tiles: {len(sizes)} images in {tiles.count} tiles")
    tileset.write_tiles(tiles, pack.get, data / "atlas" / "tiles", fmt=opts["image_format"],
                        workers=max(1, os.cpu_count() or 1), progress=progress)
    np.ascontiguousarray(tiles.tile_of, dtype="<u4").tofile(data / "atlas" / "tile-of.u32")
    np.ascontiguousarray(tiles.cells, dtype="<u2").tofile(data / "atlas" / "tile-cells.u16")
    return {"size": tileset.TILE_SIZE, "cell_size": plan["cell_size"], "count": tiles.count,
            "dir": "data/atlas/tiles", "shard": tileset.SHARD, "of": "data/atlas/tile-of.u32",
            "cells": "data/atlas/tile-cells.u16", "layout": "umap"}


def print_stage(progress: bool, text: str) -> None:
    if progress:
        print(text, file=sys.stderr, flush=True)


HINTS = {"categorical": " (choose the column with --group-by)", "alphabetic": " (choose the column with --sort-by)"}


def _blas_threads_of_a_fresh_process() -> int:
    """How many threads BLAS starts with in a new process: its environment variable, else one per core."""
    for name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").split(",")[0].strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return max(1, os.cpu_count() or 1)


def _fresh_blas_threads():
    """BLAS on the thread count of a fresh process for the build (restored after it).

    A BLAS call's bits can depend on how many threads it gets. A process may have been left with fewer by
    earlier work: scikit-learn lowers the count to one around some calls with threadpoolctl, and two such calls
    in two threads at once can restore each other's lowered value and leave it there. The build sets it
    explicitly, so its PCA and neighbour searches give the bits of a build in a fresh process."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=_blas_threads_of_a_fresh_process(), user_api="blas")


class _side_by_side:
    """A thread pool for the layouts' and clusterings' UMAP fits (one thread per core, at most 4), with BLAS on
    one thread while it is open: a BLAS call's bits can depend on how many threads it gets, and that would
    depend on what runs beside it."""

    def __enter__(self):
        from concurrent.futures import ThreadPoolExecutor

        from threadpoolctl import threadpool_limits

        self._limits = threadpool_limits(limits=1, user_api="blas")
        self._pool = ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1)), thread_name_prefix="fit")
        return self._pool

    def __exit__(self, *exc):
        try:
            self._pool.shutdown(wait=True, cancel_futures=True)
        finally:
            self._limits.restore_original_limits()
        return False


def _timed(fn, *args, **kw):
    """(fn(*args, **kw), seconds it took)."""
    t0 = time.perf_counter()
    return fn(*args, **kw), time.perf_counter() - t0


def compute_layouts(reduced: np.ndarray, fields: list[str], rows: list[list], opts: dict, progress: bool = False,
                    neighbors=None, given=None, spaces=None, executor=None):
    """Every layout asked for (or, with layouts="auto", every one the metadata allows), made by
    pixmap.layouts.compute_layouts from the metadata columns. `neighbors`: the kNN graph of `reduced` when
    already searched (pixmap.discover.search), else UMAP searches it.

    `given`: (2D layout, 3D layout or None) from --coords (pixmap.byo.layout_of): they are "umap" and
    "umap-3d", and the layouts made from umap's positions use them; no UMAP variants are made.
    `spaces`: pipeline._spaces's dict; its descriptor blocks make the colour, hue, composition and
    structure layouts.

    Returns (layouts with "umap" first, seconds per layout, notes on layouts that were skipped and why).
    """
    from tqdm.auto import tqdm

    from .layouts import auto_layouts
    from .layouts import compute_layouts as make_layouts

    # the names were checked with every other option (options.check_options) before any work
    asked = auto_layouts(len(rows)) if opts["layouts"] in (None, "auto") else parse_list(opts["layouts"], str)
    if opts["layouts"] in (None, "auto"):
        from .layouts import auto_left_out

        for name, why in auto_left_out(len(rows)).items():
            log.info("layout %s not made at this size: %s", name, why)
    explicit = opts["layouts"] not in (None, "auto")
    nn_list = parse_list(opts["n_neighbors"], int)
    md_list = parse_list(opts["min_dist"], float)
    wanted = ["umap"] + (["umap-variants"] if len(nn_list) * len(md_list) > 1 else [])
    wanted += [a for a in asked if a != "umap"]
    if given is not None:   # --coords: the given positions are the main map, the UMAP variants would not be
        wanted = [w for w in wanted if w != "umap-variants" and not (w == "umap-3d" and given[1] is not None)]
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
                           group_by=str(opts["group_by"]).lower(), sort_by=sort_by, on_done=done,
                           neighbors=neighbors, umap=given[0] if given is not None else None,
                           spaces=spaces, palette_colors=int(opts.get("palette_colors") or 6), executor=executor)
    if given is not None and given[1] is not None:
        layouts.insert(1, given[1])
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


def _spaces(reduced, blocks: dict, opts) -> dict:
    """The spaces the layouts and the clusterings work in: "cnn" (the PCA-reduced features), "blend" (the
    --blend fusion, pixmap.blend; the cnn space without --blend) and the descriptor blocks ("palette",
    "composition", "structure"; None without --descriptors)."""
    spaces = {"cnn": reduced, "blend": reduced}
    for name in descriptors.BLOCKS:
        spaces[name] = blocks.get(name) if blocks else None
    if opts.get("blend"):
        weights = blending.parse_blend(opts["blend"])   # checked with the other options
        if any(b != "cnn" and w > 0 for b, w in weights.items()):   # cnn alone: the cnn space, as without
            spaces["blend"] = blending.fuse(spaces, weights, max_dim=int(opts["pca_components"]),
                                            seed=int(opts["seed"]))
            log.info("blend: %s -> %d columns", opts["blend"], spaces["blend"].shape[1])
    return spaces


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


def _category_name(fields, opts):
    """The name of the column the hotspots are named by (--group-by, else category, else label), or None."""
    lowered = {f.lower(): f for f in fields}
    for name in (opts["group_by"], "category", "label"):
        if name and str(name).lower() in lowered:
            return lowered[str(name).lower()]
    return None


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


def _as_list(value) -> list[str]:
    if value is None:
        return []
    return [str(x) for x in value] if isinstance(value, (list, tuple)) else [str(value)]


def _dask_address(value):
    """The dask option as config.json keeps it: the string given, or a Client's scheduler address."""
    if value is None:
        return None
    from .distributed import describe

    return describe(value)


def _write_config(artifacts: Path, opts, images, iiif, metadata_file, result: BuildResult) -> None:
    doc = {
        "pixmap": __version__,
        "images": _as_list(images),
        "iiif": _as_list(iiif),
        "metadata": str(metadata_file) if metadata_file else None,
        "out_dir": str(result.out_dir),
        "options": {k: v for k, v in opts.items()} | {"dask": _dask_address(opts.get("dask"))},
        "versions": _versions(),
        "n_images": result.n_images,
        "n_features_computed": result.n_computed,
        "skipped": [{"path": p, "reason": r} for p, r in result.skipped],
        "metadata_unmatched": [{"line": ln, "filename": fn, "reason": r} for ln, fn, r in result.metadata_unmatched],
        "timings_s": {k: round(v, 3) for k, v in result.timings.items()},
    }
    (artifacts / "config.json").write_text(json.dumps(doc, indent=2, default=str), encoding="utf-8")
