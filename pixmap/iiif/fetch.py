"""HTTP for IIIF input: one shared session, bounded concurrency, retries, timeouts, an on-disk cache, and
Image API size requests.

    with Fetcher(cache_dir, workers=8) as fetch:
        manifest = fetch.json("https://example.org/iiif/manifest.json")
        data, fetched_url = fetch.image_bytes(service=body_service, url=body_id, max_side=1024)

Requests. One ``requests.Session`` is shared by every thread; at most ``workers`` requests run at once.
Every request has a timeout. Connection errors, read timeouts, 429 and 5xx answers are retried by urllib3's
``Retry`` with exponential backoff, honouring Retry-After; other 4xx answers are not retried. The
User-Agent names pixmap and its version.

Images. With an Image API service, the image is requested at the size the build needs
(:func:`image_request_url`: e.g. ``full/!1024,1024/0/default.jpg``), never the full-resolution original;
the service's info.json is fetched only when the service in the manifest lacks width, height or profile (or
a level-0 service lacks ``sizes``), or when the server refuses a request computed from the manifest alone.
Without a service (or when the service fails), the resource URL itself is fetched. What comes back must be an
image (by content type or by its first bytes), else a :class:`FetchError` says what the server sent.

Cache. ``<cache_dir>/http/`` holds:

- ``json/<2 hex>/<sha256 of URL>.json``: every JSON document fetched by URL, with its ETag / Last-Modified.
  The first ``json()`` of a URL in a process revalidates it (a 304 serves the stored copy); later calls in
  the same process are answered from memory. When the server cannot be reached, the stored copy is used
  with a warning.
- ``images/<2 hex>/<sha256 of request URL>.img``: image bytes, keyed by the exact URL fetched (an Image API
  URL encodes the size), served from disk without any request.

Writes are atomic (a temporary file, then ``os.replace``), so concurrent threads and processes may share a
cache folder. Nothing is evicted: delete the folder to reclaim the space. A folder that cannot be written
gives one warning, and the fetcher then works without a cache.

Failures. Every failure raises :class:`FetchError` naming the URL and a reason a person can act on:
"cannot connect (connection refused)", "timed out after 30 s", "HTTP 404 Not Found",
"HTTP 500 Internal Server Error after 4 retries", "malformed JSON at line 3 column 5 (Expecting value)",
"not a JSON object", "not an image (the server sent text/html)".
"""
from __future__ import annotations

import contextlib
import copy
import errno
import hashlib
import http
import inspect
import json as jsonlib
import math
import os
import re
import tempfile
import threading
import urllib.parse
import urllib.request
import warnings
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError, ReadTimeoutError
from urllib3.util.retry import Retry

try:
    from urllib3.exceptions import NameResolutionError
except ImportError:  # urllib3 1.x: told apart by its message below
    NameResolutionError = ()

from .. import __version__

__all__ = ["FetchError", "Fetcher", "image_request_url", "service_id", "default_user_agent"]

JSON_ACCEPT = "application/ld+json, application/json;q=0.9, */*;q=0.1"
IMAGE_ACCEPT = "image/jpeg, image/png;q=0.9, image/*;q=0.8, */*;q=0.1"
RETRY_STATUSES = (429, 500, 502, 503, 504)
# Answers that mean "not this request" rather than "not this image": worth one more try with the info.json.
REFUSED_REQUEST_STATUSES = (400, 403, 501)

IMAGE_MAGIC = (
    (b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF87a", "GIF"), (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JP2"),
    (b"\xff\x4f\xff\x51", "J2K"), (b"BM", "BMP"),
)


class FetchError(Exception):
    """A download that failed: ``url`` and a human ``reason``; ``status`` is the HTTP status if there was one.

    ``str(e) == f"{e.url}: {e.reason}"``."""

    def __init__(self, url: str, reason: str, status: int | None = None):
        super().__init__(url, reason, status)
        self.url = str(url)
        self.reason = reason
        self.status = status

    def __str__(self) -> str:
        return f"{self.url}: {self.reason}"


def default_user_agent() -> str:
    """``pixmap/<version> python-requests/<version>``: who is asking, for the institutions' logs."""
    return f"pixmap/{__version__} python-requests/{requests.__version__}"


