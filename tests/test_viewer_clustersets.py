"""Several hotspot sets and each hotspot's quality in the viewer's hotspot panel (docs/site-format.md,
"Version 6": `clusterings`), in a real browser.

The site is a real build (`pixmap.build`: the real model, UMAP, HDBSCAN, scikit-learn) of 60 of the demo
paintings with three clustering methods. The same site with its manifest made version 5 (no `clusterings`,
no silhouettes) stands for a map an earlier pixmap wrote.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.browser import StaticServer, assert_clean, open_map

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "datasets" / "aic-paintings"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    import pixmap

    tmp = tmp_path_factory.mktemp("clustersets")
    images = sorted((DEMO / "images").glob("*.jpg"))[:60]
    return pixmap.build(images=[str(p) for p in images], metadata=DEMO / "metadata.csv", out_dir=tmp / "site",
                        cache_dir=tmp / "cache", progress=False, layouts="umap", max_clusters=8,
                        cluster_method="hdbscan,kmeans,agglomerative", n_clusters=6, linkage="average")


class Site:
    def __init__(self, folder: Path):
        from pixmap.site import read_metadata

        self.folder = Path(folder)
        self.manifest = json.loads((self.folder / "data" / "manifest.json").read_text(encoding="utf-8"))
        self.ids = read_metadata(self.folder)["ids"]
        self.server = StaticServer(self.folder)
        self.url = self.server.url

    def labels(self, name):
        entry = next(s for s in self.manifest["clusterings"] if s["name"] == name)
        return np.fromfile(self.folder / entry["file"], dtype="<i4"), entry


@pytest.fixture(scope="module")
def site(built):
    s = Site(built.out_dir)
    assert [c["name"] for c in s.manifest["clusterings"]] == ["hdbscan", "kmeans", "agglomerative"]
    yield s
    s.server.close()


@pytest.fixture(scope="module")
def v5_site(built, tmp_path_factory):
    """The same map as pixmap wrote it before format 6: one hotspot set, no quality figures."""
    folder = tmp_path_factory.mktemp("clustersets-v5") / "site"
    shutil.copytree(built.out_dir, folder)
    path = folder / "data" / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest.pop("clusterings")
    for key in ("clustering", "quality"):
        manifest["clusters"].pop(key)
    for h in manifest["clusters"]["hotspots"]:
        h.pop("silhouette")
    manifest["version"] = 5
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    for f in (folder / "data").glob("clusters-*.i32"):
        f.unlink()
    s = Site(folder)
    yield s
    s.server.close()




def shown(page):
    """The hotspot panel's items as drawn: [(id, label, quality text or None)]."""
    return page.evaluate("""[...document.querySelectorAll('#hotspots > li > button')].map((b) => [
        Number(b.dataset.hotspot), b.querySelector('.label').textContent,
        b.querySelector('.qvalue') ? b.querySelector('.qvalue').textContent : null])""")


def test_each_hotspot_shows_its_silhouette_and_the_list_sorts_by_it(page, site):
    open_map(page, site)
    main = site.manifest["clusters"]["hotspots"]
    assert all(isinstance(h["silhouette"], float) for h in main)
    items = shown(page)
    assert [i for i, _, _ in items] == [h["id"] for h in main]               # size order: the map's own
    assert [q for _, _, q in items] == [f"{h['silhouette']:.2f}" for h in main]
    title = page.locator("#hotspots .quality").first.get_attribute("title")
    assert "Silhouette" in title and "-1 to 1" in title
    _, entry = site.labels("kmeans")                                         # (6 hotspots: more to sort)
    main = entry["hotspots"]
    assert len(main) == 6
    page.select_option("#hotspot-set", "kmeans")
    page.wait_for_function("pixmap.stats().hotspotSet === 'kmeans'")
    page.select_option("#hotspot-sort", "quality")
    by_quality = [i for i, _, _ in shown(page)]
    assert by_quality == [h["id"] for h in sorted(main, key=lambda h: -h["silhouette"])]
    assert by_quality != [h["id"] for h in main]                              # (the test means something)
    page.select_option("#hotspot-sort", "name")
    names = [label for _, label, _ in shown(page)]
    assert names == sorted(names, key=str.casefold)
    page.select_option("#hotspot-sort", "size")
    assert [i for i, _, _ in shown(page)] == [h["id"] for h in main]
    assert_clean(page, site)


