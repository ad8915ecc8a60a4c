"""The IIIF test server answers like a real one: rewritten manifests, Image API info.json and sized images
with real pixels, the refusals of a real server, and the faults the fetcher's tests rely on."""
from __future__ import annotations

import io
import json
import socket
import time

import numpy as np
import pytest
import requests
from PIL import Image

from tests.iiif_server import PAINTINGS, SCALE, IIIFServer, path_key, require_shared_iiif
from tests.iiif_server import fresh, srv  # noqa: F401 (fixtures)


@pytest.fixture(autouse=True)
def _fresh(fresh):
    """Every test starts with no faults and an empty request log."""

V3_SERVICE = "iiif.io/api/image/3.0/example/reference/918ecd18c2592080851777620de9bcb5-gottingen"  # level 1
V2_LEVEL1 = "iiif.bodleian.ox.ac.uk/iiif/image/c0c15feb-0406-4cb5-9e0e-b4118eda2c90"
V2_LEVEL2 = "media.nga.gov/iiif/public/objects/1/0/6/3/8/2/106382-primary-0-nativeres.ptif"
V2_LEVEL0 = "apex.dlc.services/thumbs/7/6/c2ad0baa-548c-4ee9-9c7f-11f675677dcc"  # sizes 864x1024 ... 84x100




def get(srv, path, **kw):
    return requests.get(srv.url + path, timeout=10, **kw)


def decode(resp) -> Image.Image:
    return Image.open(io.BytesIO(resp.content))


