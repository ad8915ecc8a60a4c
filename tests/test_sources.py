import os
import re
import time
from pathlib import Path

import pytest

from pixmap.sources import (IMAGE_EXTENSIONS, MAX_ID_LENGTH, SITE_MARKER, ImageSource, SourceError,
                            find_images, make_ids, sanitize_id)

from .badimages import dataset_images, make_bad_folder

SAFE_ID = re.compile(r"^[A-Za-z0-9._-]+$")


def touch(root: Path, *relpaths: str) -> None:
    """Empty files are enough here: find_images looks at names, not contents."""
    for rel in relpaths:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")


def rels(sources):
    return [s.relpath for s in sources]


def ids(sources):
    return [s.id for s in sources]


def test_folder_recursive_sorted_hidden_and_non_images_skipped(tmp_path):
    touch(tmp_path, "b.jpg", "a/c.PNG", "a/d.Jpeg", "B.tif", "notes.txt", "e.gif", "f.webp", "g.bmp",
          "h.tiff", ".hidden.jpg", ".git/objects/x.jpg", "sub/.cache/y.png", "noext")
    root, sources = find_images(tmp_path)
    assert root == tmp_path
    assert rels(sources) == ["B.tif", "a/c.PNG", "a/d.Jpeg", "b.jpg", "e.gif", "f.webp", "g.bmp", "h.tiff"]
    assert all(isinstance(s, ImageSource) and s.path.is_absolute() for s in sources)
    assert all(s.path == tmp_path / s.relpath for s in sources)


def test_str_path_and_relative_path(tmp_path, monkeypatch):
    touch(tmp_path, "photos/a.jpg")
    monkeypatch.chdir(tmp_path)
    root, sources = find_images("photos")
    assert root == tmp_path / "photos" and root.is_absolute()
    assert rels(sources) == ["a.jpg"] and sources[0].path == tmp_path / "photos" / "a.jpg"


def test_duplicate_basenames_get_distinct_ids(tmp_path):
    touch(tmp_path, "a/same.jpg", "b/same.jpg", "a/b/same.jpg")
    _, sources = find_images(tmp_path)
    assert ids(sources) == ["a--b--same", "a--same", "b--same"]


def test_id_collisions_resolved_in_sorted_order(tmp_path):
    touch(tmp_path, "a.jpg", "a.png", "a-2.jpg", "x y.jpg", "x_y.jpg", "Cat.jpg", "cat.png")
    _, sources = find_images(tmp_path)
    got = dict(zip(rels(sources), ids(sources)))
    assert got == {
        "Cat.jpg": "Cat", "a-2.jpg": "a-2", "a.jpg": "a", "a.png": "a-3",  # "a-2" was already taken
        "cat.png": "cat-2",                                                 # ids differ without case too
        "x y.jpg": "x_y", "x_y.jpg": "x_y-2",
    }
    assert len({i.lower() for i in got.values()}) == len(got)


def test_ids_safe_and_stable(tmp_path):
    touch(tmp_path, "café/naïve photo (1).JPG", "a&b/c#d?.png", "..weird/..x.jpg", "semi;colon.gif",
          "日本/写真.jpg")
    first = find_images(tmp_path)[1]
    second = find_images(str(tmp_path))[1]
    assert first == second
    for s in first:
        assert SAFE_ID.match(s.id) and not s.id.startswith("."), s.id
    assert len(set(ids(first))) == len(first)
    assert sanitize_id("café/naïve photo (1).JPG") == "caf_--na_ve_photo__1_"


def test_long_paths_give_bounded_unique_ids():
    a = "deep/" * 40 + "one.jpg"
    b = "deeper/" * 40 + "one.jpg"
    got = make_ids([a, b])
    assert all(len(i) <= MAX_ID_LENGTH and SAFE_ID.match(i) for i in got)
    assert got[0] != got[1] and got[0].endswith("one")


def test_make_ids_is_linear():
    n = 20000
    start = time.perf_counter()
    got = make_ids(["a.jpg"] * n)  # the worst case: every path gives the same id
    assert time.perf_counter() - start < 2.0
    assert got[:3] == ["a", "a-2", "a-3"] and got[-1] == f"a-{n}" and len(set(got)) == n


