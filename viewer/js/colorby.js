// "Colour by": a colour per image from a categorical facet (one colour per value, the most common
// first), a numeric column (a colour ramp between its minimum and maximum) or the hotspots, and the
// legend that explains it. The renderer draws the colour as a tinted border, or as the whole dot at
// overview zoom (renderer.setPointState). Images without a value are grey.
import {el} from "./dom.js";
import {MISSING} from "./filters.js";

// distinct colours, legible on the dark map (Tableau 10 and a few more)
export const PALETTE = [
  [78, 121, 167], [242, 142, 43], [225, 87, 89], [118, 183, 178], [89, 161, 79], [237, 201, 72],
  [176, 122, 161], [255, 157, 167], [156, 117, 95], [186, 176, 172], [31, 190, 207], [188, 189, 34],
];
export const OTHER = [120, 124, 132]; // values beyond the palette
export const NONE = [70, 72, 78];     // no value
// a perceptual ramp (viridis, 9 stops)
const RAMP = [[68, 1, 84], [71, 45, 123], [59, 82, 139], [44, 114, 142], [33, 145, 140], [40, 174, 128],
  [94, 201, 98], [170, 220, 50], [253, 231, 37]];

export function rampColour(t) {
  const x = Math.min(1, Math.max(0, t)) * (RAMP.length - 1);
  const k = Math.min(RAMP.length - 2, Math.floor(x)), f = x - k;
  return RAMP[k].map((v, c) => Math.round(v + (RAMP[k + 1][c] - v) * f));
}

const css = (rgb) => `rgb(${rgb[0]}, ${rgb[1]}, ${rgb[2]})`;

function fillColours(n, colourOf) {
  const out = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) {
    const c = colourOf(i);
    out[i * 4] = c[0]; out[i * 4 + 1] = c[1]; out[i * 4 + 2] = c[2]; out[i * 4 + 3] = 255;
  }
  return out;
}

/** A categorical facet (loaded: filters.js): colours (RGBA per image) and a legend. */
export function byCategory(facet, n) {
  const {codes, offsets} = facet.data;
  const k = Math.min(PALETTE.length, facet.values.length);
  const colour = (code) => (code === MISSING || code === undefined ? NONE : code < k ? PALETTE[code] : OTHER);
  // a multi-valued facet: the image's most common value (values are sorted by count: the lowest code)
  const codeOf = offsets
    ? (i) => {
      let best = MISSING;
      for (let j = offsets[i]; j < offsets[i + 1]; j++) if (codes[j] < best) best = codes[j];
      return best;
    }
    : (i) => codes[i];
  const colours = fillColours(n, (i) => colour(codeOf(i)));
  const items = facet.values.slice(0, k).map((v, code) => ({label: String(v), colour: PALETTE[code],
    count: facet.counts ? facet.counts[code] : null}));
  if (facet.values.length > k) items.push({label: `${facet.values.length - k} other values`, colour: OTHER});
  items.push({label: "no value", colour: NONE});
  return {colours, legend: {kind: "categories", title: facet.field, items}};
}

/** A numeric column (a loaded range facet): a ramp from its minimum to its maximum. */
export function byNumber(facet, n) {
  const col = facet.data.column, lo = facet.min, span = facet.max - facet.min;
  const colours = fillColours(n, (i) => {
    const v = col[i];
    return Number.isFinite(v) ? rampColour(span > 0 ? (v - lo) / span : 0.5) : NONE;
  });
  return {colours, legend: {kind: "ramp", title: facet.field, min: facet.min, max: facet.max,
    stops: RAMP.map(css), none: NONE}};
}

/** The hotspots (clusters: Int32Array; hotspots: the manifest's, largest first). */
export function byHotspot(clusters, hotspots, n) {
  const rank = new Map(hotspots.map((h, k) => [h.id, k]));
  const k = Math.min(PALETTE.length, hotspots.length);
  const colours = fillColours(n, (i) => {
    const r = rank.get(clusters[i]);
    return r === undefined ? NONE : r < k ? PALETTE[r] : OTHER;
  });
  const items = hotspots.slice(0, k).map((h, r) => ({label: String(h.label), colour: PALETTE[r], count: h.size}));
  if (hotspots.length > k) items.push({label: `${hotspots.length - k} other hotspots`, colour: OTHER});
  items.push({label: "in no hotspot", colour: NONE});
  return {colours, legend: {kind: "categories", title: "hotspot", items}};
}

const fmt = (v) => (Number.isInteger(v) ? String(v) : Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3));

/** The legend as DOM (every label as text). */
export function legendNode(legend) {
  const box = el("div", {className: "legend-box"}, el("div", {className: "legend-title", text: `Colour: ${legend.title}`}));
  if (legend.kind === "ramp") {
    const bar = el("div", {className: "legend-ramp", "aria-hidden": "true"});
    bar.style.background = `linear-gradient(to right, ${legend.stops.join(", ")})`;
    box.append(bar, el("div", {className: "legend-ends"}, el("span", {text: fmt(legend.min)}), el("span", {text: fmt(legend.max)})),
      el("div", {className: "legend-item"}, swatch(legend.none), el("span", {text: "no value"})));
    return box;
  }
  const list = el("ul", {className: "legend-items"});
  for (const item of legend.items) {
    list.append(el("li", {className: "legend-item"}, swatch(item.colour), el("span", {className: "legend-label", text: item.label}),
      item.count !== null && item.count !== undefined ? el("span", {className: "legend-count", text: String(item.count)}) : null));
  }
  box.append(list);
  return box;
}

function swatch(rgb) {
  const s = el("span", {className: "swatch", "aria-hidden": "true"});
  s.style.background = css(rgb);
  return s;
}
