"""The kit's model file: a U-Net's weights and the settings that rebuild it (Ex 7, 9, 11).

A ``.keras`` archive stores the network's whole configuration as one Keras version serialised
it, and an older Keras 3 cannot always read it: the models of this kit saved by Keras 3.15 did
not load on Colab's Keras 3.10 or 3.13. The network of the kit is its own code
(:func:`tp3.unet.build_unet`), so what the kit saves is what every Keras 3 reads alike:
Keras' weights file (``NAME.weights.h5``, HDF5, float32 weights, no optimizer state) with,
as an attribute of its root (``tp3_unet``, JSON), the settings that rebuild the network
(width, depth, classes, input shape) and the versions that wrote it. :func:`read_settings`
shows them (or ``h5dump -a tp3_unet NAME.weights.h5``).

Ex 7, 9  :func:`save_unet` (``tp3.training.SaveBestModel``, the checkpoint of training, calls it)
Ex 11    :func:`load_unet`, :func:`load_keras_archive` (``tp3.predict.load_model`` picks one)
CLI      ``python -m tp3 convert MODEL.keras --out MODEL.weights.h5`` (:func:`convert`)
"""

from __future__ import annotations

import functools
import io
import json
import time
import zipfile
from pathlib import Path

import h5py
import keras

from .files import atomic_file
from .precision import as_float32, dtype_policy
from .unet import INPUT_SHAPE, build_unet

__all__ = ["SUFFIX", "ModelFileError", "unet_settings", "save_unet", "read_settings", "load_unet",
           "load_keras_archive", "convert"]

SUFFIX = ".weights.h5"
#: Root attribute of the HDF5 file holding the settings, and the format it follows.
ATTRIBUTE = "tp3_unet"
FORMAT = "tp3-unet/1"


class ModelFileError(ValueError):
    """A model file the kit cannot use; the message names the file and what to do."""


def unet_settings(model: keras.Model) -> dict:
    """``{width, depth, n_classes, input_shape}`` of a U-Net built by :func:`tp3.unet.build_unet`
    (read from its layers: the first convolution's filters, the number of up-convolutions,
    the head's filters). Raises :class:`ModelFileError` for another network."""
    convolutions = [layer for layer in model.layers if type(layer) is keras.layers.Conv2D]
    depth = sum(type(layer) is keras.layers.Conv2DTranspose for layer in model.layers)
    if not convolutions or depth == 0:
        raise ModelFileError(f"model {model.name!r} is not a U-Net of the kit (no Conv2D/Conv2DTranspose "
                             "layers): build it with tp3.unet.build_unet")
    return {"width": int(convolutions[0].filters), "depth": int(depth),
            "n_classes": int(convolutions[-1].filters), "input_shape": [int(n) for n in model.input_shape[1:]]}


def _rebuild(settings: dict, where) -> keras.Model:
    """The float32 U-Net that ``settings`` describe (whatever the global dtype policy)."""
    try:
        with dtype_policy("float32"):
            return build_unet(settings["width"], input_shape=tuple(settings["input_shape"]),
                              n_classes=settings["n_classes"], depth=settings["depth"])
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(f"{where}: its settings {settings} do not describe a U-Net of the kit "
                             f"({error})") from None


def _versions() -> dict:
    import tensorflow as tf

    return {"keras": keras.__version__, "tensorflow": tf.__version__}


def save_unet(model: keras.Model, path, **extra) -> Path:
    """Write ``model`` (a U-Net of :func:`tp3.unet.build_unet`, any precision) to ``path``
    (``.weights.h5``), atomically: float32 weights, the settings that rebuild it, the Keras
    and TensorFlow versions, the date, and ``extra`` (JSON-ready: epoch, val_loss...). Ex 7.

    The weights go through a float32 copy without optimizer, so the file is the same
    whatever precision trained the model, and loads on every supported Keras.
    """
    path = Path(path)
    if not path.name.endswith(SUFFIX):
        raise ModelFileError(f"{path}: the kit's model files end with {SUFFIX}")
    settings = unet_settings(model)
    copy = _rebuild(settings, path)
    copy.set_weights(model.get_weights())
    record = {"format": FORMAT, **settings, **_versions(), "saved": time.strftime("%Y-%m-%d %H:%M:%S"), **extra}
    with atomic_file(path, suffix=SUFFIX) as tmp:
        copy.save_weights(str(tmp))
        with h5py.File(tmp, "r+") as h5:
            h5.attrs[ATTRIBUTE] = json.dumps(record)
    return path


