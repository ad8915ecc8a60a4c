"""The WebGL viewer in a real browser (headless Chromium on SwiftShader, driven by Playwright).

Most tests run against `built_site` (tests/conftest.py: the demo paintings built by the real pipeline,
the first title an XSS probe). What that site lacks (a second layout, a 3D layout, labels and lines,
layout variants) is tested on a synthetic site written by bench/synthetic_site.py from the same images.
One browser and one server per site for the whole session.
"""
from __future__ import annotations

import io
import json
import math
import shutil
from pathlib import Path

import pytest

from tests.browser import StaticServer, new_page  # the browser and page fixtures come from conftest
from pixmap.site import image_file, read_metadata

REPO = Path(__file__).resolve().parent.parent
DEMO_IMAGES = sorted((REPO / "datasets" / "aic-paintings" / "images").glob("*.jpg"))


# ------------------------------------------------------------------------------------------ sites
class Site:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.manifest = json.loads((self.folder / "data" / "manifest.json").read_text(encoding="utf-8"))
        self.metadata = read_metadata(self.folder)   # one metadata.json (versions 1-2) or chunks (3)
        self.server = StaticServer(self.folder)
        self.url = self.server.url

    @property
    def layouts(self):
        return self.manifest["layouts"]

    def layout_names(self):
        return [entry["name"] for entry in self.layouts]

    def find_row(self, predicate):
        """Index of the first metadata row for which predicate(row_dict) is true, or None."""
        fields = self.metadata["fields"]
        for i, row in enumerate(self.metadata["rows"]):
            if predicate(dict(zip(fields, row))):
                return i
        return None


@pytest.fixture(scope="session")
def synthetic_site(tmp_path_factory):
    """Real images on synthetic layouts: 2D, grid (labels + lines), a UMAP variant, 3D."""
    from bench.synthetic_site import make_site

    folder = tmp_path_factory.mktemp("viewer") / "synthetic"
    make_site(folder, 120, images=DEMO_IMAGES[:120], layouts=("umap", "grid"), dims3=True, seed=3)
    site = Site(folder)
    yield site
    site.server.close()


@pytest.fixture(scope="session")
def map_site(request, synthetic_site):
    """The real pipeline's build of the demo (conftest's built_site) when there is one, else the synthetic site."""
    try:
        folder = request.getfixturevalue("built_site")
    except pytest.FixtureLookupError:
        return synthetic_site
    site = Site(folder)
    request.addfinalizer(site.server.close)
    return site


def site_with(map_site, synthetic_site, predicate):
    return map_site if predicate(map_site.manifest) else synthetic_site


@pytest.fixture(scope="session")
def multi_layout_site(map_site, synthetic_site):
    return site_with(map_site, synthetic_site, lambda m: len(m["layouts"]) >= 2)


@pytest.fixture(scope="session")
def site_3d(map_site, synthetic_site):
    return site_with(map_site, synthetic_site, lambda m: any(entry["dims"] == 3 for entry in m["layouts"]))


# ---------------------------------------------------------------------------------------- helpers
def open_map(page, site, hash_=""):
    page.goto(site.url + "index.html" + hash_)
    page.evaluate("pixmap.ready")
    page.wait_for_function("document.getElementById('loading').hidden")
    return page


def assert_clean(page, site):
    rec = page.rec
    assert rec.page_errors == [], rec.page_errors
    assert rec.console_errors == [], rec.console_errors
    assert rec.dialogs == [], rec.dialogs
    assert rec.outside(site.url) == [], rec.outside(site.url)


def canvas_pixels(page):
    import numpy as np
    from PIL import Image

    png = page.locator("#map").screenshot()
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int16)


def changed_fraction(a, b):
    import numpy as np

    return float((np.abs(a - b).sum(axis=2) > 30).mean())


def camera(page):
    return page.evaluate("pixmap.state().camera")


def canvas_box(page):
    return page.evaluate("(() => { const r = document.getElementById('map').getBoundingClientRect();"
                         " return {x: r.left, y: r.top, w: r.width, h: r.height}; })()")


def pickable_id(page, exclude=()):
    """An image id whose centre is on screen and picks back to itself (not hidden behind another)."""
    return page.evaluate("""(exclude) => {
        const r = document.getElementById('map').getBoundingClientRect();
        for (const id of pixmap.ids()) {
            if (exclude.includes(id)) continue;
            const p = pixmap.screenPosition(id);
            if (!p || !p.visible || p.x < r.left + 20 || p.y < r.top + 20 || p.x > r.right - 60 || p.y > r.bottom - 20) continue;
            if (pixmap.pick(p.x, p.y) === id) return id;
        }
        return null;
    }""", list(exclude))


def on_screen_image(page, site):
    """(id, data index, screen position) of an image that is on screen and picks back to itself."""
    image_id = pickable_id(page)
    assert image_id is not None, "no image is on screen"
    return image_id, site.metadata["ids"].index(image_id), page.evaluate("(id) => pixmap.screenPosition(id)", image_id)


def empty_point(page):
    """A point on the map with no image under it."""
    return page.evaluate("""(() => {
        const r = document.getElementById('map').getBoundingClientRect();
        for (let y = r.top + 10; y < r.bottom - 10; y += 17)
            for (let x = r.left + 10; x < r.right - 70; x += 23)
                if (pixmap.pick(x, y) === null) return {x, y};
        return null;
    })()""")


