"""IIIF Presentation API documents (2.0, 2.1 and 3.0) -> the images to map, one per painted canvas.

    images, refs, problems = images_from_document(doc, "https://example.org/manifest.json", language=["en"])
    images, problems = read_iiif(["https://example.org/collection.json", "manifests.txt", "saved/"],
                                 fetch_json)

Pure functions: nothing here touches the network. read_iiif asks `fetch_json(url_or_path) -> dict` for
every document (pixmap.iiif.fetch provides one; tests serve files from memory) and turns any exception
it raises into a Problem, so one broken manifest never stops the others.

What becomes an image. Every canvas that paints an image gives one IIIFImage (only the first such canvas
of each manifest with first_canvas_only, as PixPlot did):

- v2: sequences[0].canvases[].images[]: oa:Annotation with motivation sc:painting, its `resource` the
  image; an oa:Choice gives its `default` (else its first item), an oa:SpecificResource its `full`.
- v3: items[] canvases -> AnnotationPage items -> Annotation with motivation "painting" -> body; a
  Choice gives its first image item, a SpecificResource its `source` (the selector's region is kept in
  metadata as "region"), a list of bodies its first image.
- Several painting annotations on one canvas (a composition): the one that covers the whole canvas, or
  else the largest, is used (logged at debug level).
- Skipped with a Problem: a canvas that paints sound, video or text; a canvas without any painting
  annotation; a canvas whose annotations are malformed (a v2 image annotation whose @type is not
  oa:Annotation, an annotation without a resource or body).

Image services, normalised to one dict (IIIFImage.service): {"id": base URL without /info.json and
without a trailing slash, "type": "ImageService3", "ImageService2" or "ImageService1" (Image API 1.x),
"profile": "level0"/"level1"/"level2" (or the profile as given when it names no level), "width",
"height", "maxWidth", "maxHeight", "maxArea" (None when the manifest does not say), "sizes": [{"width",
"height"}]}. Read from v3 `service` lists (type ImageService2/ImageService3, or v2-style @id/@type
services inside v3 manifests) and v2 `service` objects (@context, profile as a string or a list whose
objects may hold maxWidth/maxHeight/maxArea). When a resource offers several, the newest API wins.
What the manifest does not say, the fetcher reads from info.json.

Metadata (IIIFImage.metadata, plain text from pixmap.iiif.text in the chosen language): title
("<manifest label> — <canvas label>" when the manifest has several canvases, the canvas label alone when it
already holds the manifest label), manifest, description,
every metadata pair of the manifest and then of the canvas (a canvas pair replaces the manifest's pair
of the same label; labels made unique with _2, _3; a label that is one of the names below or a field
the viewer reads, in any letter case, gets the prefix "metadata: "; a pair without a label is kept as
"metadata"), rights (v3 rights / v2 license), attribution (v3 requiredStatement as "label: value" / v2
attribution), provider (v3 provider labels), permalink (v3 homepage / v2 related, http(s) only),
navDate and date (YYYY-MM-DD; the canvas's navDate wins), thumbnail (http(s) only), region,
manifest_url, canvas_id, canvas_index (a string). What the canvas says wins over what the manifest
says. Keys without a value are left out.

Collections are followed: v2 "collections", "manifests" and "members", v2 paged collections ("first"
and each page's "next", which count as the same level), v3 "items" of type Collection and Manifest;
members embedded with their content are read in place, the others fetched. A document reached twice
(by the URL asked or by its own id) is read once, so a manifest listed twice gives its images once and
a collection that includes itself ends; collections nested deeper than max_depth are cut with a
Problem, as is an empty collection.

iiif-prezi3 (the v3 reference model) is not used to parse: v2 needs its own reading anyway, and real v3
manifests mix in v2-style services and HTML; plain dicts read both versions the same tolerant way. The
tests check that what iiif-prezi3 writes reads back.
"""
from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urljoin, urlsplit

from .text import default_languages, plain_text, safe_text

__all__ = ["IIIFImage", "Problem", "images_from_document", "read_iiif", "is_iiif_text_file"]

log = logging.getLogger(__name__)

SEPARATOR = " — "           # between the manifest's label and the canvas's label in a title
MAX_TEXT_FILE_BYTES = 64 * 1024 * 1024   # a bigger file is not read as a list of URLs

# Names of IIIFImage.metadata fields set here; a metadata pair with such a label is renamed
# "metadata: <label>" so that it never replaces one of them.
FIXED_FIELDS = ("title", "manifest", "description", "rights", "attribution", "provider", "permalink",
                "navDate", "date", "thumbnail", "region", "manifest_url", "canvas_id", "canvas_index")
