"""pixmap.iiif.text: language maps and HTML in IIIF values -> plain, safe text.

Real values come from the shared IIIF files (../shared/iiif, see its README): the IIIF cookbook's
language recipe and the Wellcome Collection's v3 manifest (HTML in requiredStatement).
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from pixmap.iiif import text
from pixmap.iiif.text import default_languages, pick_language, pick_language_values, plain_text, safe_text

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "iiif"
MARKUP = re.compile(r"<[A-Za-z!/?]")


def shared_json(relative: str) -> dict:
    """A shared IIIF file; skipped when the shared data is missing, failed in CI."""
    path = SHARED / relative
    if not path.is_file():
        message = f"shared IIIF test data missing: {path} (see shared/iiif/README.md)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return json.loads(path.read_text(encoding="utf-8"))


# --- pick_language --------------------------------------------------------------------------------------

V3_MAP = {"en": ["Whistler's Mother"], "fr": ["La Mère de Whistler"]}


def test_plain_string_and_nothing():
    assert pick_language("A title", ["fr"]) == "A title"
    assert pick_language(None, ["en"]) is None
    assert pick_language([], ["en"]) is None
    assert pick_language({"en": []}, ["en"]) is None
    assert pick_language({"en": ["  "]}, ["en"]) is None
    assert pick_language(1884, ["en"]) == "1884"


def test_v3_language_map_by_preference():
    assert pick_language(V3_MAP, ["fr", "en"]) == "La Mère de Whistler"
    assert pick_language(V3_MAP, ["en", "fr"]) == "Whistler's Mother"
    assert pick_language(V3_MAP, ["de"]) == "Whistler's Mother"           # then English
    assert pick_language(V3_MAP, []) == "Whistler's Mother"


def test_v3_none_then_any():
    assert pick_language({"none": ["Laocöon"]}, ["de"]) == "Laocöon"
    assert pick_language({"@none": ["Laocöon"]}, ["de"]) == "Laocöon"
    assert pick_language({"fr": ["Un"], "none": ["Sans langue"]}, ["de"]) == "Sans langue"
    assert pick_language({"ja": ["琴棋書画図屏風"], "fr": ["Un"]}, ["de"]) == "琴棋書画図屏風"   # the first
    assert pick_language({"fr": ["Un"], "none": ["Sans"]}, ["fr"]) == "Un"


def test_language_tags_match_by_primary_language():
    assert pick_language({"en-GB": ["colour"], "de": ["Farbe"]}, ["en"]) == "colour"
    assert pick_language({"en": ["color"], "de": ["Farbe"]}, ["en-GB"]) == "color"
    assert pick_language({"en-US": ["color"], "en-GB": ["colour"]}, ["en-GB"]) == "colour"  # exact first
    assert pick_language({"cy-GB": ["Teitl"], "en": ["Title"]}, ["cy"]) == "Teitl"
    assert pick_language({"pt-BR": ["a"], "PT": ["b"]}, ["pt_br"]) == "a"


def test_multiple_values_joined():
    value = {"en": ["Whistler's Mother", "Arrangement in Grey and Black No. 1"],
             "fr": ["Portrait de la mère de l'artiste", "La Mère de Whistler"]}
    assert pick_language(value, ["fr"]) == "Portrait de la mère de l'artiste; La Mère de Whistler"
    assert pick_language_values(value, ["en"]) == ["Whistler's Mother", "Arrangement in Grey and Black No. 1"]


def test_v2_language_lists():
    value = [{"@value": "Title", "@language": "en"}, {"@value": "Teitl", "@language": "cy-GB"}]
    assert pick_language(value, ["cy"]) == "Teitl"
    assert pick_language(value, ["de"]) == "Title"
    assert pick_language({"@value": "Seul", "@language": "fr"}, ["en"]) == "Seul"
    # plain strings in a v2 list have no language: shown when the preferred language is absent
    assert pick_language(["one", "two"], ["en"]) == "one; two"
    assert pick_language(["sans", {"@value": "English", "@language": "en"}], ["de"]) == "English"
    assert pick_language(["sans", {"@value": "Deutsch", "@language": "de"}], ["fr"]) == "sans"


def test_nested_lists():
    value = [["a", ["b"]], {"@value": ["c", "d"], "@language": "en"}]
    assert pick_language(value, ["en"]) == "c; d"
    assert pick_language([["a", ["b"]]], ["en"]) == "a; b"


def test_cookbook_language_recipe():
    doc = shared_json("cookbook/0006-text-language.json")
    assert pick_language(doc["label"], ["fr", "en"]) == "La Mère de Whistler"
    assert pick_language(doc["label"], ["it"]) == "Whistler's Mother"
    assert pick_language(doc["summary"], ["fr"]).startswith("Arrangement en gris et noir")
    creator = doc["metadata"][0]
    assert pick_language(creator["label"], ["fr"]) == "Auteur"
    assert pick_language(creator["value"], ["fr"]) == "Whistler, James Abbott McNeill"   # "none"
    assert pick_language(doc["requiredStatement"]["label"], ["fr"]) == "Détenu par"


def test_wellcome_language_maps():
    doc = shared_json("presentation-3/wellcome-p3.json")
    assert pick_language(doc["label"], ["de"]) == "[Report 1960] / Medical Officer of Health, Llanwrtyd Wells U.D.C."
    subjects = next(pair for pair in doc["metadata"] if pair["label"] == {"en": ["Subjects"]})
    assert pick_language(subjects["value"], ["en"]).split("; ")[:2] == ["Disease Outbreaks.", "Public Health."]
    assert pick_language(doc["metadata"][0]["value"], ["en"]) == "1960"                 # {"none": [...]}


# --- default_languages ----------------------------------------------------------------------------------

@pytest.fixture
def no_locale(monkeypatch):
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(text.locale, "getlocale", lambda *a: (None, None))
    return monkeypatch


def test_default_languages_from_lang(no_locale):
    no_locale.setenv("LANG", "de_DE.UTF-8")
    assert default_languages() == ["de", "en"]


def test_default_languages_order_and_english_once(no_locale):
    no_locale.setenv("LANGUAGE", "fr_CA:fr:en")
    no_locale.setenv("LANG", "de_DE.UTF-8@euro")
    assert default_languages() == ["fr", "en", "de"]


def test_default_languages_c_locale_is_english(no_locale):
    no_locale.setenv("LC_ALL", "C.UTF-8")
    no_locale.setenv("LANG", "POSIX")
    assert default_languages() == ["en"]


def test_default_languages_from_locale_module(no_locale):
    no_locale.setattr(text.locale, "getlocale", lambda *a: ("cy_GB", "UTF-8"))
    assert default_languages() == ["cy", "en"]


# --- safe_text ------------------------------------------------------------------------------------------

def test_tags_removed_entities_decoded():
    assert safe_text("<span>Glen <b>Robson</b> &amp; friends &eacute;t&eacute; &#8212; &lt;3</span>") \
        == "Glen Robson & friends été — <3"
    assert safe_text("Tom &amp; Jerry") == "Tom & Jerry"
    assert safe_text("a < b and c > d") == "a < b and c > d"
    assert safe_text("") == "" and safe_text(None) == ""


def test_line_breaks():
    assert safe_text("one<br>two<br/>three<br />four") == "one\ntwo\nthree\nfour"
    assert safe_text("<p>first</p><p>second</p>") == "first\n\nsecond"
    assert safe_text("Public Domain<br/><br/><img src='x.png'/>") == "Public Domain"
    assert safe_text("<ul><li>a</li><li>b</li></ul>") == "a\nb"


def test_whitespace_normalised():
    assert safe_text("  lots   of\n\n\n\n  space\t here ") == "lots of\n\nspace here"
    assert safe_text("<p>  wrapped\n   source   text </p>") == "wrapped source text"
    assert safe_text("non\u00a0breaking") == "non breaking"
    assert safe_text("bell\x07 and nul\x00") == "bell and nul"


def test_script_and_style_dropped():
    assert safe_text("<script>alert('x')</script>Hello<style>p{color:red}</style>!") == "Hello!"
    assert safe_text("<SCRIPT type='text/javascript'>document.write(1)</SCRIPT>ok") == "ok"
    assert safe_text("ok<script>never closed") == "ok"


def test_links():
    assert safe_text('<a href="https://github.com/glenrobson">IIIF Technical Coordinator</a>') \
        == "IIIF Technical Coordinator (https://github.com/glenrobson)"
    # the text is the URL: shown once
    assert safe_text('<a href="https://creativecommons.org/publicdomain/mark/1.0/">'
                     'https://creativecommons.org/publicdomain/mark/1.0/</a>') \
        == "https://creativecommons.org/publicdomain/mark/1.0/"
    # only http(s) links keep their address
    assert safe_text('<a href="javascript:alert(1)">click</a>') == "click"
    assert safe_text('<a href=" JaVa\tScRipt:alert(1)">click</a>') == "click"
    assert safe_text('<a href="data:text/html;base64,PHNjcmlwdD4=">data</a>') == "data"
    assert safe_text('<a href="mailto:a@b.org">write</a>') == "write"
    assert safe_text('<a href="/relative/path">rel</a>') == "rel"
    # a linked image: its alt text, else the address once
    assert safe_text('<a href="https://cc.org/by"><img alt="CC BY 4.0" src="x.png"></a>') \
        == "CC BY 4.0 (https://cc.org/by)"
    assert safe_text('<a href="https://cc.org/by">CC BY</a> <a href="https://cc.org/by"><img src="x"/></a>') \
        == "CC BY (https://cc.org/by)"
    assert safe_text('<a href="https://x.org/a b<c>">t</a>') == "t (https://x.org/a%20b%3Cc%3E)"


def test_escaped_html_is_read_again():
    assert safe_text("&lt;p&gt;Hello &lt;b&gt;world&lt;/b&gt;&lt;/p&gt;") == "Hello world"
    assert safe_text("&lt;script&gt;alert(1)&lt;/script&gt;after") == "after"


HOSTILE = [
    '<img src=x onerror="alert(1)">',
    "<scr<script>ipt>alert(1)</script>",
    "&lt;img src=x onerror=alert(1)&gt;",
    "&amp;lt;b&amp;gt;twice&amp;lt;/b&amp;gt;",
    "&amp;amp;lt;i&amp;amp;gt;thrice",
    "<<b>b>bold<</b>/b>",
    "<!-- comment --><![CDATA[ x ]]><?php echo 1 ?>text",
    "<svg><script>alert(1)</script></svg>",
    '<a href="https://ok.org/"><b>x</b></a>',
    "<iframe src='https://evil.org'></iframe>ok",
    "unclosed <b attr='x",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_never_returns_markup(value):
    out = safe_text(value)
    assert not MARKUP.search(out), out
    assert "onerror" not in out and "<script" not in out.lower()


def test_wellcome_required_statement():
    doc = shared_json("presentation-3/wellcome-p3.json")
    out = plain_text(doc["requiredStatement"]["value"], ["en"])
    assert out.startswith("Wellcome Collection; You have permission to make copies of this work under a "
                          "Creative Commons, Attribution license (http://creativecommons.org/licenses/by/4.0/).")
    assert "\n\nThis licence permits unrestricted use" in out
    assert "Legal Code (http://creativecommons.org/licenses/by/4.0/legalcode)" in out
    assert not MARKUP.search(out) and "target=" not in out


def test_cookbook_string_formats():
    doc = shared_json("cookbook/0007-string-formats.json")
    assert plain_text(doc["summary"], ["en"]) == \
        "Picture taken by the IIIF Technical Coordinator (https://github.com/glenrobson)"
    assert plain_text(doc["metadata"][0]["value"], ["en"]) == "Glen Robson (https://github.com/glenrobson)"
    assert plain_text(doc["requiredStatement"]["value"], ["en"]) == \
        "Glen Robson, IIIF Technical Coordinator. CC BY-SA 3.0 (https://creativecommons.org/licenses/by-sa/3.0)"


def test_plain_text_drops_empty_values():
    assert plain_text({"en": ["<img src='x'>", "kept"]}, ["en"]) == "kept"
    assert plain_text({"en": ["<script>x</script>"]}, ["en"]) is None
