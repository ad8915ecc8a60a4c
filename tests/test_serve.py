"""`pixmap demo` and `pixmap serve`: the README's first command, for real."""
import http.client
import os
import threading
import urllib.request

import pytest
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


# ---- what `pixmap serve` refuses to serve ------------------------------------------------------

SECRET = b"TOP-SECRET-3f9a1c"


@pytest.fixture
def small_site(tmp_path):
    """A tiny site folder (no build needed) beside a folder outside it that holds a secret."""
    site, outside = tmp_path / "site", tmp_path / "outside"
    for folder in (site / "js", site / "data", site / "sub", outside / "deep"):
        folder.mkdir(parents=True)
    (site / "index.html").write_text("<!doctype html><title>root index</title>")
    (site / "js" / "main.js").write_text("export const x = 1;\n")
    (site / "data" / "manifest.json").write_text('{"count": 0}')
    (site / "favicon.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    (site / "style.css").write_text("body{}")
    (site / "a.webp").write_bytes(b"RIFF\0\0\0\0WEBP")
    (site / "sub" / "index.html").write_text("sub index")
    (outside / "secret.txt").write_bytes(SECRET)
    (outside / "deep" / "secret.json").write_bytes(SECRET)
    (outside / "index.html").write_bytes(SECRET)
    return site, outside


@pytest.fixture
def fetch(small_site):
    """fetch(path, method="GET") -> (status, headers, body), sending the path exactly as given."""
    server = make_server(small_site[0], port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]

    def get(path, method="GET"):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)  # a hang guard, not a timing test
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            conn.endheaders()
            resp = conn.getresponse()
            return resp.status, resp.headers, resp.read()  # headers: case-insensitive
        finally:
            conn.close()

    try:
        yield get
    finally:
        server.shutdown()
        server.server_close()