# ---- Image API --------------------------------------------------------------------------------------------

def service_id(service: dict) -> str | None:
    """The base URI of an Image API service (``id`` or ``@id``), without trailing slash or ``/info.json``."""
    ident = service.get("id") or service.get("@id") if isinstance(service, dict) else None
    if not isinstance(ident, str) or not ident.strip():
        return None
    ident = clean_url(ident).rstrip("/")
    if ident.endswith("/info.json"):
        ident = ident[: -len("/info.json")]
    return ident


def _text(value) -> str:
    return jsonlib.dumps(value) if value is not None else ""


def service_version(info: dict) -> int:
    """The Image API version of a service or info.json: 1 (1.x), 2 or 3."""
    kind = str(info.get("type") or info.get("@type") or "")
    ctx, profile = _text(info.get("@context")), _text(info.get("profile"))
    if kind == "ImageService3" or "api/image/3" in ctx:
        return 3
    if kind == "ImageService2" or "api/image/2" in ctx:
        return 2
    if kind == "ImageService1" or "image-api/1" in ctx or "api/image/1" in ctx:
        return 1
    if "api/image/2/" in profile:
        return 2
    if "image-api/1" in profile:
        return 1
    return 2 if "@id" in info and "id" not in info else 3


def service_level(info: dict) -> int | None:
    """The compliance level (0, 1, 2) named by the profile, or None when it names none."""
    profile = info.get("profile")
    if isinstance(profile, list):
        profile = next((p for p in profile if isinstance(p, str)), None)
    m = re.search(r"level\s*([012])", str(profile or ""))
    return int(m.group(1)) if m else None


def _profile_dicts(info: dict) -> list[dict]:
    """The v2 profile's description objects (plus the info itself, where v3 keeps the same keys)."""
    profile = info.get("profile")
    extra = [p for p in profile if isinstance(p, dict)] if isinstance(profile, list) else []
    return [info, *extra]


def _positive(value) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if value > 0 and math.isfinite(value) else None


def _limits(info: dict) -> tuple[float, float, float]:
    """(maxWidth, maxHeight, maxArea), math.inf where unlimited; maxHeight defaults to maxWidth (both APIs)."""
    max_w = max_h = max_area = None
    for d in _profile_dicts(info):
        max_w = max_w or _positive(d.get("maxWidth"))
        max_h = max_h or _positive(d.get("maxHeight"))
        max_area = max_area or _positive(d.get("maxArea"))
    if max_h is None:
        max_h = max_w
    return max_w or math.inf, max_h or math.inf, max_area or math.inf


def _features(info: dict) -> set[str]:
    feats: set[str] = set()
    for d in _profile_dicts(info):
        for key in ("supports", "extraFeatures"):
            feats.update(f for f in d.get(key) or [] if isinstance(f, str))
    return feats


def _listed_sizes(info: dict) -> list[tuple[int, int]]:
    sizes = []
    for s in info.get("sizes") or []:
        if isinstance(s, dict):
            w, h = _positive(s.get("width")), _positive(s.get("height"))
            if w and h:
                sizes.append((int(w), int(h)))
    return sorted(set(sizes), key=lambda s: (max(s), s))


