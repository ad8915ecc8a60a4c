"""The care of output folders: where a build writes, and how it replaces an earlier map.

    with Output(out_dir, artifacts_dir, force=force, inputs=[images_root]) as out:
        ...write the site into out.site and the artifacts into out.artifacts...
        out.publish()
    print(*out.notes, sep="\n")

`open()` checks everything up front (before the long build), takes the output's lock and makes two
staging folders. `publish()` checks again and moves the staged files into place. `close()` (also on an
exception inside the with-block) removes what is left of the staging folders, so a failed or interrupted
build leaves the old map as it was.

Ownership. Each published folder holds a marker listing the files pixmap wrote there, as JSON
({"format": "pixmap-site-files", "version": 1, "files": [relative posix paths]}): `.pixmap-site` in the
site, `.pixmap-artifacts` in the artifacts folder. Rebuilding replaces and removes only those files;
everything else (a .git folder, a CNAME file, photos...) is the user's and stays where it is. Folders
left empty by removing pixmap's files are removed, folders holding the user's files stay.
Older versions of pixmap wrote `.pixmap-site` as plain text and no artifacts marker: for such a site,
index.html, style.css, favicon.svg, js/ and data/ (and the marker) are taken to be pixmap's; an unmarked
artifacts folder is taken to be pixmap's only when it holds nothing but the files pixmap writes there
(features.npy, clusters.npy, images.csv, layout_*.npy, and a config.json written by pixmap).

Rules:
  * A folder that is not empty and has no marker is never written to. A site with a marker is replaced
    only with force=True; pixmap's own artifacts folder is replaced without it (as before).
  * A file of the user's on a path pixmap must write is refused by name, never overwritten: at open()
    for the fixed paths (index.html, style.css, favicon.svg, js, data), and at publish() for every staged
    file. A file that appears in the output while the build runs is treated the same way (kept, or the
    publish refused); a refused publish removes nothing, and close() then discards the staged build.
  * The images must not be inside the site or the artifacts folder; the site and the artifacts folder
    must not be the same folder or inside each other; the feature cache must not be inside either.
  * Publishing never renames or removes the output folder itself when it exists (it may be a mount
    point, a Docker volume, or the shell's current folder): the staged entries are moved into it. Staging
    is on the same file system as the target (beside it, or inside it as a hidden `.pixmap-building-*`
    folder when the target is a mount point), so the moves are renames.
  * Each running build holds a lock (fcntl.flock) on `.<name>.pixmap-lock` beside each output folder
    (inside it when its parent folder cannot be written), so a second build into the same folder stops at
    once. The lock file is removed again at close(); one left by a killed build is harmless.
  * Each staging folder holds a lock of its own; a staging folder whose lock can be taken was left by a
    killed build and is removed by the next build into that folder (and the build says so in `notes`).
  * Published files and folders get the permissions of a normal file or folder (0o666 / 0o777 less the
    umask), not the 0o700 of a temporary folder. An existing folder keeps its permissions, except a site
    folder with an older pixmap's marker and mode 0o700 (which that pixmap gave it by mistake).
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path

SITE_MARKER = ".pixmap-site"
ARTIFACTS_MARKER = ".pixmap-artifacts"
SITE_FORMAT = "pixmap-site-files"
ARTIFACTS_FORMAT = "pixmap-artifacts-files"
MARKER_VERSION = 1

SITE_FILES = ("index.html", "style.css", "favicon.svg")      # paths every site has
SITE_FOLDERS = ("js", "data")
ARTIFACT_NAMES = re.compile(r"features\.npy|clusters\.npy|images\.csv|config\.json|layout_[^/]+\.npy")

STAGING_INSIDE = ".pixmap-building-"      # staging folder inside the target (mount points)
LOCK_INSIDE = ".pixmap-lock"               # the output's lock file inside the target (unwritable parent)
NOJEKYLL = ".nojekyll"   # the empty file every site holds so that GitHub Pages serves it as is (no Jekyll)
STAGING_LOCK = ".pixmap-staging-lock"     # held by the build that owns a staging folder
_SUFFIX = r"[a-z0-9_]{8}"                 # tempfile.mkdtemp's random part


class OutputError(Exception):
    """The output folders cannot be written as asked."""


# ----------------------------------------------------------------------------------------- helpers
def _real(path) -> Path:
    return Path(os.path.realpath(os.path.expanduser(str(path))))


def _inside(path: Path, folder: Path) -> bool:
    """True when path is folder or inside it (both real paths)."""
    return path == folder or folder in path.parents


def _umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # (briefly changes the umask of every thread; only where /proc is missing)
    os.umask(mask)
    return mask


def _lexists(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _valid_rel(rel) -> bool:
    if not isinstance(rel, str) or not rel or rel.startswith("/") or "\\" in rel or "\0" in rel:
        return False
    return all(part not in ("", ".", "..") for part in rel.split("/"))


def _ancestors(rel: str):
    """'a/b/c' -> 'a/b', 'a'."""
    parts = rel.split("/")
    for i in range(len(parts) - 1, 0, -1):
        yield "/".join(parts[:i])


def _describe(rels, limit: int = 6) -> str:
    rels = sorted(rels)
    text = ", ".join(rels[:limit])
    return text + (f" and {len(rels) - limit} more" if len(rels) > limit else "")


def _top_level(rels) -> list[str]:
    """The top-level names of some relative paths, folders with a trailing /."""
    tops = set()
    for rel in rels:
        head, sep, _ = rel.partition("/")
        tops.add(head + "/" if sep else head)
    return sorted(tops)


def _scan(root: Path, skip_top=lambda name: False) -> dict[str, str]:
    """Every leaf under root as {relative posix path: kind}, kind "file" (a file, a symbolic link or
    anything else that is not a real folder) or "dir" (an empty folder). Links are never followed."""
    leaves: dict[str, str] = {}

    def walk(folder: str, prefix: str) -> bool:
        empty = True
        with os.scandir(folder) as it:
            for entry in it:
                if not prefix and skip_top(entry.name):
                    continue
                empty = False
                rel = prefix + entry.name
                if entry.is_dir(follow_symlinks=False):
                    if walk(entry.path, rel + "/"):
                        leaves[rel] = "dir"
                else:
                    leaves[rel] = "file"
        return empty

    if root.is_dir():
        walk(str(root), "")
    return leaves


def _conflicts(user: dict[str, str], files: set[str], folders: set[str]) -> list[str]:
    """The user's leaves that sit where pixmap must write one of `files` or make one of `folders`."""
    bad = []
    for rel, kind in user.items():
        if rel in files:
            bad.append(rel)                     # the user's file (or folder) where pixmap writes a file
        elif rel in folders and kind != "dir":
            bad.append(rel)                     # the user's file or link where pixmap needs a folder
        elif any(a in files for a in _ancestors(rel)):
            bad.append(rel)                     # inside a "folder" where pixmap writes a file
    return bad


