// Search, filters and colouring of a map (version 4; docs/site-format.md): the state behind the search
// box, the facet panel and the colour menu (findui.js), the API (api.js) and the URL (urlstate.js).
// Every change recomputes which images pass (filters.js, with the search's hits), gives the renderer
// a per-image state (matched / dimmed / highlighted) and colour, and asks for one frame.
import {SearchIndex} from "./search.js";
import {Filters} from "./filters.js";
import {byCategory, byNumber, byHotspot} from "./colorby.js";
import {fold} from "./textnorm.js";

export const UI_LIMIT = 300; // hits the search box ranks (every hit still counts and passes)

export class Find {
  /** app: the viewer (site, loader, meta, renderer, requestFrame, hash, clustersReady). */
  constructor(app) {
    this.app = app;
    const m = app.site.manifest;
    this.n = m.count;
    this.hasSearch = !!(m.search && Array.isArray(m.search.keys));
    this.hasFacets = Array.isArray(m.facets) && m.facets.length > 0;
    this.filters = new Filters(app.loader, m);
    // (the search names numeric columns by their folded name: `Year:1850..` is `year`)
    const column = (key) => this.filters.facets.find((f) => f.kind === "range" && fold(f.field) === key) || null;
    this.index = this.hasSearch ? new SearchIndex(app.loader, m, {
      numeric: (key) => column(key) !== null,
      columns: (key) => (column(key) ? this.filters.load(column(key).field).then((f) => f.data.column) : null),
      rowOf: (i) => app.meta.row(i).then((row) => ({fields: app.meta.fields, row})),
      ...oneLetterBudget(),
    }) : null;
    this.query = "";
    this.result = null;   // the search's {hits, total, indices} (null: no query)
    this.held = [];       // the one-letter words the search matched exactly only (search.js ONE_LETTER_BUDGET)
    this.shortened = [];  // the two-letter words matched as a prefix of their most frequent completions only
    this.view = null;     // filters.compute(): {pass, count, counts}
    this.colorField = null;
    this.coloring = null; // {colours, legend}
    this.highlighted = -1;
    this.flags = null;
    this.seq = 0;
    this.busy = Promise.resolve();
    this.inFlight = new Set(); // searches running
    this.listeners = new Set();
    this.timing = {searchMs: 0, filterMs: 0, applyMs: 0};
  }

  /** Whether the site has a search index or facets (version 4): the search UI is shown. */
  get available() {
    return this.hasSearch || this.hasFacets;
  }

  get active() {
    return this.result !== null || this.filters.active;
  }

  onChange(fn) {
    this.listeners.add(fn);
  }

  _emit(what) {
    for (const fn of this.listeners) fn(what);
  }

  /** Runs an operation after the ones before it; `busy` settles when the last one has. */
  _queue(op) {
    this.queued = (this.queued || 0) + 1;
    const p = this.busy.then(op, op).finally(() => { this.queued--; });
    this.busy = p.catch(() => {});
    return p;
  }

  /** Whether a search or a change of filters or colouring is still being applied. */
  get pending() {
    return this.inFlight.size > 0 || this.queued > 0;
  }

  /**
   * Search (q "" clears). typing: the last word is still being typed (the box). Resolves to the
   * search's result, or null when a newer query replaced this one before it finished.
   */
  async search(q, {typing = false, limit = UI_LIMIT} = {}) {
    const query = String(q ?? "").trim() === "" ? "" : String(q);
    if (!this.hasSearch && query) throw new Error("this map has no search index (a site of format version 4 has one)");
    const seq = ++this.seq;
    const t0 = performance.now();
    // (a query replaced before its dictionary shards and postings arrived is dropped there)
    const stale = () => seq !== this.seq;
    const running = query ? this.index.search(query, {typing, limit, stale}) : Promise.resolve(null);
    this.inFlight.add(running);
    let result;
    try {
      result = await running;
    } finally {
      this.inFlight.delete(running);
    }
    if (seq !== this.seq) return null;
    this.timing.searchMs = performance.now() - t0;
    this.query = query;
    this.result = result && result.indices ? result : null;
    this.held = (result && result.held) || []; // one-letter words that begin too many words to match yet
    this.shortened = (result && result.shortened) || []; // two-letter words: their most frequent completions
    this.highlighted = -1;
    this._apply();
    this._emit("search");
    return result;
  }

  /** Start loading what a query will need that does not depend on the rest of its typing (its words'
   *  dictionary shards), e.g. while the box waits for typing to pause. */
  prefetch(q, {typing = false} = {}) {
    if (this.hasSearch && String(q ?? "").trim()) this.index.prefetch(String(q), {typing});
  }

  /** Replace the filters ({field: [values], rangeField: [min, max]}, {} clears). */
  setFilters(spec) {
    return this._queue(async () => {
      await this.filters.set(spec || {});
      this._apply();
      this._emit("filters");
    });
  }

  /** One value of a facet on or off, or a range (the panel). */
  toggle(field, value, on) {
    return this._queue(async () => {
      await this.filters.load(field);
      this.filters.toggle(field, value, on);
      this._apply();
      this._emit("filters");
    });
  }

  setRange(field, lo, hi) {
    return this._queue(async () => {
      await this.filters.load(field);
      this.filters.setRange(field, lo, hi);
      this._apply();
      this._emit("filters");
    });
  }

