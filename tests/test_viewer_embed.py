"""The viewer inside an <iframe> (viewer/js/embed.js), in a real browser: a host page on one local server
embeds a real small map served by another (another origin, as a museum page embedding a published map),
receives its postMessage events, and the URL starts it in a layout, on an image or a hotspot with the UI
hidden (?ui=none) or reduced to the zoom controls (?ui=minimal)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browser import StaticServer

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "datasets" / "aic-paintings"

HOST = """<!doctype html><meta charset="utf-8"><title>host</title><link rel="icon" href="data:,">
<h1>A museum page</h1>
<iframe id="map" src="%s" width="800" height="500" style="border:0"></iframe>
<script>
window.events = [];
window.addEventListener("message", (e) => {
  if (e.data && e.data.source === "pixmap") window.events.push({origin: e.origin, ...e.data});
});
</script>"""


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    import pixmap

    tmp = tmp_path_factory.mktemp("embed")
    result = pixmap.build(images=DEMO / "images", metadata=DEMO / "metadata.csv", out_dir=tmp / "site",
                          cache_dir=tmp / "cache", max_images=24, layouts="umap,grid", progress=False)
    site = StaticServer(result.out_dir)
    (tmp / "host").mkdir()
    host = StaticServer(tmp / "host")
    manifest = json.loads((result.out_dir / "data" / "manifest.json").read_text())
    ids = json.loads((result.out_dir / "data" / "ids" / "0.json").read_text())
    yield {"site": site, "host": host, "folder": tmp / "host", "manifest": manifest, "ids": ids}
    site.close()
    host.close()


def embed(page, servers, name, query="", hash_=""):
    (servers["folder"] / f"{name}.html").write_text(HOST % (servers["site"].url + "index.html" + query + hash_))
    page.goto(servers["host"].url + f"{name}.html")
    frame = None
    page.wait_for_function("document.getElementById('map').contentWindow !== null")
    for _ in range(200):
        frame = next((f for f in page.frames if f.url.startswith(servers["site"].url)), None)
        if frame is not None:
            break
        page.wait_for_timeout(50)
    frame.wait_for_function("window.pixmap && window.pixmap.ready")
    frame.evaluate("pixmap.ready")
    frame.wait_for_function("document.getElementById('loading').hidden")
    page.wait_for_function("window.events.some((e) => e.type === 'ready')")
    return frame


def shown(frame, selector):
    return frame.evaluate("(s) => { const e = document.querySelector(s); if (!e) return null; "
                          "const r = e.getBoundingClientRect(); return getComputedStyle(e).display !== 'none' "
                          "&& r.width > 0 && r.height > 0; }", selector)


def test_the_host_page_receives_open_selection_and_layout_events(page, servers):
    ids = servers["ids"]
    frame = embed(page, servers, "events", "?ui=none", "#layout=grid")
    ready = page.evaluate("window.events.find((e) => e.type === 'ready')")
    assert ready["layout"] == "grid" and ready["count"] == 24 and ready["open"] is None
    assert ready["origin"] == servers["site"].url.rstrip("/")     # posted by the map's origin, to another
    assert frame.evaluate("pixmap.state().layout") == "grid"      # #layout= started it there

    frame.evaluate("(id) => pixmap.open(id)", ids[3])
    page.wait_for_function("window.events.some((e) => e.type === 'open')")
    opened = page.evaluate("window.events.filter((e) => e.type === 'open')")
    assert opened[-1]["id"] == ids[3] and opened[-1]["index"] == 3
    frame.evaluate("pixmap.close()")
    page.wait_for_function("window.events.filter((e) => e.type === 'open').length >= 2")
    assert page.evaluate("window.events.filter((e) => e.type === 'open').at(-1)") \
        == {"origin": ready["origin"], "source": "pixmap", "type": "open", "id": None, "index": -1}

    frame.evaluate("(ids) => pixmap.select(ids)", [ids[5], ids[1], ids[7]])
    page.wait_for_function("window.events.some((e) => e.type === 'selection')")
    sel = page.evaluate("window.events.filter((e) => e.type === 'selection').at(-1)")
    assert sel["ids"] == [ids[1], ids[5], ids[7]] and sel["count"] == 3    # in data order

    frame.evaluate("pixmap.setLayout('umap')")
    page.wait_for_function("window.events.some((e) => e.type === 'layout')")
    assert page.evaluate("window.events.filter((e) => e.type === 'layout')")[-1]["layout"] == "umap"
    types = page.evaluate("window.events.map((e) => e.type)")
    assert set(types) == {"ready", "open", "selection", "layout"}
    assert page.rec.page_errors == [] and page.rec.console_errors == []


def test_ui_none_hides_the_panels_and_the_map_fills_the_frame(page, servers):
    frame = embed(page, servers, "none", "?ui=none")
    for selector in ("#topbar", "#panel", "#controls", "#find-panel", "#selection"):
        assert not shown(frame, selector), selector
    assert shown(frame, "#map")
    box = frame.evaluate("(() => { const r = document.getElementById('map').getBoundingClientRect(); "
                         "return [r.left, r.top, r.width, r.height]; })()")
    assert box == [0, 0, 800, 500]


def test_ui_minimal_keeps_the_zoom_controls_only(page, servers):
    frame = embed(page, servers, "minimal", "?ui=minimal")
    assert not shown(frame, "#topbar") and not shown(frame, "#panel")
    for action in ("zoom-in", "zoom-out", "reset"):
        assert shown(frame, f'#controls [data-action="{action}"]'), action
    others = frame.evaluate("Array.from(document.querySelectorAll('#controls > *')).filter((e) => "
                            "!['zoom-in', 'zoom-out', 'reset'].includes(e.dataset.action) && "
                            "getComputedStyle(e).display !== 'none').length")
    assert others == 0
    zoom = frame.evaluate("pixmap.state().camera.zoom")
    frame.click('#controls [data-action="zoom-in"]')
    frame.wait_for_function("(z) => pixmap.state().camera.zoom > z * 1.2", arg=zoom)


def test_without_ui_the_whole_viewer_shows(page, servers):
    frame = embed(page, servers, "whole")
    assert shown(frame, "#topbar") and shown(frame, "#controls")


def test_the_url_starts_on_an_image_and_a_hotspot(page, servers):
    ids, hotspots = servers["ids"], servers["manifest"]["clusters"]["hotspots"]
    assert hotspots, "the small demo build has hotspots"
    frame = embed(page, servers, "start", "?ui=none", f"#open={ids[2]}")
    frame.wait_for_function("pixmap.state().open !== null")
    assert frame.evaluate("pixmap.state().open") == ids[2]
    page.wait_for_function("window.events.some((e) => e.type === 'open' || (e.type === 'ready' && e.open))")
    hs = hotspots[0]["id"]
    frame = embed(page, servers, "hotspot", "?ui=minimal", f"#hotspot={hs}")
    frame.wait_for_function("pixmap.state().hotspot !== null")
    assert frame.evaluate("pixmap.state().hotspot") == hs


def test_a_map_that_is_not_framed_posts_nothing(page, servers):
    page.goto(servers["site"].url + "index.html")
    page.evaluate("pixmap.ready")
    page.evaluate("window.__posted = []; window.addEventListener('message', (e) => window.__posted.push(e.data))")
    page.evaluate("(id) => pixmap.open(id)", servers["ids"][0])
    page.evaluate("pixmap.setLayout('grid')")
    page.evaluate("new Promise((r) => setTimeout(r, 300))")
    assert page.evaluate("window.__posted") == []
    assert page.evaluate("document.documentElement.dataset.ui") is None
