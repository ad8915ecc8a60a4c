// window.pixmap: a small JavaScript API for embedding pages, tests and benchmarks.
//
//   await pixmap.ready                 first frame drawn (a small version-3 site: its ids, metadata
//                                      and hotspots loaded too, so everything below answers at once)
//   pixmap.state()                     {layout, camera, open, selection, ...}
//   pixmap.open(id) / pixmap.close()   lightbox
//   await pixmap.flyTo(id)             animated; resolves when the camera arrives
//   await pixmap.setLayout(name)       animated; resolves when the transition lands
//   pixmap.layouts(), pixmap.ids()     names in manifest order, image ids in data order
//   pixmap.stats()                     counts (thumbnails and tiles loaded, GPU bytes, frame time, ...)
//
// Search, filters and colouring (sites of format version 4; docs/site-format.md):
//   await pixmap.search(q)             the map shows the query (as if typed in the search box and
//                                      submitted) and resolves to its hits that pass the filters,
//                                      [{id, score}] best first; search("") clears. Rejects on a site
//                                      without a search index.
//   await pixmap.filter(spec)          replaces the filters: {field: [values], year: [min, max]} (values
//                                      of a facet: any of them; a range: inclusive, null leaves a bound
//                                      open); {} clears. Resolves to how many images pass (search too).
//                                      Numeric columns filter on version-3 sites too.
//   pixmap.matches()                   the ids that pass the search and the filters now, in data order
//                                      (every id when neither is set). A promise while a search or
//                                      filter is being applied, or on a big site whose ids load in chunks.
//   await pixmap.colorBy(field)        colour by a facet or numeric column, or "hotspot"; null: off
//   pixmap.state()                     also {query, filters, colorBy}; the URL hash keeps them too
//
// Selection (selection.js; the lasso, the selection panel, export):
//   pixmap.select(ids)                 replaces the selection with these images ([] clears); throws
//                                      (rejects) naming an unknown id
//   pixmap.selection()                 the selected ids, in data order
//   pixmap.lasso(points, {mode})       selects the images drawn inside the polygon points, [[x, y], ...]
//                                      in CSS px from the canvas's top-left corner (exactly: not its
//                                      convex hull; 3D layouts by where the images are projected);
//                                      mode "replace" (default), "add", "subtract"; returns the ids
//                                      the polygon holds, in data order
//   await pixmap.exportSelection(f)    f "csv" or "json": the file's text; "zip": a Blob (the lightbox
//                                      images and the CSV)
//   pixmap.state().selection           the selected ids; the URL hash keeps the selection too
//   (on a big site whose ids load in chunks, select, selection and lasso may return promises)
//
// Hotspots (hotspotedit.js; the hotspot panel's Edit mode):
//   pixmap.hotspots()                  the hotspots as shown now, edits included, in display order:
//                                      [{id, name, size, representative}] (representative: an image id;
//                                      a promise while those ids load, on a big site)
//   await pixmap.saveHotspots()        the text of the hotspots.json the panel's Save downloads (no
//                                      download here): {"format": "pixmap-hotspots", ...}, image ids
//
// Similar images, likes, recommendations, the similarity graph (site format 5; discover.js):
//   await pixmap.similar(id)           the ids of the image's k most similar images (its nearest
//                                      neighbours in the feature space, k = 12 by default), best first
//   await pixmap.like(id)              likes an image (kept in this browser, per map); unlike(id) undoes it
//   pixmap.likes()                     the liked ids, oldest first
//   await pixmap.recommend(k)          the ids of the k images nearest the liked set, best first, never
//                                      a liked one (loads the vectors the first time)
//   await pixmap.showGraph(on)         the similarity graph on (true) or off; resolves once drawn
//
// A large version-3 site loads its ids in chunks, when needed. There ids() and pick() return a promise
// while the ids they need are not loaded, open(id) and flyTo(id) look the id up first, and
// screenPosition(id) needs the id found first (`await pixmap.index(id)`); `await` works on every site.
// state().selection names only ids already loaded (null for the others).

