"""Bring your own: feature vectors, positions and labels computed elsewhere, matched to the build's images.

    given = load(opts, root, sources)          # None when no --vectors FILE, --coords or --labels is given
    given.keep                                 # indices of the sources that stay (the others: given.skipped)
    given.vector_of(src)                       # the provided vector of a kept source (replaces the model)
    given.coords_for(indices), given.labels_for(indices)   # rows for the kept images, in their order

`--vectors FILE` replaces the model: an .npy array with a companion ids file (`--vectors-ids FILE`, else
`<file>.ids.txt` or `<stem>.ids.txt` beside it: one image id or file name a line, line i naming row i), an
.npz holding `vectors` and `ids` arrays, or a CSV / Parquet table with an id or filename column and one
column per dimension. `--coords FILE` (x, y and optionally z per image; CSV/Parquet columns `x`, `y`, `z`,
or .npy/.npz + ids) replaces UMAP as the main layout. `--labels FILE` (a `label` column: cluster ids or
names; -1 or empty: in no hotspot) replaces the clustering.

Rows are matched to images like metadata rows are (pixmap.metadata): by the image's id (artifacts'
images.csv), else by its path relative to the images folder, relative to the file's folder, or its file
name when unique (any Unicode normalisation, then any letter case). Nothing is ever aligned by position.
Every row that cannot be used is reported by file, row and id (no such image, a duplicate, a wrong number
of values, a value that is not a finite number); an image left without a vector or a position is left out
of the map with that reason, and the build goes on.
"""
from __future__ import annotations

import csv
import io
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger("pixmap")

KEY_COLUMNS = ("id", "filename", "file", "image", "path", "name")   # the column naming the image, in this order
LABEL_COLUMNS = ("label", "cluster", "hotspot", "category")
NPZ_KEYS = {"vectors": ("vectors", "features", "embeddings", "x"), "coords": ("coords", "positions", "xy", "xyz"),
            "labels": ("labels", "label", "clusters")}
ID_KEYS = ("ids", "id", "filenames", "filename", "paths", "names")
TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq")
ARRAY_SUFFIXES = (".npy", ".npz")
MAX_REPORTED = 50          # problems listed one by one per file; the rest are counted
OPTION = {"vectors": "--vectors", "coords": "--coords", "labels": "--labels"}


class ByoError(ValueError):
    """A whole file cannot be used (unreadable, of an unknown kind, ids and rows of different counts...)."""


# ------------------------------------------------------------------------------------------------ options

def normalise_options(opts: dict) -> None:
    """`vectors="file.npz"` (the Python spelling of `--vectors FILE`) means vectors_file; `vectors` itself
    stays the switch for the compact vectors the site ships (`--no-vectors`)."""
    value = opts.get("vectors")
    if isinstance(value, (str, os.PathLike)) and not isinstance(value, bool):
        if opts.get("vectors_file"):
            raise ByoError("give the vectors file once: vectors=FILE or vectors_file=FILE")
        opts["vectors_file"], opts["vectors"] = value, True


def check_files(opts: dict) -> None:
    """Each given file exists, is readable and of a kind read here (ByoError says which and what to do)."""
    for kind in ("vectors", "coords", "labels"):
        given = opts.get(f"{kind}_file" if kind == "vectors" else kind)
        if given in (None, ""):
            continue
        path = Path(os.path.expanduser(str(given)))
        what = {"vectors": "feature vectors", "coords": "positions", "labels": "labels"}[kind]
        if not path.is_file():
            raise ByoError(f"{OPTION[kind]} {given}: file not found; give the {what} as .npy (with an ids "
                           "file), .npz, CSV or Parquet")
        if not os.access(path, os.R_OK):
            raise ByoError(f"{OPTION[kind]} {given}: the file cannot be read (permissions)")
        suffix = path.suffix.lower()
        if suffix not in TABLE_SUFFIXES + ARRAY_SUFFIXES:
            raise ByoError(f"{OPTION[kind]} {given}: unknown kind of file {suffix or '(no extension)'!r}; give "
                           ".npy (with an ids file), .npz, .csv or .parquet")
        if suffix in (".parquet", ".pq"):
            _parquet_reader(path, OPTION[kind])
        if suffix == ".npy":
            ids = opts.get("vectors_ids") if kind == "vectors" else None
            _ids_path(path, ids, OPTION[kind])
    hotspots = opts.get("hotspots")
    if opts.get("labels") and hotspots is not None and str(hotspots).strip().lower() != "none":
        raise ByoError("--labels and --hotspots both give the hotspots: give one of them")
    ids = opts.get("vectors_ids")
    if ids and not opts.get("vectors_file"):
        raise ByoError("--vectors-ids names the ids of a --vectors .npy file, and no --vectors file is given")
    if ids and not Path(os.path.expanduser(str(ids))).is_file():
        raise ByoError(f"--vectors-ids {ids}: file not found; give a text file with one image id or file "
                       "name a line")


