"""End-to-end builds with every real component: TensorFlow model, UMAP, HDBSCAN, Pillow."""
import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import pixmap
from pixmap.pipeline import BuildError

from .conftest import DEMO, XSS
from pixmap.site import image_file, read_metadata, shard_of


def test_demo_build_writes_a_complete_site(built_site_result):
    res = built_site_result
    site = res.out_dir
    assert res.n_images == 267 and res.skipped == []
    man = json.loads((site / "data" / "manifest.json").read_text())
    assert man["format"] == "pixmap-site" and man["count"] == 267
    assert (site / "index.html").exists() and (site / ".pixmap-site").exists()

    # every path in the manifest is relative and exists
    assert man["version"] == 6 and "tiles" not in man["atlas"]   # 267 images: level 0 holds them at 64 px
    assert man["atlas"]["cell_size"] == 64 and man["thumbs"]["size"] == 256
    paths = [man["metadata"]["dir"] + "/0.json", man["ids"]["dir"] + "/0.json", man["atlas"]["cells"],
             man["clusters"]["file"], *man["atlas"]["pages"], *man["metadata"]["columns"].values(),
             *[lay["file"] for lay in man["layouts"]]]
    for p in paths:
        assert not p.startswith(("/", "http:", "https:")) and (site / p).exists(), p

    meta = read_metadata(site)
    ids = meta["ids"]
    assert len(ids) == len(set(ids)) == 267
    fields = meta["fields"]
    assert fields[:3] == ["filename", "width", "height"] and "title" in fields and "category" in fields
    rows = {r[0]: dict(zip(fields, r)) for r in meta["rows"]}
    first = rows["images/93784.jpg"]  # the metadata file's first row
    assert first["title"] == XSS  # stored as data; the viewer escapes it
    assert first["width"] == 640 and first["height"] == 481

    pos = np.fromfile(site / man["layouts"][0]["file"], dtype="<f4").reshape(267, 2)
    assert np.isfinite(pos).all() and np.abs(pos).max() <= 1.0001 and np.abs(pos).max() > 0.99
    cells = np.fromfile(site / man["atlas"]["cells"], dtype="<u2").reshape(267, 5)
    assert (cells[:, 3] > 0).all() and (cells[:, 4] <= man["atlas"]["cell_size"]).all()
    labels = np.fromfile(site / man["clusters"]["file"], dtype="<i4")
    assert labels.shape == (267,)

    spots = man["clusters"]["hotspots"]
    assert 2 <= len(spots) <= 20
    assert [h["size"] for h in spots] == sorted((h["size"] for h in spots), reverse=True)
    periods = {r[fields.index("category")] for r in meta["rows"]}
    for h in spots:
        assert labels[h["representative"]] == h["id"] and (labels == h["id"]).sum() == h["size"]
        assert h["label"].split(" (")[0] in periods  # labelled by the most common period

    # per image: a thumbnail and a lightbox image in a browser format, never upscaled
    from PIL import Image
    for i in (0, 100, 266):
        with Image.open(site / image_file(man["thumbs"], ids[i])) as im:
            assert im.format == "WEBP" and max(im.size) == 256
        with Image.open(site / image_file(man["lightbox"], ids[i])) as im:
            assert max(im.size) == 640  # source is 640 px: not upscaled to 1024
    # manifest, one metadata chunk, one id chunk and the near-duplicate groups: nothing per image; the
    # search index is sharded by a term's first character (a bounded number of dictionary files)
    data_json = sorted(p.relative_to(site).as_posix() for p in (site / "data").rglob("*.json"))
    assert [p for p in data_json if not p.startswith("data/search/")] == [
        "data/duplicates.json", "data/ids/0.json", "data/manifest.json", "data/metadata/0.json"]
    dict_shards = [p for p in data_json if p.startswith("data/search/dict/")]
    assert 1 <= len(dict_shards) <= 64 and len(dict_shards) == len(data_json) - 4
    assert json.loads((site / "data" / "duplicates.json").read_text())["groups"] == []  # none in the demo


def test_artifacts(built_site_result):
    art = built_site_result.artifacts_dir
    assert art != built_site_result.out_dir and not str(art).startswith(str(built_site_result.out_dir) + "/")
    feats = np.load(art / "features.npy")
    assert feats.shape == (267, 1280) and feats.dtype == np.float32 and np.isfinite(feats).all()
    assert np.load(art / "layout_umap.npy").shape == (267, 2)
    assert np.load(art / "clusters.npy").shape == (267,)
    rows = list(csv.reader(open(art / "images.csv", encoding="utf-8")))
    assert rows[0] == ["id", "path", "width", "height"] and len(rows) == 268
    cfg = json.loads((art / "config.json").read_text())
    assert cfg["options"]["model"] == "efficientnet-lite0" and "umap-learn" in cfg["versions"]
    assert cfg["n_features_computed"] == 267


