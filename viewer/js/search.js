// The search engine (docs/site-format.md, "Version 4"): a query is parsed into words, `field:word`s,
// `field:a..b` ranges on numeric columns and "quoted phrases"; each word is looked up in the dictionary
// shard of its first character (exactly, as a prefix, within a small edit distance), the postings of the
// terms it matches are read from their files, and images are ranked by the sum over the query's words of
// their best match's idf * field weight * posting weight * match factor (more words matched first).
//
// Everything loads when first needed and stays cached: a dictionary shard per first character, a
// postings file (~256 KB) per group of terms, decoded postings per term (least recently used dropped),
// numeric columns. A query on a site of a million images reads the shards of its words' first
// characters and the postings files of the terms they match, nothing else. A query replaced before its
// files arrived (the next keystroke, `stale`) stops there, before any scoring.

import {fold, terms, hasDigit, tokensRaw} from "./textnorm.js";

export const FACTOR = {exact: 1, prefix: 0.6, edit1: 0.5, edit2: 0.3};
const MAX_PREFIX_TERMS = 256;     // a short prefix on a big site: its most frequent completions only
// a one-letter word being typed is matched as a prefix only while its completions are in at most this many
// images together (the sum of their df): on a big site one letter begins words in most of the images, and
// ranking them all takes longer than a keystroke may; the box says to type another letter. A two-letter
// word's completions are taken most frequent first while they are in at most TWO_LETTER_BUDGET images
// together (the box says so)
export const ONE_LETTER_BUDGET = 100000;
export const TWO_LETTER_BUDGET = 100000;
const POSTINGS_CACHE_BYTES = 64 * 1024 * 1024;
const DECODED_CACHE_ENTRIES = 4e6;
const PHRASE_CHECK = 1000;        // candidates whose metadata text is checked for a quoted phrase

const cpLength = (s) => {
  let n = 0;
  for (const _ of s) n++; // eslint-disable-line no-unused-vars
  return n;
};