def image_request_url(info: dict, max_side: int) -> str:
    """The Image API URL of the whole image with its longest side at most ``max_side`` (never upscaled).

    ``info`` is a full info.json (v2 or v3; 1.1 works too) or a service description with the same keys.
    The size honours maxWidth/maxHeight/maxArea. ``!w,h`` is used where the level allows it (level 2, or
    ``sizeByConfinedWh`` listed), else ``w,`` or ``,h`` (level 1). A level-0 service answers only its listed
    ``sizes``: the smallest whose longest side is >= max_side is chosen (else the largest), so the image may
    be larger than max_side; with no sizes listed, ``full`` (v2) / ``max`` (v3). Quality ``default``
    (``native`` for 1.x), format jpg. ValueError when the info has no id, or no width/height above level 0.
    """
    base = service_id(info)
    if not base:
        raise ValueError("the image service has no id")
    max_side = max(1, int(max_side))
    version = service_version(info)
    level = service_level(info)
    quality = "native" if version == 1 else "default"
    if level == 0:
        sizes = _listed_sizes(info)
        if sizes:
            big_enough = [s for s in sizes if max(s) >= max_side]
            w, h = big_enough[0] if big_enough else sizes[-1]
            size = f"{w},{h}"
        else:
            size = "max" if version == 3 else "full"
        return f"{base}/full/{size}/0/{quality}.jpg"

    width, height = _positive(info.get("width")), _positive(info.get("height"))
    if not width or not height:
        raise ValueError("the image service does not say the image's width and height")
    width, height = int(width), int(height)
    max_w, max_h, max_area = _limits(info)
    confined = (level or 1) >= 2 or "sizeByConfinedWh" in _features(info)

    def answer(tw: int, th: int) -> tuple[int, int]:
        """The size a server computes for our request (it rounds the side we did not give)."""
        if confined:
            k = min(tw / width, th / height)
            return max(1, round(width * k)), max(1, round(height * k))
        if width >= height:
            return tw, max(1, round(height * tw / width))
        return max(1, round(width * th / height)), th

    def fits(tw: int, th: int) -> bool:
        aw, ah = answer(tw, th)
        return aw <= max_w and ah <= max_h and aw * ah <= max_area and aw <= width and ah <= height

    if confined:
        # a box no bigger than the image (never upscale) nor the limits: !1024,1024 in the usual case
        box = (int(min(max_side, width, max_w)), int(min(max_side, height, max_h)))
        if fits(*box):
            return f"{base}/full/!{box[0]},{box[1]}/0/{quality}.jpg"
    scale = min(1.0, max_side / max(width, height), max_w / width, max_h / height,
                math.sqrt(max_area / (width * height)))
    for _ in range(200):
        tw, th = max(1, math.floor(width * scale + 1e-9)), max(1, math.floor(height * scale + 1e-9))
        if fits(tw, th):
            break
        scale *= 0.995
    if confined:
        size = f"!{tw},{th}"
    elif width >= height:
        size = f"{tw},"
    else:
        size = f",{th}"
    return f"{base}/full/{size}/0/{quality}.jpg"


def _service_is_complete(service: dict) -> bool:
    """True if an embedded service says enough to compute a request without its info.json."""
    level = service_level(service)
    if level is None:
        return False
    if level == 0:
        return bool(_listed_sizes(service))
    return bool(_positive(service.get("width")) and _positive(service.get("height")))


# ---- helpers ----------------------------------------------------------------------------------------------

def clean_url(url: str) -> str:
    """A URL as given, minus surrounding whitespace and JSON-escaped slashes (``\\/``) left in by mistake."""
    return str(url).strip().replace("\\/", "/")


def _is_url(value) -> bool:
    return isinstance(value, str) and re.match(r"^https?://", value.strip(), re.IGNORECASE) is not None


def _main_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def _image_format(data: bytes, content_type: str | None) -> str | None:
    """The image format of ``data`` (from its first bytes, else its content type), or None if not an image."""
    for magic, name in IMAGE_MAGIC:
        if data.startswith(magic):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[4:8] == b"ftyp" and data[8:12] in (b"avif", b"avis", b"heic", b"heix", b"mif1"):
        return data[8:12].decode()
    ctype = _main_type(content_type)
    head = data[:64].lstrip()
    if ctype.startswith("image/") and not head.startswith((b"<", b"{", b"[")):
        return ctype[len("image/"):]
    return None


def _what_was_sent(data: bytes, content_type: str | None) -> str:
    ctype = _main_type(content_type)
    if ctype:
        return ctype
    head = data[:256].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return "an HTML page"
    if head.startswith((b"{", b"[")):
        return "JSON"
    return "no content type"


def _parse_json(url: str, content: bytes, content_type: str | None = None) -> dict:
    """``content`` as a JSON object, or FetchError saying why not."""
    if not content.strip():
        raise FetchError(url, "empty response (expected JSON)")
    try:
        data = jsonlib.loads(content)
    except jsonlib.JSONDecodeError as e:
        head = content[:256].lstrip().lower()
        if "html" in _main_type(content_type) or head.startswith((b"<!doctype", b"<html")):
            raise FetchError(url, f"not JSON (the server sent {_main_type(content_type) or 'an HTML page'})")
        raise FetchError(url, f"malformed JSON at line {e.lineno} column {e.colno} ({e.msg})") from None
    except ValueError as e:  # undecodable bytes
        raise FetchError(url, f"not JSON text ({e})") from None
    if not isinstance(data, dict):
        raise FetchError(url, f"not a JSON object (the document is a JSON {type(data).__name__})")
    return data


