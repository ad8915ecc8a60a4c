// Image ids and metadata rows. Versions 1-2: one metadata.json, everything known at start-up.
// Version 3: ids and rows in chunks (<dir>/<k>.json), fetched when something needs them (hover,
// lightbox, a thumbnail URL, a link naming an image). Both offer the same interface:
//   idSync(i), rowSync(i)     the value when already loaded, else null (never fetches)
//   id(i), row(i)             promises (fetch the chunk once; concurrent callers share it)
//   indexOf(id)               promise of the image's index, -1 when no image has that id
//   allIds()                  promise of every id in data order
//   complete()                whether every id is loaded
// `sync` is true when everything is in memory (ids and rows of versions 1-2). A version-3 site of a few
// chunks is loaded whole after the first frame (preload()), so that it answers synchronously too.

const ROW_CHUNKS_KEPT = 64; // metadata chunks kept in memory (least recently used dropped)
const SCAN_CONCURRENCY = 4; // id chunks fetched at once when looking for an id
export const PRELOAD_CHUNKS = 4; // a site with at most this many id and metadata chunks is loaded whole

/** Title shown for an image: the `title` field, else the file name, else the id (null: that is not loaded). */
export function titleOf(fields, row, id) {
  const t = fields.indexOf("title");
  if (row && t >= 0 && row[t] !== null && row[t] !== undefined && row[t] !== "") return String(row[t]);
  const f = fields.indexOf("filename");
  const name = row && f >= 0 && row[f] ? String(row[f]) : id;
  return name === null || name === undefined ? null : String(name).split("/").pop();
}

/** Versions 1-2: ids, fields and rows from metadata.json. */
export class FlatMeta {
  constructor({ids, fields, rows}) {
    this.ids = ids;
    this.fields = fields;
    this.rows = rows;
    this.sync = true;
    this._index = null;
  }

  idSync(i) { return i >= 0 && i < this.ids.length ? this.ids[i] : null; }
  rowSync(i) { return this.rows[i] || []; }
  id(i) { return Promise.resolve(this.idSync(i)); }
  row(i) { return Promise.resolve(this.rowSync(i)); }

  /** Index of an id, or -1 (synchronous here). */
  indexOfSync(id) {
    if (!this._index) this._index = new Map(this.ids.map((v, i) => [v, i]));
    const i = this._index.get(String(id));
    return i === undefined ? -1 : i;
  }

  indexOf(id) { return Promise.resolve(this.indexOfSync(id)); }
  allIds() { return Promise.resolve(this.ids.slice()); }
  idsSync() { return this.ids.slice(); }
  complete() { return true; }
  get small() { return true; }
  preload() { return Promise.resolve(); }
  stats() { return {idChunksLoaded: 0, rowChunksLoaded: 0}; }
}

/** Version 3: manifest.metadata = {fields, chunk, dir}, manifest.ids = {chunk, dir}. */
export class ChunkedMeta {
  constructor(loader, manifest) {
    this.loader = loader;
    this.n = manifest.count;
    this.fields = manifest.metadata.fields || [];
    this.rowChunk = manifest.metadata.chunk;
    this.rowDir = manifest.metadata.dir;
    this.idChunk = manifest.ids.chunk;
    this.idDir = manifest.ids.dir;
    this.sync = false;
    this.idChunks = new Map(); // k -> array of ids (kept: the id index needs them)
    this.idLoading = new Map(); // k -> promise
    this.rowChunks = new Map(); // k -> array of rows, in least-recently-used order
    this.rowLoading = new Map();
    this._index = new Map(); // id -> index, for every loaded id chunk
    this.counts = {idChunks: 0, rowChunks: 0, rowChunksDropped: 0};
  }

  _expected(k, chunk) {
    return Math.max(0, Math.min(chunk, this.n - k * chunk));
  }

  _fetch(url, k, chunk, what) {
    return this.loader.json(url).then((arr) => {
      const want = this._expected(k, chunk);
      if (!Array.isArray(arr) || arr.length !== want) {
        throw new Error(`${url}: expected ${want} ${what}, found ${Array.isArray(arr) ? arr.length : "no list"}`);
      }
      return arr;
    });
  }

  idChunkOf(k) {
    const have = this.idChunks.get(k);
    if (have) return Promise.resolve(have);
    let p = this.idLoading.get(k);
    if (!p) {
      p = this._fetch(`${this.idDir}/${k}.json`, k, this.idChunk, "ids").then((ids) => {
        this.idChunks.set(k, ids);
        this.counts.idChunks++;
        ids.forEach((id, j) => this._index.set(String(id), k * this.idChunk + j));
        return ids;
      });
      p.finally(() => this.idLoading.delete(k)).catch(() => {});
      this.idLoading.set(k, p);
    }
    return p;
  }

