"""pixmap.iiif.fetch against a real IIIF server on 127.0.0.1 (tests/iiif_server.py): sized Image API
requests, retries, timeouts, failures named with their URL and reason, and the on-disk cache."""
from __future__ import annotations

import io
import pickle
import socket
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image

import pixmap
from pixmap.iiif.fetch import FetchError, Fetcher, image_request_url
from tests.iiif_server import PAINTINGS, IIIFServer, require_shared_iiif
from tests.iiif_server import fresh, srv  # noqa: F401 (fixtures)


@pytest.fixture(autouse=True)
def _fresh(fresh):
    """Every test starts with no faults and an empty request log."""

FAST = dict(backoff=0.01, timeout=10)




@pytest.fixture
def fetcher(tmp_path):
    with Fetcher(tmp_path / "cache", **FAST) as f:
        yield f


def painted_images(doc: dict) -> list[tuple[dict | None, str]]:
    """(first image service or None, resource id) of every painting image of a v2 or v3 manifest."""
    out = []

    def visit(node):
        if isinstance(node, dict):
            if (node.get("type") or node.get("@type")) in ("Image", "dctypes:Image"):
                svc = node.get("service")
                svc = (svc[0] if svc else None) if isinstance(svc, list) else svc
                out.append((svc, node.get("id") or node.get("@id")))
                return
            for key, value in node.items():
                if key not in ("thumbnail", "logo"):
                    visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(doc)
    return out


def longest_side(data: bytes) -> int:
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        return max(img.size)


# ---- image_request_url (pure) --------------------------------------------------------------------------------

V2 = {"@context": "http://iiif.io/api/image/2/context.json", "@id": "https://example.org/iiif/2/abc",
      "protocol": "http://iiif.io/api/image", "width": 6000, "height": 4000,
      "profile": ["http://iiif.io/api/image/2/level2.json"]}
V3 = {"@context": "http://iiif.io/api/image/3/context.json", "id": "https://example.org/iiif/3/abc",
      "type": "ImageService3", "protocol": "http://iiif.io/api/image", "width": 4000, "height": 6000,
      "profile": "level2"}


@pytest.mark.parametrize("info, max_side, expected", [
    (V2, 1024, "https://example.org/iiif/2/abc/full/!1024,1024/0/default.jpg"),
    (V3, 1024, "https://example.org/iiif/3/abc/full/!1024,1024/0/default.jpg"),
    # never upscaled: the whole image at its own size
    ({**V3, "width": 300, "height": 200}, 1024, "https://example.org/iiif/3/abc/full/!300,200/0/default.jpg"),
    # trailing slash and /info.json in the id
    ({**V3, "id": "https://example.org/iiif/3/abc/"}, 512,
     "https://example.org/iiif/3/abc/full/!512,512/0/default.jpg"),
    ({**V2, "@id": "https://example.org/iiif/2/abc/info.json"}, 512,
     "https://example.org/iiif/2/abc/full/!512,512/0/default.jpg"),
    # maxWidth (maxHeight defaults to it), maxHeight alone, v2 limits inside the profile
    ({**V3, "maxWidth": 800}, 1024, "https://example.org/iiif/3/abc/full/!800,800/0/default.jpg"),
    ({**V3, "maxWidth": 3000, "maxHeight": 700}, 1024, "https://example.org/iiif/3/abc/full/!1024,700/0/default.jpg"),
    ({**V2, "profile": ["http://iiif.io/api/image/2/level2.json", {"maxWidth": 600}]}, 1024,
     "https://example.org/iiif/2/abc/full/!600,600/0/default.jpg"),
    # maxArea: 6000x4000 scaled to at most 240000 px
    ({**V2, "profile": ["http://iiif.io/api/image/2/level2.json", {"maxArea": 240000}]}, 1024,
     "https://example.org/iiif/2/abc/full/!600,400/0/default.jpg"),
    # level 1: no !w,h; the longest side by w, or ,h
    ({**V2, "profile": "http://iiif.io/api/image/2/level1.json"}, 1024,
     "https://example.org/iiif/2/abc/full/1024,/0/default.jpg"),
    ({**V3, "profile": "level1"}, 1024, "https://example.org/iiif/3/abc/full/,1024/0/default.jpg"),
    ({**V3, "profile": "level1", "maxWidth": 500}, 1024, "https://example.org/iiif/3/abc/full/,500/0/default.jpg"),
    # ... unless the service lists sizeByConfinedWh
    ({**V3, "profile": "level1", "extraFeatures": ["sizeByConfinedWh"]}, 1024,
     "https://example.org/iiif/3/abc/full/!1024,1024/0/default.jpg"),
    # level 0: the smallest listed size whose longest side is >= max_side, else the largest
    ({**V3, "profile": "level0", "sizes": [{"width": 400, "height": 600}, {"width": 1000, "height": 1500},
                                           {"width": 100, "height": 150}]}, 700,
     "https://example.org/iiif/3/abc/full/1000,1500/0/default.jpg"),
    ({**V3, "profile": "level0", "sizes": [{"width": 400, "height": 600}, {"width": 1000, "height": 1500},
                                           {"width": 100, "height": 150}]}, 512,
     "https://example.org/iiif/3/abc/full/400,600/0/default.jpg"),
    ({**V2, "profile": ["http://iiif.io/api/image/2/level0.json"],
      "sizes": [{"width": 300, "height": 200}, {"width": 600, "height": 400}]}, 1024,
     "https://example.org/iiif/2/abc/full/600,400/0/default.jpg"),
    ({**V3, "profile": "level0"}, 512, "https://example.org/iiif/3/abc/full/max/0/default.jpg"),
    # Image API 1.1 (Stanford, Gallica): quality native
    ({"@context": "http://library.stanford.edu/iiif/image-api/1.1/context.json", "@id": "https://example.org/x",
      "width": 2000, "height": 1000,
      "profile": "http://library.stanford.edu/iiif/image-api/1.1/compliance.html#level1"},
     1000, "https://example.org/x/full/1000,/0/native.jpg"),
])
def test_image_request_url(info, max_side, expected):
    assert image_request_url(info, max_side) == expected


