// Layouts: the switcher (one button per layout or per group of variants, and a slider across the
// variants of a group: UMAP with several n_neighbors / min_dist, in manifest order), and the App's
// layout transitions (mixed into it by main.js). A transition runs on the GPU: the vertex shader
// mixes each image's current and target positions by a uniform t; the CPU only eases t.
import {el} from "./dom.js";
import {loadLayout} from "./data.js";
import {Camera2D, Camera3D, easeInOut} from "./camera.js";

const SIZE_K = 1.6; // default quad size: SIZE_K / sqrt(n) layout units (the layout spans [-1, 1])
const TRANSITION_MS = 1000;
const SNAPSHOT = "\u0000snapshot"; // position key of a frozen, interrupted transition

function paramText(params) {
  return Object.entries(params || {}).map(([k, v]) => `${k} ${v}`).join(" · ");
}

export class LayoutSwitcher {
  /** layouts: manifest layout entries; onPick(name): switch to a layout. */
  constructor({nav, variantBox, slider, sliderLabel}, layouts, onPick) {
    this.nav = nav;
    this.variantBox = variantBox;
    this.slider = slider;
    this.sliderLabel = sliderLabel;
    this.onPick = onPick;
    this.entries = []; // {label, variants: [layout entry], button, last}
    const byGroup = new Map();
    for (const layout of layouts) {
      const g = layout.group && layout.params ? layout.group : null;
      if (g && byGroup.has(g)) {
        byGroup.get(g).variants.push(layout);
        continue;
      }
      const entry = {label: layout.label || layout.name, variants: [layout], last: layout};
      if (g) byGroup.set(g, entry);
      this.entries.push(entry);
    }
    for (const entry of this.entries) {
      entry.button = el("button", {type: "button", "aria-pressed": "false", text: entry.label,
        title: entry.variants.length > 1 ? `${entry.label} (${entry.variants.length} variants)` : entry.label});
      entry.button.dataset.layout = entry.variants[0].name;
      entry.button.addEventListener("click", () => this.onPick(entry.last.name));
      nav.append(entry.button);
    }
    slider.addEventListener("input", () => {
      const entry = this.current;
      if (!entry) return;
      const v = entry.variants[Number(slider.value)];
      if (v) this.onPick(v.name);
    });
  }

  /** Reflect the current layout (name) in the buttons and the slider. */
  setCurrent(name) {
    this.current = null;
    for (const entry of this.entries) {
      const k = entry.variants.findIndex((v) => v.name === name);
      entry.button.setAttribute("aria-pressed", String(k >= 0));
      if (k < 0) continue;
      this.current = entry;
      entry.last = entry.variants[k];
      if (entry.variants.length > 1) {
        this.slider.max = String(entry.variants.length - 1);
        this.slider.value = String(k);
        this.sliderLabel.textContent = paramText(entry.variants[k].params) || entry.variants[k].name;
        this.variantBox.hidden = false;
      } else {
        this.variantBox.hidden = true;
      }
    }
    if (!this.current) this.variantBox.hidden = true;
  }
}

export const transitions = {
  sizeOf(entry) {
    return entry.point_size > 0 ? entry.point_size : SIZE_K / Math.sqrt(Math.max(1, this.site.count));
  },

  activeLayout() {
    return this.transition ? this.transition.to : this.layout;
  },

  _ensureGpu(entry) {
    if (!this.renderer.hasPositions(entry.name)) {
      this.renderer.setPositions(entry.name, entry.positions, entry.dims);
      if (entry.lineData) this.renderer.setLines(entry.name, entry.lineData);
    }
  },

  /** Make `entry` the current layout without a transition. */
  _useLayout(entry) {
    this._ensureGpu(entry);
    this.layout = entry;
    this.transition = null;
    const size = this.sizeOf(entry);
    this.cameras["2d"].maxZoom = Math.max(20, 8 / size);
    this.cameras["3d"].minDistance = Math.max(1e-4, size * 0.4);
    this.switcher.setCurrent(entry.name);
    // build the 2D picking grid soon (not on the first hover, where 1M images would stall it)
    if (entry.dims !== 3) setTimeout(() => this.picker.grid(entry), 30);
  },

  /** Switch layouts with an animated transition on the GPU; resolves when it lands. */
  async setLayout(name, {duration = TRANSITION_MS} = {}) {
    await this.ready;
    const entry = this.site.layouts.find((l) => l.name === name);
    if (!entry) throw new Error(`no layout named ${JSON.stringify(name)}`);
    this.switcher.setCurrent(name);
    try {
      await loadLayout(this.loader, entry, this.site.count);
    } catch (err) {
      this.switcher.setCurrent(this.activeLayout().name);
      throw err;
    }
    this._ensureGpu(entry);
    const current = this.activeLayout();
    if (entry === current) return this.transition ? this.transition.done : undefined;

    let fromKey = this.layout.name, fromSize = this.sizeOf(this.layout);
    const pending = [];
    if (this.transition) {
      const tr = this.transition;
      this.renderer.snapshot(SNAPSHOT, tr.fromKey, tr.to.name, tr.t);
      fromKey = SNAPSHOT;
      fromSize = tr.fromSize + (this.sizeOf(tr.to) - tr.fromSize) * tr.t;
      pending.push(...tr.resolvers);
    }
    const fromDims = (this.transition ? this.transition.to : this.layout).dims;
    this._setHoverNow(-1);
    // the camera follows the target layout's kind (orbit for 3D); 2D->3D eases out of a flat view
    if ((entry.dims === 3) !== (fromDims === 3)) {
      if (entry.dims === 3) {
        const cam = this.cameras["3d"];
        cam.state = {...Camera3D.defaultState(), yaw: 0, pitch: 0};
        this.camera = cam;
        this.animator.start(cam, Camera3D.defaultState(), duration);
      } else {
        this.animator.cancel();
        this.camera = this.cameras["2d"];
        this.camera.state = Camera2D.defaultState();
      }
    } else if (!(entry.group && entry.group === (this.transition ? this.transition.to : this.layout).group)) {
      // another layout (not a variant of this one): show all of it while the images move
      this.animator.start(this.camera, this.camera.kind === "3d" ? Camera3D.defaultState() : Camera2D.defaultState(),
        duration);
    }
    let resolveDone;
    const done = new Promise((resolve) => { resolveDone = resolve; });
    this.transition = {
      fromKey, fromSize, to: entry, t0: performance.now(), duration: Math.max(0, duration), t: 0,
      resolvers: [...pending, resolveDone], done,
      fromLayout: fromKey === SNAPSHOT ? null : this.layout,
    };
    this._scheduleLod();
    this.requestFrame();
    this.hash.schedule();
    return done;
  },

  _stepTransition(now) {
    const tr = this.transition;
    const raw = tr.duration > 0 ? Math.min(1, (now - tr.t0) / tr.duration) : 1;
    tr.t = easeInOut(raw);
    if (raw < 1) return true;
    this._useLayout(tr.to);
    this.hash.schedule();
    this._scheduleLod();
    for (const r of tr.resolvers) r();
    return false;
  },

  _layoutError(err) {
    console.warn("pixmap:", err);
    const toast = document.getElementById("toast");
    toast.textContent = err.message || String(err);
    toast.hidden = false;
    clearTimeout(this._toastTimer);
    this._toastTimer = setTimeout(() => { toast.hidden = true; }, 6000);
  },
};
