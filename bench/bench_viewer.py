"""Viewer frame-time benchmark in headless Chromium (SwiftShader when there is no GPU).

For synthetic sites of 10k, 100k and 1M images (procedural atlas), it measures milliseconds per
frame of the viewer and of a minimal raw vertex-pulling page drawing the same textured quads
(same positions, atlas, cells, quad sizes -- including the viewer's one-device-pixel minimum, which
matters at 1M where images are ~0.5 px -- and canvas size). The two pages' frames alternate, so a
busy machine slows both alike. One frame = draw + a 1-pixel
gl.readPixels (gl.finish() does not block in Chromium, readPixels does); the median of 30 frames
after 5 warm-up frames. Also the time to the first frame of the 100k map, from navigation.

    python bench/bench_viewer.py                 # 10k, 100k, 1M
    python bench/bench_viewer.py --sizes 10000 100000 --frames 30

Targets: viewer/raw <= 1.1 at each size; first frame of the 100k map < 2 s.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.synthetic_site import make_site  # noqa: E402
from tests.browser import CHROMIUM_FLAGS, StaticServer, find_chromium  # noqa: E402

SITE_VERSION = "3"  # bump when make_site's output changes

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


def site_for(n, cache):
    folder = cache / f"synthetic-{n}"
    marker = folder / ".bench-version"
    if not (marker.exists() and marker.read_text() == SITE_VERSION):
        t = time.time()
        make_site(folder, n, layouts=("umap", "grid"), dims3=True, variants=False, seed=1)
        marker.write_text(SITE_VERSION)
        print(f"  wrote synthetic site n={n} in {time.time() - t:.1f}s", flush=True)
    shutil.copytree(ROOT / "viewer", folder, dirs_exist_ok=True)  # measure the current viewer
    (folder / "raw.html").write_text(RAW_PAGE)
    return folder


def run(sizes, frames, cache):
    from playwright.sync_api import sync_playwright

    chromium = find_chromium()
    if not chromium:
        sys.exit("Chromium not found: set PIXMAP_CHROMIUM or install chromium")
    results = []
    with sync_playwright() as p:
        # Chromium writes under $HOME: give it a temporary one
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS,
                                    env={**os.environ, "HOME": tempfile.mkdtemp(prefix="pixmap-bench-home-")})
        for n in sizes:
            folder = site_for(n, cache)
            server = StaticServer(folder)
            try:
                ctx = browser.new_context(viewport={"width": 1280, "height": 720}, device_scale_factor=1)
                page = ctx.new_page()
                errors = []
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                t0 = time.perf_counter()
                page.goto(server.url + "index.html")
                page.evaluate("pixmap.ready")
                wall = time.perf_counter() - t0
                first = page.evaluate("pixmap.stats().firstFrameMs")
                stats = page.evaluate("pixmap.stats()")
                size = page.evaluate("[document.getElementById('map').width, document.getElementById('map').height]")
                raw_pages = []
                for query in (f"?w={size[0]}&h={size[1]}", f"?w={size[0]}&h={size[1]}&nomin"):
                    ctx_raw = browser.new_context(viewport={"width": 1280, "height": 720}, device_scale_factor=1)
                    raw_page = ctx_raw.new_page()
                    raw_page.goto(server.url + "raw.html" + query)
                    raw_page.wait_for_function("window.rawReady === true", timeout=120_000)
                    raw_pages.append(raw_page)
                page.wait_for_function("!pixmap.stats().compilingShaders", timeout=120_000)
                page.wait_for_timeout(1500)  # let loading screens fade and background fetches settle
                viewer, raw, raw_nomin = measure_alternating(
                    [("viewer", page), ("raw", raw_pages[0]), ("raw", raw_pages[1])], frames)
                for p_ in [page] + raw_pages:
                    p_.context.close()
            finally:
                server.close()
            v, r = statistics.median(viewer), statistics.median(raw)
            results.append({"n": n, "viewer_ms": v, "raw_ms": r, "ratio": v / r, "first_frame_ms": first,
                            "raw_nomin_ms": statistics.median(raw_nomin),
                            "wall_to_ready_s": wall, "draw_calls": stats["drawCalls"], "canvas": size,
                            "errors": errors})
            print(f"  n={n:>8}: viewer {v:8.1f} ms  raw {r:8.1f} ms  ratio {v / r:5.2f}  "
                  f"(raw without 1px minimum {statistics.median(raw_nomin):.1f} ms)  "
                  f"first frame {first:7.0f} ms  (draw calls {stats['drawCalls']}, canvas {size[0]}x{size[1]})",
                  flush=True)
        browser.close()
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--cache", default=str(ROOT / "out" / "bench-sites"),
                    help="where the synthetic sites are written (reused between runs)")
    ap.add_argument("--json", help="also write the results here")
    a = ap.parse_args()
    cache = Path(a.cache)
    cache.mkdir(parents=True, exist_ok=True)
    print(f"viewer benchmark, 1280x720 viewport, median of {a.frames} frames (draw + 1-pixel readPixels)")
    results = run(a.sizes, a.frames, cache)
    print()
    print("| images | viewer ms/frame | raw ms/frame | viewer/raw | raw, no 1px minimum | first frame (ms from navigation) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['n']:,} | {r['viewer_ms']:.1f} | {r['raw_ms']:.1f} | {r['ratio']:.2f} | {r['raw_nomin_ms']:.1f} "
              f"| {r['first_frame_ms']:.0f} |")
    ok_ratio = all(r["ratio"] <= 1.1 for r in results)
    ttff = [r for r in results if r["n"] == 100_000]
    ok_ttff = all(r["first_frame_ms"] < 2000 for r in ttff)
    print()
    print(f"target viewer/raw <= 1.1: {'met' if ok_ratio else 'NOT met'}")
    if ttff:
        print(f"target first frame of the 100k map < 2 s: {'met' if ok_ttff else 'NOT met'} "
              f"({ttff[0]['first_frame_ms']:.0f} ms)")
    for r in results:
        if r["errors"]:
            print(f"console errors at n={r['n']}: {r['errors'][:3]}")
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
