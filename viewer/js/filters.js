// Facet filters (docs/site-format.md, "Facets"): AND across facets, OR within one; a range is inclusive
// (images without a value fail it). Per facet its data loads when first needed: the value code of
// every image (facets/<j>.u16, 0xFFFF missing) and, for multi-valued facets, the CSR offsets
// (facets/<j>-offsets.u32), or the numeric column (columns/<j>.f32). Numeric columns of
// manifest.metadata.columns that the manifest lists no facet for are range facets too (their bounds
// and histogram computed here), so `field: [min, max]` works on version-3 sites as well.
//
// compute() gives, in a few passes over typed arrays (a million images: tens of milliseconds), the
// images that pass (Uint8Array), their count, and per facet the counts of its values (or the histogram
// of a range) among the images that pass every OTHER filter and the search, as facet counts should be.

export const MISSING = 0xffff;
export const BINS = 40;
const SEARCH_BIT = 1 << 29; // (bits below 2^30: small integers to the JavaScript engine)
const MAX_FILTERS = 29;

// (one small function per kind of loop: each stays monomorphic and fast)
function failRange(fail, col, a, z, b) {
  for (let i = 0; i < fail.length; i++) {
    const v = col[i];
    if (!(v >= a && v <= z)) fail[i] |= b;
  }
}

function failCategory(fail, codes, want, b) {
  for (let i = 0; i < fail.length; i++) if (want[codes[i]] === 0) fail[i] |= b;
}

function failMulti(fail, codes, offsets, want, b) {
  for (let i = 0; i < fail.length; i++) {
    let ok = 0;
    for (let k = offsets[i], e = offsets[i + 1]; k < e; k++) if (want[codes[k]] === 1) { ok = 1; break; }
    if (ok === 0) fail[i] |= b;
  }
}

export class Filters {
  constructor(loader, manifest) {
    this.loader = loader;
    this.n = manifest.count;
    const facets = Array.isArray(manifest.facets) ? manifest.facets : [];
    this.facets = facets.map((f) => ({...f, field: String(f.field), data: null, loading: null}));
    const columns = (manifest.metadata && typeof manifest.metadata === "object" && manifest.metadata.columns) || {};
    for (const [field, file] of Object.entries(columns)) {
      if (this.facets.some((f) => f.field === field)) continue;
      this.facets.push({field, kind: "range", column: file, derived: true, data: null, loading: null});
    }
    this.byField = new Map(this.facets.map((f) => [f.field, f]));
    this.selected = new Map(); // field -> Set of values (strings), category and multi facets
    this.ranges = new Map(); // field -> [lo, hi] (either may be null: open)
    this.fail = new Uint32Array(this.n);
    this.pass = new Uint8Array(this.n);
  }

  facet(field) {
    return this.byField.get(String(field)) || null;
  }

  isRange(field) {
    const f = this.facet(field);
    return !!f && f.kind === "range";
  }

  /** Load a facet's data (codes and offsets, or its column); resolves to the facet. */
  load(field) {
    const f = this.facet(field);
    if (!f) return Promise.reject(new Error(`no facet or numeric column named ${JSON.stringify(field)}`));
    if (f.data) return Promise.resolve(f);
    if (!f.loading) {
      f.loading = (async () => {
        if (f.kind === "range") {
          const col = new Float32Array(await this.loader.bytes(f.column));
          if (col.length !== this.n) throw new Error(`${f.column}: expected ${this.n} values, found ${col.length}`);
          if (!(Number.isFinite(f.min) && Number.isFinite(f.max))) {
            let lo = Infinity, hi = -Infinity;
            for (let i = 0; i < col.length; i++) {
              const v = col[i];
              if (v < lo) lo = v;
              if (v > hi) hi = v;
            }
            f.min = Number.isFinite(lo) ? lo : 0;
            f.max = Number.isFinite(hi) ? hi : 0;
          }
          // per image its histogram bin (BINS: no value), counted like a facet's codes
          const bins = new Uint8Array(col.length), lo = f.min, span = f.max - f.min; // (pixmap.facets.histogram's bins)
          for (let i = 0; i < col.length; i++) {
            const v = col[i];
            bins[i] = v >= lo && v <= f.max ? (span > 0 ? Math.min(BINS - 1, Math.floor(((v - lo) / span) * BINS)) : 0) : BINS;
          }
          f.data = {column: col, bins};
        } else {
          const [codesBuf, offsetsBuf] = await Promise.all([this.loader.bytes(f.codes),
            f.offsets ? this.loader.bytes(f.offsets) : Promise.resolve(null)]);
          const codes = new Uint16Array(codesBuf);
          const offsets = offsetsBuf ? new Uint32Array(offsetsBuf) : null;
          if (offsets ? offsets.length !== this.n + 1 || offsets[this.n] !== codes.length : codes.length !== this.n) {
            throw new Error(`${f.codes}: does not hold a value per image`);
          }
          f.data = {codes, offsets};
        }
        return f;
      })();
      f.loading.catch(() => { f.loading = null; });
    }
    return f.loading;
  }

