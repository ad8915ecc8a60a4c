"""Text in IIIF documents -> plain, safe text.

IIIF values come in several shapes, and the two Presentation API versions differ:

    "Whistler's Mother"                                   a plain string (both versions)
    {"en": ["Whistler's Mother"], "fr": ["La Mère ..."]}  a v3 language map ("none" = no language)
    [{"@value": "Title", "@language": "en"}, "Teitl"]     a v2 list of language objects and strings

    pick_language(value, ["fr", "en"])         -> "La Mère de Whistler" (several values joined with "; ")
    pick_language_values(value, ["fr", "en"])  -> ["La Mère de Whistler"]
    plain_text(value, ["fr", "en"])            -> the picked values made safe (safe_text) and joined
    default_languages()                        -> ["de", "en"] for a user whose locale is de_DE.UTF-8

Values may hold HTML (IIIF allows a few tags: a, b, br, i, img, p, small, span, sub, sup), and real
manifests carry whatever their catalogue produced. safe_text reduces it to plain text at build time,
with the standard library's html.parser: tags removed, entities decoded, <br> and paragraphs as line
breaks, the content of script and style dropped, and links kept as "text (https://...)" only when they
point to http(s). The result never contains markup; the viewer still escapes it when it shows it.
"""
from __future__ import annotations

import html
import locale
import os
import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

__all__ = ["pick_language", "pick_language_values", "plain_text", "default_languages", "safe_text"]

_NO_LANGUAGE = None             # "none", "@none" and values without a language
_SEPARATOR = "; "

# Elements whose content is never text for a reader.
_DROPPED = frozenset({"script", "style", "template", "noscript", "iframe", "object", "svg", "math",
                      "head", "title"})
# Elements that start and end a line of their own; paragraphs are set apart by a blank line.
_PARAGRAPHS = frozenset({"p", "blockquote", "pre", "table", "ul", "ol", "dl", "h1", "h2", "h3", "h4", "h5", "h6"})
_BLOCKS = _PARAGRAPHS | frozenset({"p", "div", "li", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6",
                     "tr", "table", "thead", "tbody", "blockquote", "section", "article", "header",
                     "footer", "aside", "nav", "pre", "hr", "address", "figure", "figcaption", "caption"})
_VOID = frozenset({"br", "img", "hr", "wbr", "input", "meta", "link", "source", "area", "base", "col",
                   "embed", "param", "track"})
_MARKUP = re.compile(r"<[A-Za-z!/?]")                      # what a browser could read as a tag
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")     # control characters (tab and newline kept)
_WHITESPACE = re.compile(r"\s+")
_MAX_PASSES = 4                                           # HTML escaped inside HTML, at most this deep


# --- languages ------------------------------------------------------------------------------------------

def pick_language(value, languages: list[str]) -> str | None:
    """The text of a IIIF value in the preferred language; several values are joined with "; ".

    Preference: each language of `languages` in order (exact tag first, then the same primary language:
    "en" picks "en-GB" and "en-GB" picks "en"), then English, then values without a language ("none",
    "@none", plain strings), then the first language the value has. None when the value holds no text.
    The text is returned as it is in the document (it may hold HTML; see plain_text).
    """
    values = pick_language_values(value, languages)
    return _SEPARATOR.join(values) if values else None


def pick_language_values(value, languages: list[str]) -> list[str]:
    """The values of a IIIF value in the preferred language (see pick_language), as a list."""
    entries: list[tuple[str | None, str]] = []
    _collect(value, _NO_LANGUAGE, entries)
    entries = [(lang, text) for lang, text in entries if text.strip()]
    if not entries:
        return []
    chosen = _choose_language([lang for lang, _ in entries], languages)
    return [text for lang, text in entries if lang == chosen]


def plain_text(value, languages: list[str]) -> str | None:
    """pick_language, with each value made plain and safe (safe_text); None when nothing is left."""
    texts = [safe_text(text) for text in pick_language_values(value, languages)]
    texts = [text for text in texts if text]
    return _SEPARATOR.join(texts) if texts else None