import {exportText, exportZip, idsOf} from "./export.js";
import {hotspotList} from "./hotspotedit.js";
import {discoverApi} from "./discover.js";

export function installApi(app) {
  const need = () => {
    if (!app.site || !app.renderer || app.firstFrameMs === null) {
      throw new Error("pixmap is not ready yet: await pixmap.ready first");
    }
  };
  /** The index of an id known now; throws when there is none (or, version 3, it is not loaded yet). */
  const index = (id) => {
    need();
    const i = app.indexOfId(id);
    if (i >= 0) return i;
    if (app.meta.complete()) throw new Error(`no image with id ${JSON.stringify(id)}`);
    throw new Error(`image ${JSON.stringify(id)} is not loaded yet: await pixmap.index(id) first`);
  };
  /** The index of an id, looked up in the id chunks when needed; rejects when there is none. */
  const find = async (id) => {
    need();
    const i = await app.meta.indexOf(id);
    if (i < 0) throw new Error(`no image with id ${JSON.stringify(id)}`);
    return i;
  };
  const known = (id) => {
    need();
    return app.indexOfId(id) >= 0 || app.meta.complete();
  };
  /** Ids of image indices: an array when all are loaded, else a promise of it. */
  const idsNow = (indices) => {
    const ids = Array.from(indices, (i) => app.meta.idSync(i));
    return ids.every((v) => v !== null) ? ids : idsOf(app.meta, indices);
  };
  const pickIndex = (x, y) => {
    need();
    const r = app.canvas.getBoundingClientRect();
    return app.pickAt(x - r.left, y - r.top);
  };
  // (ready also waits for the search, filters and colouring a link asked for)
  const ready = app.ready.then(() => app.preloaded).then(() => app.findRestored).then(() => app.selectionRestored)
    .then(() => app.hotspotsRestored).then(() => app.clusterSetsRestored).then(() => undefined);
  ready.catch(() => {}); // a failed start is shown on the page; awaiting `ready` still rejects
  window.pixmap = Object.freeze({
    ...discoverApi(app, {need, find}),
    ready,
    state: () => { need(); return app.state(); },
    open: (id) => {
      if (known(id)) app.openIndex(index(id));
      else return find(id).then((i) => { app.openIndex(i); });
    },
    close: () => { need(); app.lightbox.close(); },
    flyTo: (id, {duration = 800} = {}) =>
      (known(id) ? app.flyToIndex(index(id), duration) : find(id).then((i) => app.flyToIndex(i, duration))),
    setLayout: (name, options) => app.setLayout(name, options),
    layouts: () => { need(); return app.site.layouts.map((l) => l.name); },
    ids: () => { need(); return app.meta.idsSync() || app.meta.allIds(); },
    /** The index of an id (a promise; version 3: searches the id chunks). */
    index: (id) => find(id),
    /** The id of image i (a promise). */
    id: (i) => { need(); return app.meta.id(i); },
    stats: () => { need(); return app.stats(); },
    search: async (q) => {
      need();
      const find = app.find;
      if (!find.hasSearch && String(q ?? "").trim()) throw new Error("this map has no search index");
      const result = await find.search(q ?? "", {typing: false, limit: Infinity});
      if (result === null && find.query !== String(q ?? "")) await find.settled(); // (a newer query won)
      const hits = find.rankedHits();
      const ids = await Promise.all(hits.map((h) => app.meta.id(h.index)));
      return hits.map((h, k) => ({id: ids[k], score: h.score}));
    },
    filter: async (spec) => {
      need();
      if (spec !== null && spec !== undefined && (typeof spec !== "object" || Array.isArray(spec))) {
        throw new Error("pixmap.filter(spec): spec is {field: [values], year: [min, max]}");
      }
      await app.find.setFilters(spec || {});
      return app.find.count;
    },
    matches: () => {
      need();
      const find = app.find;
      const now = () => {
        const idx = find.matchedIndices();
        if (!idx) return app.meta.idsSync() || app.meta.allIds();
        if (app.meta.complete()) return Array.from(idx, (i) => app.meta.idSync(i));
        return Promise.all(Array.from(idx, (i) => app.meta.id(i)));
      };
      if (find.pending) return find.settled().then(now);
      return now();
    },
    colorBy: async (field) => { need(); await app.find.colorBy(field ?? null); },
    select: (ids) => {
      need();
      if (ids === null || ids === undefined || typeof ids === "string" || typeof ids[Symbol.iterator] !== "function") {
        throw new Error("pixmap.select(ids): ids is an array of image ids");
      }
      const list = Array.from(ids, String);
      const apply = (found) => {
        const bad = list.filter((id, k) => found[k] < 0);
        if (bad.length) throw new Error(`no image with id ${JSON.stringify(bad[0])}${bad.length > 1 ? ` (and ${bad.length - 1} more)` : ""}`);
        app.setSelection(found, "replace");
      };
      const now = list.map((id) => app.indexOfId(id));
      if (now.every((i) => i >= 0) || app.meta.complete()) return apply(now);
      return Promise.all(list.map((id, k) => (now[k] >= 0 ? now[k] : app.meta.indexOf(id)))).then(apply);
    },
    selection: () => { need(); return idsNow(app.selectedIndices()); },
    lasso: (points, {mode = "replace"} = {}) => {
      need();
      if (!Array.isArray(points) || !points.every((p) => Array.isArray(p) && p.length >= 2 && p.every(Number.isFinite))) {
        throw new Error("pixmap.lasso(points): points is an array of [x, y] pairs (CSS px from the canvas's top-left corner)");
      }
      if (!["replace", "add", "subtract"].includes(mode)) throw new Error(`pixmap.lasso: mode is "replace", "add" or "subtract"`);
      return idsNow(app.lassoSelect(points, mode));
    },
    exportSelection: async (format) => {
      need();
      const f = String(format || "").toLowerCase();
      if (f === "zip") return exportZip(app);
      if (f === "csv" || f === "json") return exportText(app, f);
      throw new Error(`pixmap.exportSelection(format): format is "csv", "json" or "zip", not ${JSON.stringify(format)}`);
    },
    hotspots: () => { need(); return hotspotList(app); },
    saveHotspots: () => { need(); return app.hotspotEdit.fileText(); },
    /** Select a hotspot (by its id) and fly to it. */
    selectHotspot: (id, options) => app.selectHotspot(id, options),
    clearSelection: () => { need(); app.clearSelection(); },
    /** Set (or animate to) a camera state in the form state().camera returns. */
    setCamera: (camera, options) => { need(); return app.setCamera(camera, options); },
    /** Where an image is drawn now, in page CSS pixels: {x, y, size, visible} (null when hidden). */
    screenPosition: (id) => app.screenPosition(index(id)),
    /** The id of the image under page point (x, y), or null (a promise while that id is loading). */
    pick: (x, y) => {
      const i = pickIndex(x, y);
      if (i < 0) return null;
      const id = app.meta.idSync(i);
      return id !== null ? id : app.meta.id(i);
    },
    /** For tests and benchmarks: the GL context, drawing a frame synchronously, picking by index,
     *  where an image (by index) is drawn, and the tiles resident / in flight / wanted. */
    debug: Object.freeze({
      get gl() { return app.gl; },
      render: () => { need(); app.renderNow(); },
      pickIndex: (x, y) => pickIndex(x, y),
      screenPositionOf: (i) => { need(); return app.screenPosition(i); },
      tiles: () => { need(); return app.tileStream ? app.tileStream.state() : null; },
      /** The lasso by index (no id lookups): how many images the polygon holds. */
      lasso: (points, mode = "replace") => { need(); return app.lassoSelect(points, mode).length; },
    }),
  });
}
