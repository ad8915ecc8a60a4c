"""The cluster report and the near-duplicates in a real browser (Chromium driven by Playwright): the site of
tests/conftest.py `planted_build` (the 267 demo paintings and a planted near-duplicate, built by the real
pipeline) served over HTTP on 127.0.0.1. The report renders with no errors and no request outside the site,
its images load; the viewer's Report link opens it; "Near-duplicates" selects the planted pair."""
from __future__ import annotations

import json

import pytest

from tests.browser import StaticServer, new_page
from tests.conftest import PLANTED_FROM


@pytest.fixture(scope="module")
def served(planted_build):
    server = StaticServer(planted_build.out_dir)
    yield server
    server.close()


def assert_clean(page, url):
    rec = page.rec
    assert rec.page_errors == [], rec.page_errors
    assert rec.console_errors == [], rec.console_errors
    failed = [f for f in rec.failed if "ERR_ABORTED" not in f]   # (the viewer cancels thumbnails it flew past)
    assert failed == [], failed
    assert rec.outside(url) == [], rec.outside(url)


def test_the_report_renders(browser, served):
    page = new_page(browser, width=1280, height=900)
    try:
        page.goto(served.url + "report.html")
        page.wait_for_load_state("load")
        assert page.title().endswith("cluster report")
        assert page.locator("section[id^=set-] .card").count() >= 2
        assert page.locator("svg.chart").count() >= 1
        # scroll through the page so the lazy images load, then every image has decoded
        height = page.evaluate("document.body.scrollHeight")
        for y in range(0, height + 900, 700):
            page.evaluate(f"window.scrollTo(0, {y})")
            page.wait_for_timeout(30)
        page.wait_for_function("[...document.images].every((im) => im.complete)")
        broken = page.evaluate("[...document.images].filter((im) => !(im.naturalWidth > 0)).map((im) => im.src)")
        assert broken == []
        dup = page.locator("#duplicates .dup")
        assert dup.count() == 1
        srcs = dup.locator("img").evaluate_all("(els) => els.map((e) => e.getAttribute('src'))")
        assert sorted(s.rsplit("/", 1)[1] for s in srcs) == sorted([f"{PLANTED_FROM}.webp", "planted-copy.webp"])
        assert page.evaluate("window.__xss") is None
        assert_clean(page, served.url)
        assert page.rec.failed == []   # nothing is cancelled on the report
    finally:
        page.context.close()


def test_the_viewer_links_the_report_and_selects_the_duplicates(browser, served, planted_build):
    page = new_page(browser, width=1280, height=800)
    try:
        page.goto(served.url + "index.html")
        page.evaluate("pixmap.ready")
        page.wait_for_function("document.getElementById('loading').hidden")
        link = page.locator("#report-link")
        assert link.get_attribute("href") == "report.html" and link.is_visible()
        with page.context.expect_page() as opened:
            link.click()
        report = opened.value
        report.rec = page.rec.__class__(report)
        report.wait_for_load_state("load")
        assert report.url == served.url + "report.html" and report.title().endswith("cluster report")
        report.close()

        button = page.locator("#duplicates-all")
        assert button.text_content() == "Near-duplicates (1 group)"
        assert page.evaluate("pixmap.selection()") == []
        button.click()
        page.wait_for_function("pixmap.selection().length === 2")
        assert sorted(page.evaluate("pixmap.selection()")) == sorted([PLANTED_FROM, "planted-copy"])
        page.evaluate("pixmap.select([])")
        page.click("#controls [data-action=reset]")   # back to the whole map
        page.wait_for_function("!pixmap.stats().animating")
        group = page.locator("#duplicates-groups button").first
        page.wait_for_function("document.querySelector('#duplicates-groups .label').textContent.startsWith('1. ')")
        before = page.evaluate("JSON.stringify(pixmap.state().camera)")
        group.click()
        page.wait_for_function("pixmap.selection().length === 2 && !pixmap.stats().animating")
        assert sorted(page.evaluate("pixmap.selection()")) == sorted([PLANTED_FROM, "planted-copy"])
        assert page.evaluate("JSON.stringify(pixmap.state().camera)") != before   # it flew to the pair
        for i in (PLANTED_FROM, "planted-copy"):   # both in view
            assert page.evaluate(f"pixmap.screenPosition({json.dumps(i)}).visible")
        assert_clean(page, served.url)
    finally:
        page.context.close()


def test_a_site_without_them_has_neither(browser, planted_build, tmp_path):
    """The same site as an older pixmap wrote it (no report, no duplicates in the manifest): no link, no list."""
    import shutil

    folder = tmp_path / "site"
    shutil.copytree(planted_build.out_dir, folder)
    path = folder / "data" / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest.pop("report")
    manifest.pop("duplicates")
    path.write_text(json.dumps(manifest), encoding="utf-8")
    server = StaticServer(folder)
    page = new_page(browser)
    try:
        page.goto(server.url + "index.html")
        page.evaluate("pixmap.ready")
        assert page.locator("#report-link").count() == 0 and page.locator("#duplicates").count() == 0
        assert_clean(page, server.url)
    finally:
        page.context.close()
        server.close()