def _collect(value, lang: str | None, out: list[tuple[str | None, str]]) -> None:
    """Every (language, text) in a IIIF value, in document order."""
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        out.append((lang, value))
    elif isinstance(value, (int, float)):
        out.append((lang, str(value)))
    elif isinstance(value, (list, tuple)):
        for item in value:
            _collect(item, lang, out)
    elif isinstance(value, dict):
        if "@value" in value:                                   # v2: {"@value": ..., "@language": ...}
            _collect(value["@value"], _language_key(value.get("@language")) or lang, out)
        elif "value" in value and ("language" in value or value.get("type") == "TextualBody"):
            _collect(value["value"], _language_key(value.get("language")) or lang, out)
        else:                                                   # v3 language map
            for key, item in value.items():
                if isinstance(key, str) and key.startswith("@") and key != "@none":
                    continue                                    # "@id", "@type": not a language
                _collect(item, _language_key(key), out)


def _language_key(tag) -> str | None:
    """A language tag as given ("en-GB"), or None for "none", "@none", "" and non-strings."""
    if isinstance(tag, list):
        tag = tag[0] if tag else None
    if not isinstance(tag, str) or tag.strip().lower() in ("", "none", "@none"):
        return _NO_LANGUAGE
    return tag.strip()


def _choose_language(present: list[str | None], languages: list[str]) -> str | None:
    """Which of the languages present to show (see pick_language for the order)."""
    tags = [tag for tag in dict.fromkeys(present) if tag is not _NO_LANGUAGE]
    for wanted in [*(languages or []), "en"]:
        if not isinstance(wanted, str) or not wanted.strip():
            continue
        wanted = wanted.strip().replace("_", "-").lower()
        if wanted in ("none", "@none"):
            if _NO_LANGUAGE in present:
                return _NO_LANGUAGE
            continue
        for tag in tags:                                        # exact tag
            if tag.replace("_", "-").lower() == wanted:
                return tag
        primary = wanted.split("-")[0]
        for tag in tags:                                        # same primary language
            if tag.replace("_", "-").lower().split("-")[0] == primary:
                return tag
    if _NO_LANGUAGE in present:
        return _NO_LANGUAGE
    return tags[0] if tags else _NO_LANGUAGE


def default_languages() -> list[str]:
    """The user's languages from the locale, then English: ["de", "en"] for de_DE.UTF-8.

    Read from LANGUAGE (a colon-separated list), LC_ALL, LC_MESSAGES and LANG, then
    locale.getlocale(); the C and POSIX locales name no language.
    """
    names: list[str] = []
    names += os.environ.get("LANGUAGE", "").split(":")
    names += [os.environ.get(var, "") for var in ("LC_ALL", "LC_MESSAGES", "LANG")]
    try:
        names.append(locale.getlocale()[0] or "")
    except (ValueError, TypeError):                             # a malformed locale setting
        pass
    languages: list[str] = []
    for name in names:
        code = _locale_language(name)
        if code and code not in languages:
            languages.append(code)
    if "en" not in languages:
        languages.append("en")
    return languages


def _locale_language(name: str) -> str | None:
    """"de_DE.UTF-8@euro" -> "de"; "C", "POSIX", "C.UTF-8" and "" -> None."""
    name = (name or "").split(".")[0].split("@")[0].strip()
    code = name.replace("-", "_").split("_")[0].lower()
    if not code or code in ("c", "posix") or not code.isalpha():
        return None
    return code


# --- HTML -> text ---------------------------------------------------------------------------------------

def safe_text(html_text) -> str:
    """Plain text from a IIIF value that may hold HTML; never markup.

    Tags are removed and entities decoded; <br> becomes a line break, paragraphs and other blocks lines
    of their own; script and style content is dropped; an image gives its alt text; a link gives
    "text (https://url)" when its href is http(s) (just the URL when the text is the URL), and only its
    text otherwise (javascript:, data:, mailto:, relative links). Runs of spaces become one space,
    lines are trimmed, at most one blank line is kept. Text that decodes to more HTML (HTML escaped
    inside HTML) is read again, so no tag survives.
    """
    if html_text is None:
        return ""
    text = str(html_text)
    for _ in range(_MAX_PASSES):
        if "<" in text:
            text = _html_to_text(text)
        elif "&" in text:
            text = _plain_lines(html.unescape(text))
        else:
            text = _plain_lines(text)
        if not _MARKUP.search(text):
            break
    else:
        text = _MARKUP.sub(lambda m: "< " + m.group(0)[1:], text)   # defuse what is left
    return text


