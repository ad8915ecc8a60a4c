// Each image's k nearest neighbours (site format 5, manifest `neighbors`; docs/site-format.md): in chunks
// of `chunk` images, `<dir>/<c>.u32` (k neighbour indices per image, best first) and `<dir>/<c>.u8` (each
// edge's distance, quantised: d ~= q / 255 * distance_scale). One image's neighbours load one chunk; the
// similarity graph loads them all (all()), with progress.

const CONCURRENCY = 4; // chunks fetched at once by all()

export class NeighborIndex {
  /** loader: data.js Loader; manifest: the site's (its `neighbors` entry, when there is one). */
  constructor(loader, manifest) {
    const e = manifest.neighbors;
    this.loader = loader;
    this.n = manifest.count;
    this.available = !!(e && e.k > 0 && e.chunk > 0 && e.dir);
    this.k = this.available ? e.k : 0;
    this.chunk = this.available ? e.chunk : 1;
    this.dir = this.available ? e.dir : "";
    this.scale = this.available ? Number(e.distance_scale) || 1 : 1;
    this.chunks = new Map(); // c -> {ids: Uint32Array, q: Uint8Array}
    this.loading = new Map(); // c -> promise
    this.whole = null; // all(): {ids, q} for every image
  }

  get chunkCount() {
    return Math.ceil(this.n / this.chunk);
  }

  _rows(c) {
    return Math.max(0, Math.min(this.chunk, this.n - c * this.chunk));
  }

  /** Chunk c's neighbours (a promise; fetched once). */
  chunkOf(c) {
    const have = this.chunks.get(c);
    if (have) return Promise.resolve(have);
    let p = this.loading.get(c);
    if (!p) {
      const want = this._rows(c) * this.k;
      const idsUrl = `${this.dir}/${c}.u32`, qUrl = `${this.dir}/${c}.u8`;
      p = Promise.all([this.loader.bytes(idsUrl), this.loader.bytes(qUrl)]).then(([a, b]) => {
        if (a.byteLength !== want * 4) throw new Error(`${idsUrl}: expected ${want * 4} bytes, found ${a.byteLength}`);
        if (b.byteLength !== want) throw new Error(`${qUrl}: expected ${want} bytes, found ${b.byteLength}`);
        const got = {ids: new Uint32Array(a), q: new Uint8Array(b)};
        this.chunks.set(c, got);
        return got;
      });
      p.finally(() => this.loading.delete(c)).catch(() => {});
      this.loading.set(c, p);
    }
    return p;
  }

  /** Image i's neighbours now, {ids, q} (subarrays of k), or null when its chunk is not loaded. */
  ofSync(i) {
    if (!this.available || !(i >= 0 && i < this.n)) return null;
    const c = Math.floor(i / this.chunk), got = this.chunks.get(c);
    if (!got) return null;
    const o = (i - c * this.chunk) * this.k;
    return {ids: got.ids.subarray(o, o + this.k), q: got.q.subarray(o, o + this.k)};
  }

  /** Image i's neighbours, {ids: Uint32Array(k) best first, q: Uint8Array(k)} (a promise). */
  async of(i) {
    if (!this.available) throw new Error("this map has no similar images (a site of format version 5 has them)");
    if (!(Number.isInteger(i) && i >= 0 && i < this.n)) throw new Error(`no image ${i}`);
    await this.chunkOf(Math.floor(i / this.chunk));
    return this.ofSync(i);
  }

  /** Every image's neighbours in one pair of arrays, {ids: Uint32Array(n k), q: Uint8Array(n k)};
   *  onProgress(chunksDone, chunks). The chunks then point into these arrays (no second copy). */
  all(onProgress = () => {}) {
    if (!this.whole) {
      const count = this.chunkCount, k = this.k;
      const ids = new Uint32Array(this.n * k), q = new Uint8Array(this.n * k);
      let next = 0, done = 0;
      const worker = async () => {
        while (next < count) {
          const c = next++;
          const got = await this.chunkOf(c);
          const o = c * this.chunk * k;
          ids.set(got.ids, o);
          q.set(got.q, o);
          this.chunks.set(c, {ids: ids.subarray(o, o + got.ids.length), q: q.subarray(o, o + got.q.length)});
          onProgress(++done, count);
        }
      };
      this.whole = Promise.all(Array.from({length: Math.min(CONCURRENCY, count)}, worker)).then(() => ({ids, q}));
      this.whole.catch(() => { this.whole = null; });
    }
    return this.whole;
  }

  stats() {
    return {neighborChunksLoaded: this.chunks.size};
  }
}