# Fields with a meaning for the viewer and the metadata reader (pixmap.metadata.PIXPLOT_FIELDS and the
# filename columns), matched there in any letter case: a IIIF pair does not get to set them either.
_VIEWER_FIELDS = ("category", "tags", "description", "permalink", "year", "label", "lat", "lng",
                  "filename", "file", "image", "path")
_RESERVED = frozenset(name.casefold() for name in FIXED_FIELDS + _VIEWER_FIELDS)

_SERVICE_RANK = {"ImageService3": 3, "ImageService2": 2, "ImageService1": 1}
_DATE = re.compile(r"^\s*(-?\d{4,})-(\d{2})-(\d{2})")
_LEVEL = re.compile(r"level\s*([012])", re.IGNORECASE)
_XYWH = re.compile(r"xywh=(?:pixel:)?\s*([\d.]+\s*,\s*[\d.]+\s*,\s*[\d.]+\s*,\s*[\d.]+)")


@dataclass
class IIIFImage:
    """One painted canvas: where its image is, and what the manifest says about it."""
    manifest_id: str                    # the manifest's id (or where it was read from, if it has none)
    manifest_label: str
    canvas_id: str
    canvas_index: int                   # 0-based position in the manifest's sequence/items
    canvas_label: str | None = None
    url: str | None = None              # the painted image resource's id (after choosing among Choice items)
    service: dict | None = None         # the image service, normalised (see the module's docstring)
    width: int | None = None            # canvas size (the image's when the canvas has none)
    height: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class Problem:
    """Something skipped, and why: Problem(url, "canvas 3 of 4 in <manifest>: paints Sound, not an image")."""
    url: str
    reason: str


# --- reading many documents -----------------------------------------------------------------------------

def read_iiif(entries: list[str], fetch_json: Callable[[str], dict], *, language: list[str] | None = None,
              first_canvas_only: bool = False, max_depth: int = 10,
              on_document: Callable[[str], Any] | None = None) -> tuple[list[IIIFImage], list[Problem]]:
    """The images of every manifest reached from `entries`, and what was skipped.

    entries: http(s) URLs; local manifest or collection JSON files; folders (their *.json files, sorted);
    text files listing one URL or local path per line (UTF-8; blank lines and lines starting with # are
    ignored, as is a " # comment" after a URL; a relative path is relative to the text file).
    fetch_json(url_or_path) returns the parsed document or raises; its message becomes a Problem.
    language: preferred languages for labels and values (default: default_languages()).
    on_document(url) is called after each document is fetched (or failed), for a progress bar.
    """
    if isinstance(entries, (str, os.PathLike)):
        entries = [entries]
    languages = list(language) if language else default_languages()
    walker = _Walker(languages, first_canvas_only, max_depth, fetch_json, on_document)
    tasks: list[_Task] = []
    for entry in entries:
        tasks += _entry_tasks(str(entry), walker.problems)
    walker.run(tasks)
    return walker.images, walker.problems


def images_from_document(doc: dict, source: str, *, language: list[str], first_canvas_only: bool = False,
                         max_depth: int = 10) -> tuple[list[IIIFImage], list[str], list[Problem]]:
    """One manifest, collection or canvas (already parsed; `source` is where it came from, for messages
    and to resolve relative references): (images, references to follow, problems).

    The references are the members of a collection that are not embedded (each once, in document order,
    absolute when `source` is a URL), and the first/next pages of a paged v2 collection. Members embedded
    with their content are read here and their images returned.
    """
    walker = _Walker(list(language or []), first_canvas_only, max_depth, fetch_json=None, on_document=None)
    walker.run([_Task(doc=doc, source=str(source), depth=0)])
    return walker.images, walker.references, walker.problems


def is_iiif_text_file(path) -> bool:
    """True for a text file (not .json) whose lines, apart from blank lines and # comments, are all
    http(s) URLs or paths of .json files (and there is at least one)."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".json" or not path.is_file() or path.stat().st_size > MAX_TEXT_FILE_BYTES:
            return False
        lines = _text_file_lines(path)
    except (OSError, UnicodeDecodeError):
        return False
    return bool(lines) and all(_is_http(line) or line.lower().endswith(".json") for line in lines)


def _text_file_lines(path: Path) -> list[str]:
    """The entries of a text file of URLs: blank lines, # comments and " # ..." after a URL dropped."""
    lines = []
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        line = re.sub(r"\s+#.*$", "", line.strip())
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def _entry_tasks(entry: str, problems: list[Problem]) -> list[_Task]:
    """What to read for one entry of read_iiif (see there)."""
    if _is_http(entry):
        return [_Task(ref=entry, depth=0)]
    path = Path(entry).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.glob("*.json") if p.is_file() and not p.name.startswith("."))
        if not files:
            problems.append(Problem(entry, "no .json files in this folder"))
        return [_Task(ref=str(p), depth=0) for p in files]
    if not path.exists():
        problems.append(Problem(entry, "no such file or folder, and not an http(s) URL"))
        return []
    if path.suffix.lower() != ".json" and is_iiif_text_file(path):
        # its lines are URLs and .json paths (relative to the list), never other lists: no loops
        tasks = []
        for line in _text_file_lines(path):
            if not _is_http(line):
                line = str(path.parent / Path(line).expanduser())
            tasks += _entry_tasks(line, problems)
        return tasks
    return [_Task(ref=str(path), depth=0)]       # JSON, or a file fetch_json may know how to read


