"""IIIF in and out, end to end: real institutions' manifests served from 127.0.0.1 (with real images behind
a local Image API and real failures), built by the real pipeline, read back from the site."""
from __future__ import annotations

import json

import pytest

import pixmap

from .conftest import DEMO
from .iiif_server import PAINTINGS, SHARED_IIIF, IIIFServer, require_shared_iiif
from pixmap.site import read_metadata

# (manifest, images expected from it) -- counted by hand from the JSON
MANIFESTS = [
    ("presentation-2/artic-manifest.json", 2),          # v2, Art Institute of Chicago
    ("cookbook/0009-book-1.json", 5),                    # v3 book
    ("cookbook/0006-text-language.json", 1),             # language maps
    ("cookbook/0033-choice.json", 1),                    # Choice body
    ("cookbook/0283-missing-image.json", 3),             # one canvas has no image: reported
    ("cookbook/0032-collection-collection.json", 2),     # a collection of collections of manifests
    ("presentation-3/wellcome-p3.json", 10),             # v3 with ImageService2, HTML in requiredStatement
    ("cookbook/0002-mvm-audio.json", 0),                 # audio: reported
    ("presentation-2/malformed-image-annotation.json", 0),  # reported
    ("cookbook/0118-multivalue.json", 0),                # served as malformed JSON below: reported
]


@pytest.fixture(scope="module")
def server():
    require_shared_iiif()
    with IIIFServer(SHARED_IIIF, PAINTINGS) as srv:
        yield srv


def _is_image_request(path: str) -> bool:
    """Not a manifest, collection or info.json (those are revalidated, answered 304 when unchanged)."""
    return not path.startswith("/manifests/") and not path.split("?")[0].endswith(".json")


def test_manifests_text_file_builds_every_fetchable_image_and_reports_the_rest(server, tmp_path, built_site_result):
    server.fault("b28857021_0002", "500-then-200")          # retried, then fine
    server.fault("b28857021_0003", "500", times=1000)       # 500 forever: reported
    server.fault("b28857021_0004", "html", times=1000)      # an HTML page where an image was expected
    server.fault("b28857021_0005", "slow", seconds=4)       # slower than the timeout once, then fine
    server.fault("0118-multivalue", "malformed-json", times=1000)
    lines = ["# manifests of several institutions, PixPlot's way", ""]
    lines += [server.manifest_url(rel) for rel, _ in MANIFESTS]
    lines += [server.url + "nowhere/manifest.json   # 404"]
    listing = tmp_path / "manifests.txt"
    listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cache = tmp_path / "cache"
    args = dict(images=listing, cache_dir=cache, progress=False, layouts="umap", download_timeout=2,
                language="en")

    res = pixmap.build(out_dir=tmp_path / "map", **args)
    expected = sum(n for _, n in MANIFESTS) - 2
    assert res.n_images == expected
    reasons = {url: why for url, why in res.skipped}
    text = json.dumps(reasons)
    for what in ("b28857021_0003", "b28857021_0004", "0002-mvm-audio", "malformed-image-annotation",
                 "0118-multivalue", "nowhere/manifest.json", "0283-missing-image"):
        assert what in text, (what, reasons)
    assert "404" in text and "malformed JSON" in text and "500" in text and "not an image" in text
    config = json.loads((res.artifacts_dir / "config.json").read_text())
    assert len(config["skipped"]) == len(res.skipped) == 7

    meta = read_metadata(res.out_dir)
    rows = [dict(zip(meta["fields"], r)) for r in meta["rows"]]
    titles = [r.get("title") or "" for r in rows]
    assert any("Grande Jatte" in t for t in titles) and any("Whistler" in t for t in titles)
    wellcome = [r for r in rows if "Llanwrtyd" in (r.get("title") or "")]
    assert len(wellcome) == 8
    for r in wellcome:   # attribution kept, its HTML reduced to text
        assert r.get("attribution") and "<" not in r["attribution"]
    assert all(r.get("canvas_id") and r.get("manifest_url") for r in rows)
    # ids follow the local images' rule and are stable
    assert len(set(meta["ids"])) == len(meta["ids"]) and all(i.startswith("iiif--") for i in meta["ids"])
    # images came through the Image API at the size the build needs, never the full original
    image_paths = [p for _, p in server.requests if _is_image_request(p)]
    assert image_paths and not any("/full/max/" in p or "/full/full/" in p for p in image_paths)
    man = json.loads((res.out_dir / "data" / "manifest.json").read_text())
    deep = json.loads((res.out_dir / man["deep_zoom"]["file"]).read_text())
    assert len(deep) == res.n_images and all(u and u.endswith("/info.json") for u in deep)
    assert (res.out_dir / "iiif" / "collection.json").exists()

    # a second build downloads no image again (the two that failed are tried again)
    server.clear_requests()
    again = pixmap.build(out_dir=tmp_path / "map2", **args)
    assert again.n_images == expected
    fetched = [p for _, p in server.requests if _is_image_request(p)
               and "b28857021_0003" not in p and "b28857021_0004" not in p]
    assert fetched == []
    a = (res.out_dir / "data" / "layouts" / "umap.f32").read_bytes()
    assert a == (again.out_dir / "data" / "layouts" / "umap.f32").read_bytes()
    server.clear_faults()


