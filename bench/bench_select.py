"""Selection benchmark of the viewer in headless Chromium on synthetic version-3 sites (100k and 1M images).

On bench/bench_viewer.py's synthetic sites (bench/synthetic_site.make_site_v3: ids and metadata in chunks,
a 2D UMAP-like layout and a 3D one), with the current viewer copied in, it measures and prints:

- the lasso (js/lasso.js) at the overview, in 2D and 3D: in-page ms of the hit test (which images' drawn
  centres lie inside the polygon: the picking grid's cells under the polygon's bounding box in 2D, every
  image projected in 3D; then an even-odd test against the polygon's edges in the point's band) and of
  the selection update that follows (the sorted list, the renderer's per-image state, the panel's first
  200 thumbnails), for a concave U over the middle of the map (8 vertices), a freehand-like loop of
  600 vertices and a small square (12% of the view's height: the picking grid's path); how many images
  each selects;
- the next frame with a selection (drawn + a 1-pixel readPixels, which waits for the GPU) against the
  same frame without one (median of --frames);
- the link: the URL hash's length for the U's selection and for a small one (whether it is kept);
- export: ms of exportSelection("csv") for a small lasso (~1% of the map; its metadata chunks load) and
  its size.

    python bench/bench_select.py                     # 100k and 1M (sites written once, in out/bench-sites)
    python bench/bench_select.py --sizes 100000 --rounds 3

Target: a lasso over 1M images answers within a frame or two (hit test < 100 ms). Headless Chromium draws
with SwiftShader (WebGL on the CPU): frame times are that renderer's, not a GPU's.
"""
from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_viewer import Page, site_for  # noqa: E402
from tests.browser import CHROMIUM_FLAGS, StaticServer, find_chromium  # noqa: E402

FRAME = """() => {
  const gl = pixmap.debug.gl, px = new Uint8Array(4);
  const t0 = performance.now();
  pixmap.debug.render();
  gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px);
  return performance.now() - t0;
}"""


def shapes(w, h):
    """A concave U over the middle of the canvas, a 600-point wobbly loop, and a small square."""
    x0, x1, y0, y1 = w * 0.25, w * 0.75, h * 0.2, h * 0.8
    a, b = x0 + (x1 - x0) / 3, x0 + 2 * (x1 - x0) / 3
    u = [[x0, y0], [a, y0], [a, y0 + 0.6 * (y1 - y0)], [b, y0 + 0.6 * (y1 - y0)], [b, y0], [x1, y0], [x1, y1], [x0, y1]]
    cx, cy, r = w / 2, h / 2, min(w, h) * 0.3
    loop = [[cx + r * (1 + 0.15 * math.sin(7 * t)) * math.cos(t), cy + r * (1 + 0.15 * math.sin(7 * t)) * math.sin(t)]
            for t in (2 * math.pi * k / 600 for k in range(600))]
    s = min(w, h) * 0.06
    small = [[cx - s, cy - s], [cx + s, cy - s], [cx + s, cy + s], [cx - s, cy + s]]
    return {"U (8 vertices)": u, "loop (600 vertices)": loop, "small square": small}, small


def lasso(page, poly, rounds):
    out = []
    for _ in range(rounds):
        page.evaluate("pixmap.debug.lasso([])")  # (clears)
        count = page.evaluate("(p) => pixmap.debug.lasso(p)", poly)
        s = page.evaluate("pixmap.stats()")
        out.append((s["lassoMs"], s["selectMs"], count))
    return out


def frames(page, k):
    page.evaluate(FRAME)
    return statistics.median(page.evaluate(FRAME) for _ in range(k))