def test_image_request_url_needs_an_id_and_a_size():
    with pytest.raises(ValueError, match="no id"):
        image_request_url({"width": 10, "height": 10, "profile": "level2"}, 100)
    with pytest.raises(ValueError, match="width and height"):
        image_request_url({"id": "https://example.org/x", "type": "ImageService3", "profile": "level2"}, 100)


# ---- images through the server ----------------------------------------------------------------------------

@pytest.mark.parametrize("rel", ["cookbook/0005-image-service.json",          # v3 level 1, service without size
                                 "presentation-2/bodleian-manifest.json",   # v2 level 1, info.json needed
                                 "presentation-2/nga-manifest.json",        # v2 level 2
                                 "presentation-2/bl-manifest.json",         # v2 level 2 with width/height inline
                                 "presentation-3/wellcome-p3.json",         # ImageService2 inside v3
                                 "presentation-2/stanford-manifest.json",   # Image API 1.1, %25 in the id
                                 "presentation-3/bodleian.json"])
def test_images_through_a_service_are_sized_never_full(srv, fetcher, rel):
    images = painted_images(fetcher.json(srv.manifest_url(rel)))[:2]
    assert images
    for service, url in images:
        data, fetched = fetcher.image_bytes(service=service, url=url, max_side=512)
        assert longest_side(data) <= 512 and fetched.startswith(srv.url)
        assert "/full/full/" not in fetched and "/full/max/" not in fetched
    image_requests = [p for m, p in srv.requests if p.endswith(".jpg")]
    assert image_requests and not [p for p in image_requests if "/full/full/" in p or "/full/max/" in p]
    assert all(s == 200 for s in srv.statuses(".jpg"))


def test_level0_service_picks_a_listed_size(srv, fetcher):
    service, url = painted_images(fetcher.json(srv.manifest_url("presentation-3/wellcome-p3.json")))[0]
    thumbs = {"@id": service["@id"].replace("/iiif-img/", "/thumbs/"), "@type": "ImageService2",
              "profile": "http://iiif.io/api/image/2/level0.json"}
    info = fetcher.json(thumbs["@id"] + "/info.json")
    data, fetched = fetcher.image_bytes(service=thumbs, url=None, max_side=300)
    listed = [(s["width"], s["height"]) for s in info["sizes"]]
    with Image.open(io.BytesIO(data)) as img:
        assert img.size in listed and max(img.size) >= 300


