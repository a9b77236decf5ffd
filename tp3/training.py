"""Training the U-Net (handout §4-5, Ex 7 and 9): data, compilation, callbacks, the run.

Ex 7   ``load_split`` (a split in memory), ``make_dataset`` (batches, one-hot labels),
       ``stream_dataset`` (the same batches from the cache of :mod:`tp3.cache`, any course size),
       ``brain_slices`` (slices to keep when ``settings.SKIP_EMPTY_SLICES``), ``pipeline_options``,
       ``precision`` (16-bit maths where the hardware is fast at it), ``compile_unet`` (Adam,
       cross-entropy, accuracy and Dice WT/TC/ET), ``step_decay`` (for ``LearningRateScheduler``),
       ``make_callbacks`` (``SaveBestModel``, TensorBoard, LR schedule, CSV log, ``PredictionImages``:
       the callbacks are :mod:`tp3.callbacks`', reached from here as the handout does),
       ``TrainConfig`` + ``save_config``, ``size_run`` (the run's size and time on this machine,
       :mod:`tp3.sizing`); ``train`` is those pieces in one call.
Ex 9   the same with ``TrainConfig(augment=True)`` (``make_dataset(..., augment=True)``).

The notebook's Ex 7 cells and :func:`train` build the same things (a test compares them);
the CLI, ``make demo``, Ex 9 and the reference runs of Ex 10 all go through :func:`train`.

``python -m tp3 train --root ROOT --epochs E [--augment] --logdir DIR --model-out PATH``
writes into ``DIR``: TensorBoard runs ``train/`` and ``validation/`` (scalars grouped and
described, the settings for the HParams dashboard, prediction images of fixed validation
slices at up to 10 epochs, early ones included), ``training_log.csv`` and
``config.json`` — the full configuration, which ``--config DIR/config.json`` replays.

Every patient is read once through :func:`tp3.data.read_patient` (:func:`tp3.data.load_image`,
the network's one input path, as prediction reads it): into memory by :func:`load_split` (the notebook's Ex 7, a small
course), or into the on-disk cache of :mod:`tp3.cache` (:func:`train`, any course). Then
``tf.data`` shuffles, batches, augments (optional) and one-hot encodes, so no batch waits on
NIfTI decoding.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from . import settings
from .cache import in_order, split_cache
# The callbacks live in their own module; students reach them here, as the handout's Ex 7 does.
from .callbacks import PredictionImages, ProgressBar, SaveBestModel, TensorBoardLogs, preview_slices, slice_names
from .data import read_patient, read_split
# The tf.data pipeline lives in its own module; students reach it here, as the handout's Ex 7 does.
from .pipeline import brain_slices, make_dataset, pipeline_options, stream_dataset
from .files import write_text_atomic
from .layout import MODALITIES
from .metrics import region_dice_metrics
from .preprocessing import COURSE_SHAPE
from .config import TrainConfig
from .runtime import available_memory, resolve_precision
# Students choose the precision here (Ex 7); the machinery is tp3.precision's.
from .precision import precision
from .unet import build_unet
# Ex 7's size on this machine (tp3.sizing); students reach it here.
from .sizing import size_run

__all__ = ["TrainConfig", "seed_everything", "load_split", "make_dataset", "brain_slices", "stream_dataset",
           "pipeline_options", "precision", "compile_unet", "step_decay", "preview_slices", "slice_names",
           "PredictionImages", "TensorBoardLogs", "SaveBestModel", "ProgressBar", "make_callbacks", "save_config",
           "size_run", "train"]


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

    Patients are read by :func:`tp3.data.read_patient` (the network's one input path, which the
    cache of :mod:`tp3.cache` reads too), side by side in threads (nibabel's gzip reading and numpy release the GIL; load_split
    is about twice as fast with 2 workers, docs/speed.md), in the split's order.
    """
    from tqdm.auto import tqdm

    patients = read_split(split, root)
    if not patients:
        raise ValueError(f"the {split} split is empty: datasets/{split}.txt lists no patient; "
                         "rebuild the course data with more cases (python -m tp3 prepare)")
    _check_fits_in_memory(split, len(patients))

    read = functools.partial(read_patient, root=root, split=split)
    pairs = list(tqdm(in_order(read, patients), total=len(patients), desc=f"loading {split}", unit="patient",
                      disable=not progress))
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
                                   skip_empty=cfg.skip_empty_slices, ranges=cfg.augmentation,
                                   epoch_share=cfg.epoch_share)
        val_set = stream_dataset(val_split, cfg.batch_size, shuffle=False)
        keep = preview_slices(val_split.classes())
        preview, names = val_split.read(keep), list(val_split.patients)
    else:
        (x_train, y_train), (x_val, y_val) = data
        train_set = make_dataset(x_train, y_train, cfg.batch_size, shuffle=True, augment=cfg.augment,
                                 seed=cfg.seed, skip_empty=cfg.skip_empty_slices, ranges=cfg.augmentation,
                                 epoch_share=cfg.epoch_share)
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
