// Following resemblances (site format 5): the lightbox's "Similar" strip (the image's k nearest
// neighbours, neighbors.js) with "show on map"; likes (a heart in the lightbox, or H over an image;
// likes.js) and the "For you" panel that ranks unseen, unliked images by their nearness to the liked set
// (recommend.js, from the compact vectors, vectors.js, loaded when the first like happens); the
// similarity graph (graph.js; the G key or the graph button). Also its part of window.pixmap (api.js).
// Every title shown comes from metadata and is set as text.
import {el, formatBytes, svgIcon} from "./dom.js";
import {titleOf} from "./meta.js";
import {imageFileUrl} from "./paths.js";
import {NeighborIndex} from "./neighbors.js";
import {VectorStore} from "./vectors.js";
import {Likes, likesKey} from "./likes.js";
import {recommend} from "./recommend.js";
import {GraphLayer} from "./graph.js";

export const PANEL_COUNT = 24;   // recommendations in the panel
const NEAR_LIKES = 64;           // the most recent likes whose neighbours are recommendation candidates
/** The graph button's icon: a few nodes joined by edges. */
function graphIcon() {
  const nodes = [[5, 6], [12, 9], [18, 5], [10, 17], [18, 16]];
  return svgIcon([
    ["path", {d: "M5 6l7 3M12 9l6-4M12 9l-2 8M10 17l8-1M5 6l5 11", fill: "none", stroke: "currentColor", "stroke-width": "1.5"}],
    ...nodes.map(([cx, cy]) => ["circle", {cx, cy, r: "1.9", fill: "currentColor"}]),
  ]);
}

export class Discover {
  /** app: the viewer (site, loader, meta, renderer, lightbox, setSelection, openIndex, ...). */
  constructor(app) {
    this.app = app;
    const m = app.site.manifest;
    this.neighbors = new NeighborIndex(app.loader, m);
    this.vectors = new VectorStore(app.loader, m);
    this.likes = new Likes(likesKey());
    this.seen = new Set();     // images opened in the lightbox since the page loaded (the panel skips them)
    this.graph = null;         // the GraphLayer, once the graph was first shown
    this.graphOn = false;
    this.graphLoading = null;
    this.recs = new Uint32Array(0); // the panel's recommendations
    this.timing = {recommendMs: 0, graphLoadMs: 0};
    this.refreshSeq = 0;
    this._buildUi();
    this.likes.onChange(() => this._likesChanged());
    window.addEventListener("keydown", (e) => this._onKey(e));
    this._likesChanged();
  }

  // ------------------------------------------------------------------------------ similar images
  /** Image i's neighbours, best first (Uint32Array of indices; a promise). */
  async similar(i) {
    return (await this.neighbors.of(i)).ids.slice();
  }

  /** Show image i and its neighbours on the map: they become the selection, and the view frames them. */
  async showSimilar(i) {
    const app = this.app;
    const set = [i, ...(await this.similar(i))];
    app.lightbox.close();
    app.setSelection(set, "replace");
    const f = app._frameImages(set);
    if (f) await app.animator.start(app.cameras[f.kind], f.state, 900);
  }

  // ------------------------------------------------------------------------------ likes
  /** Like or unlike image i (value: true, false, or undefined to toggle); resolves to whether it is liked. */
  async setLiked(i, value) {
    const id = await this.app.meta.id(i);
    if (id === null || id === undefined) throw new Error(`no image ${i}`);
    const liked = value === undefined ? !this.likes.has(id) : !!value;
    if (liked) this.likes.add(id);
    else this.likes.remove(id);
    return liked;
  }

  isLiked(i) {
    const id = this.app.meta.idSync(i);
    return id !== null && this.likes.has(id);
  }

  /** The liked images' indices, oldest like first (ids no longer in the map are left out). */
  async likedIndices() {
    const meta = this.app.meta;
    const found = await Promise.all(this.likes.ids().map((id) => {
      const i = meta.indexOfSync(id);
      return i >= 0 || meta.complete() ? i : meta.indexOf(id);
    }));
    return found.filter((i) => i >= 0);
  }

  /** Candidates near the liked images: their neighbours, and the neighbours' neighbours already loaded. */
  async _nearLiked(liked) {
    if (!this.neighbors.available) return [];
    const recent = liked.slice(-NEAR_LIKES);
    const lists = await Promise.all(recent.map((i) => this.neighbors.of(i).catch(() => null)));
    const near = new Set();
    for (const l of lists) {
      if (!l) continue;
      for (const j of l.ids) {
        near.add(j);
        const two = this.neighbors.ofSync(j);
        if (two) for (const h of two.ids) near.add(h);
      }
    }
    return [...near];
  }