def test_the_set_control_switches_hotspots_selection_and_link(page, site):
    open_map(page, site)
    options = page.evaluate("[...document.querySelectorAll('#hotspot-set option')].map((o) => o.value)")
    assert options == ["", "kmeans", "agglomerative"]                        # the main set is hdbscan's
    labels, entry = site.labels("kmeans")
    page.select_option("#hotspot-set", "kmeans")
    page.wait_for_function("pixmap.stats().hotspotSet === 'kmeans'")
    assert [i for i, _, _ in shown(page)] == [h["id"] for h in entry["hotspots"]]
    assert [q for _, _, q in shown(page)] == [f"{h['silhouette']:.2f}" for h in entry["hotspots"]]
    assert page.evaluate("[...document.querySelectorAll('#hotspots .label')].map((e) => e.textContent)") \
        == [h["label"] for h in entry["hotspots"]]
    # a hotspot of the shown set selects that set's members (the labels of data/clusters-kmeans.i32)
    last = entry["hotspots"][-1]["id"]
    page.evaluate("(id) => pixmap.selectHotspot(id, {duration: 0})", last)
    got = page.evaluate("pixmap.selection()")
    assert sorted(got) == sorted(site.ids[i] for i in np.flatnonzero(labels == last))
    # the editor edits the map's own hotspots only
    assert page.locator("#hotspot-edit").is_disabled()
    page.wait_for_function("location.hash.includes('clusters=kmeans')")
    # the link brings the set back
    hash_ = page.evaluate("location.hash")
    page.goto("about:blank")
    open_map(page, site, hash_)
    assert page.evaluate("pixmap.stats().hotspotSet") == "kmeans"
    assert page.locator("#hotspot-set").input_value() == "kmeans"
    assert [i for i, _, _ in shown(page)] == [h["id"] for h in entry["hotspots"]]
    # back to the map's own
    page.select_option("#hotspot-set", "")
    page.wait_for_function("pixmap.stats().hotspotSet === null")
    main = site.manifest["clusters"]["hotspots"]
    assert [i for i, _, _ in shown(page)] == [h["id"] for h in main]
    assert not page.locator("#hotspot-edit").is_disabled()
    page.wait_for_function("!location.hash.includes('clusters=')")
    first = main[0]["id"]
    page.evaluate("(id) => pixmap.selectHotspot(id, {duration: 0})", first)
    mine = np.fromfile(site.folder / site.manifest["clusters"]["file"], dtype="<i4")
    assert sorted(page.evaluate("pixmap.selection()")) == sorted(site.ids[i] for i in np.flatnonzero(mine == first))
    assert_clean(page, site)


def test_colour_by_hotspot_follows_the_shown_set(page, site):
    open_map(page, site)
    page.evaluate("pixmap.colorBy('hotspot')")
    before = page.evaluate("pixmap.state().colorBy")
    page.select_option("#hotspot-set", "agglomerative")
    page.wait_for_function("pixmap.stats().hotspotSet === 'agglomerative'")
    assert page.evaluate("pixmap.state().colorBy") == before == "hotspot"
    _, entry = site.labels("agglomerative")
    page.wait_for_function("(first) => document.getElementById('legend').textContent.includes(first)",
                           arg=entry["hotspots"][0]["label"])
    legend = page.evaluate("[...document.querySelectorAll('#legend .legend-item')].map((e) => e.textContent)")
    # the shown set's hotspots, with their sizes
    assert legend[:len(entry["hotspots"])] == [f"{h['label']}{h['size']}" for h in entry["hotspots"]]
    assert legend[-1] == "in no hotspot"
    assert_clean(page, site)


def test_a_site_without_clusterings_opens_as_before(page, v5_site):
    open_map(page, v5_site)
    assert page.locator("#hotspot-view").count() == 0
    items = shown(page)
    assert [i for i, _, _ in items] == [h["id"] for h in v5_site.manifest["clusters"]["hotspots"]]
    assert all(q is None for _, _, q in items)
    assert not [u for u in page.rec.requests if "/clusters-" in u]
    assert_clean(page, v5_site)
