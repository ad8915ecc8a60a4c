"""The find stage (site format 4, docs/site-format.md "Version 4"): what the images show, the search index
and the facets, written into the site after the hotspots.

    found = content_of(features, colours, opts)                 # ImageNet classes -> terms; colour names
    relabel_hotspots(clustering, found)                        # "dog · retriever", not "Cluster 3"
    entries = write_find(data_dir, fields, rows, found, columns, opts)   # manifest "search", "facets", "content"

Plain functions over the build's arrays: `features` (n x d, a memmap is fine), `colours` (n x 13 uint8 shares
from the image pass), the metadata table (`fields`, `rows`).
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import numpy as np

from . import content, facets, models, searchindex, textnorm

log = logging.getLogger(__name__)

# content and colour terms are indexed with a colour share / class probability of at least this
MIN_COLOUR_SHARE = 0.05
# stemmers keyed by language, made once (content_terms caches by the function's identity)
_STEMMERS = {lang: functools.partial(textnorm.stem, lang=lang) for lang in textnorm.LANGUAGES}


@dataclass
class Found:
    terms: content.ContentTerms | None   # per image content terms (CSR), None: the model has no classifier
    colours: np.ndarray                  # (n, len(content.COLOUR_NAMES)) uint8, share x 255
    lang: str                            # the language the text is stemmed in
    note: str | None = None              # why there are no content terms, when there are none


def search_language(opts: dict) -> str:
    """--search-language, else the first of --language that pixmap can stem, else English."""
    asked = opts.get("search_language")
    if asked:
        return str(asked).lower()
    for lang in str(opts.get("language") or "").replace(" ", "").split(","):
        if lang[:2].lower() in textnorm.LANGUAGES:
            return lang[:2].lower()
    return "en"


def content_of(features, colours: np.ndarray, opts: dict, progress: bool = False) -> Found:
    """Content terms from the model's ImageNet head applied to the stored features (no second model run),
    and the colour names the image pass measured."""
    lang = search_language(opts)
    if opts.get("weights") is None:
        return Found(None, colours, lang, "the model has no trained weights (--weights none): colours only")
    head = models.classifier_weights(opts["model"], opts["weights"])
    if head is None:
        return Found(None, colours, lang, f"{opts['model']} has no ImageNet classifier head: the content index "
                                           f"holds colour names only")
    from tqdm.auto import tqdm

    n = len(features)
    chunk = 8192
    classes = np.zeros((n, content.TOP), np.int16)
    probs = np.zeros((n, content.TOP), np.float32)
    with tqdm(total=n, desc="content", unit="img", disable=not progress) as bar:
        for lo in range(0, n, chunk):
            c, p = content.classify(features[lo:lo + chunk], *head)
            classes[lo:lo + len(c)], probs[lo:lo + len(p)] = c, p
            bar.update(len(c))
    terms = content.content_terms(classes, probs, normalise=_STEMMERS.get(lang, _STEMMERS["en"]))
    return Found(terms, colours, lang)


def relabel_hotspots(clustering, found: Found) -> None:
    """Hotspots of a collection with no category column (labelled "Cluster N") are named by their members'
    most distinctive content terms, when they have any. Curated hotspots (pixmap.curation) keep their names."""
    if found.terms is None or not clustering.hotspots or clustering.method == "curated":
        return
    plain = [h for h in clustering.hotspots if h.label.startswith("Cluster ")]
    if not plain:
        return
    best = content.distinctive_terms(clustering.labels, found.terms)
    for h in plain:
        label = content.hotspot_label(best.get(h.id, []))
        if label:
            h.label = label


def colour_lists(colours: np.ndarray) -> list:
    """Per image the colour names with a share >= MIN_COLOUR_SHARE, as (name, share) pairs."""
    names = content.COLOUR_NAMES
    shares = colours.astype(np.float32) / 255
    out = []
    for row in shares:
        keep = np.flatnonzero(row >= MIN_COLOUR_SHARE)
        out.append([(names[k], float(row[k])) for k in keep])
    return out


def parse_facets(value) -> list[str] | None:
    """--facets "a,b" (or a list) -> ["a", "b"]; None: chosen automatically."""
    if value is None:
        return None
    items = str(value).split(",") if isinstance(value, str) else list(value)
    return [str(a).strip() for a in items if str(a).strip()]


def write_find(data_dir, fields: list[str], rows: list[list], found: Found, columns: dict, opts: dict,
               progress: bool = False) -> dict:
    """Write data/search/ and data/facets/ (and a parsed year column); return the manifest entries
    {"search", "facets", "content"}."""
    from .pipeline import print_stage

    print_stage(progress, f"search index: {len(rows)} images")
    index = searchindex.build_index(fields, rows, content=found.terms, colours=colour_lists(found.colours),
                                    lang=found.lang)
    search = searchindex.write_index(index, data_dir)
    specs = facets.choose_facets(fields, rows, asked=parse_facets(opts.get("facets")))
    facet_entries = facets.write_facets(data_dir, fields, rows, specs, columns=columns)
    entry = {"model": opts["model"], "classes": found.terms is not None, "colours": True,
             "palette": content.palette_manifest()}
    if found.note:
        entry["note"] = found.note
    return {"search": search, "facets": facet_entries, "content": entry}