# --- Reading ---------------------------------------------------------------------------
def _layout(h5: h5py.File) -> tuple[dict | None, int]:
    """``(settings guessed from the weights, number of weight arrays)`` of a Keras weights file.

    Read from the arrays' shapes, not from the names Keras gives its groups (which change
    between versions): the input convolution is the 3x3 kernel over the input's channels, the
    head the 1x1 kernel; the depth is the one whose U-Net has exactly these arrays
    (:func:`_weight_shapes`). ``None`` when no U-Net of the kit matches. Optimizer state
    (``optimizer/``, written by some Keras versions) is not counted. Each width and depth tried
    builds a U-Net once (cached): a guess costs about a second, and only files without settings
    need one.
    """
    shapes = []
    h5.visititems(lambda name, item: shapes.append(tuple(item.shape))
                  if isinstance(item, h5py.Dataset) and not name.startswith("optimizer") else None)
    channels = INPUT_SHAPE[2]
    # At small widths deeper kernels can have as many input channels as the image: try each.
    widths = sorted({shape[3] for shape in shapes if len(shape) == 4 and shape[:3] == (3, 3, channels)})
    heads = [shape for shape in shapes if len(shape) == 4 and shape[:2] == (1, 1)]
    if len(heads) != 1:
        return None, len(shapes)
    n_classes = heads[0][3]
    for width in widths:
        for depth in range(1, 7):
            if sorted(_weight_shapes(width, depth, n_classes)) == sorted(shapes):
                return ({"width": width, "depth": depth, "n_classes": n_classes,
                         "input_shape": [*INPUT_SHAPE[:2], channels]}, len(shapes))
    return None, len(shapes)


@functools.lru_cache(maxsize=32)
def _weight_shapes(width: int, depth: int, n_classes: int) -> tuple:
    """The shapes of the weight arrays of :func:`tp3.unet.build_unet`'s U-Net with these settings."""
    try:
        model = _rebuild({"width": width, "depth": depth, "n_classes": n_classes,
                          "input_shape": list(INPUT_SHAPE)}, "a guess")
    except ModelFileError:
        return ()
    return tuple(tuple(weight.shape) for weight in model.weights)


def _inspect(path: Path) -> tuple[dict, int]:
    """``(settings, number of weight arrays)`` of a kit model file; :class:`ModelFileError` else."""
    if not h5py.is_hdf5(path):
        raise ModelFileError(f"{path}: not a weights file (no HDF5 signature: truncated or of another "
                             f"format, {path.stat().st_size} bytes)")
    try:
        with h5py.File(path, "r") as h5:
            text = h5.attrs.get(ATTRIBUTE)
            layout, arrays = _layout(h5)
    except OSError as error:
        raise ModelFileError(f"{path}: damaged weights file ({_first_line(error)})") from None
    if text is None:
        if layout is None:
            raise ModelFileError(f"{path}: a weights file without the kit's settings, and not laid out like a "
                                 "U-Net of the kit: save the model with tp3.modelfile.save_unet(model, path), "
                                 "or rebuild it with tp3.unet.build_unet(width) and call load_weights")
        return {**layout, "guessed": True}, arrays
    try:
        settings = json.loads(text)
    except ValueError:
        raise ModelFileError(f"{path}: its {ATTRIBUTE} attribute is not JSON; re-save the model with "
                             "tp3.modelfile.save_unet") from None
    if layout is not None and layout["width"] != settings.get("width"):
        raise ModelFileError(f"{path}: its settings say width {settings.get('width')} but its weights are of "
                             f"width {layout['width']}: the settings were not written with these weights; "
                             "re-save the model with tp3.modelfile.save_unet")
    return settings, arrays


def read_settings(path) -> dict:
    """The settings recorded in a kit model file (``.weights.h5``): width, depth, n_classes,
    input_shape, the Keras and TensorFlow that wrote it, and what training added (epoch,
    val_loss, trained_in). A weights file written by ``model.save_weights`` or Keras'
    ``ModelCheckpoint`` records none: its layout then gives them, with ``"guessed": True``.
    Raises :class:`ModelFileError` naming the file when it cannot be used."""
    return _inspect(Path(path))[0]


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0][:200]}" if text else type(error).__name__


def _load_weights(model: keras.Model, source, arrays: int, settings: dict, written: str) -> keras.Model:
    """``model`` given the weights of ``source``, which holds ``arrays`` weight arrays.

    The count is checked first: a Keras that laid weights out otherwise would leave some
    layers with their initial weights, and only warn.
    """
    versions = f"written by Keras {written}; this is Keras {keras.__version__}"
    if arrays != len(model.weights):
        raise ModelFileError(f"{source}: it holds {arrays} weight arrays, a U-Net of width {settings['width']} and "
                             f"depth {settings['depth']} has {len(model.weights)} ({versions}): convert it "
                             f"where Keras {written} is installed (python -m tp3 convert)")
    try:
        model.load_weights(str(source))
    except Exception as error:  # noqa: BLE001 (Keras raises ValueError, KeyError... for weights that do not fit)
        raise ModelFileError(f"{source}: its weights do not fit a U-Net of width {settings['width']}, depth "
                             f"{settings['depth']} ({versions}): {_first_line(error)}") from None
    return model


