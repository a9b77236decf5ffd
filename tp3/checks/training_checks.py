"""Self-checks of Parts 3-4, training and augmentation (Ex 7-9).

Ex 7 judges the run by what it left: the history, the TensorBoard logs, the model file — which
must load — and that model itself: its categorical cross-entropy on the validation split,
recomputed here, must be the validation loss the run logged (another loss logs other values),
and the run must have taken as many steps per epoch as the training split makes at the run's
epoch share (not the validation split's).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from .. import data
from ..layout import LABEL_SUFFIX, MODALITIES, SPLITS
from ..settings import BATCH_SIZE, LEARNING_RATE
from .common import SelfCheckError, as_array, attempt, expect, first_line, ok, self_check

#: Above this, Adam does not train a U-Net: the self-check of Ex 7 says so.
MAX_SENSIBLE_ADAM_RATE = 0.05
#: The validation loss recomputed in float32 may differ this much (relative) from the one logged
#: by a run in 16-bit precision; binary cross-entropy logs values 3-5 times smaller.
LOSS_TOLERANCE = 0.15


def _history(history) -> dict:
    values = history.history if hasattr(history, "history") else history
    params = getattr(history, "params", None) or {}
    if isinstance(values, dict):
        values = {str(k): [float(v) for v in np.ravel(as_array(vs))] if isinstance(vs, (list, tuple, np.ndarray)) else vs
                  for k, vs in values.items()}
    return {"history": values, "params": {k: v for k, v in params.items() if isinstance(v, (int, float, str, type(None)))}}


def _losses(values, exercise: str) -> list:
    expect(isinstance(values, dict) and "loss" in values, exercise,
           "history should be what model.fit returns", "history = model.fit(...)")
    return values["loss"]


def _logged_losses(logdir: Path) -> list[float]:
    """The training losses TensorBoard holds for ``logdir``, in epoch order (empty if none)."""
    from ..tblogs import read_scalars

    curves = read_scalars(logdir).get("train", {})
    return list(curves["loss"][1]) if "loss" in curves else []


def _ex7(history, logdir=None, model_path=None, root=None) -> dict:
    return dict(**_history(history), logdir=None if logdir is None else Path(logdir),
                model_path=None if model_path is None else Path(model_path), root=root)


def _run_config(logdir: Path | None) -> tuple[int, float]:
    """``(batch size, epoch share)`` of the run, as its ``config.json`` records them."""
    values = {}
    config = logdir / "config.json" if logdir is not None else None
    if config is not None and config.is_file():
        values = json.loads(config.read_text())
    batch, share = values.get("batch_size"), values.get("epoch_share")
    batch = batch if isinstance(batch, int) and not isinstance(batch, bool) and batch > 0 else BATCH_SIZE
    share = share if isinstance(share, (int, float)) and not isinstance(share, bool) and 0 < share <= 1 else 1.0
    return batch, float(share)


def _train_slices(patients, share: float, root) -> int:
    """Slices one training epoch serves at ``share`` (:func:`tp3.pipeline.epoch_slices`), counted
    from the split's label slices."""
    from ..pipeline import epoch_slices, tumour_slices

    has_tumour = np.concatenate([tumour_slices(data.read_slices(patient, LABEL_SUFFIX, root)) for patient in patients])
    return sum(epoch_slices(int(has_tumour.sum()), int((~has_tumour).sum()), share))


def _steps_slip(steps, logdir, root) -> None:
    """The run's batches per epoch against the training split's at the run's epoch share (and the
    validation split's)."""
    if not isinstance(steps, int):
        return
    batch, share = _run_config(logdir)
    splits = data.load_splits(root)
    per_patient = data.count_slices(splits[SPLITS[0]][0], root)
    batches = {name: math.ceil(len(splits[name]) * per_patient / batch) for name in SPLITS}
    if steps == batches["validation"] != batches["train"]:
        expect(False, "Ex 7", f"the network was fitted on the validation set ({steps} batches per epoch)",
               "model.fit(train_set, validation_data=val_set, ...): the validation set only measures")
    if share < 1:
        expected = math.ceil(_train_slices(splits[SPLITS[0]], share, root) / batch)
        expect(0.8 * expected <= steps <= expected, "Ex 7",
               f"the run took {steps} batches per epoch; cfg.epoch_share = {share:g} makes {expected} batches of {batch}",
               "pass epoch_share=cfg.epoch_share to training.make_dataset for the training set")
        return
    # brainless slices may be left out (settings.SKIP_EMPTY_SLICES): up to a fifth fewer batches
    expect(0.8 * batches["train"] <= steps <= batches["train"], "Ex 7",
           f"the run took {steps} batches per epoch; the training split makes {batches['train']} batches of {batch}",
           "fit on train_set = training.make_dataset(x_train, y_train, cfg.batch_size, shuffle=True, seed=cfg.seed, "
           "epoch_share=cfg.epoch_share)")


