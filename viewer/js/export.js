// Export of the selection, made in the browser: CSV, JSON, and a ZIP of the lightbox images with that
// CSV (fflate, vendored in vendor/fflate/, loaded on first use; the images are stored as they are,
// not compressed again). One record per selected image, in data order:
//   id, every metadata field (in the site's order), hotspot (its name), and the active layout's x, y
//   (and z in a 3D layout).
// A column of ours whose name a metadata field already has is called pixmap_<name> (a custom layout's
// metadata has its own x and y). On a version-3 site the ids and rows load in chunks: export awaits them.
import {imageFileUrl} from "./paths.js";

const FETCH_CONCURRENCY = 6;

/** The export's column names and, per image, the values: {columns, records(indices) (async)}. */
export function exportColumns(app) {
  const fields = app.meta.fields.slice();
  const layout = app.activeLayout();
  const dims = layout.dims === 3 ? 3 : 2;
  const taken = new Set(fields);
  const ours = (name) => (taken.has(name) ? `pixmap_${name}` : name);
  const idCol = ours("id");
  const coords = ["x", "y", "z"].slice(0, dims).map(ours);
  const columns = [idCol, ...fields, ours("hotspot"), ...coords];
  return {columns, fields, idCol, hotspotCol: ours("hotspot"), coords, layout};
}

const CHUNKS_AT_ONCE = 8; // metadata or id chunks fetched at once (meta.js keeps 64 row chunks)

/**
 * A version-3 site: fetch, CHUNKS_AT_ONCE at a time, the id (and row) chunks of indices[from...] that
 * are not loaded, up to the first CHUNKS_AT_ONCE chunks that need loading.
 */
async function loadAhead(meta, indices, from, rows) {
  if (meta.sync) return;
  const idChunk = meta.idChunk || Infinity, rowChunk = meta.rowChunk || Infinity;
  const ids = new Map(), rowsWanted = new Map();
  for (let k = from; k < indices.length && ids.size + rowsWanted.size < CHUNKS_AT_ONCE; k++) {
    const i = indices[k];
    if (meta.idSync(i) === null && !ids.has(Math.floor(i / idChunk))) ids.set(Math.floor(i / idChunk), i);
    if (rows && meta.rowSync(i) === null && !rowsWanted.has(Math.floor(i / rowChunk))) rowsWanted.set(Math.floor(i / rowChunk), i);
  }
  await Promise.all([...[...ids.values()].map((i) => meta.id(i)), ...[...rowsWanted.values()].map((i) => meta.row(i))]);
}

/** The ids of image indices (sorted), in their order (a version-3 site: their id chunks loaded). */
export async function idsOf(meta, indices) {
  const out = new Array(indices.length);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    let id = meta.idSync(i);
    if (id === null) {
      await loadAhead(meta, indices, k, false);
      id = meta.idSync(i) ?? (await meta.id(i));
    }
    out[k] = id;
  }
  return out;
}

/** The hotspot name of every image: a function i -> name or null. */
function hotspotNames(app) {
  const names = new Map((app.site.hotspots || []).map((h) => [h.id, h.label === undefined || h.label === null ? null : String(h.label)]));
  const clusters = app.site.clusters;
  return (i) => {
    const c = clusters ? clusters[i] : -1;
    return c >= 0 && names.has(c) ? names.get(c) : null;
  };
}

/**
 * The records of the images (an array of objects, keys in column order), loading ids and rows
 * as needed (one chunk at a time). onProgress(done, total) is called now and then.
 */
export async function selectionRecords(app, indices, onProgress = () => {}) {
  await app.clustersReady;
  const meta = app.meta;
  const {fields, idCol, hotspotCol, coords, layout} = exportColumns(app);
  const hotspot = hotspotNames(app);
  const p = layout.positions, d = layout.dims;
  const out = new Array(indices.length);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    let id = meta.idSync(i), row = meta.rowSync(i);
    if (id === null || row === null) {
      await loadAhead(meta, indices, k, true);
      id = meta.idSync(i) ?? (await meta.id(i));
      row = meta.rowSync(i) ?? (await meta.row(i));
    }
    const rec = {[idCol]: id};
    fields.forEach((f, j) => { rec[f] = row && j < row.length ? row[j] : null; });
    rec[hotspotCol] = hotspot(i);
    coords.forEach((c, j) => {
      const v = p ? p[i * d + j] : NaN;
      rec[c] = Number.isFinite(v) ? v : null;
    });
    out[k] = rec;
    if ((k & 1023) === 1023) onProgress(k + 1, indices.length);
  }
  onProgress(indices.length, indices.length);
  return out;
}

