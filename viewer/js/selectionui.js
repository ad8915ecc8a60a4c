// The selection's controls: the lasso button (in the map's controls; key L), and the selection panel
// at the top right of the map: the count, "select matches" (the search and filters' matches: click
// replaces, shift-click adds, alt-click subtracts), clear, export CSV / JSON / ZIP, copy ids, and the
// first THUMBS selected images as thumbnails (loaded lazily; a click opens the lightbox, whose
// previous/next then walk the selection). Every metadata value is shown as text.
import {el, svgIcon} from "./dom.js";
import {titleOf} from "./meta.js";
import {imageFileUrl} from "./paths.js";
import {LassoTool} from "./lasso.js";
import {exportText, exportZip, download, copyText, idsOf} from "./export.js";

const THUMBS = 200;

/** The lasso button's icon: a dashed loop with its tail. */
function lassoIcon() {
  return svgIcon([["path", {
    d: "M12 4c-5 0-8.5 2.6-8.5 5.8 0 2.6 2.4 4.7 5.8 5.5M12 4c5 0 8.5 2.6 8.5 5.8s-3.5 5.8-8.5 5.8c-1 0-2-.1-2.9-.3M9.1 15.3c-.6 1.6-.3 3.4 1 4.7",
    fill: "none", stroke: "currentColor", "stroke-width": "1.8", "stroke-dasharray": "3 2.2", "stroke-linecap": "round",
  }]]);
}

/** A file name from the map's title: "paintings-selection.csv". */
function baseName(title) {
  const slug = String(title || "").normalize("NFKD").replace(/[^\p{L}\p{N}]+/gu, "-").replace(/^-+|-+$/g, "").toLowerCase();
  return `${slug.slice(0, 60) || "pixmap"}-selection`;
}

export class SelectionUi {
  constructor(app) {
    this.app = app;
    this.seq = 0;
    this.busy = false;
    const stage = document.getElementById("stage");
    // the lasso button, with the map's zoom buttons
    this.lassoButton = el("button", {type: "button", "aria-pressed": "false", dataset: {action: "lasso"},
      title: "Lasso (L): drag around images to select them; shift adds, alt subtracts", "aria-label": "Lasso select"});
    this.lassoButton.append(lassoIcon());
    this.lassoButton.addEventListener("click", () => app.toggleLasso());
    document.getElementById("controls").prepend(this.lassoButton);
    app.lassoTool = new LassoTool(stage, app, (on) => this._mode(on));

    // the panel
    this.count = el("strong", {className: "sel-count", role: "status", "aria-live": "polite"});
    this.matchesButton = el("button", {type: "button", dataset: {action: "matches"},
      title: "Select the images the search and filters match (shift: add them, alt: remove them)"}, "Select matches");
    this.matchesButton.addEventListener("click", (e) => {
      app.selectMatches(e.altKey ? "subtract" : e.shiftKey ? "add" : "replace");
    });
    this.clearButton = el("button", {type: "button", dataset: {action: "clear"}, title: "Clear the selection (Esc)"}, "Clear");
    this.clearButton.addEventListener("click", () => app.setSelection([], "replace"));
    this.collapse = el("button", {type: "button", className: "collapse", "aria-expanded": "true",
      "aria-label": "Show or hide the thumbnails", title: "Thumbnails"}, "▾");
    this.collapse.addEventListener("click", () => {
      const open = this.collapse.getAttribute("aria-expanded") !== "true";
      this.collapse.setAttribute("aria-expanded", String(open));
      this.thumbs.hidden = !open;
      this.collapse.textContent = open ? "▾" : "▸";
    });
    const exportButton = (format, label, title) => {
      const b = el("button", {type: "button", dataset: {export: format}, title}, label);
      b.addEventListener("click", () => this.exportAs(format));
      return b;
    };
    this.actions = el("div", {className: "sel-actions"},
      exportButton("csv", "CSV", "Download the selection as CSV: id, every metadata field, hotspot, x, y"),
      exportButton("json", "JSON", "Download the selection as JSON (the same fields)"),
      exportButton("zip", "ZIP", "Download a ZIP of the selected images and the CSV"),
      el("button", {type: "button", dataset: {action: "copy"}, title: "Copy the selected ids, one a line",
        onclick: () => this.copyIds()}, "Copy ids"));
    this.hint = el("p", {className: "sel-hint", text: "Lasso: drag around images · shift adds · alt subtracts · Esc leaves"});
    this.status = el("p", {className: "sel-note", role: "status", "aria-live": "polite"});
    this.thumbs = el("ol", {className: "sel-thumbs"});
    this.root = el("section", {id: "selection", "aria-label": "Selection"},
      el("div", {className: "sel-head"}, this.count, this.matchesButton, this.clearButton, this.collapse),
      this.hint, this.actions, this.status, this.thumbs);
    stage.append(this.root);
    app.onSelectionChange((list) => this.render(list));
    if (app.find) app.find.onChange(() => this._update());
    this.render(app.selectedIndices());
  }