  /** The k best images for the likes, best first (Uint32Array of indices; never a liked image); skipSeen:
   *  also never one opened in the lightbox since the page loaded (the panel). */
  async recommendIndices(k = PANEL_COUNT, {skipSeen = false} = {}) {
    const store = await this.vectors.load((p) => this._progress(p));
    const liked = await this.likedIndices();
    if (!liked.length) return new Uint32Array(0);
    const near = await this._nearLiked(liked);
    const seen = this.seen;
    const t0 = performance.now();
    const result = recommend(store, liked, k, {near, exclude: skipSeen && seen.size ? (i) => seen.has(i) : null});
    this.timing.recommendMs = performance.now() - t0;
    return result.indices;
  }

  // ------------------------------------------------------------------------------ the graph
  /** Show or hide the similarity graph (loads every neighbour chunk the first time). */
  async showGraph(on) {
    on = !!on;
    if (on && !this.neighbors.available) throw new Error("this map has no similar images to draw a graph of (a site of format version 5 has them)");
    this.graphOn = on;
    this.graphButton.setAttribute("aria-pressed", String(on));
    if (on && !this.graph) {
      if (!this.graphLoading) {
        const t0 = performance.now();
        this.graphButton.classList.add("loading");
        this.graphLoading = this.neighbors.all((done, of) => {
          this.graphButton.title = `Similarity graph (G): loading ${done} of ${of}`;
        }).then(({ids, q}) => {
          const layer = new GraphLayer(this.app.renderer);
          layer.setEdges(ids, q, this.neighbors.k);
          this.graph = layer;
          this.app.renderer.graph = layer;
          this.timing.graphLoadMs = performance.now() - t0;
        }).finally(() => {
          this.graphLoading = null;
          this.graphButton.classList.remove("loading");
          this.graphButton.title = "Similarity graph (G): each image's nearest neighbours as lines";
        });
      }
      await this.graphLoading;
    }
    if (this.graph) {
      this.graph.visible = this.graphOn;
      this.graph.focus = this.app.lightbox.isOpen ? this.app.lightbox.index : -1;
    }
    this.app.requestFrame();
    return this.graphOn;
  }

  // ------------------------------------------------------------------------------ the lightbox
  /** The lightbox shows image i (or closed, -1): add the heart and the "Similar" strip. */
  lightboxChanged(i) {
    if (this.graph) {
      this.graph.focus = i;
      if (this.graphOn) this.app.requestFrame();
    }
    if (i < 0) return;
    this.seen.add(i);
    const root = this.app.lightbox.root;
    const info = root.querySelector(".info");
    if (!info || root.dataset.loading) return; // (called again once the image's data is in)
    const old = info.querySelector(".discover-lb");
    if (old) old.remove();
    const section = el("section", {className: "discover-lb"});
    const heart = el("button", {type: "button", className: "like", "aria-pressed": "false",
      title: "Like (H): recommendations follow what you like"});
    const paint = () => {
      const on = this.isLiked(i);
      heart.setAttribute("aria-pressed", String(on));
      heart.textContent = on ? "♥ Liked" : "♡ Like";
    };
    paint();
    heart.addEventListener("click", () => this.setLiked(i).then(paint, (err) => this._note(err.message)));
    section.append(heart);
    this._paintHeart = paint;
    if (this.neighbors.available) {
      const strip = el("ol", {className: "similar-strip", "aria-label": "Similar images"});
      const show = el("button", {type: "button", className: "show-similar",
        title: "Select this image and its similar ones and show them on the map"}, "Show on map");
      show.addEventListener("click", () => this.showSimilar(i).catch((err) => this._note(err.message)));
      section.append(el("h3", {text: "Similar"}), strip, show);
      this.similar(i).then((ids) => {
        if (this.app.lightbox.index !== i) return;
        strip.replaceChildren(...Array.from(ids, (j) => el("li", {}, this._thumb(j, () => this.app.openIndex(j)))));
      }, (err) => strip.replaceChildren(el("li", {className: "note", text: `Similar images could not be loaded: ${err.message}`})));
    }
    info.append(section);
  }

