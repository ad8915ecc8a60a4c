"""`pixmap serve`: a small static file server for a built map (viewing needs nothing else)."""
from __future__ import annotations

import functools
import http.server
import mimetypes
import socket
import webbrowser
from pathlib import Path

TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".json": "application/json",
         ".webp": "image/webp", ".svg": "image/svg+xml", ".css": "text/css", ".wasm": "application/wasm"}


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **TYPES}

    def log_message(self, format, *args):  # quiet: one line per error only
        if args and str(args[1] if len(args) > 1 else "").startswith(("4", "5")):
            super().log_message(format, *args)


def make_server(folder: Path, host: str = "127.0.0.1", port: int = 8000) -> http.server.ThreadingHTTPServer:
    """A threaded HTTP server for `folder`; port 0 picks a free port (see server.server_address)."""
    for ext, typ in TYPES.items():
        mimetypes.add_type(typ, ext)
    handler = functools.partial(_Handler, directory=str(folder))
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
