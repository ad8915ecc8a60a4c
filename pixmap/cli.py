"""The `pixmap` command: a thin layer over pixmap.build and pixmap.serve."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from . import __version__
from .models import DEFAULT_MODEL, MODEL_NAMES  # light: TensorFlow is imported only to load a model



def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s %(message)s",
                        stream=sys.stderr)
    for noisy in ("numba", "tensorflow", "absl", "h5py", "PIL", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def build_options(f):
    """The options shared by `build` and `demo`."""
    opts = [
        click.option("--model", type=click.Choice(MODEL_NAMES), default=DEFAULT_MODEL, show_default=True,
                     help="CNN that turns each image into a feature vector. efficientnet-lite0 works offline; "
                          "inception_v3 (PixPlot's) and resnet50 download ImageNet weights unless --weights is given."),
        click.option("--weights", type=click.Path(exists=True, dir_okay=False), default=None,
                     help="Weights file for the model (Keras .weights.h5/.keras, or .pth for efficientnet-lite0), "
                          "for offline use of inception_v3/resnet50 or your own fine-tuned weights."),
        click.option("--batch-size", type=click.IntRange(1, 4096), default=32, show_default=True,
                     help="Images per model call."),
        click.option("--backend", type=click.Choice(["auto", "keras", "litert"]), default="auto", show_default=True,
                     help="How the model runs. litert: a TFLite conversion of the model (made once with TensorFlow, "
                          "cached, checked against Keras), fast to start and ~1 GB lighter; keras: TensorFlow itself; "
                          "auto: litert when its features match Keras', else keras."),
        click.option("--precision", type=click.Choice(["float32", "fast"]), default="float32", show_default=True,
                     help="Model arithmetic. fast: fp16 where the CPU has it (about 2x; a few percent of the "
                          "neighbours change), else float32 with a note."),
        click.option("--n-neighbors", default="10", show_default=True,
                     help="UMAP: neighbourhood size; larger keeps more global structure. A list such as 5,15,50 "
                          "also builds those variants, aligned, for the viewer's slider (the first is the main map)."),
        click.option("--min-dist", default="0.0", show_default=True,
                     help="UMAP: how tightly similar images are packed (0 = tight clumps); a list such as "
                          "0.01,0.1 also builds variants."),
        click.option("--layouts", default="auto", show_default=True,
                     help="Comma-separated layouts to build: umap, umap-3d, grid, umap-spread, categorical, date, "
                          "geographic, alphabetic, custom, umap-supervised. 'auto' builds every one the metadata "
                          "allows (categorical needs --group-by's column, date a year/date column, geographic "
                          "lat/lng, custom x/y(/z))."),
        click.option("--group-by", default="category", show_default=True,
                     help="Metadata column whose values make the blocks of the categorical layout."),
        click.option("--sort-by", default=None,
                     help="Metadata column the alphabetic layout sorts by [default: title, else filename]."),
        click.option("--supervised", is_flag=True,
                     help="Also build a supervised UMAP that pulls images with the same `label` column together."),
        click.option("--metric", default="cosine", show_default=True,
                     help="Distance between feature vectors for UMAP (cosine, euclidean, ...)."),
        click.option("--min-cluster-size", type=click.IntRange(2, None), default=None,
                     help="HDBSCAN: smallest hotspot, in images [default: about 1% of the collection, at least 5]."),
        click.option("--max-clusters", type=click.IntRange(1, 1000), default=20, show_default=True,
                     help="Most hotspots to keep (the largest)."),
        click.option("--cluster-method", default="hdbscan", show_default=True,
                     help="How the hotspots are found: hdbscan, kmeans, agglomerative, dbscan, spectral or "
                          "affinity (propagation); several, comma-separated (e.g. hdbscan,agglomerative), build "
                          "several hotspot sets the viewer switches between (the first is the map's own). Every "
                          "method clusters an 8-d UMAP of the --cluster-space's neighbour graph; agglomerative, "
                          "spectral and affinity cost O(n^2), so above 5,000 images they cluster a seeded sample "
                          "of 5,000 and the other images join the nearest cluster centre."),
        click.option("--cluster-eval", type=click.Choice(["silhouette", "dbindex", "derivative"]),
                     default="silhouette", show_default=True,
                     help="How kmeans, agglomerative and spectral choose their number of clusters (2 to "
                          "--max-clusters) when --n-clusters is not given: the best silhouette, the lowest "
                          "Davies-Bouldin index, or the elbow of the within-cluster dispersion (agglomerative: "
                          "of the dendrogram's merge distances)."),
        click.option("--n-clusters", type=click.IntRange(2, None), default=None,
                     help="Number of clusters for kmeans, agglomerative and spectral [default: chosen by "
                          "--cluster-eval]."),
        click.option("--linkage", type=click.Choice(["ward", "complete", "average", "single"]), default="ward",
                     show_default=True, help="Agglomerative clustering's linkage."),
        click.option("--cluster-space", type=click.Choice(["cnn", "blend", "palette", "composition", "structure"]),
                     default=None,
                     help="What the clusters group by: the model's features (cnn), the --blend space, or the "
                          "colour palette, composition or structure descriptors [default: blend with --blend, "
                          "else cnn]."),
        click.option("--hotspots", "hotspots", default=None, metavar="FILE",
                     help="Curated hotspots: the hotspots.json the viewer's Edit > Save downloads. They replace "
                          "HDBSCAN's (names, order, members and representatives kept, matched by image id; "
                          "ids no longer in the build are reported). Without this option a hotspots.json in "
                          "the --out folder is used; 'none' ignores it."),
        click.option("--cell-size", type=click.IntRange(8, 1024), default=None,
                     help="Height in pixels of each image in the atlas tiles the viewer loads as you zoom in "
                          "[default: 64]."),
        click.option("--level0-cell", type=click.IntRange(2, 1024), default=None,
                     help="Height in pixels of each image in atlas level 0, which holds every image and is "
                          "loaded first [default: as large as fits in 8 pages: 64 up to ~5,000 images, 4 at "
                          "1,000,000]; when smaller than --cell-size, tiles at --cell-size are written too."),
        click.option("--atlas-size", type=click.Choice(["1024", "2048", "4096", "8192"]), default="2048",
                     show_default=True, help="Width and height of each atlas page in pixels."),
        click.option("--thumb-size", type=click.IntRange(0, 2048), default=None,
                     help="Longest side of the per-image thumbnails shown when zoomed in; 0 for none "
                          "[default: 256 up to 100,000 images, else 0: the atlas tiles and the lightbox image "
                          "serve, and the site is ~10 KB per image smaller]."),
        click.option("--lightbox-size", type=click.IntRange(64, 8192), default=1024, show_default=True,
                     help="Longest side of the lightbox images (never upscaled)."),
        click.option("--format", "image_format", type=click.Choice(["webp", "jpeg"]), default="webp",
                     show_default=True, help="Image format of atlases, thumbnails and lightbox images: webp files are ~25% smaller, "
                          "jpeg encodes ~3x faster (worth it for big photo collections)."),
        click.option("--seed", type=int, default=0, show_default=True,
                     help="Random seed: the same images and seed give the same map."),
        click.option("--max-pixels", type=click.IntRange(1, None), default=None,
                     help="Skip images with more pixels than this, as decompression-bomb protection "
                          "[default: Pillow's limit, about 89 million]; raise it for huge scans."),
        click.option("--max-images", type=click.IntRange(1, None), default=None,
                     help="Use only the first N images (in path order): for a quick try of a big collection."),
        click.option("--sample", type=click.IntRange(1, None), default=None,
                     help="Use a random sample of N images (the same for the same --seed): a quick first look "
                          "at a huge collection that covers all of it."),
        click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
                     help="Where feature vectors are cached by image content [default: ~/.cache/pixmap]; "
                          "'none' turns the cache off."),
        click.option("--artifacts-dir", type=click.Path(file_okay=False), default=None,
                     help="Where features.npy, layouts, clusters and config.json go "
                          "[default: <out>-artifacts beside the site; not part of the site]."),
        click.option("--iiif-first-canvas-only", is_flag=True,
                     help="Map only the first image of each IIIF manifest (PixPlot's behaviour) instead of "
                          "every canvas that paints an image."),
        click.option("--language", default=None,
                     help="Preferred languages for IIIF labels and metadata, e.g. 'fr,en' [default: your "
                          "locale's, then English, then values without a language, then any]."),
        click.option("--download-workers", type=click.IntRange(1, 64), default=8, show_default=True,
                     help="IIIF images downloaded at once (the downloads overlap decoding and the model)."),
        click.option("--download-timeout", type=click.FloatRange(0.1, None), default=30.0, show_default=True,
                     help="Seconds to wait for a IIIF server's answer before trying again (4 tries, with "
                          "growing pauses, also after errors 429 and 5xx)."),
        click.option("--site-url", default=None,
                     help="Where the site will be published (e.g. https://you.github.io/map/): the IIIF "
                          "collection in iiif/ is written for that address [default: http://127.0.0.1:8000/, "
                          "where `pixmap serve` serves it]."),
        click.option("--deep-zoom", is_flag=True,
                     help="Also write static IIIF tiles of the local images, so the lightbox zooms into them "
                          "up to full resolution (IIIF images deep-zoom from their own Image API service "
                          "without this). Costs disk space: about the size of the originals as JPEG."),
        click.option("--facets", default=None,
                     help="Metadata fields offered as filters, e.g. 'artist,year,tags' [default: category, tags, "
                          "every text field with 2-50 distinct values, year and numeric fields]."),
        click.option("--search-language", type=click.Choice(["en", "fr", "de", "nl", "es", "it"]), default=None,
                     help="Language of the metadata, for the search's plural and word-form matching [default: "
                          "the first of --language that it knows, else en]."),
        click.option("--neighbors-k", type=click.IntRange(0, 100), default=12, show_default=True,
                     help="Similar images per image (nearest neighbours in the feature space), shown in the "
                          "lightbox and drawn as the similarity graph; 0 for none (~5 bytes per image each)."),
        click.option("--no-vectors", "no_vectors", is_flag=True,
                     help="Leave out the 64-byte compact feature vectors per image the site ships for the viewer's "
                          "\"recommended for you\" (loaded only when someone likes an image): a smaller site."),
        click.option("--vectors", "vectors_file", is_flag=False, flag_value="", default=None, metavar="FILE",
                     help="Your own feature vectors (e.g. CLIP embeddings), used instead of the model, which is "
                          "then not loaded: an .npy with its ids file (--vectors-ids), an .npz with 'vectors' and "
                          "'ids' arrays, or a CSV/Parquet table with an id or filename column and one column per "
                          "dimension. Rows are matched by image id or file name; rows that match no image, "
                          "duplicates, wrong lengths and NaNs are reported, and images without a vector are left out."),
        click.option("--vectors-ids", default=None, metavar="FILE",
                     help="The ids of a --vectors .npy: one image id or file name a line, line i for row i "
                          "[default: <file>.ids.txt beside it]."),
        click.option("--coords", default=None, metavar="FILE",
                     help="Your own positions, used instead of UMAP as the main layout ('Your layout'; grid, "
                          "spread and the other layouts made from it follow): a CSV/Parquet with an id or filename "
                          "column and x, y (and z: also the 3D layout), or an .npy/.npz with ids. Images without "
                          "a position are left out, with the reason."),
        click.option("--labels", default=None, metavar="FILE",
                     help="Your own clusters, used instead of the clustering: a CSV/Parquet with an id or filename "
                          "column and a 'label' column (cluster ids or names; -1 or empty: in no hotspot). Each "
                          "value becomes a hotspot named by it, represented by its medoid image."),
        click.option("--zip", "zip", is_flag=True,
                     help="Also write <out>.zip of the finished site, for sharing (a zip pixmap did not write is "
                          "never overwritten; its own earlier one only with --force)."),
        click.option("--duplicates-threshold", type=click.FloatRange(0, 1), default=0.08, show_default=True,
                     help="Near-duplicates (the same work photographed twice, crops, resized or recoloured copies): "
                          "images whose features are at most this cosine distance apart (in the PCA space) are "
                          "grouped, listed in duplicates.csv and the report, and selectable in the viewer; 0: none."),
        click.option("--report/--no-report", default=True, show_default=True,
                     help="Write report.html into the site: each clustering's parameters and quality (silhouette, "
                          "Davies-Bouldin, NMI/ARI with the category), its clusters' representative, typical and "
                          "least typical images, colours and content terms, and the near-duplicates."),
        click.option("--descriptors/--no-descriptors", default=True, show_default=True,
                     help="Colour palette, composition, structure (HOG, LBP) and scores (brightness, colourfulness, "
                          "contrast, sharpness, edge density, aspect ratio) of every image, from the pixels already "
                          "decoded: the colour, hue, composition and structure layouts, --blend, the scores as "
                          "filters. --no-descriptors saves ~1 KB and a few ms per image on a huge build."),
        click.option("--palette-colors", type=click.IntRange(1, 16), default=6, show_default=True,
                     help="Dominant colours per image in its palette (CIELAB, with their proportions)."),
        click.option("--blend", default=None, metavar="WEIGHTS",
                     help="Fuse spaces for the main map and the hotspots, e.g. cnn=1,palette=0.4,composition=0.8 "
                          "(blocks: cnn, palette, composition, structure; each standardised before it is weighted) "
                          "[default: cnn only]."),
        click.option("--dask", default=None, metavar="ADDRESS",
                     help="Run the image pass on a Dask cluster: a scheduler address (tcp://host:8786) or local:N "
                          "for N worker processes on this machine."),
        click.option("--partition-size", type=click.IntRange(1, None), default=None,
                     help="Images per Dask task [default: chosen from the collection's size and the workers]."),
        click.option("--dask-transfer", type=click.Choice(["auto", "shared", "client"]), default="auto",
                     show_default=True,
                     help="How per-image files reach the site with --dask. shared: workers write into --out (it "
                          "must be storage they all see); client: workers send them back to this machine; auto: "
                          "shared for local:N, else client."),
        click.option("--title", default=None, help="Title shown in the viewer [default: the images folder's name]."),
        click.option("--force", is_flag=True,
                     help="Replace an earlier map in --out: only the files pixmap wrote there are replaced; anything else "
                          "in the folder (a .git folder, CNAME, your own files) is kept. A folder pixmap did not "
                          "write is never touched."),
        click.option("--quiet", is_flag=True, help="No progress bars."),
        click.option("--verbose", is_flag=True, help="Debug logging."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _stop_on_sigterm() -> None:
    """`kill` (SIGTERM) ends a build like Ctrl-C does: its staging folders are removed, its cache kept."""
    import signal

    def stop(signum, frame):
        raise SystemExit(128 + signum)

    try:
        signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread (pixmap.cli called from a thread): leave it
        pass


def _run_build(images, metadata, out, **kw):
    from .pipeline import BuildError, build

    _stop_on_sigterm()

    quiet, verbose = kw.pop("quiet"), kw.pop("verbose")
    _setup_logging(verbose)
    kw["atlas_size"] = int(kw["atlas_size"])
    kw["weights"] = kw["weights"] or "default"
    if kw.get("max_pixels") is None:
        kw.pop("max_pixels", None)
    iiif = list(kw.pop("iiif", ()) or ())
    if not images and not iiif:
        raise click.UsageError("give the images with --images (a folder, glob, image file or text file of "
                               "IIIF manifest URLs) and/or IIIF manifests or collections with --iiif")
    kw["iiif_first_canvas_only"] = bool(kw.get("iiif_first_canvas_only"))
    kw["vectors"] = not kw.pop("no_vectors", False)
    kw["vectors_file"] = kw.get("vectors_file") or None   # a bare --vectors: the compact vectors, as by default
    args = dict(images=(list(images) if len(images) > 1 else images[0]) if images else None,
                iiif=iiif or None, metadata=metadata, out_dir=out,
                force=kw.pop("force"), cache_dir=kw.pop("cache_dir"), artifacts_dir=kw.pop("artifacts_dir"),
                title=kw.pop("title"), progress=not quiet)
    try:
        result = build(**args, **kw)
    except BuildError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Map of {result.n_images} images written to {result.out_dir}")
    click.echo(f"Artifacts (features, layouts, config; not for publishing): {result.artifacts_dir}")
    if result.zip_path is not None:
        click.echo(f"Zip of the site, for sharing: {result.zip_path}")
    from .sitesize import report

    click.echo(report(result.out_dir))
    if result.skipped:
        click.echo(f"{len(result.skipped)} file(s) skipped:", err=True)
        for path, reason in result.skipped:
            click.echo(f"  {path}: {reason}", err=True)
    for warning in result.warnings:
        click.echo(f"Note: {warning}", err=True)
    if result.metadata_unmatched:
        click.echo(f"{len(result.metadata_unmatched)} metadata row(s) matched no image:", err=True)
        for line, name, reason in result.metadata_unmatched[:50]:
            click.echo(f"  line {line} ({name}): {reason}", err=True)
    return result


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pixmap")
def main():
    """pixmap: build a static WebGL map of an image collection, and serve it."""


@main.command()
@click.option("--images", "-i", multiple=True,
              help="A folder of images (searched recursively), a glob such as 'photos/**/*.jpg', an image "
                   "file, or a text file of IIIF manifest/collection URLs (one a line, # comments). Repeat to "
                   "combine several.")
@click.option("--iiif", multiple=True,
              help="A IIIF manifest or collection (Presentation API 2 or 3): a URL, a JSON file, a folder of "
                   "them, or a text file of URLs. Collections are followed. Repeat to combine several; mixes "
                   "with --images.")
@click.option("--metadata", "-m", type=click.Path(exists=True, dir_okay=False), default=None,
              help="CSV, JSON or Parquet with a 'filename' column (relative path or unique basename) and any other "
                   "columns: category, tags (a|b), description, permalink, year, label, lat, lng have meaning. "
                   "Parquet needs pandas and pyarrow.")
@click.option("--out", "-o", type=click.Path(file_okay=True), default="pixmap-map", show_default=True,
              help="Output folder: the website. Must be new or empty, or an earlier map with --force.")
@build_options
def build(images, metadata, out, **kw):
    """Build the map website of a collection of images."""
    _run_build(images, metadata, out, **kw)
    click.echo(f"View it with:  pixmap serve {out}")


@main.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False), default="pixmap-map")
@click.option("--port", "-p", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port to listen on (0 picks a free one).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 makes the map visible to other machines on your network.")
@click.option("--open", "open_browser", is_flag=True, help="Open the map in the web browser.")
def serve(folder, port, host, open_browser):
    """Serve a built map folder over HTTP (Ctrl-C to stop)."""
    from .serve import serve as run

    try:
        run(Path(folder), host=host, port=port, open_browser=open_browser)
    except (OSError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@click.argument("site", type=click.Path(exists=True, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the facts as JSON.")
def info(site, as_json):
    """Print what a built map holds: images, layouts, hotspots, sizes, pixmap and site format versions."""
    import json as jsonlib

    from .info import InfoError, describe, text

    try:
        facts = describe(site)
    except InfoError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(jsonlib.dumps(facts, indent=1, ensure_ascii=False) if as_json else text(facts))


@main.command("publish-gh-pages")
@click.argument("site", type=click.Path(exists=True, file_okay=False))
@click.option("--repo", required=True,
              help="Without --push: the folder of your repository (a clone), where the site is copied and the "
                   "workflow written. With --push: the repository to push to (a URL or a path).")
@click.option("--folder", default="site", show_default=True,
              help="The folder of the repository the site is copied into, which the workflow publishes.")
@click.option("--branch", default=None,
              help="Without --push: the branch whose pushes publish [default: main]. With --push: the branch "
                   "pushed to [default: gh-pages].")
@click.option("--push", is_flag=True,
              help="Commit the site and push it to the gh-pages branch with git instead of writing a workflow.")
@click.option("--force", is_flag=True,
              help="Replace an existing .github/workflows/pages.yml, or a --folder that holds other files.")
def publish_gh_pages(site, repo, folder, branch, push, force):
    """Put a built map on GitHub Pages: a ready GitHub Actions workflow, or a push to gh-pages."""
    from .ghpages import PublishError, push_branch, write_workflow
    from .sitesize import pages_report

    click.echo(pages_report(Path(site)).lstrip())
    try:
        if push:
            done = push_branch(site, repo, branch=branch or "gh-pages")
            click.echo(f"Pushed {done['files']} files to branch {done['branch']} of {done['remote']} "
                       f"(commit {done['commit'][:10]}).")
            click.echo("On GitHub: Settings > Pages > Source: Deploy from a branch, "
                       f"{done['branch']}, / (root).")
        else:
            done = write_workflow(site, repo, folder=folder, branch=branch or "main", force=force)
            click.echo(f"Copied {done['files']} files into {done['folder']} and wrote {done['workflow']}.")
            click.echo("Next: commit both and push; on GitHub: Settings > Pages > Source: GitHub Actions.")
    except PublishError as exc:
        raise click.ClickException(str(exc)) from None


def demo_collection() -> Path:
    """The bundled demo collection (the repository's datasets/, installed as pixmap/datasets)."""
    from .site import package_data_folder

    path = package_data_folder("datasets", "aic-paintings/metadata.csv")
    if path is None:
        raise click.ClickException("the demo collection is missing from this installation; reinstall pixmap")
    return path / "aic-paintings"


@main.command()
@click.option("--out", "-o", type=click.Path(), default="pixmap-demo", show_default=True,
              help="Where to write the demo map.")
@click.option("--rebuild", is_flag=True, help="Build again even if --out already holds the demo map.")
@click.option("--no-serve", is_flag=True, help="Only build; do not start the server.")
@click.option("--port", "-p", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port to serve on.")
@click.option("--open", "open_browser", is_flag=True, help="Open the map in the web browser.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def demo(out, rebuild, no_serve, port, open_browser, quiet):
    """Build the bundled demo (267 public-domain paintings, fully offline) and serve it."""
    from .output import SITE_MARKER as MARKER

    folder = demo_collection()
    out_path = Path(out)
    if (out_path / MARKER).exists() and not rebuild:
        click.echo(f"{out} already holds a map; serving it (--rebuild builds it again)")
    else:
        _setup_logging(False)
        _stop_on_sigterm()
        from .pipeline import BuildError, build as run_build

        try:
            result = run_build(images=folder, metadata=folder / "metadata.csv", out_dir=out_path,
                               force=rebuild, title="Paintings from the Art Institute of Chicago",
                               progress=not quiet)
        except BuildError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"Demo map of {result.n_images} paintings written to {result.out_dir}")
    if not no_serve:
        from .serve import serve as run

        run(out_path, port=port, open_browser=open_browser)


if __name__ == "__main__":
    main()
