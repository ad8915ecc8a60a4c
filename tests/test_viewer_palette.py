"""The palette swatches in the lightbox (docs/site-format.md, "Palette"), in a real browser: a real build of
20 demo paintings and a red-and-blue picture, served on 127.0.0.1; and the same site without its palette
(as a version 5 map) shows no swatches and asks for no palette file."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.browser import StaticServer

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "datasets" / "aic-paintings" / "images"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    import pixmap

    tmp = tmp_path_factory.mktemp("palette")
    images = tmp / "images"
    images.mkdir()
    for p in sorted(DEMO.iterdir())[:20]:
        shutil.copy(p, images / p.name)
    arr = np.zeros((120, 160, 3), np.uint8)
    arr[:, :120] = (255, 0, 0)      # three quarters red
    arr[:, 120:] = (0, 0, 255)      # a quarter blue
    Image.fromarray(arr).save(images / "red-blue.png")
    return pixmap.build(images=images, out_dir=tmp / "site", cache_dir=tmp / "cache", progress=False,
                        layouts="umap", report=False, duplicates_threshold=0)


class Site:
    def __init__(self, folder):
        from pixmap.site import read_metadata

        self.folder = Path(folder)
        self.manifest = json.loads((self.folder / "data" / "manifest.json").read_text(encoding="utf-8"))
        meta = read_metadata(self.folder)
        self.ids = meta["ids"]
        self.names = [r[0] for r in meta["rows"]]
        self.server = StaticServer(self.folder)
        self.url = self.server.url


@pytest.fixture(scope="module")
def site(built):
    s = Site(built.out_dir)
    yield s
    s.server.close()


@pytest.fixture(scope="module")
def v5_site(built, tmp_path_factory):
    folder = tmp_path_factory.mktemp("palette-v5") / "site"
    shutil.copytree(built.out_dir, folder)
    path = folder / "data" / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest.pop("palette")
    manifest["version"] = 5
    path.write_text(json.dumps(manifest), encoding="utf-8")
    (folder / "data" / "palette.u8").unlink()
    s = Site(folder)
    yield s
    s.server.close()


def open_map(page, site):
    page.goto(site.url + "index.html")
    page.evaluate("pixmap.ready")
    page.wait_for_function("document.getElementById('loading').hidden")


def swatches(page):
    page.wait_for_selector("#lightbox .palette .swatch")
    return page.eval_on_selector_all(
        "#lightbox .palette .swatch",
        "els => els.map(e => ({title: e.title, colour: getComputedStyle(e).backgroundColor, "
        "width: e.getBoundingClientRect().width}))")


def test_the_lightbox_shows_the_palette_as_swatches(page, site):
    open_map(page, site)
    assert not [u for u in page.rec.requests if u.endswith("palette.u8")]      # not before the lightbox opens
    i = site.names.index("red-blue.png")
    page.evaluate("(id) => pixmap.open(id)", site.ids[i])
    got = swatches(page)
    # red and blue, 3:1 (the resized copy blends the pixels along the border: a few % of in-between colours)
    hexes = [s["title"].split()[0] for s in got]
    pct = [int(s["title"].split()[1].rstrip("%")) for s in got]
    assert hexes[:2] == ["#ff0000", "#0000ff"] and abs(pct[0] - 75) <= 3 and abs(pct[1] - 25) <= 3
    assert all(p <= 3 for p in pct[2:])
    assert [s["colour"] for s in got[:2]] == ["rgb(255, 0, 0)", "rgb(0, 0, 255)"]
    assert got[0]["width"] == pytest.approx(3 * got[1]["width"], rel=0.15)    # widths are the proportions
    # a painting: its swatches are data/palette.u8's colours, largest first
    pal = np.fromfile(site.folder / "data" / "palette.u8", np.uint8).reshape(len(site.ids), 6, 4)
    j = 3
    page.evaluate("(id) => pixmap.open(id)", site.ids[j])
    page.wait_for_function("(n) => document.querySelector('#lightbox h2') && "
                           "[...document.querySelectorAll('#lightbox .palette .swatch')].length === n",
                           arg=int((pal[j, :, 3] > 0).sum()))
    got = swatches(page)
    want = ["#%02x%02x%02x" % tuple(int(v) for v in c[:3]) for c in pal[j] if c[3] > 0]
    assert [s["title"].split()[0] for s in got] == want
    shares = [int(s["title"].split()[1].rstrip("%")) for s in got]
    assert shares == sorted(shares, reverse=True) and abs(sum(shares) - 100) <= 3
    assert len([u for u in page.rec.requests if u.endswith("palette.u8")]) == 1   # fetched once
    assert page.rec.page_errors == [] and page.rec.console_errors == []
    assert page.rec.outside(site.url) == []


def test_a_site_without_a_palette_shows_no_swatches(page, v5_site):
    open_map(page, v5_site)
    page.evaluate("(id) => pixmap.open(id)", v5_site.ids[0])
    page.wait_for_selector("#lightbox:not([hidden]) h2")
    page.wait_for_function("document.querySelector('#lightbox figure img').naturalWidth > 0")
    assert page.query_selector("#lightbox .palette") is None
    assert not [u for u in page.rec.requests if u.endswith("palette.u8")]
    assert page.rec.page_errors == [] and page.rec.console_errors == []


def test_the_scores_are_range_filters_in_the_find_panel(page, site, built):
    """The descriptors' scores are numeric metadata fields: the find panel shows a range slider for each, and
    a filter on one leaves exactly the images of scores.csv in that range."""
    import csv

    from pixmap.descriptors import SCORE_NAMES

    with open(built.artifacts_dir / "scores.csv", encoding="utf-8") as f:
        scores = {r["id"]: r for r in csv.DictReader(f)}
    open_map(page, site)
    page.locator("#find-toggle").click()
    for name in SCORE_NAMES:
        page.locator("#facets fieldset.range", has_text=name).wait_for()
    for name, lo, hi in (("brightness", 0.5, None), ("colourfulness", None, 20), ("edge_density", 0.05, 0.2)):
        page.evaluate("([f, lo, hi]) => pixmap.filter({[f]: [lo, hi]})", [name, lo, hi])
        got = sorted(page.evaluate("pixmap.matches()"))
        # the site stores 4 significant digits (float32 columns): compare on those
        want = sorted(i for i, r in scores.items()
                      if (lo is None or float(f"{float(r[name]):.4g}") >= lo)
                      and (hi is None or float(f"{float(r[name]):.4g}") <= hi))
        assert got == want and 0 < len(want) < len(scores), name
    assert page.rec.page_errors == [] and page.rec.console_errors == []
    assert page.rec.outside(site.url) == []
