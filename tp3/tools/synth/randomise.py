"""Images drawn afresh from a scene, for every batch (domain randomisation, as SynthSeg trains):
contrasts per tissue and per modality drawn wide — beyond the ranges measured on real scans —
keeping the orderings that define the labels, textures, mimics' levels, gamma, bias field,
noise, and the acquisition: thick or in-plane low-resolution slices, resampled as older scans
were. Then the course's z-score over the brain (:func:`tp3.preprocessing.normalise`), as for
a real scan. Used by ``python -m tp3 pretrain`` (:mod:`tp3.tools.pretrain`), which can also
draw narrower contrasts (:data:`CONTRAST_SETS`) and fewer old acquisitions.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import ndimage

from ...layout import MODALITIES
from ...preprocessing import COURSE_SHAPE, normalise
from .fields import coarse_field, smooth_field_1d
from .mimics import Mimics, apply_mimics, draw_mimic_levels
from ..realism import REAL_SPREAD
from .recipe import CONTRAST_RANGES, DOMAIN_MARGIN
from .scenes import MAPS, MIMIC_MAPS, CourseScene

__all__ = ["WIDE_CONTRAST_RANGES", "CONTRAST_SETS", "draw_wide_contrasts", "draw_acquisition", "keeps_orderings",
           "render_scene", "resample_axis"]

#: Tumour contrasts relative to white matter: the whole range measured on 26 real scans (design
#: notes, min and max), normal tissue's from the generator's recipe. Drawn widened by
#: :data:`WIDENING` of their width on each side, then kept only if :func:`keeps_orderings`.
WIDE_CONTRAST_RANGES = {
    "gm": CONTRAST_RANGES["gm"],
    "csf": CONTRAST_RANGES["csf"],
    "edema": {"t1": (0.65, 1.00), "t1ce": (0.65, 1.03), "t2": (1.14, 2.29), "flair": (1.11, 2.25)},
    "necrosis": {"t1": (0.37, 1.08), "t1ce": (0.36, 0.98), "t2": (1.38, 3.16), "flair": (1.04, 2.28)},
    "enhancing": {"t1": (0.53, 1.03), "t1ce": (0.74, 1.56), "t2": (1.09, 2.72), "flair": (1.01, 2.72)},
}
WIDENING = 0.25
#: Tumour contrasts of the real scans' middle 80 % (design notes' table, 10th to 90th
#: percentile): between the course data's ranges and the whole real range.
TYPICAL_CONTRAST_RANGES = {
    "gm": CONTRAST_RANGES["gm"],
    "csf": CONTRAST_RANGES["csf"],
    **{tissue: {m: REAL_SPREAD[f"{short}/wm {m}"][1:4:2] for m in MODALITIES}
       for tissue, short in (("edema", "edema"), ("necrosis", "ncr"), ("enhancing", "et"))},
}
#: The contrast sets a pretraining run can draw from (``python -m tp3 pretrain --contrasts``):
#: name -> (ranges, widening of their width on each side). ``course``: the course data's own
#: ranges (``python -m tp3 synth``), so that only the acquisition and the tumours vary more.
CONTRAST_SETS = {
    "wide": (WIDE_CONTRAST_RANGES, WIDENING),
    "typical": (TYPICAL_CONTRAST_RANGES, 0.1),
    "course": (CONTRAST_RANGES, DOMAIN_MARGIN),
}
TUMOUR_MAPS = {"necrosis": 1, "edema": 2, "enhancing": 3}  # map name -> class
#: Per-scene acquisition. Lengths in course voxels (2 mm in-plane, about 2 mm through z).
OLD_ACQUISITION_PROBABILITY = 0.35
THICK_SLICES = {"modern": (1.0, 1.5), "old": (1.5, 3.5)}   # slice spacing / course voxel
THICK_T1CE = {"modern": (1.0, 1.2), "old": (1.0, 2.5)}     # T1ce is often a thin 3D sequence
INPLANE_LOW_RESOLUTION = (1.2, 2.0)                        # old scans only
OTHER_SLICE_AXIS_PROBABILITY = 0.15                        # thick sagittal or coronal slices
INPLANE_BLUR = (0.0, 0.5)
NOISE = (0.0, 0.06)
BIAS_AMPLITUDE = (0.0, 0.25)
GAMMA_LOG = 0.25
NORMAL_TEXTURE = {"sigma": (0.05, 0.15), "scale": (2.0, 4.0)}
TUMOUR_TEXTURE = {"sigma": (0.08, 0.35), "scale": (1.0, 2.5)}


def keeps_orderings(table: dict) -> bool:
    """The contrasts that define the labels: edema dark on T1 and bright on T2/FLAIR, brighter
    than grey matter on FLAIR; enhancing tumour brighter on T1ce than on T1, than edema and
    than necrosis there; necrosis and edema not enhancing (T1ce within 15 % of T1); necrosis
    never as dark as CSF on FLAIR (measured on 26 real scans: FLAIR NCR/WM at least 1.04, CSF at
    most 0.45). Without the last two, CSF cisterns and cortex were taught as tumour."""
    edema, necrosis, enhancing = table["edema"], table["necrosis"], table["enhancing"]
    return (edema["t1"] < 0.98 and edema["t2"] > 1.05 and edema["flair"] > 1.03
            and edema["flair"] > table["gm"]["flair"] and edema["t2"] > 0.95 * table["gm"]["t2"]
            and necrosis["flair"] > 0.95 and necrosis["flair"] > table["csf"]["flair"] + 0.5
            and enhancing["t1ce"] > 1.15 * enhancing["t1"] and enhancing["t1ce"] > 1.1 * edema["t1ce"]
            and enhancing["t1ce"] > 1.15 * necrosis["t1ce"]
            and all(abs(t["t1ce"] / t["t1"] - 1) < 0.15 for t in (edema, necrosis)))


def draw_wide_contrasts(rng, contrast_set: str = "wide", tries: int = 200) -> dict:
    """``{tissue: {modality: ratio to white matter}}``, white matter 1, drawn from
    ``CONTRAST_SETS[contrast_set]`` until the orderings hold."""
    all_ranges, widening = CONTRAST_SETS[contrast_set]
    for _ in range(tries):
        table = {"wm": {m: 1.0 for m in MODALITIES}}
        for tissue, ranges in all_ranges.items():
            table[tissue] = {m: _widened(rng, r, widening) for m, r in ranges.items()}
        for tissue in ("gm", "csf", "necrosis", "edema"):
            table[tissue]["t1ce"] = table[tissue]["t1"] * rng.uniform(0.92, 1.08)
        if keeps_orderings(table):
            return table
    raise RuntimeError(f"no contrast table keeps the orderings: the {contrast_set!r} ranges contradict keeps_orderings")


def _widened(rng, lo_hi, widening):
    lo, hi = lo_hi
    return float(rng.uniform(max(lo - widening * (hi - lo), 0.05), hi + widening * (hi - lo)))


def draw_acquisition(rng, old_probability: float = OLD_ACQUISITION_PROBABILITY, max_noise: float = NOISE[1],
                     max_log_gamma: float = GAMMA_LOG) -> dict:
    """Per-scene scanner: old (thick slices, low in-plane resolution; with ``old_probability``)
    or modern, slice spacing per modality, axis, blur, noise (at most ``max_noise`` of white
    matter), bias, gamma per modality (its log within +-``max_log_gamma``)."""
    era = "old" if rng.uniform() < old_probability else "modern"
    thick = {m: rng.uniform(*(THICK_T1CE if m == "t1ce" else THICK_SLICES)[era]) for m in MODALITIES}
    axis = {m: (0 if rng.uniform() >= OTHER_SLICE_AXIS_PROBABILITY else int(rng.integers(1, 3)))
            for m in MODALITIES}
    inplane = rng.uniform(*INPLANE_LOW_RESOLUTION) if era == "old" else 1.0
    return {"era": era, "thick": thick, "axis": axis, "inplane_resolution": inplane,
            "inplane_blur": rng.uniform(*INPLANE_BLUR), "noise": rng.uniform(NOISE[0], max_noise),
            "bias": rng.uniform(*BIAS_AMPLITUDE), "gamma": {m: float(np.exp(rng.uniform(-max_log_gamma, max_log_gamma)))
                                                           for m in MODALITIES}}


def resample_axis(image: np.ndarray, spacing: float, axis: int, offset: float) -> np.ndarray:
    """``image`` as if acquired with slices ``spacing`` voxels apart along ``axis`` (each slice
    integrating its thickness) and interpolated linearly back to every voxel: the blur and the
    stair steps of a thick-slice scan resampled to a fine grid."""
    if spacing <= 1.05:
        return image
    n = image.shape[axis]
    sigma = [0.0] * image.ndim
    sigma[axis] = 0.45 * spacing
    profile = ndimage.gaussian_filter(image, sigma)
    positions = np.arange(offset, n - 1 + spacing, spacing)
    positions = positions[positions <= n - 1]
    if len(positions) < 2:
        return profile
    acquired = _sample(profile, positions, axis)
    # Back to the fine grid: linear between the acquired slices, constant beyond them.
    back = np.clip((np.arange(n) - positions[0]) / spacing, 0, len(positions) - 1)
    return _sample(acquired, back, axis)


def _sample(volume, positions, axis):
    low = np.floor(positions).astype(int)
    high = np.minimum(low + 1, volume.shape[axis] - 1)
    weight = (positions - low).astype(np.float32)
    shape = [1] * volume.ndim
    shape[axis] = -1
    weight = weight.reshape(shape)
    return np.take(volume, low, axis=axis) * (1 - weight) + np.take(volume, high, axis=axis) * weight


#: Unit random fields (:func:`.fields.coarse_field`) shared by every render of a process: a
#: texture is one of them, rolled and flipped at random, raised to a drawn strength. Drawing
#: fresh fields was nine tenths of a render's time.
TEXTURE_BANK_SIZE = 24


@functools.lru_cache(maxsize=4)
def _texture_bank(scales: tuple) -> np.ndarray:
    rng = np.random.default_rng([int(10 * s) for s in scales])
    return np.stack([coarse_field(rng, COURSE_SHAPE, scales[i % len(scales)]) for i in range(TEXTURE_BANK_SIZE)])


def _unit_field(rng, shape, ranges) -> np.ndarray:
    """A unit random field of ``shape`` (at most the course grid's): a bank field rolled,
    flipped and cropped at random."""
    low, high = ranges["scale"]
    bank = _texture_bank((low, (low + high) / 2, high))
    field = bank[rng.integers(len(bank))]
    field = np.roll(field, tuple(rng.integers(0, n) for n in COURSE_SHAPE), axis=(0, 1, 2))
    flips = tuple(axis for axis in range(3) if rng.uniform() < 0.5)
    field = np.flip(field, flips) if flips else field
    return field[tuple(slice(0, n) for n in shape)]


def _texture(rng, shape, ranges) -> np.ndarray:
    return np.exp(rng.uniform(*ranges["sigma"]) * _unit_field(rng, shape, ranges))


def _box(mask, margin: int = 3) -> tuple:
    """The bounding box of ``mask`` plus ``margin`` voxels (slices)."""
    where = np.nonzero(mask)
    return tuple(slice(max(int(w.min()) - margin, 0), int(w.max()) + margin + 1) for w in where)


def render_scene(rng, scene: CourseScene, contrasts: dict | None = None, acquisition: dict | None = None):
    """Images of ``scene`` drawn afresh: float32 ``(77, 96, 96, 4)`` z-scored over the brain
    (T1, T1ce, T2, FLAIR, as the course's), and the scene's classes ``(77, 96, 96)`` uint8 0-3.

    ``contrasts`` (:func:`draw_wide_contrasts`) and ``acquisition`` (:func:`draw_acquisition`)
    are drawn from ``rng`` when not given.
    """
    contrasts = draw_wide_contrasts(rng) if contrasts is None else contrasts
    acquisition = draw_acquisition(rng) if acquisition is None else acquisition
    visible_all = scene.maps[MAPS.index("visible")] > 0
    out = np.zeros(scene.classes.shape + (len(MODALITIES),), dtype=np.float32)
    if not visible_all.any():
        return out, scene.classes
    box = _box(visible_all)  # nothing outside it is seen: rendering there is wasted
    visible = visible_all[box]
    shape = visible.shape

    def fraction(name):
        return scene.maps[(MAPS.index(name),) + box].astype(np.float32) * np.float32(1 / 255)

    gm, wm, csf = (fraction(name) for name in ("gm", "wm", "csf"))
    tumour = {name: fraction(name) for name in TUMOUR_MAPS}
    tissue = np.maximum(gm + wm + csf, 1e-3)
    normal_share = np.clip(1 - sum(tumour.values()) / tissue, 0, 1)
    mimics = Mimics(**{name: fraction(name) for name in MIMIC_MAPS}, stripped=None, **draw_mimic_levels(rng))
    # Part of a region's texture is shared by the contrasts (the same cells), part is not;
    # one field serves the three regions, which do not overlap.
    shared = _unit_field(rng, shape, TUMOUR_TEXTURE)
    strength = {name: rng.uniform(*TUMOUR_TEXTURE["sigma"]) for name in TUMOUR_MAPS}
    bias = [1 + smooth_field_1d(rng, n, 3, acquisition["bias"] / 1.7) for n in shape]
    bias = bias[0][:, None, None] * bias[1][None, :, None] * bias[2][None, None, :]
    offsets = rng.uniform(0, 1, size=(len(MODALITIES), 3))
    for channel, modality in enumerate(MODALITIES):
        c = {name: table[modality] for name, table in contrasts.items()}
        image = (gm * c["gm"] + wm + csf * c["csf"]) * _texture(rng, shape, NORMAL_TEXTURE) * normal_share
        own = _unit_field(rng, shape, TUMOUR_TEXTURE)
        for name, fraction_map in tumour.items():
            image += fraction_map * c[name] * np.exp(strength[name] * np.float32(0.7071) * (shared + own))
        image = apply_mimics(image, modality, mimics) * bias
        image = np.power(np.maximum(image, 0), acquisition["gamma"][modality])
        sigma = acquisition["noise"]
        if sigma > 0:
            image = np.sqrt((image + sigma * rng.standard_normal(shape, dtype=np.float32)) ** 2
                            + (sigma * rng.standard_normal(shape, dtype=np.float32)) ** 2)
        image = _acquire(image, modality, acquisition, offsets[channel])
        out[box + (channel,)] = np.where(visible, np.maximum(image, 1e-3), 0)
    return normalise(out), scene.classes


def _acquire(image, modality, acquisition, offsets) -> np.ndarray:
    axis = acquisition["axis"][modality]
    image = resample_axis(image, acquisition["thick"][modality], axis, offsets[0] * acquisition["thick"][modality])
    for inplane_axis in (1, 2):
        if inplane_axis != axis:
            spacing = acquisition["inplane_resolution"]
            image = resample_axis(image, spacing, inplane_axis, offsets[inplane_axis] * spacing)
    blur = acquisition["inplane_blur"]
    return ndimage.gaussian_filter(image, (0, blur, blur)) if blur > 0 else image