def _ids_path(path: Path, given, option: str) -> Path:
    if given:
        return Path(os.path.expanduser(str(given)))
    for cand in (path.with_name(path.name + ".ids.txt"), path.with_suffix(".ids.txt")):
        if cand.is_file():
            return cand
    extra = " (or --vectors-ids FILE)" if option == "--vectors" else ""
    raise ByoError(f"{option} {path}: an .npy array needs its ids, one image id or file name a line, line i "
                   f"for row i: put them in {path.with_suffix('.ids.txt').name}{extra}, or save an .npz with "
                   "the arrays and an 'ids' array")


def _parquet_reader(path: Path, option: str):
    try:
        import pandas
        import pyarrow  # noqa: F401 (pandas reads Parquet through it)
    except ImportError:
        raise ByoError(f"{option} {path}: reading Parquet needs pandas and pyarrow: pip install pandas pyarrow "
                       "(or save the table as CSV)") from None
    return pandas.read_parquet


# ------------------------------------------------------------------------------------------------ reading

@dataclass
class Table:
    """A file's rows before matching: per row its key (id or file name), values and where it is."""
    path: Path
    keys: list[str]
    values: list                      # per row: np.ndarray of floats (vectors, coords) or str/None (labels)
    where: list[str]                  # per row: "row 3" / "line 4", for messages
    problems: list[str] = field(default_factory=list)   # rows that could not be read


def read_table(path, kind: str, ids=None) -> Table:
    """Rows of a vectors / coords / labels file (kind), each with its key; file-level problems raise ByoError."""
    path = Path(os.path.expanduser(str(path)))
    option = OPTION[kind]
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ByoError(f"{option} {path}: not a readable .npy array: {exc}") from None
        keys = _read_ids(_ids_path(path, ids, option), option)
        return _from_array(path, kind, arr, keys)
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError) as exc:
            raise ByoError(f"{option} {path}: not a readable .npz file: {exc}") from None
        id_key = next((k for k in ID_KEYS if k in arrays), None)
        data_key = next((k for k in NPZ_KEYS[kind] if k in arrays), None)
        if data_key is None:
            others = [k for k in arrays if k != id_key]
            data_key = others[0] if len(others) == 1 else None
        if id_key is None or data_key is None:
            raise ByoError(f"{option} {path}: the .npz needs an 'ids' array (image ids or file names) and a "
                           f"'{NPZ_KEYS[kind][0]}' array; it holds {', '.join(arrays) or 'nothing'}")
        return _from_array(path, kind, arrays[data_key], [str(x) for x in arrays[id_key].tolist()])
    if suffix in (".parquet", ".pq"):
        frame = _parquet_reader(path, option)(path)
        header = [str(c) for c in frame.columns]
        rows = [[None if _missing(v) else v for v in row] for row in frame.itertuples(index=False, name=None)]
        return _from_rows(path, kind, header, rows, [f"row {i + 1}" for i in range(len(rows))])
    return _read_csv(path, kind)


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _read_ids(path: Path, option: str) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ByoError(f"{option}: cannot read the ids file {path}: {exc}") from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return [line.strip() for line in lines]


