"""A real IIIF HTTP server on 127.0.0.1 for tests: Presentation manifests and the Image API, with faults.

    with IIIFServer(REPO.parent / "shared" / "iiif", REPO / "datasets" / "aic-paintings" / "images") as srv:
        url = srv.manifest_url("presentation-3/wellcome-p3.json")
        srv.fault("info.json", "500-then-200")
        ...
        assert srv.count("/full/max/") == 0

What it serves (every response carries Content-Length; HTTP/1.1 keep-alive; CORS open):

- ``/manifests/<relpath>``: a JSON file of the shared iiif folder with every URL that locates something
  rewritten to point back at this server: ``https://host/path`` -> ``<srv.url>host/path`` (``srv.local(url)``).
  Vocabulary URIs stay as published: the values of ``@context``, ``profile``, ``protocol``, ``rights``,
  ``license``, ``type``/``@type``, ``format``, ``motivation``, ``behavior``, ``viewingHint`` and the like;
  so does text (``label``, ``metadata``, ``summary``, ``requiredStatement``...), even a bare URL in it.
  ``?escaped=1`` (``manifest_url(rel, escaped=True)``) writes every ``/`` as ``\\/`` (JSON-escaped slashes,
  as some PHP servers do). Every JSON answer (manifests and info.json) has an ETag and a Last-Modified and
  answers 304 to a matching If-None-Match (or, without one, a recent enough If-Modified-Since).
- A shared document also at its own id, rewritten (``<srv.url>iiif.io/api/cookbook/recipe/0032-collection/
  manifest-01.json``), so collections that reference their members by id can be followed.
- ``/custom/<name>``: a JSON document given to ``srv.add_manifest(name, doc)`` (rewritten the same way).
- ``/synthetic/v<2|3>/<n>/manifest.json`` (``srv.synthetic_manifest_url(n, version)``): a generated manifest of
  n canvases, each painted by one image with an Image API service on this server (``/synthetic-images/...``).
- ``<identifier>/info.json``: an Image API info.json for any identifier (any path). Which version and
  compliance level, by this rule:
    1. a service declared in any shared manifest, a custom or a synthetic manifest (matched by host + path,
       percent-decoded, without trailing slash) keeps its declared version (``ImageService3`` or an image/3
       context -> 3; ImageService2, an image/2 context or Image API 1.1 -> 2), its level (level0/1/2 in its
       profile; unknown -> 2), its declared width/height (the full size), ``sizes`` and extra features
       (v2 ``supports``, v3 ``extraFeatures``);
    2. any other identifier: version 3 if one of its path segments is ``3``, ``3.0`` or ``v3``, else 2;
       level 0 if a segment is ``level0``, else level 2; full size = 4 x the size of its picture.
  Its picture is one of ``images_dir`` chosen by a hash of the identifier (stable across runs). Levels 1
  and 2 declare ``maxWidth`` = ``maxHeight`` = ``max_width``; level 0 lists ``sizes`` (declared ones, else
  the full size halved 0 to 4 times) and answers only those.
- ``<identifier>/{region}/{size}/{rotation}/{quality}.{format}`` (Image API 2 and 3 syntax): real pixels of
  that size (the picture centre-cropped to the declared aspect ratio, then the region, then resized), as
  JPEG, PNG, WebP or GIF. Refused with 400 as a real server does: a size above maxWidth/maxHeight, above the
  region without ``^`` (``^`` only in v3), ``full`` size in v3, ``^`` in v2, a feature the level lacks
  (v2 level 1: no ``w,h``/``!w,h``; v3 level 1: no ``!w,h``/``pct:``; level 0: only listed sizes of the
  full region), rotations other than multiples of 90, unknown quality or format.
- ``<identifier>`` alone, for a known service: 303 to its info.json.
- A plain image: any path ending in an image extension (.jpg .jpeg .png .gif .webp .tif .tiff .jp2), or any
  path declared as an image resource in a manifest (e.g. Gallica's ``f213.highres``): the picture at 4 x
  its size (PNG/WebP/GIF for those extensions, JPEG bytes otherwise).
- Audio/video paths (.mp4 .m4a .mp3 .ogg .oga .wav .webm .mov): 200, a small binary body, audio/mp4 etc.
- Anything else: 404.

Faults, set per URL substring (matched against the raw request path with its query, and its decoded form):
``srv.fault(substring, kind, seconds=5.0, times=1, retry_after=1)`` with kind
``"404"``, ``"500"`` (forever), ``"500-then-200"`` (the first ``times`` requests 500, then normal),
``"429-then-200"`` (first ``times`` 429 with Retry-After ``retry_after``), ``"slow"`` (the first ``times`` sleep ``seconds``
before the normal answer), ``"malformed-json"`` (200 application/json, broken at line 3 column 11),
``"html"`` (200, a small text/html page), ``"reset"`` (closes the connection without a response).
``srv.clear_faults()`` removes them. Every request is recorded: ``srv.requests`` (list of (method, path)),
``srv.count(substring)``, ``srv.headers(substring)``, ``srv.statuses(substring)`` (the status answered),
``srv.max_in_flight`` (most requests answered at once); ``srv.clear_requests()``. ``srv.picture_path(id)`` is
the file whose pixels an identifier shows; ``srv.service_info(id)`` the info.json it answers.

Shared data: ``SHARED_IIIF`` (``../shared/iiif`` beside the repository) and ``PAINTINGS`` (the bundled demo
pictures); ``require_shared_iiif()`` skips a test when the shared folder is missing (fails when $CI is set).
"""
from __future__ import annotations

