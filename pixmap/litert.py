"""The feature models run by LiteRT (TensorFlow's on-device runtime), converted once and cached.

    from pixmap import litert
    model = litert.load("efficientnet-lite0")   # first time: converts with TensorFlow (~10-40 s) and checks it
    feats = model(batch)                        # uint8 (N, 224, 224, 3) RGB -> float32 (N, 1280)

Why: importing TensorFlow and building the Keras model costs ~7 s and ~1 GB before the first feature. A
model converted to a TFLite flatbuffer once (from the BatchNorm-folded Keras model of :mod:`pixmap.models`)
is loaded by ``ai_edge_litert`` in a fraction of a second, without importing TensorFlow at all, and gives
the same features (1 - cosine ~1e-7).

The cache: ``<cache dir>/models/<model>-<key>.tflite`` and a sidecar ``.json`` beside it. The key is a
sha256 of the weights file's content, the model name, the TensorFlow, Keras and LiteRT versions, the
conversion options (precision) and :data:`FORMAT`, so new weights or new versions convert afresh. The
sidecar holds the ``.tflite``'s own sha256 (a corrupt or truncated file is detected and converted again)
and the check made once per conversion: the largest ``1 - cosine`` between these features and Keras' on a
few real photos (scikit-image's samples). Files are written to a temporary name and renamed, under a
lock, so two builds converting at once never see half a file.

Random weights (``weights=None``, tests and benchmarks) cannot be keyed by a file: they are converted in
memory for this process only, never cached (:func:`pixmap.models.load_from_options` uses Keras for them
unless the LiteRT backend is asked for explicitly).

``import pixmap.litert`` and loading a cached model import neither TensorFlow nor Keras.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import io
import json
import logging
import os
import platform
import secrets
import threading
import time
from pathlib import Path

import numpy as np

from . import models

try:
    import fcntl
except ImportError:  # not POSIX: no lock; the atomic renames still keep the files whole
    fcntl = None

__all__ = ["FORMAT", "TOLERANCE", "LiteRTError", "LiteRTModel", "load", "cache_key", "cache_folder",
           "native_fp16", "convert", "verify"]

log = logging.getLogger(__name__)

FORMAT = 1             # bump when the conversion (graph, outputs, checks) changes: old files are not reused
TOLERANCE = {"float32": 1e-5, "fast": 2e-2}   # largest 1 - cosine vs Keras accepted, per precision
N_CHECK_IMAGES = 4


THREADS = None   # the interpreter's threads (None: every core)


class LiteRTError(models.ModelError):
    """The LiteRT path cannot be used (message says why). ``keras_model``: the Keras FeatureModel loaded
    on the way, if any, so a fallback does not build it twice."""

    def __init__(self, message, keras_model=None):
        super().__init__(message)
        self.keras_model = keras_model


# ---- CPU features -----------------------------------------------------------------------------

def native_fp16() -> bool:
    """Whether this CPU does fp16 arithmetic natively (XNNPACK's fast path for ``--precision fast``).

    x86: the ``avx512fp16`` flag (Sapphire Rapids and later; ``f16c`` only converts, and ``avx512_bf16``
    is another format, so neither counts). Arm: ``asimdhp`` (Armv8.2 half-precision SIMD); every Apple
    Silicon Mac has it. ``PIXMAP_NATIVE_FP16=1``/``0`` overrides the detection (benchmarks, tests)."""
    forced = os.environ.get("PIXMAP_NATIVE_FP16")
    if forced in ("0", "1"):
        return forced == "1"
    machine = platform.machine().lower()
    if platform.system() == "Darwin":
        return machine in ("arm64", "aarch64")
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return False
    words = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            words.update(value.split())
    return "avx512fp16" in words or "asimdhp" in words


# ---- cache key and files ----------------------------------------------------------------------

def _version(*dists) -> str:
    for dist in dists:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "none"


def versions() -> dict:
    """The versions a conversion depends on, read without importing TensorFlow."""
    return {"tensorflow": _version("tensorflow", "tensorflow-cpu", "tf-nightly"),
            "keras": _version("keras"), "ai-edge-litert": _version("ai-edge-litert", "ai-edge-litert-nightly"),
            "format": FORMAT}


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def cache_key(name: str, weights_path, precision: str = "float32") -> str:
    """sha256 (hex) of the weights file's content + model name + versions + options + FORMAT."""
    parts = {"model": name, "weights_sha256": file_sha256(weights_path), "precision": precision, **versions()}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def cache_folder(cache_dir=None) -> Path:
    """Where converted models live: ``<cache_dir>/models`` (default: the user's pixmap cache folder)."""
    if cache_dir is None:
        from .features import default_cache_dir
        cache_dir = default_cache_dir()
    return Path(cache_dir) / "models"


def _paths(folder: Path, name: str, key: str):
    stem = f"{name}-{key[:24]}"
    return folder / f"{stem}.tflite", folder / f"{stem}.json"


def _read_sidecar(tfl: Path, side: Path):
    """The sidecar's record when it is there and the .tflite's bytes match it; else None (with why)."""
    if not tfl.is_file() or not side.is_file():
        return None, "not converted yet"
    try:
        record = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        return None, f"unreadable {side.name} ({e})"
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        return None, f"{side.name} is of another format"
    try:
        digest = file_sha256(tfl)
    except OSError as e:
        return None, f"cannot read {tfl} ({e.strerror or e})"
    if digest != record.get("tflite_sha256"):
        return None, f"{tfl} is corrupt or truncated (its sha256 does not match {side.name})"
    return record, ""


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


@contextlib.contextmanager
def _locked(folder: Path, stem: str):
    """One converter per model at a time (others wait, then find its files)."""
    if fcntl is None:
        yield
        return
    with open(folder / f".{stem}.lock", "a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# ---- conversion (TensorFlow) -----------------------------------------------------------------

def convert(model: "models.FeatureModel", precision: str = "float32") -> bytes:
    """The TFLite flatbuffer of a loaded Keras :class:`~pixmap.models.FeatureModel` (imports TensorFlow).

    Input: float32 (N, S, S, 3) RGB 0..255 with a free batch dimension; the model's preprocessing and its
    BatchNorm-folded network inside. Outputs: the features, and for Lite0 also the class probabilities
    (softmax in the graph). ``precision="fast"``: fp16 weights with fp16 accumulation allowed (the
    model says XNNPACK may compute in fp16 where the CPU has it). Built with ``from_keras_model`` (a
    concrete function of an unfrozen Keras 3 model converts to a file without weights)."""
    tf, keras = models._import_tf()
    S = model.input_size
    inp = keras.Input((S, S, 3), name="images")
    x = model._preprocess(inp) if model._preprocess is not None else inp
    out = model.run_model(x)
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    outs = [outs[0], keras.layers.Softmax(name="probabilities")(outs[1])] if model.has_classifier else outs[:1]
    graph = keras.Model(inp, outs, name=f"{model.name.replace('-', '_')}_litert")
    converter = tf.lite.TFLiteConverter.from_keras_model(graph)
    if precision == "fast":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
        converter.target_spec._experimental_supported_accumulation_type = tf.float16
    try:
        with contextlib.redirect_stdout(io.StringIO()):   # the SavedModel export prints its signature
            buf = converter.convert()
    except Exception as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise LiteRTError(f"TensorFlow could not convert {model.name} to LiteRT: {msg[:300]}",
                          keras_model=model) from e
    if len(buf) < 1_000_000:   # far smaller than the weights: a conversion that lost them
        raise LiteRTError(f"the LiteRT conversion of {model.name} is only {len(buf)} bytes (no weights)",
                          keras_model=model)
    return bytes(buf)


def check_images(size: int) -> np.ndarray:
    """A few real photos (scikit-image's samples, installed with pixmap) as uint8 (N, size, size, 3)."""
    from PIL import Image
    from skimage import data

    photos = [data.chelsea(), data.coffee(), data.astronaut()]
    photos.append(photos[0][:, ::-1][:, : photos[0].shape[1] // 2])   # a mirrored crop
    return np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(p[..., :3])).resize(
        (size, size), Image.BILINEAR)) for p in photos[:N_CHECK_IMAGES]])