def test_complete_inline_service_needs_no_info_json(srv, fetcher):
    images = painted_images(fetcher.json(srv.manifest_url("presentation-2/bl-manifest.json")))
    service, url = images[0]
    assert service.get("width") and service.get("profile")
    fetcher.image_bytes(service=service, url=url, max_side=400)
    assert srv.count("info.json") == 0


def test_inline_service_refused_then_info_json_gives_the_limits(srv, fetcher):
    # the manifest says a big level-2 image but not the server's maxWidth (2000): asking for 3000 px is
    # refused (400), then the info.json says maxWidth and the second request fits
    ident = "https://example.org/inline-limits/img"
    srv.add_manifest("inline-limits.json", {"id": "https://example.org/m", "type": "Manifest", "items": [
        {"id": "https://example.org/c", "type": "Canvas", "items": [{"type": "AnnotationPage", "items": [{
            "type": "Annotation", "motivation": "painting", "body": {
                "id": ident + "/full/max/0/default.jpg", "type": "Image", "service": [
                    {"id": ident, "type": "ImageService3", "profile": "level2", "width": 8000,
                     "height": 6000}]}}]}]}]})
    doc = fetcher.json(srv.url + "custom/inline-limits.json")
    service, url = painted_images(doc)[0]
    data, fetched = fetcher.image_bytes(service=service, url=url, max_side=3000)
    assert fetched.endswith("/full/!2000,2000/0/default.jpg") and longest_side(data) == 2000
    assert srv.statuses("/inline-limits/img/full/") == [400, 200] and srv.count("info.json") == 1


def test_without_a_service_the_url_itself(srv, fetcher):
    url = srv.url + "iiif.io/api/presentation/2.1/example/fixtures/resources/page1-full.png"
    data, fetched = fetcher.image_bytes(service=None, url=url, max_side=512)
    assert fetched == url and data.startswith(b"\x89PNG") and srv.count("page1-full.png") == 1


def test_urls_with_spaces_unicode_and_escaped_slashes(srv, fetcher):
    service = {"id": srv.url + "example.org/iiif/3/Musée d'Orsay/n° 7", "type": "ImageService3",
               "profile": "level2"}
    data, fetched = fetcher.image_bytes(service=service, url=None, max_side=256)
    assert longest_side(data) == 256 and srv.count("Musée d'Orsay/n° 7/full/!256,256/") == 1
    plain = srv.url.replace("/", "\\/") + "example.org\\/scans\\/page one.jpg"
    data, fetched = fetcher.image_bytes(service=None, url=plain, max_side=256)
    assert fetched == srv.url + "example.org/scans/page one.jpg" and srv.count("/scans/page%20one.jpg") == 1
    manifest = fetcher.json(srv.manifest_url("presentation-2/artic-manifest.json", escaped=True))
    assert manifest["@id"].startswith(srv.url)


def test_user_agent_names_pixmap(srv, fetcher):
    fetcher.json(srv.manifest_url("cookbook/0001-mvm-image.json"))
    agent = srv.headers("0001-mvm-image")[0]["User-Agent"]
    assert agent.startswith(f"pixmap/{pixmap.__version__}")


# ---- failures ------------------------------------------------------------------------------------------------

def test_404_is_not_retried(srv, fetcher):
    srv.fault("t404", "404")
    url = srv.url + "example.org/t404/a.jpg"
    with pytest.raises(FetchError) as e:
        fetcher.image_bytes(service=None, url=url, max_side=100)
    assert e.value.url == url and e.value.reason == "HTTP 404 Not Found" and e.value.status == 404
    assert str(e.value) == f"{url}: HTTP 404 Not Found"
    assert srv.count("t404") == 1


def test_500_then_200_is_retried(srv, fetcher):
    srv.fault("t5then2", "500-then-200", times=2)
    data, _ = fetcher.image_bytes(service={"id": srv.url + "example.org/t5then2/img"}, url=None, max_side=100)
    assert longest_side(data) == 100
    assert srv.statuses("t5then2/img/info.json") == [500, 500, 200]


def test_429_waits_for_retry_after(srv, fetcher):
    srv.fault("t429", "429-then-200", retry_after=1)
    t = time.monotonic()
    fetcher.image_bytes(service=None, url=srv.url + "example.org/t429/a.jpg", max_side=100)
    assert time.monotonic() - t >= 0.9
    assert srv.statuses("t429") == [429, 200]


