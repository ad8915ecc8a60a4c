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
// A large version-3 site loads its ids in chunks, when needed. There ids() and pick() return a promise
// while the ids they need are not loaded, open(id) and flyTo(id) look the id up first, and
// screenPosition(id) needs the id found first (`await pixmap.index(id)`); `await` works on every site.
// state().selection names only ids already loaded (null for the others).

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
  const pickIndex = (x, y) => {
    need();
    const r = app.canvas.getBoundingClientRect();
    return app.pickAt(x - r.left, y - r.top);
  };
  // (ready also waits for the search, filters and colouring a link asked for)
  const ready = app.ready.then(() => app.preloaded).then(() => app.findRestored).then(() => undefined);
  ready.catch(() => {}); // a failed start is shown on the page; awaiting `ready` still rejects
  window.pixmap = Object.freeze({
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
    }),
  });
}
