// Cameras: a 2D pan/zoom camera and an orbit camera for 3D layouts. Both give the renderer a view
// and a projection matrix (column-major Float32Array(16)) and map world <-> screen (CSS pixels).
// Viewport objects are {width, height} in CSS pixels. World y points up; screen y points down.

const MARGIN = 1.08; // at zoom 1 the layout's [-1, 1] square fits the viewport with this margin

export const mat4 = {
  identity() {
    const m = new Float32Array(16);
    m[0] = m[5] = m[10] = m[15] = 1;
    return m;
  },
  multiply(a, b) {
    const out = new Float32Array(16);
    for (let c = 0; c < 4; c++) {
      for (let r = 0; r < 4; r++) {
        out[c * 4 + r] = a[r] * b[c * 4] + a[4 + r] * b[c * 4 + 1] + a[8 + r] * b[c * 4 + 2] + a[12 + r] * b[c * 4 + 3];
      }
    }
    return out;
  },
  perspective(fovy, aspect, near, far) {
    const f = 1 / Math.tan(fovy / 2);
    const m = new Float32Array(16);
    m[0] = f / aspect;
    m[5] = f;
    m[10] = (far + near) / (near - far);
    m[11] = -1;
    m[14] = (2 * far * near) / (near - far);
    return m;
  },
  lookAt(eye, target, up) {
    let zx = eye[0] - target[0], zy = eye[1] - target[1], zz = eye[2] - target[2];
    let len = Math.hypot(zx, zy, zz) || 1;
    zx /= len; zy /= len; zz /= len;
    let xx = up[1] * zz - up[2] * zy, xy = up[2] * zx - up[0] * zz, xz = up[0] * zy - up[1] * zx;
    len = Math.hypot(xx, xy, xz) || 1;
    xx /= len; xy /= len; xz /= len;
    const yx = zy * xz - zz * xy, yy = zz * xx - zx * xz, yz = zx * xy - zy * xx;
    const m = new Float32Array(16);
    m[0] = xx; m[4] = xy; m[8] = xz;
    m[1] = yx; m[5] = yy; m[9] = yz;
    m[2] = zx; m[6] = zy; m[10] = zz;
    m[12] = -(xx * eye[0] + xy * eye[1] + xz * eye[2]);
    m[13] = -(yx * eye[0] + yy * eye[1] + yz * eye[2]);
    m[14] = -(zx * eye[0] + zy * eye[1] + zz * eye[2]);
    m[15] = 1;
    return m;
  },
};

const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
export const easeInOut = (t) => (t < 0.5 ? 4 * t * t * t : 1 - Math.pow(-2 * t + 2, 3) / 2);

export class Camera2D {
  constructor() {
    this.kind = "2d";
    this.x = 0;
    this.y = 0;
    this.zoom = 1;
    this.minZoom = 0.25;
    this.maxZoom = 1e4;
  }

  /** CSS pixels per world unit. */
  scale(vp) {
    return (this.zoom * Math.min(vp.width, vp.height)) / 2 / MARGIN;
  }

  matrices(vp) {
    const s = this.scale(vp);
    const view = mat4.identity();
    view[12] = -this.x;
    view[13] = -this.y;
    const proj = mat4.identity();
    proj[0] = (2 * s) / vp.width;
    proj[5] = (2 * s) / vp.height;
    proj[10] = 0;
    return {view, proj};
  }

  /** [sx, sy, depth, pxPerUnit] or null. */
  worldToScreen(x, y, z, vp) {
    const s = this.scale(vp);
    return [vp.width / 2 + (x - this.x) * s, vp.height / 2 - (y - this.y) * s, 0, s];
  }

  screenToWorld(sx, sy, vp) {
    const s = this.scale(vp);
    return [this.x + (sx - vp.width / 2) / s, this.y - (sy - vp.height / 2) / s];
  }

  /** World rectangle visible in the viewport: [minX, minY, maxX, maxY]. */
  viewRect(vp) {
    const s = this.scale(vp);
    const hw = vp.width / 2 / s, hh = vp.height / 2 / s;
    return [this.x - hw, this.y - hh, this.x + hw, this.y + hh];
  }

