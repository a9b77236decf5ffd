"""Training the U-Net (handout §4-5, Ex 7 and 9): metrics, callbacks, the training run.

``python -m tp3 train --root ROOT --epochs E [--augment] --logdir DIR --model-out PATH``
writes into ``DIR``: TensorBoard scalars (``train/``, ``validation/``), prediction images
of fixed validation slices every epoch, or about 50 times in long runs (``images/``), ``training_log.csv`` and
``config.json`` — the full configuration, which ``--config DIR/config.json`` replays.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from . import config as settings
from .files import write_text_atomic
from .preprocessing import COURSE_SHAPE
from .viz import class_overlay, to_grey_rgb

#: Tumour regions as sets of network classes (1 NCR/NET, 2 edema, 3 ET = label 4).
REGION_CLASSES = {"WT": (1, 2, 3), "TC": (1, 3), "ET": (3,)}


@dataclasses.dataclass
class TrainConfig:
    """Everything that defines a training run; saved as ``config.json`` in the log folder."""

    root: str
    logdir: str
    model_out: str
    epochs: int = settings.EPOCHS
    augment: bool = False
    width: int = settings.UNET_WIDTH_CPU
    seed: int = settings.SEED
    batch_size: int = settings.BATCH_SIZE
    learning_rate: float = settings.LEARNING_RATE
    lr_decay: float = settings.LR_DECAY
    lr_decay_every: int = settings.LR_DECAY_EVERY
    #: ``auto``, ``float32``, ``bfloat16`` or ``float16`` (see :data:`tp3.config.PRECISION`).
    precision: str = dataclasses.field(default_factory=settings.requested_precision)

    @classmethod
    def load(cls, path) -> "TrainConfig":
        values = json.loads(Path(path).read_text())
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def seed_everything(seed: int) -> None:
    """The one place where training randomness is seeded (Python, numpy, TensorFlow)."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


@keras.saving.register_keras_serializable(package="tp3")
class RegionDice(keras.metrics.Metric):
    """Dice of one BraTS region (WT, TC or ET) over an epoch, from argmax predictions.

    ``y_true`` one-hot and ``y_pred`` probabilities, both ``(B, H, W, 4)``. Counts are
    summed over the epoch, then Dice = 2TP / (2TP + FP + FN); 1 when both are empty.
    """

    def __init__(self, region: str = "WT", name=None, **kwargs):
        super().__init__(name=name or f"dice_{region.lower()}", **kwargs)
        self.region = region
        self.classes = REGION_CLASSES[region]
        self.tp = self.add_weight(name="tp", initializer="zeros")
        self.fp = self.add_weight(name="fp", initializer="zeros")
        self.fn = self.add_weight(name="fn", initializer="zeros")

    def _in_region(self, one_hot):
        return ops.sum(ops.take(one_hot, list(self.classes), axis=-1), axis=-1) > 0.5

    def update_state(self, y_true, y_pred, sample_weight=None):
        truth = self._in_region(ops.cast(y_true, "float32"))
        guess = self._in_region(ops.one_hot(ops.argmax(y_pred, axis=-1), ops.shape(y_pred)[-1]))
        self.tp.assign_add(ops.sum(ops.cast(truth & guess, "float32")))
        self.fp.assign_add(ops.sum(ops.cast(~truth & guess, "float32")))
        self.fn.assign_add(ops.sum(ops.cast(truth & ~guess, "float32")))

    def result(self):
        denominator = 2 * self.tp + self.fp + self.fn
        return ops.where(denominator > 0, 2 * self.tp / ops.maximum(denominator, 1.0), 1.0)

    def reset_state(self):
        for weight in (self.tp, self.fp, self.fn):
            weight.assign(0.0)

    def get_config(self):
        return {"region": self.region, "name": self.name}


