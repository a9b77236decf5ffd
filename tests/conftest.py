"""Shared fixtures: a few synthetic cases written once, and their prepared course root."""

from __future__ import annotations

import pytest

from tp3 import prepare, synth
from tp3.config import SEED

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
    prepare.prepare(synthetic_source, root, workers=2, progress=False)
    return root
