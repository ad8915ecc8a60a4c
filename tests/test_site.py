import json

import numpy as np
import pytest

from pixmap import site
from pixmap.layouts.base import Layout, normalise


def test_normalise_centres_and_scales_keeping_aspect():
    lay = Layout("x", "X", np.array([[0, 0], [4, 2], [2, 1]], np.float32),
                 labels=[{"text": "a", "x": 4, "y": 2}], point_size=0.4)
    n = normalise(lay)
    assert np.allclose(n.positions, [[-1, -0.5], [1, 0.5], [0, 0]])
    assert n.labels[0]["x"] == 1 and n.labels[0]["y"] == 0.5
    assert n.point_size == pytest.approx(0.2)


def test_write_layout_and_metadata(tmp_path):
    lay = Layout("date", "Date", np.array([[0, 0], [2, 2]], np.float32), labels=[{"text": "1880", "x": 0, "y": 0}],
                 lines=[np.array([[0, 0], [2, 0]], np.float32)])
    entry = site.write_layout(tmp_path, lay)
    assert entry["file"] == "data/layouts/date.f32" and entry["dims"] == 2
    pos = np.fromfile(tmp_path / entry["file"], "<f4").reshape(2, 2)
    assert np.allclose(pos, [[-1, -1], [1, 1]])
    assert json.loads((tmp_path / entry["lines"]).read_text()) == [[-1, -1, 1, -1]]
    site.write_metadata(tmp_path / "m.json", ["a"], ["filename", "year"], [["a.jpg", np.int64(3)]])
    assert json.loads((tmp_path / "m.json").read_text())["rows"] == [["a.jpg", 3]]


def test_viewer_is_found_and_copied(tmp_path):
    site.copy_viewer(tmp_path)
    assert (tmp_path / "index.html").exists()


def test_deep_zoom_entries_prefer_local_tiles_then_the_iiif_service():
    from types import SimpleNamespace

    from pixmap.sources import ImageSource

    local = ImageSource(id="a", path=None, relpath="a.jpg")
    remote = ImageSource(id="b", path=None, relpath="iiif/x/b",
                         remote=SimpleNamespace(service={"id": "https://m.org/iiif/b/"}))
    bare = ImageSource(id="c", path=None, relpath="iiif/x/c", remote=SimpleNamespace(service=None))
    assert site.deep_zoom_entries([local, remote, bare], {0: "data/tiles/a/info.json"}) == [
        "data/tiles/a/info.json", "https://m.org/iiif/b/info.json", None]


def test_shard_of_is_fnv1a_of_the_utf8_id():
    # FNV-1a 32 of "a" is 0xe40c292c (the published test vector); the viewer's shardOf gives the same
    assert site.shard_of("a") == "2c" and site.shard_of("") == "c5"
    assert site.shard_of("köln--Straße_~1a2b3c4d") == "27" and site.shard_of("Ελληνικά") == "91"
    entry = {"dir": "data/lightbox", "ext": "webp", "shard": site.SHARD}
    assert site.image_file(entry, "a") == "data/lightbox/2c/a.webp"
    assert site.image_file({"dir": "data/thumbs", "ext": "jpg"}, "a") == "data/thumbs/a.jpg"   # versions 1-2


def test_metadata_and_ids_in_chunks_numeric_columns_as_arrays(tmp_path):
    n = 2500
    ids = [f"img-{i}" for i in range(n)]
    fields = ["filename", "width", "year", "title", "score"]
    rows = [[f"{i}.jpg", 100 + i, (1900 + i % 50) if i % 7 else None, f"t{i}" if i % 3 else 5, np.float32(i / 4)]
            for i in range(n)]
    data = tmp_path / "data"
    metadata, id_entry = site.write_chunks(data, ids, fields, rows, chunk=1000, ids_chunk=1024)
    assert metadata == {"fields": fields, "chunk": 1000, "dir": "data/metadata",
                        "columns": {"width": "data/columns/1.f32", "year": "data/columns/2.f32",
                                    "score": "data/columns/4.f32"}}   # title mixes text and numbers: no array
    assert id_entry == {"chunk": 1024, "dir": "data/ids"}
    assert sorted(p.name for p in (data / "metadata").iterdir()) == ["0.json", "1.json", "2.json"]
    assert len(json.loads((data / "metadata" / "2.json").read_text())) == 500
    assert json.loads((data / "ids" / "2.json").read_text()) == ids[2048:]
    year = np.fromfile(data / "columns" / "2.f32", "<f4")
    assert len(year) == n and np.isnan(year[0]) and year[1] == 1901
    (tmp_path / "data" / "manifest.json").write_text(json.dumps(
        {"count": n, "metadata": metadata, "ids": id_entry}))
    back = site.read_metadata(tmp_path)
    assert back["ids"] == ids and back["fields"] == fields
    assert back["rows"][10] == ["10.jpg", 110, 1910, "t10", 2.5] and back["rows"][7][2] is None
    # a version-1/2 site: one metadata.json
    (tmp_path / "old" / "data").mkdir(parents=True)
    site.write_metadata(tmp_path / "old" / "data" / "metadata.json", ids[:2], fields[:1], [["a"], ["b"]])
    (tmp_path / "old" / "data" / "manifest.json").write_text(json.dumps({"count": 2, "metadata": "data/metadata.json"}))
    assert site.read_metadata(tmp_path / "old")["rows"] == [["a"], ["b"]]
