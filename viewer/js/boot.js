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
})();
