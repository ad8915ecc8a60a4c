"""Viewer benchmark in headless Chromium (SwiftShader when there is no GPU) on real-format version-3 sites.

For synthetic sites of 10k, 100k and 1M images written by bench/synthetic_site.make_site_v3 (pixmap's own
atlas, tile and chunk writers: level 0 at pixmap.atlas.level0_cell_size(n), level-1 tiles, ids and
metadata in chunks, every image's cell distinct), it measures and prints:

- first frame: ms from navigation to the first frame drawn (localhost), median of 3 fresh pages, and
  to the next frame callback (which comes once the browser has taken that frame to the screen);
- steady overview frame: ms per frame of the viewer and of a minimal raw vertex-pulling page drawing
  the same textured quads (same positions, level-0 atlas, cells, quad sizes -- including the viewer's
  one-device-pixel minimum -- and canvas size); the pages' frames alternate, so a busy machine slows
  both alike. One frame = draw + a 1-pixel gl.readPixels (gl.finish() does not block in Chromium,
  readPixels does); the median of --frames frames after 5 warm-up frames;
- tiles: from setting a zoomed-in camera (images 48 CSS px, or 2.5 level-0 cells when those are
  larger) to the first frame drawn with a level-1 tile, and to the frame after the last wanted tile
  arrived (3 regions);
- GPU memory: the peak of every texture the viewer allocated vs its budget;
- picking: CPU ms of one hover/click pick (300 points, overview and zoomed; 3D: the first pick after
  the view changed, which projects every point, and the following ones), and in-page ms from a
  pointer move to the tooltip (and to its title: a metadata chunk loads) and from a click to the
  lightbox (and to its metadata);
- the same with ?gpu-budget=128 (a phone's budget): no context loss, peak within the budget.

    python bench/bench_viewer.py                       # 10k, 100k, 1M (1M is written once: minutes)
    python bench/bench_viewer.py --sizes 10000 100000 --frames 30
    python bench/bench_viewer.py --site path/to/a/built/site   # e.g. bench_scale.py's real 105k build

Targets: first frame < 3 s at 1M and < 1.5 s at 100k; viewer/raw <= 1.1; tiles drawn < 1 s after the
zoom; GPU peak <= budget; pick < 16 ms.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.synthetic_site import make_site_v3  # noqa: E402
from tests.browser import CHROMIUM_FLAGS, StaticServer, find_chromium  # noqa: E402

SITE_VERSION = "v3-2"  # bump when make_site_v3's output changes (cached sites are rewritten)
VIEWPORT = {"width": 1280, "height": 720}

RAW_PAGE = r"""<!doctype html>
<html><head><meta charset="utf-8"><title>raw vertex pulling</title><link rel="icon" href="favicon.svg">
<style>html,body{margin:0;background:#000}canvas{display:block}</style></head>
<body><canvas id="c"></canvas>
<script type="module">
// Minimal vertex pulling: drawArrays(TRIANGLES, 0, 6N); position and atlas cell per image read
// by gl_VertexID from float textures; one mipmapped atlas array texture; 2D orthographic view.
const q = new URLSearchParams(location.search);
const W = +q.get("w") || 1280, H = +q.get("h") || 720;
const canvas = document.getElementById("c");
canvas.width = W; canvas.height = H; canvas.style.width = W + "px"; canvas.style.height = H + "px";
const gl = canvas.getContext("webgl2", {antialias: false, alpha: false, depth: true, preserveDrawingBuffer: false});
const manifest = await (await fetch("data/manifest.json")).json();
const n = manifest.count;
const layout = manifest.layouts.find((l) => l.name === manifest.default_layout);
const pos = new Float32Array(await (await fetch(layout.file)).arrayBuffer());
const cells = new Uint16Array(await (await fetch(manifest.atlas.cells)).arrayBuffer());
const bitmaps = await Promise.all(manifest.atlas.pages.map(async (u) =>
  createImageBitmap(await (await fetch(u)).blob(), {premultiplyAlpha: "none", colorSpaceConversion: "none"})));
const TW = Math.min(4096, n), TH = Math.ceil(n / TW);
const P = new Float32Array(TW * TH * 4), C = new Float32Array(TW * TH * 4);
const A = manifest.atlas.size;
for (let i = 0; i < n; i++) {
  P[i * 4] = pos[i * layout.dims]; P[i * 4 + 1] = pos[i * layout.dims + 1]; P[i * 4 + 2] = cells[i * 5];
  C[i * 4] = cells[i * 5 + 1] / A; C[i * 4 + 1] = cells[i * 5 + 2] / A;
  C[i * 4 + 2] = cells[i * 5 + 3] / A; C[i * 4 + 3] = cells[i * 5 + 4] / A;
}
function dataTex(unit, data) {
  const t = gl.createTexture(); gl.activeTexture(gl.TEXTURE0 + unit); gl.bindTexture(gl.TEXTURE_2D, t);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
  gl.texStorage2D(gl.TEXTURE_2D, 1, gl.RGBA32F, TW, TH);
  gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, TW, TH, gl.RGBA, gl.FLOAT, data);
}
dataTex(0, P); dataTex(1, C);
const levels = Math.max(1, Math.floor(Math.log2(manifest.atlas.cell_size || 64)) - 1);
const atlas = gl.createTexture(); gl.activeTexture(gl.TEXTURE2); gl.bindTexture(gl.TEXTURE_2D_ARRAY, atlas);
gl.texStorage3D(gl.TEXTURE_2D_ARRAY, levels, gl.RGBA8, A, A, bitmaps.length);
bitmaps.forEach((b, i) => gl.texSubImage3D(gl.TEXTURE_2D_ARRAY, 0, 0, 0, i, b.width, b.height, 1, gl.RGBA, gl.UNSIGNED_BYTE, b));
gl.texParameteri(gl.TEXTURE_2D_ARRAY, gl.TEXTURE_MIN_FILTER, levels > 1 ? gl.LINEAR_MIPMAP_LINEAR : gl.LINEAR);
gl.texParameteri(gl.TEXTURE_2D_ARRAY, gl.TEXTURE_MAX_LEVEL, levels - 1);
gl.generateMipmap(gl.TEXTURE_2D_ARRAY);
const vs = `#version 300 es
precision highp float; precision highp int;
uniform sampler2D uPos; uniform sampler2D uCell; uniform int uW; uniform vec2 uScale; uniform float uSize;
out vec3 vUv;
void main() {
  int i = gl_VertexID / 6, c = gl_VertexID - i * 6;
  ivec2 tc = ivec2(i % uW, i / uW);
  vec4 p = texelFetch(uPos, tc, 0); vec4 cell = texelFetch(uCell, tc, 0);
  vec2 q = vec2((c == 1 || c == 4 || c == 5) ? 1.0 : 0.0, (c == 2 || c == 3 || c == 5) ? 1.0 : 0.0);
  float a = cell.z / cell.w;
  vec2 h = 0.5 * uSize * vec2(min(1.0, a), min(1.0, 1.0 / a));
  gl_Position = vec4((p.xy + (q * 2.0 - 1.0) * h) * uScale, 0.0, 1.0);
  vUv = vec3(cell.xy + vec2(q.x, 1.0 - q.y) * cell.zw, p.z);
}`;
const fs = `#version 300 es
precision highp float; precision highp sampler2DArray;
uniform sampler2DArray uAtlas; in vec3 vUv; out vec4 o;
void main() { o = vec4(texture(uAtlas, vUv).rgb, 1.0); }`;
const prog = gl.createProgram();
for (const [type, src] of [[gl.VERTEX_SHADER, vs], [gl.FRAGMENT_SHADER, fs]]) {
  const s = gl.createShader(type); gl.shaderSource(s, src); gl.compileShader(s);
  if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
  gl.attachShader(prog, s);
}
gl.linkProgram(prog); gl.useProgram(prog);
gl.uniform1i(gl.getUniformLocation(prog, "uPos"), 0);
gl.uniform1i(gl.getUniformLocation(prog, "uCell"), 1);
gl.uniform1i(gl.getUniformLocation(prog, "uAtlas"), 2);
gl.uniform1i(gl.getUniformLocation(prog, "uW"), TW);
const s = Math.min(W, H) / 2 / 1.08;  // the viewer's default 2D view
gl.uniform2f(gl.getUniformLocation(prog, "uScale"), 2 * s / W, 2 * s / H);
// the viewer's quad size, with its minimum of one device pixel (so both draw the same quads)
// (?nomin: without that minimum, for information)
const size = layout.point_size || 1.6 / Math.sqrt(n);
gl.uniform1f(gl.getUniformLocation(prog, "uSize"), q.has("nomin") ? size : Math.max(size, 1 / s));
gl.bindVertexArray(gl.createVertexArray());
window.rawDraw = () => {
  gl.viewport(0, 0, W, H); gl.clearColor(0.06, 0.07, 0.08, 1); gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
  gl.drawArrays(gl.TRIANGLES, 0, 6 * n);
};
window.rawGl = gl;
window.rawReady = true;
</script></body></html>
"""

FRAME = """([kind, count]) => {
  const gl = kind === "raw" ? window.rawGl : window.pixmap.debug.gl;
  const draw = kind === "raw" ? window.rawDraw : window.pixmap.debug.render;
  const px = new Uint8Array(4), times = [];
  for (let k = 0; k < count; k++) {
    const t0 = performance.now();
    draw();
    gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px);
    times.push(performance.now() - t0);
  }
  return times;
}"""


def measure_alternating(pages, frames, warmup=5):
    """Frames of several pages (kind, page), one at a time in rotating order, so that all of them see
    the same background load (this machine may be shared); returns one list of times (ms) per page."""
    for kind, page in pages:
        page.evaluate(FRAME, [kind, warmup])
    times = [[] for _ in pages]
    for k in range(frames):
        for j in range(len(pages)):
            m = (j + k) % len(pages)
            kind, page = pages[m]
            times[m].extend(page.evaluate(FRAME, [kind, 1]))
    return times


TILES = """async (cam) => {
  // set the camera, then wait for the first frame with a tile and for the frame after the last one
  const t0 = performance.now();
  pixmap.setCamera(cam);
  return await new Promise((resolve) => {
    let first = null;
    const poll = () => {
      const s = pixmap.stats(), now = performance.now();
      const drawn = s.tilesUploadedAt > t0 && s.frameAt > s.tilesUploadedAt;
      if (first === null && drawn) first = s.frameAt - t0;
      if (drawn && !s.lodPending && s.tilesInflight === 0) {
        resolve({first, all: s.frameAt - t0, resident: s.tilesResident, wanted: s.tilesWanted,
                 requested: s.tilesRequested, aborted: s.tilesAborted, evicted: s.tilesEvicted});
      } else if (now - t0 > 20000) {
        resolve({first, all: null, resident: s.tilesResident, wanted: s.tilesWanted, requested: s.tilesRequested,
                 aborted: s.tilesAborted, evicted: s.tilesEvicted});
      } else setTimeout(poll, 4);
    };
    setTimeout(poll, 0);
  });
}"""

PICKS = """(count) => {
  // CPU time of picks at random points of the canvas (what a pointer move or a click runs)
  const r = document.getElementById('map').getBoundingClientRect();
  let seed = 7;
  const rnd = () => { seed = (seed * 16807) % 2147483647; return seed / 2147483647; };
  const times = [];
  let hits = 0;
  for (let k = 0; k < count; k++) {
    const x = r.left + rnd() * r.width, y = r.top + rnd() * r.height;
    const t0 = performance.now();
    const i = pixmap.debug.pickIndex(x, y);
    times.push(performance.now() - t0);
    if (i >= 0) hits++;
  }
  times.sort((a, b) => a - b);
  return {median: times[times.length >> 1], max: times[times.length - 1], hits};
}"""


def site_for(n, cache):
    folder = cache / f"synthetic-{SITE_VERSION}-{n}"
    marker = folder / ".bench-version"
    if not (marker.exists() and marker.read_text() == SITE_VERSION):
        t = time.time()
        print(f"  writing a version-3 synthetic site of {n:,} images (once) ...", flush=True)
        make_site_v3(folder, n, layouts=("umap", "grid"), dims3=True, seed=1, progress=n >= 100_000)
        marker.write_text(SITE_VERSION)
        print(f"  wrote it in {time.time() - t:.0f} s", flush=True)
    shutil.copytree(ROOT / "viewer", folder, dirs_exist_ok=True)  # measure the current viewer
    (folder / "raw.html").write_text(RAW_PAGE)
    return folder


class Page:
    """A fresh browser context and page on the viewer, recording console errors."""

    def __init__(self, browser, url, **context):
        self.context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1, **context)
        self.page = self.context.new_page()
        self.errors = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        t0 = time.perf_counter()
        self.page.goto(url)
        self.page.evaluate("pixmap.ready")
        self.wall = time.perf_counter() - t0

    def stats(self):
        return self.page.evaluate("pixmap.stats()")

    def close(self):
        self.context.close()


def regions(folder, manifest, k=3):
    """k image positions in dense parts of the default layout (hotspot representatives) and the zoom at
    which the images are ~48 CSS px."""
    layout = next(e for e in manifest["layouts"] if e["name"] == manifest["default_layout"])
    pos = np.memmap(folder / layout["file"], dtype="<f4", mode="r").reshape(manifest["count"], layout["dims"])
    reps = [h["representative"] for h in manifest["clusters"]["hotspots"][:k]]
    size = layout.get("point_size") or 1.6 / np.sqrt(manifest["count"])
    return [(float(pos[i, 0]), float(pos[i, 1])) for i in reps], size


def zoom_for(page, size, px):
    h = page.evaluate("document.getElementById('map').clientHeight")
    w = page.evaluate("document.getElementById('map').clientWidth")
    return px / (size * min(w, h) / 2 / 1.08)


def measure_tiles(p, folder, manifest):
    """Zoom into 3 regions, so far that the images are drawn from tiles (48 px, or 2.5 level-0 cells)."""
    spots, size = regions(folder, manifest)
    zoom = zoom_for(p.page, size, max(48, 2.5 * manifest["atlas"]["cell_size"]))
    p.page.wait_for_function("pixmap.stats().tileIndexLoaded", timeout=60_000)
    out = [p.page.evaluate(TILES, {"x": x, "y": y, "zoom": zoom}) for x, y in spots]
    return out, zoom


HOVER_CLICK = """async ([x, y]) => {
  // pointer events on the map canvas, timed in the page: move -> tooltip shown (the pick) and -> its
  // title (its metadata chunk loaded); press + release -> lightbox open and -> its metadata shown
  const canvas = document.getElementById('map'), tip = document.getElementById('tooltip');
  const box = document.getElementById('lightbox');
  const fire = (type) => canvas.dispatchEvent(new PointerEvent(type, {clientX: x, clientY: y, pointerId: 7,
    pointerType: 'mouse', isPrimary: true, bubbles: true, button: 0, buttons: type === 'pointerdown' ? 1 : 0}));
  const until = (ok) => new Promise((resolve) => { const check = () => (ok() ? resolve() : setTimeout(check, 1)); check(); });
  let t0 = performance.now();
  fire('pointermove');
  await until(() => !tip.hidden);
  const shown = performance.now() - t0;
  await until(() => tip.textContent && tip.textContent !== '\u2026');
  const titled = performance.now() - t0;
  t0 = performance.now();
  fire('pointerdown');
  fire('pointerup');
  await until(() => !box.hidden);
  const opened = performance.now() - t0;
  await until(() => !box.hidden && box.dataset.loading === undefined);
  const filled = performance.now() - t0;
  pixmap.close();
  return {shown, titled, opened, filled};
}"""


def measure_hover_click(p):
    """In-page ms from a pointer move to the tooltip (shown, then titled) and from a click to the
    lightbox (open, then showing its metadata), on an image near the middle of the view."""
    page = p.page
    box = page.evaluate("(() => { const r = document.getElementById('map').getBoundingClientRect();"
                        " return [r.left, r.top, r.width, r.height]; })()")
    for fx in (0.5, 0.45, 0.55, 0.4, 0.6, 0.35, 0.65):
        for fy in (0.5, 0.45, 0.55, 0.4, 0.6):
            x, y = box[0] + fx * box[2], box[1] + fy * box[3]
            if page.evaluate("([x, y]) => pixmap.debug.pickIndex(x, y)", [x, y]) >= 0:
                return page.evaluate(HOVER_CLICK, [x, y])
    return None


def measure_3d_picks(p):
    page = p.page
    page.evaluate("pixmap.setLayout('umap-3d', {duration: 0})")
    page.wait_for_timeout(300)
    # the first pick after a view change projects every point (then cached for this view)
    first = page.evaluate("""() => {
      pixmap.setCamera({target: [0, 0, 0], yaw: 0.9, pitch: 0.3, distance: 3.0});
      const r = document.getElementById('map').getBoundingClientRect();
      const t0 = performance.now();
      pixmap.debug.pickIndex(r.left + r.width / 2, r.top + r.height / 2);
      return performance.now() - t0;
    }""")
    rest = page.evaluate(PICKS, 300)
    return first, rest


def built_site(path, cache):
    """A copy of a site pixmap built (e.g. by bench/bench_scale.py), with the current viewer and the raw page."""
    folder = cache / f"built-{Path(path).resolve().name}"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(path, folder)
    shutil.copytree(ROOT / "viewer", folder, dirs_exist_ok=True)  # measure the current viewer
    (folder / "raw.html").write_text(RAW_PAGE)
    return folder


def run_size(browser, n, frames, cache, folder=None):
    folder = folder or site_for(n, cache)
    manifest = json.loads((folder / "data" / "manifest.json").read_text(encoding="utf-8"))
    server = StaticServer(folder)
    r = {"n": n, "pages": len(manifest["atlas"]["pages"]), "level0_cell": manifest["atlas"]["cell_size"],
         "tiles": manifest["atlas"].get("tiles", {}).get("count", 0)}
    try:
        # first frame, fresh pages (no HTTP cache)
        firsts, shown, walls = [], [], []
        for _ in range(3):
            p = Page(browser, server.url + "index.html")
            p.page.wait_for_function("pixmap.stats().firstShownMs !== null", timeout=60_000)
            s = p.stats()
            firsts.append(s["firstFrameMs"])
            shown.append(s["firstShownMs"])
            walls.append(p.wall)
            p.close()
        r["first_frame_ms"] = statistics.median(firsts)
        r["first_frame_all"] = firsts
        r["first_shown_ms"] = statistics.median(shown)
        r["wall_to_ready_s"] = statistics.median(walls)

        # steady overview frames vs the raw page
        p = Page(browser, server.url + "index.html")
        size = p.page.evaluate("[document.getElementById('map').width, document.getElementById('map').height]")
        raws = []
        for query in (f"?w={size[0]}&h={size[1]}", f"?w={size[0]}&h={size[1]}&nomin"):
            ctx = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
            raw = ctx.new_page()
            raw.goto(server.url + "raw.html" + query)
            raw.wait_for_function("window.rawReady === true", timeout=180_000)
            raws.append(raw)
        p.page.wait_for_function("!pixmap.stats().compilingShaders", timeout=180_000)
        if r["tiles"]:
            p.page.wait_for_function("pixmap.stats().tileIndexLoaded", timeout=120_000)
        p.page.wait_for_timeout(1500)  # let loading screens fade and background fetches settle
        viewer, raw_t, raw_nomin = measure_alternating([("viewer", p.page), ("raw", raws[0]), ("raw", raws[1])], frames)
        for raw in raws:
            raw.context.close()
        r["viewer_ms"], r["raw_ms"] = statistics.median(viewer), statistics.median(raw_t)
        r["raw_nomin_ms"] = statistics.median(raw_nomin)
        r["ratio"] = r["viewer_ms"] / r["raw_ms"]
        r["draw_calls"] = p.stats()["drawCalls"]
        r["canvas"] = size

        # picking at the overview, tiles after zooming in, picking there, hover and click
        r["pick_overview"] = p.page.evaluate(PICKS, 300)
        tiles, zoom = measure_tiles(p, folder, manifest)
        r["tile_runs"], r["tile_zoom"] = tiles, zoom
        r["pick_zoomed"] = p.page.evaluate(PICKS, 300)
        r["hover_click"] = measure_hover_click(p)
        r["zoomed_frame_ms"], r["culled"] = p.stats()["frameMs"], p.stats()["cullCount"]
        r["pick3d_first_ms"], r["pick3d"] = measure_3d_picks(p)
        s = p.stats()
        r["gpu_peak"], r["gpu_budget"], r["gpu_bytes"] = s["gpuPeak"], s["gpuBudget"], s["gpuBytes"]
        r["context_lost"] = s["contextLost"]
        r["errors"] = p.errors
        p.close()

        # a phone's budget
        p = Page(browser, server.url + "index.html?gpu-budget=128")
        tiles_small, _ = measure_tiles(p, folder, manifest)
        s = p.stats()
        r["small"] = {"first_frame_ms": s["firstFrameMs"], "tile_runs": tiles_small, "gpu_peak": s["gpuPeak"],
                      "gpu_budget": s["gpuBudget"], "page_texture": s["pageTextureSize"],
                      "context_lost": s["contextLost"], "evicted": s["tilesEvicted"], "errors": p.errors}
        p.close()
    finally:
        server.close()
    return r


def mb(v):
    return f"{v / 2**20:.0f} MB"


def report(r):
    n = r["n"]
    print(f"\n== {n:,} images: {r['pages']} level-0 page(s) of {r['level0_cell']} px cells, {r['tiles']:,} tiles")
    print(f"  first frame        {r['first_frame_ms']:.0f} ms (runs: {', '.join(f'{v:.0f}' for v in r['first_frame_all'])});"
          f" next frame callback {r['first_shown_ms']:.0f} ms; wall to ready {r['wall_to_ready_s']:.2f} s")
    print(f"  overview frame     viewer {r['viewer_ms']:.1f} ms, raw {r['raw_ms']:.1f} ms, ratio {r['ratio']:.2f}"
          f" (raw without 1px minimum {r['raw_nomin_ms']:.1f} ms; {r['draw_calls']} draw calls, canvas {r['canvas']})")
    for k, t in enumerate(r["tile_runs"]):
        all_ = "not settled in 20 s" if t["all"] is None else f"{t['all']:.0f} ms"
        first = "none" if t["first"] is None else f"{t['first']:.0f} ms"
        print(f"  zoom {r['tile_zoom']:.0f}x region {k}: first tile drawn {first}, all wanted tiles {all_}"
              f" ({t['resident']} resident of {t['wanted']} wanted; requested {t['requested']}, aborted {t['aborted']},"
              f" evicted {t['evicted']})")
    print(f"  GPU memory         peak {mb(r['gpu_peak'])} of {mb(r['gpu_budget'])} budget"
          f" ({'within' if r['gpu_peak'] <= r['gpu_budget'] else 'OVER'}), context lost: {r['context_lost']}")
    po, pz, p3 = r["pick_overview"], r["pick_zoomed"], r["pick3d"]
    print(f"  pick (CPU)         overview median {po['median']:.3f} / max {po['max']:.2f} ms ({po['hits']} hits of 300);"
          f" zoomed median {pz['median']:.3f} / max {pz['max']:.2f} ms ({pz['hits']} hits)")
    print(f"  pick 3D (CPU)      first after a view change {r['pick3d_first_ms']:.1f} ms (projects all points),"
          f" then median {p3['median']:.3f} / max {p3['max']:.2f} ms")
    hc = r["hover_click"]
    if hc:
        print(f"  pointer move -> tooltip {hc['shown']:.1f} ms, -> its title {hc['titled']:.0f} ms (loads a chunk);"
              f" click -> lightbox {hc['opened']:.1f} ms, -> its metadata {hc['filled']:.0f} ms")
    culled = f"main pass culled to {r['culled']:,} images" if r["culled"] else "main pass not culled: every image"
    print(f"  zoomed-in frame    {r['zoomed_frame_ms']:.1f} ms of CPU ({culled})")
    sm = r["small"]
    runs = ", ".join("-" if t["first"] is None else f"{t['first']:.0f}" for t in sm["tile_runs"])
    print(f"  ?gpu-budget=128    first frame {sm['first_frame_ms']:.0f} ms, level-0 pages at {sm['page_texture']} px,"
          f" first tile drawn (ms) {runs}, peak {mb(sm['gpu_peak'])} of {mb(sm['gpu_budget'])}, evicted {sm['evicted']},"
          f" context lost: {sm['context_lost']}")
    errors = r["errors"] + sm["errors"]
    if errors:
        print(f"  console errors: {len(errors)}, e.g. {errors[:2]}")


def targets(results):
    lines = []
    for r in results:
        n = r["n"]
        if n >= 1_000_000:
            lines.append((f"first frame at {n:,} < 3 s", r["first_frame_ms"] < 3000, f"{r['first_frame_ms']:.0f} ms"))
        elif n >= 100_000:
            lines.append((f"first frame at {n:,} < 1.5 s", r["first_frame_ms"] < 1500, f"{r['first_frame_ms']:.0f} ms"))
        lines.append((f"overview frame at {n:,} <= 1.1x raw", r["ratio"] <= 1.1, f"{r['ratio']:.2f}x"))
        firsts = [t["first"] for t in r["tile_runs"]]
        if r["tiles"]:
            ok = all(v is not None and v < 1000 for v in firsts)
            lines.append((f"tiles drawn < 1 s after zooming at {n:,}", ok,
                          ", ".join("none" if v is None else f"{v:.0f} ms" for v in firsts)))
        peaks_ok = r["gpu_peak"] <= r["gpu_budget"] and r["small"]["gpu_peak"] <= r["small"]["gpu_budget"]
        lines.append((f"GPU peak within the budget at {n:,} (512 and 128 MB)", peaks_ok,
                      f"{mb(r['gpu_peak'])}, {mb(r['small']['gpu_peak'])}"))
        worst = max(r["pick_overview"]["max"], r["pick_zoomed"]["max"], r["pick3d"]["max"])
        lines.append((f"hover/click pick < 16 ms at {n:,}", worst < 16, f"max {worst:.2f} ms (3D first {r['pick3d_first_ms']:.0f} ms)"))
        hc = r["hover_click"]
        if hc:
            lines.append((f"pointer move -> tooltip and click -> lightbox < 16 ms at {n:,}",
                          hc["shown"] < 16 and hc["opened"] < 16, f"{hc['shown']:.1f} ms, {hc['opened']:.1f} ms"))
        lines.append((f"no context loss at {n:,} (128 MB)", not r["small"]["context_lost"] and not r["context_lost"], ""))
    print("\ntargets:")
    for what, ok, detail in lines:
        print(f"  {'met    ' if ok else 'NOT met'}  {what}  {detail}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--cache", default=str(ROOT / "out" / "bench-sites"),
                    help="where the synthetic sites are written (reused between runs, keyed by SITE_VERSION)")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--site", type=Path, help="measure this built site (copied) instead of the synthetic ones")
    a = ap.parse_args()
    cache = Path(a.cache)
    cache.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    chromium = find_chromium()
    if not chromium:
        sys.exit("Chromium not found: set PIXMAP_CHROMIUM or install chromium")
    print(f"viewer benchmark, {VIEWPORT['width']}x{VIEWPORT['height']} viewport, version-3 sites")
    results = []
    home = tempfile.mkdtemp(prefix="pixmap-bench-home-")
    try:
        with sync_playwright() as pw:
            # Chromium writes under $HOME: give it a temporary one
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS,
                                         env={**os.environ, "HOME": home})
            if a.site:
                folder = built_site(a.site, cache)
                n = json.loads((folder / "data" / "manifest.json").read_text(encoding="utf-8"))["count"]
                print(f"built site {a.site}: {n:,} images")
                a.sizes = [n]
            for n in a.sizes:
                r = run_size(browser, n, a.frames, cache, folder if a.site else None)
                report(r)
                results.append(r)
            browser.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    targets(results)
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