def _one_minus_cos(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    cos = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-30)
    return float(np.max(1 - cos))


def verify(runner: "LiteRTModel", keras_model: "models.FeatureModel") -> dict:
    """Features (and Lite0's probabilities) of the runner vs Keras on :func:`check_images`."""
    x = check_images(runner.input_size)
    result = {"images": len(x), "max_1_minus_cos": _one_minus_cos(runner(x), keras_model(x))}
    if runner.has_classifier:
        result["max_prob_diff"] = float(np.abs(runner.classify(x) - keras_model.classify(x)).max())
    return result


# ---- the runner -------------------------------------------------------------------------------

class LiteRTModel:
    """A converted model run by ``ai_edge_litert``: the interface of :class:`pixmap.models.FeatureModel`.

    ``model(batch)`` -> float32 (N, dim) features; ``classify(batch)`` -> (N, 1000) probabilities (Lite0).
    Attributes: name, input_size, dim, batch_size, weights, has_classifier, backend ("litert"), precision,
    path (the cached .tflite, None when converted in memory), check (the verification record). One call
    runs at a time (a lock); the interpreter itself uses ``num_threads`` cores (default: all)."""

    backend = "litert"

    def __init__(self, name, content=None, *, path=None, weights=None, batch_size=32, precision="float32",
                 check=None, num_threads=None):
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as e:
            raise LiteRTError(f"LiteRT is not installed ({e}): pip install ai-edge-litert") from e
        self.name = name
        self.input_size = models.input_size(name)
        self.dim = models._DIMS[name]
        self.batch_size = int(batch_size)
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.weights = weights
        self.precision = precision
        self.path = str(path) if path is not None else None
        self.check = check or {}
        self.num_threads = int(num_threads or THREADS or os.cpu_count() or 1)
        try:
            if path is not None:
                self._interp = Interpreter(model_path=str(path), num_threads=self.num_threads)
            else:
                self._interp = Interpreter(model_content=content, num_threads=self.num_threads)
        except Exception as e:  # a flatbuffer LiteRT cannot read
            raise LiteRTError(f"LiteRT cannot load the converted {name} model "
                              f"{self.path or '(in memory)'}: {e}") from e
        self._input = self._interp.get_input_details()[0]["index"]
        outs = {int(d["shape"][-1]): d["index"] for d in self._interp.get_output_details()}
        if self.dim not in outs:
            raise LiteRTError(f"the converted {name} model {self.path or ''} has no {self.dim}-wide output")
        self._feat_out = outs[self.dim]
        self._prob_out = outs.get(1000) if name == "efficientnet-lite0" else None
        self.has_classifier = self._prob_out is not None
        self._n = None
        self._lock = threading.Lock()

    def __repr__(self):
        return (f"LiteRTModel(name={self.name!r}, precision={self.precision!r}, path={self.path!r}, "
                f"weights={self.weights!r})")

    def _forward(self, batch: np.ndarray, out_index: int) -> np.ndarray:
        with self._lock:
            n = len(batch)
            if n != self._n:
                S = self.input_size
                self._interp.resize_tensor_input(self._input, [n, S, S, 3], strict=True)
                self._interp.allocate_tensors()
                self._n = n
            self._interp.set_tensor(self._input, batch.astype(np.float32))
            self._interp.invoke()
            return np.array(self._interp.get_tensor(out_index), np.float32)

    def _run(self, batch, out_index, width):
        batch = np.asarray(batch)
        S = self.input_size
        if batch.ndim != 4 or batch.shape[1:] != (S, S, 3):
            raise ValueError(f"{self.name} expects a batch of shape (N, {S}, {S}, 3), got {batch.shape}")
        if batch.dtype != np.uint8:
            raise ValueError(f"{self.name} expects uint8 RGB images, got dtype {batch.dtype}")
        if len(batch) == 0:
            return np.zeros((0, width), np.float32)
        bs = self.batch_size
        outs = [self._forward(batch[i:i + bs], out_index) for i in range(0, len(batch), bs)]
        return outs[0] if len(outs) == 1 else np.concatenate(outs)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """uint8 (N, S, S, 3) RGB -> float32 (N, dim) globally average-pooled features."""
        return self._run(batch, self._feat_out, self.dim)

    def classify(self, batch: np.ndarray) -> np.ndarray:
        """uint8 (N, S, S, 3) RGB -> float32 (N, 1000) ImageNet class probabilities."""
        if self._prob_out is None:
            raise models.ModelError(f"{self.name} was loaded without its classification head (features only)")
        return self._run(batch, self._prob_out, 1000)


