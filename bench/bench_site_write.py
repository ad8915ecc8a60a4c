"""Site-writer benchmark at scale: what a build of N images writes after the model, timed and sized.

    python bench/bench_site_write.py --n 1000000      # ~15 min on 2 cores
    python bench/bench_site_write.py --n 100000

Input, as hard as a real build's: every image has its own cell content. The cells are made from the
4,317 real photos of the flowers set (../shared/datasets/flowers5 from the repository, or --photos): image
i is photo i mod 4317, randomly cropped (70-100 %), maybe mirrored, and shifted in brightness and colour,
so no two cells are the same and they compress like photos. Widths and heights vary as the photos'
crops do. Positions are a mixture of 60 Gaussian clusters with uneven sizes plus 5 % uniform noise
(real UMAP maps are similar: dense islands and scattered points).

Timed in two parts:
1. what the image pass does per image besides the model (level-0 atlas cell, level-1 cell into the
   CellPack): reported, but in a real build it overlaps the model, which is far slower (~50-200 img/s);
2. the SITE WRITER after the layout: level-1 tiles (plan + compose + encode), metadata and id chunks,
   numeric columns, positions, hotspot ids, manifest. Target: >= 2,000 images/s at 1,000,000.
Then the site's size per image, lightbox images excluded (target <= 4 KB at 1,000,000), and the peak RSS.

Left out: lightbox images (written during the pass, excluded from the size target), layouts other than
one 2D UMAP-like layout (each adds 8 bytes per image), IIIF collection (not written above 100,000 images),
the model and the layout computation themselves (bench/bench_scale_build.py).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pixmap import atlas, pipeline, site, tileset  # noqa: E402
from pixmap.layouts.base import Layout  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class PeakRSS(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.peak = 0.0
        self.running = True

    def run(self):
        while self.running:
            self.peak = max(self.peak, rss_mb())
            time.sleep(0.05)


def load_photos(folder: Path, side: int = 160) -> list[Image.Image]:
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    out = []
    for p in paths:
        with Image.open(p) as im:
            im.draft("RGB", (side, side))
            im = ImageOps.exif_transpose(im).convert("RGB")
            im.thumbnail((side, side))
            out.append(im.copy())
    return out


def variant(photos, i: int, rng: np.random.Generator) -> Image.Image:
    base = photos[i % len(photos)]
    w, h = base.size
    fw, fh = rng.uniform(0.7, 1.0, size=2)
    cw, ch = max(8, int(w * fw)), max(8, int(h * fh))
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    im = base.crop((x, y, x + cw, y + ch))
    if rng.random() < 0.5:
        im = ImageOps.mirror(im)
    im = ImageEnhance.Brightness(im).enhance(float(rng.uniform(0.75, 1.25)))
    tint = rng.uniform(0.85, 1.15, size=3)
    arr = np.clip(np.asarray(im, dtype=np.float32) * tint, 0, 255).astype(np.uint8)
    return Image.fromarray(arr)


def positions(n: int, rng) -> np.ndarray:
    k = 60
    weights = rng.pareto(1.2, size=k) + 0.2
    labels = rng.choice(k, size=n, p=weights / weights.sum())
    centres = rng.uniform(-10, 10, size=(k, 2))
    scales = rng.uniform(0.2, 1.5, size=k)
    pos = centres[labels] + rng.normal(size=(n, 2)) * scales[labels, None]
    noise = rng.random(n) < 0.05
    pos[noise] = rng.uniform(-12, 12, size=(noise.sum(), 2))
    return pos.astype(np.float32), labels.astype(np.int32)


def folder_bytes(folder: Path, skip=("lightbox",)) -> tuple[int, int, int]:
    """(bytes, files, most files in one folder) under folder, leaving out the named top-level data folders."""
    total = files = most = 0
    for dirpath, dirnames, filenames in os.walk(folder):
        rel = Path(dirpath).relative_to(folder).parts
        if len(rel) >= 2 and rel[0] == "data" and rel[1] in skip:
            dirnames[:] = []
            continue
        most = max(most, len(filenames) + len(dirnames))
        for f in filenames:
            total += os.path.getsize(os.path.join(dirpath, f))
            files += 1
    return total, files, most


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--photos", type=Path, default=ROOT.parent / "shared" / "datasets" / "flowers5")
    ap.add_argument("--keep", type=Path, default=None, help="write the site here and keep it (else a temp folder)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()
    n = args.n
    rng = np.random.default_rng(0)
    monitor = PeakRSS()
    monitor.start()

    t = time.perf_counter()
    photos = load_photos(args.photos)
    print(f"{len(photos)} real photos loaded in {time.perf_counter() - t:.1f} s", flush=True)
    base = args.keep or Path(tempfile.mkdtemp(prefix="pixmap-sitebench-"))
    if base.exists():
        shutil.rmtree(base)
    out = base / "site"
    data = out / "data"
    (data / "layouts").mkdir(parents=True)
    opts = {**pipeline.DEFAULTS}
    plan = pipeline.atlas_plan(n, opts)
    print(f"plan for {n} images: level-0 cells {plan['level0_cell']} px, tiles {plan['tiles']} at "
          f"{plan['cell_size']} px, per-image thumbnails {plan['thumb_size'] or 'none'}", flush=True)

    # ---- 1. per image, as in the image pass: level-0 cell into the atlas, level-1 cell into the pack
    t = time.perf_counter()
    pack = tileset.CellPack(base / "cells.pack", n) if plan["tiles"] else None
    sizes = np.zeros((n, 2), np.int64)
    seeds = np.random.default_rng(1).integers(0, 2**63, size=n)

    def make(i):
        im = variant(photos, i, np.random.default_rng(int(seeds[i])))
        small = atlas.cell_image(im, 2 * plan["cell_size"]) if max(im.size) > 2 * plan["cell_size"] else im
        return i, im.size, atlas.cell_image(small, plan["level0_cell"]), (
            tileset.encode_cell(atlas.cell_image(small, plan["cell_size"])) if pack else None)

    with ThreadPoolExecutor(args.workers) as pool:
        writer = atlas.AtlasWriter(data / "atlas", n, size=int(opts["atlas_size"]), cell_size=plan["level0_cell"],
                                   executor=pool)
        step = 4096
        for start in range(0, n, step):
            for i, size, cell0, cell1 in pool.map(make, range(start, min(n, start + step))):
                sizes[i] = size
                writer.add(i, cell0)
                if pack:
                    pack.add(i, cell1)
            if start // step % 25 == 0:
                el = time.perf_counter() - t
                done = min(n, start + step)
                print(f"  pass part: {done}/{n} images, {done / el:.0f} img/s, RSS {rss_mb():.0f} MB", flush=True)
        pages, cells = writer.close()
    if pack:
        pack.finish()
    t_pass = time.perf_counter() - t
    print(f"1. pass part (level-0 atlas + level-1 cells), {args.workers} threads: {t_pass:.1f} s, "
          f"{n / t_pass:.0f} img/s ({len(pages)} level-0 pages)", flush=True)

    # ---- 2. the site writer, after the layout
    xy, labels = positions(n, rng)
    years = rng.integers(1400, 2000, size=n)
    fields = ["filename", "width", "height", "title", "year", "category"]
    rows = [[f"photos/{i:07d}.jpg", int(sizes[i, 0]), int(sizes[i, 1]), f"Photo number {i}", int(years[i]),
             f"cluster {labels[i]}"] for i in range(n)]
    ids = [f"photos--{i:07d}" for i in range(n)]
    t0 = time.perf_counter()
    timings = {}
    manifest = site.base_manifest("bench", n, "pixmap bench")
    t = time.perf_counter()
    manifest["layouts"] = [site.write_layout(out, Layout("umap", "UMAP", xy))]
    np.ascontiguousarray(cells, dtype="<u2").tofile(data / "atlas" / "cells.u16")
    np.ascontiguousarray(np.where(labels < 20, labels, -1), dtype="<i4").tofile(data / "clusters.i32")
    timings["positions, cells, hotspot ids"] = time.perf_counter() - t
    manifest["atlas"] = {"size": 2048, "cell_size": plan["level0_cell"], "format": "webp",
                         "pages": [f"data/atlas/{p.name}" for p in pages], "cells": "data/atlas/cells.u16"}
    if pack:
        t = time.perf_counter()
        manifest["atlas"]["tiles"] = pipeline.write_atlas_tiles(pack, xy, sizes, data, plan, opts, progress=True)
        timings["level-1 tiles (plan, compose, encode)"] = time.perf_counter() - t
        pack.close()
    t = time.perf_counter()
    manifest["metadata"], manifest["ids"] = site.write_chunks(data, ids, fields, rows)
    timings["metadata and id chunks, numeric columns"] = time.perf_counter() - t
    site.write_manifest(out, manifest)
    site.copy_viewer(out)
    t_site = time.perf_counter() - t0
    monitor.running = False
    for k, v in timings.items():
        print(f"   {k}: {v:.1f} s")
    print(f"2. SITE WRITER: {t_site:.1f} s for {n} images = {n / t_site:.0f} images/s (target >= 2,000)")

    size, files, most = folder_bytes(out)
    tiles_bytes = sum(p.stat().st_size for p in (data / "atlas" / "tiles").rglob("*.webp")) if pack else 0
    l0_bytes = sum(p.stat().st_size for p in pages)
    print(f"3. site size (no lightbox images): {size / 1e6:.1f} MB in {files} files = {size / n:.0f} bytes/image "
          f"(target <= 4,096); level 0 {l0_bytes / n:.0f} B/img, tiles {tiles_bytes / n:.0f} B/img "
          f"({manifest['atlas'].get('tiles', {}).get('count', 0)} tiles); most entries in one folder: {most}")
    print(f"4. peak RSS of the whole benchmark process: {monitor.peak:.0f} MB "
          f"(ru_maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")
    print(json.dumps({"n": n, "pass_part_img_s": round(n / t_pass), "site_writer_img_s": round(n / t_site),
                      "bytes_per_image": round(size / n), "peak_rss_mb": round(monitor.peak),
                      "tiles": manifest["atlas"].get("tiles", {}).get("count", 0), "level0_pages": len(pages)}))
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
