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
