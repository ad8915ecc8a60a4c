"""Content search on the labelled flowers set, built WITHOUT its metadata: can the map be searched by what
the images show?

Builds the flowers folder (five labelled sub-folders: daisy, dandelion, rose, sunflower, tulip; the labels
are only used to score) with the default options and no metadata, then for each flower name, a broader term
and a few colours, prints the share of the top 100 hits (pixmap.searchindex.search, the viewer's ranking)
that carry each label. ImageNet-1k (the model's classifier) has a class for daisy only; the other four
flowers can only be reached through colours and broader terms, and the figures say how far that goes.

    python bench/bench_find.py --images ../shared/datasets/flowers5/images
"""
from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

FLOWERS = ["daisy", "dandelion", "rose", "sunflower", "tulip"]
# the file paths hold the labels (daisy/123.jpg), and the filename field is indexed too: the content-only
# queries (content:, colour:) are the figures for "search by what the images show"
QUERIES = (FLOWERS + [f"content:{w}" for w in FLOWERS + ["flower", "plant"]]
           + [f"colour:{c}" for c in ("yellow", "red", "pink", "white", "purple", "green")])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, required=True, help="the flowers folder (one sub-folder per label)")
    ap.add_argument("--cache", type=Path, default=None, help="feature cache folder [default: a new one]")
    ap.add_argument("--top", type=int, default=100, help="hits scored per query")
    ap.add_argument("--site", type=Path, default=None, help="an already built site of the folder (skip the build)")
    args = ap.parse_args()

    import pixmap
    from pixmap import searchindex
    from pixmap.site import read_metadata

    tmp = Path(tempfile.mkdtemp(prefix="pixmap-find-"))
    if args.site:
        site = args.site
    else:
        t = time.perf_counter()
        res = pixmap.build(images=args.images, out_dir=tmp / "site", cache_dir=args.cache or tmp / "cache",
                           progress=True)
        print(f"built {res.n_images} images in {time.perf_counter() - t:.0f} s (content "
              f"{res.timings.get('content', 0):.1f} s, search index {res.timings.get('search_index', 0):.1f} s)")
        site = res.out_dir
    labels = [r[0].split("/")[0] for r in read_metadata(site)["rows"]]
    base = collections.Counter(labels)
    print("labels: " + ", ".join(f"{k} {v / len(labels):.0%}" for k, v in sorted(base.items())))
    names = sorted(base)
    print(f"\n{'query':<18}{'hits':>6}  " + "".join(f"{k:>11}" for k in names) + "   ms")
    for q in QUERIES:
        t = time.perf_counter()
        hits = searchindex.search(site, q)
        ms = (time.perf_counter() - t) * 1000
        top = [labels[i] for i, _ in hits[:args.top]]
        c = collections.Counter(top)
        shares = "".join(f"{c[k] / max(1, len(top)):>11.0%}" for k in names)
        print(f"{q:<18}{len(hits):>6}  {shares}   {ms:.0f}")
    print(f"(output left in {tmp})")


if __name__ == "__main__":
    main()
