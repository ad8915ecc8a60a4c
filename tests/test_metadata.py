import codecs
import csv as csv_module
import json
import os
import threading
import unicodedata
from pathlib import Path

import pytest

from pixmap import metadata as metadata_module
from pixmap.metadata import (PIXPLOT_FIELDS, Metadata, MetadataError, load_metadata, match,
                             read_rows)
from pixmap.sources import find_images

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "datasets" / "aic-paintings"


@pytest.fixture
def photos(tmp_path):
    """images/ with a/1.jpg, b/1.jpg (same name twice), c.jpg, d.png, e.jpg; metadata files beside it."""
    root = tmp_path / "images"
    for rel in ("a/1.jpg", "b/1.jpg", "c.jpg", "d.png", "e.jpg"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"")
    return find_images(root)


def write(path: Path, text: str, encoding="utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def row_for(md: Metadata, sources, relpath):
    return md.rows[[s.relpath for s in sources].index(relpath)]


def test_match_by_relpath_basename_and_folder_of_metadata(tmp_path, photos):
    root, sources = photos
    csv = write(tmp_path / "meta.csv",
                "filename,title\n"
                "a/1.jpg,by relpath\n"
                "images/b/1.jpg,relative to the metadata file\n"
                "c.jpg,by unique basename\n"
                f"{root / 'd.png'},absolute\n"
                "1.jpg,ambiguous\n"
                "missing.jpg,no image\n"
                ",no filename\n")
    md = load_metadata(csv, root, sources)
    assert md.fields == ["title"]
    assert len(md.rows) == len(sources)
    assert row_for(md, sources, "a/1.jpg") == {"title": "by relpath"}
    assert row_for(md, sources, "b/1.jpg") == {"title": "relative to the metadata file"}
    assert row_for(md, sources, "c.jpg") == {"title": "by unique basename"}
    assert row_for(md, sources, "d.png") == {"title": "absolute"}
    assert row_for(md, sources, "e.jpg") is None  # images without a row are kept
    assert md.matched == 4
    lines = {line: (name, reason) for line, name, reason in md.unmatched}
    assert set(lines) == {6, 7, 8}
    assert lines[6][0] == "1.jpg" and "ambiguous" in lines[6][1] and "2 images" in lines[6][1]
    assert lines[7][0] == "missing.jpg" and "no image" in lines[7][1]
    assert lines[8][1] == "no filename"


def test_backslashes_case_and_dot_slash(tmp_path, photos):
    root, sources = photos
    csv = write(tmp_path / "m.csv", "filename,title\r\na\\1.jpg,win\r\n./C.JPG,case\r\n")
    md = load_metadata(csv, root, sources)
    assert row_for(md, sources, "a/1.jpg") == {"title": "win"}
    assert row_for(md, sources, "c.jpg") == {"title": "case"}
    assert md.unmatched == []


def test_duplicate_rows_first_wins(tmp_path, photos):
    root, sources = photos
    csv = write(tmp_path / "m.csv", "filename,title\nc.jpg,first\nc.jpg,second\n")
    md = load_metadata(csv, root, sources)
    assert row_for(md, sources, "c.jpg") == {"title": "first"}
    assert len(md.unmatched) == 1
    line, name, reason = md.unmatched[0]
    assert (line, name) == (3, "c.jpg") and "duplicate" in reason and "line 2" in reason


def test_values_cleaned(tmp_path, photos):
    root, sources = photos
    csv = write(tmp_path / "m.csv",
                "filename,Title,tags,year,lat,lng,Category,notes\n"
                "a/1.jpg,  Spaced  , x | y ||  z ,1884,48.85,2.35,  ,\n"
                "b/1.jpg,t,,c. 1884,91,abc,cat,n\n"
                "c.jpg,t,one,1884-86,\"48,5\",-200,cat,n\n"
                "d.png,t,,unknown,,,cat,n\n"
                "e.jpg,t,,1884.0,-33.9,151.2,cat,n\n")
    md = load_metadata(csv, root, sources)
    assert md.fields == ["title", "tags", "year", "date", "lat", "lng", "category", "notes"]
    a = row_for(md, sources, "a/1.jpg")
    assert a == {"title": "Spaced", "tags": ["x", "y", "z"], "year": 1884, "date": None,
                 "lat": 48.85, "lng": 2.35, "category": None, "notes": None}
    b = row_for(md, sources, "b/1.jpg")
    assert b["year"] == 1884 and b["date"] == "c. 1884" and b["lat"] is None and b["lng"] is None
    assert b["tags"] is None
    c = row_for(md, sources, "c.jpg")
    assert c["year"] == 1884 and c["date"] == "1884-86" and c["lat"] == 48.5 and c["lng"] is None
    d = row_for(md, sources, "d.png")
    assert d["year"] is None and d["date"] == "unknown"
    assert row_for(md, sources, "e.jpg")["year"] == 1884
    text = "\n".join(md.warnings)
    assert "1 year value could not be read" in text and "'unknown'" in text
    assert "2 lat values" not in text and "1 lat value" in text and "line 3" in text
    assert "2 lng values" in text


def test_existing_date_column_is_not_overwritten(tmp_path, photos):
    root, sources = photos
    csv = write(tmp_path / "m.csv", "filename,date,year\nc.jpg,spring 1884,sometime\n")
    md = load_metadata(csv, root, sources)
    assert md.fields == ["date", "year"]
    assert row_for(md, sources, "c.jpg") == {"date": "spring 1884", "year": None}


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiters(tmp_path, photos, delimiter):
    root, sources = photos
    text = "filename{d}title{d}category\nc.jpg{d}\"a, b; c\"{d}x\n".format(d=delimiter)
    md = load_metadata(write(tmp_path / "m.csv", text), root, sources)
    assert row_for(md, sources, "c.jpg") == {"title": "a, b; c", "category": "x"}


def test_bom_latin1_and_utf16(tmp_path, photos):
    root, sources = photos
    md = load_metadata(write(tmp_path / "bom.csv", "\ufefffilename,title\nc.jpg,Fête\n"), root, sources)
    assert row_for(md, sources, "c.jpg") == {"title": "Fête"} and md.warnings == []
    md = load_metadata(write(tmp_path / "l1.csv", "filename,title\nc.jpg,Fête\n", "latin-1"), root, sources)
    assert row_for(md, sources, "c.jpg") == {"title": "Fête"}
    assert any("not valid UTF-8" in w and "line 2" in w for w in md.warnings)
    md = load_metadata(write(tmp_path / "u16.txt", "\ufefffilename\ttitle\nc.jpg\tFête\n", "utf-16-le"),
                       root, sources)
    assert row_for(md, sources, "c.jpg") == {"title": "Fête"}


def test_key_column_names_and_multiline_values(tmp_path, photos):
    root, sources = photos
    csv = write(tmp_path / "m.csv", 'Image,description\nc.jpg,"two\nlines"\n\ne.jpg,after\n')
    fields, rows = read_rows(csv)
    assert fields == ["description"]
    assert rows == [(2, {"filename": "c.jpg", "description": "two\nlines"}),
                    (5, {"filename": "e.jpg", "description": "after"})]
    md = match(csv, (fields, rows), root, sources)
    assert row_for(md, sources, "c.jpg") == {"description": "two\nlines"}


def test_short_rows_padded_trailing_empty_cells_allowed(tmp_path, photos):
    root, sources = photos
    csv = write(tmp_path / "m.csv", "filename,title,year\nc.jpg,short\ne.jpg,t,1900,,\n")
    md = load_metadata(csv, root, sources)
    assert row_for(md, sources, "c.jpg") == {"title": "short", "year": None}
    assert row_for(md, sources, "e.jpg") == {"title": "t", "year": 1900}


def test_unterminated_quote_names_the_line(tmp_path):
    csv = write(tmp_path / "bad.csv", 'filename,title\na.jpg,ok\nb.jpg,"never closed\nc.jpg,x\n')
    with pytest.raises(MetadataError) as err:
        read_rows(csv)
    assert "bad.csv" in str(err.value) and "line 3" in str(err.value) and "quote" in str(err.value)


def test_too_many_cells_names_the_line(tmp_path):
    csv = write(tmp_path / "bad.csv", "filename,title\na.jpg,ok\nb.jpg,Paris, France\n")
    with pytest.raises(MetadataError, match=r"bad\.csv, line 3: this row has 3 cells but the header"):
        read_rows(csv)


def test_no_filename_column(tmp_path):
    with pytest.raises(MetadataError, match=r"line 1: no filename column.*name, title"):
        read_rows(write(tmp_path / "m.csv", "name,title\na.jpg,x\n"))
    with pytest.raises(MetadataError, match="header row"):
        read_rows(write(tmp_path / "m2.csv", "a.jpg,x\nb.jpg,y\n"))
    with pytest.raises(MetadataError, match="empty"):
        read_rows(write(tmp_path / "m3.csv", ""))
    with pytest.raises(MetadataError, match="not found"):
        read_rows(tmp_path / "missing.csv")
    (tmp_path / "book.xlsx").write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    with pytest.raises(MetadataError, match="save it as CSV"):
        read_rows(tmp_path / "book.xlsx")


def test_duplicate_and_empty_header_names(tmp_path, photos):
    root, sources = photos
    csv = write(tmp_path / "m.csv", "filename,note,,note,Year\nc.jpg,a,zzz,b,1900\n")
    md = load_metadata(csv, root, sources)
    assert md.fields == ["note", "note_2", "year"]
    assert row_for(md, sources, "c.jpg") == {"note": "a", "note_2": "b", "year": 1900}
    assert any("no name" in w for w in md.warnings) and any("used twice" in w for w in md.warnings)


# ---- JSON -------------------------------------------------------------------------------------------

def test_json_list(tmp_path, photos):
    root, sources = photos
    data = [{"filename": "c.jpg", "title": " T ", "tags": ["a", " ", "b "], "year": 1900.0,
             "lat": "1.5", "extra": {"k": 1}},
            {"filename": "1.jpg", "title": "ambiguous"},
            {"title": "no filename"}]
    text = "[\n" + ",\n\n".join(json.dumps(item) for item in data) + "\n]"
    path = write(tmp_path / "m.json", text)
    md = load_metadata(path, root, sources)
    assert md.fields == ["title", "tags", "year", "lat", "extra"]
    assert row_for(md, sources, "c.jpg") == {"title": "T", "tags": ["a", "b"], "year": 1900,
                                              "lat": 1.5, "extra": '{"k":1}'}
    fields, rows = read_rows(path)
    assert [line for line, _ in rows] == [2, 4, 6]  # where each object starts
    assert [(line, reason) for line, _, reason in md.unmatched][1] == (6, "no filename")


def test_json_wrapped_and_keyed(tmp_path, photos):
    root, sources = photos
    wrapped = write(tmp_path / "w.json", json.dumps({"version": 1, "images": [{"File": "c.jpg", "t": 1}]}))
    md = load_metadata(wrapped, root, sources)
    assert md.fields == ["t"] and row_for(md, sources, "c.jpg") == {"t": 1}
    keyed = write(tmp_path / "k.json",
                  '{\n"c.jpg": {"title": "C"},\n"a/1.jpg": {"title": "A", "lat": NaN}\n}')
    md = load_metadata(keyed, root, sources)
    assert row_for(md, sources, "c.jpg") == {"title": "C", "lat": None}
    assert row_for(md, sources, "a/1.jpg") == {"title": "A", "lat": None}
    assert [line for line, _ in read_rows(keyed)[1]] == [2, 3]


def test_bad_json_names_the_line(tmp_path):
    with pytest.raises(MetadataError, match=r"m\.json, line 4, column 1: not valid JSON"):
        read_rows(write(tmp_path / "m.json", '[\n{"filename": "a.jpg"},\n{"filename": "b.jpg"\n]'))
    with pytest.raises(MetadataError, match="line 3: item 2 is not an object"):
        read_rows(write(tmp_path / "m2.json", '[\n{"filename": "a.jpg"},\n"b.jpg"\n]'))
    with pytest.raises(MetadataError, match="no 'filename' key"):
        read_rows(write(tmp_path / "m3.json", '[{"title": "x"}]'))
    with pytest.raises(MetadataError, match="expected a list of objects"):
        read_rows(write(tmp_path / "m4.json", '"just a string"'))


# ---- the demo collection ----------------------------------------------------------------------------

def test_demo_metadata_matches_every_painting():
    for images in (DEMO / "images", DEMO):  # relative to the metadata file's folder, then to the root
        root, sources = find_images(images)
        md = load_metadata(DEMO / "metadata.csv", root, sources)
        assert md.matched == len(sources) == 267
        assert md.unmatched == [] and md.warnings == []
        assert "year" in md.fields and "filename" not in md.fields
        years = [row["year"] for row in md.rows if row["year"] is not None]
        assert years and all(isinstance(y, int) for y in years)


def test_pixplot_fields():
    assert PIXPLOT_FIELDS == ("category", "tags", "description", "permalink", "year", "label", "lat", "lng")


def test_many_rows_fast(tmp_path):
    n = 20000
    root = tmp_path / "big"
    root.mkdir()
    from pixmap.sources import ImageSource
    sources = [ImageSource(id=f"d{i % 50}--{i}", path=root / f"d{i % 50}" / f"{i}.jpg",
                           relpath=f"d{i % 50}/{i}.jpg") for i in range(n)]
    lines = ["filename,title,year"] + [f"{i}.jpg,t{i},{1800 + i % 200}" for i in range(n)]
    md = load_metadata(write(tmp_path / "m.csv", "\n".join(lines)), root, sources)
    assert md.matched == n and md.rows[123] == {"title": "t123", "year": 1923}


# ---- Unicode normalisation and the reasons of unmatched rows -----------------------------------------

def nfc(text):
    return unicodedata.normalize("NFC", text)


def nfd(text):
    return unicodedata.normalize("NFD", text)


@pytest.mark.parametrize("files_in, rows_in", [(nfd, nfc), (nfc, nfd)], ids=["nfd-files", "nfd-rows"])
def test_names_match_whatever_their_unicode_normalisation(tmp_path, files_in, rows_in):
    root = tmp_path / "images"
    for rel in ("Café/crème.jpg", "Ångström.png", "other/Ångström.png", "naïve.jpg"):
        (root / files_in(rel)).parent.mkdir(parents=True, exist_ok=True)
        (root / files_in(rel)).write_bytes(b"")
    root, sources = find_images(root)
    assert {s.relpath for s in sources} == {files_in(r) for r in ("Café/crème.jpg", "Ångström.png",
                                                                   "other/Ångström.png", "naïve.jpg")}
    csv = write(tmp_path / "m.csv", rows_in(
        "filename,title\n"
        "Café/crème.jpg,by relpath\n"
        "images/Ångström.png,relative to the metadata file\n"
        f"{root / 'other' / 'Ångström.png'},absolute\n"
        "NAÏVE.JPG,by file name and without case\n"))
    md = load_metadata(csv, root, sources)
    assert md.unmatched == [] and md.matched == 4
    assert row_for(md, sources, files_in("Café/crème.jpg")) == {"title": "by relpath"}
    assert row_for(md, sources, files_in("Ångström.png")) == {"title": "relative to the metadata file"}
    assert row_for(md, sources, files_in("other/Ångström.png")) == {"title": "absolute"}
    assert row_for(md, sources, files_in("naïve.jpg")) == {"title": "by file name and without case"}


def test_exact_name_wins_over_another_normalisation(tmp_path):
    root = tmp_path / "images"
    root.mkdir()
    (root / nfc("é.jpg")).write_bytes(b"")
    (root / nfd("é.jpg")).write_bytes(b"")  # two files on Linux: the names are different bytes
    root, sources = find_images(root)
    md = load_metadata(write(tmp_path / "m.csv", f"filename,title\n{nfd('é.jpg')},d\n{nfc('é.jpg')},c\n"),
                       root, sources)
    assert row_for(md, sources, nfd("é.jpg")) == {"title": "d"}
    assert row_for(md, sources, nfc("é.jpg")) == {"title": "c"}


def test_unmatched_rows_say_the_nearest_name_and_how_it_differs(tmp_path):
    root = tmp_path / "images"
    for rel in ("Café/crème.jpg", "photos/IMG_0001.JPG", "photos/IMG_0002.JPG", "sunset.png"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"")
    root, sources = find_images(root)
    csv = write(tmp_path / "m.csv",
                "filename,title\n"
                f"{nfd('Café/crème.jpeg')},extension and normalisation\n"
                "photos/IMG_0001,no extension\n"
                "elsewhere/img_0002.jpeg,extension and case\n"
                "sunset.jpg,extension\n"
                "sunsett.png,a typo\n"
                "nothing-like-it.gif,nothing near\n")
    md = load_metadata(csv, root, sources)
    reasons = {line: reason for line, _, reason in md.unmatched}
    assert reasons[2] == ("no image with this path or file name; the nearest image is 'Café/crème.jpg': "
                          "the names differ only in the extension and Unicode normalisation (NFC and "
                          "NFD, e.g. names copied from a Mac)")
    assert reasons[3].endswith("the nearest image is 'photos/IMG_0001.JPG': the names differ only in "
                               "the extension")
    assert reasons[4].endswith("the nearest image is 'photos/IMG_0002.JPG': the names differ only in "
                               "the extension and letter case")
    assert reasons[5].endswith("'sunset.png': the names differ only in the extension")
    assert reasons[6] == "no image with this path or file name; the nearest image is 'sunset.png'"
    assert reasons[7] == "no image with this path or file name"


# ---- size limits, nesting, encodings, special files -------------------------------------------------

def test_long_csv_values_are_read_and_the_limit_is_restored(tmp_path, photos):
    root, sources = photos
    before = csv_module.field_size_limit()
    long_text = "x" * 300_000  # over the csv module's default limit of 131072 characters
    md = load_metadata(write(tmp_path / "m.csv", f'filename,description\nc.jpg,"{long_text}"\n'),
                       root, sources)
    assert row_for(md, sources, "c.jpg") == {"description": long_text}
    assert csv_module.field_size_limit() == before


def test_a_value_over_the_limit_names_its_line_and_the_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(metadata_module, "CSV_FIELD_LIMIT", 200_000)
    before = csv_module.field_size_limit()
    path = write(tmp_path / "m.csv", 'filename,title\na.jpg,ok\nb.jpg,"' + "y" * 250_000 + '"\n')
    with pytest.raises(MetadataError) as err:
        read_rows(path)
    assert "m.csv, line 3" in str(err.value) and "longer than 200000 characters" in str(err.value)
    assert "quote" in str(err.value)
    assert csv_module.field_size_limit() == before


def test_deeply_nested_json_is_refused_clearly(tmp_path):
    deep = '[{"filename": "a.jpg", "x": ' + "[" * 100_000 + "]" * 100_000 + "}]"
    with pytest.raises(MetadataError, match=r"deep\.json: the JSON is nested too deeply"):
        read_rows(write(tmp_path / "deep.json", deep))
    fairly = '[{"filename": "a.jpg", "x": ' + "[" * 500 + "]" * 500 + "}]"  # parsed, but still too deep
    with pytest.raises(MetadataError, match="nested too deeply"):
        read_rows(write(tmp_path / "fairly.json", fairly))
    fields, rows = read_rows(write(tmp_path / "ok.json", '[{"filename": "a.jpg", "x": [[[1]]]}]'))
    assert rows[0][1]["x"] == [[[1]]]


def test_json_number_too_long_is_refused_clearly(tmp_path):
    with pytest.raises(MetadataError, match=r"n\.json: a value cannot be read"):
        read_rows(write(tmp_path / "n.json", '[{"filename": "a.jpg", "n": ' + "9" * 5000 + "}]"))


def test_utf16_without_bom_utf32_and_broken_encodings(tmp_path, photos):
    root, sources = photos
    text = "filename,title\nc.jpg,Fête\n"
    for encoding in ("utf-16-le", "utf-16-be"):
        md = load_metadata(write(tmp_path / f"{encoding}.csv", text, encoding), root, sources)
        assert row_for(md, sources, "c.jpg") == {"title": "Fête"}
        assert any("UTF-16 without a byte order mark" in w for w in md.warnings)
    md = load_metadata(write(tmp_path / "u32.csv", "\ufeff" + text, "utf-32-le"), root, sources)
    assert row_for(md, sources, "c.jpg") == {"title": "Fête"} and md.warnings == []
    broken = codecs.BOM_UTF16_LE + "filename\nc.jpg\n".encode("utf-16-le") + b"\x00\xdc"  # lone surrogate
    (tmp_path / "bad.csv").write_bytes(broken)
    with pytest.raises(MetadataError, match=r"bad\.csv, line 3: the file starts like UTF-16 text"):
        read_rows(tmp_path / "bad.csv")
    (tmp_path / "binary.csv").write_bytes(b"filename,title\n\x00\x01\x02\x03\xff\xfe\x00\x00\x17")
    with pytest.raises(MetadataError, match=r"binary\.csv, line 2: the file contains zero bytes"):
        read_rows(tmp_path / "binary.csv")


def test_metadata_path_that_is_a_named_pipe_is_refused_without_blocking(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes here")
    pipe = tmp_path / "m.csv"
    os.mkfifo(pipe)
    outcome = []

    def attempt():
        try:
            read_rows(pipe)
        except MetadataError as e:
            outcome.append(e)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(10)
    if worker.is_alive():
        os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(10)
        pytest.fail("reading the metadata blocked on a named pipe")
    assert outcome and "not a regular file" in str(outcome[0])
