"""pixmap.output: staging, publishing and ownership of the output folders, with real folders and processes."""
from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pixmap import output
from pixmap.output import Output, OutputError

REPO = Path(__file__).resolve().parent.parent


def fake_build(out: Output, extra: dict[str, str] | None = None, layouts=("umap",)) -> None:
    """Write a small site and artifacts into the staging folders, as the pipeline does."""
    files = {"index.html": "<html>new</html>", "style.css": "body{}", "favicon.svg": "<svg/>",
             "js/main.js": "main()", "data/manifest.json": "{}", "data/thumbs/a.webp": "A",
             ".pixmap-site": "This folder was written by pixmap\n"}   # the pipeline's old-style mark
    files.update(extra or {})
    for rel, text in files.items():
        (out.site / rel).parent.mkdir(parents=True, exist_ok=True)
        (out.site / rel).write_text(text)
    (out.artifacts / "features.npy").write_text("F")
    for name in layouts:
        (out.artifacts / f"layout_{name}.npy").write_text(name)
    (out.artifacts / "config.json").write_text(json.dumps({"pixmap": "x", "options": {}}))


def build(out_dir, artifacts_dir=None, *, force=False, extra=None, layouts=("umap",), **kw) -> Output:
    with Output(out_dir, artifacts_dir, force=force, **kw) as out:
        fake_build(out, extra, layouts)
        out.publish()
    return out


def listed(folder: Path, marker=".pixmap-site") -> set[str]:
    doc = json.loads((folder / marker).read_text())
    assert doc["version"] == 1
    return set(doc["files"])


def tree(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir() or not any(p.iterdir())}


def old_map(out: Path, marker_text="This folder was written by pixmap; `pixmap build --force` may replace it.\n"):
    """A map written by an older pixmap: plain-text marker, no file list."""
    for rel in ("index.html", "style.css", "favicon.svg", "js/main.js", "js/old.js", "data/manifest.json",
                "data/thumbs/old.webp", "data/layouts/old.f32"):
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text("old")
    (out / ".pixmap-site").write_text(marker_text)


