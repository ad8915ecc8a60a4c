"""The cluster report: report.html in the site, beside index.html (docs/site-format.md, "Version 6",
"Report"). One self-contained page: inline CSS, plots as inline SVG drawn here from numpy/scipy results,
no script, and no request outside the site (images are the site's own thumbnails).

    sets = report.sets_from_build(cluster_sets)            # or report.set_from_clustering(...) for one
    entry = report.write_report(staging, sets, ids=ids, manifest=manifest, features=reduced,
                                colours=images.colours, terms=found.terms, categories=categories,
                                category_name="category", titles=titles, duplicates=dups)
    manifest["report"] = entry                             # {"file": "report.html"}

Per clustering: its method and parameters; the number of clusters and the noise share; silhouette and
Davies-Bouldin overall and per cluster (a bar per cluster); the k-selection curve when k was chosen; a
dendrogram (scipy's dendrogram coordinates, the last DENDRO_LEAVES merges) for agglomerative clustering;
per cluster its representative (medoid), its most and least typical members (nearest to and farthest from
the cluster's centre in the feature space), its dominant colours (the mean of its images' colour-name
shares, pixmap.content) and distinctive content terms; a cluster-by-category table with NMI and ARI when
a category column exists. Then the near-duplicate groups (pixmap.duplicates) with their thumbnails.

Bounded at any size: at most MAX_CLUSTERS clusters, TYPICAL images each way, MAX_DUP_GROUPS groups,
MAX_CATEGORIES columns are shown; the quality measures are computed on a sample (pixmap.quality.cluster_quality); the rest
is one pass over the arrays. All text from the collection (ids, titles, names, categories) is escaped.
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import content, site

FILE = "report.html"
MAX_CLUSTERS = 60        # cluster cards per clustering
TYPICAL = 5              # most / least typical members shown per cluster
MAX_DUP_GROUPS = 200     # near-duplicate groups listed
MAX_DUP_MEMBERS = 8      # thumbnails per group
MAX_CATEGORIES = 12      # category columns of the cluster-by-category table (the rest as "other")
SVG_OPEN = 'xmlns="http://www.w3.org/2000/svg" class="chart"'
DENDRO_LEAVES = 40       # the dendrogram's leaves (scipy's truncate_mode="lastp")
SWATCHES = 5             # colours per cluster
MIN_SWATCH = 0.03        # share of a cluster's pixels a colour needs to be shown


@dataclass
class ReportSet:
    """One clustering as the report reads it (built from a clusters.ClusterSet by sets_from_build)."""
    name: str
    method: str
    params: dict
    space: str                       # the name of the space that was clustered
    labels: np.ndarray               # (n,) int, -1 noise
    hotspots: list                   # clusters.Hotspot
    quality: dict                    # pixmap.quality.cluster_quality
    k_curve: list | None = None      # [(k, score)]
    k_eval: str | None = None        # what the curve's score is (silhouette, dbindex, derivative)
    linkage: np.ndarray | None = None
    features: np.ndarray | None = None   # the space "typical" is measured in (None: render's `features`)


def sets_from_build(cluster_sets, spaces: dict | None = None) -> list[ReportSet]:
    """The build's clusterings (clusters.ClusterSet: name, method, params, space, clustering, quality,
    k_curve, linkage) as the report's ReportSets; `spaces`: the build's spaces by name (the members' typicality
    is measured in the space each set clustered)."""
    out = []
    for cs in cluster_sets:
        params = dict(cs.params or {})
        k_from = params.get("k_from")
        out.append(ReportSet(name=str(cs.name), method=str(cs.method), params=params, space=str(cs.space),
                             labels=np.asarray(cs.clustering.labels), hotspots=list(cs.clustering.hotspots),
                             quality=dict(cs.quality or {}), k_curve=cs.k_curve,
                             k_eval=k_from if k_from in ("silhouette", "dbindex", "derivative") else None,
                             linkage=cs.linkage, features=(spaces or {}).get(cs.space)))
    return out


def set_from_clustering(clustering, space: np.ndarray, space_name: str, params: dict, categories=None,
                        seed: int = 0) -> ReportSet:
    """One clusters.Clustering (today's hotspots) as a ReportSet, its quality measured on `space`."""
    from .quality import cluster_quality

    quality = cluster_quality(space, clustering.labels, categories=categories, seed=seed)
    return ReportSet(name=clustering.method, method=clustering.method, params=params, space=space_name,
                     labels=np.asarray(clustering.labels), hotspots=list(clustering.hotspots), quality=quality)


# ------------------------------------------------------------------------------------ numbers
def typical_members(features: np.ndarray, members: np.ndarray, count: int = TYPICAL, sample: int = 20_000,
                    seed: int = 0, chunk: int = 65_536) -> tuple[np.ndarray, np.ndarray]:
    """(most typical, least typical): the `count` members nearest to and farthest from the members' mean
    direction (cosine), nearest / farthest first. A cluster of more than `sample` members is judged on a
    seeded sample of that many; rows are read `chunk` at a time."""
    members = np.asarray(members, dtype=np.int64)
    if len(members) > sample:
        members = np.sort(np.random.default_rng(seed).choice(members, sample, replace=False))
    m = len(members)
    if m == 0:
        return members, members
    total = np.zeros(features.shape[1], np.float64)
    for a in range(0, m, chunk):
        rows = np.asarray(features[members[a:a + chunk]], dtype=np.float64)
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        total += (rows / np.where(norms > 0, norms, 1)).sum(axis=0)
    centre = total / max(np.linalg.norm(total), 1e-12)
    closeness = np.empty(m, np.float64)
    for a in range(0, m, chunk):
        rows = np.asarray(features[members[a:a + chunk]], dtype=np.float64)
        norms = np.linalg.norm(rows, axis=1)
        closeness[a:a + chunk] = 1.0 - rows @ centre / np.where(norms > 0, norms, 1)
    order = np.argsort(closeness, kind="stable")
    k = min(count, m)
    far = order[::-1][:min(count, max(0, m - k))]
    return members[order[:k]], members[far]


def cluster_colours(labels: np.ndarray, colours: np.ndarray | None, n_clusters: int) -> np.ndarray:
    """Per cluster the mean share of each colour name (n_clusters, len(COLOUR_NAMES)); zeros without colours."""
    out = np.zeros((n_clusters, len(content.COLOUR_NAMES)), np.float64)
    if colours is None or n_clusters == 0:
        return out
    labels = np.asarray(labels)
    keep = (labels >= 0) & (labels < n_clusters)
    lab = labels[keep]
    colours = np.asarray(colours)
    for j in range(out.shape[1]):
        out[:, j] = np.bincount(lab, weights=colours[keep, j].astype(np.float64) / 255.0, minlength=n_clusters)
    sizes = np.bincount(lab, minlength=n_clusters).astype(np.float64)
    return out / np.maximum(sizes, 1)[:, None]


def crosstab(labels: np.ndarray, categories: list, n_clusters: int, top: int = MAX_CATEGORIES):
    """(category names, counts (n_clusters + 1, len(names))): images per cluster (the last row: noise) and
    category, the `top` most common categories, the rest as "other" (when there is a rest)."""
    codes: dict = {}
    inv = np.fromiter((codes.setdefault("" if v is None else str(v), len(codes)) for v in categories),
                      dtype=np.int64, count=len(categories))
    names = np.array(list(codes), dtype=object)
    counts = np.bincount(inv, minlength=len(names))
    order = [j for j in np.lexsort((names, -counts)) if names[j] != ""]
    shown = order[:top]
    col = np.full(len(names), len(shown), np.int64)
    col[shown] = np.arange(len(shown))
    rest = len(order) > len(shown) or (names == "").any()
    labels = np.asarray(labels)
    row = np.where((labels >= 0) & (labels < n_clusters), labels, n_clusters)
    table = np.zeros((n_clusters + 1, len(shown) + 1), np.int64)
    np.add.at(table, (row, col[inv]), 1)
    heads = [str(names[j]) for j in shown]
    if rest:
        return heads + ["other / none"], table
    return heads, table[:, :len(shown)]


# ------------------------------------------------------------------------------------ SVG
def _fmt(v, digits=3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return f"{float(v):.{digits}f}"


def line_chart(points, x_label: str, y_label: str, mark=None, width: int = 520, height: int = 240) -> str:
    """An inline SVG line chart of (x, y) points; `mark`: an x value to mark (the chosen k)."""
    pts = [(float(x), float(y)) for x, y in points if y is not None and math.isfinite(float(y))]
    if not pts:
        return ""
    left, right, top, bottom = 56, 16, 14, 40
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    if y1 == y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
    pad = (y1 - y0) * 0.08
    y0, y1 = y0 - pad, y1 + pad
    w, h = width - left - right, height - top - bottom
    sx = lambda x: left + (x - x0) / (x1 - x0) * w  # noqa: E731
    sy = lambda y: top + (1 - (y - y0) / (y1 - y0)) * h  # noqa: E731
    parts = [f'<svg {SVG_OPEN} viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
             f'aria-label="{html.escape(y_label)} by {html.escape(x_label)}">',
             f'<rect x="{left}" y="{top}" width="{w}" height="{h}" class="frame"/>']
    for k in range(5):
        yv = y0 + (y1 - y0) * k / 4
        parts.append(f'<line x1="{left}" x2="{left + w}" y1="{sy(yv):.1f}" y2="{sy(yv):.1f}" class="grid"/>'
                     f'<text x="{left - 6}" y="{sy(yv) + 4:.1f}" class="tick" text-anchor="end">{yv:.3g}</text>')
    step = max(1, math.ceil(len(xs) / 12))
    for x in sorted(set(xs))[::step]:
        parts.append(f'<text x="{sx(x):.1f}" y="{top + h + 16}" class="tick" text-anchor="middle">{x:g}</text>')
    if mark is not None and x0 <= float(mark) <= x1:
        parts.append(f'<line x1="{sx(float(mark)):.1f}" x2="{sx(float(mark)):.1f}" y1="{top}" y2="{top + h}" '
                     f'class="mark"/>')
    path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
    parts.append(f'<polyline points="{path}" class="line"/>')
    parts += [f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" class="dot"><title>{x:g}: {y:.4f}</title></circle>'
              for x, y in pts]
    parts.append(f'<text x="{left + w / 2:.1f}" y="{height - 6}" class="axis" text-anchor="middle">'
                 f'{html.escape(x_label)}</text>')
    parts.append(f'<text x="14" y="{top + h / 2:.1f}" class="axis" text-anchor="middle" '
                 f'transform="rotate(-90 14 {top + h / 2:.1f})">{html.escape(y_label)}</text></svg>')
    return "".join(parts)


def dendrogram_svg(linkage: np.ndarray, leaves: int = DENDRO_LEAVES, width: int = 720, height: int = 280) -> str:
    """An inline SVG dendrogram of a scipy linkage matrix: scipy.cluster.hierarchy.dendrogram's coordinates
    (no_plot), truncated to the last `leaves` merges; a leaf shows how many images it holds."""
    from scipy.cluster.hierarchy import dendrogram

    z = np.asarray(linkage, dtype=np.float64)
    if z.ndim != 2 or len(z) == 0:
        return ""
    d = dendrogram(z, truncate_mode="lastp", p=int(leaves), no_plot=True, show_leaf_counts=True)
    ic, dc, ivl = np.asarray(d["icoord"]), np.asarray(d["dcoord"]), d["ivl"]
    left, right, top, bottom = 56, 10, 12, 52
    w, h = width - left - right, height - top - bottom
    xmax = max(10.0 * len(ivl), 1.0)
    ymax = float(dc.max()) if dc.size and dc.max() > 0 else 1.0
    sx = lambda x: left + x / xmax * w  # noqa: E731
    sy = lambda y: top + (1 - y / ymax) * h  # noqa: E731
    parts = [f'<svg {SVG_OPEN} viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
             f'aria-label="dendrogram">']
    for k in range(5):
        yv = ymax * k / 4
        parts.append(f'<line x1="{left}" x2="{left + w}" y1="{sy(yv):.1f}" y2="{sy(yv):.1f}" class="grid"/>'
                     f'<text x="{left - 6}" y="{sy(yv) + 4:.1f}" class="tick" text-anchor="end">{yv:.3g}</text>')
    for xs, ys in zip(ic, dc):
        pts = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(xs, ys))
        parts.append(f'<polyline points="{pts}" class="line"/>')
    for j, name in enumerate(ivl):
        x = sx(5 + 10 * j)
        parts.append(f'<text x="{x:.1f}" y="{top + h + 10}" class="tick" text-anchor="end" '
                     f'transform="rotate(-60 {x:.1f} {top + h + 10})">{html.escape(str(name))}</text>')
    parts.append(f'<text x="14" y="{top + h / 2:.1f}" class="axis" text-anchor="middle" '
                 f'transform="rotate(-90 14 {top + h / 2:.1f})">merge distance</text></svg>')
    return "".join(parts)


def silhouette_bars(per_cluster: list, names: dict, width: int = 520, bar: int = 14) -> str:
    """An inline SVG bar per cluster of its mean silhouette (-1..1), best first."""
    rows = [p for p in per_cluster if p.get("silhouette") is not None and math.isfinite(float(p["silhouette"]))]
    rows = sorted(rows, key=lambda p: -float(p["silhouette"]))[:MAX_CLUSTERS]
    if not rows:
        return ""
    label_w, pad = 170, 4
    height = len(rows) * (bar + pad) + 24
    mid = label_w + (width - label_w - 40) / 2
    half = (width - label_w - 40) / 2
    parts = [f'<svg {SVG_OPEN} viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
             f'aria-label="silhouette per cluster">',
             f'<line x1="{mid:.1f}" x2="{mid:.1f}" y1="0" y2="{height - 20}" class="grid"/>',
             f'<text x="{mid - half:.1f}" y="{height - 6}" class="tick" text-anchor="middle">-1</text>'
             f'<text x="{mid:.1f}" y="{height - 6}" class="tick" text-anchor="middle">0</text>'
             f'<text x="{mid + half:.1f}" y="{height - 6}" class="tick" text-anchor="middle">1</text>']
    for j, p in enumerate(rows):
        s = max(-1.0, min(1.0, float(p["silhouette"])))
        y = j * (bar + pad)
        x = mid if s >= 0 else mid + s * half
        name = names.get(int(p["id"]), f"Cluster {int(p['id']) + 1}")
        parts.append(f'<text x="{label_w - 6}" y="{y + bar - 3}" class="tick" text-anchor="end">'
                     f'{html.escape(_short(name, 28))}</text>'
                     f'<rect x="{x:.1f}" y="{y}" width="{abs(s) * half:.1f}" height="{bar}" '
                     f'class="{"bar" if s >= 0 else "bar neg"}"><title>{html.escape(name)}: {s:.3f}</title></rect>'
                     f'<text x="{mid + half + 4:.1f}" y="{y + bar - 3}" class="tick">{s:.2f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _short(text: str, n: int) -> str:
    text = str(text)
    return text if len(text) <= n else text[:n - 1] + "…"


# ------------------------------------------------------------------------------------ HTML
CSS = """
:root{color-scheme:light dark;--fg:#1d1f23;--bg:#fbfbfa;--muted:#666;--line:#d8d8d4;--card:#fff;--accent:#2f6fb2}
@media (prefers-color-scheme:dark){:root{--fg:#e8e8e6;--bg:#17181b;--muted:#a0a0a0;--line:#3a3b40;--card:#202226;--accent:#79a8e0}}
*{box-sizing:border-box}body{margin:0 auto;max-width:1200px;padding:24px;font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:1.6em;margin:0 0 .2em}h2{margin-top:2em;border-bottom:1px solid var(--line);padding-bottom:.2em}h3{margin:.2em 0}
a{color:var(--accent)}.muted{color:var(--muted)}nav ul{padding-left:1.2em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid var(--line);padding:3px 8px;text-align:right;vertical-align:top}
th{background:var(--card)}td.l,th.l{text-align:left}.stats td:first-child{text-align:left;color:var(--muted)}
.scroll{overflow-x:auto}.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:14px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px}
.card .medoid img{width:100%;max-height:220px;object-fit:contain;background:#0001}
.strip{display:flex;gap:4px;flex-wrap:wrap;margin:.2em 0 .5em}.strip img{height:58px;width:58px;object-fit:cover;border-radius:3px;background:#0001}
.swatches{display:flex;height:18px;border-radius:3px;overflow:hidden;margin:.3em 0}.swatches span{display:block;height:100%}
.terms{font-style:italic}.label{font-size:.8em;color:var(--muted);margin:0}
svg.chart{max-width:100%;height:auto;font:11px system-ui,sans-serif}svg .frame{fill:none;stroke:var(--line)}
svg .grid{stroke:var(--line);stroke-width:1}svg .tick,svg .axis{fill:var(--muted)}svg .line{fill:none;stroke:var(--accent);stroke-width:1.6}
svg .dot{fill:var(--accent)}svg .mark{stroke:#d0533b;stroke-dasharray:4 3}svg .bar{fill:var(--accent)}svg .bar.neg{fill:#d0533b}
.dups{display:flex;flex-direction:column;gap:10px}.dup{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:8px}
.dup figure{display:inline-block;margin:0 6px 0 0;text-align:center;font-size:.8em;color:var(--muted)}.dup img{height:110px;max-width:180px;object-fit:contain;display:block}
"""


class _Page:
    def __init__(self, manifest: dict, ids: list[str], titles: list | None):
        self.ids, self.titles = ids, titles
        thumbs = manifest.get("thumbs") or {}
        self.entry = thumbs if int(thumbs.get("size") or 0) > 0 else manifest.get("lightbox")

    def title(self, i: int) -> str:
        t = self.titles[i] if self.titles is not None else None
        return str(t) if t not in (None, "") else str(self.ids[i])

    def img(self, i: int, cls: str = "") -> str:
        alt = html.escape(self.title(i), quote=True)
        c = f' class="{cls}"' if cls else ""
        if not self.entry:
            return f'<span{c}>{alt}</span>'
        src = html.escape(site.image_file(self.entry, str(self.ids[i])), quote=True)
        return f'<img{c} src="{src}" alt="{alt}" title="{alt}" loading="lazy">'


def _swatches(shares: np.ndarray) -> str:
    hexes = {}
    for c in content.PALETTE:
        hexes.setdefault(c.name, c.hex)
    order = [j for j in np.argsort(-shares, kind="stable") if shares[j] >= MIN_SWATCH][:SWATCHES]
    if not order:
        return ""
    total = float(sum(shares[j] for j in order))
    spans = "".join(f'<span style="width:{100 * shares[j] / total:.1f}%;background:{hexes[content.COLOUR_NAMES[j]]}" '
                    f'title="{content.COLOUR_NAMES[j]} {100 * shares[j]:.0f}%"></span>' for j in order)
    names = ", ".join(f"{content.COLOUR_NAMES[j]} {100 * shares[j]:.0f}%" for j in order)
    return f'<div class="swatches" role="img" aria-label="{names}">{spans}</div><p class="label">{names}</p>'


def _stats_table(rs: ReportSet, n: int) -> str:
    q = rs.quality
    rows = [("clusters", q.get("n_clusters", len(rs.hotspots))),
            ("noise share", f"{100 * float(q.get('noise_share', 0.0)):.1f}%"),
            ("silhouette (overall)", _fmt(q.get("silhouette"))),
            ("Davies-Bouldin (overall, lower is better)", _fmt(q.get("davies_bouldin")))]
    if q.get("nmi") is not None:
        rows += [("NMI with the category", _fmt(q.get("nmi"))), ("ARI with the category", _fmt(q.get("ari")))]
    rows.append(("images", n))
    body = "".join(f"<tr><td>{html.escape(str(a))}</td><td>{html.escape(str(b))}</td></tr>" for a, b in rows)
    return f'<table class="stats">{body}</table>'


def _params_table(rs: ReportSet) -> str:
    items = [("method", rs.method), ("space", rs.space)] + [(k, v) for k, v in sorted(rs.params.items())]
    body = "".join(f'<tr><td class="l">{html.escape(str(k))}</td><td class="l">{html.escape(str(v))}</td></tr>'
                   for k, v in items)
    return f'<table class="stats">{body}</table>'


def _set_section(rs: ReportSet, anchor: str, page: _Page, features, colours, terms, categories,
                 category_name) -> str:
    labels = np.asarray(rs.labels)
    n = len(labels)
    hotspots = sorted(rs.hotspots, key=lambda h: h.id)
    n_clusters = int(labels.max(initial=-1)) + 1
    names = {h.id: h.label for h in hotspots}
    per = {int(p["id"]): p for p in rs.quality.get("per_cluster", [])}
    out = [f'<section id="{anchor}"><h2>Clustering: {html.escape(rs.name)}</h2>',
           '<div class="cards" style="grid-template-columns:repeat(auto-fill,minmax(300px,1fr))">',
           f"<div><h3>Method and parameters</h3>{_params_table(rs)}</div>",
           f"<div><h3>Quality</h3>{_stats_table(rs, n)}</div></div>"]
    if rs.k_curve:
        chosen = rs.params.get("k", rs.quality.get("n_clusters"))
        label = {"silhouette": "silhouette", "dbindex": "Davies-Bouldin", "derivative": "derivative"}.get(
            str(rs.k_eval), str(rs.k_eval or "score"))
        out.append(f"<h3>Choosing k</h3><p class='muted'>The score of each number of clusters tried "
                   f"({html.escape(label)}); the dashed line marks the k used.</p>"
                   + line_chart(rs.k_curve, "number of clusters k", label, mark=chosen))
    if rs.linkage is not None:
        out.append("<h3>Dendrogram</h3><p class='muted'>The last merges of the agglomerative clustering "
                   f"(at most {DENDRO_LEAVES} leaves; a leaf in brackets holds that many images).</p>"
                   + dendrogram_svg(rs.linkage))
    bars = silhouette_bars(list(per.values()), names)
    if bars:
        out.append("<h3>Silhouette per cluster</h3><p class='muted'>Near 1: its images are much closer to each "
                   "other than to any other cluster; near 0 or below: it overlaps another.</p>" + bars)
    if categories is not None and n_clusters:
        heads, table = crosstab(labels, categories, n_clusters)
        cells = "".join(f"<th>{html.escape(_short(h, 24))}</th>" for h in heads)
        rows = []
        for c in list(range(min(n_clusters, MAX_CLUSTERS))) + [n_clusters]:
            if c == n_clusters and table[c].sum() == 0:
                continue
            name = names.get(c, f"Cluster {c + 1}") if c < n_clusters else "(no cluster)"
            rows.append(f'<tr><th class="l">{html.escape(_short(name, 40))}</th>'
                        + "".join(f"<td>{v if v else ''}</td>" for v in table[c]) + "</tr>")
        nmi = rs.quality.get("nmi")
        extra = (f" NMI {_fmt(nmi)}, ARI {_fmt(rs.quality.get('ari'))}." if nmi is not None else "")
        out.append(f"<h3>Clusters by {html.escape(category_name or 'category')}</h3><p class='muted'>Images per "
                   f"cluster and value.{extra}</p><div class='scroll'><table><tr><th></th>{cells}</tr>"
                   + "".join(rows) + "</table></div>")
    # the cluster cards
    shares = cluster_colours(labels, colours, n_clusters)
    best_terms = {}
    if terms is not None and n_clusters:
        best_terms = content.distinctive_terms(labels, terms, top=5)
    shown = hotspots[:MAX_CLUSTERS]
    out.append(f"<h3>Clusters</h3><p class='muted'>{len(hotspots)} clusters"
               + (f", the {len(shown)} largest shown" if len(shown) < len(hotspots) else "")
               + ". Typical: the images nearest the cluster's centre; least typical: the farthest.</p>")
    out.append('<div class="cards">')
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(n_clusters + 1))
    for h in shown:
        members = order[bounds[h.id]:bounds[h.id + 1]] if h.id < n_clusters else np.zeros(0, np.int64)
        space = rs.features if rs.features is not None else features
        typical, atypical = typical_members(space, members) if len(members) else (members, members)
        typical = [i for i in typical.tolist() if i != h.representative][:TYPICAL]
        sil = per.get(h.id, {}).get("silhouette")
        words = best_terms.get(h.id) or []
        out.append(f'<div class="card" id="{anchor}-c{h.id}"><h3>{html.escape(h.label)}</h3>'
                   f'<p class="label">{h.size} images · silhouette {_fmt(sil, 2)}</p>'
                   f'<div class="medoid">{page.img(h.representative)}</div>'
                   f'<p class="label">representative (medoid): {html.escape(page.title(h.representative))}</p>'
                   + _swatches(shares[h.id] if h.id < n_clusters else np.zeros(0))
                   + (f'<p class="terms">{html.escape(", ".join(words))}</p>' if words else "")
                   + '<p class="label">most typical</p><div class="strip">'
                   + "".join(page.img(i) for i in typical) + "</div>"
                   + '<p class="label">least typical</p><div class="strip">'
                   + "".join(page.img(i) for i in atypical.tolist()) + "</div></div>")
    out.append("</div></section>")
    return "".join(out)


def _duplicates_section(dups, page: _Page) -> str:
    out = ['<section id="duplicates"><h2>Near-duplicates</h2>']
    if dups is None:
        out.append("<p class='muted'>Not searched (--duplicates-threshold 0).</p></section>")
        return "".join(out)
    groups = dups.groups
    out.append(f"<p class='muted'>{len(groups)} group(s) of images whose features are nearly identical "
               f"(cosine distance at most {dups.threshold:g} in the PCA space of the CNN features; "
               f"{dups.n_images} images)"
               + (f", the {MAX_DUP_GROUPS} closest shown" if len(groups) > MAX_DUP_GROUPS else "")
               + ". Each image shows its distance to the group's first image.</p>")
    if not groups:
        out.append("<p>None found.</p>")
    out.append('<div class="dups">')
    for g, (members, dist) in enumerate(zip(groups[:MAX_DUP_GROUPS], dups.distances[:MAX_DUP_GROUPS]), start=1):
        figs = "".join(f"<figure>{page.img(int(i))}<figcaption>{html.escape(_short(page.title(int(i)), 28))}"
                       f"<br>{float(d):.3f}</figcaption></figure>"
                       for i, d in list(zip(members, dist))[:MAX_DUP_MEMBERS])
        more = (f'<p class="label">and {len(members) - MAX_DUP_MEMBERS} more</p>'
                if len(members) > MAX_DUP_MEMBERS else "")
        out.append(f'<div class="dup" id="dup-{g}"><h3>Group {g} · {len(members)} images</h3>{figs}{more}</div>')
    out.append("</div></section>")
    return "".join(out)


def render(sets: list[ReportSet], *, ids: list[str], manifest: dict, features: np.ndarray,
           colours: np.ndarray | None = None, terms=None, categories: list | None = None,
           category_name: str | None = None, titles: list | None = None, duplicates=None) -> str:
    """The report's HTML (see write_report)."""
    page = _Page(manifest, ids, titles)
    title = str(manifest.get("title") or "pixmap")
    anchors = [f"set-{j + 1}" for j in range(len(sets))]
    toc = "".join(f'<li><a href="#{a}">Clustering: {html.escape(rs.name)}</a> '
                  f'<span class="muted">({int(rs.quality.get("n_clusters", len(rs.hotspots)))} clusters)</span></li>'
                  for a, rs in zip(anchors, sets))
    toc += '<li><a href="#duplicates">Near-duplicates</a></li>'
    body = [f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="icon" href="favicon.svg" type="image/svg+xml">'
            f'<title>{html.escape(title)} · cluster report</title><style>{CSS}</style></head><body>',
            f'<header><p class="muted"><a href="index.html">&larr; back to the map</a></p>'
            f'<h1>{html.escape(title)}: cluster report</h1><p class="muted">{len(ids)} images · '
            f'{html.escape(str(manifest.get("generator", "pixmap")))} · {html.escape(str(manifest.get("created", "")))}'
            f'</p></header><nav><ul>{toc}</ul></nav>']
    for a, rs in zip(anchors, sets):
        body.append(_set_section(rs, a, page, features, colours, terms, categories, category_name))
    body.append(_duplicates_section(duplicates, page))
    body.append("</body></html>\n")
    return "".join(body)


def write_report(site_dir: Path, sets: list[ReportSet], **kwargs) -> dict:
    """Write report.html into the site folder (beside index.html); return the manifest's `report` entry.
    Keywords as render's."""
    text = render(sets, **kwargs)
    (Path(site_dir) / FILE).write_text(text, encoding="utf-8")
    return {"file": FILE}