# --- the walk over documents ----------------------------------------------------------------------------

@dataclass
class _Task:
    ref: str | None = None              # a document to fetch (absolute URL or local path)...
    doc: dict | None = None             # ...or one already at hand (embedded in its parent)
    source: str | None = None           # where `doc` came from
    depth: int = 0                      # collections above it


@dataclass
class _Member:
    ref: str | None                     # a reference to follow, resolved against the parent's source
    doc: dict | None                    # or the member itself, embedded with its content
    page: bool = False                  # a page of the same collection (v2 first/next): same depth


@dataclass
class _Read:
    images: list[IIIFImage] = field(default_factory=list)
    members: list[_Member] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


class _Walker:
    """Reads documents depth first, in document order, each once; fetches through fetch_json, or (when it
    is None, for images_from_document) collects the references instead."""

    def __init__(self, languages, first_canvas_only, max_depth, fetch_json, on_document):
        self.languages = languages
        self.first_canvas_only = first_canvas_only
        self.max_depth = max_depth
        self.fetch_json = fetch_json
        self.on_document = on_document
        self.images: list[IIIFImage] = []
        self.problems: list[Problem] = []
        self.references: list[str] = []
        self.seen: set[str] = set()

    def run(self, tasks: list[_Task]) -> None:
        stack = list(reversed(tasks))
        while stack:
            task = stack.pop()
            if task.ref is not None:
                doc = self._fetch(task.ref)
                if doc is None:
                    continue
                task = _Task(doc=doc, source=task.ref, depth=task.depth)
            stack += reversed(self._read(task))

    def _fetch(self, ref: str) -> dict | None:
        if ref in self.seen:
            log.debug("%s: already read", ref)
            return None
        self.seen.add(ref)
        if self.fetch_json is None:
            self.references.append(ref)
            return None
        try:
            doc = self.fetch_json(ref)
        except Exception as exc:        # noqa: BLE001 - whatever the fetcher raises is reported
            self.problems.append(Problem(ref, str(exc) or type(exc).__name__))
            doc = None
        else:
            if not isinstance(doc, dict):
                self.problems.append(Problem(ref, f"not a IIIF document: a JSON {type(doc).__name__}, "
                                                  "not an object"))
                doc = None
        if self.on_document is not None:
            self.on_document(ref)
        return doc

    def _read(self, task: _Task) -> list[_Task]:
        """Read one document; the tasks for its members."""
        doc, source = task.doc, task.source or ""
        own = _id(doc)
        if own and _is_http(own) and own != source:
            if own in self.seen:
                log.info("%s: the same document as %s, already read", source, own)
                return []
            self.seen.add(own)
        self.seen.add(source)
        result = _read_document(doc, source, self.languages, self.first_canvas_only)
        self.images += result.images
        self.problems += result.problems
        tasks, cut = [], 0
        for member in result.members:
            depth = task.depth if member.page else task.depth + 1
            if depth > self.max_depth:
                cut += 1
                continue
            if member.doc is not None:
                member_id = _id(member.doc)
                ref = _resolve(member_id, source) if member_id else None
                if ref and ref in self.seen:
                    continue
                if ref:
                    self.seen.add(ref)
                tasks.append(_Task(doc=member.doc, source=ref or source, depth=depth))
            else:
                tasks.append(_Task(ref=member.ref, depth=depth))
        if cut:
            self.problems.append(Problem(source, f"collections nested more than {self.max_depth} deep: "
                                                 f"{cut} member{'s' if cut > 1 else ''} not read"))
        return tasks


# --- one document ---------------------------------------------------------------------------------------

def _read_document(doc: dict, source: str, languages: list[str], first_canvas_only: bool) -> _Read:
    """Images, members and problems of one manifest, collection or canvas (members not followed)."""
    if not isinstance(doc, dict):
        return _Read(problems=[Problem(source, "not a IIIF document (not a JSON object)")])
    kind = _kind(doc)
    version = _version(doc)
    if kind == "Manifest":
        return _read_manifest(doc, source, version, languages, first_canvas_only)
    if kind == "Collection":
        return _read_collection(doc, source, version)
    if kind == "Canvas":
        return _read_canvas_document(doc, source, version, languages)
    if kind == "ImageInfo":
        return _Read(problems=[Problem(source, "an Image API info.json, not a Presentation API manifest: "
                                               "give the manifest that shows this image")])
    what = f"a {_type(doc)}" if _type(doc) else "no type"
    return _Read(problems=[Problem(source, f"not a IIIF manifest, collection or canvas ({what})")])


