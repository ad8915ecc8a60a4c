// Camera navigation of the App (mixed into it by main.js): pan, orbit, zoom around a point,
// animated zooms and flights (to an image, to a set of images), keyboard moves, reset.
import {Camera2D, Camera3D} from "./camera.js";

export const navigation = {
  _keyMove(dx, dy) {
    const tmp = this._cloneCamera();
    if (tmp.kind === "3d") tmp.orbit(-dx, -dy);
    else tmp.pan(-dx, -dy, this.vp);
    this.animator.start(this.camera, tmp.state, 250);
  },

  is3D() {
    return this.camera.kind === "3d";
  },

  _cloneCamera() {
    const c = this.camera.kind === "3d" ? new Camera3D() : new Camera2D();
    Object.assign(c, {minZoom: this.camera.minZoom, maxZoom: this.camera.maxZoom,
      minDistance: this.camera.minDistance, maxDistance: this.camera.maxDistance});
    c.state = this.camera.state;
    return c;
  },

  interrupt() {
    this.animator.cancel();
  },

  pan(dx, dy) {
    this.camera.pan(dx, dy, this.vp);
    this._cameraChanged();
  },

  orbit(dx, dy) {
    this.camera.orbit(dx, dy);
    this._cameraChanged();
  },

  zoomAt(factor, x, y) {
    this.camera.zoomAt(factor, x, y, this.vp);
    this._cameraChanged();
  },

  zoomAnimated(factor, x, y) {
    const tmp = this._cloneCamera();
    tmp.zoomAt(factor, x, y, this.vp);
    return this.animator.start(this.camera, tmp.state, 300);
  },

  resetView() {
    const s = this.camera.kind === "3d" ? Camera3D.defaultState() : Camera2D.defaultState();
    return this.animator.start(this.camera, s, 500);
  },

  setCamera(state, {duration = 0} = {}) {
    if (duration > 0) return this.animator.start(this.camera, state, duration);
    this.animator.cancel();
    this.camera.state = state;
    this._cameraChanged();
    return Promise.resolve(true);
  },

  _cameraChanged() {
    this.requestFrame();
    this._scheduleLod();
    this.hash.schedule();
    if (this.hover >= 0) this._setHoverNow(-1);
  },

  /** Camera state that frames the given images in the active layout. */
  _frameImages(indices) {
    const entry = this.activeLayout();
    const p = entry.positions, d = entry.dims;
    const lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
    for (const i of indices) {
      for (let k = 0; k < d; k++) {
        const v = p[i * d + k];
        if (!Number.isFinite(v)) continue;
        if (v < lo[k]) lo[k] = v;
        if (v > hi[k]) hi[k] = v;
      }
    }
    if (!(lo[0] <= hi[0])) return null;
    const half = this.sizeOf(entry) / 2;
    if (d === 3) {
      const centre = [0, 1, 2].map((k) => (lo[k] + hi[k]) / 2);
      const radius = Math.max(Math.hypot(hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]) / 2, half * 4) + half;
      return {kind: "3d", state: this.cameras["3d"].fitSphere(centre, radius)};
    }
    const box = [lo[0] - half, lo[1] - half, hi[0] + half, hi[1] + half];
    return {kind: "2d", state: this.cameras["2d"].fit(box, this.vp)};
  },

  /** Fly to image i (it ends up about 40% of the view's height). */
  flyToIndex(i, duration = 800) {
    const entry = this.activeLayout();
    const d = entry.dims, p = entry.positions;
    const size = this.sizeOf(entry);
    const pos = [p[i * d], p[i * d + 1], d === 3 ? p[i * d + 2] : 0];
    if (!pos.every(Number.isFinite)) return Promise.resolve(false);
    const fraction = 0.4;
    const span = fraction * Math.min(this.vp.width, this.vp.height);
    let target;
    if (d === 3) {
      const cam = this.cameras["3d"];
      const distance = (size * this.vp.height) / (2 * Math.tan(cam.fov / 2) * span);
      target = {target: pos, yaw: cam.yaw, pitch: cam.pitch, distance: Math.max(distance, cam.minDistance)};
    } else {
      target = {x: pos[0], y: pos[1], zoom: this.cameras["2d"].zoomFor(size, span, this.vp)};
    }
    return this.animator.start(this.cameras[d === 3 ? "3d" : "2d"], target, duration);
  },
};
