"""The hotspot editor (js/hotspotedit.js, js/hotspotmodel.js) in a real browser, on a real build of 39 demo
paintings, and its hotspots.json read back by real rebuilds (pixmap.curation).

Edits are made through the panel's Edit mode as a person makes them (clicks, typing, Ctrl+Z); the
selection comes from `pixmap.select(ids)`. What the map shows is checked through `pixmap.hotspots()`,
the panel, the hotspot's members when it is selected, and the canvas's pixels (a merged hotspot's
highlight covers the images of both). Save is a real download, built again with `--hotspots` (reusing
the feature cache), then built without one of the images.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from tests.browser import StaticServer, new_page, assert_clean, open_map  # the browser fixture comes from conftest

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "datasets" / "aic-paintings"
XSS = '<img src=x onerror="window.__xss=1">'
FIELDS = ["filename", "title", "artist", "year", "category"]


# ------------------------------------------------------------------------------------ the site
@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """39 demo paintings (every 7th) with their title, artist, year and category: a real build (UMAP's
    n_neighbors 5 and hotspots of 3 or more give three hotspots of 17, 14 and 8 paintings)."""
    import pixmap

    tmp = tmp_path_factory.mktemp("hotspot-edit")
    with open(DEMO / "metadata.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[::7]
    with open(tmp / "metadata.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(FIELDS)
        for r in rows:
            w.writerow([r[k] for k in FIELDS])
    images = [str(DEMO / r["filename"]) for r in rows]
    res = pixmap.build(images=images, metadata=tmp / "metadata.csv", out_dir=tmp / "site", cache_dir=tmp / "cache",
                       progress=False, layouts="umap", n_neighbors=5, min_cluster_size=3)
    return {"tmp": tmp, "images": images, "site": res.out_dir}


class Site:
    def __init__(self, folder: Path):
        from pixmap.site import read_metadata

        self.folder = Path(folder)
        self.manifest = json.loads((self.folder / "data" / "manifest.json").read_text(encoding="utf-8"))
        self.ids = read_metadata(self.folder)["ids"]
        self.labels = np.fromfile(self.folder / "data" / "clusters.i32", dtype="<i4")

    def hotspots(self):
        """[(name, sorted member ids, representative id)] in the manifest's order."""
        return [(h["label"], sorted(self.ids[i] for i in np.flatnonzero(self.labels == h["id"])),
                 self.ids[h["representative"]]) for h in self.manifest["clusters"]["hotspots"]]


@pytest.fixture(scope="module")
def site(work):
    s = Site(work["site"])
    assert len(s.manifest["clusters"]["hotspots"]) >= 3, "the test needs three hotspots"
    s.server = StaticServer(s.folder)
    s.url = s.server.url
    yield s
    s.server.close()


# ------------------------------------------------------------------------------------ helpers


def shown(page):
    """pixmap.hotspots() as [(id, name, size, representative id)]."""
    return [(h["id"], h["name"], h["size"], h["representative"]) for h in page.evaluate("pixmap.hotspots()")]


def members(page, hid):
    """The ids the map selects for hotspot hid (the viewer's own hotspot of every image), sorted."""
    page.evaluate("id => pixmap.selectHotspot(id, {duration: 0})", hid)
    ids = sorted(page.evaluate("pixmap.selection()"))
    page.evaluate("pixmap.select([])")
    return ids


def item(page, hid):
    return page.locator(f"#hotspots li[data-hotspot='{hid}']")


def edit_button(page, hid, action):
    return item(page, hid).locator(f"button[data-edit='{action}']")


def tool(page, action):
    return page.locator(f"#hotspot-tools button[data-edit='{action}']")


def start_editing(page):
    page.click("#hotspot-edit")
    page.wait_for_function("document.querySelector('#hotspot-edit').getAttribute('aria-pressed') === 'true'")
    page.wait_for_selector("#hotspot-tools button[data-edit='save']:enabled")


def rename(page, hid, name):
    box = item(page, hid).locator("input.hs-name")
    box.fill(name)
    box.press("Enter")
    page.wait_for_function("([id, n]) => pixmap.hotspots().some((h) => h.id === id && h.name === n)", arg=[hid, name])