# ---- load: cached, or converted and checked -----------------------------------------------------

def load(name: str = models.DEFAULT_MODEL, weights="default", *, batch_size: int = 32,
         precision: str = "float32", cache_dir=None, num_threads=None) -> LiteRTModel:
    """The LiteRT model for (name, weights, precision): from the cache without TensorFlow, else converted
    from the Keras model, checked against it on a few photos, and cached.

    Raises :class:`LiteRTError` when the conversion fails or its features differ from Keras' by more
    than :data:`TOLERANCE` (that result is cached too, so the next build does not try again); its
    ``keras_model`` is the Keras model loaded on the way, for a fallback."""
    name = models._canonical_name(name)
    if precision not in TOLERANCE:
        raise ValueError(f"precision must be one of {', '.join(TOLERANCE)}, not {precision!r}")
    common = dict(batch_size=batch_size, precision=precision, num_threads=num_threads)
    if weights is None:   # random initialisation: nothing to key a cache by
        keras_model = models.load_model(name, None, batch_size=batch_size)
        buf = convert(keras_model, precision)
        runner = LiteRTModel(name, buf, weights=None, **common)
        try:
            check = verify(runner, keras_model)
        except Exception as e:
            raise LiteRTError(f"cannot check the LiteRT conversion of {name}: {type(e).__name__}: {e}",
                              keras_model) from e
        return _accept(runner, check, precision, keras_model)

    keras_model = None
    path = models.weights_file(name, weights)
    if path is None:   # Keras' ImageNet file is not downloaded yet: loading the model fetches it
        keras_model = models.load_model(name, weights, batch_size=batch_size)
        path = models.weights_file(name, weights)
        if path is None:
            raise LiteRTError(f"cannot find the weights file Keras downloaded for {name}", keras_model)
    source = models.weights_source(name, weights)
    key = cache_key(name, path, precision)
    folder = cache_folder(cache_dir)
    tfl, side = _paths(folder, name, key)

    record, why = _read_sidecar(tfl, side)
    if record is None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise LiteRTError(f"cannot create the model cache folder {folder} ({e.strerror or e}); "
                              "give a writable --cache-dir", keras_model) from e
        with _locked(folder, tfl.stem):
            record, why = _read_sidecar(tfl, side)   # another build may have converted it meanwhile
            if record is None:
                if why != "not converted yet":
                    log.warning("converting %s again: %s", name, why)
                record, keras_model = _convert_and_cache(name, weights, batch_size, precision, tfl, side,
                                                         keras_model, source, path)
    if not record.get("ok"):
        raise LiteRTError(f"the LiteRT conversion of {name} ({side}) gives features that differ from Keras' "
                          f"(largest 1 - cosine {record.get('max_1_minus_cos'):.2g} > "
                          f"{TOLERANCE[precision]:g} on {record.get('images')} photos)", keras_model)
    return LiteRTModel(name, path=tfl, weights=source, check=record, **common)


