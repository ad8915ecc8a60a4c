"""Build options: their defaults, and the checks that run before any work, so a typo never costs an
image pass.

    opts = {**DEFAULTS, **given}
    check_options(opts)            # every option on its own (OptionError says which and why)
    check_columns(opts, metadata)  # options that name a metadata column, once the metadata is read
"""
from __future__ import annotations

import os
from pathlib import Path

from . import images as imageio
from . import models, textnorm


class OptionError(ValueError):
    """An option has a value the build cannot use; the message says which option and what to give."""


DEFAULTS = dict(  # the meaning of each: `pixmap build --help`
    model=models.DEFAULT_MODEL, weights="default", batch_size=32,
    n_neighbors=10, min_dist=0.0, metric="cosine", pca_components=100,
    layouts="auto", group_by="category", sort_by=None, supervised=False,
    min_cluster_size=None, max_clusters=20,
    cluster_method="hdbscan", cluster_eval="silhouette", n_clusters=None, linkage="ward",   # pixmap.clusters
    cluster_space=None,   # None: blend with --blend, else cnn
    cell_size=None, atlas_size=2048, thumb_size=None, lightbox_size=1024, image_format="webp",
    level0_cell=None, seed=0, max_images=None, sample=None, max_pixels=imageio.MAX_PIXELS,
    iiif_first_canvas_only=False, language=None, download_workers=8, download_timeout=30.0, site_url=None,
    deep_zoom=False, facets=None, search_language=None,
    hotspots=None,
    neighbors_k=12, vectors=True,
    duplicates_threshold=0.08, report=True,                # pixmap.duplicates (DEFAULT_THRESHOLD), pixmap.report
    vectors_file=None, vectors_ids=None, coords=None, labels=None, zip=False,   # pixmap.byo, pixmap.sitezip
    descriptors=True, palette_colors=6, blend=None,        # pixmap.descriptors, pixmap.blend
    backend="auto", precision="float32",                   # pixmap.models (keras or LiteRT, pixmap.litert)
    dask=None, partition_size=None, dask_transfer="auto",  # pixmap.distributed (a Dask cluster's image pass)
)

BACKENDS = ("auto", "keras", "litert")
PRECISIONS = ("float32", "fast")
DASK_TRANSFERS = ("auto", "shared", "client")

# Distances offered for the features: each works in both of the kNN paths (exact search by scikit-learn,
# approximate by pynndescent) and in UMAP itself.
METRICS = ("cosine", "euclidean", "manhattan", "chebyshev", "correlation", "braycurtis", "canberra")


def parse_list(value, kind=float) -> list:
    """'5,15,50' or 15 or [5, 15] -> a list of numbers."""
    if isinstance(value, (list, tuple)):
        return [kind(v) for v in value]
    return [kind(v) for v in str(value).replace(" ", "").split(",") if v]


