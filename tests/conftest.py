"""Shared fixtures: real builds of real images, made once per test session."""
from __future__ import annotations

import csv
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from tests.browser import browser, page  # noqa: F401 (one Chromium for the whole session)

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "datasets" / "aic-paintings"
XSS = '<img src=x onerror="window.__xss=1">'


def pytest_configure(config):
    """One LiteRT conversion of the model for the whole session (pixmap.models.model_cache_root), however
    many builds with their own cache folders the tests make; tests of the conversion cache itself pass
    their folders explicitly."""
    if not os.environ.get("PIXMAP_MODEL_CACHE"):
        config._pixmap_model_cache = tempfile.mkdtemp(prefix="pixmap-test-models-")
        os.environ["PIXMAP_MODEL_CACHE"] = config._pixmap_model_cache


def pytest_unconfigure(config):
    folder = getattr(config, "_pixmap_model_cache", None)
    if folder:
        os.environ.pop("PIXMAP_MODEL_CACHE", None)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def demo_metadata(tmp_path_factory) -> Path:
    """The demo's metadata.csv with hostile text in the first painting's title (an XSS probe)."""
    folder = tmp_path_factory.mktemp("meta")
    with open(DEMO / "metadata.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    rows[0]["title"] = XSS
    rows[0]["description"] = "A <b>bold</b> claim & more"
    fields = list(rows[0].keys())
    path = folder / "metadata.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.fixture(scope="session")
def built_site_result(tmp_path_factory, demo_metadata):
    """A real build (real TensorFlow model, UMAP, HDBSCAN) of the whole bundled demo collection."""
    import pixmap

    tmp = tmp_path_factory.mktemp("demo-build")
    return pixmap.build(images=DEMO, metadata=demo_metadata, out_dir=tmp / "site",
                        cache_dir=tmp / "cache", progress=False)


@pytest.fixture(scope="session")
def built_site(built_site_result) -> Path:
    """The folder of a site built by the real pipeline from the demo paintings (first title is an XSS probe)."""
    return built_site_result.out_dir


@pytest.fixture(scope="session")
def geo_build(tmp_path_factory, built_site_result):
    """The demo with made-up places and x/y for its first 30 paintings (some missing or bad; the other
    paintings have no row at all), to exercise geographic, custom, variants and supervised UMAP."""
    import pixmap

    tmp = tmp_path_factory.mktemp("geo")
    names = sorted(p.name for p in (DEMO / "images").iterdir())[:30]
    rng = np.random.default_rng(0)
    lines = ["filename,title,lat,lng,x,y,label"]
    for i, n in enumerate(names):
        lat, lng = (f"{rng.uniform(-60, 70):.3f}", f"{rng.uniform(-170, 170):.3f}") if i % 5 else ("", "")
        x, y = (str(i), str(i * i % 7)) if i % 7 else ("", "3")
        lines.append(f"images/{n},T{i},{lat},{lng},{x},{y},{'ab'[i % 2]}")
    lines[3] = lines[3].replace(lines[3].split(",")[2], "not-a-number", 1)  # a bad value: kept as missing
    (tmp / "m.csv").write_text("\n".join(lines) + "\n")
    res = pixmap.build(images=DEMO, metadata=tmp / "m.csv", out_dir=tmp / "site", max_images=None,
                       cache_dir=built_site_result.out_dir.parent / "cache", progress=False,
                       layouts="umap,geographic,custom,alphabetic", supervised=True, n_neighbors="5,10")
    return res, names


PLANTED_FROM = "93784"   # the painting the planted near-duplicate is made from


@pytest.fixture(scope="session")
def planted_build(tmp_path_factory, demo_metadata):
    """A real build of the 267 demo paintings (first title an XSS probe) plus a near-duplicate planted among
    them: a copy of painting PLANTED_FROM cropped by 3-5% on each side and resized to 60% (PIL), with its
    own metadata row. Shared by the report, near-duplicate and report-in-the-browser tests."""
    import shutil

    from PIL import Image

    import pixmap

    tmp = tmp_path_factory.mktemp("planted")
    images = tmp / "images"
    shutil.copytree(DEMO / "images", images)
    with Image.open(images / f"{PLANTED_FROM}.jpg") as im:
        w, h = im.size
        copy = im.convert("RGB").crop((round(w * 0.04), round(h * 0.03), w - round(w * 0.03), h - round(h * 0.05)))
        copy = copy.resize((round(copy.width * 0.6), round(copy.height * 0.6)), Image.LANCZOS)
        copy.save(images / "planted-copy.jpg", quality=85)
    with open(demo_metadata, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    original = next(r for r in rows if r["filename"].endswith(f"/{PLANTED_FROM}.jpg"))
    rows.append({**original, "filename": "images/planted-copy.jpg", "title": "A copy & <crop>", "aic_id": ""})
    with open(tmp / "metadata.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    return pixmap.build(images=images, metadata=tmp / "metadata.csv", out_dir=tmp / "site", cache_dir=tmp / "cache",
                        progress=False)