def _accept(runner, check, precision, keras_model):
    if check["max_1_minus_cos"] > TOLERANCE[precision]:
        raise LiteRTError(f"the LiteRT conversion of {runner.name} gives features that differ from Keras' "
                          f"(largest 1 - cosine {check['max_1_minus_cos']:.2g} > {TOLERANCE[precision]:g})",
                          keras_model)
    runner.check = check
    return runner


def _convert_and_cache(name, weights, batch_size, precision, tfl, side, keras_model, source, path):
    """Convert, check and write (tflite first, then the sidecar that vouches for it)."""
    t0 = time.perf_counter()
    log.info("converting %s to LiteRT (once; cached in %s)", name, tfl.parent)
    if keras_model is None:
        keras_model = models.load_model(name, weights, batch_size=batch_size)
    buf = convert(keras_model, precision)
    try:
        check = verify(LiteRTModel(name, buf, weights=source, batch_size=batch_size, precision=precision),
                       keras_model)
    except LiteRTError as e:
        e.keras_model = keras_model
        raise
    except Exception as e:   # the check itself failed (photos missing, LiteRT error): not used
        raise LiteRTError(f"cannot check the LiteRT conversion of {name}: {type(e).__name__}: {e}",
                          keras_model) from e
    ok = check["max_1_minus_cos"] <= TOLERANCE[precision]
    record = {"format": FORMAT, "model": name, "weights": str(source), "weights_file": str(path),
              "precision": precision, "tflite_sha256": hashlib.sha256(buf).hexdigest(), "bytes": len(buf),
              **check, "tolerance": TOLERANCE[precision], "ok": ok, "versions": versions(),
              "seconds": round(time.perf_counter() - t0, 2),
              "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    try:
        _write_atomic(tfl, buf)
        _write_atomic(side, (json.dumps(record, indent=1) + "\n").encode())
    except OSError as e:
        raise LiteRTError(f"cannot write the converted model to {tfl} ({e.strerror or e}); "
                          "give a writable --cache-dir", keras_model) from e
    log.info("%s converted in %.1f s: largest 1 - cosine vs Keras %.2g on %d photos (%s)", name,
             record["seconds"], check["max_1_minus_cos"], check["images"], "used" if ok else "NOT used")
    return record, keras_model
