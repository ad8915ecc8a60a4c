"""The viewer on version-3 sites (docs/site-format.md, "Version 3"), in a real browser.

A synthetic multi-level site written by bench/synthetic_site.py with pixmap's own writers: 3,000 images,
atlas level 0 at 8 px (one 512 px page), level-1 tiles of 512 px (64 px cells, ~60 tiles), ids and
metadata in many small chunks, sharded lightbox files. Each image's cell shows its index as a block
code, so the pixels drawn from a tile can be told from the level-0 ones. The tests check what loads
when (the request log), which tiles are requested for a view, that tile pixels are drawn, the GPU
budget, aborts when the view moves, view culling, hover/click/lightbox/links with chunked metadata
(2D and 3D), hotspots arriving after the first frame, and that version-1 and version-2 sites still open.
"""
from __future__ import annotations

import functools
import io
import json
import re
import threading
import time
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
from PIL import Image

from tests.browser import _QuietHandler, _Server, new_page  # the browser fixture comes from conftest

N = 3000
TILE_RE = re.compile(r"/data/atlas/tiles/(\d+)/(\d+)\.webp$")


# ------------------------------------------------------------------------------------------ server
class _SlowTiles(_QuietHandler):
    """Serves the site; tile requests wait `server.tile_delay` seconds first (to catch them in flight)."""

    def do_GET(self):
        delay = getattr(self.server, "tile_delay", 0)
        if delay and "/atlas/tiles/" in self.path:
            time.sleep(delay)
        super().do_GET()


