"""The compatibility matrix's stacks say what they claim: the lowest pins the declared lower
bounds, and the Colab stacks pin what Colab's freezes hold."""

from __future__ import annotations

import re

import pytest
from packaging.version import Version

from tp3.layout import REPO_ROOT

COMPAT = REPO_ROOT / "compat"
COLAB_FREEZES = REPO_ROOT.parent / "shared" / "colab"


def _pins(path) -> dict:
    """``{normalised name: version}`` of the ``name==version`` lines of a requirements file."""
    pins = {}
    for line in path.read_text().splitlines():
        if match := re.fullmatch(r"([A-Za-z0-9_.-]+)==([^\s;#]+)", line.strip()):
            pins[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return pins


def _lower_bounds() -> dict:
    bounds = {}
    for line in (REPO_ROOT / "requirements.txt").read_text().splitlines():
        if match := re.fullmatch(r"([A-Za-z0-9_.-]+)>=([^\s,;#]+)", line.strip()):
            bounds[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return bounds


def test_lowest_stack_pins_every_declared_lower_bound():
    bounds, pins = _lower_bounds(), _pins(COMPAT / "lowest.txt")
    assert bounds, "requirements.txt declares no lower bound"
    for name, version in bounds.items():
        assert name in pins, f"compat/lowest.txt does not pin {name}"
        assert Version(pins[name]) == Version(version), f"{name}: lowest.txt pins {pins[name]}, requirements say >={version}"


@pytest.mark.skipif(not COLAB_FREEZES.is_dir(), reason="needs ../shared/colab beside the repository")
@pytest.mark.parametrize("stack, freeze", [("colab-2025-12", "pip-freeze-2025-12-16.txt"),
                                           ("colab-2026-08", "pip-freeze-2026-08-19.txt")])
def test_colab_stacks_pin_what_colab_has(stack, freeze):
    pins, colab = _pins(COMPAT / f"{stack}.txt"), _pins(COLAB_FREEZES / freeze)
    assert {"tensorflow", "keras", "numpy", "ipykernel", "ipython"} <= set(pins)
    for name, version in pins.items():
        assert colab.get(name) == version, f"{stack}.txt pins {name}=={version}, Colab has {colab.get(name)}"
