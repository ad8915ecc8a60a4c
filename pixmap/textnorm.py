"""Text normalisation for search: the same in the build and in the viewer (`js/textnorm.js`).

The rules are docs/site-format.md's, section "Version 4", "Text normalisation"; the shared cases in
tests/data/textnorm-cases.json are checked against both implementations.

    fold("Straße Æ İ")                 -> "strasse ae i"
    tokens("Rembrandt's l'atelier 5")  -> ["rembrandt", "atelier", "5"]
    stem("cities", "en")               -> "city"
    terms("Rembrandt's Self-Portraits", "en") -> ["rembrandt", "self", "portrait"]

Letters, marks and digits are the Unicode general categories L*, M* and N* of the Python running the
build (`unicodedata`), which is what the viewer's `\\p{L}\\p{M}\\p{N}` match with the same Unicode version;
characters assigned in a newer Unicode version than one side knows may differ.
"""
from __future__ import annotations

import re
import sys
import unicodedata

__all__ = ["fold", "tokens", "stem", "terms", "has_digit", "LANGUAGES"]

LANGUAGES = ("en", "fr", "de", "nl", "es", "it")

APOSTROPHES = "'\u2019\u2018\u02bc"
# letters NFKD leaves whole, spelled out after lower-casing
_SPELL = str.maketrans({"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d",
                        "þ": "th", "ı": "i"})

_compiled: dict[str, re.Pattern] = {}
_ASCII_WORD = re.compile(r"[a-z0-9]+")
_ASCII_POSS = re.compile(r"(?<=[a-z])'s(?![a-z0-9])")


def _ranges(codepoints: list[int]) -> str:
    """A regex character class body for sorted code points, as ranges."""
    out = []
    i = 0
    while i < len(codepoints):
        j = i
        while j + 1 < len(codepoints) and codepoints[j + 1] == codepoints[j] + 1:
            j += 1
        a, b = chr(codepoints[i]), chr(codepoints[j])
        out.append(re.escape(a) if i == j else f"{re.escape(a)}-{re.escape(b)}")
        i = j + 1
    return "".join(out)


def _build() -> None:
    """The character classes, from this Python's Unicode database (once, ~0.3 s)."""
    mn, letter, word, digit = [], [], [], []
    apostrophes = {ord(c) for c in APOSTROPHES}
    category = unicodedata.category
    for cp in range(sys.maxunicode + 1):
        cat = category(chr(cp))
        first = cat[0]
        if first == "M":
            if cat == "Mn":
                mn.append(cp)
            word.append(cp)
        elif first == "L":
            if cp not in apostrophes:
                letter.append(cp)
                word.append(cp)
        elif first == "N":
            digit.append(cp)
            word.append(cp)
    w, le, ap = _ranges(word), _ranges(letter), re.escape(APOSTROPHES)
    _compiled["mn"] = re.compile(f"[{_ranges(mn)}]+")
    _compiled["word"] = re.compile(f"[{w}]+")
    _compiled["poss"] = re.compile(f"(?<=[{le}])[{ap}]s(?![{w}])")
    _compiled["digit"] = re.compile(f"[{_ranges(digit)}]")


def _re(name: str) -> re.Pattern:
    if not _compiled:
        _build()
    return _compiled[name]


def fold(text) -> str:
    """NFKD, combining marks (Mn) dropped, lower-cased, then ß æ œ ø ł đ ð þ ı spelled out (None -> "")."""
    text = "" if text is None else str(text)
    if text.isascii():                  # the common case: NFKD changes nothing, there are no marks
        return text.lower()
    text = _re("mn").sub("", unicodedata.normalize("NFKD", text))
    return text.lower().translate(_SPELL)


def has_digit(token: str) -> bool:
    """True when the token holds a digit (\\p{N}): such tokens are never stemmed nor fuzzy-matched."""
    if token.isascii():
        return not token.isalpha() and any(c.isdigit() for c in token)
    return _re("digit").search(token) is not None


def tokens(text) -> list[str]:
    """The tokens of a text, folded: runs of letters, marks and digits; `x's` -> `x`; other apostrophes
    separate; one-character tokens only when they are digits."""
    folded = fold(text)
    if folded.isascii():                # the same rules with ASCII classes (faster)
        if "'" in folded:
            folded = _ASCII_POSS.sub("", folded)
        return [t for t in _ASCII_WORD.findall(folded) if len(t) > 1 or t.isdigit()]
    if any(a in folded for a in APOSTROPHES):
        folded = _re("poss").sub("", folded)
    out = _re("word").findall(folded)
    return [t for t in out if len(t) > 1 or unicodedata.category(t)[0] == "N"]


def _drop(word: str, ending: str, keep: int, repl: str = "") -> str | None:
    if word.endswith(ending) and len(word) - len(ending) >= keep:
        return word[: len(word) - len(ending)] + repl
    return None


def _en(w: str) -> str:
    r = _drop(w, "ies", 2, "y")
    if r is not None:
        return r
    if w.endswith("sses"):
        return w[:-2]
    if w.endswith(("ches", "shes", "xes")) and len(w) - 2 >= 3:
        return w[:-2]
    if w.endswith("s") and not w.endswith(("ss", "us", "is")) and len(w) - 1 >= 3:
        return w[:-1]
    return w


def _fr(w: str) -> str:
    for ending, keep, repl in (("eaux", 0, "eau"), ("aux", 2, "al"), ("s", 4, ""), ("x", 4, "")):
        r = _drop(w, ending, keep, repl)
        if r is not None:
            return r
    return w


_DE = ("ern", "en", "er", "es", "e", "n", "s")


def _de(w: str) -> str:
    while True:
        for ending in _DE:
            r = _drop(w, ending, 4)
            if r is not None:
                w = r
                break
        else:
            return w


_VOWELS = set("aeiouy")


def _nl(w: str) -> str:
    r = _drop(w, "en", 4)
    if r is not None:
        if len(r) >= 2 and r[-1] == r[-2] and r[-1].isalpha() and r[-1] not in _VOWELS:
            r = r[:-1]
        elif r.endswith("z"):
            r = r[:-1] + "s"
        elif r.endswith("v"):
            r = r[:-1] + "f"
        return r
    r = _drop(w, "s", 4)
    return w if r is None else r


def _es(w: str) -> str:
    for ending in ("es", "s", "e"):
        r = _drop(w, ending, 4)
        if r is not None:
            return r
    return w


def _it(w: str) -> str:
    for ending in ("io", "a", "e", "i", "o"):
        r = _drop(w, ending, 4)
        if r is not None:
            return r
    return w


_STEMMERS = {"en": _en, "fr": _fr, "de": _de, "nl": _nl, "es": _es, "it": _it}


def stem(token: str, lang: str = "en") -> str:
    """A token's light stem: plural, possessive and inflection endings only (rules per language in
    docs/site-format.md); tokens with a digit are never stemmed; an unknown language stems as English."""
    if has_digit(token):
        return token
    return _STEMMERS.get(lang or "en", _en)(token)


def terms(text, lang: str = "en") -> list[str]:
    """tokens(text), each stemmed: what the index stores and what a query is matched with."""
    f = _STEMMERS.get(lang or "en", _en)
    return [t if has_digit(t) else f(t) for t in tokens(text)]
