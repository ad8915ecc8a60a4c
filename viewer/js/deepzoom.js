// Deep zoom in the lightbox (docs/site-format.md, "Deep zoom"): data/deep-zoom.json names, per image, the
// info.json of an IIIF Image API service (a museum's, or static level-0 tiles written by `pixmap build
// --deep-zoom`); OpenSeadragon, vendored in vendor/openseadragon/ and loaded on first use, shows it up to
// full resolution. Nothing here is fetched before the lightbox needs it.

const OSD_SCRIPT = "vendor/openseadragon/openseadragon.min.js";
const INFO_TIMEOUT_MS = 20000;
let osdLoading = null;

/** The site root: the folder holding index.html. */
function siteRoot() {
  return new URL(".", document.baseURI);
}

/** True when url (a URL) is inside the site folder. */
function insideSite(url, root = siteRoot()) {
  return url.origin === root.origin && url.pathname.startsWith(root.pathname);
}

/** window.OpenSeadragon, loading its script (a classic script) once, on first use. */
export function loadOpenSeadragon() {
  if (window.OpenSeadragon) return Promise.resolve(window.OpenSeadragon);
  if (!osdLoading) {
    osdLoading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = OSD_SCRIPT;
      script.async = true;
      script.onload = () => {
        const OSD = window.OpenSeadragon;
        if (!OSD) {
          reject(new Error(`${OSD_SCRIPT} did not define OpenSeadragon`));
          return;
        }
        // a museum's tile that fails is a warning (the lightbox shows a note), not an error of the page
        const quiet = Object.create(console);
        quiet.error = (...args) => console.warn("OpenSeadragon:", ...args);
        OSD.console = quiet;
        resolve(OSD);
      };
      script.onerror = () => {
        script.remove();
        reject(new Error(`could not load ${OSD_SCRIPT}`));
      };
      document.head.append(script);
    });
    osdLoading.catch(() => { osdLoading = null; });
  }
  return osdLoading;
}

/**
 * An entry of deep-zoom.json as {url, local}, or null when there is none or it is not usable:
 * an absolute http(s) URL is an image's own service (local: false); anything else is relative to the
 * site root and must stay inside the site folder (local: true).
 */
