// Level-1 atlas tiles on the GPU. Tiles live in TEXTURE_2D_ARRAY layers (with their mip levels);
// the arrays are allocated lazily, a group of layers at a time, and only while the GPU budget has room.
// The tile pass draws, for every image of every resident tile, its quad from its cell in the tile: a
// draw list texture (slot, layer, cell x | y << 16, w | h << 16 per image), images outside a highlighted
// hotspot first (part 0), its members after (part 1); one draw per array, its images in draw slot
// order. So the image on top is the last in (array, slot) order, as picking.js ranks them (`onTop`:
// per image 0, or 1 + the array its tile is in).
import {createArrayTexture, createDataTexture} from "./gl.js";
import {textureBytes} from "./budget.js";

const GROUP_LAYERS = 16;  // layers per array texture (fewer when the budget or the GPU allows fewer)
export const LIST_WIDTH = 1024;

export class TileTextures {
  /**
   * renderer: slotOf and clusterOfSlot (draw slots, hotspots); size: texture px of a tile layer;
   * levels: mip levels; tileSize: the manifest's tile size (cell coordinates are in its pixels);
   * index: {tileCells (4 uint16 per image), start, items} (images of tile t: items[start[t] .. start[t+1]]).
   */
  constructor(gl, renderer, {size, levels, tileSize, maxLayers, budget, index}) {
    this.gl = gl;
    this.renderer = renderer;
    this.size = size;
    this.levels = levels;
    this.inv = 1 / tileSize;
    this.maxLayers = Math.max(1, maxLayers);
    this.budget = budget;
    this.index = index;
    this.layerBytes = textureBytes(size, size, levels);
    this.groups = []; // {tex, layers, free: [layer]}
    this.resident = new Map(); // tile -> {g, layer}
    this.list = new Int32Array(0);
    this.listTex = null;
    this.listRows = 0;
    this.listDirty = false;
    this.parts = [[], []]; // per part: [{g (array), offset, count}]
    this.onTop = new Uint8Array(renderer.n); // per image: 0, or 1 + the array holding its tile
    this.cluster = -1;
    this.stale = true;
    this.drawn = 0;
  }

  freeLayers() {
    return this.groups.reduce((s, g) => s + g.free.length, 0);
  }

  /** Layers a new array could still get within the budget. */
  allocatableLayers() {
    return Math.floor(this.budget.room("tiles") / this.layerBytes);
  }

  /** A free layer, allocating a new array when the budget allows; null when there is none. */
  acquire() {
    for (let g = 0; g < this.groups.length; g++) {
      if (this.groups[g].free.length) return {g, layer: this.groups[g].free.pop()};
    }
    const layers = Math.min(GROUP_LAYERS, this.maxLayers, this.allocatableLayers());
    if (layers < 1) return null;
    const tex = createArrayTexture(this.gl, this.size, layers, this.levels);
    this.budget.add("tiles", this.layerBytes * layers);
    const free = [];
    for (let l = layers - 1; l >= 1; l--) free.push(l);
    this.groups.push({tex, layers, free});
    return {g: this.groups.length - 1, layer: 0};
  }

  /** Upload a tile's mip levels (ImageBitmaps, level 0 first) into a layer and make it resident. */
  place(t, slot, bitmaps) {
    const gl = this.gl;
    gl.bindTexture(gl.TEXTURE_2D_ARRAY, this.groups[slot.g].tex);
    gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
    gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
    bitmaps.forEach((b, l) => {
      const side = Math.max(1, this.size >> l);
      gl.texSubImage3D(gl.TEXTURE_2D_ARRAY, l, 0, 0, slot.layer, Math.min(b.width, side), Math.min(b.height, side), 1,
        gl.RGBA, gl.UNSIGNED_BYTE, b);
    });
    this.resident.set(t, slot);
    this._mark(t, 1 + slot.g);
    this.stale = true;
  }

  _mark(t, v) {
    const {start, items} = this.index;
    for (let j = start[t]; j < start[t + 1]; j++) this.onTop[items[j]] = v;
  }

  /** Forget a resident tile; its layer is reused by the next one. */
  evict(t) {
    const slot = this.resident.get(t);
    if (!slot) return;
    this.resident.delete(t);
    this._mark(t, 0);
    this.groups[slot.g].free.push(slot.layer);
    this.stale = true;
  }

  /** Rebuild the draw list (after tiles came or went, or the highlighted hotspot changed). */
  _rebuild(cluster) {
    const {tileCells, start, items} = this.index;
    const slotOf = this.renderer.slotOf, clusterOfSlot = this.renderer.clusterOfSlot;
    let total = 0;
    for (const t of this.resident.keys()) total += start[t + 1] - start[t];
    if (this.list.length < total * 4) {
      const row = LIST_WIDTH * 4; // whole rows, so that the list uploads as it is
      this.list = new Int32Array(Math.ceil(Math.max(total * 4, this.list.length * 2) / row) * row);
    }
    const list = this.list;
    let k = 0;
    this.parts = [[], []];
    for (const part of [0, 1]) {
      if (part === 1 && cluster < 0) break;
      for (let g = 0; g < this.groups.length; g++) {
        // this array's images, in draw slot order
        const picked = [];
        for (const [t, slot] of this.resident) {
          if (slot.g !== g) continue;
          for (let j = start[t]; j < start[t + 1]; j++) {
            const i = items[j], s = slotOf[i];
            if (cluster >= 0 && (clusterOfSlot[s] === cluster) !== (part === 1)) continue;
            picked.push([s, i, slot.layer]);
          }
        }
        if (!picked.length) continue;
        picked.sort((x, y) => x[0] - y[0]);
        this.parts[part].push({g, offset: k, count: picked.length});
        for (const [s, i, layer] of picked) {
          const c = i * 4;
          list[k * 4] = s;
          list[k * 4 + 1] = layer;
          list[k * 4 + 2] = tileCells[c] | (tileCells[c + 1] << 16);
          list[k * 4 + 3] = tileCells[c + 2] | (tileCells[c + 3] << 16);
          k++;
        }
      }
    }
    this.drawn = k;
    this.cluster = cluster;
    this.stale = false;
    this._upload(k);
  }

  _upload(count) {
    const gl = this.gl;
    gl.activeTexture(gl.TEXTURE4); // (the list's unit: a draw may be under way)
    const rows = Math.max(1, Math.ceil(count / LIST_WIDTH));
    if (rows > this.listRows) {
      if (this.listTex) {
        gl.deleteTexture(this.listTex);
        this.budget.sub("data", LIST_WIDTH * this.listRows * 16);
      }
      this.listRows = Math.max(rows, this.listRows * 2, 4);
      this.listTex = createDataTexture(gl, gl.RGBA32I, gl.RGBA_INTEGER, gl.INT, LIST_WIDTH, this.listRows, null);
      this.budget.add("data", LIST_WIDTH * this.listRows * 16);
    }
    if (!count) return;
    gl.bindTexture(gl.TEXTURE_2D, this.listTex);
    gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, LIST_WIDTH, rows, gl.RGBA_INTEGER, gl.INT,
      this.list.subarray(0, rows * LIST_WIDTH * 4));
  }

  /** The ranges to draw for a part (0: every image, or those outside the highlighted hotspot; 1: its members). */
  ranges(part, cluster) {
    if (this.stale || cluster !== this.cluster) this._rebuild(cluster);
    return this.parts[part];
  }

  stats() {
    return {tileArrays: this.groups.length, tileLayers: this.groups.reduce((s, g) => s + g.layers, 0),
      tileImagesDrawn: this.drawn};
  }
}
