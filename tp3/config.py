"""Settings of the kit, in one place.

Everything a course might want to change — where the data lives, the seed, the size
of the default sample, the smoke mode used by CI — is read here and nowhere else.

Environment variables
---------------------
``TP3_ROOT``
    Folder holding ``data/``, ``datasets/``, ``origin_data/``, ``tensorboard_logs/``.
    Default: ``/content/TP3`` on Google Colab (the handout's paths), else the
    repository root.
``TP3_SMOKE``
    ``1`` shrinks everything for CI and quick checks (fewer cases, fewer epochs).
``TP3_SAMPLE_PATIENTS``
    Overrides the number of synthetic cases in the default sample.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: The one seed of the kit: data synthesis, splits and training all derive from it.
SEED = 2020

#: Modalities in the fixed order of the network's input channels (Ex 4, Ex 11).
MODALITIES = ("t1", "t1ce", "t2", "flair")
#: File suffix of the label volume / label slices in the BraTS layout.
LABEL_SUFFIX = "seg"
#: Labels of BraTS 2019: background, NCR/NET, edema, enhancing tumour.
BRATS_LABELS = (0, 1, 2, 4)

#: Network classes: 0 background, 1 NCR/NET, 2 edema, 3 enhancing tumour (label 4).
N_CLASSES = 4

#: Fractions of patients in the train / validation / test splits.
SPLIT_FRACTIONS = {"train": 0.7, "validation": 0.15, "test": 0.15}
#: Number of validation patients whose original volumes go to ``origin_data/``.
N_ORIGIN_PATIENTS = 5

COLAB_ROOT = Path("/content/TP3")
REPO_ROOT = Path(__file__).resolve().parent.parent

FULL_SAMPLE_PATIENTS = 40
SMOKE_SAMPLE_PATIENTS = 10


def smoke_mode() -> bool:
    """True when ``TP3_SMOKE=1``: CI-sized data and training."""
    return os.environ.get("TP3_SMOKE", "0").strip().lower() in ("1", "true", "yes")


def on_colab() -> bool:
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def course_root() -> Path:
    """The course root: ``$TP3_ROOT``, else ``/content/TP3`` on Colab, else the repository."""
    if os.environ.get("TP3_ROOT"):
        return Path(os.environ["TP3_ROOT"]).expanduser().resolve()
    if on_colab():
        return COLAB_ROOT
    return REPO_ROOT


def sample_patients() -> int:
    """Number of synthetic cases in the default sample (about 40; 10 in smoke mode)."""
    if os.environ.get("TP3_SAMPLE_PATIENTS"):
        return int(os.environ["TP3_SAMPLE_PATIENTS"])
    return SMOKE_SAMPLE_PATIENTS if smoke_mode() else FULL_SAMPLE_PATIENTS


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


# --- Training hyper-parameters (Ex 7, 9), all here -----------------------------------
#: Base width of the U-Net (filters of its first level). 16 (1.9 M parameters) trains a
#: few epochs in minutes on a laptop CPU; 64 (31 M) is the paper's network, the default
#: when a GPU is visible (Colab). Change these two values, nothing else.
UNET_WIDTH_CPU = 16
UNET_WIDTH_GPU = 64
SMOKE_WIDTH = 4
EPOCHS = 10
SMOKE_EPOCHS = 2
BATCH_SIZE = 32
LEARNING_RATE = 1e-3
#: The learning rate is multiplied by this factor every LR_DECAY_EVERY epochs (the
#: reference runs last 200 epochs: halving it every 50 keeps them learning to the end).
LR_DECAY = 0.5
LR_DECAY_EVERY = 50
#: Prediction images are written to TensorBoard about this many times per run.
N_PREVIEW_EPOCHS = 50
#: ``make demo`` trains briefly: a narrow U-Net for a few epochs (minutes on 2 CPU cores).
DEMO_WIDTH = 8
DEMO_EPOCHS = 6
#: Validation slices shown in TensorBoard at every epoch (those with the most tumour).
N_PREVIEW_SLICES = 4


def gpu_available() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def default_width() -> int:
    """U-Net width: SMOKE_WIDTH in smoke mode, else UNET_WIDTH_GPU with a GPU, else UNET_WIDTH_CPU."""
    if smoke_mode():
        return SMOKE_WIDTH
    return UNET_WIDTH_GPU if gpu_available() else UNET_WIDTH_CPU


def default_epochs() -> int:
    return SMOKE_EPOCHS if smoke_mode() else EPOCHS