def _from_array(path: Path, kind: str, arr: np.ndarray, keys: list[str]) -> Table:
    option = OPTION[kind]
    if kind == "labels":
        arr = np.asarray(arr).reshape(len(arr), -1)[:, 0] if np.asarray(arr).ndim > 1 else np.asarray(arr)
    elif arr.ndim != 2:
        raise ByoError(f"{option} {path}: expected a 2-d array (one row per image), got shape {arr.shape}")
    if len(arr) != len(keys):
        raise ByoError(f"{option} {path}: {len(arr)} rows but {len(keys)} ids; every row needs its id (line i of "
                       "the ids file names row i), so nothing is matched rather than misaligned")
    where = [f"row {i + 1}" for i in range(len(arr))]
    if kind == "labels":
        values = [_label(v) for v in arr.tolist()]
    else:
        if not np.issubdtype(arr.dtype, np.number):
            raise ByoError(f"{option} {path}: the array holds {arr.dtype}, not numbers")
        values = list(np.asarray(arr, dtype=np.float32))   # rows are views of one array, never copied one by one
    return Table(path, [str(k) for k in keys], values, where)


def _read_csv(path: Path, kind: str) -> Table:
    option = OPTION[kind]
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        text = path.read_text(encoding="latin-1")
    except OSError as exc:
        raise ByoError(f"{option}: cannot read {path}: {exc}") from None
    first = text.split("\n", 1)[0]   # the delimiter: the header's most frequent of comma, semicolon and tab
    delimiter = "\t" if path.suffix.lower() == ".tsv" else max(",;\t", key=first.count)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    rows = list(reader)
    if not rows:
        raise ByoError(f"{option} {path}: the file is empty; it needs a header row with an id or filename column")
    header, body = rows[0], rows[1:]
    where, data = [], []
    for line, row in enumerate(body, start=2):
        if not any(c.strip() for c in row):
            continue
        data.append(row)
        where.append(f"line {line}")
    return _from_rows(path, kind, header, data, where)


def _from_rows(path: Path, kind: str, header: list[str], rows: list[list], where: list[str]) -> Table:
    option = OPTION[kind]
    lower = [str(h).strip().lower() for h in header]
    key_col = next((lower.index(k) for k in KEY_COLUMNS if k in lower), None)
    if key_col is None:
        raise ByoError(f"{option} {path}: no id or filename column in the header ({', '.join(header[:8])}); name "
                       "the column naming each image 'id' or 'filename'")
    if kind == "coords":
        if "x" not in lower or "y" not in lower:
            raise ByoError(f"{option} {path}: needs columns x and y (and z for 3D positions); it has "
                           f"{', '.join(header[:8])}")
        cols = [lower.index("x"), lower.index("y")] + ([lower.index("z")] if "z" in lower else [])
    elif kind == "labels":
        col = next((lower.index(k) for k in LABEL_COLUMNS if k in lower), None)
        if col is None and len(header) == 2:
            col = 1 - key_col
        if col is None:
            raise ByoError(f"{option} {path}: needs a 'label' column (a cluster id or name per image); it has "
                           f"{', '.join(header[:8])}")
        cols = [col]
    else:
        cols = [j for j in range(len(header)) if j != key_col]
        if not cols:
            raise ByoError(f"{option} {path}: no value columns: give one column per dimension after the id column")
    table = Table(path, [], [], [])
    for row, at in zip(rows, where):
        key = "" if key_col >= len(row) or row[key_col] is None else str(row[key_col]).strip()
        if kind == "labels":
            table.keys.append(key)
            table.where.append(at)
            table.values.append(_label(row[cols[0]] if cols[0] < len(row) else None))
            continue
        if kind == "vectors" and len(row) != len(header):
            table.problems.append(f"{at} (id {key!r}): {len(row) - 1} values, the header has {len(header) - 1} "
                                  "dimensions; row left out")
            continue
        try:
            vals = np.array([float(row[j]) if row[j] not in (None, "") else np.nan for j in cols], np.float32)
        except (ValueError, TypeError, IndexError):
            table.problems.append(f"{at} (id {key!r}): a value that is not a number; row left out")
            continue
        table.keys.append(key)
        table.where.append(at)
        table.values.append(vals)
    return table


def _label(value) -> str | None:
    """A label value as text; None (in no hotspot) for empty and -1."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return None if text in ("", "-1") else text


# ----------------------------------------------------------------------------------------------- matching

@dataclass
class Matched:
    """A table's rows matched to the sources: per source index its value (or absent), and the problems."""
    kind: str
    values: dict                  # source index -> value
    problems: list[str]
    dim: int | None = None


