// pixmap viewer: wires data, renderer, cameras, level of detail, picking and the UI together.
// The first frame needs the manifest, the default layout and atlas level 0; on a version-3 site the
// hotspots, level-1 tiles' index, ids and metadata load after it (or when something needs them).
import {createContext} from "./gl.js";
import {Loader, loadSite, loadLayout} from "./data.js";
import {Renderer} from "./renderer.js";
import {FlatMeta, ChunkedMeta} from "./meta.js";
import {GpuBudget, budgetBytes, reserveBudget} from "./budget.js";
import {imageFileUrl} from "./paths.js";
import {detail} from "./detail.js";
import {ViewCull} from "./cull.js";
import {Camera2D, Camera3D, CameraAnimator} from "./camera.js";
import {Picker, quadShapes} from "./picking.js";
import {ThumbLoader} from "./lod.js";
import {Lightbox} from "./lightbox.js";
import {HotspotPanel} from "./hotspots.js";
import {LayoutSwitcher, transitions} from "./layouts.js";
import {navigation} from "./navigation.js";
import {interaction} from "./interaction.js";
import {LabelLayer} from "./labels.js";
import {parseHash, HashWriter} from "./urlstate.js";
import {installApi} from "./api.js";
import {Find} from "./find.js";
import {FindUi} from "./findui.js";
import {selecting} from "./selection.js";
import {SelectionUi} from "./selectionui.js";
import {Discover} from "./discover.js";
import {HotspotEditor} from "./hotspotedit.js";
import {ClusterSets} from "./clustersets.js";
import {reportLink} from "./reportlink.js";
import {Duplicates} from "./duplicates.js";
import {attachInput} from "./input.js";
import {showMessage, formatBytes} from "./dom.js";
import {Embed} from "./embed.js"; // (inside an <iframe>: ?ui=none|minimal, postMessage events to the host page)

const $ = (id) => document.getElementById(id);

class App {
  constructor() {
    this.canvas = $("map");
    this.stage = $("stage");
    this.tooltip = $("tooltip");
    this.ready = new Promise((resolve, reject) => {
      this._resolveReady = resolve;
      this._rejectReady = reject;
    });
    this.ready.catch(() => {}); // failures are shown on the page; callers still see the rejection
    this.raf = 0;
    this.hover = -1;
    this.hoverCluster = -1;
    this.selectedCluster = -1;
    this.selection = null; // Uint32Array of image indices, or null
    this.pendingHover = null;
    this.transition = null;
    this.bigWanted = -1;
    this.frames = 0;
    this.frameMs = 0;
    this.firstFrameMs = null;
    this.firstShownMs = null;
    this.frameAt = 0;
    this.vp = {width: 1, height: 1};
    this.dpr = 1;
    this.tileStream = null;
    this.pendingOpenId = null; // an id being looked up (version 3) to open
    this.pickMs = 0;
    this.pickMsMax = 0;
    this.clustersReady = new Promise((resolve) => { this._clustersLoaded = resolve; });
    this.preloaded = Promise.resolve();
    this.findRestored = Promise.resolve(); // search, filters and colouring from the link applied
    this.hotspotsRestored = Promise.resolve(); // unsaved hotspot edits (hotspotedit.js) replayed
  }

  // ---------------------------------------------------------------- start-up
  async start() {
    try {
      if (location.protocol === "file:") throw Object.assign(new Error("file://"), {shown: true});
      const ctx = createContext(this.canvas);
      if (!ctx) {
        showMessage("This map needs WebGL2",
          "Your browser did not provide a WebGL2 context, so the map cannot be drawn.",
          "Try a current version of Chrome, Edge, Firefox or Safari, and check that hardware acceleration " +
          "(graphics acceleration) is enabled in the browser settings.");
        throw Object.assign(new Error("WebGL2 is not available"), {shown: true});
      }
      this.gl = ctx.gl;
      this.caps = ctx.caps;
      // Testing aids: ?max-texture-size=1024&max-array-layers=2 pretend to be a smaller GPU (only lower).
      const query = new URLSearchParams(location.search);
      for (const [param, cap] of [["max-texture-size", "maxTextureSize"], ["max-array-layers", "maxArrayLayers"]]) {
        const v = Math.floor(Number(query.get(param)));
        if (v >= 1) this.caps[cap] = Math.min(this.caps[cap], v);
      }
      this.budget = new GpuBudget(budgetBytes(query)); // ?gpu-budget=<MB>
      this.canvas.addEventListener("webglcontextlost", (e) => {
        e.preventDefault();
        this.contextLost = true;
        showMessage("The graphics context was lost", "The browser stopped the map's WebGL context. Reload the page to continue.");
      });
      await this._load();
    } catch (err) {
      if (!err.shown) {
        showMessage("The map could not be loaded", err.message || String(err),
          "If you opened the site yourself, check that the folder is complete (serve it with: pixmap serve <folder>).");
        console.warn("pixmap:", err);
      }
      this._rejectReady(err);
    }
  }

