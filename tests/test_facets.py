"""Facets (pixmap.facets): chosen from the demo paintings' real metadata, written to a real folder and
decoded back against that metadata."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from pixmap import site as site_mod
from pixmap.facets import MISSING, FacetError, choose_facets, histogram, write_facets
from pixmap.layouts.date import parse_year
from tests.test_searchindex import demo_table, write_site


@pytest.fixture(scope="module")
def table():
    return demo_table()


def with_tags(fields, rows):
    """The demo with a `tags` list per painting made from its own metadata: the medium's words around "on"
    and the nationality of artist_info; every 7th painting has none."""
    fields = list(fields) + ["tags"]
    jm, ji = fields.index("medium"), fields.index("artist_info")
    out = []
    for r in rows:
        tags = []
        if r[jm]:
            tags += [t.strip() for t in r[jm].split(" on ") if t.strip()]
        if r[ji]:
            tags.append(r[ji].split(",")[0].strip())
            tags.append(r[ji].split(",")[0].strip())     # a duplicate: kept once
        out.append(list(r) + [tags if tags and len(out) % 7 else None])   # every 7th: no tags
    return fields, out


def write(tmp_path, fields, rows, specs=None):
    data = tmp_path / "data"
    data.mkdir(parents=True, exist_ok=True)
    meta, _ = site_mod.write_chunks(data, [f"i{i}" for i in range(len(rows))], fields, rows)
    return data, write_facets(data, fields, rows, specs, columns=meta["columns"]), meta


def decode_category(data, entry, n):
    codes = np.fromfile(data.parent / entry["codes"], dtype="<u2")
    assert len(codes) == n
    return [None if c == MISSING else entry["values"][c] for c in codes]


def decode_multi(data, entry, n):
    codes = np.fromfile(data.parent / entry["codes"], dtype="<u2")
    offsets = np.fromfile(data.parent / entry["offsets"], dtype="<u4")
    assert len(offsets) == n + 1 and offsets[0] == 0 and offsets[-1] == len(codes)
    assert np.all(np.diff(offsets.astype(np.int64)) >= 0)
    return [[entry["values"][c] for c in codes[offsets[i]:offsets[i + 1]]] for i in range(n)]


def test_chosen_facets_of_the_demo(table):
    _, fields, rows = table
    specs = choose_facets(fields, rows)
    got = [(s.field, s.kind) for s in specs]
    # category always; medium and collection: 2..50 values in at least half the paintings; year; the
    # metadata's own width/height columns are text here (CSV), the image's width/height are left out
    assert got[0] == ("category", "category")
    assert ("medium", "category") in got and ("collection", "category") in got
    assert ("year", "range") in got
    assert not {"title", "artist", "filename", "width", "height", "permalink", "date"} & {f for f, _ in got}
    for s in specs:
        if s.kind == "category":
            values = {r[s.index] for r in rows if r[s.index] is not None}
            present = sum(r[s.index] is not None for r in rows)
            assert s.field == "category" or (2 <= len(values) <= 50 and present >= len(rows) / 2)


def test_category_codes_decode_to_the_metadata(tmp_path, table):
    _, fields, rows = table
    data, facets, _ = write(tmp_path, fields, rows)
    for entry in facets:
        if entry["kind"] != "category":
            continue
        j = fields.index(entry["field"])
        assert entry["codes"] == f"data/facets/{j}.u16"
        values = [r[j] for r in rows]
        assert decode_category(data, entry, len(rows)) == values
        counts = {v: values.count(v) for v in set(values) if v is not None}
        assert dict(zip(entry["values"], entry["counts"])) == counts
        assert entry["counts"] == sorted(entry["counts"], reverse=True)
        assert len(set(entry["values"])) == len(entry["values"])


def test_tags_csr(tmp_path, table):
    _, fields, rows = table
    fields, rows = with_tags(fields, rows)
    data, facets, _ = write(tmp_path, fields, rows)
    entry = next(e for e in facets if e["field"] == "tags")
    assert entry["kind"] == "multi" and entry["offsets"] == f"data/facets/{fields.index('tags')}-offsets.u32"
    decoded = decode_multi(data, entry, len(rows))
    j = fields.index("tags")
    for got, r in zip(decoded, rows):
        want = list(dict.fromkeys(r[j] or []))
        assert got == want
    counts = {}
    for tags in decoded:
        for t in tags:
            counts[t] = counts.get(t, 0) + 1
    assert dict(zip(entry["values"], entry["counts"])) == counts
    assert any(not t for t in decoded)        # paintings without tags have an empty span


def test_year_histogram_and_column(tmp_path, table):
    _, fields, rows = table
    data, facets, meta = write(tmp_path, fields, rows)
    entry = next(e for e in facets if e["field"] == "year")
    years = [r[fields.index("year")] for r in rows]
    known = [y for y in years if y is not None]
    assert entry["column"] == meta["columns"]["year"]            # the metadata's own numeric column
    col = np.fromfile(data.parent / entry["column"], dtype="<f4")
    assert [None if math.isnan(v) else int(v) for v in col] == years
    assert entry["min"] == min(known) and entry["max"] == max(known)
    assert len(entry["histogram"]) == 40 and sum(entry["histogram"]) == len(known)
    lo, hi = min(known), max(known)
    bins = [min(39, math.floor((y - lo) / (hi - lo) * 40)) for y in known]
    assert entry["histogram"] == [bins.count(k) for k in range(40)]


def test_year_parsed_from_date_when_there_is_no_year(tmp_path, table):
    _, fields, rows = table
    jy = fields.index("year")
    fields2 = fields[:jy] + fields[jy + 1:]
    rows2 = [r[:jy] + r[jy + 1:] for r in rows]
    jd = fields2.index("date")
    data, facets, meta = write(tmp_path, fields2, rows2)
    entry = next(e for e in facets if e["field"] == "year")
    assert entry["kind"] == "range" and entry["column"] == f"data/columns/{jd}.f32"
    assert "date" not in meta["columns"]
    want = [parse_year(r[jd]) for r in rows2]
    col = np.fromfile(data.parent / entry["column"], dtype="<f4")
    assert [None if math.isnan(v) else int(v) for v in col] == want
    assert sum(entry["histogram"]) == sum(y is not None for y in want) > 0


def test_asked_facets(tmp_path, table):
    _, fields, rows = table
    specs = choose_facets(fields, rows, asked=["artist", "Year", "width", "category"])
    assert [(s.field, s.kind) for s in specs] == [("artist", "category"), ("year", "range"),
                                                  ("width", "range"), ("category", "category")]
    data, facets, _ = write(tmp_path, fields, rows, specs)
    artist = facets[0]
    assert decode_category(data, artist, len(rows)) == [r[fields.index("artist")] for r in rows]
    width = facets[2]
    assert width["column"] == "data/columns/1.f32" and width["min"] == min(r[1] for r in rows)
    assert choose_facets(fields, rows, asked=[]) == []
    with pytest.raises(FacetError) as err:
        choose_facets(fields, rows, asked=["category", "colour"])
    assert "'colour'" in str(err.value) and "title, artist" in str(err.value)


def test_rules_for_text_fields():
    n = 100
    fields = ["filename", "width", "height", "many", "sparse", "one", "ok"]
    rows = [[f"{i}.jpg", 1, 1, f"v{i % 51}", "x" if i < 40 else None, "same", f"k{i % 3}" if i < 50 else None]
            for i in range(n)]
    got = [s.field for s in choose_facets(fields, rows)]
    assert got == ["ok"]     # 51 values, under half, one value: not chosen; 3 values in exactly half: chosen


def test_histogram_edges():
    lo, hi, h = histogram(np.array([5, 5, np.nan], dtype="<f4"))
    assert (lo, hi) == (5, 5) and h[0] == 2 and sum(h) == 2
    lo, hi, h = histogram(np.array([0, 1, 2, 3, 4, 40], dtype="<f4"))
    assert h[0] == 1 and h[39] == 1 and sum(h) == 6


def test_site_with_facets_and_index_json_is_plain(tmp_path, table):
    ids, fields, rows = table
    folder, manifest = write_site(tmp_path / "site", ids, fields, rows)
    text = json.dumps(manifest["facets"], allow_nan=False)       # no NaN / numpy values in the manifest
    assert json.loads(text) == manifest["facets"]
