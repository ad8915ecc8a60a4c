"""Publish a built map's hotspots as IIIF Presentation 3.0, so a hotspot opens in Mirador or Universal Viewer.

    iiif/collection.json      a Collection: one Manifest reference per hotspot (label, thumbnail)
    iiif/hotspot-<n>.json     a Manifest per hotspot (n = the hotspot's id in data/manifest.json)
    iiif/hotspot-none.json    the images in no hotspot, "Not in a hotspot" (only when there are any)

Each Manifest has one Canvas per member image, in data order. An image that came from an institution's
IIIF manifest is painted with its original resource (and that institution's Image API service, v2 or v3) at
its original size; a local image with the site's own lightbox image (and, when the build made level-0 tiles
whose info.json names them by their public URL, see site_file_url, an ImageService3 at the site's
data/tiles/<id>), at the lightbox image's size. Every canvas has the site's
thumbnail, its label and metadata, its rights or attribution, and a homepage that opens the map on it.

IIIF ids must be absolute URLs, so everything is written for the site's public URL (`site_url`); the site's
files are at site_url + their relative path. Ids in URLs are percent-encoded like encodeURIComponent.

Metadata is untrusted plain text, and IIIF values may hold HTML (viewers render them as HTML): a value that
holds any of < > & or a line break is written as one <span> of escaped text, which every viewer shows as
the original text; any other value is written as is (plain text that reads the same as HTML).

Every document is checked before it is written: the collection with iiif-prezi3 (`validate_document`), each
Manifest against the spec's rules on every canvas and with iiif-prezi3 on up to 8 of its canvases
(`_validate_written`); `validate(path)` checks a written one whole.
"""
from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path
from urllib.parse import quote, urlsplit

import numpy as np

CONTEXT = "http://iiif.io/api/presentation/3/context.json"
NO_HOTSPOT_FILE = "hotspot-none.json"
NO_HOTSPOT_LABEL = "Not in a hotspot"
FORMATS = {"webp": "image/webp", "jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png",
           "gif": "image/gif", "tif": "image/tiff", "tiff": "image/tiff", "jp2": "image/jp2"}
# The rights URIs the Presentation 3 spec allows (without extensions), in their canonical http form.
RIGHTS_HOSTS = {"creativecommons.org": ("/licenses/", "/publicdomain/"), "rightsstatements.org": ("/vocab/",)}


class InvalidIIIF(ValueError):
    """A document that is not valid IIIF Presentation 3.0 (or not as pixmap writes it)."""


# ---------------------------------------------------------------------------------------------- writing

DEFAULT_SITE_URL = "http://127.0.0.1:8000/"   # where `pixmap serve` serves a map unless told otherwise