def point_on(page, image_id):
    """A page point inside the image's quad where it is the top-most image (or None)."""
    return page.evaluate("""(id) => {
        const p = pixmap.screenPosition(id);
        if (!p) return null;
        for (const f of [0, 0.2, -0.2, 0.35, -0.35])
            for (const g of [0, 0.2, -0.2, 0.35, -0.35]) {
                const x = p.x + f * p.size, y = p.y + g * p.size;
                if (pixmap.pick(x, y) === id) return {x, y};
            }
        return null;
    }""", image_id)


def js_text(value):
    """How the lightbox shows a metadata value."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ", ".join("—" if v is None else js_text(v) for v in value)
    return str(value)


def wait_idle(page):
    """Until no camera flight or layout transition is running."""
    page.wait_for_function("!pixmap.stats().animating")


def settle(page, ms=250):
    page.wait_for_timeout(ms)


# ------------------------------------------------------------------------------------------ tests
def test_first_frame_draws_images(page, map_site):
    import numpy as np

    open_map(page, map_site)
    px = canvas_pixels(page)
    background = px[2, 2]
    differs = (np.abs(px - background).sum(axis=2) > 40).mean()
    colours = len(np.unique((px // 16).reshape(-1, 3), axis=0))
    assert differs > 0.02, f"only {differs:.1%} of the canvas differs from the background"
    assert colours > 60, f"only {colours} distinct colours: no image content"
    stats = page.evaluate("pixmap.stats()")
    assert stats["count"] == map_site.manifest["count"]
    assert 1 <= stats["drawCalls"] <= 4
    assert stats["firstFrameMs"] > 0
    assert page.title().startswith(map_site.manifest["title"])
    assert page.evaluate("document.getElementById('title').textContent") == map_site.manifest["title"]
    assert_clean(page, map_site)


def test_api_lists_layouts_and_ids(page, map_site):
    open_map(page, map_site)
    assert page.evaluate("pixmap.layouts()") == map_site.layout_names()
    assert page.evaluate("pixmap.ids()") == map_site.metadata["ids"]
    state = page.evaluate("pixmap.state()")
    assert state["layout"] == map_site.manifest["default_layout"]
    assert set(state["camera"]) == {"x", "y", "zoom"}
    assert state["open"] is None and state["selection"] == []
    with pytest.raises(Exception, match="no image with id"):
        page.evaluate("pixmap.open('no-such-image')")
    assert_clean(page, map_site)


def test_pan_and_zoom_change_the_view(page, map_site):
    open_map(page, map_site)
    box = canvas_box(page)
    before, px0 = camera(page), canvas_pixels(page)
    # drag pans
    start = empty_point(page) or {"x": box["x"] + 30, "y": box["y"] + 30}
    page.mouse.move(start["x"], start["y"])
    page.mouse.down()
    page.mouse.move(start["x"] + 120, start["y"] + 60, steps=6)
    page.mouse.up()
    after = camera(page)
    assert after["x"] < before["x"] and after["y"] > before["y"], (before, after)
    assert after["zoom"] == before["zoom"]
    assert page.evaluate("pixmap.state().open") is None, "a drag must not open the lightbox"
    settle(page)
    px1 = canvas_pixels(page)
    assert changed_fraction(px0, px1) > 0.01
    # the wheel zooms around the cursor: the world point under it stays put
    cx, cy = round(box["x"] + box["w"] * 0.3), round(box["y"] + box["h"] * 0.4)
    page.mouse.move(cx, cy)
    page.mouse.wheel(0, -400)
    settle(page)
    zoomed = camera(page)
    assert zoomed["zoom"] > after["zoom"] * 1.3

    def world(cam, sx, sy):
        s = cam["zoom"] * min(box["w"], box["h"]) / 2 / 1.08
        return cam["x"] + (sx - box["x"] - box["w"] / 2) / s, cam["y"] - (sy - box["y"] - box["h"] / 2) / s

    w0, w1 = world(after, cx, cy), world(zoomed, cx, cy)
    assert math.isclose(w0[0], w1[0], abs_tol=1e-3) and math.isclose(w0[1], w1[1], abs_tol=1e-3)
    assert changed_fraction(px1, canvas_pixels(page)) > 0.01
    # keyboard: + zooms in, - out, arrows pan, 0 resets
    page.keyboard.press("+")
    wait_idle(page)
    assert camera(page)["zoom"] > zoomed["zoom"] * 1.3
    page.keyboard.press("ArrowRight")
    wait_idle(page)
    assert camera(page)["x"] > zoomed["x"]
    page.keyboard.press("-")
    wait_idle(page)
    page.keyboard.press("0")
    wait_idle(page)
    assert camera(page) == {"x": 0, "y": 0, "zoom": 1}
    # double-click zooms in (animated)
    spot = empty_point(page)
    page.mouse.dblclick(spot["x"], spot["y"])
    settle(page, 50)
    wait_idle(page)
    assert math.isclose(camera(page)["zoom"], 2, rel_tol=0.02)
    assert_clean(page, map_site)


def test_touch_pan_and_pinch(page, map_site):
    open_map(page, map_site)
    box = canvas_box(page)
    cx, cy = box["x"] + box["w"] / 2, box["y"] + box["h"] / 2
    before = camera(page)
    page.evaluate("""([cx, cy]) => {
        const c = document.getElementById('map');
        const ev = (type, id, x, y) => c.dispatchEvent(new PointerEvent(type, {pointerId: id, pointerType: 'touch',
            isPrimary: id === 1, clientX: x, clientY: y, bubbles: true, button: 0, buttons: type === 'pointerup' ? 0 : 1}));
        // one finger pans
        ev('pointerdown', 1, cx, cy); ev('pointermove', 1, cx + 30, cy); ev('pointermove', 1, cx + 80, cy + 20);
        ev('pointerup', 1, cx + 80, cy + 20);
        // two fingers pinch apart: zoom in
        ev('pointerdown', 2, cx - 40, cy); ev('pointerdown', 3, cx + 40, cy);
        for (let k = 1; k <= 5; k++) { ev('pointermove', 2, cx - 40 - 20 * k, cy); ev('pointermove', 3, cx + 40 + 20 * k, cy); }
        ev('pointerup', 2, cx - 140, cy); ev('pointerup', 3, cx + 140, cy);
    }""", [cx, cy])
    after = camera(page)
    assert after["x"] < before["x"], "one-finger drag pans"
    assert after["zoom"] > before["zoom"] * 2, "pinch zooms"
    assert page.evaluate("pixmap.state().open") is None
    assert_clean(page, map_site)


def test_hover_shows_tooltip(page, map_site):
    open_map(page, map_site)
    image_id, i, pos = on_screen_image(page, map_site)
    page.mouse.move(pos["x"] + 1, pos["y"] + 1)
    page.mouse.move(pos["x"], pos["y"])
    page.wait_for_function("!document.getElementById('tooltip').hidden")
    row = dict(zip(map_site.metadata["fields"], map_site.metadata["rows"][i]))
    expected = row.get("title") or row["filename"].split("/")[-1]
    assert page.inner_text("#tooltip") == expected
    assert_clean(page, map_site)


def test_click_opens_lightbox_with_all_metadata(page, map_site):
    open_map(page, map_site)
    image_id, i, pos = on_screen_image(page, map_site)
    page.mouse.click(pos["x"], pos["y"])
    page.wait_for_selector("#lightbox:not([hidden])")
    assert page.evaluate("pixmap.state().open") == image_id
    fields = map_site.metadata["fields"]
    row = map_site.metadata["rows"][i]
    assert page.eval_on_selector_all("#lightbox dt", "els => els.map(e => e.textContent)") == fields
    shown = page.eval_on_selector_all("#lightbox dd", "els => els.map(e => e.textContent)")
    for field, value, text in zip(fields, row, shown):
        assert text == js_text(value), field
    lb = map_site.manifest["lightbox"]
    url = image_file(lb, image_id)   # sharded by id in version 3
    assert page.get_attribute("#lightbox figure img", "src") == url
    page.wait_for_function("document.querySelector('#lightbox figure img').naturalWidth > 0")
    assert page.get_attribute("#lightbox a.download", "href") == url
    assert page.get_attribute("#lightbox a.download", "download") == f"{image_id}.{lb['ext']}"
    permalink = dict(zip(fields, row)).get("permalink")
    if isinstance(permalink, str) and permalink.startswith(("http://", "https://")):
        assert page.get_attribute("#lightbox a.permalink", "href") == permalink
        assert page.get_attribute("#lightbox a.permalink", "rel") == "noopener noreferrer"
    else:
        assert page.locator("#lightbox a.permalink").count() == 0, permalink
    # previous / next within the image's hotspot (or the whole collection)
    counter = page.inner_text("#lightbox .counter")
    k, n = (int(v) for v in counter.split(" · ")[0].split(" of "))
    key, back = ("ArrowRight", "ArrowLeft") if k < n else ("ArrowLeft", "ArrowRight")
    page.keyboard.press(key)
    moved = page.evaluate("pixmap.state().open")
    assert moved != image_id
    assert page.inner_text("#lightbox .counter").startswith(f"{k + 1 if key == 'ArrowRight' else k - 1} of {n}")
    page.keyboard.press(back)
    assert page.evaluate("pixmap.state().open") == image_id
    page.click("#lightbox .nav.next" if k < n else "#lightbox .nav.prev")
    assert page.evaluate("pixmap.state().open") == moved
    page.keyboard.press("Escape")
    assert page.is_hidden("#lightbox")
    assert page.evaluate("pixmap.state().open") is None
    assert_clean(page, map_site)


def test_metadata_is_shown_as_text_not_html(page, map_site):
    """The XSS probe in a title (and HTML in other fields) shows as literal text; no element, no script."""
    open_map(page, map_site)
    i = map_site.find_row(lambda r: "<img" in str(r.get("title")))
    assert i is not None, "the test site has an XSS probe in a title"
    title = dict(zip(map_site.metadata["fields"], map_site.metadata["rows"][i]))["title"]
    image_id = map_site.metadata["ids"][i]
    page.evaluate("(id) => pixmap.open(id)", image_id)
    page.wait_for_selector("#lightbox:not([hidden])")
    settle(page, 300)
    assert page.inner_text("#lightbox h2") == title
    assert title in page.eval_on_selector_all("#lightbox dd", "els => els.map(e => e.textContent)")
    assert page.evaluate("document.querySelectorAll('img[src=\"x\"], #lightbox dd img, #lightbox dd b').length") == 0
    assert page.evaluate("window.__xss") is None
    # the hover tooltip is text too
    page.keyboard.press("Escape")
    page.evaluate("(id) => pixmap.flyTo(id, {duration: 0})", image_id)
    settle(page)
    pos = point_on(page, image_id)
    assert pos is not None
    page.mouse.move(pos["x"] + 1, pos["y"])
    page.mouse.move(pos["x"], pos["y"])
    page.wait_for_function("!document.getElementById('tooltip').hidden")
    assert page.inner_text("#tooltip") == title
    assert page.evaluate("document.querySelectorAll('#tooltip *').length") == 0
    assert page.rec.dialogs == []
    assert_clean(page, map_site)


def test_javascript_permalink_is_text_not_a_link(page, synthetic_site):
    """A `javascript:` permalink (image 2 of the synthetic site) is shown as text: no link anywhere.
    An https permalink, opened first, is a link: the same selectors do find links when there are some."""
    site = synthetic_site
    fields, rows, ids = site.metadata["fields"], site.metadata["rows"], site.metadata["ids"]
    k = fields.index("permalink")
    j = site.find_row(lambda r: str(r.get("permalink") or "").strip().lower().startswith("javascript:"))
    h = site.find_row(lambda r: str(r.get("permalink") or "").startswith("https://"))
    assert j is not None, "the synthetic site has a javascript: permalink (bench/synthetic_site.py)"
    assert h is not None, "the synthetic site has https permalinks"
    links = """[...document.querySelectorAll('a[href], area[href]')].map(a => a.getAttribute('href'))"""
    open_map(page, site)
    page.evaluate("(id) => pixmap.open(id)", ids[h])
    page.wait_for_selector("#lightbox:not([hidden])")
    assert page.get_attribute("#lightbox a.permalink", "href") == rows[h][k]
    assert page.eval_on_selector_all("#lightbox dd a", "els => els.map(e => e.getAttribute('href'))") == [rows[h][k]]
    assert rows[h][k] in page.evaluate(links)

    page.evaluate("(id) => pixmap.open(id)", ids[j])
    assert page.evaluate("pixmap.state().open") == ids[j]
    assert page.is_visible("#lightbox")
    dd = page.locator("#lightbox dd").nth(k)
    assert page.eval_on_selector_all("#lightbox dt", "els => els.map(e => e.textContent)")[k] == "permalink"
    assert dd.text_content() == rows[j][k]
    assert dd.evaluate("e => e.children.length") == 0, "the value is a text node, not an element"
    assert page.locator("#lightbox a.permalink").count() == 0
    assert page.locator("#lightbox dd a").count() == 0
    assert [u for u in page.evaluate(links) if "javascript" in u.lower()] == []
    dd.click()   # clicking the text runs nothing
    assert page.evaluate("pixmap.state().open") == ids[j]
    assert page.rec.dialogs == []
    assert_clean(page, site)


def test_hotspots_panel_highlights_and_flies(page, map_site):
    hotspots = map_site.manifest["clusters"]["hotspots"]
    if not hotspots:
        pytest.skip("this site has no hotspots")
    open_map(page, map_site)
    buttons = page.locator("#hotspots button")
    assert buttons.count() == len(hotspots)
    labels = page.eval_on_selector_all("#hotspots .label", "els => els.map(e => e.textContent)")
    assert labels == [str(h["label"]) for h in hotspots]
    # representative thumbnails are drawn from the atlas
    assert page.evaluate("""(() => { const c = document.querySelector('#hotspots canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let s = 0; for (let k = 0; k < d.length; k += 4) s += d[k] + d[k + 1] + d[k + 2]; return s; })()""") > 0
    px0 = canvas_pixels(page)
    target = hotspots[min(2, len(hotspots) - 1)]
    button = page.locator(f"#hotspots button[data-hotspot='{target['id']}']")
    button.hover()
    settle(page)
    assert changed_fraction(px0, canvas_pixels(page)) > 0.02, "hovering a hotspot highlights its members"
    before = camera(page)
    button.click()
    page.wait_for_function("pixmap.state().hotspot !== null")
    wait_idle(page)
    after = camera(page)
    assert after != before and after["zoom"] > before["zoom"]
    state = page.evaluate("pixmap.state()")
    clusters = (map_site.folder / map_site.manifest["clusters"]["file"]).read_bytes()
    import numpy as np

    members = np.flatnonzero(np.frombuffer(clusters, dtype="<i4") == target["id"])
    assert sorted(state["selection"]) == sorted(map_site.metadata["ids"][k] for k in members)
    assert button.get_attribute("aria-pressed") == "true"
    # the camera frames the members: their bounding box centre is near the view centre
    layout = next(entry for entry in map_site.layouts if entry["name"] == state["layout"])
    pos = np.frombuffer((map_site.folder / layout["file"]).read_bytes(), dtype="<f4").reshape(-1, layout["dims"])
    lo, hi = pos[members].min(axis=0), pos[members].max(axis=0)
    assert math.isclose(after["x"], (lo[0] + hi[0]) / 2, abs_tol=1e-3)
    assert math.isclose(after["y"], (lo[1] + hi[1]) / 2, abs_tol=1e-3)
    for k in members[:5]:
        p = page.evaluate("(id) => pixmap.screenPosition(id)", map_site.metadata["ids"][k])
        assert p["visible"]
    assert_clean(page, map_site)


def test_layout_switch_animates_and_lands(page, multi_layout_site):
    """Checked halfway through on the page's own clock (Playwright's fake clock), not on wall time."""
    site = multi_layout_site
    page.clock.install()
    open_map(page, site)
    first = site.layouts[0]
    others = [e for e in site.layouts[1:] if not (e.get("group") and e.get("group") == first.get("group"))]
    target = (next((e for e in others if e["dims"] == 2), None) or (others or site.layouts[1:])[0])["name"]
    first = first["name"]
    image_id = site.metadata["ids"][7]
    start = page.evaluate("(id) => pixmap.screenPosition(id)", image_id)
    page.clock.pause_at(page.evaluate("Date.now()") + 1000)   # the page's time stands still
    page.evaluate("(name) => { window.__landed = false; pixmap.setLayout(name, {duration: 1600})"
                  ".then(() => { window.__landed = true; }); }", target)
    page.wait_for_function("pixmap.state().transitioning")    # (once the layout's file has loaded)
    page.clock.run_for(400)
    quarter = page.evaluate("(id) => [pixmap.screenPosition(id), pixmap.state()]", image_id)
    page.clock.run_for(400)
    # halfway: the image has left its start and is still moving
    mid = page.evaluate("(id) => [pixmap.screenPosition(id), pixmap.state()]", image_id)
    assert quarter[1]["transitioning"] and mid[1]["transitioning"] and not page.evaluate("window.__landed")
    page.clock.run_for(900)
    page.wait_for_function("window.__landed === true", timeout=10_000)
    end = page.evaluate("(id) => pixmap.screenPosition(id)", image_id)
    page.clock.resume()
    state = page.evaluate("pixmap.state()")
    assert state["layout"] == target and not state["transitioning"]

    def dist(a, b):
        return math.hypot(a["x"] - b["x"], a["y"] - b["y"])

    assert dist(start, end) > 5, "the image moves between the layouts"
    assert dist(mid[0], start) > 1 and dist(mid[0], end) > 1, (start, mid[0], end)
    assert dist(quarter[0], start) > 1 and dist(quarter[0], mid[0]) > 1, (start, quarter[0], mid[0])
    assert page.get_attribute(f"#layouts button[data-layout='{first}']", "aria-pressed") == "false"
    # the switcher buttons work too, and picking follows the new layout
    page.click(f"#layouts button[data-layout='{first}']")
    page.wait_for_function(f"pixmap.state().layout === {json.dumps(first)} && !pixmap.state().transitioning")
    image_id = pickable_id(page)
    assert image_id is not None
    assert_clean(page, site)


def test_labels_lines_and_variants(page, synthetic_site):
    site = synthetic_site
    open_map(page, site)
    with_labels = next(entry for entry in site.layouts if entry.get("labels"))
    page.evaluate("(name) => pixmap.setLayout(name, {duration: 0})", with_labels["name"])
    settle(page)
    shown = page.eval_on_selector_all("#labels span:not([hidden])", "els => els.map(e => e.textContent)")
    assert sorted(shown) == sorted(lab["text"] for lab in with_labels["labels"])
    assert page.evaluate("pixmap.stats().drawCalls") >= 2, "the layout's lines are drawn"
    # variants of one group share a button and get a slider
    groups = {}
    for entry in site.layouts:
        if entry.get("group"):
            groups.setdefault(entry["group"], []).append(entry["name"])
    group = next(g for g in groups.values() if len(g) > 1)
    page.evaluate("(name) => pixmap.setLayout(name, {duration: 0})", group[0])
    settle(page)
    assert page.is_visible("#variant-slider")
    assert page.locator("#layouts button").count() == len(site.layouts) - sum(len(g) - 1 for g in groups.values())
    page.evaluate("(() => { const s = document.getElementById('variant-slider'); s.value = '1';"
                  " s.dispatchEvent(new Event('input')); })()")
    page.wait_for_function(f"pixmap.state().layout === {json.dumps(group[1])} && !pixmap.state().transitioning")
    assert "n_neighbors" in page.inner_text("#variant-label")
    assert_clean(page, site)


def test_url_restores_layout_camera_and_open_image(page, multi_layout_site):
    site = multi_layout_site
    open_map(page, site)
    target = site.layout_names()[-1 if site.layouts[-1]["dims"] == 2 else 1]
    page.evaluate("(name) => pixmap.setLayout(name, {duration: 200})", target)
    page.evaluate("pixmap.setCamera({x: 0.123, y: -0.2, zoom: 2.5})")
    image_id = site.metadata["ids"][3]
    page.evaluate("(id) => pixmap.open(id)", image_id)
    page.wait_for_function(f"location.hash.includes('open={image_id}') && location.hash.includes('zoom=2.5')")
    hash_ = page.evaluate("location.hash")
    assert f"layout={target}" in hash_
    history_length = page.evaluate("history.length")
    page.reload()
    page.evaluate("pixmap.ready")
    state = page.evaluate("pixmap.state()")
    assert state["layout"] == target
    assert state["open"] == image_id and page.is_visible("#lightbox")
    assert math.isclose(state["camera"]["x"], 0.123, abs_tol=1e-4)
    assert math.isclose(state["camera"]["y"], -0.2, abs_tol=1e-4)
    assert math.isclose(state["camera"]["zoom"], 2.5, rel_tol=1e-4)
    assert page.evaluate("history.length") == history_length, "the hash is replaced, not pushed"
    # a shared link opened in a fresh page restores it too
    other = new_page(page.context.browser)
    try:
        open_map(other, site, hash_)
        assert other.evaluate("pixmap.state()")["open"] == image_id
        assert other.evaluate("pixmap.state()")["layout"] == target
        assert_clean(other, site)
    finally:
        other.context.close()
    assert_clean(page, site)


def test_zoom_loads_thumbnails_then_the_large_image(page, map_site):
    open_map(page, map_site)
    assert page.evaluate("pixmap.stats().thumbsRequested") == 0
    image_id = pickable_id(page)
    before = canvas_pixels(page)
    page.evaluate("(id) => pixmap.flyTo(id, {duration: 300})", image_id)
    page.wait_for_function("pixmap.stats().thumbsLoaded >= 3", timeout=10_000)
    thumbs_dir = map_site.manifest["thumbs"]["dir"]
    thumb_requests = [u for u in page.rec.requests if f"/{thumbs_dir}/" in u]
    assert any(u.endswith("/" + image_file(map_site.manifest["thumbs"], image_id)) for u in thumb_requests)
    assert len(thumb_requests) <= page.evaluate("pixmap.stats().thumbsRequested")
    stats = page.evaluate("pixmap.stats()")
    assert stats["drawCalls"] >= 2, "thumbnails are drawn over the atlas cells"
    assert changed_fraction(before, canvas_pixels(page)) > 0.2
    # zoom until the image fills most of the view: its lightbox-size image replaces the thumbnail
    box = canvas_box(page)
    pos = page.evaluate("(id) => pixmap.screenPosition(id)", image_id)
    page.mouse.move(pos["x"], pos["y"])
    for _ in range(3):
        page.mouse.wheel(0, -300)
        settle(page, 100)
    page.wait_for_function("pixmap.stats().bigLoaded >= 1", timeout=10_000)
    lb = map_site.manifest["lightbox"]
    assert any(u.endswith("/" + image_file(lb, image_id)) for u in page.rec.requests)
    assert page.evaluate("pixmap.stats().bigImage") == map_site.metadata["ids"].index(image_id)
    assert page.evaluate("(id) => pixmap.screenPosition(id).size", image_id) > 0.5 * min(box["w"], box["h"])
    assert_clean(page, map_site)


def test_requests_stay_inside_the_site(page, map_site):
    open_map(page, map_site)
    image_id = pickable_id(page)
    page.evaluate("(id) => pixmap.flyTo(id, {duration: 200})", image_id)
    page.wait_for_function("pixmap.stats().thumbsLoaded > 0")
    page.evaluate("(id) => pixmap.open(id)", image_id)
    page.wait_for_function("document.querySelector('#lightbox figure img').complete")
    requests = page.rec.requests
    assert any(u.endswith("/favicon.svg") for u in requests)
    assert any("/js/main.js" in u for u in requests)
    assert page.rec.outside(map_site.url) == []
    # and from a sub-folder of a server (all URLs are relative)
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="pixmap-prefix-"))
    try:
        (root / "maps").mkdir()
        (root / "maps" / "demo").symlink_to(map_site.folder, target_is_directory=True)
        server = StaticServer(root)
        try:
            sub = new_page(page.context.browser)
            prefix_url = server.url + "maps/demo/"
            sub.goto(prefix_url)
            sub.evaluate("pixmap.ready")
            assert sub.rec.outside(prefix_url) == []
            assert sub.rec.console_errors == []
            sub.context.close()
        finally:
            server.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert_clean(page, map_site)


def test_3d_layout_orbit_zoom_pan_and_pick(page, site_3d):
    site = site_3d
    name = next(entry["name"] for entry in site.layouts if entry["dims"] == 3)
    open_map(page, site, f"#layout={name}")
    state = page.evaluate("pixmap.state()")
    assert state["layout"] == name
    cam0 = state["camera"]
    assert set(cam0) == {"target", "yaw", "pitch", "distance"}
    px0 = canvas_pixels(page)
    box = canvas_box(page)
    x, y = box["x"] + 40, box["y"] + box["h"] - 40
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 150, y - 40, steps=6)
    page.mouse.up()
    cam1 = camera(page)
    assert cam1["yaw"] != cam0["yaw"] and cam1["pitch"] != cam0["pitch"], "drag orbits"
    assert cam1["target"] == cam0["target"]
    settle(page)
    assert changed_fraction(px0, canvas_pixels(page)) > 0.01
    page.keyboard.down("Shift")
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 60, y - 30, steps=4)
    page.mouse.up()
    page.keyboard.up("Shift")
    cam2 = camera(page)
    assert cam2["target"] != cam1["target"] and cam2["yaw"] == cam1["yaw"], "shift-drag pans"
    # the orbit camera is in the URL too
    page.wait_for_function(f"location.hash.includes('yaw={cam2['yaw']:.4f}')"
                           f" && location.hash.includes('target={cam2['target'][0]:.4f},')")
    page.reload()
    page.evaluate("pixmap.ready")
    restored = camera(page)
    assert math.isclose(restored["yaw"], cam2["yaw"], abs_tol=1e-4)
    assert math.isclose(restored["distance"], cam2["distance"], rel_tol=1e-4)
    assert all(math.isclose(a, b, abs_tol=1e-4) for a, b in zip(restored["target"], cam2["target"]))
    page.mouse.move(box["x"] + box["w"] / 2, box["y"] + box["h"] / 2)
    page.mouse.wheel(0, -300)
    assert camera(page)["distance"] < cam2["distance"], "the wheel dollies in"
    settle(page)
    # picking in 3D: hover shows the image's title, a click opens it
    image_id = pickable_id(page)
    assert image_id is not None
    pos = page.evaluate("(id) => pixmap.screenPosition(id)", image_id)
    page.mouse.move(pos["x"] + 1, pos["y"])
    page.mouse.move(pos["x"], pos["y"])
    page.wait_for_function("!document.getElementById('tooltip').hidden")
    page.mouse.click(pos["x"], pos["y"])
    page.wait_for_selector("#lightbox:not([hidden])")
    assert page.evaluate("pixmap.state().open") == image_id
    page.keyboard.press("Escape")
    # fly to an image in 3D and switch back to a 2D layout
    done = page.evaluate("(id) => pixmap.flyTo(id, {duration: 200})", image_id)
    assert done is True
    assert math.isclose(page.evaluate("(id) => pixmap.screenPosition(id).x", image_id), box["x"] + box["w"] / 2, abs_tol=2)
    two_d = next(entry["name"] for entry in site.layouts if entry["dims"] == 2)
    page.evaluate("(name) => pixmap.setLayout(name, {duration: 300})", two_d)
    assert set(camera(page)) == {"x", "y", "zoom"}
    assert_clean(page, site)