def check_options(opts: dict) -> None:
    """Every option checked before any work is done, so a typo never costs an image pass."""
    from .layouts import LAYOUTS

    if opts["model"] not in models.MODEL_NAMES:
        raise OptionError(f"unknown model {opts['model']!r}; choose one of {', '.join(models.MODEL_NAMES)}")
    if opts["image_format"] not in ("webp", "jpeg"):
        raise OptionError(f"image format must be webp or jpeg, not {opts['image_format']!r}")
    for name in ("batch_size", "atlas_size", "lightbox_size", "max_clusters"):
        if int(opts[name]) < 1:
            raise OptionError(f"{name.replace('_', '-')} must be at least 1")
    if opts["thumb_size"] is not None and int(opts["thumb_size"]) != 0 and int(opts["thumb_size"]) < 16:
        raise OptionError("thumb-size must be 0 (no per-image thumbnails) or at least 16")
    if opts["level0_cell"] is not None and not 2 <= int(opts["level0_cell"]) <= 1024:
        raise OptionError("level0-cell must be between 2 and 1024")
    if opts["sample"] is not None and int(opts["sample"]) < 1:
        raise OptionError("sample must be at least 1")
    try:
        nn, md = parse_list(opts["n_neighbors"], int), parse_list(opts["min_dist"], float)
    except ValueError:
        raise OptionError("n-neighbors and min-dist take a number or a comma-separated list, e.g. 5,15,50") from None
    if not nn or not md or min(nn) < 2 or not all(0 <= d <= 1 for d in md):
        raise OptionError("n-neighbors must be at least 2 and min-dist between 0 and 1")
    if opts["cell_size"] is not None and not 8 <= int(opts["cell_size"]) <= int(opts["atlas_size"]):
        raise OptionError("cell-size must be between 8 and the atlas size")
    if not float(opts["download_timeout"]) > 0:
        raise OptionError("download-timeout must be more than 0 seconds")
    if int(opts["download_workers"]) < 1:
        raise OptionError("download-workers must be at least 1")
    if opts["site_url"] and not str(opts["site_url"]).lower().startswith(("http://", "https://")):
        raise OptionError(f"site-url must be an http(s) URL such as https://you.github.io/map/, not {opts['site_url']!r}")
    if opts["search_language"] and str(opts["search_language"]).lower() not in textnorm.LANGUAGES:
        raise OptionError(f"search-language must be one of {', '.join(textnorm.LANGUAGES)}, "
                          f"not {opts['search_language']!r}")
    from . import byo

    try:  # --vectors FILE, --coords, --labels: the files exist, can be read, are of a kind read there
        byo.normalise_options(opts)
        byo.check_files(opts)
    except byo.ByoError as exc:
        raise OptionError(str(exc)) from None
    given = opts.get("hotspots")
    if given is not None and str(given).strip().lower() != "none" \
            and not Path(os.path.expanduser(str(given))).is_file():
        raise OptionError(f"hotspots file not found: {given}; give the hotspots.json the viewer's Save wrote "
                          "(or none, to let HDBSCAN find the hotspots)")
    if not 0 <= int(opts.get("neighbors_k") or 0) <= 100:
        raise OptionError("neighbors-k must be between 0 (no similar images) and 100")
    try:
        dup = float(opts.get("duplicates_threshold") or 0)
    except (TypeError, ValueError):
        dup = -1.0
    if not 0 <= dup <= 1:
        raise OptionError("duplicates-threshold is a cosine distance between 0 (no near-duplicate search) and 1; "
                          f"not {opts['duplicates_threshold']!r} (0.08 finds resized and slightly cropped copies)")
    _check_descriptor_options(opts)
    if opts.get("backend", "auto") not in BACKENDS:
        raise OptionError(f"backend must be one of {', '.join(BACKENDS)}, not {opts['backend']!r}")
    if opts.get("precision", "float32") not in PRECISIONS:
        raise OptionError(f"precision must be one of {', '.join(PRECISIONS)}, not {opts['precision']!r}")
    if opts.get("partition_size") is not None and int(opts["partition_size"]) < 1:
        raise OptionError("partition-size must be at least 1 image")
    if opts.get("dask_transfer", "auto") not in DASK_TRANSFERS:
        raise OptionError(f"dask-transfer must be one of {', '.join(DASK_TRANSFERS)}, not {opts['dask_transfer']!r}")
    if opts["metric"] not in METRICS:
        raise OptionError(f"unknown metric {opts['metric']!r}; choose one of {', '.join(METRICS)}")
    if int(opts["pca_components"]) < 2:
        raise OptionError("pca-components must be at least 2")
    if opts["min_cluster_size"] is not None and int(opts["min_cluster_size"]) < 2:
        raise OptionError("min-cluster-size must be at least 2")
    from .clusters import ClusterError, check_cluster_options

    try:  # --cluster-method, --cluster-eval, --n-clusters, --linkage, --cluster-space
        check_cluster_options(opts)
    except ClusterError as exc:
        raise OptionError(str(exc)) from None
    if opts["max_images"] is not None and int(opts["max_images"]) < 1:
        raise OptionError("max-images must be at least 1")
    if opts["weights"] not in (None, "default") and not Path(os.path.expanduser(str(opts["weights"]))).is_file():
        raise OptionError(f"weights file not found: {opts['weights']}")
    if opts["layouts"] not in (None, "auto"):
        names = [name for name in LAYOUTS if name != "umap-variants"]
        asked = parse_list(opts["layouts"], str)
        unknown = [a for a in asked if a not in names]
        if unknown or not asked:
            raise OptionError(f"unknown layout(s) {', '.join(unknown) or repr(opts['layouts'])}; "
                             f"choose from {', '.join(names)}")


def _check_descriptor_options(opts: dict) -> None:
    """--palette-colors, --blend (pixmap.blend) and what they need of --descriptors."""
    from .blend import BlendError, parse_blend

    try:
        k = int(opts.get("palette_colors") or 0)
    except (TypeError, ValueError):
        k = 0
    if not 1 <= k <= 16:
        raise OptionError(f"palette-colors must be between 1 and 16, not {opts.get('palette_colors')!r}")
    if opts.get("blend"):
        try:
            weights = parse_blend(opts["blend"])
        except BlendError as exc:
            raise OptionError(str(exc)) from None
        uses = [b for b, w in weights.items() if b != "cnn" and w > 0]
        if uses and not opts.get("descriptors"):
            raise OptionError(f"--blend uses {', '.join(uses)}, which --no-descriptors turns off; "
                              "drop --no-descriptors or those blocks")


def check_columns(opts: dict, meta) -> None:
    """Options that name a metadata column must name one that is there (any letter case)."""
    columns = {f.lower() for f in meta.fields} if meta is not None else set()
    columns |= {"filename", "width", "height"}
    have = ", ".join(sorted(meta.fields)) if meta is not None and meta.fields else "none: no --metadata given"
    for option, value in (("group-by", opts["group_by"]), ("sort-by", opts["sort_by"])):
        explicit = value is not None and not (option == "group-by" and value == DEFAULTS["group_by"])
        if explicit and str(value).lower() not in columns:
            raise OptionError(f"--{option} {value}: no such metadata column (columns: {have})")
    if opts["supervised"] and "label" not in columns:
        raise OptionError(f"--supervised needs a 'label' metadata column (columns: {have})")
    for name in str(opts.get("facets") or "").split(","):
        name = name.strip().lower()
        if name and name not in columns and not (name == "year" and "date" in columns):
            raise OptionError(f"--facets {name}: no such metadata column (columns: {have})")