export function serviceOf(entry) {
  if (typeof entry !== "string" || !entry.trim()) return null;
  const text = entry.trim();
  let url = null;
  try {
    url = new URL(text);
  } catch {
    url = null;
  }
  if (url) return url.protocol === "http:" || url.protocol === "https:" ? {url: url.href, local: false} : null;
  // relative: a plain path below the site root (no "/x", "//host", "\\", "." or ".." segments)
  const path = text.split(/[?#]/)[0].replace(/%2e/gi, ".");
  if (/^[/\\]|\\/.test(text) || path.split("/").some((p) => p === "." || p === "..")) return null;
  const root = siteRoot();
  try {
    url = new URL(text, root);
  } catch {
    return null;
  }
  return insideSite(url, root) ? {url: url.href, local: true} : null;
}

/**
 * data/deep-zoom.json, fetched once when the lightbox first asks (sites without it: no request); or, on a big
 * site, its chunks (`deep_zoom.dir`/<k>.json, `deep_zoom.chunk` entries each), fetched per image as needed.
 */
export class DeepZoomIndex {
  constructor(manifest) {
    const dz = manifest && manifest.deep_zoom;
    this.file = dz && typeof dz.file === "string" ? dz.file : null;
    this.dir = dz && typeof dz.dir === "string" && dz.chunk > 0 ? dz.dir : null;
    this.chunk = this.dir ? Math.floor(dz.chunk) : 0;
    this.loading = new Map(); // file -> Promise of its list
  }

  get available() {
    return this.file !== null || this.dir !== null;
  }

  _load(file) {
    if (!this.loading.has(file)) {
      const loading = (async () => {
        const url = new URL(file, siteRoot());
        if (!insideSite(url)) throw new Error(`${file} is outside the site`);
        const res = await fetch(url);
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        const list = await res.json();
        if (!Array.isArray(list)) throw new Error("not a JSON array");
        return list;
      })();
      loading.catch((err) => {
        console.warn(`pixmap: deep zoom is off for the images in ${file}, it could not be read:`, err.message);
      });
      this.loading.set(file, loading);
    }
    return this.loading.get(file);
  }

  /** Promise of image i's service ({url, local}) or null. Never rejects. */
  async service(i) {
    if (!this.available) return null;
    try {
      if (this.dir !== null) {
        const k = Math.floor(i / this.chunk);
        const list = await this._load(`${this.dir}/${k}.json`);
        return serviceOf(list[i - k * this.chunk]);
      }
      const list = await this._load(this.file);
      return serviceOf(list[i]);
    } catch {
      return null;
    }
  }
}

/**
 * The service's info.json. A service inside the site gets its id made the absolute URL of its folder (tiles
 * load from there); a museum's keeps its own. Rejects on HTTP errors, bad JSON, a timeout.
 */
async function fetchInfo(service) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), INFO_TIMEOUT_MS);
  try {
    const res = await fetch(service.url, {signal: abort.signal, credentials: service.local ? "same-origin" : "omit"});
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const info = await res.json();
    if (!info || typeof info !== "object" || Array.isArray(info)) throw new Error("not an info.json");
    const folder = new URL(".", service.url).href.replace(/\/$/, "");
    if (service.local) {
      if ("@id" in info) info["@id"] = folder;
      if ("id" in info || !("@id" in info)) info.id = folder;
    } else if (!info["@context"] || !(info.id || info["@id"])) {
      return service.url; // (an Image API 1.0 service) OpenSeadragon reads it from its URL
    } else {
      for (const key of ["id", "@id"]) {   // "…/abc/" would make tile URLs "…/abc//full/…"
        if (typeof info[key] === "string") info[key] = info[key].replace(/\/+$/, "");
      }
    }
    return info;
  } catch (err) {
    if (err.name === "AbortError") throw new Error("the image service did not answer in time");
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One OpenSeadragon viewer in container (an element laid over the lightbox image). open() resolves when the
 * first view is drawn (then the caller shows it in place of the image) and rejects when the service or its
 * tiles fail before that. destroy() at any time, also while opening.
 */
export class DeepZoomView {
  constructor(container) {
    this.container = container;
    this.viewer = null;
    this.destroyed = false;
    this.ready = false;
    this.onChange = null; // called when a zoom or pan comes to rest
  }

  /** startRect(): where the image should first show (matchRect), or null to fit it in the container. */
  async open(service, {startRect = null} = {}) {
    const [OSD, source] = await Promise.all([loadOpenSeadragon(), fetchInfo(service)]);
    if (this.destroyed) return false;
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (message) => {
        if (settled) return;
        settled = true;
        reject(new Error(message));
      };
      const viewer = OSD({
        element: this.container,
        tileSources: source,
        drawer: "canvas",              // no second WebGL context; tiles from another origin need no CORS
        crossOriginPolicy: false,
        showNavigationControl: false,  // our own buttons (no image files needed)
        showNavigator: false,
        showSequenceControl: false,
        prefixUrl: "vendor/openseadragon/images/",
        visibilityRatio: 0.5,
        minZoomImageRatio: 0.5,
        maxZoomPixelRatio: 2,          // up to full resolution, and a little past it
        animationTime: 0.5,
        blendTime: 0.1,
        springStiffness: 8,
        timeout: 30000,
        gestureSettingsMouse: {clickToZoom: false, dblClickToZoom: true, scrollToZoom: true},
        gestureSettingsTouch: {pinchToZoom: true, dblClickToZoom: true, flickEnabled: true},
      });
      this.viewer = viewer;
      // Esc and the arrows for previous/next stay the lightbox's (OpenSeadragon would pan with them)
      viewer.addHandler("canvas-key", (e) => {
        const key = e.originalEvent && e.originalEvent.key;
        if (key === "Escape" || key === "ArrowLeft" || key === "ArrowRight") e.preventDefaultAction = true;
      });
      viewer.addHandler("animation-finish", () => {
        if (this.ready && this.onChange) this.onChange();
      });
      viewer.addHandler("open-failed", (e) => fail(e.message || "the image service could not be opened"));
      viewer.addHandler("tile-load-failed", (e) => {
        if (!this.ready) fail(e.message || "a tile could not be loaded");
      });
      viewer.addHandler("open", () => {
        if (this.destroyed) return;
        if (startRect) this.matchRect(startRect());
        viewer.whenFullyLoaded(() => {
          // drawn on the next frame: then it can replace the image without a blank frame
          requestAnimationFrame(() => requestAnimationFrame(() => {
            if (this.destroyed || settled) return;
            settled = true;
            this.ready = true;
            resolve(true);
            if (this.onChange) this.onChange();
          }));
        });
      });
    });
  }

  /** The full-resolution size of the image ({width, height}), once open. */
  get imageSize() {
    const item = this.viewer && this.viewer.world.getItemAt(0);
    if (!item) return null;
    const s = item.getContentSize();
    return {width: s.x, height: s.y};
  }

  /** Screen (CSS) pixels per image pixel now: 1 is full resolution. */
  get scale() {
    if (!this.viewer || !this.ready) return 0;
    const vp = this.viewer.viewport;
    return vp.viewportToImageZoom(vp.getZoom(true));
  }

  /**
   * Show the image exactly where rect (a DOMRect, e.g. the lightbox image's) is, so that replacing the image
   * by the viewer does not move it (a lightbox image smaller than the area is not fitted to it). A service
   * whose picture has another shape stays fitted to the area.
   */
  matchRect(rect) {
    const item = this.viewer && this.viewer.world.getItemAt(0);
    const box = this.container.getBoundingClientRect();
    if (!item || !rect || rect.width < 2 || rect.height < 2 || !box.width || !box.height) return;
    const bounds = item.getBounds(true);        // the image in viewport units
    const aspect = (bounds.width / bounds.height) / (rect.width / rect.height);
    if (aspect < 0.97 || aspect > 1.03) return;  // another picture (cropped, turned): keep it fitted
    const per = Math.max(bounds.width / rect.width, bounds.height / rect.height); // viewport units per CSS px
    const left = rect.left - box.left + (rect.width - bounds.width / per) / 2;
    const top = rect.top - box.top + (rect.height - bounds.height / per) / 2;
    const OSD = window.OpenSeadragon;
    this.viewer.viewport.fitBounds(new OSD.Rect(bounds.x - left * per, bounds.y - top * per,
      box.width * per, box.height * per), true);
  }

  zoomBy(factor) {
    if (!this.viewer || !this.ready) return;
    this.viewer.viewport.zoomBy(factor);
    this.viewer.viewport.applyConstraints();
  }

  home() {
    if (this.viewer && this.ready) this.viewer.viewport.goHome();
  }

  /** True while OpenSeadragon's canvas has the keyboard focus (it handles + - 0 itself then). */
  get hasFocus() {
    return !!(this.viewer && this.viewer.canvas && this.viewer.canvas.contains(document.activeElement));
  }

  destroy() {
    this.destroyed = true;
    if (this.viewer) {
      const viewer = this.viewer;
      this.viewer = null;
      viewer.destroy();
    }
  }
}