def _kind(doc: dict) -> str | None:
    """"Manifest", "Collection", "Canvas", "ImageInfo" or None."""
    short = _short(_type(doc)).lower()
    for kind in ("Manifest", "Collection", "Canvas"):
        if short == kind.lower():
            return kind
    if short:
        if short.startswith("imageservice") or short == "imageprofile":
            return "ImageInfo"
        return None
    if "sequences" in doc:                              # v2 documents without @type
        return "Manifest"
    if any(key in doc for key in ("manifests", "collections", "members")):
        return "Collection"
    if "images" in doc:
        return "Canvas"
    if doc.get("protocol") == "http://iiif.io/api/image" or "iiif.io/api/image" in str(doc.get("@context")):
        return "ImageInfo"
    return None


def _version(doc: dict) -> int:
    """3 or 2, from @context (else from the keys: "type" is v3, "@type" v2)."""
    context = json.dumps(doc.get("@context", ""))
    if "presentation/3" in context:
        return 3
    if "presentation/2" in context:
        return 2
    return 3 if "type" in doc and "@type" not in doc else 2


# --- collections ----------------------------------------------------------------------------------------

def _read_collection(doc: dict, source: str, version: int) -> _Read:
    """The members of a collection (v2 collections/manifests/members and first/next pages, v3 items),
    each once, in document order."""
    result = _Read()
    if version == 3 and isinstance(doc.get("items"), list):
        candidates = doc["items"]
    else:
        candidates = [*_as_list(doc.get("collections")), *_as_list(doc.get("manifests")),
                      *_as_list(doc.get("members")), *_as_list(doc.get("items"))]
    seen: set[str] = set()
    own = _resolve(_id(doc), source) if _id(doc) else None
    for member in candidates:
        _add_member(result, member, source, seen, own, page=False)
    for key in ("first", "next"):                       # v2 paged collections
        if doc.get(key):
            _add_member(result, doc[key], source, seen, own, page=True)
    if not candidates and not any(doc.get(key) for key in ("first", "next")):
        result.problems.append(Problem(source, "an empty collection: it lists no manifests"))
    return result


def _add_member(result: _Read, member, source: str, seen: set[str], own: str | None, page: bool) -> None:
    member_id = _id(member)
    ref = _resolve(member_id, source) if member_id else None
    if ref is not None:
        if ref in seen or ref == own:
            return
        seen.add(ref)
    if isinstance(member, dict) and _has_content(member):
        result.members.append(_Member(ref=None, doc=member, page=page))
    elif ref is not None:
        kind = _kind(member) if isinstance(member, dict) else None
        if kind in (None, "Manifest", "Collection"):
            result.members.append(_Member(ref=ref, doc=None, page=page))
        else:
            log.debug("%s: member %s is a %s, not followed", source, ref, kind)
    else:
        result.problems.append(Problem(source, "a collection member without an id"))


def _has_content(member: dict) -> bool:
    """Whether a member is embedded with its content (else it is a reference to fetch)."""
    return any(key in member for key in ("sequences", "items", "manifests", "collections", "members", "first"))


# --- manifests ------------------------------------------------------------------------------------------

def _read_manifest(doc: dict, source: str, version: int, languages: list[str],
                   first_canvas_only: bool) -> _Read:
    result = _Read()
    canvases = _canvases(doc, version)
    if not canvases:
        result.problems.append(Problem(source, "a manifest without canvases"))
        return result
    manifest = _ManifestInfo.of(doc, source, languages, len(canvases))
    for index, canvas in enumerate(canvases):
        image = _canvas_image(canvas, index, manifest, version, languages, result.problems)
        if image is not None:
            result.images.append(image)
            if first_canvas_only:
                break
    return result


def _canvases(doc: dict, version: int) -> list:
    """The canvases of a manifest, in order: v3 items, v2 the first sequence that has canvases."""
    if version == 3 and isinstance(doc.get("items"), list):
        return doc["items"]
    for sequence in _as_list(doc.get("sequences")):
        if isinstance(sequence, dict) and isinstance(sequence.get("canvases"), list) and sequence["canvases"]:
            return sequence["canvases"]
    return doc["items"] if isinstance(doc.get("items"), list) else []


