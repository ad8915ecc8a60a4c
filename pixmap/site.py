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
VERSION = 2


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
            "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "count": count,
            "metadata": "data/metadata.json"}


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
