"""A built map inline in a notebook (Jupyter, JupyterLab, VS Code): an IFrame to a local server.

    result = pixmap.build(images=df, image_column="path", out_dir="map")
    result.show(height=600)          # or pixmap.show("map")

The site is served by pixmap.serve's server (the same rules as `pixmap serve`) on 127.0.0.1 at a free port,
in a background thread: one server per site folder, reused by every later show() of that folder, stopped when
the interpreter (the kernel) exits. The viewer in the frame is the whole viewer: its `window.pixmap` API works
there as on a page of its own. The frame's URL is http://127.0.0.1:<port>/, which the notebook's browser
reaches when it runs on the same machine as the kernel (a remote kernel needs its port forwarded).
"""
from __future__ import annotations

import atexit
import os
import threading
from pathlib import Path

_servers: dict[str, tuple] = {}     # real path of a site -> (server, thread)
_lock = threading.Lock()


def url(site) -> str:
    """The URL of the site on its local server, started (in a background thread) on first use."""
    from .serve import make_server

    folder = Path(os.path.expanduser(str(site))).resolve()
    if not (folder / "index.html").is_file():
        raise FileNotFoundError(f"{folder} holds no index.html: is it a folder written by `pixmap build`?")
    key = str(folder)
    with _lock:
        running = _servers.get(key)
        if running is None or not running[1].is_alive():
            server = make_server(folder, "127.0.0.1", 0)
            thread = threading.Thread(target=server.serve_forever, name=f"pixmap-serve-{folder.name}",
                                      daemon=True)
            thread.start()
            running = _servers[key] = (server, thread)
    return f"http://127.0.0.1:{running[0].server_address[1]}/"


def show(site, height: int = 600, width: str | int = "100%"):
    """An IPython IFrame showing the map at `site` (a site folder); displayed when it is a cell's value."""
    try:
        from IPython.display import IFrame
    except ImportError:
        raise ImportError("showing a map inline needs IPython (a Jupyter kernel): pip install ipykernel") from None
    if int(height) <= 0:
        raise ValueError(f"height must be a positive number of pixels, not {height!r}")
    return IFrame(url(site), width=width, height=int(height))


def stop(site=None) -> None:
    """Stop the server of `site` (every server when None). Called at interpreter exit."""
    with _lock:
        keys = list(_servers) if site is None else [str(Path(os.path.expanduser(str(site))).resolve())]
        for key in keys:
            entry = _servers.pop(key, None)
            if entry is not None:
                server, thread = entry
                server.shutdown()
                server.server_close()
                thread.join(timeout=5)


atexit.register(stop)