def match_table(table: Table, root, sources, kind: str) -> Matched:
    """Match each row to an image by id, then by file name as metadata rows are (pixmap.metadata)."""
    from .metadata import _SourceIndex

    by_id = {s.id: i for i, s in enumerate(sources)}
    by_id.update({s.relpath: i for i, s in enumerate(sources) if s.path is None})   # IIIF: "iiif/<host>/..."
    local = [i for i, s in enumerate(sources) if s.path is not None]   # file names: the local images'
    index = _SourceIndex(table.path, Path(root) if root is not None else Path("."), [sources[i] for i in local])
    problems = list(table.problems)
    first_row: dict[int, str] = {}
    values: dict[int, object] = {}
    dim = None
    if kind != "labels" and table.values:
        lengths = [len(v) for v in table.values]
        dim = max(set(lengths), key=lambda d: (lengths.count(d), -d))
        if kind == "coords" and dim not in (2, 3):
            dim = 2 if 2 in lengths else dim
    for key, value, at in zip(table.keys, table.values, table.where):
        i = by_id.get(key)
        if i is None:
            j, reason = index.find(key) if key and local else (None, "no id or filename" if not key else "")
            if j is None:
                problems.append(f"{at} (id {key!r}): {reason or 'no image with this id'}; row not used")
                continue
            i = local[j]
        if i in first_row:
            problems.append(f"{at} (id {key!r}): duplicate: {sources[i].relpath} already has the value on "
                            f"{first_row[i]}; the first is used")
            continue
        if kind != "labels":
            if len(value) != dim:
                problems.append(f"{at} (id {key!r}): {len(value)} values, the other rows have {dim}; row not used")
                continue
            if not np.isfinite(value).all():
                problems.append(f"{at} (id {key!r}): a value is not a finite number (NaN or infinite); row not used")
                continue
        first_row[i] = at
        values[i] = value
    return Matched(kind, values, problems, dim)


# --------------------------------------------------------------------------------------------- the whole

@dataclass
class Given:
    vectors: np.ndarray | None = None      # (len(kept sources), d) float32, aligned to `keep`
    coords: np.ndarray | None = None       # (len(kept sources), 2 or 3) float32
    labels: list | None = None             # per kept source: text, or None (in no hotspot)
    keep: list[int] = field(default_factory=list)          # indices into the sources given to load()
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (location, reason) of those left out
    warnings: list[str] = field(default_factory=list)
    files: dict = field(default_factory=dict)               # kind -> path, for notes
    _row_of: dict = field(default_factory=dict)             # source id -> row of vectors

    def vector_of(self, src) -> np.ndarray | None:
        """The provided vector of a kept source (what imagepass writes instead of running the model)."""
        if self.vectors is None:
            return None
        row = self._row_of.get(src.id)
        return None if row is None else self.vectors[row]

    def coords_for(self, indices) -> np.ndarray | None:
        """Positions of the images the image pass kept (`indices` into the kept sources)."""
        return None if self.coords is None else self.coords[np.asarray(indices, dtype=np.int64)]

    def labels_for(self, indices) -> list | None:
        return None if self.labels is None else [self.labels[i] for i in indices]