  // ------------------------------------------------------------------------------ UI
  _buildUi() {
    const app = this.app;
    // the graph button, with the map's other controls
    this.graphButton = el("button", {type: "button", "aria-pressed": "false", dataset: {action: "graph"},
      title: "Similarity graph (G): each image's nearest neighbours as lines", "aria-label": "Similarity graph"});
    this.graphButton.append(graphIcon());
    this.graphButton.addEventListener("click", () => this.showGraph(!this.graphOn).catch((err) => this._note(err.message)));
    this.graphButton.hidden = !this.neighbors.available;
    document.getElementById("controls").prepend(this.graphButton);

    // the likes button in the top bar, and the "For you" panel it opens
    this.likesButton = el("button", {id: "likes-toggle", type: "button", "aria-expanded": "false",
      "aria-controls": "discover", title: "Likes and recommendations"});
    this.likesButton.addEventListener("click", () => this.togglePanel());
    document.getElementById("topbar").append(this.likesButton);
    this.status = el("p", {className: "disc-status", role: "status", "aria-live": "polite"});
    this.likedList = el("ol", {className: "disc-thumbs liked", "aria-label": "Liked images"});
    this.recList = el("ol", {className: "disc-thumbs recs", "aria-label": "Recommended images"});
    this.selectRecs = el("button", {type: "button", dataset: {action: "select-recommended"},
      title: "Select the recommended images (and show them on the map)"}, "Select recommended");
    this.selectRecs.addEventListener("click", () => this.selectRecommended());
    this.clearLikes = el("button", {type: "button", dataset: {action: "clear-likes"}, title: "Forget every like on this map"}, "Clear likes");
    this.clearLikes.addEventListener("click", () => this.likes.clear());
    const close = el("button", {type: "button", className: "close", "aria-label": "Close", title: "Close"}, "×");
    close.addEventListener("click", () => this.togglePanel(false));
    this.likedHead = el("h2", {text: "Liked"});
    this.panel = el("aside", {id: "discover", "aria-label": "Likes and recommendations", hidden: true},
      el("div", {className: "disc-head"}, el("strong", {text: "For you"}), this.clearLikes, close),
      this.likedHead, this.likedList,
      el("h2", {text: "Recommended for you"}), this.status, this.recList,
      el("div", {className: "disc-actions"}, this.selectRecs));
    document.getElementById("stage").append(this.panel);
    this.toast = el("div", {id: "discover-toast", role: "status", hidden: true});
    document.getElementById("stage").append(this.toast);
    void app;
  }

  get panelOpen() {
    return !this.panel.hidden;
  }

  togglePanel(open = !this.panelOpen) {
    this.panel.hidden = !open;
    this.likesButton.setAttribute("aria-expanded", String(open));
    if (open) this.refresh();
  }

  async selectRecommended() {
    const app = this.app;
    if (!this.recs.length) return;
    app.setSelection(this.recs, "replace");
    const f = app._frameImages(this.recs);
    if (f) await app.animator.start(app.cameras[f.kind], f.state, 900);
  }

  /** A thumbnail button of image i (the thumbnail file, else the lightbox image); onclick opens it. */
  _thumb(i, onclick) {
    const meta = this.app.meta, m = this.app.site.manifest;
    const entry = m.thumbs && m.thumbs.size > 0 ? m.thumbs : m.lightbox;
    const img = el("img", {alt: "", loading: "lazy", decoding: "async"});
    const button = el("button", {type: "button", className: "thumb", dataset: {index: String(i)}, onclick}, img);
    meta.id(i).then((id) => {
      img.src = imageFileUrl(entry, id);
      button.dataset.id = id;
      return meta.row(i).then((row) => {
        const title = titleOf(meta.fields, row, id) || id;
        img.alt = title;
        button.title = title;
      });
    }).catch(() => {});
    return button;
  }

