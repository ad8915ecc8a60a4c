// DOM helpers. Metadata is untrusted: everything goes through textContent / setAttribute on
// known-safe attributes; nothing here ever assigns innerHTML.

/** el('a', {href, className, ...}, child, ...): children are Nodes or strings (inserted as text). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "className") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** The URL if it is an absolute http(s) URL, else null (javascript:, data:, relative ... are not links). */
export function safeHttpUrl(value) {
  if (typeof value !== "string") return null;
  try {
    const url = new URL(value.trim());
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

/** A metadata value as display text. */
export function displayValue(value) {
  if (value === null || value === undefined || value === "") return "—";
  if (Array.isArray(value)) return value.map((v) => (v === null ? "—" : String(v))).join(", ");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** Full-page readable message (errors: no WebGL2, a data file failed, ...). */
export function showMessage(title, ...paragraphs) {
  const box = document.getElementById("message");
  const loading = document.getElementById("loading");
  if (loading) loading.hidden = true;
  box.replaceChildren(el("h2", {text: title}), ...paragraphs.map((p) => el("p", {text: p})));
  box.hidden = false;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/**
 * A 20 px icon (viewBox 0 0 24 24, decorative: aria-hidden) made of SVG shapes: [[tag, {attribute:
 * value}], ...], e.g. [["path", {d: "M5 6l7 3", stroke: "currentColor"}], ["circle", {cx: 5, cy: 6, r: 2}]].
 */
export function svgIcon(shapes) {
  const svg = document.createElementNS(SVG_NS, "svg");
  for (const [k, v] of Object.entries({viewBox: "0 0 24 24", width: "20", height: "20", "aria-hidden": "true"})) svg.setAttribute(k, v);
  for (const [tag, attrs] of shapes) {
    const shape = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs)) shape.setAttribute(k, String(v));
    svg.append(shape);
  }
  return svg;
}
