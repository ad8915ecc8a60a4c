// The similarity graph: every image's neighbour edges (neighbors.js) drawn as lines on the map, the
// museum-map view. One GL_LINES draw by vertex pulling: vertex v is end v % 2 of edge e = v / 2, the
// edge of draw slot s = e / k to its (e % k)-th neighbour; an edge texture (R32UI, one texel per edge,
// in slot order) holds the neighbour's slot (low 24 bits) and the edge's quantised distance (high 8),
// and the positions come from the renderer's position textures (both layouts of a transition). No
// per-frame CPU work proportional to the number of edges.
//
// Readable at every zoom: lines are 1 device pixel wide; an edge's alpha fades with its distance (the
// nearest tenth of the map's edges full, the farthest tenth at MIN_FADE), and the whole graph's alpha
// follows how much line is on screen (edges in view times their typical length in pixels, against the
// view's area), so the zoomed-out map of many thousand edges is a haze, not a white sheet, and a few
// edges zoomed in are clearly drawn. The focused image's own edges (the open or the hovered image) are
// drawn again on top, bright.
import {createProgram, createDataTexture} from "./gl.js";

const MIN_FADE = 0.25;        // alpha of the farthest edges, relative to the nearest
const INK = 0.35;             // share of the view the graph's lines may cover at full alpha
const ALPHA_RANGE = [0.03, 0.6];
const COLOUR = [0.72, 0.84, 1.0];
const FOCUS_COLOUR = [1.0, 0.74, 0.28];
const EDGE_UNIT = 7;          // texture unit of the edge texture (the renderer uses 0-6)
const SAMPLE = 4000;          // edges sampled to measure a layout's typical edge length

const VS = `
precision highp float;
precision highp int;
precision highp sampler2D;
precision highp usampler2D;
uniform sampler2D uPosA;
uniform sampler2D uPosB;
uniform usampler2D uEdges;
uniform int uDataWidth;
uniform int uEdgeWidth;
uniform int uK;
uniform int uFirst;           // first edge of this draw
uniform float uT;             // transition A -> B (0: A only)
#if DIMS == 3
uniform mat4 uViewProj;
#else
uniform vec4 uView2D;         // clip = position * xy + zw
#endif
uniform vec2 uFade;           // quantised distances at full alpha and at MIN_FADE
uniform float uAlpha;
uniform float uMinFade;
out float vAlpha;
vec4 pos(int slot) {
  ivec2 tc = ivec2(slot % uDataWidth, slot / uDataWidth);
  vec4 a = texelFetch(uPosA, tc, 0);
  if (uT <= 0.0) return a;
  vec4 b = texelFetch(uPosB, tc, 0);
  vec4 p = mix(a, b, uT);
  p.w = min(a.w, b.w);
  return p;
}
void main() {
  int e = uFirst + gl_VertexID / 2;
  int s = e / uK;
  uint t = texelFetch(uEdges, ivec2(e % uEdgeWidth, e / uEdgeWidth), 0).r;
  int o = int(t & 0xFFFFFFu);
  float q = float(t >> 24u);
  vec4 from = pos(s), to = pos(o);
  vec4 p = (gl_VertexID % 2 == 0) ? from : to;
#if DIMS == 3
  vec4 clip = uViewProj * vec4(p.xyz, 1.0);
#else
  vec4 clip = vec4(p.xy * uView2D.xy + uView2D.zw, 0.0, 1.0);
#endif
  // an edge to or from an image this layout does not place is not drawn
  gl_Position = (from.w < 0.0 || to.w < 0.0) ? vec4(2.0, 2.0, 2.0, 1.0) : clip;
  vAlpha = uAlpha * mix(1.0, uMinFade, smoothstep(uFade.x, uFade.y, q));
}`;

const FS = `
precision highp float;
uniform vec3 uColour;
in float vAlpha;
out vec4 outColor;
void main() { outColor = vec4(uColour, vAlpha); }`;

const header = (dims) => `#version 300 es\n#define DIMS ${dims}\n`;