def test_500_forever_fails_after_the_retries(srv, tmp_path):
    srv.fault("t500", "500")
    url = srv.url + "example.org/t500/manifest.json"
    with Fetcher(tmp_path, retries=2, backoff=0.01) as f, pytest.raises(FetchError) as e:
        f.json(url)
    assert str(e.value) == f"{url}: HTTP 500 Internal Server Error after 2 retries"
    assert srv.count("t500") == 3


def test_slow_answer_times_out(srv, tmp_path):
    srv.fault("tslow", "slow", seconds=4)
    url = srv.url + "example.org/tslow/info.json"
    t = time.monotonic()
    with Fetcher(tmp_path, timeout=1, retries=0) as f, pytest.raises(FetchError) as e:
        f.json(url)
    assert time.monotonic() - t < 3
    assert e.value.url == url and e.value.reason == "timed out after 1 s"


def test_connection_reset_and_unreachable_host(srv, fetcher):
    srv.fault("treset", "reset")
    with pytest.raises(FetchError) as e:
        fetcher.json(srv.url + "example.org/treset/manifest.json")
    assert "connection" in e.value.reason and "(5 attempts)" in e.value.reason
    assert srv.count("treset") == 5

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/manifest.json"
    with pytest.raises(FetchError) as e:
        fetcher.json(url)
    assert e.value.url == url and e.value.reason.startswith("cannot connect")


def test_malformed_json_says_where(srv, fetcher):
    srv.fault("tjson", "malformed-json")
    url = srv.url + "example.org/tjson/manifest.json"
    with pytest.raises(FetchError) as e:
        fetcher.json(url)
    assert e.value.url == url and e.value.reason.startswith("malformed JSON at line 3 column 11")


def test_html_or_a_list_where_json_was_expected(srv, fetcher):
    srv.fault("thtmljson", "html")
    with pytest.raises(FetchError, match=r"not JSON \(the server sent text/html\)"):
        fetcher.json(srv.url + "example.org/thtmljson/manifest.json")
    url = srv.add_manifest("a-list.json", [{"id": "https://example.org/1"}])
    with pytest.raises(FetchError, match="not a JSON object"):
        fetcher.json(url)


def test_local_json_files(fetcher, tmp_path):
    doc = fetcher.json(require_shared_iiif() / "cookbook" / "0001-mvm-image.json")
    assert doc["type"] == "Manifest"
    assert fetcher.json(str(require_shared_iiif() / "cookbook" / "0001-mvm-image.json")) == doc
    with pytest.raises(FetchError, match="no such file"):
        fetcher.json(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"a": 1,\n "b": }')
    with pytest.raises(FetchError) as e:
        fetcher.json(bad)
    assert e.value.url == str(bad) and "malformed JSON at line 2 column 7" in e.value.reason


def test_html_where_an_image_was_expected(srv, fetcher):
    srv.fault("thtml", "html")
    page = srv.url + "example.org/thtml/viewer.jpg"
    with pytest.raises(FetchError) as e:
        fetcher.image_bytes(service=None, url=page, max_side=100)
    assert e.value.url == page and e.value.reason == "not an image (the server sent text/html)"
    # with a service too, the service is asked (and the HTML page never)
    srv.clear_requests()
    service = {"id": srv.url + "example.org/html-fallback/img", "profile": "level2"}
    data, fetched = fetcher.image_bytes(service=service, url=page, max_side=100)
    assert longest_side(data) == 100 and fetched.startswith(service["id"]) and srv.count("thtml") == 0


def test_a_failing_service_falls_back_to_the_resource_url(srv, fetcher):
    srv.fault("broken-service", "404")
    service = {"@id": srv.url + "example.org/broken-service/img", "profile": "level2"}
    plain = srv.url + "example.org/plain/img.jpg"
    data, fetched = fetcher.image_bytes(service=service, url=plain, max_side=100)
    assert fetched == plain and data.startswith(b"\xff\xd8")
    audio = srv.url + "fixtures.iiif.io/audio/indiana/mahler-symphony-3/CD1/medium/128Kbps.mp4"
    with pytest.raises(FetchError) as e:
        fetcher.image_bytes(service=service, url=audio, max_side=100)
    assert e.value.url == service["@id"] + "/info.json" and "HTTP 404 Not Found" in e.value.reason
    assert f"{audio} failed too: not an image (the server sent audio/mp4)" in e.value.reason


