"""Selection in the viewer (js/selection.js, lasso.js, selectionui.js, export.js), in a real browser.

The site is a real build (`pixmap.build`: the real model, UMAP in 2D and 3D, HDBSCAN, search index) of 48
of the demo paintings with their real metadata, a few values changed so that the export has something to
quote (a title with a comma, quotes and a line break; a title that is an XSS probe). A lasso is checked
against where the viewer says each image is drawn (`screenPosition`), with a point-in-polygon test written
here; also in node: the viewer's polygon test and the link's index encoding against this file's.
"""
from __future__ import annotations

import base64
import csv
import io
import json
import random
import shutil
import subprocess
import zipfile
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
from PIL import Image

from tests.browser import StaticServer, assert_clean, open_map  # the browser fixture comes from conftest

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "datasets" / "aic-paintings"
XSS = '<img src=x onerror="window.__xss=1">'
TRICKY = 'Still life, with "quotes"\nand a second line'


# ------------------------------------------------------------------------------------ the site
@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A real build of 48 demo paintings with a 2D and a 3D layout."""
    import pixmap

    tmp = tmp_path_factory.mktemp("select")
    with open(DEMO / "metadata.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[::5][:48]
    rows[0]["title"] = XSS
    rows[1]["title"] = TRICKY
    fields = list(rows[0].keys())
    with open(tmp / "metadata.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    images = [str(DEMO / r["filename"]) for r in rows]
    res = pixmap.build(images=images, metadata=tmp / "metadata.csv", out_dir=tmp / "site", cache_dir=tmp / "cache",
                       progress=False, layouts="umap,umap-3d")
    return res.out_dir


class Site:
    def __init__(self, folder: Path):
        from pixmap.site import read_metadata

        self.folder = Path(folder)
        self.manifest = json.loads((self.folder / "data" / "manifest.json").read_text(encoding="utf-8"))
        meta = read_metadata(self.folder)
        self.ids, self.fields, self.rows = meta["ids"], meta["fields"], meta["rows"]
        self.clusters = np.fromfile(self.folder / self.manifest["clusters"]["file"], dtype="<i4")
        self.hotspots = {h["id"]: h["label"] for h in self.manifest["clusters"]["hotspots"]}
        self.server = StaticServer(self.folder)
        self.url = self.server.url

    def layout(self, name):
        (entry,) = [e for e in self.manifest["layouts"] if e["name"] == name]
        return np.fromfile(self.folder / entry["file"], dtype="<f4").reshape(-1, entry["dims"])

    def lightbox_file(self, image_id):
        from pixmap.site import image_file

        return self.folder / image_file(self.manifest["lightbox"], image_id)


@pytest.fixture(scope="module")
def site(built):
    s = Site(built)
    assert len(s.ids) == 48
    yield s
    s.server.close()


# ------------------------------------------------------------------------------------ helpers

@pytest.fixture
def map_page(page, site):
    return open_map(page, site)



def screen_points(page):
    """{id: (x, y)} where each image is drawn now, in CSS px from the canvas's top-left corner."""
    got = page.evaluate("""async () => {
        const ids = await pixmap.ids();
        const r = document.getElementById('map').getBoundingClientRect();
        const out = {};
        for (const id of ids) {
            const s = pixmap.screenPosition(id);
            if (s) out[id] = [s.x - r.left, s.y - r.top];
        }
        return out;
    }""")
    return {k: tuple(v) for k, v in got.items()}


def inside(poly, x, y):
    """Even-odd point in polygon (the rule the lasso is drawn and tested with)."""
    c = False
    n = len(poly)
    for k in range(n):
        (xa, ya), (xb, yb) = poly[k], poly[(k + 1) % n]
        if (ya > y) != (yb > y) and x < xa + (y - ya) * (xb - xa) / (yb - ya):
            c = not c
    return c


