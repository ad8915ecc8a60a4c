"""Bring your own vectors, positions and labels (pixmap.byo): the readers, the matching and its reports, and
real builds of demo paintings with them (the model not loaded, the given positions and labels in the site)."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import pixmap
from pixmap import byo
from pixmap.options import DEFAULTS, OptionError, check_options
from pixmap.sources import find_images

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "datasets" / "aic-paintings"
N = 40


def demo_images(n=N) -> list[Path]:
    return sorted(p for p in (DEMO / "images").iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:n]


def images_csv(artifacts: Path) -> list[dict]:
    with open(artifacts / "images.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def site_layout(site: Path, name: str) -> np.ndarray:
    manifest = json.loads((site / "data" / "manifest.json").read_text())
    entry = next(e for e in manifest["layouts"] if e["name"] == name)
    return np.fromfile(site / entry["file"], dtype="<f4").reshape(-1, entry["dims"])


# ------------------------------------------------------------------------------------------ real builds

@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """The first 40 paintings built normally (the model runs: the cache is off)."""
    tmp = tmp_path_factory.mktemp("byo-base")
    res = pixmap.build(images=[str(p) for p in demo_images()], out_dir=tmp / "site", cache_dir="none",
                       layouts="umap,grid", progress=False)
    return res, tmp


@pytest.fixture(scope="module")
def given_vectors(base):
    """The base build's own vectors (artifacts features.npy, ids from images.csv) as an .npy + ids file."""
    res, tmp = base
    feats = np.load(res.artifacts_dir / "features.npy")
    ids = [r["id"] for r in images_csv(res.artifacts_dir)]
    folder = tmp / "given"
    folder.mkdir()
    np.save(folder / "clip.npy", feats[::-1])                   # in another order than the build's: matched by id
    (folder / "clip.ids.txt").write_text("\n".join(ids[::-1]) + "\n")
    return folder / "clip.npy", feats, ids


