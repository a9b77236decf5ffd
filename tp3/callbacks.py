"""The callbacks of a training run (Ex 7): what TensorBoard shows, the checkpoint, the progress.

``training`` (the module students use) re-exports them; :func:`tp3.training.make_callbacks`
puts them together as ``train`` uses them.

Ex 7   ``preview_slices``, ``slice_names`` (the validation slices drawn during training),
       ``PredictionImages``, ``TensorBoardLogs`` (+ ``hparams_of``), ``SaveBestModel``, ``ProgressBar``
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from . import settings
from .data import most_tumour_slices
from .layout import MODALITIES
from .modelfile import save_unet
from .preprocessing import COURSE_SHAPE
from .config import TrainConfig
from .tblogs import IMAGES_TAG, SCALAR_TAGS, spaced_epochs
from .viz import prediction_grid

__all__ = ["preview_slices", "slice_names", "PredictionImages", "hparams_of", "TensorBoardLogs", "SaveBestModel",
           "ProgressBar"]


def preview_slices(classes: np.ndarray, n: int | None = None) -> list[int]:
    """Indices of ``n`` (default ``settings.N_PREVIEW_SLICES``) validation slices to watch during
    training, in increasing order: the slice with the most tumour of each patient
    (:func:`tp3.data.most_tumour_slices`), the patients with the most tumour first. ``classes``
    ``(77 x patients, 96, 96)``."""
    n = settings.N_PREVIEW_SLICES if n is None else n
    n_slices = COURSE_SHAPE[0]
    if len(classes) % n_slices:
        return sorted(most_tumour_slices(classes, n))
    starts = range(0, len(classes), n_slices)
    best = [start + most_tumour_slices(classes[start:start + n_slices])[0] for start in starts]
    best = sorted(best, key=lambda i: -np.count_nonzero(classes[i]))[:n]
    extra = [i for i in most_tumour_slices(classes, n + len(best)) if i not in best]
    return sorted(best + extra[:n - len(best)])


def slice_names(patients, indices) -> list[str]:
    """``"<patient> · z <slice>"`` of slices of a split loaded by :func:`load_split` (77 per
    patient, in the order of ``patients``)."""
    n_slices = COURSE_SHAPE[0]
    return [f"{patients[i // n_slices]} · z {i % n_slices}" for i in indices]


class PredictionImages(keras.callbacks.Callback):
    """Draws the predictions of fixed validation slices into TensorBoard (run ``validation``,
    tag ``predictions``) at the epochs :func:`tp3.tblogs.spaced_epochs` picks for a run of ``epochs``
    epochs (every epoch of a short run; at most :data:`tp3.settings.N_PREVIEW_EPOCHS`, the early
    ones included, of a long one: TensorBoard keeps 10 images per tag):
    one image per epoch, a row per slice, FLAIR | ground truth | prediction with headings,
    names and the colour legend (:func:`tp3.viz.prediction_grid`). Ex 7.

    ``images`` float32 ``(K, 96, 96, 4)`` normalised, ``classes`` uint8 ``(K, 96, 96)``;
    ``names``: K row labels (default ``validation slice k``).
    """

    def __init__(self, images: np.ndarray, classes: np.ndarray, logdir, epochs: int, names=None):
        super().__init__()
        self.images, self.classes, self.logdir = images, classes, str(logdir)
        self.n_epochs, self.epochs = epochs, set(spaced_epochs(epochs, settings.N_PREVIEW_EPOCHS))
        self.names = list(names) if names is not None else [f"validation slice {k + 1}" for k in range(len(images))]
        self.flair = images[..., MODALITIES.index("flair")]
        self.writer = None

    def on_epoch_end(self, epoch, logs=None):
        if epoch not in self.epochs:
            return
        predicted = np.argmax(self.model.predict(self.images, verbose=0), axis=-1)
        grid = prediction_grid(self.flair, self.classes, predicted, self.names,
                               f"after epoch {epoch + 1} of {self.n_epochs} (step {epoch})")
        self.writer = self.writer or tf.summary.create_file_writer(str(Path(self.logdir) / "validation"))
        with self.writer.as_default():
            tf.summary.image(IMAGES_TAG, grid[None], step=epoch,
                             description="Fixed validation slices (the slice with the most tumour of "
                                         "a few patients): FLAIR, the ground truth and the network's "
                                         "prediction, coloured by class. Move the step slider: "
                                         "steps are epochs, counted from 0.")
        self.writer.flush()

    def on_train_end(self, logs=None):
        if self.writer is not None:
            self.writer.close()
            self.writer = None  # a later fit with the same callbacks opens a new one


def hparams_of(cfg: TrainConfig) -> dict:
    """The settings of a run that TensorBoard's HParams dashboard shows (paths left out; the
    augmentation's ranges one by one, a range as text: the dashboard takes numbers and text)."""
    values = {key: value for key, value in dataclasses.asdict(cfg).items()
              if key not in ("root", "logdir", "model_out", "augmentation")}
    for name, value in dataclasses.asdict(cfg.augmentation).items():
        values[f"augmentation.{name}"] = str(value) if isinstance(value, tuple) else value
    return values


