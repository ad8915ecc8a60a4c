// Hover, click, hotspots and the lightbox's image lists (mixed into the App by main.js).

/** List of images that lightbox previous/next walks through. */
function imageList(indices, label) {
  return {length: indices.length, at: (k) => indices[k], indexOf: (i) => indices.indexOf(i), label};
}

export const interaction = {
  members(id) {
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
    this.selectedCluster = id;
    this.selection = id >= 0 ? this.members(id) : null;
    this.hotspotPanel.setSelected(id);
    this.requestFrame();
    this.hash.schedule();
  },

  /** Select a hotspot's members and fly to them; resolves when the camera arrives. */
  async selectHotspot(id, {duration = 900} = {}) {
    await this.ready;
    this._select(id);
    const f = this._frameImages(this.selection);
    if (!f) return false;
    return this.animator.start(this.cameras[f.kind], f.state, duration);
  },

  clearSelection() {
    if (this.selectedCluster >= 0 || this.selection) this._select(-1);
  },

  // ---------------------------------------------------------------- hover, click, lightbox
  _pickView() {
    return {camera: this.camera, vp: this.vp, size: this.sizeOf(this.layout), minPx: 1, slotOf: this.renderer.slotOf};
  },

  pickAt(x, y) {
    if (this.transition) return -1;
    return this.picker.pick(this.layout, this._pickView(), x, y);
  },

  hoverAt(x, y) {
    this.pendingHover = [x, y];
    this.requestFrame();
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
    this.tooltip.textContent = this.titleOf(i);
    this.tooltip.hidden = false;
    if (x !== undefined) {
      const tw = this.tooltip.offsetWidth, th = this.tooltip.offsetHeight;
      const tx = Math.min(x + 14, this.vp.width - tw - 4), ty = y + 18 + th > this.vp.height ? y - th - 10 : y + 18;
      this.tooltip.style.transform = `translate(${Math.max(4, tx)}px, ${ty}px)`;
    }
  },

  titleOf(i) {
    const {fields, rows, ids} = this.site;
    const row = rows[i] || [];
    const t = fields.indexOf("title");
    if (t >= 0 && row[t] !== null && row[t] !== undefined && row[t] !== "") return String(row[t]);
    const f = fields.indexOf("filename");
    const name = f >= 0 && row[f] ? String(row[f]) : ids[i];
    return name.split("/").pop();
  },

  clickAt(x, y) {
    const i = this.pickAt(x, y);
    if (i >= 0) this.openIndex(i);
    else this.clearSelection();
  },

  _listFor(i) {
    if (this.selection && this.selection.indexOf(i) >= 0) {
      const h = this.site.hotspots.find((hs) => hs.id === this.selectedCluster);
      return imageList(this.selection, h ? String(h.label) : "selection");
    }
    const c = this.site.clusters[i];
    if (c >= 0) {
      const h = this.site.hotspots.find((hs) => hs.id === c);
      return imageList(this.members(c), h ? String(h.label) : null);
    }
    const n = this.site.count;
    return {length: n, at: (k) => k, indexOf: (j) => (j >= 0 && j < n ? j : -1), label: null};
  },

  openIndex(i) {
    this._setHoverNow(-1);
    this.lightbox.open(i, this._listFor(i));
  },

  indexOfId(id) {
    if (!this.idIndex) this.idIndex = new Map(this.site.ids.map((v, i) => [v, i]));
    const i = this.idIndex.get(String(id));
    return i === undefined ? -1 : i;
  },

  openById(id, {quiet = false} = {}) {
    const i = this.indexOfId(id);
    if (i < 0) {
      if (quiet) return false;
      throw new Error(`no image with id ${JSON.stringify(id)}`);
    }
    this.openIndex(i);
    return true;
  },
};