@dataclass
class _ManifestInfo:
    """What every canvas of a manifest shares (its metadata read once, not once per canvas)."""
    source: str
    id: str
    label: str
    canvas_count: int
    fields: dict                        # _described(manifest)

    @classmethod
    def of(cls, doc: dict, source: str, languages: list[str], canvas_count: int):
        manifest_id = _id(doc)
        manifest_id = _resolve(manifest_id, source) if manifest_id and _is_http(source) else manifest_id
        label = plain_text(doc.get("label"), languages) or manifest_id or source
        return cls(source, manifest_id or source, label, canvas_count, _described(doc, languages))


def _read_canvas_document(doc: dict, source: str, version: int, languages: list[str]) -> _Read:
    """A canvas given on its own: its image, with its manifest (partOf / within) when it names one."""
    result = _Read()
    parent = next((p for p in _as_list(doc.get("partOf")) + _as_list(doc.get("within"))
                   if _id(p) and (not isinstance(p, dict) or _short(_type(p)) in ("", "Manifest"))), None)
    parent_doc = parent if isinstance(parent, dict) else {}
    manifest = _ManifestInfo(
        source=source, id=_id(parent) or _id(doc) or source,
        label=plain_text(parent_doc.get("label"), languages) or plain_text(doc.get("label"), languages)
        or _id(parent) or _id(doc) or source,
        canvas_count=1, fields=_described(parent_doc, languages))
    image = _canvas_image(doc, 0, manifest, version, languages, result.problems)
    if image is not None:
        result.images.append(image)
    return result


# --- canvases -------------------------------------------------------------------------------------------

@dataclass
class _Painting:
    resource: dict                      # the image (or sound, ...) resource
    selector: Any                       # a SpecificResource's selector, if any
    target: Any                         # what the annotation targets (for compositions)


def _canvas_image(canvas, index: int, manifest: _ManifestInfo, version: int, languages: list[str],
                  problems: list[Problem]) -> IIIFImage | None:
    """The IIIFImage of one canvas, or None with a Problem."""
    where = f"canvas {index + 1} of {manifest.canvas_count} in {manifest.source}"
    if not isinstance(canvas, dict):
        problems.append(Problem(manifest.source, f"{where}: not a canvas object"))
        return None
    canvas_id = _id(canvas) or f"{manifest.id}#canvas-{index + 1}"
    if _short(_type(canvas)) not in ("", "Canvas"):
        problems.append(Problem(canvas_id, f"{where}: a {_short(_type(canvas))}, not a Canvas"))
        return None
    if version == 3 and "items" in canvas:
        paintings, malformed = _v3_paintings(canvas)
    else:
        paintings, malformed = _v2_paintings(canvas)
    images = [p for p in paintings if _media_kind(p.resource) == "Image"]
    if not images:
        if paintings:
            reason = f"paints {_media_kind(paintings[0].resource)}, not an image"
        elif malformed:
            reason = malformed[0]
        else:
            reason = "paints nothing (no painting annotation: the image is missing)"
        problems.append(Problem(canvas_id, f"{where}: {reason}"))
        return None
    if malformed:
        log.debug("%s: %s (the canvas's other painting annotation is used)", where, malformed[0])
    painting = _main_painting(images)
    if len(images) > 1:
        log.debug("%s: %d images composed on one canvas; the one covering it (or the largest) is used",
                  where, len(images))
    resource = painting.resource
    width, height = _int(canvas.get("width")), _int(canvas.get("height"))
    if width is None or height is None:
        width, height = _int(resource.get("width")), _int(resource.get("height"))
    canvas_label = plain_text(canvas.get("label"), languages)
    return IIIFImage(
        manifest_id=manifest.id, manifest_label=manifest.label,
        canvas_id=canvas_id, canvas_index=index, canvas_label=canvas_label,
        url=_id(resource), service=_image_service(resource, version),
        width=width, height=height,
        metadata=_metadata(manifest, canvas, canvas_id, index, canvas_label, painting, languages))


def _v2_paintings(canvas: dict) -> tuple[list[_Painting], list[str]]:
    """The painting annotations of a v2 canvas (`images`), and why others are malformed."""
    paintings, malformed = [], []
    for anno in _as_list(canvas.get("images")):
        if not isinstance(anno, dict):
            malformed.append("an image annotation that is not an object")
            continue
        anno_type = _type(anno)
        if anno_type and _short(anno_type).lower() != "annotation":
            malformed.append(f"malformed image annotation: its @type is {anno_type!r}, not oa:Annotation")
            continue
        if not _is_painting(anno.get("motivation"), default=True):
            continue
        resource = anno.get("resource")
        if not isinstance(resource, (dict, str)) or not resource:
            malformed.append("malformed image annotation: it has no resource")
            continue
        painting = _resolve_body(resource, anno.get("on"))
        if painting is None:
            malformed.append("malformed image annotation: its resource has no @id")
        else:
            paintings.append(painting)
    return paintings, malformed