  pan(dx, dy, vp) {
    const s = this.scale(vp);
    this.x -= dx / s;
    this.y += dy / s;
  }

  zoomAt(factor, sx, sy, vp) {
    const before = this.screenToWorld(sx, sy, vp);
    this.zoom = clamp(this.zoom * factor, this.minZoom, this.maxZoom);
    const after = this.screenToWorld(sx, sy, vp);
    this.x += before[0] - after[0];
    this.y += before[1] - after[1];
  }

  /** Camera state showing the world box [minX, minY, maxX, maxY]. */
  fit(box, vp, pad = 1.15) {
    const w = Math.max(box[2] - box[0], 1e-6) * pad, h = Math.max(box[3] - box[1], 1e-6) * pad;
    const base = Math.min(vp.width, vp.height) / 2 / MARGIN;
    const zoom = clamp(Math.min(vp.width / w, vp.height / h) / base, this.minZoom, this.maxZoom);
    return {x: (box[0] + box[2]) / 2, y: (box[1] + box[3]) / 2, zoom};
  }

  /** Zoom at which a world length `len` spans `px` CSS pixels. */
  zoomFor(len, px, vp) {
    const base = Math.min(vp.width, vp.height) / 2 / MARGIN;
    return clamp(px / len / base, this.minZoom, this.maxZoom);
  }

  get state() {
    return {x: this.x, y: this.y, zoom: this.zoom};
  }

  set state(s) {
    if (Number.isFinite(s.x)) this.x = s.x;
    if (Number.isFinite(s.y)) this.y = s.y;
    if (Number.isFinite(s.zoom) && s.zoom > 0) this.zoom = clamp(s.zoom, this.minZoom, this.maxZoom);
  }

  static defaultState() {
    return {x: 0, y: 0, zoom: 1};
  }

  /** Interpolate two states; zoom in log space so the motion feels even. */
  static lerp(a, b, t) {
    return {
      x: a.x + (b.x - a.x) * t,
      y: a.y + (b.y - a.y) * t,
      zoom: Math.exp(Math.log(a.zoom) + (Math.log(b.zoom) - Math.log(a.zoom)) * t),
    };
  }
}

export class Camera3D {
  constructor() {
    this.kind = "3d";
    this.fov = (50 * Math.PI) / 180;
    Object.assign(this, Camera3D.defaultState());
    this.minDistance = 0.02;
    this.maxDistance = 20;
  }

  static defaultState() {
    return {target: [0, 0, 0], yaw: 0.6, pitch: 0.35, distance: 3.6};
  }

  eye() {
    const cp = Math.cos(this.pitch);
    return [
      this.target[0] + this.distance * cp * Math.sin(this.yaw),
      this.target[1] + this.distance * Math.sin(this.pitch),
      this.target[2] + this.distance * cp * Math.cos(this.yaw),
    ];
  }

  /** Camera basis: right, up (screen directions in world space) and forward. */
  basis() {
    const cp = Math.cos(this.pitch), sp = Math.sin(this.pitch), cy = Math.cos(this.yaw), sy = Math.sin(this.yaw);
    const forward = [-cp * sy, -sp, -cp * cy];
    const right = [cy, 0, -sy];
    const up = [-sp * sy, cp, -sp * cy];
    return {right, up, forward};
  }

  matrices(vp) {
    const near = Math.max(this.distance * 0.01, 1e-4);
    const far = this.distance + 10;
    const view = mat4.lookAt(this.eye(), this.target, [0, 1, 0]);
    const proj = mat4.perspective(this.fov, vp.width / vp.height, near, far);
    return {view, proj, near};
  }

  /** Projection helper reused for many points: returns a function (x,y,z) -> [sx, sy, depth, pxPerUnit] | null. */
  projector(vp) {
    const {view, proj, near} = this.matrices(vp);
    const m = mat4.multiply(proj, view);
    const hw = vp.width / 2, hh = vp.height / 2, f = proj[5] * hh;
    return (x, y, z) => {
      const w = m[3] * x + m[7] * y + m[11] * z + m[15];
      if (!(w > near)) return null; // behind the camera (or a hidden, NaN position)
      const cx = m[0] * x + m[4] * y + m[8] * z + m[12];
      const cy = m[1] * x + m[5] * y + m[9] * z + m[13];
      return [hw + (cx / w) * hw, hh - (cy / w) * hh, w, f / w];
    };
  }