def run_size(browser, n, cache, rounds, nframes):
    folder = site_for(n, cache)
    server = StaticServer(folder)
    try:
        p = Page(browser, server.url + "index.html")
        page = p.page
        w, h = page.evaluate("[document.getElementById('map').clientWidth, document.getElementById('map').clientHeight]")
        polys, small = shapes(w, h)
        result = {"n": n, "lasso": {}, "errors": p.errors}
        for layout in ("umap", "umap-3d"):
            page.evaluate("(l) => pixmap.setLayout(l, {duration: 0})", layout)
            page.wait_for_function("!pixmap.state().transitioning")
            page.evaluate("pixmap.debug.lasso([])")
            plain = frames(page, nframes)
            for name, poly in polys.items():
                runs = lasso(page, poly, rounds)
                result["lasso"][(layout, name)] = {
                    "test_ms": statistics.median(r[0] for r in runs), "test_max": max(r[0] for r in runs),
                    "select_ms": statistics.median(r[1] for r in runs), "count": runs[-1][2]}
            result[("frame", layout)] = (plain, frames(page, nframes))
        page.evaluate("pixmap.setLayout('umap', {duration: 0})")
        page.wait_for_function("!pixmap.state().transitioning")
        page.evaluate("(p) => pixmap.debug.lasso(p)", polys["U (8 vertices)"])
        time.sleep(0.4)
        result["hash_big"] = (page.evaluate("location.hash.length"), page.evaluate("pixmap.stats().selected"),
                              "sel" in page.evaluate("location.hash"))
        count = page.evaluate("(p) => pixmap.debug.lasso(p)", small)
        time.sleep(0.4)
        result["hash_small"] = (page.evaluate("location.hash.length"), count, "sel" in page.evaluate("location.hash"))
        t0 = time.perf_counter()
        size = page.evaluate("async () => (await pixmap.exportSelection('csv')).length")
        result["export"] = (count, (time.perf_counter() - t0) * 1000, size)
        p.close()
        return result
    finally:
        server.close()


def report(r):
    n = r["n"]
    print(f"\n{n:,} images")
    for (layout, name), v in r["lasso"].items():
        print(f"  lasso {layout:8s} {name:20s} hit test {v['test_ms']:7.1f} ms (max {v['test_max']:.1f})"
              f"  selection update {v['select_ms']:6.1f} ms  selects {v['count']:,}")
    for layout in ("umap", "umap-3d"):
        plain, sel = r[("frame", layout)]
        print(f"  frame {layout:8s} without a selection {plain:7.1f} ms, with the last one {sel:7.1f} ms (SwiftShader)")
    length, count, kept = r["hash_big"]
    print(f"  link: {count:,} selected -> hash of {length:,} chars ({'kept' if kept else 'not kept: too large'})")
    length, count, kept = r["hash_small"]
    print(f"  link: {count:,} selected -> hash of {length:,} chars ({'kept' if kept else 'not kept: too large'})")
    count, ms, size = r["export"]
    print(f"  export CSV of {count:,} images: {ms:.0f} ms, {size / 1e6:.2f} MB of text")
    if r["errors"]:
        print("  page errors:", r["errors"][:3])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--frames", type=int, default=5)
    ap.add_argument("--cache", default=str(ROOT / "out" / "bench-sites"),
                    help="where the synthetic sites are written (shared with bench_viewer.py)")
    a = ap.parse_args()
    cache = Path(a.cache)
    cache.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    chromium = find_chromium()
    if not chromium:
        sys.exit("Chromium not found: set PIXMAP_CHROMIUM or install chromium")
    home = tempfile.mkdtemp(prefix="pixmap-bench-home-")
    results = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS, env={**os.environ, "HOME": home})
            for n in a.sizes:
                r = run_size(browser, n, cache, a.rounds, a.frames)
                report(r)
                results.append(r)
            browser.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print("\ntargets:")
    for r in results:
        worst = max(v["test_ms"] for v in r["lasso"].values())
        print(f"  {'met    ' if worst < 100 else 'NOT met'}  lasso hit test < 100 ms at {r['n']:,} (worst median {worst:.1f} ms)")


if __name__ == "__main__":
    main()