def _connection_reason(exc: BaseException, timeout: float) -> str:
    """A short reason for a requests/urllib3 connection failure."""
    cause = exc.args[0] if exc.args else exc
    if isinstance(cause, MaxRetryError) and cause.reason is not None:
        cause = cause.reason
    if isinstance(cause, ReadTimeoutError):
        return f"timed out after {timeout:g} s"
    if isinstance(cause, NameResolutionError):
        return "cannot connect (host not found)"
    if isinstance(cause, NewConnectionError):
        text = str(cause).lower()
        if "refused" in text or getattr(cause, "errno", None) == errno.ECONNREFUSED:
            return "cannot connect (connection refused)"
        if "name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
            return "cannot connect (host not found)"
        if "timed out" in text:
            return f"cannot connect (timed out after {timeout:g} s)"
        return "cannot connect"
    if isinstance(cause, ProtocolError):
        text = str(cause).lower()
        if "reset" in text:
            return "the connection was reset by the server"
        return "the server closed the connection without a response"
    text = str(cause)
    return f"cannot connect ({text})" if text else "cannot connect"


def _retries_used(resp: requests.Response) -> int:
    retries = getattr(resp.raw, "retries", None)
    return len(getattr(retries, "history", ()) or ())


def _make_retry(retries: int, backoff: float) -> Retry:
    kwargs = dict(total=retries, connect=retries, read=retries, status=retries, backoff_factor=backoff,
                  status_forcelist=RETRY_STATUSES, respect_retry_after_header=True,
                  allowed_methods=frozenset({"GET", "HEAD"}), raise_on_status=False)
    if "retry_after_max" in inspect.signature(Retry.__init__).parameters:
        kwargs["retry_after_max"] = 300  # a server asking for hours of patience gets five minutes
    return Retry(**kwargs)


# ---- the fetcher ------------------------------------------------------------------------------------------

