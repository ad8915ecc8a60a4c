"""Curated hotspots (pixmap.curation): the viewer's hotspots.json read back by a build, on small arrays."""
from __future__ import annotations

import json

import numpy as np
import pytest

from pixmap import content, curation, findindex
from pixmap.clusters import Clustering, Hotspot
from pixmap.options import DEFAULTS, OptionError, check_options

IDS = [f"img-{k:02d}" for k in range(12)]


def write(path, hotspots, **top):
    doc = {"format": "pixmap-hotspots", "version": 1, "site": "Test", "saved": "2026-01-02T03:04:05Z",
           "hotspots": hotspots, **top}
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def points():
    """12 points on a line: 0..11 (the medoid of a run of them is its middle)."""
    return np.arange(12, dtype=np.float64)[:, None] * np.array([[1.0, 0.5]]) + np.array([[1.0, 1.0]])


# ------------------------------------------------------------------------------------ reading
def test_reads_the_viewers_file(tmp_path):
    path = write(tmp_path / "hotspots.json", [
        {"name": "Roses", "representative": "img-01", "images": ["img-00", "img-01", "img-02"]},
        {"name": "  Cluster 3  ", "representative": None, "images": ["img-05"]},
    ])
    cur = curation.read_hotspots(path)
    assert cur.site == "Test" and cur.saved == "2026-01-02T03:04:05Z" and cur.warnings == []
    assert [(h.name, h.representative, h.images) for h in cur.hotspots] == [
        ("Roses", "img-01", ["img-00", "img-01", "img-02"]), ("  Cluster 3  ", None, ["img-05"])]


@pytest.mark.parametrize("text, expected", [
    ("{not json", "not valid JSON"),
    ('{"format": "something-else", "version": 1, "hotspots": []}', "not a pixmap hotspots file"),
    ('["a", "b"]', "not a pixmap hotspots file"),
    ('{"format": "pixmap-hotspots", "version": 2, "hotspots": []}', "update pixmap"),
    ('{"format": "pixmap-hotspots", "version": "1", "hotspots": []}', '"version" must be'),
    ('{"format": "pixmap-hotspots", "version": 1, "hotspots": {"a": 1}}', '"hotspots" must be a list'),
])
def test_a_file_that_cannot_be_used_is_refused_by_name(tmp_path, text, expected):
    path = tmp_path / "mine.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(curation.CurationError) as err:
        curation.read_hotspots(path)
    assert str(path) in str(err.value) and expected in str(err.value)


def test_a_missing_file_says_what_to_give(tmp_path):
    with pytest.raises(curation.CurationError, match="no such file; give the hotspots.json"):
        curation.read_hotspots(tmp_path / "gone.json")


def test_bad_entries_are_skipped_with_a_warning_not_the_whole_file(tmp_path):
    path = write(tmp_path / "h.json", [
        "just text",
        {"name": "", "images": ["img-00"]},
        {"name": "No list", "images": "img-00"},
        {"name": "Mixed", "representative": 7, "images": ["img-03", 4, None, "img-04"]},
        {"name": "Fine", "images": ["img-06"]},
    ])
    cur = curation.read_hotspots(path)
    assert [h.name for h in cur.hotspots] == ["Mixed", "Fine"]
    assert cur.hotspots[0].images == ["img-03", "img-04"] and cur.hotspots[0].representative is None
    text = "\n".join(cur.warnings)
    assert "hotspot 1 is not an object" in text and "hotspot 2 has no \"name\"" in text
    assert "hotspot 3 ('No list')" in text and "2 image id(s) that are not text" in text
    assert "\"representative\" is not an image id" in text
    assert all(str(path) in w for w in cur.warnings)


# ------------------------------------------------------------------------------------ matching
def test_curated_hotspots_replace_hdbscans_in_the_files_order_by_id(tmp_path):
    path = write(tmp_path / "h.json", [
        {"name": "Small first", "representative": "img-09", "images": ["img-09", "img-10"]},
        {"name": "Cluster 7", "representative": "img-02", "images": ["img-00", "img-01", "img-02", "img-03"]},
    ])
    # the new build lists the images in another order than the site the file was saved from
    ids = IDS[::-1]
    res = curation.apply_curation(curation.read_hotspots(path), ids, points())
    c = res.clustering
    assert c.method == "curated" and res.missing_ids == [] and res.warnings == []
    assert [(h.id, h.label, h.size) for h in c.hotspots] == [(0, "Small first", 2), (1, "Cluster 7", 4)]
    by_id = dict(zip(ids, c.labels.tolist()))
    assert {k for k, v in by_id.items() if v == 0} == {"img-09", "img-10"}
    assert {k for k, v in by_id.items() if v == 1} == {"img-00", "img-01", "img-02", "img-03"}
    assert res.unassigned == 6 and all(v == -1 for k, v in by_id.items() if k in IDS[4:9] + IDS[11:])
    assert ids[c.hotspots[0].representative] == "img-09" and ids[c.hotspots[1].representative] == "img-02"
    assert c.labels.dtype == np.int32 and len(c.labels) == 12


