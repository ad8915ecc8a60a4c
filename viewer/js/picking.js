// CPU picking and visibility. 2D: a uniform grid over the layout's positions (built once per
// layout; a query touches a few cells, fast for 1M images). 3D: the points projected once per
// camera view (cached until the view changes) into a grid of screen buckets, so a pointer move
// looks at one bucket, not every image. Also which level-1 tiles hold the images in view (tiles()),
// scanning from the view's centre outwards and stopping after a fixed number of images.

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

  /** Call fn(i) for the images in the rectangle, grid cells nearest (cx, cy) first (stops when fn returns true). */
  forEachNear(xa, ya, xb, yb, cx, cy, fn) {
    const ca = this._cx(xa), cb = this._cx(xb), ra = this._cy(ya), rb = this._cy(yb);
    const cols = cb - ca + 1, rows = rb - ra + 1;
    if (cols * rows > 250000) {
      this.forEachInRect(xa, ya, xb, yb, fn); // (a view this wide shows images too small for tiles)
      return;
    }
    const order = new Uint32Array(cols * rows), dist = new Float32Array(cols * rows);
    const kx = this.cw, ky = this.ch;
    for (let r = 0, k = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++, k++) {
        order[k] = k;
        dist[k] = Math.hypot((this.x0 + (ca + c + 0.5) * kx - cx) / kx, (this.y0 + (ra + r + 0.5) * ky - cy) / ky);
      }
    }
    order.sort((a, b) => dist[a] - dist[b]);
    const p = this.positions, d = this.dims;
    for (const k of order) {
      const cell = (ra + Math.floor(k / cols)) * this.G + ca + (k % cols);
      for (let j = this.start[cell]; j < this.start[cell + 1]; j++) {
        const i = this.items[j];
        const x = p[i * d], y = p[i * d + 1];
        if (x >= xa && x <= xb && y >= ya && y <= yb && fn(i)) return;
      }
    }
  }

  /** How many images the grid cells under the rectangle hold (at least those inside it). */
  countInRect(xa, ya, xb, yb) {
    const ca = this._cx(xa), cb = this._cx(xb), ra = this._cy(ya), rb = this._cy(yb);
    let count = 0;
    for (let r = ra; r <= rb; r++) count += this.start[r * this.G + cb + 1] - this.start[r * this.G + ca];
    return count;
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
 * {camera, vp (CSS viewport), size (quad size, layout units), minPx (CSS px), slotOf (draw order),
 *  onTop (null, or per image 1 + the tile array it is drawn again from, above the others)}.
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
    const {camera, vp, size, minPx, slotOf, onTop} = view;
    const [wx, wy] = camera.screenToWorld(sx, sy, vp);
    const s = camera.scale(vp);
    const half = 0.5 * size * this._grow(size, s, minPx);
    const p = entry.positions, d = entry.dims;
    let best = -1, bestSlot = -1;
    this.grid(entry).forEachInRect(wx - half, wy - half, wx + half, wy + half, (i) => {
      if (Math.abs(p[i * d] - wx) <= half * this.fx[i] && Math.abs(p[i * d + 1] - wy) <= half * this.fy[i]) {
        const rank = onTop && onTop[i] ? onTop[i] * this.n + slotOf[i] : slotOf[i]; // as drawn: tiles last
        if (rank > bestSlot) { best = i; bestSlot = rank; }
      }
      return false;
    });
    return best;
  }

  /** The 3D layout projected for this view (rebuilt only when the view changed). */
  screen(entry, view) {
    const {camera, vp, size, minPx} = view;
    const key = `${entry.name}|${JSON.stringify(camera.state)}|${vp.width}x${vp.height}|${size}|${minPx}`;
    if (!this._screen || this._screen.key !== key || this._screen.positions !== entry.positions) {
      this._screen = new Screen3D(entry.positions, this.n, camera.projector(vp), vp, size, minPx, this.fx, this.fy);
      this._screen.key = key;
      this._screen.positions = entry.positions;
    }
    return this._screen;
  }

  _pick3D(entry, view, sx, sy) {
    return this.screen(entry, view).pick(sx, sy);
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
      const scr = this.screen(entry, view);
      scr.forEachNearCentre((i) => {
        const px = 2 * scr.half[i];
        if (px >= minQuadPx) out.push({i, px, dist: Math.hypot(scr.sx[i] - cx, scr.sy[i] - cy)});
        return out.length > 20000;
      });
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

  /**
   * Level-1 tiles holding images in view whose quads are at least minQuadPx CSS px, best first: the
   * most images in view, nearest the view's centre. Scans at most `cap` images, from the centre out.
   * Returns [{t, count, dist}] (at most `limit`).
   */
  tiles(entry, view, tileOf, minQuadPx, {cap = 30000, limit = 256} = {}) {
    const {camera, vp, size} = view;
    const cx = vp.width / 2, cy = vp.height / 2;
    const count = new Map(), near = new Map();
    let seen = 0;
    const add = (i, dist) => {
      const t = tileOf[i];
      count.set(t, (count.get(t) || 0) + 1);
      const m = near.get(t);
      if (m === undefined || dist < m) near.set(t, dist);
      return ++seen >= cap;
    };
    const p = entry.positions;
    if (entry.dims === 3) {
      const scr = this.screen(entry, view);
      scr.forEachNearCentre((i) => 2 * scr.half[i] >= minQuadPx && add(i, Math.hypot(scr.sx[i] - cx, scr.sy[i] - cy)));
    } else {
      const s = camera.scale(vp);
      if (size * s < minQuadPx) return [];
      const [xa, ya, xb, yb] = camera.viewRect(vp);
      const m = size / 2, d = entry.dims;
      this.grid(entry).forEachNear(xa - m, ya - m, xb + m, yb + m, camera.x, camera.y,
        (i) => add(i, Math.hypot(p[i * d] - camera.x, p[i * d + 1] - camera.y) * s));
    }
    const R = Math.hypot(cx, cy) || 1;
    const out = [...count].map(([t, k]) => ({t, count: k, dist: near.get(t), score: k / (1 + (2 * near.get(t)) / R)}));
    out.sort((a, b) => b.score - a.score || a.t - b.t);
    if (out.length > limit) out.length = limit;
    return out;
  }
}

