// The map renderer: every image is a textured quad drawn by VERTEX PULLING. One
// drawArrays(TRIANGLES, 6 * first, 6 * count) per group of atlas pages; the vertex shader reads
// the image's position (current and target layout), atlas cell and hotspot from data textures by
// gl_VertexID (zoomed into a big map: only the images around the view, listed by cull.js). Images
// whose level-1 tile is resident are drawn again from the tile (tiletex.js),
// loaded thumbnails are a draw of just those quads (listed in a small texture), the lightbox-size image
// another. No per-frame CPU work proportional to the number of images. Every texture is counted in
// the GPU budget (budget.js).
//
// Texture units: up to 6 in the vertex stage (positions A and B, atlas cell rectangles, hotspots,
// a draw list, and while search/filters/colouring are in use the per-image state), 1 in the fragment
// stage (atlas page group / tile array / thumbnail array / big image): within any WebGL2 GPU's limits
// (at least 16 each; checked at start-up).
// Search, filters and colouring (setPointState): per image a state (normal, dimmed, matched,
// highlighted) and a colour in one RGBA8UI texture; while any is set every pass reads it (the STATE
// variants), the matched images are drawn again on top of the dimmed ones (the "hits" pass, from a
// list of their slots) and the highlighted one last. The selection (setSelected) is one more bit
// of that state: selected images are outlined and drawn on top too.
// Atlas pages live in TEXTURE_2D_ARRAY layers; a group is as many pages as one array may hold
// (MAX_ARRAY_TEXTURE_LAYERS and a memory cap), so big collections take one draw per group.
// Images are drawn in "slot" order: sorted by atlas page, so each group is one contiguous range.

import {createProgram, createDataTexture, createArrayTexture, dataTextureShape} from "./gl.js";
import {mat4} from "./camera.js";
import {MAP_VS, MAP_FS, LINE_VS, LINE_FS, PASSES, DIM, STATE_DIM, variant} from "./shaders.js";
import {GpuBudget, textureBytes, MAX_POSITION_TEXTURES} from "./budget.js";
import {atlasLevels} from "./data.js";
import {TileTextures, LIST_WIDTH} from "./tiletex.js";

const GROUP_BYTES = 512 * 1024 * 1024; // largest single atlas array texture we allocate
const BACKGROUND = [0.059, 0.067, 0.082];

