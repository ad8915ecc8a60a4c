// Text normalisation for search (docs/site-format.md, "Text normalisation"): the same as the build's
// pixmap/textnorm.py, checked on the shared cases in tests/data/textnorm-cases.json.
//   fold(text)          NFKD, combining marks (Mn) dropped, lower case, ß æ œ ø ł đ ð þ ı spelled out
//   tokens(text)        folded runs of letters, marks and digits; "x's" -> "x"; other apostrophes
//                       separate; one-character tokens only when they are digits
//   stem(token, lang)   plural, possessive and inflection endings (en, fr, de, nl, es, it; else en)
//   terms(text, lang)   tokens(text), stemmed: what the index stores and a query is matched with
// Lengths are counted in code points, as in Python.

const MN = /\p{Mn}+/gu;
const SPELL = {"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i"};
const SPELL_RE = /[ßæœøłđðþı]/gu;
// (U+02BC, a letter to Unicode, counts as an apostrophe)
const WORD = /[[\p{L}\p{M}\p{N}]--[\u02bc]]+/gv;
const POSSESSIVE = /(?<=[\p{L}--[\u02bc]])['\u2019\u2018\u02bc]s(?![[\p{L}\p{M}\p{N}]--[\u02bc]])/gv;
const DIGIT = /\p{N}/u;
const LETTER = /\p{L}/u;

/** Number of code points. */
const len = (s) => {
  let n = 0;
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    if (c < 0xdc00 || c > 0xdfff) n++; // (a low surrogate belongs to the code point before it)
  }
  return n;
};

/** NFKD, combining marks (Mn) dropped, lower-cased, then ß æ œ ø ł đ ð þ ı spelled out. */
export function fold(text) {
  return String(text ?? "").normalize("NFKD").replace(MN, "").toLowerCase().replace(SPELL_RE, (c) => SPELL[c]);
}

/** True when the token holds a digit (\p{N}): such tokens are never stemmed nor fuzzy-matched. */
export function hasDigit(token) {
  return DIGIT.test(token);
}

/** Runs of letters, marks and digits of folded text ("'s" dropped), of any length. */
export function tokensRaw(folded) {
  return Array.from(String(folded).replace(POSSESSIVE, "").matchAll(WORD), (m) => m[0]);
}

/** The tokens of a text, folded. */
export function tokens(text) {
  const folded = fold(text).replace(POSSESSIVE, "");
  const out = [];
  for (const m of folded.matchAll(WORD)) {
    const t = m[0];
    if (len(t) > 1 || DIGIT.test(t)) out.push(t);
  }
  return out;
}

/** `word` without `ending` (plus `repl`) when at least `keep` code points remain before it, else null. */
function drop(word, ending, keep, repl = "") {
  if (word.endsWith(ending) && len(word) - len(ending) >= keep) return word.slice(0, word.length - ending.length) + repl;
  return null;
}

function en(w) {
  const r = drop(w, "ies", 2, "y");
  if (r !== null) return r;
  if (w.endsWith("sses")) return w.slice(0, -2);
  if ((w.endsWith("ches") || w.endsWith("shes") || w.endsWith("xes")) && len(w) - 2 >= 3) return w.slice(0, -2);
  if (w.endsWith("s") && !w.endsWith("ss") && !w.endsWith("us") && !w.endsWith("is") && len(w) - 1 >= 3) return w.slice(0, -1);
  return w;
}

function fr(w) {
  for (const [ending, keep, repl] of [["eaux", 0, "eau"], ["aux", 2, "al"], ["s", 4, ""], ["x", 4, ""]]) {
    const r = drop(w, ending, keep, repl);
    if (r !== null) return r;
  }
  return w;
}

const DE = ["ern", "en", "er", "es", "e", "n", "s"];
function de(w) {
  for (;;) {
    let next = null;
    for (const ending of DE) {
      next = drop(w, ending, 4);
      if (next !== null) break;
    }
    if (next === null) return w;
    w = next;
  }
}

const VOWELS = new Set("aeiouy");
function nl(w) {
  let r = drop(w, "en", 4);
  if (r !== null) {
    const cps = Array.from(r);
    const last = cps[cps.length - 1], before = cps[cps.length - 2];
    if (cps.length >= 2 && last === before && LETTER.test(last) && !VOWELS.has(last)) r = cps.slice(0, -1).join("");
    else if (r.endsWith("z")) r = r.slice(0, -1) + "s";
    else if (r.endsWith("v")) r = r.slice(0, -1) + "f";
    return r;
  }
  r = drop(w, "s", 4);
  return r === null ? w : r;
}

function es(w) {
  for (const ending of ["es", "s", "e"]) {
    const r = drop(w, ending, 4);
    if (r !== null) return r;
  }
  return w;
}

function it(w) {
  for (const ending of ["io", "a", "e", "i", "o"]) {
    const r = drop(w, ending, 4);
    if (r !== null) return r;
  }
  return w;
}

const STEMMERS = {en, fr, de, nl, es, it};
export const LANGUAGES = Object.keys(STEMMERS);

/** A token's light stem; tokens with a digit are never stemmed; an unknown language stems as English. */
export function stem(token, lang = "en") {
  const w = String(token);
  if (DIGIT.test(w)) return w;
  return (STEMMERS[lang || "en"] || en)(w);
}

/** tokens(text), each stemmed. */
export function terms(text, lang = "en") {
  return tokens(text).map((t) => stem(t, lang));
}
