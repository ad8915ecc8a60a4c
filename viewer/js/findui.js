// The search box, the results panel (thumbnail, title and why each hit matched), the facet filters
// (checkboxes with counts, range sliders over histograms), the "colour by" menu and its legend.
// Every metadata value is shown as text (textContent, via dom.js's el), never as HTML.
import {el} from "./dom.js";
import {titleOf} from "./meta.js";
import {imageFileUrl} from "./paths.js";
import {legendNode} from "./colorby.js";
import {BINS} from "./filters.js";

const $ = (id) => document.getElementById(id);
const SHOWN = 100;          // results listed
const FACET_VALUES = 8;     // values listed before "show all"
const RECENT = 8;           // recent queries kept
const BIG_SITE = 100000;    // images: above, the box searches once typing pauses for TYPING_PAUSE ms
const TYPING_PAUSE = 150;
const KIND_NOTE = {exact: "", prefix: "starts with", edit1: "close to", edit2: "close to"};

/** Recent queries in localStorage (per site path); quietly nothing where storage is unavailable. */
class Recent {
  constructor() {
    this.key = `pixmap.recent:${location.pathname}`;
  }

  list() {
    try {
      const v = JSON.parse(localStorage.getItem(this.key) || "[]");
      return Array.isArray(v) ? v.filter((q) => typeof q === "string").slice(0, RECENT) : [];
    } catch {
      return [];
    }
  }

  add(q) {
    q = String(q || "").trim();
    if (!q) return;
    const next = [q, ...this.list().filter((x) => x !== q)].slice(0, RECENT);
    try {
      localStorage.setItem(this.key, JSON.stringify(next));
    } catch {
      // (private mode, quota: history is a convenience)
    }
  }
}

/** Why a hit matched one query word: the field, the indexed term, and how (a prefix, a near spelling). */
function whyChip(w) {
  const note = w.kind === "prefix" ? `${w.word}…` : w.kind === "exact" ? "" : `≈ ${w.word}`;
  return el("span", {className: "chip", title: KIND_NOTE[w.kind] ? `${KIND_NOTE[w.kind]} “${w.word}”` : `matches “${w.word}”`},
    el("span", {className: "field", text: w.field}), " ", w.term, note ? el("span", {className: "note", text: ` (${note})`}) : null);
}

const fmt = (v) => (Number.isInteger(v) ? String(v) : Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3));

export class FindUi {
  /** find: find.js's Find; app: the viewer (flyToIndex, openIndex, meta, site). */
  constructor(find, app) {
    this.find = find;
    this.app = app;
    this.recent = new Recent();
    this.root = $("app");
    this.box = $("find-box");
    this.input = $("search");
    this.panel = $("find-panel");
    this.toggleButton = $("find-toggle");
    this.summary = $("find-summary");
    this.results = $("find-results");
    this.recentBox = $("find-recent");
    this.facetsBox = $("facets");
    this.colorSelect = $("colorby");
    this.legend = $("legend");
    this.facetUi = new Map(); // field -> {update(counts)}
    this.renderSeq = 0;
    this.facetsBuilt = false;
    if (!find.available) return;
    this.box.hidden = false;
    this.input.disabled = !find.hasSearch;
    if (!find.hasSearch) this.input.placeholder = "No search index";
    this._bind();
    this._buildColourMenu();
    find.onChange((what) => this._changed(what));
  }

