"""Near-duplicates (pixmap.duplicates): a copy of a demo painting, cropped and resized, planted among the 267
paintings of a real build (tests/conftest.py `planted_build`: the real model, PCA, the neighbour search) is
found with its original, and nothing else in the demo is; duplicates.csv, data/duplicates.json and the
manifest say so."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from pixmap import duplicates, neighbors
from pixmap.layouts.umap import reduce_pca
from pixmap.options import DEFAULTS, OptionError, check_options
from tests.conftest import PLANTED_FROM


@pytest.fixture(scope="module")
def planted(planted_build):
    site, art = planted_build.out_dir, planted_build.artifacts_dir
    with open(art / "images.csv", encoding="utf-8") as f:
        ids = [r["id"] for r in csv.DictReader(f)]
    manifest = json.loads((site / "data" / "manifest.json").read_text(encoding="utf-8"))
    reduced = reduce_pca(np.load(art / "features.npy"), 100, seed=0)
    return {"site": site, "artifacts": art, "ids": ids, "manifest": manifest, "reduced": reduced}


def test_the_planted_copy_and_nothing_else_is_found(planted):
    ids = planted["ids"]
    assert len(ids) == 268 and "planted-copy" in ids
    pair = sorted([ids.index(PLANTED_FROM), ids.index("planted-copy")])
    entry = planted["manifest"]["duplicates"]
    assert entry == {"file": "data/duplicates.json", "groups": 1, "images": 2,
                     "threshold": duplicates.DEFAULT_THRESHOLD}
    doc = json.loads((planted["site"] / entry["file"]).read_text(encoding="utf-8"))
    assert doc["groups"] == [pair] and doc["metric"] == "cosine"
    with open(planted["artifacts"] / "duplicates.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["group"] for r in rows] == ["1", "1"]
    assert [r["id"] for r in rows] == [ids[i] for i in pair]
    assert float(rows[0]["distance"]) == 0.0 and 0 < float(rows[1]["distance"]) <= duplicates.DEFAULT_THRESHOLD
    assert rows[1]["path"].endswith(f"{ids[pair[1]]}.jpg") and rows[0]["path"].endswith(f"{ids[pair[0]]}.jpg")


def test_the_threshold_decides_and_the_builds_graph_gives_the_same_groups(planted):
    x, ids = planted["reduced"], planted["ids"]
    graph = neighbors.knn_graph(x, 13, "cosine")          # as the build's search (UMAP's 10, 12 similar + self)
    own = duplicates.find_duplicates(x, duplicates.DEFAULT_THRESHOLD)   # a search of its own
    reused = duplicates.find_duplicates(x, duplicates.DEFAULT_THRESHOLD, graph=graph)
    assert [g.tolist() for g in own.groups] == [g.tolist() for g in reused.groups]
    assert [ids[i] for i in own.groups[0]] == sorted([PLANTED_FROM, "planted-copy"])
    # the copy is much closer to its original than any two different paintings are to each other
    d = graph[1][:, 1]
    planted_d = own.closest[0]
    others = np.delete(d, own.groups[0])
    assert planted_d < duplicates.DEFAULT_THRESHOLD < others.min()
    # a looser threshold takes in the closest different paintings too, the tightest group first
    loose = duplicates.find_duplicates(x, float(others.min()) + 1e-6, graph=graph)
    assert len(loose.groups) == 2 and loose.closest == sorted(loose.closest)
    assert [ids[i] for i in loose.groups[0]] == sorted([PLANTED_FROM, "planted-copy"])
    # 0 searches nothing; a metric other than cosine makes it search for itself
    assert duplicates.find_duplicates(x, 0, graph=graph).groups == []
    other = duplicates.find_duplicates(x, duplicates.DEFAULT_THRESHOLD, graph=graph, metric="euclidean")
    assert [g.tolist() for g in other.groups] == [g.tolist() for g in own.groups]


def test_groups_are_connected_components(planted):
    """Two vectors stepped away from the painting's, each 0.03-0.05 from the last but the second 0.16 from the
    painting: the second is joined through the first (a chain), so the group holds all four images."""
    x = planted["reduced"].astype(np.float64)
    i = planted["ids"].index(PLANTED_FROM)
    rng = np.random.default_rng(0)
    step = rng.normal(size=x.shape[1])
    step -= (step @ x[i]) / (x[i] @ x[i]) * x[i]             # at right angles to the painting's vector
    step *= 0.32 * np.linalg.norm(x[i]) / np.linalg.norm(step)
    more = np.stack([x[i] + step, x[i] + 2 * step])
    y = np.vstack([x, more]).astype(np.float32)

    def cos(a, b):
        return 1 - a @ b / np.linalg.norm(a) / np.linalg.norm(b)
    assert cos(x[i], more[0]) < duplicates.DEFAULT_THRESHOLD and cos(more[0], more[1]) < duplicates.DEFAULT_THRESHOLD
    assert cos(x[i], more[1]) > duplicates.DEFAULT_THRESHOLD
    found = duplicates.find_duplicates(y, duplicates.DEFAULT_THRESHOLD)
    assert len(found.groups) == 1
    group = found.groups[0].tolist()
    assert group == sorted(group) and set(group) == {i, planted["ids"].index("planted-copy"), len(x), len(x) + 1}
    first = group[0]
    assert np.allclose(found.distances[0], [cos(y[first], y[j]) for j in group], atol=1e-5)
    assert found.n_images == 4


def test_the_option_is_checked():
    for bad in (-0.1, 1.5, "near"):
        with pytest.raises(OptionError, match="duplicates-threshold"):
            check_options({**DEFAULTS, "duplicates_threshold": bad})
    check_options({**DEFAULTS, "duplicates_threshold": 0})
    assert DEFAULTS["duplicates_threshold"] == duplicates.DEFAULT_THRESHOLD