export class GraphLayer {
  /** renderer: the map's Renderer (its GL context, slots, position textures and GPU budget). */
  constructor(renderer) {
    this.r = renderer;
    this.gl = renderer.gl;
    this.visible = false;
    this.focus = -1;          // image whose edges are drawn bright (-1: none)
    this.k = 0;
    this.edges = 0;
    this.tex = null;
    this.programs = new Map();
    this.lengths = new Map(); // position key -> {length (typical edge, layout units), area (bounding box)}
    this.fade = [0, 255];
    this.alpha = 0;           // the last frame's alpha (stats)
  }

  /** Every image's k neighbours (image order: ids[i k + j], q[i k + j]; neighbors.js all()). */
  setEdges(ids, q, k) {
    const gl = this.gl, r = this.r, n = r.n;
    const edges = n * k;
    const width = Math.max(1, Math.min(r.caps.maxTextureSize, 4096, edges));
    const rows = Math.max(1, Math.ceil(edges / width));
    if (rows > r.caps.maxTextureSize) throw new Error(`the similarity graph's ${edges} edges do not fit in this GPU's textures`);
    const data = new Uint32Array(width * rows);
    const order = r.order, slotOf = r.slotOf;
    for (let s = 0; s < n; s++) {
      const i = order[s];
      for (let j = 0; j < k; j++) {
        const e = i * k + j;
        data[s * k + j] = (slotOf[ids[e]] | (q[e] << 24)) >>> 0;
      }
    }
    if (this.tex) {
      gl.deleteTexture(this.tex);
      r.budget.sub("data", this.bytes);
    }
    gl.activeTexture(gl.TEXTURE0 + EDGE_UNIT);
    this.tex = createDataTexture(gl, gl.R32UI, gl.RED_INTEGER, gl.UNSIGNED_INT, width, rows, data);
    gl.activeTexture(gl.TEXTURE0);
    this.bytes = width * rows * 4;
    r.budget.add("data", this.bytes);
    this.width = width;
    this._ids = ids; // (image order: for measuring a layout's edge lengths)
    this.k = k;
    this.edges = edges;
    this.lengths.clear();
    // fading: the nearest tenth of the edges at full alpha, the farthest tenth at MIN_FADE
    const hist = new Uint32Array(256);
    for (let e = 0; e < edges; e++) hist[q[e]]++;
    const at = (share) => {
      let seen = 0;
      for (let v = 0; v < 256; v++) if ((seen += hist[v]) >= share * edges) return v;
      return 255;
    };
    const lo = at(0.1), hi = at(0.9);
    this.fade = [lo, Math.max(lo + 1, hi)];
  }

  _program(dims) {
    let p = this.programs.get(dims);
    if (!p) {
      p = createProgram(this.gl, header(dims) + VS, header(dims) + FS);
      this.programs.set(dims, p);
    }
    return p;
  }

  /** A layout's typical edge length (median of a sample) and its bounding box's area, in layout units. */
  _measure(key, pos) {
    let m = this.lengths.get(key);
    if (m) return m;
    const r = this.r, n = r.n, k = this.k, data = pos.data;
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (let s = 0, o = 0; s < n; s++, o += 4) {
      if (data[o + 3] < 0) continue;
      if (data[o] < x0) x0 = data[o];
      if (data[o] > x1) x1 = data[o];
      if (data[o + 1] < y0) y0 = data[o + 1];
      if (data[o + 1] > y1) y1 = data[o + 1];
    }
    const ids = this._ids;
    const lens = [];
    const step = Math.max(1, Math.floor((n * k) / SAMPLE));
    for (let e = 0; e < n * k && ids; e += step) {
      const i = Math.floor(e / k), a = r.slotOf[i] * 4, b = r.slotOf[ids[e]] * 4;
      if (data[a + 3] < 0 || data[b + 3] < 0) continue;
      const dx = data[a] - data[b], dy = data[a + 1] - data[b + 1], dz = data[a + 2] - data[b + 2];
      lens.push(Math.sqrt(dx * dx + dy * dy + dz * dz));
    }
    lens.sort((p, q) => p - q);
    const area = Math.max(1e-6, (x1 - x0) * (y1 - y0));
    m = {length: lens.length ? lens[lens.length >> 1] : 0.01, area};
    this.lengths.set(key, m);
    return m;
  }

