"""pixmap.frames: a real build from a pandas DataFrame (local paths, a plain image URL and an IIIF Image API
URL served by a real HTTP server), Parquet metadata, and load()/to_pandas() back out."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

from pixmap import frames, metadata as metadataio, sources  # noqa: E402
from tests.iiif_server import IIIFServer, SHARED_IIIF  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
IMAGES = REPO / "datasets" / "aic-paintings" / "images"
NAMES = sorted(p.name for p in IMAGES.iterdir())[:20]


def _frame():
    return pd.DataFrame({
        "path": [str(IMAGES / n) for n in NAMES],
        "label": ["ab"[i % 2] for i in range(len(NAMES))],
        "score": np.linspace(0.5, 2.0, len(NAMES)),
        "count": np.arange(len(NAMES), dtype="int64"),
        "when": pd.to_datetime([f"{1800 + i}-03-0{1 + i % 9}" for i in range(len(NAMES))]),
        "keywords": [["sky", "sea"] if i % 3 == 0 else ["portrait"] for i in range(len(NAMES))],
    })


def test_values_keep_their_kind():
    fields, rows = frames.rows_from_frame(_frame(), "path")
    assert fields == ["label", "score", "count", "when", "keywords", "year", "tags"]
    n, first = rows[0]
    assert n == 1 and first["filename"] == str(IMAGES / NAMES[0])
    assert isinstance(first["score"], float) and first["score"] == 0.5
    assert isinstance(first["count"], int) and first["count"] == 0
    assert first["when"] == "1800-03-01" and first["year"] == 1800
    assert first["keywords"] == "sky|sea" and first["tags"] == ["sky", "sea"]
    assert rows[1][1]["tags"] == ["portrait"]


def test_a_missing_column_says_which_columns_there_are():
    with pytest.raises(frames.FrameError, match="no column 'file'.*path, label"):
        frames.rows_from_frame(_frame(), "file")


def test_parquet_metadata_is_read_with_numbers_dates_and_tags(tmp_path):
    df = _frame().rename(columns={"path": "filename"})
    df["filename"] = NAMES
    df["Year"] = [1850 + i for i in range(len(NAMES))]
    path = tmp_path / "meta.parquet"
    df.to_parquet(path)
    root, srcs = sources.find_images(IMAGES, max_images=25)
    md = metadataio.load_metadata(path, root, srcs)
    assert md.matched == len(NAMES) and not md.unmatched
    assert "year" in md.fields and "score" in md.fields   # "Year" is the viewer's year
    row = md.rows[0]
    assert row["year"] == 1850 and row["count"] == 0 and row["score"] == 0.5
    assert row["when"] == "1800-03-01" and row["tags"] == ["sky", "sea"]


def test_a_broken_parquet_file_is_a_clear_error(tmp_path):
    path = tmp_path / "meta.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    root, srcs = sources.find_images(IMAGES, max_images=3)
    with pytest.raises(metadataio.MetadataError, match="meta.parquet: not a readable Parquet file"):
        metadataio.load_metadata(path, root, srcs)


@pytest.fixture(scope="module")
def frame_build(tmp_path_factory):
    import pixmap

    tmp = tmp_path_factory.mktemp("frames")
    df = _frame()
    with IIIFServer(SHARED_IIIF, IMAGES) as srv:
        extra = pd.DataFrame({"path": [srv.url + "plain/photo.jpg", srv.url + "img/level2/item7/info.json",
                                       str(tmp_path_factory.getbasetemp() / "missing.jpg"), None],
                              "label": ["url", "iiif", "gone", "none"], "score": [3.0, 4.0, 5.0, 6.0],
                              "count": [100, 101, 102, 103]})
        whole = pd.concat([df, extra], ignore_index=True)
        result = pixmap.build(images=whole, image_column="path", out_dir=tmp / "site", cache_dir=tmp / "cache",
                              progress=False)
    return whole, result


def test_a_dataframe_builds_a_map_with_its_columns_as_metadata(frame_build):
    whole, result = frame_build
    assert result.n_images == 22   # 20 files, one image URL, one IIIF image; the missing file and the empty row skipped
    reasons = " ".join(r for _, r in result.skipped)
    assert "no such file" in reasons and "no path or URL in column 'path'" in reasons
    manifest = json.loads((result.out_dir / "data" / "manifest.json").read_text())
    assert {"score", "count", "year", "tags", "label"} <= set(manifest["metadata"]["fields"])
    assert "score" in manifest["metadata"]["columns"]   # numbers stay numbers: a numeric column


def test_load_round_trips_ids_positions_hotspots_and_metadata(frame_build):
    import pixmap

    whole, result = frame_build
    df = pixmap.load(result.out_dir)
    site = result.out_dir
    ids = []
    for k in sorted((site / "data" / "ids").glob("*.json")):
        ids += json.loads(k.read_text())
    assert df["id"].tolist() == ids and len(df) == 22
    manifest = json.loads((site / "data" / "manifest.json").read_text())
    for lay in manifest["layouts"]:
        pos = np.fromfile(site / lay["file"], dtype="<f4").reshape(22, lay["dims"])
        assert np.array_equal(df[f"{lay['name']}_x"].to_numpy(np.float32), pos[:, 0])
        assert np.array_equal(df[f"{lay['name']}_y"].to_numpy(np.float32), pos[:, 1])
        assert (f"{lay['name']}_z" in df) == (lay["dims"] == 3)
    labels = np.fromfile(site / "data" / "clusters.i32", dtype="<i4")
    assert df["hotspot"].tolist() == labels.tolist()
    names = {h["id"]: h["label"] for h in manifest["clusters"]["hotspots"]}
    assert df["hotspot_label"].tolist() == [names.get(v) for v in labels]
    by_source = {s: row for s, row in zip(df["source"], df.to_dict("records"))}
    first = by_source[str(IMAGES / NAMES[0])]
    assert first["score"] == 0.5 and first["count"] == 0 and first["year"] == 1800
    assert any(str(s).endswith("info.json") or "item7" in str(s) for s in df["source"])
    assert result.to_pandas().equals(df)


def test_load_of_the_artifacts_gives_the_unnormalised_positions(frame_build):
    import pixmap

    _, result = frame_build
    df = pixmap.load(result.artifacts_dir)
    umap = np.load(result.artifacts_dir / "layout_umap.npy")
    assert np.array_equal(df["umap_x"].to_numpy(np.float32), umap[:, 0])
    assert df["id"].tolist() == pixmap.load(result.out_dir)["id"].tolist()


def test_load_says_what_a_folder_is_not(tmp_path):
    import pixmap

    with pytest.raises(FileNotFoundError, match="neither a site"):
        pixmap.load(tmp_path)


def test_load_and_info_read_a_version_2_site(frame_build, tmp_path):
    """A site as versions 1-2 wrote it (one data/metadata.json, no ids files) loads the same."""
    import shutil

    import pixmap
    from pixmap import info, site as sitefiles

    _, result = frame_build
    old = tmp_path / "old"
    shutil.copytree(result.out_dir, old)
    meta = sitefiles.read_metadata(old)
    (old / "data" / "metadata.json").write_text(json.dumps(meta))
    manifest = json.loads((old / "data" / "manifest.json").read_text())
    manifest.update(version=2, metadata="data/metadata.json")
    for key in ("ids", "clusterings", "search", "facets", "neighbors", "vectors", "report", "duplicates"):
        manifest.pop(key, None)
    (old / "data" / "manifest.json").write_text(json.dumps(manifest))
    shutil.rmtree(old / "data" / "ids")
    before, after = pixmap.load(result.out_dir), pixmap.load(old)
    assert after["id"].tolist() == before["id"].tolist()
    assert np.array_equal(after["umap_x"].to_numpy(), before["umap_x"].to_numpy())
    assert after["score"].tolist() == before["score"].tolist()
    facts = info.describe(old)
    assert facts["format_version"] == 2 and facts["count"] == 22 and "score" in facts["fields"]
