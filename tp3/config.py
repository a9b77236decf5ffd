"""The settings of one training run (Ex 7, 9): :class:`TrainConfig`, saved as its ``config.json``,
and :class:`AugmentRanges`, the ranges of its augmentation.

Every default is read from :mod:`tp3.settings` (through :mod:`tp3.runtime` where the machine
decides: width, epochs, precision) when a configuration is made, so a change made in a running
notebook takes effect in the next one; every value is checked, types included, when it is made.

Ex 7   ``TrainConfig`` (``training.TrainConfig`` in the notebooks)
Ex 9   ``TrainConfig(augment=True)``, ``AugmentRanges``
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from . import settings
from .layout import course_root
from .runtime import default_epochs, default_width, requested_precision
from .settings import PRECISIONS


def _option(default=dataclasses.MISSING, help: str = "", factory=None):  # noqa: A002 (argparse's word)
    """A :class:`TrainConfig` field with the help text of its command-line flag."""
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata={"help": help})
    return dataclasses.field(default=default, metadata={"help": help})


def _setting(name: str):
    """A default read from :mod:`tp3.settings` when the configuration is made, not at import."""
    return lambda: getattr(settings, name)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclasses.dataclass(kw_only=True, frozen=True)
class AugmentRanges:
    """The ranges of the transforms of Ex 8-9 (:mod:`tp3.augment`): defaults are
    :mod:`tp3.settings`' values when the ranges are made (change one there, then make a new
    ``TrainConfig``, and the run uses it). A ``TrainConfig`` holds one, ``config.json`` records it."""

    max_rotation_deg: float = dataclasses.field(default_factory=_setting("MAX_ROTATION_DEG"))
    scale_range: tuple = dataclasses.field(default_factory=_setting("SCALE_RANGE"))
    flip_probability: float = dataclasses.field(default_factory=_setting("FLIP_PROBABILITY"))
    gain_range: tuple = dataclasses.field(default_factory=_setting("GAIN_RANGE"))
    offset_range: tuple = dataclasses.field(default_factory=_setting("OFFSET_RANGE"))
    noise_std: float = dataclasses.field(default_factory=_setting("NOISE_STD"))

    def __post_init__(self):
        for name in ("max_rotation_deg", "flip_probability", "noise_std"):
            value = getattr(self, name)
            if not _number(value) or value < 0:
                raise ValueError(f"augmentation {name} must be a number >= 0, got {value!r}")
        if self.flip_probability > 1:
            raise ValueError(f"augmentation flip_probability must be at most 1, got {self.flip_probability!r}")
        for name in ("scale_range", "gain_range", "offset_range"):
            value = getattr(self, name)
            if not (isinstance(value, (tuple, list)) and len(value) == 2 and all(map(_number, value))
                    and value[0] <= value[1]):
                raise ValueError(f"augmentation {name} must be two numbers (low, high), got {value!r}")
            object.__setattr__(self, name, tuple(float(v) for v in value))
        if self.scale_range[0] <= 0:
            raise ValueError(f"augmentation scale_range must stay above 0, got {self.scale_range!r}")


@dataclasses.dataclass(kw_only=True, frozen=True)
class TrainConfig:
    """Everything that defines a training run (Ex 7, 9); saved as ``config.json`` in its log folder.

    Defaults are :mod:`tp3.settings` (width and epochs follow the machine and smoke mode);
    paths may be given as ``str`` or ``Path``. Invalid values raise ``ValueError`` here,
    before any data is read. Fixed once made, so that ``config.json`` says what ran: another
    run is another ``TrainConfig(...)`` (or ``dataclasses.replace(cfg, epochs=3)``).
    ``python -m tp3 train`` has one flag per field but ``augmentation`` (set in ``--config``'s file).
    """

    logdir: str = _option(help="TensorBoard log folder (config.json is written there)")
    model_out: str = _option(help="checkpoint of the best validation loss (.weights.h5, the kit's model file)")
    root: str = _option(factory=lambda: str(course_root()),
                        help="course root (default: TP3_ROOT, /content/TP3 on Colab, else the repository)")
    epochs: int = _option(factory=default_epochs,
                          help=f"epochs (default {settings.EPOCHS}, {settings.SMOKE_EPOCHS} in smoke mode)")
    augment: bool = _option(False, help="augment the training batches (Ex 9)")
    width: int = _option(factory=default_width,
                         help=f"U-Net base width (default {settings.UNET_WIDTH_CPU} on a CPU, "
                              f"{settings.UNET_WIDTH_GPU} with a GPU)")
    seed: int = _option(factory=_setting("SEED"), help="seed of the shuffling, augmentation and initial weights")
    batch_size: int = _option(factory=_setting("BATCH_SIZE"), help="slices per batch")
    learning_rate: float = _option(factory=_setting("LEARNING_RATE"), help="Adam's initial learning rate")
    lr_decay: float = _option(factory=_setting("LR_DECAY"),
                              help="factor applied to the learning rate every --lr-decay-every epochs")
    lr_decay_every: int = _option(factory=_setting("LR_DECAY_EVERY"), help="epochs between two learning-rate decays")
    epoch_share: float = _option(1.0, help="share of the training slices served each epoch, those with tumour "
                                           "first, drawn afresh every epoch; 1: all (tp3.sizing.size_run "
                                           "lowers it on a slow machine)")
    augmentation: AugmentRanges = _option(factory=AugmentRanges, help="ranges of the augmentation's transforms "
                                          "(a JSON object in --config's file; defaults: tp3/settings.py)")
    skip_empty_slices: bool = _option(factory=_setting("SKIP_EMPTY_SLICES"),
                                      help="leave the training slices without brain out of each epoch")
    op_determinism: bool = _option(factory=_setting("OP_DETERMINISM"),
                                   help="TensorFlow's deterministic kernels (same seed, same run, to the last digit)")
    precision: str = _option(factory=requested_precision,
                             help="auto: bfloat16 on CPUs that have it, float16 on recent GPUs, else float32")
    sizing: str = _option("", help="why the width and epoch_share are what they are: the measurement "
                                   "that chose them (tp3.sizing.size_run), or empty when chosen by hand")

    def __post_init__(self):
        for name in ("root", "logdir", "model_out"):  # JSON-ready, whatever the caller passed
            object.__setattr__(self, name, str(getattr(self, name)))
        if not self.model_out.endswith(".weights.h5"):
            raise ValueError(f"model_out must end with .weights.h5 (the kit's model file, which loads on "
                             f"every Keras 3; a .keras archive loads only on a Keras as new as the one that "
                             f"saved it), got {self.model_out}")
        for name in ("epochs", "width", "batch_size", "lr_decay_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive whole number, got {value!r}")
        for name in ("augment", "skip_empty_slices", "op_determinism"):  # "yes" or 0 would act as their truth
            if not isinstance(getattr(self, name), bool):                # value, silently
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if isinstance(self.augmentation, dict):  # as config.json holds it
            object.__setattr__(self, "augmentation", AugmentRanges(**self.augmentation))
        if not isinstance(self.augmentation, AugmentRanges):
            raise ValueError(f"augmentation must be an AugmentRanges, got {self.augmentation!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be a whole number, got {self.seed!r}")
        if not _number(self.epoch_share) or not 0 < self.epoch_share <= 1:
            raise ValueError(f"epoch_share must be a number in (0, 1], got {self.epoch_share!r}")
        if not isinstance(self.sizing, str):
            raise ValueError(f"sizing must be a text, got {self.sizing!r}")
        for name in ("learning_rate", "lr_decay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{name} must be a number, got {value!r}")
        if not self.learning_rate > 0 or not 0 < self.lr_decay <= 1:
            raise ValueError(f"learning_rate must be > 0 and lr_decay in (0, 1], got "
                             f"{self.learning_rate} and {self.lr_decay}")
        object.__setattr__(self, "precision", str(self.precision).lower())
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")

    @classmethod
    def load(cls, path) -> "TrainConfig":
        """The configuration saved in ``path`` (a run's ``config.json``); unknown keys are ignored."""
        path = Path(path)
        try:
            values = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise ValueError(f"{path}: not a readable config.json ({error})") from None
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})