  worldToScreen(x, y, z, vp) {
    return this.projector(vp)(x, y, z);
  }

  orbit(dx, dy) {
    this.yaw -= dx * 0.006;
    this.pitch = clamp(this.pitch + dy * 0.006, -1.55, 1.55);
  }

  /** World units per CSS pixel at the target's depth. */
  unitsPerPixel(vp) {
    return (2 * this.distance * Math.tan(this.fov / 2)) / vp.height;
  }

  pan(dx, dy, vp) {
    const {right, up} = this.basis();
    const k = this.unitsPerPixel(vp);
    for (let i = 0; i < 3; i++) this.target[i] += (-dx * right[i] + dy * up[i]) * k;
  }

  /** Dolly towards the point under the cursor (on the plane through the target facing the camera). */
  zoomAt(factor, sx, sy, vp) {
    const {right, up} = this.basis();
    const k = this.unitsPerPixel(vp);
    const ox = (sx - vp.width / 2) * k, oy = -(sy - vp.height / 2) * k;
    const newDistance = clamp(this.distance / factor, this.minDistance, this.maxDistance);
    const move = 1 - newDistance / this.distance;
    for (let i = 0; i < 3; i++) this.target[i] += (ox * right[i] + oy * up[i]) * move;
    this.distance = newDistance;
  }

  /** State looking at a sphere (centre, radius) from the current direction. */
  fitSphere(centre, radius) {
    const distance = clamp((radius * 1.15) / Math.sin(this.fov / 2), this.minDistance, this.maxDistance);
    return {target: [...centre], yaw: this.yaw, pitch: this.pitch, distance};
  }

  get state() {
    return {target: [...this.target], yaw: this.yaw, pitch: this.pitch, distance: this.distance};
  }

  set state(s) {
    if (Array.isArray(s.target) && s.target.length === 3 && s.target.every(Number.isFinite)) this.target = [...s.target];
    if (Number.isFinite(s.yaw)) this.yaw = s.yaw;
    if (Number.isFinite(s.pitch)) this.pitch = clamp(s.pitch, -1.55, 1.55);
    if (Number.isFinite(s.distance) && s.distance > 0) this.distance = clamp(s.distance, this.minDistance, this.maxDistance);
  }

  static lerp(a, b, t) {
    return {
      target: a.target.map((v, i) => v + (b.target[i] - v) * t),
      yaw: a.yaw + (b.yaw - a.yaw) * t,
      pitch: a.pitch + (b.pitch - a.pitch) * t,
      distance: Math.exp(Math.log(a.distance) + (Math.log(b.distance) - Math.log(a.distance)) * t),
    };
  }
}

/** Animates a camera between states; one animation at a time; promise resolves when it ends or is cancelled. */
export class CameraAnimator {
  constructor(onFrame) {
    this.current = null;
    this.onFrame = onFrame;
  }

  get active() {
    return this.current !== null;
  }

  start(camera, to, duration = 700) {
    this.cancel();
    const from = camera.state;
    const Cls = camera.kind === "3d" ? Camera3D : Camera2D;
    return new Promise((resolve) => {
      this.current = {camera, from, to, Cls, t0: performance.now(), duration, resolve};
      this.onFrame();
    });
  }

  /** Advance; returns true while animating. */
  step(now) {
    const a = this.current;
    if (!a) return false;
    const t = a.duration > 0 ? Math.min(1, (now - a.t0) / a.duration) : 1;
    a.camera.state = a.Cls.lerp(a.from, a.to, easeInOut(t));
    if (t >= 1) {
      this.current = null;
      a.resolve(true);
      return false;
    }
    return true;
  }

  cancel() {
    const a = this.current;
    this.current = null;
    if (a) a.resolve(false);
  }
}
