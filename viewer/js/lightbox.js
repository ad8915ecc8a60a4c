// The lightbox: large image (deep zoom where the image has an Image API service: deepzoom.js), its
// attribution and rights under it, every metadata field (as text), permalink, download, previous/next.
// On a version-3 site the image's id and row may still be loading (meta.js): the lightbox shows a
// short loading state, then the image.
import {el, safeHttpUrl, displayValue} from "./dom.js";
import {DeepZoomIndex, DeepZoomView} from "./deepzoom.js";
import {imageFileUrl} from "./paths.js";
import {PaletteIndex, swatchBar} from "./palette.js";

/** A short name for a well-known rights URL (Creative Commons, RightsStatements.org), else the URL. */
export function rightsLabel(url) {
  let u;
  try {
    u = new URL(url);
  } catch {
    return url;
  }
  const parts = u.pathname.split("/").filter(Boolean);
  if (/(^|\.)creativecommons\.org$/.test(u.hostname)) {
    if (parts[0] === "licenses" && parts[1]) return `CC ${parts[1].toUpperCase()}${parts[2] ? " " + parts[2] : ""}`;
    if (parts[0] === "publicdomain" && parts[1] === "zero") return `CC0${parts[2] ? " " + parts[2] : ""}`;
    if (parts[0] === "publicdomain" && parts[1] === "mark") return "Public Domain Mark";
  }
  if (/(^|\.)rightsstatements\.org$/.test(u.hostname) && parts[0] === "vocab" && parts[1]) {
    return `RightsStatements.org ${parts[1]}`;
  }
  return url;
}

