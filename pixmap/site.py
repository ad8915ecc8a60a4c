"""Site data: the manifest, compact binary arrays, one metadata file, and the viewer (docs/site-format.md).

The care of the output folders themselves (staging, ownership, publishing) is `output.py`'s.
"""
from __future__ import annotations

import json
import math
import shutil
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .layouts.base import Layout, normalise

FORMAT = "pixmap-site"
VERSION = 6
METADATA_CHUNK = 1000     # metadata rows per file (data/metadata/<k>.json)
IDS_CHUNK = 4096          # ids per file (data/ids/<k>.json)
SHARD = "fnv1a-8"         # per-image files in 256 folders by a hash of the id (docs/site-format.md)


class OutputError(Exception):
    """The site cannot be written as asked."""


# ----------------------------------------------------------------------------------------- viewer
def package_data_folder(name: str, marker: str) -> Path | None:
    """A top-level folder of the repository that is installed inside the package (viewer/, datasets/):
    next to this module when installed, at the repository's top level in a source checkout."""
    here = Path(__file__).resolve().parent
    for path in (here / name, here.parent / name):
        if (path / marker).exists():
            return path
    return None


def viewer_folder() -> Path:
    """The viewer's files (the repository's viewer/, installed as pixmap/viewer)."""
    path = package_data_folder("viewer", "index.html")
    if path is None:
        raise OutputError("the viewer's files are missing from this installation of pixmap; reinstall it")
    return path


def copy_viewer(site: Path) -> None:
    src = viewer_folder()
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if "__pycache__" in rel.parts or path.suffix == ".pyc" or rel.name == "__init__.py":
            continue
        if path.is_dir():
            (site / rel).mkdir(parents=True, exist_ok=True)
        else:
            (site / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, site / rel)


# ----------------------------------------------------------------------------------------- data
def _json_value(v):
    if v is None:
        return None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if not math.isfinite(float(v)) else float(v)
    if isinstance(v, (list, tuple)):
        return [_json_value(x) for x in v]
    if isinstance(v, (int, str, bool)):
        return v
    return str(v)


def shard_of(image_id: str) -> str:
    """The folder of an image's per-image files: the low 8 bits of the 32-bit FNV-1a hash of the id's
    UTF-8 bytes, as two hex digits (the viewer's shardOf in js/paths.js computes the same)."""
    h = 0x811C9DC5
    for b in image_id.encode("utf-8"):
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return f"{h & 0xFF:02x}"


def image_file(entry: dict, image_id: str) -> str:
    """The site-relative path of an image's file in a per-image folder (manifest `thumbs`/`lightbox`)."""
    name = f"{image_id}.{entry['ext']}"
    if entry.get("shard") == SHARD:
        return f"{entry['dir']}/{shard_of(image_id)}/{name}"
    return f"{entry['dir']}/{name}"


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def numeric_fields(fields: list[str], rows: list[list]) -> list[int]:
    """The indices of the fields whose present values are all numbers (and at least one is present)."""
    out = []
    for j in range(len(fields)):
        seen = False
        for row in rows:
            v = row[j]
            if v is None:
                continue
            if not _is_number(v):
                break
            seen = True
        else:
            if seen:
                out.append(j)
    return out


def write_chunks(data: Path, ids: list[str], fields: list[str], rows: list[list], chunk: int = METADATA_CHUNK,
                 ids_chunk: int = IDS_CHUNK) -> tuple[dict, dict]:
    """Version 3: metadata rows in chunks (data/metadata/<k>.json), ids in chunks (data/ids/<k>.json),
    numeric columns as float32 arrays (data/columns/<j>.f32). Returns the manifest's `metadata` and `ids`."""
    data = Path(data)
    for sub in ("metadata", "ids", "columns"):
        (data / sub).mkdir(parents=True, exist_ok=True)
    dump = lambda doc: json.dumps(doc, ensure_ascii=False, separators=(",", ":"))  # noqa: E731
    for k in range(0, max(len(rows), 1), chunk):
        part = [[_json_value(v) for v in row] for row in rows[k:k + chunk]]
        (data / "metadata" / f"{k // chunk}.json").write_text(dump(part), encoding="utf-8")
    for k in range(0, max(len(ids), 1), ids_chunk):
        (data / "ids" / f"{k // ids_chunk}.json").write_text(dump(list(ids[k:k + ids_chunk])), encoding="utf-8")
    columns = {}
    for j in numeric_fields(fields, rows):
        values = np.array([np.nan if r[j] is None else float(r[j]) for r in rows], dtype="<f4")
        values.tofile(data / "columns" / f"{j}.f32")
        columns[fields[j]] = f"data/columns/{j}.f32"
    metadata = {"fields": list(fields), "chunk": chunk, "dir": "data/metadata", "columns": columns}
    return metadata, {"chunk": ids_chunk, "dir": "data/ids"}


