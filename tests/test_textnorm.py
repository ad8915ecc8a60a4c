"""Text normalisation for search (pixmap.textnorm): the shared cases (also run against js/textnorm.js) and
the rules of docs/site-format.md one by one."""
from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest

from pixmap.textnorm import LANGUAGES, fold, stem, terms, tokens

CASES = json.loads((Path(__file__).parent / "data" / "textnorm-cases.json").read_text(encoding="utf-8"))


def test_cases_file_is_well_formed_and_covers_every_language():
    assert isinstance(CASES, list) and len(CASES) >= 40
    for case in CASES:
        assert set(case) == {"text", "lang", "tokens"}
        assert isinstance(case["text"], str) and isinstance(case["tokens"], list)
    assert {c["lang"] for c in CASES} >= set(LANGUAGES)


@pytest.mark.parametrize("case", CASES, ids=[f"{c['lang']}:{c['text'][:30]}" for c in CASES])
def test_shared_cases(case):
    assert terms(case["text"], case["lang"]) == case["tokens"]


@pytest.mark.parametrize("text, folded", [
    ("Café", "cafe"), ("ÉLÉPHANT", "elephant"), ("Æsop", "aesop"), ("Œuvre", "oeuvre"),
    ("İstanbul", "istanbul"), ("ışık", "isik"), ("Straße", "strasse"), ("ẞ", "ss"), ("ﬁ", "fi"),
    ("１２", "12"), ("²", "2"), ("Hammershøi", "hammershoi"), ("Łódź", "lodz"), ("Þór", "thor"),
    ("Dvořák", "dvorak"), ("Ǆ", "dz"),
])
def test_fold(text, folded):
    assert fold(text) == folded


def test_fold_output_has_no_nonspacing_marks_and_is_idempotent():
    text = "Ṩ̂ Ǻ ẞ Ἀθῆναι Москва́ हिन्दी ﬃ ①"
    once = fold(text)
    assert not any(unicodedata.category(c) == "Mn" for c in once)
    assert fold(once) == once


def test_tokens_apostrophes_and_one_character_tokens():
    assert tokens("Rembrandt's") == ["rembrandt"]
    assert tokens("REMBRANDT’S") == ["rembrandt"]
    assert tokens("l'atelier") == ["atelier"]              # "l" is one letter: dropped
    assert tokens("lʼhomme") == ["homme"]                  # U+02BC is an apostrophe, not a letter
    assert tokens("90's") == ["90"]                        # not after a letter: separates
    assert tokens("it's sx") == ["it", "sx"]
    assert tokens("word'sy") == ["word", "sy"]             # the s must end the word
    assert tokens("a b 7 x9 ①") == ["7", "x9", "1"]
    assert tokens("self-portrait, 1884–86") == ["self", "portrait", "1884", "86"]
    assert tokens("") == [] and tokens(None) == []


def test_marks_of_category_mc_stay_inside_words():
    # Devanagari vowel signs are Mc: without \\p{M} this word would fall apart into single letters
    assert tokens("हिन्दी") == ["हिनदी"]


@pytest.mark.parametrize("lang, word, stemmed", [
    ("en", "cities", "city"), ("en", "flies", "fly"), ("en", "ties", "tie"), ("en", "glasses", "glass"),
    ("en", "churches", "church"), ("en", "boxes", "box"), ("en", "axes", "axe"), ("en", "bronzes", "bronze"),
    ("en", "glass", "glass"), ("en", "venus", "venus"), ("en", "paris", "paris"), ("en", "gas", "gas"),
    ("en", "cats", "cat"), ("en", "university", "university"), ("en", "universe", "universe"),
    ("fr", "tableaux", "tableau"), ("fr", "chevaux", "cheval"), ("fr", "faux", "faux"), ("fr", "prix", "prix"),
    ("fr", "fleurs", "fleur"),
    ("de", "bildern", "bild"), ("de", "bilder", "bild"), ("de", "blumen", "blum"), ("de", "blume", "blum"),
    ("de", "rosen", "rose"), ("de", "rose", "rose"), ("de", "kunstlers", "kunstl"),
    ("nl", "portretten", "portret"), ("nl", "huizen", "huis"), ("nl", "brieven", "brief"),
    ("nl", "boeken", "boek"), ("nl", "schilders", "schilder"),
    ("es", "flores", "flor"), ("es", "noches", "noch"), ("es", "noche", "noch"), ("es", "retratos", "retrato"),
    ("it", "ritratti", "ritratt"), ("it", "ritratto", "ritratt"), ("it", "paesaggio", "paesagg"),
    ("it", "paesaggi", "paesagg"), ("it", "donne", "donn"),
    ("xx", "cities", "city"),
])
def test_stem(lang, word, stemmed):
    assert stem(word, lang) == stemmed


@pytest.mark.parametrize("lang", LANGUAGES)
def test_tokens_with_a_digit_are_never_stemmed(lang):
    for word in ("1920s", "2000es", "abc123s", "1884"):
        assert stem(word, lang) == word


def test_singular_and_plural_meet():
    pairs = {"en": [("painting", "paintings"), ("lady", "ladies"), ("church", "churches"), ("prize", "prizes")],
             "fr": [("tableau", "tableaux"), ("cheval", "chevaux"), ("femme", "femmes")],
             "de": [("Bild", "Bilder"), ("Kind", "Kindern"), ("Haus", "Häuser"), ("Frau", "Frauen")],
             "nl": [("kat", "katten"), ("huis", "huizen"), ("boek", "boeken")],
             "es": [("flor", "flores"), ("madre", "madres"), ("casa", "casas")],
             "it": [("fiore", "fiori"), ("donna", "donne"), ("studio", "studi")]}
    for lang, words in pairs.items():
        for a, b in words:
            assert terms(a, lang) == terms(b, lang), (lang, a, b)
