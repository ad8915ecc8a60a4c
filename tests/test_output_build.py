"""pixmap.build and its output folders, end to end on a few real images (see test_output.py for the rules)."""
from __future__ import annotations

import json
import os
import shutil
import stat

import pytest

import pixmap
from pixmap.pipeline import BuildError

from .conftest import DEMO


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in sorted(p.name for p in (DEMO / "images").iterdir())[:12]:
        shutil.copy(DEMO / "images" / name, folder / name)
    return folder


def run(photos, out, **kw):
    return pixmap.build(images=photos, out_dir=out, cache_dir=out.parent / "cache", progress=False,
                        layouts=kw.pop("layouts", "umap"), **kw)


def test_force_keeps_the_users_files_and_replaces_pixmaps(photos, tmp_path):
    out, art = tmp_path / "map", tmp_path / "map-artifacts"
    old = os.umask(0o022)
    try:
        first = run(photos, out, layouts="umap,grid")
    finally:
        os.umask(old)
    assert first.artifacts_dir == art and (art / "layout_grid.npy").exists()
    assert stat.S_IMODE(out.stat().st_mode) == 0o755 and stat.S_IMODE(art.stat().st_mode) == 0o755
    assert stat.S_IMODE((out / "data" / "manifest.json").stat().st_mode) == 0o644
    marker = json.loads((out / ".pixmap-site").read_text())
    assert marker["format"] == "pixmap-site-files"
    assert {"index.html", "data/manifest.json", "data/metadata/0.json"} <= set(marker["files"])
    assert {"config.json", "features.npy", "layout_umap.npy", "layout_grid.npy"} <= \
        set(json.loads((art / ".pixmap-artifacts").read_text())["files"])
    # the user's files: a git repository, a CNAME, photos kept in the published folder
    (out / ".git").mkdir()
    (out / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (out / "CNAME").write_text("maps.example.org\n")
    (out / "originals").mkdir()
    shutil.copy(next(photos.iterdir()), out / "originals" / "a.jpg")
    ino = out.stat().st_ino

    second = run(photos, out, force=True, layouts="umap")
    assert (out / ".git" / "HEAD").exists() and (out / "CNAME").exists() and (out / "originals" / "a.jpg").exists()
    assert out.stat().st_ino == ino                                   # filled in place, never renamed
    assert not (art / "layout_grid.npy").exists() and (art / "layout_umap.npy").exists()   # stale: gone
    cfg = json.loads((second.artifacts_dir / "config.json").read_text())
    assert second.artifacts_dir == art and cfg["n_images"] == 12
    assert any("kept" in w and "CNAME" in w and ".git/" in w for w in second.warnings)
    listed = set(json.loads((out / ".pixmap-site").read_text())["files"])
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert on_disk - listed == {".pixmap-site", ".git/HEAD", "CNAME", "originals/a.jpg"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "map", "map-artifacts", "photos"]


def test_refusals_happen_before_the_build(photos, tmp_path):
    out = tmp_path / "map"
    (out / "pics").mkdir(parents=True)
    shutil.copy(next(photos.iterdir()), out / "pics")
    with pytest.raises(BuildError, match="images at .* inside the site folder"):
        run(out / "pics", out)
    assert sorted(p.name for p in out.iterdir()) == ["pics"]
    with pytest.raises(BuildError, match="inside the site"):
        run(photos, tmp_path / "s", artifacts_dir=tmp_path / "s" / "artifacts")
    mine = tmp_path / "Documents"
    mine.mkdir()
    (mine / "letter.txt").write_text("dear")
    with pytest.raises(BuildError, match="not written by pixmap"):
        run(photos, tmp_path / "t", artifacts_dir=mine)
    assert not (tmp_path / "s").exists() and not (tmp_path / "t").exists()
    assert sorted(p.name for p in mine.iterdir()) == ["letter.txt"]