  /** The graph's alpha for this view (see the top of this file). */
  _alpha(f, key, pos, viewProj, W, H, dims) {
    const {length, area} = this._measure(key, pos);
    let pxPerUnit, fraction;
    if (dims === 3) {
      const distance = Math.max(1e-3, Math.abs(f.view[14]));
      pxPerUnit = (f.proj[5] * 0.5 * H) / distance;
      fraction = 1;
    } else {
      const sx = Math.abs(viewProj[0]) * 0.5 * W, sy = Math.abs(viewProj[5]) * 0.5 * H;
      pxPerUnit = sy;
      fraction = Math.min(1, (W / sx) * (H / sy) / area);
    }
    const inView = Math.max(1, this.edges * fraction);
    const ink = inView * Math.max(1, length * pxPerUnit);
    return Math.min(ALPHA_RANGE[1], Math.max(ALPHA_RANGE[0], (INK * W * H) / ink));
  }

  /**
   * Draw the graph (called by the renderer after the images): f the renderer's frame, {A, B} the position
   * entries, transition, viewProj, W, H (device px). Returns the number of draw calls.
   */
  draw(f, {A, B, transition, viewProj, W, H}) {
    if (!this.visible || !this.tex || !this.edges) return 0;
    const gl = this.gl, r = this.r;
    const dims = f.depth ? 3 : 2;
    const prog = this._program(dims), u = prog.u;
    gl.useProgram(prog.program);
    gl.activeTexture(gl.TEXTURE0);
    gl.bindTexture(gl.TEXTURE_2D, A.tex);
    gl.activeTexture(gl.TEXTURE1);
    gl.bindTexture(gl.TEXTURE_2D, B.tex);
    gl.activeTexture(gl.TEXTURE0 + EDGE_UNIT);
    gl.bindTexture(gl.TEXTURE_2D, this.tex);
    gl.uniform1i(u.uPosA, 0);
    gl.uniform1i(u.uPosB, 1);
    gl.uniform1i(u.uEdges, EDGE_UNIT);
    gl.uniform1i(u.uDataWidth, r.dataWidth);
    gl.uniform1i(u.uEdgeWidth, this.width);
    gl.uniform1i(u.uK, this.k);
    gl.uniform1f(u.uT, transition ? f.t : 0);
    if (dims === 3) gl.uniformMatrix4fv(u.uViewProj, false, viewProj);
    else gl.uniform4f(u.uView2D, viewProj[0], viewProj[5], viewProj[12], viewProj[13]);
    gl.uniform2f(u.uFade, this.fade[0], this.fade[1]);
    gl.uniform1f(u.uMinFade, MIN_FADE);
    gl.enable(gl.BLEND);
    gl.blendFunc(gl.SRC_ALPHA, gl.ONE_MINUS_SRC_ALPHA);
    if (f.depth) gl.depthMask(false);
    this.alpha = this._alpha(f, f.a, A, viewProj, W, H, dims);
    gl.uniform1f(u.uAlpha, this.alpha);
    gl.uniform3f(u.uColour, ...COLOUR);
    gl.uniform1i(u.uFirst, 0);
    gl.drawArrays(gl.LINES, 0, this.edges * 2);
    let calls = 1;
    const focus = this.focus >= 0 ? this.focus : f.hover; // (the open image, else the hovered one)
    if (focus >= 0 && focus < r.n) {
      gl.uniform1f(u.uAlpha, 0.95);
      gl.uniform1f(u.uMinFade, 0.55);
      gl.uniform3f(u.uColour, ...FOCUS_COLOUR);
      gl.uniform1i(u.uFirst, r.slotOf[focus] * this.k);
      gl.drawArrays(gl.LINES, 0, this.k * 2);
      calls++;
    }
    if (f.depth) gl.depthMask(true);
    gl.disable(gl.BLEND);
    gl.activeTexture(gl.TEXTURE0);
    return calls;
  }

  stats() {
    return {graphVisible: this.visible, graphEdges: this.edges, graphAlpha: this.alpha, graphFocus: this.focus};
  }
}
