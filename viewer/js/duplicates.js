// Near-duplicates (site format 6; docs/site-format.md "Near-duplicates"): the groups of near-identical
// images the build found (data/duplicates.json: groups of image indices, pixmap.duplicates), under the
// hotspots in the side panel. "Near-duplicates (N groups)" selects every image of every group (the
// selection API, selection.js) and frames them; the list below it has one entry per group: a click
// selects that group's images and flies to them. Titles come from the metadata and are set as text.
// Shown only when the manifest has `duplicates` with at least one group; the file loads on first use.
import {titleOf} from "./meta.js";

export const LIST_MAX = 200;   // groups listed (all of them are selected by the button)

export class Duplicates {
  /** app: the viewer (site, loader, meta, setSelection, _frameImages, animator, cameras). */
  constructor(app, panel = document.getElementById("panel")) {
    this.app = app;
    this.entry = app.site.manifest.duplicates || null;
    this.groups = null;      // [[index, ...], ...] once loaded
    this.loading = null;
    this.root = null;
    if (!this.entry || typeof this.entry.file !== "string" || !(this.entry.groups > 0) || !panel) return;
    this._buildUi(panel);
  }

  _buildUi(panel) {
    const count = this.entry.groups;
    const root = document.createElement("section");
    root.id = "duplicates";
    const h = document.createElement("h2");
    h.textContent = "Near-duplicates";
    const all = document.createElement("button");
    all.type = "button";
    all.id = "duplicates-all";
    all.textContent = `Near-duplicates (${count} group${count === 1 ? "" : "s"})`;
    all.title = "Select every image that has a near-duplicate (the same work twice, a crop, a resized copy)";
    all.addEventListener("click", () => this.selectAll().catch((err) => console.warn("pixmap:", err.message)));
    const list = document.createElement("ol");
    list.id = "duplicates-groups";
    root.append(h, all, list);
    panel.append(root);
    this.root = root;
    this.list = list;
    this.load().then(() => this._fillList()).catch((err) => console.warn("pixmap: near-duplicates:", err.message));
  }

  /** The groups (loaded once): arrays of valid image indices, at least two each. */
  load() {
    if (!this.loading) {
      const n = this.app.site.count;
      this.loading = this.app.loader.json(this.entry.file).then((doc) => {
        const groups = Array.isArray(doc && doc.groups) ? doc.groups : [];
        const valid = (i) => Number.isInteger(i) && i >= 0 && i < n;
        this.groups = groups.map((g) => (Array.isArray(g) ? g.filter(valid) : [])).filter((g) => g.length >= 2);
        return this.groups;
      });
    }
    return this.loading;
  }

  async _fillList() {
    const meta = this.app.meta;
    for (const [k, group] of this.groups.slice(0, LIST_MAX).entries()) {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.group = String(k);
      const name = document.createElement("span");
      name.className = "label";
      name.textContent = `Group ${k + 1}`;
      const info = document.createElement("span");
      info.className = "meta";
      info.textContent = `${group.length} images`;
      b.append(name, info);
      b.addEventListener("click", () => this.selectGroup(k).catch((err) => console.warn("pixmap:", err.message)));
      li.append(b);
      this.list.append(li);
      Promise.all([meta.id(group[0]), meta.row(group[0])]).then(([id, row]) => {
        const t = titleOf(meta.fields || [], row, id);
        if (t) name.textContent = `${k + 1}. ${t}`;
      }).catch(() => {});
    }
  }

  _frame(indices, duration) {
    const app = this.app;
    const f = app._frameImages(indices);
    return f ? app.animator.start(app.cameras[f.kind], f.state, duration) : Promise.resolve(false);
  }

  /** Select every image of every group (and frame them); resolves to how many. */
  async selectAll({duration = 900} = {}) {
    const groups = await this.load();
    const all = groups.flat();
    this.app.setSelection(all, "replace");
    if (all.length) await this._frame(all, duration);
    return all.length;
  }

  /** Select group k's images and fly to them; resolves to its image indices. */
  async selectGroup(k, {duration = 900} = {}) {
    const groups = await this.load();
    const group = groups[k];
    if (!group) throw new Error(`no near-duplicate group ${k + 1} (there are ${groups.length})`);
    this.app.setSelection(group, "replace");
    await this._frame(group, duration);
    return group;
  }
}