def _v3_paintings(canvas: dict) -> tuple[list[_Painting], list[str]]:
    """The painting annotations of a v3 canvas (items -> AnnotationPage -> Annotation), and why others
    are malformed."""
    paintings, malformed = [], []
    for page in _as_list(canvas.get("items")):
        if not isinstance(page, dict):
            malformed.append("an annotation page that is not an object")
            continue
        if "items" not in page:
            malformed.append(f"its painting annotations are in another document ({_id(page)}), not read")
            continue
        for anno in _as_list(page.get("items")):
            if not isinstance(anno, dict):
                malformed.append("an annotation that is not an object")
                continue
            anno_type = _type(anno)
            if anno_type and _short(anno_type).lower() != "annotation":
                malformed.append(f"malformed annotation: its type is {anno_type!r}, not Annotation")
                continue
            if not _is_painting(anno.get("motivation"), default=False):
                continue
            body = anno.get("body")
            if not isinstance(body, (dict, str, list)) or not body:
                malformed.append("malformed painting annotation: it has no body")
                continue
            painting = _resolve_body(body, anno.get("target"))
            if painting is None:
                malformed.append("malformed painting annotation: its body has no id")
            else:
                paintings.append(painting)
    return paintings, malformed


def _is_painting(motivation, default: bool) -> bool:
    if motivation is None:
        return default
    return any(isinstance(m, str) and _short(m).lower() == "painting" for m in _as_list(motivation))


def _resolve_body(body, target, selector=None, depth: int = 0) -> _Painting | None:
    """The resource an annotation paints: a Choice's default (v2) or first image item, a
    SpecificResource's source (v3) or full (v2), the first image of a list of bodies."""
    if depth > 8:
        return None
    if isinstance(body, str):
        return _Painting({"id": body}, selector, target)
    if isinstance(body, list):
        return _first_image([_resolve_body(item, target, selector, depth + 1) for item in body])
    if not isinstance(body, dict):
        return None
    kind = _short(_type(body)).lower()
    if kind == "choice":
        options = _as_list(body.get("items")) + _as_list(body.get("item"))
        default = body.get("default")
        if isinstance(default, (dict, str)) and default != "rdf:nil":
            options = [default] + options
        return _first_image([_resolve_body(item, target, selector, depth + 1) for item in options])
    if kind == "specificresource":
        source = body.get("source", body.get("full"))
        return _resolve_body(source, target, body.get("selector", selector), depth + 1)
    if not _id(body):
        return None
    return _Painting(body, selector, target)


def _first_image(paintings: list[_Painting | None]) -> _Painting | None:
    paintings = [p for p in paintings if p is not None]
    return next((p for p in paintings if _media_kind(p.resource) == "Image"), paintings[0] if paintings else None)


def _media_kind(resource: dict) -> str:
    """"Image", or what the resource is instead ("Sound", "Video", "Text", ...)."""
    kind = _short(_type(resource))
    media = str(resource.get("format") or "").lower()
    if kind.lower() in ("sound", "audio"):
        return "Sound"
    if kind.lower() in ("video", "movingimage"):
        return "Video"
    if kind and kind.lower() not in ("image", "stillimage"):
        return kind
    if media.startswith("audio/"):
        return "Sound"
    if media.startswith("video/"):
        return "Video"
    if media and not media.startswith("image/") and not kind:
        return f"a {media} resource"
    return "Image"


def _main_painting(images: list[_Painting]) -> _Painting:
    """Of several images on a canvas: the first that covers the whole canvas, else the largest."""
    for painting in images:
        if _covers_canvas(painting.target):
            return painting

    def area(painting: _Painting) -> int:
        return (_int(painting.resource.get("width")) or 0) * (_int(painting.resource.get("height")) or 0)

    return max(images, key=area)                        # max keeps the first of equals


def _covers_canvas(target) -> bool:
    """Whether an annotation's target is a whole canvas (no #xywh= fragment, no selector)."""
    if isinstance(target, list):
        return bool(target) and _covers_canvas(target[0])
    if isinstance(target, dict):
        return not target.get("selector") and _covers_canvas(target.get("source") or _id(target))
    return isinstance(target, str) and bool(target) and "#" not in target


# --- image services -------------------------------------------------------------------------------------

def _image_service(resource: dict, version: int) -> dict | None:
    """The resource's image service, normalised (the newest Image API when it offers several)."""
    services = [_normalise_service(s, version) for s in _as_list(resource.get("service"))
                + _as_list(resource.get("services"))]
    services = [s for s in services if s is not None]
    if not services:
        return None
    best = max(_SERVICE_RANK[s["type"]] for s in services)
    return next(s for s in services if _SERVICE_RANK[s["type"]] == best)


