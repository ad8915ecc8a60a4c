// The lasso: which images lie inside a polygon drawn on the map, exactly (not its convex hull), and the
// tool that draws it. An image is inside when the point where it is drawn (its centre, as
// window.pixmap.screenPosition gives it) lies inside the polygon by the even-odd rule, the rule the
// drawn outline is filled with. Points are CSS pixels relative to the canvas's top-left corner.
//
// Speed: the polygon's edges are sorted into horizontal bands, so a point is tested against the few
// edges of its band, not all of them. In 2D, a polygon over a small part of the map looks only at the
// images in the picking grid's cells under its bounding box (picking.js); one over much of it (more
// than a quarter of the images in those cells) goes through the positions in order instead, which is
// faster there. In 3D every image is projected once (there is no such grid).

const MIN_STEP = 2; // px the pointer moves before the drawn path takes another point

/** An even-odd point-in-polygon test over edges bucketed by y. points: [[x, y], ...] (closed implicitly). */
export class Polygon {
  constructor(points) {
    const pts = points.filter((p) => Array.isArray(p) && Number.isFinite(p[0]) && Number.isFinite(p[1]));
    const n = (this.n = pts.length);
    const xs = (this.xs = new Float64Array(n)), ys = (this.ys = new Float64Array(n));
    pts.forEach((p, k) => { xs[k] = p[0]; ys[k] = p[1]; });
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (let k = 0; k < n; k++) {
      x0 = Math.min(x0, xs[k]); x1 = Math.max(x1, xs[k]);
      y0 = Math.min(y0, ys[k]); y1 = Math.max(y1, ys[k]);
    }
    this.box = [x0, y0, x1, y1];
    this.x0 = x0; this.y0 = y0; this.x1 = x1; this.y1 = y1;
    // bands: every edge is listed in each band its y extent touches
    const bands = (this.bands = Math.max(1, Math.min(1024, n)));
    this.bandInv = bands / Math.max(y1 - y0, 1e-9);
    const counts = new Uint32Array(bands + 1);
    const edges = n >= 3 ? n : 0;
    const span = (k) => {
      const j = (k + 1) % n;
      return [this._band(Math.min(ys[k], ys[j])), this._band(Math.max(ys[k], ys[j]))];
    };
    for (let k = 0; k < edges; k++) {
      const [a, b] = span(k);
      for (let t = a; t <= b; t++) counts[t + 1]++;
    }
    for (let t = 0; t < bands; t++) counts[t + 1] += counts[t];
    const fill = counts.slice(0, bands);
    this.start = counts;
    // per listed edge: its end points (x, y of both), so a test reads one small array
    this.edges = new Float64Array(counts[bands] * 4);
    for (let k = 0; k < edges; k++) {
      const [a, b] = span(k), j = (k + 1) % n;
      for (let t = a; t <= b; t++) {
        const o = fill[t]++ * 4;
        this.edges[o] = xs[k]; this.edges[o + 1] = ys[k]; this.edges[o + 2] = xs[j]; this.edges[o + 3] = ys[j];
      }
    }
  }

  _band(y) {
    return Math.min(this.bands - 1, Math.max(0, Math.floor((y - this.y0) * this.bandInv)));
  }

  /** Whether (x, y) is inside (even-odd rule; a polygon of fewer than 3 points contains nothing). */
  contains(x, y) {
    if (!(x >= this.x0 && x <= this.x1 && y >= this.y0 && y <= this.y1) || this.n < 3) return false;
    let t = Math.floor((y - this.y0) * this.bandInv);
    if (t >= this.bands) t = this.bands - 1;
    const e = this.edges, end = this.start[t + 1] * 4;
    let inside = false;
    for (let o = this.start[t] * 4; o < end; o += 4) {
      const xa = e[o], ya = e[o + 1], xb = e[o + 2], yb = e[o + 3];
      if ((ya > y) !== (yb > y) && x < xa + ((y - ya) * (xb - xa)) / (yb - ya)) inside = !inside;
    }
    return inside;
  }
}

/**
 * The images (sorted Uint32Array of indices) whose drawn centre lies inside the polygon, in the view
 * the app shows now. app: the viewer (layout, camera, vp, picker, transition, screenPosition);
 * info.path is set to how they were found: "transition", "3d", "scan" or "grid".
 */
export function imagesInPolygon(app, points, info = {}) {
  const poly = new Polygon(points);
  const n = app.site.count, vp = app.vp, cam = app.camera;
  const buf = new Uint32Array(poly.n >= 3 ? n : 0);
  let k = 0;
  if (poly.n < 3) return buf;
  if (app.transition) {
    info.path = "transition";
    // mid-transition (rare): where each image is drawn now, one by one
    const r = app.canvas.getBoundingClientRect();
    for (let i = 0; i < n; i++) {
      const s = app.screenPosition(i);
      if (s && poly.contains(s.x - r.left, s.y - r.top)) buf[k++] = i;
    }
    return buf.slice(0, k);
  }
  const entry = app.layout, p = entry.positions, d = entry.dims;
  if (d === 3 || cam.kind === "3d") {
    info.path = "3d";
    const project = cam.projector(vp);
    for (let i = 0; i < n; i++) {
      const s = project(p[i * d], p[i * d + 1], d === 3 ? p[i * d + 2] : 0);
      if (s && poly.contains(s[0], s[1])) buf[k++] = i;
    }
    return buf.slice(0, k);
  }
  // 2D: the polygon's bounding box in layout units
  const [x0, y0, x1, y1] = poly.box;
  const [wa, wb] = [cam.screenToWorld(x0, y1, vp), cam.screenToWorld(x1, y0, vp)];
  const s = cam.scale(vp), pad = 1 / s; // (a pixel: the exact test decides)
  const hw = vp.width / 2, hh = vp.height / 2, cx = cam.x, cy = cam.y;
  const grid = app.picker.grid(entry);
  const rect = [wa[0] - pad, wa[1] - pad, wb[0] + pad, wb[1] + pad];
  // (the screen position: camera.worldToScreen's arithmetic, as screenPosition computes it)
  if (grid.countInRect(...rect) > n / 4) {
    info.path = "scan";
    // most of the map: one pass in data order, which reads memory in order (faster than the grid's cells)
    for (let i = 0; i < n; i++) {
      const x = p[i * d], y = p[i * d + 1];
      if (Number.isFinite(x) && Number.isFinite(y) && poly.contains(hw + (x - cx) * s, hh - (y - cy) * s)) buf[k++] = i;
    }
    return buf.slice(0, k);
  }
  // else only the images in the picking grid's cells under the box
  info.path = "grid";
  grid.forEachInRect(...rect, (i) => {
    if (poly.contains(hw + (p[i * d] - cx) * s, hh - (p[i * d + 1] - cy) * s)) buf[k++] = i;
    return false;
  });
  return buf.slice(0, k).sort(); // (in data order)
}

