"""pixmap: build a static WebGL map of an image collection.

    import pixmap
    result = pixmap.build(images="~/paintings", metadata="paintings.csv", out_dir="paintings-map")
    result = pixmap.build(images=df, image_column="path", out_dir="map")   # a pandas DataFrame
    df = pixmap.load("paintings-map")   # ids, positions, hotspots, metadata as a DataFrame
    pixmap.show("paintings-map")        # inline in a notebook
"""
__version__ = "0.1.0"

__all__ = ["build", "BuildResult", "load", "show", "__version__"]


def __getattr__(name):
    # Imported lazily so `import pixmap` (and `pixmap --help`) stays fast.
    if name in ("build", "BuildResult"):
        from . import pipeline as _build
        return getattr(_build, name)
    if name == "load":   # a built map as a pandas DataFrame (pixmap.frames)
        from .frames import load
        return load
    if name == "show":   # a built map inline in a notebook (pixmap.notebook)
        from .notebook import show
        return show
    raise AttributeError(name)
