// Loading the site's data files (docs/site-format.md) with byte progress and readable errors.

export class LoadError extends Error {
  constructor(url, status, detail) {
    const abs = new URL(url, document.baseURI).href;
    const what = status ? `HTTP ${status}${detail ? " " + detail : ""}` : detail || "network error";
    super(`Could not load ${abs} (${what})`);
    this.url = abs;
    this.status = status;
  }
}

/** Fetches files and counts their bytes for the loading screen. */
export class Loader {
  constructor(onProgress = () => {}) {
    this.loaded = 0;
    this.total = 0;
    this.onProgress = onProgress;
  }

  _notify() {
    this.onProgress(this.loaded, this.total);
  }

  async bytes(url, {signal} = {}) {
    let res;
    try {
      res = await fetch(url, {signal});
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new LoadError(url, 0, err.message);
    }
    if (!res.ok) throw new LoadError(url, res.status, res.statusText);
    const length = Number(res.headers.get("Content-Length")) || 0;
    this.total += length;
    this._notify();
    if (!res.body) {
      const buf = await res.arrayBuffer();
      this.loaded += buf.byteLength;
      if (!length) this.total += buf.byteLength;
      this._notify();
      return buf;
    }
    const reader = res.body.getReader();
    let out = length ? new Uint8Array(length) : null;
    const chunks = [];
    let got = 0;
    for (;;) {
      const {done, value} = await reader.read();
      if (done) break;
      if (out && got + value.length <= out.length) out.set(value, got);
      else {
        if (out) { chunks.push(out.subarray(0, got)); out = null; }
        chunks.push(value);
      }
      got += value.length;
      this.loaded += value.length;
      if (!length) this.total += value.length;
      this._notify();
    }
    if (out && got === out.length) return out.buffer;
    if (out) chunks.unshift(out.subarray(0, got));
    const all = new Uint8Array(got);
    let off = 0;
    for (const c of chunks) { all.set(c, off); off += c.length; }
    return all.buffer;
  }

  async json(url) {
    const buf = await this.bytes(url);
    try {
      return JSON.parse(new TextDecoder().decode(buf));
    } catch (err) {
      throw new LoadError(url, 0, `not valid JSON: ${err.message}`);
    }
  }

  async image(url, maxSize) {
    const buf = await this.bytes(url);
    return decodeImage(buf, url, maxSize);
  }
}

/** Decode image bytes to an ImageBitmap, scaled down to fit maxSize x maxSize when larger. */
export async function decodeImage(buf, url, maxSize = 0, square = false) {
  const blob = buf instanceof Blob ? buf : new Blob([buf]);
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob, {premultiplyAlpha: "none", colorSpaceConversion: "none"});
  } catch (err) {
    throw new LoadError(url, 0, "image could not be decoded");
  }
  if (maxSize && (bitmap.width > maxSize || bitmap.height > maxSize || square)) {
    const s = Math.min(1, maxSize / Math.max(bitmap.width, bitmap.height));
    const w = square ? maxSize : Math.max(1, Math.round(bitmap.width * s));
    const h = square ? maxSize : Math.max(1, Math.round(bitmap.height * s));
    const scaled = await createImageBitmap(bitmap, {resizeWidth: w, resizeHeight: h, resizeQuality: "high"});
    bitmap.close();
    bitmap = scaled;
  }
  return bitmap;
}

function expectLength(array, expected, url, what) {
  if (array.length !== expected) {
    throw new LoadError(url, 0, `${what}: expected ${expected} values, found ${array.length}`);
  }
}

/** Load the manifest and everything the first frame needs (not the other layouts). */
export async function loadSite(loader, {maxTextureSize, onPage}) {
  const manifest = await loader.json("data/manifest.json");
  if (manifest.format !== "pixmap-site") {
    throw new LoadError("data/manifest.json", 0, "not a pixmap site manifest");
  }
  const n = manifest.count;
  const layouts = manifest.layouts.map((entry) => ({...entry, positions: null, lineData: null, loading: null}));
  const initial = layouts.find((l) => l.name === manifest.default_layout) || layouts[0];
  const site = {manifest, count: n, layouts, pages: []};

  const pageSize = Math.min(manifest.atlas.size, maxTextureSize);
  const tasks = [
    loader.json(manifest.metadata).then((meta) => {
      expectLength(meta.ids, n, manifest.metadata, "ids");
      expectLength(meta.rows, n, manifest.metadata, "rows");
      site.ids = meta.ids;
      site.fields = meta.fields;
      site.rows = meta.rows;
    }),
    loader.bytes(manifest.atlas.cells).then((buf) => {
      site.cells = new Uint16Array(buf);
      expectLength(site.cells, 5 * n, manifest.atlas.cells, "atlas cells");
    }),
    manifest.clusters && manifest.clusters.file
      ? loader.bytes(manifest.clusters.file).then((buf) => {
        site.clusters = new Int32Array(buf);
        expectLength(site.clusters, n, manifest.clusters.file, "clusters");
      })
      : Promise.resolve().then(() => { site.clusters = new Int32Array(n).fill(-1); }),
    loadLayout(loader, initial, n),
    ...manifest.atlas.pages.map((url, i) =>
      loader.image(url, pageSize).then((bitmap) => onPage(i, bitmap))),
  ];
  await Promise.all(tasks);
  site.hotspots = (manifest.clusters && manifest.clusters.hotspots) || [];
  site.initial = initial;
  return site;
}

/** Fetch a layout's positions (and lines) once; later calls share the promise. */
export function loadLayout(loader, entry, n) {
  if (!entry.loading) {
    entry.loading = (async () => {
      const [buf, lines] = await Promise.all([
        loader.bytes(entry.file),
        entry.lines ? loader.json(entry.lines) : Promise.resolve(null),
      ]);
      const pos = new Float32Array(buf);
      expectLength(pos, n * entry.dims, entry.file, "positions");
      entry.positions = pos;
      entry.lineData = Array.isArray(lines) ? lines : null;
      return entry;
    })();
    entry.loading.catch(() => { entry.loading = null; });
  }
  return entry.loading;
}
