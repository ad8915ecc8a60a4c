"""The cluster report (pixmap.report): report.html of a real build (tests/conftest.py `planted_build`: the 267
demo paintings and a planted near-duplicate, the first title an XSS probe), and its parts (the SVG plots, the
typical members, the cluster-by-category table) on that build's real features."""
from __future__ import annotations

import csv
import html
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import numpy as np
import pytest

from pixmap import clusters, duplicates, report
from pixmap.layouts.umap import reduce_pca
from pixmap.quality import cluster_quality
from pixmap.site import read_metadata
from tests.conftest import PLANTED_FROM, XSS


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


@pytest.fixture(scope="module")
def built(planted_build):
    site, art = planted_build.out_dir, planted_build.artifacts_dir
    manifest = json.loads((site / "data" / "manifest.json").read_text(encoding="utf-8"))
    meta = read_metadata(site)
    text = (site / "report.html").read_text(encoding="utf-8")
    parser = _Tags()
    parser.feed(text)
    return {"site": site, "art": art, "manifest": manifest, "meta": meta, "text": text, "tags": parser.tags,
            "labels": np.fromfile(site / "data" / "clusters.i32", dtype="<i4"),
            "reduced": reduce_pca(np.load(art / "features.npy"), 100, seed=0)}


def test_the_site_has_a_self_contained_report(built):
    site, text, tags = built["site"], built["text"], built["tags"]
    assert built["manifest"]["report"] == {"file": "report.html"}
    assert (site / "index.html").is_file() and (site / "report.html").is_file()
    assert not any(tag == "script" for tag, _ in tags)
    refs = [a.get("src") or a.get("href") for tag, a in tags if tag in ("img", "a", "link")]
    refs = [r for r in refs if r]
    assert refs and any(r.startswith("data/thumbs/") for r in refs)
    for ref in refs:   # every image and link is a file of the site (or an anchor of the page)
        assert "//" not in ref and not re.match(r"^[a-z]+:", ref), ref
        if ref.startswith("#"):
            assert f'id="{ref[1:]}"' in text, ref
        else:
            assert (site / ref).is_file(), ref
    # untrusted text is escaped: the XSS title and the copy's title are shown as text
    assert XSS not in text and html.escape(XSS, quote=True) in text
    assert "A copy &amp; &lt;crop&gt;" in text and "<crop>" not in text
    assert len(text.encode()) < 200_000


def test_the_report_shows_the_clusterings_figures(built):
    text, manifest, labels = built["text"], built["manifest"], built["labels"]
    hotspots = manifest["clusters"]["hotspots"]
    assert text.count('<div class="card" id="set-1-c') == len(hotspots)
    for h in hotspots:   # each cluster's silhouette, as the hotspot panel shows it
        assert f'{h["size"]} images · silhouette {h["silhouette"]:.2f}</p>' in text
    noise = float((labels < 0).mean())
    assert f"<td>noise share</td><td>{100 * noise:.1f}%</td>" in text
    fields, rows = built["meta"]["fields"], built["meta"]["rows"]
    cats = [r[fields.index("category")] for r in rows]
    q = cluster_quality(built["reduced"], labels, categories=cats)   # measured in the space clustered (cnn)
    assert {k: q[k] for k in ("nmi", "silhouette")} == \
        {k: manifest["clusters"]["quality"][k] for k in ("nmi", "silhouette")}   # as the viewer has them
    assert f"<td>NMI with the category</td><td>{q['nmi']:.3f}</td>" in text
    assert f"<td>silhouette (overall)</td><td>{q['silhouette']:.3f}</td>" in text
    assert f"<td>clusters</td><td>{len(hotspots)}</td>" in text
    # the cluster-by-category table counts every image once
    table = text[text.index("<h3>Clusters by category</h3>"):]
    table = table[:table.index("</table>")]
    counts = [int(v) for v in re.findall(r"<td>(\d+)</td>", table)]
    assert sum(counts) == len(labels)
    # each cluster's representative is its medoid image
    ids = built["meta"]["ids"]
    for h in hotspots[:3]:
        card = text[text.index(f'id="set-1-c{h["id"]}"'):]
        assert re.search(r'<div class="medoid"><img src="data/thumbs/[0-9a-f]{2}/' + re.escape(ids[h["representative"]])
                         + r'\.webp"', card)
    # the near-duplicates: one group, the painting and its copy
    dup = text[text.index('<section id="duplicates">'):]
    assert dup.count('<div class="dup" id="dup-') == 1
    assert f"/{PLANTED_FROM}.webp" in dup and "/planted-copy.webp" in dup


