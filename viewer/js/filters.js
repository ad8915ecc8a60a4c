// Facet filters (docs/site-format.md, "Facets"): AND across facets, OR within one; a range is inclusive
// (images without a value fail it). Per facet its data loads when first needed: the value code of
// every image (facets/<j>.u16, 0xFFFF missing) and, for multi-valued facets, the CSR offsets
// (facets/<j>-offsets.u32), or the numeric column (columns/<j>.f32). Numeric columns of
// manifest.metadata.columns that the manifest lists no facet for are range facets too (their bounds
// and histogram computed here), so `field: [min, max]` works on version-3 sites as well.
//
// compute() gives the images that pass (Uint8Array, and with a search the list of them), their count,
// and per facet the counts of its values (or the histogram of a range) among the images that pass every
// OTHER filter and the search, as facet counts should be. A change of the filters takes a few passes
// over typed arrays (a million images: tens of milliseconds); a search (a keystroke) reuses the filters'
// per-image bits and touches only its hits; the counts are computed only when the panel reads them.

export const MISSING = 0xffff;
export const BINS = 40;
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

// Counting loops: c[v]++ for the value v (below nv) of some images. One small function per case, so that
// each stays monomorphic and fast: images ids[0..end) (a list) or 0..end whose mask is not 0; with
// filters set, only those failing none but those outside `keep`.
function countListed(c, codes, nv, ids, end) {
  for (let k = 0; k < end; k++) {
    const v = codes[ids[k]];
    if (v < nv) c[v]++;
  }
}

function countMasked(c, codes, nv, end, mask) {
  for (let i = 0; i < end; i++) {
    if (mask[i] === 0) continue;
    const v = codes[i];
    if (v < nv) c[v]++;
  }
}

function countListedFail(c, codes, nv, ids, end, fail, keep) {
  for (let k = 0; k < end; k++) {
    const i = ids[k];
    if ((fail[i] & keep) !== 0) continue;
    const v = codes[i];
    if (v < nv) c[v]++;
  }
}

function countMaskedFail(c, codes, nv, end, mask, fail, keep) {
  for (let i = 0; i < end; i++) {
    if ((mask !== null && mask[i] === 0) || (fail[i] & keep) !== 0) continue;
    const v = codes[i];
    if (v < nv) c[v]++;
  }
}

function countMulti(c, codes, offsets, ids, end, mask, fail, keep) {
  const nv = c.length;
  for (let k = 0; k < end; k++) {
    const i = ids === null ? k : ids[k];
    if (mask !== null && mask[i] === 0) continue;
    if (fail !== null && (fail[i] & keep) !== 0) continue;
    for (let j = offsets[i], e = offsets[i + 1]; j < e; j++) if (codes[j] < nv) c[codes[j]]++;
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
   * matched, or null: no search). Returns a view {pass (Uint8Array, reused), count, list (Uint32Array of
   * the images that pass, in the search's order, or null: no search), counts: Map field -> Uint32Array
   * (value counts, or the BINS-bin histogram of a range)} — counts only for loaded facets, computed
   * when first read (a getter: the panel reads them only while it is open).
   *
   * Per image a bit per failed filter (`fail`, computed once per change of the filters, not per search);
   * the counts of a facet are over the images failing no filter but maybe its own (and passing the
   * search). With a search everything is done on its hit list (O(hits)), not on every image: a keystroke
   * on a site of a million images touches only the images its query matched. Without a search the
   * counts are over the images failing at most one filter (a list, short when the filters are selective).
   * Nothing set: the manifest's counts, no pass over the images.
   */
  compute(searchHits = null) {
    const n = this.n, pass = this.pass;
    const {active, bits} = this._failBits();
    if (!active.length && !searchHits) {
      pass.fill(1);
      this.views = (this.views || 0) + 1;
      return {pass, count: n, list: null, counts: this._staticCounts()};
    }
    const fail = active.length ? this.fail : null;
    if (searchHits) {
      const list = this.list || (this.list = new Uint32Array(n));
      pass.fill(0);
      let count = 0;
      if (fail) {
        for (let k = 0; k < searchHits.length; k++) {
          const i = searchHits[k];
          if (fail[i] === 0) { pass[i] = 1; list[count++] = i; }
        }
      } else {
        for (let k = 0; k < searchHits.length; k++) pass[searchHits[k]] = 1;
        list.set(searchHits);
        count = searchHits.length;
      }
      // (the counts: from the hit list; when it is long, in image order over a mask of the hits, which
      // reads the facets' arrays in order rather than at random)
      const counts = () => {
        if (searchHits.length <= n / 64) return this._counts(searchHits, searchHits.length, null, fail, bits);
        let mask = pass;
        if (fail) {
          mask = this.hitMask || (this.hitMask = new Uint8Array(n));
          mask.fill(0);
          for (let k = 0; k < searchHits.length; k++) mask[searchHits[k]] = 1;
        }
        return this._counts(null, n, mask, fail, bits);
      };
      return this._view(pass, count, list.subarray(0, count), counts);
    }
    // filters only: which pass; which fail one filter at most (they count in that facet's counts)
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
        if ((f & (f - 1)) === 0) near[m++] = i;
      }
    }
    return this._view(pass, count, null, () => this._counts(m > n / 4 ? null : near, m > n / 4 ? n : m, null, fail, bits));
  }

  /** A view whose counts are computed when first read: before the next compute() (which reuses the
   *  buffers they are counted from); a view read later has none (null). */
  _view(pass, count, list, counts) {
    const seq = this.views = (this.views || 0) + 1;
    let memo = null;
    const filters = this;
    return {pass, count, list, get counts() {
      if (!memo && seq === filters.views) memo = counts();
      return memo;
    }};
  }

  /**
   * The filters that are set and, in `fail`, per image a bit for each one it fails (bit k: the k-th
   * of `active`); computed again only when the filters changed since the last call.
   */
  _failBits() {
    const active = this.facets.filter((f) => this.selected.has(f.field) || this.ranges.has(f.field));
    if (active.length > MAX_FILTERS) throw new Error(`at most ${MAX_FILTERS} filters at once`);
    const key = JSON.stringify(this.spec());
    if (this._failKey === key) return this._failed;
    const fail = this.fail, bits = new Map(); // field -> bit
    if (active.length) fail.fill(0);
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
    this._failKey = key;
    this._failed = {active, bits};
    return this._failed;
  }

  /**
   * Per loaded facet the counts of its values (or its histogram) over the images of ids[0..m) (ids null:
   * images 0..m whose mask is not 0, every one when mask is null) that fail no filter but maybe the
   * facet's own (fail: the filters' bits, null: none set).
   */
  _counts(ids, m, mask, fail, bits) {
    const counts = new Map();
    for (const f of this.facets) {
      if (!f.data) continue;
      const keep = ~(bits.get(f.field) || 0);
      const c = new Uint32Array(f.kind === "range" ? BINS : f.values.length);
      const codes = f.kind === "range" ? f.data.bins : f.data.codes, nv = c.length;
      if (f.kind !== "range" && f.data.offsets) countMulti(c, codes, f.data.offsets, ids, m, mask, fail, keep);
      else if (fail === null) {
        if (ids !== null) countListed(c, codes, nv, ids, m);
        else countMasked(c, codes, nv, m, mask);
      } else if (ids !== null) countListedFail(c, codes, nv, ids, m, fail, keep);
      else countMaskedFail(c, codes, nv, m, mask, fail, keep);
      counts.set(f.field, c);
    }
    return counts;
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