@contextlib.contextmanager
def precision_policy(policy: str):
    """Build models under the Keras dtype ``policy`` inside the block, then restore the previous one."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def announce_precision(requested: str | None = None) -> str:
    """The Keras dtype policy for ``requested`` (:func:`tp3.config.resolve_precision`), printed with why."""
    policy, why = settings.resolve_precision(requested)
    print(f"Precision: {policy} ({why})")
    return policy


def set_precision(requested: str | None = None) -> str:
    """Ex 7: the precision of the models built from now on (default :data:`tp3.config.PRECISION`).

    Sets Keras' global dtype policy, prints it and why, returns it (``"float32"``,
    ``"mixed_bfloat16"`` or ``"mixed_float16"``). Mixed precision computes in 16 bits;
    the weights, the softmax head, the loss and the metrics stay float32.
    """
    policy = announce_precision(requested)
    keras.config.set_dtype_policy(policy)
    return policy


def compile_unet(model, learning_rate: float = settings.LEARNING_RATE):
    """Adam + categorical cross-entropy (the handout's loss), accuracy and Dice WT/TC/ET. Ex 7.

    A model built under ``mixed_float16`` gets Keras' dynamic loss scaling (its optimizer
    is wrapped in a ``LossScaleOptimizer`` by ``compile``); bfloat16 needs none.
    """
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="categorical_crossentropy",
                  metrics=["accuracy"] + [RegionDice(region) for region in REGION_CLASSES])
    return model


def step_decay(learning_rate: float, decay: float, every: int):
    """Learning-rate schedule ``epoch -> lr``: multiplied by ``decay`` every ``every`` epochs."""
    def schedule(epoch, lr=None):
        return float(learning_rate * decay ** (epoch // every))
    return schedule


def preview_slices(images: np.ndarray, classes: np.ndarray, n: int = settings.N_PREVIEW_SLICES):
    """Indices of the ``n`` validation slices with the most tumour, spread over patients."""
    tumour = (classes > 0).reshape(len(classes), -1).sum(axis=1)
    n_slices = COURSE_SHAPE[0]
    per_patient = tumour.reshape(-1, n_slices) if len(tumour) % n_slices == 0 else tumour[None]
    best = [p * per_patient.shape[1] + int(np.argmax(row)) for p, row in enumerate(per_patient)]
    best = sorted(best, key=lambda i: -tumour[i])[:n]
    if len(best) < n:
        extra = [i for i in np.argsort(-tumour) if i not in best]
        best += extra[: n - len(best)]
    return sorted(best)


def prediction_panel(flair: np.ndarray, truth: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """FLAIR | ground truth | prediction, in colour: uint8 ``(96, 288, 3)`` for one slice."""
    return np.concatenate([to_grey_rgb(flair), class_overlay(flair, truth),
                           class_overlay(flair, prediction)], axis=1)


class PredictionImages(keras.callbacks.Callback):
    """Writes, every ``every`` epochs, FLAIR | ground truth | prediction panels of fixed
    validation slices to TensorBoard (tag ``predictions``, folder ``logdir/images``). Ex 7.

    ``images`` float32 ``(K, 96, 96, 4)`` normalised, ``classes`` uint8 ``(K, 96, 96)``.
    """

    def __init__(self, images: np.ndarray, classes: np.ndarray, logdir, every: int = 1):
        super().__init__()
        self.images, self.classes, self.every = images, classes, every
        self.flair = images[..., settings.MODALITIES.index("flair")]
        self.writer = tf.summary.create_file_writer(str(Path(logdir) / "images"))

    def on_epoch_end(self, epoch, logs=None):
        if epoch % self.every:
            return
        predicted = np.argmax(self.model.predict(self.images, verbose=0), axis=-1)
        panels = np.stack([prediction_panel(self.flair[i], self.classes[i], predicted[i])
                           for i in range(len(self.images))])
        with self.writer.as_default():
            tf.summary.image("predictions", panels, step=epoch, max_outputs=len(panels),
                             description="FLAIR | ground truth | prediction")
        self.writer.flush()


def make_callbacks(cfg: TrainConfig, preview: tuple[np.ndarray, np.ndarray]):
    """Checkpoint (.keras, best val_loss), TensorBoard, LR schedule, CSV log, prediction images. Ex 7."""
    logdir = Path(cfg.logdir)
    return [
        keras.callbacks.ModelCheckpoint(cfg.model_out, monitor="val_loss", save_best_only=True),
        keras.callbacks.TensorBoard(log_dir=str(logdir), write_graph=False),
        keras.callbacks.LearningRateScheduler(step_decay(cfg.learning_rate, cfg.lr_decay,
                                                         cfg.lr_decay_every)),
        keras.callbacks.CSVLogger(str(logdir / "training_log.csv")),
        PredictionImages(*preview, logdir, every=max(1, cfg.epochs // settings.N_PREVIEW_EPOCHS)),
    ]


def distribution_strategy():
    """``MirroredStrategy`` when more than one GPU is visible, else the default strategy."""
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def save_config(cfg: TrainConfig) -> Path:
    """Write ``config.json`` (with the replay command) atomically into the log folder."""
    logdir = Path(cfg.logdir)
    logdir.mkdir(parents=True, exist_ok=True)
    content = dataclasses.asdict(cfg)
    content["precision_policy"] = settings.resolve_precision(cfg.precision)[0]
    content["replay"] = f"python -m tp3 train --config {logdir / 'config.json'}"
    content["versions"] = _versions()
    return write_text_atomic(logdir / "config.json", json.dumps(content, indent=2) + "\n")


def _versions() -> dict:
    return {"python": sys.version.split()[0], "tensorflow": tf.__version__,
            "keras": keras.__version__, "numpy": np.__version__}


def train(cfg: TrainConfig, data=None, progress: bool = True):
    """Train a U-Net as ``cfg`` says; returns the Keras ``History``. Ex 7 (and Ex 9 with augment).

    ``data``: optional ``((x_train, y_train), (x_val, y_val))`` arrays already loaded
    (images normalised, classes 0-3), else read from ``cfg.root`` with :func:`tp3.pipeline.load_split`.
    """
    from .pipeline import load_split, make_dataset
    from .unet import build_unet

    seed_everything(cfg.seed)
    if data is None:
        data = (load_split("train", cfg.root, progress), load_split("validation", cfg.root, progress))
    (x_train, y_train), (x_val, y_val) = data
    train_set = make_dataset(x_train, y_train, cfg.batch_size, shuffle=True, augment=cfg.augment,
                             seed=cfg.seed)
    val_set = make_dataset(x_val, y_val, cfg.batch_size, shuffle=False)
    keep = preview_slices(x_val, y_val)
    with distribution_strategy().scope(), precision_policy(announce_precision(cfg.precision)):
        model = compile_unet(build_unet(cfg.width), cfg.learning_rate)
    save_config(cfg)
    Path(cfg.model_out).parent.mkdir(parents=True, exist_ok=True)
    return model.fit(train_set, validation_data=val_set, epochs=cfg.epochs, shuffle=False,
                     callbacks=make_callbacks(cfg, (x_val[keep], y_val[keep])),
                     verbose=1 if progress else 0)
