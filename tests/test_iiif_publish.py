"""pixmap.iiif.publish: the site's iiif/collection.json and one IIIF Presentation 3.0 Manifest per hotspot.

The input is made by hand (no pipeline): a small site folder with real lightbox images and thumbnails
(Pillow), some local images and some IIIF-sourced ones (v2 and v3 Image API services).
"""
from __future__ import annotations

import functools
import html
import http.server
import io
import json
import threading
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlsplit

import iiif_prezi3
import numpy as np
import pytest
from PIL import Image

from pixmap.iiif import publish
from pixmap.iiif.publish import InvalidIIIF, validate, validate_document, write_collection

SITE_URL = "https://maps.example.org/paintings/"
LIGHTBOX = {"size": 64, "dir": "data/lightbox", "ext": "webp"}
THUMBS = {"size": 24, "dir": "data/thumbs", "ext": "webp"}
CC0 = "http://creativecommons.org/publicdomain/zero/1.0/"
HOSTILE = '<img src=x onerror="window.__xss=1">'

# id, local?, original size, hotspot
IMAGES = [
    ("paris--louvre", True, (300, 200), 0),
    ("köln--Straße_~1a2b3c4d", True, (50, 80), 0),           # Unicode and '~'; smaller than the lightbox
    ("iiif--example.org--c1", False, (4000, 3000), 0),          # v2 service
    ("Ελληνικά--ναός", True, (120, 120), 1),                   # the one member of hotspot 1
    ("iiif--example.org--c2", False, (1000, 2000), -1),         # v3 service, in no hotspot
    ("iiif--example.org--c3", False, (640, 480), 2),            # url only, no service
    ("a--b", True, (90, 30), -1),
    ("c", True, (100, 100), 2),
]
HOTSPOTS = [
    {"id": 0, "label": "Blue skies", "size": 3, "representative": 2},
    {"id": 2, "label": "<b>Portraits</b> & co", "size": 2, "representative": 7},
    {"id": 1, "label": "Ναός", "size": 1, "representative": 3},
]


def _image_entry(image_id: str, local: bool, size: tuple[int, int]) -> dict:
    entry = {"label": f"Title of {image_id}", "metadata": {"artist": "Anonymous", "year": "1870"},
             "width": size[0], "height": size[1], "service": None, "url": None, "canvas_id": None,
             "manifest_id": None, "rights": None, "attribution": None, "tiles": None}
    if not local:
        key = image_id.rsplit("--", 1)[1]
        entry["canvas_id"] = f"https://example.org/iiif/{key}/canvas/1"
        entry["manifest_id"] = f"https://example.org/iiif/{key}/manifest"
        entry["attribution"] = "Courtesy of the Example Museum"
    return entry