/** Compare strings by code point (the order of the dictionary's `terms`; JS's < compares UTF-16 units). */
export function compareCodePoints(a, b) {
  const n = Math.min(a.length, b.length);
  for (let k = 0; k < n; k++) {
    let x = a.charCodeAt(k), y = b.charCodeAt(k);
    if (x === y) continue;
    // surrogates (astral code points) sort after every BMP code point
    if (x >= 0xd800 && x <= 0xdfff) x += 0x10000;
    if (y >= 0xd800 && y <= 0xdfff) y += 0x10000;
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

/** First index of `terms` (sorted by code point) that is >= word. */
function lowerBound(terms, word) {
  let lo = 0, hi = terms.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareCodePoints(terms[mid], word) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Levenshtein distance of a and b when it is <= max, else max + 1 (rows cut short once over). */
export function boundedLevenshtein(a, b, max) {
  const A = Array.from(a), B = Array.from(b);
  const m = A.length, n = B.length;
  if (Math.abs(m - n) > max) return max + 1;
  let prev = new Array(n + 1), cur = new Array(n + 1);
  for (let j = 0; j <= n; j++) prev[j] = j;
  for (let i = 1; i <= m; i++) {
    cur[0] = i;
    let best = cur[0];
    for (let j = 1; j <= n; j++) {
      const cost = A[i - 1] === B[j - 1] ? 0 : 1;
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
      if (cur[j] < best) best = cur[j];
    }
    if (best > max) return max + 1;
    [prev, cur] = [cur, prev];
  }
  return Math.min(prev[n], max + 1);
}

/** Unsigned LEB128 varint at buf[pos]: [value, next position]. */
export function readVarint(buf, pos) {
  let value = 0, mul = 1, b;
  do {
    b = buf[pos++];
    value += (b & 0x7f) * mul;
    mul *= 128;
  } while (b & 0x80);
  return [value, pos];
}

/** A term's postings (`bytes` bytes at `offset`): {docs: Uint32Array, fields: Uint8Array, weights: Uint8Array}. */
export function decodePostings(buf, offset, bytes) {
  const end = offset + bytes;
  let cap = Math.max(4, Math.ceil(bytes / 3));
  let docs = new Uint32Array(cap), fields = new Uint8Array(cap), weights = new Uint8Array(cap);
  let k = 0, doc = 0, pos = offset;
  while (pos < end) {
    let delta = 0, mul = 1, b;
    do {
      b = buf[pos++];
      delta += (b & 0x7f) * mul;
      mul *= 128;
    } while (b & 0x80);
    doc += delta;
    if (k === cap) { // (cannot happen: every posting is at least 3 bytes)
      cap *= 2;
      const d = new Uint32Array(cap), f = new Uint8Array(cap), w = new Uint8Array(cap);
      d.set(docs); f.set(fields); w.set(weights);
      docs = d; fields = f; weights = w;
    }
    docs[k] = doc;
    fields[k] = buf[pos++];
    weights[k] = buf[pos++];
    k++;
  }
  return {docs: docs.subarray(0, k), fields: fields.subarray(0, k), weights: weights.subarray(0, k)};
}

const NUMBER = String.raw`[-+]?(?:\d+(?:\.\d*)?|\.\d+)`;
const RANGE = new RegExp(`^(${NUMBER})?\\.\\.(${NUMBER})?$`);
const IS_NUMBER = new RegExp(`^${NUMBER}$`);
const FIELD = /^([^\s:"]+):([\s\S]*)$/;
const LAST_WORD = /[[\p{L}\p{M}\p{N}]--[\u02bc]]$/v;

/** (field or null, text, quoted) chunks of a query: whitespace-separated, "..." (or field:"...") kept together. */
export function splitQuery(query) {
  const q = String(query ?? "");
  const out = [];
  let i = 0;
  const n = q.length;
  const space = (c) => /\s/.test(c);
  while (i < n) {
    if (space(q[i])) { i++; continue; }
    let j = i;
    while (j < n && !space(q[j]) && q[j] !== '"') j++;
    const head = q.slice(i, j);
    if (j < n && q[j] === '"' && (head === "" || head.endsWith(":"))) {
      let k = q.indexOf('"', j + 1);
      if (k < 0) k = n;
      out.push({field: head ? head.slice(0, -1) : null, text: q.slice(j + 1, k), quoted: true});
      i = k + 1;
      continue;
    }
    if (j < n && q[j] === '"') { // a quote inside a word separates
      out.push({field: null, text: head, quoted: false});
      i = j + 1;
      continue;
    }
    const m = FIELD.exec(head);
    out.push(m ? {field: m[1], text: m[2], quoted: false} : {field: null, text: head, quoted: false});
    i = j;
  }
  return out;
}

/** The last run of letters, marks and digits of a text (folded, "'s" dropped), even of one character. */
function lastRun(text) {
  const folded = fold(text);
  if (!folded || !LAST_WORD.test(folded)) return null;
  const runs = tokensRaw(folded);
  return runs.length ? runs[runs.length - 1] : null;
}

/**
 * Parse a query (as pixmap.searchindex.search does) into {words, ranges, phrases}:
 * words [{term, fields (Set of search field indices, or null), exactOnly (a phrase's word: exact and
 * required), prefixAny (the last word while typing: a prefix at any length)}], ranges [{field, lo, hi}]
 * (`field:a..b`, `field:a..`, `field:..b`, `field:a` on a numeric column; null = open), phrases
 * [{fields, terms}]. fieldsOf(folded name) -> Set of field indices or null; isNumeric(folded name).
 */
export function parseQuery(query, {fieldsOf = () => null, isNumeric = () => false, lang = "en", typing = false} = {}) {
  const words = [], ranges = [], phrases = [];
  const chunks = splitQuery(query);
  chunks.forEach((chunk, c) => {
    let {text} = chunk;
    let limit = null;
    if (chunk.field !== null) {
      const key = fold(chunk.field);
      const t = text.trim();
      if (!chunk.quoted && isNumeric(key)) {
        const m = RANGE.exec(t);
        if (m && (m[1] || m[2]) && text.includes("..")) {
          ranges.push({field: key, lo: m[1] ? Number(m[1]) : null, hi: m[2] ? Number(m[2]) : null});
          return;
        }
        if (IS_NUMBER.test(t)) {
          ranges.push({field: key, lo: Number(t), hi: Number(t)});
          return;
        }
      }
      limit = fieldsOf(key);
      if (!limit) text = `${chunk.field}:${text}`; // not a field: plain text
    }
    if (chunk.quoted) {
      const ts = terms(text, lang);
      if (ts.length) {
        phrases.push({fields: limit, terms: ts});
        for (const t of ts) words.push({term: t, fields: limit, exactOnly: true, prefixAny: false});
      }
      return;
    }
    let ts = terms(text, lang);
    const last = c === chunks.length - 1;
    if (typing && last) {
      const raw = lastRun(text);
      if (raw !== null && [...raw].length === 1 && !hasDigit(raw)) ts = [...ts, raw]; // one letter so far
    }
    ts.forEach((t, k) => words.push({term: t, fields: limit, exactOnly: false,
      prefixAny: typing && last && k === ts.length - 1}));
  });
  return {words, ranges, phrases};
}

const IMAGE_EXT = /\.(jpe?g|png|webp|bmp|tiff?|gif)$/i;

/** The texts of a metadata value that are indexed (a list: each element's), as the build reads them. */
export function valueTexts(value, name) {
  if (value === null || value === undefined || typeof value === "boolean") return [];
  if (Array.isArray(value)) return value.flatMap((v) => valueTexts(v, name));
  if (typeof value === "number") return Number.isInteger(value) ? [String(value)] : [];
  if (typeof value === "object") return [];
  let text = String(value).trim();
  if (!text || /^(https?:\/\/|data:)/.test(text)) return [];
  if (name === "filename") text = text.replace(IMAGE_EXT, "");
  return [text];
}

/** idf of a term present in df of docs images. */
export const idf = (docs, df) => Math.log(1 + (docs - df + 0.5) / (df + 0.5));

/** Score one term's postings into best[] (the max per image); new images appended to local[]. Returns the
 *  count in local. (As the reference computes it: idf * field weight * weight / 255 * factor.) */
function scoreTerm(p, g, factor, fw, allowed, best, local, nLocal) {
  const {docs, fields, weights} = p;
  for (let k = 0; k < docs.length; k++) {
    const f = fields[k];
    if (allowed !== null && allowed[f] === 0) continue;
    const sc = ((g * fw[f]) * weights[k]) / 255 * factor;
    const d = docs[k];
    if (best[d] === 0) local[nLocal++] = d;
    if (sc > best[d]) best[d] = sc;
  }
  return nLocal;
}

/** Add a word's best scores to the query's (and clear them); images seen first appended to touched[]. */
function addWord(local, nLocal, best, total, matched, required, touched, nTouched) {
  for (let k = 0; k < nLocal; k++) {
    const d = local[k];
    if (matched[d] === 0) touched[nTouched++] = d;
    total[d] += best[d];
    matched[d]++;
    if (required !== null) required[d]++;
    best[d] = 0;
  }
  return nTouched;
}

export class SearchIndex {
  /**
   * loader: data.js Loader; manifest: a version-4 manifest (with `search`); columns: async (field) ->
   * Float32Array | null (a numeric column); numeric: (field) -> bool (whether there is one);
   * rowOf: async (i) -> {fields, row} (the image's metadata row, for phrase checks); oneLetterBudget,
   * twoLetterBudget: ONE_LETTER_BUDGET and TWO_LETTER_BUDGET by default.
   */
  constructor(loader, manifest, {columns, numeric, rowOf, lang, oneLetterBudget = ONE_LETTER_BUDGET,
    twoLetterBudget = TWO_LETTER_BUDGET} = {}) {
    const s = manifest.search;
    this.loader = loader;
    this.oneLetterBudget = oneLetterBudget;
    this.twoLetterBudget = twoLetterBudget;
    this.n = manifest.count;
    this.dir = s.dir || "data/search";
    this.docs = s.docs || manifest.count;
    this.fields = (s.fields || []).map(String);
    this.weights = (s.weights || []).map(Number);
    this.keys = new Set((s.keys || []).map(String));
    this.lang = lang || s.lang || "en";
    this.columns = columns || (async () => null);
    this.numeric = numeric || (() => false);
    this.rowOf = rowOf || (async () => ({fields: [], row: null}));
    this.shards = new Map(); // key -> promise of {terms, df, file, offset, bytes}
    this.files = new Map(); // "key/file" -> promise of Uint8Array (LRU)
    this.fileBytes = 0;
    this.decoded = new Map(); // "key\tterm" -> postings (LRU)
    this.decodedEntries = 0;
    this.counts = {shards: 0, postingsFiles: 0, postingsBytes: 0, dropped: 0};
    // per-query scratch, reused (a million images: no allocation per keystroke)
    this.best = new Float64Array(this.n);    // a word's best score per image
    this.local = new Uint32Array(this.n);    // the images a word matched
    this.total = new Float64Array(this.n);   // the query's score per image
    this.matched = new Uint8Array(this.n);   // words matched per image
    this.required = new Uint8Array(this.n);  // phrase words matched per image
    this.touched = new Uint32Array(this.n);  // the images any word matched
    this.cand = new Uint32Array(this.n);     // the images the query matched
    this.slot = new Int32Array(this.n).fill(-1);
  }

  shardKey(term) {
    return term.codePointAt(0).toString(16);
  }

  shard(key) {
    if (!this.keys.has(key)) return Promise.resolve(null);
    let p = this.shards.get(key);
    if (!p) {
      p = this.loader.json(`${this.dir}/dict/${key}.json`).then((d) => {
        this.counts.shards++;
        const lens = new Uint16Array(d.terms.length);
        for (let k = 0; k < d.terms.length; k++) lens[k] = cpLength(d.terms[k]);
        return {...d, lens, key};
      });
      p.catch(() => this.shards.delete(key));
      this.shards.set(key, p);
    }
    return p;
  }

  _file(key, file) {
    const name = `${key}/${file}`;
    let entry = this.files.get(name);
    if (entry) {
      this.files.delete(name); // most recently used last
      this.files.set(name, entry);
      return entry.promise;
    }
    entry = {bytes: 0, promise: null};
    entry.promise = this.loader.bytes(`${this.dir}/postings/${key}/${file}.bin`).then((buf) => {
      const u8 = new Uint8Array(buf);
      entry.bytes = u8.length;
      this.fileBytes += u8.length;
      this.counts.postingsFiles++;
      this.counts.postingsBytes += u8.length;
      for (const [k, e] of this.files) {
        if (this.fileBytes <= POSTINGS_CACHE_BYTES || e === entry) break;
        this.files.delete(k);
        this.fileBytes -= e.bytes;
      }
      return u8;
    });
    entry.promise.catch(() => { if (this.files.get(name) === entry) this.files.delete(name); });
    this.files.set(name, entry);
    return entry.promise;
  }

  /** Postings of term number k of a shard (decoded once, cached). */
  async postings(shard, k) {
    const name = `${shard.key}\t${shard.terms[k]}`;
    const have = this.decoded.get(name);
    if (have) {
      this.decoded.delete(name);
      this.decoded.set(name, have);
      return have;
    }
    const buf = await this._file(shard.key, shard.file[k]);
    const p = decodePostings(buf, shard.offset[k], shard.bytes[k]);
    this.decoded.set(name, p);
    this.decodedEntries += p.docs.length;
    for (const [key, v] of this.decoded) {
      if (this.decodedEntries <= DECODED_CACHE_ENTRIES || v === p) break;
      this.decoded.delete(key);
      this.decodedEntries -= v.docs.length;
    }
    return p;
  }

  /** Start loading the dictionary shards a query's words need (the box calls this while it waits for
   *  typing to pause, so that the search finds them loaded); resolves once they have. */
  prefetch(query, {typing = false} = {}) {
    const {words} = parseQuery(query, {fieldsOf: (k) => this.fieldsOf(k), isNumeric: (k) => this.numeric(k),
      lang: this.lang, typing});
    const keys = new Set(words.map((w) => this.shardKey(w.term)));
    return Promise.all([...keys].map((key) => this.shard(key).catch(() => null)));
  }

  /**
   * The dictionary terms a query word matches, [{k (term number), term, df, factor, kind}]: the term
   * itself (exact), longer terms it begins (a word of 3+ characters, or the last word while typing), terms
   * within edit distance 1 (5+ characters) or 2 (8+), in the shard of its first character. A phrase's
   * word matches exactly only; a word with a digit is never fuzzy.
   */
  async expand(word) {
    const t = word.term;
    const shard = await this.shard(this.shardKey(t));
    if (!shard) return {shard: null, matches: []};
    const terms = shard.terms, out = [];
    const k0 = lowerBound(terms, t);
    const exact = k0 < terms.length && terms[k0] === t ? k0 : -1;
    if (exact >= 0) out.push({k: exact, term: t, df: shard.df[exact], factor: FACTOR.exact, kind: "exact"});
    if (word.exactOnly) return {shard, matches: out};
    const len = cpLength(t);
    const allowPrefix = len >= 3 || word.prefixAny;
    const maxD = hasDigit(t) ? 0 : len >= 8 ? 2 : len >= 5 ? 1 : 0;
    const prefixed = new Set();
    if (allowPrefix) {
      const found = [];
      let dfSum = 0;
      for (let k = k0; k < terms.length && terms[k].startsWith(t); k++) {
        if (k !== exact) { found.push(k); dfSum += shard.df[k]; }
      }
      if (len === 1 && dfSum > this.oneLetterBudget) return {shard, matches: out, held: true};
      let shortened = false;
      if (found.length > MAX_PREFIX_TERMS || (len === 2 && dfSum > this.twoLetterBudget)) {
        // a short prefix on a big site: its most frequent completions (two letters: those in at most
        // twoLetterBudget images together, at least one)
        const all = found.length;
        found.sort((a, b) => shard.df[b] - shard.df[a] || a - b);
        found.length = Math.min(found.length, MAX_PREFIX_TERMS);
        if (len === 2 && dfSum > this.twoLetterBudget) {
          let sum = 0, keep = 0;
          while (keep < found.length && (keep === 0 || sum + shard.df[found[keep]] <= this.twoLetterBudget)) {
            sum += shard.df[found[keep++]];
          }
          found.length = keep;
          shortened = found.length < all;
        }
      }
      if (shortened) word.shortened = true;
      for (const k of found) {
        prefixed.add(k);
        out.push({k, term: terms[k], df: shard.df[k], factor: FACTOR.prefix, kind: "prefix"});
      }
    }
    if (maxD > 0) {
      const lens = shard.lens;
      for (let k = 0; k < terms.length; k++) {
        if (k === exact || prefixed.has(k) || Math.abs(lens[k] - len) > maxD) continue;
        const d = boundedLevenshtein(t, terms[k], maxD);
        if (d >= 1 && d <= maxD) out.push({k, term: terms[k], df: shard.df[k], factor: d === 1 ? FACTOR.edit1 : FACTOR.edit2, kind: `edit${d}`});
      }
    }
    return {shard, matches: out};
  }

  /** The search fields a (folded) field name refers to (a Set of indices), or null. */
  fieldsOf(key) {
    if (!this._folded) {
      this._folded = new Map();
      this.fields.forEach((name, k) => {
        const f = fold(name);
        if (!this._folded.has(f)) this._folded.set(f, new Set());
        this._folded.get(f).add(k);
      });
    }
    return this._folded.get(key) || null;
  }

  /**
   * Run a query (the ranking of docs/site-format.md, as pixmap.searchindex.search). Options: typing (the
   * last word is still being typed: matched as a prefix at any length), limit (how many hits to rank and
   * return; all by default), why (how many of the best get `why`; default: min(limit, 500)), stale (a
   * function: true once the caller no longer wants this query's result, e.g. the next keystroke's query
   * replaced it; checked after each load, the search then stops and resolves to null).
   * Returns {hits: [{index, score, words, why}] best first, total (images matched), indices (Uint32Array
   * of every image matched, or null when the query asks nothing), held (the one-letter words matched
   * exactly only: ONE_LETTER_BUDGET), shortened (the two-letter words matched as the prefix of their most
   * frequent completions only, in at most TWO_LETTER_BUDGET images together)}.
   */
  async search(query, {typing = false, limit = Infinity, why: whyLimit, stale = null} = {}) {
    const {words, ranges, phrases} = parseQuery(query, {fieldsOf: (k) => this.fieldsOf(k),
      isNumeric: (k) => this.numeric(k), lang: this.lang, typing});
    if (!words.length && !ranges.length) return {hits: [], total: 0, indices: null};
    const n = this.n;
    // the numeric ranges: every one must hold (images without a value fail)
    const columns = await Promise.all(ranges.map((r) => this.columns(r.field)));
    if (stale && stale()) return this._dropped();
    const bounds = ranges.map((r) => [r.lo === null ? -Infinity : Math.fround(r.lo), r.hi === null ? Infinity : Math.fround(r.hi)]);
    const inRange = (i) => {
      for (let r = 0; r < ranges.length; r++) {
        const col = columns[r];
        if (!col) return false;
        const v = col[i];
        if (!(v >= bounds[r][0] && v <= bounds[r][1])) return false;
      }
      return true;
    };
    // each word: the terms it matches and their postings (fetched at once)
    const expanded = await Promise.all(words.map((w) => this.expand(w)));
    if (stale && stale()) return this._dropped();
    // one-letter words held back (ONE_LETTER_BUDGET): matched exactly only
    const held = words.filter((w, k) => expanded[k].held).map((w) => w.term);
    const shortened = words.filter((w) => w.shortened).map((w) => w.term);
    if (held.length && !ranges.length && expanded.every((e) => e.held && !e.matches.length)) {
      return {hits: [], total: 0, indices: null, held};
    }
    const lists = await Promise.all(expanded.map(({shard, matches}) =>
      Promise.all(matches.map((m) => this.postings(shard, m.k).then((p) => ({...m, p}))))));
    if (stale && stale()) return this._dropped();

    const total = this.total, matched = this.matched, required = this.required;
    const fw = new Float64Array(256).fill(1);
    this.weights.forEach((w, f) => { if (f < 256) fw[f] = w; });
    const touched = this.touched;
    let nTouched = 0, nRequired = 0;
    for (let w = 0; w < words.length; w++) {
      const allowed = words[w].fields ? new Uint8Array(256) : null;
      if (allowed) for (const f of words[w].fields) allowed[f] = 1;
      let nLocal = 0;
      for (const m of lists[w]) {
        nLocal = scoreTerm(m.p, idf(this.docs, m.df), m.factor, fw, allowed, this.best, this.local, nLocal);
      }
      if (words[w].exactOnly) nRequired++;
      nTouched = addWord(this.local, nLocal, this.best, total, matched, words[w].exactOnly ? required : null, touched, nTouched);
    }
    // the images matched: at least one word (when there are any), every phrase word, every range
    let nCand = 0;
    const cand = this.cand;
    if (words.length) {
      for (let k = 0; k < nTouched; k++) {
        const d = touched[k];
        if (required[d] === nRequired && (!ranges.length || inRange(d))) cand[nCand++] = d;
      }
    } else {
      for (let i = 0; i < n; i++) if (inRange(i)) cand[nCand++] = i;
    }
    // the best (scores copied into the hits), then the scratch arrays are cleared: before any await, so
    // that a newer query (the next keystroke) may run meanwhile
    let hits = this._best(cand, nCand, phrases.length ? PHRASE_CHECK : limit);
    let indices = phrases.length ? null : cand.slice(0, nCand);
    let count = nCand;
    for (let k = 0; k < nTouched; k++) {
      const d = touched[k];
      total[d] = 0; matched[d] = 0; required[d] = 0;
    }
    if (phrases.length) {
      // quoted phrases: checked in the metadata text of the best candidates (PHRASE_CHECK of them)
      const ok = await Promise.all(hits.map((h) => this._hasPhrases(h.index, phrases)));
      if (stale && stale()) return this._dropped();
      hits = hits.filter((h, k) => ok[k]);
      count = hits.length;
      indices = Uint32Array.from(hits, (h) => h.index);
      hits = hits.slice(0, limit);
    }
    const nWhy = Math.min(hits.length, whyLimit ?? Math.min(limit, 500));
    if (nWhy > 0) this._explain(hits.slice(0, nWhy), words, lists, fw);
    return {hits, total: count, indices, held, shortened};
  }

  /** A search stopped because its result is no longer wanted (counted in stats().searchesDropped). */
  _dropped() {
    this.counts.dropped++;
    return null;
  }

  /** The `limit` best of cand[0..count) as hits {index, words, score}, best first (more words, then a
   *  higher score, then a lower index). Reads the scores of this query (total, matched). */
  _best(cand, count, limit) {
    const total = this.total, matched = this.matched;
    // (the scores of a phrase's candidates are read after an await: copied into the hits here)
    const worse = (a, b) => matched[a] < matched[b] || (matched[a] === matched[b] &&
      (total[a] < total[b] || (total[a] === total[b] && a > b)));
    let order;
    if (limit >= count) {
      order = Array.from(cand.subarray(0, count)).sort((a, b) => (worse(a, b) ? 1 : worse(b, a) ? -1 : 0));
    } else {
      // a heap of the k best so far, the worst on top
      const k = Math.max(1, limit), heap = new Int32Array(k);
      let size = 0;
      const down = (i) => {
        for (;;) {
          const l = 2 * i + 1, r = l + 1;
          let m = i;
          if (l < size && worse(heap[l], heap[m])) m = l;
          if (r < size && worse(heap[r], heap[m])) m = r;
          if (m === i) return;
          const t = heap[i]; heap[i] = heap[m]; heap[m] = t;
          i = m;
        }
      };
      for (let j = 0; j < count; j++) {
        const d = cand[j];
        if (size < k) {
          let i = size++;
          heap[i] = d;
          while (i > 0) {
            const p = (i - 1) >> 1;
            if (!worse(heap[i], heap[p])) break;
            const t = heap[i]; heap[i] = heap[p]; heap[p] = t;
            i = p;
          }
        } else {
          // worse(heap[0], d), inlined: most candidates of a big query stop at the first comparison
          const t = heap[0], mt = matched[t], md = matched[d];
          if (mt > md || (mt === md && (total[t] > total[d] || (total[t] === total[d] && t < d)))) continue;
          heap[0] = d;
          down(0);
        }
      }
      order = Array.from(heap.subarray(0, size)).sort((a, b) => (worse(a, b) ? 1 : worse(b, a) ? -1 : 0));
    }
    return order.map((d) => ({index: d, words: matched[d], score: total[d]}));
  }

  /** `why` of the given hits: per query word its best match {word, term, field, kind}. */
  _explain(hits, words, lists, fw) {
    const slot = this.slot; // image -> its place among the hits (-1: not one)
    hits.forEach((h, k) => { slot[h.index] = k; });
    const per = hits.map(() => new Array(words.length).fill(null));
    // (a term's postings are in image order: a frequent term's are searched for each hit, a rare term's
    // read through; either way each hit sees its postings in the same order, so the same best match)
    const byHit = Uint32Array.from(hits, (h) => h.index);
    for (let w = 0; w < words.length; w++) {
      const only = words[w].fields;
      for (const m of lists[w]) {
        const g = idf(this.docs, m.df), factor = m.factor;
        const {docs, fields, weights} = m.p;
        const see = (h, k) => {
          const f = fields[k];
          if (only && !only.has(f)) return;
          const sc = ((g * fw[f]) * weights[k]) / 255 * factor;
          const cur = per[h][w];
          if (!cur || sc > cur.score) per[h][w] = {score: sc, term: m.term, field: f, kind: m.kind};
        };
        if (docs.length > 16 * byHit.length) {
          for (let h = 0; h < byHit.length; h++) {
            const d = byHit[h];
            let lo = 0, hi = docs.length;
            while (lo < hi) {
              const mid = (lo + hi) >>> 1;
              if (docs[mid] < d) lo = mid + 1;
              else hi = mid;
            }
            for (let k = lo; k < docs.length && docs[k] === d; k++) see(h, k);
          }
        } else {
          for (let k = 0; k < docs.length; k++) {
            const h = slot[docs[k]];
            if (h >= 0) see(h, k);
          }
        }
      }
    }
    hits.forEach((h, k) => {
      slot[h.index] = -1;
      h.why = per[k].map((b, w) => b && {word: words[w].term, term: b.term, field: this.fields[b.field] ?? String(b.field),
        kind: b.kind}).filter(Boolean);
    });
  }

  /** Whether image i's metadata holds every phrase (its terms in a row, within one value of a search field). */
  async _hasPhrases(i, phrases) {
    const {fields: mfields, row} = await this.rowOf(i);
    if (!row) return false;
    const colOf = new Map();
    this.fields.forEach((name, k) => {
      const j = mfields.indexOf(name);
      if (j >= 0) colOf.set(k, j);
    });
    return phrases.every(({fields, terms: phrase}) => {
      const cols = [...(fields || colOf.keys())].filter((k) => colOf.has(k)).map((k) => colOf.get(k));
      return cols.some((j) => valueTexts(row[j], String(mfields[j]).toLowerCase()).some((text) => {
        const seq = terms(text, this.lang);
        outer: for (let s0 = 0; s0 + phrase.length <= seq.length; s0++) {
          for (let k = 0; k < phrase.length; k++) if (seq[s0 + k] !== phrase[k]) continue outer;
          return true;
        }
        return false;
      }));
    });
  }

  stats() {
    return {searchShardsLoaded: this.counts.shards, postingsFilesLoaded: this.counts.postingsFiles,
      postingsBytesLoaded: this.counts.postingsBytes, searchesDropped: this.counts.dropped};
  }
}