  _onKey(e) {
    if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey) return;
    const tag = e.target && e.target.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") return;
    const app = this.app;
    if ((e.key === "g" || e.key === "G") && !app.lightbox.isOpen && this.neighbors.available) {
      this.showGraph(!this.graphOn).catch((err) => this._note(err.message));
    } else if (e.key === "h" || e.key === "H") {
      const i = app.lightbox.isOpen ? app.lightbox.index : app.hover;
      if (i < 0) return;
      this.setLiked(i).then((on) => {
        if (app.lightbox.isOpen && this._paintHeart) this._paintHeart();
        else if (app.hover === i) app._setHoverNow(i); // the tooltip's heart
        const title = app.titleOf(i) || "this image";
        this._note(on ? `♥ Liked “${title}” (H again to unlike)` : `Unliked “${title}”`);
      }, (err) => this._note(err.message));
    } else {
      return;
    }
    e.preventDefault();
  }

  _note(text) {
    this.toast.textContent = text;
    this.toast.hidden = false;
    clearTimeout(this._toastTimer);
    this._toastTimer = setTimeout(() => { this.toast.hidden = true; }, 3500);
  }

  _progress(p) {
    if (p.chunks < p.of) this.status.textContent = `Loading the vectors: ${formatBytes(p.bytes)} of ${formatBytes(this.vectors.bytes)}…`;
  }

  _likesChanged() {
    const count = this.likes.size;
    this.likesButton.textContent = `♥ ${count}`;
    this.likesButton.classList.toggle("has-likes", count > 0);
    this.clearLikes.disabled = count === 0;
    // the first like starts loading the vectors (a big map's take a while)
    if (count > 0 && this.vectors.available) this.vectors.load((p) => this._progress(p)).catch(() => {});
    if (this.panelOpen) this.refresh();
  }

  /** Redraw the panel: the liked images, then the recommendations (after the vectors load). */
  async refresh() {
    const seq = ++this.refreshSeq;
    const liked = await this.likedIndices();
    if (seq !== this.refreshSeq) return;
    this.likedHead.textContent = `Liked (${liked.length})`;
    this.likedList.replaceChildren(...liked.slice().reverse().map((i) => el("li", {}, this._thumb(i, () => this.app.openIndex(i)))));
    this.recs = new Uint32Array(0);
    this.selectRecs.disabled = true;
    this.recList.replaceChildren();
    if (!this.vectors.available) {
      this.status.textContent = "This map has no vectors for recommendations (it was built with --no-vectors).";
      return;
    }
    if (!liked.length) {
      this.status.textContent = "Like images (♡ in the lightbox, or H over an image) and images like them appear here.";
      return;
    }
    if (!this.vectors.loaded) this.status.textContent = "Loading the vectors…";
    let recs;
    try {
      recs = await this.recommendIndices(PANEL_COUNT, {skipSeen: true});
    } catch (err) {
      if (seq === this.refreshSeq) this.status.textContent = `Recommendations are not available: ${err.message}`;
      return;
    }
    if (seq !== this.refreshSeq) return;
    this.recs = recs;
    this.selectRecs.disabled = !recs.length;
    this.status.textContent = recs.length ? "" : "Nothing left to recommend.";
    this.recList.replaceChildren(...Array.from(recs, (i) => el("li", {}, this._thumb(i, () => this.app.openIndex(i)))));
  }

  stats() {
    return {likes: this.likes.size, vectorsLoaded: this.vectors.progress.chunks, vectorChunks: this.vectors.progress.of,
      recommendMs: this.timing.recommendMs, graphLoadMs: this.timing.graphLoadMs, ...this.neighbors.stats(),
      ...(this.graph ? this.graph.stats() : {graphVisible: false})};
  }
}

/** Its part of window.pixmap (api.js): similar, like, unlike, likes, recommend, showGraph. */
export function discoverApi(app, {need, find}) {
  const d = () => {
    need();
    return app.discover;
  };
  const ids = (indices) => Promise.all(Array.from(indices, (i) => app.meta.id(i)));
  return {
    /** The ids of the image's k most similar images, best first (a promise). */
    similar: async (id) => ids(await d().similar(await find(id))),
    /** Like an image (persisted in this browser); resolves to true when it was not liked before. */
    like: async (id) => {
      const dd = d();
      await find(id);
      return dd.likes.add(String(id));
    },
    unlike: async (id) => {
      const dd = d();
      await find(id);
      return dd.likes.remove(String(id));
    },
    /** The liked ids, oldest first. */
    likes: () => d().likes.ids(),
    /** The ids of the k images recommended for the likes, best first (never a liked image; a promise). */
    recommend: async (k = PANEL_COUNT) => ids(await d().recommendIndices(k)),
    /** Show (true) or hide the similarity graph; resolves once it is drawn. */
    showGraph: async (on = true) => {
      const dd = d();
      await dd.showGraph(on);
      app.renderNow();
      return dd.graphOn;
    },
  };
}
