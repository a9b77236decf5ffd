"""Training: a tiny run learns, is reproducible, and writes its logs, images and config."""

from __future__ import annotations

import csv
import json

import keras
import numpy as np
import pytest

from tp3 import tblogs
from tp3.cli import main
from tp3.train import RegionDice, TrainConfig, train


def _run(tmp_path, tiny_data, name, epochs=3, augment=False):
    cfg = TrainConfig(root="unused", logdir=str(tmp_path / name), model_out=str(tmp_path / f"{name}.keras"),
                      epochs=epochs, width=4, batch_size=16, augment=augment, learning_rate=3e-3)
    return cfg, train(cfg, data=tiny_data, progress=False).history


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, tiny_data):
    return _run(tmp_path_factory.mktemp("run"), tiny_data, "first", epochs=4)


def test_loss_decreases(first_run):
    _, history = first_run
    assert history["loss"][-1] < 0.8 * history["loss"][0]
    for key in ("accuracy", "dice_wt", "dice_tc", "dice_et", "val_loss", "val_dice_wt"):
        assert len(history[key]) == 4


def test_same_seed_same_loss_curve(tmp_path, tiny_data):
    _, a = _run(tmp_path, tiny_data, "a", epochs=2, augment=True)
    _, b = _run(tmp_path, tiny_data, "b", epochs=2, augment=True)
    np.testing.assert_array_equal(a["loss"], b["loss"])


def test_logs_images_config_checkpoint(first_run):
    cfg, history = first_run
    scalars = tblogs.read_scalars(cfg.logdir)
    assert set(scalars) >= {"train", "validation"}
    steps, values = scalars["train"]["epoch_loss"]
    np.testing.assert_allclose(values, history["loss"], rtol=1e-5)
    images = tblogs.read_images(cfg.logdir)
    assert sorted(images) == [0, 1, 2, 3]
    panel = images[3][0]
    assert panel.shape == (96, 288, 3) and panel.dtype == np.uint8
    with open(f"{cfg.logdir}/training_log.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 4
    saved = json.loads(open(f"{cfg.logdir}/config.json").read())
    assert TrainConfig.load(f"{cfg.logdir}/config.json") == cfg
    assert saved["replay"].startswith("python -m tp3 train --config")
    model = keras.saving.load_model(cfg.model_out)
    assert model.count_params() == 7574 * 16 + 147 * 4 + 4


def test_region_dice_counts():
    metric = RegionDice("TC")
    truth = np.eye(4, dtype=np.float32)[np.array([[0, 1, 3, 2]])]
    guess = np.eye(4, dtype=np.float32)[np.array([[0, 3, 2, 1]])]
    metric.update_state(truth, guess)
    # TC = classes {1, 3}: truth at pixels 1, 2; guess at pixels 1, 3 -> TP 1, FP 1, FN 1
    assert float(metric.result()) == pytest.approx(0.5)


def test_train_command_needs_its_folders(capsys):
    assert main(["train", "--epochs", "1"]) == 1
    assert "--logdir and --model-out" in capsys.readouterr().err
    assert main(["train", "--logdir", "x", "--model-out", "model.h5"]) == 1
    assert ".keras" in capsys.readouterr().err


def test_config_replay_with_overrides(first_run):
    from tp3.cli import build_parser, training_config

    cfg, _ = first_run
    replay = training_config(build_parser().parse_args(["train", "--config", f"{cfg.logdir}/config.json"]))
    assert replay == cfg
    changed = training_config(build_parser().parse_args(
        ["train", "--config", f"{cfg.logdir}/config.json", "--epochs", "7", "--augment"]))
    assert (changed.epochs, changed.augment, changed.width) == (7, True, cfg.width)