  _mode(on) {
    this.lassoButton.setAttribute("aria-pressed", String(on));
    this.app.canvas.classList.toggle("lasso", on);
    this._update();
  }

  /** Shows the panel when something is selected, the lasso is on or the search/filters match something. */
  _update() {
    const n = this.app.selectedIndices().length;
    const find = this.app.find;
    const matches = !!(find && find.active);
    const lasso = !!(this.app.lassoTool && this.app.lassoTool.active);
    this.root.hidden = !(n || matches || lasso);
    this.matchesButton.hidden = !matches;
    this.clearButton.hidden = !n;
    this.collapse.hidden = !n;
    this.actions.hidden = !n;
    this.hint.hidden = !lasso;
    this.count.textContent = n ? `${n.toLocaleString("en")} selected` : "No selection";
  }

  /** A short note under the buttons (export progress, what was saved, what went wrong). */
  note(text) {
    this.status.textContent = text || "";
  }

  render(list) {
    this._update();
    if (!this.busy) this.note("");
    const seq = ++this.seq;
    const app = this.app, meta = app.meta, m = app.site.manifest;
    const entry = m.thumbs && m.thumbs.size !== 0 ? m.thumbs : m.lightbox;
    const shown = list.subarray(0, THUMBS);
    const items = Array.from(shown, (i) => {
      const img = el("img", {alt: "", loading: "lazy", decoding: "async", width: 56, height: 56});
      img.addEventListener("error", () => { img.style.visibility = "hidden"; });
      const button = el("button", {type: "button", dataset: {index: String(i)}}, img);
      button.addEventListener("click", () => app.openIndex(i));
      // the id and title (a big site: their chunks load for the thumbnails scrolled into view only)
      button._fill = () => Promise.all([meta.id(i), meta.row(i)]).then(([id, row]) => {
        if (seq !== this.seq || id === null) return;
        img.src = imageFileUrl(entry, id);
        const title = titleOf(meta.fields, row, id) ?? String(id);
        button.title = title;
        img.alt = title;
      }, () => {});
      return el("li", {}, button);
    });
    if (list.length > shown.length) {
      items.push(el("li", {className: "more", text: `first ${shown.length} of ${list.length.toLocaleString("en")}`}));
    }
    this.thumbs.replaceChildren(...items);
    if (this.observer) this.observer.disconnect();
    const buttons = [...this.thumbs.querySelectorAll("button")];
    if (meta.sync || meta.small) {
      for (const b of buttons) b._fill();
      return;
    }
    this.observer = new IntersectionObserver((entries) => {
      for (const e of entries) {
        if (!e.isIntersecting) continue;
        this.observer.unobserve(e.target);
        e.target._fill();
      }
    }, {root: this.thumbs, rootMargin: "100px"});
    for (const b of buttons) this.observer.observe(b);
  }

  async exportAs(format) {
    const app = this.app, n = app.selectedIndices().length;
    if (!n || this.busy) return;
    this.busy = true;
    const name = `${baseName(app.site.manifest.title)}.${format}`;
    try {
      this.note(`Preparing ${name}…`);
      if (format === "zip") {
        const blob = await exportZip(app, app.selectedIndices(), (done, total) => this.note(`Fetching images: ${done} of ${total}`));
        download(blob, name);
      } else {
        const text = await exportText(app, format);
        download(text, name, format === "csv" ? "text/csv;charset=utf-8" : "application/json");
      }
      this.note(`Saved ${name} (${n.toLocaleString("en")} image${n === 1 ? "" : "s"}).`);
    } catch (err) {
      this.note(`The export failed: ${err.message || err}`);
      console.warn("pixmap: export:", err);
    } finally {
      this.busy = false;
    }
  }

  async copyIds() {
    const app = this.app, list = app.selectedIndices();
    if (!list.length) return;
    const ids = await idsOf(app.meta, list);
    const ok = await copyText(ids.join("\n"));
    this.note(ok ? `Copied ${ids.length.toLocaleString("en")} id${ids.length === 1 ? "" : "s"}.` : "The browser did not allow copying.");
  }
}
