"""What a built site weighs: the whole folder, and the optional parts that cost per image (the neighbour files
of similar images and the graph, the compact vectors of recommendations), for the build's closing report;
and whether it fits on GitHub Pages (pages_report: size by kind, the largest files, the Pages limits).

    print(report(site_folder))
    print(pages_report(site_folder))

GitHub Pages' published limits: a site of at most 1 GB, no file over 100 MB (GitHub refuses to store it); a
site above 75% of either limit gets a warning and what to change. Hidden files (.pixmap-site, .nojekyll)
are not counted (they are tiny, and `pixmap serve` does not serve them).
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
    lines.append(pages_report(site))   # by kind, the largest files, GitHub Pages' limits
    return "\n".join(lines)


PAGES_SITE_LIMIT = 1_000_000_000     # GitHub Pages: published sites may be no larger than 1 GB
PAGES_FILE_LIMIT = 100_000_000       # GitHub refuses files over 100 MB
PAGES_WARN = 0.75                    # warn above this share of a limit
KINDS = ("atlases", "thumbnails", "lightbox images", "deep-zoom tiles", "data", "viewer and pages")
# data: everything else under data/ and the IIIF manifests (iiif/); viewer and pages: index.html, js/, css,
# vendor/, report.html


def _files(folder: Path) -> list[tuple[str, int]]:
    """(relative posix path, bytes) of every regular file folder_bytes counts, sorted by path."""
    out = []
    for path in Path(folder).rglob("*"):
        rel = path.relative_to(folder)
        if path.is_file() and not any(part.startswith(".") for part in rel.parts):
            out.append((rel.as_posix(), path.stat().st_size))
    return sorted(out)


def _kind_dirs(manifest: dict) -> list[tuple[str, str]]:
    """(folder prefix, kind) from the manifest, most specific first."""
    dirs = []
    atlas = manifest.get("atlas") if isinstance(manifest.get("atlas"), dict) else {}
    pages = atlas.get("pages") or []
    folders = {str(Path(page).parent.as_posix()) for page in pages if isinstance(page, str)} or {"data/atlas"}
    dirs += [(f.rstrip("/") + "/", "atlases") for f in sorted(folders)]
    for key, kind in (("thumbs", "thumbnails"), ("lightbox", "lightbox images")):
        entry = manifest.get(key)
        if isinstance(entry, dict) and entry.get("dir"):
            dirs.append((str(entry["dir"]).rstrip("/") + "/", kind))
    dirs.append(("data/tiles/", "deep-zoom tiles"))
    dirs += [("data/", "data"), ("iiif/", "data")]
    return dirs


def kind_of(rel: str, dirs: list[tuple[str, str]]) -> str:
    """The kind of a site file (one of KINDS) by the folder it is in."""
    for prefix, kind in dirs:
        if rel.startswith(prefix):
            return kind
    return "viewer and pages"


def pages_sizes(site: Path, largest: int = 5) -> dict:
    """{"total", "files", "by_kind": {kind: (bytes, files)}, "largest": [(path, bytes)]} of a site folder."""
    site = Path(site)
    try:
        manifest = json.loads((site / "data" / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    dirs = _kind_dirs(manifest)
    files = _files(site)
    by_kind = {kind: [0, 0] for kind in KINDS}
    for rel, size in files:
        entry = by_kind[kind_of(rel, dirs)]
        entry[0] += size
        entry[1] += 1
    biggest = sorted(files, key=lambda f: (-f[1], f[0]))[:largest]
    return {"total": sum(size for _, size in files), "files": len(files),
            "by_kind": {k: tuple(v) for k, v in by_kind.items()}, "largest": biggest,
            "image_format": (manifest.get("thumbs") or manifest.get("lightbox") or {}).get("ext")
            if isinstance(manifest.get("thumbs") or manifest.get("lightbox"), dict) else None}


def _advice(s: dict) -> list[str]:
    """What to change for a smaller site, biggest saving first."""
    kinds = s["by_kind"]
    tips = []
    if kinds["lightbox images"][0]:
        lightbox = kinds["lightbox images"][0]
        tips.append((lightbox, f"--lightbox-size 512 (lightbox images: {_mb(lightbox)}; half the side is ~1/4 "
                               "the bytes)"))
    if kinds["thumbnails"][0]:
        tips.append((kinds["thumbnails"][0], f"--thumb-size 0 or 128 (thumbnails: {_mb(kinds['thumbnails'][0])}; "
                                            "the atlas tiles and the lightbox image serve instead)"))
    if kinds["deep-zoom tiles"][0]:
        tips.append((kinds["deep-zoom tiles"][0], f"leave out --deep-zoom (tiles: {_mb(kinds['deep-zoom tiles'][0])})"))
    if s.get("image_format") not in (None, "webp"):
        tips.append((s["total"] // 4, "--format webp (images ~25% smaller than jpeg)"))
    return [text for _, text in sorted(tips, key=lambda t: -t[0])]


def pages_report(site: Path) -> str:
    """Total size and file count, size by kind, the largest files, and whether the site fits GitHub Pages'
    limits (1 GB site, 100 MB per file; a warning above 75%) with what to change when it does not."""
    s = pages_sizes(site)
    total = s["total"]
    lines = ["  by kind: " + ", ".join(f"{kind} {_mb(b)} ({n} files)" for kind, (b, n) in s["by_kind"].items() if n)]
    lines.append("  largest files: " + ", ".join(f"{rel} {_mb(b)}" for rel, b in s["largest"][:3]))
    biggest = s["largest"][0][1] if s["largest"] else 0
    share, file_share = total / PAGES_SITE_LIMIT, biggest / PAGES_FILE_LIMIT
    over = [(rel, b) for rel, b in s["largest"] if b > PAGES_FILE_LIMIT * PAGES_WARN]
    if share <= PAGES_WARN and not over:
        lines.append(f"GitHub Pages: fits ({_mb(total)} in {s['files']} files is {share:.1%} of the 1 GB site limit; "
                     f"largest file {_mb(biggest)}, {file_share:.1%} of the 100 MB file limit)")
        return "\n".join(lines)
    fits = share <= 1 and all(b <= PAGES_FILE_LIMIT for _, b in over)
    what = "close to GitHub Pages' limits" if fits else "does NOT fit on GitHub Pages"
    lines.append(f"Warning: the site is {what}: {_mb(total)} in {s['files']} files is {share:.0%} of the 1 GB "
                 f"site limit (warned above {PAGES_WARN:.0%}); largest file {_mb(biggest)} of 100 MB")
    for rel, b in over:
        lines.append(f"  {rel} is {_mb(b)}: {'over' if b > PAGES_FILE_LIMIT else 'close to'} the 100 MB file limit"
                     + (" (--atlas-size 2048 writes smaller atlas pages)" if rel.startswith("data/atlas") else ""))
    tips = _advice(s)
    if tips:
        lines.append("  to make it smaller, build again with: " + "; ".join(tips))
    return "\n".join(lines)
