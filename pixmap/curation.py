"""Curated hotspots: the hotspots.json the viewer saves, read back by the next build.

    curated = read_hotspots("hotspots.json")           # checked; CurationError names the file and the fault
    result = apply_curation(curated, ids, features)    # the build's Clustering, in the file's order
    result.clustering, result.missing_ids, result.warnings

The file (docs/site-format.md, "Curated hotspots"):

    {"format": "pixmap-hotspots", "version": 1, "site": "<title>" or null, "saved": "<ISO time>",
     "hotspots": [{"name": "Roses", "representative": "<image id>", "images": ["<image id>", ...]}, ...]}

Hotspots are matched to the new build's images by id, so they survive a rebuild that adds, removes or
reorders images: they replace HDBSCAN's, in the file's order and with their names kept verbatim. Images the
file does not name are in no hotspot. Ids that are no longer in the build are reported and skipped; a
representative that is gone (or not a member) falls back to the medoid of the remaining members; a hotspot
left with no member is dropped. One bad entry is reported and skipped, never the whole file.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .clusters import Clustering, Hotspot, medoid

FORMAT = "pixmap-hotspots"
VERSION = 1
FILE_NAME = "hotspots.json"   # what the viewer's Save downloads, and what a build looks for in --out
SHOW = 5                      # ids quoted in a warning

log = logging.getLogger(__name__)


class CurationError(Exception):
    """The hotspots file cannot be used; the message names the file and says what to do."""


@dataclass
class CuratedHotspot:
    name: str
    representative: str | None
    images: list[str]


@dataclass
class Curated:
    path: Path
    site: str | None
    saved: str | None
    hotspots: list[CuratedHotspot]
    warnings: list[str] = field(default_factory=list)    # entries skipped while reading
    note: str | None = None                               # "using the hotspots.json found in --out"


@dataclass
class CurationResult:
    clustering: Clustering
    missing_ids: list[str]              # ids in the file that are not in this build (first seen first)
    warnings: list[str]
    unassigned: int                     # images of this build the file puts in no hotspot


def _quote(items, limit: int = SHOW) -> str:
    shown = ", ".join(json.dumps(str(x), ensure_ascii=False) for x in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def read_hotspots(path) -> Curated:
    """Read and check a hotspots file. Raises CurationError when the file as a whole cannot be used (missing,
    not JSON, another format, a newer version); a bad entry in it is skipped with a warning."""
    path = Path(os.path.expanduser(str(path)))
    redo = "save the hotspots again from the viewer (Edit, then Save)"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CurationError(f"{path}: no such file; give the hotspots.json the viewer saved") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CurationError(f"{path}: cannot be read ({getattr(exc, 'strerror', None) or exc}); {redo}") from None
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise CurationError(f"{path}: not valid JSON ({exc}); {redo}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CurationError(f'{path}: not a pixmap hotspots file (it needs "format": "{FORMAT}"); give the '
                            "hotspots.json the viewer's Save wrote")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CurationError(f'{path}: "version" must be a whole number (1); {redo}')
    if version > VERSION:
        raise CurationError(f"{path}: written for hotspots file version {version}, newer than this pixmap "
                            f"reads ({VERSION}); update pixmap")
    entries = doc.get("hotspots")
    if not isinstance(entries, list):
        raise CurationError(f'{path}: "hotspots" must be a list of {{"name", "representative", "images"}}; {redo}')
    warnings, spots = [], []
    for k, entry in enumerate(entries):
        where = f"{path}: hotspot {k + 1}"
        if not isinstance(entry, dict):
            warnings.append(f"{where} is not an object; skipped")
            continue
        name, images, rep = entry.get("name"), entry.get("images"), entry.get("representative")
        if not isinstance(name, str) or not name.strip():
            warnings.append(f'{where} has no "name" (a non-empty text); skipped')
            continue
        if not isinstance(images, list):
            warnings.append(f'{where} ({name!r}) has no "images" list; skipped')
            continue
        bad = [x for x in images if not isinstance(x, str)]
        if bad:
            warnings.append(f"{where} ({name!r}): {len(bad)} image id(s) that are not text skipped")
        if rep is not None and not isinstance(rep, str):
            warnings.append(f'{where} ({name!r}): "representative" is not an image id; the medoid is used')
            rep = None
        spots.append(CuratedHotspot(name=name, representative=rep, images=[x for x in images if isinstance(x, str)]))
    site, saved = doc.get("site"), doc.get("saved")
    return Curated(path=path, site=site if isinstance(site, str) else None,
                   saved=saved if isinstance(saved, str) else None, hotspots=spots, warnings=warnings)


def apply_curation(curated: Curated, ids, features: np.ndarray, seed: int = 0) -> CurationResult:
    """The build's Clustering from curated hotspots, matched to this build's images by id.

    ids: the build's image ids in data order; features: the rows the medoid is measured in (the PCA-reduced
    features, as for HDBSCAN's hotspots). Hotspot ids are 0.. in the file's order (after dropped ones).
    An image named by two hotspots stays in the first.
    """
    index = {str(image_id): i for i, image_id in enumerate(ids)}
    n = len(index)
    labels = np.full(n, -1, np.int32)
    warnings = list(curated.warnings)
    missing: list[str] = []
    seen_missing: set[str] = set()
    twice: list[str] = []
    spots: list[Hotspot] = []
    for spot in curated.hotspots:
        members = []
        for image_id in spot.images:
            i = index.get(image_id)
            if i is None:
                if image_id not in seen_missing:
                    seen_missing.add(image_id)
                    missing.append(image_id)
            elif labels[i] == -1:
                labels[i] = len(spots)
                members.append(i)
            elif labels[i] != len(spots):
                twice.append(image_id)
        if not members:
            warnings.append(f"{curated.path}: hotspot {spot.name!r} has none of its {len(spot.images)} image(s) "
                            "in this build; dropped")
            continue
        members_arr = np.asarray(sorted(members), dtype=np.int64)
        rep = index.get(spot.representative) if spot.representative is not None else None
        if rep is None or labels[rep] != len(spots):
            if spot.representative is not None:
                why = "is not in this build" if rep is None else "is not one of its images"
                warnings.append(f"{curated.path}: the representative of hotspot {spot.name!r} "
                                f"({spot.representative!r}) {why}; the medoid of its images is used")
            rep = medoid(features, members_arr, seed=seed)
        spots.append(Hotspot(id=len(spots), label=spot.name, size=len(members_arr), representative=int(rep)))
    if missing:
        warnings.append(f"{curated.path}: {len(missing)} image id(s) are not in this build (removed or renamed "
                        f"images) and were skipped: {_quote(missing)}")
    if twice:
        warnings.append(f"{curated.path}: {len(twice)} image(s) named by two hotspots were kept in the first: "
                        f"{_quote(twice)}")
    unassigned = int(np.count_nonzero(labels == -1))
    for warning in warnings:
        log.warning(warning)
    return CurationResult(clustering=Clustering(labels=labels, hotspots=spots, method="curated"),
                          missing_ids=missing, warnings=warnings, unassigned=unassigned)


def find_hotspots_file(given, out_dir) -> tuple[Path | None, str | None]:
    """The hotspots file a build uses, and a note saying so when it was found rather than given.

    given: the --hotspots value (a path; "none" turns curated hotspots off, also the site folder's file);
    None: the hotspots.json in the site folder `out_dir`, when a previous Save was put there.
    """
    if given is not None and str(given).strip().lower() == "none":
        return None, None
    if given is not None and str(given).strip():
        return Path(os.path.expanduser(str(given))), None
    beside = Path(out_dir) / FILE_NAME
    if beside.is_file():
        return beside, (f"using the curated hotspots in {beside} (saved from the viewer); pass --hotspots none "
                        "to let HDBSCAN find the hotspots instead")
    return None, None


def for_build(given, out_dir) -> Curated | None:
    """The curated hotspots a build into `out_dir` uses (find_hotspots_file), read and checked; None when
    there are none. A file found in the site folder is announced in `Curated.note`."""
    path, note = find_hotspots_file(given, out_dir)
    if path is None:
        return None
    curated = read_hotspots(path)
    curated.note = note
    if note:
        log.info(note)
    return curated


def notes(curated: Curated, result: CurationResult) -> list[str]:
    """What the build tells the user about its curated hotspots (BuildResult.warnings)."""
    out = [curated.note] if curated.note else []
    return out + list(result.warnings)


def manifest_entry(curated: Curated, result: CurationResult) -> dict:
    """The manifest's clusters.curated: the file's name (not its path: the site is published), how many
    hotspots it gave and how many of its ids were missing."""
    return {"file": curated.path.name, "hotspots": len(result.clustering.hotspots),
            "missing_ids": len(result.missing_ids)}