/**
 * A 3D layout projected for one view: per image its screen position (CSS px), depth and quad half size;
 * images on screen are listed in buckets of BUCKET px (a quad in every bucket it covers, very large ones
 * in a list of their own), so picking looks at one bucket.
 */
const BUCKET = 32;
const MAX_BUCKETS_PER_QUAD = 16;

class Screen3D {
  constructor(positions, n, project, vp, size, minPx, fx, fy) {
    this.fx = fx;
    this.fy = fy;
    this.sx = new Float32Array(n);
    this.sy = new Float32Array(n);
    this.depth = new Float32Array(n);
    this.half = new Float32Array(n);
    const cols = (this.cols = Math.max(1, Math.ceil(vp.width / BUCKET)));
    const rows = (this.rows = Math.max(1, Math.ceil(vp.height / BUCKET)));
    this.vp = vp;
    const on = new Int32Array(n);
    let k = 0;
    const start = new Uint32Array(cols * rows + 1);
    const big = [];
    const range = (i) => {
      const h = this.half[i];
      const x = this.sx[i], y = this.sy[i];
      return [Math.max(0, Math.floor((x - h) / BUCKET)), Math.min(cols - 1, Math.floor((x + h) / BUCKET)),
        Math.max(0, Math.floor((y - h) / BUCKET)), Math.min(rows - 1, Math.floor((y + h) / BUCKET))];
    };
    for (let i = 0; i < n; i++) {
      const r = project(positions[i * 3], positions[i * 3 + 1], positions[i * 3 + 2]);
      if (!r) continue;
      const h = Math.max(0.5 * size * r[3], 0.5 * minPx);
      if (r[0] + h < 0 || r[1] + h < 0 || r[0] - h > vp.width || r[1] - h > vp.height) continue;
      this.sx[i] = r[0];
      this.sy[i] = r[1];
      this.depth[i] = r[2];
      this.half[i] = h;
      const [c0, c1, r0, r1] = range(i);
      if ((c1 - c0 + 1) * (r1 - r0 + 1) > MAX_BUCKETS_PER_QUAD) {
        big.push(i);
        continue;
      }
      on[k++] = i;
      for (let y = r0; y <= r1; y++) for (let x = c0; x <= c1; x++) start[y * cols + x + 1]++;
    }
    for (let b = 0; b < cols * rows; b++) start[b + 1] += start[b];
    const fill = start.slice(0, cols * rows);
    const items = new Uint32Array(start[cols * rows]);
    for (let j = 0; j < k; j++) {
      const i = on[j];
      const [c0, c1, r0, r1] = range(i);
      for (let y = r0; y <= r1; y++) for (let x = c0; x <= c1; x++) items[fill[y * cols + x]++] = i;
    }
    this.start = start;
    this.items = items;
    this.big = big;
    this.onScreen = k + big.length;
  }

  /** The nearest image whose quad contains (px, py), or -1. */
  pick(px, py) {
    let best = -1, bestDepth = Infinity;
    const test = (i) => {
      const h = this.half[i];
      const hit = Math.abs(this.sx[i] - px) <= h * this.fx[i] && Math.abs(this.sy[i] - py) <= h * this.fy[i];
      if (hit && this.depth[i] < bestDepth) {
        best = i;
        bestDepth = this.depth[i];
      }
    };
    const c = Math.floor(px / BUCKET), r = Math.floor(py / BUCKET);
    if (c >= 0 && r >= 0 && c < this.cols && r < this.rows) {
      const b = r * this.cols + c;
      for (let j = this.start[b]; j < this.start[b + 1]; j++) test(this.items[j]);
    }
    for (const i of this.big) test(i);
    return best;
  }

  /** Call fn(i) once for each image on screen, buckets nearest the centre first (stops when fn returns true). */
  forEachNearCentre(fn) {
    for (const i of this.big) if (fn(i)) return;
    const {cols, rows} = this;
    const order = new Uint32Array(cols * rows), dist = new Float32Array(cols * rows);
    const cx = this.vp.width / 2, cy = this.vp.height / 2;
    for (let b = 0; b < cols * rows; b++) {
      order[b] = b;
      dist[b] = Math.hypot(((b % cols) + 0.5) * BUCKET - cx, (Math.floor(b / cols) + 0.5) * BUCKET - cy);
    }
    order.sort((a, b) => dist[a] - dist[b]);
    const seen = new Set();
    for (const b of order) {
      for (let j = this.start[b]; j < this.start[b + 1]; j++) {
        const i = this.items[j];
        if (this.half[i] > BUCKET / 2) { // may be in several buckets
          if (seen.has(i)) continue;
          seen.add(i);
        }
        if (fn(i)) return;
      }
    }
  }
}