export class Renderer {
  /**
   * site: {count, cells: Uint16Array(5n), clusters: Int32Array(n) or null (setClusters later), manifest}
   * pageTexSize: atlas page texture size (data.js pageTextureSize); budget: a GpuBudget
   */
  constructor(gl, caps, site, {thumbSlots = 128, budget = new GpuBudget(Infinity), pageTexSize = 0} = {}) {
    this.gl = gl;
    this.caps = caps;
    this.budget = budget;
    const n = (this.n = site.count);
    const atlas = site.manifest.atlas;
    if (caps.maxVertexUnits < 5 || caps.maxFragmentUnits < 1 || caps.maxCombinedUnits < 6) {
      throw new Error("this GPU has too few texture units for the map (needs 5 in the vertex stage)");
    }
    this.atlasInv = 1 / atlas.size;
    this.pageTexSize = pageTexSize || Math.min(atlas.size, caps.maxTextureSize);
    this.pageCount = atlas.pages.length;
    const {width, height} = dataTextureShape(n, caps.maxTextureSize);
    this.dataWidth = width;
    this.dataHeight = height;

    // ---- draw order: slots sorted by atlas page (stable) -------------------------------
    const cells = site.cells;
    const pageOf = (i) => cells[i * 5];
    let sorted = true;
    for (let i = 1; i < n && sorted; i++) if (pageOf(i) < pageOf(i - 1)) sorted = false;
    this.order = new Uint32Array(n); // slot -> image
    this.slotOf = new Uint32Array(n); // image -> slot
    if (sorted) {
      for (let i = 0; i < n; i++) this.order[i] = this.slotOf[i] = i;
    } else {
      const counts = new Uint32Array(this.pageCount + 1);
      for (let i = 0; i < n; i++) counts[pageOf(i) + 1]++;
      for (let p = 1; p <= this.pageCount; p++) counts[p] += counts[p - 1];
      for (let i = 0; i < n; i++) {
        const s = counts[pageOf(i)]++;
        this.order[s] = i;
        this.slotOf[i] = s;
      }
    }

    // ---- page groups: one array texture (one unit) and one draw each -------------------------
    const cellSize = atlas.cell_size || 64;
    this.atlasLevels = atlasLevels(cellSize, this.pageTexSize);
    const pageBytes = textureBytes(this.pageTexSize, this.pageTexSize, this.atlasLevels);
    const perGroup = Math.max(1, Math.min(caps.maxArrayLayers, Math.floor(GROUP_BYTES / pageBytes)));
    this.groups = [];
    let slot = 0;
    for (let base = 0; base < Math.max(1, this.pageCount); base += perGroup) {
      const layers = Math.max(1, Math.min(perGroup, this.pageCount - base));
      const first = slot;
      while (slot < n && pageOf(this.order[slot]) < base + layers) slot++;
      this.groups.push({base, layers, first, count: slot - first, tex: null, dirty: false});
    }
    for (const g of this.groups) {
      g.tex = createArrayTexture(gl, this.pageTexSize, g.layers, this.atlasLevels);
      budget.add("pages", pageBytes * g.layers);
    }

    // ---- per-image data in slot order: atlas cell rectangle (uv), page ---------------------------
    const rect = new Float32Array(width * height * 4);
    const inv = this.atlasInv;
    this.pageOfSlot = new Float32Array(n);
    for (let s = 0; s < n; s++) {
      const i = this.order[s], c = i * 5, o = s * 4;
      rect[o] = (cells[c + 1] + 0.5) * inv;
      rect[o + 1] = (cells[c + 2] + 0.5) * inv;
      rect[o + 2] = Math.max(0, cells[c + 3] - 1) * inv;
      rect[o + 3] = Math.max(0, cells[c + 4] - 1) * inv;
      this.pageOfSlot[s] = cells[c];
    }
    this.rectTex = this._dataTexture(gl.RGBA32F, gl.RGBA, gl.FLOAT, rect, 16);

    // ---- positions, thumbnails, lightbox-size image ----------------------------------------------
    this.positions = new Map(); // key -> {tex, data (slot order, 4 floats), used (clock)}
    this.clock = 0;
    this.lines = new Map(); // key -> {vao, count}
    this.thumbSize = 0;
    this.thumbSlots = thumbSlots;
    this.slotImage = new Int32Array(thumbSlots).fill(-1); // thumbnail layer -> image (-1: free)
    this.thumbTex = createArrayTexture(gl, 1, 1, 1); // placeholder until the first thumbnail
    this.thumbList = new Int32Array(thumbSlots * 4); // (draw slot, layer, 0, 0) per loaded thumbnail
    this.thumbCount = 0;
    this.thumbListTex = createDataTexture(gl, gl.RGBA32I, gl.RGBA_INTEGER, gl.INT, thumbSlots, 1, this.thumbList);
    budget.add("data", thumbSlots * 16);
    this.thumbListDirty = false;
    this.thumbListCluster = -1;
    this.thumbSplit = 0;
    this.bigTex = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, this.bigTex);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, 1, 1, 0, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array(4));
    this._texParams2D(gl.LINEAR);
    this.bigImage = -1;
    this.bigBytes = 0;
    this.tiles = null; // TileTextures, once the site's level-1 tiles are known (enableTiles)

    // ---- hotspots (setClusters: now, or when clusters.i32 arrives after the first frame) ---------
    this.clusterOfSlot = new Int32Array(width * height).fill(-1);
    this.clusterTex = this._dataTexture(gl.R32I, gl.RED_INTEGER, gl.INT, this.clusterOfSlot, 4);
    this.memberSlots = new Int32Array(width * height);
    this.memberListTex = this._dataTexture(gl.R32I, gl.RED_INTEGER, gl.INT, this.memberSlots, 4);
    this.memberRanges = new Map(); // hotspot id -> [first, count] in memberSlots
    if (site.clusters) this.setClusters(site.clusters);

    // ---- search, filters, colour by (setPointState): allocated on first use ----------------------
    this.stateActive = false;
    this.stateTex = null;
    this.stateData = null;
    this.hitsTex = null;
    this.hitsCount = 0;
    this.hitsRanges = [];
    this.highlight = -1;
    this.graph = null; // the similarity graph (graph.js GraphLayer), once shown
    this.selected = null; // the selection (setSelected): per image 1 when selected, else null

    // ---- programs. Units: 0-2 positions A/B and cells, 3 image source, 4 list, 5 hotspots, 6 state -----
    this.programs = new Map(); // compiled on first use (or by warmUp): `${pass}${dims}${t}`
    this.program("map", 2, false);
    this.line = createProgram(gl, LINE_VS, LINE_FS);
    this.emptyVao = gl.createVertexArray();
    this.drawCalls = 0;
  }

  /** A data texture (dataWidth x dataHeight texels of `bytes` each), counted in the budget. */
  _dataTexture(internal, format, type, data, bytes) {
    this.budget.add("data", this.dataWidth * this.dataHeight * bytes);
    return createDataTexture(this.gl, internal, format, type, this.dataWidth, this.dataHeight, data);
  }

  /** Hotspot of every image (Int32Array in image order); members sorted by hotspot, one range each. */
  setClusters(clusters) {
    const gl = this.gl, n = this.n;
    const of = this.clusterOfSlot;
    let lo = 0, hi = -1;
    for (let s = 0; s < n; s++) {
      const c = (of[s] = clusters[this.order[s]]);
      if (c < lo) lo = c;
      if (c > hi) hi = c;
    }
    // a counting sort by hotspot (typed arrays: the hotspot editor calls this on every edit, at 1M images)
    const counts = new Int32Array(hi - lo + 1);
    for (let s = 0; s < n; s++) counts[of[s] - lo]++;
    this.memberRanges = new Map();
    const fill = new Int32Array(counts.length);
    let off = 0;
    for (let k = 0; k < counts.length; k++) {
      if (counts[k]) this.memberRanges.set(k + lo, [off, counts[k]]);
      fill[k] = off;
      off += counts[k];
    }
    for (let s = 0; s < n; s++) this.memberSlots[fill[of[s] - lo]++] = s;
    this._subRanges = null;
    for (const [tex, data] of [[this.clusterTex, this.clusterOfSlot], [this.memberListTex, this.memberSlots]]) {
      gl.bindTexture(gl.TEXTURE_2D, tex);
      gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, this.dataWidth, this.dataHeight, gl.RED_INTEGER, gl.INT, data);
    }
    this.thumbListCluster = -2; // rebuild the thumbnail list (member split) on the next frame
    if (this.tiles) this.tiles.stale = true;
  }

  /** View culling (cull.js): the draw slots to draw in the main pass (sorted), in ranges per page group. */
  setCull(slots) {
    const gl = this.gl;
    if (!this.cullTex) {
      this.cullRows = Math.ceil(Math.max(1, Math.min(262144, this.n)) / this.dataWidth);
      this.cullTex = createDataTexture(gl, gl.R32I, gl.RED_INTEGER, gl.INT, this.dataWidth, this.cullRows, null);
      this.cullData = new Int32Array(this.dataWidth * this.cullRows);
      this.budget.add("data", this.cullData.byteLength);
    }
    const count = Math.min(slots.length, this.cullData.length);
    this.cullData.set(slots.subarray(0, count));
    const rows = Math.max(1, Math.ceil(count / this.dataWidth));
    gl.activeTexture(gl.TEXTURE4);
    gl.bindTexture(gl.TEXTURE_2D, this.cullTex);
    gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, this.dataWidth, rows, gl.RED_INTEGER, gl.INT,
      this.cullData.subarray(0, rows * this.dataWidth));
    const lower = (v) => { let a = 0, b = count; while (a < b) { const m = (a + b) >> 1; if (slots[m] < v) a = m + 1; else b = m; } return a; };
    this.cullRanges = this.groups.map((g) => {
      const first = lower(g.first);
      return [first, lower(g.first + g.count) - first];
    });
  }

  /**
   * Level-1 tiles: texture size and mip levels of a tile layer, the manifest's tile size, and the
   * tile index {tileCells, start, items}. Returns the TileTextures (tilestream.js fills it).
   */
  enableTiles({size, levels, tileSize, index}) {
    this.tiles = new TileTextures(this.gl, this, {size, levels, tileSize, index, budget: this.budget,
      maxLayers: this.caps.maxArrayLayers});
    return this.tiles;
  }

  /**
   * Search, filters and colouring: per image (image order) a state, flags[i] 0 normal, 1 dimmed,
   * 2 matched, 3 highlighted (null: all normal), and a colour, colours[4i..4i+2] when colours[4i+3] > 0
   * (null: none). Both null: back to the lean drawing. Matched and highlighted images are drawn over
   * the others.
   */
  setPointState(flags, colours) {
    const gl = this.gl, n = this.n;
    this.lastFlags = flags; // (kept: setSelected redraws the state with them)
    this.lastColours = colours;
    const sel = this.selected;
    this.stateActive = !!(flags || colours || sel);
    this.highlight = -1;
    if (!this.stateActive) {
      this.hitsCount = 0;
      return;
    }
    if (!this.stateTex) {
      this.stateData = new Uint8Array(this.dataWidth * this.dataHeight * 4);
      this.stateTex = this._dataTexture(gl.RGBA8UI, gl.RGBA_INTEGER, gl.UNSIGNED_BYTE, null, 4);
      this.hitsList = new Int32Array(this.dataWidth * this.dataHeight);
      this.hitsTex = this._dataTexture(gl.R32I, gl.RED_INTEGER, gl.INT, null, 4);
    }
    // (texels as little-endian uint32s: r | g << 8 | b << 16 | flags << 24)
    const data = this.stateData, out = new Uint32Array(data.buffer), order = this.order, list = this.hitsList;
    const col = colours ? new Uint32Array(colours.buffer, colours.byteOffset, n) : null;
    let hits = 0;
    for (let s = 0; s < n; s++) {
      const i = order[s];
      const f = flags ? flags[i] : 0;
      const c = col ? col[i] : 0;
      const m = sel && sel[i] ? 8 << 24 : 0; // (flags bit 3: selected)
      out[s] = (c >>> 24 ? (c & 0xffffff) | ((f | 4) << 24) : f << 24) | m;
      if (f >= 2 || m) list[hits++] = s;
      if (f === 3) this.highlight = i;
    }
    gl.bindTexture(gl.TEXTURE_2D, this.stateTex);
    gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, this.dataWidth, this.dataHeight, gl.RGBA_INTEGER, gl.UNSIGNED_BYTE, data);
    // the matched (and selected) images again, on top: only when others are not (and at most half of the map)
    const dimmed = flags || sel ? n - hits : 0;
    this.hitsCount = dimmed > 0 && hits > 0 && hits <= Math.max(n / 2, 1) ? hits : 0;
    if (this.hitsCount) {
      const rows = Math.ceil(hits / this.dataWidth);
      gl.bindTexture(gl.TEXTURE_2D, this.hitsTex);
      gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, this.dataWidth, rows, gl.RED_INTEGER, gl.INT,
        list.subarray(0, rows * this.dataWidth));
      const lower = (v) => { let a = 0, b = hits; while (a < b) { const m = (a + b) >> 1; if (list[m] < v) a = m + 1; else b = m; } return a; };
      this.hitsRanges = this.groups.map((g) => {
        const first = lower(g.first);
        return [first, lower(g.first + g.count) - first];
      });
    }
  }

  /** The selection (selection.js): per image (image order) 1 when selected; null: none. Drawn with the
   *  search's state (a selected image is outlined, and tinted at overview zoom, and drawn on top). */
  setSelected(mask) {
    this.selected = mask;
    this.setPointState(this.lastFlags || null, this.lastColours || null);
  }

  /** The program of a pass for a 2D (orthographic) or 3D (perspective) camera (state: the STATE variant). */
  program(name, dims, transition, state = false) {
    const key = `${name}${dims}${transition ? "t" : ""}${state ? "s" : ""}`;
    let prog = this.programs.get(key);
    if (prog) return prog;
    const gl = this.gl;
    const defines = {...PASSES[name], DIMS: dims, TRANSITION: transition ? 1 : 0, STATE: state ? 1 : 0};
    prog = createProgram(gl, variant(MAP_VS, defines), variant(MAP_FS, defines));
    const u = prog.u;
    gl.useProgram(prog.program);
    gl.uniform1i(u.uPosA, 0);
    gl.uniform1i(u.uPosB, 1);
    gl.uniform1i(u.uRect, 2);
    if (u.uClusters) gl.uniform1i(u.uClusters, 5);
    for (const sampler of ["uAtlas", "uThumbs", "uBig"]) if (u[sampler]) gl.uniform1i(u[sampler], 3);
    if (u.uList) gl.uniform1i(u.uList, 4);
    if (u.uDim) gl.uniform1f(u.uDim, DIM);
    if (u.uState) gl.uniform1i(u.uState, 6);
    if (u.uStateDim) gl.uniform1f(u.uStateDim, STATE_DIM);
    gl.uniform1i(u.uDataWidth, this.dataWidth);
    if (u.uAtlasInv) gl.uniform1f(u.uAtlasInv, this.atlasInv);
    this.programs.set(key, prog);
    return prog;
  }

  /** Compile the other program variants in the background, one per task, so none stalls a frame
   *  (state: the variants search, filters and colouring use). */
  warmUp(dimsList = [2], state = false) {
    const todo = [];
    for (const dims of dimsList) {
      if (state) {
        for (const pass of ["map", "hits", "one", "thumbs", "tilesLean", "tiles", "members", "big"]) todo.push([pass, dims, false, true]);
        todo.push(["map", dims, true, true]);
        if (dims === 2) todo.push(["mapList", 2, false, true]);
        continue;
      }
      todo.push(["map", dims, false], ["map", dims, true], ["hover", dims, false], ["thumbs", dims, false],
        ["members", dims, false], ["big", dims, false], ["tiles", dims, false], ["tilesLean", dims, false]);
      if (dims === 2) todo.push(["mapList", 2, false]);
    }
    this.warming = true;
    const next = () => {
      const job = todo.shift();
      if (!job || this.gl.isContextLost()) {
        this.warming = false;
        return;
      }
      this.program(...job);
      setTimeout(next, 16);
    };
    setTimeout(next, 100);
  }

  _texParams2D(filter) {
    const gl = this.gl;
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, filter);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, filter);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
  }

  /** Upload atlas page `index` (an ImageBitmap at most pageTexSize square). */
  uploadPage(index, bitmap) {
    const gl = this.gl;
    const g = this.groups.find((grp) => index >= grp.base && index < grp.base + grp.layers);
    if (!g) return;
    gl.bindTexture(gl.TEXTURE_2D_ARRAY, g.tex);
    gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
    gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
    const w = Math.min(bitmap.width, this.pageTexSize), h = Math.min(bitmap.height, this.pageTexSize);
    gl.texSubImage3D(gl.TEXTURE_2D_ARRAY, 0, 0, 0, index - g.base, w, h, 1, gl.RGBA, gl.UNSIGNED_BYTE, bitmap);
    g.dirty = this.atlasLevels > 1;
  }

  hasPositions(key) {
    return this.positions.has(key);
  }

  /** Positions in image order (n x dims floats) -> RGBA32F texture in slot order (w: atlas page, -1 hidden). */
  setPositions(key, positions, dims) {
    const n = this.n;
    const data = new Float32Array(this.dataWidth * this.dataHeight * 4);
    for (let s = 0; s < n; s++) {
      const i = this.order[s] * dims, o = s * 4;
      const x = positions[i], y = positions[i + 1], z = dims > 2 ? positions[i + 2] : 0;
      if (Number.isFinite(x) && Number.isFinite(y) && Number.isFinite(z)) {
        data[o] = x; data[o + 1] = y; data[o + 2] = z; data[o + 3] = this.pageOfSlot[s];
      } else {
        data[o + 3] = -1; // NaN/inf positions (no coordinates in this layout) are not drawn
      }
    }
    this._storePositions(key, data);
  }

  _storePositions(key, data) {
    const gl = this.gl;
    const old = this.positions.get(key);
    if (old) {
      gl.bindTexture(gl.TEXTURE_2D, old.tex);
      gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, this.dataWidth, this.dataHeight, gl.RGBA, gl.FLOAT, data);
      old.data = data;
      old.used = ++this.clock;
    } else {
      // at most MAX_POSITION_TEXTURES layouts on the GPU: the least recently used one goes (its
      // positions stay in memory; switching back uploads them again)
      while (this.positions.size >= MAX_POSITION_TEXTURES) {
        let oldest = null;
        for (const [k, p] of this.positions) if (!oldest || p.used < oldest[1].used) oldest = [k, p];
        gl.deleteTexture(oldest[1].tex);
        this.positions.delete(oldest[0]);
        this.budget.sub("data", this.dataWidth * this.dataHeight * 16);
      }
      const tex = this._dataTexture(gl.RGBA32F, gl.RGBA, gl.FLOAT, data, 16);
      this.positions.set(key, {tex, data, used: ++this.clock});
    }
  }

  /** Freeze an interrupted transition: key = mix(a, b, t), computed once (not per frame). */
  snapshot(key, a, b, t) {
    const da = this.positions.get(a).data, db = this.positions.get(b).data;
    const out = new Float32Array(da.length);
    for (let o = 0; o < da.length; o += 4) {
      out[o] = da[o] + (db[o] - da[o]) * t;
      out[o + 1] = da[o + 1] + (db[o + 1] - da[o + 1]) * t;
      out[o + 2] = da[o + 2] + (db[o + 2] - da[o + 2]) * t;
      out[o + 3] = t < 0.5 ? da[o + 3] : db[o + 3];
    }
    this._storePositions(key, out);
  }

  /** Position of image i under key, [x, y, z] (or null when hidden). */
  positionOf(key, i) {
    const p = this.positions.get(key);
    if (!p) return null;
    const o = this.slotOf[i] * 4;
    return p.data[o + 3] < 0 ? null : [p.data[o], p.data[o + 1], p.data[o + 2]];
  }

  /** Polylines (flat [x0, y0, x1, y1, ...] lists) as GL line segments, one draw per layout. */
  setLines(key, polylines) {
    const gl = this.gl;
    const segs = [];
    for (const line of polylines || []) {
      for (let j = 0; j + 3 < line.length; j += 2) segs.push(line[j], line[j + 1], line[j + 2], line[j + 3]);
    }
    if (!segs.length) return;
    const vao = gl.createVertexArray();
    gl.bindVertexArray(vao);
    const buf = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, buf);
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array(segs), gl.STATIC_DRAW);
    const loc = gl.getAttribLocation(this.line.program, "aPos");
    gl.enableVertexAttribArray(loc);
    gl.vertexAttribPointer(loc, 2, gl.FLOAT, false, 0, 0);
    gl.bindVertexArray(null);
    this.lines.set(key, {vao, count: segs.length / 2});
  }

  /** The thumbnail draw list; images outside the highlighted hotspot first (drawn under its members). */
  _rebuildThumbList(cluster = this.thumbListCluster) {
    let k = 0;
    this.thumbListCluster = cluster;
    for (const wantMember of [false, true]) {
      if (wantMember) this.thumbSplit = k;
      for (let layer = 0; layer < this.thumbSlots; layer++) {
        const image = this.slotImage[layer];
        if (image < 0) continue;
        const s = this.slotOf[image];
        const member = cluster >= 0 && this.clusterOfSlot[s] === cluster;
        if (member !== wantMember) continue;
        this.thumbList[k * 4] = s;
        this.thumbList[k * 4 + 1] = layer;
        k++;
      }
    }
    this.thumbCount = k;
    this.thumbListDirty = true;
  }

  /** Put a square thumbnail bitmap (thumbSize x thumbSize) for `image` into layer `slot`. */
  setThumb(slot, image, bitmap) {
    const gl = this.gl;
    if (this.thumbSize !== bitmap.width) {
      // first use (or a size change): allocate the array; forget all slots
      this.slotImage.fill(-1);
      gl.deleteTexture(this.thumbTex);
      this.budget.sub("thumbs", textureBytes(this.thumbSize, this.thumbSize, 1, this.thumbSlots));
      this.thumbSize = bitmap.width;
      this.thumbTex = createArrayTexture(gl, this.thumbSize, this.thumbSlots, 1);
      this.budget.add("thumbs", textureBytes(this.thumbSize, this.thumbSize, 1, this.thumbSlots));
    }
    this.slotImage[slot] = -1;
    gl.bindTexture(gl.TEXTURE_2D_ARRAY, this.thumbTex);
    gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
    gl.texSubImage3D(gl.TEXTURE_2D_ARRAY, 0, 0, 0, slot, bitmap.width, bitmap.height, 1, gl.RGBA, gl.UNSIGNED_BYTE, bitmap);
    this.slotImage[slot] = image; // keyed by image, set only once its pixels are in place
    this._rebuildThumbList();
  }

  clearThumb(slot) {
    this.slotImage[slot] = -1;
    this._rebuildThumbList();
  }

  /** The one lightbox-size image drawn over its own quad. */
  setBig(image, bitmap) {
    const gl = this.gl;
    gl.bindTexture(gl.TEXTURE_2D, this.bigTex);
    gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, gl.RGBA, gl.UNSIGNED_BYTE, bitmap);
    this.budget.sub("big", this.bigBytes);
    this.bigBytes = bitmap.width * bitmap.height * 4;
    this.budget.add("big", this.bigBytes);
    this.bigImage = image;
  }

  clearBig() {
    this.bigImage = -1;
  }

  /** Regenerate atlas mipmaps of groups whose pages changed (once per upload batch, not per frame). */
  _prepare() {
    const gl = this.gl;
    for (const g of this.groups) {
      if (!g.dirty) continue;
      gl.bindTexture(gl.TEXTURE_2D_ARRAY, g.tex);
      gl.generateMipmap(gl.TEXTURE_2D_ARRAY);
      g.dirty = false;
    }
  }

  /** The part of a hotspot's member range whose images are on page group g. */
  _memberSubRange(range, g) {
    if (this.groups.length === 1) return range;
    const key = `${range[0]}:${g.base}`;
    let sub = this._subRanges && this._subRanges.get(key);
    if (!sub) {
      // member slots ascend within the range; slots of group g are [g.first, g.first + g.count)
      const list = this.memberSlots;
      let lo = range[0], hi = range[0] + range[1];
      const lower = (v) => { let a = lo, b = hi; while (a < b) { const m = (a + b) >> 1; if (list[m] < v) a = m + 1; else b = m; } return a; };
      const first = lower(g.first), end = lower(g.first + g.count);
      sub = [first, end - first];
      (this._subRanges || (this._subRanges = new Map())).set(key, sub);
    }
    return sub;
  }

  /**
   * frame: {view, proj, depth (bool), a, b (position keys), t, sizeA, sizeB, minPx,
   *         hover (image or -1), cluster (-1), lines: [{key, alpha}], big (image or -1),
   *         tiles (false: skip the tile pass, where tiles add nothing to level 0),
   *         cull (true: the main pass draws the images listed by setCull only)}
   */
  draw(f) {
    const gl = this.gl;
    this._prepare();
    const W = gl.drawingBufferWidth, H = gl.drawingBufferHeight;
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    gl.viewport(0, 0, W, H);
    gl.clearColor(BACKGROUND[0], BACKGROUND[1], BACKGROUND[2], 1);
    gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
    let calls = 0;

    // lines beneath the images
    if (f.lines && f.lines.length) {
      gl.disable(gl.DEPTH_TEST);
      gl.enable(gl.BLEND);
      gl.blendFunc(gl.SRC_ALPHA, gl.ONE_MINUS_SRC_ALPHA);
      gl.useProgram(this.line.program);
      gl.uniformMatrix4fv(this.line.u.uView, false, f.view);
      gl.uniformMatrix4fv(this.line.u.uProj, false, f.proj);
      for (const {key, alpha} of f.lines) {
        const l = this.lines.get(key);
        if (!l || alpha <= 0) continue;
        gl.uniform4f(this.line.u.uColor, 0.62, 0.66, 0.74, 0.55 * alpha);
        gl.bindVertexArray(l.vao);
        gl.drawArrays(gl.LINES, 0, l.count);
        calls++;
      }
      gl.disable(gl.BLEND);
    }

    if (f.depth) {
      gl.enable(gl.DEPTH_TEST);
      gl.depthFunc(gl.LEQUAL);
    } else {
      gl.disable(gl.DEPTH_TEST);
    }
    gl.bindVertexArray(this.emptyVao);
    const A = this.positions.get(f.a), B = this.positions.get(f.b) || A;
    A.used = B.used = ++this.clock;
    gl.activeTexture(gl.TEXTURE0);
    gl.bindTexture(gl.TEXTURE_2D, A.tex);
    gl.activeTexture(gl.TEXTURE1);
    gl.bindTexture(gl.TEXTURE_2D, B.tex);
    gl.activeTexture(gl.TEXTURE2);
    gl.bindTexture(gl.TEXTURE_2D, this.rectTex);
    gl.activeTexture(gl.TEXTURE5);
    gl.bindTexture(gl.TEXTURE_2D, this.clusterTex);
    const state = this.stateActive;
    if (state) {
      gl.activeTexture(gl.TEXTURE6);
      gl.bindTexture(gl.TEXTURE_2D, this.stateTex);
    }
    const viewProj = mat4.multiply(f.proj, f.view);
    const hoverSlot = f.hover >= 0 ? this.slotOf[f.hover] : -1;
    const dims = f.depth ? 3 : 2;
    const pxScale = f.proj[5] * 0.5 * H; // device px per view unit (at clip w = 1)
    const transition = B !== A && f.t > 0;
    const size = transition ? f.sizeA + (f.sizeB - f.sizeA) * f.t : f.sizeA;
    const use = (name) => {
      const prog = this.program(name, dims, transition, state && name !== "hover"), u = prog.u;
      gl.useProgram(prog.program);
      if (u.uViewH) gl.uniform1f(u.uViewH, H);
      if (transition) gl.uniform1f(u.uT, f.t);
      if (dims === 3) {
        gl.uniformMatrix4fv(u.uViewProj, false, viewProj);
        gl.uniform1f(u.uPxScale, pxScale);
        gl.uniform1f(u.uMinPx, f.minPx);
        gl.uniform1f(u.uSize, size);
      } else {
        gl.uniform4f(u.uView2D, viewProj[0], viewProj[5], viewProj[12], viewProj[13]);
        gl.uniform1f(u.uSize, Math.max(size, f.minPx / pxScale));
      }
      gl.uniform2f(u.uClipScale, f.proj[0], f.proj[5]);
      if (u.uHover) gl.uniform1i(u.uHover, hoverSlot);
      if (u.uCluster) gl.uniform1i(u.uCluster, f.cluster);
      return u;
    };
    const bindSource = (target, tex) => {
      gl.activeTexture(gl.TEXTURE3);
      gl.bindTexture(target, tex);
    };
    const bindList = (tex) => {
      gl.activeTexture(gl.TEXTURE4);
      gl.bindTexture(gl.TEXTURE_2D, tex);
    };
    const members = f.cluster >= 0 ? this.memberRanges.get(f.cluster) : null;

    // pass 1: every image from its atlas cell, one draw per page group (dimmed under a highlight);
    // zoomed into a big map, only those around the view (culled)
    const cull = f.cull && this.cullRanges && !transition;
    let u = use(cull ? "mapList" : "map");
    gl.uniform1f(u.uShade, members ? DIM : 1);
    if (cull) {
      bindList(this.cullTex);
      gl.uniform1i(u.uListWidth, this.dataWidth);
    }
    this.groups.forEach((g, k) => {
      const [first, count] = cull ? this.cullRanges[k] : [g.first, g.count];
      if (!count) return;
      bindSource(gl.TEXTURE_2D_ARRAY, g.tex);
      gl.uniform1f(u.uPageBase, g.base);
      if (cull) {
        gl.uniform1i(u.uListOffset, first);
        gl.drawArrays(gl.TRIANGLES, 0, count * 6);
      } else {
        gl.drawArrays(gl.TRIANGLES, first * 6, count * 6);
      }
      calls++;
    });
    // pass 1b (search, filters): the matched images again, over the dimmed ones; the highlighted one last
    // (zoomed into a big map, where the main pass is culled and few images overlap: only up to 50,000)
    if (state && this.hitsCount && (!cull || this.hitsCount <= 50000)) {
      u = use("hits");
      bindList(this.hitsTex);
      gl.uniform1i(u.uListWidth, this.dataWidth);
      this.groups.forEach((g, k) => {
        const [first, count] = this.hitsRanges[k];
        if (!count) return;
        bindSource(gl.TEXTURE_2D_ARRAY, g.tex);
        gl.uniform1f(u.uPageBase, g.base);
        gl.uniform1i(u.uListOffset, first);
        gl.drawArrays(gl.TRIANGLES, 0, count * 6);
        calls++;
      });
    }
    if (state && this.highlight >= 0) {
      const slot = this.slotOf[this.highlight];
      const g = this.groups.find((grp) => slot >= grp.first && slot < grp.first + grp.count);
      if (g) {
        u = use("one");
        gl.uniform1i(u.uSlot, slot);
        bindSource(gl.TEXTURE_2D_ARRAY, g.tex);
        gl.uniform1f(u.uPageBase, g.base);
        gl.drawArrays(gl.TRIANGLES, 0, 6);
        calls++;
      }
    }
    const thumbs = (from, to) => {
      if (to <= from || f.thumbs === false) return;
      bindList(this.thumbListTex);
      if (this.thumbListDirty) {
        gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, this.thumbSlots, 1, gl.RGBA_INTEGER, gl.INT, this.thumbList);
        this.thumbListDirty = false;
      }
      u = use("thumbs");
      gl.uniform1i(u.uListWidth, this.thumbSlots);
      gl.uniform1i(u.uListOffset, from);
      bindSource(gl.TEXTURE_2D_ARRAY, this.thumbTex);
      gl.drawArrays(gl.TRIANGLES, 0, (to - from) * 6);
      calls++;
    };
    const tiles = (part) => {
      const tt = this.tiles;
      if (!tt || f.tiles === false || !tt.resident.size) return;
      const ranges = tt.ranges(part, f.cluster);
      if (!ranges.length) return;
      bindList(tt.listTex);
      u = use(f.cluster >= 0 ? "tiles" : "tilesLean");
      if (u.uShade) gl.uniform1f(u.uShade, 1);
      gl.uniform1i(u.uListWidth, LIST_WIDTH);
      gl.uniform1f(u.uTileInv, tt.inv);
      for (const r of ranges) {
        bindSource(gl.TEXTURE_2D_ARRAY, tt.groups[r.g].tex);
        gl.uniform1i(u.uListOffset, r.offset);
        gl.drawArrays(gl.TRIANGLES, 0, r.count * 6);
        calls++;
      }
    };
    if (this.thumbListCluster !== f.cluster) this._rebuildThumbList(f.cluster);
    // pass 2: images whose level-1 tile is resident, from the tile; then loaded thumbnails on top
    // (both: images outside a highlighted hotspot)
    tiles(0);
    thumbs(0, this.thumbSplit);
    // pass 3: a highlighted hotspot's members on top, outlined, then their thumbnails
    if (members && members[1] > 0) {
      u = use("members");
      bindList(this.memberListTex);
      gl.uniform1i(u.uListWidth, this.dataWidth);
      for (const g of this.groups) {
        // the members on this page group: a sub-range (member slots ascend, groups are slot ranges)
        const [first, count] = this._memberSubRange(members, g);
        if (!count) continue;
        bindSource(gl.TEXTURE_2D_ARRAY, g.tex);
        gl.uniform1f(u.uPageBase, g.base);
        gl.uniform1i(u.uListOffset, first);
        gl.drawArrays(gl.TRIANGLES, 0, count * 6);
        calls++;
      }
    }
    tiles(1);
    thumbs(this.thumbSplit, this.thumbCount);
    // the similarity graph's lines over the images (graph.js; set by discover.js while shown)
    if (this.graph) calls += this.graph.draw(f, {A, B, transition, viewProj, W, H});
    // pass 4: the lightbox-size image of the image filling the view
    if (f.big >= 0 && f.big === this.bigImage) {
      u = use("big");
      gl.uniform1i(u.uSlot, this.slotOf[f.big]);
      bindSource(gl.TEXTURE_2D, this.bigTex);
      gl.drawArrays(gl.TRIANGLES, 0, 6);
      calls++;
    }
    // pass 5: the hovered image's outline
    if (hoverSlot >= 0) {
      u = use("hover");
      gl.uniform1i(u.uSlot, hoverSlot);
      gl.drawArrays(gl.TRIANGLES, 0, 6);
      calls++;
    }
    gl.bindVertexArray(null);
    this.drawCalls = calls;
  }
}