  _bind() {
    const input = this.input;
    input.addEventListener("input", () => {
      const q = input.value;
      if (q.trim()) this.open(true);
      this._showRecent();
      // (the last word is being typed unless a space ends the query; on a big site a short pause first,
      // so that quick typing does not look up every prefix on the way)
      clearTimeout(this.typingTimer);
      const run = () => {
        this.pendingRun = null;
        return this.find.search(q, {typing: !/\s$/.test(q)}).catch((err) => this._error(err));
      };
      if (this.find.n > BIG_SITE && q.trim()) {
        this.find.prefetch(q, {typing: !/\s$/.test(q)}); // (its dictionary shards load during the pause)
        this.pendingRun = run;
        this.typingTimer = setTimeout(run, TYPING_PAUSE);
      } else {
        run();
      }
    });
    input.addEventListener("focus", () => this._showRecent());
    input.addEventListener("blur", () => setTimeout(() => this._showRecent(), 150));
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        this.recent.add(input.value);
        if (this.pendingRun) {
          clearTimeout(this.typingTimer);
          this.pendingRun();
        }
        // the best of the results shown (a search still running for the last key finishes first)
        this.find.settled().then(() => {
          const best = this.find.rankedHits()[0];
          if (best) this._go(best.index);
        });
      } else if (e.key === "Escape") {
        e.preventDefault();
        if (input.value) {
          input.value = "";
          clearTimeout(this.typingTimer);
          this.pendingRun = null;
          this.find.search("").catch((err) => this._error(err));
        } else {
          input.blur();
        }
      } else if (e.key === "ArrowDown") {
        const first = this.results.querySelector("button");
        if (first) { e.preventDefault(); first.focus(); }
      }
    });
    this.toggleButton.addEventListener("click", () => this.open(this.panel.hidden));
    $("find-close").addEventListener("click", () => this.open(false));
    $("find-clear").addEventListener("click", () => {
      input.value = "";
      clearTimeout(this.typingTimer);
      this.pendingRun = null;
      Promise.all([this.find.search(""), this.find.setFilters({})]).catch((err) => this._error(err));
    });
    this.colorSelect.addEventListener("change", () => {
      this.find.colorBy(this.colorSelect.value || null).catch((err) => this._error(err));
    });
    window.addEventListener("keydown", (e) => {
      if (e.key !== "/" || e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
      const tag = e.target && e.target.tagName;
      if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || this.app.lightbox.isOpen) return;
      e.preventDefault();
      input.focus();
      input.select();
    });
    this.results.addEventListener("keydown", (e) => {
      const items = [...this.results.querySelectorAll("button")];
      const k = items.indexOf(document.activeElement);
      if (k < 0) return;
      if (e.key === "ArrowDown" && k + 1 < items.length) items[k + 1].focus();
      else if (e.key === "ArrowUp") (k > 0 ? items[k - 1] : input).focus();
      else return;
      e.preventDefault();
    });
  }

  _error(err) {
    console.warn("pixmap:", err && err.message ? err.message : err);
    this.summary.textContent = `Search failed: ${err && err.message ? err.message : err}`;
  }

  /** Open (or close) the panel; the first opening loads every facet's data for the counts. */
  open(on) {
    if (on === !this.panel.hidden) return;
    this.panel.hidden = !on;
    this.root.classList.toggle("find-open", on);
    this.toggleButton.setAttribute("aria-expanded", String(on));
    if (on && !this.facetsBuilt) {
      this.facetsBuilt = true;
      this.find.filters.loadAll().then(() => {
        this._buildFacets();
        this.find._apply(); // (counts of every facet, now that all are loaded)
        this._changed("filters");
      }, (err) => this._error(err));
    } else if (on) {
      this._updateFacets();
    }
    this.app._resize();
  }

  _showRecent() {
    const list = this.recent.list();
    const show = document.activeElement === this.input && !this.input.value && list.length > 0;
    this.recentBox.hidden = !show;
    if (!show) return;
    this.open(true);
    const ul = this.recentBox.querySelector("ul");
    ul.replaceChildren(...list.map((q) => el("li", {}, el("button", {type: "button", text: q,
      onmousedown: (e) => e.preventDefault(), // (keeps the focus in the box)
      onclick: () => {
        this.input.value = q;
        this.input.dispatchEvent(new Event("input"));
      }}))));
  }

  _go(i) {
    this.find.highlight(i);
    this.app.flyToIndex(i);
  }

  /** Reflect the state (after a search, a filter, a colouring, or a restored link). */
  _changed(what) {
    const find = this.find;
    if (find.query !== this.input.value && document.activeElement !== this.input) this.input.value = find.query;
    if (find.active && this.panel.hidden && (find.query || what === "restore")) this.open(true);
    this._summary();
    this._renderResults();
    this._updateFacets();
    this._renderLegend();
    if (this.colorSelect.value !== (find.colorField || "")) this.colorSelect.value = find.colorField || "";
  }

  _summary() {
    const find = this.find, n = find.n;
    const q = find.query;
    let text;
    if (!find.active) text = `${n.toLocaleString("en")} images`;
    else text = `${find.count.toLocaleString("en")} of ${n.toLocaleString("en")} images${q ? ` match “${q}”` : ""}` +
      (find.filters.active ? " (filtered)" : "");
    if (q && find.held && find.held.length) {
      text += ` · type another letter: ${find.held.map((w) => `“${w}”`).join(", ")} begins words in too many` +
        " images to match them all";
    }
    if (q && find.shortened && find.shortened.length) {
      text += ` · ${find.shortened.map((w) => `“${w}”`).join(", ")}: the most common words beginning with it;` +
        " type more for the others";
    }
    this.summary.textContent = text;
    $("find-clear").hidden = !find.active;
  }

  _renderResults() {
    const find = this.find, app = this.app;
    const seq = ++this.renderSeq;
    const hits = find.rankedHits().slice(0, SHOWN);
    $("find-results-box").hidden = !find.query;
    if (!find.query) {
      this.results.replaceChildren();
      return;
    }
    if (!hits.length) {
      this.results.replaceChildren(el("li", {className: "empty", text: "No image matches."}));
      return;
    }
    const m = app.site.manifest, meta = app.meta;
    const thumbs = m.thumbs && m.thumbs.size !== 0 ? m.thumbs : m.lightbox;
    const items = hits.map((h) => {
      const img = el("img", {alt: "", loading: "lazy", decoding: "async", width: 48, height: 48});
      img.addEventListener("error", () => { img.style.visibility = "hidden"; });
      const title = el("span", {className: "title", text: "…"});
      const why = el("span", {className: "why"}, ...(h.why || []).map((w) => whyChip(w)));
      const button = el("button", {type: "button"}, img, title, why);
      button.dataset.index = String(h.index);
      button.addEventListener("click", () => this._go(h.index));
      button.addEventListener("dblclick", () => app.openIndex(h.index));
      button.addEventListener("keydown", (e) => {
        if (e.key === "Enter" && e.shiftKey) { e.preventDefault(); app.openIndex(h.index); }
      });
      for (const ev of ["mouseenter", "focus"]) button.addEventListener(ev, () => find.highlight(h.index));
      for (const ev of ["mouseleave", "blur"]) button.addEventListener(ev, () => { if (find.highlighted === h.index) find.highlight(-1); });
      // title and thumbnail once the id and row are known (a big site: their chunks load for the items
      // scrolled into view only, once the typing pauses)
      button._fill = () => Promise.all([meta.id(h.index), meta.row(h.index)]).then(([id, row]) => {
        if (seq !== this.renderSeq) return;
        title.textContent = titleOf(meta.fields, row, id) ?? String(id);
        button.title = title.textContent;
        if (id !== null) img.src = imageFileUrl(thumbs, id);
      }, () => { title.textContent = "(not available)"; });
      return el("li", {}, button);
    });
    const total = find.rankedHits().length;
    if (find.count > items.length) {
      items.push(el("li", {className: "more", text: `${Math.min(SHOWN, total)} best of ${find.count.toLocaleString("en")} shown`}));
    }
    this.results.replaceChildren(...items);
    const buttons = [...this.results.querySelectorAll("button")];
    if (meta.sync || meta.small) {
      for (const b of buttons) b._fill();
      return;
    }
    if (this.observer) this.observer.disconnect();
    clearTimeout(this.fillTimer);
    this.fillTimer = setTimeout(() => {
      if (seq !== this.renderSeq) return;
      this.observer = new IntersectionObserver((entries) => {
        for (const e of entries) {
          if (!e.isIntersecting) continue;
          this.observer.unobserve(e.target);
          e.target._fill();
        }
      }, {root: this.panel, rootMargin: "200px 0px"});
      for (const b of buttons) this.observer.observe(b);
    }, 150);
  }

  // ------------------------------------------------------------------ facets
  _buildFacets() {
    const find = this.find;
    const boxes = [];
    for (const f of find.filters.facets) {
      if (!f.data) continue;
      const ui = f.kind === "range" ? this._rangeFacet(f) : this._valueFacet(f);
      this.facetUi.set(f.field, ui);
      boxes.push(ui.node);
    }
    if (!boxes.length) boxes.push(el("p", {className: "empty", text: "No filters for this map."}));
    this.facetsBox.replaceChildren(...boxes);
    this._updateFacets();
  }

  _valueFacet(f) {
    const find = this.find;
    let all = false;
    const list = el("ul", {className: "values"});
    const more = el("button", {type: "button", className: "more"});
    const rows = f.values.map((value, code) => {
      const box = el("input", {type: "checkbox"});
      box.addEventListener("change", () => find.toggle(f.field, value, box.checked).catch((err) => this._error(err)));
      const count = el("span", {className: "count"});
      const label = el("label", {}, box, el("span", {className: "value", text: String(value)}), count);
      label.title = String(value);
      return {li: el("li", {}, label), box, count, code, value: String(value)};
    });
    more.addEventListener("click", () => {
      all = !all;
      update(null);
    });
    const node = el("fieldset", {className: "facet"}, el("legend", {text: f.field}), list, more);
    const update = (counts) => {
      if (counts) this._lastCounts = counts;
      const c = (counts || this._lastCounts || new Map()).get(f.field);
      const selected = find.filters.selected.get(f.field) || new Set();
      const shown = rows.filter((r, k) => all || k < FACET_VALUES || selected.has(r.value));
      for (const r of rows) {
        r.box.checked = selected.has(r.value);
        const v = c ? c[r.code] : f.counts ? f.counts[r.code] : 0;
        r.count.textContent = String(v);
        r.li.classList.toggle("zero", v === 0 && !r.box.checked);
      }
      list.replaceChildren(...shown.map((r) => r.li));
      more.hidden = rows.length <= FACET_VALUES;
      more.textContent = all ? "Show fewer" : `Show all ${rows.length}`;
    };
    return {node, update};
  }

  _rangeFacet(f) {
    const find = this.find;
    const integer = f.field === "year" || (Number.isInteger(f.min) && Number.isInteger(f.max) && f.max - f.min <= 5000);
    const step = integer ? 1 : (f.max - f.min) / 200 || 1;
    const bars = el("div", {className: "histogram", "aria-hidden": "true"});
    const barNodes = Array.from({length: BINS}, () => el("span"));
    bars.append(...barNodes);
    const mk = (label) => el("input", {type: "range", min: f.min, max: f.max, step, "aria-label": `${f.field} ${label}`});
    const lo = mk("from"), hi = mk("to");
    const text = el("span", {className: "range-text"});
    const reset = el("button", {type: "button", className: "reset", text: "Any"});
    let frame = 0;
    const changed = () => {
      let a = Number(lo.value), b = Number(hi.value);
      if (a > b) [a, b] = [b, a];
      // (a slider at its end leaves that bound open)
      const from = a <= f.min ? null : a, to = b >= f.max ? null : b;
      cancelAnimationFrame(frame);
      frame = requestAnimationFrame(() => find.setRange(f.field, from, to).catch((err) => this._error(err)));
      show(from === null && to === null ? null : [a, b]);
    };
    lo.addEventListener("input", changed);
    hi.addEventListener("input", changed);
    reset.addEventListener("click", () => {
      lo.value = f.min; hi.value = f.max;
      changed();
    });
    const show = (r) => {
      text.textContent = r ? `${fmt(r[0])} – ${fmt(r[1])}` : `any (${fmt(f.min)} – ${fmt(f.max)})`;
      reset.hidden = !r;
      const span = f.max - f.min;
      barNodes.forEach((b, k) => {
        const x0 = f.min + (span * k) / BINS, x1 = f.min + (span * (k + 1)) / BINS;
        b.classList.toggle("out", !!r && (x1 < r[0] || x0 > r[1]));
      });
    };
    const node = el("fieldset", {className: "facet range"}, el("legend", {text: f.field}),
      el("div", {className: "range-head"}, text, reset), bars,
      el("div", {className: "sliders"}, lo, hi));
    const update = (counts) => {
      const h = (counts && counts.get(f.field)) || (Array.isArray(f.histogram) ? f.histogram : null);
      const max = h ? Math.max(1, ...h) : 1;
      barNodes.forEach((b, k) => { b.style.height = `${h ? Math.max(h[k] > 0 ? 6 : 0, (100 * h[k]) / max) : 0}%`; });
      const r = find.filters.ranges.get(f.field);
      if (document.activeElement !== lo && document.activeElement !== hi) {
        lo.value = r && r[0] !== null ? r[0] : f.min;
        hi.value = r && r[1] !== null ? r[1] : f.max;
      }
      show(r ? [r[0] ?? f.min, r[1] ?? f.max] : null);
    };
    return {node, update};
  }

  _updateFacets() {
    // (the counts are computed when read: not while the panel is closed; open() updates them)
    if (!this.facetUi.size || this.panel.hidden) return;
    const counts = this.find.view ? this.find.view.counts : null;
    for (const ui of this.facetUi.values()) ui.update(counts);
  }

  // ------------------------------------------------------------------ colour
  _buildColourMenu() {
    const opts = this.find.colourOptions();
    this.colorSelect.replaceChildren(el("option", {value: "", text: "nothing"}),
      ...opts.map((o) => el("option", {value: o.key, text: o.kind === "number" ? `${o.label} (scale)` : o.label})));
    this.colorSelect.closest("section").hidden = opts.length === 0;
  }

  _renderLegend() {
    const c = this.find.coloring;
    this.legend.hidden = !c;
    this.legend.replaceChildren(...(c ? [legendNode(c.legend)] : []));
  }
}