def make_inputs(site: Path, site_url: str = SITE_URL) -> dict:
    """A site folder with real lightbox images and thumbnails, and write_collection's keyword arguments."""
    ids, images = [], []
    for image_id, local, size, _hs in IMAGES:
        ids.append(image_id)
        images.append(_image_entry(image_id, local, size))
        colour = (len(ids) * 30 % 256, 90, 160)
        for spec in (LIGHTBOX, THUMBS):
            folder = site / spec["dir"]
            folder.mkdir(parents=True, exist_ok=True)
            im = Image.new("RGB", size, colour)
            im.thumbnail((spec["size"], spec["size"]))
            im.save(folder / f"{image_id}.{spec['ext']}", "WEBP")
    by_id = dict(zip(ids, images))
    by_id["iiif--example.org--c1"]["service"] = {"id": "https://example.org/iiif2/c1", "type": "ImageService2",
                                                "profile": "http://iiif.io/api/image/2/level2.json"}
    by_id["iiif--example.org--c1"]["url"] = "https://example.org/iiif2/c1/full/full/0/default.jpg"
    by_id["iiif--example.org--c1"]["rights"] = "https://creativecommons.org/publicdomain/zero/1.0/"
    by_id["iiif--example.org--c2"]["service"] = {"id": "https://example.org/iiif3/c2", "type": "ImageService3",
                                                "profile": "level1"}
    by_id["iiif--example.org--c2"]["url"] = "https://example.org/iiif3/c2/full/max/0/default.jpg"
    by_id["iiif--example.org--c2"]["rights"] = "https://example.org/our-terms"  # not an allowed rights URI
    by_id["iiif--example.org--c3"]["url"] = "https://example.org/plain/c3.png"
    by_id["iiif--example.org--c3"]["rights"] = "https://rightsstatements.org/page/InC/1.0/?language=en"
    by_id["paris--louvre"]["label"] = HOSTILE
    by_id["paris--louvre"]["metadata"] = {"title": HOSTILE, "description": "A <b>bold</b> claim & more\nline 2",
                                          "städte": "Köln, Αθήνα, 東京", "empty": "", "missing": None}
    by_id["paris--louvre"]["attribution"] = "Photo © Ünïcode & <Sons>"
    by_id["köln--Straße_~1a2b3c4d"]["tiles"] = "data/tiles/köln--Straße_~1a2b3c4d/info.json"
    tiles = site / "data" / "tiles" / "köln--Straße_~1a2b3c4d"
    tiles.mkdir(parents=True)
    service_id = publish.site_file_url(site_url, "data/tiles/köln--Straße_~1a2b3c4d")
    (tiles / "info.json").write_text(json.dumps({"id": service_id, "type": "ImageService3", "profile": "level0",
                                                 "width": 50, "height": 80}), encoding="utf-8")
    return dict(site_url=site_url, title="Paintings «Ω»", ids=ids, images=images, hotspots=HOTSPOTS,
                labels=np.array([hs for *_rest, hs in IMAGES], dtype=np.int32), lightbox=LIGHTBOX, thumbs=THUMBS)


@pytest.fixture
def site(tmp_path) -> Path:
    return tmp_path / "site"


@pytest.fixture
def written(site):
    kw = make_inputs(site)
    return site, kw, write_collection(site, **kw)


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def manifests(site: Path) -> dict[str, dict]:
    return {p.name: load(p) for p in sorted((site / "iiif").glob("hotspot-*.json"))}


def canvases(site: Path) -> dict[str, dict]:
    """Every canvas of every manifest, by its label... by the image id at the end of its id."""
    out = {}
    for doc in manifests(site).values():
        for canvas in doc["items"]:
            out[unquote(canvas["id"].rsplit("/", 1)[1])] = canvas
    return out


def body(canvas: dict) -> dict:
    [page] = canvas["items"]
    [anno] = page["items"]
    assert anno["motivation"] == "painting" and anno["target"] == canvas["id"]
    return anno["body"]


def to_site_file(url: str, site: Path, site_url: str = SITE_URL) -> Path | None:
    """The file in the site folder that a site URL names (None for a URL outside the site)."""
    if not url.startswith(site_url):
        return None
    rel = unquote(urlsplit(url).path[len(urlsplit(site_url).path):])
    return site.joinpath(*rel.split("/"))


def plain(value: str) -> str:
    """What a viewer shows for an IIIF metadata value (HTML when it is one element, else plain text)."""
    if value.startswith("<span>") and value.endswith("</span>"):
        return html.unescape(value[len("<span>"):-len("</span>")].replace("<br/>", "\n"))
    assert not any(c in value for c in "<>&"), value
    return value


# ---- structure and validity -------------------------------------------------------------------

def test_every_document_validates_with_iiif_prezi3(written):
    site, _kw, paths = written
    assert paths == [site / "iiif" / n for n in ("hotspot-0.json", "hotspot-2.json", "hotspot-1.json",
                                                  "hotspot-none.json", "collection.json")]
    for path in paths:
        validate(path)  # ours: iiif-prezi3 plus a read-back that must equal the file, plus spec rules
        doc = load(path)
        model = iiif_prezi3.Collection if path.name == "collection.json" else iiif_prezi3.Manifest
        obj = model.model_validate(doc)  # and the library's own models directly
        assert str(obj.id) == doc["id"] and doc["@context"] == "http://iiif.io/api/presentation/3/context.json"
        if model is iiif_prezi3.Manifest:
            assert len(obj.items) == len(doc["items"]) > 0