def test_missing_ids_are_reported_and_skipped(tmp_path):
    gone = [f"gone-{k}" for k in range(7)]
    path = write(tmp_path / "h.json", [
        {"name": "A", "representative": "img-00", "images": ["img-00", *gone[:4], "img-01"]},
        {"name": "B", "representative": "img-05", "images": ["img-05", *gone[4:], gone[0]]},
    ])
    res = curation.apply_curation(curation.read_hotspots(path), IDS, points())
    assert res.missing_ids == gone                                       # each once, in the file's order
    assert [h.size for h in res.clustering.hotspots] == [2, 1]
    (warning,) = [w for w in res.warnings if "not in this build" in w]
    assert str(path) in warning and "7 image id(s)" in warning
    assert '"gone-0"' in warning and '"gone-4"' in warning and "and 2 more" in warning
    assert curation.manifest_entry(curation.read_hotspots(path), res) == \
        {"file": "h.json", "hotspots": 2, "missing_ids": 7}


def test_a_gone_representative_falls_back_to_the_medoid(tmp_path):
    path = write(tmp_path / "h.json", [
        {"name": "Gone rep", "representative": "deleted-image", "images": ["img-02", "img-03", "img-04", "deleted-image"]},
        {"name": "Rep elsewhere", "representative": "img-00", "images": ["img-06", "img-07", "img-08"]},
        {"name": "No rep", "representative": None, "images": ["img-09", "img-10", "img-11"]},
    ])
    res = curation.apply_curation(curation.read_hotspots(path), IDS, points())
    reps = [IDS[h.representative] for h in res.clustering.hotspots]
    assert reps == ["img-03", "img-07", "img-10"]                        # the middle of each run
    text = "\n".join(res.warnings)
    assert "'deleted-image') is not in this build" in text and "'img-00') is not one of its images" in text


def test_a_hotspot_left_empty_is_dropped_and_the_ids_stay_dense(tmp_path):
    path = write(tmp_path / "h.json", [
        {"name": "First", "representative": "img-00", "images": ["img-00"]},
        {"name": "All gone", "representative": "x", "images": ["x", "y"]},
        {"name": "Empty", "representative": None, "images": []},
        {"name": "Last", "representative": "img-11", "images": ["img-11"]},
    ])
    res = curation.apply_curation(curation.read_hotspots(path), IDS, points())
    assert [(h.id, h.label) for h in res.clustering.hotspots] == [(0, "First"), (1, "Last")]
    assert res.clustering.labels[0] == 0 and res.clustering.labels[11] == 1
    dropped = [w for w in res.warnings if "dropped" in w]
    assert len(dropped) == 2 and "'All gone'" in dropped[0] and "'Empty'" in dropped[1]


def test_an_image_in_two_hotspots_stays_in_the_first(tmp_path):
    path = write(tmp_path / "h.json", [
        {"name": "A", "representative": "img-01", "images": ["img-01", "img-02", "img-02"]},
        {"name": "B", "representative": "img-02", "images": ["img-02", "img-03"]},
    ])
    res = curation.apply_curation(curation.read_hotspots(path), IDS, points())
    assert res.clustering.labels[1:4].tolist() == [0, 0, 1]
    assert [h.size for h in res.clustering.hotspots] == [2, 1]
    assert IDS[res.clustering.hotspots[1].representative] == "img-03"   # img-02 is A's
    assert any("named by two hotspots" in w and '"img-02"' in w for w in res.warnings)


# ------------------------------------------------------------------------------------ the build's choice
def test_which_file_a_build_uses(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    given = write(tmp_path / "given.json", [])
    assert curation.find_hotspots_file(None, site) == (None, None)
    assert curation.find_hotspots_file(str(given), site) == (given, None)
    write(site / "hotspots.json", [{"name": "Kept", "images": ["img-00"]}])
    path, note = curation.find_hotspots_file(None, site)
    assert path == site / "hotspots.json" and "--hotspots none" in note and str(path) in note
    assert curation.find_hotspots_file(str(given), site) == (given, None)     # given wins
    assert curation.find_hotspots_file("none", site) == (None, None)          # turned off
    found = curation.for_build(None, site)
    assert [h.name for h in found.hotspots] == ["Kept"] and found.note == note
    res = curation.apply_curation(found, IDS, points())
    assert curation.notes(found, res)[0] == note


def test_the_option_is_checked_before_any_work(tmp_path):
    with pytest.raises(OptionError, match="hotspots file not found: .*gone.json"):
        check_options({**DEFAULTS, "hotspots": str(tmp_path / "gone.json")})
    check_options({**DEFAULTS, "hotspots": "none"})
    check_options({**DEFAULTS, "hotspots": str(write(tmp_path / "h.json", []))})


def test_curated_names_are_never_relabelled_by_content():
    """findindex.relabel_hotspots names HDBSCAN's "Cluster N" hotspots by content terms, never curated ones."""
    n = 20
    classes = np.full((n, 1), 1, np.int16)      # goldfish ...
    classes[:10, 0] = 207                       # ... and golden retrievers in the first ten
    probs = np.full((n, 1), 0.9, np.float32)
    found = findindex.Found(terms=content.content_terms(classes, probs), colours=np.zeros((n, 13), np.uint8),
                            lang="en")
    labels = np.array([0] * 10 + [-1] * 10, np.int32)

    def clustering(method):
        return Clustering(labels=labels.copy(), hotspots=[Hotspot(0, "Cluster 1", 10, 0)], method=method)

    automatic, curated = clustering("hdbscan"), clustering("curated")
    findindex.relabel_hotspots(automatic, found)
    findindex.relabel_hotspots(curated, found)
    assert automatic.hotspots[0].label != "Cluster 1" and "dog" in automatic.hotspots[0].label
    assert curated.hotspots[0].label == "Cluster 1"
