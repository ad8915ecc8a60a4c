import hashlib
import os
import re
import threading
import unicodedata
from pathlib import Path

import pytest
from PIL import features as pil_features

from pixmap import sources as sources_module
from pixmap.images import CLASSIC_EXTENSIONS, UNSUPPORTED_EXTENSIONS
from pixmap.sources import (ARTIFACTS_MARKER, IMAGE_EXTENSIONS, MAX_ID_LENGTH, SITE_MARKER, ImageSource,
                            SourceError, find_images, make_id, make_ids, sanitize_id)

from .badimages import dataset_images, make_bad_folder

SAFE_ID = re.compile(r"^[A-Za-z0-9._-]+$")  # a plain ASCII id, as every id was before Unicode ids
HASHED = re.compile(r"~[0-9a-f]{8}$")      # the hash that ids which lost information end with


def assert_valid_id(id_: str) -> None:
    """A safe file name on every common system, made of the characters the id rule keeps."""
    assert id_ and unicodedata.normalize("NFC", id_) == id_, id_
    assert not id_.startswith(".") and "/" not in id_ and "\\" not in id_, id_
    assert len(id_.encode("utf-8")) <= MAX_ID_LENGTH < 200, id_
    for c in id_:
        assert c.isalnum() or c in "._-~" or unicodedata.category(c).startswith("M"), (id_, c)


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


def test_id_collisions_get_hashes_of_their_own_paths(tmp_path):
    touch(tmp_path, "a.jpg", "a.png", "a-2.jpg", "x y.jpg", "x_y.jpg", "Cat.jpg", "cat.png", "b.jpg")
    _, sources = find_images(tmp_path)
    got = dict(zip(rels(sources), ids(sources)))
    assert len(got) == 8
    for rel, plain in (("a-2.jpg", "a-2"), ("b.jpg", "b"), ("x_y.jpg", "x_y")):
        assert got[rel] == plain  # no collision and nothing lost: the plain id
    for rel, stem in (("a.jpg", "a"), ("a.png", "a"), ("Cat.jpg", "Cat"), ("cat.png", "cat"),
                      ("x y.jpg", "x_y")):  # a collision, or a lost character: the hash of the path
        assert got[rel].startswith(stem + "~") and HASHED.search(got[rel]), got[rel]
    assert len({i.casefold() for i in got.values()}) == len(got)


def test_collision_ids_do_not_depend_on_order_or_on_other_files():
    names = ["A.jpg", "a.jpg", "x y.jpg", "x,y.jpg", "東京.jpg", "大阪.jpg", "photo.jpg", "photo.PNG"]
    base = dict(zip(names, make_ids(names)))
    assert dict(zip(names[::-1], make_ids(names[::-1]))) == base  # order does not matter
    for extra in ("a.png", "X Y.jpg", "x;y.jpg", "京都.jpg", "Photo.gif", "photo.svg", "other.jpg"):
        more = names + [extra]
        after = dict(zip(more, make_ids(more)))
        assert {n: after[n] for n in names} == base, extra  # adding a file renames nothing
        assert len({i.casefold() for i in after.values()}) == len(more)


def test_unicode_names_keep_their_letters():
    names = ["東京.jpg", "大阪.jpg", "café/naïve.jpg", "Ελλάδα.png", "हिन्दी.png", "Straße.jpg"]
    assert make_ids(names) == ["東京", "大阪", "café--naïve", "Ελλάδα", "हिन्दी", "Straße"]
    assert make_ids(names + ["京都.jpg"])[:len(names)] == make_ids(names)  # adding a file renames nothing
    nfd = [unicodedata.normalize("NFD", n) for n in names]  # the same names copied from a Mac
    assert make_ids(nfd) == make_ids(names)


