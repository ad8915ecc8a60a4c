"""Write a synthetic pixmap site (see docs/site-format.md) for viewer tests and benchmarks.

    from bench.synthetic_site import make_site, make_site_v3
    make_site("out/synth", 10_000)                                  # version 1, procedural coloured cells
    make_site("out/demo", 267, images=sorted(Path("datasets/aic-paintings/images").glob("*.jpg")))
    make_site_v3("out/million", 1_000_000)                          # version 3, as a real build writes it

Positions come from random clusters; everything else (atlas pages, cells, thumbnails, lightbox images,
metadata, hotspots, labels, lines, a 3D layout, UMAP-like variants) follows the site format, so the
viewer cannot tell it from a real build. Image 1's title is an XSS probe and image 2's permalink is a
`javascript:` URL, so tests can check that metadata is shown as text.

make_site_v3 writes the version-3 format with pixmap's own writers (pixmap.atlas, pixmap.tileset,
pixmap.site): level 0 at `pixmap.atlas.level0_cell_size(n)` in as many pages as a real build of n images
writes, level-1 tiles planned on the UMAP positions, metadata and ids in chunks, sharded per-image
files. Every image has its own cell content (its colour, a gradient, and its index as a 20-bit block
code), at level 1 and, scaled down, at level 0.
"""
from __future__ import annotations

import csv
import json
import math
import shutil
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFont, ImageOps

ROOT = Path(__file__).resolve().parent.parent
VIEWER = ROOT / "viewer"
XSS = "<img src=x onerror=alert(1)>"


def _normalise(pos):
    """Centre on 0, scale the larger extent to [-1, 1] (as pixmap.layouts.base.normalise)."""
    pos = np.asarray(pos, dtype=np.float64)
    lo, hi = pos.min(axis=0), pos.max(axis=0)
    centre = (lo + hi) / 2
    extent = float((hi - lo).max()) / 2 or 1.0
    return ((pos - centre) / extent).astype(np.float32), centre, extent


def _clusters(n, rng, k):
    """Cluster index per image (0..k-1), sizes uneven, plus ~4% noise (-1)."""
    weights = rng.uniform(0.4, 1.6, size=k)
    labels = rng.choice(k, size=n, p=weights / weights.sum()).astype(np.int32)
    noise = rng.random(n) < 0.04
    labels[noise] = -1
    return labels


def _cluster_positions(labels, rng, dims, k, spread=0.22):
    centres = rng.uniform(-1, 1, size=(k + 1, dims))
    scales = rng.uniform(0.5, 1.3, size=k + 1) * spread
    pos = np.empty((len(labels), dims), dtype=np.float64)
    for c in range(-1, k):
        m = labels == c
        if c < 0:
            pos[m] = rng.uniform(-1.2, 1.2, size=(m.sum(), dims))
        else:
            pos[m] = centres[c] + rng.normal(size=(m.sum(), dims)) * scales[c]
    return pos


def _write_layout(out, name, label, pos, **extra):
    """Write a layout's positions (normalised) and lines under out/data/layouts; its manifest entry and
    the normalised positions."""
    pos_n, centre, extent = _normalise(pos)
    pos_n.astype("<f4").tofile(out / "data" / "layouts" / f"{name}.f32")
    entry = {"name": name, "label": label, "dims": int(pos.shape[1]), "file": f"data/layouts/{name}.f32"}
    if extra.get("labels"):
        entry["labels"] = [dict(lab, x=float((lab["x"] - centre[0]) / extent),
                                y=float((lab["y"] - centre[1]) / extent)) for lab in extra["labels"]]
    if extra.get("lines"):
        lines_name = f"data/layouts/{name}-lines.json"
        flat = [[round(float(v), 5) for v in ((line - centre[:2]) / extent).ravel()] for line in extra["lines"]]
        (out / lines_name).write_text(json.dumps(flat, separators=(",", ":")))
        entry["lines"] = lines_name
    if extra.get("point_size"):
        entry["point_size"] = float(extra["point_size"] / extent)
    if extra.get("group"):
        entry["group"], entry["params"] = extra["group"], extra["params"]
    return entry, pos_n