  loadAll() {
    return Promise.all(this.facets.map((f) => this.load(f.field)));
  }

  /** Whether any filter is set. */
  get active() {
    return this.selected.size > 0 || this.ranges.size > 0;
  }

  /** The filters as a spec: {field: [values], rangeField: [lo, hi]} (lo/hi null when open). */
  spec() {
    const out = {};
    for (const [field, values] of this.selected) out[field] = [...values];
    for (const [field, r] of this.ranges) out[field] = [r[0], r[1]];
    return out;
  }

  /**
   * Replace every filter with a spec {field: [values]} / {rangeField: [min, max]} (null or a missing
   * bound: open); {} clears. Unknown fields are an error. Resolves once the data the filters need loaded.
   */
  async set(spec) {
    const selected = new Map(), ranges = new Map();
    for (const [field, value] of Object.entries(spec || {})) {
      const f = this.facet(field);
      if (!f) throw new Error(`no facet or numeric column named ${JSON.stringify(field)}`);
      if (value === null || value === undefined) continue;
      if (f.kind === "range") {
        const [lo, hi] = Array.isArray(value) ? value : [value, value];
        const num = (v) => (v === null || v === undefined || v === "" ? null : Number(v));
        const r = [num(lo), num(hi)];
        if (r.some((v) => v !== null && Number.isNaN(v))) throw new Error(`${field}: a range is [min, max] numbers`);
        if (r[0] !== null || r[1] !== null) ranges.set(f.field, r);
      } else {
        const values = (Array.isArray(value) ? value : [value]).map(String);
        if (values.length) selected.set(f.field, new Set(values));
      }
    }
    await Promise.all([...selected.keys(), ...ranges.keys()].map((field) => this.load(field)));
    this.selected = selected;
    this.ranges = ranges;
  }

  /** Toggle one value of a category/multi facet. */
  toggle(field, value, on) {
    const set = new Set(this.selected.get(field) || []);
    if (on) set.add(String(value));
    else set.delete(String(value));
    if (set.size) this.selected.set(field, set);
    else this.selected.delete(field);
  }

  setRange(field, lo, hi) {
    if (lo === null && hi === null) this.ranges.delete(field);
    else this.ranges.set(field, [lo, hi]);
  }