  /** What can colour the map: [{key, label, kind: "category" | "number" | "hotspot"}]. */
  colourOptions() {
    const out = [];
    for (const f of this.filters.facets) {
      out.push({key: f.field, label: f.field, kind: f.kind === "range" ? "number" : "category"});
    }
    if (this.app.site.hotspots.length) out.push({key: "hotspot", label: "hotspot", kind: "hotspot"});
    return out;
  }

  /** Colour by a facet or numeric column, or "hotspot"; null: off. */
  colorBy(field) {
    return this._queue(async () => {
      const n = this.n;
      if (field === null || field === undefined || field === "") {
        this.colorField = null;
        this.coloring = null;
      } else if (field === "hotspot" && !this.filters.facet("hotspot")) {
        await this.app.clustersReady;
        this.coloring = byHotspot(this.app.site.clusters, this.app.site.hotspots, n);
        this.colorField = "hotspot";
      } else {
        const f = await this.filters.load(field);
        this.coloring = f.kind === "range" ? byNumber(f, n) : byCategory(f, n);
        this.colorField = f.field;
      }
      this._apply();
      this._emit("color");
    });
  }

  /** Outline one image (a result under the pointer); -1: none. */
  highlight(i) {
    if (i === this.highlighted) return;
    this.highlighted = i;
    this._applyState();
  }

  /** Restore a state from a link: {query, filters, colorBy}. */
  async restore({query = "", filters = {}, colorBy = null} = {}) {
    const jobs = [];
    if (filters && Object.keys(filters).length) jobs.push(this.setFilters(filters));
    if (colorBy) jobs.push(this.colorBy(colorBy));
    if (query && this.hasSearch) jobs.push(this.search(query));
    const done = await Promise.allSettled(jobs);
    for (const r of done) if (r.status === "rejected") console.warn("pixmap: the link's search or filters:", r.reason.message || r.reason);
    if (jobs.length) this._emit("restore");
  }

  /** A link changed (hashchange): apply what differs from now. */
  follow(saved) {
    const now = this.state();
    const warn = (err) => console.warn("pixmap: the link's search or filters:", err.message || err);
    if ((saved.query || "") !== now.query && (this.hasSearch || saved.query)) this.search(saved.query || "").catch(warn);
    if (JSON.stringify(saved.filters || {}) !== JSON.stringify(now.filters)) this.setFilters(saved.filters || {}).catch(warn);
    if ((saved.colorBy || null) !== now.colorBy) this.colorBy(saved.colorBy || null).catch(warn);
  }

  _apply() {
    const t0 = performance.now();
    this.view = this.filters.compute(this.result ? this.result.indices : null);
    this.timing.filterMs = performance.now() - t0;
    this._applyState();
  }

  _applyState() {
    const t0 = performance.now();
    const app = this.app, n = this.n;
    let flags = null;
    if (this.active || this.highlighted >= 0) {
      flags = this.flags || (this.flags = new Uint8Array(n));
      if (this.active) { // 1 dimmed, 2 matched
        const {pass, list} = this.view;
        if (list) { // (a search: its hits only, not every image)
          flags.fill(1);
          for (let k = 0; k < list.length; k++) flags[list[k]] = 2;
        } else {
          for (let i = 0; i < n; i++) flags[i] = 1 + pass[i];
        }
      } else {
        flags.fill(0);
      }
      if (this.highlighted >= 0) flags[this.highlighted] = 3;
    }
    app.renderer.setPointState(flags, this.coloring ? this.coloring.colours : null);
    if ((flags || this.coloring) && !this.warmed) {
      this.warmed = true; // (the variants with a state: compiled in the background, once)
      app.renderer.warmUp([...new Set(app.site.layouts.map((l) => (l.dims === 3 ? 3 : 2)))], true);
    }
    this.timing.applyMs = performance.now() - t0;
    app.requestFrame();
    app.hash.schedule();
  }

  /** Resolves once no search, filter or colouring change is running. */
  async settled() {
    for (;;) {
      const busy = this.busy;
      await Promise.allSettled([busy, ...this.inFlight]);
      if (busy === this.busy && !this.inFlight.size) return;
    }
  }

  /** The images that pass the search and the filters now (Uint32Array in data order; null: all). */
  matchedIndices() {
    if (!this.active) return null;
    if (this.view.list) return this.view.list.slice().sort();
    const pass = this.view.pass, out = new Uint32Array(this.view.count);
    let k = 0;
    for (let i = 0; i < this.n; i++) if (pass[i]) out[k++] = i;
    return out;
  }

  /** The ranked hits that pass the filters: [{index, score, why}] (the results panel, search()). */
  rankedHits() {
    if (!this.result) return [];
    const pass = this.view ? this.view.pass : null;
    return this.result.hits.filter((h) => !pass || pass[h.index]);
  }

  /** How many images pass now (all when nothing is set). */
  get count() {
    return this.active ? this.view.count : this.n;
  }

  state() {
    return {query: this.query, filters: this.filters.spec(), colorBy: this.colorField};
  }

  stats() {
    return {...(this.index ? this.index.stats() : {}), searchMs: this.timing.searchMs, filterMs: this.timing.filterMs,
      stateMs: this.timing.applyMs, searchPending: this.pending};
  }
}

/** `?one-letter-budget=N` (a testing aid: the big-site rules of search.js ONE_LETTER_BUDGET and
 *  TWO_LETTER_BUDGET, both set to N, on a small map). */
function oneLetterBudget() {
  const v = new URLSearchParams(location.search).get("one-letter-budget");
  return v !== null && v !== "" && Number.isFinite(Number(v)) ? {oneLetterBudget: Number(v), twoLetterBudget: Number(v)} : {};
}