/**
 * The lasso tool: an overlay canvas over the map that, while lasso mode is on, takes the pointer: a
 * drag draws the path (filled, so what is inside shows), release selects what it encloses (shift:
 * adds, alt: subtracts, else replaces); a click without a drag acts as a click on the map; the wheel
 * still zooms. Off, the overlay lets every event through to the map.
 */
export class LassoTool {
  /** stage: the element around the map; app: the viewer (canvas, vp, clickAt, lassoSelect). */
  constructor(stage, app, onModeChange) {
    this.app = app;
    this.onModeChange = onModeChange || (() => {});
    this.active = false;
    this.path = null;
    this.canvas = document.createElement("canvas");
    this.canvas.id = "lasso";
    this.canvas.setAttribute("aria-hidden", "true");
    app.canvas.after(this.canvas);
    const c = this.canvas;
    const local = (e) => {
      const r = app.canvas.getBoundingClientRect();
      return [e.clientX - r.left, e.clientY - r.top];
    };
    c.addEventListener("pointerdown", (e) => {
      if (e.pointerType === "mouse" && e.button !== 0) return;
      try {
        c.setPointerCapture(e.pointerId);
      } catch {
        // (synthetic pointers cannot be captured)
      }
      app.interrupt();
      this.path = {id: e.pointerId, points: [local(e)], add: e.shiftKey, subtract: e.altKey};
      this._draw();
    });
    c.addEventListener("pointermove", (e) => {
      if (!this.path || e.pointerId !== this.path.id) return;
      const pts = this.path.points;
      // (every move since the last event: the browser merges fast moves into one event per frame)
      const moves = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
      for (const m of moves.length ? moves : [e]) {
        const [x, y] = local(m), last = pts[pts.length - 1];
        if (Math.hypot(x - last[0], y - last[1]) >= MIN_STEP) pts.push([x, y]);
      }
      this._draw();
    });
    const end = (e) => {
      const path = this.path;
      if (!path || e.pointerId !== path.id) return;
      this.path = null;
      this._draw();
      if (e.type !== "pointerup") return;
      const [x, y] = local(e);
      const pts = path.points, last = pts[pts.length - 1];
      if (Math.hypot(x - last[0], y - last[1]) >= MIN_STEP) pts.push([x, y]);
      const mod = {shiftKey: path.add || e.shiftKey, altKey: path.subtract || e.altKey, ctrlKey: e.ctrlKey, metaKey: e.metaKey};
      if (pts.length < 3) {
        app.clickAt(x, y, mod); // a click in lasso mode is a click on the map
        return;
      }
      app.lassoSelect(pts, mod.altKey ? "subtract" : mod.shiftKey ? "add" : "replace");
    };
    c.addEventListener("pointerup", end);
    c.addEventListener("pointercancel", end);
    c.addEventListener("wheel", (e) => {
      e.preventDefault();
      app.canvas.dispatchEvent(new WheelEvent("wheel", e)); // (the map zooms as usual)
    }, {passive: false});
    c.addEventListener("contextmenu", (e) => e.preventDefault());
  }

  setActive(on) {
    on = !!on;
    if (on === this.active) return;
    this.active = on;
    this.path = null;
    this.canvas.classList.toggle("active", on);
    this._draw();
    this.onModeChange(on);
  }

  _draw() {
    const c = this.canvas, vp = this.app.vp, dpr = Math.min(window.devicePixelRatio || 1, 2);
    const w = Math.round(vp.width * dpr), h = Math.round(vp.height * dpr);
    if (c.width !== w || c.height !== h) {
      c.width = w;
      c.height = h;
    }
    const ctx = c.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, vp.width, vp.height);
    const pts = this.path && this.path.points;
    if (!pts || pts.length < 2) return;
    ctx.beginPath();
    ctx.moveTo(pts[0][0], pts[0][1]);
    for (let k = 1; k < pts.length; k++) ctx.lineTo(pts[k][0], pts[k][1]);
    ctx.closePath();
    ctx.fillStyle = this.path.subtract ? "rgba(240, 110, 90, 0.14)" : "rgba(95, 200, 255, 0.14)";
    ctx.fill("evenodd");
    ctx.lineWidth = 1.5;
    ctx.setLineDash([6, 4]);
    ctx.strokeStyle = this.path.subtract ? "rgba(240, 110, 90, 0.95)" : "rgba(95, 200, 255, 0.95)";
    ctx.stroke();
  }
}
