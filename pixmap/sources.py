"""Find the images to map: a folder, a glob, a single file, or a list of those.

    root, sources = find_images("~/paintings")
    root, sources = find_images("photos/**/*.jpg", max_images=500)
    root, sources = find_images(["scans", "extra/cover.png"])

The order of `sources` is deterministic: sorted by relative path.

What is listed: files named with an image extension, either IMAGE_EXTENSIONS (the types decoded
here) or UNSUPPORTED_EXTENSIONS (SVG, HEIC, PSD, AVIF without its codec, ...), which are listed so
that the build reports them as skipped ("unsupported image type: SVG (convert it to PNG)") instead of
ignoring them. Every entry that is not a folder counts, named pipes and devices too: listing never
opens a file, and pixmap.images.read then refuses what is not a regular file, with a reason the build
reports. Never searched: hidden files and folders, and pixmap's own output at any depth: a built map
(a folder holding SITE_MARKER), a build's artifacts folder (holding ARTIFACTS_MARKER, or the
config.json, features.npy and images.csv that builds wrote before that marker existed), and the
folders of unfinished builds (".<name>.building-*", ".pixmap-building-*"). Given one of these as the
images folder itself, find_images raises SourceError.

Ids. Every image gets an id that is unique, a valid file name (thumbs/<id>.webp) and URL path segment
once percent-encoded, and stable: it depends only on the image's path relative to `root`, never on
which other files exist or on their order, except as said under collisions below.

- The path is NFC-normalised (a name copied from a Mac, in NFD, gives the same id); the extension is
  dropped when it is one of the classic CLASSIC_EXTENSIONS (.jpg, .png, ...), other extensions stay
  in the id ("scan.avif"), so two files that differ only in such an extension never share an id;
  folder separators become "--": "2019/beach.jpg" -> "2019--beach".
- Letters, digits and combining marks of any script, and "." "_" "-", are kept ("東京", "café");
  every other character (spaces, punctuation, symbols, control and format characters) becomes "_",
  and a leading "." becomes "_".
- When that lost information (the id is not just the path with "/" as "--" and no extension),
  "~" and 8 hex digits of the SHA-1 of the NFC relative path are appended: "x y.jpg" -> "x_y~1a2b3c4d".
  So two names that sanitise alike get different ids without depending on each other. "~" appears
  only in such ids, never in a plain one.
- An id longer than MAX_ID_LENGTH bytes (UTF-8) becomes 10 hex digits of that hash, "-", and the end
  of the id that fits: "0123456789-...--beach".
- Collisions: ids are compared after NFC normalisation and Unicode case folding (so no two ids name the
  same file on a case-insensitive file system). When different paths give the same id ("a.jpg" and
  "a.png", "A.jpg" and "a.jpg", "a/b.jpg" and "a--b.jpg"), every one of them gets its hashed form
  instead ("a~...", "A~..."), which depends on its own path only: adding a third one renames nothing,
  and the order does not matter. (The image that had the id alone is renamed once, when the first
  file that collides with it is added.)
- Only exact duplicates are numbered ("a", "a-2", ...): the same path given twice, two paths that
  differ only in Unicode normalisation, or the rare clash of two hashes.

A plain ASCII name with no collision keeps the id older versions gave it: "2019/beach.jpg" ->
"2019--beach".
"""
from __future__ import annotations

import glob
import hashlib
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Union

from .images import CLASSIC_EXTENSIONS, EXTENSIONS, UNSUPPORTED_EXTENSIONS

IMAGE_EXTENSIONS = EXTENSIONS  # the types decoded here (any letter case); AVIF etc. depend on Pillow's build

# A folder holding this file is a site that pixmap built; it is never searched for images
# (so building into a folder inside the images folder does not feed the thumbnails back in).
SITE_MARKER = ".pixmap-site"
# A folder holding this file is the artifacts folder of a build (features, layouts, config.json).
ARTIFACTS_MARKER = ".pixmap-artifacts"
# What an artifacts folder written before ARTIFACTS_MARKER existed holds.
_OLD_ARTIFACTS_FILES = ("config.json", "features.npy", "images.csv")
# The temporary folder a build writes into: ".<name>.building-<random>" beside the output folder, or
# ".pixmap-building-<random>" inside it; it may hold a lock file of this name.
_STAGING_FOLDER = re.compile(r"^\.(.+\.|pixmap-)building-")
_STAGING_LOCK = ".pixmap-staging-lock"

