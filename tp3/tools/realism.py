"""How much a case looks like a real BraTS scan: the statistics of the design notes' table.

Instructor tool behind ``benchmarks/bench_realism.py`` and the synthetic-data tests. The
same measurement is applied to every case, synthetic or real, using only its images and
labels (never the generator's own tissue maps), so that the two can be compared:

* normal white matter: the brightest of three T1 intensity classes (k-means) of the
  eroded, tumour-free brain; every ratio is a region's median over its median;
* ratios per tumour region and modality; interquartile range over median (heterogeneity);
* the CSF-dark fraction (T1 below :data:`CSF_DARK_T1`× white matter in the eroded,
  tumour-free brain), the brain volume, the grey/white T1 ratio;
* texture: median ``|Laplacian|`` of the z-scored T1 over the eroded, tumour-free brain;
* tumour shape: ET/TC, edema/TC, volumes.

:data:`REAL_RANGES` holds the ranges measured on real skull-stripped scans (design
notes, "What real scans look like, measured"), :data:`REAL_SPREAD` the tumour contrasts'
percentiles over 26 real scans; :func:`coverage` says how much of the real variety cases span.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..layout import MODALITIES

#: The tumour contrasts measured on 26 real scans (design notes' table): statistic ->
#: (min, 10th percentile, median, 90th percentile, max).
REAL_SPREAD = {
    "edema/wm t1": (0.65, 0.71, 0.83, 0.97, 1.00), "edema/wm t1ce": (0.65, 0.69, 0.88, 1.00, 1.03),
    "edema/wm t2": (1.14, 1.33, 1.47, 1.99, 2.29), "edema/wm flair": (1.11, 1.27, 1.55, 2.10, 2.25),
    "ncr/wm t1": (0.37, 0.48, 0.73, 0.91, 1.08), "ncr/wm t1ce": (0.36, 0.52, 0.78, 0.94, 0.98),
    "ncr/wm t2": (1.38, 1.55, 2.00, 2.83, 3.16), "ncr/wm flair": (1.04, 1.15, 1.72, 2.08, 2.28),
    "et/wm t1": (0.53, 0.62, 0.81, 0.96, 1.03), "et/wm t1ce": (0.74, 0.94, 1.25, 1.45, 1.56),
    "et/wm t2": (1.09, 1.39, 1.71, 2.42, 2.72), "et/wm flair": (1.01, 1.15, 1.71, 2.23, 2.72),
}
#: Real ranges (design notes): statistic -> (low, high). Tumour contrasts: min to max of
#: :data:`REAL_SPREAD`; heterogeneity, CSF-dark fraction and grey/white ratio: the 26 scans'
#: ranges of the design notes' text; texture: the first four real cases; tumour shape: what
#: the generator may draw (reported, not checked per case).
REAL_RANGES = {
    **{name: (spread[0], spread[-1]) for name, spread in REAL_SPREAD.items()},
    "iqr flair edema": (0.11, 0.55), "iqr t1ce et": (0.09, 0.44), "iqr flair wm": (0.09, 0.23),
    "csf-dark fraction": (0.01, 0.19), "brain cm3": (1016, 1739), "gm/wm t1": (0.64, 0.83),
    "texture t1": (0.26, 0.50),
    "et/tc": (0.0, 0.73), "edema/tc": (0.8, 3.0),
    "wt cm3": (20, 300), "tc cm3": (2, 150), "et cm3": (0, 80),
}
#: Statistics that describe the tumour of one case (the ranges say what real tumours span,
#: not what every case must be): reported, but not required of every case.
TUMOUR_SHAPE = ("et/tc", "edema/tc", "wt cm3", "tc cm3", "et cm3")
#: T1 below this fraction of white matter counts as CSF ("CSF-dark").
CSF_DARK_T1 = 0.55
#: Erosion of the brain mask (voxels of 1 mm) before the normal-tissue statistics: the
#: brain's rim mixes with the background.
ERODE_MM = 4
#: Voxels within this distance of the tumour are not "normal".
TUMOUR_MARGIN_MM = 5
#: The tumour sub-regions measured, by their BraTS labels (not the WT/TC/ET regions of Ex 13).
SUBREGION_LABELS = {"edema": (2,), "ncr": (1,), "et": (4,)}


def _three_classes(values: np.ndarray, iterations: int = 20) -> np.ndarray:
    """Centres of a 1D k-means with three classes (CSF, GM, WM on T1), sorted."""
    centres = np.percentile(values, [10, 50, 90]).astype(np.float64)
    for _ in range(iterations):
        nearest = np.argmin(np.abs(values[:, None] - centres[None, :]), axis=1)
        centres = np.array([values[nearest == k].mean() if np.any(nearest == k) else centres[k]
                            for k in range(3)])
    return np.sort(centres)


def _iqr_over_median(values: np.ndarray) -> float:
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return float((q3 - q1) / median) if median > 0 else float("nan")


def measure_case(images: dict, labels: np.ndarray, voxel_mm3: float = 1.0) -> dict:
    """Statistics of one case: ``images[modality]`` and ``labels`` ``(155, 240, 240)`` (z, y, x),
    labels in {0,1,2,4}, 1 mm voxels. Returns ``{statistic: value}`` (NaN where a region is absent)."""
    brain = np.all([images[m] > 0 for m in MODALITIES], axis=0)
    tumour = labels > 0
    near_tumour = ndimage.binary_dilation(tumour, iterations=TUMOUR_MARGIN_MM) if tumour.any() else tumour
    eroded = ndimage.binary_erosion(brain, iterations=ERODE_MM)
    normal = eroded & ~near_tumour
    t1 = images["t1"].astype(np.float32)
    sample = t1[normal][:: max(1, int(np.count_nonzero(normal) // 400_000))]
    csf_c, gm_c, wm_c = _three_classes(sample)
    # A voxel is white matter when closer to the WM centre than to the GM one.
    wm = normal & (t1 > (gm_c + wm_c) / 2)
    gm = normal & (t1 > (csf_c + gm_c) / 2) & ~wm
    wm_median = {m: float(np.median(images[m][wm])) for m in MODALITIES}
    stats = {}
    for region, region_labels in SUBREGION_LABELS.items():
        mask = np.isin(labels, region_labels)
        for m in MODALITIES:
            stats[f"{region}/wm {m}"] = (float(np.median(images[m][mask])) / wm_median[m]
                                        if mask.sum() >= 20 else float("nan"))
    edema, et = labels == 2, labels == 4
    stats["iqr flair edema"] = _iqr_over_median(images["flair"][edema]) if edema.sum() >= 20 else float("nan")
    stats["iqr t1ce et"] = _iqr_over_median(images["t1ce"][et]) if et.sum() >= 20 else float("nan")
    stats["iqr flair wm"] = _iqr_over_median(images["flair"][wm])
    stats["csf-dark fraction"] = float(np.mean(t1[normal] < CSF_DARK_T1 * wm_median["t1"]))
    stats["brain cm3"] = brain.sum() * voxel_mm3 / 1000
    stats["gm/wm t1"] = float(np.median(t1[gm])) / wm_median["t1"]
    brain_t1 = t1[brain]
    z_scored = np.where(brain, (t1 - brain_t1.mean()) / brain_t1.std(), 0).astype(np.float32)
    stats["texture t1"] = float(np.median(np.abs(ndimage.laplace(z_scored))[normal]))
    tc = np.isin(labels, (1, 4)).sum()
    stats["et/tc"] = et.sum() / tc if tc else float("nan")
    stats["edema/tc"] = edema.sum() / tc if tc else float("nan")
    stats["wt cm3"] = tumour.sum() * voxel_mm3 / 1000
    stats["tc cm3"] = tc * voxel_mm3 / 1000
    stats["et cm3"] = et.sum() * voxel_mm3 / 1000
    return stats


def outside(stats: dict, ranges: dict = REAL_RANGES, margin: float = 0.0) -> dict:
    """``{statistic: (value, (low, high))}`` for the measured statistics outside the real
    range widened by ``margin`` (a fraction of its width); NaN (absent region) is not outside."""
    out = {}
    for name, (low, high) in ranges.items():
        value = stats.get(name, float("nan"))
        pad = margin * (high - low)
        if np.isfinite(value) and not low - pad <= value <= high + pad:
            out[name] = (value, (low, high))
    return out


def coverage(values, spread: tuple) -> float:
    """The share of the real 10th-90th percentile interval (``spread``, a :data:`REAL_SPREAD`
    entry) that the span of ``values`` (one statistic over several cases; NaN ignored) covers:
    1 when the cases reach both percentiles, 0 when they miss the interval."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    low, high = spread[1], spread[3]
    if values.size == 0:
        return 0.0
    covered = min(values.max(), high) - max(values.min(), low)
    return float(max(covered, 0.0) / (high - low))