def test_collection_lists_one_manifest_per_hotspot_with_label_and_thumbnail(written):
    site, kw, _paths = written
    col = load(site / "iiif" / "collection.json")
    assert col["type"] == "Collection" and col["id"] == SITE_URL + "iiif/collection.json"
    assert col["label"] == {"none": ["Paintings «Ω»"]}
    assert [ref["id"] for ref in col["items"]] == [SITE_URL + f"iiif/hotspot-{n}.json" for n in ("0", "2", "1", "none")]
    assert [ref["label"] for ref in col["items"]] == [{"none": ["Blue skies"]}, {"none": ["<b>Portraits</b> & co"]},
                                                      {"none": ["Ναός"]}, {"en": ["Not in a hotspot"]}]
    for ref in col["items"]:
        assert ref["type"] == "Manifest"
        doc = load(to_site_file(ref["id"], site))
        assert doc["id"] == ref["id"] and doc["label"] == ref["label"] and doc["thumbnail"] == ref["thumbnail"]
        assert doc["partOf"] == [{"id": col["id"], "type": "Collection", "label": col["label"]}]
    # a hotspot's thumbnail is its representative's
    assert col["items"][0]["thumbnail"][0]["id"] == SITE_URL + "data/thumbs/iiif--example.org--c1.webp"
    assert col["items"][1]["thumbnail"][0]["id"] == SITE_URL + "data/thumbs/c.webp"


def test_one_canvas_per_member_in_data_order(written):
    site, kw, _paths = written
    docs = manifests(site)
    members = {name: [unquote(c["id"].rsplit("/", 1)[1]) for c in doc["items"]] for name, doc in docs.items()}
    assert members == {
        "hotspot-0.json": ["paris--louvre", "köln--Straße_~1a2b3c4d", "iiif--example.org--c1"],
        "hotspot-1.json": ["Ελληνικά--ναός"],             # a hotspot with one member
        "hotspot-2.json": ["iiif--example.org--c3", "c"],
        "hotspot-none.json": ["iiif--example.org--c2", "a--b"],
    }
    assert docs["hotspot-none.json"]["label"] == {"en": ["Not in a hotspot"]}
    assert docs["hotspot-0.json"]["metadata"] == [{"label": {"en": ["Images"]}, "value": {"none": ["3"]}}]
    # the manifest starts on the hotspot's representative
    assert docs["hotspot-2.json"]["start"] == {"id": docs["hotspot-2.json"]["items"][1]["id"], "type": "Canvas"}
    ids = [c["id"] for doc in docs.values() for c in doc["items"]]
    assert len(ids) == len(set(ids)) == len(IMAGES)


def test_no_unclustered_manifest_when_every_image_is_in_a_hotspot(site):
    kw = make_inputs(site)
    kw["labels"] = np.where(kw["labels"] < 0, 0, kw["labels"])
    paths = write_collection(site, **kw)
    assert not (site / "iiif" / "hotspot-none.json").exists() and len(paths) == 4
    assert len(load(site / "iiif" / "collection.json")["items"]) == 3
    # and with no hotspots at all, one manifest holds everything
    kw["hotspots"], kw["labels"] = [], np.full(len(IMAGES), -1)
    other = site.parent / "other"
    paths = write_collection(other, **{**kw, "hotspots": []})
    assert [p.name for p in paths] == ["hotspot-none.json", "collection.json"]
    assert len(load(paths[0])["items"]) == len(IMAGES)


# ---- canvases and their images ------------------------------------------------------------------

def test_canvas_bodies_are_originals_or_files_of_the_site(written):
    site, kw, _paths = written
    originals = {im["url"] for im in kw["images"] if im["url"]}
    for image_id, canvas in canvases(site).items():
        b = body(canvas)
        assert b["type"] == "Image"
        path = to_site_file(b["id"], site)
        if path is None:
            assert b["id"] in originals
        else:
            assert path.is_file(), b["id"]
            assert path.name == f"{image_id}.webp" and path.parent.name == "lightbox" and b["format"] == "image/webp"
        for thumb in canvas["thumbnail"]:
            assert to_site_file(thumb["id"], site).is_file() and thumb["format"] == "image/webp"