def test_hidpi_and_resize(browser, map_site):
    p = new_page(browser, width=900, height=600, dpr=2)
    try:
        open_map(p, map_site)
        size = p.evaluate("(() => { const c = document.getElementById('map');"
                          " return [c.width, c.height, c.clientWidth, c.clientHeight]; })()")
        assert size[0] == 2 * size[2] and size[1] == 2 * size[3]
        image_id = pickable_id(p)
        assert image_id is not None
        p.set_viewport_size({"width": 700, "height": 500})
        p.wait_for_function("(() => { const c = document.getElementById('map');"
                            " return c.width === 2 * c.clientWidth && c.height === 2 * c.clientHeight"
                            " && c.clientHeight < 500; })()")
        settle(p)
        image_id = pickable_id(p)
        pos = p.evaluate("(id) => pixmap.screenPosition(id)", image_id)
        p.mouse.click(pos["x"], pos["y"])
        p.wait_for_selector("#lightbox:not([hidden])")
        assert p.evaluate("pixmap.state().open") == image_id
        assert_clean(p, map_site)
    finally:
        p.context.close()


def test_phone_layout(browser, map_site):
    p = new_page(browser, width=390, height=800, dpr=3)
    try:
        open_map(p, map_site)
        assert p.evaluate("document.getElementById('app').classList.contains('panel-closed')")
        assert p.evaluate("document.getElementById('map').clientWidth") == 390
        p.click("#panel-toggle")
        p.wait_for_function("!document.getElementById('app').classList.contains('panel-closed')")
        image_id = p.evaluate("pixmap.ids()[0]")
        p.evaluate("(id) => pixmap.open(id)", image_id)
        box = p.locator("#lightbox .info").bounding_box()
        assert box["width"] <= 390 and box["y"] > 200, "the metadata goes under the image on a phone"
        assert_clean(p, map_site)
    finally:
        p.context.close()


