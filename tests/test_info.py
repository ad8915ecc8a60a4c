"""pixmap.info and `pixmap info SITE`: what a real small build holds, as text and as JSON."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import pixmap
from pixmap import info, sitesize
from pixmap.cli import main

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "datasets" / "aic-paintings"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("info")
    return pixmap.build(images=DEMO / "images", metadata=DEMO / "metadata.csv", out_dir=tmp / "site",
                        cache_dir=tmp / "cache", max_images=16, progress=False).out_dir


def test_describe_reads_the_manifest_and_the_files(site):
    manifest = json.loads((site / "data" / "manifest.json").read_text())
    facts = info.describe(site)
    assert facts["count"] == 16 == manifest["count"]
    assert facts["pixmap"] == pixmap.__version__ and facts["format_version"] == manifest["version"]
    assert [lay["name"] for lay in facts["layouts"]] == [lay["name"] for lay in manifest["layouts"]]
    assert facts["hotspots"]["count"] == len(manifest["clusters"]["hotspots"])
    assert "title" in facts["fields"] and "year" in facts["fields"]
    assert facts["size"]["total"] == sitesize.folder_bytes(site)[0]
    assert facts["size"]["files"] == sitesize.folder_bytes(site)[1]


def test_the_command_prints_text_and_json(site):
    out = CliRunner().invoke(main, ["info", str(site)])
    assert out.exit_code == 0, out.output
    assert "images: 16" in out.output and f"built by pixmap {pixmap.__version__}, site format version" in out.output
    assert "layouts: umap (2D)" in out.output and "hotspots: " in out.output and "size: " in out.output
    as_json = CliRunner().invoke(main, ["info", str(site), "--json"])
    assert json.loads(as_json.output) == json.loads(json.dumps(info.describe(site)))


def test_a_folder_that_is_not_a_site_is_a_clear_error(tmp_path):
    out = CliRunner().invoke(main, ["info", str(tmp_path)])
    assert out.exit_code != 0 and "has no data/manifest.json" in out.output
