// Level-1 atlas tiles streamed for the region in view (docs/site-format.md, "Version 3").
// The App calls update() with the tiles it wants, best first (picking.js tiles(): most images in
// view, nearest the centre). Tiles are fetched a few at a time, decoded with their mip levels off the
// main thread (createImageBitmap; as many at once as the device has cores to spare, in the order they
// were asked for, so that the best tile shows first), and placed in TileTextures layers. Requests for
// tiles no longer wanted are aborted. A tile is requested only while there is room for it: a free
// layer, a new array within the GPU budget, or a resident tile no longer wanted (the least recently
// used one is evicted).
import {tileUrl} from "./paths.js";

export class TileStream {
  /**
   * atlas: manifest.atlas (tiles, format); textures: the renderer's TileTextures;
   * onChange(): a tile arrived (redraw).
   */
  constructor({atlas, textures, concurrency = 4, onChange = () => {}}) {
    this.atlas = atlas;
    this.textures = textures;
    this.concurrency = concurrency;
    this.onChange = onChange;
    this.inflight = new Map(); // tile -> AbortController
    this.lastUse = new Map(); // resident tile -> time last wanted
    this.failed = new Set();
    this.wanted = [];
    this.wantedSet = new Set();
    this.counts = {requested: 0, loaded: 0, aborted: 0, evicted: 0, failed: 0, dropped: 0};
    this.uploadedAt = 0;
    this.decoders = Math.max(1, Math.min(4, (navigator.hardwareConcurrency || 2) - 1));
    this.decoding = 0;
    this.decodeQueue = []; // resolvers waiting for a decoder
  }

  /** Wait for a free decoder (a waiting request is handed the one that is released). */
  async _decoder() {
    if (this.decoding < this.decoders) {
      this.decoding++;
      return;
    }
    await new Promise((resolve) => this.decodeQueue.push(resolve));
  }

  _decoderDone() {
    const next = this.decodeQueue.shift();
    if (next) next();
    else this.decoding--;
  }

  /** wanted: tile numbers, best first. */
  update(wanted) {
    this.wanted = wanted;
    this.wantedSet = new Set(wanted);
    for (const [t, controller] of this.inflight) {
      if (!this.wantedSet.has(t)) {
        controller.abort();
        this.inflight.delete(t);
        this.counts.aborted++;
      }
    }
    const now = performance.now();
    for (const t of wanted) if (this.lastUse.has(t)) this.lastUse.set(t, now);
    this._pump();
  }

  /** How many more tiles could be placed now. */
  _room() {
    let evictable = 0;
    for (const t of this.lastUse.keys()) if (!this.wantedSet.has(t)) evictable++;
    return this.textures.freeLayers() + this.textures.allocatableLayers() + evictable;
  }

  _pump() {
    let room = this._room() - this.inflight.size;
    for (const t of this.wanted) {
      if (this.inflight.size >= this.concurrency || room <= 0) break;
      if (this.lastUse.has(t) || this.inflight.has(t) || this.failed.has(t)) continue;
      this._load(t);
      room--;
    }
  }

  /** The mip levels of a tile image: level 0 fitted to the layer, then halves (ImageBitmaps). */
  async _levels(blob) {
    const tt = this.textures;
    let base = await createImageBitmap(blob, {premultiplyAlpha: "none", colorSpaceConversion: "none"});
    const scale = tt.size * tt.inv; // < 1 when the layers are smaller than the tiles (small GPUs)
    if (scale < 1 || base.width > tt.size || base.height > tt.size) {
      const w = Math.max(1, Math.min(tt.size, Math.round(base.width * scale)));
      const h = Math.max(1, Math.min(tt.size, Math.round(base.height * scale)));
      const scaled = await createImageBitmap(base, {resizeWidth: w, resizeHeight: h, resizeQuality: "high"});
      base.close();
      base = scaled;
    }
    const levels = [base];
    for (let l = 1; l < tt.levels; l++) {
      levels.push(await createImageBitmap(base, {resizeWidth: Math.max(1, Math.round(base.width / 2 ** l)),
        resizeHeight: Math.max(1, Math.round(base.height / 2 ** l)), resizeQuality: "medium"}));
    }
    return levels;
  }

  async _load(t) {
    const controller = new AbortController();
    this.inflight.set(t, controller);
    this.counts.requested++;
    let levels;
    try {
      const res = await fetch(tileUrl(this.atlas, t), {signal: controller.signal});
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const blob = await res.blob();
      if (controller.signal.aborted) return;
      await this._decoder();
      try {
        if (controller.signal.aborted) return;
        levels = await this._levels(blob);
      } finally {
        this._decoderDone();
      }
    } catch (err) {
      if (this.inflight.get(t) === controller) this.inflight.delete(t);
      if (err.name !== "AbortError") {
        this.failed.add(t);
        this.counts.failed++;
        console.warn(`pixmap: atlas tile ${t} could not be loaded (${err.message})`);
      }
      return;
    }
    const current = this.inflight.get(t) === controller && !controller.signal.aborted;
    if (current) this.inflight.delete(t);
    const placed = current && this.wantedSet.has(t) && this._place(t, levels);
    for (const b of levels) b.close();
    if (placed) {
      this.counts.loaded++;
      this.uploadedAt = performance.now();
      this.onChange();
    } else if (current) {
      this.counts.dropped++;
    }
    this._pump();
  }

  _place(t, levels) {
    const tt = this.textures;
    let slot = tt.acquire();
    if (!slot) {
      let victim = -1, oldest = Infinity;
      for (const [r, used] of this.lastUse) {
        if (!this.wantedSet.has(r) && used < oldest) { victim = r; oldest = used; }
      }
      if (victim < 0) return false;
      this.evict(victim);
      slot = tt.acquire();
      if (!slot) return false;
    }
    tt.place(t, slot, levels);
    this.lastUse.set(t, performance.now());
    return true;
  }

  evict(t) {
    if (!this.lastUse.has(t)) return;
    this.textures.evict(t);
    this.lastUse.delete(t);
    this.counts.evicted++;
  }

  /** Tile numbers: resident, in flight, wanted (for tests and benchmarks). */
  state() {
    return {resident: [...this.lastUse.keys()], inflight: [...this.inflight.keys()], wanted: this.wanted.slice()};
  }

  stats() {
    const c = this.counts;
    return {tilesRequested: c.requested, tilesLoaded: c.loaded, tilesAborted: c.aborted, tilesEvicted: c.evicted,
      tilesFailed: c.failed, tilesDropped: c.dropped, tilesResident: this.lastUse.size, tilesInflight: this.inflight.size,
      tilesWanted: this.wanted.length, tilesUploadedAt: this.uploadedAt, ...this.textures.stats()};
  }
}
