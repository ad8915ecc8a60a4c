"""`pixmap demo` and `pixmap serve`: the README's first command, for real."""
import threading
import urllib.request

from click.testing import CliRunner

from pixmap.cli import main
from pixmap.serve import make_server


def test_demo_builds_the_bundled_collection_then_reuses_it(tmp_path, monkeypatch, built_site_result):
    # share the feature cache of the session's demo build (cache dir = $XDG_CACHE_HOME/pixmap)
    (tmp_path / "xdg").mkdir()
    (tmp_path / "xdg" / "pixmap").symlink_to(built_site_result.out_dir.parent / "cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    out = tmp_path / "demo"
    r = CliRunner().invoke(main, ["demo", "--no-serve", "--quiet", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "Demo map of 267 paintings" in r.output and (out / "index.html").exists()
    r = CliRunner().invoke(main, ["demo", "--no-serve", "--out", str(out)])
    assert r.exit_code == 0 and "already holds a map" in r.output


def test_serve_delivers_the_site_with_browser_types(built_site):
    server = make_server(built_site, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        for path, kind in [("index.html", "text/html"), ("js/main.js", "javascript"),
                           ("data/manifest.json", "application/json"), ("favicon.svg", "image/svg+xml")]:
            with urllib.request.urlopen(base + path) as resp:
                assert resp.status == 200 and kind in resp.headers["Content-Type"], (path, resp.headers)
    finally:
        server.shutdown()
        server.server_close()


def test_serve_refuses_a_folder_that_is_not_a_map(tmp_path):
    r = CliRunner().invoke(main, ["serve", str(tmp_path)])
    assert r.exit_code != 0 and "pixmap build" in r.output
