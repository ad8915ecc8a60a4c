"""--zip (pixmap.sitezip): the zip holds the files pixmap wrote into the site, never the user's, is written
atomically, and a <out>.zip pixmap did not write is never overwritten. (A real build with --zip: test_byo.)"""
from __future__ import annotations

import json
import zipfile

import pytest

from pixmap import sitezip
from pixmap.output import SITE_MARKER


def fake_site(folder):
    """A site folder as pixmap leaves it: its files, its marker listing them, and a file of the user's."""
    (folder / "data").mkdir(parents=True)
    (folder / "index.html").write_text("<!doctype html><title>map</title>")
    (folder / "data" / "manifest.json").write_text(json.dumps({"count": 1}) * 50)
    (folder / "data" / "a.webp").write_bytes(b"RIFF" + bytes(range(256)) * 4)
    (folder / "CNAME").write_text("maps.example.org")             # the user's: not in the marker
    (folder / SITE_MARKER).write_text(json.dumps({"format": "pixmap-site-files", "version": 1,
                                                  "files": ["index.html", "data/manifest.json", "data/a.webp"]}))
    return folder


def test_zip_holds_only_pixmaps_files_compressed_by_kind(tmp_path):
    site = fake_site(tmp_path / "map")
    path = sitezip.write_zip(site)
    assert path == tmp_path / "map.zip" and not (tmp_path / "map.zip.part").exists()
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == ["map/data/a.webp", "map/data/manifest.json", "map/index.html"]
        kinds = {i.filename: i.compress_type for i in z.infolist()}
        assert kinds["map/data/a.webp"] == zipfile.ZIP_STORED
        assert kinds["map/data/manifest.json"] == kinds["map/index.html"] == zipfile.ZIP_DEFLATED
        assert z.read("map/index.html").startswith(b"<!doctype")
    assert sitezip.written_by_pixmap(path)


def test_a_zip_pixmap_did_not_write_is_never_overwritten(tmp_path):
    site = fake_site(tmp_path / "map")
    sitezip.check_target(site, force=False)                        # nothing there yet
    with zipfile.ZipFile(tmp_path / "map.zip", "w") as z:          # the user's own zip
        z.writestr("mine.txt", "keep me")
    for force in (False, True):
        with pytest.raises(sitezip.ZipError, match="was not written by pixmap"):
            sitezip.check_target(site, force=force)
    (tmp_path / "map.zip").write_text("not even a zip")
    with pytest.raises(sitezip.ZipError, match="was not written by pixmap"):
        sitezip.check_target(site, force=True)
    (tmp_path / "map.zip").unlink()
    sitezip.write_zip(site)
    with pytest.raises(sitezip.ZipError, match="pass --force"):     # pixmap's own: replaced only with force
        sitezip.check_target(site, force=False)
    sitezip.check_target(site, force=True)


def test_an_unlisted_site_cannot_be_zipped(tmp_path):
    (tmp_path / "map").mkdir()
    with pytest.raises(sitezip.ZipError, match="list of files cannot be read"):
        sitezip.write_zip(tmp_path / "map")
    assert not (tmp_path / "map.zip").exists() and not (tmp_path / "map.zip.part").exists()


def test_a_build_refuses_a_users_zip_before_any_work(tmp_path):
    from pathlib import Path

    import pixmap
    from pixmap.pipeline import BuildError

    demo = Path(__file__).resolve().parent.parent / "datasets" / "aic-paintings" / "images"
    with zipfile.ZipFile(tmp_path / "site.zip", "w") as z:
        z.writestr("mine.txt", "keep me")
    with pytest.raises(BuildError, match="not written by pixmap"):
        pixmap.build(images=demo, out_dir=tmp_path / "site", zip=True, max_images=3, progress=False,
                     cache_dir="none")
    assert not (tmp_path / "site").exists()
    with zipfile.ZipFile(tmp_path / "site.zip") as z:
        assert z.read("mine.txt") == b"keep me"