MAX_ID_LENGTH = 120  # bytes of UTF-8: ids are file names (thumbs/<id>.webp), kept well under 255 bytes

PathInput = Union[str, os.PathLike]

_GLOB_CHARS = re.compile(r"[*?[]")
_ID_PUNCTUATION = "._-"     # the characters other than letters, digits and marks kept in ids
_HASH_DIGITS = 8            # of the hash appended to ids that lost information
_LONG_HASH_DIGITS = 10      # of the hash that starts ids that were too long


class SourceError(Exception):
    """The images could not be found: a missing path, or a folder or pattern without images."""


@dataclass(frozen=True)
class ImageSource:
    id: str        # unique, stable, a safe file name (see the module docstring)
    path: Path | None  # absolute; None for an image fetched over the network (IIIF)
    relpath: str   # posix path relative to the root returned by find_images (IIIF: "iiif/<host>/<canvas>")
    remote: object | None = None  # for IIIF: the pixmap.iiif.manifests.IIIFImage it comes from

    @property
    def location(self) -> str:
        """Where the image comes from, for messages: its file path, or its canvas/image URL."""
        if self.path is not None:
            return str(self.path)
        return str(getattr(self.remote, "canvas_id", None) or getattr(self.remote, "url", None) or self.relpath)


def is_image_name(name: str) -> bool:
    """True when the file name has an image extension (any letter case): one of IMAGE_EXTENSIONS, or of
    UNSUPPORTED_EXTENSIONS (listed so that the build reports them as skipped, with the reason)."""
    return name.lower().endswith(IMAGE_EXTENSIONS + UNSUPPORTED_EXTENSIONS)


def find_images(images: PathInput | Sequence[PathInput],
                max_images: int | None = None) -> tuple[Path, list[ImageSource]]:
    """Find the images named by `images`; return (root, sources sorted by relpath).

    `images` is a folder (searched recursively, hidden files and folders skipped), a glob pattern
    (``**`` matches any depth, ``~`` is expanded), a single image file, or a list of those.
    `root` is the folder everything is relative to: the folder given, the fixed part of a glob
    before its first wildcard, a single file's folder, or for a list the common parent of those.
    Symbolic links are followed, and each real file is listed once.
    `max_images` keeps the first N images in that order.
    """
    entries = [images] if isinstance(images, (str, os.PathLike)) else list(images)
    if not entries:
        raise SourceError("no images given: pass a folder, a glob pattern or image files")
    if max_images is not None and max_images < 1:
        raise SourceError(f"max_images must be at least 1 (got {max_images})")

    roots: list[str] = []
    found: list[str] = []  # absolute paths, symlinks not resolved (relpaths stay under the root)
    for entry in entries:
        entry_root, paths = _find_entry(entry)
        roots.append(entry_root)
        found.extend(paths)

    try:
        root = os.path.commonpath(roots) if len(roots) > 1 else roots[0]
    except ValueError as e:  # e.g. paths on different drives
        raise SourceError(f"the inputs have no common parent folder: {', '.join(roots)}") from e

    with_rel = sorted((_relpath(p, root), p) for p in set(found))
    seen_real: set[str] = set()
    sources_paths: list[tuple[str, str]] = []
    for rel, p in with_rel:
        real = os.path.realpath(p)
        if real in seen_real:
            continue
        seen_real.add(real)
        sources_paths.append((rel, p))
        if max_images is not None and len(sources_paths) >= max_images:
            break

    ids = make_ids([rel for rel, _ in sources_paths])
    sources = [ImageSource(id=i, path=Path(p), relpath=rel)
               for i, (rel, p) in zip(ids, sources_paths)]
    return Path(root), sources


def make_ids(relpaths: Sequence[str]) -> list[str]:
    """Ids for the given relative paths (posix, in that order), unique without letter case.

    Each path gets make_id(path), or hashed_id(path) when another, different path gives the same id
    (compared after NFC normalisation and case folding). Exact duplicates (see the module docstring)
    are numbered: "a", "a-2", "a-3"... The work is linear in the number of paths.
    """
    first = [make_id(rel) for rel in relpaths]
    paths_of: dict[str, set[str]] = {}  # id key -> the different (NFC) paths that give it
    for rel, id_ in zip(relpaths, first):
        paths_of.setdefault(_id_key(id_), set()).add(_nfc(rel))
    ids = [hashed_id(rel) if len(paths_of[_id_key(id_)]) > 1 else id_
           for rel, id_ in zip(relpaths, first)]
    return _number_duplicates(ids)


