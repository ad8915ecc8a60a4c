// The hotspot panel: a representative thumbnail, the label and a size bar per hotspot.
// Hover highlights the members on the map; click selects them and flies the camera there.
// The list can be drawn again with other hotspots (setHotspots: the hotspot editor, hotspotedit.js);
// thumbnails are kept by representative image, and one not drawn yet comes from `thumbFor(image)`
// (its thumbnail file), since atlas level 0 and the hotspot sheet are only read at start-up.
// Each hotspot shows its quality (site format 6: the silhouette of its images, when the manifest has it), and
// the list can be sorted by size (the map's own order), quality or name (setSort; clustersets.js's control).
import {el} from "./dom.js";

const THUMB = 96; // canvas pixels (shown at 48 CSS px)

export const SILHOUETTE_HELP = "Silhouette: how much nearer this hotspot's images are to each other than to the "
  + "next hotspot's, from -1 to 1 (above 0.25: a distinct group; near 0: it blends into its neighbours; "
  + "below 0: mixed).";

/** The hotspots in the order of `key`: "size" (as given: the map's own order), "quality" (silhouette, best
 * first; hotspots without one last) or "name". */
export function sortHotspots(hotspots, key) {
  const list = hotspots.slice();
  if (key === "quality") {
    const q = (h) => (typeof h.silhouette === "number" && Number.isFinite(h.silhouette) ? h.silhouette : -Infinity);
    list.sort((a, b) => q(b) - q(a));
  } else if (key === "name") {
    list.sort((a, b) => String(a.label).localeCompare(String(b.label), undefined, {numeric: true, sensitivity: "base"}));
  }
  return list;
}

/** The quality badge of a hotspot: its silhouette as a number and a small bar, or null without one. */
function qualityBadge(h) {
  if (typeof h.silhouette !== "number" || !Number.isFinite(h.silhouette)) return null;
  const s = h.silhouette;
  const grade = s >= 0.25 ? "good" : s >= 0 ? "fair" : "poor";
  const fill = el("span");
  fill.style.width = `${Math.max(4, Math.min(100, ((s + 1) / 2) * 100)).toFixed(1)}%`;
  return el("span", {className: `quality ${grade}`, title: `${SILHOUETTE_HELP} This one: ${s.toFixed(2)}.`},
    el("span", {className: "qbar", "aria-hidden": "true"}, fill),
    el("span", {className: "qvalue", text: s.toFixed(2)}));
}

export class HotspotPanel {
  /**
   * list: the <ol>; hotspots: [{id, label, size, representative}] in display order;
   * onHover(id | -1), onSelect(hotspot); thumbFor(image) -> promise of an image to draw (optional);
   * decorate(li, hotspot): add to an item as it is drawn (optional; the editor's controls).
   */
  constructor(list, hotspots, {onHover, onSelect, thumbFor = null, decorate = null}) {
    this.list = list;
    this.onHover = onHover;
    this.onSelect = onSelect;
    this.thumbFor = thumbFor;
    this.decorate = decorate;
    this.thumbs = new Map(); // representative image -> canvas holding its thumbnail
    this.wanted = new Set(); // representatives whose thumbnail file is loading
    this.selected = null;
    this.sortKey = "size";
    this.setHotspots(hotspots);
  }

  /** Draw the list in another order: "size" (the hotspots' own order), "quality" or "name". */
  setSort(key) {
    this.sortKey = key;
    this.setHotspots(this.hotspots);
  }