def convex_hull(points):
    pts = sorted(set(points))
    if len(pts) < 3:
        return pts

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
    lower, upper = [], []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def in_hull(hull, x, y):
    n = len(hull)
    return all((hull[(k + 1) % n][0] - hull[k][0]) * (y - hull[k][1])
               - (hull[(k + 1) % n][1] - hull[k][1]) * (x - hull[k][0]) >= 0 for k in range(n))


def expected(site, points, poly):
    """The ids (data order) whose drawn centre is inside the polygon."""
    return [i for i in site.ids if i in points and inside(poly, *points[i])]


def u_shape(points, pad=18.0):
    """A U around the images drawn (a notch cut from the top through the middle third), and the ids
    that lie in the notch (inside the U's convex hull, outside the U)."""
    xs = [p[0] for p in points.values()]
    ys = [p[1] for p in points.values()]
    x0, x1, y0, y1 = min(xs) - pad, max(xs) + pad, min(ys) - pad, max(ys) + pad
    a, b = x0 + (x1 - x0) / 3, x0 + 2 * (x1 - x0) / 3
    notch = y0 + 0.6 * (y1 - y0)
    return [(x0, y0), (a, y0), (a, notch), (b, notch), (b, y0), (x1, y0), (x1, y1), (x0, y1)]


def selection(page):
    return page.evaluate("async () => await pixmap.selection()")


def draw_lasso(page, poly, modifier=None):
    """Draw the polygon with the real mouse (in lasso mode), holding a modifier key if given."""
    r = page.evaluate("(() => { const r = document.getElementById('map').getBoundingClientRect(); return [r.left, r.top]; })()")
    if modifier:
        page.keyboard.down(modifier)
    page.mouse.move(r[0] + poly[0][0], r[1] + poly[0][1])
    page.mouse.down()
    for x, y in poly[1:]:
        page.mouse.move(r[0] + x, r[1] + y)
    page.mouse.up()
    if modifier:
        page.keyboard.up(modifier)


def to_js_text(v):
    """A metadata value as the CSV export writes it."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, list):
        return "|".join(to_js_text(x) for x in v)
    if isinstance(v, dict):
        return json.dumps(v, ensure_ascii=False, separators=(",", ":"))
    return str(v)


def encode_indices(indices):
    """The link's compact selection (selection.js encodeIndices): gaps as LEB128 varints, base64url."""
    out = bytearray()
    prev = -1
    for i in indices:
        v = i - prev - 1
        prev = i
        while v >= 0x80:
            out.append((v & 0x7F) | 0x80)
            v >>= 7
        out.append(v)
    return base64.urlsafe_b64encode(bytes(out)).decode().rstrip("=")


