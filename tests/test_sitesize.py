"""pixmap.sitesize: the size report of a real small build equals the files on disk, and says what to change
when a site is near or over GitHub Pages' limits."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from pixmap import sitesize

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "datasets" / "aic-paintings"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    import pixmap

    tmp = tmp_path_factory.mktemp("sitesize")
    return pixmap.build(images=DEMO / "images", metadata=DEMO / "metadata.csv", out_dir=tmp / "site",
                        cache_dir=tmp / "cache", max_images=24, progress=False).out_dir


def _on_disk(site: Path):
    """Every non-hidden file under the site, by os.walk (independently of sitesize's own walk)."""
    out = {}
    for folder, dirs, files in os.walk(site):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if not name.startswith("."):
                path = Path(folder) / name
                out[path.relative_to(site).as_posix()] = os.path.getsize(path)
    return out


def test_the_figures_equal_the_files_on_disk(site):
    disk = _on_disk(site)
    s = sitesize.pages_sizes(site)
    assert s["total"] == sum(disk.values()) and s["files"] == len(disk)
    assert sum(b for b, _ in s["by_kind"].values()) == s["total"]
    assert sum(n for _, n in s["by_kind"].values()) == s["files"]
    thumbs = {k: v for k, v in disk.items() if k.startswith("data/thumbs/")}
    lightbox = {k: v for k, v in disk.items() if k.startswith("data/lightbox/")}
    atlases = {k: v for k, v in disk.items() if k.startswith("data/atlas/")}
    assert s["by_kind"]["thumbnails"] == (sum(thumbs.values()), 24)
    assert s["by_kind"]["lightbox images"] == (sum(lightbox.values()), 24)
    assert s["by_kind"]["atlases"] == (sum(atlases.values()), len(atlases))
    biggest = max(disk.items(), key=lambda kv: (kv[1], [-ord(c) for c in kv[0]]))
    assert s["largest"][0] == biggest
    assert sitesize.folder_bytes(site) == (s["total"], s["files"])


def test_the_build_report_keeps_its_lines_and_adds_the_pages_check(site):
    text = sitesize.report(site)
    assert text.startswith("Site size: ")
    assert "similar images and graph" in text and "recommendation vectors" in text
    total = sitesize.pages_sizes(site)["total"]
    assert f"GitHub Pages: fits ({sitesize._mb(total)} in " in text
    assert re.search(r"by kind: atlases [\d.]+ [KM]B \(\d+ files\), thumbnails", text)
    assert "largest files: " in text


def test_a_site_near_the_limit_gets_a_warning_and_what_to_change(site, monkeypatch):
    total = sitesize.pages_sizes(site)["total"]
    monkeypatch.setattr(sitesize, "PAGES_SITE_LIMIT", int(total / 0.8))   # the site is 80% of the limit
    text = sitesize.pages_report(site)
    assert "Warning: the site is close to GitHub Pages' limits" in text and "80% of the 1 GB" in text
    assert "--lightbox-size 512" in text and "--thumb-size 0" in text
    monkeypatch.setattr(sitesize, "PAGES_SITE_LIMIT", total // 2)
    assert "does NOT fit on GitHub Pages" in sitesize.pages_report(site)
    monkeypatch.setattr(sitesize, "PAGES_SITE_LIMIT", total * 2)   # 50%: fits, no warning
    assert "GitHub Pages: fits" in sitesize.pages_report(site)


def test_a_file_over_the_file_limit_is_named(site, monkeypatch):
    biggest, size = sitesize.pages_sizes(site)["largest"][0]
    monkeypatch.setattr(sitesize, "PAGES_FILE_LIMIT", size - 1)
    text = sitesize.pages_report(site)
    assert f"{biggest} is " in text and "over the 100 MB file limit" in text and "does NOT fit" in text
