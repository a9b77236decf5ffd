"""What every Colab GPU runtime takes, run on this CPU: mixed_float16 with loss scaling through
the whole training path, and the paper's width-64 U-Net predicting a patient.

A CPU emulates float16 slowly (about 28 s a batch of 32 at width 8 here), so the run is tiny.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
import warnings

import keras
import numpy as np
import pytest

from tp3 import settings, tblogs
from tp3.modelfile import read_settings
from tp3.predict import load_model
from tp3.training import SaveBestModel, TrainConfig, make_callbacks, train

pytestmark = pytest.mark.keras


def test_mixed_float16_trains_through_every_callback_and_predicts_float32(tmp_path, tiny_data):
    (x_train, y_train), (x_val, y_val) = tiny_data
    data = ((x_train[:4], y_train[:4]), (x_val[:2], y_val[:2]))
    cfg = TrainConfig(root="unused", logdir=str(tmp_path / "logs"), model_out=str(tmp_path / "f16.weights.h5"),
                      epochs=1, width=2, batch_size=2, precision="float16")
    kinds = {type(callback).__name__ for callback in make_callbacks(cfg, (x_val[:1], y_val[:1]))}
    assert {"SaveBestModel", "TensorBoardLogs", "LearningRateScheduler", "CSVLogger", "PredictionImages"} <= kinds
    history = train(cfg, data=data, progress=False)
    trained = history.model
    assert isinstance(trained.optimizer, keras.optimizers.LossScaleOptimizer)  # float16 needs loss scaling
    assert trained.layers[1].compute_dtype == "float16" and trained.get_layer("classes").compute_dtype == "float32"
    assert keras.config.dtype_policy().name == "float32"  # train() leaves the global policy as it was
    for key in ("loss", "val_loss", "dice_wt", "val_dice_tc", "val_dice_et"):
        assert np.isfinite(history.history[key]).all(), key
    assert json.loads((tmp_path / "logs" / "config.json").read_text())["precision_policy"] == "mixed_float16"
    assert set(tblogs.read_scalars(cfg.logdir)) >= {"train", "validation"}
    assert sorted(tblogs.read_images(cfg.logdir)) == [0]
    with open(tmp_path / "logs" / "training_log.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 1
    assert read_settings(cfg.model_out)["trained_in"] == "mixed_float16"

    model = load_model(cfg.model_out)
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    probabilities = model.predict(x_val[:2], verbose=0)
    assert probabilities.dtype == np.float32 and probabilities.shape == (2, 96, 96, 4)
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, atol=1e-5)


def test_save_best_model_names_a_missing_validation(tmp_path):
    """As Keras' ModelCheckpoint, a run without validation goes on, warned once (Ex 7's check explains)."""
    callback = SaveBestModel(tmp_path / "unused.weights.h5")
    with pytest.warns(UserWarning, match="monitors 'val_loss', which this run does not log .*pass validation_data"):
        callback.on_epoch_end(0, {"loss": 0.5})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        callback.on_epoch_end(1, {"loss": 0.4})
    assert not (tmp_path / "unused.weights.h5").exists()


GPU_WIDTH_PREDICTION = textwrap.dedent("""
    import resource, sys
    from tp3 import runtime, settings
    from tp3.predict import load_image, predict_volume
    from tp3.unet import build_unet

    runtime.gpu_available = lambda: True  # what the notebooks choose on a GPU runtime
    model = build_unet(runtime.default_width())
    labels = predict_volume(model, load_image(sys.argv[1], sys.argv[2]))
    print(model.count_params(), labels.shape, labels.dtype, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
""")


def test_gpu_width_unet_predicts_a_patient_within_memory(course_root):
    """Width 64 (31 M parameters), a whole patient in PREDICT_BATCH_SIZE batches, in a process of
    its own so that its peak memory is its own: well under a Colab runtime's 12.7 GB."""
    patient = sorted((course_root / "origin_data").iterdir())[0].name
    env = {key: value for key, value in os.environ.items() if key != "TP3_SMOKE"}  # the full width
    run = subprocess.run([sys.executable, "-c", GPU_WIDTH_PREDICTION, patient, str(course_root)],
                         capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    parameters, *shape, dtype, peak_kib = run.stdout.split()
    assert int(parameters) == 7574 * settings.UNET_WIDTH_GPU ** 2 + 147 * settings.UNET_WIDTH_GPU + 4
    assert " ".join(shape) == "(155, 240, 240)" and dtype == "uint8"
    assert int(peak_kib) / 2 ** 20 < 4.0, f"peak {int(peak_kib) / 2 ** 20:.1f} GiB"
