// CPU picking and visibility. 2D: a uniform grid over the layout's positions (built once per
// layout; a query touches a few cells, fast for 1M images). 3D: project the points with the orbit
// camera (only on pointer moves / view changes, never per frame) and take the nearest hit.

/** Per-image quad shape from its atlas cell: half extents relative to size/2 (longest side = 1). */
export function quadShapes(cells, n) {
  const fx = new Float32Array(n), fy = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const w = cells[i * 5 + 3], h = cells[i * 5 + 4];
    const a = h > 0 ? w / h : 1;
    fx[i] = Math.min(1, a);
    fy[i] = Math.min(1, 1 / a);
  }
  return {fx, fy};
}

export class Grid2D {
  constructor(positions, dims, n) {
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (let i = 0; i < n; i++) {
      const x = positions[i * dims], y = positions[i * dims + 1];
      if (!(Number.isFinite(x) && Number.isFinite(y))) continue;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
    if (!(x0 <= x1)) { x0 = y0 = -1; x1 = y1 = 1; }
    const G = Math.max(1, Math.min(2048, Math.ceil(Math.sqrt(n / 2))));
    this.G = G;
    this.x0 = x0;
    this.y0 = y0;
    this.cw = Math.max((x1 - x0) / G, 1e-9);
    this.ch = Math.max((y1 - y0) / G, 1e-9);
    this.positions = positions;
    this.dims = dims;
    const cellOf = new Int32Array(n);
    const start = new Uint32Array(G * G + 1);
    for (let i = 0; i < n; i++) {
      const x = positions[i * dims], y = positions[i * dims + 1];
      if (!(Number.isFinite(x) && Number.isFinite(y))) { cellOf[i] = -1; continue; }
      const c = this._cy(y) * G + this._cx(x);
      cellOf[i] = c;
      start[c + 1]++;
    }
    for (let c = 0; c < G * G; c++) start[c + 1] += start[c];
    const fill = start.slice(0, G * G);
    const items = new Uint32Array(start[G * G]);
    for (let i = 0; i < n; i++) if (cellOf[i] >= 0) items[fill[cellOf[i]]++] = i;
    this.start = start;
    this.items = items;
  }

  _cx(x) {
    return Math.min(this.G - 1, Math.max(0, Math.floor((x - this.x0) / this.cw)));
  }

  _cy(y) {
    return Math.min(this.G - 1, Math.max(0, Math.floor((y - this.y0) / this.ch)));
  }

  /** Call fn(i) for every image whose centre lies in the rectangle (stops when fn returns true). */
  forEachInRect(xa, ya, xb, yb, fn) {
    const ca = this._cx(xa), cb = this._cx(xb), ra = this._cy(ya), rb = this._cy(yb);
    const p = this.positions, d = this.dims;
    for (let r = ra; r <= rb; r++) {
      for (let c = ca; c <= cb; c++) {
        const cell = r * this.G + c;
        for (let k = this.start[cell]; k < this.start[cell + 1]; k++) {
          const i = this.items[k];
          const x = p[i * d], y = p[i * d + 1];
          if (x >= xa && x <= xb && y >= ya && y <= yb && fn(i)) return;
        }
      }
    }
  }
}

/**
 * Picking/visibility for the current layout. `view` describes the current frame:
 * {camera, vp (CSS viewport), size (quad size, layout units), minPx (CSS px), slotOf (draw order)}.
 */
export class Picker {
  constructor(shapes, n) {
    this.fx = shapes.fx;
    this.fy = shapes.fy;
    this.n = n;
    this.grids = new Map();
  }

  grid(entry) {
    let g = this.grids.get(entry.name);
    if (!g) {
      g = new Grid2D(entry.positions, entry.dims, this.n);
      this.grids.set(entry.name, g);
    }
    return g;
  }

  /** Half size (layout units) of the largest quad, the min-pixel rule included. */
  _grow(size, pxPerUnit, minPx) {
    return Math.max(1, (0.5 * minPx) / (0.5 * size * pxPerUnit));
  }

  /** The image under screen point (sx, sy) in CSS px, or -1. */
  pick(entry, view, sx, sy) {
    return entry.dims === 3 ? this._pick3D(entry, view, sx, sy) : this._pick2D(entry, view, sx, sy);
  }

  _pick2D(entry, view, sx, sy) {
    const {camera, vp, size, minPx, slotOf} = view;
    const [wx, wy] = camera.screenToWorld(sx, sy, vp);
    const s = camera.scale(vp);
    const half = 0.5 * size * this._grow(size, s, minPx);
    const p = entry.positions, d = entry.dims;
    let best = -1, bestSlot = -1;
    this.grid(entry).forEachInRect(wx - half, wy - half, wx + half, wy + half, (i) => {
      if (Math.abs(p[i * d] - wx) <= half * this.fx[i] && Math.abs(p[i * d + 1] - wy) <= half * this.fy[i]) {
        if (slotOf[i] > bestSlot) { best = i; bestSlot = slotOf[i]; }
      }
      return false;
    });
    return best;
  }

  _pick3D(entry, view, sx, sy) {
    const {camera, vp, size, minPx} = view;
    const project = camera.projector(vp);
    const p = entry.positions;
    let best = -1, bestDepth = Infinity;
    for (let i = 0; i < this.n; i++) {
      const r = project(p[i * 3], p[i * 3 + 1], p[i * 3 + 2]);
      if (!r || r[2] >= bestDepth) continue;
      const half = 0.5 * size * r[3] * this._grow(size, r[3], minPx);
      if (Math.abs(r[0] - sx) <= half * this.fx[i] && Math.abs(r[1] - sy) <= half * this.fy[i]) {
        best = i;
        bestDepth = r[2];
      }
    }
    return best;
  }

  /**
   * Images in view whose quads are at least minQuadPx CSS px, nearest to the view centre first
   * (at most `limit`). Returns [{i, px, dist}], px = the quad's longest side on screen.
   */
  visible(entry, view, minQuadPx, limit) {
    const {camera, vp, size} = view;
    const out = [];
    const cx = vp.width / 2, cy = vp.height / 2;
    const p = entry.positions, d = entry.dims;
    if (d === 3) {
      const project = camera.projector(vp);
      for (let i = 0; i < this.n; i++) {
        const r = project(p[i * 3], p[i * 3 + 1], p[i * 3 + 2]);
        if (!r) continue;
        const px = size * r[3];
        if (!(px >= minQuadPx)) continue;
        const h = px / 2;
        if (r[0] < -h || r[1] < -h || r[0] > vp.width + h || r[1] > vp.height + h) continue;
        out.push({i, px, dist: Math.hypot(r[0] - cx, r[1] - cy)});
      }
    } else {
      const s = camera.scale(vp);
      const px = size * s;
      if (px < minQuadPx) return out;
      const [xa, ya, xb, yb] = camera.viewRect(vp);
      const m = size / 2;
      const [wx, wy] = [camera.x, camera.y];
      this.grid(entry).forEachInRect(xa - m, ya - m, xb + m, yb + m, (i) => {
        out.push({i, px, dist: Math.hypot(p[i * d] - wx, p[i * d + 1] - wy) * s});
        return out.length > 20000;
      });
    }
    out.sort((a, b) => a.dist - b.dist);
    if (out.length > limit) out.length = limit;
    return out;
  }
}
