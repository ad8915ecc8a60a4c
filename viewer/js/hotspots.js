// The hotspot panel: a representative thumbnail, the label and a size bar per hotspot.
// Hover highlights the members on the map; click selects them and flies the camera there.
import {el} from "./dom.js";

const THUMB = 96; // canvas pixels (shown at 48 CSS px)

export class HotspotPanel {
  constructor(list, hotspots, {onHover, onSelect}) {
    this.list = list;
    this.hotspots = hotspots;
    this.items = new Map(); // hotspot id -> {button, canvas}
    this.selected = null;
    const max = Math.max(1, ...hotspots.map((h) => h.size));
    if (!hotspots.length) {
      list.append(el("li", {className: "empty", text: "No hotspots in this map."}));
    }
    for (const h of hotspots) {
      const canvas = el("canvas", {width: THUMB, height: THUMB, "aria-hidden": "true"});
      const bar = el("span");
      bar.style.width = `${Math.max(2, (100 * h.size) / max).toFixed(1)}%`;
      const button = el("button", {type: "button", "aria-pressed": "false", title: String(h.label)},
        canvas,
        el("span", {className: "label", text: String(h.label)}),
        el("span", {className: "meta"}, el("span", {className: "bar"}, bar), el("span", {text: String(h.size)})));
      button.dataset.hotspot = String(h.id);
      button.addEventListener("mouseenter", () => onHover(h.id));
      button.addEventListener("mouseleave", () => onHover(-1));
      button.addEventListener("focus", () => onHover(h.id));
      button.addEventListener("blur", () => onHover(-1));
      button.addEventListener("click", () => onSelect(h));
      list.append(el("li", {}, button));
      this.items.set(h.id, {button, canvas});
    }
  }

  /** Draw hotspot thumbnails whose representative's atlas cell lies on this page bitmap. */
  drawFromPage(page, bitmap, cells, atlasSize) {
    const k = bitmap.width / atlasSize;
    for (const h of this.hotspots) {
      const r = h.representative;
      if (!(r >= 0) || cells[r * 5] !== page) continue;
      const [x, y, w, hgt] = [cells[r * 5 + 1], cells[r * 5 + 2], cells[r * 5 + 3], cells[r * 5 + 4]].map((v) => v * k);
      this._draw(h.id, bitmap, x, y, w, hgt);
    }
  }

  _draw(id, bitmap, x, y, w, hgt) {
    const item = this.items.get(id);
    if (!item || !w || !hgt) return;
    const ctx = item.canvas.getContext("2d");
    const s = Math.max(THUMB / w, THUMB / hgt); // cover the square
    const dw = w * s, dh = hgt * s;
    ctx.imageSmoothingQuality = "high";
    ctx.clearRect(0, 0, THUMB, THUMB);
    ctx.drawImage(bitmap, x, y, w, hgt, (THUMB - dw) / 2, (THUMB - dh) / 2, dw, dh);
  }

  /**
   * The thumbnails from the site's hotspot sheet (manifest clusters.thumbs: a big site, whose level-0
   * cells are too small for them): square cells of `size` px, `columns` to a row, in hotspot order.
   */
  drawFromSheet(bitmap, {size, columns}) {
    this.hotspots.forEach((h, k) => {
      this._draw(h.id, bitmap, (k % columns) * size, Math.floor(k / columns) * size, size, size);
      const item = this.items.get(h.id);
      if (item) item.button.dataset.thumb = "sheet";
    });
  }

  setSelected(id) {
    this.selected = id;
    for (const [hid, {button}] of this.items) button.setAttribute("aria-pressed", String(hid === id));
  }
}