def make_id(relpath: str) -> str:
    """The id of one relative path (posix), when no other path collides with it (see make_ids)."""
    base, lossless = _sanitize(relpath)
    if _utf8_len(base) > MAX_ID_LENGTH:
        return _long_id(base, relpath)
    return base if lossless else hashed_id(relpath)


def hashed_id(relpath: str) -> str:
    """The id of a relative path with a hash of the path in it: "name~1a2b3c4d" (see make_ids)."""
    base, _ = _sanitize(relpath)
    digest = _digest(relpath)[:_HASH_DIGITS]
    if _utf8_len(base) + 1 + len(digest) > MAX_ID_LENGTH:
        return _long_id(base, relpath)
    return f"{base}~{digest}"


def sanitize_id(relpath: str) -> str:
    """The former name of make_id."""
    return make_id(relpath)


def _sanitize(relpath: str) -> tuple[str, bool]:
    """(the id before any hash, whether it keeps all of the path's information but the extension)."""
    rel = _nfc(relpath)
    stem, ext = os.path.splitext(rel)
    if ext.lower() not in CLASSIC_EXTENSIONS:  # only a classic image extension is dropped
        stem = rel
    parts = [part for part in stem.split("/") if part]
    plain = "--".join(parts)
    base = "--".join("".join(c if _id_char(c) else "_" for c in part) for part in parts)
    if base.startswith("."):  # no hidden files in the site, and never '.' or '..'
        base = "_" + base[1:]
    if not base:
        base = "image"
    return base, base == plain


def _id_char(c: str) -> bool:
    """Kept in ids: letters and digits of any script, combining marks (needed by many scripts), ._-"""
    return c.isalnum() or c in _ID_PUNCTUATION or unicodedata.category(c) in ("Mn", "Mc", "Me")


def _long_id(base: str, relpath: str) -> str:
    """10 hex digits of the path's hash, '-', and the end of the id (the file name) that fits."""
    digest = _digest(relpath)[:_LONG_HASH_DIGITS]
    keep = MAX_ID_LENGTH - len(digest) - 1
    tail = base.encode("utf-8")[-keep:].decode("utf-8", "ignore")  # never half a character
    return f"{digest}-{tail}"


def _number_duplicates(ids: list[str]) -> list[str]:
    """Make ids unique without letter case: the second "a" becomes "a-2", the next "a-3"... skipping
    any id that is in the list. Linear: the next number to try is remembered for every id."""
    reserved = {_id_key(i) for i in ids}
    used: set[str] = set()
    next_number: dict[str, int] = {}
    out = []
    for id_ in ids:
        key = _id_key(id_)
        if key in used:
            n = next_number.get(key, 2)
            while _id_key(_numbered(id_, n)) in reserved or _id_key(_numbered(id_, n)) in used:
                n += 1
            next_number[key] = n + 1
            id_ = _numbered(id_, n)
            key = _id_key(id_)
        used.add(key)
        out.append(id_)
    return out


def _numbered(id_: str, n: int) -> str:
    """id_ with "-n" appended, its end shortened when that would make it longer than MAX_ID_LENGTH."""
    suffix = f"-{n}"
    room = MAX_ID_LENGTH - len(suffix)
    return id_.encode("utf-8")[:room].decode("utf-8", "ignore") + suffix


def _id_key(id_: str) -> str:
    """What two ids are compared by: two ids with the same key name the same file on some file system."""
    return unicodedata.normalize("NFC", id_).casefold()


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _digest(relpath: str) -> str:
    return hashlib.sha1(_nfc(relpath).encode("utf-8", "surrogateescape")).hexdigest()


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def _find_entry(entry: PathInput) -> tuple[str, list[str]]:
    """(root, absolute image paths) for one folder, glob pattern or file."""
    text = os.path.expanduser(os.fspath(entry))
    if os.path.isdir(text):
        root = os.path.abspath(text)
        _refuse_output_folder(root)
        paths = _walk(root)
        if not paths:
            raise SourceError(
                f"no images in the folder {root} (searched recursively, hidden files skipped); "
                f"supported extensions: {', '.join(IMAGE_EXTENSIONS)}")
        return root, paths
    if os.path.lexists(text):
        path = os.path.abspath(text)
        if not os.path.exists(path):
            raise SourceError(f"broken symbolic link: {path}")
        if not is_image_name(path):
            raise SourceError(f"not an image file name: {path} "
                              f"(supported extensions: {', '.join(IMAGE_EXTENSIONS)})")
        return os.path.dirname(path), [path]
    if _GLOB_CHARS.search(text):
        return _glob(text)
    raise SourceError(f"no such file or folder: {text}")