DEEP_ZOOM_CHUNK = 4096


def write_deep_zoom(data: Path, entries: list, chunk: int = DEEP_ZOOM_CHUNK) -> dict:
    """The per-image deep-zoom services (deep_zoom_entries): one data/deep-zoom.json when they fit in one
    chunk, else data/deep-zoom/<k>.json of `chunk` entries each (so that opening one image's deep zoom on a
    map of a million does not load a million URLs). Returns the manifest's `deep_zoom`."""
    data = Path(data)
    dump = lambda doc: json.dumps(doc, ensure_ascii=False, separators=(",", ":"))  # noqa: E731
    if len(entries) <= chunk:
        (data / "deep-zoom.json").write_text(dump(list(entries)), encoding="utf-8")
        return {"file": "data/deep-zoom.json"}
    (data / "deep-zoom").mkdir(parents=True, exist_ok=True)
    for k in range(0, len(entries), chunk):
        (data / "deep-zoom" / f"{k // chunk}.json").write_text(dump(list(entries[k:k + chunk])), encoding="utf-8")
    return {"chunk": chunk, "dir": "data/deep-zoom"}


def write_metadata(path: Path, ids: list[str], fields: list[str], rows: list[list]) -> None:
    doc = {"ids": ids, "fields": fields, "rows": [[_json_value(v) for v in row] for row in rows]}
    path.write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")


def write_layout(site: Path, layout: Layout) -> dict:
    """Write one layout's positions (normalised) and lines; return its manifest entry."""
    norm = normalise(layout)
    folder = site / "data" / "layouts"
    folder.mkdir(parents=True, exist_ok=True)
    np.ascontiguousarray(norm.positions, dtype="<f4").tofile(folder / f"{layout.name}.f32")
    entry = {"name": layout.name, "label": layout.label, "dims": layout.dims,
             "file": f"data/layouts/{layout.name}.f32"}
    if norm.labels:
        entry["labels"] = [{k: _json_value(v) for k, v in lab.items()} for lab in norm.labels]
    if norm.lines:
        lines = [[round(float(v), 5) for v in line.ravel()] for line in norm.lines]
        (folder / f"{layout.name}-lines.json").write_text(json.dumps(lines, separators=(",", ":")))
        entry["lines"] = f"data/layouts/{layout.name}-lines.json"
    if norm.point_size is not None:
        entry["point_size"] = norm.point_size
    if layout.group:
        entry["group"] = layout.group
        entry["params"] = {k: _json_value(v) for k, v in layout.params.items()}
    return entry


def write_manifest(site: Path, manifest: dict) -> None:
    (site / "data" / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1),
                                                 encoding="utf-8")


def base_manifest(title: str, count: int, generator: str) -> dict:
    return {"format": FORMAT, "version": VERSION, "generator": generator, "title": title,
            "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "count": count}


def deep_zoom_entries(kept, tiles: dict) -> list:
    """Per image: the info.json of its Image API service (an IIIF image's own service, or the static
    tiles --deep-zoom wrote into the site), or None."""
    out = []
    for i, src in enumerate(kept):
        service = getattr(src.remote, "service", None) if src.remote is not None else None
        if i in tiles:
            out.append(tiles[i])
        elif service and service.get("id"):
            out.append(str(service["id"]).rstrip("/") + "/info.json")
        else:
            out.append(None)
    return out


def read_metadata(site: Path) -> dict:
    """A built site's ids, fields and rows ({"ids", "fields", "rows"}), whichever version wrote it: one
    metadata.json (versions 1-2) or the chunks of version 3."""
    site = Path(site)
    manifest = json.loads((site / "data" / "manifest.json").read_text(encoding="utf-8"))
    meta = manifest.get("metadata", "data/metadata.json")
    if isinstance(meta, str):
        return json.loads((site / meta).read_text(encoding="utf-8"))
    n = int(manifest["count"])
    rows, ids = [], []
    for k in range(-(-n // int(meta["chunk"]))):
        rows += json.loads((site / meta["dir"] / f"{k}.json").read_text(encoding="utf-8"))
    id_entry = manifest["ids"]
    for k in range(-(-n // int(id_entry["chunk"]))):
        ids += json.loads((site / id_entry["dir"] / f"{k}.json").read_text(encoding="utf-8"))
    return {"ids": ids, "fields": meta["fields"], "rows": rows}