# ------------------------------------------------------------------------------------ lasso
def test_a_concave_lasso_selects_exactly_the_images_inside_it_not_its_hull(map_page, site):
    page = map_page
    pts = screen_points(page)
    assert len(pts) == len(site.ids)
    poly = u_shape(pts)
    want = expected(site, pts, poly)
    hull = convex_hull(poly)
    in_notch = [i for i in site.ids if in_hull(hull, *pts[i]) and i not in want]
    assert want and in_notch, "the U must hold images and its notch others (where its convex hull differs)"
    got = page.evaluate("(p) => pixmap.lasso(p)", [list(p) for p in poly])
    assert got == want
    assert selection(page) == want
    assert page.evaluate("pixmap.state().selection") == want
    assert page.locator("#selection .sel-count").text_content() == f"{len(want)} selected"
    assert page.locator("#selection .sel-thumbs button").count() == len(want)
    # a triangle, and a polygon that crosses itself (even-odd: the doubly covered part is outside)
    xs = sorted(p[0] for p in pts.values())
    ys = sorted(p[1] for p in pts.values())
    mx, my = xs[len(xs) // 2], ys[len(ys) // 2]
    tri = [(xs[0] - 5, ys[0] - 5), (xs[-1] + 5, my), (mx, ys[-1] + 5)]
    assert page.evaluate("(p) => pixmap.lasso(p)", [list(p) for p in tri]) == expected(site, pts, tri)
    bow = [(xs[0] - 5, ys[0] - 5), (xs[-1] + 5, ys[-1] + 5), (xs[-1] + 5, ys[0] - 5), (xs[0] - 5, ys[-1] + 5)]
    assert page.evaluate("(p) => pixmap.lasso(p)", [list(p) for p in bow]) == expected(site, pts, bow)
    assert 0 < len(expected(site, pts, bow)) < len(site.ids)
    assert page.evaluate("pixmap.stats().lassoPath") == "scan"  # (most of the map: one pass over it)
    # a small concave polygon: only the picking grid's cells under it are looked at
    for image_id in site.ids:
        x, y = pts[image_id]
        small = [(x - 30, y - 30), (x + 30, y - 30), (x + 30, y + 30), (x, y + 5), (x - 30, y + 30)]
        if 0 < len(expected(site, pts, small)) < len(site.ids) // 4:
            break
    got = page.evaluate("(p) => pixmap.lasso(p)", [list(p) for p in small])
    assert got == expected(site, pts, small) and image_id in got
    assert page.evaluate("pixmap.stats().lassoPath") == "grid"
    assert_clean(page, site)


def cyan_pixels(page, box):
    """How many pixels in the page region are the selection's colour (shaders.js SELECTED, 64 217 255)."""
    png = page.screenshot(clip=box)
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    near = (np.abs(rgb[..., 0] - 64) < 40) & (np.abs(rgb[..., 1] - 217) < 40) & (rgb[..., 2] > 215)
    return int(near.sum())


def next_frame(page):
    page.evaluate("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")


def test_selected_images_are_outlined_on_the_map(map_page, site):
    page = map_page
    # an image drawn on top at its own centre, and the box around it
    for image_id in site.ids:
        s = page.evaluate("(id) => pixmap.screenPosition(id)", image_id)
        if page.evaluate("([x, y]) => pixmap.pick(x, y)", [s["x"], s["y"]]) == image_id and s["size"] > 20:
            break
    half = s["size"] / 2 + 3
    box = {"x": s["x"] - half, "y": s["y"] - half, "width": 2 * half, "height": 2 * half}
    before = cyan_pixels(page, box)
    page.evaluate("(id) => pixmap.select([id])", image_id)
    next_frame(page)
    after = cyan_pixels(page, box)
    assert after > before + 2 * s["size"], (before, after, s)
    page.keyboard.press("Escape")
    next_frame(page)
    assert cyan_pixels(page, box) <= before + 2
    assert_clean(page, site)


def test_the_mouse_draws_the_lasso_shift_adds_alt_subtracts(map_page, site):
    page = map_page
    pts = screen_points(page)
    xs = sorted(p[0] for p in pts.values())
    ys = sorted(p[1] for p in pts.values())
    x0, x1, y0, y1 = xs[0] - 10, xs[-1] + 10, ys[0] - 10, ys[-1] + 10
    xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
    left = [(x0, y0), (xm, y0), (xm - 20, ym), (xm, y1), (x0, y1)]           # concave on its right side
    right = [(xm + 1, y0), (x1, y0), (x1, y1), (xm + 1, y1), (xm + 40, ym)]  # concave on its left side
    middle = [(x0, ym - 40), (x1, ym - 40), (x1, ym + 40), (x0, ym + 40)]
    page.keyboard.press("l")
    assert page.locator("#controls button[data-action='lasso']").get_attribute("aria-pressed") == "true"
    draw_lasso(page, left)
    a = expected(site, pts, left)
    assert a and selection(page) == a
    draw_lasso(page, right, "Shift")
    b = expected(site, pts, right)
    assert b and set(b) - set(a)
    union = [i for i in site.ids if i in set(a) | set(b)]
    assert selection(page) == union
    draw_lasso(page, middle, "Alt")
    c = set(expected(site, pts, middle))
    assert c & set(union)
    assert selection(page) == [i for i in union if i not in c]
    # the same with the API
    assert page.evaluate("(p) => pixmap.lasso(p, {mode: 'add'})", [list(p) for p in middle]) == sorted(c, key=site.ids.index)
    assert selection(page) == union
    page.evaluate("(p) => pixmap.lasso(p, {mode: 'subtract'})", [list(p) for p in left])
    assert selection(page) == [i for i in union if i not in set(a)]
    # L again leaves lasso mode; then a shift-click toggles the image under the pointer
    page.keyboard.press("l")
    assert page.locator("#controls button[data-action='lasso']").get_attribute("aria-pressed") == "false"
    before = selection(page)
    target = next(i for i in site.ids if i not in before)
    s = page.evaluate("(id) => pixmap.screenPosition(id)", target)
    picked = page.evaluate("([x, y]) => pixmap.pick(x, y)", [s["x"], s["y"]])
    assert picked is not None
    for modifier in ("Shift", "Control"):
        page.keyboard.down(modifier)
        page.mouse.click(s["x"], s["y"])
        page.keyboard.up(modifier)
        now = selection(page)
        assert (picked in now) != (picked in before), modifier
        before = now
    assert page.evaluate("pixmap.state().open") is None  # (a modified click selects, it does not open)
    # Escape clears
    page.keyboard.press("Escape")
    assert selection(page) == []
    assert page.locator("#selection").is_hidden()
    assert_clean(page, site)


def test_a_3d_lasso_selects_by_where_the_images_are_projected(map_page, site):
    page = map_page
    page.evaluate("pixmap.setLayout('umap-3d', {duration: 0})")
    page.wait_for_function("!pixmap.state().transitioning")
    cam = page.evaluate("pixmap.state().camera")
    cam.update(yaw=cam["yaw"] + 0.7, pitch=0.5)
    page.evaluate("(c) => pixmap.setCamera(c)", cam)
    pts = screen_points(page)
    assert len(pts) >= len(site.ids) - 2
    poly = u_shape(pts, pad=8)
    want = expected(site, pts, poly)
    assert want and len(want) < len(pts)
    assert page.evaluate("(p) => pixmap.lasso(p)", [list(p) for p in poly]) == want
    assert page.evaluate("pixmap.stats().lassoPath") == "3d"
    page.evaluate("pixmap.setLayout('umap', {duration: 0})")
    page.wait_for_function("!pixmap.state().transitioning")
    assert selection(page) == want  # (the selection stays when the layout changes)
    assert_clean(page, site)


# ------------------------------------------------------------------------------------ export
def pick_ids(site):
    """Seven images in data order, the XSS and the tricky title among them."""
    title = site.fields.index("title")
    special = {k for k, row in enumerate(site.rows) if row[title] in (XSS, TRICKY)}
    assert len(special) == 2
    return [site.ids[k] for k in sorted(special | {2, 7, 19, 30, 47})]


def check_records(site, records, layout="umap"):
    pos = site.layout(layout)
    dims = pos.shape[1]
    index = {i: k for k, i in enumerate(site.ids)}
    for rec in records:
        k = index[rec["id"]]
        for f, v in zip(site.fields, site.rows[k]):
            assert rec[f] == v, (rec["id"], f)
        c = int(site.clusters[k])
        assert rec["hotspot"] == (site.hotspots.get(c) if c >= 0 else None)
        for j, axis in enumerate("xyz"[:dims]):
            assert np.float32(rec[axis]) == pos[k, j]


def test_csv_and_json_exports_match_the_selection_and_the_metadata(map_page, site):
    page = map_page
    ids = pick_ids(site)
    page.evaluate("(ids) => pixmap.select(ids)", ids)
    assert selection(page) == ids
    text = page.evaluate("pixmap.exportSelection('json')")
    records = json.loads(text)
    assert [r["id"] for r in records] == ids
    assert list(records[0].keys()) == ["id", *site.fields, "hotspot", "x", "y"]
    check_records(site, records)
    assert {r["title"] for r in records} >= {XSS, TRICKY}
    csv_text = page.evaluate("pixmap.exportSelection('csv')")
    rows = list(csv.reader(io.StringIO(csv_text, newline="")))
    assert rows[0] == ["id", *site.fields, "hotspot", "x", "y"]
    assert [r[0] for r in rows[1:]] == ids
    for rec, row in zip(records, rows[1:]):
        assert row == [to_js_text(rec[c]) for c in rows[0]]
        assert np.float32(float(row[-2])) == np.float32(rec["x"])
    assert TRICKY in [r[rows[0].index("title")] for r in rows]
    # the panel's CSV button downloads the same text; copy ids puts them on the clipboard
    with page.expect_download() as info:
        page.locator("#selection button[data-export='csv']").click()
    download = info.value
    assert download.suggested_filename.endswith("-selection.csv")
    assert Path(download.path()).read_bytes().decode("utf-8") == csv_text
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.url.rstrip("/"))
    page.locator("#selection button[data-action='copy']").click()
    page.wait_for_function("document.querySelector('#selection .sel-note').textContent.startsWith('Copied')")
    assert page.evaluate("navigator.clipboard.readText()") == "\n".join(ids)
    # 3D: the positions have z
    page.evaluate("pixmap.setLayout('umap-3d', {duration: 0})")
    records = json.loads(page.evaluate("pixmap.exportSelection('json')"))
    assert list(records[0].keys())[-3:] == ["x", "y", "z"]
    check_records(site, records, "umap-3d")
    assert_clean(page, site)