def test_local_canvases_have_the_lightbox_size_iiif_ones_the_original_size(written):
    site, kw, _paths = written
    by_id = canvases(site)
    for image_id, local, size, _hs in IMAGES:
        canvas, b = by_id[image_id], body(by_id[image_id])
        if local:
            with Image.open(site / "data" / "lightbox" / f"{image_id}.webp") as im:
                expect = im.size
            assert max(expect) <= LIGHTBOX["size"] and (expect == size or max(size) > LIGHTBOX["size"])
        else:
            expect = size
        assert (canvas["width"], canvas["height"]) == (b["width"], b["height"]) == expect, image_id


def test_lightbox_size_is_derived_when_the_file_is_missing(site):
    kw = make_inputs(site)
    (site / "data" / "lightbox" / "paris--louvre.webp").unlink()
    write_collection(site, **kw)
    canvas = canvases(site)["paris--louvre"]
    assert (canvas["width"], canvas["height"]) == publish.fit_size(300, 200, 64) == (64, 43)
    assert publish.fit_size(50, 80, 64) == (40, 64) and publish.fit_size(30, 20, 64) == (30, 20)  # never upscaled


def test_iiif_services_v2_and_v3_and_local_level0_tiles(written):
    site, _kw, _paths = written
    by_id = canvases(site)
    v2 = body(by_id["iiif--example.org--c1"])
    assert v2["id"] == "https://example.org/iiif2/c1/full/full/0/default.jpg" and v2["format"] == "image/jpeg"
    assert v2["service"] == [{"@id": "https://example.org/iiif2/c1", "@type": "ImageService2",
                              "profile": "http://iiif.io/api/image/2/level2.json"}]
    v3 = body(by_id["iiif--example.org--c2"])
    assert v3["service"] == [{"id": "https://example.org/iiif3/c2", "type": "ImageService3", "profile": "level1"}]
    plain_remote = body(by_id["iiif--example.org--c3"])
    assert plain_remote["id"] == "https://example.org/plain/c3.png" and "service" not in plain_remote
    assert plain_remote["format"] == "image/png"
    tiled = body(by_id["köln--Straße_~1a2b3c4d"])
    [service] = tiled["service"]
    assert service == {"id": SITE_URL + "data/tiles/k%C3%B6ln--Stra%C3%9Fe_~1a2b3c4d", "type": "ImageService3",
                       "profile": "level0"}
    assert (to_site_file(service["id"], site) / "info.json").is_file()
    assert "service" not in body(by_id["paris--louvre"])


def test_tiles_are_a_service_only_when_their_info_json_names_them_by_their_public_url(site):
    kw = make_inputs(site)
    info_path = site / "data" / "tiles" / "köln--Straße_~1a2b3c4d" / "info.json"
    info = load(info_path)
    assert info["id"] == SITE_URL + "data/tiles/k%C3%B6ln--Stra%C3%9Fe_~1a2b3c4d"
    for sid in (".", "http://127.0.0.1:8000/data/tiles/k%C3%B6ln--Stra%C3%9Fe_~1a2b3c4d"):
        info_path.write_text(json.dumps({**info, "id": sid}), encoding="utf-8")  # the viewer's placeholder
        write_collection(site, **kw)
        assert "service" not in body(canvases(site)["köln--Straße_~1a2b3c4d"])
    info_path.unlink()
    write_collection(site, **kw)
    assert "service" not in body(canvases(site)["köln--Straße_~1a2b3c4d"])
    assert publish.site_file_url("https://example.org/m", "data/tiles/a b") == "https://example.org/m/data/tiles/a%20b"


def test_a_service_without_an_image_url_gives_the_full_image(site):
    kw = make_inputs(site)
    i = kw["ids"].index("iiif--example.org--c2")
    kw["images"][i]["url"] = None
    kw["images"][i]["service"] = {"@id": "https://example.org/iiif3/c2/info.json", "type": "ImageService3"}
    write_collection(site, **kw)
    b = body(canvases(site)["iiif--example.org--c2"])
    assert b["id"] == "https://example.org/iiif3/c2/full/max/0/default.jpg"
    assert b["service"] == [{"id": "https://example.org/iiif3/c2", "type": "ImageService3"}]


# ---- text, rights, links ------------------------------------------------------------------------------