def run_holder(code: str, tmp_path: Path) -> subprocess.Popen:
    """A real second process running `code` (with Output imported); it prints READY when set."""
    script = tmp_path / f"holder-{time.monotonic_ns()}.py"
    script.write_text("import sys, time\nfrom pixmap.output import Output\n" + textwrap.dedent(code))
    proc = subprocess.Popen([sys.executable, str(script)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    assert line.startswith("READY"), line
    proc.ready_line = line
    return proc


# ----------------------------------------------------------------------------------------- basics
def test_a_new_map_is_published_with_a_list_of_its_files(tmp_path):
    out = build(tmp_path / "map")
    site, art = tmp_path / "map", tmp_path / "map-artifacts"
    assert (site / "index.html").read_text() == "<html>new</html>"
    assert listed(site) == {"index.html", "style.css", "favicon.svg", "js/main.js", "data/manifest.json",
                            "data/thumbs/a.webp"} == tree(site) - {".pixmap-site"}
    doc = json.loads((site / ".pixmap-site").read_text())
    assert doc["format"] == "pixmap-site-files"
    assert listed(art, ".pixmap-artifacts") == {"features.npy", "layout_umap.npy", "config.json"}
    assert json.loads((art / ".pixmap-artifacts").read_text())["format"] == "pixmap-artifacts-files"
    # nothing left beside: no staging folder, no lock file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map", "map-artifacts"]
    assert out.notes == []


def test_existing_map_needs_force_and_a_foreign_folder_is_refused(tmp_path):
    build(tmp_path / "map")
    with pytest.raises(OutputError, match="--force"):
        Output(tmp_path / "map").open()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("precious")
    with pytest.raises(OutputError, match="not made by pixmap"):
        Output(mine, force=True).open()
    assert (mine / "notes.txt").read_text() == "precious"
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is a file"):
        Output(tmp_path / "file").open()
    empty = tmp_path / "empty"
    empty.mkdir()
    build(empty)
    assert (empty / "index.html").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []   # no locks left


def test_an_exception_inside_leaves_the_old_map_untouched(tmp_path):
    build(tmp_path / "map", extra={"data/thumbs/b.webp": "B"})
    before = {p: (tmp_path / "map" / p).read_text() for p in tree(tmp_path / "map")}
    with pytest.raises(RuntimeError):
        with Output(tmp_path / "map", force=True) as out:
            fake_build(out, {"index.html": "broken"})
            staging = out.site, out.artifacts
            raise RuntimeError("the build failed")
    after = {p: (tmp_path / "map" / p).read_text() for p in tree(tmp_path / "map")}
    assert after == before
    assert not any(s.exists() for s in staging)
    out.close()   # idempotent
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map", "map-artifacts"]


# ----------------------------------------------------------------------------------------- rule 1
def test_force_replaces_only_pixmaps_files(tmp_path):
    site = tmp_path / "map"
    build(site, extra={"data/thumbs/b.webp": "B", "data/old/x.json": "x"})
    # the user's files, kept in the map's folder
    (site / ".git" / "objects").mkdir(parents=True)
    (site / ".git" / "config").write_text("[core]")
    (site / "CNAME").write_text("maps.example.org")
    (site / "photos").mkdir()
    (site / "photos" / "p1.jpg").write_text("photo")
    (site / "data" / "thumbs" / "mine.txt").write_text("a note in a folder of pixmap's")
    out = build(site, force=True)     # this build has no b.webp and no data/old/
    assert (site / ".git" / "config").read_text() == "[core]"
    assert (site / ".git" / "objects").is_dir()                  # even an empty folder of the user's
    assert (site / "CNAME").read_text() == "maps.example.org"
    assert (site / "photos" / "p1.jpg").read_text() == "photo"
    assert (site / "data" / "thumbs" / "mine.txt").exists()
    assert not (site / "data" / "thumbs" / "b.webp").exists()    # pixmap's stale file: gone
    assert not (site / "data" / "old").exists()                  # and the folder it left empty
    assert listed(site) == {"index.html", "style.css", "favicon.svg", "js/main.js", "data/manifest.json",
                            "data/thumbs/a.webp"}
    kept = [n for n in out.notes if "kept" in n and str(site) + " " in n]
    assert kept and all(name in kept[0] for name in (".git/", "CNAME", "photos/", "data/"))


def test_an_old_plain_text_marker_owns_the_known_layout_only(tmp_path):
    site = tmp_path / "map"
    site.mkdir()
    old_map(site)
    (site / "CNAME").write_text("maps.example.org")
    (site / "README.md").write_text("mine")
    build(site, force=True)
    assert (site / "CNAME").exists() and (site / "README.md").exists()
    assert not (site / "js" / "old.js").exists() and not (site / "data" / "thumbs" / "old.webp").exists()
    assert not (site / "data" / "layouts").exists()
    assert (site / "index.html").read_text() == "<html>new</html>"
    assert "CNAME" not in listed(site)


def test_a_users_file_on_a_fixed_path_is_refused_up_front(tmp_path):
    site = tmp_path / "map"
    build(site)
    doc = json.loads((site / ".pixmap-site").read_text())
    doc["files"].remove("style.css")             # style.css: now the user's file
    (site / ".pixmap-site").write_text(json.dumps(doc))
    with pytest.raises(OutputError, match="style.css"):
        Output(site, force=True).open()
    assert (site / "style.css").exists()
    # an old-style map with a user's symbolic link where pixmap's data/ folder goes
    other = tmp_path / "other"
    other.mkdir()
    old_map(other)
    shutil.rmtree(other / "data")
    (tmp_path / "elsewhere").mkdir()
    (other / "data").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(OutputError, match="data"):
        Output(other, force=True).open()
    assert (other / "data").is_symlink()


def test_a_users_file_on_a_staged_path_is_refused_at_publish(tmp_path):
    site = tmp_path / "map"
    build(site)
    (site / "data" / "thumbs" / "z.webp").write_text("the user's")
    before = {p: (site / p).read_text() for p in tree(site)}
    with Output(site, force=True) as out:
        fake_build(out, {"data/thumbs/z.webp": "pixmap's"})
        with pytest.raises(OutputError, match=r"data/thumbs/z\.webp.*nothing was changed"):
            out.publish()
        staging = out.site
    assert {p: (site / p).read_text() for p in tree(site)} == before
    assert not staging.exists()


def test_images_inside_the_output_are_refused(tmp_path):
    site, art = tmp_path / "map", tmp_path / "map-artifacts"
    (site / "photos").mkdir(parents=True)
    art.mkdir()
    for inputs in ([site / "photos"], [site], [art / "x"], [tmp_path / "ok", site / "photos" / "a.jpg"]):
        with pytest.raises(OutputError, match="images at .* inside|images at .* is the"):
            Output(site, inputs=inputs).open()
    # the images folder holding the output is fine (the pipeline skips built maps inside it)
    out = build(tmp_path / "photos" / "map", inputs=[tmp_path / "photos"])
    assert out.out_dir == (tmp_path / "photos" / "map").resolve()


def test_a_marker_of_a_newer_pixmap_is_not_touched(tmp_path):
    site = tmp_path / "map"
    build(site)
    (site / ".pixmap-site").write_text(json.dumps({"format": "pixmap-site-files", "version": 9, "files": []}))
    with pytest.raises(OutputError, match="newer version"):
        Output(site, force=True).open()


def test_an_empty_folder_of_the_new_build_stays(tmp_path):
    site = tmp_path / "map"
    build(site, extra={"data/layouts/old.f32": "x"})
    with Output(site, force=True) as out:
        fake_build(out)
        (out.site / "data" / "layouts").mkdir()
        out.publish()
    assert (site / "data" / "layouts").is_dir() and not any((site / "data" / "layouts").iterdir())


def test_a_folder_may_become_a_file_and_back(tmp_path):
    site = tmp_path / "map"
    build(site, extra={"data/x/y.json": "1", "data/f": "file"})
    build(site, force=True, extra={"data/x": "now a file", "data/f/inner.json": "now a folder"})
    assert (site / "data" / "x").read_text() == "now a file"
    assert (site / "data" / "f" / "inner.json").read_text() == "now a folder"
    assert {"data/x", "data/f/inner.json"} <= listed(site)


def test_nothing_is_removed_through_a_users_symbolic_link(tmp_path):
    site = tmp_path / "map"
    build(site, extra={"data/old/x.json": "pixmap's"})
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "x.json").write_text("the user's")
    shutil.rmtree(site / "data" / "old")
    (site / "data" / "old").symlink_to(theirs)     # data/old/x.json is listed as pixmap's
    build(site, force=True)
    assert (theirs / "x.json").read_text() == "the user's" and (site / "data" / "old").is_symlink()


# ----------------------------------------------------------------------------------------- rules 2, 3
def test_artifacts_are_staged_and_stale_layouts_removed(tmp_path):
    build(tmp_path / "map", layouts=("umap", "grid"))
    art = tmp_path / "map-artifacts"
    (art / "my-analysis.ipynb").write_text("mine")
    out = build(tmp_path / "map", force=True, layouts=("umap",))
    assert not (art / "layout_grid.npy").exists()
    assert (art / "layout_umap.npy").exists() and (art / "my-analysis.ipynb").exists()
    assert any("my-analysis.ipynb" in n for n in out.notes)


def test_a_users_artifacts_folder_is_refused(tmp_path):
    docs = tmp_path / "Documents"
    docs.mkdir()
    (docs / "taxes.pdf").write_text("x")
    with pytest.raises(OutputError, match=r"Documents .*not written by pixmap.*--artifacts-dir"):
        Output(tmp_path / "map", docs).open()
    default = tmp_path / "map-artifacts"
    default.mkdir()
    (default / "features.npy").write_text("not from pixmap")   # no marker, no config.json by pixmap
    with pytest.raises(OutputError, match="map-artifacts .*not written by pixmap"):
        Output(tmp_path / "map").open()
    assert not (tmp_path / "map").exists()
    # an empty folder of the user's is fine
    empty = tmp_path / "empty-art"
    empty.mkdir()
    build(tmp_path / "map", empty)
    assert (empty / ".pixmap-artifacts").exists()


def test_an_older_pixmaps_unmarked_artifacts_are_replaced(tmp_path):
    site, art = tmp_path / "map", tmp_path / "map-artifacts"
    site.mkdir()
    old_map(site)
    art.mkdir()
    for name in ("features.npy", "layout_umap.npy", "layout_date.npy", "clusters.npy", "images.csv"):
        (art / name).write_text("old")
    (art / "config.json").write_text(json.dumps({"pixmap": "0.1", "options": {}}))
    build(site, force=True)
    assert sorted(p.name for p in art.iterdir()) == [".pixmap-artifacts", "config.json", "features.npy",
                                                     "layout_umap.npy"]


def test_artifacts_and_site_must_be_apart(tmp_path):
    site = tmp_path / "map"
    for art, what in ((site / "artifacts", "inside the site"), (site, "both"), (tmp_path, "inside the artifacts")):
        with pytest.raises(OutputError, match=what):
            Output(site, art).open()
    with pytest.raises(OutputError, match="feature cache"):
        Output(site, cache_dir=site / "cache").open()
    with pytest.raises(OutputError, match="feature cache"):
        Output(site, cache_dir=tmp_path / "map-artifacts").open()
    assert not site.exists()


def test_the_home_folder_and_the_root_are_refused(tmp_path):
    with pytest.raises(OutputError, match="home folder"):
        Output("~").open()
    with pytest.raises(OutputError, match="root folder"):
        Output("/", tmp_path / "a").open()


# ----------------------------------------------------------------------------------------- rule 4
def test_a_file_saved_into_the_output_during_the_build_is_kept(tmp_path):
    site = tmp_path / "map"
    site.mkdir()
    with Output(site) as out:
        fake_build(out)
        (site / "notes.txt").write_text("saved while the build ran")
        (site / "data").mkdir()
        (site / "data" / "mine.txt").write_text("also")
        out.publish()
    assert (site / "notes.txt").read_text() == "saved while the build ran"
    assert (site / "data" / "mine.txt").exists() and (site / "data" / "thumbs" / "a.webp").exists()
    assert "notes.txt" not in listed(site)
    assert any("notes.txt" in n for n in out.notes)


def test_a_file_saved_on_a_path_pixmap_writes_during_the_build_refuses_the_publish(tmp_path):
    site = tmp_path / "map"
    site.mkdir()
    with Output(site) as out:
        fake_build(out)
        (site / "index.html").write_text("the user's page")
        with pytest.raises(OutputError, match="index.html"):
            out.publish()
    assert sorted(p.name for p in site.iterdir()) == ["index.html"]
    assert (site / "index.html").read_text() == "the user's page"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map"]


# ----------------------------------------------------------------------------------------- rule 5
def test_publishing_moves_into_an_existing_folder_without_renaming_it(tmp_path):
    site = tmp_path / "map"
    build(site)
    ino = site.stat().st_ino
    fd = os.open(site, os.O_RDONLY)   # like a shell standing in it, or a mount point
    try:
        build(site, force=True, extra={"index.html": "second"})
        assert os.stat(site).st_ino == ino
        with os.scandir(fd) as it:    # the very folder we held open now holds the new map
            assert "index.html" in {e.name for e in it}
        assert (site / "index.html").read_text() == "second"
    finally:
        os.close(fd)


def test_out_dot_publishes_into_the_current_folder(tmp_path, monkeypatch):
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    ino = here.stat().st_ino
    build(".")
    assert (here / "index.html").exists() and here.stat().st_ino == ino
    assert (tmp_path / "here-artifacts" / "features.npy").exists()


def test_a_symlinked_output_is_written_through(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    build(tmp_path / "link")
    assert (tmp_path / "link").is_symlink() and (real / "index.html").exists()


def test_a_mount_point_is_staged_inside_and_filled(tmp_path, monkeypatch):
    site = tmp_path / "volume"
    site.mkdir()
    monkeypatch.setattr(output.os.path, "ismount", lambda p: Path(p) == site)
    ino = site.stat().st_ino
    with Output(site) as out:
        assert out.site.parent == site and out.site.name.startswith(".pixmap-building-")
        fake_build(out)
        out.publish()
    assert site.stat().st_ino == ino
    assert sorted(p.name for p in site.iterdir()) == [".pixmap-site", "data", "favicon.svg", "index.html",
                                                      "js", "style.css"]
    build(site, force=True)     # and again
    assert ".pixmap-building" not in " ".join(os.listdir(site))


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare")
def test_a_real_mount_point(tmp_path):
    """A tmpfs mounted on --out (as a Docker volume is), in a private mount namespace."""
    site = tmp_path / "volume"
    site.mkdir()
    code = textwrap.dedent(f"""
        import os, subprocess, sys
        sys.path.insert(0, {str(REPO)!r})
        subprocess.run(["mount", "-t", "tmpfs", "none", {str(site)!r}], check=True)
        from pixmap.output import Output
        from tests.test_output import build
        with Output({str(site)!r}) as out:      # staged on the volume itself, so moves are renames
            assert out.site.parent == out.out_dir and out.artifacts.parent == out.out_dir.parent, out.site
        build({str(site)!r})
        build({str(site)!r}, force=True)
        assert os.path.ismount({str(site)!r})
        print(sorted(os.listdir({str(site)!r})))
    """)
    r = subprocess.run(["unshare", "-m", sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    if r.returncode != 0 and "mount" in r.stderr and "Traceback" not in r.stderr:
        pytest.skip(f"cannot mount here: {r.stderr.strip()}")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str([".pixmap-site", "data", "favicon.svg", "index.html", "js", "style.css"])


# ----------------------------------------------------------------------------------------- rule 6
def test_a_killed_builds_staging_folder_is_removed_by_the_next_build(tmp_path):
    site = tmp_path / "map"
    proc = run_holder(f"""
        out = Output({str(site)!r}).open()
        (out.site / "index.html").write_text("half")
        print("READY", out.site, out.artifacts, flush=True)
        time.sleep(60)
    """, tmp_path)
    _, staged_site, staged_art = proc.ready_line.split()
    assert Path(staged_site).is_dir() and Path(staged_site).name.startswith(".map.building-")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert Path(staged_site).is_dir()                     # left behind by the killed build
    out = build(site)
    assert not Path(staged_site).exists() and not Path(staged_art).exists()
    assert any("interrupted build" in n and Path(staged_site).name in n for n in out.notes)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".map")) == []


def test_a_running_builds_staging_folder_is_not_removed(tmp_path):
    # a live process holding a staging folder of its own (as an unrelated build whose name matches would)
    staging = tmp_path / ".map.building-abcd1234"
    proc = run_holder(f"""
        import fcntl, os
        os.mkdir({str(staging)!r})
        fd = os.open({str(staging / ".pixmap-staging-lock")!r}, os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)
        print("READY", flush=True)
        time.sleep(60)
    """, tmp_path)
    try:
        out = build(tmp_path / "map")
        assert staging.is_dir() and not any("interrupted" in n for n in out.notes)
    finally:
        proc.kill()
        proc.wait()
    build(tmp_path / "map", force=True)      # now it is stale
    assert not staging.exists()


# ----------------------------------------------------------------------------------------- rule 7
def test_published_folders_get_normal_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        build(tmp_path / "map")
    finally:
        os.umask(old)
    for root in (tmp_path / "map", tmp_path / "map-artifacts"):
        assert stat.S_IMODE(root.stat().st_mode) == 0o755, root
        for p in root.rglob("*"):
            assert stat.S_IMODE(p.stat().st_mode) == (0o755 if p.is_dir() else 0o644), p


def test_an_older_pixmaps_0700_site_folder_gets_normal_permissions(tmp_path):
    site = tmp_path / "map"
    site.mkdir(mode=0o700)
    old_map(site)
    old = os.umask(0o022)
    try:
        out = build(site, force=True)
        assert stat.S_IMODE(site.stat().st_mode) == 0o755
        assert any("permissions" in n for n in out.notes)
        site.chmod(0o700)                   # the user's own choice on a folder pixmap now lists: kept
        build(site, force=True)
        assert stat.S_IMODE(site.stat().st_mode) == 0o700
    finally:
        os.umask(old)


# ----------------------------------------------------------------------------------------- rule 8
def test_a_second_build_into_the_same_folder_stops_at_once(tmp_path):
    site = tmp_path / "map"
    proc = run_holder(f"""
        import os
        out = Output({str(site)!r}).open()
        print("READY", os.getpid(), flush=True)
        time.sleep(60)
    """, tmp_path)
    pid = proc.ready_line.split()[1]
    try:
        t = time.monotonic()
        with pytest.raises(OutputError, match=rf"another pixmap build \(pid {pid}\) is writing .*map; wait"):
            Output(site).open()
        assert time.monotonic() - t < 2
        # its artifacts folder is locked too, for a build into another site with the same --artifacts-dir
        with pytest.raises(OutputError, match="another pixmap build .*map-artifacts"):
            Output(tmp_path / "other", tmp_path / "map-artifacts").open()
    finally:
        proc.kill()
        proc.wait()
    build(site)            # the lock died with its process
    assert (site / "index.html").exists()


def test_the_lock_is_per_open_output_in_one_process_too(tmp_path):
    with Output(tmp_path / "map"):
        with pytest.raises(OutputError, match="another pixmap build"):
            Output(tmp_path / "map").open()
    assert not (tmp_path / ".map.pixmap-lock").exists()


# ----------------------------------------------------------------------------------------- publish
def test_an_interrupted_publish_is_reported_and_repaired_by_force(tmp_path, monkeypatch):
    site = tmp_path / "map"
    build(site, extra={"data/thumbs/b.webp": "B"})
    calls = []
    real_move = output._move

    def failing_move(src, dst):
        calls.append(dst)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real_move(src, dst)

    monkeypatch.setattr(output, "_move", failing_move)
    with pytest.raises(OutputError, match="half-way"):
        build(site, force=True, extra={"data/thumbs/c.webp": "C"})
    monkeypatch.setattr(output, "_move", real_move)
    # the marker still names every file of pixmap's, old and new, so --force cleans up
    (site / "CNAME").write_text("kept")
    build(site, force=True)
    assert tree(site) - {".pixmap-site", "CNAME"} == listed(site)
    assert not (site / "data" / "thumbs" / "b.webp").exists()


def test_publish_needs_open_and_works_once(tmp_path):
    out = Output(tmp_path / "map")
    with pytest.raises(OutputError):
        out.publish()
    with out:
        fake_build(out)
        out.publish()
        with pytest.raises(OutputError):
            out.publish()
    out.close()