def test_the_zip_holds_the_lightbox_images_as_they_are_and_the_csv(map_page, site):
    page = map_page
    ids = pick_ids(site)[:5]
    page.evaluate("(ids) => pixmap.select(ids)", ids)
    data = page.evaluate("""async () => {
        const blob = await pixmap.exportSelection('zip');
        const bytes = new Uint8Array(await blob.arrayBuffer());
        let bin = '';
        for (let k = 0; k < bytes.length; k += 8192) bin += String.fromCharCode(...bytes.subarray(k, k + 8192));
        return {type: blob.type, b64: btoa(bin)};
    }""")
    assert data["type"] == "application/zip"
    ext = site.manifest["lightbox"]["ext"]
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(data["b64"]))) as z:
        assert z.testzip() is None
        names = z.namelist()
        assert names == ["selection.csv", *[f"images/{i}.{ext}" for i in ids]]
        assert z.read("selection.csv").decode("utf-8") == page.evaluate("pixmap.exportSelection('csv')")
        for i in ids:
            info = z.getinfo(f"images/{i}.{ext}")
            assert info.compress_type == zipfile.ZIP_STORED
            raw = z.read(info)
            assert raw == site.lightbox_file(i).read_bytes()
            with Image.open(io.BytesIO(raw)) as im:
                im.load()
                assert im.format in ("WEBP", "JPEG") and min(im.size) > 0
    # the panel's ZIP button saves one too
    with page.expect_download() as info:
        page.locator("#selection button[data-export='zip']").click()
    with zipfile.ZipFile(info.value.path()) as z:
        assert len(z.namelist()) == len(ids) + 1
    assert_clean(page, site)


