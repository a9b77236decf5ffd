"""Training: a tiny run learns, is reproducible, and writes its logs, images and config."""

from __future__ import annotations

import csv
import dataclasses
import json

import keras
import numpy as np
import pytest

from tp3 import tblogs
from tp3.tools.cli import main
from tp3.metrics import RegionDice
from tp3.modelfile import read_settings
from tp3.predict import load_model
from tp3.training import TrainConfig, train

pytestmark = pytest.mark.keras


def _run(tmp_path, tiny_data, name, epochs=3, augment=False):
    cfg = TrainConfig(root="unused", logdir=str(tmp_path / name), model_out=str(tmp_path / f"{name}.weights.h5"),
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


def test_callbacks_serve_a_second_fit(tmp_path, tiny_data):
    """A student reruns the fit cell without rebuilding the callbacks: the writers reopen."""
    from tp3 import training
    from tp3.unet import build_unet

    (x_train, y_train), (x_val, y_val) = tiny_data
    cfg = TrainConfig(root="unused", logdir=tmp_path / "twice", model_out=tmp_path / "twice.weights.h5", epochs=1, width=2)
    model = training.compile_unet(build_unet(cfg.width))
    callbacks = training.make_callbacks(cfg, (x_val[:2], y_val[:2]))
    data = training.make_dataset(x_train[:16], y_train[:16], 8, shuffle=False)
    for _ in range(2):
        model.fit(data, validation_data=data, epochs=1, callbacks=callbacks, verbose=0)
    assert len(tblogs.read_scalars(cfg.logdir)["train"]["loss"][0]) == 2


def test_same_seed_same_loss_curve(tmp_path, tiny_data):
    _, a = _run(tmp_path, tiny_data, "a", epochs=2, augment=True)
    _, b = _run(tmp_path, tiny_data, "b", epochs=2, augment=True)
    np.testing.assert_array_equal(a["loss"], b["loss"])


def test_logs_images_config_checkpoint(first_run):
    cfg, history = first_run
    scalars = tblogs.read_scalars(cfg.logdir)
    assert set(scalars) >= {"train", "validation"}
    steps, values = scalars["train"]["loss"]
    np.testing.assert_allclose(values, history["loss"], rtol=1e-5)
    images = tblogs.read_images(cfg.logdir)
    assert sorted(images) == [0, 1, 2, 3]
    grid = images[3][0]  # one image per epoch: a row per preview slice, three columns
    assert grid.ndim == 3 and grid.shape[2] == 3 and grid.dtype == np.uint8 and grid.shape[0] > grid.shape[1]
    with open(f"{cfg.logdir}/training_log.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 4
    saved = json.loads(open(f"{cfg.logdir}/config.json").read())
    assert TrainConfig.load(f"{cfg.logdir}/config.json") == cfg
    assert saved["replay"].startswith("python -m tp3 train --config")
    model = load_model(cfg.model_out)
    assert model.count_params() == 7574 * 16 + 147 * 4 + 4


def test_curves_and_predictions_without_tensorboard(first_run):
    import matplotlib

    matplotlib.use("Agg")
    cfg, _ = first_run
    fig = tblogs.plot_curves({"run": cfg.logdir})
    assert [ax.get_yscale() for ax in fig.axes] == ["log", "linear", "linear", "linear"]
    styles = {line.get_linestyle() for line in fig.axes[0].lines}
    assert styles == {"-", "--"}  # training solid, validation dashed
    fig = tblogs.show_predictions(cfg.logdir, max_epochs=2)
    assert [ax.get_title() for ax in fig.axes] == ["after epoch 1", "after epoch 4"]  # the first, then the last
    with pytest.raises(ValueError, match="logged epochs: \\[0, 1, 2, 3\\]"):
        tblogs.show_predictions(cfg.logdir, epochs=[5])


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
    assert main(["train", "--logdir", "x", "--model-out", "model.keras"]) == 1
    assert ".weights.h5" in capsys.readouterr().err


def test_config_replay_with_overrides(first_run):
    from tp3.tools.cli import build_parser, training_config

    cfg, _ = first_run
    replay = training_config(build_parser().parse_args(["train", "--config", f"{cfg.logdir}/config.json"]))
    assert replay == cfg
    changed = training_config(build_parser().parse_args(
        ["train", "--config", f"{cfg.logdir}/config.json", "--epochs", "7", "--augment"]))
    assert (changed.epochs, changed.augment, changed.width) == (7, True, cfg.width)


# --- Precision (mixed bfloat16 / float16 chosen from the hardware) --------------------

CPUINFO_BF16 = "processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16 amx_tile\n"
CPUINFO_PLAIN = "processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\n"


@pytest.mark.parametrize("gpu, cpuinfo, policy", [
    ((8, 0), CPUINFO_PLAIN, "mixed_float16"),    # tensor cores
    ((7, 0), CPUINFO_BF16, "mixed_float16"),     # a GPU wins over the CPU
    ((6, 1), CPUINFO_BF16, "float32"),           # an old GPU: float16 would be slower
    (None, CPUINFO_BF16, "mixed_bfloat16"),
    (None, CPUINFO_PLAIN, "float32"),            # the fallback: no bfloat16 instructions
])
def test_auto_precision_follows_the_hardware(gpu, cpuinfo, policy):
    from tp3.runtime import cpu_bf16_flags, resolve_precision

    chosen, why = resolve_precision("auto", gpu_capability=gpu, bf16_flags=cpu_bf16_flags(cpuinfo))
    assert chosen == policy and why.startswith("auto:")


def test_explicit_precision_and_bad_names():
    from tp3.runtime import resolve_precision

    assert resolve_precision("float32", gpu_capability=(8, 0))[0] == "float32"
    assert resolve_precision("bfloat16")[0] == "mixed_bfloat16"
    with pytest.raises(ValueError, match="auto, float32, bfloat16, float16"):
        resolve_precision("half")


def test_forced_float32_trains_in_float32(tmp_path, tiny_data, monkeypatch, capsys):
    """TP3_PRECISION=float32 makes this machine train as one without bfloat16 would."""
    monkeypatch.setenv("TP3_PRECISION", "float32")
    cfg, history = _run(tmp_path, tiny_data, "f32", epochs=1)
    assert cfg.precision == "float32"
    assert "Precision: float32 (requested)" in capsys.readouterr().out
    saved = json.loads(open(f"{cfg.logdir}/config.json").read())
    assert (saved["precision"], saved["precision_policy"]) == ("float32", "float32")
    assert read_settings(cfg.model_out)["trained_in"] == "float32"
    assert keras.config.dtype_policy().name == "float32"


def test_mixed_precision_model_predicts_float32_anywhere(tmp_path, tiny_data):
    """A bfloat16-trained checkpoint loads as a float32 network with float32 probabilities."""
    cfg = TrainConfig(root="unused", logdir=str(tmp_path / "bf16"), model_out=str(tmp_path / "bf16.weights.h5"),
                      epochs=1, width=4, batch_size=16, precision="bfloat16")
    mixed = train(cfg, data=tiny_data, progress=False).model
    assert json.loads(open(f"{cfg.logdir}/config.json").read())["precision_policy"] == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == "float32"  # train() leaves the global policy as it was
    assert mixed.layers[1].dtype_policy.name == "mixed_bfloat16"
    assert mixed.get_layer("classes").dtype_policy.name == "float32"
    assert read_settings(cfg.model_out)["trained_in"] == "mixed_bfloat16"
    model = load_model(cfg.model_out)
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    images = tiny_data[1][0][:4]
    probabilities = model.predict(images, verbose=0)
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(probabilities, mixed.predict(images, verbose=0), atol=0.05)


def test_float16_gets_loss_scaling():
    from tp3.training import compile_unet
    from tp3.precision import dtype_policy
    from tp3.unet import build_unet

    with dtype_policy("mixed_float16"):
        model = compile_unet(build_unet(2))
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert model.get_layer("classes").compute_dtype == "float32"


def test_precision_flag():
    from tp3.tools.cli import build_parser, training_config

    cfg = training_config(build_parser().parse_args(
        ["train", "--logdir", "l", "--model-out", "m.weights.h5", "--precision", "float16"]))
    assert cfg.precision == "float16"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--precision", "int8"])


# --- One training path: the notebook's Ex 7 cells build what train() builds -------------

def _describe_callbacks(callbacks) -> list:
    """What makes each callback behave as it does (its kind and settings), comparable with ==."""
    from tp3.training import PredictionImages, SaveBestModel, TensorBoardLogs

    described = []
    for cb in callbacks:
        if isinstance(cb, SaveBestModel):
            described.append(("checkpoint", str(cb.path), cb.monitor))
        elif isinstance(cb, TensorBoardLogs):
            described.append(("tensorboard", str(cb.logdir), cb.hparams))
        elif isinstance(cb, keras.callbacks.LearningRateScheduler):
            rates, rate = [], 1e-3
            for epoch in range(200):  # as LearningRateScheduler applies it, epoch after epoch
                rate = cb.schedule(epoch, rate)
                rates.append(rate)
            described.append(("lr", [rates[epoch] for epoch in (0, 1, 49, 50, 120, 199)]))
        elif isinstance(cb, keras.callbacks.CSVLogger):
            described.append(("csv", str(cb.filename)))
        elif isinstance(cb, PredictionImages):
            described.append(("images", cb.logdir, sorted(cb.epochs), cb.images.shape))
        else:
            described.append((type(cb).__name__,))
    return described


def test_notebook_ex7_cells_build_what_train_builds(course_root, tiny_data, monkeypatch):
    """The solution's compile and callbacks cells against compile_unet and make_callbacks."""
    monkeypatch.setenv("TP3_SMOKE", "1")  # size_run times width 4, not the CPU's width
    import nbformat

    from tp3 import training
    from tp3.tools.notebooks import SOLUTIONS
    from tp3.unet import build_unet

    cells = nbformat.read(str(SOLUTIONS / "03_training.ipynb"), as_version=4).cells
    settings_cell = next(c.source for c in cells if c.cell_type == "code" and "size.config(" in c.source)
    compile_cell = next(c.source for c in cells if "model.compile(" in c.source)
    callbacks_cell = next(c.source for c in cells if "callbacks = [" in c.source)
    (x_train, y_train), (x_val, y_val) = tiny_data
    namespace = {"ROOT": course_root, "training": training, "x_train": x_train, "y_train": y_train,
                 "x_val": x_val, "y_val": y_val}
    exec("import tp3, tp3.course, tp3.unet", namespace)
    try:
        exec(settings_cell, namespace)
        exec(compile_cell, namespace)
        exec(callbacks_cell, namespace)
        cfg = namespace["cfg"]
        package_model = training.compile_unet(build_unet(cfg.width), cfg.learning_rate)
    finally:
        keras.config.set_dtype_policy("float32")
    def compiled(model):  # Keras numbers each optimizer it creates: leave its name out
        config = model.get_compile_config()
        config["optimizer"]["config"].pop("name")
        return config

    assert compiled(namespace["model"]) == compiled(package_model)
    preview = (x_val[namespace["preview"]], y_val[namespace["preview"]])
    assert _describe_callbacks(namespace["callbacks"]) == _describe_callbacks(training.make_callbacks(cfg, preview))
    assert (course_root / "logs" / "ex7" / "config.json").is_file()


def test_train_config_validates_and_takes_paths(tmp_path):
    cfg = TrainConfig(logdir=tmp_path / "logs", model_out=tmp_path / "m.weights.h5", root=tmp_path)
    assert cfg.logdir == str(tmp_path / "logs")  # Paths become str: config.json stays JSON
    json.dumps(dataclasses.asdict(cfg))  # what save_config writes
    for bad, message in (({"epochs": 0}, "epochs"), ({"width": 2.5}, "width"), ({"batch_size": True}, "batch_size"),
                         ({"learning_rate": 0}, "learning_rate"), ({"precision": "int8"}, "precision"),
                         ({"model_out": "m.keras"}, "weights.h5"), ({"augment": "yes"}, "augment must be True or False"),
                         ({"augment": 1}, "augment"), ({"learning_rate": "1e-3"}, "learning_rate must be a number")):
        with pytest.raises(ValueError, match=message):
            TrainConfig(**{"logdir": "l", "model_out": "m.weights.h5", **bad})


def test_a_config_is_fixed_once_made(tmp_path):
    """config.json records what ran: a run's settings are chosen before, not changed after."""
    import dataclasses

    cfg = TrainConfig(logdir=tmp_path / "logs", model_out=tmp_path / "m.weights.h5")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.epochs = 3
    shorter = dataclasses.replace(cfg, epochs=3)
    assert (shorter.epochs, shorter.logdir) == (3, cfg.logdir) and cfg.epochs == TrainConfig(logdir="l", model_out="m.weights.h5").epochs
    with pytest.raises(ValueError, match="epochs"):
        dataclasses.replace(cfg, epochs=0)  # validated like a new one


def test_step_decay_scales_the_rate_the_model_was_compiled_with():
    """Adam(1.0) must train at 1.0: the schedule multiplies the current rate, it does not set one."""
    from tp3.training import step_decay

    schedule, rate, rates = step_decay(0.5, 2), 1.0, []
    for epoch in range(6):
        rate = schedule(epoch, rate)
        rates.append(rate)
    assert rates == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    with pytest.raises(ValueError, match="decay"):
        step_decay(1.5, 2)


def test_precision_is_chosen_for_a_block_and_restored(capsys):
    from tp3.training import precision
    from tp3.unet import build_unet

    with precision("bfloat16") as policy:
        inside = build_unet(4)
    outside = build_unet(4)
    assert policy == "mixed_bfloat16" and "Precision: mixed_bfloat16 (requested)" in capsys.readouterr().out
    assert inside.layers[1].dtype_policy.name == "mixed_bfloat16"
    assert outside.layers[1].dtype_policy.name == keras.config.dtype_policy().name == "float32"


def test_every_config_field_is_a_flag(first_run):
    import dataclasses

    from tp3.tools.cli import build_parser, training_config

    cfg, _ = first_run
    help_text = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    for field in dataclasses.fields(TrainConfig):
        if field.name not in ("augmentation", "sizing"):  # an object (set in --config's file), a record
            assert "--" + field.name.replace("_", "-") in help_text
    on = training_config(build_parser().parse_args(["train", "--config", f"{cfg.logdir}/config.json", "--augment"]))
    off = training_config(build_parser().parse_args(
        ["train", "--config", f"{cfg.logdir}/config.json", "--no-augment", "--lr-decay", "0.9"]))
    assert on.augment and not off.augment and off.lr_decay == 0.9


@pytest.mark.parametrize("epochs, expected", [
    (1, [0]), (4, [0, 1, 2, 3]), (10, list(range(10))),
    (200, [0, 1, 2, 4, 7, 14, 27, 53, 103, 199]),
])
def test_preview_epochs_start_early_and_fit_tensorboard(epochs, expected):
    from tp3.settings import N_PREVIEW_EPOCHS
    from tp3.tblogs import spaced_epochs

    assert spaced_epochs(epochs, N_PREVIEW_EPOCHS) == expected


def test_show_predictions_picks_early_epochs_by_the_same_rule():
    from tp3.tblogs import spaced_epochs

    assert spaced_epochs(10, 4) == [0, 1, 3, 9] and spaced_epochs(3, 4) == [0, 1, 2]
    assert spaced_epochs(4, 2) == [0, 3] and spaced_epochs(4, 1) == [0]


def _as_tensorboard_serves(logdir):
    """The runs of ``logdir`` loaded as TensorBoard's server loads them (its default sampling)."""
    from tensorboard.backend.event_processing import data_ingester, plugin_event_multiplexer

    multiplexer = plugin_event_multiplexer.EventMultiplexer(
        size_guidance=data_ingester.DEFAULT_SIZE_GUIDANCE,
        tensor_size_guidance=data_ingester.DEFAULT_TENSOR_SIZE_GUIDANCE, purge_orphaned_data=True)
    multiplexer.AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    return multiplexer


def test_tensorboard_shows_every_image_and_no_duplicate_curve(tmp_path, tiny_data):
    """Read a run's logs as TensorBoard's server does (its default sampling): every logged
    image step is shown, epoch 0 among them; runs are train and validation only; each
    metric has one tag, grouped (loss first) and described; the settings reach HParams."""
    from tp3.settings import N_PREVIEW_EPOCHS
    from tp3.tblogs import IMAGES_TAG, SCALAR_TAGS, spaced_epochs

    cfg, _ = _run(tmp_path, tiny_data, "long", epochs=14)
    multiplexer = _as_tensorboard_serves(cfg.logdir)
    assert sorted(multiplexer.Runs()) == ["train", "validation"]
    shown = [event.step for event in multiplexer.Tensors("validation", IMAGES_TAG)]
    assert shown == spaced_epochs(14, N_PREVIEW_EPOCHS) and shown[0] == 0 and len(shown) <= 10
    for run in ("train", "validation"):
        tags = multiplexer.GetAccumulator(run).Tags()["tensors"]
        assert not [tag for tag in tags if "vs_iterations" in tag or tag.startswith("epoch_")]
        scalar_tags = sorted(tag for tag in tags if tag != IMAGES_TAG)
        assert scalar_tags[0] == SCALAR_TAGS["loss"][0]  # TensorBoard sorts the groups by name
        metadata = multiplexer.SummaryMetadata(run, SCALAR_TAGS["dice_wt"][0])
        assert "whole tumour" in metadata.summary_description
    assert "_hparams_/session_start_info" in multiplexer.GetAccumulator("train").Tags()["tensors"]


@pytest.mark.parametrize("run", ["no_augmentation", "augmentation"])
def test_shipped_reference_logs_show_in_tensorboard(run):
    """The logs of Ex 10 as TensorBoard serves them: 200 epochs of each curve, all ten image
    steps from epoch 0, no run besides train and validation, no duplicated tag."""
    from tp3.layout import REPO_ROOT
    from tp3.settings import N_PREVIEW_EPOCHS
    from tp3.tblogs import IMAGES_TAG, SCALAR_TAGS, spaced_epochs

    multiplexer = _as_tensorboard_serves(REPO_ROOT / "tensorboard_logs" / run)
    assert sorted(multiplexer.Runs()) == ["train", "validation"]
    shown = [event.step for event in multiplexer.Tensors("validation", IMAGES_TAG)]
    assert shown == spaced_epochs(200, N_PREVIEW_EPOCHS) and shown[0] == 0 and len(shown) <= 10  # TensorBoard keeps 10
    for name in ("train", "validation"):
        tags = set(multiplexer.GetAccumulator(name).Tags()["tensors"])
        assert not [tag for tag in tags if "vs_iterations" in tag or tag.startswith("epoch_")]
        assert len(multiplexer.Tensors(name, SCALAR_TAGS["loss"][0])) == 200


def test_a_setting_changed_at_run_time_takes_effect(tiny_data, tmp_path, monkeypatch):
    """Notebook 04 invites students to change the ranges in tp3.settings: the next augmentation
    and the next TrainConfig use them, config.json records them, and a value of the wrong kind
    is refused."""
    from tp3 import augment, settings
    from tp3.config import AugmentRanges
    from tp3.training import save_config

    (images, classes), _ = tiny_data
    most = np.argsort(-(classes > 0).sum(axis=(1, 2)))[:4]
    images, classes = images[most], classes[most]
    assert (classes > 0).sum() > 400
    before = augment.augment_numpy(images, classes, seed=3)
    monkeypatch.setattr(settings, "MAX_ROTATION_DEG", 90.0)
    monkeypatch.setattr(settings, "NOISE_STD", 0.5)
    after = augment.augment_numpy(images, classes, seed=3)
    assert not np.array_equal(before[1], after[1]) and np.std(after[0] - before[0]) > 0.1
    monkeypatch.setattr(settings, "LEARNING_RATE", 0.01)
    monkeypatch.setattr(settings, "SKIP_EMPTY_SLICES", True)
    cfg = TrainConfig(logdir=tmp_path / "logs", model_out=tmp_path / "m.weights.h5", root=tmp_path)
    assert (cfg.augmentation.max_rotation_deg, cfg.learning_rate, cfg.skip_empty_slices) == (90.0, 0.01, True)
    recorded = json.loads(save_config(cfg).read_text())
    assert recorded["augmentation"]["max_rotation_deg"] == 90.0 and recorded["op_determinism"] == settings.OP_DETERMINISM
    assert TrainConfig.load(tmp_path / "logs" / "config.json") == cfg
    for bad, message in (({"max_rotation_deg": "45"}, "max_rotation_deg must be a number"),
                         ({"scale_range": (1.2, 0.8)}, "scale_range must be two numbers"),
                         ({"flip_probability": 2}, "at most 1")):
        with pytest.raises(ValueError, match=message):
            TrainConfig(logdir="l", model_out="m.weights.h5", augmentation=AugmentRanges(**bad))
    with pytest.raises(ValueError, match="skip_empty_slices must be True or False"):
        TrainConfig(logdir="l", model_out="m.weights.h5", skip_empty_slices="no")