def test_given_vectors_reproduce_the_layout_without_loading_the_model(base, given_vectors, tmp_path):
    res, _ = base
    npy, feats, ids = given_vectors
    assert res.model_loaded and res.n_computed == N
    # a separate Python, so that "TensorFlow was never imported" can be checked
    script = textwrap.dedent(f"""
        import json, sys
        import pixmap
        r = pixmap.build(images={[str(p) for p in demo_images()]!r}, out_dir={str(tmp_path / 'site')!r},
                         cache_dir="none", layouts="umap,grid", progress=False, vectors_file={str(npy)!r})
        print(json.dumps({{"tf": "tensorflow" in sys.modules, "keras": "keras" in sys.modules,
                          "loaded": r.model_loaded, "computed": r.n_computed, "n": r.n_images,
                          "warnings": r.warnings, "model_s": r.timings.get("model_inference")}}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["n"] == N and got["computed"] == 0 and not got["loaded"] and got["model_s"] == 0
    assert not got["tf"] and not got["keras"], "the model's libraries were imported"
    assert any("content terms (ImageNet classes) not computed" in w for w in got["warnings"])
    art = tmp_path / "site-artifacts"
    assert [r["id"] for r in images_csv(art)] == ids
    np.testing.assert_array_equal(np.load(art / "features.npy"), feats)
    for name in ("umap", "grid"):   # bit for bit: the same vectors, seed and machine give the same map
        np.testing.assert_array_equal(np.load(art / f"layout_{name}.npy"),
                                      np.load(res.artifacts_dir / f"layout_{name}.npy"))
    config = json.loads((art / "config.json").read_text())
    assert config["options"]["vectors_file"] == str(npy) and config["n_features_computed"] == 0


@pytest.fixture(scope="module")
def mixed(base, given_vectors, tmp_path_factory):
    """A build with a vectors CSV holding every kind of bad row, 3D positions, labels and --zip."""
    res, _ = base
    _, feats, ids = given_vectors
    rows = images_csv(res.artifacts_dir)
    names = [Path(r["path"]).name for r in rows]
    tmp = tmp_path_factory.mktemp("byo-mixed")
    d = feats.shape[1]
    body = []
    for i, (ident, name) in enumerate(zip(ids, names)):
        if i == 3:
            continue                                                   # a missing row: image 3 has no vector
        key = name if i % 2 else ident                                 # by file name or by id
        body.append([key] + [repr(float(v)) for v in feats[i]])
    body.insert(5, ["no-such-painting.jpg"] + ["0.5"] * d)             # an extra id (line 7)
    body.insert(10, [ids[7]] + ["0.25"] * d)                           # a duplicate of image 7 (line 12)
    body.insert(15, [ids[3]] + ["1.0"] * (d - 2))                      # image 3, but a wrong-length row (line 17)
    vectors = write_csv(tmp / "vectors.csv", ["id"] + [f"d{j}" for j in range(d)], body)
    rng = np.random.default_rng(5)
    xyz = rng.uniform(-50, 150, size=(N, 3))
    coords_rows = [[ids[i], *xyz[i]] for i in range(N) if i != 10]     # image 10 has no position
    coords_rows.append([ids[10], "nan", "1", "2"])                      # its only row has a NaN: reported
    coords = write_csv(tmp / "coords.csv", ["filename", "x", "y", "z"], coords_rows)
    kinds = ["roses", "Tulips", "-1", "", "daisies"]
    labels = write_csv(tmp / "labels.csv", ["id", "label"], [[ids[i], kinds[i % 5]] for i in range(N)])
    out = pixmap.build(images=[str(p) for p in demo_images()], out_dir=tmp / "site", cache_dir="none",
                       layouts="umap,grid,umap-spread", progress=False, vectors=str(vectors), coords=str(coords),
                       labels=str(labels), zip=True)
    return out, ids, names, xyz, kinds


def test_every_bad_row_is_reported_by_line_and_id_and_the_build_goes_on(mixed):
    res, ids, names, _, _ = mixed
    text = "\n".join(res.warnings)
    assert "vectors.csv, line 7 (id 'no-such-painting.jpg'): no image with this path or file name" in text
    assert f"vectors.csv, line 12 (id '{ids[7]}'): duplicate:" in text and "first is used" in text
    assert f"vectors.csv, line 17 (id '{ids[3]}'): {feats_len(res) - 2} values, the header has" in text
    assert f"coords.csv, line {N + 1} (id '{ids[10]}'): a value is not a finite number" in text
    skipped = dict(res.skipped)
    left_out = {Path(p).name: why for p, why in skipped.items()}
    assert "no feature vector in vectors.csv" in left_out[names[3]]
    assert "no position in coords.csv" in left_out[names[10]]
    assert res.n_images == N - 2 and not res.model_loaded
    kept = [r["id"] for r in images_csv(res.artifacts_dir)]
    assert kept == [i for k, i in enumerate(ids) if k not in (3, 10)]
    # image 7 got its own vector (the first row), not the duplicate's
    feats = np.load(res.artifacts_dir / "features.npy")
    assert not np.allclose(feats[kept.index(ids[7])], 0.25)


def feats_len(res) -> int:
    return np.load(res.artifacts_dir / "features.npy").shape[1]


def test_given_positions_are_the_umap_layouts_and_the_derived_ones_follow(mixed):
    from pixmap.layouts import grid
    from pixmap.layouts.base import Layout, normalise

    res, ids, _, xyz, _ = mixed
    keep = [k for k in range(N) if k not in (3, 10)]
    want = xyz[keep].astype(np.float32)
    np.testing.assert_array_equal(np.load(res.artifacts_dir / "layout_umap.npy"), want[:, :2])
    np.testing.assert_array_equal(np.load(res.artifacts_dir / "layout_umap-3d.npy"), want)
    site_xy = site_layout(res.out_dir, "umap")
    np.testing.assert_allclose(site_xy, normalise(Layout("umap", "", want[:, :2])).positions, atol=1e-6)
    assert np.abs(site_xy).max() == pytest.approx(1.0)
    manifest = json.loads((res.out_dir / "data" / "manifest.json").read_text())
    labels = {e["name"]: e["label"] for e in manifest["layouts"]}
    assert labels["umap"] == "Your layout" and labels["umap-3d"] == "Your layout (3D)"
    assert [e["name"] for e in manifest["layouts"]] == ["umap", "umap-3d", "grid", "umap-spread"]
    np.testing.assert_array_equal(np.load(res.artifacts_dir / "layout_grid.npy"),
                                  grid.grid_layout(want[:, :2]).positions.astype(np.float32))


def test_given_labels_are_the_hotspots(mixed):
    res, _, _, _, kinds = mixed
    keep = [k for k in range(N) if k not in (3, 10)]
    manifest = json.loads((res.out_dir / "data" / "manifest.json").read_text())
    spots = manifest["clusters"]["hotspots"]
    assert manifest["clusters"]["method"] == "labels"
    assert sorted(h["label"] for h in spots) == ["Tulips", "daisies", "roses"]
    labels = np.fromfile(res.out_dir / "data" / "clusters.i32", dtype="<i4")
    want = [kinds[k % 5] for k in keep]
    for h in spots:
        members = np.flatnonzero(labels == h["id"])
        assert [want[i] for i in members] == [h["label"]] * len(members) and h["size"] == len(members)
        assert h["representative"] in members
    assert sorted(np.flatnonzero(labels == -1).tolist()) == [i for i, k in enumerate(want) if k in ("-1", "")]
    sizes = [h["size"] for h in spots]
    assert sizes == sorted(sizes, reverse=True)


def test_zip_holds_the_site_and_opens(mixed):
    import zipfile

    res = mixed[0]
    path = res.zip_path
    assert path == res.out_dir.with_name("site.zip") and path.is_file()
    assert not path.with_name("site.zip.part").exists()
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None
        names = set(z.namelist())
        assert {"site/index.html", "site/data/manifest.json", "site/data/clusters.i32"} <= names
        info = {i.filename: i for i in z.infolist()}
        assert info["site/data/manifest.json"].compress_type == zipfile.ZIP_DEFLATED
        webp = [i for n, i in info.items() if n.endswith(".webp")]
        assert webp and all(i.compress_type == zipfile.ZIP_STORED for i in webp)
        assert json.loads(z.read("site/data/manifest.json"))["count"] == res.n_images
    site_files = {str(p.relative_to(res.out_dir)) for p in res.out_dir.rglob("*") if p.is_file()} - {".pixmap-site"}
    assert {n[len("site/"):] for n in names} == site_files
    config = json.loads((res.artifacts_dir / "config.json").read_text())
    assert config["options"]["zip"] is True and config["options"]["coords"].endswith("coords.csv")
    assert config["options"]["labels"].endswith("labels.csv") and config["options"]["vectors"] is True


# --------------------------------------------------------------------------------------- readers, options

@pytest.fixture(scope="module")
def sources():
    return find_images(DEMO / "images")


def test_npz_and_npy_rows_are_matched_by_id_or_filename(sources, tmp_path):
    root, srcs = sources
    ids = [srcs[2].id, srcs[0].relpath, "images/" + srcs[1].relpath, srcs[5].id]
    arr = np.arange(16, dtype=np.float32).reshape(4, 4)
    np.savez(tmp_path / "v.npz", vectors=arr, ids=np.array(ids))
    t = byo.read_table(tmp_path / "v.npz", "vectors")
    m = byo.match_table(t, root, srcs, "vectors")
    assert sorted(m.values) == [0, 1, 2, 5] and m.dim == 4
    assert m.values[2].tolist() == [0, 1, 2, 3] and m.values[0].tolist() == [4, 5, 6, 7]
    assert m.values[5].tolist() == [12, 13, 14, 15]


def test_iiif_images_are_matched_by_id_or_canvas_path(tmp_path):
    from pixmap.sources import ImageSource

    srcs = [ImageSource(id="a1", path=None, relpath="iiif/host/c1"),
            ImageSource(id="b2", path=None, relpath="iiif/host/c2")]
    p = tmp_path / "c.csv"
    p.write_text("id,x,y\na1,1,2\niiif/host/c2,3,4\nc1.jpg,5,6\n")
    m = byo.match_table(byo.read_table(p, "coords"), None, srcs, "coords")
    assert {i: v.tolist() for i, v in m.values.items()} == {0: [1, 2], 1: [3, 4]}
    assert m.problems == ["line 4 (id 'c1.jpg'): no image with this id; row not used"]


def test_ids_and_rows_of_different_counts_refuse_the_file(sources, tmp_path):
    root, srcs = sources
    np.save(tmp_path / "v.npy", np.zeros((3, 4), np.float32))
    (tmp_path / "v.ids.txt").write_text(f"{srcs[0].id}\n{srcs[1].id}\n")
    with pytest.raises(byo.ByoError, match=r"3 rows but 2 ids"):
        byo.read_table(tmp_path / "v.npy", "vectors")
    np.save(tmp_path / "w.npy", np.zeros((3, 4), np.float32))
    with pytest.raises(byo.ByoError, match=r"needs its ids.*w.ids.txt"):
        byo.read_table(tmp_path / "w.npy", "vectors")


def test_nan_rows_and_wrong_dimension_in_an_array_are_reported(sources, tmp_path):
    root, srcs = sources
    arr = np.ones((3, 4), np.float32)
    arr[1, 2] = np.nan
    np.savez(tmp_path / "v.npz", vectors=arr, ids=np.array([s.id for s in srcs[:3]]))
    m = byo.match_table(byo.read_table(tmp_path / "v.npz", "vectors"), root, srcs, "vectors")
    assert sorted(m.values) == [0, 2]
    assert m.problems == [f"row 2 (id {srcs[1].id!r}): a value is not a finite number (NaN or infinite); row not used"]


def test_labels_csv_values_and_no_hotspot(sources, tmp_path):
    root, srcs = sources
    p = write_csv(tmp_path / "l.csv", ["filename", "cluster"],
                  [[srcs[0].relpath, "3"], [srcs[1].relpath, "-1"], [srcs[2].relpath, ""],
                   [srcs[3].relpath, "Still life"]])
    m = byo.match_table(byo.read_table(p, "labels"), root, srcs, "labels")
    assert m.values == {0: "3", 1: None, 2: None, 3: "Still life"}


def test_label_clustering_names_sizes_and_medoids():
    x = np.array([[0, 0], [0, 1], [0, 2], [10, 10], [10, 11], [5, 5]], np.float64)
    c = byo.label_clustering(["b", "b", "b", "a", "a", None], x)
    assert c.labels.tolist() == [0, 0, 0, 1, 1, -1] and c.method == "labels"
    assert [(h.label, h.size, h.representative) for h in c.hotspots] == [("b", 3, 1), ("a", 2, 3)]


def test_parquet_without_pandas_says_what_to_install(tmp_path):
    p = tmp_path / "v.parquet"
    p.write_bytes(b"PAR1")
    try:
        import pandas  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError:
        with pytest.raises(OptionError, match="pip install pandas pyarrow"):
            check_options({**DEFAULTS, "vectors_file": str(p)})
    else:
        check_options({**DEFAULTS, "vectors_file": str(p)})


@pytest.mark.parametrize("kw, message", [
    ({"vectors_file": "no-such.npz"}, "--vectors no-such.npz: file not found"),
    ({"coords": "no-such.csv"}, "--coords no-such.csv: file not found"),
    ({"labels": "no-such.csv"}, "--labels no-such.csv: file not found"),
    ({"vectors_ids": "ids.txt"}, "no --vectors file is given"),
])
def test_missing_files_are_named(kw, message):
    with pytest.raises(OptionError, match=message):
        check_options({**DEFAULTS, **kw})


def test_unknown_kinds_and_both_hotspot_sources_are_refused(tmp_path):
    (tmp_path / "v.h5").write_bytes(b"x")
    (tmp_path / "l.csv").write_text("id,label\n")
    (tmp_path / "h.json").write_text("[]")
    with pytest.raises(OptionError, match="unknown kind of file '.h5'"):
        check_options({**DEFAULTS, "vectors_file": str(tmp_path / "v.h5")})
    with pytest.raises(OptionError, match="--labels and --hotspots"):
        check_options({**DEFAULTS, "labels": str(tmp_path / "l.csv"), "hotspots": str(tmp_path / "h.json")})
    opts = {**DEFAULTS, "vectors": str(tmp_path / "l.csv")}     # vectors=FILE is vectors_file=FILE
    check_options(opts)
    assert opts["vectors_file"] == str(tmp_path / "l.csv") and opts["vectors"] is True


def test_a_file_matching_no_image_stops_before_any_work(tmp_path):
    p = write_csv(tmp_path / "v.csv", ["filename", "a", "b"], [["nothing.jpg", "1", "2"]])
    from pixmap.pipeline import BuildError

    with pytest.raises(BuildError, match="none of its rows matched an image"):
        pixmap.build(images=[str(x) for x in demo_images(5)], out_dir=tmp_path / "s", vectors_file=str(p),
                     progress=False, cache_dir="none")
    assert not (tmp_path / "s").exists()


def test_cli_options(tmp_path):
    from click.testing import CliRunner

    from pixmap.cli import main

    out = CliRunner().invoke(main, ["build", "--help"])
    for opt in ("--vectors FILE", "--vectors-ids FILE", "--coords FILE", "--labels FILE", "--zip", "--no-vectors"):
        assert opt in out.output
    bad = CliRunner().invoke(main, ["build", "--images", str(DEMO / "images"), "--out", str(tmp_path / "s"),
                                    "--coords", str(tmp_path / "none.csv")])
    assert bad.exit_code != 0 and "--coords" in bad.output and "file not found" in bad.output
    # a bare --vectors is the compact vectors' switch, as before; --vectors FILE is a file
    bare = CliRunner().invoke(main, ["build", "--images", str(DEMO / "images"), "--out", str(tmp_path / "s"),
                                     "--vectors", "--labels", str(tmp_path / "none.csv")])
    assert bare.exit_code != 0 and "--labels" in bare.output and "--vectors" not in bare.output
    given = CliRunner().invoke(main, ["build", "--images", str(DEMO / "images"), "--out", str(tmp_path / "s"),
                                      "--vectors", str(tmp_path / "none.npz")])
    assert given.exit_code != 0 and f"--vectors {tmp_path / 'none.npz'}: file not found" in given.output


def test_the_viewer_shows_the_given_layout_and_hotspots(page, mixed):
    """In Chromium: the site of given vectors, positions and labels opens without an error or a request
    outside it, every layout draws, "Your layout" is the first, and the hotspots are the given labels."""
    from tests.test_viewer import Site, assert_clean
    from tests.test_viewer_layouts import switch_through_every_layout

    res = mixed[0]
    site = Site(res.out_dir)
    try:
        switch_through_every_layout(page, site)
        shown = page.evaluate("pixmap.hotspots()")
        assert sorted(h["name"] for h in shown) == ["Tulips", "daisies", "roses"]
        page.evaluate("pixmap.setLayout('umap', {duration: 0})")
        buttons = page.eval_on_selector_all("button", "els => els.map(e => e.textContent)")
        assert any("Your layout" in b for b in buttons), buttons
        assert_clean(page, site)
    finally:
        site.server.close()