def test_layout_groups_similar_paintings(built_site_result):
    """The map means something: a painting's map neighbours share its period well above chance.

    (CNN features themselves reach only ~1.8x chance on periods; the layout must keep most of that.)"""
    site = built_site_result.out_dir
    meta = read_metadata(site)
    cat = np.array([r[meta["fields"].index("category")] for r in meta["rows"]])
    pos = np.load(built_site_result.artifacts_dir / "layout_umap.npy")
    d = ((pos[:, None] - pos[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    nn = np.argsort(d, axis=1)[:, :10]
    score = (cat[nn] == cat[:, None]).mean()
    chance = sum((cat == c).mean() ** 2 for c in set(cat))
    assert score > 1.4 * chance, (score, chance)


def test_rebuild_uses_the_cache_and_force_is_required(built_site_result, demo_metadata, tmp_path):
    cache = built_site_result.out_dir.parent / "cache"
    out = tmp_path / "again"
    sub = tmp_path / "imgs"
    sub.mkdir()
    names = sorted(p.name for p in (DEMO / "images").iterdir())[:30]
    for n in names:
        shutil.copy(DEMO / "images" / n, sub / n)
    res = pixmap.build(images=sub, out_dir=out, cache_dir=cache, progress=False)
    assert res.n_images == 30 and res.n_computed == 0          # all 30 were in the demo build's cache
    with pytest.raises(BuildError, match="--force"):
        pixmap.build(images=sub, out_dir=out, cache_dir=cache, progress=False)
    # adding images computes only the new ones (a flipped copy is new content)
    from PIL import Image, ImageOps
    with Image.open(sub / names[0]) as im:
        ImageOps.mirror(im).save(sub / "mirrored.jpg")
    res = pixmap.build(images=sub, out_dir=out, cache_dir=cache, force=True, progress=False)
    assert res.n_images == 31 and res.n_computed == 1
    assert (out / ".pixmap-site").exists()


def test_never_overwrites_a_folder_pixmap_did_not_make(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("precious")
    with pytest.raises(BuildError, match="not made by pixmap"):
        pixmap.build(images=DEMO / "images", out_dir=out, force=True, progress=False, max_images=3)
    assert (out / "notes.txt").read_text() == "precious"


def test_no_images_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(BuildError, match="empty"):
        pixmap.build(images=tmp_path / "empty", out_dir=tmp_path / "o", progress=False)


def test_bad_inputs_are_reported_and_skipped_and_the_rest_is_built(tmp_path, built_site_result):
    from .badimages import make_bad_folder

    info = make_bad_folder(tmp_path / "photos")
    # metadata: one row per good image, one row for a missing file, one hostile row
    meta = tmp_path / "meta.csv"
    lines = ["filename,title,category"] + [f"{rel},Title {i},{'ab'[i % 2]}" for i, rel in enumerate(info["good"])]
    lines.append("nowhere/missing.jpg,Gone,a")
    meta.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = pixmap.build(images=info["root"], metadata=meta, out_dir=tmp_path / "site",
                       cache_dir=built_site_result.out_dir.parent / "cache", progress=False)

    site = res.out_dir
    md = read_metadata(site)
    mapped = [r[0] for r in md["rows"]]
    assert sorted(mapped) == sorted(info["good"])                  # exactly the good ones
    assert len(set(md["ids"])) == len(md["ids"])                   # a/same.jpg and b/same.jpg both kept
    reported = {Path(p).relative_to(info["root"]).as_posix(): reason for p, reason in res.skipped}
    assert set(reported) == set(info["bad"])                       # each bad one named ...
    for rel, expected in info["bad"].items():                      # ... with its reason
        assert expected.lower() in reported[rel].lower(), (rel, reported[rel])
    assert [u[1] for u in res.metadata_unmatched] == ["nowhere/missing.jpg"]
    sizes = {r[0]: (r[1], r[2]) for r in md["rows"]}
    for rel, size in info["sizes"].items():                        # EXIF orientation applied
        assert sizes[rel] == tuple(size), rel
    cfg = json.loads((res.artifacts_dir / "config.json").read_text())
    assert len(cfg["skipped"]) == len(info["bad"])


def test_hotspots_are_named_by_label_when_there_is_no_category(tmp_path, built_site_result):
    names = sorted(p.name for p in (DEMO / "images").iterdir())
    src = {r["filename"]: r for r in csv.DictReader(open(DEMO / "metadata.csv", encoding="utf-8"))}
    meta = tmp_path / "m.csv"
    lines = ["filename,label"] + [f"images/{n},{src['images/' + n]['category']}" for n in names]
    meta.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = pixmap.build(images=DEMO, metadata=meta, out_dir=tmp_path / "s", progress=False, layouts="umap",
                       cache_dir=built_site_result.out_dir.parent / "cache")
    man = json.loads((res.out_dir / "data" / "manifest.json").read_text())
    periods = {r["category"] for r in src.values()}
    assert all(h["label"].split(" (")[0] in periods for h in man["clusters"]["hotspots"])


@pytest.mark.parametrize("count", [1, 2])
def test_tiny_collections_build_every_layout(tmp_path, count, built_site_result):
    res = pixmap.build(images=DEMO / "images", out_dir=tmp_path / "s", max_images=count, progress=False,
                       cache_dir=built_site_result.out_dir.parent / "cache")
    assert res.n_images == count
    man = json.loads((res.out_dir / "data" / "manifest.json").read_text())
    assert {"umap", "umap-3d", "grid", "umap-spread", "alphabetic"} <= {l["name"] for l in man["layouts"]}
    for lay in man["layouts"]:
        pos = np.fromfile(res.out_dir / lay["file"], "<f4")
        assert pos.size == count * lay["dims"] and np.isfinite(pos).all(), lay["name"]
    assert man["clusters"]["hotspots"] == []


def test_deep_zoom_writes_tiles_of_local_images_and_lists_them(tmp_path, built_site_result):
    """--deep-zoom: per local image an IIIF level-0 info.json and its tiles in the site, named in
    data/deep-zoom.json and in the site's marker (so a rebuild replaces them); without it, none."""
    res = pixmap.build(images=DEMO / "images", max_images=3, out_dir=tmp_path / "dz", progress=False,
                       cache_dir=built_site_result.out_dir.parent / "cache", layouts="umap", deep_zoom=True)
    site = res.out_dir
    man = json.loads((site / "data" / "manifest.json").read_text())
    assert man["version"] == 6
    entries = json.loads((site / man["deep_zoom"]["file"]).read_text())
    meta = read_metadata(site)
    ids = meta["ids"]
    assert entries == [f"data/tiles/{shard_of(i)}/{i}/info.json" for i in ids]
    marker = json.loads((site / ".pixmap-site").read_text())["files"]
    for i, row in zip(ids, meta["rows"]):
        info = json.loads((site / "data" / "tiles" / shard_of(i) / i / "info.json").read_text())
        assert info["profile"] == "level0" and (info["width"], info["height"]) == (row[1], row[2])  # full size
        tiles = [p for p in (site / "data" / "tiles" / shard_of(i) / i).rglob("default.jpg")]
        assert tiles and all(p.relative_to(site).as_posix() in marker for p in tiles)
    plain = pixmap.build(images=DEMO / "images", max_images=3, out_dir=tmp_path / "plain", progress=False,
                         cache_dir=built_site_result.out_dir.parent / "cache", layouts="umap")
    assert "deep_zoom" not in json.loads((plain.out_dir / "data" / "manifest.json").read_text())
    assert not (plain.out_dir / "data" / "tiles").exists()


def test_a_multi_level_site_tiles_by_position_and_shards_per_image_files(tmp_path, built_site_result):
    """Version 3 at a scale the test can afford: level-0 cells of 8 px force level-1 tiles (64 px cells
    here 256 px, so 60 paintings fill several tiles); each image is in exactly one tile, at its cell, and
    the images of a tile are neighbours on the UMAP map. No per-image thumbnails (thumb_size=0)."""
    res = pixmap.build(images=DEMO / "images", max_images=60, out_dir=tmp_path / "m", progress=False,
                       cache_dir=built_site_result.out_dir.parent / "cache", layouts="umap",
                       level0_cell=8, cell_size=256, thumb_size=0)
    site = res.out_dir
    man = json.loads((site / "data" / "manifest.json").read_text())
    at = man["atlas"]
    assert at["cell_size"] == 8 and man["thumbs"]["size"] == 0 and not (site / "data" / "thumbs").exists()
    tiles = at["tiles"]
    assert tiles["cell_size"] == 256 and tiles["size"] == 1024 and tiles["layout"] == "umap"
    tile_of = np.fromfile(site / tiles["of"], "<u4")
    cells = np.fromfile(site / tiles["cells"], "<u2").reshape(-1, 4)
    assert len(tile_of) == 60 and tiles["count"] == tile_of.max() + 1 >= 4
    for t in range(tiles["count"]):
        assert (site / tiles["dir"] / str(t // tiles["shard"]) / f"{t}.webp").is_file()
    level0 = np.fromfile(site / at["cells"], "<u2").reshape(-1, 5)
    assert (level0[:, 4] <= 8).all() and (cells[:, 3] <= 256).all() and (cells[:, 3] > 8).any()
    # a tile's images are close on the map: their spread is well below the whole map's
    pos = np.fromfile(site / man["layouts"][0]["file"], "<f4").reshape(-1, 2)
    spread = np.mean([pos[tile_of == t].std(axis=0).mean() for t in range(tiles["count"])])
    assert spread < 0.6 * pos.std(axis=0).mean()
    # the pixels of the tile cell are the image's: compare with its lightbox image
    from PIL import Image

    meta = read_metadata(site)
    i = 17
    x, y, w, h = (int(v) for v in cells[i])
    t = int(tile_of[i])
    with Image.open(site / tiles["dir"] / str(t // 1000) / f"{t}.webp") as im:
        cell = np.asarray(im.convert("RGB").crop((x, y, x + w, y + h)).resize((16, 16)), dtype=float)
    with Image.open(site / image_file(man["lightbox"], meta["ids"][i])) as im:
        ref = np.asarray(im.convert("RGB").resize((16, 16)), dtype=float)
    assert np.abs(cell - ref).mean() < 12
    assert (site / "data" / "lightbox" / shard_of(meta["ids"][i]) / f"{meta['ids'][i]}.webp").is_file()
    # level-0 pages are JPEG; the hotspot panel's thumbnails are in one sheet, each the representative's
    assert all(p.endswith(".jpg") for p in at["pages"])
    sheet_entry = man["clusters"]["thumbs"]
    hotspots = man["clusters"]["hotspots"]
    size, cols = sheet_entry["size"], sheet_entry["columns"]
    with Image.open(site / sheet_entry["file"]) as sheet:
        sheet = sheet.convert("RGB")
        assert sheet.height == size * -(-len(hotspots) // cols)
        for k, hs in enumerate(hotspots):
            r = hs["representative"]
            x, y, w, h = (int(v) for v in cells[r])
            t = int(tile_of[r])
            with Image.open(site / tiles["dir"] / str(t // 1000) / f"{t}.webp") as im:
                ref = im.convert("RGB").crop((x, y, x + w, y + h))
            side = min(w, h)   # the centre square, as the sheet crops it
            ref = ref.crop(((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side))
            got = sheet.crop(((k % cols) * size, (k // cols) * size, (k % cols + 1) * size, (k // cols + 1) * size))
            diff = np.abs(np.asarray(got.resize((16, 16)), float) - np.asarray(ref.resize((16, 16)), float)).mean()
            assert diff < 14, (k, diff)
    # no folder of the site holds more than a few files per image (sharded), no stray pack file anywhere
    assert not list(site.rglob("*.pack")) and not list(res.artifacts_dir.rglob("*.pack"))
    assert np.load(res.artifacts_dir / "features.npy").shape == (60, 1280)


def test_sample_is_a_seeded_random_subset_in_path_order(tmp_path, built_site_result):
    kw = dict(images=DEMO / "images", progress=False, cache_dir=built_site_result.out_dir.parent / "cache",
              layouts="umap", sample=25)
    a = pixmap.build(out_dir=tmp_path / "a", **kw)
    b = pixmap.build(out_dir=tmp_path / "b", **kw)
    c = pixmap.build(out_dir=tmp_path / "c", seed=1, **kw)
    ids = lambda r: read_metadata(r.out_dir)["ids"]  # noqa: E731
    all_ids = [i.removeprefix("images--") for i in read_metadata(built_site_result.out_dir)["ids"]]
    assert a.n_images == 25 and ids(a) == ids(b) and ids(a) != ids(c)
    assert ids(a) == sorted(ids(a), key=all_ids.index)          # in the build's order
    assert ids(a) != all_ids[:25]                               # not the first 25