class TensorBoardLogs(keras.callbacks.Callback):
    """The run's curves for TensorBoard (Ex 7): after each epoch, every metric into the runs
    ``train`` and ``validation`` of ``cfg.logdir`` under the tags and descriptions of
    :data:`tp3.tblogs.SCALAR_TAGS` (loss first, then the Dice of each region); the run's
    settings into TensorBoard's HParams dashboard.

    What ``keras.callbacks.TensorBoard`` writes, arranged to be read: Keras' own callback gives
    every metric a group of its own and writes the validation curves twice
    (``evaluation_*_vs_iterations``, against batches).
    """

    def __init__(self, cfg: TrainConfig):
        super().__init__()
        self.logdir, self.hparams = Path(cfg.logdir), hparams_of(cfg)
        self.writers = {}

    def on_train_begin(self, logs=None):
        from tensorboard.plugins.hparams import api as hparams_api

        self.writers = {run: tf.summary.create_file_writer(str(self.logdir / run)) for run in ("train", "validation")}
        with self.writers["train"].as_default():
            hparams_api.hparams(self.hparams, trial_id=self.logdir.name)

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        optimizer = getattr(self.model, "optimizer", None)
        if "learning_rate" not in logs and optimizer is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        for key, value in logs.items():
            run, name = ("validation", key[len("val_"):]) if key.startswith("val_") else ("train", key)
            tag, description = SCALAR_TAGS.get(name, (f"3 other/{name}", ""))
            with self.writers[run].as_default():
                tf.summary.scalar(tag, float(value), step=epoch, description=description)
        for writer in self.writers.values():
            writer.flush()

    def on_train_end(self, logs=None):
        for writer in self.writers.values():
            writer.close()


class SaveBestModel(keras.callbacks.Callback):
    """Ex 7: save the model to ``path`` (``.weights.h5``) after every epoch whose ``monitor``
    (default ``val_loss``) is the lowest so far, in the kit's model file
    (:func:`tp3.modelfile.save_unet`: float32 weights and the settings that rebuild the
    U-Net, which load on every Keras 3, whatever precision trained it). Keras'
    ``ModelCheckpoint(path, save_best_only=True, save_weights_only=True)`` saves the same
    weights without the settings; ``.keras`` archives load only on Keras as new as theirs."""

    def __init__(self, path, monitor: str = "val_loss"):
        super().__init__()
        self.path, self.monitor, self.best, self.warned = Path(path), monitor, float("inf"), False

    def on_train_begin(self, logs=None):
        self.best, self.warned = float("inf"), False

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:  # as Keras' ModelCheckpoint: the run goes on (Ex 7's check explains)
            if not self.warned:
                warnings.warn(f"SaveBestModel monitors {self.monitor!r}, which this run does not log (logged: "
                              f"{', '.join(sorted(logs or {}))}): no model saved; pass validation_data to fit",
                              stacklevel=2)
                self.warned = True
            return
        if float(value) < self.best:
            self.best = float(value)
            save_unet(self.model, self.path, epoch=epoch + 1, **{self.monitor: self.best},
                      trained_in=self.model.dtype_policy.name)


class ProgressBar(keras.callbacks.Callback):
    """Progress of a run for people waiting on it (tqdm, in a notebook or a terminal): a bar over
    the whole run's training batches when their number is known, whose time left is the run's
    (the average pace so far, validation and callbacks included: it settles on what
    :func:`tp3.sizing.size_run` announced), with the last epoch's losses; else a bar over the
    epochs, and one over the current epoch's batches. Use with ``model.fit(..., verbose=0)``. Ex 7, 9."""

    def on_train_begin(self, logs=None):
        from tqdm.auto import tqdm

        self._tqdm = tqdm
        steps = self.params.get("steps")
        self.per_batch = isinstance(steps, int) and steps > 0
        if self.per_batch:
            self.run_bar = tqdm(total=self.params["epochs"] * steps, desc="training", unit="batch", smoothing=0)
        else:
            self.run_bar = tqdm(total=self.params["epochs"], desc="training", unit="epoch")

    def on_epoch_begin(self, epoch, logs=None):
        if self.per_batch:
            self.run_bar.set_description(f"training, epoch {epoch + 1}/{self.params['epochs']}")
        else:
            self.epoch_bar = self._tqdm(total=self.params.get("steps"), desc=f"epoch {epoch + 1}",
                                        unit="batch", leave=False)

    def on_train_batch_end(self, batch, logs=None):
        (self.run_bar if self.per_batch else self.epoch_bar).update()

    def on_epoch_end(self, epoch, logs=None):
        if not self.per_batch:
            self.epoch_bar.close()
            self.run_bar.update()
        logs = logs or {}
        shown = {key: f"{logs[key]:.3f}" for key in ("loss", "val_loss", "val_dice_wt") if key in logs}
        self.run_bar.set_postfix(shown)

    def on_train_end(self, logs=None):
        self.run_bar.close()
