"""`pixmap serve`: a small static file server for a built map (viewing needs nothing else).

It serves only what a map needs and nothing else from the folder: regular files whose real path
(symlinks resolved) lies inside the site folder. Directories are never listed (a folder's index.html
is served, else 404); hidden files and folders (a name starting with ".", e.g. .git or .pixmap-site)
are refused; so are FIFOs, devices and sockets (opened non-blocking, so one cannot hang a request).
"""
from __future__ import annotations

import email.utils
import functools
import http
import http.server
import mimetypes
import os
import socket
import stat
import webbrowser
from pathlib import Path
from urllib.parse import unquote, urlsplit

TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".json": "application/json",
         ".webp": "image/webp", ".svg": "image/svg+xml", ".css": "text/css", ".wasm": "application/wasm"}

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)


def _segments(raw_path: str) -> list[str] | None:
    """The path's segments (decoded), or None when it may not be served: encoded or back slashes,
    NUL or control characters, "." / ".." or any hidden (dot) name."""
    path = urlsplit(raw_path).path if "://" in raw_path else raw_path.split("?", 1)[0].split("#", 1)[0]
    lowered = path.lower()
    if "%2f" in lowered or "%5c" in lowered or "\\" in path:
        return None
    try:
        decoded = unquote(path, errors="strict")
    except UnicodeDecodeError:
        return None
    if any(ord(ch) < 32 or ch == "\\" for ch in decoded):
        return None
    parts = [p for p in decoded.split("/") if p]
    if any(p.startswith(".") for p in parts):
        return None
    return parts


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **TYPES}

    def log_message(self, format, *args):  # quiet: one line per error only
        if args and str(args[1] if len(args) > 1 else "").startswith(("4", "5")):
            super().log_message(format, *args)

    def list_directory(self, path):  # never list a folder
        self.send_error(http.HTTPStatus.NOT_FOUND, "File not found")
        return None

    def _inside(self, root: str, relative: list[str]) -> str | None:
        """The real path of root/relative when it is inside root and has no hidden part, else None."""
        real = os.path.realpath(os.path.join(root, *relative))
        try:
            if os.path.commonpath([root, real]) != root:
                return None
        except ValueError:  # another drive (Windows)
            return None
        rel = os.path.relpath(real, root)
        if rel != "." and any(p.startswith(".") for p in Path(rel).parts):
            return None
        return real

    def _open_regular(self, real: str):
        """(file object, stat) of a regular file, or None (FIFOs are opened non-blocking: no hang)."""
        try:
            fd = os.open(real, _OPEN_FLAGS)
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                os.close(fd)
                return None
            if hasattr(os, "set_blocking"):
                os.set_blocking(fd, True)
            return os.fdopen(fd, "rb"), st
        except OSError:
            os.close(fd)
            return None

    def send_head(self):
        parts = _segments(self.path)
        root = os.path.realpath(self.directory)
        real = None if parts is None else self._inside(root, parts)
        if real is None:
            self.send_error(http.HTTPStatus.NOT_FOUND, "File not found")
            return None
        if os.path.isdir(real):
            index = self._inside(root, parts + ["index.html"])
            opened = self._open_regular(index) if index else None
            if opened is None:
                self.send_error(http.HTTPStatus.NOT_FOUND, "File not found")
                return None
            split = urlsplit(self.path)
            if not split.path.endswith("/"):  # relative URLs in index.html need the slash
                opened[0].close()
                self.send_response(http.HTTPStatus.MOVED_PERMANENTLY)
                self.send_header("Location", split._replace(path=split.path + "/").geturl())
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            real = index
        else:
            opened = self._open_regular(real)
            if opened is None:
                self.send_error(http.HTTPStatus.NOT_FOUND, "File not found")
                return None
        f, st = opened
        try:
            since = self.headers.get("If-Modified-Since")
            if since and "If-None-Match" not in self.headers:
                try:
                    when = email.utils.parsedate_to_datetime(since)
                except (TypeError, IndexError, OverflowError, ValueError):
                    when = None
                if when is not None and when.tzinfo is not None and int(st.st_mtime) <= when.timestamp():
                    self.send_response(http.HTTPStatus.NOT_MODIFIED)
                    self.end_headers()
                    f.close()
                    return None
            self.send_response(http.HTTPStatus.OK)
            self.send_header("Content-Type", self.guess_type(real))
            self.send_header("Content-Length", str(st.st_size))
            self.send_header("Last-Modified", self.date_time_string(st.st_mtime))
            self.end_headers()
            return f
        except Exception:
            f.close()
            raise


def make_server(folder: Path, host: str = "127.0.0.1", port: int = 8000) -> http.server.ThreadingHTTPServer:
    """A threaded HTTP server for `folder`; port 0 picks a free port (see server.server_address)."""
    for ext, typ in TYPES.items():
        mimetypes.add_type(typ, ext)
    handler = functools.partial(_Handler, directory=os.path.realpath(folder))
    return http.server.ThreadingHTTPServer((host, port), handler)


def serve(folder: Path, host: str = "127.0.0.1", port: int = 8000, open_browser: bool = False) -> None:
    folder = Path(folder)
    if not (folder / "index.html").exists():
        raise FileNotFoundError(f"{folder} holds no index.html: is it a folder written by `pixmap build`?")
    try:
        server = make_server(folder, host, port)
    except OSError as exc:
        raise OSError(f"cannot listen on {host}:{port} ({exc.strerror}); try another --port") from None
    url = f"http://{host if host not in ('0.0.0.0', '') else socket.gethostname()}:{server.server_address[1]}/"
    print(f"Serving {folder} at {url}  (Ctrl-C to stop)", flush=True)
    if open_browser:
        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nstopped")
    finally:
        server.server_close()