def load(opts: dict, root, sources) -> Given | None:
    """Read and match every given file; decide which images stay (those with a vector and a position when
    those are given). None when no file is given."""
    files = {"vectors": opts.get("vectors_file"), "coords": opts.get("coords"), "labels": opts.get("labels")}
    files = {k: Path(os.path.expanduser(str(v))) for k, v in files.items() if v not in (None, "")}
    if not files:
        return None
    given = Given(files=files)
    matched = {}
    for kind, path in files.items():
        table = read_table(path, kind, opts.get("vectors_ids") if kind == "vectors" else None)
        m = match_table(table, root, sources, kind)
        matched[kind] = m
        log.info("%s %s: %d rows, %d matched to the %d images", OPTION[kind], path.name, len(table.keys)
                 + len(table.problems), len(m.values), len(sources))
        if not m.values and sources:
            example = sources[0].id
            raise ByoError(f"{OPTION[kind]} {path}: none of its rows matched an image; the id column should hold "
                           f"the images' ids (as in the artifacts' images.csv, e.g. {example!r}) or their paths "
                           "relative to the images folder")
        for text in m.problems[:MAX_REPORTED]:
            given.warnings.append(f"{OPTION[kind]} {path.name}, {text}")
        if len(m.problems) > MAX_REPORTED:
            given.warnings.append(f"{OPTION[kind]} {path.name}: {len(m.problems) - MAX_REPORTED} more rows not "
                                  "used (reasons as above)")
    for i, src in enumerate(sources):
        missing = [kind for kind in ("vectors", "coords") if kind in matched and i not in matched[kind].values]
        if missing:
            what = " and ".join({"vectors": "no feature vector", "coords": "no position"}[k] for k in missing)
            names = " / ".join(files[k].name for k in missing)
            given.skipped.append((src.location, f"{what} in {names} (no row with its id {src.id!r} or its file "
                                                f"name); left out of the map"))
        else:
            given.keep.append(i)
    if sources and not given.keep:
        raise ByoError(f"no image has both a vector ({files['vectors'].name}) and a position ({files['coords'].name}): "
                       "nothing to map; check that both files name the same images")
    if "vectors" in matched:
        m = matched["vectors"]
        given.vectors = np.array([m.values[i] for i in given.keep], np.float32).reshape(len(given.keep), m.dim)
        given._row_of = {sources[i].id: r for r, i in enumerate(given.keep)}
    if "coords" in matched:
        m = matched["coords"]
        given.coords = np.array([m.values[i] for i in given.keep], np.float32).reshape(len(given.keep), m.dim)
    if "labels" in matched:
        m = matched["labels"]
        given.labels = [m.values.get(i) for i in given.keep]
        n_none = sum(v is None for v in given.labels)
        if n_none:
            log.info("--labels: %d images have no label (or -1): in no hotspot", n_none)
    for loc, reason in given.skipped:
        log.warning("skipped %s: %s", loc, reason)
    return given


def keep_found(found, given: Given):
    """The sources (and their metadata rows) of a pixmap.pipeline._Found that stay, in order."""
    from . import metadata as metadataio

    if len(given.keep) == len(found.sources):
        return found
    keep = given.keep
    found.n_local = sum(1 for i in keep if i < found.n_local)
    if found.meta is not None:
        found.meta = metadataio.Metadata(fields=found.meta.fields, rows=[found.meta.rows[i] for i in keep],
                                         unmatched=found.meta.unmatched, warnings=found.meta.warnings)
    found.sources = [found.sources[i] for i in keep]
    return found


# ---------------------------------------------------------------------------------------------- outputs

def layout_of(coords: np.ndarray):
    """The main 2D layout ("umap") from the given positions, and the 3D one when they have a z."""
    from .layouts.base import Layout

    flat = Layout("umap", "Your layout", np.ascontiguousarray(coords[:, :2], np.float32),
                  params={"source": "coords"})
    deep = (Layout("umap-3d", "Your layout (3D)", np.ascontiguousarray(coords[:, :3], np.float32),
                   params={"source": "coords"}) if coords.shape[1] == 3 else None)
    return flat, deep


def label_clustering(labels: list, features: np.ndarray, seed: int = 0):
    """Hotspots from the given labels (a pixmap.clusters.Clustering): one per label value, largest first,
    named by the value; its representative the medoid of its members in `features`; no label: in none."""
    from collections import Counter

    from .clusters import Clustering, Hotspot, medoid

    counts = Counter(v for v in labels if v is not None)
    order = sorted(counts, key=lambda v: (-counts[v], v))
    ids = {v: c for c, v in enumerate(order)}
    arr = np.array([ids[v] if v is not None else -1 for v in labels], dtype=np.int32)
    spots = []
    for c, name in enumerate(order):
        members = np.flatnonzero(arr == c)
        spots.append(Hotspot(id=c, label=str(name), size=len(members),
                             representative=medoid(features, members, seed=seed)))
    return Clustering(labels=arr, hotspots=spots, method="labels")


def content_note(path) -> str:
    return (f"content terms (ImageNet classes) not computed: the vectors come from {Path(path).name}, not from "
            "the model, whose classifier head cannot read them; search uses the metadata and colour names")