def brightness(page, points, r=3):
    """Mean brightness of the map's pixels in small boxes around page points."""
    from PIL import Image

    box = page.locator("#map").bounding_box()
    px = np.asarray(Image.open(io.BytesIO(page.locator("#map").screenshot())).convert("L")).astype(float)
    vals = []
    for x, y in points:
        cx, cy = int(round(x - box["x"])), int(round(y - box["y"]))
        vals.append(px[max(0, cy - r):cy + r + 1, max(0, cx - r):cx + r + 1].mean())
    return float(np.mean(vals))


def clear_storage(page, site):
    page.goto(site.url + "index.html")
    page.evaluate("localStorage.clear()")


# ------------------------------------------------------------------------------------ tests
def test_edits_show_on_the_map_persist_undo_save_and_come_back_from_a_rebuild(browser, site, work):
    import pixmap

    page = new_page(browser)
    try:
        clear_storage(page, site)
        open_map(page, site)
        original = shown(page)
        assert [h[1] for h in original] == [h["label"] for h in site.manifest["clusters"]["hotspots"]]
        b, a, c = (h[0] for h in original[:3])          # b: the largest
        a_ids, b_ids, c_ids = (sorted(site.ids[i] for i in np.flatnonzero(site.labels == h)) for h in (a, b, c))
        start_editing(page)

        # rename (untrusted text stays text), and the panel shows it
        rename(page, a, XSS)
        assert item(page, a).locator(".label").text_content() == XSS

        # merge c into a: one hotspot with both's images, highlighted together on the map
        c_points = [page.evaluate("id => pixmap.screenPosition(id)", i) for i in c_ids]
        c_points = [(p["x"], p["y"]) for p in c_points if p and p["visible"]]
        page.hover(f"#hotspots button[data-hotspot='{a}']")
        page.wait_for_timeout(300)
        before = brightness(page, c_points)
        edit_button(page, a, "merge").click()
        edit_button(page, c, "merge-here").click()
        page.wait_for_function("id => !pixmap.hotspots().some((h) => h.id === id)", arg=c)
        page.hover(f"#hotspots button[data-hotspot='{a}']")
        page.wait_for_timeout(300)
        after = brightness(page, c_points)
        assert after > before + 5, (before, after)       # c's images are no longer dimmed: they are a's now
        assert members(page, a) == sorted(a_ids + c_ids)
        assert [h[2] for h in shown(page) if h[0] == a] == [len(a_ids) + len(c_ids)]

        # reorder: a moves to the top, then down and up again
        edit_button(page, a, "up").click()
        page.wait_for_function("id => pixmap.hotspots()[0].id === id", arg=a)
        edit_button(page, a, "down").click()
        page.wait_for_function("id => pixmap.hotspots()[1].id === id", arg=a)
        assert edit_button(page, shown(page)[0][0], "up").is_disabled()
        edit_button(page, a, "up").click()
        page.wait_for_function("id => pixmap.hotspots()[0].id === id", arg=a)
        assert [h[0] for h in shown(page)][:2] == [a, b]
        assert page.eval_on_selector_all("#hotspots .label", "els => els.map((e) => e.textContent)")[:2] == \
            [XSS, original[0][1]]

        # a hotspot from the selection: three of b's images and two of a's
        picked = b_ids[:3] + a_ids[-2:]
        page.evaluate("ids => pixmap.select(ids)", picked)
        tool(page, "create").click()
        page.wait_for_function("pixmap.hotspots()[0].name === 'New hotspot'")
        new = shown(page)[0][0]
        assert shown(page)[0][2] == 5 and members(page, new) == sorted(picked)
        assert [h[2] for h in shown(page) if h[0] == b] == [len(b_ids) - 3]
        assert [h[2] for h in shown(page) if h[0] == a] == [len(a_ids) + len(c_ids) - 2]
        rename(page, new, "Picked")

        # add two of a's images to it, then remove one of them again
        page.evaluate("ids => pixmap.select(ids)", a_ids[:2])
        edit_button(page, new, "add").click()
        page.wait_for_function("id => pixmap.hotspots().find((h) => h.id === id).size === 7", arg=new)
        page.evaluate("ids => pixmap.select(ids)", a_ids[:1])
        edit_button(page, new, "remove").click()
        page.wait_for_function("id => pixmap.hotspots().find((h) => h.id === id).size === 6", arg=new)
        assert members(page, new) == sorted(picked + a_ids[1:2])

        # the picture: open one of b's images that is not its picture, make it b's picture
        b_rep = [h[3] for h in shown(page) if h[0] == b][0]
        new_rep = next(i for i in b_ids[3:] if i != b_rep)
        page.evaluate("id => pixmap.open(id)", new_rep)
        page.click("#lightbox .hs-rep button[data-edit='rep']")
        page.wait_for_function("([id, r]) => pixmap.hotspots().find((h) => h.id === id).representative === r",
                               arg=[b, new_rep])
        page.keyboard.press("Escape")
        page.wait_for_selector(f"#hotspots button[data-hotspot='{b}'][data-thumb='file']")   # its thumbnail file

        # delete the last hotspot
        last, last_size = shown(page)[-1][0], shown(page)[-1][2]
        total = sum(h[2] for h in shown(page))
        edit_button(page, last, "delete").click()
        page.wait_for_function("id => !pixmap.hotspots().some((h) => h.id === id)", arg=last)
        assert sum(h[2] for h in shown(page)) == total - last_size    # its images are in no hotspot now

        # undo (Ctrl+Z) brings the deleted hotspot back, with its images
        before_undo = shown(page)
        page.locator("#map").focus()
        page.keyboard.press("Control+z")
        page.wait_for_function("id => pixmap.hotspots().some((h) => h.id === id)", arg=last)
        assert len(shown(page)) == len(before_undo) + 1
        edit_button(page, last, "delete").click()
        page.wait_for_function("id => !pixmap.hotspots().some((h) => h.id === id)", arg=last)
        expected = shown(page)
        expected_members = {h[0]: members(page, h[0]) for h in expected}

        # a reload restores the unsaved edits (and a link's hotspot that only the edits made)
        page.evaluate("id => pixmap.selectHotspot(id, {duration: 0})", new)
        page.wait_for_function("id => location.hash.includes(`hotspot=${id}`)", arg=new)
        page.reload()
        page.evaluate("pixmap.ready")
        assert shown(page) == expected
        assert page.evaluate("pixmap.state().hotspot") == new
        assert sorted(page.evaluate("pixmap.selection()")) == expected_members[new]
        page.evaluate("pixmap.select([])")
        assert {h[0]: members(page, h[0]) for h in expected} == expected_members
        assert page.locator(".hs-name").count() == 0      # (not in edit mode after a reload)
        start_editing(page)
        assert "restored" in page.locator("#hotspot-tools .status").text_content()

        # save: a real download of hotspots.json, the same as saveHotspots()
        with page.expect_download() as dl:
            tool(page, "save").click()
        saved_path = work["tmp"] / "hotspots.json"
        dl.value.save_as(saved_path)
        assert dl.value.suggested_filename == "hotspots.json"
        doc = json.loads(saved_path.read_text(encoding="utf-8"))
        assert doc["format"] == "pixmap-hotspots" and doc["version"] == 1 and doc["site"] == site.manifest["title"]
        assert [(h["name"], h["representative"]) for h in doc["hotspots"]] == [(h[1], h[3]) for h in expected]
        ids_by_hotspot = [sorted(h["images"]) for h in doc["hotspots"]]
        assert ids_by_hotspot == [expected_members[h[0]] for h in expected]
        again = json.loads(page.evaluate("pixmap.saveHotspots()"))
        assert again["hotspots"] == doc["hotspots"]
        assert "next to index.html" in page.locator("#hotspot-tools .status").text_content()
        assert_clean(page, site)

        # after Save the edits are no longer kept in the browser: a reload shows the site's own hotspots
        page.reload()
        page.evaluate("pixmap.ready")
        assert shown(page) == original
    finally:
        page.context.close()

    # a rebuild with --hotspots gives the same names, order, members and pictures
    rebuilt = pixmap.build(images=work["images"], metadata=work["tmp"] / "metadata.csv",
                           out_dir=work["tmp"] / "rebuilt", cache_dir=work["tmp"] / "cache", progress=False,
                           layouts="umap", hotspots=str(saved_path))
    new_site = Site(rebuilt.out_dir)
    want = [(h["name"], sorted(h["images"]), h["representative"]) for h in doc["hotspots"]]
    assert new_site.hotspots() == want
    assert new_site.manifest["clusters"]["curated"] == {"file": "hotspots.json", "hotspots": len(want), "missing_ids": 0}
    assert rebuilt.n_computed == 0                    # (the feature cache served every image)

    # without one of the images: it is reported, the rest is kept
    gone = want[0][1][0]
    fewer = [p for p in work["images"] if Path(p).stem != gone]
    assert len(fewer) == len(work["images"]) - 1
    res = pixmap.build(images=fewer, metadata=work["tmp"] / "metadata.csv", out_dir=work["tmp"] / "fewer",
                       cache_dir=work["tmp"] / "cache", progress=False, layouts="umap", hotspots=str(saved_path))
    fewer_site = Site(res.out_dir)
    got = fewer_site.hotspots()
    assert [g[0] for g in got] == [w[0] for w in want]
    assert got[0][1] == [i for i in want[0][1] if i != gone] and got[1:] == want[1:]
    assert fewer_site.manifest["clusters"]["curated"]["missing_ids"] == 1
    assert any("1 image id(s) are not in this build" in w and json.dumps(gone) in w for w in res.warnings)

    # the rebuilt site opens with its curated hotspots, names as text, and none of the old site's edits
    server = StaticServer(new_site.folder)
    page = new_page(browser)
    try:
        page.goto(server.url + "index.html")
        page.evaluate("pixmap.ready")
        assert [(h[1], h[3]) for h in shown(page)] == [(w[0], w[2]) for w in want]
        assert page.eval_on_selector_all("#hotspots .label", "els => els.map((e) => e.textContent)") == \
            [w[0] for w in want]
        assert {h[0]: members(page, h[0]) for h in shown(page)} == {k: w[1] for k, w in enumerate(want)}
        assert_clean(page, type("S", (), {"url": server.url}))
    finally:
        page.context.close()
        server.close()