def _grid_layout(labels, k, names):
    """Images in blocks, one per cluster (noise last), a label above each block and a frame around it."""
    order = np.argsort(np.where(labels < 0, k, labels), kind="stable")
    pos = np.zeros((len(labels), 2), dtype=np.float64)
    groups = [c for c in list(range(k)) + [-1] if (labels == c).any()]
    cols = max(1, math.ceil(math.sqrt(len(groups))))
    block_w = max(int(math.ceil(math.sqrt((labels == c).sum()))) for c in groups)
    gap = 2
    labels_out, lines = [], []
    start = 0
    for b, c in enumerate(groups):
        members = order[start:start + int((labels == c).sum())]
        start += len(members)
        bx, by = (b % cols) * (block_w + gap), -(b // cols) * (block_w + gap + 1)
        for j, i in enumerate(members):
            pos[i] = (bx + j % block_w, by - j // block_w)
        rows = math.ceil(len(members) / block_w)
        labels_out.append({"text": names[c] if c >= 0 else "unclustered",
                           "x": bx + (block_w - 1) / 2, "y": by + 1.1})
        x0, x1, y0, y1 = bx - 0.6, bx + block_w - 0.4, by + 0.6, by - rows + 0.4
        lines.append(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]], dtype=np.float64))
    return pos, labels_out, lines, 0.9


def _fit(img, size):
    img = img.copy()
    img.thumbnail((size, size), Image.LANCZOS)
    return img