def test_labels_and_metadata_stay_plain_text(written):
    site, kw, _paths = written
    by_id = canvases(site)
    louvre = by_id["paris--louvre"]
    assert louvre["label"] == {"none": [HOSTILE]}  # labels are plain text in IIIF (never HTML)
    shown = {m["label"]["none"][0]: plain(m["value"]["none"][0]) for m in louvre["metadata"]}
    assert shown == {"title": HOSTILE, "description": "A <b>bold</b> claim & more\nline 2",
                     "städte": "Köln, Αθήνα, 東京"}  # empty and missing values are left out
    for m in louvre["metadata"]:  # HTML-looking text is escaped inside one <span>: no markup survives
        value = m["value"]["none"][0]
        assert "<img" not in value and "<b>" not in value
    assert plain(louvre["requiredStatement"]["value"]["none"][0]) == "Photo © Ünïcode & <Sons>"
    assert louvre["requiredStatement"]["label"] == {"en": ["Attribution"]}
    other = by_id["a--b"]
    assert other["label"] == {"none": ["Title of a--b"]}
    assert other["metadata"] == [{"label": {"none": ["artist"]}, "value": {"none": ["Anonymous"]}},
                                 {"label": {"none": ["year"]}, "value": {"none": ["1870"]}}]
    assert "requiredStatement" not in other and "rights" not in other
    text = (site / "iiif" / "hotspot-0.json").read_text(encoding="utf-8")
    assert "Köln, Αθήνα, 東京" in text and "\\u" not in text  # UTF-8, not ASCII escapes


def test_text_value_reads_the_same_as_html_and_as_text():
    for text in ["plain", "Köln", "a < b", "x & y", "<b>no</b>", "two\nlines", HOSTILE, "a > b"]:
        value = publish.text_value(text)
        assert plain(value) == text
        assert value == text or (value.startswith("<span>") and value.endswith("</span>"))


def test_rights_only_creative_commons_or_rightsstatements(written):
    site, _kw, _paths = written
    by_id = canvases(site)
    assert by_id["iiif--example.org--c1"]["rights"] == CC0  # the canonical http form
    assert by_id["iiif--example.org--c3"]["rights"] == "http://rightsstatements.org/vocab/InC/1.0/"
    other = by_id["iiif--example.org--c2"]
    assert "rights" not in other
    assert {"label": {"en": ["Rights"]}, "value": {"none": ["https://example.org/our-terms"]}} in other["metadata"]
    assert other["requiredStatement"] == {"label": {"en": ["Attribution"]},
                                          "value": {"none": ["Courtesy of the Example Museum"]}}
    assert publish.rights_uri("https://creativecommons.org/licenses/by/4.0/deed.de") == \
        "http://creativecommons.org/licenses/by/4.0/"
    assert publish.rights_uri("http://creativecommons.org/licenses/by-sa/3.0") == \
        "http://creativecommons.org/licenses/by-sa/3.0/"
    for bad in ["https://example.org/licenses/by/4.0/", "CC BY 4.0", "https://creativecommons.org/",
                "ftp://creativecommons.org/licenses/by/4.0/", "https://rightsstatements.org.evil/vocab/InC/1.0/", None]:
        assert publish.rights_uri(bad) is None, bad


def test_the_source_manifest_is_linked(written):
    site, _kw, _paths = written
    by_id = canvases(site)
    assert by_id["iiif--example.org--c1"]["seeAlso"] == [
        {"id": "https://example.org/iiif/c1/manifest", "type": "Dataset", "label": {"en": ["Source IIIF manifest"]},
         "format": "application/ld+json"}]
    assert "seeAlso" not in by_id["c"]


def test_unicode_ids_are_percent_encoded(written):
    site, _kw, _paths = written
    by_id = canvases(site)
    canvas = by_id["Ελληνικά--ναός"]
    urls = [canvas["id"], body(canvas)["id"], canvas["thumbnail"][0]["id"], canvas["homepage"][0]["id"]]
    for url in urls:
        assert url.isascii() and " " not in url, url
    assert body(canvas)["id"] == SITE_URL + "data/lightbox/%CE%95%CE%BB%CE%BB%CE%B7%CE%BD%CE%B9%CE%BA%CE%AC--" \
                                            "%CE%BD%CE%B1%CF%8C%CF%82.webp"
    assert "~1a2b3c4d" in body(by_id["köln--Straße_~1a2b3c4d"])["id"]  # '~' stays (as encodeURIComponent)
    for path in (site / "iiif").iterdir():
        doc = load(path)
        stack = [doc]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                for key in ("id", "@id"):
                    if key in node:
                        assert node[key].isascii(), node[key]
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)