class Fetcher:
    """Downloads JSON documents and images over HTTP, shared by threads, with an on-disk cache.

    ``cache_dir`` None: no cache. ``workers``: at most this many requests at once (and the connection pool
    size). ``timeout`` seconds for connecting and for each read. ``retries`` for connection errors, read
    timeouts, 429 and 5xx, with ``backoff`` (urllib3's backoff_factor) between them. A context manager."""

    def __init__(self, cache_dir: Path | None, *, workers: int = 8, timeout: float = 30.0, retries: int = 4,
                 backoff: float = 0.5, user_agent: str | None = None):
        self.workers = max(1, int(workers))
        self.timeout = float(timeout)
        self.retries = max(0, int(retries))
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=8, pool_maxsize=max(self.workers, 10),
                              max_retries=_make_retry(self.retries, backoff))
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = user_agent or default_user_agent()
        self._slots = threading.BoundedSemaphore(self.workers)
        self._guard = threading.Lock()
        self._keyed_locks: dict[str, list] = {}
        self._memo: dict[str, dict] = {}
        self._cache_warned = False
        self.cache_dir: Path | None = self._open_cache(cache_dir)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        """Close the session's connections."""
        self.session.close()

    # ---- public API ----

    def json(self, url_or_path) -> dict:
        """A JSON object from a URL (cached on disk, revalidated once per process) or a local file path.

        A copy is returned, so callers may change it. FetchError on any failure."""
        if isinstance(url_or_path, Path) or not _is_url(str(url_or_path)):
            return self._local_json(url_or_path)
        url = clean_url(url_or_path)
        with self._keyed("json:" + url):
            data = self._memo.get(url)
            if data is None:
                data = self._fetch_json(url)
                self._memo[url] = data
        return copy.deepcopy(data)

    def image_bytes(self, *, service: dict | None, url: str | None, max_side: int) -> tuple[bytes, str]:
        """The bytes of an image and the URL actually fetched.

        With a ``service`` (a dict with an ``id``/``@id``), the Image API is asked for the whole image at
        ``max_side`` (see :func:`image_request_url`); the service's info.json is fetched when the service
        description is incomplete. If the service fails and ``url`` is given, ``url`` is tried. Without a
        service, ``url`` itself is fetched. FetchError if nothing worked or what came back is not an image.
        """
        url = clean_url(url) if url else None
        if isinstance(service, dict) and service_id(service):
            try:
                return self._image_from_service(service, max_side)
            except FetchError as e:
                if not url:
                    raise
                try:
                    return self._download_image(url), url
                except FetchError as e2:
                    raise FetchError(e.url, f"{e.reason}; the resource URL {url} failed too: {e2.reason}",
                                     e.status) from e
        if url:
            return self._download_image(url), url
        raise FetchError("(no URL)", "the image has neither an Image API service nor a URL")

    # ---- images ----

    def _image_from_service(self, service: dict, max_side: int) -> tuple[bytes, str]:
        sid = service_id(service)
        info_url = sid + "/info.json"
        inline = _service_is_complete(service)
        info = service if inline else self._info(info_url, sid)
        try:
            request_url = image_request_url(info, max_side)
        except ValueError as e:
            raise FetchError(info_url, str(e)) from None
        try:
            return self._download_image(request_url), request_url
        except FetchError as e:
            if not (inline and e.status in REFUSED_REQUEST_STATUSES):
                raise
            # The manifest's description of the service was not enough (e.g. a maxWidth it did not say).
            second = image_request_url(self._info(info_url, sid), max_side)
            if second == request_url:
                raise
            return self._download_image(second), second

    def _info(self, info_url: str, sid: str) -> dict:
        """The service's info.json, its id replaced by the URL it was fetched from (which is reachable)."""
        info = self.json(info_url)
        if "@id" in info and "id" not in info:
            info["@id"] = sid
        else:
            info["id"] = sid
        return info

    def _download_image(self, url: str) -> bytes:
        path = self._cache_path("images", url, ".img")
        data = self._read_cache(path)
        if data:
            return data
        with self._keyed("image:" + url):
            data = self._read_cache(path)  # another thread may have fetched it meanwhile
            if data:
                return data
            resp = self._get(url, {"Accept": IMAGE_ACCEPT})
            self._check_status(url, resp)
            data = resp.content
            ctype = resp.headers.get("Content-Type")
            if not data:
                raise FetchError(url, "empty response (expected an image)")
            if _image_format(data, ctype) is None:
                raise FetchError(url, f"not an image (the server sent {_what_was_sent(data, ctype)})")
            self._write_cache(path, data)
            return data

    # ---- JSON ----

    def _local_json(self, path) -> dict:
        text = str(path)
        if text.lower().startswith("file://"):
            path = Path(urllib.request.url2pathname(urllib.parse.urlsplit(text).path))
        path = Path(path).expanduser()
        try:
            content = path.read_bytes()
        except FileNotFoundError:
            raise FetchError(str(path), "no such file") from None
        except IsADirectoryError:
            raise FetchError(str(path), "a folder, not a JSON file") from None
        except OSError as e:
            raise FetchError(str(path), f"cannot read ({e.strerror or e})") from None
        return _parse_json(str(path), content)

    def _fetch_json(self, url: str) -> dict:
        path = self._cache_path("json", url, ".json")
        cached = None
        raw = self._read_cache(path)
        if raw:
            try:
                cached = jsonlib.loads(raw)
                if not isinstance(cached, dict) or not isinstance(cached.get("data"), dict):
                    cached = None
            except ValueError:
                cached = None
        headers = {"Accept": JSON_ACCEPT}
        if cached and cached.get("etag"):
            headers["If-None-Match"] = cached["etag"]
        if cached and cached.get("last_modified"):
            headers["If-Modified-Since"] = cached["last_modified"]
        try:
            resp = self._get(url, headers)
            if resp.status_code == 304 and cached:
                return cached["data"]
            self._check_status(url, resp)
        except FetchError as e:
            if cached and (e.status is None or e.status >= 500):
                warnings.warn(f"{e}; using the copy cached in {path}", RuntimeWarning, stacklevel=4)
                return cached["data"]
            raise
        data = _parse_json(url, resp.content, resp.headers.get("Content-Type"))
        record = {"url": url, "etag": resp.headers.get("ETag"),
                  "last_modified": resp.headers.get("Last-Modified"), "data": data}
        self._write_cache(path, jsonlib.dumps(record, ensure_ascii=False).encode("utf-8"))
        return data

    # ---- HTTP ----

    def _get(self, url: str, headers: dict) -> requests.Response:
        """GET with the session (retries are the adapter's); connection problems become FetchError."""
        attempts = f" ({self.retries + 1} attempts)" if self.retries else ""
        with self._slots:
            try:
                return self.session.get(url, headers=headers, timeout=self.timeout)
            except requests.exceptions.ConnectTimeout:
                raise FetchError(url, f"cannot connect (timed out after {self.timeout:g} s){attempts}") from None
            except requests.exceptions.ReadTimeout:
                raise FetchError(url, f"timed out after {self.timeout:g} s{attempts}") from None
            except requests.exceptions.SSLError as e:
                raise FetchError(url, f"TLS error ({_connection_reason(e, self.timeout)})") from None
            except requests.exceptions.ConnectionError as e:
                raise FetchError(url, _connection_reason(e, self.timeout) + attempts) from None
            except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError):
                raise FetchError(url, "the connection broke while reading the response") from None
            except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                    requests.exceptions.InvalidSchema, ValueError) as e:
                raise FetchError(url, f"invalid URL ({e})") from None
            except requests.exceptions.TooManyRedirects:
                raise FetchError(url, "too many redirects") from None
            except requests.exceptions.RequestException as e:
                raise FetchError(url, str(e) or type(e).__name__) from None

    @staticmethod
    def _check_status(url: str, resp: requests.Response) -> None:
        if resp.status_code < 400:
            return
        try:
            phrase = http.HTTPStatus(resp.status_code).phrase
        except ValueError:
            phrase = resp.reason or ""
        reason = f"HTTP {resp.status_code} {phrase}".rstrip()
        used = _retries_used(resp)
        if used:
            reason += f" after {used} retr{'y' if used == 1 else 'ies'}"
        raise FetchError(url, reason, resp.status_code)

    # ---- cache and locks ----

    @contextlib.contextmanager
    def _keyed(self, key: str):
        """A lock per key (a URL), so two threads never fetch the same thing at once; freed when unused."""
        with self._guard:
            entry = self._keyed_locks.setdefault(key, [threading.Lock(), 0])
            entry[1] += 1
        try:
            with entry[0]:
                yield
        finally:
            with self._guard:
                entry[1] -= 1
                if entry[1] == 0:
                    self._keyed_locks.pop(key, None)

    def _open_cache(self, cache_dir) -> Path | None:
        if cache_dir is None:
            return None
        root = Path(cache_dir).expanduser() / "http"
        try:
            for sub in ("json", "images"):
                (root / sub).mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=root, prefix=".probe-")
            os.close(fd)
            os.unlink(probe)
        except OSError as e:
            self._cache_failed(root, e)
            return None
        return root

    def _cache_failed(self, where, error: OSError) -> None:
        """Warn once that the cache cannot be written, and go on without it."""
        with self._guard:
            first = not self._cache_warned
            self._cache_warned = True
            self.cache_dir = None
        if first:
            warnings.warn(f"cannot write the download cache in {where} ({error.strerror or error}); "
                          "downloading without a cache", RuntimeWarning, stacklevel=3)

    def _cache_path(self, kind: str, url: str, suffix: str) -> Path | None:
        if self.cache_dir is None:
            return None
        digest = hashlib.sha256(url.encode("utf-8")).hexdigest()
        return self.cache_dir / kind / digest[:2] / (digest + suffix)

    @staticmethod
    def _read_cache(path: Path | None) -> bytes | None:
        if path is None:
            return None
        try:
            return path.read_bytes()
        except OSError:
            return None

    def _write_cache(self, path: Path | None, data: bytes) -> None:
        if path is None:
            return
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except OSError as e:
            if tmp:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            self._cache_failed(path.parent, e)