# ------------------------------------------------------------------------------------ panel, hotspots, matches
def test_the_lightbox_walks_the_selection_from_the_panel(map_page, site):
    page = map_page
    ids = [site.ids[k] for k in (3, 11, 26, 40)]
    page.evaluate("(ids) => pixmap.select(ids)", ids)
    thumbs = page.locator("#selection .sel-thumbs button")
    assert thumbs.count() == 4
    page.wait_for_function("[...document.querySelectorAll('#selection .sel-thumbs img')].every((i) => i.src)")
    thumbs.nth(1).click()
    page.wait_for_function("(id) => pixmap.state().open === id", arg=ids[1])
    assert page.locator("#lightbox .counter").text_content() == "2 of 4 · selection"
    page.keyboard.press("ArrowRight")
    page.wait_for_function("(id) => pixmap.state().open === id", arg=ids[2])
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")  # (the last: stays)
    page.wait_for_function("(id) => pixmap.state().open === id", arg=ids[3])
    for k in (2, 1, 0, 0):
        page.keyboard.press("ArrowLeft")
        page.wait_for_function("(id) => pixmap.state().open === id", arg=ids[k])
    assert page.locator("#lightbox .counter").text_content() == "1 of 4 · selection"
    assert_clean(page, site)


def test_a_hotspot_and_the_search_matches_become_the_selection(map_page, site):
    page = map_page
    hotspot = site.manifest["clusters"]["hotspots"][0]
    page.locator(f"#hotspots button[data-hotspot='{hotspot['id']}']").click()
    members = [i for k, i in enumerate(site.ids) if site.clusters[k] == hotspot["id"]]
    page.wait_for_function("(n) => pixmap.state().selection.length === n", arg=len(members))
    assert selection(page) == members
    assert page.evaluate("pixmap.state().hotspot") == hotspot["id"]
    # another selection is no longer the hotspot
    page.evaluate("(ids) => pixmap.select(ids)", members[:2])
    assert page.evaluate("pixmap.state().hotspot") is None
    # the search's matches: select them, add, subtract
    assert page.locator("#selection button[data-action='matches']").is_hidden()
    hits = page.evaluate("pixmap.search('portrait')")
    assert hits
    matched = page.evaluate("pixmap.matches()")
    button = page.locator("#selection button[data-action='matches']")
    button.click()
    assert selection(page) == matched
    page.evaluate("(ids) => pixmap.select(ids)", members[:2])
    button.click(modifiers=["Shift"])
    assert selection(page) == [i for i in site.ids if i in set(matched) | set(members[:2])]
    button.click(modifiers=["Alt"])
    assert selection(page) == [i for i in members[:2] if i not in set(matched)]
    assert_clean(page, site)


