// Level of detail and what loads after the first frame (mixed into the App by main.js). After the
// first frame of a version-3 site: its hotspots, the level-1 tiles' index, and on a small site every
// id and row. Then, whenever the view settles: the level-1 tiles of the region in view (when images
// are drawn larger than level 0's cells), thumbnails of the images in view, and the lightbox-size
// image of the one filling the view.
import {loadClusters, loadTileIndex, atlasLevels} from "./data.js";
import {textureBytes} from "./budget.js";
import {TileStream} from "./tilestream.js";

export const detail = {
  /** After the first frame (version 3): the hotspots, the level-1 tiles' index, and on a small site
   *  (a few chunks) every id and row; `preloaded` resolves when what a small site loads has come. */
  _loadLater() {
    const m = this.site.manifest;
    const clusters = this.site.clusters ? null : loadClusters(this.loader, m).then((c) => this._setClusters(c));
    if (clusters) clusters.catch((err) => this._layoutError(err));
    if (this.meta.small) {
      this.preloaded = Promise.all([clusters && clusters.catch(() => {}),
        this.meta.preload().catch((err) => this._layoutError(err))]);
    }
    const sheet = m.clusters && m.clusters.thumbs;
    if (sheet && sheet.size > 0 && sheet.columns > 0) {
      // (a big site's hotspot thumbnails: level 0's cells are too small for them)
      this.loader.image(sheet.file).then((bitmap) => {
        this.hotspotPanel.drawFromSheet(bitmap, sheet, m.clusters.hotspots); // (the sheet's order: the manifest's)
        bitmap.close();
      }).catch((err) => console.warn("pixmap: the hotspot thumbnails stay small:", err.message));
    }
    const tiles = m.atlas.tiles;
    if (tiles && tiles.count > 0) {
      loadTileIndex(this.loader, m).then((index) => this._startTiles(index))
        .catch((err) => this._layoutError(err));
    }
  },

  _setClusters(clusters) {
    this.site.clusters = clusters;
    this._members = null;
    this.renderer.setClusters(clusters);
    if (this.selectedCluster >= 0) this._select(this.selectedCluster); // (its members, now known)
    this._clustersLoaded();
    if (this.selectedCluster >= 0 || this.hoverCluster >= 0) this.requestFrame();
    setTimeout(() => this.members(-1), 50); // (every hotspot's list, once: not on the first click)
  },

  /** Level-1 tiles: the images of each tile (counting sort by tile), the GPU layers, the stream. */
  _startTiles({tileOf, tileCells}) {
    const tiles = this.site.manifest.atlas.tiles, n = this.site.count;
    const start = new Uint32Array(tiles.count + 1);
    for (let i = 0; i < n; i++) start[tileOf[i] + 1]++;
    for (let t = 0; t < tiles.count; t++) start[t + 1] += start[t];
    const fill = start.slice(0, tiles.count);
    const items = new Uint32Array(n);
    for (let i = 0; i < n; i++) items[fill[tileOf[i]]++] = i;
    // layer size: the tile's, unless the GPU or the budget's room (fewer than 6 tiles) asks for less
    let size = Math.min(tiles.size, this.caps.maxTextureSize);
    const layerBytes = (s) => textureBytes(s, s, atlasLevels(tiles.cell_size, s));
    while (size > 256 && this.budget.room("tiles") < 6 * layerBytes(size)) size = Math.floor(size / 2);
    const textures = this.renderer.enableTiles({size, levels: atlasLevels(tiles.cell_size, size), tileSize: tiles.size,
      index: {tileCells, start, items}});
    this.tileIndex = {tileOf, tileCells, start, items};
    this.tileStream = new TileStream({atlas: this.site.manifest.atlas, textures, onChange: () => this.requestFrame()});
    this._scheduleLod();
  },

  /** Whether level-1 tiles add detail now (2D: the quads are larger than level 0's cells). */
  _tileDetail() {
    if (!this.tileStream) return false;
    if (this.camera.kind === "3d") return true;
    return this.sizeOf(this.layout) * this.camera.scale(this.vp) * this.dpr >= this.site.manifest.atlas.cell_size;
  },

  _scheduleLod() {
    if (this._lodTimer || !this.thumbs) return;
    this._lodTimer = setTimeout(() => {
      this._lodTimer = 0;
      this._updateLod();
    }, 120);
  },

  _updateLod() {
    if (this.transition) {
      this.thumbs.update([], -1);
      if (this.tileStream) this.tileStream.update([]);
      this.bigWanted = -1;
      return;
    }
    const m = this.site.manifest;
    const view = this._pickView();
    if (this.tileStream) {
      // level-1 tiles where the quads are drawn larger than level 0's cells (1.5x)
      const tilePx = (1.5 * m.atlas.cell_size) / this.dpr;
      this.tileStream.update(this.picker.tiles(this.layout, view, this.tileIndex.tileOf, tilePx).map((w) => w.t));
    }
    // thumbnails where the best atlas level gets blurry
    const cell = m.atlas.tiles ? m.atlas.tiles.cell_size : m.atlas.cell_size || 64;
    const cellPx = (cell * 1.25) / this.dpr; // CSS px where a cell gets blurry
    const limit = Math.floor(this.renderer.thumbSlots * 0.75);
    const vis = this.picker.visible(this.layout, view, cellPx, limit);
    const bigPx = (this.thumbPx * 1.25) / this.dpr;
    let big = -1;
    const near = Math.min(this.vp.width, this.vp.height) / 2;
    for (const v of vis) {
      if (v.dist > near) break;
      if (v.px >= bigPx) { big = v.i; break; }
    }
    if (big !== this.bigWanted) this.requestFrame();
    this.bigWanted = big;
    this.thumbs.update(vis.map((v) => v.i), big);
  },
};
