// Hotspot edits as data: the site's own hotspots plus a list of edits, replayed in order. No DOM here
// (hotspotedit.js is the UI). The list of edits is what localStorage keeps and what undo shortens.
//
//   const edits = new HotspotEdits(clusters, manifestHotspots, {centre});
//   edits.apply({op: "rename", id: 3, name: "Roses"});    // true when it changed something
//   edits.state      {clusters: Int32Array (hotspot id per image, -1: none), hotspots: [{id, label, size,
//                     representative}] in display order}: the same shape as the site's own
//   edits.undo(); edits.ops; edits.reset(ops)
//
// Edits (image lists are sorted image indices):
//   {op: "rename", id, name}          {op: "delete", id}            {op: "move", id, to}   (to: position)
//   {op: "merge", into, from}         `from`'s images join `into`, which keeps its name, place and picture
//   {op: "rep", id, image}            the hotspot's picture (one of its images)
//   {op: "create", id, name, images}  a new hotspot, first in the list; its images leave their hotspots
//   {op: "add", id, images}           the images join hotspot `id` (leaving their own)
//   {op: "remove", id, images}        those of the images that are in `id` leave it (in no hotspot then)
// A hotspot left without images is removed; one whose picture left it gets the image nearest the centre
// of its images (`centre(indices)`, from the map's positions) instead.

export const OPS = ["rename", "delete", "move", "merge", "rep", "create", "add", "remove"];
export const MEMBERSHIP = new Set(["delete", "merge", "create", "add", "remove"]); // (change images' hotspots)

function copyHotspots(list) {
  return list.map((h) => ({id: h.id, label: String(h.label), size: h.size, representative: h.representative}));
}

/** The image of `members` nearest their centroid in `positions` (Float32Array, `dims` per image). */
export function nearestCentre(positions, dims, members) {
  if (!members.length) return -1;
  if (!positions) return members[0];
  const mean = new Float64Array(dims);
  for (const i of members) for (let d = 0; d < dims; d++) mean[d] += positions[i * dims + d];
  for (let d = 0; d < dims; d++) mean[d] /= members.length;
  let best = members[0], bestDist = Infinity;
  for (const i of members) {
    let s = 0;
    for (let d = 0; d < dims; d++) s += (positions[i * dims + d] - mean[d]) ** 2;
    if (s < bestDist) { bestDist = s; best = i; }
  }
  return best;
}

export class HotspotEdits {
  /**
   * clusters: the site's hotspot id per image (Int32Array, not modified); hotspots: the manifest's list;
   * centre(indices): a hotspot's new picture when its own left it (default: the first image).
   */
  constructor(clusters, hotspots, {centre = (m) => (m.length ? m[0] : -1)} = {}) {
    this.base = {clusters: new Int32Array(clusters), hotspots: copyHotspots(hotspots)};
    this.centre = centre;
    this.ops = [];
    this.state = this._fresh();
  }

  _fresh() {
    return {clusters: new Int32Array(this.base.clusters), hotspots: copyHotspots(this.base.hotspots)};
  }

  get dirty() {
    return this.ops.length > 0;
  }

  hotspot(id) {
    return this.state.hotspots.find((h) => h.id === id) || null;
  }

  /** The images of hotspot id, in data order. */
  members(id) {
    const c = this.state.clusters, out = [];
    for (let i = 0; i < c.length; i++) if (c[i] === id) out.push(i);
    return out;
  }

  /** A hotspot id no hotspot has, or had in the site. */
  freeId() {
    let max = -1;
    for (const h of this.base.hotspots) max = Math.max(max, h.id);
    for (const h of this.state.hotspots) max = Math.max(max, h.id);
    return max + 1;
  }

  /** Apply an edit; false (and nothing recorded) when it is not valid now or changes nothing. */
  apply(op) {
    const clean = this._check(op);
    if (!clean || !this._run(this.state, clean)) return false;
    this.ops.push(clean);
    return true;
  }

  undo() {
    if (!this.ops.length) return null;
    const op = this.ops.pop();
    this.reset(this.ops);
    return op;
  }

  /** Start again from the site's hotspots and replay `ops` (those that no longer apply are dropped). */
  reset(ops = []) {
    this.state = this._fresh();
    const kept = [];
    for (const op of ops) {
      const clean = this._check(op);
      if (clean && this._run(this.state, clean)) kept.push(clean);
    }
    this.ops = kept;
    return kept.length;
  }

