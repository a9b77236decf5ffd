"""The course layout, in one place (as nnU-Net's ``paths.py``): which folders a course root
holds and how every file in them is named. Every reader and writer of the kit builds its paths
with these names (``tests/test_structure.py`` finds no other string constant holding one); the
messages meant for people still name the folders in words ("read datasets/train.txt").

::

    ROOT/                                   course_root(): $TP3_ROOT, /content/TP3 on Colab, else the repository
      data/<ID>/<ID>_<volume>_<zzz>.nii.gz  77 slices of 96 x 96 per volume (Ex 2-4, 7, 11)
      datasets/{train,validation,test}.txt  one patient ID a line (Ex 1)
      origin_data/<ID>/<ID>_<volume>.nii.gz the original volumes of a few validation patients (Ex 4, 11-13)
      logs/<run>/, models/<run>.weights.h5  the course's own training runs (Ex 7, 9)
      predictions/                          exported predictions (Ex 12, python -m tp3 evaluate)
      tensorboard_logs/<run>/               Ex 10's reference runs   } read from ROOT when there,
      models/pretrained.weights.h5          Ex 11-13's model         } else from the kit (shipped)
      .tp3-prepare.json, .tp3-sample.json   the kit's records of the course data
      .tp3_cache/slices/<split>.*.npy       each split as the network takes it (tp3.cache; rebuilt when stale)
      .tp3_cache/step_timings.json          training steps timed on each machine (tp3.sizing)

A ``<volume>`` is a modality (:data:`MODALITIES`, the order of the network's input
channels) or the labels (:data:`LABEL_SUFFIX`).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

#: Modalities in the fixed order of the network's input channels (Ex 4, Ex 11).
MODALITIES = ("t1", "t1ce", "t2", "flair")
#: Name of the label volume (and of its slices) in the BraTS layout.
LABEL_SUFFIX = "seg"
#: The five volumes of a patient, in the order their files sort.
VOLUMES = MODALITIES + (LABEL_SUFFIX,)
SPLITS = ("train", "validation", "test")

#: Folders of the course data, written by ``python -m tp3 prepare`` (and ``sample``).
DATA, DATASETS, ORIGIN_DATA = "data", "datasets", "origin_data"
COURSE_DATA_DIRS = (DATA, DATASETS, ORIGIN_DATA)
#: Folders of what the course makes: training runs, their models, exported predictions.
LOGS, MODELS, PREDICTIONS = "logs", "models", "predictions"
#: Ex 10's reference runs (one sub-folder per run).
REFERENCE_LOGS = "tensorboard_logs"
#: The pretrained model of Ex 11-13, under MODELS.
PRETRAINED = "pretrained.weights.h5"
#: Records the kit keeps in the course root, beside its lock: the preparation's manifest (its
#: cases, for a later ``--force``) and which generator made the default sample. Not in
#: ``data/``, which holds patient folders only (Ex 2 lists it).
PREPARE_MANIFEST = ".tp3-prepare.json"
SAMPLE_RECORD = ".tp3-sample.json"
#: The synthetic source cases of the default sample while it is being built.
SAMPLE_CACHE = ".tp3_cache/synthetic_brats"
#: Each split's slices as the network takes them, for training at any course size (tp3.cache).
SLICE_CACHE = ".tp3_cache/slices"
#: This machine's measured training steps (tp3.sizing), so that the same machine sizes Ex 7 the same way.
STEP_TIMINGS = ".tp3_cache/step_timings.json"

COLAB_ROOT = Path("/content/TP3")
#: The kit's own checkout (what it ships: models/, tensorboard_logs/, notebooks/).
REPO_ROOT = Path(__file__).resolve().parent.parent


def on_colab() -> bool:
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def course_root() -> Path:
    """The course root: ``$TP3_ROOT``, else ``/content/TP3`` on Colab, else the repository."""
    if os.environ.get("TP3_ROOT"):
        return Path(os.environ["TP3_ROOT"]).expanduser().resolve()
    if on_colab():
        return COLAB_ROOT
    return REPO_ROOT


def record_path(root, record: str) -> Path:
    """Where the kit keeps ``record`` (:data:`PREPARE_MANIFEST`, :data:`SAMPLE_RECORD`) for a course root."""
    return Path(root) / record


def legacy_record_path(root, record: str) -> Path:
    """Where kits before December 2026 kept it (``data/``): still read, removed when rewritten."""
    return Path(root) / DATA / record


def slice_name(patient: str, volume: str, z: int) -> str:
    """``<ID>_<volume>_<zzz>.nii.gz``: one 96 x 96 slice; the names sort by volume, then slice."""
    return f"{patient}_{volume}_{z:03d}.nii.gz"


def slice_glob(patient: str, volume: str) -> str:
    """The glob pattern of the slice files of one volume of a patient."""
    return f"{patient}_{volume}_[0-9][0-9][0-9].nii.gz"


def slice_pattern(patient: str) -> re.Pattern:
    """What the name of each file in ``data/<ID>/`` matches (the kit writes nothing else there)."""
    return re.compile(rf"^{re.escape(patient)}_({'|'.join(VOLUMES)})_\d{{3}}\.nii\.gz$")


def original_name(patient: str, volume: str) -> str:
    """``<ID>_<volume>.nii.gz``: an original volume (``origin_data/``, and BraTS 2019's own name)."""
    return f"{patient}_{volume}.nii.gz"


def original_pattern(patient: str) -> re.Pattern:
    """What the name of each file in ``origin_data/<ID>/`` matches (compressed or not)."""
    return re.compile(rf"^{re.escape(patient)}_({'|'.join(VOLUMES)})\.nii(\.gz)?$")


def split_name(split: str) -> str:
    """``<split>.txt``, the file of ``datasets/`` listing one split's patients."""
    return f"{split}.txt"


def split_path(root, split: str) -> Path:
    return Path(root) / DATASETS / split_name(split)


def run_paths(root, run: str) -> tuple[Path, Path]:
    """``(model file, log folder)`` of a training run of the course: ``models/<run>.weights.h5``, ``logs/<run>``."""
    return Path(root) / MODELS / f"{run}.weights.h5", Path(root) / LOGS / run


def shipped(root, *parts: str) -> Path:
    """What the kit ships (``tensorboard_logs/...``, ``models/pretrained.weights.h5``): the course
    root's own copy when it has one (an instructor's reference runs on their data), else the kit's."""
    own = Path(root).joinpath(*parts)
    return own if own.exists() else REPO_ROOT.joinpath(*parts)