  _rowChunkOf(k) {
    const have = this.rowChunks.get(k);
    if (have) {
      this.rowChunks.delete(k); // most recently used last
      this.rowChunks.set(k, have);
      return Promise.resolve(have);
    }
    let p = this.rowLoading.get(k);
    if (!p) {
      p = this._fetch(`${this.rowDir}/${k}.json`, k, this.rowChunk, "rows").then((rows) => {
        this.rowChunks.set(k, rows);
        this.counts.rowChunks++;
        while (this.rowChunks.size > ROW_CHUNKS_KEPT) {
          this.rowChunks.delete(this.rowChunks.keys().next().value);
          this.counts.rowChunksDropped++;
        }
        return rows;
      });
      p.finally(() => this.rowLoading.delete(k)).catch(() => {});
      this.rowLoading.set(k, p);
    }
    return p;
  }

  _valid(i) {
    return Number.isInteger(i) && i >= 0 && i < this.n;
  }

  idSync(i) {
    if (!this._valid(i)) return null;
    const c = this.idChunks.get(Math.floor(i / this.idChunk));
    return c ? c[i % this.idChunk] : null;
  }

  rowSync(i) {
    if (!this._valid(i)) return null;
    const c = this.rowChunks.get(Math.floor(i / this.rowChunk));
    return c ? c[i % this.rowChunk] : null;
  }

  async id(i) {
    if (!this._valid(i)) return null;
    const ids = await this.idChunkOf(Math.floor(i / this.idChunk));
    return ids[i % this.idChunk];
  }

  async row(i) {
    if (!this._valid(i)) return null;
    const rows = await this._rowChunkOf(Math.floor(i / this.rowChunk));
    return rows[i % this.rowChunk];
  }

  /** Index of an id already seen (in a loaded chunk), else -1; never fetches. */
  indexOfSync(id) {
    const i = this._index.get(String(id));
    return i === undefined ? -1 : i;
  }

  /** Find an id: loaded chunks first, then the others, SCAN_CONCURRENCY at a time, until found. */
  async indexOf(id) {
    const key = String(id);
    if (this._index.has(key)) return this._index.get(key);
    const chunks = Math.ceil(this.n / this.idChunk);
    let next = 0;
    let found = -1;
    const worker = async () => {
      while (found < 0 && next < chunks) {
        const k = next++;
        if (this.idChunks.has(k)) continue;
        await this.idChunkOf(k);
        if (this._index.has(key)) found = this._index.get(key);
      }
    };
    await Promise.all(Array.from({length: Math.min(SCAN_CONCURRENCY, chunks)}, worker));
    return this._index.has(key) ? this._index.get(key) : -1;
  }

  complete() {
    return this.idChunks.size === Math.ceil(this.n / this.idChunk);
  }

  /** Every id, when all are loaded, else null. */
  idsSync() {
    if (!this.complete()) return null;
    const out = [];
    for (let k = 0; k < this.idChunks.size; k++) out.push(...this.idChunks.get(k));
    return out;
  }

  /** Whether the site is small: at most PRELOAD_CHUNKS chunks of ids and of metadata. */
  get small() {
    return Math.ceil(this.n / this.idChunk) <= PRELOAD_CHUNKS && Math.ceil(this.n / this.rowChunk) <= PRELOAD_CHUNKS;
  }

  /** Small sites: load every id and row now; others load on demand. */
  async preload() {
    const idChunks = Math.ceil(this.n / this.idChunk), rowChunks = Math.ceil(this.n / this.rowChunk);
    if (!this.small) return;
    const jobs = [];
    for (let k = 0; k < idChunks; k++) jobs.push(this.idChunkOf(k));
    for (let k = 0; k < rowChunks; k++) jobs.push(this._rowChunkOf(k));
    await Promise.all(jobs);
  }

  async allIds() {
    const chunks = Math.ceil(this.n / this.idChunk);
    const parts = [];
    for (let k = 0; k < chunks; k += SCAN_CONCURRENCY) {
      const batch = [];
      for (let j = k; j < Math.min(chunks, k + SCAN_CONCURRENCY); j++) batch.push(this.idChunkOf(j));
      parts.push(...(await Promise.all(batch)));
    }
    return parts.flat();
  }

  stats() {
    return {idChunksLoaded: this.counts.idChunks, rowChunksLoaded: this.counts.rowChunks};
  }
}