class _Lock:
    """An exclusive, non-blocking fcntl.flock on a file; the file is removed again on release."""

    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock; False when another process holds it."""
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            except BaseException:
                os.close(fd)
                raise
            # the holder before us may have removed the file after we opened it: lock the current one
            st, mine = _lexists(self.path), os.fstat(fd)
            if st is not None and (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino):
                break
            os.close(fd)
        self.fd = fd
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return True

    def holder(self) -> str:
        try:
            pid = self.path.read_text().strip()
        except OSError:
            pid = ""
        return pid if pid.isdigit() else "?"

    def release(self, remove: bool = True) -> None:
        if self.fd is None:
            return
        if remove:
            try:
                os.unlink(self.path)   # while still holding it: a waiting process then sees a new file
            except OSError:
                pass
        os.close(self.fd)
        self.fd = None


# ----------------------------------------------------------------------------------------- one folder
class _Target:
    """One output folder (the site or the artifacts) and its staging folder."""

    def __init__(self, path: Path, marker: str, fmt: str, option: str):
        self.path = path
        self.marker = marker
        self.fmt = fmt
        self.option = option        # the CLI option that chooses it, for messages
        self.owned: set[str] = set()   # files of the earlier build (relative posix paths)
        self.fix_root_mode = False     # an older pixmap published its site folder with mode 0o700
        self.staging: Path | None = None
        self.lock: _Lock | None = None
        self.staging_lock: _Lock | None = None

    # -- where things go
    def _inside_target(self) -> bool:
        """Stage inside the target when it exists and cannot be renamed into (a mount point, another
        file system than its parent, or an unwritable parent)."""
        p = self.path
        if not p.is_dir():
            return False
        try:
            if os.path.ismount(p) or os.stat(p).st_dev != os.stat(p.parent).st_dev:
                return True
        except OSError:
            return True
        return not os.access(p.parent, os.W_OK)

    def lock_path(self) -> Path:
        if self.path.is_dir() and not os.access(self.path.parent, os.W_OK):
            return self.path / LOCK_INSIDE
        return self.path.parent / f".{self.path.name}.pixmap-lock"

    def internal(self, name: str) -> bool:
        """Names pixmap keeps at the top of the target for its own use (never the user's, never published)."""
        return (name == LOCK_INSIDE or name == self.marker + ".writing"
                or bool(re.fullmatch(re.escape(STAGING_INSIDE) + _SUFFIX, name)))

    def _staging_candidates(self):
        beside = re.compile(re.escape(f".{self.path.name}.building-") + _SUFFIX)
        if self.path.parent.is_dir():
            for entry in os.scandir(self.path.parent):
                if beside.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False):
                    yield Path(entry.path)
        if self.path.is_dir():
            for entry in os.scandir(self.path):
                if entry.name.startswith(STAGING_INSIDE) and self.internal(entry.name) \
                        and entry.is_dir(follow_symlinks=False):
                    yield Path(entry.path)

    # -- open
    def take_lock(self) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise OutputError(f"{self.path} exists and is a file; choose another {self.option} folder")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock = _Lock(self.lock_path())
            got = lock.acquire()
        except OSError as exc:
            raise OutputError(f"cannot write beside {self.path} ({exc.strerror or exc}); "
                              f"choose another {self.option} folder") from None
        if not got:
            raise OutputError(f"another pixmap build (pid {lock.holder()}) is writing {self.path}; "
                              f"wait for it or choose another {self.option}")
        self.lock = lock

    def clean_stale(self, notes: list[str]) -> None:
        """Remove staging folders left by killed builds (their lock can be taken)."""
        removed = []
        for folder in list(self._staging_candidates()):
            lock_file = folder / STAGING_LOCK
            try:
                fd = os.open(lock_file, os.O_RDWR | os.O_CLOEXEC)
            except FileNotFoundError:
                fd = None   # killed before it took its lock (or made by an older pixmap)
            except OSError:
                continue
            try:
                if fd is not None:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        continue   # a running build's
                shutil.rmtree(folder, ignore_errors=True)
                if not folder.exists():
                    removed.append(folder.name)
            finally:
                if fd is not None:
                    os.close(fd)
        if removed:
            notes.append(f"removed {len(removed)} staging folder(s) left by an interrupted build "
                         f"beside {self.path}: {_describe(removed)}")

    def read_marker(self):
        """(files listed, or None for an old plain-text marker). Raises OutputError for a newer format."""
        try:
            text = (self.path / self.marker).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise OutputError(f"cannot read {self.path / self.marker} ({exc.strerror or exc}), so "
                              f"{self.path} is left untouched; choose another {self.option} folder") from None
        try:
            doc = json.loads(text)
        except ValueError:
            return None
        if not isinstance(doc, dict) or doc.get("format") != self.fmt:
            return None
        if not isinstance(doc.get("version"), int) or doc["version"] > MARKER_VERSION \
                or not isinstance(doc.get("files"), list):
            raise OutputError(f"{self.path} was written by a newer version of pixmap "
                              f"({self.marker} version {doc.get('version')}); update pixmap to rebuild it")
        return {rel for rel in doc["files"] if _valid_rel(rel)}

    def scan(self) -> dict[str, str]:
        return _scan(self.path, self.internal)

    def make_staging(self) -> None:
        if self._inside_target():
            parent, prefix = self.path, STAGING_INSIDE
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            parent, prefix = self.path.parent, f".{self.path.name}.building-"
        try:
            self.staging = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
            lock = _Lock(self.staging / STAGING_LOCK)
            lock.acquire()
        except OSError as exc:
            raise OutputError(f"cannot make a staging folder in {parent} ({exc.strerror or exc}); "
                              f"choose another {self.option} folder") from None
        self.staging_lock = lock
        mode = 0o777 & ~_umask()
        os.chmod(self.staging, mode)

    # -- publish
    def staged(self) -> tuple[set[str], set[str]]:
        """(files, folders) in the staging folder, relative posix paths; the marker and lock left out."""
        files, folders = set(), set()
        for rel, kind in _scan(self.staging, lambda n: n in (STAGING_LOCK, self.marker)).items():
            (folders if kind == "dir" else files).add(rel)
        for rel in list(files) + list(folders):
            folders.update(_ancestors(rel))
        return files, folders

    def check_staged(self, files: set[str], folders: set[str]) -> dict[str, str]:
        """Refuse when a file of the user's (now) sits where pixmap writes; return the user's leaves."""
        user = {rel: kind for rel, kind in self.scan().items() if rel not in self.owned and rel != self.marker}
        own = self.path / NOJEKYLL   # a user's empty .nojekyll (for GitHub Pages) is the file the build writes
        if NOJEKYLL in user and NOJEKYLL in files and not own.is_symlink() and own.is_file() \
                and own.stat().st_size == 0:
            del user[NOJEKYLL]
        bad = _conflicts(user, files, folders)
        if bad:
            raise OutputError(
                f"{self.path} now holds {_describe(bad)}, which pixmap did not write, where this build "
                f"must write; nothing was changed. Move {'it' if len(bad) == 1 else 'them'} away and "
                "build again, or choose another folder")
        return user

    def fix_modes(self) -> None:
        mask = _umask()
        dmode, fmode = 0o777 & ~mask, 0o666 & ~mask
        for folder, dirnames, filenames in os.walk(self.staging):
            for name in dirnames:
                p = os.path.join(folder, name)
                st = os.lstat(p)
                if stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) != dmode:
                    os.chmod(p, dmode)
            for name in filenames:
                p = os.path.join(folder, name)
                st = os.lstat(p)
                if stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) != fmode:
                    os.chmod(p, fmode)

    def write_marker(self, files) -> None:
        doc = {"format": self.fmt, "version": MARKER_VERSION,
               "note": "Written by pixmap: `pixmap build --force` replaces only the files listed here.",
               "files": sorted(files)}
        tmp = self.path / (self.marker + ".writing")
        tmp.write_text(json.dumps(doc, indent=0, ensure_ascii=False) + "\n", encoding="utf-8")
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, self.path / self.marker)

    def publish(self, files: set[str], folders: set[str]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)   # (a new folder gets the umask's permissions)
        if self.fix_root_mode:
            os.chmod(self.path, 0o777 & ~_umask())
        # the marker first lists both builds' files, so an interrupted publish can be cleaned by --force
        self.write_marker(self.owned | files)
        self._merge(self.staging, self.path, "")
        self._remove_stale(self.owned - files - {self.marker}, keep=folders)
        self.write_marker(files)

    def _merge(self, src: Path, dst: Path, prefix: str) -> None:
        entries = [e for e in os.scandir(src)
                   if prefix or e.name not in (STAGING_LOCK, self.marker)]
        entries.sort(key=lambda e: (not prefix and e.name == "index.html", e.name))  # the page last
        for entry in entries:
            rel = prefix + entry.name
            target = dst / entry.name
            st = _lexists(target)
            src_dir = entry.is_dir(follow_symlinks=False)
            if st is None:
                _move(entry.path, target)
            elif stat.S_ISDIR(st.st_mode) and src_dir:
                self._merge(Path(entry.path), target, rel + "/")
            elif not stat.S_ISDIR(st.st_mode) and not src_dir:
                _move(entry.path, target)                      # replaces pixmap's old file (checked)
            elif src_dir:                                        # pixmap's old file where a folder goes
                if rel not in self.owned:
                    raise OutputError(f"{target} changed while publishing; it was left in place")
                os.unlink(target)
                _move(entry.path, target)
            else:                                                # pixmap's old folder where a file goes
                self._remove_owned_tree(target, rel)
                _move(entry.path, target)

    def _remove_owned_tree(self, folder: Path, rel: str) -> None:
        leaves = _scan(folder)
        if any(f"{rel}/{r}" not in self.owned for r, kind in leaves.items() if kind == "file"):
            raise OutputError(f"{folder} changed while publishing; it was left in place")
        shutil.rmtree(folder)

    def _remove_stale(self, rels: set[str], keep: set[str]) -> None:
        """Remove pixmap's files of the earlier build that this build did not write, then the folders
        this left empty (never the target itself, never a folder holding anything else)."""
        parents = set()
        real_dirs: dict[str, bool] = {}

        def real_dir(rel: str) -> bool:   # a folder, not a link to one (never remove through a link)
            if rel not in real_dirs:
                st = _lexists(self.path / rel)
                real_dirs[rel] = st is not None and stat.S_ISDIR(st.st_mode)
            return real_dirs[rel]

        for rel in rels:
            p = self.path / rel
            st = _lexists(p)
            if st is None or stat.S_ISDIR(st.st_mode) or not all(real_dir(a) for a in _ancestors(rel)):
                continue
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
            parents.update(_ancestors(rel))
        for rel in sorted(parents - keep, key=lambda r: r.count("/"), reverse=True):
            try:
                os.rmdir(self.path / rel)
            except OSError:
                pass   # not empty: it holds the user's files (or this build's)

    def discard_staging(self) -> None:
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None
        if self.staging_lock is not None:
            self.staging_lock.release(remove=False)
            self.staging_lock = None

    def release(self) -> None:
        self.discard_staging()
        if self.lock is not None:
            self.lock.release()
            self.lock = None