def test_unknown_ids_and_bad_arguments_are_refused(map_page, site):
    page = map_page
    page.evaluate("(ids) => pixmap.select(ids)", site.ids[:3])
    err = page.evaluate("""() => { try { pixmap.select(['no-such-image']); } catch (e) { return e.message; } }""")
    assert "no-such-image" in err
    assert selection(page) == site.ids[:3]  # (unchanged)
    err = page.evaluate("""() => { try { pixmap.lasso([1, 2, 3]); } catch (e) { return e.message; } }""")
    assert "[x, y]" in err
    err = page.evaluate("pixmap.exportSelection('xlsx').catch((e) => e.message)")
    assert "csv" in err
    page.evaluate("pixmap.select([])")
    assert selection(page) == []
    assert page.evaluate("pixmap.exportSelection('csv')").splitlines() == [",".join(["id", *[
        f'"{f}"' if "," in f else f for f in site.fields], "hotspot", "x", "y"])]
    assert_clean(page, site)


def test_csv_cells_a_spreadsheet_would_run_as_formulas_stay_text(map_page):
    cells = ["=HYPERLINK(\"http://x\")", "@SUM(A1)", "+cmd", "-2+3+cmd|' /C calc'!A0", "\tx",
             "-12.5", "+3", "1e-3", "plain", "a=b"]
    text = map_page.evaluate("""async (cells) => {
        const m = await import('./js/export.js');
        return m.toCsv(['v'], cells.map((v) => ({v})));
    }""", cells)
    got = [r[0] for r in csv.reader(io.StringIO(text, newline=""))][1:]
    assert got == ["'=HYPERLINK(\"http://x\")", "'@SUM(A1)", "'+cmd", "'-2+3+cmd|' /C calc'!A0", "'\tx",
                   "-12.5", "+3", "1e-3", "plain", "a=b"]


