"""Facets: the metadata fields the viewer offers as filters (format version 4, docs/site-format.md "Facets").

    specs = choose_facets(fields, rows)                      # or asked=["category", "year"] (--facets)
    manifest["facets"] = write_facets(site / "data", fields, rows, specs, columns=manifest["metadata"]["columns"])

Kinds: `category` (one value per image: codes in data/facets/<j>.u16, 0xFFFF missing), `multi` (a list per
image, e.g. tags: codes of every image's values one after another, and count + 1 uint32 offsets in
data/facets/<j>-offsets.u32), `range` (a float32 column in data/columns/, with min, max and a 40-bin
histogram). `j` is the field's index in the metadata's `fields`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .site import _is_number, _json_value, numeric_fields

__all__ = ["FacetSpec", "FacetError", "choose_facets", "write_facets", "facet_values", "MISSING", "BINS",
           "MAX_VALUES", "MAX_AUTO_VALUES"]

MISSING = 0xFFFF          # code of a missing value
MAX_VALUES = 0xFFFF       # codes 0..65534: rarer values count as missing (category) or are left out (multi)
MAX_AUTO_VALUES = 50      # a text field becomes a facet by itself with 2..50 distinct values...
MIN_COVER = 0.5           # ...present in at least half the images
BINS = 40
ALWAYS = ("category", "tags")                   # facets whenever they have a value
NOT_AUTO = {"filename", "width", "height", "lat", "lng", "year", "date"}   # never chosen by themselves


class FacetError(ValueError):
    """--facets names a field the metadata does not have (the message lists those it has)."""


@dataclass(frozen=True)
class FacetSpec:
    field: str                # the name in the manifest ("year" for the year parsed from year/date)
    kind: str                 # "category", "multi" or "range"
    index: int                # the field's index in `fields` (for year from a date: the date field's)
    parsed_year: bool = False  # range over parse_year of year/date (not the field's own numbers)


def _is_missing(v) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    if isinstance(v, str) and not v.strip():
        return True
    return isinstance(v, (list, tuple)) and not v


def _find(fields: list[str], name: str) -> int | None:
    lowered = [str(f).lower() for f in fields]
    return lowered.index(name.lower()) if name.lower() in lowered else None


def _years(fields, rows) -> tuple[list, int] | None:
    """Per image the year (as the date layout reads year/date), and the field it comes from; or None."""
    from .layouts import date_years

    jy, jd = _find(fields, "year"), _find(fields, "date")
    if jy is None and jd is None:
        return None
    cols = {}
    if jy is not None:
        cols["year"] = [r[jy] for r in rows]
    if jd is not None:
        cols["date"] = [r[jd] for r in rows]
    return date_years(cols), (jy if jy is not None else jd)


def _is_list_field(rows, j) -> bool:
    return any(isinstance(r[j], (list, tuple)) for r in rows)


def _natural_kind(fields, rows, j, numeric) -> FacetSpec:
    name = str(fields[j])
    if _is_list_field(rows, j):
        return FacetSpec(name, "multi", j)
    if j in numeric:
        return FacetSpec(name, "range", j)
    return FacetSpec(name, "category", j)


def choose_facets(fields: list[str], rows: list[list], asked: list[str] | None = None) -> list[FacetSpec]:
    """The facets of a collection.

    Chosen (asked None): `category` and `tags` when they have a value; every other text field with 2..50
    distinct values present in at least half the images (a list-valued field: `multi`); `year` (parsed as
    for the date layout, from year or date) when one can be read; every other numeric column but width,
    height, lat and lng (`range`). In that order.
    Asked (`--facets a,b`): those fields, in that order, of their natural kind (lists: multi; numbers and
    `year`: range; else category). An unknown name raises FacetError listing the fields."""
    numeric = set(numeric_fields(fields, rows))
    n = len(rows)
    out: list[FacetSpec] = []
    if asked is not None:
        for name in asked:
            name = str(name).strip()
            if not name:
                continue
            if name.lower() == "year":
                ys = _years(fields, rows)
                if ys is None:
                    raise FacetError(f"--facets: no field 'year' or 'date' to read years from; the fields are: "
                                     f"{', '.join(map(str, fields))}")
                jy = _find(fields, "year")
                if jy is not None and jy in numeric:
                    out.append(FacetSpec(str(fields[jy]), "range", jy))
                else:
                    out.append(FacetSpec("year", "range", ys[1], parsed_year=True))
                continue
            j = _find(fields, name)
            if j is None:
                raise FacetError(f"--facets: no field {name!r}; the fields are: {', '.join(map(str, fields))}")
            out.append(_natural_kind(fields, rows, j, numeric))
        return _dedupe(out)

    for name in ALWAYS:
        j = _find(fields, name)
        if j is not None and any(not _is_missing(r[j]) for r in rows):
            out.append(FacetSpec(str(fields[j]), "multi" if _is_list_field(rows, j) else "category", j))
    for j, name in enumerate(fields):
        lname = str(name).lower()
        if lname in ALWAYS or lname in NOT_AUTO or j in numeric:
            continue
        multi = _is_list_field(rows, j)
        distinct, present = set(), 0
        for r in rows:
            v = r[j]
            if _is_missing(v):
                continue
            present += 1
            for x in (v if isinstance(v, (list, tuple)) else [v]):
                if not _is_missing(x) and not isinstance(x, (dict, list)):
                    distinct.add(x)
            if len(distinct) > MAX_AUTO_VALUES:
                break
        if 2 <= len(distinct) <= MAX_AUTO_VALUES and present >= MIN_COVER * n:
            out.append(FacetSpec(str(name), "multi" if multi else "category", j))
    ys = _years(fields, rows)
    if ys is not None and any(y is not None for y in ys[0]):
        jy = _find(fields, "year")
        if jy is not None and jy in numeric:
            out.append(FacetSpec(str(fields[jy]), "range", jy))
        else:
            out.append(FacetSpec("year", "range", ys[1], parsed_year=True))
    for j in sorted(numeric):
        if str(fields[j]).lower() in NOT_AUTO:
            continue
        out.append(FacetSpec(str(fields[j]), "range", j))
    return _dedupe(out)


def _dedupe(specs: list[FacetSpec]) -> list[FacetSpec]:
    seen, out = set(), []
    for s in specs:
        if (s.field, s.index) not in seen:
            seen.add((s.field, s.index))
            out.append(s)
    return out


def facet_values(rows: list[list], j: int, multi: bool) -> tuple[list, list[int], list[list]]:
    """(values sorted by count, largest first, then by text; counts; per image the values' codes)."""
    counts: dict = {}
    per_image: list[list] = []
    for r in rows:
        v = r[j]
        items = [] if _is_missing(v) else (list(v) if isinstance(v, (list, tuple)) else [v])
        seen = []
        for x in items:
            if _is_missing(x) or isinstance(x, (dict, list)):
                continue
            if x not in seen:
                seen.append(x)
        if not multi:
            seen = seen[:1]
        for x in seen:
            counts[x] = counts.get(x, 0) + 1
        per_image.append(seen)
    values = sorted(counts, key=lambda x: (-counts[x], str(x)))[:MAX_VALUES]
    code = {x: i for i, x in enumerate(values)}
    codes = [[code[x] for x in items if x in code] for items in per_image]
    return values, [counts[x] for x in values], codes


def _column_values(rows, spec: FacetSpec, fields) -> np.ndarray:
    if spec.parsed_year:
        ys = _years(fields, rows)[0]
        return np.array([np.nan if y is None else float(y) for y in ys], dtype="<f4")
    j = spec.index
    return np.array([float(r[j]) if _is_number(r[j]) else np.nan for r in rows], dtype="<f4")


def histogram(values: np.ndarray, bins: int = BINS) -> tuple[float, float, list[int]]:
    """(min, max, counts): bin k holds min + k*(max-min)/bins <= v < the next bound, the last also max;
    bin = min(bins - 1, floor((v - min) / (max - min) * bins)); everything in bin 0 when max == min."""
    v = values[~np.isnan(values)].astype(np.float64)
    if not len(v):
        return math.nan, math.nan, [0] * bins
    lo, hi = float(v.min()), float(v.max())
    if hi > lo:
        k = np.minimum(bins - 1, np.floor((v - lo) / (hi - lo) * bins).astype(np.int64))
    else:
        k = np.zeros(len(v), np.int64)
    return lo, hi, np.bincount(k, minlength=bins).tolist()


def _num(x: float):
    return int(x) if float(x).is_integer() else float(x)


def write_facets(data_dir, fields: list[str], rows: list[list], specs: list[FacetSpec] | None = None,
                 columns: dict | None = None) -> list[dict]:
    """Write the facets' files under the site's `data` folder; return the manifest's `facets` list.

    `specs`: choose_facets(fields, rows) when None. `columns`: the manifest's `metadata.columns` (field ->
    site-relative file) when site.write_chunks wrote them; a numeric column it lacks is written here in the
    same format (data/columns/<j>.f32), and so is a year parsed from year/date (j: that field's index)."""
    data = Path(data_dir)
    if specs is None:
        specs = choose_facets(fields, rows)
    columns = dict(columns or {})
    out = []
    for spec in specs:
        j = spec.index
        if spec.kind in ("category", "multi"):
            multi = spec.kind == "multi"
            values, counts, codes = facet_values(rows, j, multi)
            (data / "facets").mkdir(parents=True, exist_ok=True)
            entry = {"field": spec.field, "kind": spec.kind, "values": [_json_value(v) for v in values],
                     "counts": counts, "codes": f"data/facets/{j}.u16"}
            if multi:
                flat = np.fromiter((c for cs in codes for c in cs), dtype="<u2")
                offsets = np.zeros(len(rows) + 1, dtype="<u4")
                np.cumsum([len(cs) for cs in codes], out=offsets[1:])
                flat.tofile(data / "facets" / f"{j}.u16")
                offsets.tofile(data / "facets" / f"{j}-offsets.u32")
                entry["offsets"] = f"data/facets/{j}-offsets.u32"
            else:
                single = np.fromiter((cs[0] if cs else MISSING for cs in codes), dtype="<u2", count=len(rows))
                single.tofile(data / "facets" / f"{j}.u16")
            out.append(entry)
            continue
        # range
        values = _column_values(rows, spec, fields)
        path = None if spec.parsed_year else columns.get(str(fields[j]))
        if path is None:
            path = f"data/columns/{j}.f32"
        file = data.parent / path
        if spec.parsed_year or not file.exists():
            file.parent.mkdir(parents=True, exist_ok=True)
            values.tofile(file)
        else:
            values = np.fromfile(file, dtype="<f4")
        lo, hi, hist = histogram(values)
        if math.isnan(lo):
            continue
        out.append({"field": spec.field, "kind": "range", "column": path, "min": _num(lo), "max": _num(hi),
                    "histogram": hist})
    return out
