"""pixmap: build a static WebGL map of an image collection.

    import pixmap
    result = pixmap.build(images="~/paintings", metadata="paintings.csv", out_dir="paintings-map")
"""
__version__ = "0.1.0"

__all__ = ["build", "BuildResult", "__version__"]


def __getattr__(name):
    # Imported lazily so `import pixmap` (and `pixmap --help`) stays fast.
    if name in ("build", "BuildResult"):
        from . import pipeline as _build
        return getattr(_build, name)
    raise AttributeError(name)
