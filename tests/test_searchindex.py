"""The search index (pixmap.searchindex): built from the demo paintings' real metadata, written to a real
site folder, read back and searched with the reference ranking."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from pixmap import site as site_mod
from pixmap.searchindex import (POSTINGS_FILE_BYTES, build_index, decode_postings, edit_distance,
                                encode_postings, read_term, search, write_index)
from pixmap.textnorm import fold, terms

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "datasets" / "aic-paintings"


def demo_table() -> tuple[list[str], list[str], list[list]]:
    """(ids, fields, rows) of the demo paintings exactly as a build lays out its metadata (filename, width,
    height, then the metadata file's columns, cleaned by pixmap.metadata), without running the model."""
    from PIL import Image

    from pixmap.metadata import load_metadata
    from pixmap.pipeline import _metadata_table
    from pixmap.sources import find_images

    root, sources = find_images(DEMO / "images")
    md = load_metadata(DEMO / "metadata.csv", root, sources)
    sizes = []
    for s in sources:
        with Image.open(s.path) as im:
            sizes.append(im.size)
    fields, rows = _metadata_table(sources, sizes, md, md.rows)
    return [s.id for s in sources], fields, rows


def write_site(folder: Path, ids, fields, rows, **index_args) -> tuple[Path, dict]:
    """A version-4 site's data as the build writes it: metadata chunks and columns, facets, the index."""
    from pixmap.facets import write_facets

    data = folder / "data"
    data.mkdir(parents=True)
    meta, id_entry = site_mod.write_chunks(data, ids, fields, rows)
    file_bytes = index_args.pop("file_bytes", POSTINGS_FILE_BYTES)
    index = build_index(fields, rows, **index_args)
    manifest = {"format": "pixmap-site", "version": 4, "count": len(rows), "metadata": meta, "ids": id_entry,
                "search": write_index(index, data, file_bytes=file_bytes),
                "facets": write_facets(data, fields, rows, columns=meta["columns"])}
    (data / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder, manifest


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    ids, fields, rows = demo_table()
    folder, manifest = write_site(tmp_path_factory.mktemp("search") / "site", ids, fields, rows)
    return folder, manifest, fields, rows


def col(fields, rows, name):
    j = fields.index(name)
    return [r[j] for r in rows]


def found(results):
    return [i for i, _ in results]


def doc_terms(fields, row, names=None) -> set[str]:
    out = set()
    for j, name in enumerate(fields):
        if name in ("width", "height") or (names and name not in names):
            continue
        v = row[j]
        for x in (v if isinstance(v, list) else [v]):
            if isinstance(x, str) and not x.startswith("http"):
                out.update(terms(x))
            elif isinstance(x, int):
                out.add(str(x))
    return out


# ------------------------------------------------------------------------------------------ format
def test_manifest_entry_and_files(demo):
    folder, manifest, fields, rows = demo
    entry = manifest["search"]
    assert entry["version"] == 1 and entry["docs"] == len(rows) == 267 and entry["dir"] == "data/search"
    assert entry["lang"] == "en" and entry["k1"] == 1.2 and entry["b"] == 0.75
    assert "title" in entry["fields"] and "artist" in entry["fields"]
    assert not {"width", "height", "permalink"} & set(entry["fields"])
    assert "image_url" not in entry["fields"]          # every value is a link: no token, left out
    weights = dict(zip(entry["fields"], entry["weights"]))
    assert weights["title"] == 3 and weights["artist"] == 2 and weights["filename"] == 0.5
    assert weights["medium"] == 1
    root = folder / "data" / "search"
    assert sorted(p.stem for p in (root / "dict").iterdir()) == sorted(entry["keys"])
    for key in entry["keys"]:
        shard = json.loads((root / "dict" / f"{key}.json").read_text(encoding="utf-8"))
        assert set(shard) == {"terms", "df", "file", "offset", "bytes"}
        assert shard["terms"] == sorted(shard["terms"]) and len(set(shard["terms"])) == len(shard["terms"])
        assert all(format(ord(t[0]), "x") == key for t in shard["terms"])
        assert all(t == fold(t) for t in shard["terms"])


def test_every_term_reads_back_as_the_metadata_says(demo):
    """For every term of the dictionary, the postings name exactly the (image, field) pairs whose value
    holds the term, and df counts the images."""
    folder, manifest, fields, rows = demo
    entry = manifest["search"]
    expected: dict[str, set] = {}
    for i, row in enumerate(rows):
        for f, name in enumerate(entry["fields"]):
            v = row[fields.index(name)]
            if name == "filename":
                v = v.rsplit(".", 1)[0]
            for t in doc_terms([name], [v]):
                expected.setdefault(t, set()).add((i, f))
    root = folder / "data" / "search"
    seen = set()
    for key in entry["keys"]:
        shard = json.loads((root / "dict" / f"{key}.json").read_text(encoding="utf-8"))
        for t, df in zip(shard["terms"], shard["df"]):
            got_df, docs, flds, wts = read_term(folder, t)
            assert got_df == df == len({d for d, _ in expected[t]}), t
            assert set(zip(docs, flds)) == expected[t] and len(docs) == len(expected[t]), t
            assert list(zip(docs, flds)) == sorted(zip(docs, flds))
            assert all(1 <= w <= 255 for w in wts)
            seen.add(t)
    assert seen == set(expected)


def test_text_weight_is_bm25s_term_part(demo):
    folder, manifest, fields, rows = demo
    entry = manifest["search"]
    f = entry["fields"].index("title")
    titles = col(fields, rows, "title")
    lens = [len(terms(t)) for t in titles if t and terms(t)]
    avg = sum(lens) / len(lens)
    i = next(i for i, t in enumerate(titles) if t == "Flowers in a Vase")
    _, docs, flds, wts = read_term(folder, "vase")
    w = dict(((d, fl), wt) for d, fl, wt in zip(docs, flds, wts))[(i, f)]
    tf, ln, k1, b = 1, len(terms("Flowers in a Vase")), 1.2, 0.75
    want = 255 * tf * (k1 + 1) / (tf + k1 * (1 - b + b * ln / avg)) / (k1 + 1)
    assert w == math.floor(want + 0.5)


def test_postings_files_respect_the_cap(tmp_path, demo):
    _, manifest, fields, rows = demo
    ids = [f"x{i}" for i in range(len(rows))]
    folder, manifest = write_site(tmp_path / "small", ids, fields, rows, file_bytes=300)
    root = folder / "data" / "search"
    nfiles = 0
    for key in manifest["search"]["keys"]:
        shard = json.loads((root / "dict" / f"{key}.json").read_text(encoding="utf-8"))
        files = sorted((root / "postings" / key).iterdir(), key=lambda p: int(p.stem))
        assert [int(p.stem) for p in files] == list(range(len(files)))
        assert sorted(set(shard["file"])) == list(range(len(files)))
        for j, path in enumerate(files):
            size = path.stat().st_size
            members = [k for k, fj in enumerate(shard["file"]) if fj == j]
            assert sum(shard["bytes"][k] for k in members) == size
            assert size <= 300 or len(members) == 1
            # whole terms, back to back, in dictionary order
            assert [shard["offset"][k] for k in members] == list(np.cumsum([0] + [shard["bytes"][k] for k in members])[:-1])
        nfiles += len(files)
    assert nfiles > len(manifest["search"]["keys"])     # the cap did split shards
    assert search(folder, "vase") == search(demo[0], "vase")


def test_default_cap_at_scale(tmp_path):
    """20,000 synthetic records: every postings file is at most 256 KB unless it holds a single term."""
    rng = np.random.default_rng(3)
    vocab = [f"w{k}x" for k in range(3000)]
    p = 1 / np.arange(1, len(vocab) + 1)
    p /= p.sum()
    rows = [[f"img/{i}.jpg", 10, 10, " ".join(vocab[k] for k in rng.choice(len(vocab), 6, p=p)),
             f"artist {i % 400}"] for i in range(20_000)]
    fields = ["filename", "width", "height", "title", "artist"]
    folder, manifest = write_site(tmp_path / "big", [f"i{i}" for i in range(len(rows))], fields, rows)
    root = folder / "data" / "search"
    big = 0
    for key in manifest["search"]["keys"]:
        shard = json.loads((root / "dict" / f"{key}.json").read_text(encoding="utf-8"))
        for j, path in enumerate(sorted((root / "postings" / key).iterdir())):
            n_terms = sum(1 for fj in shard["file"] if fj == int(path.stem))
            assert path.stat().st_size <= POSTINGS_FILE_BYTES or n_terms == 1
            big = max(big, path.stat().st_size)
    assert big > POSTINGS_FILE_BYTES // 2


def test_encode_decode_round_trip_random():
    rng = np.random.default_rng(7)
    for n in (0, 1, 5, 1000, 50_000):
        gaps = rng.choice([0, 1, 2, 127, 128, 300, 16383, 16384, 2 ** 21, 2 ** 28 + 5], size=n)
        docs = np.cumsum(gaps).astype(np.int64)
        fields = rng.integers(0, 256, size=n)
        weights = rng.integers(1, 256, size=n)
        data = encode_postings(docs, fields, weights)
        d, f, w = decode_postings(data)
        assert d == docs.tolist() and f == fields.tolist() and w == weights.tolist()
    assert encode_postings([0, 0, 200], [1, 2, 0], [5, 6, 7]) == bytes([0, 1, 5, 0, 2, 6, 0xC8, 0x01, 0, 7])
    with pytest.raises(ValueError):
        decode_postings(bytes([0x80]))


def test_content_and_colour_fields(tmp_path):
    fields = ["filename", "width", "height", "title"]
    rows = [["a.jpg", 1, 1, "Dogs"], ["b.jpg", 1, 1, "A cat"], ["c.jpg", 1, 1, None]]
    content = [[("golden retriever", 0.8), ("dog", 0.9), ("dogs", 0.2)], [("tabby", 0.5)], []]
    colours = [[("red", 0.5)], [], [("red", 0.07), ("blue", 0.9)]]
    folder, manifest = write_site(tmp_path / "s", ["a", "b", "c"], fields, rows, content=content, colours=colours)
    entry = manifest["search"]
    assert entry["fields"][-2:] == ["content", "colour"]
    fc, fco, ft = entry["fields"].index("content"), entry["fields"].index("colour"), entry["fields"].index("title")
    df, docs, flds, wts = read_term(folder, "dog")
    assert df == 1 and list(zip(docs, flds)) == [(0, ft), (0, fc)]
    assert wts[1] == round(255 * 0.9)                # the best of "dog" and "dogs"
    assert read_term(folder, "retriever")[1:] == ([0], [fc], [204])
    assert read_term(folder, "red")[1:] == ([0, 2], [fco, fco], [128, 18])
    assert found(search(folder, "colour:red")) == [0, 2]
    assert found(search(folder, "blue")) == [2]
    assert found(search(folder, "content:dog")) == [0]


# ------------------------------------------------------------------------------------------ ranking
def test_prefix_of_a_title_word_finds_it(demo):
    folder, _, fields, rows = demo
    titles = col(fields, rows, "title")
    i = titles.index("Cliff Walk at Pourville")
    res = found(search(folder, "pourv"))
    assert res[0] == i
    assert found(search(folder, "cliff pourv"))[0] == i
    # while typing, a one-letter last word is a prefix too
    typed = found(search(folder, "cliff w", typing=True))
    assert typed[0] == i


def test_accent_insensitive(demo):
    folder, _, fields, rows = demo
    artists = col(fields, rows, "artist")
    want = {i for i, a in enumerate(artists) if a and "Munkácsy" in a}
    assert want
    for q in ("munkacsy", "MUNKÁCSY", "Munkácsy"):
        res = found(search(folder, q))
        assert set(res[:len(want)]) == want
    velazquez = {i for i, a in enumerate(artists) if a and "Velázquez" in a}
    assert set(found(search(folder, "velazquez"))[:len(velazquez)]) == velazquez


@pytest.mark.parametrize("query, distance", [("pisarro", 1), ("pissaro", 1), ("munkacsi", 1),
                                             ("velasquez", 1), ("mumkacsi", 2), ("velasques", 2)])
def test_misspelt_artist_finds_the_artist(demo, query, distance):
    folder, _, fields, rows = demo
    artists = col(fields, rows, "artist")
    name = {"p": "Pissarro", "m": "Munkácsy", "v": "Velázquez"}[query[0]]
    want = {i for i, a in enumerate(artists) if a and name in a}
    target = terms(name)[0]
    assert edit_distance(query, target) == distance
    res = found(search(folder, query))
    assert set(res[:len(want)]) == want


def test_unknown_words_do_not_stop_the_others(demo):
    folder, _, fields, rows = demo
    entry_terms = set()
    for key in demo[1]["search"]["keys"]:
        entry_terms |= set(json.loads((folder / "data" / "search" / "dict" / f"{key}.json").read_text())["terms"])
    assert "ancient" not in entry_terms and "chinese" not in entry_terms
    # the images with "vase" (or a term starting with it) anywhere in their metadata, and only those
    want = {i for i, r in enumerate(rows) if any(t.startswith("vase") for t in doc_terms(fields, r))}
    assert len(want) >= 3
    res = found(search(folder, "ancient chinese vase"))
    assert set(res) == want
    assert found(search(folder, "vase")) == res


def test_more_words_matched_rank_first(demo):
    folder, _, fields, rows = demo
    res = search(folder, "flowers vase")
    titles = col(fields, rows, "title")
    both = {i for i, r in enumerate(rows) if {"flower", "vase"} <= doc_terms(fields, r)}
    assert {i for i, _ in res[:len(both)]} == both
    scores = [s for _, s in res]
    assert scores[:len(both)] == sorted(scores[:len(both)], reverse=True)
    assert titles[res[0][0]] in ("Flowers in a Vase", "Vase of Flowers")


def test_field_limits_the_match(demo):
    folder, manifest, fields, rows = demo
    artists, titles = col(fields, rows, "artist"), col(fields, rows, "title")
    # a name in some titles and some artists, in different images (a portrait of Cezanne not by him...)
    for word in ("degas", "renoir", "cezanne", "rubens", "henri", "pierre"):
        t = terms(word)[0]
        in_artist = {i for i, a in enumerate(artists) if a and t in terms(a)}
        in_title = {i for i, x in enumerate(titles) if x and t in terms(x)}
        if in_title - in_artist and in_artist - in_title:
            break
    else:
        raise AssertionError("no word of both titles and artists in the demo")
    assert set(found(search(folder, word))) >= in_artist | in_title
    assert set(found(search(folder, f"artist:{word}"))) == in_artist
    assert set(found(search(folder, f"Artist:{word.upper()}"))) == in_artist
    assert set(found(search(folder, f"title:{word}"))) == in_title
    # not a field: plain text
    assert found(search(folder, f"nofield:{word}")) == found(search(folder, f"nofield {word}"))


def test_numeric_range_filters_exactly(demo):
    folder, _, fields, rows = demo
    years = col(fields, rows, "year")
    want = [i for i, y in enumerate(years) if y is not None and 1850 <= y <= 1870]
    assert 10 < len(want) < len(rows)
    assert found(search(folder, "year:1850..1870")) == want
    assert found(search(folder, "year:..1500")) == [i for i, y in enumerate(years) if y is not None and y <= 1500]
    assert found(search(folder, "year:1890..")) == [i for i, y in enumerate(years) if y is not None and y >= 1890]
    y0 = next(y for y in years if y is not None)
    assert found(search(folder, f"year:{y0}")) == [i for i, y in enumerate(years) if y == y0]
    # with words: only images in the range, ranked by the words
    artists = col(fields, rows, "artist")
    res = found(search(folder, "monet year:1870..1880"))
    assert res and all(1870 <= years[i] <= 1880 for i in res)
    assert {i for i in res if "Monet" in (artists[i] or "")} == {
        i for i, a in enumerate(artists) if a and "Monet" in a and years[i] and 1870 <= years[i] <= 1880}


def test_quoted_phrase(demo):
    folder, _, fields, rows = demo
    titles = col(fields, rows, "title")
    res = found(search(folder, '"flowers in a vase"'))
    assert [titles[i] for i in res] == ["Flowers in a Vase"]
    # the words without quotes find more ("Bouquet of Flowers in an Earthenware Vase" has them all)
    loose = found(search(folder, "flowers in a vase"))
    assert titles.index("Bouquet of Flowers in an Earthenware Vase") in loose
    assert found(search(folder, 'title:"in a vase"')) == res
    assert found(search(folder, 'artist:"flowers in a vase"')) == []
    # phrase words are required and exact: a misspelling in quotes finds nothing
    assert found(search(folder, '"flowers in a vaze"')) == []


def test_empty_and_no_match(demo):
    folder = demo[0]
    assert search(folder, "") == [] and search(folder, "   ") == []
    assert search(folder, "zzzzqqq") == []


def test_language_is_recorded_and_used(tmp_path):
    fields, rows = ["filename", "width", "height", "title"], [["a.jpg", 1, 1, "Les tableaux"],
                                                               ["b.jpg", 1, 1, "Un tableau"]]
    folder, manifest = write_site(tmp_path / "fr", ["a", "b"], fields, rows, lang="fr")
    assert manifest["search"]["lang"] == "fr"
    assert sorted(found(search(folder, "tableaux"))) == [0, 1]


def test_written_files_do_not_depend_on_the_encoding_block(tmp_path, demo):
    _, _, fields, rows = demo
    index = build_index(fields, rows)
    trees = []
    for block in (1 << 22, 1000, 7, 1):
        data = tmp_path / str(block)
        entry = write_index(index, data, block=block)
        files = sorted(p for p in (data / "search").rglob("*") if p.is_file())
        trees.append((entry, [(p.relative_to(data).as_posix(), p.read_bytes()) for p in files]))
    assert all(t == trees[0] for t in trees[1:])


def test_a_metadata_field_named_like_the_content_fields(tmp_path):
    fields = ["filename", "width", "height", "colour"]
    rows = [["a.jpg", 1, 1, "Red"], ["b.jpg", 1, 1, None], ["c.jpg", 1, 1, "blue"]]
    colours = [[], [("red", 0.5)], [("red", 0.2)]]
    folder, manifest = write_site(tmp_path / "s", ["a", "b", "c"], fields, rows, colours=colours)
    # "a.jpg": one letter, no token: filename has no posting and is left out
    assert manifest["search"]["fields"] == ["colour", "colour"]
    assert read_term(folder, "red")[1:3] == ([0, 1, 2], [0, 1, 1])
    assert sorted(found(search(folder, "colour:red"))) == [0, 1, 2]


def test_content_terms_in_csr_form_index_as_the_pairs_do(tmp_path):
    """pixmap.content.ContentTerms (offsets, terms into vocabulary, probs) gives the same index as the
    same terms as (word, p) lists."""
    from pixmap.content import ContentTerms

    rng = np.random.default_rng(5)
    vocab = ("dog", "dogs", "golden retriever", "cat", "boxes", "box", "sea")
    n = 300
    offsets, terms_, probs = [0], [], []
    for i in range(n):
        k = rng.integers(0, 5)
        picked = sorted(rng.choice(len(vocab), k, replace=False))
        terms_ += picked
        probs += list(rng.uniform(0.0, 1.0, k).round(3))
        offsets.append(len(terms_))
    ct = ContentTerms(np.array(offsets), np.array(terms_, np.int32), np.array(probs, np.float32), vocab,
                      np.zeros(len(vocab), np.int32), np.ones(len(vocab), np.float32))
    pairs = [[(vocab[t], float(p)) for t, p in zip(ct.terms[a:b], ct.probs[a:b])]
             for a, b in zip(offsets[:-1], offsets[1:])]
    fields = ["filename", "width", "height", "title"]
    rows = [[f"im{i}.jpg", 1, 1, "a view"] for i in range(n)]
    a = build_index(fields, rows, content=ct)
    b = build_index(fields, rows, content=pairs)
    assert a.terms == b.terms and a.fields == b.fields
    for name in ("starts", "doc", "field", "weight", "df"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert "dog" in a.terms and "retriever" in a.terms and "box" in a.terms
