"""Curated hotspots through real builds (`pixmap.build` on 12 demo paintings): `--hotspots FILE`, the
hotspots.json a user put in the site folder (used, announced, never overwritten or removed by a rebuild),
missing images reported, `--hotspots none`, and a broken file refused by name before any work."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import pixmap
from pixmap.pipeline import BuildError

from .conftest import DEMO


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("curation-photos") / "photos"
    folder.mkdir()
    for name in sorted(p.name for p in (DEMO / "images").iterdir())[:12]:
        shutil.copy(DEMO / "images" / name, folder / name)
    return folder


def run(photos, out, **kw):
    return pixmap.build(images=photos, out_dir=out, cache_dir=out.parent.parent / "cache", progress=False,
                        layouts="umap", **kw)


def manifest(site):
    return json.loads((site / "data" / "manifest.json").read_text(encoding="utf-8"))


def members(site):
    """[(label, [ids of its images in data order], representative id)] in the manifest's order."""
    m = manifest(site)
    ids = json.loads((site / "data" / "ids" / "0.json").read_text(encoding="utf-8")) \
        if isinstance(m.get("ids"), dict) else json.loads((site / "data" / "metadata.json").read_text())["ids"]
    labels = np.fromfile(site / "data" / "clusters.i32", dtype="<i4")
    return [(h["label"], [ids[i] for i in np.flatnonzero(labels == h["id"])], ids[h["representative"]])
            for h in m["clusters"]["hotspots"]]


def hotspots_doc(spots):
    return {"format": "pixmap-hotspots", "version": 1, "site": "photos", "saved": "2026-01-01T00:00:00Z",
            "hotspots": [{"name": n, "representative": r, "images": imgs} for n, imgs, r in spots]}


def test_a_saved_hotspots_file_in_the_site_is_used_kept_and_survives_rebuilds(photos, tmp_path):
    site = tmp_path / "a" / "site"
    run(photos, site)
    ids = sorted(p.stem for p in photos.iterdir())             # plain names: the id is the name
    spots = [("Cluster 2", ids[5:9], ids[7]), ("<b>Portraits</b> & co", ids[0:3], ids[0]), ("Solo", [ids[11]], ids[11])]
    saved = json.dumps(hotspots_doc(spots), ensure_ascii=False, indent=1)
    (site / "hotspots.json").write_text(saved, encoding="utf-8")

    res = run(photos, site, force=True)
    assert members(site) == spots                               # names verbatim, file order, members by id
    m = manifest(site)
    assert m["clusters"]["method"] == "curated"
    assert m["clusters"]["curated"] == {"file": "hotspots.json", "hotspots": 3, "missing_ids": 0}
    assert any("using the curated hotspots in" in w and "hotspots.json" in w for w in res.warnings)
    assert (site / "hotspots.json").read_text(encoding="utf-8") == saved          # never rewritten
    assert "hotspots.json" not in json.loads((site / ".pixmap-site").read_text())["files"]
    assert any("kept" in w and "hotspots.json" in w for w in res.warnings)

    # a second rebuild without the option: the file is still there and still used
    run(photos, site, force=True)
    assert members(site) == spots and (site / "hotspots.json").read_text(encoding="utf-8") == saved

    # --hotspots none: HDBSCAN's hotspots again, the user's file still left alone
    run(photos, site, force=True, hotspots="none")
    assert manifest(site)["clusters"]["method"] in ("hdbscan", "kmeans")
    assert "curated" not in manifest(site)["clusters"]
    assert (site / "hotspots.json").read_text(encoding="utf-8") == saved


def test_images_gone_since_the_save_are_reported_and_the_rest_kept(photos, tmp_path):
    fewer = tmp_path / "fewer"
    shutil.copytree(photos, fewer)
    names = sorted(p.name for p in fewer.iterdir())
    ids = [n.rsplit(".", 1)[0] for n in names]
    (fewer / names[1]).unlink()                                  # ids[1] is gone
    path = tmp_path / "curated.json"
    path.write_text(json.dumps(hotspots_doc([("First", ids[0:4], ids[1]), ("Second", ids[6:8], ids[6])])))
    site = tmp_path / "b" / "site"
    res = run(fewer, site, hotspots=str(path))
    assert members(site)[0][0] == "First" and members(site)[0][1] == [ids[0], ids[2], ids[3]]
    assert members(site)[0][2] in (ids[0], ids[2], ids[3])       # the medoid of what is left
    assert members(site)[1] == ("Second", ids[6:8], ids[6])
    assert manifest(site)["clusters"]["curated"] == {"file": "curated.json", "hotspots": 2, "missing_ids": 1}
    text = "\n".join(res.warnings)
    assert "1 image id(s) are not in this build" in text and json.dumps(ids[1]) in text


def test_a_broken_file_stops_the_build_before_any_work_and_names_it(photos, tmp_path):
    bad = tmp_path / "hotspots.json"
    bad.write_text("{broken", encoding="utf-8")
    with pytest.raises(BuildError, match=f"{bad}: not valid JSON"):
        run(photos, tmp_path / "c" / "site", hotspots=str(bad))
    with pytest.raises(BuildError, match="hotspots file not found"):
        run(photos, tmp_path / "c" / "site", hotspots=str(tmp_path / "nope.json"))
    assert not (tmp_path / "c" / "site").exists()
