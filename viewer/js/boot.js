// Classic (non-module) script: it runs even where ES modules cannot load (file:// pages),
// so the user sees why the map is blank instead of an empty page.
(function () {
  "use strict";
  function show(title, lines) {
    var box = document.getElementById("message");
    var loading = document.getElementById("loading");
    if (!box) return;
    if (loading) loading.hidden = true;
    box.textContent = "";
    var h = document.createElement("h2");
    h.textContent = title;
    box.appendChild(h);
    lines.forEach(function (line) {
      var p = document.createElement(line.code ? "pre" : "p");
      p.textContent = line.text;
      box.appendChild(p);
    });
    box.hidden = false;
  }
  window.__pixmapShowMessage = show;
  prefetch();
  if (location.protocol === "file:") {
    var parts = decodeURIComponent(location.pathname).split("/").filter(Boolean);
    var folder = parts.length > 1 ? parts[parts.length - 2] : "<folder>";
    var render = function () {
      show("This map has to be served over HTTP", [
        {text: "Browsers do not let a page opened from a file (file://) load the map's data and scripts."},
        {text: "Serve the folder and open the address it prints:"},
        {text: "pixmap serve " + folder, code: true},
        {text: "(Any static web server works, e.g. python -m http.server, run inside the folder.)"}
      ]);
    };
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", render);
    else render();
  }

  // Start fetching what the first frame needs (the manifest, then the layout, atlas level 0, and on
  // versions 1-2 the metadata and hotspots) while the viewer's modules load; js/data.js takes these
  // responses instead of fetching again. window.__pixmapPrefetch: {files: URL -> promise of a
  // Response, listed: a promise settled once the manifest's files are in `files`}.
  function prefetch() {
    if (location.protocol === "file:" || !window.fetch || !window.Map || !window.Promise) return;
    var files = new Map();
    var get = function (url) {
      if (typeof url !== "string" || files.has(url)) return;
      var p = fetch(url);
      p.catch(function () {});
      files.set(url, p);
    };
    get("data/manifest.json");
    var listed = files.get("data/manifest.json").then(function (res) {
      return res.ok ? res.clone().json() : null;
    }).then(function (m) {
      if (!m || m.format !== "pixmap-site" || !m.atlas || !Array.isArray(m.layouts)) return;
      var wanted = /(?:^#|&)layout=([^&]*)/.exec(location.hash);
      var name = wanted ? decodeURIComponent(wanted[1]) : m.default_layout;
      var layout = m.layouts.filter(function (l) { return l.name === name; })[0] ||
        m.layouts.filter(function (l) { return l.name === m.default_layout; })[0] || m.layouts[0];
      if (layout) get(layout.file);
      get(m.atlas.cells);
      (m.atlas.pages || []).forEach(get);
      if (typeof m.metadata === "string") {
        get(m.metadata);
        if (m.clusters) get(m.clusters.file);
      }
    }).catch(function () {});
    window.__pixmapPrefetch = {files: files, listed: listed};
  }
})();