def _normalise_service(service, version: int) -> dict | None:
    if isinstance(service, str):                        # v2 allows a bare URI
        service = {"@id": service}
    if not isinstance(service, dict):
        return None
    service_id = _id(service)
    service_type = _service_type(service, version, bare=set(service) <= {"@id", "id"})
    if not service_id or not service_type:
        return None
    profiles = _as_list(service.get("profile"))
    names = [p for p in profiles if isinstance(p, str)]
    details = [p for p in profiles if isinstance(p, dict)]      # v2.1: limits inside the profile list
    level = next((f"level{m.group(1)}" for m in map(_LEVEL.search, names) if m), None)

    def limit(key):
        values = [_int(service.get(key))] + [_int(d.get(key)) for d in details]
        return next((v for v in values if v is not None), None)

    sizes = []
    for size in _as_list(service.get("sizes")):
        if isinstance(size, dict) and _int(size.get("width")) and _int(size.get("height")):
            sizes.append({"width": _int(size["width"]), "height": _int(size["height"])})
    return {"id": _service_base(service_id), "type": service_type,
            "profile": level or (names[0] if names else None),
            "width": _int(service.get("width")), "height": _int(service.get("height")),
            "maxWidth": limit("maxWidth"), "maxHeight": limit("maxHeight"), "maxArea": limit("maxArea"),
            "sizes": sizes}


def _service_type(service: dict, version: int, bare: bool) -> str | None:
    """"ImageService3", "ImageService2", "ImageService1", or None for other services (search, auth...)."""
    for name in _as_list(service.get("type")) + _as_list(service.get("@type")):
        if name in _SERVICE_RANK:
            return name
    hints = json.dumps([service.get("@context"), service.get("profile")])
    if "iiif.io/api/image/3" in hints:
        return "ImageService3"
    if "iiif.io/api/image/2" in hints:
        return "ImageService2"
    if "iiif.io/api/image/1" in hints or "iiif/image-api/1" in hints:
        return "ImageService1"
    levels = [p for p in _as_list(service.get("profile")) if isinstance(p, str) and _LEVEL.fullmatch(p)]
    if levels or service.get("protocol") == "http://iiif.io/api/image" or bare:
        return "ImageService3" if version == 3 else "ImageService2"
    return None


def _service_base(url: str) -> str:
    """A service's base URL: without /info.json and without a trailing slash."""
    url = url.strip()
    if url.endswith("/info.json"):
        url = url[: -len("/info.json")]
    return url.rstrip("/")


# --- metadata -------------------------------------------------------------------------------------------

def _metadata(manifest: _ManifestInfo, canvas: dict, canvas_id: str, index: int, canvas_label: str | None,
              painting: _Painting, languages: list[str]) -> dict[str, str]:
    """IIIFImage.metadata: plain text only (see the module's docstring). What the canvas says wins over
    what the manifest says."""
    own, shared = _described(canvas, languages), manifest.fields
    out: dict[str, str | None] = {}
    if manifest.canvas_count > 1 and canvas_label and manifest.label and \
            manifest.label.casefold() in canvas_label.casefold():
        out["title"] = canvas_label   # the canvas's label already names the work (as museums often write it)
    elif manifest.canvas_count > 1:
        out["title"] = f"{manifest.label}{SEPARATOR}{canvas_label or f'canvas {index + 1}'}"
    else:
        out["title"] = manifest.label
    out["manifest"] = manifest.label
    out["description"] = own["description"] or shared["description"]
    out.update(_merge_pairs(shared["pairs"], own["pairs"]))
    for key in ("rights", "attribution", "provider", "permalink", "navDate"):
        out[key] = own[key] or shared[key]
    out["date"] = out["navDate"]
    out["thumbnail"] = own["thumbnail"] or shared["thumbnail"]
    out["region"] = _region(painting.selector)
    out["manifest_url"] = next((u for u in (manifest.id, manifest.source) if _is_http(u)), None)
    out["canvas_id"] = canvas_id
    out["canvas_index"] = str(index)
    return {key: value for key, value in out.items() if value}


def _described(resource: dict, languages: list[str]) -> dict:
    """What a manifest or a canvas says about itself, as plain text (None where it says nothing)."""
    return {
        "description": (plain_text(resource.get("summary"), languages)
                        or plain_text(resource.get("description"), languages)),
        "pairs": _pairs(resource.get("metadata"), languages),
        "rights": _rights(resource, languages),
        "attribution": _attribution(resource, languages),
        "provider": _provider(resource, languages),
        "permalink": _permalink(resource),
        "navDate": _nav_date(resource.get("navDate")),
        "thumbnail": _http_id(resource.get("thumbnail")),
    }


