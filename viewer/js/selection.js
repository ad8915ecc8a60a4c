// The selection: a set of images, picked with the lasso (lasso.js), shift/ctrl/cmd-click, a hotspot
// or the search's matches, shown on the map (the renderer's per-image state, a "selected" mark),
// listed in the selection panel (selectionui.js), exported (export.js) and kept in the URL.
// Mixed into the App by main.js. Other parts of the viewer use only:
//   app.selectedIndices()            sorted Uint32Array of image indices (do not modify it)
//   app.setSelection(indices, mode)  mode "replace" | "add" | "subtract" | "toggle"
//   app.onSelectionChange(fn)        fn(indices) after every change; returns a function that removes it
// app.selection (null when empty) and app.selectedCluster (the hotspot whose members were selected, or
// -1) mirror it for the hotspot panel and the lightbox's previous/next (interaction.js).
import {imagesInPolygon} from "./lasso.js";

const MODES = ["replace", "add", "subtract", "toggle"];
export const LINK_IDS_CHARS = 2000;   // a selection whose ids fit in this many characters is linked by id
export const LINK_MAX_CHARS = 8000;   // a larger one by index (delta varints, base64url), up to this

// ------------------------------------------------------------------------ the link's compact encoding
/** Sorted image indices -> base64url (no padding) of their gaps as LEB128 varints (gap - 1 after the first). */
export function encodeIndices(indices) {
  const bytes = [];
  let prev = -1;
  for (const i of indices) {
    let v = i - prev - 1;
    prev = i;
    while (v >= 0x80) {
      bytes.push((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    bytes.push(v);
  }
  let bin = "";
  for (let k = 0; k < bytes.length; k += 8192) bin += String.fromCharCode(...bytes.slice(k, k + 8192));
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The inverse of encodeIndices; indices at or above n (or a malformed string) give null. */
export function decodeIndices(text, n) {
  let bin;
  try {
    bin = atob(String(text).replace(/-/g, "+").replace(/_/g, "/"));
  } catch {
    return null;
  }
  const out = [];
  let prev = -1, v = 0, scale = 1;
  for (let k = 0; k < bin.length; k++) {
    const b = bin.charCodeAt(k);
    v += (b & 0x7f) * scale;
    if (b & 0x80) {
      scale *= 128;
      if (scale > 2 ** 35) return null;
      continue;
    }
    prev = prev + 1 + v;
    if (prev >= n) return null;
    out.push(prev);
    v = 0;
    scale = 1;
  }
  return scale === 1 ? Uint32Array.from(out) : null;
}

// ------------------------------------------------------------------------ the App's methods
export const selecting = {
  _selectionState() {
    if (!this._sel) {
      this._sel = {mask: new Uint8Array(this.site.count), list: new Uint32Array(0), listeners: new Set(), link: null};
    }
    return this._sel;
  },

  selectedIndices() {
    return this._sel ? this._sel.list : new Uint32Array(0);
  },

  /**
   * Change the selection. indices: image indices (any iterable; out-of-range ones are ignored);
   * hotspot: the hotspot whose members these are (the hotspot panel marks it, the link names it).
   */
  setSelection(indices, mode = "replace", {hotspot = -1} = {}) {
    if (!MODES.includes(mode)) throw new Error(`setSelection: mode is one of ${MODES.join(", ")}, not ${JSON.stringify(mode)}`);
    const st = this._selectionState(), mask = st.mask, n = mask.length;
    if (mode === "replace") mask.fill(0);
    for (const v of indices || []) {
      const i = Number(v);
      if (!(Number.isInteger(i) && i >= 0 && i < n)) continue;
      mask[i] = mode === "subtract" ? 0 : mode === "toggle" ? mask[i] ^ 1 : 1;
    }
    let count = 0;
    for (let i = 0; i < n; i++) count += mask[i];
    const list = new Uint32Array(count);
    for (let i = 0, k = 0; k < count; i++) if (mask[i]) list[k++] = i;
    const old = st.list;
    const same = old.length === list.length && old.every((v, k) => v === list[k]);
    st.list = list;
    st.link = null;
    this.selection = count ? list : null;
    const cluster = hotspot; // (kept while its members are not loaded yet: detail.js selects them then)
    const clusterChanged = cluster !== this.selectedCluster;
    this.selectedCluster = cluster;
    if (clusterChanged && this.hotspotPanel) this.hotspotPanel.setSelected(cluster);
    if (same && !clusterChanged) return;
    this.renderer.setSelected(count ? mask : null);
    if (count && !st.warmed) {
      st.warmed = true; // (the shader variants that draw a state: compiled in the background, once)
      this.renderer.warmUp([...new Set(this.site.layouts.map((l) => (l.dims === 3 ? 3 : 2)))], true);
    }
    this.requestFrame();
    this.hash.schedule();
    for (const fn of st.listeners) {
      try {
        fn(list);
      } catch (err) {
        console.warn("pixmap: a selection listener failed:", err);
      }
    }
  },

  onSelectionChange(fn) {
    const listeners = this._selectionState().listeners;
    listeners.add(fn);
    return () => listeners.delete(fn);
  },

  /** Select the images inside a polygon ([[x, y], ...], CSS px from the canvas's top-left corner). */
  lassoSelect(points, mode = "replace") {
    const t0 = performance.now(), info = {};
    const found = imagesInPolygon(this, points, info);
    const t1 = performance.now();
    this.setSelection(found, mode);
    const st = this._selectionState();
    st.lassoPath = info.path || null;
    st.lassoMs = t1 - t0;
    st.selectMs = performance.now() - t1;
    return found;
  },

  /** For stats(): how many are selected; the last lasso's hit test (ms, and how: lasso.js) and selection update. */
  selectionStats() {
    const st = this._sel || {list: []};
    return {selected: st.list.length, lassoMs: st.lassoMs || 0, lassoPath: st.lassoPath || null, selectMs: st.selectMs || 0};
  },

  /** Shift-, ctrl- or cmd-click on image i toggles it in the selection (true: the click was that). */
  clickSelect(i, mod) {
    if (!mod || !(mod.shiftKey || mod.ctrlKey || mod.metaKey || mod.altKey)) return false;
    if (i >= 0) this.setSelection([i], mod.altKey ? "subtract" : "toggle");
    return true;
  },

  /** Select the images that pass the search and filters now (mode as setSelection); false when none are set. */
  async selectMatches(mode = "replace") {
    const find = this.find;
    if (!find || !find.active) return false;
    if (find.pending) await find.settled();
    const idx = find.matchedIndices();
    this.setSelection(idx || [], mode);
    return true;
  },

  toggleLasso(on) {
    if (!this.lassoTool) return;
    this.lassoTool.setActive(on === undefined ? !this.lassoTool.active : on);
  },

  // ---------------------------------------------------------------- the link
  /**
   * The selection's part of the URL hash: {sel: [ids]} for a small one, {seli: "<base64url>"} (indices in
   * data order) for a larger one, {} when empty, a hotspot (the link names the hotspot) or too large
   * for a link (over LINK_MAX_CHARS: the link keeps no selection; a note says so once).
   */
  selectionLink() {
    const st = this._sel;
    if (!st || !st.list.length || this.selectedCluster >= 0) return {};
    if (st.link) return st.link;
    const list = st.list;
    let link = null;
    if (list.length * 2 <= LINK_IDS_CHARS) {
      const ids = [];
      let chars = 0;
      for (const i of list) {
        const id = this.meta.idSync(i);
        if (id === null) break;
        chars += encodeURIComponent(id).length + 1;
        if (chars > LINK_IDS_CHARS) break;
        ids.push(id);
      }
      if (ids.length === list.length) link = {sel: ids};
    }
    if (!link && list.length <= (LINK_MAX_CHARS * 3) / 4) { // (at least a byte, 4/3 characters, per image)
      const seli = encodeIndices(list);
      if (seli.length <= LINK_MAX_CHARS) link = {seli};
    }
    if (!link) {
      link = {};
      if (this.selectionUi) this.selectionUi.note(`The link does not keep a selection of ${list.length.toLocaleString("en")} images (too large for a URL).`);
    }
    st.link = link;
    return link;
  },

  /** Select what a link names (parseHash's sel or seli); resolves when done. Unknown ids are skipped. */
  async restoreSelection(saved) {
    if (saved.sel && saved.sel.length) {
      const meta = this.meta;
      const found = await Promise.all(saved.sel.map((id) => {
        const i = meta.indexOfSync(id);
        return i >= 0 || meta.sync ? i : meta.indexOf(id).catch(() => -1);
      }));
      const missing = saved.sel.filter((id, k) => found[k] < 0);
      if (missing.length) console.warn(`pixmap: the link selects ${missing.length} unknown image(s):`, missing.slice(0, 5).join(", "));
      this.setSelection(found.filter((i) => i >= 0), "replace");
    } else if (saved.seli) {
      const idx = decodeIndices(saved.seli, this.site.count);
      if (idx === null) console.warn("pixmap: the link's selection (seli) is not valid for this map; ignored");
      else this.setSelection(idx, "replace");
    }
  },

  /** A link changed (hashchange): select what it names when that differs from now. */
  followSelection(saved) {
    if (saved.hotspot !== null) return; // (the hotspot is followed by its own entry)
    const now = this.selectionLink();
    const want = saved.sel ? {sel: saved.sel} : saved.seli ? {seli: saved.seli} : {};
    if (JSON.stringify(now) === JSON.stringify(want)) return;
    if (!saved.sel && !saved.seli) this.setSelection([], "replace");
    else this.restoreSelection(saved).catch((err) => console.warn("pixmap: the link's selection:", err.message || err));
  },
};