/** One CSV cell: arrays joined with "|" (as `tags` are written), objects as JSON, null as empty. */
function cell(v) {
  let s;
  if (v === null || v === undefined) s = "";
  else if (Array.isArray(v)) s = v.map((x) => (x === null || x === undefined ? "" : String(x))).join("|");
  else if (typeof v === "object") s = JSON.stringify(v);
  else s = String(v);
  // a spreadsheet runs a cell starting with = + - @ (or a tab / CR) as a formula: such text, not a plain
  // number, is kept as text by a leading apostrophe (OWASP's CSV injection advice)
  if (/^[=@\t\r]/.test(s) || (/^[+-]/.test(s) && !/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s))) s = `'${s}`;
  return /[",\r\n]/.test(s) || /^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** CSV (RFC 4180: a header row, CRLF line ends, quoted where needed). */
export function toCsv(columns, records) {
  const lines = [columns.map(cell).join(",")];
  for (const r of records) lines.push(columns.map((c) => cell(r[c])).join(","));
  return lines.join("\r\n") + "\r\n";
}

export function toJson(records) {
  return JSON.stringify(records, null, 1) + "\n";
}

/** The selection as CSV or JSON text. */
export async function exportText(app, format, indices = app.selectedIndices(), onProgress) {
  const records = await selectionRecords(app, indices, onProgress);
  return format === "json" ? toJson(records) : toCsv(exportColumns(app).columns, records);
}

/**
 * A ZIP (Blob) of the selection's lightbox images, `images/<id>.<ext>` stored as they are, and
 * `selection.csv`; images that could not be fetched are listed in `missing.txt`.
 * onProgress(done, total, what) reports the images fetched.
 */
export async function exportZip(app, indices = app.selectedIndices(), onProgress = () => {}) {
  const {Zip, ZipPassThrough, ZipDeflate, strToU8} = await import("../vendor/fflate/fflate.js");
  const records = await selectionRecords(app, indices);
  const csv = toCsv(exportColumns(app).columns, records);
  const entry = app.site.manifest.lightbox;
  const idCol = exportColumns(app).idCol;
  const parts = [];
  let failure = null;
  const zip = new Zip((err, chunk) => {
    if (err) failure = err;
    else parts.push(chunk);
  });
  const addFile = (name, bytes, deflate) => {
    const file = deflate ? new ZipDeflate(name, {level: 6}) : new ZipPassThrough(name);
    zip.add(file);
    file.push(bytes, true);
  };
  addFile("selection.csv", strToU8(csv), true);
  const missing = [];
  let next = 0, done = 0;
  const fetched = new Array(records.length);
  // fetched FETCH_CONCURRENCY at a time; added to the archive in selection order
  let written = 0;
  const flush = () => {
    while (written < records.length && fetched[written] !== undefined) {
      const f = fetched[written];
      fetched[written] = null;
      if (f) addFile(f.name, f.bytes, false);
      written++;
    }
  };
  const worker = async () => {
    while (next < records.length) {
      const k = next++;
      const id = records[k][idCol];
      const url = imageFileUrl(entry, id);
      try {
        const res = await fetch(url);
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        fetched[k] = {name: `images/${id}.${entry.ext}`, bytes: new Uint8Array(await res.arrayBuffer())};
      } catch (err) {
        missing.push(`${id}\t${url}\t${err.message || err}`);
        fetched[k] = false;
      }
      done++;
      onProgress(done, records.length);
      flush();
    }
  };
  await Promise.all(Array.from({length: Math.min(FETCH_CONCURRENCY, records.length)}, worker));
  flush();
  if (missing.length) addFile("missing.txt", strToU8(missing.join("\n") + "\n"), true);
  zip.end();
  if (failure) throw failure;
  return new Blob(parts, {type: "application/zip"});
}

/** Save a Blob or text as a file (a Blob URL on a temporary link; no request leaves the page). */
export function download(content, name, type) {
  const blob = content instanceof Blob ? content : new Blob([content], {type});
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 30000);
}

/** Put text on the clipboard (the Clipboard API, else a hidden textarea and execCommand). */
export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // (permission refused: try the old way)
    }
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.append(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch {
    ok = false;
  }
  area.remove();
  return ok;
}