def walk(node):
    """Every (key, value) pair of a JSON document, depth first."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield k, v
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)


# ---- manifests --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rel", ["cookbook/0005-image-service.json", "presentation-2/bodleian-manifest.json",
                                 "presentation-3/wellcome-p3.json", "presentation-2/nlw-collection.json"])
def test_manifests_point_every_id_back_at_the_server(srv, rel):
    original = json.loads((require_shared_iiif() / rel).read_text(encoding="utf-8"))
    resp = requests.get(srv.manifest_url(rel), timeout=10)
    assert resp.status_code == 200 and "json" in resp.headers["Content-Type"]
    served = resp.json()
    ids = [v for k, v in walk(served) if k in ("id", "@id") and isinstance(v, str) and "://" in v]
    assert ids and all(i.startswith(srv.url) for i in ids), [i for i in ids if not i.startswith(srv.url)][:5]
    # vocabulary and text stay as published
    assert served.get("@context") == original.get("@context")
    assert [v for k, v in walk(served) if k == "profile"] == [v for k, v in walk(original) if k == "profile"]
    assert served.get("label") == original.get("label")
    assert [v for k, v in walk(served) if k == "metadata"] == [v for k, v in walk(original) if k == "metadata"]
    # the same structure, only locations changed
    assert len(list(walk(served))) == len(list(walk(original)))
    first = next(v for k, v in walk(original) if k in ("id", "@id"))
    assert srv.local(first) in json.dumps(served)


def test_escaped_slashes_variant_is_the_same_json(srv):
    rel = "presentation-2/artic-manifest.json"
    plain = requests.get(srv.manifest_url(rel), timeout=10)
    escaped = requests.get(srv.manifest_url(rel, escaped=True), timeout=10)
    assert "\\/" in escaped.text and "\\/" not in plain.text
    assert escaped.json() == plain.json()


def test_manifests_revalidate_with_etag_and_last_modified(srv):
    url = srv.manifest_url("cookbook/0001-mvm-image.json")
    first = requests.get(url, timeout=10)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert requests.get(url, headers={"If-None-Match": etag}, timeout=10).status_code == 304
    assert requests.get(url, headers={"If-None-Match": '"other"'}, timeout=10).status_code == 200
    assert requests.get(url, headers={"If-Modified-Since": modified}, timeout=10).status_code == 304
    assert requests.get(url, headers={"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"},
                        timeout=10).status_code == 200
    assert srv.statuses("0001-mvm-image") == [200, 304, 200, 304, 200]


def test_unknown_paths_are_404(srv):
    for path in ("manifests/no-such.json", "manifests/../README.md", "example.org/iiif/page.html", "",
                 "custom/nothing"):
        assert get(srv, path).status_code == 404, path


def test_custom_manifest_with_spaces_and_unicode(srv):
    service = "https://example.org/iiif/Musée d'Orsay/n° 1"
    url = srv.add_manifest("unicode manifest.json", {
        "id": "https://example.org/manifest", "type": "Manifest", "label": {"fr": ["Musée"]},
        "items": [{"id": "https://example.org/canvas/1", "type": "Canvas", "items": [{
            "type": "AnnotationPage", "items": [{"type": "Annotation", "motivation": "painting", "body": {
                "id": service + "/full/max/0/default.jpg", "type": "Image",
                "service": [{"id": service, "type": "ImageService3", "profile": "level2"}]}}]}]}]})
    doc = requests.get(url, timeout=10).json()
    served_service = doc["items"][0]["items"][0]["items"][0]["body"]["service"][0]["id"]
    assert served_service == srv.url + "example.org/iiif/Musée d'Orsay/n° 1"
    info = requests.get(served_service + "/info.json", timeout=10).json()  # requests percent-encodes it
    assert info["type"] == "ImageService3" and "Orsay" in requests.utils.unquote(info["id"])
    img = requests.get(served_service + "/full/!200,200/0/default.jpg", timeout=10)
    assert img.status_code == 200 and max(decode(img).size) == 200


# ---- Image API ----------------------------------------------------------------------------------------------

def test_info_json_version_follows_the_manifest_or_the_path(srv):
    v3 = get(srv, V3_SERVICE + "/info.json").json()
    assert v3["@context"] == "http://iiif.io/api/image/3/context.json" and v3["type"] == "ImageService3"
    assert v3["id"] == srv.url + V3_SERVICE and v3["profile"] == "level1" and v3["maxWidth"] == 2000
    picture = Image.open(srv.picture_path(V3_SERVICE))
    assert (v3["width"], v3["height"]) == (picture.width * SCALE, picture.height * SCALE)

    v2 = get(srv, V2_LEVEL1 + "/info.json").json()
    assert v2["@context"] == "http://iiif.io/api/image/2/context.json" and v2["@id"] == srv.url + V2_LEVEL1
    assert v2["profile"][0] == "http://iiif.io/api/image/2/level1.json" and v2["profile"][1]["maxWidth"] == 2000

    # a service in a v3 manifest declared as ImageService3 although its path says /2/
    ucla = get(srv, "iiif.library.ucla.edu/iiif/2/UCLA-Library-Logo-double-line-2/info.json").json()
    assert ucla["type"] == "ImageService3"

    # level 0: the declared size and sizes
    l0 = get(srv, V2_LEVEL0 + "/info.json").json()
    assert l0["profile"][0].endswith("level0.json") and (l0["width"], l0["height"]) == (864, 1024)
    assert {"width": 337, "height": 400} in l0["sizes"] and "maxWidth" not in l0["profile"][1]

    # identifiers no manifest declares: the path rule
    assert get(srv, "example.org/iiif/3/abc/info.json").json()["type"] == "ImageService3"
    assert get(srv, "example.org/v3/abc/info.json").json()["type"] == "ImageService3"
    other = get(srv, "example.org/iiif/abc/info.json").json()
    assert "@id" in other and other["profile"][0].endswith("level2.json")
    assert "sizes" in get(srv, "example.org/level0/abc/info.json").json()


def test_sized_requests_answer_real_pixels_of_that_size(srv):
    ident = "example.org/iiif/3/pixels"
    info = get(srv, ident + "/info.json").json()
    full_w, full_h = info["width"], info["height"]
    for size, expect in [("!500,500", None), ("400,", (400, round(full_h * 400 / full_w))),
                         (",300", (round(full_w * 300 / full_h), 300)), ("pct:10", None), ("max", None),
                         ("321,123", (321, 123))]:
        resp = get(srv, f"{ident}/full/{size}/0/default.jpg")
        assert resp.status_code == 200 and resp.headers["Content-Type"] == "image/jpeg", (size, resp.text)
        img = decode(resp)
        assert img.format == "JPEG"
        if expect:
            assert img.size == expect, size
        elif size == "!500,500":
            assert max(img.size) == 500
        elif size == "max":
            assert max(img.size) == 2000 or img.size == (full_w, full_h)
        else:
            assert img.size == (round(full_w / 10), round(full_h / 10))
    # the pixels are the picture's (scaled), not noise
    served = np.asarray(decode(get(srv, f"{ident}/full/!300,300/0/default.jpg")).convert("L"), dtype=float)
    with Image.open(srv.picture_path(ident)) as pic:
        expected = np.asarray(pic.convert("L").resize(served.shape[::-1], Image.BICUBIC), dtype=float)
    assert np.abs(served - expected).mean() < 12
    # region, format, quality, rotation
    assert decode(get(srv, f"{ident}/0,0,100,50/max/0/default.jpg")).size == (100, 50)
    assert decode(get(srv, f"{ident}/square/100,100/0/default.jpg")).size == (100, 100)
    png = get(srv, f"{ident}/full/!64,64/90/gray.png")
    assert png.headers["Content-Type"] == "image/png" and decode(png).mode == "L"
    assert get(srv, f"{ident}/full/!64,64/0/default.webp").headers["Content-Type"] == "image/webp"


def test_refuses_what_a_real_server_refuses(srv):
    big = "example.org/iiif/3/refusals"          # v3 level 2, full size 4 x 640 px > maxWidth 2000
    v2 = "example.org/iiif/refusals"              # v2 level 2
    cases = {
        f"{big}/full/!2500,2500/0/default.jpg": 400,   # above maxWidth
        f"{big}/full/^!2500,2500/0/default.jpg": 400,  # above maxWidth even with ^
        f"{big}/full/full/0/default.jpg": 400,         # 'full' is not a v3 size
        f"{big}/0,0,10,10/20,20/0/default.jpg": 400,   # upscaling without ^
        f"{big}/0,0,10,10/^20,20/0/default.jpg": 200,  # with ^
        f"{big}/full/!100,100/45/default.jpg": 400,    # arbitrary rotation
        f"{big}/full/!100,100/0/default.tif": 400,     # unsupported format
        f"{big}/full/!100,100/0/native.jpg": 400,      # not a v3 quality
        f"{big}/99999,0,10,10/10,/0/default.jpg": 400,  # region outside
        f"{v2}/full/full/0/default.jpg": 400,          # full size is above maxWidth
        f"{v2}/full/^100,/0/default.jpg": 400,         # ^ is not v2 syntax
        f"{v2}/full/!100,100/0/default.jpg": 200,
        f"{V2_LEVEL1}/full/!100,100/0/default.jpg": 400,  # level 1 has no !w,h
        f"{V2_LEVEL1}/full/100,/0/default.jpg": 200,
        f"{V3_SERVICE}/full/!100,100/0/default.jpg": 400,  # v3 level 1 neither
        f"{V3_SERVICE}/full/100,80/0/default.jpg": 200,    # but w,h yes
        f"{V2_LEVEL0}/full/337,400/0/default.jpg": 200,    # a listed size
        f"{V2_LEVEL0}/full/300,/0/default.jpg": 400,       # not listed
        f"{V2_LEVEL0}/0,0,10,10/10,/0/default.jpg": 400,   # level 0: whole image only
        f"{big}/full/!100,100/0": 404,                 # not Image API syntax, not an image
    }
    got = {path: get(srv, path).status_code for path in cases}
    assert got == cases


def test_plain_images_and_media(srv):
    gallica = "gallica.bnf.fr/ark:/12148/btv1b8415221r/f213.highres"  # an image resource without extension
    resp = get(srv, gallica)
    with Image.open(srv.picture_path(gallica)) as pic:
        assert decode(resp).size == (pic.width * SCALE, pic.height * SCALE)
    png = get(srv, "iiif.io/api/presentation/2.1/example/fixtures/resources/page1-full.png")
    assert png.headers["Content-Type"] == "image/png" and decode(png).format == "PNG"
    audio = get(srv, "fixtures.iiif.io/audio/indiana/mahler-symphony-3/CD1/medium/128Kbps.mp4")
    assert audio.status_code == 200 and audio.headers["Content-Type"] == "audio/mp4" and audio.content
    # a service's base URI redirects to its info.json
    redirect = get(srv, V2_LEVEL1, allow_redirects=False)
    assert redirect.status_code == 303 and redirect.headers["Location"].endswith(V2_LEVEL1 + "/info.json")


def test_identifier_to_picture_is_stable_and_spread(srv):
    ids = [f"example.org/iiif/item-{i}" for i in range(40)]
    with IIIFServer(require_shared_iiif(), PAINTINGS) as other:
        assert [srv.picture_path(i) for i in ids] == [other.picture_path(i) for i in ids]
    assert len({srv.picture_path(i) for i in ids}) > 25
    assert path_key("https://example.org/a%20b/") == path_key("/example.org/a b") == "example.org/a b"


@pytest.mark.parametrize("version", [2, 3])
def test_synthetic_manifest(srv, version):
    doc = requests.get(srv.synthetic_manifest_url(12, version=version), timeout=10).json()
    if version == 3:
        canvases = doc["items"]
        services = [c["items"][0]["items"][0]["body"]["service"][0] for c in canvases]
    else:
        canvases = doc["sequences"][0]["canvases"]
        services = [c["images"][0]["resource"]["service"] for c in canvases]
    assert len(canvases) == 12 and len({s.get("id") or s.get("@id") for s in services}) == 12
    sid = services[3].get("id") or services[3]["@id"]
    info = requests.get(sid + "/info.json", timeout=10).json()
    assert (info["width"], info["height"]) == (canvases[3]["width"], canvases[3]["height"])
    assert ("type" in info) == (version == 3)
    img = requests.get(sid + "/full/!256,256/0/default.jpg", timeout=10)
    assert max(decode(img).size) == 256


# ---- faults and the request log ---------------------------------------------------------------------------

def test_faults(srv):
    base = "example.org/faults"
    srv.fault("f404", "404")
    srv.fault("f500", "500")
    srv.fault("f5then2", "500-then-200")
    srv.fault("f429", "429-then-200", retry_after=1)
    srv.fault("fjson", "malformed-json")
    srv.fault("fhtml", "html")
    srv.fault("freset", "reset")
    srv.fault("fslow", "slow", seconds=1.5)
    assert get(srv, f"{base}/f404/info.json").status_code == 404
    assert [get(srv, f"{base}/f500/info.json").status_code for _ in range(3)] == [500, 500, 500]
    assert [get(srv, f"{base}/f5then2/info.json").status_code for _ in range(3)] == [500, 200, 200]
    first = get(srv, f"{base}/f429/info.json")
    assert first.status_code == 429 and first.headers["Retry-After"] == "1"
    assert get(srv, f"{base}/f429/info.json").status_code == 200
    with pytest.raises(json.JSONDecodeError) as e:
        json.loads(get(srv, f"{base}/fjson/info.json").text)
    assert (e.value.lineno, e.value.colno) == (3, 11)
    html = get(srv, f"{base}/fhtml/full/!10,10/0/default.jpg")
    assert html.status_code == 200 and html.headers["Content-Type"].startswith("text/html")
    with pytest.raises(requests.exceptions.ConnectionError):
        get(srv, f"{base}/freset/info.json")
    t = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(srv.url + f"{base}/fslow/info.json", timeout=0.5)
    assert time.monotonic() - t < 1.4
    assert get(srv, f"{base}/fslow/info.json").status_code == 200  # slow, then the normal answer
    srv.clear_faults()
    assert get(srv, f"{base}/f404/info.json").status_code == 200


def test_request_log(srv):
    get(srv, "example.org/log/a/info.json", headers={"User-Agent": "probe/1"})
    get(srv, "example.org/log/b%20c/info.json")
    assert srv.requests == [("GET", "/example.org/log/a/info.json"), ("GET", "/example.org/log/b%20c/info.json")]
    assert srv.count("/log/") == 2 and srv.count("b c") == 1 and srv.count("b%20c") == 1
    assert srv.headers("/log/a/")[0]["User-Agent"] == "probe/1"
    assert srv.statuses("/log/") == [200, 200]


def test_latency_is_added_to_every_answer():
    with IIIFServer(require_shared_iiif(), PAINTINGS, latency=0.3, max_width=500) as slow:
        t = time.monotonic()
        info = requests.get(slow.url + "example.org/x/info.json", timeout=10).json()
        assert time.monotonic() - t >= 0.3
        assert info["profile"][1]["maxWidth"] == 500
        assert requests.get(slow.url + "example.org/x/full/600,/0/default.jpg", timeout=10).status_code == 400


def test_close_frees_the_port():
    server = IIIFServer(require_shared_iiif(), PAINTINGS)
    port = server.port
    server.close()
    server.close()
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0
