"""Deep zoom in the lightbox (docs/site-format.md, "Deep zoom"), in a real browser.

A small site from bench/synthetic_site.py (real paintings), made a version-2 site with data/deep-zoom.json:
local static tiles (pixmap.tiles.write_tiles of a painting upscaled to 3000 px) for some images, a "remote"
Image API service on a second local server (another port: another origin, as a museum's would be) for
another, services that fail (404) for two more, and unusable entries that must be ignored. Metadata rows
carry `attribution` and `rights` (an XSS probe, a licence URL, a `javascript:` value, plain text).
"""
from __future__ import annotations

import functools
import io
import json
import os
import shutil
import threading
from pathlib import Path

import pytest
from PIL import Image

from pixmap.tiles import write_tiles
from tests.browser import _QuietHandler, _Server, new_page
from tests.test_tiles import osd_tile_urls
from tests.test_viewer import DEMO_IMAGES, Site, assert_clean, open_map

N = 24
REPO_IMAGES = DEMO_IMAGES[0].parent
IGNORED = ["javascript:alert(7)", "//elsewhere.invalid/iiif/info.json", "../outside/info.json",
           "data/%2E%2E/../x/info.json", "/data/tiles/x/info.json", 42]
XSS = '<img src=x onerror="window.__xss=1">'
CC = "https://creativecommons.org/licenses/by/4.0/"
OSD_SCRIPT = "vendor/openseadragon/openseadragon.min.js"


class _CorsHandler(_QuietHandler):
    def end_headers(self):
        self.send_header("Access-Control-Allow-Origin", "*")   # as IIIF Image API services do
        super().end_headers()