import email.utils
import hashlib
import http.server
import io
import json
import math
import os
import re
import socket
import struct
import threading
import time
import urllib.parse
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parent.parent
SHARED_IIIF = REPO.parent / "shared" / "iiif"
PAINTINGS = REPO / "datasets" / "aic-paintings" / "images"
SCALE = 4  # an undeclared identifier's full size is this many times its picture's size
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".tif", ".tiff", ".jp2"}
MEDIA_TYPES = {".mp4": "audio/mp4", ".m4a": "audio/mp4", ".mp3": "audio/mpeg", ".ogg": "audio/ogg",
               ".oga": "audio/ogg", ".wav": "audio/wav", ".webm": "video/webm", ".mov": "video/quicktime"}
# Values of these keys are vocabulary (contexts, profiles, licences, types), never locations: not rewritten.
VOCABULARY_KEYS = {"@context", "profile", "protocol", "rights", "license", "type", "@type", "format",
                   "motivation", "behavior", "viewingHint", "viewingDirection", "supports", "language",
                   "conformsTo", "extraFeatures", "extraQualities", "extraFormats", "preferredFormats",
                   "@vocab", "dcterms:conformsTo"}
# Text (labels, metadata, statements) stays as published, even a value that is a bare URL.
TEXT_KEYS = {"label", "value", "@value", "summary", "description", "attribution", "requiredStatement",
             "metadata"}
FAULT_KINDS = {"404", "500", "500-then-200", "429-then-200", "slow", "malformed-json", "html", "reset"}
MALFORMED_JSON = b'{\n  "id": "x",\n  "type": ,\n  "items": []\n}\n'  # error at line 3 column 11
HTML_PAGE = b"<!doctype html><html><head><title>Viewer</title></head><body><p>Not an image.</p></body></html>\n"
MEDIA_BODY = b"\x00\x00\x00\x18ftypM4A \x00\x00\x00\x00M4A mp42isom" + bytes(1000)

FORMATS = {"jpg": ("JPEG", "image/jpeg"), "jpeg": ("JPEG", "image/jpeg"), "png": ("PNG", "image/png"),
           "webp": ("WEBP", "image/webp"), "gif": ("GIF", "image/gif")}

# Image API syntax of the last four path segments.
RE_REGION = re.compile(r"^(full|square|\d+,\d+,\d+,\d+|pct:[\d.]+,[\d.]+,[\d.]+,[\d.]+)$")
RE_SIZE = re.compile(r"^\^?(full|max|\d+,|,\d+|\d+,\d+|!\d+,\d+|pct:[\d.]+)$")
RE_ROTATION = re.compile(r"^!?\d+(\.\d+)?$")
RE_QUALITY = re.compile(r"^(default|color|colour|gray|grey|bitonal|native)\.([a-z0-9]+)$")

# Features each level supports (Image API 2.1 and 3.0 compliance documents), beyond region full / size full|max.
LEVEL_FEATURES = {
    (2, 0): {"sizeByWhListed"},
    (2, 1): {"regionByPx", "sizeByW", "sizeByH", "sizeByPct"},
    (2, 2): {"regionByPx", "regionByPct", "sizeByW", "sizeByH", "sizeByPct", "sizeByWh", "sizeByConfinedWh",
             "sizeByDistortedWh", "sizeByForcedWh", "rotationBy90s", "mirroring", "png", "qualities"},
    (3, 0): {"sizeByWhListed"},
    (3, 1): {"regionByPx", "regionSquare", "sizeByW", "sizeByH", "sizeByWh"},
    (3, 2): {"regionByPx", "regionSquare", "regionByPct", "sizeByW", "sizeByH", "sizeByWh", "sizeByConfinedWh",
             "sizeByPct", "rotationBy90s", "mirroring", "png", "qualities"},
}


def require_shared_iiif() -> Path:
    """The shared IIIF manifests folder; skips the calling test when it is missing (fails under CI)."""
    if (SHARED_IIIF / "README.md").is_file():
        return SHARED_IIIF
    import pytest
    message = ("the shared IIIF manifests are missing: expected ../shared/iiif beside the repository "
               "(real institutions' manifests; see the project's shared data)")
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


class BadRequest(Exception):
    """An Image API request this server refuses with 400 (the message is the response body)."""


@dataclass
class ServiceDecl:
    """What a manifest declares about an image service (or this server's defaults for an unknown one)."""
    version: int = 2
    level: int = 2
    width: int | None = None
    height: int | None = None
    sizes: list | None = None
    extras: set = field(default_factory=set)


@dataclass
class Fault:
    kind: str
    seconds: float = 5.0
    times: int = 1
    retry_after: int = 1
    seen: int = 0