def test_fetch_error_survives_pickling():
    e = pickle.loads(pickle.dumps(FetchError("https://example.org/x", "HTTP 404 Not Found", 404)))
    assert (e.url, e.reason, e.status, str(e)) == ("https://example.org/x", "HTTP 404 Not Found", 404,
                                                   "https://example.org/x: HTTP 404 Not Found")


# ---- cache and concurrency ---------------------------------------------------------------------------------

def test_second_fetcher_downloads_no_image_and_revalidates_json(srv, tmp_path):
    rel = "presentation-2/bodleian-manifest.json"  # level-1 services without size: info.json per image
    with Fetcher(tmp_path, **FAST) as first:
        images = painted_images(first.json(srv.manifest_url(rel)))[:4]
        got = [first.image_bytes(service=s, url=u, max_side=300) for s, u in images]
        for _ in range(5):
            first.json(srv.manifest_url(rel))  # memoised: one request per process
    assert srv.count("bodleian-manifest") == 1 and srv.count(".jpg") == 4
    srv.clear_requests()
    with Fetcher(tmp_path, **FAST) as second:
        assert painted_images(second.json(srv.manifest_url(rel)))[:4] == images
        again = [second.image_bytes(service=s, url=u, max_side=300) for s, u in images]
    assert again == got
    assert srv.count(".jpg") == 0
    assert set(srv.statuses("")) == {304}  # the manifest and each info.json, revalidated
    assert all("If-None-Match" in h for h in srv.headers(""))
    # another size is another request
    with Fetcher(tmp_path, **FAST) as third:
        third.image_bytes(service=images[0][0], url=images[0][1], max_side=200)
    assert srv.count(".jpg") == 1


def test_concurrent_downloads_share_one_session(srv, tmp_path):
    ids = [{"id": srv.url + f"example.org/iiif/3/concurrent-{i}", "type": "ImageService3",
            "profile": "level2", "width": 2000, "height": 1500} for i in range(16)]
    with Fetcher(tmp_path, workers=8, **FAST) as f, ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda s: f.image_bytes(service=s, url=None, max_side=128), ids * 2))
    assert all(longest_side(data) == 128 for data, _ in results)
    assert results[:16] == results[16:]
    assert srv.count("/concurrent-") == 16  # each image fetched once, though asked twice at once


def test_workers_bound_the_requests_in_flight(tmp_path):
    with IIIFServer(require_shared_iiif(), PAINTINGS, latency=0.15) as slow, \
            Fetcher(None, workers=3, **FAST) as f, ThreadPoolExecutor(12) as pool:
        urls = [slow.url + f"example.org/bound/{i}.jpg" for i in range(12)]
        list(pool.map(lambda u: f.image_bytes(service=None, url=u, max_side=64), urls))
        assert slow.count("/bound/") == 12 and 2 <= slow.max_in_flight <= 3


def test_unwritable_cache_is_one_warning(srv, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Fetcher(blocker / "cache", **FAST) as f:
            url = srv.url + "example.org/nocache/a.jpg"
            for _ in range(3):
                f.image_bytes(service=None, url=url, max_side=64)
            f.json(srv.manifest_url("cookbook/0001-mvm-image.json"))
            assert f.cache_dir is None
    assert len(caught) == 1 and "cannot write the download cache" in str(caught[0].message)
    assert srv.count("/nocache/") == 3  # no cache: downloaded each time


def test_cached_json_is_used_when_the_server_is_gone(tmp_path):
    with IIIFServer(require_shared_iiif(), PAINTINGS) as gone:
        url = gone.manifest_url("cookbook/0001-mvm-image.json")
        with Fetcher(tmp_path, **FAST) as f:
            doc = f.json(url)
    with Fetcher(tmp_path, retries=0) as f, pytest.warns(RuntimeWarning, match="using the copy cached"):
        assert f.json(url) == doc


def test_threads_share_one_manifest_request(srv, fetcher):
    url = srv.manifest_url("presentation-2/nlw-collection.json")
    barrier = threading.Barrier(8)

    def load(_):
        barrier.wait()
        return fetcher.json(url)

    with ThreadPoolExecutor(8) as pool:
        docs = list(pool.map(load, range(8)))
    assert all(d == docs[0] for d in docs) and srv.count("nlw-collection") == 1
    docs[0]["label"] = "changed"  # callers get copies
    assert fetcher.json(url)["label"] != "changed"