  async _load() {
    const bar = $("loading-bar"), text = $("loading-text");
    this.loader = new Loader((loaded, total) => {
      const frac = total ? Math.min(1, loaded / total) : 0;
      bar.style.width = `${(frac * 100).toFixed(1)}%`;
      text.textContent = total ? `${formatBytes(loaded)} of ${formatBytes(total)}` : formatBytes(loaded);
    });
    // GPU budget: kept for the data textures, thumbnails and the big image (reserveBudget); atlas level 0
    // gets at most half of the rest (its pages are scaled down when larger), level-1 tiles the others
    const budget = this.budget;
    let sizes = null;
    const site = await loadSite(this.loader, {maxTextureSize: this.caps.maxTextureSize, pageRoom: (manifest) => {
      sizes = reserveBudget(budget, manifest, this.caps);
      return budget.room("pages") / 2;
    }});
    performance.mark("pixmap:data"); // (marks for benchmarks: data but pages loaded, on the GPU, first frame)
    this.site = site;
    const n = site.count;
    const m = site.manifest;
    document.title = m.title ? `${m.title} · pixmap` : "pixmap";
    $("title").textContent = m.title || "pixmap";
    this.meta = site.chunked ? new ChunkedMeta(this.loader, m) : new FlatMeta(site);
    if (site.clusters) this._clustersLoaded();

    const {hasThumbs, thumbSize, thumbSlots, bigMax} = sizes;
    this.renderer = new Renderer(this.gl, this.caps, site, {thumbSlots, budget, pageTexSize: site.pageSize});
    this.picker = new Picker(quadShapes(site.cells, n), n);
    const cullMin = Number(new URLSearchParams(location.search).get("cull-min")); // (testing aid)
    this.cull = new ViewCull(this.renderer, n, cullMin >= 1 ? cullMin : undefined);
    this.hotspotPanel = new HotspotPanel($("hotspots"), site.hotspots, {
      onHover: (id) => this.setHoverCluster(id),
      onSelect: (h) => this.selectHotspot(h.id),
    });
    // atlas pages go to the GPU as they decode
    await Promise.all(site.pages.map((page, i) => page.then((bitmap) => {
      this.renderer.uploadPage(i, bitmap);
      this.hotspotPanel.drawFromPage(i, bitmap, site.cells, m.atlas.size);
      bitmap.close();
    })));
    const meta = this.meta;
    const fileUrl = (entry, i) => {
      const id = meta.idSync(i);
      return id !== null ? imageFileUrl(entry, id) : meta.id(i).then((v) => imageFileUrl(entry, v));
    };
    this.thumbs = new ThumbLoader({
      renderer: this.renderer,
      thumbSize,
      thumbs: hasThumbs,
      bigMax,
      thumbUrl: (i) => fileUrl(m.thumbs, i),
      bigUrl: (i) => fileUrl(m.lightbox, i),
      onChange: () => this.requestFrame(),
    });
    this.thumbPx = thumbSize;

    this.cameras = {"2d": new Camera2D(), "3d": new Camera3D()};
    this.animator = new CameraAnimator(() => this.requestFrame());
    this.labels = new LabelLayer($("labels"));
    this.lightbox = new Lightbox($("lightbox"), site, meta, (i) => this._lightboxChanged(i));
    this.switcher = new LayoutSwitcher(
      {nav: $("layouts"), variantBox: $("variant"), slider: $("variant-slider"), sliderLabel: $("variant-label")},
      site.layouts, (name) => this.setLayout(name).catch((err) => this._layoutError(err)));
    this.hash = new HashWriter(() => this._hashState());

    // restore the view from the URL, if any
    const saved = parseHash(location.hash);
    let layout = site.initial;
    const wanted = saved.layout && site.layouts.find((l) => l.name === saved.layout);
    if (wanted && wanted !== layout) {
      try {
        await loadLayout(this.loader, wanted, n);
        layout = wanted;
      } catch (err) {
        console.warn("pixmap: layout from the link could not be loaded:", err.message);
      }
    }
    this._useLayout(layout);
    this.camera = this.cameras[layout.dims === 3 ? "3d" : "2d"];
    attachInput(this.canvas, this);
    this._bindUi(); // (opens or closes the panel: before measuring the map)
    this._resize();
    if (saved.camera) this.camera.state = saved.camera;
    if (saved.hotspot !== null && site.hotspots.some((h) => h.id === saved.hotspot)) this._select(saved.hotspot);

    new ResizeObserver(() => this._resize()).observe(this.stage);
    window.addEventListener("resize", () => this._resize());
    window.addEventListener("hashchange", () => this._applyHash());

    performance.mark("pixmap:gpu");
    this.renderNow();
    this.firstFrameMs = performance.now();
    performance.mark("pixmap:first-frame");
    // (the next frame callback comes once the browser has taken that frame to the screen)
    requestAnimationFrame(() => { this.firstShownMs = performance.now(); });
    const loading = $("loading");
    loading.classList.add("done");
    setTimeout(() => { loading.hidden = true; }, 350);
    if (saved.open) this.openById(saved.open, {quiet: true});
    this._scheduleLod();
    // search, filters and colouring (version 4; the UI stays hidden on sites without them)
    this.find = new Find(this);
    this.findUi = new FindUi(this.find, this);
    this.findRestored = this.find.restore(saved);
    this.selectionUi = new SelectionUi(this); // (selection.js, lasso.js, export.js)
    this.discover = new Discover(this); // similar images, likes, recommendations, the graph (discover.js)
    if (saved.hotspot === null) this.selectionRestored = this.restoreSelection(saved);
    this.hotspotEdit = new HotspotEditor(this); // (the hotspot panel's Edit mode)
    this.hotspotsRestored = this.hotspotEdit.start();
    this.clusterSets = new ClusterSets(this); // (site format 6: several hotspot sets, their quality and order)
    this.clusterSetsRestored = this.clusterSets.restore(saved).then(() => {
      if (saved.clusters && saved.hotspot !== null && this.site.hotspots.some((h) => h.id === saved.hotspot)) this._select(saved.hotspot);
    }).catch((err) => console.warn("pixmap: hotspot set from the link:", err.message || err));
    reportLink(this); // (site format 6: report.html, when the site has one)
    this.duplicates = new Duplicates(this); // (site format 6: the near-duplicate groups, when there are any)
    this.embed = new Embed(this); // (embed.js: events for the host page when framed)
    this._resolveReady();
    this._loadLater();
    this._prefetchLayouts();
    this.renderer.warmUp([...new Set(this.site.layouts.map((l) => (l.dims === 3 ? 3 : 2)))]);
  }

