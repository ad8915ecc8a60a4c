"""What a built site weighs: the whole folder, and the optional parts that cost per image (the neighbour files
of similar images and the graph, the compact vectors of recommendations), for the build's closing report.

    print(report(site_folder))
"""
from __future__ import annotations

import json
from pathlib import Path


def folder_bytes(folder: Path) -> tuple[int, int]:
    """(bytes, files) of the regular files under folder; hidden ones (.pixmap-site) not counted."""
    total = count = 0
    folder = Path(folder)
    if not folder.is_dir():
        return 0, 0
    for path in folder.rglob("*"):
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(folder).parts):
            total += path.stat().st_size
            count += 1
    return total, count


def _mb(b: float) -> str:
    return f"{b / 1e6:.1f} MB" if b >= 1e5 else f"{b / 1e3:.1f} KB"


def sizes(site: Path) -> dict:
    """{"count", "site": (bytes, files), "neighbors": bytes or None, "vectors": bytes or None}."""
    site = Path(site)
    manifest = json.loads((site / "data" / "manifest.json").read_text(encoding="utf-8"))
    out = {"count": int(manifest.get("count", 0)), "site": folder_bytes(site)}
    for key in ("neighbors", "vectors"):
        entry = manifest.get(key)
        out[key] = folder_bytes(site / entry["dir"])[0] if isinstance(entry, dict) and entry.get("dir") else None
    return out


def report(site: Path) -> str:
    """One line per part: the site (size, files, per image), similar images, vectors (bytes per image)."""
    s = sizes(site)
    n = max(1, s["count"])
    total, files = s["site"]
    lines = [f"Site size: {_mb(total)} in {files} files ({total / n / 1e3:.1f} KB per image)"]
    if s["neighbors"] is not None:
        lines.append(f"  similar images and graph (data/neighbors): {_mb(s['neighbors'])}, "
                     f"{s['neighbors'] / n:.0f} bytes per image")
    else:
        lines.append("  similar images and graph: none (--neighbors-k 0)")
    if s["vectors"] is not None:
        lines.append(f"  recommendation vectors (data/vectors): {_mb(s['vectors'])}, {s['vectors'] / n:.0f} bytes "
                     "per image (--no-vectors leaves them out)")
    else:
        lines.append("  recommendation vectors: none (--no-vectors)")
    return "\n".join(lines)
