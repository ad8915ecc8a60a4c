// Loading the site's data files (docs/site-format.md) with byte progress and readable errors.
import {textureBytes} from "./budget.js";

export class LoadError extends Error {
  constructor(url, status, detail) {
    const abs = new URL(url, document.baseURI).href;
    const what = status ? `HTTP ${status}${detail ? " " + detail : ""}` : detail || "network error";
    super(`Could not load ${abs} (${what})`);
    this.url = abs;
    this.status = status;
  }
}

/** A response boot.js started fetching for this URL (once), or null. */
async function takePrefetched(url) {
  const prefetch = window.__pixmapPrefetch;
  if (!prefetch) return null;
  if (url !== "data/manifest.json") await prefetch.listed; // (boot.js reads the manifest too)
  const pending = prefetch.files.get(url);
  if (!pending) return null;
  prefetch.files.delete(url);
  try {
    return await pending;
  } catch {
    return null; // (fetched again, so that a failure reads as it always does)
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
      res = (!signal && (await takePrefetched(url))) || (await fetch(url, {signal}));
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

  /** An image as an ImageBitmap of at most maxSize px; `size`: its side when known (atlas pages are
   *  square), so that a larger one is scaled while it decodes. */
  async image(url, maxSize, size = 0) {
    const buf = await this.bytes(url);
    if (maxSize && size > maxSize) {
      try {
        return await createImageBitmap(new Blob([buf]), {resizeWidth: maxSize, resizeHeight: maxSize,
          resizeQuality: "high", premultiplyAlpha: "none", colorSpaceConversion: "none"});
      } catch {
        // (decoded below, which names the URL on failure)
      }
    }
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

/** Whether a manifest is version 3's (chunked metadata and ids, atlas levels, sharded files). */
export function isChunked(manifest) {
  return manifest.metadata !== null && typeof manifest.metadata === "object";
}

/** Mip levels of an atlas array whose cells are cellSize px in textures of size px. */
export function atlasLevels(cellSize, size) {
  return Math.max(1, Math.min(Math.floor(Math.log2(cellSize || 64)) - 1, Math.floor(Math.log2(size)) + 1));
}

/** Texture size of the atlas pages: at most MAX_TEXTURE_SIZE, halved while the pages would take more
 *  than `room` bytes of GPU memory (their cells are scaled with them; uvs are relative). */
export function pageTextureSize(atlas, maxTextureSize, room) {
  let size = Math.min(atlas.size, maxTextureSize);
  const bytes = (s) => atlas.pages.length * textureBytes(s, s, atlasLevels(atlas.cell_size, s));
  while (size > 256 && bytes(size) > room) size = Math.floor(size / 2);
  return size;
}

/**
 * Load the manifest and everything the first frame needs (not the other layouts). Versions 1-2: also
 * metadata.json and the hotspots; version 3: only the default layout, level 0's cells and pages
 * (clusters, ids, metadata and tiles come later: loadClusters, meta.js, tilestream.js).
 * Resolves once everything but the atlas pages is in: site.pages holds one promise per page (of an
 * ImageBitmap), so that the GPU can be set up while they decode. pageRoom(manifest): the GPU bytes
 * the pages may take (pageTextureSize).
 */
export async function loadSite(loader, {maxTextureSize, pageRoom = () => Infinity}) {
  const manifest = await loader.json("data/manifest.json");
  if (manifest.format !== "pixmap-site") {
    throw new LoadError("data/manifest.json", 0, "not a pixmap site manifest");
  }
  const n = manifest.count;
  const layouts = manifest.layouts.map((entry) => ({...entry, positions: null, lineData: null, loading: null}));
  const initial = layouts.find((l) => l.name === manifest.default_layout) || layouts[0];
  const chunked = isChunked(manifest);
  const site = {manifest, count: n, layouts, pages: null, chunked, clusters: null, ids: null, rows: null,
    fields: chunked ? manifest.metadata.fields || [] : null};

  const pageSize = pageTextureSize(manifest.atlas, maxTextureSize, pageRoom(manifest));
  site.pageSize = pageSize;
  site.pages = manifest.atlas.pages.map((url) => loader.image(url, pageSize, manifest.atlas.size));
  site.pages.forEach((p) => p.catch(() => {})); // (awaited by the caller)
  const tasks = [
    loader.bytes(manifest.atlas.cells).then((buf) => {
      site.cells = new Uint16Array(buf);
      expectLength(site.cells, 5 * n, manifest.atlas.cells, "atlas cells");
    }),
    loadLayout(loader, initial, n),
  ];
  if (!chunked) {
    tasks.push(
      loader.json(manifest.metadata).then((meta) => {
        expectLength(meta.ids, n, manifest.metadata, "ids");
        expectLength(meta.rows, n, manifest.metadata, "rows");
        site.ids = meta.ids;
        site.fields = meta.fields;
        site.rows = meta.rows;
      }),
      loadClusters(loader, manifest).then((clusters) => { site.clusters = clusters; }),
    );
  }
  try {
    await Promise.all(tasks);
  } catch (err) {
    site.pages.forEach((p) => p.then((bitmap) => bitmap.close(), () => {}));
    throw err;
  }
  site.hotspots = (manifest.clusters && manifest.clusters.hotspots) || [];
  site.initial = initial;
  return site;
}

/** The hotspot of every image (Int32Array, -1: none); all -1 when the site has no clusters file. */
export async function loadClusters(loader, manifest) {
  const n = manifest.count;
  if (!(manifest.clusters && manifest.clusters.file)) return new Int32Array(n).fill(-1);
  const clusters = new Int32Array(await loader.bytes(manifest.clusters.file));
  expectLength(clusters, n, manifest.clusters.file, "clusters");
  return clusters;
}

/** Level-1 tiles' index (version 3): per image its tile (Uint32Array) and cell x, y, w, h (Uint16Array). */
export async function loadTileIndex(loader, manifest) {
  const tiles = manifest.atlas.tiles, n = manifest.count;
  const [of, cells] = await Promise.all([loader.bytes(tiles.of), loader.bytes(tiles.cells)]);
  const tileOf = new Uint32Array(of), tileCells = new Uint16Array(cells);
  expectLength(tileOf, n, tiles.of, "tile numbers");
  expectLength(tileCells, 4 * n, tiles.cells, "tile cells");
  for (let i = 0; i < n; i++) {
    if (tileOf[i] >= tiles.count) {
      throw new LoadError(tiles.of, 0, `image ${i} names tile ${tileOf[i]} of ${tiles.count}`);
    }
  }
  return {tileOf, tileCells};
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