def _walk(root: str) -> list[str]:
    """Image files under root, recursively; hidden entries and pixmap's output skipped, links followed.

    Every entry that is not a folder counts as a file (os.walk opens no file, so a named pipe cannot
    block it): named pipes, devices and broken links with an image name are listed, and the build
    reports them as skipped (pixmap.images.read says why).
    """
    paths = []
    visited_dirs = set()
    for folder, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in visited_dirs or (folder != root and _output_kind(folder, set(filenames))):
            dirnames[:] = []  # a symlink loop, a folder seen through another link, or pixmap's output
            continue
        visited_dirs.add(real)
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        paths.extend(os.path.join(folder, name) for name in filenames
                     if not name.startswith(".") and is_image_name(name))
    return paths


def _glob(pattern: str) -> tuple[str, list[str]]:
    """(root, image files matching pattern): root is the pattern's folder before the first wildcard.

    As in a folder, every match that is not a folder counts, and pixmap's output is left out.
    """
    pattern = os.path.abspath(pattern)
    parts = Path(pattern).parts
    fixed = []
    for part in parts:
        if _GLOB_CHARS.search(part):
            break
        fixed.append(part)
    root = str(Path(*fixed)) if fixed else os.path.abspath(os.sep)
    if os.path.isdir(root):
        _refuse_output_folder(root)
    output_folders: dict[str, bool] = {}  # folder -> whether it is pixmap's output (asked once each)
    paths = [p for p in glob.glob(pattern, recursive=True)
             if is_image_name(p) and not os.path.isdir(p)
             and not _in_output_folder(p, root, output_folders)]
    if not paths:
        if not os.path.isdir(root):
            raise SourceError(f"no such folder: {root} (in the pattern {pattern})")
        raise SourceError(f"no images match the pattern {pattern}; "
                          f"supported extensions: {', '.join(IMAGE_EXTENSIONS)}")
    return root, [os.path.abspath(p) for p in paths]


def _output_kind(folder: str, names: set[str] | None = None) -> str | None:
    """What output of pixmap `folder` is ("a map that pixmap built", ...), or None when it is none.

    `names`: the names of the files in the folder, when known; else the few that matter are looked up.
    """
    if names is None:
        names = {name for name in (SITE_MARKER, ARTIFACTS_MARKER, _STAGING_LOCK) + _OLD_ARTIFACTS_FILES
                 if os.path.lexists(os.path.join(folder, name))}
    if SITE_MARKER in names:
        return f"a map that pixmap built (it holds {SITE_MARKER})"
    if ARTIFACTS_MARKER in names or all(name in names for name in _OLD_ARTIFACTS_FILES):
        return "the artifacts folder of a pixmap build (features, layouts, config.json)"
    if _STAGING_FOLDER.match(os.path.basename(folder)) or _STAGING_LOCK in names:
        return "the temporary folder of an unfinished pixmap build"
    return None


def _refuse_output_folder(root: str) -> None:
    """SourceError when the folder given as the images is pixmap's own output."""
    kind = _output_kind(root)
    if kind:
        raise SourceError(f"{root} is {kind}, not a folder of images: pass the folder of the original "
                          f"images instead")


def _in_output_folder(path: str, root: str, known: dict[str, bool]) -> bool:
    """Whether a folder between root (excluded) and the file at `path` is pixmap's output."""
    folder = root
    for part in Path(os.path.relpath(os.path.dirname(path), root)).parts:
        if part in (os.curdir, os.pardir):
            continue
        folder = os.path.join(folder, part)
        if folder not in known:
            known[folder] = _output_kind(folder) is not None
        if known[folder]:
            return True
    return False


def _relpath(path: str, root: str) -> str:
    return Path(os.path.relpath(path, root)).as_posix()