def _plain_lines(text: str) -> str:
    """Text without markup: control characters dropped, spaces collapsed, lines trimmed."""
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = [" ".join(line.split()) for line in text.split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):                           # at most one blank line in a row
            out.append(line)
    return "\n".join(out).strip()


def _html_to_text(markup: str) -> str:
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    return _plain_lines(parser.text())


class _TextExtractor(HTMLParser):
    """Collects the text a reader sees; see safe_text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self._parts: list[str | int] = []      # text, and block boundaries as ints (1: line, 2: paragraph)
        self._dropping = 0                      # depth inside dropped elements
        self._links: list[tuple[str | None, int]] = []   # open <a>: (http(s) href or None, start part)
        self._shown_urls: set[str] = set()

    def text(self) -> str:
        while self._links:                      # links left open at the end
            self._close_link()
        out: list[str] = []
        pending = 0                             # the widest block boundary since the last text
        for part in self._parts:
            if isinstance(part, int):
                pending = max(pending, part)
            elif pending and not part.strip():
                continue                        # spaces between blocks
            else:
                if pending and out:
                    out.append("\n" * pending)
                pending = 0
                out.append(part)
        return "".join(out)

    def _block(self, tag: str) -> None:
        self._parts.append(2 if tag in _PARAGRAPHS else 1)

    def handle_starttag(self, tag, attrs):
        if tag in _DROPPED:
            self._dropping += 1
            return
        if self._dropping:
            return
        attributes = dict(attrs)
        if tag == "br":
            self._parts.append("\n")
        elif tag in _BLOCKS:
            self._block(tag)
        elif tag == "a":
            self._links.append((_http_url(attributes.get("href")), len(self._parts)))
        elif tag == "img" and attributes.get("alt"):
            self._parts.append(" " + " ".join(attributes["alt"].split()) + " ")

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:                    # <a/>, <p/>, <script/>: open and closed at once
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if tag in _DROPPED:
            self._dropping = max(0, self._dropping - 1)
            return
        if self._dropping:
            return
        if tag == "br":                         # a stray </br> is a line break in browsers too
            self._parts.append("\n")
        elif tag in _BLOCKS:
            self._block(tag)
        elif tag == "a" and self._links:
            self._close_link()

    def handle_data(self, data):
        if not self._dropping:
            self._parts.append(_WHITESPACE.sub(" ", data))     # line breaks in the source are spaces

    def _close_link(self):
        href, start = self._links.pop()
        if href is None:
            return
        label = " ".join("".join(p for p in self._parts[start:] if isinstance(p, str)).split())
        if not label:
            if href not in self._shown_urls:    # a linked image without alt text: the URL alone
                self._parts.append(f" {href} ")
        elif _same_url(label, href):
            pass                                # the text is the URL already
        else:
            self._parts.append(f" ({href})")
        self._shown_urls.add(href)


def _http_url(href) -> str | None:
    """The href when it is an http(s) URL with a host, made safe to print; None otherwise."""
    if not isinstance(href, str):
        return None
    # As browsers read an href (WHATWG URL): leading and trailing spaces and control characters go, and
    # tabs and line breaks inside ("java\nscript:") are ignored.
    href = href.strip("".join(map(chr, range(0x21)))).replace("\t", "").replace("\n", "").replace("\r", "")
    try:
        parts = urlsplit(href)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    for ch, code in ((" ", "%20"), ("<", "%3C"), (">", "%3E"), ('"', "%22"), ("'", "%27")):
        href = href.replace(ch, code)
    return href


def _same_url(a: str, b: str) -> bool:
    def norm(url: str) -> str:
        return url.strip().rstrip("/").lower()
    return norm(a) == norm(b)
