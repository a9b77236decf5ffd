"""The kit's model file: what training saves and the kit ships loads on every supported Keras,
and every bad model file gets one line naming it and what to do."""

from __future__ import annotations

import json
import zipfile

import h5py
import keras
import numpy as np
import pytest

from tp3.modelfile import ATTRIBUTE, ModelFileError, convert, load_unet, read_settings, save_unet
from tp3.predict import load_model
from tp3.layout import REPO_ROOT
from tp3.precision import dtype_policy
from tp3.unet import build_unet

pytestmark = pytest.mark.keras

#: Shipped model -> (width, Keras that wrote the probabilities of tests/data/shipped_model_predictions.npz).
SHIPPED = {"pretrained": (16, "3.15.1"), "augmentation": (4, "3.15.1"), "no_augmentation": (4, "3.15.1")}


def probe_input() -> np.ndarray:
    """One smooth random ``(1, 96, 96, 4)`` slice: blobs the networks react to."""
    from scipy.ndimage import gaussian_filter

    x = np.random.default_rng(2020).normal(size=(1, 96, 96, 4)).astype(np.float32)
    return gaussian_filter(x, sigma=(0, 3, 3, 0)) * 3


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_models_predict_what_keras_3_15_predicted(name):
    """``tests/data/shipped_model_predictions.npz`` holds the probabilities of
    :func:`probe_input`, stored as float16, given by Keras 3.15.1 itself: for Ex 10's two
    checkpoints, by their original ``.keras`` archives (commit 84109ce; ``augmentation`` was
    ``models/pretrained.keras`` then); for ``pretrained`` (width 16, issue 23), by the
    ``.weights.h5`` that its training wrote. Every stack of the matrix must give them from the shipped ``.weights.h5``."""
    expected = np.load(REPO_ROOT / "tests" / "data" / "shipped_model_predictions.npz")[name].astype(np.float32)
    model = load_model(REPO_ROOT / "models" / f"{name}.weights.h5")
    settings = read_settings(REPO_ROOT / "models" / f"{name}.weights.h5")
    assert (settings["width"], settings["depth"], settings["keras"]) == (SHIPPED[name][0], 4, SHIPPED[name][1])
    probabilities = model.predict(probe_input(), verbose=0)
    np.testing.assert_allclose(probabilities, expected, atol=2e-3)


def test_save_and_load_round_trip_in_any_precision(tmp_path):
    with dtype_policy("mixed_bfloat16"):
        mixed = build_unet(2)
    path = save_unet(mixed, tmp_path / "m.weights.h5", epoch=3)
    settings = read_settings(path)
    assert {key: settings[key] for key in ("format", "width", "depth", "n_classes", "input_shape", "epoch")} == \
        {"format": "tp3-unet/1", "width": 2, "depth": 4, "n_classes": 4, "input_shape": [96, 96, 4], "epoch": 3}
    assert settings["keras"] == keras.__version__
    loaded = load_model(path)
    assert {layer.dtype_policy.name for layer in loaded.layers} == {"float32"}
    assert all(np.array_equal(a, b) for a, b in zip(loaded.get_weights(), mixed.get_weights()))
    assert not list(tmp_path.glob(".*"))  # the temporary file of the atomic write is gone


def test_a_keras_archive_of_the_kit_loads_and_converts(tmp_path):
    model = build_unet(2)
    archive = tmp_path / "m.keras"
    model.save(archive)
    before = archive.read_bytes()
    out = convert(archive, tmp_path / "m.weights.h5")
    assert archive.read_bytes() == before  # the source is only read
    assert read_settings(out)["converted_from"] == {"file": "m.keras", "keras": keras.__version__}
    for loaded in (load_model(archive), load_model(out)):
        assert all(np.array_equal(a, b) for a, b in zip(loaded.get_weights(), model.get_weights()))
    with pytest.raises(FileExistsError, match="m.weights.h5 exists; pass --force"):
        convert(archive, out)
    convert(archive, out, overwrite=True)