class SiteServer:
    def __init__(self, folder):
        self.folder = Path(folder)
        self.httpd = _Server(("127.0.0.1", 0), functools.partial(_SlowTiles, directory=str(self.folder)))
        self.httpd.tile_delay = 0
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.manifest = json.loads((self.folder / "data" / "manifest.json").read_text(encoding="utf-8"))

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class V3Site(SiteServer):
    def __init__(self, folder):
        super().__init__(folder)
        m = self.manifest
        atlas = m["atlas"]
        self.n = m["count"]
        self.tiles = atlas["tiles"]
        self.tile_of = np.fromfile(self.folder / self.tiles["of"], dtype="<u4")
        self.tile_cells = np.fromfile(self.folder / self.tiles["cells"], dtype="<u2").reshape(-1, 4)
        self.cells = np.fromfile(self.folder / atlas["cells"], dtype="<u2").reshape(-1, 5)
        layout = next(e for e in m["layouts"] if e["name"] == m["default_layout"])
        self.pos = np.fromfile(self.folder / layout["file"], dtype="<f4").reshape(self.n, layout["dims"])
        self.size = layout.get("point_size") or 1.6 / np.sqrt(self.n)   # the viewer's quad size
        ids, rows = [], []
        for k in range(-(-self.n // m["ids"]["chunk"])):
            ids += json.loads((self.folder / m["ids"]["dir"] / f"{k}.json").read_text(encoding="utf-8"))
        for k in range(-(-self.n // m["metadata"]["chunk"])):
            rows += json.loads((self.folder / m["metadata"]["dir"] / f"{k}.json").read_text(encoding="utf-8"))
        self.ids, self.rows, self.fields = ids, rows, m["metadata"]["fields"]

    def tiles_in(self, rect, margin):
        """Tiles of the images whose centres lie in the world rectangle grown by margin."""
        xa, ya, xb, yb = rect
        x, y = self.pos[:, 0], self.pos[:, 1]
        inside = (x >= xa - margin) & (x <= xb + margin) & (y >= ya - margin) & (y <= yb + margin)
        return set(self.tile_of[inside].tolist())


@pytest.fixture(scope="module")
def v3(tmp_path_factory):
    from bench.synthetic_site import make_site_v3

    folder = tmp_path_factory.mktemp("scale") / "v3"
    make_site_v3(folder, N, page_size=512, level0_cell=8, tile_size=512, thumb_size=0, seed=2,
                 metadata_chunk=100, ids_chunk=256)
    site = V3Site(folder)
    assert len(site.manifest["atlas"]["pages"]) == 1 and site.tiles["count"] >= 40
    yield site
    site.close()


# ---------------------------------------------------------------------------------------- helpers
def open_map(page, site, suffix=""):
    page.goto(site.url + "index.html" + suffix)
    page.evaluate("pixmap.ready")
    page.wait_for_function("document.getElementById('loading').hidden")
    return page


def stats(page):
    return page.evaluate("pixmap.stats()")


def assert_clean(page):
    rec = page.rec
    assert rec.page_errors == [], rec.page_errors
    assert rec.console_errors == [], rec.console_errors
    assert rec.dialogs == [], rec.dialogs


def canvas_box(page):
    return page.evaluate("(() => { const r = document.getElementById('map').getBoundingClientRect();"
                         " return {x: r.left, y: r.top, w: r.width, h: r.height}; })()")


def view_rect(page):
    """The world rectangle in view (2D camera)."""
    cam, box = page.evaluate("pixmap.state().camera"), canvas_box(page)
    s = cam["zoom"] * min(box["w"], box["h"]) / 2 / 1.08
    return (cam["x"] - box["w"] / 2 / s, cam["y"] - box["h"] / 2 / s,
            cam["x"] + box["w"] / 2 / s, cam["y"] + box["h"] / 2 / s)


def requested_tiles(page, since=0):
    out = []
    for url in page.rec.requests[since:]:
        m = TILE_RE.search(url)
        if m:
            out.append((int(m.group(1)), int(m.group(2))))
    return out


def wait_tiles_settled(page, timeout=20_000):
    """Until the tile index is loaded, no level-of-detail update is pending and no tile is in flight."""
    page.wait_for_function("(() => { const s = pixmap.stats(); return s.tileIndexLoaded && !s.lodPending"
                           " && s.tilesInflight === 0 && !s.animating; })()", timeout=timeout)
    page.wait_for_timeout(150)  # (a frame with what arrived)


def zoom_to(page, site, i, zoom):
    """Centre image i at this zoom, without animation; wait for the tiles."""
    x, y = (float(v) for v in site.pos[i, :2])
    page.wait_for_function("pixmap.stats().tileIndexLoaded")
    page.evaluate("(c) => pixmap.setCamera(c)", {"x": x, "y": y, "zoom": zoom})
    wait_tiles_settled(page)


def densest(site, k=0):
    """An image in the k-th densest part of the map (the representative of the k-th largest hotspot)."""
    return site.manifest["clusters"]["hotspots"][k]["representative"]


def far_from(site, i, distance):
    """An image at least `distance` (layout units) from image i."""
    d = np.hypot(*(site.pos[:, :2] - site.pos[i, :2]).T)
    return int(np.flatnonzero(d > distance)[0])


# ------------------------------------------------------------------------------------------ tests
def test_first_frame_needs_only_manifest_default_layout_and_level0(browser, v3):
    page = new_page(browser)
    try:
        # resource timing of every request (fetches included), compared with the first frame's time
        page.add_init_script("performance.setResourceTimingBufferSize(10000)")
        open_map(page, v3)
        first = stats(page)["firstFrameMs"]
        page.wait_for_function("pixmap.stats().tileIndexLoaded && pixmap.stats().clustersLoaded")
        entries = page.evaluate("performance.getEntriesByType('resource').map(e => [e.name, e.startTime])")
        before = [name.split(v3.url, 1)[1] for name, start in entries if start < first and "/data/" in name]
        after = [name.split(v3.url, 1)[1] for name, start in entries if start >= first and "/data/" in name]
        m = v3.manifest
        allowed = {"data/manifest.json", m["atlas"]["cells"], *m["atlas"]["pages"],
                   next(e["file"] for e in m["layouts"] if e["name"] == m["default_layout"])}
        assert set(before) == allowed, before
        # hotspots and the tile index come after the first frame; no id, metadata or tile yet
        assert m["clusters"]["file"] in after and v3.tiles["of"] in after and v3.tiles["cells"] in after
        assert not [u for u in after if "/ids/" in u or "/metadata/" in u or "/tiles/" in u or "/lightbox/" in u]
        s = stats(page)
        assert s["version"] == 3 and s["idChunksLoaded"] == 0 and s["rowChunksLoaded"] == 0
        assert s["gpuBudget"] == 512 * 1024 * 1024 and 0 < s["gpuBytes"] <= s["gpuBudget"]
        assert s["tilesRequested"] == 0, "the overview shows images smaller than level 0's cells: no tiles"
        # level 0 draws the map
        png = Image.open(io.BytesIO(page.locator("#map").screenshot())).convert("RGB")
        px = np.asarray(png).astype(int)
        assert (np.abs(px - px[2, 2]).sum(axis=2) > 40).mean() > 0.02
        assert_clean(page)
    finally:
        page.context.close()


def test_zoomed_view_streams_its_tiles_and_draws_their_pixels(browser, v3):
    # a view with many images whose middle no other image's quad covers (so their pixels can be compared)
    aspect = v3.cells[:, 3] / np.maximum(1, v3.cells[:, 4])
    hx, hy = v3.size / 2 * np.minimum(1, aspect), v3.size / 2 * np.minimum(1, 1 / aspect)
    x, y = v3.pos[:, 0], v3.pos[:, 1]
    alone = np.array([((np.abs(x - x[i]) < hx + 0.6 * hx[i]) & (np.abs(y - y[i]) < hy + 0.6 * hy[i])).sum() == 1
                      for i in range(v3.n)])
    near = [(alone & (np.abs(x - x[i]) < 0.25) & (np.abs(y - y[i]) < 0.15)).sum() for i in range(0, v3.n, 7)]
    centre = 7 * int(np.argmax(near))
    page = new_page(browser)
    try:
        open_map(page, v3)
        zoom_to(page, v3, centre, 5)
        s = stats(page)
        got = requested_tiles(page)
        assert got and s["tilesResident"] == s["tilesLoaded"] > 0 and s["tilesFailed"] == 0
        # only tiles holding images in view, each from its shard folder
        in_view = v3.tiles_in(view_rect(page), margin=v3.size)
        assert {t for _, t in got} <= in_view, ({t for _, t in got} - in_view)
        assert all(folder == t // v3.tiles["shard"] for folder, t in got)
        assert len({t for _, t in got}) == len(got), "no tile twice"
        resident = set(page.evaluate("pixmap.debug.tiles().resident"))
        assert resident == {t for _, t in got}

        # the middle of each visible image looks like its tile cell, not like its blurry level-0 cell
        box = canvas_box(page)
        shot = Image.open(io.BytesIO(page.locator("#map").screenshot())).convert("RGB")
        page_img = Image.open(v3.folder / v3.manifest["atlas"]["pages"][0]).convert("RGB")
        tile_imgs = {}

        def patch(img, x, y, w, h):
            return np.asarray(img.resize((8, 8), Image.BILINEAR, box=(x + 0.2 * w, y + 0.2 * h, x + 0.8 * w, y + 0.8 * h)),
                              dtype=float)

        xa, ya, xb, yb = view_rect(page)
        closer, checked = 0, 0
        for i in np.flatnonzero(alone & (x > xa) & (x < xb) & (y > ya) & (y < yb)).tolist():
            if checked >= 40:
                break
            sp = page.evaluate("(i) => pixmap.debug.screenPositionOf(i)", i)
            t = int(v3.tile_of[i])
            if t not in resident:
                continue
            a = v3.cells[i, 3] / v3.cells[i, 4]
            w, h = sp["size"] * min(1, a), sp["size"] * min(1, 1 / a)
            x0, y0 = sp["x"] - box["x"] - w / 2, sp["y"] - box["y"] - h / 2
            if x0 < 0 or y0 < 0 or x0 + w > box["w"] or y0 + h > box["h"]:
                continue
            drawn = patch(shot, x0, y0, w, h)
            if t not in tile_imgs:
                tile_imgs[t] = Image.open(v3.folder / v3.tiles["dir"] / str(t // v3.tiles["shard"]) / f"{t}.webp").convert("RGB")
            tx, ty, tw, th = (int(v) for v in v3.tile_cells[i])
            p, lx, ly, lw, lh = (int(v) for v in v3.cells[i])
            d_tile = np.abs(drawn - patch(tile_imgs[t], tx, ty, tw, th)).mean()
            d_level0 = np.abs(drawn - patch(page_img, lx, ly, lw, lh)).mean()
            closer += d_tile < d_level0
            checked += 1
        assert checked >= 15, checked
        assert closer == checked, (closer, checked)
        assert_clean(page)
    finally:
        page.context.close()


def test_a_small_gpu_budget_evicts_tiles_and_is_never_exceeded(browser, v3):
    page = new_page(browser)
    try:
        open_map(page, v3, "?gpu-budget=8")
        s = stats(page)
        assert s["gpuBudget"] == 8 * 1024 * 1024
        seen = set()
        for k in range(5):
            zoom_to(page, v3, densest(v3, k), 10)
            seen |= set(page.evaluate("pixmap.debug.tiles().resident"))
        s = stats(page)
        assert s["tilesEvicted"] > 0 and len(seen) > s["tileLayers"] >= s["tilesResident"] > 0
        assert s["gpuPeak"] <= s["gpuBudget"] and s["gpuBytes"] <= s["gpuBudget"], s
        assert s["gpuBytesByKind"]["tiles"] <= s["gpuBudget"] - s["gpuBytesByKind"]["pages"]
        assert not s["contextLost"]
        # still drawing tiles after the evictions
        assert s["tileImagesDrawn"] > 0
        assert_clean(page)
    finally:
        page.context.close()


def test_a_phone_gets_a_smaller_budget(browser, v3):
    """512 MB by default (test_first_frame...), 256 MB on a phone, ?gpu-budget=<MB> (test_a_small_gpu_budget...)."""
    phone = browser.new_context(viewport={"width": 390, "height": 800}, device_scale_factor=3, is_mobile=True,
                                has_touch=True)
    try:
        p = phone.new_page()
        open_map(p, v3)
        s = stats(p)
        assert s["gpuBudget"] == 256 * 1024 * 1024 and s["gpuPeak"] <= s["gpuBudget"]
    finally:
        phone.close()


def test_moving_the_view_aborts_tile_requests_that_left_it(browser, v3):
    page = new_page(browser)
    v3.httpd.tile_delay = 2.0
    try:
        open_map(page, v3)
        a = densest(v3)
        page.wait_for_function("pixmap.stats().tileIndexLoaded")
        page.evaluate("(c) => pixmap.setCamera(c)", {"x": float(v3.pos[a, 0]), "y": float(v3.pos[a, 1]), "zoom": 10})
        page.wait_for_function("pixmap.stats().tilesInflight > 0")
        rect_a = view_rect(page)
        b = far_from(v3, a, 1.0)
        # move away while region A's tiles are in flight (what was in flight, read in the same task)
        first = set(page.evaluate("(c) => { const inflight = pixmap.debug.tiles().inflight; pixmap.setCamera(c);"
                                  " return inflight; }", {"x": float(v3.pos[b, 0]), "y": float(v3.pos[b, 1]), "zoom": 10}))
        page.wait_for_function("!pixmap.stats().lodPending && pixmap.stats().tilesAborted > 0")
        # level 0 stays drawn while the tiles load
        px = np.asarray(Image.open(io.BytesIO(page.locator("#map").screenshot())).convert("RGB")).astype(int)
        assert (np.abs(px - px[2, 2]).sum(axis=2) > 40).mean() > 0.05
        in_b = v3.tiles_in(view_rect(page), margin=v3.size)
        only_a = first - in_b
        assert only_a, "region A's tiles are not region B's"
        assert set(page.evaluate("pixmap.debug.tiles().inflight")) <= in_b
        wait_tiles_settled(page)
        resident = set(page.evaluate("pixmap.debug.tiles().resident"))
        assert resident and resident <= in_b and not (resident & only_a)
        s = stats(page)
        assert s["tilesAborted"] >= len(only_a)
        assert v3.tiles_in(rect_a, margin=v3.size) & first == first
        aborted = [u for u in page.rec.failed if "/atlas/tiles/" in u]
        assert aborted, page.rec.failed
        assert_clean(page)
    finally:
        v3.httpd.tile_delay = 0
        page.context.close()


def test_zoomed_in_big_maps_draw_only_the_images_around_the_view(browser, v3):
    """View culling (js/cull.js) starts at 50,000 images; ?cull-min=1000 turns it on for this map: zoomed
    in, the main pass draws only the images around the view, and the frame looks the same. (A budget
    with no room for tiles: both frames are level 0 only, with nothing loading in between.)"""
    shots = {}
    for query in ("?gpu-budget=4", "?gpu-budget=4&cull-min=1000"):
        page = new_page(browser)
        try:
            open_map(page, v3, query)
            zoom_to(page, v3, densest(v3), 12)
            page.evaluate("pixmap.debug.render()")
            s = stats(page)
            shots[query] = np.asarray(Image.open(io.BytesIO(page.locator("#map").screenshot())).convert("RGB")).astype(int)
            assert s["tilesRequested"] == 0
            if "cull-min" not in query:
                assert not s["culled"]
                continue
            xa, ya, xb, yb = view_rect(page)
            x, y = v3.pos[:, 0], v3.pos[:, 1]
            in_view = int(((x >= xa) & (x <= xb) & (y >= ya) & (y <= yb)).sum())
            assert s["culled"] and in_view <= s["cullCount"] < v3.n / 2, (in_view, s["cullCount"])
            # a small pan stays within the listed area; a far one lists another
            rebuilds = s["cullRebuilds"]
            cam = page.evaluate("pixmap.state().camera")
            page.evaluate("(c) => pixmap.setCamera(c)", {**cam, "x": cam["x"] + 0.01})
            page.evaluate("pixmap.debug.render()")
            assert stats(page)["cullRebuilds"] == rebuilds
            page.evaluate("(c) => pixmap.setCamera(c)", {**cam, "x": cam["x"] + 1.0})
            page.evaluate("pixmap.debug.render()")
            assert stats(page)["cullRebuilds"] == rebuilds + 1
            page.evaluate("pixmap.setCamera({x: 0, y: 0, zoom: 1})")
            page.evaluate("pixmap.debug.render()")
            assert not stats(page)["culled"], "the overview draws every image"
            assert_clean(page)
        finally:
            page.context.close()
    differs = (np.abs(shots["?gpu-budget=4"] - shots["?gpu-budget=4&cull-min=1000"]).sum(axis=2) > 30).mean()
    assert differs < 0.001, differs


def test_hover_and_click_show_metadata_from_chunks(browser, v3):
    page = new_page(browser)
    try:
        open_map(page, v3)
        zoom_to(page, v3, densest(v3, 1), 6)
        box = canvas_box(page)
        cx, cy = box["x"] + box["w"] / 2, box["y"] + box["h"] / 2
        i = page.evaluate("([x, y]) => pixmap.debug.pickIndex(x, y)", [cx, cy])
        assert i >= 0
        assert stats(page)["rowChunksLoaded"] == 0
        page.mouse.move(cx + 1, cy)
        page.mouse.move(cx, cy)
        title = dict(zip(v3.fields, v3.rows[i]))["title"]
        page.wait_for_function("(t) => document.getElementById('tooltip').textContent === t", arg=title)
        assert stats(page)["rowChunksLoaded"] == 1, "the hovered image's chunk only"
        assert stats(page)["pickMsMax"] < 16
        chunk = v3.manifest["metadata"]["chunk"]
        assert any(u.endswith(f"/data/metadata/{i // chunk}.json") for u in page.rec.requests)

        page.mouse.click(cx, cy)
        page.wait_for_selector("#lightbox:not([hidden]):not([data-loading])")
        image_id = v3.ids[i]
        assert page.inner_text("#lightbox h2") == title
        assert page.eval_on_selector_all("#lightbox dt", "els => els.map(e => e.textContent)") == v3.fields
        shown = page.eval_on_selector_all("#lightbox dd", "els => els.map(e => e.textContent)")
        assert shown[v3.fields.index("artist")] == v3.rows[i][v3.fields.index("artist")]
        from pixmap.site import shard_of

        url = f"data/lightbox/{shard_of(image_id)}/{quote(image_id, safe='')}.webp"
        assert page.get_attribute("#lightbox figure img", "src") == url
        page.wait_for_function("document.querySelector('#lightbox figure img').naturalWidth > 0")
        page.wait_for_function("(id) => location.hash.includes('open=' + encodeURIComponent(id))", arg=image_id)
        assert page.evaluate("pixmap.state().open") == image_id
        # previous / next
        page.keyboard.press("ArrowRight")
        page.wait_for_selector("#lightbox:not([data-loading])")
        assert page.evaluate("pixmap.state().open") not in (None, image_id)
        page.keyboard.press("Escape")
        assert page.is_hidden("#lightbox")
        assert_clean(page)
    finally:
        page.context.close()


def test_a_link_to_an_image_finds_it_in_the_id_chunks(browser, v3):
    page = new_page(browser)
    try:
        i = N - 7  # in the last id chunk
        image_id = v3.ids[i]
        open_map(page, v3, "#open=" + quote(image_id, safe=""))
        page.wait_for_selector("#lightbox:not([hidden]):not([data-loading])")
        assert page.evaluate("pixmap.state().open") == image_id
        assert page.inner_text("#lightbox h2") == dict(zip(v3.fields, v3.rows[i]))["title"]
        id_chunks = [u for u in page.rec.requests if "/data/ids/" in u]
        assert any(u.endswith(f"/data/ids/{i // v3.manifest['ids']['chunk']}.json") for u in id_chunks)
        assert len(id_chunks) == len(set(id_chunks))
        assert f"open={quote(image_id, safe='')}" in page.evaluate("location.hash")
        # a shared link round-trips: reload, the same image opens
        page.reload()
        page.evaluate("pixmap.ready")
        page.wait_for_selector("#lightbox:not([hidden]):not([data-loading])")
        assert page.evaluate("pixmap.state().open") == image_id
        # a non-ASCII id: percent-encoded in its shard folder, and `#image=` names an image too
        j = v3.ids.index("カード-4")
        open_map(page, v3, "#image=" + quote("カード-4", safe=""))
        page.wait_for_selector("#lightbox:not([hidden]):not([data-loading])")
        assert page.evaluate("pixmap.state().open") == "カード-4"
        page.wait_for_function("document.querySelector('#lightbox figure img').naturalWidth > 0")
        assert page.inner_text("#lightbox h2") == dict(zip(v3.fields, v3.rows[j]))["title"]
        # the API looks ids up too; a missing one is an error
        assert page.evaluate("(id) => pixmap.index(id)", v3.ids[1000]) == 1000
        with pytest.raises(Exception, match="no image with id"):
            page.evaluate("pixmap.open('no-such-image')")
        assert_clean(page)
    finally:
        page.context.close()


def test_hotspots_work_once_their_file_arrives(browser, v3):
    page = new_page(browser)
    try:
        open_map(page, v3)
        page.wait_for_function("pixmap.stats().clustersLoaded")
        hotspot = v3.manifest["clusters"]["hotspots"][2]
        before = np.asarray(Image.open(io.BytesIO(page.locator("#map").screenshot())).convert("RGB")).astype(int)
        page.hover(f"#hotspots button[data-hotspot='{hotspot['id']}']")
        page.wait_for_timeout(250)
        after = np.asarray(Image.open(io.BytesIO(page.locator("#map").screenshot())).convert("RGB")).astype(int)
        assert (np.abs(after - before).sum(axis=2) > 30).mean() > 0.02, "hovering a hotspot highlights it"
        page.click(f"#hotspots button[data-hotspot='{hotspot['id']}']")
        page.wait_for_function("pixmap.state().hotspot !== null && !pixmap.stats().animating")
        assert page.evaluate("pixmap.state().camera.zoom") > 1
        assert len(page.evaluate("pixmap.state().selection")) == hotspot["size"]
        assert_clean(page)
    finally:
        page.context.close()


def _cover(img, box, size=96):
    """The image's cell box drawn as the hotspot panel draws it: scaled to cover a size x size square, centred."""
    x, y, w, h = (int(v) for v in box)
    crop = img.crop((x, y, x + w, y + h))
    s = max(size / w, size / h)
    dw, dh = w * s, h * s
    big = crop.resize((max(1, round(dw)), max(1, round(dh))), Image.Resampling.BICUBIC)
    out = Image.new("RGB", (size, size))
    out.paste(big, (round((size - dw) / 2), round((size - dh) / 2)))
    return np.asarray(out).astype(int)


def test_hotspot_thumbnails_come_from_the_sheet_when_level_0_is_small(browser, v3):
    """Level 0's 8 px cells make 48 px hotspot thumbnails a blur; after the first frame each is redrawn
    from the site's hotspot sheet (64 px, one request): the panel's pixels match the representative's
    level-1 cell (the same picture a tile holds), not its level-0 cell."""
    page = new_page(browser)
    try:
        open_map(page, v3)
        hotspots = v3.manifest["clusters"]["hotspots"]
        page.wait_for_function("n => document.querySelectorAll('#hotspots button[data-thumb=sheet]').length === n",
                               arg=len(hotspots), timeout=20_000)
        assert sum("hotspots.jpg" in u for u in page.rec.requests) == 1
        atlas = v3.manifest["atlas"]
        page0 = Image.open(v3.folder / atlas["pages"][0]).convert("RGB")
        for h in hotspots[:6]:
            r = h["representative"]
            shown = page.evaluate("""id => {
              const c = document.querySelector(`#hotspots button[data-hotspot="${id}"] canvas`);
              return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data);
            }""", h["id"])
            shown = np.asarray(shown, dtype=int).reshape(96, 96, 4)[:, :, :3]
            t = int(v3.tile_of[r])
            tile = Image.open(v3.folder / v3.tiles["dir"] / str(t // v3.tiles["shard"]) / f"{t}.webp").convert("RGB")
            from_tile = np.abs(shown - _cover(tile, v3.tile_cells[r])).mean()
            from_level0 = np.abs(shown - _cover(page0, v3.cells[r, 1:])).mean()
            assert from_tile < 15 and from_tile < from_level0 / 2, (h, from_tile, from_level0)
        assert_clean(page)
    finally:
        page.context.close()


def test_3d_hover_and_tiles(browser, v3):
    page = new_page(browser)
    try:
        open_map(page, v3, "#layout=umap-3d")
        page.wait_for_function("pixmap.stats().tileIndexLoaded")
        page.evaluate("pixmap.setCamera({target: [0, 0, 0], yaw: 0.6, pitch: 0.35, distance: 0.5})")
        wait_tiles_settled(page)
        s = stats(page)
        assert s["tilesResident"] > 0
        box = canvas_box(page)
        hit = None
        for fx in (0.5, 0.45, 0.55, 0.4, 0.6):
            for fy in (0.5, 0.45, 0.55, 0.4, 0.6):
                i = page.evaluate("([x, y]) => pixmap.debug.pickIndex(x, y)",
                                  [box["x"] + fx * box["w"], box["y"] + fy * box["h"]])
                if i >= 0:
                    hit = (i, box["x"] + fx * box["w"], box["y"] + fy * box["h"])
                    break
            if hit:
                break
        assert hit, "an image under the view's middle"
        i, x, y = hit
        page.mouse.move(x + 1, y)
        page.mouse.move(x, y)
        title = dict(zip(v3.fields, v3.rows[i]))["title"]
        page.wait_for_function("(t) => document.getElementById('tooltip').textContent === t", arg=title)
        assert stats(page)["pickMsMax"] < 16
        assert_clean(page)
    finally:
        page.context.close()


@pytest.mark.parametrize("version", [1, 2])
def test_version_1_and_2_sites_still_open(browser, tmp_path, version):
    from bench.synthetic_site import make_site

    folder = tmp_path / f"v{version}"
    make_site(folder, 60, layouts=("umap",), dims3=False, variants=False, seed=4, thumb_size=64, lightbox_size=128)
    manifest_path = folder / "data" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["version"] = version
    manifest_path.write_text(json.dumps(manifest))
    meta = json.loads((folder / "data" / "metadata.json").read_text())
    site = SiteServer(folder)
    page = new_page(browser)
    try:
        open_map(page, site)
        assert page.evaluate("pixmap.ids()") == meta["ids"]
        s = stats(page)
        assert s["version"] == version and s["clustersLoaded"] and "tilesRequested" not in s
        image_id = meta["ids"][7]
        page.evaluate("(id) => pixmap.open(id)", image_id)
        assert page.evaluate("pixmap.state().open") == image_id
        assert page.get_attribute("#lightbox figure img", "src") == f"data/lightbox/{image_id}.webp"
        page.wait_for_function("document.querySelector('#lightbox figure img').naturalWidth > 0")
        page.keyboard.press("Escape")
        pos = page.evaluate("(id) => pixmap.screenPosition(id)", image_id)
        assert page.evaluate("([x, y]) => typeof pixmap.pick(x, y)", [pos["x"], pos["y"]]) == "string"
        page.evaluate("(id) => pixmap.flyTo(id, {duration: 0})", image_id)
        page.wait_for_function("pixmap.stats().thumbsLoaded > 0")
        assert any(u.endswith(f"/data/thumbs/{image_id}.webp") for u in page.rec.requests)
        assert_clean(page)
    finally:
        page.context.close()
        site.close()
