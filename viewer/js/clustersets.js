// The hotspot panel's view controls (site format 6): which clustering's hotspots are shown, when the build made
// several (manifest `clusterings`: `pixmap build --cluster-method hdbscan,agglomerative`), and their order
// (size, quality, name: hotspots.js's sortHotspots).
//
// The map's own hotspots (manifest `clusters`) are the main set: colouring by hotspot, the selection, the
// export and the hotspot editor all read `app.site.clusters` / `app.site.hotspots`, so showing another set
// puts its labels there (loaded from `data/clusters-<name>.i32`) and hands them to the renderer, as the main
// set's are. The editor edits the main set only: it is closed and its Edit button disabled while another
// set is shown; going back restores the main set as it was (with its unsaved edits). The shown set is in
// the link as `clusters=<name>` (urlstate.js); sites without `clusterings` show no set control.
import {el} from "./dom.js";
import {SILHOUETTE_HELP} from "./hotspots.js";

const MAIN = ""; // the select's value for the map's own hotspots

/** The sets a manifest offers besides its main hotspots: [{name, label, entry}] (none for older sites). */
export function otherSets(manifest) {
  const sets = Array.isArray(manifest.clusterings) ? manifest.clusterings : [];
  const main = manifest.clusters && manifest.clusters.clustering;
  return sets.filter((s) => s && typeof s.name === "string" && typeof s.file === "string" && s.name !== main)
    .map((s) => ({name: s.name, label: setLabel(s), entry: s}));
}

function setLabel(s) {
  const q = s.quality || {};
  const k = Number.isFinite(q.n_clusters) ? ` · ${q.n_clusters}` : "";
  const space = s.space && s.space !== "cnn" ? ` (${s.space})` : "";
  return `${s.method || s.name}${space}${k}`;
}

function mainLabel(manifest) {
  const c = manifest.clusters || {};
  const sets = Array.isArray(manifest.clusterings) ? manifest.clusterings : [];
  const own = sets.find((s) => s.name === c.clustering);
  if (own) return `${setLabel(own)} (the map's)`;
  if (c.method === "curated") return "Curated (the map's)";
  return `${c.method || "hotspots"} (the map's)`;
}

export class ClusterSets {
  /** app: the viewer (site, loader, renderer, hotspotPanel, hotspotEdit, find, hash, ...). */
  constructor(app) {
    this.app = app;
    this.sets = otherSets(app.site.manifest);
    this.current = null; // the name of the set shown; null: the main set
    this.main = null; // {clusters, hotspots} of the main set while another is shown
    this.cache = new Map(); // name -> Int32Array
    this.box = null;
    this.select = null;
    this.sort = null;
    this._build();
  }

  _build() {
    const app = this.app;
    const hotspots = app.site.hotspots || [];
    const hasQuality = hotspots.some((h) => typeof h.silhouette === "number")
      || this.sets.some((s) => (s.entry.hotspots || []).some((h) => typeof h.silhouette === "number"));
    if (!this.sets.length && !hasQuality) return; // (older sites: the panel as it was)
    const list = document.getElementById("hotspots");
    if (!list) return;
    const parts = [];
    if (this.sets.length) {
      this.select = el("select", {id: "hotspot-set", "aria-label": "Hotspot set",
        title: "Which clustering's hotspots are shown (the build made several: --cluster-method)"},
      el("option", {value: MAIN, text: mainLabel(app.site.manifest)}),
      ...this.sets.map((s) => el("option", {value: s.name, text: s.label})));
      this.select.addEventListener("change", () => {
        this.show(this.select.value || null).catch((err) => this._error(err));
      });
      parts.push(el("label", {className: "set"}, el("span", {text: "Set"}), this.select));
    }
    this.sort = el("select", {id: "hotspot-sort", "aria-label": "Sort hotspots by",
      title: `Sort the hotspots. ${SILHOUETTE_HELP}`},
    el("option", {value: "size", text: "Size"}),
    el("option", {value: "quality", text: "Quality"}),
    el("option", {value: "name", text: "Name"}));
    this.sort.addEventListener("change", () => app.hotspotPanel.setSort(this.sort.value));
    parts.push(el("label", {className: "sort"}, el("span", {text: "Sort"}), this.sort));
    this.status = el("p", {className: "status", role: "status"});
    this.box = el("div", {id: "hotspot-view"}, el("div", {className: "row"}, ...parts), this.status);
    list.before(this.box);
    const editor = app.hotspotEdit;
    if (editor) editor.onEditingChange = (on) => this._editing(on);
  }