def test_homepages_open_the_map_on_the_image_or_hotspot(written):
    site, _kw, _paths = written
    by_id = canvases(site)
    assert by_id["köln--Straße_~1a2b3c4d"]["homepage"] == [{
        "id": SITE_URL + "index.html#open=k%C3%B6ln--Stra%C3%9Fe_~1a2b3c4d", "type": "Text",
        "label": {"none": ["Title of köln--Straße_~1a2b3c4d"]}, "format": "text/html"}]
    docs = manifests(site)
    assert docs["hotspot-2.json"]["homepage"][0]["id"] == SITE_URL + "index.html#hotspot=2"
    assert docs["hotspot-none.json"]["homepage"][0]["id"] == SITE_URL + "index.html"
    assert load(site / "iiif" / "collection.json")["homepage"][0]["id"] == SITE_URL + "index.html"


def test_site_url_without_trailing_slash(site):
    kw = make_inputs(site, site_url="http://127.0.0.1:8000")
    write_collection(site, **kw)
    col = load(site / "iiif" / "collection.json")
    assert col["id"] == "http://127.0.0.1:8000/iiif/collection.json"
    kw = make_inputs(site.parent / "sub", site_url="https://example.org/maps/paintings")
    write_collection(site.parent / "sub", **kw)
    canvas = canvases(site.parent / "sub")["c"]
    assert body(canvas)["id"] == "https://example.org/maps/paintings/data/lightbox/c.webp"
    assert publish.site_base_url("https://example.org") == "https://example.org/"


def test_output_is_compact_and_deterministic(site):
    kw = make_inputs(site)
    first = {p.name: p.read_bytes() for p in write_collection(site, **kw)}
    second = {p.name: p.read_bytes() for p in write_collection(site, **kw)}
    assert first == second
    for data in first.values():
        text = data.decode("utf-8")
        assert text == json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":")) + "\n"
    assert not list((site / "iiif").glob("*.tmp"))


# ---- bad input and bad documents --------------------------------------------------------------

def test_inconsistent_input_is_refused(site):
    kw = make_inputs(site)
    with pytest.raises(ValueError, match="same length"):
        write_collection(site, **{**kw, "labels": kw["labels"][:-1]})
    with pytest.raises(ValueError, match="no images"):
        write_collection(site, **{**kw, "hotspots": HOTSPOTS + [{"id": 9, "label": "ghost", "size": 0,
                                                                  "representative": 0}]})
    for bad in ["", "maps.example.org", "file:///site/", "https://example.org/?x=1", "/relative/"]:
        with pytest.raises(ValueError, match="site URL"):
            write_collection(site, **{**kw, "site_url": bad})


def _doc(site):
    write_collection(site, **make_inputs(site))
    return load(site / "iiif" / "hotspot-0.json")


@pytest.mark.parametrize("damage, why", [
    (lambda d: d.pop("id"), "reads it differently"),                               # iiif-prezi3 would invent one
    (lambda d: d.__setitem__("label", "plain string"), "reads it differently|not a valid"),
    (lambda d: d.__setitem__("lable", {"en": ["x"]}), "reads it differently"),     # unknown key
    (lambda d: d["items"][0].__setitem__("width", "64"), "reads it differently|not a valid"),
    (lambda d: d["items"][0].__setitem__("rights", "https://creativecommons.org/licenses/by/4.0/"), "rights"),
    (lambda d: d["items"][0].__setitem__("rights", "https://example.org/terms/"), "rights"),
    (lambda d: d["items"][0]["items"][0]["items"][0].__setitem__("target", "https://elsewhere.org/c"), "target"),
    (lambda d: d.__setitem__("id", "iiif/hotspot-0.json"), "not a valid|http"),
    (lambda d: d.__setitem__("@context", "http://iiif.io/api/presentation/2/context.json"), "@context"),
    (lambda d: d.__setitem__("items", []), "at least one Canvas"),
    (lambda d: d.__setitem__("type", "Sequence"), "Manifest or Collection"),
])
def test_validate_refuses_invalid_documents(site, damage, why):
    doc = _doc(site)
    validate_document(doc)
    damage(doc)
    with pytest.raises(InvalidIIIF, match=why):
        validate_document(doc)
    path = site / "iiif" / "broken.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(InvalidIIIF):
        validate(path)