def test_max_images_keeps_first_in_order_and_ids_unchanged(tmp_path):
    touch(tmp_path, "c.jpg", "a.jpg", "a.png", "b.jpg")
    _, everything = find_images(tmp_path)
    _, first = find_images(tmp_path, max_images=2)
    assert first == everything[:2]
    with pytest.raises(SourceError):
        find_images(tmp_path, max_images=0)


def test_glob_with_double_star(tmp_path):
    touch(tmp_path, "photos/a.jpg", "photos/x/b.jpg", "photos/x/y/c.jpg", "photos/x/d.png",
          "photos/.hidden/e.jpg", "other/f.jpg")
    root, sources = find_images(str(tmp_path / "photos" / "**" / "*.jpg"))
    assert root == tmp_path / "photos"
    assert rels(sources) == ["a.jpg", "x/b.jpg", "x/y/c.jpg"]
    root, sources = find_images(str(tmp_path / "photos" / "x" / "*"))
    assert root == tmp_path / "photos" / "x" and rels(sources) == ["b.jpg", "d.png"]


def test_glob_expands_home(tmp_path, monkeypatch):
    touch(tmp_path, "pics/a.jpg", "pics/b.jpg")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("USERPROFILE", str(tmp_path))
    root, sources = find_images("~/pics/*.jpg")
    assert root == tmp_path / "pics" and rels(sources) == ["a.jpg", "b.jpg"]
    assert find_images("~/pics")[1] == sources


def test_single_file_and_list(tmp_path):
    touch(tmp_path, "x/a.jpg", "x/b.jpg", "y/z/c.png", "y/z/notes.txt")
    root, sources = find_images(tmp_path / "x" / "a.jpg")
    assert root == tmp_path / "x" and rels(sources) == ["a.jpg"]
    root, sources = find_images([tmp_path / "x", str(tmp_path / "y" / "z" / "c.png"),
                                 tmp_path / "x" / "a.jpg"])  # a.jpg twice: listed once
    assert root == tmp_path
    assert rels(sources) == ["x/a.jpg", "x/b.jpg", "y/z/c.png"]


def test_errors_name_the_path(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(SourceError, match="no such file or folder.*nope"):
        find_images(missing)
    (tmp_path / "empty").mkdir()
    touch(tmp_path, "empty/readme.txt", "empty/.x.jpg")
    with pytest.raises(SourceError) as err:
        find_images(tmp_path / "empty")
    assert str(tmp_path / "empty") in str(err.value) and ".jpg" in str(err.value)
    with pytest.raises(SourceError, match="no images match"):
        find_images(str(tmp_path / "empty" / "*.png"))
    with pytest.raises(SourceError, match="not an image file name"):
        find_images(tmp_path / "empty" / "readme.txt")
    with pytest.raises(SourceError, match="no such folder"):
        find_images(str(tmp_path / "nope" / "*.jpg"))
    with pytest.raises(SourceError):
        find_images([])


def symlink_or_skip(target, link, **kwargs):
    try:
        os.symlink(target, link, **kwargs)
    except (OSError, NotImplementedError):
        pytest.skip("no symbolic links here")


def test_symlinks_followed_each_real_file_once(tmp_path):
    touch(tmp_path, "real/a.jpg", "real/b.jpg", "outside/o.jpg")
    symlink_or_skip(tmp_path / "real" / "a.jpg", tmp_path / "real" / "link-to-a.jpg")
    symlink_or_skip(tmp_path / "real", tmp_path / "real" / "loop", target_is_directory=True)
    symlink_or_skip(tmp_path / "outside", tmp_path / "real" / "ext", target_is_directory=True)
    root, sources = find_images(tmp_path / "real")
    assert rels(sources) == ["a.jpg", "b.jpg", "ext/o.jpg"]
    assert sources[2].path == tmp_path / "real" / "ext" / "o.jpg"  # the path through the link


def test_built_site_inside_images_folder_is_skipped(tmp_path):
    touch(tmp_path, "a.jpg", "map/" + SITE_MARKER, "map/data/thumbs/a.webp")
    assert rels(find_images(tmp_path)[1]) == ["a.jpg"]


def test_extensions_constant():
    assert IMAGE_EXTENSIONS == (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")


def test_bad_folder_helper_lists(tmp_path):
    info = make_bad_folder(tmp_path / "photos")
    root, sources = find_images(info["root"])
    assert rels(sources) == sorted(info["good"] + list(info["bad"]))
    assert not set(info["ignored"]) & set(rels(sources))
    assert len(dataset_images(3)) == 3
