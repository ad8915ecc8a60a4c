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
      const placed = []; // screen boxes of the labels shown so far: a label that would overlap one is hidden
      for (const lab of this._spans(entry)) {
        const p = project(lab.x, lab.y, lab.z);
        let visible = p && alpha > 0.01 && p[0] > -200 && p[1] > -50 && p[0] < vp.width + 200 && p[1] < vp.height + 50;
        if (visible) {
          if (lab.w === undefined) { // measured once, the first time it could be shown
            lab.span.hidden = false;
            lab.w = lab.span.offsetWidth + 6;
            lab.h = lab.span.offsetHeight + 2;
            lab.span.hidden = !lab.shown;
          }
          const box = [p[0] - lab.w / 2, p[1] - lab.h / 2, p[0] + lab.w / 2, p[1] + lab.h / 2];
          visible = !placed.some((b) => box[0] < b[2] && b[0] < box[2] && box[1] < b[3] && b[1] < box[3]);
          if (visible) placed.push(box);
        }
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