class CorsServer:
    """Another origin (127.0.0.1, another port) standing in for a museum's Image API server."""

    def __init__(self, folder):
        self.httpd = _Server(("127.0.0.1", 0), functools.partial(_CorsHandler, directory=str(folder)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def upscaled(path, longest=3000):
    with Image.open(path) as im:
        im = im.convert("RGB")
        s = longest / max(im.size)
        return im.resize((round(im.width * s), round(im.height * s)), Image.Resampling.BICUBIC)


class DZ:
    """The test site and which image plays which part (set by the fixture; previous/next need images in
    one hotspot, so the deep-zoom images are taken from the largest)."""
    local: tuple       # two images with local tiles (data/tiles/<id>/)
    remote: int        # an absolute info.json URL on another origin
    local_404: int     # data/tiles/<id>/info.json is missing
    remote_404: int    # the other origin answers 404
    ignored: dict      # image index -> an unusable entry
    plain: int         # no deep zoom, no attribution, no rights


@pytest.fixture(scope="module")
def dz(tmp_path_factory):
    import numpy as np
    from bench.synthetic_site import make_site

    root = tmp_path_factory.mktemp("deepzoom")
    folder = root / "site"
    make_site(folder, N, images=DEMO_IMAGES[:N], layouts=("umap",), dims3=False, variants=False, seed=5)
    clusters = np.fromfile(folder / "data" / "clusters.i32", dtype="<i4")
    big = np.bincount(clusters[clusters >= 0]).argmax()
    members = [int(i) for i in np.flatnonzero(clusters == big)]
    assert len(members) >= 4
    # 1, 2: synthetic_site's probes (an XSS title, a javascript: permalink)
    rest = [i for i in range(N) if i not in members[:4] and i not in (1, 2)]
    d = DZ()
    d.local, d.remote = (members[0], members[2]), members[3]
    d.neighbour = members[1]   # next after local[0] in its hotspot: no deep zoom
    d.local_404, d.remote_404, d.plain = rest[0], rest[1], rest[2]
    d.ignored = dict(zip(rest[3:9], IGNORED))
    credit_text, credit_js = rest[9], rest[10]

    meta_path = folder / "data" / "metadata.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["fields"] += ["attribution", "rights"]
    for row in meta["rows"]:
        row += [None, None]
    meta["rows"][d.local[0]][-2:] = [XSS, CC]
    meta["rows"][credit_js][-2:] = ["Photo: a museum", "javascript:alert(3)"]
    meta["rows"][credit_text][-2:] = ["The Art Institute of Chicago", "In copyright; ask the museum"]
    meta["rows"][d.remote][-2:] = ["Served by a remote Image API", "http://rightsstatements.org/vocab/NoC-US/1.0/"]
    meta_path.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    d.credit_text, d.credit_js = credit_text, credit_js
    ids = meta["ids"]
    images = [DEMO_IMAGES[i % len(DEMO_IMAGES)] for i in range(N)]

    entries = [None] * N
    d.tiles = {}
    for i in d.local:
        tiles = folder / "data" / "tiles" / ids[i]
        write_tiles(upscaled(images[i]), tiles, tile_size=512)
        entries[i] = f"data/tiles/{ids[i]}/info.json"
        d.tiles[i] = tiles
    entries[d.local_404] = f"data/tiles/{ids[d.local_404]}/info.json"

    remote_root = root / "museum"
    d.server = CorsServer(remote_root)
    d.svc = remote_root / "iiif" / "3" / "painting"
    d.base = d.server.url + "iiif/3/painting/"
    write_tiles(upscaled(images[d.remote]), d.svc, tile_size=512, service_id=d.base.rstrip("/"))
    entries[d.remote] = d.base + "info.json"
    entries[d.remote_404] = d.server.url + "iiif/3/gone/info.json"
    for i, v in d.ignored.items():
        entries[i] = v
    (folder / "data" / "deep-zoom.json").write_text(json.dumps(entries), encoding="utf-8")
    manifest_path = folder / "data" / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["version"] = 2
    manifest["deep_zoom"] = {"file": "data/deep-zoom.json"}
    manifest_path.write_text(json.dumps(manifest, indent=1), encoding="utf-8")

    # museums' services as a real Image API server answers them (tests/iiif_server.py: Image API 2 and 3,
    # level 2, strict about the requests it accepts), when that helper is there
    d.iiif = None
    try:
        from tests.iiif_server import IIIFServer
    except ImportError:
        IIIFServer = None
    if IIIFServer is not None:
        d.iiif = IIIFServer(root / "no-shared-manifests", REPO_IMAGES)
        d.v2, d.v3 = rest[11], rest[12]
        entries[d.v2] = d.iiif.url + "museum.example/iiif/2/painting-a/info.json"
        entries[d.v3] = d.iiif.url + "museum.example/iiif/3/painting-b/info.json"
    (folder / "data" / "deep-zoom.json").write_text(json.dumps(entries), encoding="utf-8")

    d.site = Site(folder)
    d.images = images
    yield d
    d.site.server.close()
    d.server.close()
    if d.iiif is not None:
        d.iiif.close()


@pytest.fixture(scope="module")
def v1_site(tmp_path_factory):
    from bench.synthetic_site import make_site

    folder = tmp_path_factory.mktemp("deepzoom-v1") / "site"
    make_site(folder, 12, images=DEMO_IMAGES[:12], layouts=("umap",), dims3=False, variants=False, seed=6,
              extra_metadata={0: {"attribution": "Credit line", "rights": CC}})
    site = Site(folder)
    assert site.manifest["version"] == 1 and "deep_zoom" not in site.manifest
    yield site
    site.server.close()


# ------------------------------------------------------------------------------------------ helpers
def shot(page, name, selector=None):
    """A screenshot (PIL image); also saved as <name>.png in the folder env PIXMAP_SHOTS names, if any,
    for a person to look at."""
    png = page.locator(selector).screenshot() if selector else page.screenshot()
    if os.environ.get("PIXMAP_SHOTS"):
        folder = Path(os.environ["PIXMAP_SHOTS"])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.png").write_bytes(png)
    return Image.open(io.BytesIO(png)).convert("RGB")


def open_image(page, site, i):
    page.evaluate("(id) => pixmap.open(id)", site.metadata["ids"][i])
    page.wait_for_selector("#lightbox:not([hidden])")
    page.wait_for_function("document.querySelector('#lightbox .view > img').naturalWidth > 0")


def wait_state(page, state, timeout=30000):
    page.wait_for_selector(f"#lightbox figure[data-deepzoom='{state}']", timeout=timeout)


def scale(page):
    return float(page.get_attribute("#lightbox .view", "data-scale"))


def wait_scale_change(page, before, timeout=10000):
    page.wait_for_function("(b) => { const v = document.querySelector('#lightbox .view');"
                           " return v && Number(v.dataset.scale) !== b; }", arg=before, timeout=timeout)
    page.wait_for_timeout(150)
    return scale(page)


def tile_requests(requests, base):
    """(region, size) of each tile request under base (a service URL ending in /)."""
    out = []
    for url in requests:
        if url.startswith(base) and url.endswith("/0/default.jpg"):
            region, size = url[len(base):].split("/")[:2]
            out.append((region, size))
    return out


def scale_factor(region, size, width):
    """A tile request's scale factor (full-resolution pixels per tile pixel)."""
    rw = width if region == "full" else int(region.split(",")[2])
    sw = width if size == "max" else int(size.split(",")[0])
    return round(rw / sw)


def spread(img):
    import numpy as np

    a = np.asarray(img).astype(np.float32)
    return float(a.std())


def similarity(a, b):
    """Mean absolute difference (0..255) after scaling b to a's size."""
    import numpy as np

    b = b.resize(a.size, Image.Resampling.BILINEAR)
    return float(np.abs(np.asarray(a).astype(np.int16) - np.asarray(b).astype(np.int16)).mean())


def img_box(page):
    return page.evaluate("(() => { const r = document.querySelector('#lightbox .view > img').getBoundingClientRect();"
                         " return {x: r.left, y: r.top, w: r.width, h: r.height}; })()")


def dz_box(page):
    return page.evaluate("(() => { const r = document.querySelector('#lightbox .dz').getBoundingClientRect();"
                         " return {x: r.left, y: r.top, w: r.width, h: r.height}; })()")


def only_missing_resources(errors):
    """Console errors other than Chromium's own "Failed to load resource" line for an expected 404."""
    return [e for e in errors if "Failed to load resource" not in e]


# ------------------------------------------------------------------------------------------ tests
def test_local_tiles_deep_zoom_to_full_resolution(page, dz):
    site = dz.site
    i = dz.local[0]
    image_id = site.metadata["ids"][i]
    base = f"{site.url}data/tiles/{image_id}/"
    info = json.loads((dz.tiles[i] / "info.json").read_text())
    open_map(page, site)
    # lazy: neither OpenSeadragon nor deep-zoom.json before the lightbox needs them
    assert not [u for u in page.rec.requests if OSD_SCRIPT in u or "deep-zoom.json" in u]
    assert page.evaluate("typeof window.OpenSeadragon") == "undefined"

    open_image(page, site, i)
    wait_state(page, "ready")
    assert page.is_visible("#lightbox .dz-controls")
    assert page.is_hidden("#lightbox .dz-note")
    # the image shown first stays in the page (under the viewer), as before
    lb = site.manifest["lightbox"]
    assert page.get_attribute("#lightbox figure img", "src") == f"{lb['dir']}/{image_id}.{lb['ext']}"
    assert sum(OSD_SCRIPT in u for u in page.rec.requests) == 1
    assert sum(u.endswith("data/deep-zoom.json") for u in page.rec.requests) == 1
    assert f"{base}info.json" in page.rec.requests
    first = tile_requests(page.rec.requests, base)
    assert first, page.rec.requests
    assert all(scale_factor(r, s, info["width"]) > 1 for r, s in first), "fitted view: no full-resolution tiles yet"

    # OpenSeadragon draws the painting exactly where the lightbox image was
    home = shot(page, "local-home", "#lightbox .dz")
    assert spread(home) > 20
    with Image.open(dz.images[i]) as src:
        ref = src.convert("RGB")
    box = dz_box(page)
    s0 = scale(page)
    img = img_box(page)
    w, h = info["width"] * s0, info["height"] * s0
    assert abs(w - img["w"]) < 2 and abs(h - img["h"]) < 2, (w, h, img)
    x0, y0 = img["x"] - box["x"], img["y"] - box["y"]
    drawn = home.crop((round(x0) + 2, round(y0) + 2, round(x0 + w) - 2, round(y0 + h) - 2))
    assert similarity(drawn, ref) < 25
    fitted = min(box["w"] / info["width"], box["h"] / info["height"])

    # wheel in: deeper levels load, up to full resolution (scale factor 1)
    cx, cy = box["x"] + box["w"] / 2, box["y"] + box["h"] / 2
    page.mouse.move(cx, cy)
    for _ in range(12):
        page.mouse.wheel(0, -300)
        page.wait_for_timeout(60)
    wait_scale_change(page, s0)
    page.wait_for_function("Number(document.querySelector('#lightbox .view').dataset.scale) >= 1")
    page.wait_for_timeout(800)
    s1 = scale(page)
    deep = tile_requests(page.rec.requests, base)
    assert any(scale_factor(r, s, info["width"]) == 1 for r, s in deep), deep
    for region, size in deep:                       # every tile asked for is one write_tiles wrote
        assert (dz.tiles[i] / region / size / "0" / "default.jpg").is_file(), (region, size)
    zoomed = shot(page, "local-zoomed", "#lightbox .dz")
    assert spread(zoomed) > 10
    assert similarity(zoomed, home) > 8, "the view changed"
    # the drawn pixels are the painting's full-resolution pixels around its centre (the wheel zoomed there)
    big = upscaled(dz.images[i])
    vw, vh = box["w"] / s1, box["h"] / s1
    centre = big.crop((round((big.width - vw) / 2), round((big.height - vh) / 2),
                       round((big.width + vw) / 2), round((big.height + vh) / 2)))
    assert similarity(zoomed, centre) < 20
    assert similarity(zoomed, centre) < similarity(zoomed, big) - 3

    # + / - buttons and the keyboard
    page.click("#lightbox .dz-controls [data-zoom='out']")
    s2 = wait_scale_change(page, s1)
    assert s2 < s1
    page.click("#lightbox .dz-controls [data-zoom='home']")           # fit: the whole image in the area
    s3 = wait_scale_change(page, s2)
    assert abs(s3 - fitted) < 0.01 * fitted, (s3, fitted)
    page.keyboard.press("+")
    s4 = wait_scale_change(page, s3)
    assert s4 > s3
    page.keyboard.press("0")
    s3 = wait_scale_change(page, s4)
    assert abs(s3 - fitted) < 0.01 * fitted
    # double-click zooms in
    page.mouse.dblclick(cx, cy)
    s5 = wait_scale_change(page, s3)
    assert s5 > s3 * 1.5
    assert page.evaluate("pixmap.state().open") == image_id, "clicks in the viewer do not close the lightbox"

    # every tile the real OpenSeadragon could ask for exists (as tests/test_tiles.py transcribes it)
    urls = page.evaluate("""async (url) => {
        const info = await (await fetch(url)).json();
        info.id = 'BASE';
        const OSD = window.OpenSeadragon;
        const ts = new OSD.IIIFTileSource(OSD.IIIFTileSource.prototype.configure(info, url));
        const out = [];
        for (let level = ts.minLevel; level <= ts.maxLevel; level++) {
            const n = ts.getNumTiles(level);
            for (let y = 0; y < n.y; y++) for (let x = 0; x < n.x; x++) out.push(ts.getTileUrl(level, x, y));
        }
        return out;
    }""", f"{base}info.json")
    paths = sorted(u[len("BASE/"):] for u in urls)
    assert paths == sorted(osd_tile_urls(info))
    for p in paths:
        assert (dz.tiles[i] / p).is_file(), p
    assert_clean(page, site)


def test_prev_next_escape_and_the_viewer_is_destroyed(page, dz):
    site = dz.site
    ids = site.metadata["ids"]
    open_map(page, site)
    open_image(page, site, dz.local[0])
    wait_state(page, "ready")
    assert page.locator("#lightbox .openseadragon-container").count() == 1
    # the arrows move on even with OpenSeadragon's canvas focused (a click focuses it and does not zoom)
    box = dz_box(page)
    s0 = scale(page)
    page.mouse.click(box["x"] + box["w"] / 2, box["y"] + box["h"] / 2)
    page.wait_for_timeout(300)
    assert scale(page) == s0
    assert page.evaluate("document.activeElement.classList.contains('openseadragon-canvas')")
    assert page.inner_text("#lightbox .counter").startswith("1 of ")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("pixmap.state().open") == ids[dz.neighbour]
    page.wait_for_timeout(300)
    assert page.locator(".openseadragon-container, #lightbox .dz").count() == 0
    assert page.get_attribute("#lightbox figure", "data-deepzoom") is None
    page.keyboard.press("ArrowLeft")
    assert page.evaluate("pixmap.state().open") == ids[dz.local[0]]
    wait_state(page, "ready")
    assert sum(OSD_SCRIPT in u for u in page.rec.requests) == 1, "the script loads once"
    assert sum(u.endswith("data/deep-zoom.json") for u in page.rec.requests) == 1
    # Escape with the canvas focused closes the lightbox; nothing of OpenSeadragon is left
    page.mouse.click(box["x"] + box["w"] / 2, box["y"] + box["h"] / 2)
    page.keyboard.press("Escape")
    assert page.is_hidden("#lightbox")
    assert page.evaluate("pixmap.state().open") is None
    assert page.locator(".openseadragon-container, .openseadragon-canvas").count() == 0
    # quick flips while deep zoom is still opening leave one viewer for the image shown
    for j in (dz.local[0], dz.local[1], dz.remote, dz.local[0]):
        page.evaluate("(id) => pixmap.open(id)", ids[j])
    wait_state(page, "ready")
    page.wait_for_timeout(500)
    assert page.locator("#lightbox .openseadragon-container").count() == 1
    assert page.evaluate("pixmap.state().open") == ids[dz.local[0]]
    # the close button
    page.click("#lightbox .close")
    assert page.is_hidden("#lightbox")
    assert page.locator(".openseadragon-container").count() == 0
    bad = [u for u in page.rec.outside(site.url) if not u.startswith(dz.server.url + "iiif/3/painting/")]
    assert bad == []
    assert page.rec.page_errors == [] and page.rec.console_errors == [], page.rec.console_errors


def test_remote_image_api_service(page, dz):
    site = dz.site
    info = json.loads((dz.svc / "info.json").read_text())
    base = dz.server.url + "iiif/3/painting/"
    open_map(page, site)
    open_image(page, site, dz.remote)
    wait_state(page, "ready")
    assert base + "info.json" in page.rec.requests
    tiles = tile_requests(page.rec.requests, base)
    assert tiles, page.rec.requests
    home = shot(page, "remote-home", "#lightbox .dz")
    assert spread(home) > 20
    with Image.open(dz.images[dz.remote]) as src:
        ref = src.convert("RGB")
    s0 = scale(page)
    box, img = dz_box(page), img_box(page)
    w, h = info["width"] * s0, info["height"] * s0
    assert abs(w - img["w"]) < 2 and abs(h - img["h"]) < 2, (w, h, img)
    x0, y0 = img["x"] - box["x"], img["y"] - box["y"]
    assert similarity(home.crop((round(x0) + 2, round(y0) + 2, round(x0 + w) - 2, round(y0 + h) - 2)), ref) < 25
    page.mouse.move(box["x"] + box["w"] / 2, box["y"] + box["h"] / 2)
    for _ in range(12):
        page.mouse.wheel(0, -300)
        page.wait_for_timeout(60)
    wait_scale_change(page, s0)
    page.wait_for_timeout(1000)
    deep = tile_requests(page.rec.requests, base)
    assert min(scale_factor(r, s, info["width"]) for r, s in deep) < min(scale_factor(r, s, info["width"]) for r, s in tiles)
    # the only requests outside the site are to the image's own service
    outside = page.rec.outside(site.url)
    assert outside and all(u.startswith(base) for u in outside), outside
    assert page.rec.page_errors == [] and page.rec.console_errors == [], page.rec.console_errors
    assert page.rec.dialogs == []
    # the rights statement of this image is a link
    assert page.get_attribute("#lightbox .credit .rights a", "href") == \
        "http://rightsstatements.org/vocab/NoC-US/1.0/"


@pytest.mark.parametrize("version", [2, 3])
def test_museum_image_api_service(page, dz, version):
    """A level-2 Image API service of either version on another origin: OpenSeadragon's requests are all
    valid (a strict server answers 200 to each), deeper tiles load on zooming in, and nothing else leaves
    the site."""
    if dz.iiif is None:
        pytest.skip("tests/iiif_server.py is not there")
    site, srv = dz.site, dz.iiif
    i = dz.v2 if version == 2 else dz.v3
    ident = f"museum.example/iiif/{version}/painting-{'a' if version == 2 else 'b'}"
    info = srv.service_info(ident)
    assert info["width"] > 1000
    srv.clear_requests()
    open_map(page, site)
    open_image(page, site, i)
    wait_state(page, "ready")
    tiles = [p for _, p in srv.requests if p.startswith(f"/{ident}/") and not p.endswith("info.json")]
    assert tiles, srv.requests
    home = shot(page, f"museum-v{version}", "#lightbox .dz")
    assert spread(home) > 20
    s0 = scale(page)
    box = dz_box(page)
    page.mouse.move(box["x"] + box["w"] / 2, box["y"] + box["h"] / 2)
    for _ in range(10):
        page.mouse.wheel(0, -300)
        page.wait_for_timeout(60)
    wait_scale_change(page, s0)
    page.wait_for_timeout(1500)
    deeper = [p for _, p in srv.requests if p.startswith(f"/{ident}/") and not p.endswith("info.json")]
    assert len(deeper) > len(tiles)
    assert set(srv.statuses(f"/{ident}/")) == {200}, list(zip(srv.requests, srv.statuses("")))
    outside = page.rec.outside(site.url)
    assert outside and all(u.startswith(srv.url + ident + "/") for u in outside), outside
    assert page.rec.page_errors == [] and page.rec.console_errors == [], page.rec.console_errors


def test_attribution_and_rights_under_the_image(page, dz):
    site = dz.site
    open_map(page, site)
    # an XSS probe in attribution is text; a licence URL is a link
    open_image(page, site, dz.local[0])
    assert page.is_visible("#lightbox figure .credit")
    assert page.text_content("#lightbox .credit .attribution") == XSS
    assert page.evaluate("document.querySelectorAll('#lightbox .credit img, img[src=\"x\"]').length") == 0
    link = page.locator("#lightbox .credit .rights a")
    assert link.get_attribute("href") == CC
    assert link.text_content() == "CC BY 4.0"
    assert "noopener" in link.get_attribute("rel")
    # under the image (both while the image shows and once deep zoom has replaced it)
    below = """(() => { const v = document.querySelector('#lightbox .view').getBoundingClientRect();
                        const c = document.querySelector('#lightbox .credit').getBoundingClientRect();
                        const f = document.querySelector('#lightbox figure').getBoundingClientRect();
                        return c.top >= v.bottom - 1 && c.bottom <= f.bottom + 1 && c.height > 0; })()"""
    assert page.evaluate(below)
    wait_state(page, "ready")
    assert page.evaluate(below) and page.is_visible("#lightbox .credit")
    shot(page, "credit-xss-cc")
    # still in the field list too
    fields = page.eval_on_selector_all("#lightbox dt", "els => els.map(e => e.textContent)")
    assert "attribution" in fields and "rights" in fields
    # a javascript: rights value is text, not a link
    open_image(page, site, dz.credit_js)
    assert page.text_content("#lightbox .credit .attribution") == "Photo: a museum"
    assert page.locator("#lightbox .credit a").count() == 0
    assert page.text_content("#lightbox .credit .rights") == "Rights: javascript:alert(3)"
    assert [h for h in page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
            if "javascript" in h.lower()] == []
    # plain text rights
    open_image(page, site, dz.credit_text)
    assert page.text_content("#lightbox .credit .rights") == "Rights: In copyright; ask the museum"
    assert page.evaluate(below)
    shot(page, "credit-text")
    # no attribution and no rights: no caption
    open_image(page, site, dz.plain)
    assert page.locator("#lightbox .credit").count() == 0
    assert page.evaluate("window.__xss") is None
    assert page.rec.dialogs == []
    assert_clean(page, site)


def test_failing_service_keeps_the_image_and_shows_a_note(page, dz):
    site = dz.site
    open_map(page, site)
    for i in (dz.local_404, dz.remote_404):
        open_image(page, site, i)
        wait_state(page, "failed")
        assert page.is_visible("#lightbox .dz-note")
        assert "not available" in page.text_content("#lightbox .dz-note")
        assert page.is_visible("#lightbox .view > img")
        assert page.evaluate("document.querySelector('#lightbox .view > img').naturalWidth") > 0
        assert page.locator("#lightbox .dz, #lightbox .dz-controls, .openseadragon-container").count() == 0
        shot(page, f"failed-{i}")
        # the lightbox still works
        assert page.is_visible("#lightbox .close") and page.inner_text("#lightbox h2")
    # unusable entries (javascript:, another host without a scheme, outside the site, not a string): no deep zoom,
    # no request
    before = len(page.rec.requests)
    for i in dz.ignored:
        open_image(page, site, i)
        page.wait_for_timeout(100)
        assert page.get_attribute("#lightbox figure", "data-deepzoom") is None
    assert [u for u in page.rec.requests[before:] if "info.json" in u] == []
    page.keyboard.press("Escape")
    assert page.is_hidden("#lightbox")
    assert page.rec.page_errors == []
    assert only_missing_resources(page.rec.console_errors) == [], page.rec.console_errors
    assert page.rec.dialogs == []
    outside = page.rec.outside(site.url)
    assert all(u.startswith(dz.server.url + "iiif/3/gone/") for u in outside), outside


def test_missing_deep_zoom_file_leaves_the_lightbox_as_before(browser, dz, tmp_path):
    site = dz.site
    folder = tmp_path / "site"
    shutil.copytree(site.folder, folder)
    (folder / "data" / "deep-zoom.json").unlink()
    broken = Site(folder)
    page = new_page(browser)
    try:
        open_map(page, broken)
        open_image(page, broken, dz.local[0])
        page.wait_for_timeout(500)
        assert page.get_attribute("#lightbox figure", "data-deepzoom") is None
        assert page.is_visible("#lightbox .view > img")
        assert not [u for u in page.rec.requests if OSD_SCRIPT in u]
        assert page.rec.page_errors == []
        assert only_missing_resources(page.rec.console_errors) == []
    finally:
        page.context.close()
        broken.server.close()


def test_deep_zoom_in_chunks_loads_only_the_open_images_chunk(browser, dz, tmp_path):
    """A big site's deep-zoom entries in chunks (pixmap.site.write_deep_zoom; chunk 4 here so that a small
    site has several): opening an image fetches its chunk only, and its deep zoom works as before."""
    from pixmap.site import write_deep_zoom

    folder = tmp_path / "site"
    shutil.copytree(dz.site.folder, folder)
    entries = json.loads((folder / "data" / "deep-zoom.json").read_text(encoding="utf-8"))
    (folder / "data" / "deep-zoom.json").unlink()
    entry = write_deep_zoom(folder / "data", entries, chunk=4)
    assert entry == {"chunk": 4, "dir": "data/deep-zoom"}
    assert len(list((folder / "data" / "deep-zoom").glob("*.json"))) == -(-len(entries) // 4)
    manifest_path = folder / "data" / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["deep_zoom"] = entry
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    chunked = Site(folder)
    page = new_page(browser)
    try:
        open_map(page, chunked)
        assert not [u for u in page.rec.requests if "deep-zoom" in u]
        i = dz.local[0]
        open_image(page, chunked, i)
        wait_state(page, "ready")
        wanted = f"data/deep-zoom/{i // 4}.json"
        assert [u for u in page.rec.requests if "deep-zoom" in u] == [chunked.url + wanted]
        image_id = chunked.metadata["ids"][i]
        assert f"{chunked.url}data/tiles/{image_id}/info.json" in page.rec.requests
        assert page.rec.page_errors == []
    finally:
        page.context.close()
        chunked.server.close()


def test_version_1_site_opens_as_before(page, v1_site):
    site = v1_site
    open_map(page, site)
    image_id = site.metadata["ids"][0]
    page.evaluate("(id) => pixmap.open(id)", image_id)
    page.wait_for_selector("#lightbox:not([hidden])")
    page.wait_for_function("document.querySelector('#lightbox figure img').naturalWidth > 0")
    assert page.get_attribute("#lightbox figure", "data-deepzoom") is None
    assert page.eval_on_selector_all("#lightbox dt", "els => els.map(e => e.textContent)") == site.metadata["fields"]
    # attribution and rights show under the image in a version-1 site too
    assert page.text_content("#lightbox .credit .attribution") == "Credit line"
    assert page.get_attribute("#lightbox .credit .rights a", "href") == CC
    k, n = (int(v) for v in page.inner_text("#lightbox .counter").split(" · ")[0].split(" of "))
    if n > 1:
        page.keyboard.press("ArrowRight" if k < n else "ArrowLeft")
        assert page.evaluate("pixmap.state().open") != image_id
    page.wait_for_timeout(300)
    shot(page, "v1-lightbox")
    page.keyboard.press("Escape")
    assert page.is_hidden("#lightbox")
    assert not [u for u in page.rec.requests if OSD_SCRIPT in u or "deep-zoom" in u or "/tiles/" in u]
    assert page.evaluate("typeof window.OpenSeadragon") == "undefined"
    assert_clean(page, site)