def test_plots_are_svg_from_real_results(built):
    from scipy.cluster.hierarchy import linkage
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    x = built["reduced"]
    curve = [(k, silhouette_score(x, KMeans(k, n_init=1, random_state=0).fit_predict(x))) for k in range(2, 8)]
    chosen = max(curve, key=lambda p: p[1])[0]
    svg = ET.fromstring(report.line_chart(curve, "k", "silhouette", mark=chosen))
    ns = "{http://www.w3.org/2000/svg}"
    assert len(svg.findall(f".//{ns}circle")) == len(curve)
    assert len(svg.findall(f".//{ns}line[@class='mark']")) == 1
    z = linkage(x, "ward")
    svg = ET.fromstring(report.dendrogram_svg(z, leaves=30))
    leaves = [t for t in svg.findall(f".//{ns}text") if (t.get("transform") or "").startswith("rotate(-60")]
    assert len(leaves) == 30
    assert len(svg.findall(f".//{ns}polyline")) == 29   # one link per merge of 30 leaves
    counts = [int(t.text.strip("()")) for t in leaves if t.text.startswith("(")]
    singles = [t for t in leaves if not t.text.startswith("(")]
    assert sum(counts) + len(singles) == len(x)        # the leaves hold every image
    bars = ET.fromstring(report.silhouette_bars([{"id": 0, "silhouette": 0.5}, {"id": 1, "silhouette": -0.2}],
                                                {0: "<a>", 1: "b"}))
    assert [r.get("class") for r in bars.findall(f".//{ns}rect")] == ["bar", "bar neg"]


def test_a_report_set_shows_its_k_curve_and_dendrogram(built, tmp_path):
    from scipy.cluster.hierarchy import fcluster, linkage

    x, ids = built["reduced"], built["meta"]["ids"]
    z = linkage(x, "ward")
    labels = fcluster(z, 6, criterion="maxclust").astype(np.int32) - 1
    clustering = clusters.Clustering(labels=labels, hotspots=[
        clusters.Hotspot(id=c, label=f"Cluster {c + 1}", size=int((labels == c).sum()),
                         representative=clusters.medoid(x, np.flatnonzero(labels == c))) for c in range(6)],
        method="agglomerative")
    rs = report.set_from_clustering(clustering, x, "cnn", {"linkage": "ward", "n_clusters": 6})
    rs.k_curve, rs.k_eval, rs.linkage = [(k, 0.1 * k) for k in range(2, 9)], "silhouette", z
    text = report.render([rs], ids=ids, manifest=built["manifest"], features=x, duplicates=None)
    assert "<h3>Choosing k</h3>" in text and "<h3>Dendrogram</h3>" in text
    assert "Not searched (--duplicates-threshold 0)" in text and "Clusters by" not in text
    assert text.count('<div class="card"') == 6


def test_typical_members_are_nearest_the_centre(built):
    x, labels = built["reduced"], built["labels"]
    members = np.flatnonzero(labels == 0)
    typical, atypical = report.typical_members(x, members, count=4)
    u = x[members] / np.linalg.norm(x[members], axis=1, keepdims=True)
    centre = u.mean(axis=0)
    d = 1 - u @ (centre / np.linalg.norm(centre))
    assert typical.tolist() == members[np.argsort(d, kind="stable")[:4]].tolist()
    assert atypical.tolist() == members[np.argsort(d, kind="stable")[::-1][:4]].tolist()
    small_t, small_a = report.typical_members(x, members[:3], count=4)   # a small cluster: no image shown twice
    assert len(small_t) == 3 and len(small_a) == 0


def test_crosstab_and_colours(built):
    labels = built["labels"]
    fields, rows = built["meta"]["fields"], built["meta"]["rows"]
    cats = [r[fields.index("category")] for r in rows]
    n_clusters = int(labels.max()) + 1
    heads, table = report.crosstab(labels, cats, n_clusters, top=3)
    assert len(heads) == 4 and heads[-1] == "other / none" and table.shape == (n_clusters + 1, 4)
    assert table.sum() == len(labels) and table[-1].sum() == (labels < 0).sum()
    first = heads[0]
    assert table[:, 0].sum() == sum(c == first for c in cats)
    shares = report.cluster_colours(labels, None, n_clusters)
    assert shares.shape[0] == n_clusters and not shares.any()


def test_long_lists_are_cut(built, monkeypatch):
    x = built["reduced"]
    loose = duplicates.find_duplicates(x, 0.2)
    assert len(loose.groups) >= 3
    monkeypatch.setattr(report, "MAX_DUP_GROUPS", 2)
    text = report.render([], ids=built["meta"]["ids"], manifest=built["manifest"], features=x, duplicates=loose)
    assert text.count('<div class="dup" id="dup-') == 2 and "the 2 closest shown" in text
    with open(built["art"] / "images.csv", encoding="utf-8") as f:
        assert len(list(csv.DictReader(f))) == len(x)


def test_no_report_and_no_duplicate_search_when_turned_off(tmp_path):
    import pixmap
    from tests.conftest import DEMO

    res = pixmap.build(images=DEMO / "images", out_dir=tmp_path / "site", cache_dir=tmp_path / "cache",
                       progress=False, max_images=30, report=False, duplicates_threshold=0)
    manifest = json.loads((res.out_dir / "data" / "manifest.json").read_text(encoding="utf-8"))
    assert "report" not in manifest and "duplicates" not in manifest
    assert not (res.out_dir / "report.html").exists() and not (res.out_dir / "data" / "duplicates.json").exists()
    assert not (res.artifacts_dir / "duplicates.csv").exists() and "report" not in res.timings