def validation_loss(model_path: Path, root) -> float:
    """Categorical cross-entropy of the model in ``model_path`` on the validation split (float32)."""
    import keras

    from ..predict import load_model
    from ..training import load_split

    model = attempt("Ex 7", f"loading {model_path.name} with tp3.predict.load_model", lambda: load_model(model_path),
                    "save with training.SaveBestModel(cfg.model_out): the kit's model file, which load_model reads")
    images, classes = load_split("validation", root, progress=False)
    probabilities = model.predict(images, batch_size=32, verbose=0)
    one_hot = keras.ops.one_hot(classes, probabilities.shape[-1])
    return float(np.mean(keras.ops.convert_to_numpy(keras.losses.categorical_crossentropy(one_hot, probabilities))))


@self_check("ex7", _ex7)
def check_ex7(history, params, logdir=None, model_path=None, root=None) -> None:
    """Ex 7: a training run with validation, whose loss went down, logged in ``logdir``, its best
    model in ``model_path`` — trained on the training split with categorical cross-entropy."""
    from ..tblogs import read_images

    loss = _losses(history, "Ex 7")
    expect(len(loss) >= 1, "Ex 7", "no epoch was trained", "call model.fit(..., epochs=EPOCHS)")
    expect("val_loss" in history, "Ex 7", "the run has no validation curve", "pass validation_data=val_set to model.fit")
    expect(any(key.startswith("val_dice") for key in history), "Ex 7", "the run has no Dice metric",
           "compile with metrics=['accuracy', *tp3.metrics.region_dice_metrics()]")
    rates = history.get("learning_rate") or [0.0]
    expect(max(rates) <= MAX_SENSIBLE_ADAM_RATE, "Ex 7", f"the run trained at a learning rate of {max(rates):g}",
           f"Adam's rate is about {LEARNING_RATE:g} (cfg.learning_rate); much larger steps throw the weights "
           "around instead of improving them")
    expect(len(loss) == 1 or loss[-1] < loss[0], "Ex 7", f"the loss went from {loss[0]:.3f} to {loss[-1]:.3f}",
           "check the learning rate, and that the labels are one-hot (training.make_dataset does it)")
    if logdir is not None:
        _steps_slip(params.get("steps"), logdir, root)
        expect(any((logdir / "train").glob("events.out.tfevents.*")), "Ex 7", f"no TensorBoard logs in {logdir.name}",
               "pass callbacks=callbacks to model.fit, with training.TensorBoardLogs(cfg) among them")
        logged = _logged_losses(logdir)
        expect(len(logged) >= len(loss) and np.isclose(logged[-1], loss[-1], rtol=1e-4), "Ex 7",
               f"the TensorBoard logs in {logdir.name} are not those of this run (an earlier run's?)",
               "pass callbacks=callbacks to model.fit: the TensorBoard callback logs every epoch")
        expect(bool(read_images(logdir)), "Ex 7", f"no prediction images in {logdir.name}",
               "add training.PredictionImages(x_val[preview], y_val[preview], logdir, epochs=...) to the callbacks")
    if model_path is not None:
        expect(model_path.is_file(), "Ex 7", f"no model file {model_path.name}",
               "keep training.SaveBestModel(cfg.model_out) among the callbacks")
        recomputed, logged = validation_loss(model_path, root), min(history["val_loss"])
        expect(abs(recomputed - logged) <= LOSS_TOLERANCE * recomputed, "Ex 7",
               f"the best validation loss logged, {logged:.4f}, is not the categorical cross-entropy of the saved "
               f"model ({recomputed:.4f})", 'compile with loss="categorical_crossentropy": one-hot labels, one '
               "softmax over the four classes")
    ok("Ex 7", f"training loss {loss[0]:.3f} -> {loss[-1]:.3f} over {len(loss)} epochs, "
               f"validation loss {history['val_loss'][-1]:.3f}")


