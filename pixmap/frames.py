"""pandas DataFrames in and out of pixmap.

    result = pixmap.build(images=df, image_column="path", out_dir="map")  # the other columns: metadata
    df = pixmap.load("map")        # id, source, <layout>_x/_y[/_z], hotspot, hotspot_label, the metadata
    df = result.to_pandas()        # the same for a BuildResult

In: the image column holds local paths (relative to the working folder, or absolute), http(s) URLs of image
files, or IIIF Image API URLs (a service's `.../info.json`, its base URL given as `iiif:<base>`, or an image
request `.../full/max/0/default.jpg`); URLs are downloaded as IIIF images are (pixmap.iiif.fetch), and an IIIF
image keeps its Image API service (deep zoom in the lightbox). Every other column is metadata: numbers stay
numbers, datetimes become dates ("YYYY-MM-DD", and `year` when the frame has no year column), lists become
"|"-joined tags (a `tags` column, or the first column of lists when there is none, is the viewer's tags).
A row without a path, or whose file does not exist, is reported and left out; it never stops the build.

Out: positions are the site's (each layout normalised to [-1, 1], as the viewer draws them) when a site is
read, the un-normalised ones of the artifacts' `layout_<name>.npy` when an artifacts folder is given.
pandas is needed only here (`pip install pandas pyarrow`, or `pip install pixmap[notebook]`).
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import os
import re
from pathlib import Path

PANDAS_HINT = "pip install pandas pyarrow"

# An IIIF Image API request: <base>/<region>/<size>/<rotation>/<quality>.<format>
_IIIF_REQUEST = re.compile(
    r"^(?P<base>https?://.+?)/(?:full|square|pct:[\d.,]+|\d+,\d+,\d+,\d+)/(?:max|full|\^?[\d,!pct:.^]+|\^max)"
    r"/!?\d+(?:\.\d+)?/(?:default|color|colour|gray|grey|bitonal|native)\.(?:jpe?g|png|webp|tiff?|gif|jp2)$",
    re.IGNORECASE)


class FrameError(Exception):
    """A DataFrame cannot be used as asked (no such column, nothing to map)."""


def pandas():
    """The pandas module, or ImportError saying how to install it."""
    try:
        import pandas as pd
    except ImportError:
        raise ImportError(f"this needs pandas: {PANDAS_HINT}") from None
    return pd


def is_dataframe(obj) -> bool:
    """True for a pandas DataFrame (checked without importing pandas)."""
    return type(obj).__module__.split(".")[0] == "pandas" and hasattr(obj, "columns") and hasattr(obj, "iloc")


# ------------------------------------------------------------------------------------------------ values
def _is_missing(v) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    try:
        pd = pandas()
        return v is pd.NaT or (pd.api.types.is_scalar(v) and bool(pd.isna(v)))
    except (TypeError, ValueError):
        return False


def _date_text(v) -> str:
    if isinstance(v, _dt.datetime):
        if (v.hour, v.minute, v.second, v.microsecond) == (0, 0, 0, 0):
            return v.date().isoformat()
        return v.replace(tzinfo=None).isoformat(timespec="seconds")
    return v.isoformat()


def cell(v):
    """One DataFrame value as plain Python for the metadata: None for missing values; numpy scalars as
    Python numbers; datetimes as ISO dates; lists, tuples, arrays and sets as lists of text."""
    if isinstance(v, (list, tuple, set, frozenset)) or type(v).__name__ == "ndarray":
        items = [x for x in (sorted(v, key=str) if isinstance(v, (set, frozenset)) else list(v))
                 if not _is_missing(x)]
        return [str(cell(x)) for x in items]
    if _is_missing(v):
        return None
    if isinstance(v, (_dt.datetime, _dt.date)):
        return _date_text(v)
    if hasattr(v, "item") and type(v).__module__.split(".")[0] == "numpy":
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (str, int, float, bool)):
        return v
    if hasattr(v, "isoformat"):
        return _date_text(v)
    return str(v)


def _year_of(v) -> int | None:
    return v.year if isinstance(v, (_dt.datetime, _dt.date)) and not _is_missing(v) else None


def rows_from_frame(df, key_column: str | None = None, source: str = "the DataFrame"):
    """(fields, [(row number, row)]) as pixmap.metadata.read_rows gives them: each row has the image's path
    under "filename" and the other columns' values (converted by `cell`; field names that mean something to
    the viewer are matched in any letter case). key_column None: the first of pixmap.metadata.KEY_COLUMNS
    present (any letter case). Row numbers count from 1 (the frame's first row)."""
    from . import metadata as metadataio

    columns = [str(c) for c in df.columns]
    if key_column is None:
        lowered = {c.lower(): c for c in reversed(columns)}
        key_column = next((lowered[k] for k in metadataio.KEY_COLUMNS if k in lowered), None)
        if key_column is None:
            raise metadataio.MetadataError(
                f"{source} has no 'filename' column (nor 'file', 'image' or 'path'); its columns are: "
                f"{', '.join(columns[:20])}. Add one holding each image's path")
    if key_column not in columns:
        raise FrameError(f"{source} has no column {key_column!r}; its columns are: {', '.join(columns[:20])}. "
                         f"Pass image_column= the column that holds the image paths or URLs")
    others = [c for c in columns if c != key_column]
    names = {}
    for c in others:
        name = metadataio._CANONICAL.get(c.lower(), c)
        names[c] = "filename_2" if name == "filename" else name
    dtypes = {str(c): t for c, t in df.dtypes.items()}
    is_date = {c: "datetime" in str(dtypes[c]) or "date" in str(dtypes[c]).lower() for c in others}
    records = df.astype(object).where(df.notna(), None).to_dict("records") if len(df) else []
    records = [{str(k): v for k, v in r.items()} for r in records]
    # the first datetime column gives `year` when the frame has none; a `tags` column, else the first column
    # of lists, gives the viewer's tags
    fields = [names[c] for c in others]
    date_source = next((c for c in others if is_date[c] or any(isinstance(r[c], (_dt.date, _dt.datetime))
                                                                for r in records[:50])), None) \
        if "year" not in fields else None
    list_cols = [c for c in others if any(isinstance(cell(r[c]), list) for r in records[:200])]
    tags_source = None if "tags" in fields or not list_cols else list_cols[0]
    if date_source is not None and names[date_source] != "year":
        fields.append("year")
    if tags_source is not None:
        fields.append("tags")
    rows = []
    for n, rec in enumerate(records, 1):
        row = {"filename": cell(rec[key_column])}
        for c in others:
            v = rec[c]
            name = names[c]
            if name == "year" and _year_of(v) is not None:
                row[name] = _year_of(v)
                continue
            value = cell(v)
            if isinstance(value, list) and name != "tags":
                value = "|".join(value) or None
            row[name] = value
        if date_source is not None and names[date_source] != "year":
            row["year"] = _year_of(rec[date_source])
        if tags_source is not None:
            row["tags"] = cell(rec[tags_source]) if isinstance(cell(rec[tags_source]), list) else None
        rows.append((n, row))
    return fields, rows


def read_parquet_rows(path: Path):
    """(fields, rows) of a Parquet metadata file (pixmap.metadata reads .parquet/.pq through this)."""
    from . import metadata as metadataio

    try:
        pd = pandas()
        df = pd.read_parquet(path)
    except ImportError as exc:
        raise metadataio.MetadataError(f"{path}: reading Parquet metadata needs pandas and pyarrow "
                                       f"({exc}); {PANDAS_HINT}, or save the table as CSV") from None
    except Exception as exc:   # pyarrow's errors: not a Parquet file, truncated...
        raise metadataio.MetadataError(f"{path}: not a readable Parquet file ({exc}); save it again, or "
                                       f"as CSV") from None
    return rows_from_frame(df, None, source=str(path))


# ------------------------------------------------------------------------------------------------ in
def _remote_image(url: str):
    """An IIIFImage for an http(s) URL: an Image API service for IIIF URLs, else the plain file."""
    from .iiif.manifests import IIIFImage

    service, image_url, base = None, url, url
    if url.lower().startswith("iiif:"):
        base = url[5:].rstrip("/")
        service, image_url = {"id": base}, None
    elif url.lower().endswith("/info.json"):
        base = url[: -len("/info.json")]
        service, image_url = {"id": base}, None
    else:
        m = _IIIF_REQUEST.match(url)
        if m:
            base = m.group("base")
            service = {"id": base}
    return IIIFImage(manifest_id=base, manifest_label="", canvas_id=base, canvas_index=0,
                     url=image_url, service=service)


def find(df, image_column: str, opts, cache_dir, progress: bool):
    """The build's sources and metadata (a pipeline._Found) from a DataFrame."""
    from . import inputs, sources
    from . import metadata as metadataio
    from .pipeline import BuildError, _Found

    try:
        fields, rows = rows_from_frame(df, image_column, source="the DataFrame")
    except FrameError as exc:
        raise BuildError(str(exc)) from None
    problems, local, remote = [], [], []      # local: (row number, real path, row); remote: (n, url, row)
    for n, row in rows:
        value = row.get("filename")
        text = "" if value is None else str(value).strip()
        if not text:
            problems.append((f"row {n}", f"no path or URL in column {image_column!r}"))
        elif inputs.is_url(text) or text.lower().startswith("iiif:"):
            remote.append((n, text, row))
        else:
            path = Path(os.path.expanduser(text)).resolve()
            if not path.is_file():
                problems.append((text, f"row {n}: no such file (relative paths are relative to the "
                                       f"working folder {os.getcwd()})"))
            else:
                local.append((n, path, row))
    for where, reason in problems:
        logging.getLogger("pixmap").warning("skipped %s: %s", where, reason)
    max_images = opts.get("max_images")
    if max_images is not None:
        local = local[:int(max_images)]
        remote = remote[:max(0, int(max_images) - len(local))]
    if not local and not remote:
        raise BuildError(f"the DataFrame has no usable image in column {image_column!r} "
                         f"({len(rows)} rows; {'; '.join(f'{w}: {r}' for w, r in problems[:3]) or 'empty'})")
    cleaner = metadataio._Cleaner(fields)
    unmatched = []
    root, srcs, meta_rows = None, [], []
    if local:
        try:
            root, srcs = sources.find_images([str(p) for _, p, _ in local])
        except sources.SourceError as exc:
            raise BuildError(str(exc)) from None
        by_real = {}
        for n, path, row in local:
            real = os.path.realpath(path)
            if real in by_real:
                unmatched.append((n, str(path), f"duplicate: row {by_real[real][0]} names the same image"))
            else:
                by_real[real] = (n, row)
        for s in srcs:
            n, row = by_real.get(os.path.realpath(s.path), (None, None))
            meta_rows.append(cleaner.clean(n, row) if row is not None else None)
    remote_srcs = []
    if remote:
        images = [_remote_image(url) for _, url, _ in remote]
        relpaths = [inputs.canvas_relpath(im) for im in images]
        taken = {sources._id_key(s.id) for s in srcs}
        ids = sources.make_ids(relpaths)
        ids = [i if sources._id_key(i) not in taken else sources.hashed_id(rel) for i, rel in zip(ids, relpaths)]
        for image_id, rel, im, (n, _url, row) in zip(ids, relpaths, images, remote):
            remote_srcs.append(sources.ImageSource(id=image_id, path=None, relpath=rel, remote=im))
            meta_rows.append(cleaner.clean(n, row))
    out_fields = cleaner.output_fields()
    meta = metadataio.Metadata(fields=out_fields, rows=meta_rows, unmatched=unmatched, warnings=cleaner.warnings())
    found = _Found(root=root if root is not None else Path("."), sources=srcs + remote_srcs, meta=meta,
                   problems=problems, fetcher=None, n_local=len(srcs))
    if remote_srcs:
        from .iiif.fetch import Fetcher

        found.fetcher = Fetcher(Path(cache_dir) / "iiif" if cache_dir else None,
                                workers=int(opts["download_workers"]), timeout=float(opts["download_timeout"]))
        if not srcs:
            found.first_label = "pixmap"
    return found


# ------------------------------------------------------------------------------------------------ out
def _read_f32(path: Path, count: int, dims: int):
    import numpy as np

    return np.fromfile(path, dtype="<f4").reshape(count, dims)


def _artifacts_of(site: Path) -> Path | None:
    beside = site.with_name(site.name + "-artifacts")
    return beside if (beside / "images.csv").is_file() else None


def _site_of(artifacts: Path) -> Path | None:
    try:
        out = json.loads((artifacts / "config.json").read_text(encoding="utf-8")).get("out_dir")
    except (OSError, ValueError):
        out = None
    if out and (Path(out) / "data" / "manifest.json").is_file():
        return Path(out)
    guess = artifacts.with_name(artifacts.name[: -len("-artifacts")]) if artifacts.name.endswith("-artifacts") else None
    return guess if guess is not None and (guess / "data" / "manifest.json").is_file() else None


def load(path) -> "object":
    """A DataFrame of a built map, one row per image in data order: `id`, `source` (the image's file or URL),
    `<layout>_x`, `<layout>_y` (and `_z` for 3D layouts) for every layout, `hotspot` (-1: none) and
    `hotspot_label`, then the metadata fields. `path`: a site folder (any site format version) or an
    artifacts folder (positions then un-normalised, from layout_<name>.npy)."""
    import csv

    import numpy as np

    pd = pandas()
    path = Path(os.path.expanduser(str(path))).resolve()
    if (path / "data" / "manifest.json").is_file():
        site, artifacts = path, _artifacts_of(path)
    elif (path / "images.csv").is_file():
        site, artifacts = _site_of(path), path
    else:
        raise FileNotFoundError(f"{path} is neither a site written by `pixmap build` (no data/manifest.json) "
                                f"nor its artifacts folder (no images.csv)")
    from . import site as sitefiles

    columns: dict[str, object] = {}
    ids = None
    manifest = json.loads((site / "data" / "manifest.json").read_text(encoding="utf-8")) if site else {}
    meta = sitefiles.read_metadata(site) if site else None
    if meta is not None:
        ids = list(meta["ids"])
    sources_by_id = {}
    if artifacts is not None:
        with open(artifacts / "images.csv", newline="", encoding="utf-8") as f:
            art_rows = list(csv.DictReader(f))
        sources_by_id = {r["id"]: r["path"] for r in art_rows}
        if ids is None:
            ids = [r["id"] for r in art_rows]
    n = len(ids)
    columns["id"] = ids
    fields = list(meta["fields"]) if meta else []
    filenames = [r[fields.index("filename")] for r in meta["rows"]] if meta and "filename" in fields else [None] * n
    columns["source"] = [sources_by_id.get(i, f) for i, f in zip(ids, filenames)]
    if site is not None and artifacts is not path:
        for lay in manifest.get("layouts", []):
            dims = int(lay.get("dims", 2))
            pos = _read_f32(site / lay["file"], n, dims)
            for d, axis in enumerate("xyz"[:dims]):
                columns[f"{lay['name']}_{axis}"] = pos[:, d].astype(float)
    else:
        names = [p.stem[len("layout_"):] for p in sorted(artifacts.glob("layout_*.npy"))]
        order = [lay["name"] for lay in manifest.get("layouts", []) if lay["name"] in names]
        for name in order + [x for x in names if x not in order]:
            pos = np.load(artifacts / f"layout_{name}.npy")
            for d, axis in enumerate("xyz"[:pos.shape[1]]):
                columns[f"{name}_{axis}"] = pos[:, d].astype(float)
    clusters = manifest.get("clusters") if isinstance(manifest.get("clusters"), dict) else None
    labels = None
    if clusters and clusters.get("file") and (site / clusters["file"]).is_file():
        labels = np.fromfile(site / clusters["file"], dtype="<i4")
    elif artifacts is not None and (artifacts / "clusters.npy").is_file():
        labels = np.load(artifacts / "clusters.npy")
    if labels is not None and len(labels) == n:
        names = {int(h["id"]): h.get("label") for h in (clusters or {}).get("hotspots", [])}
        columns["hotspot"] = labels.astype(int)
        columns["hotspot_label"] = [names.get(int(v)) if v >= 0 else None for v in labels]
    if meta is not None:
        for j, name in enumerate(fields):
            key = name if name not in columns else f"metadata_{name}"
            columns[key] = [row[j] if j < len(row) else None for row in meta["rows"]]
    return pd.DataFrame(columns)
