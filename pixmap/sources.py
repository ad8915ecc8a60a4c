"""Find the images to map: a folder, a glob, a single file, or a list of those.

    root, sources = find_images("~/paintings")
    root, sources = find_images("photos/**/*.jpg", max_images=500)
    root, sources = find_images(["scans", "extra/cover.png"])

Every image gets an id that is unique, stable across rebuilds (it is derived from the image's path
relative to `root`) and made only of ``[A-Za-z0-9._-]``, so it can be used in file names and URLs as is.
The order of `sources` is deterministic: sorted by relative path.
"""
from __future__ import annotations

import glob
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Union

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")  # any letter case

# A folder holding this file is a site that pixmap built; it is never searched for images
# (so building into a folder inside the images folder does not feed the thumbnails back in).
SITE_MARKER = ".pixmap-site"

MAX_ID_LENGTH = 120  # ids are file names (thumbs/<id>.webp): keep them well under file-system limits

PathInput = Union[str, os.PathLike]

_GLOB_CHARS = re.compile(r"[*?[]")
_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9._-]")


class SourceError(Exception):
    """The images could not be found: a missing path, or a folder or pattern without images."""


@dataclass(frozen=True)
class ImageSource:
    id: str        # unique, stable, only [A-Za-z0-9._-]
    path: Path     # absolute
    relpath: str   # posix path relative to the root returned by find_images


def is_image_name(name: str) -> bool:
    """True when the file name has one of IMAGE_EXTENSIONS (any letter case)."""
    return name.lower().endswith(IMAGE_EXTENSIONS)


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
    """Ids for the given relative paths (in that order): sanitised, then made unique.

    The id is the relpath without its extension, '/' replaced by '--' and every other character
    outside [A-Za-z0-9._-] by '_'. When two paths give the same id (a.jpg and a.png, or two names
    that sanitise alike) the later ones in the given order get '-2', '-3', ...
    Ids are compared without letter case, so that no two ids name the same file on a
    case-insensitive file system (macOS, Windows).
    """
    taken: set[str] = set()
    next_suffix: dict[str, int] = {}
    ids = []
    for rel in relpaths:
        base = sanitize_id(rel)
        key = base.lower()
        candidate = base
        if key in taken:
            n = next_suffix.get(key, 2)
            while f"{key}-{n}" in taken:
                n += 1
            next_suffix[key] = n + 1
            candidate = f"{base}-{n}"
        taken.add(candidate.lower())
        ids.append(candidate)
    return ids


def sanitize_id(relpath: str) -> str:
    """The id for one relative path, before making it unique (see make_ids)."""
    stem, ext = os.path.splitext(relpath)
    if not is_image_name(ext):  # only a real image extension is dropped
        stem = relpath
    parts = [p for p in stem.split("/") if p]
    base = "--".join(_UNSAFE_ID_CHARS.sub("_", p) for p in parts)
    if base.startswith("."):  # no hidden files in the site, and never '.' or '..'
        base = "_" + base[1:]
    if not base:
        base = "image"
    if len(base) > MAX_ID_LENGTH:  # keep the end (the file name) and a hash of the whole path
        digest = hashlib.sha1(relpath.encode("utf-8", "surrogateescape")).hexdigest()[:10]
        base = f"{digest}-{base[-(MAX_ID_LENGTH - 11):]}"
    return base


def _find_entry(entry: PathInput) -> tuple[str, list[str]]:
    """(root, absolute image paths) for one folder, glob pattern or file."""
    text = os.path.expanduser(os.fspath(entry))
    if os.path.isdir(text):
        root = os.path.abspath(text)
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
    """Image files under root, recursively; hidden entries and built sites skipped, links followed."""
    paths = []
    visited_dirs = set()
    for folder, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in visited_dirs or (folder != root and SITE_MARKER in filenames):
            dirnames[:] = []  # a symlink loop, or a folder seen through another link, or a built site
            continue
        visited_dirs.add(real)
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        paths.extend(os.path.join(folder, name) for name in filenames
                     if not name.startswith(".") and is_image_name(name))
    return paths


def _glob(pattern: str) -> tuple[str, list[str]]:
    """(root, image files matching pattern): root is the pattern's folder before the first wildcard."""
    pattern = os.path.abspath(pattern)
    parts = Path(pattern).parts
    fixed = []
    for part in parts:
        if _GLOB_CHARS.search(part):
            break
        fixed.append(part)
    root = str(Path(*fixed)) if fixed else os.path.abspath(os.sep)
    paths = [p for p in glob.glob(pattern, recursive=True)
             if is_image_name(p) and os.path.isfile(p)]
    if not paths:
        if not os.path.isdir(root):
            raise SourceError(f"no such folder: {root} (in the pattern {pattern})")
        raise SourceError(f"no images match the pattern {pattern}; "
                          f"supported extensions: {', '.join(IMAGE_EXTENSIONS)}")
    return root, [os.path.abspath(p) for p in paths]


def _relpath(path: str, root: str) -> str:
    return Path(os.path.relpath(path, root)).as_posix()
