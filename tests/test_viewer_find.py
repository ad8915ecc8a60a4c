"""Search, filters and colouring in the viewer (docs/site-format.md, "Version 4"), in a real browser.

The site is a real build (`pixmap.build`: the real model, UMAP, HDBSCAN, content terms, search index and
facets) of 45 of the demo paintings with their real metadata, a few rows changed so that the tests know
what to look for (an accented name, an artist to misspell, a title that is an XSS probe), and tags. The
same site with its manifest made version 3 (no index) stands for a map an earlier pixmap wrote. Also:
the viewer's text normalisation (js/textnorm.js) against the build's (pixmap.textnorm), run in node, on
the shared cases and on random text.
"""
from __future__ import annotations

import csv
import json
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from tests.browser import StaticServer, new_page, assert_clean, open_map  # the browser fixture comes from conftest

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "datasets" / "aic-paintings"
CASES = REPO / "tests" / "data" / "textnorm-cases.json"
XSS = '<img src=x onerror="window.__xss=1">'
FACETS = ["category", "tags", "medium", "year", "width"]


# ------------------------------------------------------------------------------------ the site
def _metadata_rows():
    """45 of the demo's rows (every 6th), with known values in the first few."""
    with open(DEMO / "metadata.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[::6]
    for r in rows:
        r["tags"] = "|".join(part.strip().lower() for part in r["medium"].split(" on "))
    rows[0]["title"] = XSS
    rows[1].update(artist="Rembrandt van Rijn", title="Self-Portrait with a Gorget")
    rows[2].update(artist="Élisabeth Vigée Le Brun", title="Portrait of a Lady in Blue")
    rows[3].update(title="The Sheepshearers at Dawn")
    rows[4].update(title="After Rembrandt: The Mill")
    return rows


class FindSite:
    def __init__(self, folder: Path):
        from pixmap.site import read_metadata

        self.folder = Path(folder)
        self.manifest = json.loads((self.folder / "data" / "manifest.json").read_text(encoding="utf-8"))
        meta = read_metadata(self.folder)
        self.ids, self.fields, self.rows = meta["ids"], meta["fields"], meta["rows"]
        self.server = StaticServer(self.folder)
        self.url = self.server.url

    def value(self, i, field):
        return self.rows[i][self.fields.index(field)]

    def ids_where(self, predicate):
        return [self.ids[i] for i in range(len(self.ids)) if predicate(dict(zip(self.fields, self.rows[i])))]

    def id_of(self, field, value):
        (found,) = self.ids_where(lambda r: r[field] == value)
        return found


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A real build of 45 demo paintings: a version-4 site with its search index, content terms and facets."""
    import pixmap

    tmp = tmp_path_factory.mktemp("find")
    rows = _metadata_rows()
    fields = ["filename", "title", "artist", "year", "date", "category", "medium", "tags"]
    with open(tmp / "metadata.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(fields)
        for r in rows:
            w.writerow([r[k] for k in fields])
    images = [str(DEMO / r["filename"]) for r in rows]
    res = pixmap.build(images=images, metadata=tmp / "metadata.csv", out_dir=tmp / "site", cache_dir=tmp / "cache",
                       progress=False, layouts="umap", facets=",".join(FACETS))
    return res.out_dir


@pytest.fixture(scope="module")
def site(built):
    site = FindSite(built)
    assert site.manifest["version"] >= 4 and "search" in site.manifest
    yield site
    site.server.close()


@pytest.fixture(scope="module")
def v3_site(built, tmp_path_factory):
    """The same map as an earlier pixmap wrote it: format version 3, no search index, facets or content."""
    folder = tmp_path_factory.mktemp("find-v3") / "site"
    shutil.copytree(built, folder)
    path = folder / "data" / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    for key in ("search", "facets", "content"):
        manifest.pop(key, None)
    manifest["version"] = 3
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    site = FindSite(folder)
    yield site
    site.server.close()


# ------------------------------------------------------------------------------------ helpers


def type_query(page, text, delay=40):
    """Type into the search box key by key, as a person does; wait until the last keystroke's search is shown."""
    box = page.locator("#search")
    box.click()
    box.fill("")
    box.press_sequentially(text, delay=delay)
    page.wait_for_function("(q) => pixmap.state().query === q && !pixmap.stats().searchPending", arg=text)


def result_ids(page):
    """The ids of the results panel's items, in order."""
    return page.evaluate("""async () => {
        const items = [...document.querySelectorAll('#find-results button[data-index]')];
        return Promise.all(items.map((b) => pixmap.id(Number(b.dataset.index))));
    }""")


def search(page, q):
    return page.evaluate("(q) => pixmap.search(q)", q)


def matches(page):
    return page.evaluate("async () => await pixmap.matches()")


@pytest.fixture
def find_page(page, site):
    open_map(page, site)
    return page


# ------------------------------------------------------------------------------------ text normalisation
def test_textnorm_js_matches_the_shared_cases_and_python():
    """js/textnorm.js gives exactly the terms of every shared case, and of random text in many scripts as
    pixmap.textnorm does."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the viewer's text normalisation is checked in the browser tests only")
    from pixmap import textnorm

    cases = json.loads(CASES.read_text(encoding="utf-8"))
    # random text: letters of several scripts, accents, ligatures, apostrophes, digits, punctuation
    rng = random.Random(4)
    alphabet = list("abcdefghijklmnopqrstuvwxyz ABCDEFXYZ 0123456789 ''’‘ʼ -.,/&()\"  éèêëÉàâäçñøØßẞæÆœŒłđðþıİ") + \
        list("ǅǄﬁﬂ①²Ⅻ１２ΑΣσςΟΔΟΣάМосква́हिन्दी北京ｶﾞ\u0301\u0308\u200d") + ["'s", "'s ", "ies ", "sses ", "xes ", "aux "]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(1500)]
    langs = ["en", "fr", "de", "nl", "es", "it", "xx"]
    random_cases = [{"text": t, "lang": langs[k % len(langs)]} for k, t in enumerate(texts)]
    for c in random_cases:
        c["tokens"] = textnorm.terms(c["text"], c["lang"])
    src = f"""
import {{terms}} from {json.dumps((REPO / 'viewer' / 'js' / 'textnorm.js').as_uri())};
import {{readFileSync}} from "node:fs";
const cases = JSON.parse(readFileSync(process.argv[2], "utf8"));
const bad = [];
for (const c of cases) {{
  const got = terms(c.text, c.lang);
  if (JSON.stringify(got) !== JSON.stringify(c.tokens)) bad.push({{text: c.text, lang: c.lang, got, want: c.tokens}});
}}
console.log(JSON.stringify({{n: cases.length, bad: bad.slice(0, 10), nbad: bad.length}}));
"""
    work = Path(tempfile.mkdtemp(prefix="pixmap-textnorm-"))
    try:
        (work / "check.mjs").write_text(src, encoding="utf-8")
        (work / "cases.json").write_text(json.dumps(cases + random_cases, ensure_ascii=False), encoding="utf-8")
        out = subprocess.run([node, str(work / "check.mjs"), str(work / "cases.json")], capture_output=True,
                             text=True, timeout=60)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["n"] == len(cases) + len(random_cases)
    assert report["nbad"] == 0, report["bad"]


# ------------------------------------------------------------------------------------ search
def test_a_title_is_found_while_typing_a_prefix_of_one_of_its_words(find_page, site):
    page = find_page
    want = site.id_of("title", "The Sheepshearers at Dawn")
    # in the page: from the key's event to the results list changed, and to the next frame after it
    page.evaluate("""() => {
        const w = window.__keys = {down: 0, list: 0, frame: 0};
        document.getElementById('search').addEventListener('keydown', () => { w.down = performance.now(); });
        new MutationObserver(() => {
            w.list = performance.now();
            requestAnimationFrame(() => { w.frame = performance.now(); });
        }).observe(document.getElementById('find-results'), {childList: true});
    }""")
    engine, shown, framed = [], [], []
    box = page.locator("#search")
    box.click()
    for k, ch in enumerate("sheepsh"):
        box.press(ch)
        page.wait_for_function("(q) => pixmap.state().query === q && !pixmap.stats().searchPending"
                               " && __keys.frame > __keys.list", arg="sheepsh"[:k + 1])
        t = page.evaluate("__keys")
        shown.append(t["list"] - t["down"])
        framed.append(t["frame"] - t["down"])
        engine.append(page.evaluate("pixmap.stats().searchMs"))
    assert result_ids(page)[0] == want
    assert page.locator("#find-panel").is_visible()
    first = page.locator("#find-results button").first
    assert first.locator(".title").text_content() == "The Sheepshearers at Dawn"
    assert "title" in first.locator(".why").text_content()
    # while typing, even one letter is a prefix: "s" alone already lists it
    type_query(page, "s")
    assert want in result_ids(page)
    print(f"\nper keystroke, ms: search {[round(x, 1) for x in engine]}; key to results listed "
          f"{[round(x, 1) for x in shown]}; to the next frame {[round(x) for x in framed]}")
    assert_clean(page, site)


def test_an_accent_insensitive_query_finds_the_accented_name(find_page, site):
    want = site.id_of("artist", "Élisabeth Vigée Le Brun")
    for q in ("vigee", "Elisabeth VIGEE", "élisabeth vigée lebrun"):
        hits = search(find_page, q)
        assert hits and hits[0]["id"] == want, (q, hits)
    assert_clean(find_page, site)


def test_a_misspelt_artist_is_found(find_page, site):
    want = site.id_of("artist", "Rembrandt van Rijn")
    for q in ("rembrant", "Rembrnadt", "rembrand"):
        assert want in [h["id"] for h in search(find_page, q)], q
    for q in ("artist:rembrant", "artist:Rembrnadt"):
        assert [h["id"] for h in search(find_page, q)] == [want], q
    type_query(find_page, "rembrant")
    chip = find_page.locator(f"#find-results button[data-index='{site.ids.index(want)}'] .chip").first
    assert "artist" in chip.text_content() and "rembrandt" in chip.text_content()
    assert_clean(find_page, site)


def test_a_word_no_image_has_leaves_the_images_matching_the_rest(find_page, site):
    alone = search(find_page, "portrait")
    assert len(alone) >= 3
    with_nonsense = search(find_page, "portrait qzxwvk")
    assert [h["id"] for h in with_nonsense] == [h["id"] for h in alone]
    assert search(find_page, "qzxwvk") == []
    assert_clean(find_page, site)


def test_field_colon_word_limits_the_word_to_that_field(find_page, site):
    by_artist = site.id_of("artist", "Rembrandt van Rijn")
    by_title = site.id_of("title", "After Rembrandt: The Mill")
    assert {h["id"] for h in search(find_page, "rembrandt")} == {by_artist, by_title}
    assert [h["id"] for h in search(find_page, "artist:rembrandt")] == [by_artist]
    assert [h["id"] for h in search(find_page, "Title:Rembrandt")] == [by_title]
    # a numeric column: field:a..b and field:a filter by it
    years = {site.ids[i]: site.value(i, "year") for i in range(len(site.ids))}
    got = {h["id"] for h in search(find_page, "year:1850..1870")}
    assert got == {k for k, y in years.items() if y is not None and 1850 <= y <= 1870}
    got = [h["id"] for h in search(find_page, "portrait year:..1700")]
    assert got and all(years[k] is not None and years[k] <= 1700 for k in got)
    assert_clean(find_page, site)


def test_a_quoted_phrase_needs_its_words_in_a_row(find_page, site):
    want = site.id_of("title", "Portrait of a Lady in Blue")
    assert [h["id"] for h in search(find_page, '"portrait of a lady"')] == [want]
    assert search(find_page, '"lady portrait"') == []
    assert_clean(find_page, site)


def test_ranking_agrees_with_the_python_reference(find_page, site):
    from pixmap.searchindex import search as reference

    queries = ["portrait", "rembrant", "oil canvas", "lady blue", "portrait year:1600..1700", '"portrait of"',
               "artist:rembrandt", "sheep", "title:portrait panel", "madonna child", "landscape river",
               "vigée", "1870", "saint john", "the"]
    for q in queries:
        ref = reference(site.folder, q)
        got = search(find_page, q)
        assert [h["id"] for h in got] == [site.ids[i] for i, _ in ref], q
        assert np.allclose([h["score"] for h in got], [s for _, s in ref], rtol=1e-9, atol=1e-12), q
    # while typing (the box): the last word is a prefix at any length
    for q in ("portrait of a l", "madonna w", "sheepsh", "r"):
        type_query(find_page, q)
        ref = [site.ids[i] for i, _ in reference(site.folder, q, typing=True)][:100]
        assert result_ids(find_page) == ref, q
    assert_clean(find_page, site)


def test_a_one_letter_word_that_begins_too_many_words_waits_for_another_letter(page, site, monkeypatch):
    """On a big map one letter begins words in most images (search.js ONE_LETTER_BUDGET): the box matches it
    exactly only and asks for another letter, without dimming the map; two letters match their most
    frequent completions up to the budget, and say so; three letters search as usual.
    `?one-letter-budget=` puts the rule on this small map, as the Python reference's constant does."""
    from pixmap import searchindex

    open_map(page, site, "?one-letter-budget=5")
    type_query(page, "r")
    assert "type another letter" in page.locator("#find-summary").inner_text()
    assert page.evaluate("pixmap.matches().length") == len(site.ids)      # nothing dimmed
    assert result_ids(page) == []
    monkeypatch.setattr(searchindex, "ONE_LETTER_BUDGET", 5)
    monkeypatch.setattr(searchindex, "TWO_LETTER_BUDGET", 5)
    assert searchindex.search(site.folder, "r", typing=True) == []
    # another word still searches; the held letter adds nothing
    type_query(page, "portrait r")
    want = [site.ids[i] for i, _ in searchindex.search(site.folder, "portrait", typing=True)][:100]
    assert result_ids(page) == want
    assert "type another letter" in page.locator("#find-summary").inner_text()
    # two letters: a prefix of their most frequent completions (in at most 5 images together here)
    type_query(page, "re")
    want = [site.ids[i] for i, _ in searchindex.search(site.folder, "re", typing=True)][:100]
    assert want and result_ids(page) == want
    summary = page.locator("#find-summary").inner_text()
    assert "type another letter" not in summary and "the most common words beginning with it" in summary
    monkeypatch.setattr(searchindex, "TWO_LETTER_BUDGET", 100_000)
    assert len(searchindex.search(site.folder, "re", typing=True)) > len(want)
    monkeypatch.setattr(searchindex, "TWO_LETTER_BUDGET", 5)
    type_query(page, "rem")   # three letters: every completion
    assert result_ids(page) == [site.ids[i] for i, _ in searchindex.search(site.folder, "rem", typing=True)][:100]
    assert "most common" not in page.locator("#find-summary").inner_text()
    # a small map's own budget: every completion of one letter is matched
    monkeypatch.setattr(searchindex, "ONE_LETTER_BUDGET", 100_000)
    assert len(searchindex.search(site.folder, "r", typing=True)) > 0
    assert_clean(page, site)


def test_a_query_loads_only_the_shards_and_postings_of_its_words(page, site):
    open_map(page, site)
    page.wait_for_timeout(300)
    # nothing of the index or the facets loads before the first search or the panel opens
    assert not [u for u in page.rec.requests if "/data/search/" in u or "/data/facets/" in u]
    before = len(page.rec.requests)
    search(page, "rembrant")
    loaded = [u.split("/data/search/")[1] for u in page.rec.requests[before:] if "/data/search/" in u]
    assert loaded and all(u in ("dict/72.json",) or u.startswith("postings/72/") for u in loaded), loaded
    assert_clean(page, site)


def test_enter_flies_to_the_best_hit_and_remembers_the_query(find_page, site):
    page = find_page
    zoom0 = page.evaluate("pixmap.state().camera.zoom")
    type_query(page, "rembrant")
    want = result_ids(page)[0]
    page.locator("#search").press("Enter")
    page.wait_for_function("pixmap.state().camera.zoom > 1.5 && !pixmap.stats().animating")
    assert page.evaluate("pixmap.state().camera.zoom") > zoom0
    p = page.evaluate("(id) => pixmap.screenPosition(id)", want)
    box = page.evaluate("(() => { const r = document.getElementById('map').getBoundingClientRect();"
                        " return [r.left + r.width / 2, r.top + r.height / 2]; })()")
    assert p["visible"] and abs(p["x"] - box[0]) < 5 and abs(p["y"] - box[1]) < 5
    # the query is kept among the recent ones, offered when the box is empty
    page.locator("#search").fill("")
    page.locator("#search").press("Escape")  # (clears the search)
    page.locator("#map").click(position={"x": 5, "y": 5})
    page.locator("#search").focus()
    page.wait_for_selector("#find-recent:not([hidden])")
    assert "rembrant" in page.locator("#find-recent").text_content()
    page.locator("#find-recent button", has_text="rembrant").click()
    page.wait_for_function("pixmap.state().query === 'rembrant' && !pixmap.stats().searchPending")
    assert result_ids(page)[0] == want
    assert_clean(page, site)


def test_metadata_html_is_shown_as_text_in_the_results(find_page, site):
    page = find_page
    want = site.id_of("title", XSS)
    type_query(page, "onerror")
    assert result_ids(page) == [want]
    title = page.locator("#find-results button .title").first
    page.wait_for_function("document.querySelector('#find-results button .title').textContent !== '…'")
    assert title.text_content() == XSS
    # no element came from the metadata: the item holds our thumbnail and text only
    assert page.locator("#find-results button img").count() == 1
    assert page.evaluate("document.querySelector('#find-results img').getAttribute('src')").startswith("data/")
    assert page.evaluate("window.__xss") is None
    assert_clean(page, site)


def test_a_query_replaced_before_it_finished_does_not_overwrite_the_newer_one(find_page, site):
    """A search whose query is replaced while its dictionary shard and postings load (the next keystroke)
    is dropped before it ranks anything; the map, the results and the API show the newer query only."""
    from pixmap.searchindex import search as reference

    page = find_page
    dropped = page.evaluate("pixmap.stats().searchesDropped")
    # (both started in one task: the first is replaced before any of its files arrive)
    first, second = page.evaluate("""async () => {
        const a = pixmap.search('portrait'), b = pixmap.search('rembrant');
        return [await a, await b];
    }""")
    want = [site.ids[i] for i, _ in reference(site.folder, "rembrant")]
    assert want and [h["id"] for h in second] == want
    assert [h["id"] for h in first] == want  # (the replaced call resolves to what the map shows)
    assert page.evaluate("pixmap.stats().searchesDropped") == dropped + 1
    assert page.evaluate("pixmap.state().query") == "rembrant"
    assert sorted(matches(page)) == sorted(want)
    assert result_ids(page) == want
    assert "rembrant" in page.locator("#find-summary").text_content()
    assert_clean(page, site)


# ------------------------------------------------------------------------------------ filters
def canvas_brightness(page):
    from PIL import Image
    import io

    png = page.locator("#map").screenshot()
    return float(np.asarray(Image.open(io.BytesIO(png)).convert("L")).mean())


def test_a_facet_filter_leaves_exactly_the_images_with_that_value(find_page, site):
    page = find_page
    bright = canvas_brightness(page)
    n = page.evaluate("pixmap.filter({category: ['1870-1879']})")
    want = site.ids_where(lambda r: r["category"] == "1870-1879")
    assert n == len(want) and sorted(matches(page)) == sorted(want)
    assert canvas_brightness(page) < 0.8 * bright   # the others are dimmed
    # OR within a facet, AND across facets; a multi-valued facet (tags) matches any of an image's values
    page.evaluate("pixmap.filter({category: ['1870-1879', '1500-1699'], tags: ['panel']})")
    want = site.ids_where(lambda r: r["category"] in ("1870-1879", "1500-1699") and "panel" in (r["tags"] or []))
    assert want and sorted(matches(page)) == sorted(want)
    assert page.evaluate("pixmap.state().filters") == {"category": ["1870-1879", "1500-1699"], "tags": ["panel"]}
    page.evaluate("pixmap.filter({})")
    assert sorted(matches(page)) == sorted(site.ids)
    assert abs(canvas_brightness(page) - bright) < 1
    # the panel's checkboxes do the same, and every facet's counts follow the other filters
    page.locator("#find-toggle").click()
    page.wait_for_selector("#facets fieldset")
    page.locator("#facets fieldset", has_text="medium").locator("label", has_text="Oil on panel").click()
    page.wait_for_function("JSON.stringify(pixmap.state().filters) === JSON.stringify({medium: ['Oil on panel']})")
    want = site.ids_where(lambda r: r["medium"] == "Oil on panel")
    assert sorted(matches(page)) == sorted(want)
    cat = page.locator("#facets fieldset", has_text="category")
    for value in ("1500-1699", "1870-1879"):
        shown = int(cat.locator("label", has_text=value).locator(".count").text_content())
        assert shown == len(site.ids_where(lambda r: r["medium"] == "Oil on panel" and r["category"] == value))
    assert_clean(page, site)


def test_a_year_range_leaves_exactly_the_right_images(find_page, site):
    page = find_page
    year = lambda r: r["year"]  # noqa: E731 (the build reads the year column as the date layout does)
    for lo, hi in ((1850, 1870), (1700, 1700), (None, 1500), (1880, None)):
        page.evaluate("([lo, hi]) => pixmap.filter({year: [lo, hi]})", [lo, hi])
        want = site.ids_where(lambda r: year(r) is not None and (lo is None or year(r) >= lo)
                              and (hi is None or year(r) <= hi))
        assert sorted(matches(page)) == sorted(want), (lo, hi)
    # the slider does it too
    page.evaluate("pixmap.filter({})")
    page.locator("#find-toggle").click()
    fs = page.locator("#facets fieldset.range", has_text="year")
    fs.wait_for()
    fs.locator("input[type=range]").first.fill("1860")
    page.wait_for_function("JSON.stringify(pixmap.state().filters.year) === JSON.stringify([1860, null])")
    assert sorted(matches(page)) == sorted(site.ids_where(lambda r: year(r) is not None and year(r) >= 1860))
    assert "1860" in fs.locator(".range-text").text_content()
    assert_clean(page, site)


def test_search_and_filters_combine(find_page, site):
    from pixmap.searchindex import search as reference

    page = find_page
    page.evaluate("pixmap.filter({tags: ['canvas'], year: [1600, 1900]})")
    hits = search(page, "portrait")
    allowed = set(site.ids_where(lambda r: "canvas" in (r["tags"] or []) and r["year"] is not None
                                 and 1600 <= r["year"] <= 1900))
    ref = [site.ids[i] for i, _ in reference(site.folder, "portrait")]
    assert [h["id"] for h in hits] == [i for i in ref if i in allowed]
    assert hits and sorted(matches(page)) == sorted(h["id"] for h in hits)
    assert sorted(result_ids(page)) == sorted(h["id"] for h in hits)
    summary = page.locator("#find-summary").text_content()
    assert summary.startswith(f"{len(hits)} of {len(site.ids)}")
    # clearing the search keeps the filters
    search(page, "")
    assert sorted(matches(page)) == sorted(allowed)
    assert_clean(page, site)


def facet_counts(page, field):
    """The counts the panel shows for a facet's listed values: {value: count}."""
    return page.evaluate("""(field) => {
        const fs = [...document.querySelectorAll('#facets fieldset')].find((f) => f.querySelector('legend').textContent === field);
        return Object.fromEntries([...fs.querySelectorAll('label')].map((l) =>
            [l.querySelector('.value').textContent, Number(l.querySelector('.count').textContent)]));
    }""", field)


def test_facet_counts_follow_the_search_and_the_other_filters(find_page, site):
    """With a search, each facet counts its values among the search's hits that pass every other filter
    (counted from the hit list); counts changed while the panel is closed are right once it opens."""
    from pixmap.searchindex import search as reference

    page = find_page
    page.locator("#find-toggle").click()
    page.wait_for_selector("#facets fieldset")
    hits = {i for i, _ in reference(site.folder, "portrait")}
    medium = "Oil on canvas"
    page.evaluate("(m) => pixmap.filter({medium: [m]})", medium)
    search(page, "portrait")
    rows = [dict(zip(site.fields, site.rows[i])) for i in sorted(hits)]

    def want(field, keep):
        out = {}
        for r in rows:
            if keep(r):
                out[str(r[field])] = out.get(str(r[field]), 0) + 1
        return out

    shown = facet_counts(page, "category")
    by_category = want("category", lambda r: r["medium"] == medium)
    assert shown and sum(shown.values()) > 0
    assert {v: c for v, c in shown.items()} == {v: by_category.get(v, 0) for v in shown}
    shown = facet_counts(page, "medium")  # (its own filter left out of its counts)
    by_medium = want("medium", lambda r: True)
    assert {v: c for v, c in shown.items()} == {v: by_medium.get(v, 0) for v in shown}
    assert shown[medium] == by_medium[medium] and len([v for v in shown.values() if v]) > 1
    # the panel closed, the filter cleared, the panel opened again: the counts of the search alone
    page.locator("#find-close").click()
    page.evaluate("pixmap.filter({})")
    page.locator("#find-toggle").click()
    shown = facet_counts(page, "category")
    by_category = want("category", lambda r: True)
    assert {v: c for v, c in shown.items()} == {v: by_category.get(v, 0) for v in shown}
    assert_clean(page, site)


# ------------------------------------------------------------------------------------ colour, URL, versions
def test_colour_by_shows_a_legend_and_colours_the_map(find_page, site):
    page = find_page
    before = page.locator("#map").screenshot()
    page.evaluate("pixmap.colorBy('category')")
    legend = page.locator("#legend")
    assert legend.is_visible()
    labels = legend.locator(".legend-label").all_text_contents()
    facet = next(f for f in site.manifest["facets"] if f["field"] == "category")
    assert labels[:len(facet["values"])] == facet["values"]
    assert page.locator("#map").screenshot() != before
    page.evaluate("pixmap.colorBy('year')")
    assert legend.locator(".legend-ramp").is_visible()
    ends = legend.locator(".legend-ends span").all_text_contents()
    year = next(f for f in site.manifest["facets"] if f["field"] == "year")
    assert ends == [str(year["min"]), str(year["max"])]
    page.evaluate("pixmap.colorBy('hotspot')")
    hotspots = [str(h["label"]) for h in site.manifest["clusters"]["hotspots"]]
    assert legend.locator(".legend-label").all_text_contents()[:len(hotspots)] == hotspots
    assert page.evaluate("pixmap.state().colorBy") == "hotspot"
    # the menu
    page.locator("#find-toggle").click()
    page.select_option("#colorby", "medium")
    page.wait_for_function("pixmap.state().colorBy === 'medium'")
    assert "Oil on canvas" in legend.text_content()
    page.evaluate("pixmap.colorBy(null)")
    assert not legend.is_visible()
    assert_clean(page, site)


def test_a_copied_link_restores_the_query_filters_and_colouring(browser, site):
    from pixmap.searchindex import search as reference

    page = new_page(browser)
    try:
        open_map(page, site)
        type_query(page, "portrait")
        page.evaluate("pixmap.filter({category: ['1500-1699', '1700-1799'], year: [1500, 1760]})")
        page.evaluate("pixmap.colorBy('year')")
        state = page.evaluate("pixmap.state()")
        ids = sorted(matches(page))
        assert ids
        page.wait_for_function("location.hash.includes('color=year') && location.hash.includes('q=portrait')")
        url = page.evaluate("location.href")
        assert_clean(page, site)
    finally:
        page.context.close()
    other = new_page(browser)
    try:
        open_map(other, site, url[len(site.url + "index.html"):])
        got = other.evaluate("pixmap.state()")
        for key in ("query", "filters", "colorBy", "layout", "camera"):
            assert got[key] == state[key], key
        assert sorted(matches(other)) == ids
        assert other.locator("#search").input_value() == "portrait"
        assert other.locator("#legend").is_visible()
        assert other.locator("#find-panel").is_visible()
        assert sorted(result_ids(other)) == ids
        cat = other.locator("#facets fieldset", has_text="category")
        cat.wait_for()
        assert cat.locator("label", has_text="1500-1699").locator("input").is_checked()
        assert not cat.locator("label", has_text="1870-1879").locator("input").is_checked()
        # a link followed on the open page (hashchange) applies what differs
        other.evaluate("location.hash = '#q=rembrant&f.tags=oil&color=hotspot'")
        other.wait_for_function("pixmap.state().query === 'rembrant' && pixmap.state().colorBy === 'hotspot'"
                                " && !pixmap.stats().searchPending")
        assert other.evaluate("pixmap.state().filters") == {"tags": ["oil"]}
        want = site.ids_where(lambda r: "oil" in (r["tags"] or []))
        hits = [site.ids[i] for i, _ in reference(site.folder, "rembrant")]
        assert sorted(matches(other)) == sorted(h for h in hits if h in want)
        assert_clean(other, site)
    finally:
        other.context.close()


def test_a_site_without_a_search_index_opens_without_the_search_ui(page, v3_site):
    assert "search" not in v3_site.manifest
    open_map(page, v3_site, "#q=portrait&f.category=1500-1699")
    assert page.locator("#find-box").is_hidden() and page.locator("#find-panel").is_hidden()
    assert page.evaluate("pixmap.state().query") == ""
    with pytest.raises(Exception, match="no search index"):
        page.evaluate("pixmap.search('portrait')")
    assert page.evaluate("pixmap.search('')") == []
    # numeric columns still filter and colour
    page.evaluate("pixmap.filter({width: [600, null]})")
    want = v3_site.ids_where(lambda r: r["width"] >= 600)
    assert sorted(matches(page)) == sorted(want)
    page.evaluate("pixmap.filter({})")
    assert sorted(matches(page)) == sorted(v3_site.ids)
    rec = page.rec
    assert rec.page_errors == [] and rec.console_errors == [] and rec.outside(v3_site.url) == []