  /**
   * Which images pass the filters and the search (searchHits: Uint32Array of the images the search
   * matched, or null: no search). Returns {pass (Uint8Array, reused), count, counts: Map field ->
   * Uint32Array (value counts, or the BINS-bin histogram of a range)} — counts only for loaded facets.
   *
   * Per image a bit per failed filter (`fail`); the counts of a facet are over the images failing no
   * filter but maybe its own, so they are counted over the images failing at most one (a list, short
   * when the filters are selective). Nothing set: the manifest's counts, no pass over the images.
   */
  compute(searchHits = null) {
    const n = this.n, fail = this.fail, pass = this.pass;
    const active = this.facets.filter((f) => this.selected.has(f.field) || this.ranges.has(f.field));
    if (active.length > MAX_FILTERS) throw new Error(`at most ${MAX_FILTERS} filters at once`);
    if (!active.length && !searchHits) {
      pass.fill(1);
      return {pass, count: n, counts: this._staticCounts()};
    }
    fail.fill(searchHits ? SEARCH_BIT : 0);
    if (searchHits) for (let k = 0; k < searchHits.length; k++) fail[searchHits[k]] = 0;
    const bits = new Map(); // field -> bit
    active.forEach((f, k) => {
      const b = 1 << k;
      bits.set(f.field, b);
      if (f.kind === "range") {
        const [lo, hi] = this.ranges.get(f.field);
        failRange(fail, f.data.column, lo === null ? -Infinity : Math.fround(lo), hi === null ? Infinity : Math.fround(hi), b);
        return;
      }
      const values = this.selected.get(f.field);
      const want = new Uint8Array(MISSING + 1);
      f.values.forEach((v, code) => { if (values.has(String(v))) want[code] = 1; });
      if (f.data.offsets) failMulti(fail, f.data.codes, f.data.offsets, want, b);
      else failCategory(fail, f.data.codes, want, b);
    });
    // which pass; which fail one filter at most (they count in that facet's counts)
    const near = this.near || (this.near = new Uint32Array(n));
    let count = 0, m = 0;
    for (let i = 0; i < n; i++) {
      const f = fail[i];
      if (f === 0) {
        pass[i] = 1;
        count++;
        near[m++] = i;
      } else {
        pass[i] = 0;
        if ((f & (f - 1)) === 0 && f !== SEARCH_BIT) near[m++] = i;
      }
    }
    if (m > n / 4) { // (most images: no list)
      m = n;
      for (let i = 0; i < n; i++) near[i] = i;
    }
    const counts = new Map();
    for (const f of this.facets) {
      if (!f.data) continue;
      const keep = ~(bits.get(f.field) || 0);
      const c = new Uint32Array(f.kind === "range" ? BINS : f.values.length);
      if (f.kind === "range") {
        const bin = f.data.bins;
        for (let k = 0; k < m; k++) {
          const i = near[k];
          if ((fail[i] & keep) === 0 && bin[i] < BINS) c[bin[i]]++;
        }
      } else if (!f.data.offsets) {
        const codes = f.data.codes, nv = c.length;
        for (let k = 0; k < m; k++) {
          const i = near[k];
          if ((fail[i] & keep) === 0 && codes[i] < nv) c[codes[i]]++;
        }
      } else {
        const {codes, offsets} = f.data, nv = c.length;
        for (let k = 0; k < m; k++) {
          const i = near[k];
          if ((fail[i] & keep) !== 0) continue;
          for (let j = offsets[i], e = offsets[i + 1]; j < e; j++) if (codes[j] < nv) c[codes[j]]++;
        }
      }
      counts.set(f.field, c);
      }
    return {pass, count, counts};
  }

  /** Counts with nothing set: the manifest's (histograms counted once where it has none). */
  _staticCounts() {
    if (this._static && this._static.size === this.facets.filter((f) => f.data).length) return this._static;
    const out = new Map();
    for (const f of this.facets) {
      if (!f.data) continue;
      if (f.kind === "range") {
        let h = Array.isArray(f.histogram) && f.histogram.length === BINS ? Uint32Array.from(f.histogram) : null;
        if (!h) {
          h = new Uint32Array(BINS);
          const bin = f.data.bins;
          for (let i = 0; i < this.n; i++) if (bin[i] < BINS) h[bin[i]]++;
        }
        out.set(f.field, h);
      } else if (Array.isArray(f.counts) && f.counts.length === f.values.length) {
        out.set(f.field, Uint32Array.from(f.counts));
      } else {
        const c = new Uint32Array(f.values.length);
        const {codes} = f.data;
        for (let j = 0; j < codes.length; j++) if (codes[j] < c.length) c[codes[j]]++;
        out.set(f.field, c);
      }
    }
    this._static = out;
    return out;
  }
}