  /** Draw the list (again) for these hotspots (in this.sortKey's order). */
  setHotspots(hotspots) {
    this.hotspots = hotspots;
    this.items = new Map(); // hotspot id -> {button, canvas, li}
    const max = Math.max(1, ...hotspots.map((h) => h.size));
    const items = [];
    if (!hotspots.length) items.push(el("li", {className: "empty", text: "No hotspots in this map."}));
    for (const h of sortHotspots(hotspots, this.sortKey)) {
      const canvas = el("canvas", {width: THUMB, height: THUMB, "aria-hidden": "true"});
      const bar = el("span");
      bar.style.width = `${Math.max(2, (100 * h.size) / max).toFixed(1)}%`;
      const button = el("button", {type: "button", "aria-pressed": String(h.id === this.selected), title: String(h.label)},
        canvas,
        el("span", {className: "label", text: String(h.label)}),
        el("span", {className: "meta"}, el("span", {className: "bar"}, bar), el("span", {className: "size", text: String(h.size)}),
          ...[qualityBadge(h)].filter(Boolean)));
      button.dataset.hotspot = String(h.id);
      button.addEventListener("mouseenter", () => this.onHover(h.id));
      button.addEventListener("mouseleave", () => this.onHover(-1));
      button.addEventListener("focus", () => this.onHover(h.id));
      button.addEventListener("blur", () => this.onHover(-1));
      button.addEventListener("click", () => this.onSelect(h));
      const li = el("li", {}, button);
      li.dataset.hotspot = String(h.id);
      if (this.decorate) this.decorate(li, h);
      items.push(li);
      this.items.set(h.id, {button, canvas, li});
      this._paint(h);
    }
    this.list.replaceChildren(...items);
  }

  /** Copy the representative's thumbnail into the item, or ask for it. */
  _paint(h) {
    const item = this.items.get(h.id);
    const src = this.thumbs.get(h.representative);
    if (!item) return;
    if (src) {
      const ctx = item.canvas.getContext("2d");
      ctx.clearRect(0, 0, THUMB, THUMB);
      ctx.drawImage(src, 0, 0);
      item.button.dataset.thumb = src.dataset.from || "atlas";
      return;
    }
    const r = h.representative;
    if (!this.thumbFor || !(r >= 0) || this.wanted.has(r) || !this._drawn) return;
    this.wanted.add(r);
    this.thumbFor(r).then((img) => {
      this._store(r, img, 0, 0, img.naturalWidth || img.width, img.naturalHeight || img.height, "file");
      if (img.close) img.close();
    }).catch((err) => console.warn("pixmap: a hotspot thumbnail could not be loaded:", err.message || err))
      .finally(() => this.wanted.delete(r));
  }

  /** Keep a thumbnail of image r (cut from a bitmap, covering the square) and paint the items showing it. */
  _store(r, bitmap, x, y, w, hgt, from) {
    if (!w || !hgt) return;
    const canvas = el("canvas", {width: THUMB, height: THUMB});
    canvas.dataset.from = from;
    const ctx = canvas.getContext("2d");
    const s = Math.max(THUMB / w, THUMB / hgt); // cover the square
    const dw = w * s, dh = hgt * s;
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(bitmap, x, y, w, hgt, (THUMB - dw) / 2, (THUMB - dh) / 2, dw, dh);
    this.thumbs.set(r, canvas);
    for (const h of this.hotspots) if (h.representative === r) this._paint(h);
  }

  /** Draw hotspot thumbnails whose representative's atlas cell lies on this page bitmap. */
  drawFromPage(page, bitmap, cells, atlasSize) {
    const k = bitmap.width / atlasSize;
    for (const h of this.hotspots) {
      const r = h.representative;
      if (!(r >= 0) || cells[r * 5] !== page || this.thumbs.has(r)) continue;
      const [x, y, w, hgt] = [cells[r * 5 + 1], cells[r * 5 + 2], cells[r * 5 + 3], cells[r * 5 + 4]].map((v) => v * k);
      this._store(r, bitmap, x, y, w, hgt, "atlas");
    }
  }

  /**
   * The thumbnails from the site's hotspot sheet (manifest clusters.thumbs: a big site, whose level-0
   * cells are too small for them): square cells of `size` px, `columns` to a row, in the order of the
   * manifest's hotspots (`sheetOrder`; the list shown may have been edited since).
   */
  drawFromSheet(bitmap, {size, columns}, sheetOrder = this.hotspots) {
    sheetOrder.forEach((h, k) => {
      this._store(h.representative, bitmap, (k % columns) * size, Math.floor(k / columns) * size, size, size, "sheet");
    });
  }

  /** Start-up's pages and sheet are drawn: representatives still without a thumbnail load their file. */
  drawMissing() {
    this._drawn = true;
    for (const h of this.hotspots) this._paint(h);
  }

  setSelected(id) {
    this.selected = id;
    for (const [hid, {button}] of this.items) button.setAttribute("aria-pressed", String(hid === id));
  }
}