  /** The op with its fields checked and copied (image lists sorted, unique, in range), or null. */
  _check(op) {
    if (!op || !OPS.includes(op.op)) return null;
    const n = this.state.clusters.length;
    const has = (id) => Number.isInteger(id) && this.state.hotspots.some((h) => h.id === id);
    const images = (list) => {
      if (!list || typeof list[Symbol.iterator] !== "function") return null;
      const out = [...new Set(Array.from(list, Number))].filter((i) => Number.isInteger(i) && i >= 0 && i < n);
      return out.sort((a, b) => a - b);
    };
    const name = (v) => (typeof v === "string" && v.trim() ? v.trim() : null);
    switch (op.op) {
      case "rename": return has(op.id) && name(op.name) ? {op: "rename", id: op.id, name: name(op.name)} : null;
      case "delete": return has(op.id) ? {op: "delete", id: op.id} : null;
      case "move": return has(op.id) && Number.isInteger(op.to) ? {op: "move", id: op.id, to: op.to} : null;
      case "merge":
        return has(op.into) && has(op.from) && op.into !== op.from ? {op: "merge", into: op.into, from: op.from} : null;
      case "rep":
        return has(op.id) && Number.isInteger(op.image) && this.state.clusters[op.image] === op.id
          ? {op: "rep", id: op.id, image: op.image} : null;
      case "create": {
        const list = images(op.images);
        const id = Number.isInteger(op.id) && op.id >= 0 && !has(op.id) ? op.id : this.freeId();
        return list && list.length && name(op.name) ? {op: "create", id, name: name(op.name), images: list} : null;
      }
      case "add": case "remove": {
        const list = images(op.images);
        return has(op.id) && list && list.length ? {op: op.op, id: op.id, images: list} : null;
      }
      default: return null;
    }
  }

  /** Run a checked op on state; false when it changed nothing. */
  _run(state, op) {
    const c = state.clusters, list = state.hotspots;
    const at = (id) => list.findIndex((h) => h.id === id);
    let changed = false;
    const assign = (images, to, onlyFrom = null) => {
      for (const i of images) {
        if (onlyFrom !== null && c[i] !== onlyFrom) continue;
        if (c[i] !== to) { c[i] = to; changed = true; }
      }
    };
    switch (op.op) {
      case "rename": {
        const h = list[at(op.id)];
        if (h.label === op.name) return false;
        h.label = op.name;
        return true;
      }
      case "delete":
        for (let i = 0; i < c.length; i++) if (c[i] === op.id) c[i] = -1;
        list.splice(at(op.id), 1);
        return true;
      case "move": {
        const from = at(op.id), to = Math.max(0, Math.min(list.length - 1, op.to));
        if (from === to) return false;
        const [h] = list.splice(from, 1);
        list.splice(to, 0, h);
        return true;
      }
      case "merge":
        for (let i = 0; i < c.length; i++) if (c[i] === op.from) c[i] = op.into;
        list.splice(at(op.from), 1);
        changed = true;
        break;
      case "rep": {
        const h = list[at(op.id)];
        if (h.representative === op.image) return false;
        h.representative = op.image;
        return true;
      }
      case "create":
        assign(op.images, op.id);
        list.unshift({id: op.id, label: op.name, size: 0, representative: -1});
        break;
      case "add":
        assign(op.images, op.id);
        break;
      case "remove":
        assign(op.images, -1, op.id);
        break;
      default:
        return false;
    }
    if (changed) this._tidy(state);
    return changed;
  }

  /** Sizes counted again; hotspots without images removed; pictures that left their hotspot replaced. */
  _tidy(state) {
    const c = state.clusters;
    let top = 0;
    for (const h of state.hotspots) top = Math.max(top, h.id);
    const sizes = new Int32Array(top + 1);
    for (let i = 0; i < c.length; i++) if (c[i] >= 0 && c[i] <= top) sizes[c[i]]++;
    state.hotspots = state.hotspots.filter((h) => sizes[h.id] > 0);
    for (const h of state.hotspots) {
      h.size = sizes[h.id];
      if (!(h.representative >= 0) || c[h.representative] !== h.id) {
        const members = [];
        for (let i = 0; i < c.length; i++) if (c[i] === h.id) members.push(i);
        h.representative = this.centre(members);
      }
    }
  }

  /**
   * The hotspots file (docs/site-format.md, "curated hotspots") as an object: ids(i) gives image i's id.
   * Images in data order within each hotspot; hotspots in display order.
   */
  toFile(ids, site, saved = new Date()) {
    const c = this.state.clusters, byId = new Map(this.state.hotspots.map((h) => [h.id, []]));
    for (let i = 0; i < c.length; i++) {
      const list = byId.get(c[i]);
      if (list) list.push(ids(i));
    }
    return {
      format: "pixmap-hotspots", version: 1, site: site ?? null, saved: saved.toISOString(),
      hotspots: this.state.hotspots.map((h) => ({name: h.label, representative: ids(h.representative), images: byId.get(h.id)})),
    };
  }
}
