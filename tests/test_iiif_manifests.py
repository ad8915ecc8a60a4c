"""pixmap.iiif.manifests: IIIF Presentation 2.x and 3.0 manifests and collections -> images to map.

Run on every real manifest, collection and cookbook recipe in ../shared/iiif (see its README). No
network: read_iiif gets an in-memory fetch_json that serves the shared files by the id they give
themselves ("@id" / "id"), and raises for any other URL, as a server answering 404 would.
"""
from __future__ import annotations

import copy
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from pixmap.iiif.manifests import (IIIFImage, Problem, images_from_document, is_iiif_text_file,
                                   read_iiif)

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "iiif"
MARKUP = re.compile(r"<[A-Za-z!/?]")
EN = ["en"]

# Images per file, counted by hand from the JSON: canvases that paint an image (v2: sequences[0].canvases
# with an oa:Annotation in `images`; v3: items with a painting annotation whose body is an image).
EXPECTED_IMAGES = {
    "cookbook/0001-mvm-image.json": 1,
    "cookbook/0002-mvm-audio.json": 0,                 # sound: a Problem
    "cookbook/0004-canvas-size.json": 1,
    "cookbook/0005-image-service.json": 1,
    "cookbook/0006-text-language.json": 1,
    "cookbook/0007-string-formats.json": 1,
    "cookbook/0008-rights.json": 1,
    "cookbook/0009-book-1.json": 5,
    "cookbook/0029-metadata-anywhere.json": 2,
    "cookbook/0032-collection-collection.json": 0,     # a collection: 2 members
    "cookbook/0032-collection-manifest-01.json": 1,
    "cookbook/0032-collection-manifest-02.json": 1,
    "cookbook/0033-choice.json": 1,
    "cookbook/0036-composition-from-multiple-images.json": 1,
    "cookbook/0047-homepage.json": 1,
    "cookbook/0117-add-image-thumbnail.json": 1,
    "cookbook/0118-multivalue.json": 1,
    "cookbook/0202-start-canvas.json": 5,
    "cookbook/0230-navdate-navdate-collection.json": 0,
    "cookbook/0230-navdate-navdate_map_1-manifest.json": 1,
    "cookbook/0230-navdate-navdate_map_2-manifest.json": 1,
    "cookbook/0234-provider.json": 1,
    "cookbook/0283-missing-image.json": 3,             # 4 canvases, the second paints nothing
    "cookbook/0299-region.json": 1,
    "presentation-2/artic-manifest.json": 2,
    "presentation-2/bl-manifest.json": 20,
    "presentation-2/bodleian-manifest.json": 149,
    "presentation-2/body-choice.json": 19,
    "presentation-2/duplicate-member-collection.json": 0,
    "presentation-2/ghent.json": 1,
    "presentation-2/iiif-fixture-collection.json": 0,
    "presentation-2/iiif-fixture-manifest-with-dimensions.json": 1,
    "presentation-2/iiif-fixture-manifest.json": 1,
    "presentation-2/malformed-image-annotation.json": 0,
    "presentation-2/manifest-l0.json": 24,
    "presentation-2/nga-manifest.json": 26,
    "presentation-2/nls-manifest.json": 40,
    "presentation-2/nlw-collection.json": 0,
    "presentation-2/nlw-manifest.json": 12,
    "presentation-2/stanford-manifest.json": 2,
    "presentation-2/thumbnails.json": 7,
    "presentation-2/villanova-manifest.json": 2,
    "presentation-2/wellcome-collection.json": 0,
    "presentation-3/accompanying-canvas.json": 0,      # sound (the accompanying image is not painted)
    "presentation-3/bodleian.json": 1,
    "presentation-3/css.json": 1,
    "presentation-3/has-part.json": 1,
    "presentation-3/start-canvas.json": 5,
    "presentation-3/wellcome-collection.json": 0,
    "presentation-3/wellcome-p3.json": 10,
}
# Member references of the collections (distinct, in document order).
EXPECTED_MEMBERS = {
    "cookbook/0032-collection-collection.json": 2,
    "cookbook/0230-navdate-navdate-collection.json": 2,
    "presentation-2/duplicate-member-collection.json": 1,    # listed twice
    "presentation-2/iiif-fixture-collection.json": 55,
    "presentation-2/nlw-collection.json": 65,                # 130 entries: "manifests" and "members" repeat
    "presentation-2/wellcome-collection.json": 4,
    "presentation-3/wellcome-collection.json": 4,
}
EXPECTED_PROBLEMS = {
    "cookbook/0002-mvm-audio.json": 1,
    "cookbook/0283-missing-image.json": 1,
    "presentation-2/malformed-image-annotation.json": 1,
    "presentation-3/accompanying-canvas.json": 1,
}


# --- shared data ----------------------------------------------------------------------------------------

def require_shared() -> Path:
    if not SHARED.is_dir():
        message = f"shared IIIF test data missing: {SHARED} (see shared/iiif/README.md)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return SHARED


def load(relative: str) -> dict:
    return json.loads((require_shared() / relative).read_text(encoding="utf-8"))


def read(relative: str, **kwargs) -> tuple[list[IIIFImage], list[str], list[Problem]]:
    kwargs.setdefault("language", EN)
    return images_from_document(load(relative), f"https://test.invalid/{relative}", **kwargs)


