"""The search index of a site (format version 4): build it, write it, and search it.

docs/site-format.md, section "Version 4", "The index", is the contract; the viewer (`js/search.js`) reads
these files and ranks the same way. `search()` here is the reference implementation of that ranking, for
tests, notebooks and to cross-check the viewer.

    index = build_index(fields, rows, content=content, colours=colours, lang="en")
    manifest["search"] = write_index(index, site / "data")
    search(site, "rembrant self portrait year:1650..1670")   # -> [(image index, score), ...]

Inputs: `fields` and `rows` as in the site's metadata (rows[i][j] is field j's value for image i: str,
number, list of str (tags) or None); `content[i]`, when given, the image's content terms as (word, p)
pairs; `colours[i]` its colour names as (name, share) pairs.

Scale: postings are collected in flat typed arrays (no per-term Python lists), sorted and encoded with
numpy; at 1,000,000 images x ~20 terms the build holds ~13 bytes per posting plus a sort's temporaries
(bench/bench_search.py has the figures).
"""
from __future__ import annotations

import json
import math
import re
from array import array
from dataclasses import dataclass, field as dc_field
from pathlib import Path

import numpy as np

from .textnorm import fold, has_digit, stem, terms, tokens

__all__ = ["SearchIndex", "build_index", "write_index", "search", "encode_postings", "decode_postings",
           "read_term", "edit_distance", "FIELD_WEIGHTS", "NOT_INDEXED", "POSTINGS_FILE_BYTES"]

VERSION = 1
K1, B = 1.2, 0.75
POSTINGS_FILE_BYTES = 256 * 1024   # a postings file holds whole terms, at most this many bytes (unless one
                                   # term's postings are larger: then that term alone)
MAX_FIELDS = 256                   # the field index is one byte
# weight of a field in the ranking, by (lower-case) name; every other field 1
FIELD_WEIGHTS = {"title": 3.0, "artist": 2.0, "creator": 2.0, "author": 2.0, "maker": 2.0,
                 "photographer": 2.0, "filename": 0.5, "content": 1.0, "colour": 1.0}
# metadata fields that are never indexed: the image's size, coordinates, links
NOT_INDEXED = {"width", "height", "lat", "lng", "permalink"}
_IMAGE_EXT = re.compile(r"\.(jpe?g|png|webp|bmp|tiff?|gif)$", re.IGNORECASE)
_CACHE_LIMIT = 300_000


