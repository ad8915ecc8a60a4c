"""`pixmap info SITE`: what a built map holds, read from its manifest and its files (any site format version).

    facts = describe("map")      # a dict (what `pixmap info --json` prints)
    print(text(facts))
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from .sitesize import _mb, pages_sizes

OPTIONAL_PARTS = (("neighbors", "similar images"), ("vectors", "recommendation vectors"), ("search", "search"),
                  ("facets", "facets"), ("deep_zoom", "deep zoom"), ("iiif", "IIIF manifests"),
                  ("report", "report page"), ("duplicates", "near-duplicates"))


class InfoError(Exception):
    """The folder is not a site pixmap wrote, or its manifest cannot be read."""


def describe(site) -> dict:
    """{"site", "title", "count", "pixmap", "format_version", "created", "layouts": [{"name", "label", "dims"}],
    "default_layout", "hotspots": {"method", "count", "largest": [labels]}, "clusterings": [names],
    "fields", "parts": [names], "size": {"total", "files", "by_kind", "largest"}}."""
    site = Path(os.path.expanduser(str(site))).resolve()
    path = site / "data" / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InfoError(f"{site} is not a map written by `pixmap build` (it has no data/manifest.json)") from None
    except (OSError, ValueError) as exc:
        raise InfoError(f"{path} cannot be read ({exc}); build the map again") from None
    if not isinstance(manifest, dict) or manifest.get("format") != "pixmap-site":
        raise InfoError(f"{path} is not a pixmap site manifest (its format is not \"pixmap-site\")")
    generator = str(manifest.get("generator") or "")
    clusters = manifest.get("clusters") if isinstance(manifest.get("clusters"), dict) else {}
    hotspots = clusters.get("hotspots") or []
    meta = manifest.get("metadata")
    fields = meta.get("fields", []) if isinstance(meta, dict) else None
    if fields is None:   # versions 1-2: one metadata.json
        try:
            fields = json.loads((site / (meta or "data/metadata.json")).read_text(encoding="utf-8")).get("fields", [])
        except (OSError, ValueError):
            fields = []
    size = pages_sizes(site)
    return {
        "site": str(site),
        "title": manifest.get("title"),
        "count": int(manifest.get("count", 0)),
        "pixmap": generator.split(" ", 1)[1] if generator.startswith("pixmap ") else generator or None,
        "format_version": manifest.get("version"),
        "created": manifest.get("created"),
        "layouts": [{"name": lay.get("name"), "label": lay.get("label"), "dims": lay.get("dims", 2)}
                    for lay in manifest.get("layouts", []) if isinstance(lay, dict)],
        "default_layout": manifest.get("default_layout"),
        "hotspots": {"method": clusters.get("method"), "count": len(hotspots),
                     "largest": [f"{h.get('label')} ({h.get('size')})" for h in hotspots[:5]]},
        "clusterings": [c.get("name") for c in manifest.get("clusterings", []) if isinstance(c, dict)],
        "fields": list(fields),
        "parts": [label for key, label in OPTIONAL_PARTS if manifest.get(key)],
        "size": {"total": size["total"], "files": size["files"],
                 "by_kind": {k: {"bytes": b, "files": n} for k, (b, n) in size["by_kind"].items()},
                 "largest": [{"path": p, "bytes": b} for p, b in size["largest"]]},
    }


def text(facts: dict) -> str:
    """The facts as lines for a terminal."""
    size = facts["size"]
    lines = [f"{facts['site']}: {facts['title']!s}",
             f"  images: {facts['count']}",
             f"  built by pixmap {facts['pixmap'] or '(unknown)'}, site format version {facts['format_version']}"
             + (f", {facts['created']}" if facts.get("created") else ""),
             "  layouts: " + (", ".join(f"{lay['name']} ({lay['dims']}D)" for lay in facts["layouts"]) or "none")
             + (f"; opens in {facts['default_layout']}" if facts.get("default_layout") else "")]
    hs = facts["hotspots"]
    lines.append(f"  hotspots: {hs['count']}" + (f" ({hs['method']})" if hs["method"] else "")
                 + (": " + ", ".join(hs["largest"]) + (", ..." if hs["count"] > len(hs["largest"]) else "")
                    if hs["largest"] else ""))
    if facts["clusterings"]:
        lines.append("  clusterings: " + ", ".join(str(c) for c in facts["clusterings"]))
    lines.append("  metadata fields: " + (", ".join(facts["fields"]) or "none"))
    lines.append("  also: " + (", ".join(facts["parts"]) or "nothing optional"))
    lines.append(f"  size: {_mb(size['total'])} in {size['files']} files ("
                 + ", ".join(f"{k} {_mb(v['bytes'])}" for k, v in size["by_kind"].items() if v["files"]) + ")")
    if size["largest"]:
        lines.append(f"  largest file: {size['largest'][0]['path']} ({_mb(size['largest'][0]['bytes'])})")
    return "\n".join(lines)
