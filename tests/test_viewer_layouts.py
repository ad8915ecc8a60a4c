"""The viewer switches through every layout of real builds: each lands, draws, labels and outlines show."""
from __future__ import annotations

import numpy as np
import pytest

from tests.test_viewer import Site, assert_clean, canvas_pixels, open_map, wait_idle


@pytest.fixture(scope="module")
def demo_site(built_site):
    site = Site(built_site)
    yield site
    site.server.close()


@pytest.fixture(scope="module")
def geo_site(geo_build):
    site = Site(geo_build[0].out_dir)
    yield site
    site.server.close()


def switch_through_every_layout(page, site):
    open_map(page, site)
    names = page.evaluate("pixmap.layouts()")
    assert names == site.layout_names()
    seen = []
    for entry in site.layouts:
        name = entry["name"]
        page.evaluate("(name) => pixmap.setLayout(name, {duration: 300})", name)
        wait_idle(page)
        page.wait_for_timeout(150)
        state = page.evaluate("pixmap.state()")
        assert state["layout"] == name
        px = canvas_pixels(page)
        background = np.median(px.reshape(-1, 3), axis=0)
        content = (np.abs(px - background).sum(axis=2) > 40).mean()
        assert content > 0.01, f"layout {name}: the canvas shows almost nothing ({content:.4f})"
        shown = page.eval_on_selector_all("#labels span:not([hidden])", "els => els.map(e => e.textContent)")
        if entry.get("labels"):
            assert shown, f"layout {name} has labels but none is shown"
            assert set(shown) <= {lab["text"] for lab in entry["labels"]}
        else:
            assert shown == [], f"layout {name} shows another layout's labels: {shown[:3]}"
        if entry["dims"] == 3:
            assert "yaw" in state["camera"] or "target" in state["camera"], state["camera"]
        seen.append(name)
    assert seen == site.layout_names()
    assert_clean(page, site)


def test_switch_through_every_layout_of_the_demo(page, demo_site):
    assert {"umap", "umap-3d", "grid", "umap-spread", "categorical", "date", "alphabetic"} <= set(
        demo_site.layout_names())
    switch_through_every_layout(page, demo_site)


def test_switch_through_geographic_custom_variants_and_supervised(page, geo_site):
    assert {"geographic", "custom", "umap-supervised"} <= set(geo_site.layout_names())
    switch_through_every_layout(page, geo_site)
    # the world outline is drawn beneath the geographic layout: more draw calls than the images alone
    page.evaluate("pixmap.setLayout('geographic', {duration: 0})")
    wait_idle(page)
    with_lines = page.evaluate("pixmap.stats().drawCalls")
    page.evaluate("pixmap.setLayout('custom', {duration: 0})")
    wait_idle(page)
    page.wait_for_timeout(100)
    assert with_lines > page.evaluate("pixmap.stats().drawCalls")