def test_iiif_and_local_images_in_one_map(server, tmp_path, built_site_result):
    local = sorted((DEMO / "images").glob("*.jpg"))[:15]
    res = pixmap.build(images=local, iiif=[server.manifest_url("cookbook/0009-book-1.json")],
                       out_dir=tmp_path / "mixed", cache_dir=built_site_result.out_dir.parent / "cache",
                       progress=False, layouts="umap")
    assert res.n_images == 20 and res.skipped == []
    meta = read_metadata(res.out_dir)
    iiif_ids = [i for i in meta["ids"] if i.startswith("iiif--")]
    assert len(iiif_ids) == 5 and len(meta["ids"]) - len(iiif_ids) == 15


def test_first_canvas_only_and_a_collection_url(server, tmp_path, built_site_result):
    res = pixmap.build(iiif=server.manifest_url("cookbook/0032-collection-collection.json"),
                       out_dir=tmp_path / "c", cache_dir=built_site_result.out_dir.parent / "cache",
                       progress=False, layouts="umap")
    assert res.n_images == 2
    res = pixmap.build(iiif=[server.manifest_url("cookbook/0009-book-1.json"),
                             server.manifest_url("presentation-2/artic-manifest.json")],
                       out_dir=tmp_path / "f", cache_dir=built_site_result.out_dir.parent / "cache",
                       progress=False, layouts="umap", iiif_first_canvas_only=True)
    assert res.n_images == 2


def test_built_iiif_map_deep_zooms_credits_and_publishes_a_valid_collection(server, tmp_path, page,
                                                                             built_site_result):
    """A real IIIF build, served by `pixmap serve` at the --site-url it was built for: the lightbox
    deep-zooms into the museum's Image API service (tile requests reach it) and shows the attribution;
    the published IIIF collection validates with iiif-prezi3, and every canvas's image is fetchable."""
    import threading
    import urllib.request

    from pixmap.iiif import publish
    from pixmap.serve import make_server

    site = tmp_path / "site"
    httpd = make_server(site, port=0)
    site_url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        res = pixmap.build(iiif=server.manifest_url("presentation-3/wellcome-p3.json"), out_dir=site,
                           cache_dir=built_site_result.out_dir.parent / "cache", progress=False,
                           layouts="umap", site_url=site_url)
        assert res.n_images == 10
        meta = read_metadata(site)
        rows = [dict(zip(meta["fields"], r)) for r in meta["rows"]]

        docs = sorted((site / "iiif").glob("*.json"))
        assert (site / "iiif" / "collection.json") in docs and len(docs) >= 2
        bodies = []
        for doc in docs:
            publish.validate(doc)
            data = json.loads(doc.read_text())
            for canvas in data.get("items", []):
                if canvas.get("type") == "Canvas":
                    bodies.append(canvas["items"][0]["items"][0]["body"]["id"])
        assert len(bodies) == 10
        for url in bodies:  # the museum's images, through the local stand-in
            with urllib.request.urlopen(url, timeout=30) as r:
                assert r.status == 200 and r.headers["Content-Type"].startswith("image/")

        server.clear_requests()
        page.goto(site_url + "index.html")
        page.evaluate("pixmap.ready")
        i = next(k for k, r in enumerate(rows) if r.get("attribution"))
        page.evaluate("(id) => pixmap.open(id)", meta["ids"][i])
        page.wait_for_selector("#lightbox figure[data-deepzoom='ready'], #lightbox figure[data-deepzoom='failed']",
                               timeout=30_000)
        assert page.get_attribute("#lightbox figure", "data-deepzoom") == "ready", (
            page.inner_text("#lightbox"), page.rec.console_errors, [p for _, p in server.requests][-10:])
        credit = page.inner_text("#lightbox .credit")
        assert rows[i]["attribution"].split("\n")[0][:20] in credit
        box = page.evaluate("(() => { const r = document.querySelector('#lightbox .view').getBoundingClientRect();"
                            " return {x: r.left + r.width / 2, y: r.top + r.height / 2}; })()")
        page.mouse.move(box["x"], box["y"])
        for _ in range(10):
            page.mouse.wheel(0, -300)
            page.wait_for_timeout(80)
        page.wait_for_timeout(1500)
        tiles = [p for _, p in server.requests if "/full/" not in p and not p.endswith("info.json")
                 and "b28857021" in p]
        assert tiles, "no tile was requested from the image service"
        assert page.rec.page_errors == []
    finally:
        httpd.shutdown()
        httpd.server_close()
