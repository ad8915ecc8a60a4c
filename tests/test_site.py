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
