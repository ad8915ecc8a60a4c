"""`--zip`: the finished site as one file for sharing, `<out>.zip` beside the site folder.

    check_target(out_dir, force)      # before the build: refuse a zip pixmap did not write
    write_zip(out_dir)                # after publishing: <out>.zip.part, then renamed to <out>.zip

The zip holds the files pixmap wrote into the site (those its `.pixmap-site` marker lists: a `.git` folder or
other files of yours in the site folder are not shared), under a top folder named like the site. Images
are stored as they are (they are compressed already), JSON, JavaScript, HTML and other text deflated. The
zip's comment marks it as pixmap's: a `<out>.zip` without that mark is the user's and is never overwritten;
pixmap's own is replaced only with --force, as the site itself is.
"""
from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

COMMENT = b"pixmap site zip"
STORED_SUFFIXES = (".webp", ".jpg", ".jpeg", ".png", ".gif", ".avif", ".jp2", ".woff", ".woff2", ".zip")


class ZipError(Exception):
    """The zip cannot be written where it should go; the message says why and what to do."""


def zip_path(out_dir) -> Path:
    out_dir = Path(out_dir)
    return out_dir.with_name(out_dir.name + ".zip")


def written_by_pixmap(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            return z.comment.startswith(COMMENT)
    except (OSError, zipfile.BadZipFile):
        return False


def check_target(out_dir, force: bool) -> None:
    """Before any work: <out>.zip may be written (absent, or an earlier zip of pixmap's with force)."""
    path = zip_path(out_dir)
    if not os.path.lexists(path):
        return
    if path.is_symlink() or not path.is_file() or not written_by_pixmap(path):
        raise ZipError(f"{path} exists and was not written by pixmap: it is never overwritten; move it away or "
                       "choose another --out")
    if not force:
        raise ZipError(f"{path} already holds a zip of a map; pass --force to replace it")


def site_files(out_dir: Path) -> list[str]:
    """The files pixmap wrote into the site (its marker's list; not the marker itself), sorted."""
    from .output import SITE_MARKER

    marker = Path(out_dir) / SITE_MARKER
    try:
        files = json.loads(marker.read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ZipError(f"cannot zip {out_dir}: its {SITE_MARKER} list of files cannot be read ({exc})") from None
    return sorted({str(f) for f in files if (Path(out_dir) / f).is_file()})


def write_zip(out_dir, progress: bool = False) -> Path:
    """Write <out>.zip of the site at out_dir, atomically (a .part file renamed into place). Returns its path."""
    from tqdm.auto import tqdm

    out_dir = Path(out_dir)
    path = zip_path(out_dir)
    part = path.with_name(path.name + ".part")
    files = site_files(out_dir)
    top = out_dir.name
    try:
        with zipfile.ZipFile(part, "w", allowZip64=True) as z:
            z.comment = COMMENT + b": unzip and serve the folder (pixmap serve, or any static web server)"
            for rel in tqdm(files, desc="zip", unit="file", disable=not progress):
                stored = rel.lower().endswith(STORED_SUFFIXES)
                z.write(out_dir / rel, f"{top}/{rel}",
                        compress_type=zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)
        os.replace(part, path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return path