def _move(src, dst) -> None:
    try:
        os.replace(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        shutil.move(str(src), str(dst))   # another file system inside the target: copy, then remove


# ----------------------------------------------------------------------------------------- Output
class Output:
    """Where a build writes: a staged site folder and a staged artifacts folder, published together.

    out_dir: the site folder. artifacts_dir: the artifacts folder (None: `<out_dir>-artifacts` beside it).
    force: replace an earlier map in out_dir (only pixmap's files; the user's stay).
    inputs: the image roots (folders or files) the build reads, which must not be inside either folder.
    cache_dir: the feature cache folder (None: none), which must not be inside either folder.
    After open(): `site` and `artifacts` are the staging folders to write into. `notes` says what the
    user should know (stale staging folders removed, files of the user's kept).
    """

    def __init__(self, out_dir, artifacts_dir=None, *, force: bool = False, inputs=(), cache_dir=None):
        self.out_dir = _real(out_dir)
        self.artifacts_dir = (_real(artifacts_dir) if artifacts_dir
                              else self.out_dir.with_name(self.out_dir.name + "-artifacts"))
        self.force = force
        self.inputs = [_real(p) for p in inputs]
        self.cache_dir = _real(cache_dir) if cache_dir else None
        self.notes: list[str] = []
        self._site = _Target(self.out_dir, SITE_MARKER, SITE_FORMAT, "--out")
        self._art = _Target(self.artifacts_dir, ARTIFACTS_MARKER, ARTIFACTS_FORMAT, "--artifacts-dir")
        self._state = "new"   # new -> open -> published -> closed

    @property
    def site(self) -> Path:
        if self._site.staging is None:
            raise OutputError("the output is not open")
        return self._site.staging

    @property
    def artifacts(self) -> Path:
        if self._art.staging is None:
            raise OutputError("the output is not open")
        return self._art.staging

    # -- open
    def open(self) -> "Output":
        """Check everything up front, take the locks, remove stale staging folders, make staging folders."""
        if self._state != "new":
            raise OutputError("an Output can be opened once")
        self._check_paths()
        try:
            self._site.take_lock()
            self._art.take_lock()
            self._site.clean_stale(self.notes)
            self._art.clean_stale(self.notes)
            self._check_site()
            self._check_artifacts()
            self._site.make_staging()
            self._art.make_staging()
        except BaseException:
            self._art.release()
            self._site.release()
            self._state = "closed"
            raise
        self._state = "open"
        return self

    def _check_paths(self) -> None:
        out, art = self.out_dir, self.artifacts_dir
        forbidden = {Path(os.path.abspath(os.sep)): "the root folder", _real(Path.home()): "your home folder"}
        for path, option in ((out, "--out"), (art, "--artifacts-dir")):
            if path in forbidden:
                raise OutputError(f"{path} is {forbidden[path]}; pixmap will not write a map there. "
                                  f"Choose a folder of its own with {option}")
        if out == art:
            raise OutputError(f"the site and the artifacts would both be written to {out}; "
                              "choose another --artifacts-dir")
        if _inside(art, out):
            raise OutputError(f"the artifacts folder {art} is inside the site folder {out} (it would be "
                              "published with the site); choose an --artifacts-dir outside it")
        if _inside(out, art):
            raise OutputError(f"the site folder {out} is inside the artifacts folder {art}; "
                              "choose an --artifacts-dir that does not hold the site")
        for src in self.inputs:
            for folder, what, option in ((out, "site folder", "--out"),
                                         (art, "artifacts folder", "--artifacts-dir")):
                if _inside(src, folder):
                    where = "is" if src == folder else "is inside"
                    raise OutputError(
                        f"the images at {src} {where} the {what} {folder}; the build would read and "
                        f"replace its own output. Choose another {option} folder, or keep the images elsewhere")
        if self.cache_dir is not None:
            for folder, what in ((out, "site folder"), (art, "artifacts folder")):
                if _inside(self.cache_dir, folder):
                    raise OutputError(f"the feature cache {self.cache_dir} is in the {what} {folder}; "
                                      "choose another --cache-dir")

    def _check_site(self) -> None:
        t = self._site
        leaves = t.scan()
        if not leaves:
            return
        if SITE_MARKER not in leaves:
            raise OutputError(
                f"{t.path} already exists, is not empty and was not made by pixmap, so it is left "
                "untouched; choose another --out folder")
        if not self.force:
            raise OutputError(f"{t.path} already holds a map; pass --force to replace it, "
                              "or choose another --out folder")
        listed = t.read_marker()
        if listed is None:   # an older pixmap's marker: its fixed layout is pixmap's, the rest the user's
            # (and it renamed a 0o700 temporary folder into place: give the folder normal permissions)
            t.fix_root_mode = stat.S_IMODE(os.stat(t.path).st_mode) == 0o700 != 0o777 & ~_umask()
            if t.fix_root_mode:
                self.notes.append(f"gave {t.path} the permissions of a normal folder "
                                  f"({0o777 & ~_umask():o}; an older pixmap left it readable by you alone)")
            listed = {rel for rel, kind in leaves.items() if kind == "file" and not (t.path / rel).is_symlink()
                      and (rel in SITE_FILES or rel.split("/", 1)[0] in SITE_FOLDERS and "/" in rel)}
        t.owned = listed
        user = {rel: kind for rel, kind in leaves.items() if rel not in t.owned and rel != SITE_MARKER}
        bad = _conflicts(user, set(SITE_FILES), set(SITE_FOLDERS))
        if bad:
            raise OutputError(
                f"{t.path} holds {_describe(bad)}, which pixmap did not write, where the map must be "
                f"written; move {'it' if len(bad) == 1 else 'them'} away, or choose another --out folder")

    def _check_artifacts(self) -> None:
        t = self._art
        leaves = t.scan()
        if not leaves:
            return
        if ARTIFACTS_MARKER in leaves:
            listed = t.read_marker()
            if listed is None:
                raise OutputError(f"{t.path}/{ARTIFACTS_MARKER} is damaged, so the folder is left untouched; "
                                  "remove it, or choose another --artifacts-dir")
        elif all(kind == "file" and ARTIFACT_NAMES.fullmatch(rel) and not (t.path / rel).is_symlink()
                 for rel, kind in leaves.items()) and _pixmap_config(t.path / "config.json"):
            listed = set(leaves)   # an older pixmap's artifacts (no marker then)
        else:
            raise OutputError(
                f"the artifacts folder {t.path} already exists, is not empty and was not written by "
                f"pixmap (it has no {ARTIFACTS_MARKER}), so it is left untouched; move its files away, "
                "or choose another folder with --artifacts-dir")
        t.owned = listed

    # -- publish
    def publish(self) -> None:
        """Check again (files may have appeared during the build), then move both staged folders into
        place: the artifacts first, then the site, each folder's marker last."""
        if self._state != "open":
            raise OutputError("publish() needs an open Output that was not published yet")
        staged = {}
        for t in (self._site, self._art):
            if t.path.exists() and not t.path.is_dir():
                raise OutputError(f"{t.path} is now a file; nothing was changed")
            files, folders = t.staged()
            user = t.check_staged(files, folders)       # both checked before either is touched
            staged[t] = (files, folders, user)
        for t in (self._site, self._art):
            t.fix_modes()
        done = []
        for t in (self._art, self._site):
            files, folders, user = staged[t]
            try:
                t.publish(files, folders)
            except (OSError, OutputError) as exc:
                self._state = "published"
                half = f"; {done[0].path} was published" if done else ""
                raise OutputError(
                    f"publishing into {t.path} failed half-way ({exc}); the folder may hold parts of both "
                    f"the old and the new build{half}. Build again with --force to repair it") from exc
            done.append(t)
            if user:
                self.notes.append(f"kept {len(user)} file(s) in {t.path} that pixmap did not write: "
                                  f"{_describe(_top_level(user))}")
        self._state = "published"
        for t in (self._site, self._art):
            t.discard_staging()

    # -- close
    def close(self) -> None:
        """Remove what is left of the staging folders and release the locks (safe to call twice)."""
        self._art.release()
        self._site.release()
        self._state = "closed"

    def __enter__(self) -> "Output":
        return self.open()

    def __exit__(self, *exc) -> bool:
        self.close()
        return False


def _pixmap_config(path: Path) -> bool:
    """True for a config.json written by pixmap (an older build's artifacts)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and "pixmap" in doc and "options" in doc
