// Layout labels ("1880", block titles, ...) as HTML text positioned over the map each frame.
import {el} from "./dom.js";

export class LabelLayer {
  constructor(container) {
    this.container = container;
    this.sets = new Map(); // layout name -> [{span, x, y, z}]
  }

  _spans(entry) {
    let set = this.sets.get(entry.name);
    if (!set) {
      set = (entry.labels || []).map((lab) => {
        const span = el("span", {text: lab.text});
        span.hidden = true;
        this.container.append(span);
        return {span, x: +lab.x || 0, y: +lab.y || 0, z: +lab.z || 0, shown: false};
      });
      this.sets.set(entry.name, set);
    }
    return set;
  }

  /** items: [{entry, alpha}] to show; project(x, y, z) -> [sx, sy] or null (CSS px). */
  render(items, project, vp) {
    const active = new Set();
    for (const {entry, alpha} of items) {
      if (!entry.labels || !entry.labels.length) continue;
      active.add(entry.name);
      for (const lab of this._spans(entry)) {
        const p = project(lab.x, lab.y, lab.z);
        const visible = p && alpha > 0.01 && p[0] > -200 && p[1] > -50 && p[0] < vp.width + 200 && p[1] < vp.height + 50;
        if (!visible) {
          if (lab.shown) { lab.span.hidden = true; lab.shown = false; }
          continue;
        }
        if (!lab.shown) { lab.span.hidden = false; lab.shown = true; }
        lab.span.style.transform = `translate(${p[0].toFixed(1)}px, ${p[1].toFixed(1)}px) translate(-50%, -50%)`;
        lab.span.style.opacity = alpha.toFixed(2);
      }
    }
    for (const [name, set] of this.sets) {
      if (active.has(name)) continue;
      for (const lab of set) if (lab.shown) { lab.span.hidden = true; lab.shown = false; }
    }
  }
}
