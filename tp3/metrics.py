"""BraTS metrics in the original space (handout §6, Ex 13), BraTS 2019 (CaPTk) conventions.

Regions: WT = labels {1, 2, 4}, TC = {1, 4}, ET = {4}. For each region:
Dice = 2TP / (2TP + FP + FN); sensitivity = TP / (TP + FN); specificity = TN / (TN + FP)
over the whole volume; Hausdorff 95 = the larger of the two directed 95th percentiles of
surface-to-surface distances, in mm (spacing-aware).

Empty regions: both empty -> Dice 1, sensitivity 1, specificity 1, HD95 0. Exactly one
empty -> Dice 0 and HD95 = the volume's diagonal in mm (373.13 for 240x240x155 at 1 mm);
sensitivity is then 0 when the truth has the region (nothing found) and 1 when it does
not (nothing to miss: the design notes leave this case open, and 1 keeps means finite).

The same Dice, with the same empty-region convention, is computed during training by the
Keras metric :class:`RegionDice` (Ex 7) on the 96x96 slices, from the network's classes.

Ex 7   ``RegionDice`` (Dice of one region over an epoch, a Keras metric)
Ex 13  ``evalAllSample`` (all metrics of one patient), ``metrics_table``, ``summarise``
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops
from scipy import ndimage

from .settings import LABEL_TO_CLASS, REGIONS

METRICS = ("dice", "sensitivity", "specificity", "hd95")


def region_classes(region: str) -> tuple[int, ...]:
    """Network classes of a region (``"WT"`` -> ``(1, 2, 3)``), from its BraTS labels."""
    if region not in REGIONS:
        raise ValueError(f"unknown region {region!r}; choose one of {', '.join(REGIONS)}")
    return tuple(LABEL_TO_CLASS[label] for label in REGIONS[region])


def dice(tp, fp, fn) -> float:
    """Dice = 2TP / (2TP + FP + FN) from counts; 1 when both masks are empty."""
    denominator = 2 * tp + fp + fn
    return 2 * tp / denominator if denominator else 1.0


@keras.saving.register_keras_serializable(package="tp3")
class RegionDice(keras.metrics.Metric):
    """Dice of one BraTS region (WT, TC or ET) over an epoch, from argmax predictions. Ex 7.

    ``y_true`` one-hot and ``y_pred`` probabilities, both ``(B, H, W, 4)``. Counts are
    summed over the epoch, then :func:`dice` of the counts (1 when both are empty).
    """

    def __init__(self, region: str = "WT", name=None, **kwargs):
        super().__init__(name=name or f"dice_{region.lower()}", **kwargs)
        self.region = region
        self.classes = region_classes(region)
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
        # dice() as tensor operations: a graph cannot branch on the denominator.
        denominator = 2 * self.tp + self.fp + self.fn
        return ops.where(denominator > 0, 2 * self.tp / ops.maximum(denominator, 1.0), 1.0)

    def reset_state(self):
        for weight in (self.tp, self.fp, self.fn):
            weight.assign(0.0)

    def get_config(self):
        return {"region": self.region, "name": self.name}


def region_dice_metrics() -> list:
    """One :class:`RegionDice` per region of :data:`tp3.settings.REGIONS` (WT, TC, ET). Ex 7."""
    return [RegionDice(region) for region in REGIONS]


def _surface(mask: np.ndarray) -> np.ndarray:
    return mask & ~ndimage.binary_erosion(mask, structure=ndimage.generate_binary_structure(mask.ndim, 1))


def hd95(a: np.ndarray, b: np.ndarray, spacing=(1.0, 1.0, 1.0)) -> float:
    """Symmetric 95th-percentile Hausdorff distance (mm) between two non-empty boolean masks.

    Surface voxels (mask minus its erosion, face connectivity) of each mask are measured
    to the other's surface; the 95th percentile is taken over both sets of distances.

    Distances are computed inside the bounding box of both masks (plus one voxel), which
    gives the same values as on the whole volume at a fraction of the cost.
    """
    union = np.argwhere(a | b)
    lo = np.maximum(union.min(axis=0) - 1, 0)
    hi = np.minimum(union.max(axis=0) + 2, a.shape)
    box = tuple(slice(l, h) for l, h in zip(lo, hi))
    a, b = np.pad(a[box], 1), np.pad(b[box], 1)  # zeros around, as outside the volume
    surface_a, surface_b = _surface(a), _surface(b)
    to_b = ndimage.distance_transform_edt(~surface_b, sampling=spacing)[surface_a]
    to_a = ndimage.distance_transform_edt(~surface_a, sampling=spacing)[surface_b]
    return float(np.percentile(np.concatenate([to_b, to_a]), 95))


def region_metrics(prediction: np.ndarray, truth: np.ndarray, spacing=(1.0, 1.0, 1.0)) -> dict:
    """Dice, sensitivity, specificity, HD95 of two boolean masks of the same shape, as Python
    floats (they print as ``0.967``, not ``np.float64(0.967)``)."""
    return {name: float(value) for name, value in _region_metrics(prediction, truth, spacing).items()}


def _region_metrics(prediction: np.ndarray, truth: np.ndarray, spacing) -> dict:
    tp = np.count_nonzero(prediction & truth)
    fp = np.count_nonzero(prediction) - tp
    fn = np.count_nonzero(truth) - tp
    tn = prediction.size - tp - fp - fn
    diagonal = float(np.linalg.norm(np.asarray(prediction.shape) * np.asarray(spacing)))
    specificity = tn / (tn + fp) if tn + fp else 1.0
    if tp + fp + fn == 0:
        return {"dice": dice(tp, fp, fn), "sensitivity": 1.0, "specificity": specificity, "hd95": 0.0}
    if tp + fp == 0 or tp + fn == 0:  # exactly one of the two is empty
        return {"dice": dice(tp, fp, fn), "sensitivity": 0.0 if tp + fn else 1.0,
                "specificity": specificity, "hd95": diagonal}
    return {"dice": dice(tp, fp, fn), "sensitivity": tp / (tp + fn),
            "specificity": specificity, "hd95": hd95(prediction, truth, spacing)}


def evalAllSample(prediction, ground_truth, spacing=(1.0, 1.0, 1.0)) -> dict:  # noqa: N802 (handout name)
    """Ex 13: metrics of every region for one patient.

    ``prediction`` and ``ground_truth``: integer label volumes of the same shape, typically
    ``(155, 240, 240)`` in {0, 1, 2, 4} (SimpleITK order z, y, x); ``spacing`` in the array's
    axis order (mm). Returns ``{"WT": {"dice", "sensitivity", "specificity", "hd95"}, "TC": ..., "ET": ...}``.
    """
    prediction, ground_truth = np.asarray(prediction), np.asarray(ground_truth)
    if prediction.shape != ground_truth.shape:
        raise ValueError(f"prediction {prediction.shape} and ground truth {ground_truth.shape} "
                         "differ in shape; bring the prediction back with get_mask2original_shape")
    if len(spacing) != prediction.ndim:
        raise ValueError(f"spacing {tuple(spacing)} needs one value per axis of {prediction.shape}")
    return {region: region_metrics(np.isin(prediction, labels), np.isin(ground_truth, labels), spacing)
            for region, labels in REGIONS.items()}


def summarise(results: dict) -> dict:
    """``{patient: evalAllSample(...)}`` -> ``{"mean": {region: {metric}}, "std": {...}}``."""
    out = {"mean": {}, "std": {}}
    for region in REGIONS:
        for stat, function in (("mean", np.mean), ("std", np.std)):
            out[stat][region] = {m: float(function([r[region][m] for r in results.values()]))
                                 for m in METRICS}
    return out


def metrics_table(results: dict) -> str:
    """A text table: one row per patient, then mean ± std, for each region and metric."""
    header = f"{'patient':<20}" + "".join(f"{r + ' ' + m[:4]:>11}" for r in REGIONS for m in METRICS)
    lines = [header, "-" * len(header)]
    for patient, result in results.items():
        lines.append(f"{patient:<20}" + "".join(f"{result[r][m]:>11.3f}" for r in REGIONS for m in METRICS))
    if results:
        stats = summarise(results)
        lines.append("-" * len(header))
        lines.append(f"{'mean':<20}" + "".join(f"{stats['mean'][r][m]:>11.3f}" for r in REGIONS for m in METRICS))
        lines.append(f"{'std':<20}" + "".join(f"{stats['std'][r][m]:>11.3f}" for r in REGIONS for m in METRICS))
    return "\n".join(lines)