export class Lightbox {
  /**
   * root: the #lightbox element; site: {manifest}; meta: ids and rows (meta.js);
   * onChange(index | -1): called when the shown image changes (or its id becomes known) or it closes.
   */
  constructor(root, site, meta, onChange) {
    this.root = root;
    this.site = site;
    this.meta = meta;
    this.onChange = onChange;
    this.index = -1;
    this.list = null; // {length, at(k), indexOf(i), label}
    this.returnFocus = null;
    this.deepZoom = new DeepZoomIndex(site.manifest); // data/deep-zoom.json: fetched when first needed
    this.palette = new PaletteIndex(site.manifest);   // data/palette.u8 (version 6): fetched on first open
    this.zoom = null;    // the DeepZoomView of the image shown, if any
    this.shown = 0;      // counts renders: an answer for an image no longer shown is dropped
    root.addEventListener("click", (e) => {
      const t = e.target;
      if (t === root || t.tagName === "FIGURE" || (t.classList && t.classList.contains("view"))) this.close();
    });
    // + - 0 zoom the deep-zoom view (OpenSeadragon handles them itself while its canvas has the focus)
    window.addEventListener("keydown", (e) => {
      const zoom = this.zoom;
      if (!this.isOpen || !zoom || !zoom.ready || zoom.hasFocus) return;
      if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey) return;
      if (e.key === "+" || e.key === "=") zoom.zoomBy(1.6);
      else if (e.key === "-" || e.key === "_") zoom.zoomBy(1 / 1.6);
      else if (e.key === "0") zoom.home();
      else return;
      e.preventDefault();
    });
  }

  get isOpen() {
    return this.index >= 0;
  }

  imageUrl(i) {
    return imageFileUrl(this.site.manifest.lightbox, this.meta.idSync(i));
  }

  /** The id of the image shown (null while it is loading). */
  get id() {
    return this.isOpen ? this.meta.idSync(this.index) : null;
  }

  /** Open image i; list: the images previous/next walk through (a hotspot, the selection, all). */
  open(i, list) {
    if (!this.isOpen) this.returnFocus = document.activeElement;
    this.index = i;
    this.list = list;
    this.render();
    this.root.hidden = false;
    const close = this.root.querySelector(".close");
    if (close) close.focus({preventScroll: true});
    this.onChange(i);
  }

  close() {
    if (!this.isOpen) return;
    this.index = -1;
    this._stopZoom();
    this.root.hidden = true;
    this.root.replaceChildren();
    if (this.returnFocus && this.returnFocus.focus) this.returnFocus.focus({preventScroll: true});
    this.onChange(-1);
  }

  step(delta) {
    if (!this.isOpen || !this.list) return;
    const k = this.list.indexOf(this.index);
    const next = k + delta;
    if (k < 0 || next < 0 || next >= this.list.length) return;
    this.open(this.list.at(next), this.list);
  }

  _stopZoom() {
    this.shown++;
    if (this.zoom) {
      this.zoom.destroy();
      this.zoom = null;
    }
  }

  /** Attribution and rights (metadata fields of those names) as a caption: text, a rights URL as a link. */
  _credit(attribution, rights) {
    const has = (v) => v !== null && v !== undefined && String(v).trim() !== "";
    if (!has(attribution) && !has(rights)) return null;
    const caption = el("figcaption", {className: "credit"});
    if (has(attribution)) caption.append(el("span", {className: "attribution", text: displayValue(attribution)}));
    if (has(rights)) {
      const link = safeHttpUrl(rights);
      const value = link
        ? el("a", {href: link, target: "_blank", rel: "noopener noreferrer license", title: link}, rightsLabel(link))
        : el("span", {text: displayValue(rights)});
      caption.append(el("span", {className: "rights"}, "Rights: ", value));
    }
    return caption;
  }

  /** Once the image's service is known (deep-zoom.json), lay OpenSeadragon over the image; keep the image on failure. */
  _startZoom(i, figure, view, img) {
    if (!this.deepZoom.available) return;
    const shown = this.shown;
    const current = () => shown === this.shown && this.index === i;
    this.deepZoom.service(i).then((service) => {
      if (!service || !current()) return;
      figure.dataset.deepzoom = "loading";
      const box = el("div", {className: "dz"});
      const controls = el("div", {className: "dz-controls", role: "group", "aria-label": "Zoom"},
        el("button", {type: "button", "aria-label": "Zoom out", title: "Zoom out (−)", dataset: {zoom: "out"},
          onclick: () => zoom.zoomBy(1 / 1.6)}, "−"),
        el("button", {type: "button", "aria-label": "Zoom in", title: "Zoom in (+)", dataset: {zoom: "in"},
          onclick: () => zoom.zoomBy(1.6)}, "+"),
        el("button", {type: "button", "aria-label": "Fit the image", title: "Fit (0)", dataset: {zoom: "home"},
          onclick: () => zoom.home()}, "⤢"));
      controls.hidden = true;
      view.append(box, controls);
      const zoom = new DeepZoomView(box);
      zoom.onChange = () => { view.dataset.scale = zoom.scale.toFixed(4); };
      this.zoom = zoom;
      const startRect = () => (img.complete && img.naturalWidth ? img.getBoundingClientRect() : null);
      zoom.open(service, {startRect}).then((ok) => {
        if (!ok || !current()) return;
        figure.dataset.deepzoom = "ready";
        controls.hidden = false;
        const size = zoom.imageSize;
        box.setAttribute("role", "region");
        box.setAttribute("aria-label", size ? `Deep zoom, up to ${size.width} × ${size.height} pixels` : "Deep zoom");
      }, (err) => {
        if (!current()) return;
        zoom.destroy();
        if (this.zoom === zoom) this.zoom = null;
        box.remove();
        controls.remove();
        figure.dataset.deepzoom = "failed";
        view.append(el("p", {className: "dz-note", role: "status",
          text: "Deep zoom is not available right now (the image service did not answer)."}));
        console.warn(`pixmap: deep zoom of ${this.meta.idSync(i)} failed (${service.url}):`, err && err.message);
      });
    });
  }

  _navButtons(k, list) {
    const prev = el("button", {type: "button", className: "nav prev", "aria-label": "Previous image", title: "Previous (←)",
      onclick: () => this.step(-1)}, "‹");
    const next = el("button", {type: "button", className: "nav next", "aria-label": "Next image", title: "Next (→)",
      onclick: () => this.step(1)}, "›");
    prev.disabled = !(k > 0);
    next.disabled = !(k >= 0 && k < list.length - 1);
    const close = el("button", {type: "button", className: "close", "aria-label": "Close", title: "Close (Esc)",
      onclick: () => this.close()}, "×");
    return [prev, next, close];
  }

  /** While the id or the metadata row of image i loads: a placeholder, then the image (or the error). */
  _renderLoading(i) {
    this._stopZoom();
    const shown = this.shown;
    const list = this.list;
    const k = list ? list.indexOf(i) : -1;
    const status = el("p", {className: "loading-note", role: "status", text: "Loading…"});
    this.root.dataset.loading = "true";
    this.root.replaceChildren(
      el("figure", {}, el("div", {className: "view"}, status)),
      el("section", {className: "info"}, el("h2", {text: "Loading…"})),
      ...this._navButtons(k, list),
    );
    Promise.all([this.meta.id(i), this.meta.row(i)]).then(() => {
      if (shown !== this.shown || this.index !== i) return;
      this.render();
      this.onChange(i);
    }, (err) => {
      if (shown !== this.shown || this.index !== i) return;
      delete this.root.dataset.loading;
      status.textContent = `This image's data could not be loaded: ${err.message || err}`;
    });
  }

  render() {
    const i = this.index;
    const {manifest} = this.site;
    const meta = this.meta, fields = meta.fields;
    const id = meta.idSync(i), row = meta.rowSync(i);
    if (id === null || row === null) {
      this._renderLoading(i);
      return;
    }
    delete this.root.dataset.loading;
    const value = (name) => {
      const k = fields.indexOf(name);
      return k >= 0 ? row[k] : null;
    };
    const filename = String(value("filename") || id);
    const title = value("title") || filename.split("/").pop();
    const url = this.imageUrl(i);

    this._stopZoom();
    const img = el("img", {src: url, alt: String(title), decoding: "async"});
    const view = el("div", {className: "view"}, img);
    const figure = el("figure", {}, view, this._credit(value("attribution"), value("rights")));
    const dl = el("dl");
    fields.forEach((field, k) => {
      const v = row[k];
      const link = field === "permalink" ? safeHttpUrl(v) : null;
      const dd = link
        ? el("dd", {}, el("a", {href: link, target: "_blank", rel: "noopener noreferrer"}, link))
        : el("dd", {text: displayValue(v)});
      dl.append(el("dt", {text: field}), dd);
    });

    const links = el("p", {className: "links"});
    const permalink = safeHttpUrl(value("permalink"));
    if (permalink) {
      links.append(el("a", {href: permalink, target: "_blank", rel: "noopener noreferrer", className: "permalink"},
        "Open source page"));
    }
    links.append(el("a", {href: url, download: `${id}.${manifest.lightbox.ext}`, className: "download"}, "Download"));

    const list = this.list;
    const k = list ? list.indexOf(i) : -1;
    const counter = list && k >= 0
      ? el("p", {className: "counter", text: `${k + 1} of ${list.length}${list.label ? " · " + list.label : ""}`})
      : null;

    const swatches = this.palette.available ? el("div", {className: "palette-slot"}) : null;
    this.root.replaceChildren(
      figure,
      el("section", {className: "info"}, el("h2", {text: String(title)}), swatches, counter, dl, links),
      ...this._navButtons(k, list),
    );
    this._startZoom(i, figure, view, img);
    if (swatches) {   // the dominant colours, once data/palette.u8 is there (none shown if it fails)
      const shown = this.shown;
      this.palette.colours(i).then((colours) => {
        if (shown === this.shown && this.index === i && colours.length) swatches.replaceChildren(swatchBar(colours));
      }, (err) => console.warn("palette:", err.message || err));
    }
  }
}
