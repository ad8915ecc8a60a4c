"""Search index benchmark at scale: build + write the index (format version 4) of N synthetic records, its
size and files, and the Python reference search's latency.

    python bench/bench_search.py --n 100000
    python bench/bench_search.py --n 1000000        # a few minutes on 2 cores; ~1.5 GB peak
    python bench/bench_search.py --n 100000 --keep /tmp/idx   # keep the site folder (for the viewer's bench)

Synthetic records, made to look like a museum's metadata:
- title: 2-8 words drawn from a 40,000-word vocabulary with Zipf-distributed frequencies (s = 1.1), the
  commonest ranks being short function-like words ("of", "the" play that role), so a few terms have
  postings in a large share of the images, as real titles do;
- artist: about 20 distinct artists per 1,000 images (first + last name from 3,000 x 8,000 made-up names,
  so names share words), works per artist Zipf-distributed;
- year (int, 4 % missing), category (12 periods), medium (30 values), object_number (unique, "1923.456":
  digits that fill the dictionary shards of digits), description for 20 % (10-25 words, same vocabulary);
- content: ~5 terms per image from a 1,500-word ImageNet-like vocabulary (Zipf), probabilities 0.05-1;
  colours: 2-3 names of 12 with shares.
What it leaves out: real language (words are made up from syllables, so stemming changes few of them and
the dictionary has no plural pairs), accents and non-Latin scripts (one dictionary shard per first letter
of a-z and 0-9 only), tags lists, long free-text fields (real descriptions can be paragraphs: the index
grows with their tokens), duplicated images' metadata, and the viewer's JavaScript latency (measured
separately). The search timings are of the Python reference (`pixmap.searchindex.search`), which decodes
postings in pure Python, a few hundred thousand postings per second.
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pixmap.searchindex import POSTINGS_FILE_BYTES, build_index, search, write_index  # noqa: E402

SYL = ["ba", "be", "bi", "bo", "ca", "ce", "co", "da", "de", "di", "do", "fa", "fe", "ga", "go", "ha", "he", "ja",
       "ka", "la", "le", "li", "lo", "ma", "me", "mi", "mo", "na", "ne", "ni", "no", "pa", "pe", "pi", "po", "ra",
       "re", "ri", "ro", "sa", "se", "si", "so", "ta", "te", "ti", "to", "va", "ve", "vi", "za", "zo", "st", "tr",
       "an", "en", "in", "on", "ar", "er", "or", "ul", "el", "ir"]


def words(rng, count: int, lo: int, hi: int) -> list[str]:
    out, seen = [], set()
    while len(out) < count:
        w = "".join(rng.choice(SYL, rng.integers(lo, hi + 1)))
        if w not in seen:
            seen.add(w)
            out.append(w)
    return out


def zipf_choice(rng, n_items: int, size, s: float = 1.1) -> np.ndarray:
    p = 1.0 / np.arange(1, n_items + 1) ** s
    p /= p.sum()
    return rng.choice(n_items, size=size, p=p)


def make_records(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    vocab = ["of", "the", "and", "with", "in", "at"] + words(rng, 40_000, 2, 4)
    first, last = words(rng, 3000, 2, 3), words(rng, 8000, 2, 4)
    n_artists = max(1, n // 50)
    artists = [f"{first[rng.integers(3000)].title()} {last[rng.integers(8000)].title()}" for _ in range(n_artists)]
    cats = [f"{y}-{y + 49}" for y in range(1400, 2000, 50)]
    media = [f"{a} on {b}" for a in ("Oil", "Tempera", "Watercolor", "Ink", "Gouache", "Pastel")
             for b in ("canvas", "panel", "paper", "board", "silk")]
    content_vocab = words(rng, 1500, 2, 3)
    palette = ["red", "orange", "yellow", "green", "teal", "blue", "purple", "pink", "brown", "black", "grey", "white"]

    lens = rng.integers(2, 9, n)
    title_words = zipf_choice(rng, len(vocab), int(lens.sum()))
    art = zipf_choice(rng, n_artists, n, s=0.8)
    years = np.clip(rng.normal(1820, 110, n), 1400, 1999).astype(int)
    missing_year = rng.random(n) < 0.04
    cat = rng.integers(0, len(cats), n)
    med = zipf_choice(rng, len(media), n, s=0.9)
    has_desc = rng.random(n) < 0.2
    desc_len = rng.integers(10, 26, n)
    desc_words = zipf_choice(rng, len(vocab), int(desc_len[has_desc].sum()))
    n_content = rng.integers(3, 8, n)
    cwords = zipf_choice(rng, len(content_vocab), int(n_content.sum()), s=1.0)
    cprob = rng.uniform(0.05, 1.0, int(n_content.sum()))

    fields = ["filename", "width", "height", "title", "artist", "year", "category", "medium", "object_number",
              "description"]
    rows, content, colours = [], [], []
    t = d = c = 0
    for i in range(n):
        k = lens[i]
        title = " ".join(vocab[w] for w in title_words[t:t + k]).capitalize()
        t += k
        desc = None
        if has_desc[i]:
            desc = " ".join(vocab[w] for w in desc_words[d:d + desc_len[i]]) + "."
            d += desc_len[i]
        y = None if missing_year[i] else int(years[i])
        rows.append([f"images/{i // 1000}/{i}.jpg", 640, 480, title, artists[art[i]], y, cats[cat[i]],
                     media[med[i]], f"{1900 + i % 120}.{i}", desc])
        m = n_content[i]
        content.append([(content_vocab[w], float(p)) for w, p in zip(cwords[c:c + m], cprob[c:c + m])])
        c += m
        picks = rng.choice(len(palette), rng.integers(2, 4), replace=False)
        shares = rng.dirichlet(np.ones(len(picks)))
        colours.append([(palette[q], float(s)) for q, s in zip(picks, shares)])
    return fields, rows, content, colours, vocab, artists


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", type=Path, help="write the site here and keep it")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    fields, rows, content, colours, vocab, artists = make_records(args.n, args.seed)
    print(f"records: {args.n:,} made in {time.perf_counter() - t0:.1f} s; RSS {current_rss_mb():.0f} MB")

    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-search-"))
    data = folder / "data"
    if data.exists():
        shutil.rmtree(data)
    data.mkdir(parents=True)
    rss0 = current_rss_mb()
    t0 = time.perf_counter()
    index = build_index(fields, rows, content=content, colours=colours)
    t_build = time.perf_counter() - t0
    peak_build = rss_mb()
    t0 = time.perf_counter()
    entry = write_index(index, data)
    t_write = time.perf_counter() - t0
    peak = rss_mb()
    stats = index.stats
    del index
    # the year column (as site.write_chunks writes it), for range queries
    (data / "columns").mkdir()
    year = np.array([np.nan if r[5] is None else r[5] for r in rows], dtype="<f4")
    year.tofile(data / "columns" / "5.f32")
    manifest = {"format": "pixmap-site", "version": 4, "count": args.n,
                "metadata": {"fields": fields, "chunk": 1000, "dir": "data/metadata",
                             "columns": {"width": "data/columns/1.f32", "height": "data/columns/2.f32",
                                         "year": "data/columns/5.f32"}},
                "search": entry}
    (data / "manifest.json").write_text(json.dumps(manifest))

    root = data / "search"
    dict_files = list((root / "dict").iterdir())
    post_files = [p for p in (root / "postings").rglob("*.bin")]
    dict_bytes = sum(p.stat().st_size for p in dict_files)
    post_bytes = sum(p.stat().st_size for p in post_files)
    biggest_dict = max(dict_files, key=lambda p: p.stat().st_size)
    n_terms, over = 0, 0
    for p in dict_files:
        shard = json.loads(p.read_text())
        n_terms += len(shard["terms"])
        files = {}
        for f in shard["file"]:
            files[f] = files.get(f, 0) + 1
        over += sum(1 for f, k in files.items()
                    if k > 1 and (root / "postings" / p.stem / f"{f}.bin").stat().st_size > POSTINGS_FILE_BYTES)
    assert over == 0, f"{over} postings files over the cap with more than one term"
    print(f"build {t_build:.1f} s + write {t_write:.1f} s = {t_build + t_write:.1f} s "
          f"({args.n / (t_build + t_write):,.0f} images/s)")
    print(f"peak RSS {peak:.0f} MB (build {peak_build:.0f} MB; {rss0:.0f} MB before the build: records)")
    print(f"terms {n_terms:,}; index {(dict_bytes + post_bytes) / 1e6:.1f} MB = "
          f"{(dict_bytes + post_bytes) / args.n:.1f} bytes/image (postings {post_bytes / args.n:.1f}, "
          f"dictionary {dict_bytes / args.n:.1f})")
    print(f"files: {len(dict_files)} dictionary shards (largest {biggest_dict.name} "
          f"{biggest_dict.stat().st_size / 1e6:.2f} MB, mean {dict_bytes / len(dict_files) / 1e3:.0f} KB), "
          f"{len(post_files)} postings files (largest {max(p.stat().st_size for p in post_files) / 1e3:.0f} KB, "
          f"mean {post_bytes / len(post_files) / 1e3:.0f} KB; those over {POSTINGS_FILE_BYTES // 1024} KB hold one "
          f"term each)")
    print(f"postings {stats['postings']:,} ({stats['postings'] / args.n:.1f} per image)")

    artist = artists[0].split()[-1].lower()
    typo = artist[:2] + artist[3:] if len(artist) >= 6 else artist + "x"
    queries = [vocab[0], vocab[100], vocab[5000], vocab[30000], vocab[200][:3], typo,
               f"{vocab[10]} {vocab[300]} {vocab[3000]}", f"artist:{artist}", "year:1850..1870",
               f"{vocab[300]} year:1850..1870"]
    print("Python reference search (first query of a shard reads it; then cached per call):")
    for q in queries:
        t0 = time.perf_counter()
        res = search(folder, q)
        dt = time.perf_counter() - t0
        print(f"  {q!r:40} {len(res):>9,} results  {dt * 1000:8.0f} ms")
    if not args.keep:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
