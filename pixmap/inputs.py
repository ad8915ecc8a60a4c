"""What a build maps: local images (folders, globs, files) and IIIF images (manifests, collections, text
files of their URLs), combined into one list of ImageSources with their metadata rows.

    inputs = split_inputs(["~/scans", "manifests.txt", "https://example.org/iiif/collection/top"])
    inputs.local   -> ["~/scans"]                     (for sources.find_images)
    inputs.iiif    -> ["manifests.txt", "https://..."] (for read_iiif)
    found = iiif_sources(inputs.iiif, fetcher, language=["en"], progress=True)
    found.sources, found.rows, found.fields, found.problems

Each IIIF image's id follows the same rule as a local image's (sources.make_ids) over the path
"iiif/<host>/<path of its canvas id>", so it is stable across rebuilds and unique.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from . import sources

log = logging.getLogger("pixmap")


@dataclass
class Inputs:
    local: list = field(default_factory=list)   # folders, globs and image files
    iiif: list = field(default_factory=list)    # URLs, manifest/collection JSON files, text files of URLs


@dataclass
class IIIFFound:
    sources: list = field(default_factory=list)    # ImageSource with remote set, in input order
    rows: list = field(default_factory=list)       # one metadata dict per source
    fields: list = field(default_factory=list)     # metadata field names, in first-seen order
    problems: list = field(default_factory=list)   # (url, reason) for everything skipped


def is_url(text) -> bool:
    return isinstance(text, str) and text.lower().startswith(("http://", "https://"))


def split_inputs(images, iiif=None) -> Inputs:
    """Sort the entries given as images (and as iiif) into local image inputs and IIIF inputs.

    An `images` entry is IIIF when it is an http(s) URL, a .json file, or a text file of URLs
    (PixPlot's way: one manifest or collection URL a line). Everything given as `iiif` is IIIF.
    """
    out = Inputs()
    entries = [] if images is None else ([images] if isinstance(images, (str, os.PathLike)) else list(images))
    for entry in entries:
        text = os.fspath(entry)
        path = Path(os.path.expanduser(text))
        if is_url(text):
            out.iiif.append(text)
        elif path.is_file() and (path.suffix.lower() == ".json" or
                                 (not sources.is_image_name(path.name) and _is_url_list(path))):
            out.iiif.append(str(path))
        else:
            out.local.append(entry)
    more = [] if iiif is None else ([iiif] if isinstance(iiif, (str, os.PathLike)) else list(iiif))
    for entry in more:
        text = os.fspath(entry)
        out.iiif.append(text if is_url(text) else os.path.expanduser(text))
    return out


def _is_url_list(path: Path) -> bool:
    from .iiif.manifests import is_iiif_text_file

    return is_iiif_text_file(path)


def canvas_relpath(image) -> str:
    """The path an IIIF image's id is made from: "iiif/<host>/<path of the canvas id>" (the image's
    own URL when the canvas has no id), plus "/<index>" when the canvas id says nothing (a blank one)."""
    key = image.canvas_id or image.url or image.manifest_id
    parts = urlsplit(key) if is_url(key) else None
    if parts is not None:
        rel = f"{parts.hostname or 'host'}/{unquote(parts.path).strip('/')}"
        if parts.query:
            rel += f"_{parts.query}"
        if parts.fragment:
            rel += f"_{parts.fragment}"
    else:
        rel = str(key).strip("/")
    if not image.canvas_id:
        rel += f"/{image.canvas_index}"
    return "iiif/" + rel.strip("/")


def iiif_sources(entries, fetcher, *, language=None, first_canvas_only: bool = False,
                 progress: bool = True, taken_ids=()) -> IIIFFound:
    """Read every manifest and collection named by `entries` (following collections) and return one
    ImageSource per painted canvas, with its metadata row; problems are reported, never raised."""
    from tqdm.auto import tqdm

    from .iiif.manifests import read_iiif

    bar = tqdm(desc="manifests", unit="doc", disable=not progress)

    def on_document(url):
        bar.update(1)

    try:
        images, problems = read_iiif(list(entries), fetcher.json, language=language,
                                     first_canvas_only=first_canvas_only, on_document=on_document)
    finally:
        bar.close()
    found = IIIFFound(problems=[(p.url, p.reason) for p in problems])
    for url, reason in found.problems:
        log.warning("skipped %s: %s", url, reason)
    if not images:
        return found
    relpaths = [canvas_relpath(im) for im in images]
    taken = {sources._id_key(t) for t in taken_ids}
    ids = sources.make_ids(relpaths)
    ids = [i if sources._id_key(i) not in taken else sources.hashed_id(rel) for i, rel in zip(ids, relpaths)]
    seen_fields: dict[str, None] = {}
    for image_id, rel, im in zip(ids, relpaths, images):
        found.sources.append(sources.ImageSource(id=image_id, path=None, relpath=rel, remote=im))
        row = dict(im.metadata)
        found.rows.append(row)
        for name in row:
            seen_fields.setdefault(name, None)
    found.fields = list(seen_fields)
    return found