def _tumour_contrast(images: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Per slice: mean FLAIR inside the labelled tumour minus mean FLAIR in the rest of the brain."""
    flair = images[..., MODALITIES.index("flair")]
    out = []
    for image, labels in zip(flair, classes):
        tumour, brain = labels > 0, image != 0
        rest = brain & ~tumour
        out.append(image[tumour].mean() - image[rest].mean() if tumour.any() and rest.any() else np.nan)
    return np.array(out)


def _in_between_share(classes: np.ndarray) -> float:
    """Mean share, over slices, of the tumour pixels whose 4 neighbours hold both a lower and a
    higher class: the trace of labels interpolated linearly."""
    shares = []
    for labels in np.asarray(classes).astype(np.int16):
        padded = np.pad(labels, 1, mode="edge")
        neighbours = np.stack([padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:]])
        between = (labels > 0) & (neighbours < labels).any(axis=0) & (neighbours > labels).any(axis=0)
        shares.append(between.sum() / max(np.count_nonzero(labels), 1))
    return float(np.mean(shares))


def _ex8(images, classes, augmented_images, augmented_classes) -> dict:
    return dict(images=as_array(images), classes=as_array(classes), augmented_images=as_array(augmented_images),
                augmented_classes=as_array(augmented_classes))


@self_check("ex8", _ex8)
def check_ex8(images, classes, augmented_images, augmented_classes) -> None:
    """Ex 8: augmentation keeps shapes, moves labels with their image and never blends them."""
    images, classes = np.asarray(images), np.asarray(classes)
    augmented_images, augmented_classes = np.asarray(augmented_images), np.asarray(augmented_classes)
    expect(augmented_images.shape == images.shape and augmented_classes.shape == classes.shape, "Ex 8",
           f"shapes changed: images {images.shape} -> {augmented_images.shape}, classes {classes.shape} -> "
           f"{augmented_classes.shape}", "augment, do not crop or resize; keep images and classes in that order")
    expect(not np.array_equal(images, augmented_images), "Ex 8", "the augmented images equal the originals",
           "apply a transform (flip, rotation, scaling) before comparing")
    expect(np.all(np.mod(augmented_classes, 1) == 0), "Ex 8", "the augmented labels hold fractions",
           "labels must be moved with nearest-neighbour interpolation, never blended")
    for before, after in zip(classes, augmented_classes):
        invented = set(np.unique(after).tolist()) - set(np.unique(before).tolist()) - {0}
        expect(not invented, "Ex 8", f"the augmented labels contain {sorted(invented)}, absent before",
               "labels must be moved with nearest-neighbour interpolation, never blended")
    # Labels blended linearly leave a band of an in-between class along every border (NCR (1)
    # between edema (2) and background (0)...); nearest neighbour keeps their share.
    blended = _in_between_share(augmented_classes) - _in_between_share(classes)
    expect(blended < 0.04, "Ex 8",
           f"{blended:.0%} more of the tumour pixels sit between two other classes: a band of in-between labels",
           "labels must be moved with nearest-neighbour interpolation (order=0), never blended")
    # Aligned labels keep the tumour's FLAIR contrast (gain and offset move it by ~10 %);
    # labels moved apart from their image lose most of it on at least one slice.
    before, after = _tumour_contrast(images, classes), _tumour_contrast(augmented_images, augmented_classes)
    visible = before > 0
    aligned = not visible.any() or np.nanmin(after[visible] / before[visible]) > 0.6
    expect(aligned, "Ex 8", "the augmented labels no longer sit on the tumour of the augmented images",
           "move images and labels with the same transform (same flip axis, angle and seed); the "
           "images have a channel axis that the labels do not")
    ok("Ex 8", "same shapes, labels aligned and never blended, images changed")


def _ex9(history, logdir) -> dict:
    return dict(**_history(history), logdir=Path(logdir))


@self_check("ex9", _ex9)
def check_ex9(history, params, logdir) -> None:
    """Ex 9: a run trained with augmentation (its ``config.json`` says so) whose loss went down."""
    config_path = logdir / "config.json"
    expect(config_path.is_file(), "Ex 9", f"no config.json in {logdir.name}",
           "train with training.train(cfg): it writes config.json")
    try:
        augmented = json.loads(config_path.read_text()).get("augment")
    except ValueError as error:
        raise SelfCheckError(f"❌ Ex 9: config.json is not readable ({first_line(error)})\n"
                             "   Hint: train with training.train(cfg): it writes config.json") from None
    expect(augmented is True, "Ex 9", "this run was trained without augmentation", "create the configuration with augment=True")
    loss = _losses(history, "Ex 9")
    expect(len(loss) == 1 or loss[-1] < loss[0], "Ex 9", f"the loss went from {loss[0]:.3f} to {loss[-1]:.3f}",
           "keep the other settings of Ex 7")
    ok("Ex 9", f"augmented run: training loss {loss[0]:.3f} -> {loss[-1]:.3f} over {len(loss)} epochs")
