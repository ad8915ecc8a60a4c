// The view in the URL hash: #layout=umap&x=0.12&y=-0.3&zoom=4&open=<id> (2D) or
// #layout=umap-3d&target=x,y,z&yaw=..&pitch=..&distance=..&open=<id> (3D); &hotspot=<id> when one is selected.
// Search, filters and colouring (version 4): &q=<query>, &f.<field>=<value> once per selected value,
// &r.<field>=<min>..<max> per range (a bound may be left out), &color=<field or "hotspot">.
// The selection (selection.js): &sel=<id>,<id>,... (each id percent-encoded) for a small one, or
// &seli=<base64url> (image indices in data order as delta varints) for a larger one.
// Another hotspot set than the map's own (site format 6, clustersets.js): &clusters=<name>.
// Written with history.replaceState (no history entries), throttled.

const num = (v) => {
  const x = Number(v);
  return v !== null && v !== "" && Number.isFinite(x) ? x : undefined;
};

export function parseHash(hash) {
  const params = new URLSearchParams(String(hash || "").replace(/^#/, ""));
  // (`image=` is read as `open=`)
  const out = {layout: params.get("layout") || null, open: params.get("open") || params.get("image") || null,
    camera: null, hotspot: null, clusters: params.get("clusters") || null, query: params.get("q") || "", filters: {}, colorBy: params.get("color") || null,
    sel: params.get("sel") ? params.get("sel").split(",").filter(Boolean) : null, seli: params.get("seli") || null};
  for (const [key, value] of params) {
    if (key.startsWith("f.") && key.length > 2) (out.filters[key.slice(2)] ||= []).push(value);
    else if (key.startsWith("r.") && key.length > 2) {
      const m = /^(.*?)\.\.(.*)$/.exec(value);
      const bound = (v) => (v === "" || !Number.isFinite(Number(v)) ? null : Number(v));
      if (m) out.filters[key.slice(2)] = [bound(m[1]), bound(m[2])];
    }
  }
  const hs = num(params.get("hotspot"));
  if (hs !== undefined) out.hotspot = hs;
  if (params.has("target")) {
    const target = params.get("target").split(",").map(Number);
    const cam = {yaw: num(params.get("yaw")), pitch: num(params.get("pitch")), distance: num(params.get("distance"))};
    if (target.length === 3 && target.every(Number.isFinite)) cam.target = target;
    out.camera = cam;
  } else if (params.has("x") || params.has("zoom")) {
    out.camera = {x: num(params.get("x")), y: num(params.get("y")), zoom: num(params.get("zoom"))};
  }
  return out;
}

export function formatHash({layout, camera, open, hotspot, clusters, query, filters, colorBy, sel, seli}) {
  const parts = [];
  const enc = encodeURIComponent;
  if (layout) parts.push(`layout=${enc(layout)}`);
  if (camera && camera.target) {
    const d = Math.max(4, Math.ceil(-Math.log10(camera.distance / 4000)));
    parts.push(`target=${camera.target.map((v) => v.toFixed(d)).join(",")}`);
    parts.push(`yaw=${camera.yaw.toFixed(4)}`, `pitch=${camera.pitch.toFixed(4)}`, `distance=${camera.distance.toPrecision(5)}`);
  } else if (camera) {
    const d = Math.max(4, Math.ceil(Math.log10(camera.zoom * 2000)));
    parts.push(`x=${camera.x.toFixed(d)}`, `y=${camera.y.toFixed(d)}`, `zoom=${camera.zoom.toPrecision(5)}`);
  }
  if (clusters) parts.push(`clusters=${enc(clusters)}`);
  if (hotspot !== null && hotspot !== undefined) parts.push(`hotspot=${hotspot}`);
  if (query) parts.push(`q=${enc(query)}`);
  for (const [field, value] of Object.entries(filters || {})) {
    if (value.length === 2 && value.every((v) => v === null || typeof v === "number")) {
      parts.push(`r.${enc(field)}=${value[0] ?? ""}..${value[1] ?? ""}`);
    } else {
      for (const v of value) parts.push(`f.${enc(field)}=${enc(v)}`);
    }
  }
  if (colorBy) parts.push(`color=${enc(colorBy)}`);
  if (sel && sel.length) parts.push(`sel=${sel.map(enc).join(",")}`);
  else if (seli) parts.push(`seli=${seli}`);
  if (open) parts.push(`open=${enc(open)}`);
  return "#" + parts.join("&");
}

/** Calls history.replaceState with formatHash(getState()) at most every `interval` ms. */
export class HashWriter {
  constructor(getState, interval = 250) {
    this.getState = getState;
    this.interval = interval;
    this.timer = 0;
    this.last = 0;
    this.written = location.hash;
  }

  schedule() {
    if (this.timer) return;
    const wait = Math.max(0, this.last + this.interval - performance.now());
    this.timer = setTimeout(() => this.flush(), wait);
  }

  flush() {
    clearTimeout(this.timer);
    this.timer = 0;
    this.last = performance.now();
    const hash = formatHash(this.getState());
    if (hash !== location.hash) {
      history.replaceState(history.state, "", hash);
    }
    this.written = hash;
  }
}