# ------------------------------------------------------------------------------ readable failures
def test_file_url_shows_how_to_serve(page, map_site):
    page.goto((map_site.folder / "index.html").as_uri())
    page.wait_for_selector("#message:not([hidden])")
    text = page.inner_text("#message")
    assert "pixmap serve" in text and map_site.folder.name in text
    assert page.is_hidden("#loading")


def test_missing_data_file_names_the_url(browser, map_site, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(map_site.folder, broken, ignore=shutil.ignore_patterns("thumbs", "lightbox"))
    (broken / map_site.manifest["atlas"]["cells"]).unlink()
    server = StaticServer(broken)
    p = new_page(browser)
    try:
        p.goto(server.url)
        p.wait_for_selector("#message:not([hidden])")
        text = p.inner_text("#message")
        assert f"{server.url}{map_site.manifest['atlas']['cells']}" in text and "404" in text
        with pytest.raises(Exception):
            p.evaluate("pixmap.ready")
        assert p.rec.page_errors == []
    finally:
        p.context.close()
        server.close()


def test_missing_layout_file_is_reported_and_the_map_keeps_working(browser, synthetic_site, tmp_path):
    broken = tmp_path / "broken-layout"
    shutil.copytree(synthetic_site.folder, broken, ignore=shutil.ignore_patterns("thumbs", "lightbox"))
    grid = next(entry for entry in synthetic_site.layouts if entry["name"] == "grid")
    (broken / grid["file"]).unlink()
    server = StaticServer(broken)
    p = new_page(browser)
    try:
        p.goto(server.url)
        p.evaluate("pixmap.ready")
        p.click("#layouts button[data-layout='grid']")
        p.wait_for_selector("#toast:not([hidden])")
        assert f"{server.url}{grid['file']}" in p.inner_text("#toast") and "404" in p.inner_text("#toast")
        default = synthetic_site.manifest["default_layout"]
        assert p.evaluate("pixmap.state().layout") == default
        assert p.get_attribute(f"#layouts button[data-layout='{default}']", "aria-pressed") == "true"
        p.evaluate("pixmap.setLayout('umap-3d', {duration: 0})")
        assert p.evaluate("pixmap.state().layout") == "umap-3d"
        assert p.rec.page_errors == []
    finally:
        p.context.close()
        server.close()


def test_no_webgl2_is_explained(browser, map_site):
    p = new_page(browser)
    try:
        p.add_init_script("""(() => { const get = HTMLCanvasElement.prototype.getContext;
            HTMLCanvasElement.prototype.getContext = function (kind, ...rest) {
                return kind === 'webgl2' ? null : get.call(this, kind, ...rest); }; })()""")
        p.goto(map_site.url)
        p.wait_for_selector("#message:not([hidden])")
        assert "WebGL2" in p.inner_text("#message")
        assert p.rec.page_errors == [] and p.rec.console_errors == []
    finally:
        p.context.close()


# ------------------------------------------------------------------------------ GPU limits
@pytest.fixture(scope="session")
def paged_site(tmp_path_factory):
    """Small atlas pages (4 of them), images placed on them out of data order."""
    from bench.synthetic_site import make_site

    folder = tmp_path_factory.mktemp("viewer") / "paged"
    make_site(folder, 60, images=DEMO_IMAGES[:60], layouts=("umap",), dims3=False, variants=False,
              atlas_size=256, cell_size=64, shuffle_cells=True, write_images=False, seed=5)
    site = Site(folder)
    yield site
    site.server.close()


def test_atlas_page_groups_and_downscaled_pages(browser, paged_site):
    """Pages bound in groups (one draw each) and pages larger than MAX_TEXTURE_SIZE (scaled down) draw
    every image from its own cell, also when the atlas is not in data order."""
    import numpy as np
    from PIL import Image

    site = paged_site
    page_images = [Image.open(site.folder / u).convert("RGB") for u in site.manifest["atlas"]["pages"]]
    cells = np.frombuffer((site.folder / site.manifest["atlas"]["cells"]).read_bytes(), dtype="<u2").reshape(-1, 5)
    assert len(page_images) == 4 and len(set(cells[:, 0].tolist())) == 4
    assert (np.diff(cells[:, 0].astype(int)) < 0).any(), "pages are not in data order"

    def patch(img, cx, cy, w, h):
        """The central 40% of a rectangle, as an 8x8 thumbnail."""
        box = (cx - 0.2 * w, cy - 0.2 * h, cx + 0.2 * w, cy + 0.2 * h)
        return np.asarray(img.resize((8, 8), Image.BILINEAR, box=box)).astype(float)

    own = np.array([patch(page_images[c[0]], c[1] + c[3] / 2, c[2] + c[4] / 2, c[3], c[4])
                    for c in cells.astype(int).tolist()])

    def check(query, draws):
        p = new_page(browser)
        try:
            p.goto(site.url + "index.html" + query)
            p.evaluate("pixmap.ready")
            stats = p.evaluate("pixmap.stats()")
            assert stats["drawCalls"] == draws and stats["pageGroups"] == draws
            settle(p)
            shot = Image.open(io.BytesIO(p.screenshot())).convert("RGB")
            checked = 0
            for i, image_id in enumerate(site.metadata["ids"]):
                pos = p.evaluate("(id) => pixmap.screenPosition(id)", image_id)
                if p.evaluate("([x, y]) => pixmap.pick(x, y)", [pos["x"], pos["y"]]) != image_id:
                    continue
                # the middle of the drawn quad looks like its own atlas cell more than like any other
                a = cells[i, 3] / cells[i, 4]
                w, h = pos["size"] * min(1, a), pos["size"] * min(1, 1 / a)
                drawn = patch(shot, pos["x"], pos["y"], w, h)
                dist = np.abs(own - drawn).mean(axis=(1, 2, 3))
                assert int(np.argmin(dist)) == i, (query, image_id, dist[i], dist.min())
                checked += 1
            assert checked >= 20
            assert_clean(p, site)
        finally:
            p.context.close()

    check("", 1)
    check("?max-array-layers=1", 4)
    check("?max-texture-size=128&max-array-layers=3", 2)


def test_images_named_in_any_script_load(page, tmp_path, built_site_result):
    """Ids keep letters of any script and hash what they cannot keep: the viewer loads every image's
    thumbnail and lightbox image (percent-encoded URLs), with no failed request, and a shared link to
    one of them opens it."""
    import shutil
    import unicodedata

    import pixmap

    from .conftest import DEMO

    names = ["東京.jpg", "大阪.jpg", "京都.jpg", "a b.jpg", "100%.jpg", "#1?.jpg", unicodedata.normalize("NFD", "café.jpg"),
             "Ωmega.jpg"]
    folder = tmp_path / "imgs"
    folder.mkdir()
    for name, src in zip(names, sorted((DEMO / "images").glob("*.jpg"))):
        shutil.copy(src, folder / name)
    res = pixmap.build(images=folder, out_dir=tmp_path / "site", progress=False, layouts="umap",
                       cache_dir=built_site_result.out_dir.parent / "cache")
    site = Site(res.out_dir)
    try:
        ids = site.metadata["ids"]
        assert len(set(ids)) == len(names)
        assert {"東京", "大阪", "京都", "Ωmega", "café"} <= set(ids)
        open_map(page, site)
        for image_id in ids:
            page.evaluate("(id) => pixmap.open(id)", image_id)
            page.wait_for_function("(() => { const im = document.querySelector('#lightbox img');"
                                   " return im && im.complete && im.naturalWidth > 0; })()", timeout=10_000)
            page.evaluate("pixmap.close()")
        page.evaluate("(id) => pixmap.flyTo(id, {duration: 100})", "東京")
        page.wait_for_function("pixmap.stats().thumbsLoaded >= 3", timeout=10_000)
        page.evaluate("(id) => pixmap.open(id)", "東京")
        page.wait_for_function("location.hash.includes('open=' + encodeURIComponent('東京'))")
        shared = page.evaluate("location.href")
        other = page.context.new_page()
        try:
            other.goto(shared)
            other.evaluate("pixmap.ready")
            other.wait_for_function("(() => { const im = document.querySelector('#lightbox img');"
                                    " return im && im.complete && im.naturalWidth > 0; })()", timeout=10_000)
            assert other.evaluate("pixmap.state().open") == "東京"
        finally:
            other.close()
        assert_clean(page, site)
    finally:
        site.server.close()