def test_plain_ascii_ids_are_those_of_earlier_versions():
    long_path = "deep/" * 40 + "one.jpg"
    assert make_ids(["2019/beach.jpg", "IMG_0001.JPG", "a-2.jpg", "notes.v2.png", "x_y.tiff",
                     "scan", long_path]) == [
        "2019--beach", "IMG_0001", "a-2", "notes.v2", "x_y", "scan",
        hashlib.sha1(long_path.encode()).hexdigest()[:10] + "-" + ("deep--" * 40 + "one")[-109:]]


def test_ids_are_valid_file_names(tmp_path):
    names = ["café/naïve photo (1).JPG", "a&b/c#d?.png", "..weird/..x.jpg", "semi;colon.gif",
             "日本/写真.jpg", "right\u202eleft.jpg", "zero\u200bwidth.jpg", "tab\tand\nnewline.jpg",
             "emoji 😀.png", "東京/" * 60 + "写真.jpg", "e\u0301" * 200 + ".jpg", ".jpg", "~tilde~.jpg",
             "con.jpg", "back\\slash.jpg", "bad\udcffbyte.jpg"]
    names += names[-7:-6] * 2  # the same long path three times: numbered, and still short enough
    got = make_ids(names)
    assert len({i.casefold() for i in got}) == len(got)
    for id_ in got:
        assert_valid_id(id_)
        (tmp_path / f"{id_}.webp").write_bytes(b"")  # the file system takes it as a name
    assert len(list(tmp_path.iterdir())) == len(got)


def test_ids_safe_and_stable(tmp_path):
    touch(tmp_path, "café/naïve photo (1).JPG", "a&b/c#d?.png", "..weird/..x.jpg", "semi;colon.gif",
          "日本/写真.jpg")
    first = find_images(tmp_path)[1]
    second = find_images(str(tmp_path))[1]
    assert first == second
    for s in first:
        assert_valid_id(s.id)
    assert len(set(ids(first))) == len(first)
    assert ids(first) == [make_id(s.relpath) for s in first]
    assert sanitize_id("café/naïve photo (1).JPG") == make_id("café/naïve photo (1).JPG")
    assert make_id("café/naïve photo (1).JPG").startswith("café--naïve_photo__1_~")
    assert make_id("日本/写真.jpg") == "日本--写真"


def test_long_paths_give_bounded_unique_ids():
    a = "deep/" * 40 + "one.jpg"
    b = "deeper/" * 40 + "one.jpg"
    c = "東京/" * 40 + "one.jpg"
    got = make_ids([a, b, c])
    for i in got:
        assert_valid_id(i)
    assert SAFE_ID.match(got[0]) and SAFE_ID.match(got[1])
    assert len(set(got)) == 3 and all(i.endswith("one") for i in got)


def test_make_ids_does_bounded_work_per_path(monkeypatch):
    """make_ids is linear: even when every path gives the same id, each path costs a few steps.

    Counted rather than timed: every id make_ids considers is compared through _id_key.
    """
    calls = 0
    real_key = sources_module._id_key

    def counting_key(id_):
        nonlocal calls
        calls += 1
        return real_key(id_)

    monkeypatch.setattr(sources_module, "_id_key", counting_key)
    n = 20000
    taken = [f"a-{k}.jpg" for k in range(2, 1002)]  # ids the numbering must step over
    got = make_ids(["a.jpg"] * n + taken)  # the same path n times: numbered "a", "a-1002", ...
    assert got[:3] == ["a", "a-1002", "a-1003"] and got[n - 1] == f"a-{n + 1000}"
    assert got[n:] == [f"a-{k}" for k in range(2, 1002)] and len(set(got)) == len(got)
    assert calls <= 10 * len(got)

    calls = 0
    alike = [f"a{k:015b}.jpg".replace("0", "!").replace("1", "#") for k in range(n)]  # all "a_____..."
    got = make_ids(alike)
    assert len(set(got)) == n and all(HASHED.search(i) or "-" in i for i in got)
    assert calls <= 10 * n

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


