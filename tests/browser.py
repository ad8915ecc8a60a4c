"""Helpers for testing the viewer in a real browser (Chromium driven by Playwright).

Chromium: env PIXMAP_CHROMIUM, else the usual install locations. When none is found the tests are
skipped with a hint on how to install one, except in CI (env CI set), where that is a failure.
Headless WebGL2 runs on SwiftShader (software) with the flags below.
"""
from __future__ import annotations

import functools
import http.server
import os
import shutil
import socketserver
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader",
    "--disable-dev-shm-usage", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
    # no DNS lookups of Chromium's own (only the local test server is reachable)
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
INSTALL_HINT = (
    "Chromium was not found. Install it (Debian/Ubuntu: `apt-get install chromium`) or point "
    "PIXMAP_CHROMIUM at a Chromium/Chrome binary; also `pip install playwright` (no browser download needed)."
)


def find_chromium() -> str | None:
    env = os.environ.get("PIXMAP_CHROMIUM")
    if env:
        return env if Path(env).exists() else shutil.which(env)
    for candidate in ("/usr/lib/chromium/chromium", "/usr/bin/chromium"):
        if Path(candidate).exists():
            return candidate
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def require_browser():
    """(sync_playwright, chromium path), or skip (fail in CI) with an install hint."""
    path = find_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        path, sync_playwright = None, None
        hint = "The playwright package is missing: `pip install playwright`."
    else:
        hint = INSTALL_HINT
    if not path or sync_playwright is None:
        if os.environ.get("CI"):
            pytest.fail(hint)
        pytest.skip(hint)
    return sync_playwright, path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def end_headers(self):
        # "no-cache", not "no-store": Chromium reports streamed no-store fetches as ERR_ABORTED
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # the browser aborting a request (a cancelled thumbnail) is not an error
        import sys
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


class StaticServer:
    """A threaded HTTP server on 127.0.0.1 serving one folder; .url is its root URL (ends with /)."""

    def __init__(self, folder):
        self.folder = Path(folder)
        handler = functools.partial(_QuietHandler, directory=str(self.folder))
        self.httpd = _Server(("127.0.0.1", 0), handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole session (HOME points at a temp dir)."""
    sync_playwright, path = require_browser()
    home = tempfile.mkdtemp(prefix="pixmap-browser-home-")
    try:
        with sync_playwright() as p:
            # only the browser's HOME changes (this process's environment is left alone)
            b = p.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS, env={**os.environ, "HOME": home})
            yield b
            b.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)


class PageRecorder:
    """Console errors, page errors, dialogs and every request URL of one page."""

    def __init__(self, page):
        self.page = page
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        self.failed: list[str] = []
        page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("requestfailed", lambda r: self.failed.append(f"{r.url} {r.failure}"))

        def on_dialog(d):
            self.dialogs.append(d.message)
            d.dismiss()
        page.on("dialog", on_dialog)

    def outside(self, site_url):
        """Requests that left the site (another host or a path not under the site's root)."""
        root = urlsplit(site_url)
        bad = []
        for url in self.requests:
            u = urlsplit(url)
            if u.scheme in ("data", "blob"):
                continue
            if u.scheme != "http" or u.hostname != "127.0.0.1" or u.port != root.port \
                    or not u.path.startswith(root.path):
                bad.append(url)
        return bad


def new_page(browser, width=1280, height=720, dpr=1):
    """A fresh page with a recorder (page.rec)."""
    context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=dpr)
    page = context.new_page()
    page.rec = PageRecorder(page)
    return page


@pytest.fixture
def page(browser):
    """A 1280x720 page recording console errors and requests (page.rec)."""
    p = new_page(browser)
    yield p
    p.context.close()


def open_map(page, site, suffix=""):
    """Open a site's viewer (site.url: its root URL) with `suffix` (e.g. "#layout=grid") and wait until it
    has drawn and its loading screen is gone."""
    page.goto(site.url + "index.html" + suffix)
    page.evaluate("pixmap.ready")
    page.wait_for_function("document.getElementById('loading').hidden")
    return page


def assert_clean(page, site):
    """No page error, console error or dialog on a page made by the `page` fixture (its .rec), no request
    outside the site, and no injected script ran (test metadata may set window.__xss from an HTML probe)."""
    rec = page.rec
    assert rec.page_errors == [], rec.page_errors
    assert rec.console_errors == [], rec.console_errors
    assert rec.dialogs == [], rec.dialogs
    assert rec.outside(site.url) == [], rec.outside(site.url)
    assert page.evaluate("window.__xss") is None