def write_collection(site_dir: Path, *, site_url: str, title: str, ids: list[str], images: list[dict],
                     hotspots: list[dict], labels: np.ndarray, lightbox: dict, thumbs: dict) -> list[Path]:
    """Write site_dir/iiif/collection.json and one Manifest per hotspot (see the module docstring).

    `ids`, `images` and `labels` are in data order (labels: the hotspot id per image, -1 = in no hotspot);
    `hotspots` as in data/manifest.json (id, label, size, representative); `lightbox` and `thumbs` are the
    manifest's {"size", "dir", "ext"}. Returns the written paths: the Manifests in the hotspots' order, then
    the images in no hotspot, then the collection (written last, so it never names a missing file).
    Raises ValueError on inconsistent input (and InvalidIIIF, a ValueError, if a document would be invalid).
    """
    site_dir = Path(site_dir)
    base = site_base_url(site_url)
    labels = np.asarray(labels).reshape(-1)
    n = len(ids)
    if len(images) != n or len(labels) != n:
        raise ValueError(f"ids ({n}), images ({len(images)}) and labels ({len(labels)}) must have the same length")
    pub = _Publisher(site_dir, base, ids, images, lightbox, thumbs)
    collection_id = base + "iiif/collection.json"
    part_of = [{"id": collection_id, "type": "Collection", "label": _lang(title or "pixmap", "none")}]

    groups = []  # (file name, label, members, representative, homepage)
    listed = set()
    for hs in hotspots:
        hid = int(hs["id"])
        if hid in listed:
            raise ValueError(f"hotspot id {hid} is listed twice")
        listed.add(hid)
        members = np.flatnonzero(labels == hid).tolist()
        if not members:
            raise ValueError(f"hotspot {hid} ({hs.get('label')!r}) has no images")
        rep = hs.get("representative")
        rep = int(rep) if rep is not None and int(rep) in set(members) else members[0]
        label = str(hs.get("label") or f"Hotspot {hid}")
        groups.append((f"hotspot-{hid}.json", label, members, rep, f"index.html#hotspot={hid}"))
    rest = [i for i in range(n) if int(labels[i]) not in listed]
    if rest:
        groups.append((NO_HOTSPOT_FILE, None, rest, rest[0], "index.html"))

    out_dir = site_dir / "iiif"
    out_dir.mkdir(parents=True, exist_ok=True)
    written, refs = [], []
    for name, label, members, rep, homepage in groups:
        manifest_id = base + "iiif/" + name
        label_map = _lang(label, "none") if label is not None else _lang(NO_HOTSPOT_LABEL, "en")
        canvases = [pub.canvas(i) for i in members]
        doc = {
            "@context": CONTEXT,
            "id": manifest_id,
            "type": "Manifest",
            "label": label_map,
            "metadata": [{"label": _lang("Images", "en"), "value": _lang(str(len(members)), "none")}],
            "thumbnail": [pub.thumbnail(rep)],
            "homepage": [_homepage(base + homepage, title or "pixmap")],
            "partOf": part_of,
            "start": {"id": canvases[members.index(rep)]["id"], "type": "Canvas"},
            "items": canvases,
        }
        _validate_written(doc)
        written.append(_write_json(out_dir / name, doc))
        refs.append({"id": manifest_id, "type": "Manifest", "label": label_map, "thumbnail": [pub.thumbnail(rep)]})

    collection = {
        "@context": CONTEXT,
        "id": collection_id,
        "type": "Collection",
        "label": _lang(title or "pixmap", "none"),
        "homepage": [_homepage(base + "index.html", title or "pixmap")],
        "items": refs,
    }
    if refs:
        collection["thumbnail"] = refs[0]["thumbnail"]
    validate_document(collection)
    written.append(_write_json(out_dir / "collection.json", collection))
    return written


