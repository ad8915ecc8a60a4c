"""The build options' checks, on their own (the build runs them before any work: test_build_guarantees)."""
import pytest

from pixmap.metadata import Metadata
from pixmap.options import DEFAULTS, METRICS, OptionError, check_columns, check_options, parse_list


def opts(**kw):
    return {**DEFAULTS, **kw}


def test_defaults_pass_and_every_metric_is_one_umap_knows():
    check_options(opts())
    import umap.distances

    assert set(METRICS) <= set(umap.distances.named_distances)


@pytest.mark.parametrize("option, value, message", [
    ("metric", "cosin", "unknown metric 'cosin'"),
    ("layouts", "umap,gird", "unknown layout(s) gird"),
    ("layouts", ",", "unknown layout"),
    ("model", "vgg", "unknown model 'vgg'"),
    ("image_format", "png", "webp or jpeg"),
    ("n_neighbors", "5,x", "comma-separated"),
    ("n_neighbors", "1", "at least 2"),
    ("min_dist", "1.5", "between 0 and 1"),
    ("cell_size", 4, "cell-size"),
    ("pca_components", 1, "pca-components"),
    ("min_cluster_size", 1, "min-cluster-size"),
    ("download_workers", 0, "download-workers"),
    ("download_timeout", 0, "download-timeout"),
    ("site_url", "you.github.io/map", "site-url must be an http"),
    ("weights", "no-such-file.h5", "weights file not found"),
])
def test_each_bad_value_is_named(option, value, message):
    with pytest.raises(OptionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_options(opts(**{option: value}))


def test_columns_named_by_options_must_exist():
    meta = Metadata(fields=["Title", "school"], rows=[], unmatched=[])
    check_columns(opts(group_by="School", sort_by="title"), meta)   # any letter case
    check_columns(opts(), None)                                    # the default group-by may be missing
    with pytest.raises(OptionError, match="--group-by schol: no such metadata column .*school"):
        check_columns(opts(group_by="schol"), meta)
    with pytest.raises(OptionError, match="--sort-by"):
        check_columns(opts(sort_by="date"), None)
    with pytest.raises(OptionError, match="--supervised needs a 'label'"):
        check_columns(opts(supervised=True), meta)


def test_parse_list():
    assert parse_list("5, 15,50", int) == [5, 15, 50]
    assert parse_list(0.1) == [0.1] and parse_list([2, "3"], int) == [2, 3]