def path_key(url_or_path: str) -> str:
    """The identity of a location: ``host/path`` percent-decoded, no query, no trailing slash.

    ``https://example.org/iiif/a%20b/`` and the request path ``/example.org/iiif/a b`` give the same key."""
    if re.match(r"^https?://", url_or_path):
        parts = urllib.parse.urlsplit(url_or_path)
        path = parts.netloc + parts.path
    else:
        path = urllib.parse.urlsplit(url_or_path).path.lstrip("/")
    return urllib.parse.unquote(path).rstrip("/")


def _declared_version(svc: dict) -> int | None:
    """2 or 3 if svc is an Image API service (1.1 counts as 2), else None."""
    kind = str(svc.get("type") or svc.get("@type") or "")
    ctx = json.dumps(svc.get("@context", ""))
    prof = json.dumps(svc.get("profile", ""))
    if kind == "ImageService3" or "api/image/3" in ctx:
        return 3
    if kind in ("ImageService2", "ImageService1") or "api/image/2" in ctx or "image-api/1" in ctx:
        return 2
    if "api/image/2/" in prof or "image-api/1" in prof:
        return 2
    return None


def _declared_level(svc: dict) -> int:
    prof = svc.get("profile")
    first = prof[0] if isinstance(prof, list) and prof else prof
    m = re.search(r"level([012])", str(first or ""))
    return int(m.group(1)) if m else 2


def _declared_extras(svc: dict) -> set:
    extras = set(svc.get("extraFeatures") or [])
    prof = svc.get("profile")
    for item in prof if isinstance(prof, list) else []:
        if isinstance(item, dict):
            extras.update(item.get("supports") or [])
    return {e for e in extras if isinstance(e, str)}