def test_discard_and_undo_it_and_the_new_site_in_the_browser(browser, site, work):
    """Discard drops the edits (and the stored copy); Undo brings them back; Esc cancels a merge."""
    page = new_page(browser)
    try:
        clear_storage(page, site)
        open_map(page, site)
        original = shown(page)
        start_editing(page)
        first = original[0][0]
        edit_button(page, first, "delete").click()
        page.wait_for_function("id => !pixmap.hotspots().some((h) => h.id === id)", arg=first)
        assert page.evaluate("Object.keys(localStorage).filter((k) => k.startsWith('pixmap:hotspot-edits:')).length") == 1
        tool(page, "discard").click()
        page.wait_for_function("n => pixmap.hotspots().length === n", arg=len(original))
        assert shown(page) == original
        assert page.evaluate("Object.keys(localStorage).filter((k) => k.startsWith('pixmap:hotspot-edits:')).length") == 0
        tool(page, "undo").click()
        page.wait_for_function("id => !pixmap.hotspots().some((h) => h.id === id)", arg=first)
        # Merge, then Esc cancels it
        second = shown(page)[0][0]
        edit_button(page, second, "merge").click()
        assert item(page, shown(page)[1][0]).locator("button[data-edit='merge-here']").count() == 1
        page.locator("#map").focus()
        page.keyboard.press("Escape")
        page.wait_for_selector("button[data-edit='merge-here']", state="detached")
        assert len(shown(page)) == len(original) - 1
        assert_clean(page, site)
    finally:
        page.context.close()