@pytest.fixture(scope="module")
def by_id() -> dict[str, Path]:
    """Every shared file by its own id (the first file, in sorted order, when two share an id)."""
    index: dict[str, Path] = {}
    for path in sorted(require_shared().glob("*/*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        own = doc.get("id", doc.get("@id"))
        if isinstance(own, str):
            index.setdefault(own, path)
    return index


class Server:
    """An in-memory fetch_json: shared files by id, extra documents by URL, local files by path.
    Records every call; raises, with a message, for anything else."""

    def __init__(self, files: dict[str, Path], extra: dict[str, dict] | None = None):
        self.files = files
        self.extra = dict(extra or {})
        self.calls: list[str] = []

    def __call__(self, url: str) -> dict:
        self.calls.append(url)
        if url in self.extra:
            return copy.deepcopy(self.extra[url])
        if url in self.files:
            return json.loads(self.files[url].read_text(encoding="utf-8"))
        if not url.startswith(("http://", "https://")) and Path(url).is_file():
            return json.loads(Path(url).read_text(encoding="utf-8"))
        raise OSError(f"HTTP 404 Not Found: {url}")


@pytest.fixture
def server(by_id) -> Server:
    return Server(by_id)


def manifest_v3(url: str, *images: str, label="M") -> dict:
    """A small v3 manifest painting the given image URLs, one canvas each."""
    return {"@context": "http://iiif.io/api/presentation/3/context.json", "id": url, "type": "Manifest",
            "label": {"en": [label]},
            "items": [{"id": f"{url}/canvas/{i}", "type": "Canvas", "width": 100, "height": 80,
                       "items": [{"id": f"{url}/page/{i}", "type": "AnnotationPage",
                                  "items": [{"id": f"{url}/anno/{i}", "type": "Annotation",
                                             "motivation": "painting", "target": f"{url}/canvas/{i}",
                                             "body": {"id": image, "type": "Image", "format": "image/jpeg"}}]}]}
                      for i, image in enumerate(images)]}


def collection_v3(url: str, *members: str, kind="Manifest") -> dict:
    return {"@context": "http://iiif.io/api/presentation/3/context.json", "id": url, "type": "Collection",
            "label": {"en": [url]}, "items": [{"id": m, "type": kind} for m in members]}


# --- every shared file ----------------------------------------------------------------------------------

def test_the_tables_cover_every_shared_file():
    files = {str(p.relative_to(require_shared())) for p in SHARED.glob("*/*.json")}
    assert files == set(EXPECTED_IMAGES)


@pytest.mark.parametrize("relative", sorted(EXPECTED_IMAGES))
def test_every_shared_file(relative):
    images, members, problems = read(relative)
    assert len(images) == EXPECTED_IMAGES[relative]
    assert len(members) == EXPECTED_MEMBERS.get(relative, 0)
    assert len(problems) == EXPECTED_PROBLEMS.get(relative, 0), problems
    for image in images:
        assert image.url and image.canvas_id and image.manifest_id and image.manifest_label
        assert isinstance(image.width, int) and isinstance(image.height, int)
        assert image.metadata["title"] and image.metadata["canvas_id"] == image.canvas_id
        assert image.metadata["canvas_index"] == str(image.canvas_index)
        for key, value in image.metadata.items():
            assert isinstance(value, str) and value.strip(), key
            assert not MARKUP.search(value), (key, value)
        if image.service is not None:
            assert image.service["type"] in ("ImageService1", "ImageService2", "ImageService3")
            assert not image.service["id"].endswith(("/", "/info.json"))
    assert [i.canvas_index for i in images] == sorted({i.canvas_index for i in images})


def test_counts_match_the_json():
    """A few counted independently: every canvas of these manifests paints one image."""
    for relative in ("presentation-2/bodleian-manifest.json", "presentation-2/nls-manifest.json",
                     "presentation-2/bl-manifest.json"):
        canvases = load(relative)["sequences"][0]["canvases"]
        assert len(read(relative)[0]) == len(canvases)
    assert len(load("presentation-2/bodleian-manifest.json")["sequences"][0]["canvases"]) == 149
    assert len(read("presentation-3/wellcome-p3.json")[0]) == len(load("presentation-3/wellcome-p3.json")["items"])


def test_collection_members():
    nlw = load("presentation-2/nlw-collection.json")
    assert len(nlw["manifests"]) + len(nlw["members"]) == 130
    _, members, _ = read("presentation-2/nlw-collection.json")
    assert members == [m["@id"] for m in nlw["manifests"]]
    _, members, _ = read("presentation-2/iiif-fixture-collection.json")
    assert members[0] == "http://iiif.io/api/presentation/2.1/example/fixtures/1/manifest.json"
    assert len(set(members)) == 55
    _, members, _ = read("cookbook/0032-collection-collection.json")
    assert members == ["https://iiif.io/api/cookbook/recipe/0032-collection/manifest-01.json",
                       "https://iiif.io/api/cookbook/recipe/0032-collection/manifest-02.json"]


def test_relative_member_references_are_resolved():
    doc = {"@context": "http://iiif.io/api/presentation/2/context.json", "@id": "https://h.org/c/top.json",
           "@type": "sc:Collection", "manifests": [{"@id": "m1.json", "@type": "sc:Manifest"}, "../m2.json"]}
    _, members, _ = images_from_document(doc, "https://h.org/c/top.json", language=EN)
    assert members == ["https://h.org/c/m1.json", "https://h.org/m2.json"]


# --- read_iiif: collections, duplicates, cycles, depth, pages -----------------------------------------

def test_read_collection_through_fetch(server):
    seen = []
    images, problems = read_iiif(["https://iiif.io/api/cookbook/recipe/0032-collection/collection.json"],
                                 server, language=EN, on_document=seen.append)
    assert problems == []
    assert [i.manifest_label for i in images] == ["The Gulf Stream", "Northeaster"]
    assert seen == server.calls == ["https://iiif.io/api/cookbook/recipe/0032-collection/collection.json",
                                    "https://iiif.io/api/cookbook/recipe/0032-collection/manifest-01.json",
                                    "https://iiif.io/api/cookbook/recipe/0032-collection/manifest-02.json"]
    assert images[0].metadata["Artist"] == "Winslow Homer (1836–1910)"


def test_navdate_collection(server):
    images, problems = read_iiif(["https://iiif.io/api/cookbook/recipe/0230-navdate/navdate-collection.json"],
                                 server, language=EN)
    assert problems == []
    assert [i.metadata["date"] for i in images] == ["1986-01-01", "1987-01-01"]
    assert [i.metadata["navDate"] for i in images] == ["1986-01-01", "1987-01-01"]
    # the two manifests share a canvas id: both are kept, told apart by their manifest
    assert images[0].canvas_id == images[1].canvas_id and images[0].manifest_id != images[1].manifest_id


def test_fetch_errors_become_problems(server):
    images, problems = read_iiif(["http://iiif.io/api/presentation/2.1/example/fixtures/collection.json"],
                                 server, language=EN)
    assert len(images) == 1                              # only fixture 1 is among the shared files
    assert images[0].manifest_label == "Test 1 Manifest: Minimum Required Fields"
    assert len(problems) == 54 and all("HTTP 404 Not Found" in p.reason for p in problems)
    assert problems[0].url == "http://iiif.io/api/presentation/2.1/example/fixtures/2/manifest.json"


def test_fetch_returning_a_non_object_is_a_problem():
    images, problems = read_iiif(["https://x.org/list.json"], lambda url: [1, 2], language=EN)
    assert images == [] and "not an object" in problems[0].reason


def test_duplicate_member_collection_read_once(server):
    """The shared Harvard collection lists its only member under "collections" and "members"."""
    images, problems = read_iiif(["https://iiif.harvardartmuseums.org/collections/"], server, language=EN)
    assert images == []
    assert server.calls.count("https://iiif.harvardartmuseums.org/collections/object") == 1
    assert [p.url for p in problems] == ["https://iiif.harvardartmuseums.org/collections/object"]


def test_same_manifest_twice_gives_its_images_once(server):
    url = "https://iiif.io/api/cookbook/recipe/0009-book-1/manifest.json"
    server.extra["https://x.org/twice.json"] = {
        "@context": "http://iiif.io/api/presentation/2/context.json", "@id": "https://x.org/twice.json",
        "@type": "sc:Collection", "manifests": [{"@id": url, "@type": "sc:Manifest"}],
        "members": [{"@id": url, "@type": "sc:Manifest"}]}
    server.extra["https://x.org/again.json"] = collection_v3("https://x.org/again.json", url, url)
    images, problems = read_iiif(["https://x.org/twice.json", "https://x.org/again.json", url], server,
                                 language=EN)
    assert problems == []
    assert len(images) == 5
    assert server.calls.count(url) == 1


def test_documents_with_the_same_id_are_read_once(server, tmp_path):
    """Two files that are the same manifest (same @id): read once."""
    shared = require_shared() / "presentation-2"
    images, problems = read_iiif([str(shared / "iiif-fixture-manifest.json"),
                                  str(shared / "iiif-fixture-manifest-with-dimensions.json")], server,
                                 language=EN)
    assert len(images) == 1 and problems == []


def test_cycle_terminates(server):
    server.extra["https://x.org/self.json"] = collection_v3(
        "https://x.org/self.json", "https://x.org/self.json", "https://x.org/other.json", kind="Collection")
    server.extra["https://x.org/other.json"] = collection_v3(
        "https://x.org/other.json", "https://x.org/self.json",
        "https://iiif.io/api/cookbook/recipe/0001-mvm-image/manifest.json", kind="Collection")
    server.extra["https://x.org/other.json"]["items"][1]["type"] = "Manifest"
    images, problems = read_iiif(["https://x.org/self.json"], server, language=EN)
    assert problems == []
    assert [i.manifest_label for i in images] == ["Single Image Example"]
    assert server.calls.count("https://x.org/self.json") == 1
    assert server.calls.count("https://x.org/other.json") == 1


def test_depth_limit(server):
    chain = [f"https://x.org/level{n}.json" for n in range(6)]
    for parent, child in zip(chain, chain[1:]):
        server.extra[parent] = collection_v3(parent, child, kind="Collection")
    server.extra[chain[-1]] = collection_v3(chain[-1], "https://x.org/m.json")
    server.extra["https://x.org/m.json"] = manifest_v3("https://x.org/m.json", "https://x.org/i.jpg")
    images, problems = read_iiif([chain[0]], server, language=EN, max_depth=3)
    assert images == []
    assert len(problems) == 1 and problems[0].url == chain[3]
    assert "nested more than 3 deep" in problems[0].reason
    assert chain[4] not in server.calls
    images, problems = read_iiif([chain[0]], Server({}, server.extra), language=EN, max_depth=6)
    assert [i.url for i in images] == ["https://x.org/i.jpg"] and problems == []


def test_paged_v2_collection(server):
    """A v2 paged collection: the top names its first page, each page the next; pages are not levels."""
    def page(n, manifests, next_page=None):
        doc = {"@context": "http://iiif.io/api/presentation/2/context.json",
               "@id": f"https://x.org/paged?page={n}", "@type": "sc:Collection",
               "within": "https://x.org/paged", "startIndex": n,
               "manifests": [{"@id": m, "@type": "sc:Manifest", "label": m} for m in manifests]}
        if next_page:
            doc["next"] = next_page
        return doc

    server.extra.update({
        "https://x.org/paged": {"@context": "http://iiif.io/api/presentation/2/context.json",
                                "@id": "https://x.org/paged", "@type": "sc:Collection", "label": "Paged",
                                "total": 3, "first": "https://x.org/paged?page=1"},
        "https://x.org/paged?page=1": page(1, ["https://x.org/m1"], "https://x.org/paged?page=2"),
        "https://x.org/paged?page=2": page(2, ["https://x.org/m2", "https://x.org/m3"],
                                           "https://x.org/paged?page=1"),      # a loop back: ignored
        "https://x.org/m1": manifest_v3("https://x.org/m1", "https://x.org/1.jpg"),
        "https://x.org/m2": manifest_v3("https://x.org/m2", "https://x.org/2.jpg"),
        "https://x.org/m3": manifest_v3("https://x.org/m3", "https://x.org/3.jpg"),
    })
    _, members, _ = images_from_document(server.extra["https://x.org/paged"], "https://x.org/paged", language=EN)
    assert members == ["https://x.org/paged?page=1"]
    images, problems = read_iiif(["https://x.org/paged"], server, language=EN, max_depth=1)
    assert problems == []
    assert [i.url for i in images] == ["https://x.org/1.jpg", "https://x.org/2.jpg", "https://x.org/3.jpg"]


def test_embedded_members_are_read_in_place():
    inner = manifest_v3("https://x.org/embedded", "https://x.org/e.jpg")
    doc = collection_v3("https://x.org/c", "https://x.org/by-reference")
    doc["items"].insert(0, inner)
    images, members, problems = images_from_document(doc, "https://x.org/c", language=EN)
    assert [i.url for i in images] == ["https://x.org/e.jpg"]
    assert members == ["https://x.org/by-reference"] and problems == []


# --- canvases: choices, sound, malformed, missing, compositions, regions -------------------------------

def test_first_canvas_only():
    images, _, _ = read("presentation-2/bodleian-manifest.json", first_canvas_only=True)
    assert len(images) == 1 and images[0].canvas_index == 0
    assert images[0].canvas_label == "MS. 1407 fol. 1r"
    doc = load("cookbook/0283-missing-image.json")
    doc["items"] = doc["items"][1:]                  # the first canvas paints nothing: the next one counts
    images, _, problems = images_from_document(doc, "m.json", language=EN, first_canvas_only=True)
    assert [i.canvas_index for i in images] == [1] and len(problems) == 1


def test_first_canvas_only_skips_sound():
    doc = load("cookbook/0009-book-1.json")
    audio = load("cookbook/0002-mvm-audio.json")["items"][0]
    doc["items"].insert(0, audio)
    images, _, problems = images_from_document(doc, "book.json", language=EN, first_canvas_only=True)
    assert [i.canvas_label for i in images] == ["Blank page"]
    assert "paints Sound, not an image" in problems[0].reason


def test_v2_choice_gives_the_default():
    images, _, _ = read("presentation-2/body-choice.json")
    assert images[0].url == "https://dlc.services/iiif-img/22/2/X.010r_VIS/full/!2000,2000/0/default.jpg"
    assert images[0].service["id"] == "https://dlc.services/iiif-img/22/2/X.010r_VIS"
    assert all("_VIS" in i.url and "_IR" not in i.url for i in images)


def test_v3_choice_gives_the_first_item():
    images, _, _ = read("cookbook/0033-choice.json")
    assert images[0].url.endswith("-dee-natural/full/max/0/default.jpg")
    assert images[0].service["id"].endswith("-dee-natural")


def test_audio_is_a_problem():
    images, _, problems = read("cookbook/0002-mvm-audio.json")
    assert images == []
    assert problems[0].url == "https://iiif.io/api/cookbook/recipe/0002-mvm-audio/canvas"
    assert problems[0].reason.endswith("canvas 1 of 1 in https://test.invalid/cookbook/0002-mvm-audio.json: "
                                       "paints Sound, not an image")
    _, _, problems = read("presentation-3/accompanying-canvas.json")
    assert "paints Sound, not an image" in problems[0].reason
    video = manifest_v3("https://x.org/v", "https://x.org/v.mp4")
    video["items"][0]["items"][0]["items"][0]["body"] = {"id": "https://x.org/v.mp4", "format": "video/mp4"}
    _, _, problems = images_from_document(video, "v", language=EN)
    assert "paints Video, not an image" in problems[0].reason


def test_malformed_annotation_is_a_problem():
    images, _, problems = read("presentation-2/malformed-image-annotation.json")
    assert images == []
    assert problems[0].url == "https://example.org/canvas/1"
    assert "malformed" in problems[0].reason and "dctypes:Image" in problems[0].reason
    doc = load("presentation-2/iiif-fixture-manifest.json")
    del doc["sequences"][0]["canvases"][0]["images"][0]["resource"]
    _, _, problems = images_from_document(doc, "x", language=EN)
    assert "no resource" in problems[0].reason


def test_missing_image_is_a_problem():
    images, _, problems = read("cookbook/0283-missing-image.json")
    assert [i.canvas_index for i in images] == [0, 2, 3]
    assert [i.canvas_label for i in images] == ["f. 1r", "f. 2r", "f. 2v"]
    assert problems[0].url == "https://iiif.io/api/cookbook/recipe/0283-missing-image/canvas/p2"
    assert "canvas 2 of 4" in problems[0].reason and "paints nothing" in problems[0].reason


def test_composition_takes_the_whole_canvas_image(caplog):
    with caplog.at_level("DEBUG", logger="pixmap.iiif.manifests"):
        images, _, problems = read("cookbook/0036-composition-from-multiple-images.json")
    assert len(images) == 1 and problems == []
    assert images[0].url.endswith("-bnf_chateauroux/full/max/0/default.jpg")
    assert (images[0].width, images[0].height) == (7216, 5412)
    assert any("composed" in r.message for r in caplog.records)


def test_specific_resource_and_region():
    images, _, _ = read("cookbook/0299-region.json")
    assert images[0].url.endswith("-newspaper-p2/full/max/0/default.jpg")
    assert images[0].metadata["region"] == "1768,2423,1768,2080"
    assert (images[0].width, images[0].height) == (1768, 2080)


def test_canvas_size():
    images, _, _ = read("cookbook/0004-canvas-size.json")
    assert (images[0].width, images[0].height) == (1920, 1080)       # the canvas, not the 640x360 image
    assert images[0].service is None


# --- image services -------------------------------------------------------------------------------------

def service_of(relative, index=0):
    return read(relative)[0][index].service


def test_service_v3():
    assert service_of("cookbook/0005-image-service.json") == {
        "id": "https://iiif.io/api/image/3.0/example/reference/918ecd18c2592080851777620de9bcb5-gottingen",
        "type": "ImageService3", "profile": "level1", "width": None, "height": None,
        "maxWidth": None, "maxHeight": None, "maxArea": None, "sizes": []}
    # a trailing slash is dropped
    assert service_of("cookbook/0230-navdate-navdate_map_1-manifest.json")["id"] == \
        "https://iiif.io/api/image/3.0/example/reference/43153e2ec7531f14dd1c9b2fc401678a-88695674"


def test_service_v2_inside_v3():
    service = service_of("presentation-3/wellcome-p3.json")
    assert service["id"] == "https://dlcs.io/iiif-img/wellcome/6/b28857021_0001.jp2"
    assert (service["type"], service["profile"]) == ("ImageService2", "level1")
    assert (service["width"], service["height"]) == (2670, 4412)


def test_service_both_versions_offered_newest_wins():
    service = service_of("presentation-3/bodleian.json")
    assert service["type"] == "ImageService3"
    assert service["id"] == "https://iiif.bodleian.ox.ac.uk/iiif/image/012b1e0f-8c9e-48e7-83d6-5e51a70253b4"


def test_service_v2_profiles():
    artic = service_of("presentation-2/artic-manifest.json")
    assert (artic["type"], artic["profile"]) == ("ImageService2", "level2")
    bl = service_of("presentation-2/bl-manifest.json")              # profile: [uri, {qualities...}]
    assert (bl["type"], bl["profile"], bl["width"], bl["height"]) == ("ImageService2", "level2", 2503, 3375)
    stanford = service_of("presentation-2/stanford-manifest.json")  # Image API 1.1
    assert (stanford["type"], stanford["profile"]) == ("ImageService1", "level1")
    gallica = [i.service for i in read("presentation-2/bodleian-manifest.json")[0]
               if "gallica" in i.service["id"]]
    assert gallica and all(s["type"] == "ImageService1" and s["profile"] == "level2" for s in gallica)


def test_service_odd_shapes():
    doc = load("presentation-2/iiif-fixture-manifest.json")
    resource = doc["sequences"][0]["canvases"][0]["images"][0]["resource"]
    resource["service"] = [
        {"@id": "https://x.org/search", "profile": "http://iiif.io/api/search/0/search"},  # not an image
        {"@id": "https://x.org/iiif/img/info.json", "profile": [
            "http://iiif.io/api/image/2/level0.json",
            {"maxWidth": 1000, "maxArea": 500000, "formats": ["jpg"]}],
         "width": 4000, "height": 3000,
         "sizes": [{"width": 400, "height": 300}, {"width": 1000, "height": 750}, {"width": "x"}]}]
    images, _, _ = images_from_document(doc, "x", language=EN)
    assert images[0].service == {"id": "https://x.org/iiif/img", "type": "ImageService2", "profile": "level0",
                                 "width": 4000, "height": 3000, "maxWidth": 1000, "maxHeight": None,
                                 "maxArea": 500000,
                                 "sizes": [{"width": 400, "height": 300}, {"width": 1000, "height": 750}]}
    resource["service"] = {"@id": "https://x.org/bare/", "profile": "level2"}
    assert images_from_document(doc, "x", language=EN)[0][0].service["id"] == "https://x.org/bare"
    resource["service"] = {"@id": "https://x.org/search", "profile": "http://iiif.io/api/search/0/search"}
    assert images_from_document(doc, "x", language=EN)[0][0].service is None


# --- metadata -------------------------------------------------------------------------------------------

def test_language_maps_give_the_chosen_language():
    fr = read("cookbook/0006-text-language.json", language=["fr"])[0][0]
    assert fr.manifest_label == "La Mère de Whistler"
    assert fr.metadata["Auteur"] == "Whistler, James Abbott McNeill"
    assert fr.metadata["Sujet"] == "McNeill Anna Matilda, mère de Whistler (1804-1881)"
    assert fr.metadata["attribution"] == "Détenu par: Musée d'Orsay, Paris, France"
    assert fr.metadata["description"].startswith("Arrangement en gris et noir n°1")
    en = read("cookbook/0006-text-language.json", language=["de"])[0][0]   # German: none, then English
    assert en.metadata["title"] == "Whistler's Mother"
    assert en.metadata["Creator"] == "Whistler, James Abbott McNeill"
    multi = read("cookbook/0118-multivalue.json")[0][0]
    assert multi.metadata["Alternative titles"] == "Whistler's Mother; Arrangement in Grey and Black No. 1"
    assert multi.manifest_label == "Arrangement en gris et noir no 1"       # only French there


def test_v2_language_lists_in_metadata():
    welsh = read("presentation-2/nlw-manifest.json", language=["cy"])[0][0]
    assert welsh.metadata["Teitl"] == "Yr ardd"                            # "Title" in Welsh
    assert welsh.metadata["Ystorfa"] == "Digidwyd y cynnwys hwn gan Lyfrgell Genedlaethol Cymru"
    # a pair without a label keeps its value, under "metadata"
    assert welsh.metadata["metadata"] == \
        "Gweld y cofnod catalog llawn (http://id.llyfrgell.cymru/vtls003029975)"
    assert welsh.metadata["description"].startswith("Cylchgrawn misol, Cymraeg ei iaith")
    english = read("presentation-2/nlw-manifest.json")[0][0]
    assert english.metadata["description"].startswith("A monthly Welsh language periodical")
    assert english.metadata["metadata: Title"] == "Yr ardd"
    assert english.metadata["Repository"] == "This content has been digitised by The National Library of Wales"
    assert english.metadata["rights"] == "https://creativecommons.org/publicdomain/mark/1.0/"   # HTML license
    level0 = read("presentation-2/manifest-l0.json")[0][0]                 # a v3 label in a v2 manifest
    assert level0.manifest_label == "level 0 example"


def test_html_in_values_gives_plain_text():
    wellcome = read("presentation-3/wellcome-p3.json")[0][0]
    attribution = wellcome.metadata["attribution"]
    assert attribution.startswith("Attribution and usage: Wellcome Collection; You have permission")
    assert "Creative Commons, Attribution license (http://creativecommons.org/licenses/by/4.0/)" in attribution
    assert "<" not in attribution
    nls = read("presentation-2/nls-manifest.json")[0][0]
    assert nls.metadata["attribution"] == \
        "National Library of Scotland\nLicense: CC BY 4.0 (http://creativecommons.org/licenses/by/4.0/)"
    villanova = read("presentation-2/villanova-manifest.json")[0][0]
    assert villanova.metadata["description"] == "6b/2/2 OM E467.S53"
    assert villanova.metadata["Full Title"] == "Letter, To: Ellie From: A. M. Thackara, April 12, 1882."


def test_hostile_values():
    doc = manifest_v3("https://x.org/m", "https://x.org/i.jpg")
    doc["label"] = {"en": ["<script>alert(1)</script>Nice <b>title</b>"]}
    doc["metadata"] = [{"label": {"en": ["<img src=x onerror=alert(1)>Link"]},
                        "value": {"en": ['<a href="javascript:alert(1)">click</a> &lt;b&gt;']}}]
    doc["homepage"] = [{"id": "javascript:alert(1)", "type": "Text"}]
    doc["thumbnail"] = [{"id": "javascript:alert(2)", "type": "Image"}]
    image = images_from_document(doc, "x", language=EN)[0][0]
    assert image.manifest_label == "Nice title"
    assert image.metadata["Link"] == "click"
    assert "permalink" not in image.metadata and "thumbnail" not in image.metadata
    assert not any(MARKUP.search(v) or "javascript" in v for v in image.metadata.values())


def test_fixed_fields():
    book = read("cookbook/0009-book-1.json")[0]
    assert book[1].metadata["title"] == "Simple Manifest - Book — Frontispiece"   # several canvases
    assert book[1].metadata["manifest"] == "Simple Manifest - Book"
    assert book[1].canvas_label == "Frontispiece" and book[1].canvas_index == 1
    single = read("cookbook/0005-image-service.json")[0][0]
    assert single.metadata["title"] == "Picture of Göttingen taken during the 2019 IIIF Conference"
    rights = read("cookbook/0008-rights.json")[0][0].metadata
    assert rights["rights"] == "http://creativecommons.org/licenses/by-sa/3.0/"
    assert rights["attribution"] == ("Attribution: Glen Robson, IIIF Technical Coordinator. CC BY-SA 3.0 "
                                     "(https://creativecommons.org/licenses/by-sa/3.0)")
    assert read("cookbook/0234-provider.json")[0][0].metadata["provider"] == "UCLA Library"
    assert read("cookbook/0047-homepage.json")[0][0].metadata["permalink"] == \
        "https://www.getty.edu/art/collection/object/103RQQ"
    assert read("cookbook/0117-add-image-thumbnail.json")[0][0].metadata["thumbnail"].endswith(
        "-ucla_bib1987273_no001_rs_001/full/max/0/default.jpg")
    villanova = read("presentation-2/villanova-manifest.json")[0][0].metadata
    assert villanova["permalink"] == "https://digital.library.villanova.edu/Item/vudl:30471"   # v2 related
    assert villanova["rights"] == "http://creativecommons.org/licenses/by-sa/4.0/"             # v2 license
    assert villanova["attribution"] == "Digital Library@Villanova University"
    artic = read("presentation-2/artic-manifest.json")[0][0].metadata
    assert artic["manifest_url"] == "https://api.artic.edu/api/v1/artworks/27992/manifest.json"
    assert artic["canvas_index"] == "0"


def test_metadata_labels_unique_and_never_reserved():
    bodleian = read("presentation-3/bodleian.json")[0][0].metadata
    assert bodleian["title"] == "Bodleian Library LP 44"
    assert bodleian["metadata: Title"] == "Portrait of a woman, called Mary, Queen of Scots (1542–1587)"
    assert bodleian["description"] == "Portrait of a woman, called Mary, Queen of Scots (1542–1587)"
    assert bodleian["metadata: Description"].startswith("A copy of the portrait overpainted on LP 46")
    stanford = read("presentation-2/stanford-manifest.json")[0][0].metadata
    assert [k for k in stanford if k.startswith("Bibliography")] == ["Bibliography", "Bibliography_2",
                                                                     "Bibliography_3"]
    bl = read("presentation-2/bl-manifest.json")[0][0].metadata
    assert bl["metadata: Date"] == "1917-1919" and "date" not in bl


def test_canvas_metadata():
    """Metadata on canvases (cookbook 0029): each canvas its own pairs, with the manifest's."""
    first, second = read("cookbook/0029-metadata-anywhere.json")[0]
    assert first.metadata["metadata: Description"].startswith("The scene is the house at Mortlake")
    assert second.metadata["metadata: Description"].startswith("The painting originally showed Dee")
    assert first.metadata["Creator"] == second.metadata["Creator"] == "Glindoni, Henry Gillard, 1852-1913"
    assert first.metadata["title"].endswith(" — Painting under natural light")


def test_nav_date():
    assert read("presentation-3/bodleian.json")[0][0].metadata["date"] == "1838-01-01"
    assert read("presentation-2/nlw-manifest.json")[0][0].metadata["navDate"] == "1864-01-01"
    doc = load("cookbook/0230-navdate-navdate_map_1-manifest.json")
    doc["items"][0]["navDate"] = "1986-05-17T00:00:00Z"                   # the canvas's date wins
    image = images_from_document(doc, "x", language=EN)[0][0]
    assert (image.metadata["navDate"], image.metadata["date"]) == ("1986-05-17", "1986-05-17")
    doc["items"][0]["navDate"] = "not a date"
    assert images_from_document(doc, "x", language=EN)[0][0].metadata["date"] == "1987-01-01"


# --- inputs: a canvas, files, folders, text files -----------------------------------------------------

def test_single_canvas_v3():
    manifest = load("cookbook/0005-image-service.json")
    canvas = dict(manifest["items"][0], **{"@context": manifest["@context"],
                                            "partOf": [{"id": manifest["id"], "type": "Manifest",
                                                        "label": manifest["label"]}]})
    images, members, problems = images_from_document(canvas, "canvas.json", language=EN)
    assert len(images) == 1 and members == [] and problems == []
    assert images[0].manifest_id == manifest["id"]
    assert images[0].manifest_label == "Picture of Göttingen taken during the 2019 IIIF Conference"
    assert images[0].canvas_label == "Canvas with a single IIIF image"
    assert images[0].service["type"] == "ImageService3"


def test_single_canvas_v2(server):
    manifest = load("presentation-2/nga-manifest.json")
    canvas = dict(manifest["sequences"][0]["canvases"][3], **{"@context": manifest["@context"]})
    server.extra["https://x.org/canvas"] = canvas
    images, problems = read_iiif(["https://x.org/canvas"], server, language=EN)
    assert len(images) == 1 and problems == []
    assert images[0].canvas_id == canvas["@id"] and images[0].url == canvas["images"][0]["resource"]["@id"]
    assert images[0].canvas_label == canvas["label"] == images[0].metadata["title"]


def test_local_files_and_folder(server, tmp_path):
    shared = require_shared()
    folder = tmp_path / "saved"
    folder.mkdir()
    for name in ("presentation-2/stanford-manifest.json", "cookbook/0001-mvm-image.json",
                 "cookbook/0002-mvm-audio.json"):
        shutil.copy(shared / name, folder / Path(name).name)
    (folder / "notes.txt").write_text("not json", encoding="utf-8")
    (tmp_path / "empty").mkdir()
    images, problems = read_iiif([str(folder), str(tmp_path / "empty"), str(tmp_path / "missing.json")],
                                 server, language=EN)
    # sorted: 0001, 0002 (sound), stanford
    assert [i.manifest_label for i in images] == ["Single Image Example", "Roman Imperial denarius",
                                                  "Roman Imperial denarius"]
    assert [p.url for p in problems] == [str(tmp_path / "empty"), str(tmp_path / "missing.json"),
                                         "https://iiif.io/api/cookbook/recipe/0002-mvm-audio/canvas"]
    assert "no .json files" in problems[0].reason and "no such file" in problems[1].reason


def test_text_file_of_urls(server, tmp_path):
    shared = require_shared()
    (tmp_path / "local").mkdir()
    shutil.copy(shared / "cookbook/0047-homepage.json", tmp_path / "local" / "laocoon.json")
    listing = tmp_path / "manifests.txt"
    listing.write_text(
        "\ufeff# IIIF manifests to map\n"
        "\n"
        "https://iiif.io/api/cookbook/recipe/0001-mvm-image/manifest.json\n"
        "   # an indented comment\n"
        "https://iiif.io/api/cookbook/recipe/0032-collection/collection.json   # two paintings\n"
        "local/laocoon.json\n"
        "\n"
        "https://nowhere.invalid/manifest.json\n", encoding="utf-8")
    assert is_iiif_text_file(listing)
    calls = []
    images, problems = read_iiif([str(listing)], server, language=EN, on_document=calls.append)
    assert [i.manifest_label for i in images] == ["Single Image Example", "The Gulf Stream", "Northeaster",
                                                  "Laocöon"]
    assert [p.url for p in problems] == ["https://nowhere.invalid/manifest.json"]
    assert len(calls) == 6 and calls[-2] == str(tmp_path / "local" / "laocoon.json")


def test_is_iiif_text_file(tmp_path):
    def file(name, content):
        path = tmp_path / name
        path.write_text(content, encoding="utf-8")
        return path

    assert is_iiif_text_file(file("a.txt", "# urls\nhttps://x.org/m.json\nhttp://y.org/m\n"))
    assert is_iiif_text_file(file("b", "saved/one.json\n\n../two.JSON\n"))
    assert not is_iiif_text_file(file("c.txt", "https://x.org/m.json\nsome words\n"))
    assert not is_iiif_text_file(file("d.txt", "# only a comment\n\n"))
    assert not is_iiif_text_file(file("e.json", "https://x.org/m.json\n"))
    assert not is_iiif_text_file(file("f.txt", '{"@id": "https://x.org/m.json"}'))
    (tmp_path / "g.txt").write_bytes(b"https://x.org/\xff\xfe.json\n")
    assert not is_iiif_text_file(tmp_path / "g.txt")
    assert not is_iiif_text_file(tmp_path / "missing.txt")
    assert not is_iiif_text_file(tmp_path)


def test_not_a_presentation_document(server):
    server.extra["https://x.org/info.json"] = {
        "@context": "http://iiif.io/api/image/2/context.json", "@id": "https://x.org/img",
        "protocol": "http://iiif.io/api/image", "width": 10, "height": 10,
        "profile": ["http://iiif.io/api/image/2/level1.json"]}
    server.extra["https://x.org/other.json"] = {"hello": "world"}
    images, problems = read_iiif(["https://x.org/info.json", "https://x.org/other.json"], server, language=EN)
    assert images == []
    assert "info.json" in problems[0].reason and "not a IIIF manifest" in problems[1].reason


def test_empty_collection_is_a_problem(server):
    server.extra["https://x.org/empty"] = collection_v3("https://x.org/empty")
    images, problems = read_iiif("https://x.org/empty", server, language=EN)     # one entry as a string
    assert images == [] and [p.url for p in problems] == ["https://x.org/empty"]
    assert "empty collection" in problems[0].reason


def test_default_language_from_the_locale(server, monkeypatch):
    monkeypatch.setattr("pixmap.iiif.manifests.default_languages", lambda: ["fr", "en"])
    images, _ = read_iiif(["https://iiif.io/api/cookbook/recipe/0006-text-language/manifest.json"], server)
    assert images[0].manifest_label == "La Mère de Whistler"


def test_reads_what_iiif_prezi3_writes():
    """A manifest built with iiif-prezi3 (the v3 reference library) reads back."""
    from iiif_prezi3 import Manifest

    manifest = Manifest(id="https://x.org/prezi3.json", label={"en": ["Built with iiif-prezi3"]})
    canvas = manifest.make_canvas(id="https://x.org/prezi3/canvas/1", height=800, width=600,
                                  label={"none": ["p. 1"]})
    canvas.add_image(image_url="https://x.org/img/1/full/max/0/default.jpg", anno_page_id="https://x.org/p/1",
                     anno_id="https://x.org/a/1", format="image/jpeg", height=800, width=600,
                     service=[{"id": "https://x.org/img/1", "type": "ImageService3", "profile": "level2"}])
    doc = json.loads(manifest.json())
    images, _, problems = images_from_document(doc, doc["id"], language=EN)
    assert problems == [] and len(images) == 1
    assert (images[0].url, images[0].width, images[0].height) == ("https://x.org/img/1/full/max/0/default.jpg",
                                                                  600, 800)
    assert images[0].service["id"] == "https://x.org/img/1"
    assert images[0].manifest_label == "Built with iiif-prezi3"


def test_a_canvas_label_that_names_the_work_is_the_title_alone():
    """The Art Institute's canvases repeat the manifest's label in their own: the title is not doubled."""
    doc = json.loads((SHARED / "presentation-2" / "artic-manifest.json").read_text(encoding="utf-8"))
    images, _, _ = images_from_document(doc, "artic", language=["en"])
    assert len(images) == 2
    for im in images:
        title = im.metadata["title"]
        assert title.count("A Sunday on La Grande Jatte") == 1 and "Seurat" in title, title