def test_serve_types_head_and_index_on_a_small_site(fetch, small_site):
    for path, kind in [("/index.html", "text/html"), ("/js/main.js", "text/javascript"),
                       ("/data/manifest.json", "application/json"), ("/favicon.svg", "image/svg+xml"),
                       ("/style.css", "text/css"), ("/a.webp", "image/webp"), ("/index.html?v=2#x", "text/html")]:
        status, headers, body = fetch(path)
        assert status == 200 and headers["Content-Type"].startswith(kind), (path, status, headers)
        assert body == (small_site[0] / path.split("?")[0].lstrip("/")).read_bytes()
    status, headers, body = fetch("/js/main.js", "HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) == len("export const x = 1;\n")
    assert headers["Content-Type"].startswith("text/javascript")
    # a folder serves its index.html (the slash added first, for the page's relative URLs)
    assert fetch("/")[0] == 200 and fetch("/")[2] == (small_site[0] / "index.html").read_bytes()
    assert fetch("/sub/")[:3:2] == (200, b"sub index")
    status, headers, _ = fetch("/sub?x=1")
    assert status == 301 and headers["Location"] == "/sub/?x=1"


def test_serve_lists_no_folder(fetch):
    for path in ("/js/", "/js", "/data/", "/data"):
        status, _, body = fetch(path)
        assert status == 404, (path, status)
        assert b"main.js" not in body and b"manifest.json" not in body and b"Directory listing" not in body
    status, _, body = fetch("/js/", "HEAD")
    assert status == 404 and body == b""
    assert fetch("/index.html")[0] == 200 and fetch("/")[0] == 200


def test_serve_follows_no_symlink_out_of_the_site(fetch, small_site):
    site, outside = small_site
    (site / "leak.txt").symlink_to(outside / "secret.txt")
    (site / "data" / "leak.json").symlink_to(os.path.join("..", "..", "outside", "deep", "secret.json"))
    (site / "outdir").symlink_to(outside, target_is_directory=True)
    (site / "alias.svg").symlink_to(site / "favicon.svg")          # inside -> inside: allowed
    (site / "insidedir").symlink_to(site / "js", target_is_directory=True)
    for path in ("/leak.txt", "/data/leak.json", "/outdir", "/outdir/", "/outdir/secret.txt",
                 "/outdir/deep/secret.json", "/outdir/index.html", "/insidedir/", "/insidedir"):
        for method in ("GET", "HEAD"):
            status, headers, body = fetch(path, method)
            assert status == 404, (path, method, status)
            assert SECRET not in body
    assert fetch("/alias.svg")[:3:2] == (200, (site / "favicon.svg").read_bytes())
    assert fetch("/insidedir/main.js")[0] == 200


def test_serve_refuses_path_traversal(fetch, small_site):
    site, _ = small_site
    (site / "js" / "..%2f").mkdir()  # a real, odd folder name must not turn into a way out either
    for path in ("/../outside/secret.txt", "/js/../../outside/secret.txt", "/%2e%2e/outside/secret.txt",
                 "/%2E%2E/outside/secret.txt", "/.%2e/outside/secret.txt", "/%2e%2e%2foutside%2fsecret.txt",
                 "/..%2Foutside%2Fsecret.txt", "/js/..%2f..%2foutside/secret.txt", "/..\\outside\\secret.txt",
                 "/%2e%2e%5coutside%5csecret.txt", "/..%5coutside%5csecret.txt",
                 "http://127.0.0.1/../outside/secret.txt", "/js%2fmain.js", "/./index.html",
                 "/index.html%00.js", "/%252e%252e/outside/secret.txt", "//../outside/secret.txt"):
        status, _, body = fetch(path)
        assert status in (400, 404), (path, status)
        assert SECRET not in body, path


def test_serve_refuses_hidden_files_and_folders(fetch, small_site):
    site, _ = small_site
    (site / ".git").mkdir()
    (site / ".git" / "config").write_bytes(SECRET)
    (site / ".git" / "index.html").write_bytes(SECRET)
    (site / ".pixmap-site").write_bytes(SECRET)
    (site / "data" / ".env").write_bytes(SECRET)
    (site / "visible.json").symlink_to(site / ".git" / "config")   # a visible name for a hidden file
    for path in ("/.git/config", "/.git/", "/.git", "/.pixmap-site", "/data/.env", "/%2egit/config",
                 "/%2Epixmap-site", "/visible.json"):
        status, _, body = fetch(path)
        assert status == 404, (path, status)
        assert SECRET not in body, path


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_serve_a_fifo_does_not_hang(fetch, small_site):
    site, _ = small_site
    os.mkfifo(site / "pipe.json")
    os.mkfifo(site / "sub" / "pipe")
    (site / "pipelink.json").symlink_to(site / "pipe.json")
    for path in ("/pipe.json", "/sub/pipe", "/pipelink.json"):
        assert fetch(path)[0] == 404
        assert fetch(path, "HEAD")[0] == 404
    assert fetch("/index.html")[0] == 200


def test_serve_logs_errors_only(fetch, capfd):
    assert fetch("/index.html")[0] == 200
    assert fetch("/")[0] == 200
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert fetch("/no-such-file.js")[0] == 404
    out, err = capfd.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "404" in lines[0] and "no-such-file.js" in lines[0], err


def test_serve_command_serves_a_folder_reached_through_a_symlink(tmp_path, small_site):
    """The site folder itself may be a symlink (e.g. `pixmap serve latest`): its files are served."""
    site, _ = small_site
    link = tmp_path / "latest"
    link.symlink_to(site, target_is_directory=True)
    server = make_server(link, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_address[1]}/js/main.js") as resp:
            assert resp.status == 200 and resp.read() == (site / "js" / "main.js").read_bytes()
    finally:
        server.shutdown()
        server.server_close()


def test_serve_open_opens_the_browser_at_the_served_url(tmp_path, small_site):
    """`pixmap serve --open`: the browser named by $BROWSER (here a script that writes down its URL) is
    started with the URL the server answers at."""
    import subprocess
    import sys
    import time

    site, _ = small_site
    seen = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" > "{seen}.part" && mv "{seen}.part" "{seen}"\n')
    browser.chmod(0o755)
    env = {**os.environ, "BROWSER": f"{browser} %s"}
    env.pop("DISPLAY", None)
    proc = subprocess.Popen([sys.executable, "-m", "pixmap", "serve", str(site), "--port", "0", "--open"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        for _ in range(600):   # a hang guard (60 s), not a timing test
            if seen.exists() or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert seen.exists(), proc.stdout.read1().decode() if proc.poll() is not None else "no browser started"
        url = seen.read_text().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/")
        with urllib.request.urlopen(url + "js/main.js") as resp:
            assert resp.status == 200 and resp.read() == (site / "js" / "main.js").read_bytes()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