def _procedural(i, size, rng_hue, aspect, font_cache={}):
    """A coloured card with its number, aspect kept, longest side = size."""
    w, h = (size, max(4, round(size / aspect))) if aspect >= 1 else (max(4, round(size * aspect)), size)
    hue = int(rng_hue * 255)
    img = Image.new("HSV", (w, h), (hue, 150, 200)).convert("RGB")
    d = ImageDraw.Draw(img)
    d.rectangle([0, 0, w - 1, h - 1], outline=(20, 20, 20), width=max(1, size // 32))
    d.line([0, h - 1, w - 1, 0], fill=(255, 255, 255), width=max(1, size // 40))
    fs = max(8, size // 4)
    if fs not in font_cache:
        font_cache[fs] = ImageFont.load_default(size=fs)
    d.text((w / 2, h / 2), str(i), fill=(0, 0, 0), font=font_cache[fs], anchor="mm")
    return img


def _read_csv_metadata(images):
    """If the images sit in <collection>/images/ with a <collection>/metadata.csv, return its rows by filename."""
    if not images:
        return {}
    csv_path = Path(images[0]).parent.parent / "metadata.csv"
    if not csv_path.exists():
        return {}
    with open(csv_path, newline="", encoding="utf-8") as f:
        return {row["filename"]: row for row in csv.DictReader(f)}


def make_site(out_dir, n, images=None, layouts=("umap", "grid"), dims3=True, seed=0, extra_metadata=None,
              *, cell_size=64, atlas_size=2048, thumb_size=256, lightbox_size=1024, write_images=None,
              variants=True, max_distinct_cells=2048, shuffle_cells=False):
    """Write a complete site with n images to out_dir; return the manifest (a dict).

    images: paths of real images (cycled if fewer than n); None draws procedural cards.
    layouts: names among "umap" (2D clusters), "grid" (blocks with labels and lines), "tsne" (2D clusters).
    dims3: also write "umap-3d" (dims 3).  variants: add a second UMAP in the same group (a slider).
    extra_metadata: {image index: {field: value}} written over the generated metadata.
    write_images: write thumbs/ and lightbox/ files (default: when n <= 5000).
    max_distinct_cells: procedural sites reuse this many atlas cells (1M cells would not fit in memory).
    shuffle_cells: place images in the atlas in random order (pages not in data order).
    """
    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    images = [Path(p) for p in images] if images else None
    if write_images is None:
        write_images = n <= 5000
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(VIEWER, out, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (out / ".pixmap-site").write_text("pixmap site\n")
    data = out / "data"
    for sub in ("layouts", "atlas", "thumbs", "lightbox"):
        (data / sub).mkdir(parents=True, exist_ok=True)

    # ---- ids and metadata -------------------------------------------------------------------
    csv_rows = _read_csv_metadata(images)
    if images:
        src = [images[i % len(images)] for i in range(n)]
        rel = [f"images/{p.name}" for p in src]
        ids = [f"images-{p.stem}" if i < len(images) else f"images-{p.stem}-{i // len(images)}"
               for i, p in enumerate(src)]
    else:
        src = None
        rel = [f"cards/{i:07d}.png" for i in range(n)]
        ids = [f"card-{i:07d}" for i in range(n)]

    if images and csv_rows:
        cats = sorted({r.get("category") or "" for r in csv_rows.values()} - {""})
        k = len(cats)
        labels = np.array([cats.index(csv_rows[r]["category"]) if r in csv_rows and csv_rows[r].get("category")
                           in cats else -1 for r in rel], dtype=np.int32)
        names = cats
    else:
        k = int(min(24, max(3, round(math.sqrt(n) / 4))))
        labels = _clusters(n, rng, k)
        names = [f"Cluster {c + 1}" for c in range(k)]

    # ---- atlas cells and pages ----------------------------------------------------------------
    per_row = atlas_size // cell_size
    per_page = per_row * per_row
    if images:
        distinct = min(n, len(images))
        cell_imgs = []
        for i in range(distinct):
            with Image.open(src[i]) as im:
                im = ImageOps.exif_transpose(im).convert("RGB")
                cell_imgs.append((im.size, _fit(im, cell_size)))
        sizes = [s for s, _ in cell_imgs]
    else:
        distinct = min(n, max_distinct_cells)
        hues = rng.random(k + 1)
        aspects = np.exp(rng.uniform(np.log(0.6), np.log(1.6), size=distinct))
        cell_imgs = []
        for i in range(distinct):
            c = labels[i]
            card = _procedural(i, cell_size, (hues[c] + rng.uniform(-0.04, 0.04)) % 1, aspects[i])
            cell_imgs.append(((int(round(600 * min(1, aspects[i]))), int(round(600 * min(1, 1 / aspects[i])))), card))
        sizes = [s for s, _ in cell_imgs]
    pages_count = math.ceil(distinct / per_page)
    distinct_cells = np.zeros((distinct, 5), dtype=np.uint16)
    pages = [Image.new("RGB", (atlas_size, atlas_size), (0, 0, 0)) for _ in range(pages_count)]
    place = rng.permutation(distinct) if shuffle_cells else np.arange(distinct)  # atlas position of image i
    for i, (_, cell) in enumerate(cell_imgs):
        p, j = divmod(int(place[i]), per_page)
        x, y = (j % per_row) * cell_size, (j // per_row) * cell_size
        pages[p].paste(cell, (x, y))
        distinct_cells[i] = (p, x, y, cell.width, cell.height)
    page_names = []
    for p, page in enumerate(pages):
        name = f"data/atlas/atlas-{p:03d}.webp"
        page.save(out / name, "WEBP", quality=85, method=4)
        page_names.append(name)
    cells = distinct_cells[np.arange(n) % distinct]
    cells.astype("<u2").tofile(data / "atlas" / "cells.u16")

    # ---- thumbnails and lightbox images -----------------------------------------------------
    if write_images:
        for i in range(n):
            if images:
                with Image.open(src[i]) as im:
                    im = ImageOps.exif_transpose(im).convert("RGB")
                    _fit(im, thumb_size).save(data / "thumbs" / f"{ids[i]}.webp", "WEBP", quality=80, method=0)
                    _fit(im, lightbox_size).save(data / "lightbox" / f"{ids[i]}.webp", "WEBP", quality=85, method=0)
            else:
                a = sizes[i % distinct][0] / sizes[i % distinct][1]
                hue = (hues[labels[i]]) % 1
                _procedural(i, thumb_size, hue, a).save(data / "thumbs" / f"{ids[i]}.webp", "WEBP", quality=80, method=0)
                _procedural(i, min(lightbox_size, 512), hue, a).save(
                    data / "lightbox" / f"{ids[i]}.webp", "WEBP", quality=85, method=0)

    # ---- metadata ----------------------------------------------------------------------------
    if images and csv_rows:
        extra_fields = [f for f in next(iter(csv_rows.values())).keys() if f not in ("filename", "width", "height")]
    else:
        extra_fields = ["title", "artist", "year", "category", "tags", "description", "permalink"]
    fields = ["filename", "width", "height"] + extra_fields
    rows = []
    for i in range(n):
        w, h = sizes[i % distinct]
        if images and csv_rows and rel[i] in csv_rows:
            r = csv_rows[rel[i]]
            vals = []
            for f in extra_fields:
                v = r.get(f)
                if v in (None, ""):
                    vals.append(None)
                elif f in ("year", "aic_id") and v.lstrip("-").isdigit():
                    vals.append(int(v))
                else:
                    vals.append(v)
            rows.append([rel[i], w, h] + vals)
        else:
            c = int(labels[i])
            row = {"title": f"Card {i}", "artist": f"Artist {i % 97}", "year": 1800 + int(i % 200),
                   "category": names[c] if c >= 0 else None, "tags": ["synthetic", f"t{i % 5}"],
                   "description": None if i % 3 else f"Procedural image number {i}.",
                   "permalink": f"https://example.org/cards/{i}"}
            rows.append([rel[i], w, h] + [row.get(f) for f in extra_fields])
    if n > 1:
        ti = fields.index("title") if "title" in fields else None
        if ti is not None:
            rows[1][ti] = XSS
        if "permalink" in fields and n > 2:
            rows[2][fields.index("permalink")] = "javascript:alert(2)"
    for i, extra in (extra_metadata or {}).items():
        for f, v in extra.items():
            if f not in fields:
                fields.append(f)
                for row in rows:
                    row.append(None)
            rows[i][fields.index(f)] = v
    with open(data / "metadata.json", "w", encoding="utf-8") as f:
        json.dump({"ids": ids, "fields": fields, "rows": rows}, f, ensure_ascii=False, separators=(",", ":"))

    labels.astype("<i4").tofile(data / "clusters.i32")

    # ---- layouts -----------------------------------------------------------------------------
    entries = []

    def write_layout(name, label, pos, **extra):
        entries.append(_write_layout(out, name, label, pos, **extra)[0])

    for name in layouts:
        if name == "umap":
            pos = _cluster_positions(labels, rng, 2, k)
            grp = {"group": "umap", "params": {"n_neighbors": 15, "min_dist": 0.1}} if variants else {}
            write_layout("umap", "UMAP", pos, **grp)
            if variants:
                jitter = pos + rng.normal(size=pos.shape) * 0.08
                write_layout("umap-n5", "UMAP", jitter * np.array([1.15, 0.9]), group="umap",
                             params={"n_neighbors": 5, "min_dist": 0.1})
        elif name == "tsne":
            write_layout("tsne", "t-SNE", _cluster_positions(labels, rng, 2, k, spread=0.12))
        elif name == "grid":
            pos, labs, lines, ps = _grid_layout(labels, k, names)
            write_layout("grid", "Grid", pos, labels=labs, lines=lines, point_size=ps)
        else:
            raise ValueError(f"unknown synthetic layout {name!r}")
    if dims3:
        pos3 = _cluster_positions(labels, rng, 3, k)
        write_layout("umap-3d", "UMAP 3D", pos3)

    # ---- hotspots and manifest -------------------------------------------------------------------
    umap_pos = np.fromfile(out / entries[0]["file"], dtype="<f4").reshape(n, entries[0]["dims"])
    hotspots = []
    for c in range(k):
        members = np.flatnonzero(labels == c)
        if len(members) == 0:
            continue
        centre = umap_pos[members].mean(axis=0)
        rep = int(members[np.argmin(((umap_pos[members] - centre) ** 2).sum(axis=1))])
        hotspots.append({"id": c, "label": names[c], "size": int(len(members)), "representative": rep})
    hotspots.sort(key=lambda h: -h["size"])
    manifest = {
        "format": "pixmap-site", "version": 1, "generator": "pixmap synthetic",
        "title": f"synthetic-{n}" if not images else "aic-paintings (synthetic layout)",
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "count": n, "metadata": "data/metadata.json", "layouts": entries,
        "default_layout": entries[0]["name"],
        "atlas": {"size": atlas_size, "cell_size": cell_size, "format": "webp", "pages": page_names,
                  "cells": "data/atlas/cells.u16"},
        "thumbs": {"size": thumb_size, "dir": "data/thumbs", "ext": "webp"},
        "lightbox": {"size": lightbox_size, "dir": "data/lightbox", "ext": "webp"},
        "clusters": {"file": "data/clusters.i32", "method": "synthetic", "hotspots": hotspots},
    }
    (data / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest



# ------------------------------------------------------------------------------------------ version 3
class _CodeCells:
    """Image i's level-1 cell: its colour shaded by a diagonal gradient, a dark frame, and i as a 20-bit
    code of black and white blocks (4 rows of 5) in the lower half: distinct for every i < 2**20.
    Built from per-size parts made once (a shade image and the 32 possible block rows), so one cell is a
    multiply and 4 pastes (a million cells in about a minute)."""

    def __init__(self):
        self._parts = {}

    def _make(self, w, h):
        yy, xx = np.mgrid[0:h, 0:w]
        shade = (255 - (xx + yy) * 90 / max(1, w + h - 2)).astype(np.uint8)
        f = max(1, h // 24)
        shade[:f], shade[-f:], shade[:, :f], shade[:, -f:] = 40, 40, 40, 40
        shade_img = Image.fromarray(np.repeat(shade[:, :, None], 3, axis=2))
        bw, bh = max(1, (w - 4 * f) // 5), max(1, (h // 2 - 2 * f) // 4)
        rows = []
        for code in range(32):
            bits = ((code >> np.arange(5)) & 1).astype(np.uint8) * 255
            strip = np.repeat(np.repeat(bits[None, :], bh, axis=0), bw, axis=1)
            rows.append(Image.fromarray(np.repeat(strip[:, :, None], 3, axis=2)))
        return shade_img, rows, 2 * f, h // 2, bh

    def __call__(self, i, w, h, rgb):
        parts = self._parts.get((w, h))
        if parts is None:
            parts = self._parts[(w, h)] = self._make(w, h)
        shade, rows, x0, y0, bh = parts
        img = ImageChops.multiply(shade, Image.new("RGB", (w, h), tuple(int(v) for v in rgb)))
        for r in range(4):
            img.paste(rows[(i >> (5 * r)) & 31], (x0, y0 + r * bh))
        return img


def _hsv_rgb(hues, sat=0.55, val=0.85):
    """HSV (hue 0..1 per image) to RGB 0..255, vectorised."""
    h6 = (np.asarray(hues) % 1.0) * 6
    c = val * sat
    x = c * (1 - np.abs(h6 % 2 - 1))
    m = val - c
    z = np.zeros_like(h6)
    sector = np.floor(h6).astype(int) % 6
    r = np.choose(sector, [c, x, z, z, x, c])
    g = np.choose(sector, [x, c, c, x, z, z])
    b = np.choose(sector, [z, z, x, c, c, x])
    return (np.stack([r, g, b], axis=1) + m) * 255


def make_site_v3(out_dir, n, *, layouts=("umap", "grid"), dims3=True, seed=0, page_size=2048, cell_size=64,
                 tile_size=1024, level0_cell=None, thumb_size=256, lightbox_size=1024, write_images=None,
                 metadata_chunk=1000, ids_chunk=4096, workers=2, progress=False):
    """Write a complete version-3 site with n procedural images to out_dir; return the manifest.

    level0_cell: atlas level 0's cell size (default pixmap.atlas.level0_cell_size(n, page_size, cell_size));
    level-1 tiles (tile_size px, cells of cell_size) are written when it is smaller than cell_size.
    write_images: per-image lightbox images (and thumbnails, unless thumb_size is 0), 128 px high
    (default: when n <= 5000). Without them the manifest has thumbs.size 0 (as a real build above
    100,000 images) and the lightbox files are missing.
    A few ids are not ASCII (images 4 and 5) so that sharded URLs are percent-encoded.
    """
    from pixmap import atlas as px_atlas, tileset as px_tileset
    from pixmap.site import image_file, shard_of, write_chunks

    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    if write_images is None:
        write_images = n <= 5000
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(VIEWER, out, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (out / ".pixmap-site").write_text("pixmap site\n")
    data = out / "data"
    (data / "layouts").mkdir(parents=True)

    # ---- images: ids, clusters, sizes, colours ---------------------------------------------------
    ids = [f"card-{i:07d}" for i in range(n)]
    for i, name in ((4, "カード-4"), (5, "café-5")):
        if i < n:
            ids[i] = name
    k = int(min(24, max(3, round(math.sqrt(n) / 4))))
    labels = _clusters(n, rng, k)
    names = [f"Cluster {c + 1}" for c in range(k)]
    aspects = np.exp(rng.uniform(np.log(0.6), np.log(1.6), size=n))
    widths = np.round(600 * np.minimum(1, aspects)).astype(int)
    heights = np.round(600 * np.minimum(1, 1 / aspects)).astype(int)
    hues = (rng.random(k + 1)[labels] + rng.uniform(-0.05, 0.05, size=n)) % 1
    colours = _hsv_rgb(hues).astype(np.int16)
    cw, ch = px_tileset.cell_boxes(widths, heights, cell_size)
    code_cells = _CodeCells()

    def cell(i):
        return code_cells(i, int(cw[i]), int(ch[i]), colours[i])

    # ---- layouts ---------------------------------------------------------------------------------
    entries = []
    positions = {}

    def write_layout(name, label, pos, **extra):
        entry, positions[name] = _write_layout(out, name, label, pos, **extra)
        entries.append(entry)

    for name in layouts:
        if name == "umap":
            write_layout("umap", "UMAP", _cluster_positions(labels, rng, 2, k))
        elif name == "grid":
            pos, labs, lines, ps = _grid_layout(labels, k, names)
            write_layout("grid", "Grid", pos, labels=labs, lines=lines, point_size=ps)
        else:
            raise ValueError(f"unknown synthetic layout {name!r}")
    if dims3:
        write_layout("umap-3d", "UMAP 3D", _cluster_positions(labels, rng, 3, k))

    # ---- atlas level 0: every image, small cells, in at most 8 pages -----------------------------
    level0 = int(level0_cell or px_atlas.level0_cell_size(n, page_size=page_size, cell_size=cell_size))
    writer = px_atlas.AtlasWriter(data / "atlas", n, size=page_size, cell_size=level0)
    for i in range(n):
        writer.add(i, cell(i))
    pages, cells = writer.close()
    cells.astype("<u2").tofile(data / "atlas" / "cells.u16")
    atlas = {"size": page_size, "cell_size": level0, "format": "webp",
             "pages": [f"data/atlas/{p.name}" for p in pages], "cells": "data/atlas/cells.u16"}

    # ---- atlas level 1: tiles planned on the UMAP positions ---------------------------------------
    if level0 < cell_size:
        tile_layout = "umap" if "umap" in positions else entries[0]["name"]
        plan = px_tileset.plan_tiles(positions[tile_layout][:, :2], widths, heights, tile_size=tile_size,
                                     cell_size=cell_size)
        px_tileset.write_tiles(plan, cell, data / "atlas" / "tiles", fmt="webp",
                               workers=workers, progress=progress)
        plan.tile_of.astype("<u4").tofile(data / "atlas" / "tile-of.u32")
        plan.cells.astype("<u2").tofile(data / "atlas" / "tile-cells.u16")
        atlas["tiles"] = {"size": tile_size, "cell_size": cell_size, "count": int(plan.count),
                          "dir": "data/atlas/tiles", "shard": px_tileset.SHARD, "of": "data/atlas/tile-of.u32",
                          "cells": "data/atlas/tile-cells.u16", "layout": tile_layout}

    # ---- metadata and ids in chunks ---------------------------------------------------------------
    fields = ["filename", "width", "height", "title", "artist", "year", "category", "tags", "description",
              "permalink"]
    rows = []
    for i in range(n):
        c = int(labels[i])
        rows.append([f"cards/{ids[i]}.png", int(widths[i]), int(heights[i]), f"Card {i}", f"Artist {i % 97}",
                     1800 + i % 200, names[c] if c >= 0 else None, ["synthetic", f"t{i % 5}"],
                     None if i % 3 else f"Procedural image number {i}.", f"https://example.org/cards/{i}"])
    if n > 1:
        rows[1][3] = XSS
    if n > 2:
        rows[2][9] = "javascript:alert(2)"
    metadata, ids_entry = write_chunks(data, ids, fields, rows, chunk=metadata_chunk, ids_chunk=ids_chunk)
    labels.astype("<i4").tofile(data / "clusters.i32")

    # ---- per-image files, sharded -----------------------------------------------------------------
    thumbs = {"size": thumb_size if write_images and n <= 100_000 else 0, "dir": "data/thumbs", "ext": "webp",
              "shard": "fnv1a-8"}
    lightbox = {"size": lightbox_size, "dir": "data/lightbox", "ext": "webp", "shard": "fnv1a-8"}
    if write_images:
        for sub in {shard_of(v) for v in ids}:
            for entry in (thumbs, lightbox):
                if entry["size"]:
                    (out / entry["dir"] / sub).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            big = cell(i).resize((int(cw[i]) * 2, int(ch[i]) * 2), Image.NEAREST)  # 128 px high
            big.save(out / image_file(lightbox, ids[i]), "WEBP", quality=80, method=0)
            if thumbs["size"]:
                big.save(out / image_file(thumbs, ids[i]), "WEBP", quality=80, method=0)

    # ---- hotspots and manifest --------------------------------------------------------------------
    umap_pos = positions[entries[0]["name"]]
    hotspots = []
    for c in range(k):
        members = np.flatnonzero(labels == c)
        if len(members) == 0:
            continue
        centre = umap_pos[members].mean(axis=0)
        rep = int(members[np.argmin(((umap_pos[members] - centre) ** 2).sum(axis=1))])
        hotspots.append({"id": c, "label": names[c], "size": int(len(members)), "representative": rep})
    hotspots.sort(key=lambda h: -h["size"])
    clusters = {"file": "data/clusters.i32", "method": "synthetic", "hotspots": hotspots}
    if "tiles" in atlas and hotspots:  # as a real build: the panel's thumbnails in one sheet
        px_atlas.hotspot_sheet([cell(h["representative"]) for h in hotspots]).save(
            data / "atlas" / "hotspots.jpg", "JPEG", quality=90)
        clusters["thumbs"] = {"file": "data/atlas/hotspots.jpg", "size": px_atlas.HOTSPOT_THUMB,
                              "columns": px_atlas.HOTSPOT_COLUMNS}
    manifest = {
        "format": "pixmap-site", "version": 3, "generator": "pixmap synthetic",
        "title": f"synthetic-v3-{n}", "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "count": n, "metadata": metadata, "ids": ids_entry, "layouts": entries,
        "default_layout": entries[0]["name"], "atlas": atlas, "thumbs": thumbs, "lightbox": lightbox,
        "clusters": clusters,
    }
    (data / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
    return manifest


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--demo", action="store_true", help="use the bundled aic-paintings images")
    ap.add_argument("--v3", action="store_true", help="write format version 3 (level-1 tiles, chunks, shards)")
    a = ap.parse_args()
    if a.v3:
        m = make_site_v3(a.out, a.n, progress=True)
        print(f"wrote {a.out}: {m['count']} images, version 3, {len(m['atlas']['pages'])} level-0 pages, "
              f"{m['atlas'].get('tiles', {}).get('count', 0)} tiles")
        raise SystemExit(0)
    imgs = sorted((ROOT / "datasets" / "aic-paintings" / "images").glob("*.jpg")) if a.demo else None
    m = make_site(a.out, a.n if not a.demo else (a.n if a.n != 1000 else len(imgs)), images=imgs)
    print(f"wrote {a.out}: {m['count']} images, layouts {[e['name'] for e in m['layouts']]}")
