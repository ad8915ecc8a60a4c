// The hotspot editor: the hotspot panel's Edit mode. Rename, delete, reorder, merge two, choose the
// picture (in the lightbox), make a hotspot of the selection, add or remove the selected images; undo
// (button, Ctrl+Z). Edits show on the map at once (the renderer's hotspot of every image), stay in
// localStorage until Save or Discard (a reload restores them), and Save downloads hotspots.json, which
// `pixmap build --hotspots` (or the file put next to index.html) reads back (docs/site-format.md).
// The edits themselves are data (hotspotmodel.js); this module is their UI and their place in the App.
import {el} from "./dom.js";
import {HotspotEdits, MEMBERSHIP, nearestCentre} from "./hotspotmodel.js";
import {imageFileUrl} from "./paths.js";
import {parseHash} from "./urlstate.js";

const STORE = "pixmap:hotspot-edits:";
const SAVE_HINT = "Put it next to index.html (or pass it with --hotspots) and rebuild the map to keep these hotspots.";

/** 64 bits of FNV-1a (two seeds) of a string, as hex. */
function hash(text) {
  const out = [];
  for (const seed of [0x811c9dc5, 0x01000193 ^ 0x5bd1e995]) {
    let h = seed >>> 0;
    for (let k = 0; k < text.length; k++) {
      h ^= text.charCodeAt(k);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    out.push(h.toString(16).padStart(8, "0"));
  }
  return out.join("");
}

/** The localStorage key of a site's unsaved edits: its title, size and own hotspots (a rebuild that changes
 *  them is another site, whose hotspots the old edits would not fit). */
export function storageKey(manifest) {
  const hotspots = (manifest.clusters && manifest.clusters.hotspots) || [];
  return STORE + hash(JSON.stringify([manifest.title || "", manifest.count, hotspots]));
}

/** The current hotspots as window.pixmap.hotspots() gives them: [{id, name, size, representative: id}]
 *  (a promise while representatives' ids are loading, on a big site). */
export function hotspotList(app) {
  const list = app.site.hotspots;
  const make = (ids) => list.map((h, k) => ({id: h.id, name: String(h.label), size: h.size, representative: ids[k]}));
  const now = list.map((h) => (h.representative >= 0 ? app.meta.idSync(h.representative) : null));
  if (now.every((id, k) => id !== null || !(list[k].representative >= 0))) return make(now);
  return Promise.all(list.map((h) => (h.representative >= 0 ? app.meta.id(h.representative) : null))).then(make);
}

export class HotspotEditor {
  constructor(app) {
    this.app = app;
    this.editing = false;
    this.model = null;        // HotspotEdits, once the hotspots of every image are loaded
    this.merging = null;      // the hotspot id a merge was started from
    this.discarded = null;    // the edits Discard dropped (Undo brings them back)
    this.key = storageKey(app.site.manifest);
    this.toggle = document.getElementById("hotspot-edit");
    this.tools = document.getElementById("hotspot-tools");
  }

  /** Wire the panel and, when this site has unsaved edits stored, restore them. Resolves when those are
   *  restored (at once when there are none). */
  start() {
    const panel = this.app.hotspotPanel;
    panel.decorate = (li, h) => this._decorate(li, h);
    panel.thumbFor = (i) => this._thumb(i);
    if (this.toggle) this.toggle.addEventListener("click", () => this.setEditing(!this.editing));
    window.addEventListener("keydown", (e) => this._onKey(e));
    if (this.app.onSelectionChange) this.app.onSelectionChange(() => { if (this.editing && !this._pushing) this._render(); });
    const stored = this._read();
    this.loaded = this._load(stored);
    this.loaded.catch((err) => console.warn("pixmap: hotspot edits:", err.message || err));
    return stored && stored.length ? this.loaded.catch(() => {}) : Promise.resolve();
  }

  async _load(stored) {
    const app = this.app;
    await app.clustersReady;
    const layout = app.site.initial; // (its positions are always loaded: the first frame needs them)
    const centre = (members) => nearestCentre(layout.positions, layout.dims, members);
    const original = (app.site.manifest.clusters && app.site.manifest.clusters.hotspots) || [];
    this.model = new HotspotEdits(app.site.clusters, original, {centre});
    if (stored && stored.length) {
      const n = this.model.reset(stored);
      if (n) {
        this._push();
        // a link naming a hotspot these edits made (it was not there when the link was followed)
        const linked = parseHash(location.hash).hotspot;
        if (linked !== null && app.selectedCluster < 0 && this.model.hotspot(linked)) app._select(linked);
        this._status(`${n} unsaved hotspot edit${n === 1 ? "" : "s"} restored from your last visit: Save or Discard them.`);
      }
      if (n !== stored.length) this._write();
    }
    if (this.editing) this._render(); // (Edit was pressed before the hotspots of every image arrived)
  }

  // ---------------------------------------------------------------- storage
  _read() {
    try {
      const doc = JSON.parse(localStorage.getItem(this.key) || "null");
      return doc && doc.version === 1 && Array.isArray(doc.ops) ? doc.ops : null;
    } catch {
      return null;
    }
  }

  _write() {
    try {
      if (this.model && this.model.dirty) {
        localStorage.setItem(this.key, JSON.stringify({version: 1, saved: new Date().toISOString(), ops: this.model.ops}));
      } else {
        localStorage.removeItem(this.key);
      }
    } catch (err) {
      this._status(`Your edits could not be kept for the next visit (${err.name || err.message}): Save them now.`);
    }
  }

  // ---------------------------------------------------------------- edits
  /** Apply an edit (hotspotmodel.js); true when it changed something. */
  edit(op) {
    if (!this.model || !this.model.apply(op)) return false;
    this.discarded = null;
    this.saved = false;
    this._push(MEMBERSHIP.has(op.op));
    this._write();
    this._status("");
    return true;
  }

  undo() {
    if (!this.model) return false;
    if (!this.model.dirty && this.discarded) {
      this.model.reset(this.discarded);
      this.discarded = null;
      this._status("Discarded edits brought back.");
    } else if (!this.model.undo()) {
      return false;
    } else {
      this._status("");
    }
    this._push();
    this._write();
    return true;
  }

  discard() {
    if (!this.model || !this.model.dirty) return;
    this.discarded = this.model.ops.slice();
    this.model.reset([]);
    this._push();
    this._write();
    this._status(`${this.discarded.length} edit${this.discarded.length === 1 ? "" : "s"} discarded: the map's own hotspots are back (Undo brings the edits back).`);
  }

  /** The hotspots file's text (docs/site-format.md): image ids, not indices. */
  async fileText() {
    await this.loaded;
    const meta = this.app.meta;
    const ids = (meta.idsSync && meta.idsSync()) || await meta.allIds();
    const doc = this.model.toFile((i) => ids[i], this.app.site.manifest.title ?? null);
    return JSON.stringify(doc, null, 1) + "\n";
  }

  /** Download hotspots.json; the edits leave localStorage (the file has them now). */
  async save() {
    const text = await this.fileText();
    const url = URL.createObjectURL(new Blob([text], {type: "application/json"}));
    const a = el("a", {href: url, download: "hotspots.json"});
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    this.saved = true;
    try {
      localStorage.removeItem(this.key);
    } catch { /* (storage unavailable: nothing was kept) */ }
    this._status(`Saved hotspots.json. ${SAVE_HINT}`);
    this._render();
    return text;
  }

  /** Show the model's state on the map and in the panel; images: whether images changed hotspot. */
  _push(images = true) {
    const app = this.app, st = this.model.state;
    app.site.hotspots = st.hotspots.map((h) => ({...h}));
    this._pushing = true;
    try {
      if (images) {
        app.site.clusters = new Int32Array(st.clusters);
        app._members = null; // (interaction.js's per-hotspot lists)
        app.renderer.setClusters(app.site.clusters);
        if (app.selectedCluster >= 0 && !st.hotspots.some((h) => h.id === app.selectedCluster) && app.setSelection) {
          app.setSelection(app.selectedIndices(), "replace"); // (the hotspot is gone; its images stay selected)
        }
        if (app.hoverCluster >= 0 && !st.hotspots.some((h) => h.id === app.hoverCluster)) app.hoverCluster = -1;
      }
      if (app.find && app.find.colorField === "hotspot") app.find.colorBy("hotspot");
    } finally {
      this._pushing = false;
    }
    app.requestFrame();
    this._render();
    this.lightboxChanged();
  }

  // ---------------------------------------------------------------- the panel
  setEditing(on) {
    this.editing = !!on;
    this.merging = null;
    if (this.toggle) {
      this.toggle.setAttribute("aria-pressed", String(this.editing));
      this.toggle.textContent = this.editing ? "Done" : "Edit";
    }
    document.getElementById("panel").classList.toggle("editing", this.editing);
    if (this.onEditingChange) this.onEditingChange(this.editing); // (clustersets.js: its controls)
    this._render();
    this.lightboxChanged();
  }

  _selected() {
    return this.app.selectedIndices ? this.app.selectedIndices() : new Uint32Array(0);
  }

  _render() {
    const panel = this.app.hotspotPanel;
    panel.setHotspots(this.app.site.hotspots);
    panel.setSelected(this.app.selectedCluster);
    // (new pictures load their thumbnail file; the site's own come from the atlas or the hotspot sheet)
    if (this.model && this.model.dirty) panel.drawMissing();
    this._renderTools();
  }

  _renderTools() {
    const tools = this.tools;
    if (!tools) return;
    tools.hidden = !this.editing;
    if (!this.editing) return;
    const m = this.model, sel = this._selected().length;
    const button = (action, text, title, disabled, onclick) =>
      el("button", {type: "button", dataset: {edit: action}, title, disabled: disabled || !m, onclick}, text);
    const n = m ? m.ops.length : 0;
    const status = this.statusText || (this.saved ? `Saved. ${SAVE_HINT}`
      : n ? `${n} unsaved edit${n === 1 ? "" : "s"} (kept in this browser until you Save or Discard)` : "No edits.");
    tools.replaceChildren(
      el("div", {className: "row"},
        button("create", sel ? `New hotspot from ${sel} selected` : "New hotspot from selection",
          "Make a hotspot of the selected images (they leave their hotspots)", !sel, () => this._create())),
      el("div", {className: "row"},
        button("undo", "Undo", "Undo the last edit (Ctrl+Z)", !(n || this.discarded), () => this.undo()),
        button("save", "Save", "Download hotspots.json, for the next build", false, () => this.save()),
        button("discard", "Discard", "Drop every unsaved edit", !n, () => this.discard())),
      el("p", {className: "status", role: "status", "aria-live": "polite", text: status}),
    );
  }

  _status(text) {
    this.statusText = text;
    this._renderTools();
  }

  _create() {
    const images = this._selected();
    if (!images.length || !this.model) return;
    const names = new Set(this.app.site.hotspots.map((h) => String(h.label)));
    let name = "New hotspot", k = 2;
    while (names.has(name)) name = `New hotspot (${k++})`;
    const id = this.model.freeId();
    if (this.edit({op: "create", id, name, images: Array.from(images)})) {
      const input = this.tools && document.querySelector(`#hotspots li[data-hotspot="${id}"] input.hs-name`);
      if (input) {
        input.focus();
        input.select();
      }
    }
  }

  /** The edit controls of one hotspot in the list (edit mode only). */
  _decorate(li, h) {
    if (!this.editing) return;
    const sel = this._selected();
    const m = this.model;
    let inside = 0;
    if (m) for (const i of sel) if (m.state.clusters[i] === h.id) inside++;
    const list = this.app.site.hotspots;
    const at = list.findIndex((x) => x.id === h.id);
    const button = (action, text, title, disabled, onclick) =>
      el("button", {type: "button", dataset: {edit: action}, title, "aria-label": title, disabled: disabled || !m, onclick}, text);
    const name = el("input", {type: "text", className: "hs-name", value: String(h.label), "aria-label": "Hotspot name",
      spellcheck: "false", maxlength: "200"});
    name.addEventListener("keydown", (e) => {
      if (e.key === "Enter") name.blur();
      else if (e.key === "Escape") { name.value = String(h.label); name.blur(); }
      else return;
      e.preventDefault();
      e.stopPropagation();
    });
    name.addEventListener("change", () => {
      if (!this.edit({op: "rename", id: h.id, name: name.value})) name.value = String(h.label);
    });
    const row = el("div", {className: "hs-edit"},
      name,
      button("up", "↑", "Move up", at <= 0, () => this.edit({op: "move", id: h.id, to: at - 1})),
      button("down", "↓", "Move down", at >= list.length - 1, () => this.edit({op: "move", id: h.id, to: at + 1})),
      button("delete", "✕", "Delete this hotspot (its images stay on the map)", false, () => this.edit({op: "delete", id: h.id})));
    const row2 = el("div", {className: "hs-edit"});
    if (this.merging === null) {
      row2.append(
        button("merge", "Merge…", "Merge another hotspot into this one", list.length < 2, () => {
          this.merging = h.id;
          this._status(`Choose the hotspot to merge into “${h.label}” (Esc cancels).`);
          this._render();
        }),
        button("add", sel.length ? `+ ${sel.length - inside} selected` : "+ selected", "Add the selected images to this hotspot",
          !(sel.length - inside > 0), () => this.edit({op: "add", id: h.id, images: Array.from(sel)})),
        button("remove", inside ? `− ${inside} selected` : "− selected", "Remove the selected images from this hotspot",
          !inside, () => this.edit({op: "remove", id: h.id, images: Array.from(sel)})));
    } else if (this.merging === h.id) {
      row2.append(button("merge-cancel", "Cancel merge", "Cancel the merge", false, () => this._cancelMerge()));
    } else {
      const into = list.find((x) => x.id === this.merging);
      row2.append(button("merge-here", `Merge into “${into ? into.label : "?"}”`,
        `Move this hotspot's images into “${into ? into.label : "?"}” and remove it`, !into, () => {
          const target = this.merging;
          this.merging = null;
          this.edit({op: "merge", into: target, from: h.id});
        }));
    }
    li.append(row, row2);
  }

  _cancelMerge() {
    this.merging = null;
    this._status("");
    this._render();
  }

  _onKey(e) {
    if (!this.editing) return;
    if (e.key === "Escape" && this.merging !== null) { // (also when the map's own Escape ran first)
      e.preventDefault();
      this._cancelMerge();
      return;
    }
    if (e.defaultPrevented) return;
    const tag = e.target && e.target.tagName;
    const typing = tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (e.target && e.target.isContentEditable);
    if ((e.ctrlKey || e.metaKey) && !e.shiftKey && !e.altKey && (e.key === "z" || e.key === "Z") && !typing) {
      e.preventDefault();
      this.undo();
    }
  }

  /** A thumbnail for a new representative: its thumbnail file (else its lightbox image). */
  async _thumb(i) {
    const m = this.app.site.manifest;
    const entry = m.thumbs && m.thumbs.size > 0 ? m.thumbs : m.lightbox;
    const id = await this.app.meta.id(i);
    const img = new Image();
    img.decoding = "async";
    img.src = imageFileUrl(entry, id);
    await img.decode();
    return img;
  }

  // ---------------------------------------------------------------- the lightbox
  /** In edit mode the lightbox offers to make the image shown its hotspot's picture. */
  lightboxChanged() {
    const lb = this.app.lightbox;
    const info = lb && lb.root.querySelector(".info");
    const old = lb && lb.root.querySelector(".hs-rep");
    if (old) old.remove();
    if (!this.editing || !this.model || !lb.isOpen || !info) return;
    const i = lb.index, c = this.model.state.clusters[i];
    const h = c >= 0 ? this.model.hotspot(c) : null;
    if (!h) return;
    const box = el("p", {className: "hs-rep"});
    if (h.representative === i) {
      box.append(`The picture of the hotspot “${h.label}”.`);
    } else {
      box.append(el("button", {type: "button", dataset: {edit: "rep"}, onclick: () => this.edit({op: "rep", id: h.id, image: i})},
        `Make this the picture of “${h.label}”`));
    }
    info.append(box);
  }
}