def test_validate_refuses_a_file_that_is_not_json(tmp_path):
    (tmp_path / "x.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InvalidIIIF, match="JSON"):
        validate(tmp_path / "x.json")


# ---- served for real --------------------------------------------------------------------------

class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_every_site_url_resolves_over_http(site):
    site.mkdir(parents=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy for 127.0.0.1
    base = f"http://127.0.0.1:{server.server_address[1]}"  # given without its trailing slash
    try:
        kw = make_inputs(site, site_url=base)
        write_collection(site, **kw)

        def get(url):
            with opener.open(url, timeout=10) as resp:
                assert resp.status == 200, url
                return resp.headers.get_content_type(), resp.read()

        kind, data = get(base + "/iiif/collection.json")
        assert kind == "application/json"
        collection = json.loads(data)
        fetched = set()
        for ref in collection["items"]:
            kind, data = get(ref["id"])  # every manifest the collection names is there
            manifest = json.loads(data)
            assert manifest["id"] == ref["id"]
            for canvas in manifest["items"]:
                b = body(canvas)
                urls = [t["id"] for t in canvas["thumbnail"]]
                if b["id"].startswith(base + "/"):
                    urls.append(b["id"])
                    for service in b.get("service", []):
                        kind, data = get(service["id"] + "/info.json")
                        assert json.loads(data)["profile"] == "level0"
                else:
                    assert b["id"].startswith("https://example.org/")
                for url in urls:
                    kind, data = get(url)
                    assert kind.startswith("image/"), (url, kind)
                    with Image.open(io.BytesIO(data)) as im:
                        im.load()
                        if url == b["id"]:
                            assert im.size == (b["width"], b["height"])
                    fetched.add(url)
        local = [i for i, local, *_ in IMAGES if local]
        assert len(fetched) == len(IMAGES) + len(local)  # every thumbnail and every local lightbox image
    finally:
        server.shutdown()
        server.server_close()


def _many(site: Path, n: int) -> dict:
    """write_collection's arguments for n local images in one hotspot (lightbox files made on the way)."""
    ids = [f"img-{i:04d}" for i in range(n)]
    folder = site / LIGHTBOX["dir"]
    folder.mkdir(parents=True, exist_ok=True)
    for i, image_id in enumerate(ids):
        Image.new("RGB", (40 + i % 7, 30), (i % 256, 80, 120)).save(folder / f"{image_id}.webp", "WEBP")
    return dict(site_url=SITE_URL, title="Many", ids=ids, images=[_image_entry(i, True, (400, 300)) for i in ids],
                hotspots=[{"id": 0, "label": "All", "size": n, "representative": 5}], labels=np.zeros(n, int),
                lightbox=LIGHTBOX, thumbs=LIGHTBOX)


def test_a_big_manifest_is_schema_checked_on_a_sample_and_spec_checked_whole(tmp_path, monkeypatch):
    n = publish.SCHEMA_CANVASES * 3 + 5
    paths = write_collection(tmp_path, **_many(tmp_path, n))
    for path in paths:   # every written document is valid whole
        validate(path)
    assert len(load(tmp_path / "iiif" / "hotspot-0.json")["items"]) == n
    # a canvas the schema sample leaves out is still checked against the spec's rules
    real = publish._Publisher.canvas
    bad = n - 2
    assert bad not in {round(k * (n - 1) / (publish.SCHEMA_CANVASES - 1)) for k in range(publish.SCHEMA_CANVASES)}

    def canvas(self, i):
        c = real(self, i)
        return {**c, "id": "ftp://example.org/c"} if i == bad else c
    monkeypatch.setattr(publish._Publisher, "canvas", canvas)
    other = tmp_path / "other"
    with pytest.raises(InvalidIIIF, match="absolute http"):
        write_collection(other, **_many(other, n))