class IIIFServer:
    """A threaded HTTP server answering the IIIF Presentation and Image APIs from real files and pictures.

    A context manager; ``close()`` stops it. ``url`` is ``http://127.0.0.1:PORT/``."""

    def __init__(self, shared_iiif_dir, images_dir, *, max_width: int = 2000, latency: float = 0.0):
        self.shared_iiif_dir = Path(shared_iiif_dir)
        self.images_dir = Path(images_dir)
        self.max_width = int(max_width)
        self.latency = float(latency)
        self.pictures = sorted(p for p in self.images_dir.iterdir()
                               if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        if not self.pictures:
            raise ValueError(f"no pictures in {self.images_dir}")
        self._lock = threading.Lock()
        self._log: list[list] = []  # [method, raw path, headers, status]
        self._in_flight = 0
        self.max_in_flight = 0  # the most requests this server was answering at once
        self._faults: list[tuple[str, Fault]] = []
        self._services: dict[str, ServiceDecl] = {}
        self._image_resources: set[str] = set()
        self._custom: dict[str, dict] = {}
        self._json_cache: dict[tuple, tuple[bytes, str, float]] = {}
        self._picture_cache: OrderedDict[int, Image.Image] = OrderedDict()
        self._picture_sizes: dict[int, tuple[int, int]] = {}
        self._started = time.time()

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self._documents_by_id: dict[str, str] = {}   # host/path of a shared document's own id -> its relpath
        for path in sorted(self.shared_iiif_dir.rglob("*.json")) if self.shared_iiif_dir.is_dir() else []:
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
                self._register(doc)
            except (OSError, ValueError):
                continue
            own = doc.get("id") or doc.get("@id") if isinstance(doc, dict) else None
            if isinstance(own, str) and own.startswith(("http://", "https://")):
                self._documents_by_id.setdefault(path_key(own), path.relative_to(self.shared_iiif_dir).as_posix())
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="iiif-test-server", daemon=True)
        self._thread.start()

    # ---- public API -------------------------------------------------------------------------------------

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        """Stop serving and free the port (idempotent)."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread = None

    def local(self, url: str) -> str:
        """The URL on this server that stands for ``url`` (``https://host/p?q`` -> ``<self.url>host/p?q``)."""
        parts = urllib.parse.urlsplit(url)
        out = self.url + parts.netloc + parts.path
        if parts.query:
            out += "?" + parts.query
        if parts.fragment:
            out += "#" + parts.fragment
        return out

    def manifest_url(self, relpath: str, *, escaped: bool = False) -> str:
        """URL of a shared manifest (relative to the shared iiif folder), e.g. ``cookbook/0001-mvm-image.json``.
        ``escaped=True`` serves it with JSON-escaped slashes."""
        return self.url + "manifests/" + urllib.parse.quote(relpath) + ("?escaped=1" if escaped else "")

    def add_manifest(self, name: str, doc: dict) -> str:
        """Serve ``doc`` (rewritten like the shared manifests) at ``/custom/<name>``; returns its URL.
        Its image services and image resources are registered as in the shared manifests."""
        with self._lock:
            self._custom[name] = doc
            self._json_cache = {k: v for k, v in self._json_cache.items() if k[0] != "custom:" + name}
        self._register(doc)
        return self.url + "custom/" + urllib.parse.quote(name)

    def synthetic_manifest_url(self, n_canvases: int, version: int = 3) -> str:
        """URL of a generated Presentation ``version`` (2 or 3) manifest with n canvases, each painted by an
        image whose Image API service (level 2, same version) is on this server."""
        if version not in (2, 3):
            raise ValueError("version must be 2 or 3")
        return f"{self.url}synthetic/v{version}/{int(n_canvases)}/manifest.json"

    def fault(self, substring: str, kind: str, *, seconds: float = 5.0, times: int = 1,
              retry_after: int = 1) -> None:
        """Make requests whose path contains ``substring`` fail in the way ``kind`` says (see module doc)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {sorted(FAULT_KINDS)}")
        with self._lock:
            self._faults.append((substring, Fault(kind, seconds, times, retry_after)))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def requests(self) -> list[tuple[str, str]]:
        """Every request so far, as (method, raw path with query), in arrival order."""
        with self._lock:
            return [(e[0], e[1]) for e in self._log]

    def count(self, substring: str) -> int:
        """How many requests had ``substring`` in their path (raw or percent-decoded)."""
        with self._lock:
            return sum(1 for e in self._log if _matches(substring, e[1]))

    def headers(self, substring: str = "") -> list[dict]:
        """The request headers of every request whose path contains ``substring``."""
        with self._lock:
            return [e[2] for e in self._log if _matches(substring, e[1])]

    def statuses(self, substring: str = "") -> list:
        """The status answered to every request whose path contains ``substring`` (None: no answer)."""
        with self._lock:
            return [e[3] for e in self._log if _matches(substring, e[1])]

    def clear_requests(self) -> None:
        with self._lock:
            self._log.clear()
            self.max_in_flight = self._in_flight

    def picture_path(self, url_or_identifier: str) -> Path:
        """The file in images_dir whose pixels this server shows for an identifier or image URL."""
        return self.pictures[self._picture_index(self._key_of(url_or_identifier))]

    def _key_of(self, url_or_identifier: str) -> str:
        if url_or_identifier.startswith(self.url):
            url_or_identifier = url_or_identifier[len(self.url) - 1:]
        return path_key(url_or_identifier)

    def service_info(self, url_or_identifier: str) -> dict:
        """The info.json this server answers for an identifier (a URL on this server or a host/path)."""
        key = self._key_of(url_or_identifier)
        return self._info(key, self.url + urllib.parse.quote(key))

    # ---- registry of what manifests declare ---------------------------------------------------------------

    def _register(self, doc) -> None:
        """Record the image services (version, level, size, sizes) and image resources a document declares."""
        stack = [doc]
        while stack:
            node = stack.pop()
            if isinstance(node, list):
                stack.extend(node)
                continue
            if not isinstance(node, dict):
                continue
            ident = node.get("id") or node.get("@id")
            if isinstance(ident, str) and re.match(r"^https?://", ident):
                version = _declared_version(node)
                kind = str(node.get("type") or node.get("@type") or "")
                if version is not None and kind not in ("Image", "dctypes:Image"):
                    sizes = [(int(s["width"]), int(s["height"])) for s in node.get("sizes") or []
                             if isinstance(s, dict) and s.get("width") and s.get("height")]
                    decl = ServiceDecl(version=version, level=_declared_level(node),
                                       width=_int(node.get("width")), height=_int(node.get("height")),
                                       sizes=sizes or None, extras=_declared_extras(node))
                    with self._lock:
                        self._services[self._key_of(ident)] = decl
                elif kind in ("Image", "dctypes:Image"):
                    with self._lock:
                        self._image_resources.add(self._key_of(ident))
            stack.extend(node.values())

    def _decl(self, key: str) -> ServiceDecl:
        with self._lock:
            decl = self._services.get(key)
        if decl is not None:
            return decl
        segments = key.split("/")
        version = 3 if any(s in ("3", "3.0", "v3") for s in segments) else 2
        level = 0 if "level0" in segments else 2
        return ServiceDecl(version=version, level=level)

    # ---- pictures ------------------------------------------------------------------------------------------

    def _picture_index(self, key: str) -> int:
        return int(hashlib.sha256(key.encode("utf-8")).hexdigest(), 16) % len(self.pictures)

    def _picture(self, index: int) -> Image.Image:
        with self._lock:
            img = self._picture_cache.get(index)
            if img is not None:
                self._picture_cache.move_to_end(index)
                return img
        with Image.open(self.pictures[index]) as f:
            img = f.convert("RGB")
        with self._lock:
            self._picture_cache[index] = img
            self._picture_sizes[index] = img.size
            while len(self._picture_cache) > 32:
                self._picture_cache.popitem(last=False)
        return img

    def _picture_size(self, index: int) -> tuple[int, int]:
        with self._lock:
            size = self._picture_sizes.get(index)
        if size is None:
            with Image.open(self.pictures[index]) as f:
                size = f.size
            with self._lock:
                self._picture_sizes[index] = size
        return size

    def _full_size(self, key: str, decl: ServiceDecl) -> tuple[int, int]:
        if decl.width and decl.height:
            return decl.width, decl.height
        w, h = self._picture_size(self._picture_index(key))
        return w * SCALE, h * SCALE

    def _level0_sizes(self, decl: ServiceDecl, full: tuple[int, int]) -> list[tuple[int, int]]:
        if decl.sizes:
            return list(decl.sizes)
        w, h = full
        return sorted({(max(1, round(w / 2 ** k)), max(1, round(h / 2 ** k))) for k in range(5)})

    def _render(self, key: str, full: tuple[int, int], region: tuple[int, int, int, int],
                size: tuple[int, int]) -> Image.Image:
        """The picture for ``key`` seen as an image of size ``full``: cropped to ``region``, resized to ``size``."""
        src = self._picture(self._picture_index(key))
        sw, sh = src.size
        fw, fh = full
        # centre-crop the picture to the full size's aspect ratio
        if sw / sh > fw / fh:
            cw, ch = sh * fw / fh, sh
        else:
            cw, ch = sw, sw * fh / fw
        cx, cy = (sw - cw) / 2, (sh - ch) / 2
        x, y, w, h = region
        box = (cx + x * cw / fw, cy + y * ch / fh, cx + (x + w) * cw / fw, cy + (y + h) * ch / fh)
        return src.resize(size, Image.BICUBIC, box=box)

    # ---- JSON documents ------------------------------------------------------------------------------------

    def _rewrite(self, node, key=None):
        """node with every location rewritten to this server (vocabulary and text left as published)."""
        if key in TEXT_KEYS:
            return node
        if isinstance(node, dict):
            return {k: self._rewrite(v, k) for k, v in node.items()}
        if isinstance(node, list):
            return [self._rewrite(v, key) for v in node]
        if isinstance(node, str) and key not in VOCABULARY_KEYS and re.match(r"^https?://[^\s/]", node):
            return self.local(node)
        return node

    def _document(self, route: str, rest: str, escaped: bool):
        """(body, etag, mtime) of a served JSON document, or None if there is none."""
        cache_key = (route, rest, escaped)
        with self._lock:
            hit = self._json_cache.get(cache_key)
        if hit is not None:
            return hit
        if route == "manifests":
            root = self.shared_iiif_dir.resolve()
            path = (root / rest).resolve()
            if root not in path.parents or not path.is_file():
                return None
            doc = self._rewrite(json.loads(path.read_text(encoding="utf-8")))
            mtime = path.stat().st_mtime
        elif route.startswith("custom:"):
            with self._lock:
                doc = self._custom.get(rest)
            if doc is None:
                return None
            doc, mtime = self._rewrite(doc), self._started
        else:  # synthetic
            m = re.match(r"^v([23])/(\d+)/manifest\.json$", rest)
            if not m:
                return None
            doc, mtime = self._synthetic(int(m.group(2)), int(m.group(1))), self._started
        text = json.dumps(doc, ensure_ascii=False, indent=1)
        if escaped:
            text = text.replace("/", "\\/")
        body = text.encode("utf-8")
        result = (body, '"' + hashlib.sha1(body).hexdigest()[:20] + '"', mtime)
        with self._lock:
            self._json_cache[cache_key] = result
        return result

    def _synthetic(self, n: int, version: int) -> dict:
        base = f"{self.url}synthetic/v{version}/{n}"
        canvases = []
        for i in range(n):
            ident = f"{self.url}synthetic-images/v{version}/img{i:06d}"
            key = self._key_of(ident)
            decl = ServiceDecl(version=version, level=2)
            with self._lock:
                self._services[key] = decl
            w, h = self._full_size(key, decl)
            label = f"Synthetic painting {i + 1}"
            if version == 3:
                canvases.append({
                    "id": f"{base}/canvas/{i}", "type": "Canvas", "width": w, "height": h,
                    "label": {"en": [label]},
                    "items": [{"id": f"{base}/page/{i}", "type": "AnnotationPage", "items": [{
                        "id": f"{base}/annotation/{i}", "type": "Annotation", "motivation": "painting",
                        "target": f"{base}/canvas/{i}",
                        "body": {"id": f"{ident}/full/max/0/default.jpg", "type": "Image",
                                 "format": "image/jpeg", "width": w, "height": h,
                                 "service": [{"id": ident, "type": "ImageService3", "profile": "level2"}]}}]}]})
            else:
                canvases.append({
                    "@id": f"{base}/canvas/{i}", "@type": "sc:Canvas", "width": w, "height": h, "label": label,
                    "images": [{"@id": f"{base}/annotation/{i}", "@type": "oa:Annotation",
                                "motivation": "sc:painting", "on": f"{base}/canvas/{i}",
                                "resource": {"@id": f"{ident}/full/full/0/default.jpg", "@type": "dctypes:Image",
                                             "format": "image/jpeg", "width": w, "height": h,
                                             "service": {"@context": "http://iiif.io/api/image/2/context.json",
                                                         "@id": ident,
                                                         "profile": "http://iiif.io/api/image/2/level2.json"}}}]})
        if version == 3:
            return {"@context": "http://iiif.io/api/presentation/3/context.json", "id": f"{base}/manifest.json",
                    "type": "Manifest", "label": {"en": [f"Synthetic manifest of {n} canvases"]},
                    "items": canvases}
        return {"@context": "http://iiif.io/api/presentation/2/context.json", "@id": f"{base}/manifest.json",
                "@type": "sc:Manifest", "label": f"Synthetic manifest of {n} canvases",
                "sequences": [{"@type": "sc:Sequence", "canvases": canvases}]}

    def _info(self, key: str, ident_url: str) -> dict:
        decl = self._decl(key)
        w, h = self._full_size(key, decl)
        sizes = [{"width": a, "height": b} for a, b in self._level0_sizes(decl, (w, h))] if decl.level == 0 else None
        limits = {"maxWidth": self.max_width, "maxHeight": self.max_width} if decl.level > 0 else {}
        if decl.version == 3:
            info = {"@context": "http://iiif.io/api/image/3/context.json", "id": ident_url, "type": "ImageService3",
                    "protocol": "http://iiif.io/api/image", "profile": f"level{decl.level}",
                    "width": w, "height": h, **limits}
            if decl.extras:
                info["extraFeatures"] = sorted(decl.extras)
        else:
            extra = {"formats": ["jpg", "png"] if decl.level == 2 else ["jpg"],
                     "qualities": ["default", "color", "gray", "bitonal"] if decl.level == 2 else ["default"],
                     **limits}
            if decl.extras:
                extra["supports"] = sorted(decl.extras)
            info = {"@context": "http://iiif.io/api/image/2/context.json", "@id": ident_url,
                    "protocol": "http://iiif.io/api/image", "width": w, "height": h,
                    "profile": [f"http://iiif.io/api/image/2/level{decl.level}.json", extra]}
        if sizes:
            info["sizes"] = sizes
        return info

    # ---- Image API ------------------------------------------------------------------------------------------

    def _image_request(self, key: str, region_s: str, size_s: str, rotation_s: str, quality: str, fmt: str):
        """(bytes, content type) for an Image API request, or BadRequest with the reason."""
        decl = self._decl(key)
        v, level = decl.version, decl.level
        features = LEVEL_FEATURES[(v, level)] | decl.extras
        fw, fh = self._full_size(key, decl)

        # region
        if region_s == "full":
            region = (0, 0, fw, fh)
        elif region_s == "square":
            if "regionSquare" not in features:
                raise BadRequest("square region not supported at this level")
            s = min(fw, fh)
            region = ((fw - s) // 2, (fh - s) // 2, s, s)
        elif region_s.startswith("pct:"):
            if "regionByPct" not in features:
                raise BadRequest("pct: regions not supported at this level")
            px, py, pw, ph = (float(t) for t in region_s[4:].split(","))
            region = (round(fw * px / 100), round(fh * py / 100), round(fw * pw / 100), round(fh * ph / 100))
        else:
            if "regionByPx" not in features:
                raise BadRequest("pixel regions not supported at this level")
            region = tuple(int(t) for t in region_s.split(","))
        x, y, rw, rh = region
        if rw <= 0 or rh <= 0 or x >= fw or y >= fh:
            raise BadRequest("region outside the image")
        rw, rh = min(rw, fw - x), min(rh, fh - y)
        region = (x, y, rw, rh)

        # size
        upscale = size_s.startswith("^")
        s = size_s.lstrip("^")
        if upscale and v == 2:
            raise BadRequest("^ is not Image API 2 syntax")
        max_w = max_h = self.max_width
        if s == "full":
            if v == 3:
                raise BadRequest("size 'full' is not Image API 3 syntax (use 'max')")
            tw, th = rw, rh
        elif s == "max":
            if level == 0:
                tw, th = rw, rh
            else:
                k = min(max_w / rw, max_h / rh) if upscale else min(1.0, max_w / rw, max_h / rh)
                tw, th = max(1, math.floor(rw * k)), max(1, math.floor(rh * k))
        elif s.startswith("pct:"):
            if "sizeByPct" not in features:
                raise BadRequest("pct: sizes not supported at this level")
            p = float(s[4:])
            tw, th = round(rw * p / 100), round(rh * p / 100)
        elif s.startswith("!"):
            if "sizeByConfinedWh" not in features:
                raise BadRequest("!w,h sizes not supported at this level")
            bw, bh = (int(t) for t in s[1:].split(","))
            k = min(bw / rw, bh / rh)
            tw, th = max(1, round(rw * k)), max(1, round(rh * k))
        elif s.endswith(","):
            tw = int(s[:-1])
            th = max(1, round(rh * tw / rw))
            if level != 0 and "sizeByW" not in features:
                raise BadRequest("w, sizes not supported at this level")
        elif s.startswith(","):
            th = int(s[1:])
            tw = max(1, round(rw * th / rh))
            if level != 0 and "sizeByH" not in features:
                raise BadRequest(",h sizes not supported at this level")
        else:
            tw, th = (int(t) for t in s.split(","))
            # "w,h" that keeps the region's aspect ratio (within rounding) is "w," spelled out, which is how
            # viewers such as OpenSeadragon ask level-1 servers for tiles; real level-1 servers answer it
            same_as_w = "sizeByW" in features and abs(th - rh * tw / rw) <= 1
            if level != 0 and not same_as_w and not features & {"sizeByWh", "sizeByForcedWh", "sizeByDistortedWh"}:
                raise BadRequest("w,h sizes not supported at this level")
        if tw < 1 or th < 1:
            raise BadRequest("empty size")
        if (tw > rw or th > rh) and not upscale:
            raise BadRequest(f"{tw}x{th} is larger than the region ({rw}x{rh}) and the request has no ^")
        if level == 0:
            listed = self._level0_sizes(decl, (fw, fh))
            if region != (0, 0, fw, fh):
                raise BadRequest("level 0: only the full region")
            if s not in ("full", "max") and not any(
                    (tw, th) == (a, b) or (s.endswith(",") and tw == a) or (s.startswith(",") and th == b)
                    for a, b in listed):
                raise BadRequest(f"level 0: {tw}x{th} is not one of the listed sizes {listed}")
        elif tw > max_w or th > max_h:
            raise BadRequest(f"{tw}x{th} is above maxWidth/maxHeight {max_w}")

        # rotation, quality, format
        mirror = rotation_s.startswith("!")
        angle = float(rotation_s.lstrip("!"))
        if (mirror and "mirroring" not in features) or (angle and "rotationBy90s" not in features):
            raise BadRequest("rotation not supported at this level")
        if angle % 90 or angle >= 360:
            raise BadRequest("only rotations by multiples of 90 degrees are supported")
        if quality not in ("default", "native") and "qualities" not in features:
            raise BadRequest(f"quality {quality} not supported at this level")
        if quality == "native" and v == 3:
            raise BadRequest("quality 'native' is not Image API 3 syntax")
        if fmt not in FORMATS or (fmt not in ("jpg", "jpeg") and "png" not in features):
            raise BadRequest(f"format {fmt} not supported")

        img = self._render(key, (fw, fh), region, (tw, th))
        if mirror:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if angle:
            img = img.rotate(-angle, expand=True)
        if quality in ("gray", "grey"):
            img = img.convert("L")
        elif quality == "bitonal":
            img = img.convert("1")
        return _encode(img, fmt)


def _int(value):
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _matches(substring: str, raw_path: str) -> bool:
    return substring in raw_path or substring in urllib.parse.unquote(raw_path)


def _encode(img: Image.Image, fmt: str) -> tuple[bytes, str]:
    pil_format, ctype = FORMATS.get(fmt, FORMATS["jpg"])
    buf = io.BytesIO()
    if pil_format == "JPEG":
        img.save(buf, "JPEG", quality=85)
    else:
        img.save(buf, pil_format, **({"compress_level": 1} if pil_format == "PNG" else {}))
    return buf.getvalue(), ctype


def _make_handler(server: IIIFServer):
    """The request handler class bound to ``server``."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "IIIFTestServer/1.0"

        def log_message(self, *args):  # quiet
            pass

        def do_HEAD(self):
            self._handle(head=True)

        def do_GET(self):
            self._handle(head=False)

        # ---- plumbing ----

        def send_response(self, code, message=None):
            entry = getattr(self, "_entry", None)
            if entry is not None:
                entry[3] = code
            super().send_response(code, message)

        def _send(self, status: int, body: bytes = b"", ctype: str = "text/plain; charset=utf-8",
                  headers: dict | None = None, head: bool = False):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Access-Control-Allow-Origin", "*")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if body and not head:
                self.wfile.write(body)

        def _handle(self, head: bool):
            raw = self.path
            self._entry = [self.command, raw, dict(self.headers.items()), None]
            with server._lock:
                server._log.append(self._entry)
                faults = [f for s, f in server._faults if _matches(s, raw)]
                server._in_flight += 1
                server.max_in_flight = max(server.max_in_flight, server._in_flight)
            try:
                if server.latency:
                    time.sleep(server.latency)
                for fault in faults:
                    if self._apply_fault(fault, head):
                        return
                self._route(raw, head)
            except (BrokenPipeError, ConnectionResetError, socket.timeout):
                self.close_connection = True
            finally:
                with server._lock:
                    server._in_flight -= 1

        def _apply_fault(self, fault: Fault, head: bool) -> bool:
            """Answer per the fault; True if that was the answer (False: go on to the normal answer)."""
            kind = fault.kind
            with server._lock:
                fault.seen += 1
                seen = fault.seen
            if kind == "404":
                self._send(404, b"not found (fault)", head=head)
            elif kind == "500":
                self._send(500, b"internal error (fault)", head=head)
            elif kind == "500-then-200":
                if seen > fault.times:
                    return False
                self._send(500, b"internal error (fault)", head=head)
            elif kind == "429-then-200":
                if seen > fault.times:
                    return False
                self._send(429, b"too many requests (fault)", headers={"Retry-After": str(fault.retry_after)},
                           head=head)
            elif kind == "slow":
                if seen <= fault.times:
                    time.sleep(fault.seconds)
                return False
            elif kind == "malformed-json":
                self._send(200, MALFORMED_JSON, "application/json", head=head)
            elif kind == "html":
                self._send(200, HTML_PAGE, "text/html; charset=utf-8", head=head)
            elif kind == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
            return True

        def _json(self, doc: tuple[bytes, str, float], head: bool):
            body, etag, mtime = doc
            last_modified = email.utils.formatdate(mtime, usegmt=True)
            inm = self.headers.get("If-None-Match")
            ims = self.headers.get("If-Modified-Since")
            fresh = False
            if inm is not None:
                fresh = etag in [t.strip() for t in inm.split(",")] or inm.strip() == "*"
            elif ims is not None:
                try:
                    fresh = email.utils.parsedate_to_datetime(ims).timestamp() >= int(mtime)
                except (TypeError, ValueError):
                    fresh = False
            headers = {"ETag": etag, "Last-Modified": last_modified, "Cache-Control": "no-cache"}
            if fresh:
                self.send_response(304)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self._send(200, body, "application/ld+json; charset=utf-8", headers=headers, head=head)

        # ---- routes ----

        def _route(self, raw: str, head: bool):
            split = urllib.parse.urlsplit(raw)
            query = urllib.parse.parse_qs(split.query)
            path = urllib.parse.unquote(split.path)
            escaped = query.get("escaped", ["0"])[0] not in ("0", "")
            for prefix, route in (("/manifests/", "manifests"), ("/synthetic/", "synthetic")):
                if path.startswith(prefix):
                    doc = server._document(route, path[len(prefix):], escaped)
                    return self._json(doc, head) if doc else self._send(404, b"no such manifest", head=head)
            if path.startswith("/custom/"):
                name = path[len("/custom/"):]
                doc = server._document("custom:" + name, name, escaped)
                return self._json(doc, head) if doc else self._send(404, b"no such manifest", head=head)

            key = path.lstrip("/").rstrip("/")
            if not key:
                return self._send(404, b"nothing here", head=head)
            if key in server._documents_by_id:  # a shared document at its own (rewritten) id, as published
                doc = server._document("manifests", server._documents_by_id[key], escaped)
                return self._json(doc, head) if doc else self._send(404, b"no such manifest", head=head)
            if key.endswith("/info.json"):
                ident = key[: -len("/info.json")]
                raw_ident = split.path[: -len("/info.json")]
                info = server._info(ident, server.url.rstrip("/") + raw_ident)
                body = json.dumps(info, indent=1).encode("utf-8")
                etag = '"' + hashlib.sha1(body).hexdigest()[:20] + '"'
                return self._json((body, etag, server._started), head)

            segments = key.split("/")
            if len(segments) >= 5:
                region, size, rotation, last = segments[-4:]
                mq = RE_QUALITY.match(last)
                if RE_REGION.match(region) and RE_SIZE.match(size) and RE_ROTATION.match(rotation) and mq:
                    ident = "/".join(segments[:-4])
                    try:
                        body, ctype = server._image_request(ident, region, size, rotation, mq.group(1),
                                                            mq.group(2))
                    except BadRequest as e:
                        with server._lock:
                            declared = key in server._image_resources
                        if not declared:
                            return self._send(400, str(e).encode("utf-8"), head=head)
                        # a resource URL a manifest publishes as is (a static derivative, as museums'
                        # servers keep them): answered even where the service's level would refuse it
                        m = re.fullmatch(r"(\d+),(\d+)", size)
                        index = server._picture_index(ident)
                        w, h = server._picture_size(index)
                        full = (w * SCALE, h * SCALE)
                        out = (int(m.group(1)), int(m.group(2))) if m else full
                        body, ctype = _encode(server._render(ident, full, (0, 0) + full, out), "jpg")
                        return self._send(200, body, ctype, head=head)
                    return self._send(200, body, ctype, headers={"Cache-Control": "max-age=3600"}, head=head)

            suffix = Path(key).suffix.lower()
            if suffix in MEDIA_TYPES:
                return self._send(200, MEDIA_BODY, MEDIA_TYPES[suffix], head=head)
            with server._lock:
                is_service = key in server._services
                is_resource = key in server._image_resources
            if is_service:
                location = server.url.rstrip("/") + split.path.rstrip("/") + "/info.json"
                return self._send(303, b"", headers={"Location": location}, head=head)
            if suffix in IMAGE_EXTS or is_resource:
                index = server._picture_index(key)
                w, h = server._picture_size(index)
                full = (w * SCALE, h * SCALE)
                img = server._render(key, full, (0, 0) + full, full)
                fmt = suffix.lstrip(".") if suffix.lstrip(".") in FORMATS else "jpg"
                body, ctype = _encode(img, fmt)
                return self._send(200, body, ctype, head=head)
            return self._send(404, b"not found", head=head)

    return Handler


# ---- pytest fixtures, imported by the test modules that use them ------------------------------------------
import pytest  # noqa: E402


@pytest.fixture(scope="module")
def srv():
    """One server per test module."""
    with IIIFServer(require_shared_iiif(), PAINTINGS) as server:
        yield server


@pytest.fixture
def fresh(srv):
    """No faults and an empty request log for the test that uses it."""
    srv.clear_faults()
    srv.clear_requests()
    yield
