// The palette of the image in the lightbox (docs/site-format.md, "Palette"): data/palette.u8 holds, per image
// in data order, `colors` x (r, g, b, proportion x 255) bytes, the image's dominant colours by proportion.
// Fetched once, when the lightbox first opens (sites without manifest.palette: no request, no swatches).
import {el} from "./dom.js";

/** The manifest's palette entry as {url, colors}, or null when there is none or it points outside the site. */
export function paletteEntry(manifest) {
  const p = manifest && manifest.palette;
  if (!p || typeof p.file !== "string" || !(Number(p.colors) >= 1)) return null;
  const root = new URL(".", document.baseURI);
  let url;
  try {
    url = new URL(p.file, root);
  } catch {
    return null;
  }
  if (url.origin !== root.origin || !url.pathname.startsWith(root.pathname)) return null;
  return {url: url.href, colors: Math.floor(Number(p.colors))};
}

const hex2 = (v) => v.toString(16).padStart(2, "0");

export class PaletteIndex {
  constructor(manifest) {
    this.entry = paletteEntry(manifest);
    this.bytes = null;     // Uint8Array once loaded
    this.loading = null;
  }

  get available() {
    return this.entry !== null;
  }

  _load() {
    if (!this.loading) {
      this.loading = fetch(this.entry.url).then((res) => {
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        return res.arrayBuffer();
      }).then((buf) => {
        this.bytes = new Uint8Array(buf);
        return this.bytes;
      });
      this.loading.catch(() => { this.loading = null; });   // a later open tries again
    }
    return this.loading;
  }

  /** Image i's colours, largest first: [{hex, share (0..1)}], without the empty ones; [] when unknown. */
  async colours(i) {
    if (!this.available) return [];
    const bytes = await this._load();
    const k = this.entry.colors;
    const start = i * k * 4;
    if (!(i >= 0) || start + k * 4 > bytes.length) return [];
    const out = [];
    for (let j = 0; j < k; j++) {
      const o = start + j * 4;
      const share = bytes[o + 3] / 255;
      if (share <= 0) continue;
      out.push({hex: `#${hex2(bytes[o])}${hex2(bytes[o + 1])}${hex2(bytes[o + 2])}`, share});
    }
    return out;
  }
}

/** A bar of coloured segments, each as wide as its colour's share; title: the colour's hex and %. */
export function swatchBar(colours) {
  const total = colours.reduce((s, c) => s + c.share, 0) || 1;
  const bar = el("div", {className: "palette", role: "img", "aria-label": "Dominant colours: " +
    colours.map((c) => `${c.hex} ${Math.round((c.share / total) * 100)}%`).join(", ")});
  Object.assign(bar.style, {display: "flex", height: "18px", borderRadius: "4px", overflow: "hidden",
    margin: "8px 0", border: "1px solid rgba(128,128,128,0.4)"});
  for (const c of colours) {
    const pct = Math.round((c.share / total) * 100);
    const seg = el("span", {className: "swatch", title: `${c.hex} ${pct}%`, dataset: {hex: c.hex, share: String(pct)}});
    Object.assign(seg.style, {flex: `${c.share / total} 1 0`, background: c.hex, minWidth: "2px"});
    bar.append(seg);
  }
  return bar;
}