def site_base_url(site_url: str) -> str:
    """The site's public URL, normalised (as a URL parser writes it) and ending with "/"."""
    from pydantic import AnyUrl, ValidationError

    text = str(site_url or "").strip()
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError(f"the site URL must be an absolute http(s) URL, not {site_url!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"the site URL must have no query or fragment: {site_url!r}")
    try:
        text = str(AnyUrl(text))
    except ValidationError as exc:
        raise ValueError(f"the site URL {site_url!r} is not a valid URL") from exc
    return text if text.endswith("/") else text + "/"


def site_file_url(site_url: str, rel: str) -> str:
    """The public URL of the site's file (or folder) at the relative path rel, each segment percent-encoded:
    e.g. the id to give pixmap.tiles.write_tiles (service_id) for data/tiles/<id> when publishing IIIF."""
    return site_base_url(site_url) + _url_path(rel)


def url_segment(text: str) -> str:
    """text percent-encoded for one URL path segment or query value (as encodeURIComponent does)."""
    return quote(str(text), safe="")


def rights_uri(value) -> str | None:
    """The canonical Creative Commons or RightsStatements.org URI for value (http, no "www.", ending with
    "/"; a CC deed or legal code page becomes its licence, a RightsStatements.org page its statement), or
    None when it is none of those: Presentation 3 allows only those in `rights`."""
    if not isinstance(value, str):
        return None
    parts = urlsplit(value.strip())
    host = (parts.hostname or "").lower().removeprefix("www.")
    path = parts.path
    if host == "rightsstatements.org" and path.startswith("/page/"):
        path = "/vocab/" + path[len("/page/"):]  # the human-readable page of a statement
    elif host == "creativecommons.org":
        path = re.sub(r"/(deed|legalcode)(\.[A-Za-z_-]+)*/?$", "/", path)
    elif parts.query:
        return None
    prefixes = RIGHTS_HOSTS.get(host)
    if (parts.scheme.lower() not in ("http", "https") or not prefixes or parts.port or parts.username
            or parts.fragment or not path.startswith(prefixes) or len(path.strip("/").split("/")) < 2
            or not re.fullmatch(r"[A-Za-z0-9./_-]+", path)):
        return None
    path = path if path.endswith("/") else path + "/"
    return f"http://{host}{path}"


def text_value(text: str) -> str:
    """Plain text as an IIIF value (metadata value, requiredStatement value) that every viewer shows as
    that text: as is when it holds nothing HTML could read differently, else one <span> of escaped text."""
    text = str(text)
    if not any(c in text for c in "<>&\r\n"):
        return text
    body = html.escape(text, quote=False).replace("\r\n", "\n").replace("\r", "\n").replace("\n", "<br/>")
    return f"<span>{body}</span>"


class _Publisher:
    """Builds the canvas and thumbnail of one image, for the site at `base`."""

    def __init__(self, site_dir, base, ids, images, lightbox, thumbs):
        self.site_dir, self.base, self.ids, self.images = site_dir, base, ids, images
        self.lightbox, self.thumbs = lightbox, thumbs

    def site_file_url(self, entry: dict, image_id: str) -> str:
        """The URL of an image's file in a per-image folder (manifest thumbs/lightbox; sharded or flat)."""
        from ..site import image_file

        return self.base + _url_path(image_file(entry, image_id))

    def thumbnail(self, i: int) -> dict:
        entry = self.thumbs if int(self.thumbs.get("size") or 0) else self.lightbox   # size 0: no thumbnails
        ext = str(entry["ext"])
        return {"id": self.site_file_url(entry, self.ids[i]), "type": "Image",
                "format": FORMATS.get(ext.lower(), "image/webp")}

    def canvas(self, i: int) -> dict:
        image_id, im = self.ids[i], self.images[i]
        canvas_id = self.base + "iiif/canvas/" + url_segment(image_id)
        remote_url = _external_url(im.get("url"))
        service = _service(im.get("service"))
        if remote_url is None and service is not None:
            remote_url = service_image_url(service)
        if remote_url is not None:  # IIIF-sourced: the original resource at its original size
            width, height = _dims(im.get("width"), im.get("height"))
            if width is None:
                width, height = self.lightbox_size(i)
            body = {"id": remote_url, "type": "Image"}
            fmt = _format_of(remote_url)
            if fmt:
                body["format"] = fmt
            body.update(width=width, height=height)
            if service is not None:
                body["service"] = [service]
        else:  # local: the site's own lightbox image
            width, height = self.lightbox_size(i)
            ext = str(self.lightbox["ext"])
            body = {"id": self.site_file_url(self.lightbox, image_id), "type": "Image",
                    "format": FORMATS.get(ext.lower(), "image/webp"), "width": width, "height": height}
            tiles = im.get("tiles")
            if tiles and self.tiles_published(tiles):
                body["service"] = [{"id": self.base + _url_path(_tiles_base(tiles)), "type": "ImageService3",
                                    "profile": "level0"}]
        label = str(im.get("label") or "") or image_id
        metadata = []
        for key, value in (im.get("metadata") or {}).items():
            value = _plain(value)
            if key is None or value is None or str(key) == "":
                continue
            metadata.append({"label": _lang(str(key), "none"), "value": _lang(text_value(value), "none")})
        canvas = {"id": canvas_id, "type": "Canvas", "label": _lang(label, "none"), "width": width, "height": height}
        raw_rights = im.get("rights")
        rights = rights_uri(raw_rights)
        if raw_rights and rights is None:
            metadata.append({"label": _lang("Rights", "en"), "value": _lang(text_value(str(raw_rights)), "none")})
        if metadata:
            canvas["metadata"] = metadata
        if im.get("attribution"):
            canvas["requiredStatement"] = {"label": _lang("Attribution", "en"),
                                           "value": _lang(text_value(str(im["attribution"])), "none")}
        if rights:
            canvas["rights"] = rights
        canvas["thumbnail"] = [self.thumbnail(i)]
        canvas["homepage"] = [_homepage(self.base + "index.html#open=" + url_segment(image_id), label)]
        source_manifest = _external_url(im.get("manifest_id"))
        if source_manifest:
            canvas["seeAlso"] = [{"id": source_manifest, "type": "Dataset", "label": _lang("Source IIIF manifest", "en"),
                                  "format": "application/ld+json"}]
        page_id = canvas_id + "/page"
        canvas["items"] = [{"id": page_id, "type": "AnnotationPage", "items": [
            {"id": page_id + "/painting", "type": "Annotation", "motivation": "painting", "body": body,
             "target": canvas_id}]}]
        return canvas

    def tiles_published(self, tiles: str) -> bool:
        """Whether the tiles' info.json is in the site and names the service by its public URL (other
        viewers build every tile's URL from that id; pixmap's own "." placeholder works only in the map)."""
        rel = _tiles_base(tiles)
        try:
            info = json.loads((self.site_dir / rel / "info.json").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return False
        sid = info.get("id") if isinstance(info, dict) else None
        return isinstance(sid, str) and sid.rstrip("/") == self.base + _url_path(rel)

    def lightbox_size(self, i: int) -> tuple[int, int]:
        """The size of image i's lightbox image: read from the file when it is there, else the original size
        fitted into lightbox["size"] (never upscaled), as pixmap.images.fit makes it."""
        from ..site import image_file

        known = self.images[i].get("lightbox_size")   # (the build knows it: no file to open)
        if known:
            return int(known[0]), int(known[1])
        path = self.site_dir / image_file(self.lightbox, self.ids[i])
        if path.is_file():
            from PIL import Image
            try:
                with Image.open(path) as f:
                    return int(f.width), int(f.height)
            except (OSError, ValueError):
                pass
        im = self.images[i]
        width, height = _dims(im.get("width"), im.get("height"))
        if width is None:
            raise ValueError(f"image {self.ids[i]!r} has no size and no lightbox image at {path.name}")
        return fit_size(width, height, int(self.lightbox["size"]))


def fit_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(width, height) scaled so the longest side is <= max_side; never upscaled (as pixmap.images.fit)."""
    if max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    return max(1, min(max_side, round(width * scale))), max(1, min(max_side, round(height * scale)))


def service_image_url(service: dict) -> str:
    """The full image at full size from an Image API service (v3 `max`, v2 `full`), as JPEG."""
    sid = service.get("id") or service.get("@id")
    v3 = service.get("type") == "ImageService3"
    return f"{sid}/full/{'max' if v3 else 'full'}/0/default.jpg"


def _service(service) -> dict | None:
    """An Image API service as Presentation 3 embeds it: v3 with id/type, older ones with @id/@type."""
    if not isinstance(service, dict):
        return None
    sid = service.get("id") or service.get("@id")
    if not isinstance(sid, str):
        return None
    sid = sid.strip()
    if sid.endswith("/info.json"):
        sid = sid[:-len("/info.json")]
    sid = _external_url(sid.rstrip("/"))
    if sid is None:
        return None
    kind = str(service.get("type") or service.get("@type") or "ImageService2")
    profile = service.get("profile")
    if isinstance(profile, list):
        profile = next((p for p in profile if isinstance(p, str)), None)
    if kind == "ImageService3":
        out = {"id": sid, "type": kind}
    else:
        out = {"@id": sid, "@type": kind if kind.startswith("ImageService") else "ImageService2"}
    if isinstance(profile, str) and profile:
        out["profile"] = profile
    return out


def _external_url(url) -> str | None:
    """An absolute http(s) URL as a URL parser normalises it (so it validates and reads back the same)."""
    from pydantic import AnyUrl, ValidationError

    if not isinstance(url, str) or not url.strip():
        return None
    url = url.strip()
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        return None
    try:
        return str(AnyUrl(url))
    except ValidationError:
        return None


def _url_path(rel: str) -> str:
    """A relative site path ("data/lightbox") with each segment percent-encoded."""
    return "/".join(url_segment(p) for p in str(rel).replace("\\", "/").strip("/").split("/") if p)


def _tiles_base(tiles: str) -> str:
    rel = str(tiles).replace("\\", "/").strip("/")
    if rel.endswith("/info.json"):
        rel = rel[:-len("/info.json")]
    if not rel or rel.startswith(".") or "://" in rel or "/../" in f"/{rel}/":
        raise ValueError(f"tiles must be a relative path like data/tiles/<id>/info.json, not {tiles!r}")
    return rel


def _format_of(url: str) -> str | None:
    path = urlsplit(url).path
    ext = path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    return FORMATS.get(ext)


def _dims(width, height) -> tuple[int | None, int | None]:
    try:
        w, h = int(width), int(height)
    except (TypeError, ValueError):
        return None, None
    return (w, h) if w > 0 and h > 0 else (None, None)


def _plain(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        items = [str(v) for v in value if v is not None and str(v) != ""]
        return "; ".join(items) if items else None
    text = str(value)
    return text if text != "" else None


def _lang(text: str, language: str) -> dict:
    return {language: [str(text)]}


def _homepage(url: str, label: str) -> dict:
    return {"id": url, "type": "Text", "label": _lang(label, "none"), "format": "text/html"}


def _write_json(path: Path, doc: dict) -> Path:
    data = json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(data, encoding="utf-8")
    os.replace(tmp, path)
    return path


# ---------------------------------------------------------------------------------------------- checking

def validate(path) -> None:
    """Raise InvalidIIIF unless the file at path is a valid IIIF Presentation 3.0 Manifest or Collection."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidIIIF(f"{path}: cannot read it as JSON: {exc}") from exc
    try:
        validate_document(doc)
    except InvalidIIIF as exc:
        raise InvalidIIIF(f"{path}: {exc}") from exc


SCHEMA_CANVASES = 8    # canvases per Manifest a build validates with iiif-prezi3's schema (all: the spec checks)


def _validate_written(doc: dict) -> None:
    """A build's check of a Manifest it writes: the spec's rules (`_check_spec`) on every canvas, iiif-prezi3's
    schema on the Manifest with at most SCHEMA_CANVASES of its canvases (evenly spread, first and last
    included). Every canvas is made by the same code from strings and integers; validating all of them with
    pydantic took 5 of the 6.5 s that the site stage of a 4,317-image rebuild took. `validate_file` checks
    everything."""
    items = doc.get("items") or []
    if len(items) <= SCHEMA_CANVASES:
        validate_document(doc)
        return
    picks = sorted({round(k * (len(items) - 1) / (SCHEMA_CANVASES - 1)) for k in range(SCHEMA_CANVASES)})
    sample = {**doc, "items": [items[k] for k in picks]}
    sample["start"] = {"id": sample["items"][0]["id"], "type": "Canvas"} if "start" in doc else None
    if sample["start"] is None:
        del sample["start"]
    validate_document(sample)
    _check_spec(doc, "")


def validate_document(doc: dict) -> None:
    """Raise InvalidIIIF unless doc is a valid Presentation 3.0 Manifest or Collection.

    iiif-prezi3 validates it (its pydantic models of the Presentation 3 JSON schema). Its models also fill in
    what is missing (ids, `items`, language maps) and ignore unknown keys, so the model's own JSON must also
    equal the document. Then the spec's rules that the schema leaves out: the context, http(s) ids, rights
    from Creative Commons or RightsStatements.org, painting annotations that target their canvas.
    """
    import iiif_prezi3
    from pydantic import ValidationError

    if not isinstance(doc, dict):
        raise InvalidIIIF("not a JSON object")
    kind = doc.get("type")
    model = {"Manifest": iiif_prezi3.Manifest, "Collection": iiif_prezi3.Collection}.get(kind)
    if model is None:
        raise InvalidIIIF(f"type must be Manifest or Collection, not {kind!r}")
    context = doc.get("@context")
    if context != CONTEXT and not (isinstance(context, list) and context and context[-1] == CONTEXT):
        raise InvalidIIIF(f"@context must be (or end with) {CONTEXT}, not {context!r}")
    try:
        obj = model.model_validate(doc)
    except ValidationError as exc:
        raise InvalidIIIF(f"not a valid {kind}: {exc}") from exc
    dumped = obj.model_dump(mode="json", by_alias=True, exclude_none=True)
    dumped.pop("@context", None)
    mine = {k: v for k, v in doc.items() if k != "@context"}
    where = _first_difference(mine, dumped, "")
    if where is not None:
        raise InvalidIIIF(f"iiif-prezi3 reads it differently (an unknown, missing or malformed value) at {where}")
    _check_spec(doc, "")
    if kind == "Manifest" and not doc.get("items"):
        raise InvalidIIIF("a Manifest must have at least one Canvas")


def _first_difference(a, b, where: str) -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return f"{where}/{key}"
            found = _first_difference(a[key], b[key], f"{where}/{key}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return where or "/"
        for k, (x, y) in enumerate(zip(a, b)):
            found = _first_difference(x, y, f"{where}/{k}")
            if found:
                return found
        return None
    return None if (type(a) is type(b) and a == b) else (where or "/")


def _check_spec(node, where: str) -> None:
    if isinstance(node, list):
        for k, item in enumerate(node):
            _check_spec(item, f"{where}/{k}")
        return
    if not isinstance(node, dict):
        return
    for key in ("id", "@id"):
        if key in node and isinstance(node[key], str):
            parts = urlsplit(node[key])
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise InvalidIIIF(f"{where}/{key}: ids must be absolute http(s) URLs, not {node[key]!r}")
    if "rights" in node and rights_uri(node["rights"]) != node["rights"]:
        raise InvalidIIIF(f"{where}/rights: must be a Creative Commons or RightsStatements.org URI "
                          f"(http, canonical form), not {node['rights']!r}")
    if node.get("type") == "Canvas" and isinstance(node.get("items"), list):
        for page in node["items"]:
            for anno in page.get("items", []) if isinstance(page, dict) else []:
                if isinstance(anno, dict) and anno.get("motivation") == "painting" and anno.get("target") != node.get("id"):
                    raise InvalidIIIF(f"{where}: a painting annotation must target its canvas")
        if not (isinstance(node.get("width"), int) and isinstance(node.get("height"), int)):
            raise InvalidIIIF(f"{where}: a canvas with an image must have a width and a height")
    for key, value in node.items():
        _check_spec(value, f"{where}/{key}")


def collection_images(sources, sizes, fields: list[str], rows: list[list], tiles: dict,
                      lightbox_sizes=None) -> list[dict]:
    """The `images` argument of write_collection for a build: per image (an ImageSource, its original
    (width, height), its metadata row as a list aligned with `fields`, and its tiles if --deep-zoom wrote
    some) the label, metadata, size, the IIIF source it came from (if any), rights and attribution; and
    its lightbox image's (width, height) when `lightbox_sizes` gives them."""
    lower = [f.lower() for f in fields]

    def value(row, name):
        if name in lower:
            v = row[lower.index(name)]
            return None if v in (None, "") else str(v)
        return None

    entries = []
    for i, (src, (w, h), row) in enumerate(zip(sources, sizes, rows)):
        remote = src.remote
        metadata = {f: (", ".join(map(str, v)) if isinstance(v, list) else str(v))
                    for f, v in zip(fields, row) if v not in (None, "", [])}
        entries.append({
            "label": value(row, "title") or src.relpath, "metadata": metadata, "width": int(w), "height": int(h),
            "service": getattr(remote, "service", None), "url": getattr(remote, "url", None),
            "canvas_id": getattr(remote, "canvas_id", None), "manifest_id": getattr(remote, "manifest_id", None),
            "rights": value(row, "rights"), "attribution": value(row, "attribution"),
            "tiles": tiles.get(i)})
        if lightbox_sizes is not None and lightbox_sizes[i]:
            entries[-1]["lightbox_size"] = tuple(lightbox_sizes[i])
    return entries