def load_unet(path) -> keras.Model:
    """The U-Net of a kit model file (``.weights.h5``), computing in float32. Ex 11.

    Rebuilt with :func:`tp3.unet.build_unet` from the recorded settings (guessed from the
    weights' layout when the file records none), then given the file's weights.
    """
    path = Path(path)
    settings, arrays = _inspect(path)
    return _load_weights(_rebuild(settings, path), path, arrays, settings,
                         settings.get("keras", "an unrecorded version"))


def _archive_parts(path: Path) -> tuple[dict, dict, int]:
    """``(config, metadata, number of layer weight arrays)`` of a ``.keras`` archive."""
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path}: not a Keras model (a .keras file is a zip archive; this one is "
                             f"truncated or of another format, {path.stat().st_size} bytes)")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            missing = {"config.json", "model.weights.h5"} - names
            if missing:
                raise ModelFileError(f"{path}: damaged Keras model (the archive lacks {', '.join(sorted(missing))})")
            config = json.loads(archive.read("config.json"))
            metadata = json.loads(archive.read("metadata.json")) if "metadata.json" in names else {}
            with h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r") as h5:
                arrays = _layout(h5)[1]
    except (zipfile.BadZipFile, ValueError, OSError) as error:
        if isinstance(error, ModelFileError):
            raise
        raise ModelFileError(f"{path}: damaged Keras model ({_first_line(error)})") from None
    return config, metadata, arrays


def _archive_unet_settings(config: dict) -> dict | None:
    """Settings of the U-Net a ``.keras`` configuration describes, or ``None`` for another network."""
    inner = config.get("config") if isinstance(config, dict) else None
    layers = inner.get("layers") if isinstance(inner, dict) else None
    if config.get("class_name") != "Functional" or not isinstance(layers, list) or not layers:
        return None
    kinds = [layer.get("class_name") for layer in layers]
    convolutions = [layer["config"] for layer in layers if layer.get("class_name") == "Conv2D"]
    shape = layers[0].get("config", {}).get("batch_shape") or layers[0].get("config", {}).get("batch_input_shape")
    if kinds[0] != "InputLayer" or not convolutions or "Conv2DTranspose" not in kinds or not shape or len(shape) != 4:
        return None
    return {"width": int(convolutions[0]["filters"]), "depth": kinds.count("Conv2DTranspose"),
            "n_classes": int(convolutions[-1]["filters"]), "input_shape": [int(n) for n in shape[1:]],
            "layers": kinds}


def load_keras_archive(path) -> keras.Model:
    """A U-Net from a ``.keras`` archive, computing in float32, on any Keras 3. Ex 11.

    When the archive describes a U-Net of the kit, the network is rebuilt from the kit's code
    and given the archive's weights, so an archive from a newer Keras loads too; any other
    network goes through ``keras.saving.load_model`` and must map ``(B, 96, 96, 4)`` images
    to ``(B, 96, 96, 4)`` class probabilities.
    """
    return _load_archive(Path(path), *_archive_parts(Path(path)))


def _load_archive(path: Path, config: dict, metadata: dict, arrays: int) -> keras.Model:
    written = metadata.get("keras_version", "an unrecorded version")
    settings = _archive_unet_settings(config)
    if settings is not None:
        model = _rebuild(settings, path)
        if [type(layer).__name__ for layer in model.layers] == settings["layers"]:
            return _load_weights(model, path, arrays, settings, written)
    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as error:  # noqa: BLE001 (Keras raises many kinds for a model it cannot rebuild)
        raise ModelFileError(
            f"{path}: written by Keras {written}, which this Keras ({keras.__version__}) cannot read, and not a "
            f"U-Net of the kit that could be rebuilt ({_first_line(error)}); load it where Keras {written} is "
            "installed and save it with tp3.modelfile.save_unet") from None
    expected = (None, *INPUT_SHAPE)
    if tuple(model.input_shape) != expected or tuple(model.output_shape) != expected:
        raise ModelFileError(f"{path}: not a U-Net for the course (input {model.input_shape}, output "
                             f"{model.output_shape}; expected {expected} -> {expected})")
    return as_float32(model)


def convert(source, out, overwrite: bool = False) -> Path:
    """Write the kit model file ``out`` (``.weights.h5``) for the U-Net in ``source``: a
    ``.keras`` archive (of any Keras 3), or a weights file without the kit's settings
    (``model.save_weights``, Keras' ``ModelCheckpoint``). ``source`` is only read; an
    existing ``out`` is kept unless ``overwrite``. Returns ``out``."""
    source, out = Path(source), Path(out)
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such model")
    if not out.name.endswith(SUFFIX):
        raise ModelFileError(f"{out}: the kit's model files end with {SUFFIX}")
    if out.exists() and out.resolve() == source.resolve():
        raise ModelFileError(f"{out}: refusing to write over the model being converted")
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass --force (overwrite=True) to replace it")
    origin = {"file": source.name}
    if source.name.endswith(".keras"):
        parts = _archive_parts(source)  # read once: the model and the version that wrote it
        model = _load_archive(source, *parts)
        origin["keras"] = parts[1].get("keras_version")
    else:
        model = load_unet(source)
    return save_unet(model, out, converted_from=origin)
