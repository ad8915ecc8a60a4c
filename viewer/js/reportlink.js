// The cluster report (site format 6; docs/site-format.md "Report"): a "Report" link in the hotspot
// panel's header that opens report.html (written by the build beside index.html) in a new tab. Shown only
// when the manifest says the site has one (manifest.report = {"file": "report.html"}); older sites have no
// link. The file must be a path inside the site: the viewer never links outside it.

/** A site-relative path with no scheme, no host, no "..": safe to link to. */
export function sitePath(file) {
  if (typeof file !== "string" || !file || file.length > 200) return null;
  if (/^[a-z][a-z0-9+.-]*:/i.test(file) || file.startsWith("/") || file.startsWith("\\")) return null;
  if (file.split(/[\\/]/).some((part) => part === "..")) return null;
  return file;
}

/** Add the link (once); returns it, or null when the site has no report. */
export function reportLink(app, head = document.querySelector("#panel .panel-head")) {
  const entry = app.site.manifest.report;
  const file = entry && sitePath(entry.file);
  if (!file || !head) return null;
  const link = document.createElement("a");
  link.id = "report-link";
  link.className = "report-link";
  link.href = file;
  link.target = "_blank";
  link.rel = "noopener";
  link.textContent = "Report";
  link.title = "The cluster report: each clustering's quality, its clusters' typical images, colours and " +
    "terms, and the near-duplicates (opens in a new tab)";
  const edit = head.querySelector("#hotspot-edit");
  if (edit) edit.before(link);
  else head.append(link);
  return link;
}
