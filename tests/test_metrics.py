"""BraTS metrics: agreement with medpy on non-empty masks, and every empty-case rule."""

from __future__ import annotations

import numpy as np
import pytest
from medpy.metric import binary as medpy
from scipy import ndimage

from tp3.metrics import evalAllSample, metrics_table, region_metrics, summarise

DIAGONAL = 373.13


def _blob(rng, shape, n_seeds=3, radius=8):
    mask = np.zeros(shape, dtype=bool)
    mask[tuple(rng.integers(radius, s - radius) for s in shape)] = True
    for _ in range(n_seeds - 1):
        mask[tuple(rng.integers(radius, s - radius) for s in shape)] = True
    return ndimage.binary_dilation(mask, iterations=radius) & (rng.random(shape) > 0.1)


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (2.5, 0.9, 1.3)])
@pytest.mark.parametrize("seed", range(4))
def test_agrees_with_medpy(seed, spacing):
    rng = np.random.default_rng(seed)
    shape = (40, 60, 50)
    a, b = _blob(rng, shape), _blob(rng, shape)
    ours = region_metrics(a, b, spacing)
    assert ours["dice"] == pytest.approx(medpy.dc(a, b))
    assert ours["sensitivity"] == pytest.approx(medpy.sensitivity(a, b))
    assert ours["specificity"] == pytest.approx(medpy.specificity(a, b))
    assert ours["hd95"] == pytest.approx(medpy.hd95(a, b, voxelspacing=spacing))


def test_regions_from_labels():
    truth = np.zeros((10, 20, 20), np.uint8)
    truth[2:6, 5:10, 5:10] = 2
    truth[3:5, 6:9, 6:9] = 4
    prediction = truth.copy()
    prediction[3:5, 6:9, 6:9] = 1  # ET called NCR: WT and TC perfect, ET missed
    result = evalAllSample(prediction, truth)
    assert result["WT"]["dice"] == 1 and result["TC"]["dice"] == 1
    assert result["ET"]["dice"] == 0 and result["ET"]["sensitivity"] == 0


def test_both_empty():
    empty = np.zeros((155, 240, 240), np.uint8)
    for region in evalAllSample(empty, empty).values():
        assert region == {"dice": 1.0, "sensitivity": 1.0, "specificity": 1.0, "hd95": 0.0}


def test_prediction_empty_truth_not():
    truth = np.zeros((155, 240, 240), np.uint8)
    truth[70:80, 100:110, 100:110] = 4
    et = evalAllSample(np.zeros_like(truth), truth)["ET"]
    assert et["dice"] == 0 and et["sensitivity"] == 0 and et["specificity"] == 1
    assert et["hd95"] == pytest.approx(DIAGONAL, abs=0.01)


def test_truth_empty_prediction_not():
    prediction = np.zeros((155, 240, 240), np.uint8)
    prediction[70:80, 100:110, 100:110] = 4
    et = evalAllSample(prediction, np.zeros_like(prediction))["ET"]
    assert et["dice"] == 0 and et["hd95"] == pytest.approx(DIAGONAL, abs=0.01)
    assert et["sensitivity"] == 1  # nothing to find, nothing missed
    assert et["specificity"] == pytest.approx(1 - 1000 / prediction.size)


def test_shape_mismatch_is_explained():
    with pytest.raises(ValueError, match="get_mask2original_shape"):
        evalAllSample(np.zeros((77, 96, 96)), np.zeros((155, 240, 240)))


def test_table_and_summary():
    rng = np.random.default_rng(0)
    results = {}
    for patient in ("P1", "P2"):
        truth = np.zeros((30, 40, 40), np.uint8)
        truth[_blob(rng, truth.shape, radius=4)] = 2
        truth[_blob(rng, truth.shape, radius=3)] = 4
        results[patient] = evalAllSample(truth, truth)
    stats = summarise(results)
    assert stats["mean"]["WT"]["dice"] == 1 and stats["std"]["ET"]["hd95"] == 0
    table = metrics_table(results)
    assert table.count("\n") == 6 and "mean" in table and "P2" in table


def test_metrics_are_plain_floats():
    """Printed in a notebook they read 0.967, not np.float64(0.967)."""
    truth = np.zeros((8, 8, 8), dtype=np.uint8)
    truth[2:5, 2:5, 2:5] = 4
    prediction = np.roll(truth, 1, axis=0)
    for values in evalAllSample(prediction, truth).values():
        assert all(type(value) is float for value in values.values())
