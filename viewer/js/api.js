// window.pixmap: a small JavaScript API for embedding pages, tests and benchmarks.
//
//   await pixmap.ready                 first frame drawn
//   pixmap.state()                     {layout, camera, open, selection, ...}
//   pixmap.open(id) / pixmap.close()   lightbox
//   await pixmap.flyTo(id)             animated; resolves when the camera arrives
//   await pixmap.setLayout(name)       animated; resolves when the transition lands
//   pixmap.layouts(), pixmap.ids()     names in manifest order, image ids in data order
//   pixmap.stats()                     counts (thumbnails loaded, draw calls, frame time, ...)

export function installApi(app) {
  const need = () => {
    if (!app.site || !app.renderer || app.firstFrameMs === null) {
      throw new Error("pixmap is not ready yet: await pixmap.ready first");
    }
  };
  const index = (id) => {
    need();
    const i = app.indexOfId(id);
    if (i < 0) throw new Error(`no image with id ${JSON.stringify(id)}`);
    return i;
  };
  const ready = app.ready.then(() => undefined);
  ready.catch(() => {}); // a failed start is shown on the page; awaiting `ready` still rejects
  window.pixmap = Object.freeze({
    ready,
    state: () => { need(); return app.state(); },
    open: (id) => { app.openIndex(index(id)); },
    close: () => { need(); app.lightbox.close(); },
    flyTo: (id, {duration = 800} = {}) => app.flyToIndex(index(id), duration),
    setLayout: (name, options) => app.setLayout(name, options),
    layouts: () => { need(); return app.site.layouts.map((l) => l.name); },
    ids: () => { need(); return app.site.ids.slice(); },
    stats: () => { need(); return app.stats(); },
    /** Select a hotspot (by its id) and fly to it. */
    selectHotspot: (id, options) => app.selectHotspot(id, options),
    clearSelection: () => { need(); app.clearSelection(); },
    /** Set (or animate to) a camera state in the form state().camera returns. */
    setCamera: (camera, options) => { need(); return app.setCamera(camera, options); },
    /** Where an image is drawn now, in page CSS pixels: {x, y, size, visible} (null when hidden). */
    screenPosition: (id) => app.screenPosition(index(id)),
    /** The id of the image under page point (x, y), or null. */
    pick: (x, y) => {
      need();
      const r = app.canvas.getBoundingClientRect();
      const i = app.pickAt(x - r.left, y - r.top);
      return i >= 0 ? app.site.ids[i] : null;
    },
    /** For benchmarks: the GL context, and drawing a frame synchronously. */
    debug: Object.freeze({
      get gl() { return app.gl; },
      render: () => { need(); app.renderNow(); },
    }),
  });
}