  /** The editor reorders the map's own list: while it is open the list is shown in that order. */
  _editing(on) {
    if (!this.sort) return;
    if (on && this.app.hotspotPanel.sortKey !== "size") {
      this.sort.value = "size";
      this.app.hotspotPanel.setSort("size");
    }
    this.sort.disabled = !!on;
    if (this.select) this.select.disabled = !!on;
  }

  /** Show the set `name` (null or "": the map's own hotspots). Resolves when it is on the map. */
  async show(name) {
    const app = this.app;
    name = name || null;
    if (name === this.current) return true;
    const set = name && this.sets.find((s) => s.name === name);
    if (name && !set) throw new Error(`no hotspot set named ${name}`);
    await app.clustersReady;
    await app.hotspotsRestored;
    // (the editor's model is made from the main set's labels: let it read them before they are swapped)
    if (app.hotspotEdit && app.hotspotEdit.loaded) await app.hotspotEdit.loaded.catch(() => {});
    let clusters, hotspots;
    if (set) {
      clusters = this.cache.get(name);
      if (!clusters) {
        this._status(`Loading ${set.label}...`);
        clusters = new Int32Array(await app.loader.bytes(set.entry.file));
        if (clusters.length !== app.site.count) {
          throw new Error(`${set.entry.file} has ${clusters.length} entries for ${app.site.count} images`);
        }
        this.cache.set(name, clusters);
      }
      hotspots = (set.entry.hotspots || []).map((h) => ({...h}));
      if (!this.main) this.main = {clusters: app.site.clusters, hotspots: app.site.hotspots};
    } else {
      ({clusters, hotspots} = this.main);
      this.main = null;
    }
    const editor = app.hotspotEdit;
    if (editor && editor.editing) editor.setEditing(false);
    this.current = name;
    if (app.selectedCluster >= 0) app._select(-1); // (its members were of the other set)
    app.hoverCluster = -1;
    app.site.clusters = clusters;
    app.site.hotspots = hotspots;
    app._members = null; // (interaction.js's per-hotspot lists)
    app.renderer.setClusters(clusters);
    app.hotspotPanel.setHotspots(hotspots);
    app.hotspotPanel.setSelected(-1);
    app.hotspotPanel.drawMissing();
    if (editor && editor.toggle) {
      editor.toggle.disabled = !!name;
      editor.toggle.title = name ? "The hotspot editor edits the map's own hotspots: show them (Set) to edit"
        : "Edit the hotspots: rename, reorder, merge, make from the selection, save";
    }
    if (this.select) this.select.value = name || MAIN;
    if (app.find && app.find.colorField === "hotspot") app.find.colorBy("hotspot");
    this._status(name ? `${hotspots.length} hotspots by ${set.entry.method || name}; Edit works on the map's own set.` : "");
    app.requestFrame();
    if (app.hash) app.hash.schedule();
    return true;
  }

  /** Follow a link's `clusters=<name>` (unknown names are ignored, with a note in the console). */
  async restore(saved) {
    const name = saved && saved.clusters;
    if (!name || name === this.current) return;
    if (!this.sets.some((s) => s.name === name)) {
      console.warn(`pixmap: the link's hotspot set ${name} is not in this map`);
      return;
    }
    await this.show(name);
  }

  _status(text) {
    if (this.status) this.status.textContent = text;
  }

  _error(err) {
    console.warn("pixmap: hotspot set:", err.message || err);
    this._status(`The hotspot set could not be loaded: ${err.message || err}`);
    if (this.select) this.select.value = this.current || MAIN;
  }
}
