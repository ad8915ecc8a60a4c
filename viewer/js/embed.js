// Embedding: the viewer inside an <iframe> on another site (a museum page, a blog, a kiosk).
//
// How it looks, by the page's query string (read when this module loads, before the first frame):
//   ?ui=none      the map only: no top bar, panels or buttons (kiosks, embeds)
//   ?ui=minimal   the map and its zoom controls (+, -, reset)
// (style.css: the html[data-ui] rules). Where it starts, by the URL hash (urlstate.js):
//   #layout=<name>  #open=<image id>  #hotspot=<hotspot id>  (and x, y, zoom; q, f.<field>, color...)
//
// What happened, for the host page: when the viewer is inside a frame (window.parent !== window), it
// posts these messages to window.parent:
//   {source: "pixmap", type: "ready", layout, count, open}     the first frame is drawn
//   {source: "pixmap", type: "open", id, index}                 the lightbox shows an image (id null and
//                                                               index -1: it closed)
//   {source: "pixmap", type: "selection", ids, count}           the selection changed (ids in data order;
//                                                               at most MAX_IDS of them, count is all)
//   {source: "pixmap", type: "layout", layout}                  another layout is shown
// The target origin is "*" (any host page may embed a map, and the viewer cannot know its origin): these
// events hold only what the map shows to anyone who opens it (image ids, layout names), never anything
// private, so that is safe. Nothing is read from messages the host sends.

export const MAX_IDS = 10000;

/** The ?ui= mode of a query string: "none", "minimal" or null (the whole UI). */
export function uiMode(search = location.search) {
  const value = new URLSearchParams(String(search || "")).get("ui");
  return value === "none" || value === "minimal" ? value : null;
}

/** Marks <html data-ui="none|minimal"> for the CSS rules; returns the mode. */
export function applyUiMode(root = document.documentElement, search = location.search) {
  const mode = uiMode(search);
  if (mode) root.dataset.ui = mode;
  return mode;
}

applyUiMode(); // at load: the page is laid out without the hidden UI from its first frame

export class Embed {
  /** app: the viewer (main.js). Posts nothing unless the page is framed. */
  constructor(app, target = window.parent !== window ? window.parent : null) {
    this.app = app;
    this.target = target;
    this.lastOpen = null;
    this.lastLayout = app.activeLayout().name;
    if (!target) return;
    app.onSelectionChange((indices) => { this._selection(indices).catch(() => {}); });
    const setLayout = app.setLayout.bind(app);
    app.setLayout = async (...args) => {
      const out = await setLayout(...args);
      this.layoutChanged();
      return out;
    };
    Promise.resolve(app.ready).then(() => {
      this.post({type: "ready", layout: app.activeLayout().name, count: app.site.count,
        open: app.lightbox && app.lightbox.isOpen ? app.lightbox.id : null});
    }).catch(() => {});
  }

  post(message) {
    if (!this.target) return;
    try {
      this.target.postMessage({source: "pixmap", ...message}, "*");
    } catch (err) {
      console.warn("pixmap: could not tell the host page:", err.message || err);
    }
  }

  /** main.js calls this when the lightbox shows image i (-1: closed). */
  lightboxChanged(i) {
    if (!this.target) return;
    const index = Number.isInteger(i) && i >= 0 ? i : -1;
    const send = (id) => {
      const key = `${index}:${id}`;
      if (key === this.lastOpen) return;
      this.lastOpen = key;
      this.post({type: "open", id, index});
    };
    if (index < 0) return send(null);
    const id = this.app.meta.idSync(index);
    if (id !== null && id !== undefined) send(id);
    else Promise.resolve(this.app.meta.id(index)).then(send).catch(() => {});
  }

  layoutChanged() {
    const name = this.app.activeLayout().name;
    if (name === this.lastLayout) return;
    this.lastLayout = name;
    this.post({type: "layout", layout: name});
  }

  async _selection(indices) {
    const list = Array.from(indices || []);
    const shown = list.slice(0, MAX_IDS);
    let ids = shown.map((i) => this.app.meta.idSync(i));
    if (ids.some((id) => id === null || id === undefined)) {
      ids = await Promise.all(shown.map((i) => this.app.meta.id(i)));
    }
    this.post({type: "selection", ids, count: list.length});
  }
}