# ------------------------------------------------------------------------------------ the link
def test_the_link_restores_the_selection(browser, site):
    from tests.browser import new_page

    page = new_page(browser)
    open_map(page, site)
    ids = pick_ids(site)
    page.evaluate("(ids) => pixmap.select(ids)", ids)
    page.wait_for_function("location.hash.includes('sel=')")
    url = page.url
    assert "sel=" + ",".join(quote(i, safe="") for i in ids) in url
    page.context.close()
    page = new_page(browser)
    open_map(page, site, "#" + url.split("#", 1)[1])
    assert selection(page) == ids
    # all of them: by index when the ids do not fit in the link's budget
    page.evaluate("async () => pixmap.select(await pixmap.ids())")
    chars = sum(len(quote(i, safe="-_.!~*'()")) + 1 for i in site.ids)
    key = "sel=" if chars <= 2000 else "seli="
    page.wait_for_function("(k) => location.hash.includes(k)", arg=key)
    if key == "seli=":
        assert "seli=" + encode_indices(range(len(site.ids))) in page.url
    page.context.close()
    # an index-encoded link from elsewhere
    chosen = [1, 5, 6, 30, 47]
    page = new_page(browser)
    open_map(page, site, "#layout=umap&seli=" + encode_indices(chosen))
    assert selection(page) == [site.ids[k] for k in chosen]
    # following a changed link
    page.evaluate("(h) => { location.hash = h; }", "#layout=umap&sel=" + site.ids[9])
    page.wait_for_function("(id) => pixmap.state().selection.join() === id", arg=site.ids[9])
    assert_clean(page, site)
    page.context.close()


# ------------------------------------------------------------------------------------ in node
def test_the_polygon_test_and_the_link_encoding_agree_with_this_file(tmp_path):
    """js/lasso.js's Polygon against the even-odd test here (random, self-crossing polygons), and
    js/selection.js's index encoding against encode_indices, both ways."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the lasso is checked in the browser tests only")
    rng = random.Random(7)
    polys = []
    for _ in range(60):
        n = rng.choice([3, 4, 5, 8, 20, 200])
        polys.append([[rng.uniform(0, 500), rng.uniform(0, 400)] for _ in range(n)])
    points = [[rng.uniform(-20, 520), rng.uniform(-20, 420)] for _ in range(400)]
    want = [[inside(p, x, y) for x, y in points] for p in polys]
    sets = [sorted(rng.sample(range(2_000_000), k)) for k in (0, 1, 5, 300, 3000)] + [[0, 1, 2, 3], [127, 128, 16511]]
    src = f"""
import {{Polygon}} from {json.dumps((REPO / 'viewer' / 'js' / 'lasso.js').as_uri())};
import {{encodeIndices, decodeIndices}} from {json.dumps((REPO / 'viewer' / 'js' / 'selection.js').as_uri())};
import {{readFileSync}} from "node:fs";
const c = JSON.parse(readFileSync(process.argv[2], "utf8"));
const inside = c.polys.map((p) => {{ const poly = new Polygon(p); return c.points.map(([x, y]) => poly.contains(x, y)); }});
const enc = c.sets.map((s) => encodeIndices(s));
const dec = c.sets.map((s) => Array.from(decodeIndices(encodeIndices(s), 2000000)));
const bad = [decodeIndices("!!", 10), decodeIndices(encodeIndices([3, 12]), 12), decodeIndices("gA", 10)];
console.log(JSON.stringify({{inside, enc, dec, bad}}));
"""
    (tmp_path / "check.mjs").write_text(src, encoding="utf-8")
    (tmp_path / "cases.json").write_text(json.dumps({"polys": polys, "points": points, "sets": sets}), encoding="utf-8")
    out = subprocess.run([node, str(tmp_path / "check.mjs"), str(tmp_path / "cases.json")], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["inside"] == want
    assert sum(map(sum, want)) > 1000  # (the cases are not all outside)
    assert got["enc"] == [encode_indices(s) for s in sets]
    assert got["dec"] == sets
    assert got["bad"] == [None, None, None]  # not base64, an index past the end, a cut varint