  _prefetchLayouts() {
    // small collections: fetch every layout now so switching is instant; big ones load on demand
    const bytes = this.site.layouts.reduce((s, l) => s + this.site.count * l.dims * 4, 0);
    if (bytes > 8e6) return;
    for (const l of this.site.layouts) loadLayout(this.loader, l, this.site.count).catch(() => {});
  }

  _bindUi() {
    const app = $("app");
    const toggle = $("panel-toggle");
    const setPanel = (open) => {
      app.classList.toggle("panel-closed", !open);
      toggle.setAttribute("aria-expanded", String(open));
    };
    setPanel(window.innerWidth > 760 && this.site.hotspots.length > 0);
    toggle.addEventListener("click", () => setPanel(app.classList.contains("panel-closed")));
    $("controls").addEventListener("click", (e) => {
      const action = e.target.closest("button") && e.target.closest("button").dataset.action;
      const cx = this.vp.width / 2, cy = this.vp.height / 2;
      if (action === "zoom-in") this.zoomAnimated(1.6, cx, cy);
      else if (action === "zoom-out") this.zoomAnimated(1 / 1.6, cx, cy);
      else if (action === "reset") this.resetView();
    });
    window.addEventListener("keydown", (e) => this._onKey(e));
  }

  _onKey(e) {
    if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey) return;
    if (this.lightbox.isOpen) {
      if (e.key === "Escape") this.lightbox.close();
      else if (e.key === "ArrowLeft") this.lightbox.step(-1);
      else if (e.key === "ArrowRight") this.lightbox.step(1);
      else return;
      e.preventDefault();
      return;
    }
    const tag = e.target && e.target.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") return;
    const cx = this.vp.width / 2, cy = this.vp.height / 2;
    const step = Math.min(this.vp.width, this.vp.height) * 0.2;
    switch (e.key) {
      case "+": case "=": this.zoomAnimated(1.6, cx, cy); break;
      case "-": case "_": this.zoomAnimated(1 / 1.6, cx, cy); break;
      case "0": this.resetView(); break;
      case "ArrowLeft": this._keyMove(-step, 0); break;
      case "ArrowRight": this._keyMove(step, 0); break;
      case "ArrowUp": this._keyMove(0, -step); break;
      case "ArrowDown": this._keyMove(0, step); break;
      case "Escape": this.clearSelection(); this.toggleLasso(false); break;
      case "l": case "L": this.toggleLasso(); break;
      default: return;
    }
    e.preventDefault();
  }

  _lightboxChanged(i) {
    this.hash.schedule();
    if (this.discover) this.discover.lightboxChanged(i);
    if (this.hotspotEdit) this.hotspotEdit.lightboxChanged();
    if (this.embed) this.embed.lightboxChanged(i);
  }

  _applyHash() {
    const saved = parseHash(location.hash);
    if (location.hash === this.hash.written) return;
    const go = async () => {
      if (saved.layout && saved.layout !== this.activeLayout().name) await this.setLayout(saved.layout);
      if (saved.camera) this.setCamera(saved.camera);
      if (saved.open) this.openById(saved.open, {quiet: true});
      else this.lightbox.close();
      if (this.find) this.find.follow(saved);
      if (this.selectionUi) this.followSelection(saved);
      if (this.clusterSets && (saved.clusters || null) !== this.clusterSets.current) await this.clusterSets.show(saved.clusters);
    };
    go().catch((err) => this._layoutError(err));
  }

  _hashState() {
    const lb = this.lightbox;
    const open = (lb && lb.isOpen ? lb.id : null) || this.pendingOpenId;
    const layout = this.activeLayout().name;
    return {layout, camera: this.camera.state, open, hotspot: this.selectedCluster >= 0 ? this.selectedCluster : null,
      clusters: this.clusterSets ? this.clusterSets.current : null,
      ...(this.find ? this.find.state() : {}), ...this.selectionLink()};
  }

  state() {
    const s = this._hashState();
    const selection = this.selection ? Array.from(this.selection, (i) => this.meta.idSync(i)) : [];
    return {layout: s.layout, camera: s.camera, open: s.open, selection, transitioning: !!this.transition,
      hotspot: s.hotspot, query: s.query, filters: s.filters, colorBy: s.colorBy};
  }

  /** Where image i is drawn now (mid-transition too), in page (client) CSS pixels. */
  screenPosition(i) {
    const tr = this.transition;
    let p = this.renderer.positionOf(tr ? tr.fromKey : this.layout.name, i);
    if (tr) {
      const q = this.renderer.positionOf(tr.to.name, i);
      if (!p || !q) return null;
      p = p.map((v, k) => v + (q[k] - v) * tr.t);
    }
    if (!p) return null;
    const s = this.camera.worldToScreen(p[0], p[1], p[2], this.vp);
    if (!s) return null;
    const r = this.canvas.getBoundingClientRect();
    const visible = s[0] >= 0 && s[1] >= 0 && s[0] <= this.vp.width && s[1] <= this.vp.height;
    return {x: r.left + s[0], y: r.top + s[1], size: this.sizeOf(this.activeLayout()) * s[3], visible};
  }

  // ---------------------------------------------------------------- frames
  _resize() {
    const w = Math.max(1, this.stage.clientWidth), h = Math.max(1, this.stage.clientHeight);
    const dpr = Math.min(window.devicePixelRatio || 1, 2);
    this.vp = {width: w, height: h};
    if (dpr !== this.dpr || !this._dprQuery) {
      // moving the window to a screen with another pixel ratio does not always fire "resize"
      if (this._dprQuery) this._dprQuery.removeEventListener("change", this._onDpr);
      this._onDpr = this._onDpr || (() => this._resize());
      this._dprQuery = matchMedia(`(resolution: ${window.devicePixelRatio || 1}dppx)`);
      this._dprQuery.addEventListener("change", this._onDpr);
    }
    this.dpr = dpr;
    const bw = Math.round(w * dpr), bh = Math.round(h * dpr);
    if (this.canvas.width !== bw || this.canvas.height !== bh) {
      this.canvas.width = bw;
      this.canvas.height = bh;
    }
    this.requestFrame();
    this._scheduleLod();
  }

  requestFrame() {
    if (!this.raf && this.renderer) this.raf = requestAnimationFrame((now) => this._frame(now));
  }

  _frame(now) {
    this.raf = 0;
    const moving = this.animator.active; // (also a flight of no duration, which ends in this step)
    let animating = this.animator.step(performance.now());
    if (moving) {
      this._scheduleLod();
      if (this.hover >= 0) this._setHoverNow(-1);
    }
    if (this.transition) animating = this._stepTransition(performance.now()) || animating;
    if (this.pendingHover && !this.transition && !this.animator.active) {
      const [x, y] = this.pendingHover;
      this.pendingHover = null;
      this._setHoverNow(this.pickAt(x, y), x, y);
    }
    this.renderNow();
    if (animating || moving) this.hash.schedule();
    if (animating) this.requestFrame();
  }

  /** Draw one frame now (also used by benchmarks). */
  renderNow() {
    const t0 = performance.now();
    const {view, proj} = this.camera.matrices(this.vp);
    const tr = this.transition;
    const size = this.sizeOf(this.layout);
    const lines = [];
    const labelSets = [];
    if (tr) {
      if (tr.fromLayout) {
        lines.push({key: tr.fromLayout.name, alpha: 1 - tr.t});
        labelSets.push({entry: tr.fromLayout, alpha: 1 - tr.t});
      }
      lines.push({key: tr.to.name, alpha: tr.t});
      labelSets.push({entry: tr.to, alpha: tr.t});
    } else {
      lines.push({key: this.layout.name, alpha: 1});
      labelSets.push({entry: this.layout, alpha: 1});
    }
    this.renderer.draw({
      view, proj, depth: this.camera.kind === "3d",
      a: tr ? tr.fromKey : this.layout.name, b: tr ? tr.to.name : null, t: tr ? tr.t : 0,
      sizeA: tr ? tr.fromSize : size, sizeB: tr ? this.sizeOf(tr.to) : size,
      minPx: this.dpr, hover: this.hover,
      cluster: this.hoverCluster >= 0 ? this.hoverCluster : this.selectedCluster,
      lines, big: tr ? -1 : this.bigWanted, tiles: this._tileDetail(),
      cull: !tr && this.cull.update(this.layout, this.picker.grids.get(this.layout.name) || null, this.camera,
        this.vp, size),
    });
    const cam = this.camera, vp = this.vp;
    const project = cam.kind === "3d" ? cam.projector(vp) : (x, y, z) => cam.worldToScreen(x, y, z, vp);
    this.labels.render(labelSets, project, vp);
    this.frames++;
    this.frameAt = performance.now();
    this.frameMs = this.frameAt - t0;
  }

  stats() {
    const r = this.renderer;
    return {
      count: this.site.count,
      layout: this.layout.name,
      frames: this.frames,
      animating: this.animator.active || !!this.transition,
      compilingShaders: !!r.warming,
      frameMs: this.frameMs,
      firstFrameMs: this.firstFrameMs,
      firstShownMs: this.firstShownMs,
      drawCalls: r.drawCalls,
      pageGroups: r.groups.length,
      pages: r.pageCount,
      dataTexture: [r.dataWidth, r.dataHeight],
      maxTextureSize: this.caps.maxTextureSize,
      maxTextureUnits: this.caps.maxFragmentUnits,
      maxCombinedTextureUnits: this.caps.maxCombinedUnits,
      bytesLoaded: this.loader.loaded,
      version: this.site.manifest.version || 1,
      frameAt: this.frameAt,
      pickMs: this.pickMs,
      pickMsMax: this.pickMsMax,
      pageTextureSize: r.pageTexSize,
      clustersLoaded: !!this.site.clusters,
      tileIndexLoaded: !!this.tileStream,
      lodPending: !!this._lodTimer,
      contextLost: !!this.contextLost,
      ...this.thumbs.stats(),
      ...this.cull.stats(),
      ...this.budget.stats(),
      ...this.meta.stats(),
      ...(this.tileStream ? this.tileStream.stats() : {}),
      ...(this.find ? this.find.stats() : {}),
      ...this.selectionStats(),
      ...(this.discover ? this.discover.stats() : {}),
      hotspotSet: this.clusterSets ? this.clusterSets.current : null,
    };
  }
}

// The App's methods live in a few modules: camera navigation, layout transitions, interaction,
// level of detail (tiles, thumbnails) and what loads after the first frame.
Object.assign(App.prototype, navigation, transitions, interaction, detail, selecting);

const app = new App();
installApi(app);
app.start();
