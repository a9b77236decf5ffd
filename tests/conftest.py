"""Shared fixtures: a few synthetic cases written once, and their prepared course root."""

from __future__ import annotations

import pytest

from tp3.tools import preparation, synth
from tp3.settings import SEED

N_SOURCE_CASES = 4  # three HGG and one LGG (every fourth index is LGG)


@pytest.fixture(scope="session")
def synthetic_source(tmp_path_factory):
    """``N_SOURCE_CASES`` synthetic cases in the BraTS 2019 layout, written by two workers."""
    out = tmp_path_factory.mktemp("brats") / "synthetic"
    synth.generate(out, N_SOURCE_CASES, SEED, workers=2, progress=False)
    return out


@pytest.fixture(scope="session")
def course_root(tmp_path_factory, synthetic_source):
    """The course layout (data/, datasets/, origin_data/) prepared from ``synthetic_source``."""
    root = tmp_path_factory.mktemp("course")
    preparation.prepare(synthetic_source, root, workers=2, progress=False)
    return root


def _tumour_slices(root, split, n):
    from tp3 import training
    import numpy as np

    images, classes = training.load_split(split, root, progress=False)
    order = np.sort(np.argsort(-(classes > 0).sum(axis=(1, 2)))[:n])
    return images[order], classes[order]


@pytest.fixture(scope="session")
def tiny_data(course_root):
    """A few dozen training and validation slices with tumour, to keep training runs short."""
    return _tumour_slices(course_root, "train", 64), _tumour_slices(course_root, "validation", 16)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, tiny_data):
    """A width-4 U-Net trained for two epochs on ``tiny_data``: (path to its .weights.h5)."""
    from tp3.training import TrainConfig, train

    folder = tmp_path_factory.mktemp("tiny_model")
    cfg = TrainConfig(root="unused", logdir=str(folder / "logs"), model_out=str(folder / "tiny.weights.h5"),
                      epochs=2, width=4, batch_size=16, learning_rate=3e-3)
    train(cfg, data=tiny_data, progress=False)
    return folder / "tiny.weights.h5"


@pytest.fixture(scope="session")
def two_origin_root(tmp_path_factory, course_root, synthetic_source):
    """``course_root`` with a second patient in ``origin_data/`` (a training case's original
    volumes, copied from ``synthetic_source``): what the checks of Ex 4 and 13 need to tell one
    patient from another."""
    import shutil

    from tp3 import data, layout

    root = tmp_path_factory.mktemp("two_origins") / "course"
    shutil.copytree(course_root, root)
    patient = data.read_split("train", root)[0]
    source = next(p for p in synthetic_source.rglob(patient) if p.is_dir())
    target = root / layout.ORIGIN_DATA / patient
    target.mkdir()
    for volume in layout.VOLUMES:
        shutil.copy(source / layout.original_name(patient, volume), target)
    assert len(data.list_origin_patients(root)) == 2
    return root