def _pairs(pairs, languages: list[str]) -> dict[str, str]:
    """Metadata pairs as {label: value}. Labels made unique (Subject, Subject_2), never a reserved
    name ("metadata: Title"); a pair without a label is kept as "metadata"."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for pair in _as_list(pairs):
        if not isinstance(pair, dict):
            continue
        label = plain_text(pair.get("label"), languages)
        value = plain_text(pair.get("value"), languages)
        if not value:
            continue
        label = " ".join(label.split()) if label else "metadata"
        if label.casefold() in _RESERVED:
            label = f"metadata: {label}"
        key, n = label, 2
        while key.casefold() in used:
            key, n = f"{label}_{n}", n + 1
        used.add(key.casefold())
        out[key] = value
    return out


def _merge_pairs(manifest_pairs: dict[str, str], canvas_pairs: dict[str, str]) -> dict[str, str]:
    """The manifest's pairs, then the canvas's; a canvas pair replaces the manifest's of the same label."""
    out = dict(manifest_pairs)
    for key, value in canvas_pairs.items():
        for existing in [k for k in out if k.casefold() == key.casefold()]:
            del out[existing]
        out[key] = value
    return out


def _rights(doc: dict, languages: list[str]) -> str | None:
    values = [plain_text(v, languages) for v in _as_list(doc.get("rights")) + _as_list(doc.get("license"))]
    values = [v for v in values if v]
    return "; ".join(dict.fromkeys(values)) or None


def _attribution(doc: dict, languages: list[str]) -> str | None:
    """v3 requiredStatement as "label: value"; v2 attribution (or a v2 document's requiredStatement)."""
    if doc.get("attribution"):
        return plain_text(doc["attribution"], languages)
    statement = doc.get("requiredStatement")
    if isinstance(statement, dict):
        label = plain_text(statement.get("label"), languages)
        value = plain_text(statement.get("value"), languages)
        if value:
            return f"{label}: {value}" if label else value
    return None


def _provider(doc: dict, languages: list[str]) -> str | None:
    labels = [plain_text(p.get("label"), languages) for p in _as_list(doc.get("provider")) if isinstance(p, dict)]
    return "; ".join(label for label in labels if label) or None


def _permalink(doc: dict) -> str | None:
    """v3 homepage / v2 related: the first http(s) link, an HTML page first."""
    links = [link for link in _as_list(doc.get("homepage")) + _as_list(doc.get("related"))
             if _is_http(_id(link))]
    html = [link for link in links if isinstance(link, dict) and "html" in str(link.get("format", ""))]
    chosen = (html or links or [None])[0]
    return safe_text(_id(chosen)) if chosen is not None else None


def _nav_date(value) -> str | None:
    """navDate (an xsd:dateTime) as YYYY-MM-DD."""
    match = _DATE.match(value) if isinstance(value, str) else None
    return "-".join(match.groups()) if match else None


def _region(selector) -> str | None:
    """"x,y,w,h" from an ImageApiSelector's region or a FragmentSelector's xywh=, else None."""
    for item in _as_list(selector):
        if not isinstance(item, dict):
            continue
        region = item.get("region")
        if isinstance(region, str) and region.strip() and region.strip() != "full":
            return safe_text(region)
        match = _XYWH.search(str(item.get("value", "")))
        if match:
            return "".join(match.group(1).split())
    return None


# --- small helpers --------------------------------------------------------------------------------------

def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _id(obj) -> str | None:
    """The id of a resource: "id" (v3) or "@id" (v2), or the string itself, or the first item's."""
    if isinstance(obj, str):
        return obj.strip() or None
    if isinstance(obj, dict):
        value = obj.get("id", obj.get("@id"))
        return value.strip() or None if isinstance(value, str) else None
    if isinstance(obj, list) and obj:
        return _id(obj[0])
    return None


def _http_id(obj) -> str | None:
    value = _id(obj)
    return value if _is_http(value) else None


def _type(obj) -> str:
    """The "type" (v3) or "@type" (v2) of a resource, "" when it has none."""
    if not isinstance(obj, dict):
        return ""
    value = obj.get("type", obj.get("@type"))
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str)), "")
    return value if isinstance(value, str) else ""


def _short(type_name: str) -> str:
    """"sc:Manifest" -> "Manifest", "dctypes:Image" -> "Image"."""
    return type_name.rsplit(":", 1)[-1] if type_name else ""


def _int(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value) if value == value and abs(value) != float("inf") else None
    if isinstance(value, str):
        try:
            return int(float(value))
        except ValueError:
            return None
    return None


def _is_http(value) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def _resolve(ref: str, source: str) -> str:
    """A reference made absolute: against the source's URL, or its folder for a local file."""
    ref = ref.strip()
    if _is_http(ref) or not source:
        return ref
    if _is_http(source):
        return urljoin(source, ref)
    if urlsplit(ref).scheme:                            # urn:, file: ...: left as they are
        return ref
    return str(Path(source).parent / ref)