def test_a_keras_archive_from_another_keras_is_rebuilt(tmp_path):
    """What Colab's Keras meets: an archive whose configuration it cannot read (here: a layer
    option from the future). A U-Net of the kit is rebuilt from the kit's code instead."""
    model = build_unet(2)
    archive = tmp_path / "future.keras"
    model.save(archive)
    edited = tmp_path / "edited.keras"
    with zipfile.ZipFile(archive) as source, zipfile.ZipFile(edited, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "config.json":
                config = json.loads(data)
                config["config"]["layers"][1]["config"]["option_of_keras_9"] = True
                data = json.dumps(config).encode()
            if item.filename == "metadata.json":
                data = json.dumps({"keras_version": "9.0.0"}).encode()
            target.writestr(item, data)
    with pytest.raises(Exception):
        keras.saving.load_model(edited, compile=False)
    loaded = load_model(edited)
    assert all(np.array_equal(a, b) for a, b in zip(loaded.get_weights(), model.get_weights()))


def test_weights_saved_by_keras_itself_load(tmp_path):
    """Keras' ModelCheckpoint(save_weights_only=True) or model.save_weights: no settings, the
    layout tells them."""
    model = build_unet(3)
    model.save_weights(tmp_path / "plain.weights.h5")
    settings = read_settings(tmp_path / "plain.weights.h5")
    assert (settings["width"], settings["depth"], settings["guessed"]) == (3, 4, True)
    loaded = load_model(tmp_path / "plain.weights.h5")
    assert all(np.array_equal(a, b) for a, b in zip(loaded.get_weights(), model.get_weights()))


def _small_network():
    inputs = keras.Input((28, 28, 1))
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(inputs)))


def test_bad_model_files_name_the_file_and_the_fix(tmp_path):
    other = _small_network()
    other.save(tmp_path / "mnist.keras")
    with pytest.raises(ModelFileError, match=r"mnist.keras: not a U-Net for the course \(input \(None, 28, 28, 1\)"):
        load_model(tmp_path / "mnist.keras")
    other.save_weights(tmp_path / "mnist.weights.h5")
    with pytest.raises(ModelFileError, match="mnist.weights.h5: a weights file without the kit's settings, and not "
                                             "laid out like a U-Net of the kit: save the model with"):
        load_model(tmp_path / "mnist.weights.h5")

    path = save_unet(build_unet(2), tmp_path / "w2.weights.h5")
    with h5py.File(path, "r+") as h5:  # settings that do not belong to these weights
        h5.attrs[ATTRIBUTE] = json.dumps({**json.loads(h5.attrs[ATTRIBUTE]), "width": 4})
    with pytest.raises(ModelFileError, match="w2.weights.h5: its settings say width 4 but its weights are of width 2"):
        load_model(path)

    path = save_unet(build_unet(2), tmp_path / "future.weights.h5")
    with h5py.File(path, "r+") as h5:  # a Keras of the future that lays weights out otherwise
        h5.attrs[ATTRIBUTE] = json.dumps({**json.loads(h5.attrs[ATTRIBUTE]), "keras": "9.0.0"})
        del h5["layers/conv2d_5/vars/1"]
    with pytest.raises(ModelFileError, match=r"future.weights.h5: it holds 45 weight arrays, a U-Net of width 2 "
                                             r"and depth 4 has 46 \(written by Keras 9.0.0; this is Keras .*\): "
                                             r"convert it where Keras 9.0.0 is installed"):
        load_unet(path)
    with h5py.File(path, "r+") as h5:  # as many arrays, one of another shape
        h5["layers/conv2d_5/vars"].create_dataset("1", data=np.zeros(7, np.float32))
    with pytest.raises(ModelFileError, match=r"future.weights.h5: its weights do not fit a U-Net of width 2, "
                                             r"depth 4 \(written by Keras 9.0.0; this is Keras "):
        load_unet(path)

    (tmp_path / "text.weights.h5").write_text("not hdf5")
    with pytest.raises(ModelFileError, match="text.weights.h5: not a weights file"):
        load_model(tmp_path / "text.weights.h5")
    (tmp_path / "model.h5").write_text("")
    with pytest.raises(ValueError, match=r"model.h5: not a model file of the kit \(.weights.h5\)"):
        load_model(tmp_path / "model.h5")
    with pytest.raises(FileNotFoundError, match="none.weights.h5: no such model"):
        load_model(tmp_path / "none.weights.h5")


def test_convert_refuses_to_write_over_its_source(tmp_path):
    path = save_unet(build_unet(2), tmp_path / "m.weights.h5")
    before = path.read_bytes()
    with pytest.raises(ModelFileError, match="refusing to write over the model being converted"):
        convert(path, path, overwrite=True)
    assert path.read_bytes() == before
    with pytest.raises(ModelFileError, match="end with .weights.h5"):
        convert(path, tmp_path / "m.keras")


def test_convert_command(tmp_path, capsys):
    from tp3.tools.cli import main

    build_unet(2).save(tmp_path / "m.keras")
    assert main(["convert", str(tmp_path / "m.keras"), "--out", str(tmp_path / "m.weights.h5")]) == 0
    assert "U-Net width 2, depth 4" in capsys.readouterr().out
    assert main(["convert", str(tmp_path / "m.keras"), "--out", str(tmp_path / "m.weights.h5")]) == 1
    assert "exists; pass --force" in capsys.readouterr().err