@dataclass
class SearchIndex:
    """An index in memory: postings sorted by (term, image, field)."""
    docs: int
    fields: list[str]              # the fields the postings' field bytes refer to
    weights: list[float]           # their weights in the ranking
    lang: str
    terms: list[str]               # sorted by code point
    starts: np.ndarray             # int64, len(terms) + 1: term t's postings are [starts[t], starts[t+1])
    doc: np.ndarray                # uint32 per posting
    field: np.ndarray              # uint8
    weight: np.ndarray             # uint8, 1..255
    df: np.ndarray                 # int64 per term: images having it in any field
    k1: float = K1
    b: float = B
    stats: dict = dc_field(default_factory=dict)

    def postings(self, term: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(images, fields, weights) of a term (empty arrays when it is not indexed)."""
        import bisect

        t = bisect.bisect_left(self.terms, term)
        if t == len(self.terms) or self.terms[t] != term:
            e = np.zeros(0, np.int64)
            return e, e, e
        a, b = int(self.starts[t]), int(self.starts[t + 1])
        return self.doc[a:b].astype(np.int64), self.field[a:b].astype(np.int64), self.weight[a:b].astype(np.int64)


# ------------------------------------------------------------------------------------------ values
def _value_texts(value, name: str) -> list[str]:
    """The texts of one metadata value that are indexed (a list gives each element's)."""
    if value is None or isinstance(value, (bool, np.bool_, dict)):
        return []
    if isinstance(value, (list, tuple)):
        out = []
        for v in value:
            out += _value_texts(v, name)
        return out
    if isinstance(value, (int, np.integer)):
        return [str(int(value))]
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return [str(int(f))] if math.isfinite(f) and f.is_integer() else []
    text = str(value).strip()
    if not text or text.startswith(("http://", "https://", "data:")):
        return []
    if name == "filename":
        text = _IMAGE_EXT.sub("", text)
    return [text]


def indexed_fields(fields: list[str]) -> list[int]:
    """The indices of the metadata fields the index covers: all but NOT_INDEXED (by lower-case name)."""
    return [j for j, name in enumerate(fields) if str(name).lower() not in NOT_INDEXED]


def field_weight(name: str, weights: dict | None = None) -> float:
    if weights and name in weights:
        return float(weights[name])
    return FIELD_WEIGHTS.get(str(name).lower(), 1.0)


# ------------------------------------------------------------------------------------------ build
def build_index(fields: list[str], rows: list[list], content: list | None = None, colours: list | None = None,
                lang: str = "en", weights: dict | None = None, k1: float = K1, b: float = B) -> SearchIndex:
    """Index every image's metadata (fields of `indexed_fields`), content terms (field `content`) and
    colour names (field `colour`). `weights` overrides FIELD_WEIGHTS by field name.

    `content` / `colours`: per image a list of (word, p) pairs (raw words: they are tokenised and stemmed
    here; p in (0, 1], the largest kept when words meet in one term), or for `content` a
    pixmap.content.ContentTerms (CSR, indexed without a per-image Python loop)."""
    n = len(rows)
    lang = lang or "en"
    meta_cols = indexed_fields(fields)
    names = [str(fields[j]) for j in meta_cols]
    extra_field = {}                   # "content"/"colour" -> its field index (after the metadata's)
    for name, given in (("content", content), ("colour", colours)):
        if given is not None:
            extra_field[name] = len(names)
            names.append(name)
    if len(names) > MAX_FIELDS:
        raise ValueError(f"the search index covers at most {MAX_FIELDS} fields; this metadata has {len(names)}: "
                         f"leave some out")

    term_ids: dict[str, int] = {}
    cache: dict = {}

    token_ids: dict[str, int] = {}     # token -> its term's id (each distinct token stemmed once)

    def value_ids(text: str) -> list[int]:
        out = []
        for tok in tokens(text):
            i = token_ids.get(tok)
            if i is None:
                t = stem(tok, lang)
                i = term_ids.get(t)
                if i is None:
                    i = term_ids[t] = len(term_ids)
                if len(token_ids) < 4 * _CACHE_LIMIT:
                    token_ids[tok] = i
            out.append(i)
        return out

    def counted(value, name):
        key = (name == "filename", value) if isinstance(value, str) else None
        if key is not None:
            hit = cache.get(key)
            if hit is not None:
                return hit
        ids = []
        for text in _value_texts(value, name):
            ids += value_ids(text)
        if len(ids) <= 1:
            res = (ids, None, len(ids))
        else:
            counts: dict[int, int] = {}
            for i in ids:
                counts[i] = counts.get(i, 0) + 1
            res = (list(counts), [min(c, 65535) for c in counts.values()], min(len(ids), 65535))
        if key is not None:
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cache[key] = res
        return res

    T, TF = array("i"), array("H")                               # per posting: term, tf
    GD, GF, GL, GK = array("I"), array("B"), array("H"), array("I")   # per (image, field): its postings'
    #                                                                  image, field, length, count
    len_sum = [0] * len(names)
    len_docs = [0] * len(names)
    lowered = [nm.lower() for nm in names]
    plan = list(enumerate(meta_cols))
    for d in range(n):
        row = rows[d]
        for fi, j in plan:
            v = row[j]
            if v is None:
                continue
            uniq, tfs, length = counted(v, lowered[fi])
            if not length:
                continue
            len_sum[fi] += length
            len_docs[fi] += 1
            T.extend(uniq)
            if tfs is None:
                TF.append(1)
            else:
                TF.extend(tfs)
            GD.append(d)
            GF.append(fi)
            GL.append(length)
            GK.append(len(uniq))

    # content terms and colours: weight round(255 p) directly
    CT, CD, CF, CP = array("i"), array("I"), array("B"), array("d")
    csr_parts: list[tuple] = []          # (term ids, images, field, p) from CSR content
    word_cache: dict[str, list[int]] = {}
    for fi_name, per_image in (("content", content), ("colour", colours)):
        if per_image is None:
            continue
        fi = extra_field[fi_name]
        if len(per_image) != n:
            raise ValueError(f"{fi_name}: {len(per_image)} entries for {n} images")
        if hasattr(per_image, "offsets") and hasattr(per_image, "vocabulary"):   # CSR (pixmap.content)
            csr_parts.append(_csr_postings(per_image, fi, value_ids))
            continue
        for d, pairs in enumerate(per_image):
            if not pairs:
                continue
            best: dict[int, float] = {}
            for word, p in pairs:
                p = float(p)
                if not p > 0:
                    continue
                ids = word_cache.get(word)
                if ids is None:
                    ids = word_cache[word] = value_ids(str(word))
                for i in ids:
                    if p > best.get(i, 0.0):
                        best[i] = p
            if not best:
                continue
            len_docs[fi] += 1
            CT.extend(best.keys())
            CP.extend(best.values())
            CD.extend([d] * len(best))
            CF.extend([fi] * len(best))

    # text weights: BM25's term part, scaled to 1..255 (in blocks: bounded float temporaries)
    def arr(a, dtype):
        return np.frombuffer(a, dtype=dtype) if len(a) else np.zeros(0, dtype)

    gk = arr(GK, np.uint32)
    t_doc = np.repeat(arr(GD, np.uint32), gk)
    t_field = np.repeat(arr(GF, np.uint8), gk)
    t_len = np.repeat(arr(GL, np.uint16), gk)
    del GD, GF, GL, GK, gk
    tf_all = arr(TF, np.uint16)
    avg = np.array([len_sum[i] / len_docs[i] if len_docs[i] else 1.0 for i in range(len(names))])
    t_weight = np.empty(len(t_doc), np.uint8)
    step = 1 << 22
    for s0 in range(0, len(t_doc), step):
        s1 = min(s0 + step, len(t_doc))
        tf = tf_all[s0:s1].astype(np.float64)
        norm = 1.0 - b + b * t_len[s0:s1] / avg[t_field[s0:s1]]
        w = 255.0 * tf * (k1 + 1) / (tf + k1 * norm) / (k1 + 1)
        t_weight[s0:s1] = np.clip(np.floor(w + 0.5), 1, 255)
    del t_len, tf_all, TF
    c_p = np.concatenate([arr(CP, np.float64)] + [part[3] for part in csr_parts])
    c_weight = np.clip(np.floor(255.0 * np.minimum(c_p, 1.0) + 0.5), 1, 255).astype(np.uint8)
    del CP, c_p
    doc = np.concatenate([t_doc, arr(CD, np.uint32)] + [part[1] for part in csr_parts])
    del t_doc, CD
    fld = np.concatenate([t_field, arr(CF, np.uint8)] + [part[2] for part in csr_parts])
    del t_field, CF
    wgt = np.concatenate([t_weight, c_weight])
    del t_weight, c_weight

    # fields without a posting are left out of search.fields
    used = np.zeros(len(names), bool)
    used[np.unique(fld)] = True
    remap = (np.cumsum(used) - 1).astype(np.uint8)
    fld = remap[fld]
    kept_names = [nm for nm, u in zip(names, used) if u]

    # term ids -> ranks in code point order; sort postings by (term, image, field) with one int64 key
    sorted_terms = sorted(term_ids)
    rank = np.empty(len(term_ids), np.int64)
    rank[[term_ids[t] for t in sorted_terms]] = np.arange(len(sorted_terms))
    term_ids.clear()
    cache.clear()
    token_ids.clear()
    key = rank[np.concatenate([arr(T, np.int32), arr(CT, np.int32)] + [part[0] for part in csr_parts])]
    del T, CT, rank, csr_parts
    counts = np.bincount(key, minlength=len(sorted_terms))
    if (counts == 0).any():   # terms no image has (a content vocabulary lists every word it knows)
        present = counts > 0
        key = (np.cumsum(present) - 1)[key]
        sorted_terms = [t for t, keep in zip(sorted_terms, present.tolist()) if keep]
        counts = counts[present]
    starts = np.zeros(len(sorted_terms) + 1, np.int64)
    np.cumsum(counts, out=starts[1:])
    del counts
    key *= max(n, 1)
    key += doc
    key *= 256
    key += fld
    order = np.argsort(key)                 # keys are unique: (term, image, field) occurs once
    del key
    doc, fld, wgt = doc[order], fld[order], wgt[order]
    del order
    new_doc = np.ones(len(doc), np.int8)
    if len(doc) > 1:
        new_doc[1:] = doc[1:] != doc[:-1]
        new_doc[starts[:-1][starts[:-1] < len(doc)]] = 1
    df = np.add.reduceat(new_doc, starts[:-1], dtype=np.int64) if len(sorted_terms) else np.zeros(0, np.int64)
    del new_doc
    return SearchIndex(docs=n, fields=kept_names, weights=[field_weight(nm, weights) for nm in kept_names],
                       lang=lang, terms=sorted_terms, starts=starts, doc=doc, field=fld, weight=wgt,
                       df=df.astype(np.int64), k1=k1, b=b,
                       stats={"postings": int(len(doc)), "terms": len(sorted_terms)})


def _csr_postings(ct, fi: int, value_ids) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(term ids, images, field, p) of content terms in CSR form (pixmap.content.ContentTerms: offsets,
    terms into vocabulary, probs), each (image, term) once with its largest p; p <= 0 left out."""
    offsets = np.asarray(ct.offsets, np.int64)
    words = np.asarray(ct.terms, np.int64)
    probs = np.asarray(ct.probs, np.float64)
    ids_of = [value_ids(str(w)) for w in ct.vocabulary]
    n_ids = np.array([len(x) for x in ids_of], np.int64)
    flat = np.array([i for x in ids_of for i in x], np.int64)
    first = np.zeros(len(ids_of) + 1, np.int64)
    np.cumsum(n_ids, out=first[1:])
    img = np.repeat(np.arange(len(offsets) - 1, dtype=np.int64), np.diff(offsets))
    keep = probs > 0
    img, words, probs = img[keep], words[keep], probs[keep]
    reps = n_ids[words]
    total = int(reps.sum())
    if total == 0:
        e = np.zeros(0, np.int64)
        return e.astype(np.int32), e.astype(np.uint32), e.astype(np.uint8), e.astype(np.float64)
    starts = np.repeat(first[words] - np.cumsum(reps) + reps, reps) + np.arange(total)
    tid = flat[starts]
    img = np.repeat(img, reps)
    p = np.repeat(probs, reps)
    m = int(tid.max()) + 1
    key = img * m + tid
    order = np.lexsort((-p, key))             # by key, the largest p first
    key, p = key[order], p[order]
    head = np.r_[True, key[1:] != key[:-1]]
    key, p = key[head], p[head]
    return ((key % m).astype(np.int32), (key // m).astype(np.uint32),
            np.full(len(key), fi, np.uint8), p)


# ------------------------------------------------------------------------------------------ encoding
def _varint_lengths(v: np.ndarray) -> np.ndarray:
    nb = np.ones(len(v), np.int64)
    for k in (7, 14, 21, 28, 35, 42, 49, 56):
        nb += v >= (1 << k)
    return nb


def encode_postings(docs, fields, weights) -> bytes:
    """One term's postings, (image, field, weight) in image order: per posting the image minus the
    previous posting's (LEB128), the field byte, the weight byte."""
    docs = np.asarray(docs, np.int64)
    deltas = np.diff(docs, prepend=0)
    return _encode(deltas, np.asarray(fields, np.uint8), np.asarray(weights, np.uint8)).tobytes()


def _encode(deltas: np.ndarray, fields: np.ndarray, weights: np.ndarray) -> np.ndarray:
    if np.any(deltas < 0):
        raise ValueError("postings must be in image order")
    v = deltas.astype(np.uint64)
    nb = _varint_lengths(v)
    size = nb + 2
    off = np.zeros(len(v) + 1, np.int64)
    np.cumsum(size, out=off[1:])
    out = np.empty(int(off[-1]), np.uint8)
    start = off[:-1]
    for k in range(int(nb.max()) if len(nb) else 0):
        m = nb > k
        byte = ((v[m] >> np.uint64(7 * k)) & np.uint64(0x7F)).astype(np.uint8)
        byte |= ((nb[m] > k + 1).astype(np.uint8) << 7)
        out[start[m] + k] = byte
    out[start + nb] = fields
    out[start + nb + 1] = weights
    return out


def decode_postings(data: bytes) -> tuple[list[int], list[int], list[int]]:
    """(images, fields, weights) of one term's postings bytes (the inverse of encode_postings)."""
    docs, fields, weights = [], [], []
    i, doc, n = 0, 0, len(data)
    try:
        while i < n:
            byte = data[i]
            i += 1
            if byte < 0x80:              # one-byte gap: the common case
                doc += byte
            else:
                shift, value = 7, byte & 0x7F
                while True:
                    byte = data[i]
                    i += 1
                    value |= (byte & 0x7F) << shift
                    if byte < 0x80:
                        break
                    shift += 7
                doc += value
            docs.append(doc)
            fields.append(data[i])
            weights.append(data[i + 1])
            i += 2
    except IndexError:
        raise ValueError("truncated postings") from None
    if i != n:
        raise ValueError("truncated postings")
    return docs, fields, weights


def shard_key(term: str) -> str:
    """The dictionary shard of a term: the lower-case hex code point of its first character."""
    return format(ord(term[0]), "x")


# ------------------------------------------------------------------------------------------ write
def write_index(index: SearchIndex, data_dir, file_bytes: int = POSTINGS_FILE_BYTES, block: int = 1 << 22) -> dict:
    """Write data/search/ (dict/<key>.json, postings/<key>/<j>.bin) under the site's `data` folder;
    return the manifest's `search` entry. `block`: postings encoded at a time (bounds the temporaries)."""
    root = Path(data_dir) / "search"
    (root / "dict").mkdir(parents=True, exist_ok=True)
    (root / "postings").mkdir(parents=True, exist_ok=True)
    nterms = len(index.terms)
    # encode in blocks of postings (bounded temporaries); the first posting of a term counts from 0.
    # term_bytes_start: the byte offset of each term's postings in the whole encoded stream
    starts = index.starts
    n_post = len(index.doc)
    blocks, term_bytes_start = [], np.zeros(nterms + 1, np.int64)
    step = max(1, int(block))
    total = 0
    for a in range(0, n_post, step):
        z = min(a + step, n_post)
        d = index.doc[a:z].astype(np.int64)
        prev = np.empty_like(d)
        prev[0] = index.doc[a - 1] if a else 0
        prev[1:] = d[:-1]
        lo, hi = np.searchsorted(starts, [a, z])          # the terms starting in this block
        firsts = starts[lo:hi]
        prev[firsts - a] = 0
        delta = d - prev
        del d, prev
        enc = _encode(delta, index.field[a:z], index.weight[a:z])
        off = np.zeros(z - a + 1, np.int64)
        np.cumsum(_varint_lengths(delta.astype(np.uint64)) + 2, out=off[1:])
        term_bytes_start[lo:hi] = total + off[firsts - a]
        total += len(enc)
        blocks.append(enc)
    term_bytes_start[nterms] = total
    # terms without postings (none in practice) start where the next one does
    if nterms:
        empty = starts[:-1] == starts[1:]
        for t in np.flatnonzero(empty)[::-1]:
            term_bytes_start[t] = term_bytes_start[t + 1]
    buf = np.concatenate(blocks) if blocks else np.zeros(0, np.uint8)
    del blocks

    keys = []
    t = 0
    while t < nterms:
        key = shard_key(index.terms[t])
        u = t
        while u < nterms and shard_key(index.terms[u]) == key:
            u += 1
        folder = root / "postings" / key
        folder.mkdir(exist_ok=True)
        files, offsets, sizes = [], [], []
        file_no, file_start, file_end = 0, int(term_bytes_start[t]), int(term_bytes_start[t])
        for s in range(t, u):
            a, z = int(term_bytes_start[s]), int(term_bytes_start[s + 1])
            if z - file_start > file_bytes and file_end > file_start:
                buf[file_start:file_end].tofile(folder / f"{file_no}.bin")
                file_no += 1
                file_start = a
            files.append(file_no)
            offsets.append(a - file_start)
            sizes.append(z - a)
            file_end = z
        buf[file_start:file_end].tofile(folder / f"{file_no}.bin")
        shard = {"terms": index.terms[t:u], "df": [int(x) for x in index.df[t:u]], "file": files,
                 "offset": offsets, "bytes": sizes}
        (root / "dict" / f"{key}.json").write_text(json.dumps(shard, ensure_ascii=False, separators=(",", ":")),
                                                   encoding="utf-8")
        keys.append(key)
        t = u
    return {"version": VERSION, "docs": index.docs, "dir": "data/search", "fields": list(index.fields),
            "weights": [_num(w) for w in index.weights], "keys": keys, "k1": index.k1, "b": index.b,
            "lang": index.lang}


def _num(x: float):
    return int(x) if float(x).is_integer() else float(x)


# ------------------------------------------------------------------------------------------ read
class _Reader:
    """A written index, read on demand (dictionary shards and postings files are cached)."""

    def __init__(self, site: Path, manifest: dict):
        self.site = site
        self.entry = manifest["search"]
        self.root = site / self.entry["dir"]
        self.keys = set(self.entry["keys"])
        self.shards: dict[str, dict] = {}
        self.files: dict[tuple[str, int], bytes] = {}

    def shard(self, key: str) -> dict | None:
        if key not in self.keys:
            return None
        if key not in self.shards:
            doc = json.loads((self.root / "dict" / f"{key}.json").read_text(encoding="utf-8"))
            doc["index"] = {t: i for i, t in enumerate(doc["terms"])}
            self.shards[key] = doc
        return self.shards[key]

    def postings(self, key: str, i: int) -> tuple[list[int], list[int], list[int]]:
        shard = self.shards[key]
        f = shard["file"][i]
        if (key, f) not in self.files:
            self.files[(key, f)] = (self.root / "postings" / key / f"{f}.bin").read_bytes()
        data = self.files[(key, f)]
        a = shard["offset"][i]
        return decode_postings(data[a:a + shard["bytes"][i]])


def read_term(site_dir, term: str) -> tuple[int, list[int], list[int], list[int]] | None:
    """(df, images, fields, weights) of a term in a written site's index, or None when it is not there."""
    site = Path(site_dir)
    manifest = json.loads((site / "data" / "manifest.json").read_text(encoding="utf-8"))
    reader = _Reader(site, manifest)
    shard = reader.shard(shard_key(term))
    if shard is None or term not in shard["index"]:
        return None
    i = shard["index"][term]
    return (shard["df"][i], *reader.postings(shard_key(term), i))


# ------------------------------------------------------------------------------------------ search
def edit_distance(a: str, b: str, limit: int = 2) -> int:
    """Levenshtein distance (insert, delete, substitute one code point), or limit + 1 when it exceeds limit."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    if a == b:
        return 0
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        best = i
        for j, cb in enumerate(b, 1):
            v = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            cur[j] = v
            if v < best:
                best = v
        if best > limit:
            return limit + 1
        prev = cur
    return prev[-1] if prev[-1] <= limit else limit + 1


EXACT, PREFIX, FUZZY1, FUZZY2 = 1.0, 0.6, 0.5, 0.3
# a one-letter word being typed is matched as a prefix only while the terms it begins are in at most this
# many images together (the sum of their df); else exactly only (the viewer asks for another letter). A
# two-letter one beyond TWO_LETTER_BUDGET: its most frequent completions, up to that many images together
# (at least one)
ONE_LETTER_BUDGET = 100_000
TWO_LETTER_BUDGET = 100_000
MAX_PREFIX_TERMS = 256   # (the viewer's cap on a short prefix's completions, applied here to two letters)
_FIELD = re.compile(r'^([^\s:"]+):(.*)$', re.DOTALL)
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"
_RANGE = re.compile(rf"^({_NUMBER})?\.\.({_NUMBER})?$")


@dataclass
class _Word:
    term: str
    fields: set | None = None      # field indices it is limited to
    exact_only: bool = False       # a phrase's word: matched exactly, and required
    prefix_any: bool = False       # the last word while typing: prefix match at any length


def _split(query: str) -> list[tuple[str | None, str, bool]]:
    """(field or None, text, quoted) chunks of a query: whitespace-separated, "..." kept together."""
    out = []
    i, n = 0, len(query)
    while i < n:
        if query[i].isspace():
            i += 1
            continue
        j = i
        while j < n and not query[j].isspace() and query[j] != '"':
            j += 1
        head = query[i:j]
        if j < n and query[j] == '"' and (head == "" or head.endswith(":")):
            k = query.find('"', j + 1)
            k = n if k < 0 else k
            out.append((head[:-1] if head else None, query[j + 1:k], True))
            i = k + 1
            continue
        if j < n and query[j] == '"':     # a quote inside a word separates
            out.append((None, head, False))
            i = j + 1
            continue
        m = _FIELD.match(head)
        out.append((m.group(1), m.group(2), False) if m else (None, head, False))
        i = j
    return out


def _manifest(site: Path) -> dict:
    return json.loads((site / "data" / "manifest.json").read_text(encoding="utf-8"))


def numeric_columns(manifest: dict) -> dict[str, str]:
    """Field name -> site-relative float32 column file: the metadata's numeric columns and range facets'."""
    out = {}
    meta = manifest.get("metadata")
    if isinstance(meta, dict):
        out.update(meta.get("columns") or {})
    for facet in manifest.get("facets") or []:
        if facet.get("kind") == "range" and facet.get("column"):
            out.setdefault(facet["field"], facet["column"])
    return out


def search(site_dir, query: str, lang: str | None = None, typing: bool = False,
           limit: int | None = None) -> list[tuple[int, float]]:
    """Rank a written site's images for a query, as the viewer does (docs/site-format.md, "Ranking").

    Returns [(image index, score)], images matching more words first, then by score, then by index.
    `typing`: the query's last word is still being typed (it is also matched as a prefix, at any length).
    `lang`: the stemming language (default: the index's). Images outside a range filter, without a
    quoted phrase's words or without the phrase are left out; a query of filters only returns every image
    passing them (score 0) in index order."""
    site = Path(site_dir)
    manifest = _manifest(site)
    if "search" not in manifest:
        raise ValueError(f"{site} has no search index (a site of format version 4 has one)")
    entry = manifest["search"]
    lang = lang or entry.get("lang") or "en"
    fnames = entry["fields"]
    folded_fields: dict[str, set] = {}
    for i, nm in enumerate(fnames):
        folded_fields.setdefault(fold(nm), set()).add(i)
    columns = {fold(k): v for k, v in numeric_columns(manifest).items()}
    n = int(entry["docs"])

    words: list[_Word] = []
    ranges: list[tuple[str, float | None, float | None]] = []
    phrases: list[tuple[set | None, list[str]]] = []
    chunks = _split(query)
    for c, (fname, text, quoted) in enumerate(chunks):
        limit_to = None
        if fname is not None:
            key = fold(fname)
            if not quoted and key in columns:
                m = _RANGE.match(text.strip())
                if m and (m.group(1) or m.group(2)) and ".." in text:
                    lo = float(m.group(1)) if m.group(1) else None
                    hi = float(m.group(2)) if m.group(2) else None
                    ranges.append((columns[key], lo, hi))
                    continue
                if re.fullmatch(_NUMBER, text.strip()):
                    x = float(text.strip())
                    ranges.append((columns[key], x, x))
                    continue
            if key in folded_fields:
                limit_to = folded_fields[key]
            else:
                text = f"{fname}:{text}"   # not a field: plain text
        if quoted:
            ts = terms(text, lang)
            if ts:
                phrases.append((limit_to, ts))
                words += [_Word(t, limit_to, exact_only=True) for t in ts]
            continue
        ts = terms(text, lang)
        last_chunk = c == len(chunks) - 1
        if typing and last_chunk:
            raw = _last_run(text)
            if raw is not None and len(raw) == 1 and not has_digit(raw):
                ts = ts + [raw]      # a one-letter word being typed: matched as a prefix
        for k, t in enumerate(ts):
            words.append(_Word(t, limit_to, prefix_any=typing and last_chunk and k == len(ts) - 1))

    reader = _Reader(site, manifest)
    fw = np.asarray(entry["weights"], np.float64)
    score = np.zeros(n)
    matched = np.zeros(n, np.int64)
    required = np.ones(n, bool)
    for w in words:
        best = np.zeros(n)
        for key_term, factor in _candidates(reader, w):
            key = shard_key(key_term)
            shard = reader.shard(key)
            i = shard["index"][key_term]
            df = shard["df"][i]
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            docs, flds, wts = (np.asarray(x, np.int64) for x in reader.postings(key, i))
            if w.fields is not None:
                m = np.isin(flds, list(w.fields))
                docs, flds, wts = docs[m], flds[m], wts[m]
            s = idf * fw[flds] * wts / 255.0 * factor
            np.maximum.at(best, docs, s)
        hit = best > 0
        score += best
        matched += hit
        if w.exact_only:
            required &= hit

    keep = required.copy()
    for path, lo, hi in ranges:
        col = np.fromfile(site / path, dtype="<f4").astype(np.float64)
        ok = ~np.isnan(col)
        if lo is not None:
            ok &= col >= lo
        if hi is not None:
            ok &= col <= hi
        keep &= ok
    if words:
        keep &= matched > 0
    if phrases:
        cand = np.flatnonzero(keep)
        if len(cand):
            keep[cand[~_phrase_ok(site, manifest, entry, cand, phrases, lang)]] = False
    if not words and not ranges:
        return []
    idx = np.flatnonzero(keep)
    order = np.lexsort((idx, -score[idx], -matched[idx]))
    out = [(int(idx[k]), float(score[idx[k]])) for k in order]
    return out[:limit] if limit is not None else out


def _last_run(text: str) -> str | None:
    """The last run of letters, marks and digits of a text (folded, possessive `'s` dropped), even of one
    character: `tokens` drops one-letter tokens, but while typing the last word may be one letter so far."""
    from .textnorm import _re

    folded = fold(text)
    if not folded or _re("word").fullmatch(folded[-1]) is None:
        return None
    runs = _re("word").findall(_re("poss").sub("", folded))
    return runs[-1] if runs else None


def _candidates(reader: _Reader, w: _Word):
    """(term, factor) pairs a query word matches: exact 1, prefix 0.6, edit distance 1 0.5, 2 0.3."""
    shard = reader.shard(shard_key(w.term))
    if shard is None:
        return []
    t = w.term
    out = {}
    if t in shard["index"]:
        out[t] = EXACT
    if w.exact_only:
        return list(out.items())
    allow_prefix = len(t) >= 3 or w.prefix_any
    kept_prefixes = None   # (two letters on a big map: the most frequent completions only)
    if len(t) <= 2 and allow_prefix:
        completions = [(term, df) for term, df in zip(shard["terms"], shard["df"]) if term != t and term.startswith(t)]
        budget = ONE_LETTER_BUDGET if len(t) == 1 else TWO_LETTER_BUDGET
        if sum(df for _, df in completions) > budget:
            if len(t) == 1:
                allow_prefix = False
            else:
                completions.sort(key=lambda c: -c[1])   # (stable: dictionary order among equal df)
                kept_prefixes, total = set(), 0
                for term, df in completions[:MAX_PREFIX_TERMS]:
                    if kept_prefixes and total + df > TWO_LETTER_BUDGET:
                        break
                    kept_prefixes.add(term)
                    total += df
    fuzzy = 0 if has_digit(t) else 2 if len(t) >= 8 else 1 if len(t) >= 5 else 0
    if allow_prefix or fuzzy:
        for term in shard["terms"]:
            if term == t:
                continue
            f = 0.0
            if allow_prefix and term.startswith(t) and (kept_prefixes is None or term in kept_prefixes):
                f = PREFIX
            if fuzzy and f < FUZZY1:
                dist = edit_distance(t, term, fuzzy)
                if dist <= fuzzy:
                    f = max(f, FUZZY1 if dist == 1 else FUZZY2)
            if f:
                out[term] = f
    return list(out.items())


def _phrase_ok(site: Path, manifest: dict, entry: dict, cand: np.ndarray, phrases, lang: str) -> np.ndarray:
    """Per candidate: does its metadata text hold every phrase (its terms in a row, in one value)?"""
    from .site import read_metadata

    meta = read_metadata(site)
    mfields = meta["fields"]
    sfields = entry["fields"]
    # search field index -> metadata column
    col_of = {i: mfields.index(nm) for i, nm in enumerate(sfields) if nm in mfields}
    out = np.zeros(len(cand), bool)
    for k, d in enumerate(cand):
        row = meta["rows"][int(d)]
        ok = True
        for limit_to, phrase in phrases:
            cols = [col_of[i] for i in (limit_to if limit_to is not None else col_of) if i in col_of]
            found = False
            for j in cols:
                for text in _value_texts(row[j], str(mfields[j]).lower()):
                    if _contains(terms(text, lang), phrase):
                        found = True
                        break
                if found:
                    break
            if not found:
                ok = False
                break
        out[k] = ok
    return out


def _contains(seq: list[str], sub: list[str]) -> bool:
    m = len(sub)
    return any(seq[i:i + m] == sub for i in range(len(seq) - m + 1))
