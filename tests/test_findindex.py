"""The find stage in real builds (pixmap.findindex): the demo with its metadata, and flower photos with none.

What the search index, facets and content terms hold is tested in test_searchindex.py, test_facets.py and
test_content.py; here: that `pixmap build` writes them (site format 4), that the pipeline's content terms
make the photos findable by what they show and by colour, and that hotspots without a category are named
by their content.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import pixmap
from pixmap import findindex, searchindex
from pixmap.site import read_metadata

FLOWERS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "flowers5" / "images"


def test_demo_build_is_version_4_with_search_facets_and_content(built_site_result):
    site = built_site_result.out_dir
    man = json.loads((site / "data" / "manifest.json").read_text())
    assert man["version"] == 6
    search = man["search"]
    assert search["docs"] == 267 and {"title", "artist", "content", "colour"} <= set(search["fields"])
    for key in search["keys"]:
        assert (site / search["dir"] / "dict" / f"{key}.json").is_file()
    marker = json.loads((site / ".pixmap-site").read_text())["files"]
    assert any(f.startswith("data/search/postings/") for f in marker)
    facets = {f["field"]: f for f in man["facets"]}
    assert facets["category"]["kind"] == "category" and facets["year"]["kind"] == "range"
    assert man["content"]["classes"] is True and len(man["content"]["palette"]) >= 10

    meta = read_metadata(site)
    title = meta["fields"].index("title")
    # a title is found by a prefix of one of its words, while typing
    i = next(k for k, r in enumerate(meta["rows"]) if r[title] and "Presentation in the Temple" in r[title])
    hits = searchindex.search(site, "presentation tem", typing=True)
    assert i in [h for h, _ in hits[:3]]
    # an artist field query limits to that field
    artist = meta["fields"].index("artist")
    hits = searchindex.search(site, "artist:pozzi")
    assert hits and all("pozzi" in str(meta["rows"][h][artist]).lower() for h, _ in hits)


def test_search_language_option_is_checked_and_used():
    assert findindex.search_language({"search_language": "fr"}) == "fr"
    assert findindex.search_language({"language": "de,en"}) == "de"
    assert findindex.search_language({"language": "ja"}) == "en"
    from pixmap.options import DEFAULTS, OptionError, check_options

    with pytest.raises(OptionError, match="search-language"):
        check_options({**DEFAULTS, "search_language": "xx"})


@pytest.fixture(scope="module")
def flowers_site(tmp_path_factory):
    """Daisies, sunflowers and roses, no metadata: what the images show is all there is to search."""
    if not FLOWERS.is_dir():
        message = f"the flowers photos are missing: expected {FLOWERS}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    folder = tmp_path_factory.mktemp("flowers") / "images"
    for label in ("daisy", "sunflower", "rose"):
        (folder / label).mkdir(parents=True)
        for p in sorted((FLOWERS / label).iterdir())[:20]:
            (folder / label / p.name).symlink_to(p)
    res = pixmap.build(images=folder, out_dir=folder.parent / "site", cache_dir=folder.parent / "cache",
                       progress=False, layouts="umap")
    return res


def _labels(site, hits):
    meta = read_metadata(site)
    return [meta["rows"][h][0].split("/")[0] for h, _ in hits]


def test_photos_without_metadata_are_found_by_what_they_show(flowers_site):
    site = flowers_site.out_dir
    man = json.loads((site / "data" / "manifest.json").read_text())
    # no metadata: the only filters are the image scores the build measures (pixmap.descriptors)
    from pixmap.descriptors import SCORE_NAMES
    assert sorted(f["field"] for f in man["facets"]) == sorted(SCORE_NAMES)
    assert all(f["kind"] == "range" for f in man["facets"])
    assert "content" in man["search"]["fields"] and "colour" in man["search"]["fields"]
    daisy = _labels(site, searchindex.search(site, "daisy")[:10])
    assert daisy.count("daisy") >= 7, daisy
    # a broader term from the WordNet hierarchy: "flower" reaches daisies (ImageNet has no sunflower/rose)
    flower = _labels(site, searchindex.search(site, "flowers")[:10])   # (plural: stemmed)
    assert flower.count("daisy") >= 5, flower
    yellow = _labels(site, searchindex.search(site, "yellow")[:10])
    assert yellow.count("sunflower") >= 6, yellow
    # a typo still finds
    assert _labels(site, searchindex.search(site, "daisyy")[:10]).count("daisy") >= 7


def test_hotspots_without_a_category_are_named_by_their_content(flowers_site):
    man = json.loads((flowers_site.out_dir / "data" / "manifest.json").read_text())
    labels = [h["label"] for h in man["clusters"]["hotspots"]]
    assert labels and any(not lab.startswith("Cluster ") for lab in labels), labels
