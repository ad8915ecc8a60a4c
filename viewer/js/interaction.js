// Hover, click, hotspots and the lightbox's image lists (mixed into the App by main.js). On a
// version-3 site ids and metadata rows arrive in chunks (meta.js): the tooltip and the lightbox show
// a short loading state, and an id from a link is looked up before it opens.
import {titleOf} from "./meta.js";

/** List of images that lightbox previous/next walks through. */
function imageList(indices, label) {
  return {length: indices.length, at: (k) => indices[k], indexOf: (i) => indices.indexOf(i), label};
}

export const interaction = {
  members(id) {
    if (!this.site.clusters) return new Uint32Array(0); // (version 3: until clusters.i32 arrives)
    if (!this._members) {
      const clusters = this.site.clusters, n = this.site.count;
      const counts = new Map();
      for (let i = 0; i < n; i++) counts.set(clusters[i], (counts.get(clusters[i]) || 0) + 1);
      const lists = new Map();
      for (const [c, k] of counts) lists.set(c, {arr: new Uint32Array(k), k: 0});
      for (let i = 0; i < n; i++) {
        const l = lists.get(clusters[i]);
        l.arr[l.k++] = i;
      }
      this._members = new Map([...lists].map(([c, l]) => [c, l.arr]));
    }
    return this._members.get(id) || new Uint32Array(0);
  },

  setHoverCluster(id) {
    this.hoverCluster = id;
    this.requestFrame();
  },

  _select(id) {
    // (the selection model, selection.js: the hotspot's members, and which hotspot they are)
    this.setSelection(id >= 0 ? this.members(id) : [], "replace", {hotspot: id});
  },

  /** Select a hotspot's members and fly to them; resolves when the camera arrives. */
  async selectHotspot(id, {duration = 900} = {}) {
    await this.ready;
    await this.clustersReady;
    this._select(id);
    const f = this._frameImages(this.selection || []);
    if (!f) return false;
    return this.animator.start(this.cameras[f.kind], f.state, duration);
  },

  clearSelection() {
    if (this.selectedCluster >= 0 || this.selection) this._select(-1);
  },

  // ---------------------------------------------------------------- hover, click, lightbox
  _pickView() {
    const tiles = this.renderer.tiles;
    return {camera: this.camera, vp: this.vp, size: this.sizeOf(this.layout), minPx: 1, slotOf: this.renderer.slotOf,
      onTop: tiles && this._tileDetail() ? tiles.onTop : null};
  },

  pickAt(x, y) {
    if (this.transition) return -1;
    const t0 = performance.now();
    const i = this.picker.pick(this.layout, this._pickView(), x, y);
    this.pickMs = performance.now() - t0;
    this.pickMsMax = Math.max(this.pickMsMax, this.pickMs);
    return i;
  },

  hoverAt(x, y) {
    if (this.transition || this.animator.active) {
      this.pendingHover = [x, y]; // (picked in the frame the motion ends)
      this.requestFrame();
      return;
    }
    this.pendingHover = null;
    this._setHoverNow(this.pickAt(x, y), x, y); // now: the tooltip does not wait for a frame
  },

  setHover(i) {
    this.pendingHover = null;
    this._setHoverNow(i);
  },

  _setHoverNow(i, x, y) {
    if (i !== this.hover) {
      this.hover = i;
      this.canvas.classList.toggle("over-image", i >= 0);
      this.requestFrame();
    }
    if (i < 0) {
      this.tooltip.hidden = true;
      return;
    }
    const title = this.titleOf(i);
    // a liked image shows its heart on hover (H likes or unlikes the image under the pointer)
    const heart = () => (this.discover && this.discover.isLiked(i) ? "♥ " : "");
    this.tooltip.textContent = heart() + (title === null ? "…" : title);
    this.tooltip.hidden = false;
    if (title === null) {
      // version 3: the row (and maybe the id) is on its way; show it if the pointer is still there
      this.meta.row(i).then(() => (this.titleOf(i) === null ? this.meta.id(i) : null)).then(() => {
        if (this.hover === i && !this.tooltip.hidden) this.tooltip.textContent = heart() + (this.titleOf(i) ?? "…");
      }, () => {});
    }
    if (x !== undefined) {
      const tw = this.tooltip.offsetWidth, th = this.tooltip.offsetHeight;
      const tx = Math.min(x + 14, this.vp.width - tw - 4), ty = y + 18 + th > this.vp.height ? y - th - 10 : y + 18;
      this.tooltip.style.transform = `translate(${Math.max(4, tx)}px, ${ty}px)`;
    }
  },

  /** The title shown on hover, or null while its metadata is loading (version 3). */
  titleOf(i) {
    const meta = this.meta, row = meta.rowSync(i);
    return row === null ? null : titleOf(meta.fields, row, meta.idSync(i));
  },

  clickAt(x, y, mod) {
    const i = this.pickAt(x, y);
    if (this.clickSelect(i, mod)) return; // shift/ctrl/cmd: toggle it in the selection (selection.js)
    if (i >= 0) this.openIndex(i);
    else this.clearSelection();
  },

  _listFor(i) {
    if (this.selection && this.selection.indexOf(i) >= 0) {
      const h = this.site.hotspots.find((hs) => hs.id === this.selectedCluster);
      return imageList(this.selection, h ? String(h.label) : "selection");
    }
    const c = this.site.clusters ? this.site.clusters[i] : -1;
    if (c >= 0) {
      const h = this.site.hotspots.find((hs) => hs.id === c);
      return imageList(this.members(c), h ? String(h.label) : null);
    }
    const n = this.site.count;
    return {length: n, at: (k) => k, indexOf: (j) => (j >= 0 && j < n ? j : -1), label: null};
  },

  openIndex(i) {
    this.pendingOpenId = null;
    this._setHoverNow(-1);
    this.lightbox.open(i, this._listFor(i));
  },

  /** Index of an id known now (versions 1-2: any; version 3: in a loaded id chunk), else -1. */
  indexOfId(id) {
    return this.meta.indexOfSync(id);
  },

  /** Open the image with this id. Versions 1-2: returns true/false (throws unless quiet). Version 3:
   *  a promise (the id chunks are searched), the same answer, or a rejection. */
  openById(id, {quiet = false} = {}) {
    const missing = () => {
      if (quiet) return false;
      throw new Error(`no image with id ${JSON.stringify(id)}`);
    };
    const known = this.indexOfId(id);
    if (known >= 0 || this.meta.sync) {
      if (known < 0) return missing();
      this.openIndex(known);
      return this.meta.sync ? true : Promise.resolve(true);
    }
    this.pendingOpenId = String(id);
    return this.meta.indexOf(id).then((i) => {
      if (this.pendingOpenId !== String(id)) return false; // something else was opened meanwhile
      this.pendingOpenId = null;
      if (i < 0) return missing();
      this.openIndex(i);
      return true;
    }, (err) => {
      if (this.pendingOpenId === String(id)) this.pendingOpenId = null;
      if (quiet) {
        console.warn("pixmap:", err.message || err);
        return false;
      }
      throw err;
    });
  },
};
