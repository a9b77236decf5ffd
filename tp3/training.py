"""Training the U-Net (handout §4-5, Ex 7 and 9): data, compilation, callbacks, the run.

Ex 7   ``load_split`` (a split in memory), ``make_dataset`` (batches, one-hot labels),
       ``stream_dataset`` (the same batches from the cache of :mod:`tp3.cache`, any course size),
       ``brain_slices`` (slices to keep when ``settings.SKIP_EMPTY_SLICES``), ``pipeline_options``,
       ``precision`` (16-bit maths where the hardware is fast at it), ``compile_unet`` (Adam,
       cross-entropy, accuracy and Dice WT/TC/ET), ``step_decay`` (for ``LearningRateScheduler``),
       ``make_callbacks`` (``SaveBestModel``, TensorBoard, LR schedule, CSV log, ``PredictionImages``),
       ``TrainConfig`` + ``save_config``; ``train`` is those pieces in one call.
Ex 9   the same with ``TrainConfig(augment=True)`` (``make_dataset(..., augment=True)``).

The notebook's Ex 7 cells and :func:`train` build the same things (a test compares them);
the CLI, ``make demo``, Ex 9 and the reference runs of Ex 10 all go through :func:`train`.

``python -m tp3 train --root ROOT --epochs E [--augment] --logdir DIR --model-out PATH``
writes into ``DIR``: TensorBoard runs ``train/`` and ``validation/`` (scalars grouped and
described, the settings for the HParams dashboard, prediction images of fixed validation
slices at up to 10 epochs, early ones included), ``training_log.csv`` and
``config.json`` — the full configuration, which ``--config DIR/config.json`` replays.

Every slice is read once through :func:`tp3.data.load_image`, the network's one input path
(as prediction reads it): into memory by :func:`load_split` (the notebook's Ex 7, a small
course), or into the on-disk cache of :mod:`tp3.cache` (:func:`train`, any course). Then
``tf.data`` shuffles, batches, augments (optional) and one-hot encodes, so no batch waits on
NIfTI decoding.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from . import settings
from .cache import CachedSplit, split_cache
from .data import load_image, most_tumour_slices, read_slices, read_split
from .files import write_text_atomic
from .layout import LABEL_SUFFIX, MODALITIES
from .metrics import region_dice_metrics
from .modelfile import save_unet
from .preprocessing import COURSE_SHAPE, brain_mask, labels_to_classes
from .runtime import AugmentRanges, TrainConfig, available_memory, default_workers, resolve_precision
from .tblogs import IMAGES_TAG, SCALAR_TAGS, spaced_epochs
from .unet import INPUT_SHAPE, build_unet, dtype_policy
from .viz import prediction_grid

__all__ = ["TrainConfig", "seed_everything", "load_split", "make_dataset", "brain_slices", "stream_dataset",
           "pipeline_options", "precision", "compile_unet", "step_decay", "preview_slices", "slice_names",
           "PredictionImages", "TensorBoardLogs", "SaveBestModel", "ProgressBar", "make_callbacks", "save_config",
           "train"]


def seed_everything(seed: int, op_determinism: bool | None = None) -> None:
    """The one place where training randomness is seeded (Python, numpy, TensorFlow);
    ``op_determinism`` (default ``settings.OP_DETERMINISM``, read now) also makes TensorFlow's
    kernels deterministic."""
    keras.utils.set_random_seed(seed)
    if settings.OP_DETERMINISM if op_determinism is None else op_determinism:
        tf.config.experimental.enable_op_determinism()


def load_split(split: str, root=None, progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """All slices of a split: images float32 ``(N, 96, 96, 4)`` normalised, classes uint8
    ``(N, 96, 96)`` in {0,1,2,3} (label 4 -> class 3), ``N = 77 x patients``. Ex 7.

    Images are read by :func:`tp3.data.load_image`, the network's one input path; patients
    are read side by side (SimpleITK and numpy release the GIL), in the split's order.
    """
    from tqdm.auto import tqdm

    patients = read_split(split, root)
    if not patients:
        raise ValueError(f"the {split} split is empty: datasets/{split}.txt lists no patient; "
                         "rebuild the course data with more cases (python -m tp3 prepare)")
    _check_fits_in_memory(split, len(patients))

    def read(patient):
        try:
            return load_image(patient, root), labels_to_classes(read_slices(patient, LABEL_SUFFIX, root))
        except FileNotFoundError as error:
            raise FileNotFoundError(
                f"patient {patient} is listed in datasets/{split}.txt but its slices are missing "
                f"({error}); rebuild the course data or remove the line") from None

    with ThreadPoolExecutor(default_workers()) as pool:
        pairs = list(tqdm(pool.map(read, patients), total=len(patients), desc=f"loading {split}",
                          unit="patient", disable=not progress))
    return np.concatenate([images for images, _ in pairs]), np.concatenate([classes for _, classes in pairs])


#: Bytes one patient takes in memory once loaded: float32 images and uint8 classes.
PATIENT_BYTES = COURSE_SHAPE[0] * int(np.prod(COURSE_SHAPE[1:])) * (len(MODALITIES) * 4 + 1)


def _check_fits_in_memory(split: str, n_patients: int, available: int | None = None) -> None:
    """Refuse, saying what to call instead, a split that would not fit: ``load_split`` holds it,
    and ``make_dataset`` gives TensorFlow a copy (twice its size in all; three times at the peak
    when it copies the slices with brain first, :data:`tp3.settings.SKIP_EMPTY_SLICES`)."""
    available = available if available is not None else available_memory()
    needed = (3 if settings.SKIP_EMPTY_SLICES else 2) * n_patients * PATIENT_BYTES
    if available is not None and needed > 0.8 * available:
        raise MemoryError(
            f"the {split} split ({n_patients} patients) needs about {needed / 1e9:.1f} GB in memory "
            f"with make_dataset; this machine has {available / 1e9:.1f} GB free. Stream it from the "
            f"cache instead: training.train(cfg), or training.stream_dataset(tp3.cache.split_cache("
            f"{split!r}, ROOT), ...) in place of load_split + make_dataset")


def make_dataset(images: np.ndarray, classes: np.ndarray, batch_size: int, shuffle: bool,
                 augment: bool = False, seed: int = 0, skip_empty: bool | None = None,
                 ranges: AugmentRanges | None = None):
    """``tf.data.Dataset`` of ``(images (B, 96, 96, 4) float32, one-hot (B, 96, 96, 4) float32)``
    from a split held in memory (:func:`load_split`). Ex 7.

    Shuffled every epoch (deterministically for a seed) when ``shuffle``; augmented per
    batch with seeds drawn from ``tf.data.Dataset.random`` (new each epoch, same for the
    same seed) when ``augment``, within ``ranges`` (default: the settings now; a
    ``TrainConfig``'s ``augmentation``). ``skip_empty`` leaves out the slices without brain
    (:func:`brain_slices`); by default (None) training batches (``shuffle``) do so when
    :data:`tp3.settings.SKIP_EMPTY_SLICES`, validation batches never.
    :func:`stream_dataset` gives the same batches from the cache.
    """
    if len(images) == 0:
        raise ValueError("no slices to train on: the split is empty")
    if images.shape[1:] != INPUT_SHAPE or classes.shape != images.shape[:-1]:
        raise ValueError(f"expected images (N, {', '.join(map(str, INPUT_SHAPE))}) and classes "
                         f"(N, {', '.join(map(str, INPUT_SHAPE[:2]))}), got "
                         f"{images.shape} and {classes.shape}")
    kept = _slices_to_use(images, skip_empty, shuffle, "no slice holds brain (every image is 0)")
    if len(kept) < len(images):
        images, classes = images[kept], classes[kept]
    dataset = tf.data.Dataset.from_tensor_slices((images, classes))
    if shuffle:
        dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    return _training_batches(dataset.batch(batch_size), augment, seed, ranges)


def brain_slices(images) -> np.ndarray:
    """Indices of the slices that hold brain (any modality non-zero) of images ``(N, 96, 96, 4)``,
    in increasing order; read in chunks, so a memory-mapped cache is never copied whole. Ex 7."""
    chunk = 1024
    kept = [np.flatnonzero(brain_mask(images[start:start + chunk]).any(axis=(1, 2))) + start
            for start in range(0, len(images), chunk)]
    return np.concatenate(kept) if kept else np.zeros(0, np.int64)


def _slices_to_use(images, skip_empty: bool | None, shuffle: bool, none_left: str) -> np.ndarray:
    """Indices of the slices a dataset serves: all, or those with brain (``make_dataset``'s
    ``skip_empty`` rule); ``none_left`` says why when none is left."""
    skips = (shuffle and settings.SKIP_EMPTY_SLICES) if skip_empty is None else bool(skip_empty)
    if not skips:
        return np.arange(len(images))
    kept = brain_slices(images)
    if len(kept) == 0:
        raise ValueError(f"no slices to train on: {none_left}")
    return kept


def stream_dataset(cached: CachedSplit, batch_size: int, shuffle: bool, augment: bool = False, seed: int = 0,
                   skip_empty: bool | None = None, ranges: AugmentRanges | None = None):
    """The batches of :func:`make_dataset` (same order, same augmentation, same slices left out
    for the same seed; float16 rounding aside) read from the cache
    (:func:`tp3.cache.split_cache`) batch by batch: memory does not grow with the course.
    Ex 7/9 on a big course; what :func:`train` uses."""
    def load(indices):
        images, classes = tf.numpy_function(cached.read, [indices], (tf.float32, tf.uint8), stateful=False)
        images.set_shape((None,) + INPUT_SHAPE)
        classes.set_shape((None,) + INPUT_SHAPE[:2])
        return images, classes

    # Shuffling indices draws the permutation make_dataset's shuffle draws over the slices.
    kept = _slices_to_use(cached.images(), skip_empty, shuffle, f"the {cached.split} split holds no brain")
    dataset = tf.data.Dataset.from_tensor_slices(kept)
    if shuffle:
        dataset = dataset.shuffle(len(kept), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size).map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return _training_batches(dataset, augment, seed, ranges)


def _training_batches(batches, augment: bool, seed: int, ranges: AugmentRanges | None):
    """Augment (optionally) and one-hot encode batches of ``(images, classes)``; prefetch."""
    from .augment import augment_batch

    if augment:
        ranges = ranges or AugmentRanges()  # read once, here: the whole run uses the same ranges
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        batches = tf.data.Dataset.zip((batches, seeds)).map(
            lambda batch, pair: augment_batch(batch[0], batch[1], pair, ranges),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    batches = batches.map(lambda x, y: (x, tf.one_hot(tf.cast(y, tf.int32), settings.N_CLASSES)),
                          num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return batches.prefetch(tf.data.AUTOTUNE).with_options(pipeline_options())


def pipeline_options() -> tf.data.Options:
    """The ``tf.data`` options of the kit's batches: autotuning as :data:`tp3.settings.DATA_AUTOTUNE`
    says (off by default: with it, the end of an epoch can wait ~10 s on its thread)."""
    options = tf.data.Options()
    options.autotune.enabled = settings.DATA_AUTOTUNE
    return options


@contextlib.contextmanager
def precision(requested: str | None = None):
    """Ex 7 (and :func:`train`): build models in the block at the precision ``requested``
    (``auto``, ``float32``, ``bfloat16``, ``float16``; default :data:`tp3.settings.PRECISION`
    or ``$TP3_PRECISION``), the kit's one way to choose it. Prints the Keras dtype policy and
    why (:func:`tp3.runtime.resolve_precision`) and yields it (``"float32"``,
    ``"mixed_bfloat16"`` or ``"mixed_float16"``); models built after the block are float32
    again. Mixed precision computes in 16 bits; the weights, the softmax head, the loss and
    the metrics stay float32.
    """
    policy, why = resolve_precision(requested)
    print(f"Precision: {policy} ({why})")
    with dtype_policy(policy):
        yield policy


def compile_unet(model, learning_rate: float | None = None):
    """Adam + categorical cross-entropy (the handout's loss), accuracy and Dice WT/TC/ET. Ex 7.

    A model built under ``mixed_float16`` gets Keras' dynamic loss scaling (its optimizer
    is wrapped in a ``LossScaleOptimizer`` by ``compile``); bfloat16 needs none.
    """
    model.compile(optimizer=keras.optimizers.Adam(settings.LEARNING_RATE if learning_rate is None else learning_rate),
                  loss="categorical_crossentropy",
                  metrics=["accuracy", *region_dice_metrics()])
    return model


def step_decay(decay: float | None = None, every: int | None = None):
    """Ex 7: a schedule ``(epoch, lr) -> lr`` for ``keras.callbacks.LearningRateScheduler``: the
    rate the optimizer was compiled with, multiplied by ``decay`` every ``every`` epochs.

    It scales the current rate rather than setting one, so ``Adam(1e-2)`` decays from 1e-2:
    the rate chosen at ``compile`` is the one that trains. Defaults: ``settings.LR_DECAY`` and
    ``settings.LR_DECAY_EVERY``, read now.
    """
    decay = settings.LR_DECAY if decay is None else decay
    every = settings.LR_DECAY_EVERY if every is None else every
    if not 0 < decay <= 1 or isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"step_decay(decay, every): decay in (0, 1] and every a positive whole number "
                         f"of epochs, got {decay!r} and {every!r}")

    def schedule(epoch, lr):
        return float(lr) * decay if epoch > 0 and epoch % every == 0 else float(lr)
    return schedule


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
    """Progress of a run for people waiting on it: a bar over the epochs, with the time left
    for the whole run, and a bar over the batches of the current epoch (tqdm, in a
    notebook or a terminal). Use with ``model.fit(..., verbose=0)``. Ex 7, 9."""

    def on_train_begin(self, logs=None):
        from tqdm.auto import tqdm

        self._tqdm = tqdm
        self.run_bar = tqdm(total=self.params["epochs"], desc="training", unit="epoch")

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_bar = self._tqdm(total=self.params.get("steps"), desc=f"epoch {epoch + 1}",
                                    unit="batch", leave=False)

    def on_train_batch_end(self, batch, logs=None):
        self.epoch_bar.update()

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_bar.close()
        logs = logs or {}
        shown = {key: f"{logs[key]:.3f}" for key in ("loss", "val_loss", "val_dice_wt") if key in logs}
        self.run_bar.set_postfix(shown, refresh=False)
        self.run_bar.update()

    def on_train_end(self, logs=None):
        self.run_bar.close()


def make_callbacks(cfg: TrainConfig, preview: tuple) -> list:
    """Checkpoint (kit model file, best val_loss), TensorBoard, LR schedule, CSV log, prediction images. Ex 7.

    ``preview``: ``(images (K, 96, 96, 4), classes (K, 96, 96))`` of the validation slices
    to draw (:func:`preview_slices`), optionally followed by their K names (:func:`slice_names`).
    """
    logdir = Path(cfg.logdir)
    return [
        SaveBestModel(cfg.model_out, monitor="val_loss"),
        TensorBoardLogs(cfg),
        keras.callbacks.LearningRateScheduler(step_decay(cfg.lr_decay, cfg.lr_decay_every)),
        keras.callbacks.CSVLogger(str(logdir / "training_log.csv")),
        PredictionImages(*preview[:2], logdir, epochs=cfg.epochs, names=preview[2] if len(preview) > 2 else None),
    ]


def distribution_strategy():
    """``MirroredStrategy`` when more than one GPU is visible, else the default strategy.

    Several machines (``TF_CONFIG`` naming a cluster) are refused with the reason: Keras 3's
    ``fit`` fails under TensorFlow's ``MultiWorkerMirroredStrategy`` (keras-team/keras#20585,
    tried here with two workers on 127.0.0.1; docs/training.md)."""
    try:
        workers = len(json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster", {}).get("worker", []))
    except (ValueError, AttributeError):
        raise ValueError(f"TF_CONFIG is not a JSON cluster description: {os.environ['TF_CONFIG']!r}") from None
    if workers > 1:
        raise RuntimeError(
            f"TF_CONFIG names a cluster of {workers} workers, but Keras {keras.__version__}'s fit does not run "
            "under MultiWorkerMirroredStrategy (keras-team/keras#20585). Train on one machine: its GPUs "
            "are all used (MirroredStrategy); unset TF_CONFIG")
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def save_config(cfg: TrainConfig) -> Path:
    """Write ``config.json`` (with the replay command) atomically into the log folder."""
    logdir = Path(cfg.logdir)
    logdir.mkdir(parents=True, exist_ok=True)
    content = dataclasses.asdict(cfg)
    content["precision_policy"] = resolve_precision(cfg.precision)[0]
    content["replay"] = f"python -m tp3 train --config {logdir / 'config.json'}"
    content["versions"] = _versions()
    return write_text_atomic(logdir / "config.json", json.dumps(content, indent=2) + "\n")


def _versions() -> dict:
    return {"python": sys.version.split()[0], "tensorflow": tf.__version__,
            "keras": keras.__version__, "numpy": np.__version__}


def train(cfg: TrainConfig, data=None, progress: bool = True):
    """Train a U-Net as ``cfg`` says; returns the Keras ``History``. Ex 7 (and Ex 9 with augment).

    ``data``: optional ``((x_train, y_train), (x_val, y_val))`` arrays already loaded
    (images normalised, classes 0-3); else the splits of ``cfg.root`` are streamed from the
    cache (:func:`tp3.cache.split_cache`, built on first use), so a course of any size trains
    in the same memory. The pieces are those of the notebook's Ex 7 cells:
    :func:`make_dataset` (or :func:`stream_dataset`), :func:`compile_unet`,
    :func:`make_callbacks`, then ``model.fit``.
    """
    strategy = distribution_strategy()  # first: a refused TF_CONFIG stops the run before any work
    seed_everything(cfg.seed, cfg.op_determinism)
    names = None
    if data is None:
        train_split, val_split = (split_cache(split, cfg.root, progress) for split in ("train", "validation"))
        train_set = stream_dataset(train_split, cfg.batch_size, shuffle=True, augment=cfg.augment, seed=cfg.seed,
                                   skip_empty=cfg.skip_empty_slices, ranges=cfg.augmentation)
        val_set = stream_dataset(val_split, cfg.batch_size, shuffle=False)
        keep = preview_slices(val_split.classes())
        preview, names = val_split.read(keep), list(val_split.patients)
    else:
        (x_train, y_train), (x_val, y_val) = data
        train_set = make_dataset(x_train, y_train, cfg.batch_size, shuffle=True, augment=cfg.augment,
                                 seed=cfg.seed, skip_empty=cfg.skip_empty_slices, ranges=cfg.augmentation)
        val_set = make_dataset(x_val, y_val, cfg.batch_size, shuffle=False)
        keep = preview_slices(y_val)
        preview = (x_val[keep], y_val[keep])
    with strategy.scope(), precision(cfg.precision):
        model = compile_unet(build_unet(cfg.width), cfg.learning_rate)
    save_config(cfg)
    Path(cfg.model_out).parent.mkdir(parents=True, exist_ok=True)
    preview = tuple(preview) + ((slice_names(names, keep),) if names else ())
    callbacks = make_callbacks(cfg, preview)
    return model.fit(train_set, validation_data=val_set, epochs=cfg.epochs, shuffle=False,
                     callbacks=callbacks + [ProgressBar()] if progress else callbacks, verbose=0)