def test_pixmap_output_skipped_at_any_depth(tmp_path):
    touch(tmp_path, "a.jpg",
          "deep/er/map/" + SITE_MARKER, "deep/er/map/data/thumbs/a.webp",
          "deep/map-artifacts/" + ARTIFACTS_MARKER, "deep/map-artifacts/plot.png",
          "old-artifacts/config.json", "old-artifacts/features.npy", "old-artifacts/images.csv",
          "old-artifacts/plot.png",
          ".map.building-x1y2/data/thumbs/b.webp",
          "notes/config.json", "notes/b.png")  # a config.json alone is not pixmap's
    assert rels(find_images(tmp_path)[1]) == ["a.jpg", "notes/b.png"]
    assert rels(find_images(str(tmp_path / "**" / "*.*"))[1]) == ["a.jpg", "notes/b.png"]


@pytest.mark.parametrize("marker", [SITE_MARKER, ARTIFACTS_MARKER])
def test_images_folder_that_is_pixmap_output_is_refused(tmp_path, marker):
    touch(tmp_path, "map/" + marker, "map/data/thumbs/a.webp", "map/data/atlas/atlas-000.webp")
    for given in (tmp_path / "map", str(tmp_path / "map" / "**" / "*.webp"), [tmp_path / "map"]):
        with pytest.raises(SourceError, match=r"map is .*pixmap.*pass the folder of the original images"):
            find_images(given)
    touch(tmp_path, ".map.building-abc/data/thumbs/a.webp")
    with pytest.raises(SourceError, match="unfinished pixmap build"):
        find_images(tmp_path / ".map.building-abc")


def test_extensions_constant():
    assert IMAGE_EXTENSIONS[:8] == CLASSIC_EXTENSIONS == (
        ".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")
    assert (".avif" in IMAGE_EXTENSIONS) == bool(pil_features.check("avif"))
    assert (".avif" in UNSUPPORTED_EXTENSIONS) != (".avif" in IMAGE_EXTENSIONS)
    assert {".svg", ".heic", ".psd"} <= set(UNSUPPORTED_EXTENSIONS)
    assert not set(IMAGE_EXTENSIONS) & set(UNSUPPORTED_EXTENSIONS)


def test_unsupported_image_types_are_listed_with_distinct_ids(tmp_path):
    touch(tmp_path, "a.jpg", "a.svg", "b.HEIC", "c.psd", "d.avif", "e.jp2", "notes.txt", "f.jxl")
    _, sources = find_images(tmp_path)
    got = dict(zip(rels(sources), ids(sources)))
    assert got == {"a.jpg": "a", "a.svg": "a.svg", "b.HEIC": "b.HEIC", "c.psd": "c.psd",
                   "d.avif": "d.avif", "e.jp2": "e.jp2", "f.jxl": "f.jxl"}  # the build reports why


def fifo_or_skip(path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes here")
    os.mkfifo(path)


def test_named_pipes_and_devices_are_listed_without_opening_them(tmp_path):
    touch(tmp_path, "good.jpg")
    fifo_or_skip(tmp_path / "pipe.jpg")
    fifo_or_skip(tmp_path / "glob-pipe.png")
    if os.path.exists("/dev/zero"):
        symlink_or_skip("/dev/zero", tmp_path / "zero.jpg")
    result = {}
    worker = threading.Thread(target=lambda: result.update(
        walk=rels(find_images(tmp_path)[1]), glob=rels(find_images(str(tmp_path / "*.*"))[1])),
        daemon=True)
    worker.start()
    worker.join(20)
    assert not worker.is_alive(), "find_images blocked on a named pipe"
    expected = sorted(["good.jpg", "pipe.jpg", "glob-pipe.png"]
                      + (["zero.jpg"] if os.path.lexists(tmp_path / "zero.jpg") else []))
    assert result == {"walk": expected, "glob": expected}  # pixmap.images.read says why they are skipped


def test_bad_folder_helper_lists(tmp_path):
    info = make_bad_folder(tmp_path / "photos")
    root, sources = find_images(info["root"])
    assert rels(sources) == sorted(info["good"] + list(info["bad"]))
    assert not set(info["ignored"]) & set(rels(sources))
    assert len(dataset_images(3)) == 3
