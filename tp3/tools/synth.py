"""Synthetic BraTS-like cases from a real brain template (the kit's default course data).

Real BraTS cannot ship with the kit, so each case is made from the MNI ICBM152 2009
template (T1, grey- and white-matter maps at 1 mm) that nilearn bundles and loads
without network. The aim (course data v2) is data on which a network learns what it would
learn on BraTS, so every ingredient is checked against measurements of real scans
(design notes; :mod:`tp3.realism`, ``benchmarks/bench_realism.py``):

* anatomy: the template scaled to a brain of 1.0-1.75 L, a per-case affine, a broad and
  a fine random deformation (cases do not share their folding), per-case atrophy (CSF
  spreading into the sulci and around the ventricles);
* tumour: reaction-diffusion growth seeded in supratentorial white matter (deep, near the
  ventricles or the cortex), faster in white matter so the edema follows it; the core is
  where it arrived first: a necrotic centre in an enhancing ring of uneven thickness, a
  solid enhancing nodule, or patchy enhancement; some cases multifocal; edema/core 0.5-3;
  mass effect; HGG and LGG in BraTS's 3:1 mix, LGG mostly without enhancement;
* contrasts: region-to-white-matter ratios drawn per case across the measured real ranges
  and a little beyond (:data:`CONTRAST_RANGES`, domain randomisation), smooth log-normal
  texture in every region, bias field, Rician noise blurred like resampled scans,
  thick slices for T1/T2/FLAIR, some cases at low resolution, a per-case intensity scale;
* mimics, which a network must learn to leave out: enhancing vessels, choroid plexus and
  dura on T1ce, periventricular and small white-matter FLAIR hyperintensities, bright
  cortical rims, imperfect skull stripping.

Output follows the BraTS 2019 layout and geometry: 240x240x155 voxels of 1 mm, origin
(0, -239, 0), identity direction, int16 images, uint8 labels in {0, 1, 2, 4}.
The same ``(seed, index)`` always gives the same case, whatever the number of workers.
Used by ``python -m tp3 synth`` and by the default sample (:mod:`tp3.sample`).
"""

from __future__ import annotations

import csv
import functools
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from ..files import all_whole, atomic_file, atomic_folder, exclusive, verify_written, write_text_atomic
from ..settings import LABEL_SUFFIX, MODALITIES
from ..preprocessing import ORIGINAL_SHAPE

SPACING = (1.0, 1.0, 1.0)
ORIGIN = (0.0, -239.0, 0.0)
DIRECTION = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
ID_PREFIX = "BraTS19_SYN_"
#: Recorded with the default sample (tp3.sample), so that an older sample can be told apart.
GENERATOR_VERSION = "v2"

#: Median intensity relative to normal white matter, per tissue and contrast: the ranges
#: measured on real skull-stripped scans (design notes, "What real scans look like,
#: measured"). Each case draws its own ratios across them, widened by DOMAIN_MARGIN of
#: their width on each side (domain randomisation, as SynthSeg does): a network trained
#: on the cases must not rely on one contrast. Grey matter and CSF are drawn so that
#: the measured grey/white T1 ratio and CSF contrasts fall in the real ranges too.
CONTRAST_RANGES = {
    "gm": {"t1": (0.55, 0.68), "t1ce": (0.55, 0.68), "t2": (1.25, 1.60), "flair": (1.10, 1.35)},
    "csf": {"t1": (0.22, 0.40), "t1ce": (0.22, 0.42), "t2": (2.4, 3.8), "flair": (0.20, 0.45)},
    "edema": {"t1": (0.70, 0.80), "t1ce": (0.65, 0.95), "t2": (1.36, 2.29), "flair": (1.35, 2.20)},
    "necrosis": {"t1": (0.35, 0.85), "t1ce": (0.35, 0.85), "t2": (1.60, 3.07), "flair": (1.39, 1.87)},
    "enhancing": {"t1": (0.53, 1.03), "t1ce": (1.18, 1.46), "t2": (1.65, 2.75), "flair": (1.62, 2.20)},
}
DOMAIN_MARGIN = 0.08
#: Heterogeneity: standard deviation of the log-intensity field inside each region (the
#: measured interquartile range over median is about 1.35 times it, before noise).
TEXTURE_SIGMA = {"normal": (0.07, 0.13), "edema": (0.15, 0.26), "necrosis": (0.10, 0.22),
                 "enhancing": (0.10, 0.20)}
#: Region label of each tumour tissue.
TUMOUR_LABELS = {"necrosis": 1, "edema": 2, "enhancing": 4}
#: Whole-tumour volume drawn per case, cm^3 (log-uniform, the BraTS range), and the ratio
#: edema / tumour core (design notes: 0.8-3.0 measured; 0.5-3 drawn).
WT_VOLUME_CM3 = (20.0, 280.0)
EDEMA_TO_CORE = (0.5, 3.0)
#: Enhancing fraction of the core: HGG across the real ET/TC range; LGG mostly without.
ET_FRACTION_OF_CORE = {"HGG": (0.15, 0.75), "LGG": (0.02, 0.15)}
LGG_WITH_ET = 0.3
#: HGG core patterns: a necrotic centre in a ring of uneven thickness, a solid enhancing
#: nodule, or a patchy enhancement with gaps.
CORE_PATTERNS = {"ring": 0.55, "solid": 0.15, "patchy": 0.30}
MULTIFOCAL_PROBABILITY = 0.15
#: Brain volume drawn per case, cm^3 (real 1016-1739; the MNI template is about 1880).
BRAIN_VOLUME_CM3 = (1000.0, 1750.0)
#: Per-case atrophy: how far CSF spreads into neighbouring tissue (sulci, ventricles).
ATROPHY = (0.0, 0.6)
#: In-plane blur (voxels) of every contrast: BraTS volumes were resampled to 1 mm.
INPLANE_BLUR = (0.3, 0.7)
#: Thick-slice acquisition (blur along z, in voxels) for these contrasts only.
THICK_SLICE_CONTRASTS = ("t1", "t2", "flair")
THICK_SLICE_BLUR = (0.7, 1.6)
#: Resolution randomisation (as SynthSeg does): a fraction of the cases are acquired at low
#: resolution and upsampled, as many multi-centre BraTS scans were (blur in voxels, all axes).
LOW_RESOLUTION_PROBABILITY = 0.15
LOW_RESOLUTION_BLUR = (1.2, 2.5)
#: Rician noise, relative to white matter, before the blur.
NOISE = (0.04, 0.10)


def case_id(index: int) -> str:
    """``BraTS19_SYN_0001`` for index 1: never mistakable for a real patient."""
    return f"{ID_PREFIX}{index:04d}"


def case_grade(index: int) -> str:
    """HGG for three indices out of four, LGG for every fourth (BraTS 2019 is about 3:1)."""
    return "LGG" if index % 4 == 0 else "HGG"


@dataclass
class SyntheticCase:
    """One case: ``images[modality]`` int16 ``(155, 240, 240)``, ``labels`` uint8 in {0,1,2,4},
    ``tissue`` uint8 (0 mixed/background, 1 CSF, 2 GM, 3 WM where that tissue is pure);
    ``drawn``: the case's random choices that a reader may want (core pattern, multifocal,
    low resolution)."""

    case_id: str
    grade: str
    images: dict
    labels: np.ndarray
    tissue: np.ndarray
    drawn: dict = field(default_factory=dict)


@dataclass(frozen=True)
class _Template:
    gm: np.ndarray      # tissue fractions, float32, (z, y, x) in BraTS orientation
    wm: np.ndarray
    csf: np.ndarray
    ventricles: np.ndarray  # float32, 1 inside the lateral ventricles, smoothed
    seeds: np.ndarray   # candidate tumour seeds, voxel indices (n, 3)
    seed_weights: np.ndarray
    volume_cm3: float   # brain volume of the template


@functools.lru_cache(maxsize=1)
def _template() -> _Template:
    """Load the MNI152 2009 maps through nilearn (bundled, no network), once per process."""
    from nilearn import datasets

    def oriented(img):
        # nilearn gives (x, y, z) in RAS; BraTS arrays are (z, y, x) with x towards the
        # left and y towards posterior, hence the two flips.
        data = img.get_fdata(dtype=np.float32)[::-1, ::-1, :]
        return np.ascontiguousarray(data.transpose(2, 1, 0))

    gm = oriented(datasets.load_mni152_gm_template(resolution=1))
    wm = oriented(datasets.load_mni152_wm_template(resolution=1))
    mask = oriented(datasets.load_mni152_brain_mask(resolution=1)) > 0.5
    gm = np.where(mask, np.clip(gm, 0, 1), 0).astype(np.float32)
    wm = np.where(mask, np.clip(wm, 0, 1), 0).astype(np.float32)
    csf = np.where(mask, np.clip(1 - gm - wm, 0, 1), 0).astype(np.float32)

    depth = ndimage.distance_transform_edt(mask[::2, ::2, ::2]) * 2.0
    depth = ndimage.zoom(depth, np.array(mask.shape) / np.array(depth.shape), order=1)
    # Lateral ventricles: the large CSF spaces deep in the brain, above the brainstem.
    deep_csf = (csf > 0.6) & (depth > 22)
    deep_csf[: 60] = False
    labelled, n = ndimage.label(deep_csf)
    sizes = ndimage.sum(deep_csf, labelled, range(1, n + 1))
    ventricles = np.isin(labelled, 1 + np.flatnonzero(sizes > 2000))
    ventricles = ndimage.gaussian_filter(ventricles.astype(np.float32), 1.0)

    # Seeds: white matter at least 8 mm deep, supratentorial, weighted towards the
    # frontal and temporal lobes; near the ventricles and near the cortex alike.
    z, y, x = np.nonzero((wm[::2, ::2, ::2] > 0.5) & (depth[::2, ::2, ::2] > 8))
    seeds = np.stack([z, y, x], axis=1) * 2
    mni_z = seeds[:, 0] - 72            # template voxel -> MNI mm (affine of nilearn)
    mni_y = 98 - seeds[:, 1]
    keep = mni_z > -10
    seeds, mni_y = seeds[keep], mni_y[keep]
    weights = np.where(mni_y > -20, 3.0, 1.0)
    return _Template(gm, wm, csf, ventricles.astype(np.float32), seeds, weights / weights.sum(),
                     float(mask.sum()) / 1000)


def _widened(rng, lo_hi, margin=DOMAIN_MARGIN):
    lo, hi = lo_hi
    return rng.uniform(lo - margin * (hi - lo), hi + margin * (hi - lo))


def draw_contrasts(rng) -> dict:
    """Per-case relative intensities ``{tissue: {modality: ratio}}``, WM = 1 in every contrast,
    drawn across the real ranges of :data:`CONTRAST_RANGES` and a little beyond."""
    table = {"wm": {m: 1.0 for m in MODALITIES}}
    for tissue, ranges in CONTRAST_RANGES.items():
        table[tissue] = {m: _widened(rng, r) for m, r in ranges.items()}
    # Without enhancement T1ce follows T1 (same tissue, same sequence but for the contrast agent).
    for tissue in ("gm", "csf", "necrosis"):
        table[tissue]["t1ce"] = table[tissue]["t1"] * rng.uniform(0.95, 1.05)
    return table


def _smooth_field_1d(rng, n, knots, amplitude):
    values = rng.uniform(-amplitude, amplitude, size=knots)
    return np.interp(np.linspace(0, knots - 1, n), np.arange(knots), values).astype(np.float32)


def _knot_weights(n: int, scale_vox: float) -> np.ndarray:
    """``(n, knots)`` Gaussian interpolation weights from knots ``scale_vox`` apart to ``n`` voxels."""
    knots = np.arange(-scale_vox, n + 2 * scale_vox, scale_vox, dtype=np.float32)
    weights = np.exp(-0.5 * ((np.arange(n, dtype=np.float32)[:, None] - knots[None, :]) / (0.6 * scale_vox)) ** 2)
    return weights / weights.sum(axis=1, keepdims=True)


def _coarse_field(rng, shape, scale_vox: float) -> np.ndarray:
    """Smooth random field (float32, zero mean, unit standard deviation) with a correlation
    length of about ``scale_vox`` voxels: random values on a coarse grid, interpolated with
    separable Gaussian weights (three small matrix products: cheap at any scale)."""
    wz, wy, wx = (_knot_weights(n, scale_vox) for n in shape)
    values = rng.standard_normal((wz.shape[1], wy.shape[1], wx.shape[1])).astype(np.float32)
    field = wy @ (values @ wx.T)                                 # (kz, Y, X)
    field = (wz @ field.reshape(wz.shape[1], -1)).reshape(shape)  # (Z, Y, X)
    return (field - field.mean()) / max(float(field.std()), 1e-6)


def _deformation(rng, shape, amplitude_mm=2.5, terms=3):
    """A smooth random displacement field (3, *shape): a broad separable part (head shape)
    and a finer one (a few mm at about 12 mm) so that cases do not share their folding."""
    field = np.zeros((3,) + shape, dtype=np.float32)
    fine = rng.uniform(1.5, 3.0)
    for c in range(3):
        for _ in range(terms):
            fz = _smooth_field_1d(rng, shape[0], 4, 1.0)
            fy = _smooth_field_1d(rng, shape[1], 4, 1.0)
            fx = _smooth_field_1d(rng, shape[2], 4, 1.0)
            field[c] += (amplitude_mm / terms) * fz[:, None, None] * fy[None, :, None] * fx[None, None, :]
        field[c] += fine * _coarse_field(rng, shape, 12.0)
    return field


def _smooth_noise(rng, shape, sigma):
    """Gaussian-smoothed white noise rescaled to unit standard deviation (float32)."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma)
    return field / max(float(field.std()), 1e-6)


def _rotation(rng, max_deg):
    ax, ay, az = np.deg2rad(rng.uniform(-max_deg, max_deg, size=3))
    rz = np.array([[1, 0, 0], [0, np.cos(az), -np.sin(az)], [0, np.sin(az), np.cos(az)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rx = np.array([[np.cos(ax), -np.sin(ax), 0], [np.sin(ax), np.cos(ax), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _grow_tumour(rng, tpl: _Template, seed, wt_volume_mm3, spacing=2, half=34, max_steps=160):
    """Fisher-KPP growth on a 2 mm box around ``seed`` (template voxel).

    Returns ``(origin, spacing, density, core_score)``: the box origin (template voxels),
    its voxel size, the final tumour cell density in [0, 1] (edema follows it, so it
    follows white matter), and a score that is high where the tumour arrived early and
    near the seed (the bulk), with an uneven outline.
    """
    lo = np.maximum(np.asarray(seed) - half * spacing, 0)
    hi = np.minimum(np.asarray(seed) + half * spacing, tpl.wm.shape)
    box = tuple(slice(a, b, spacing) for a, b in zip(lo, hi))
    wm, gm = tpl.wm[box], tpl.gm[box]
    heterogeneity = np.exp(0.3 * _smooth_noise(rng, wm.shape, 2.0))
    diffusion = np.clip((wm + 0.1 * gm) * heterogeneity, 0, 1).astype(np.float32) * 0.9
    rate = rng.uniform(0.15, 0.3)

    centre = (np.asarray(seed) - lo) // spacing
    grid = np.indices(wm.shape, dtype=np.float32)
    dist = np.sqrt(sum((g - c) ** 2 for g, c in zip(grid, centre))) * spacing
    density = np.exp(-(dist / 3.0) ** 2).astype(np.float32)
    arrival = np.full(wm.shape, np.inf, dtype=np.float32)
    target = wt_volume_mm3 * 1.4 / spacing ** 3
    for step in range(max_steps):
        density += rate * density * (1 - density)
        density += diffusion * (ndimage.gaussian_filter(density, 1.0) - density)
        arrival[(density > 0.5) & np.isinf(arrival)] = step
        if np.count_nonzero(density > 0.05) >= target:
            break
    arrived = np.isfinite(arrival)
    arrival[~arrived] = step + 1
    roughness = _smooth_noise(rng, wm.shape, rng.uniform(1.0, 2.5))
    # A small focus can stop growing before any voxel passes 0.5: then nothing "arrived".
    reach = max(float(dist[arrived].max()), 1.0) if arrived.any() else 1.0
    core_score = -(arrival / (step + 1) + dist / reach
                   + rng.uniform(0.1, 0.4) * roughness)
    core_score[density < 1e-3] = -np.inf
    return lo, spacing, density, core_score.astype(np.float32)


def _top(score, mask, n):
    """Boolean mask of the ``n`` highest ``score`` voxels within ``mask``."""
    values = score[mask]
    n = int(min(n, np.count_nonzero(np.isfinite(values))))
    out = np.zeros_like(mask)
    if n <= 0:
        return out
    threshold = np.partition(values, len(values) - n)[len(values) - n]
    return mask & (score >= threshold)


def _blobs(shape, centres, radii) -> np.ndarray:
    """Soft balls (1 inside, smooth edge) of the given radii (voxels) around ``centres``."""
    out = np.zeros(shape, dtype=np.float32)
    for centre, radius in zip(centres, radii):
        lo = np.maximum(np.floor(np.asarray(centre) - radius - 2), 0).astype(int)
        hi = np.minimum(np.ceil(np.asarray(centre) + radius + 3), shape).astype(int)
        grid = np.indices(tuple(hi - lo), dtype=np.float32)
        dist = np.sqrt(sum((g + l - c) ** 2 for g, l, c in zip(grid, lo, centre)))
        ball = np.clip(radius + 0.5 - dist, 0, 1)
        region = tuple(slice(a, b) for a, b in zip(lo, hi))
        out[region] = np.maximum(out[region], ball)
    return out


def _pick(rng, mask, n) -> np.ndarray:
    """``n`` random voxel indices ``(n, 3)`` inside ``mask`` (fewer if it is smaller)."""
    where = np.flatnonzero(mask)
    if not len(where):
        return np.zeros((0, 3), dtype=int)
    chosen = rng.choice(where, size=min(n, len(where)), replace=False)
    return np.stack(np.unravel_index(chosen, mask.shape), axis=1)


def _tumour_labels(rng, grade, volumes, density, score, brain, csf, wm) -> tuple[np.ndarray, str]:
    """Labels {0,1,2,4} from the growth fields sampled in the output box, and the core's
    pattern (``ring``, ``solid``, ``patchy``, or ``no enhancement``).

    The core (NCR + ET) is the bulk, where the tumour arrived first; edema wraps it and
    spreads along white matter. ET and NCR nest inside the whole tumour by construction.
    """
    wt, core, et = volumes
    can_host = brain & (csf < 0.5) & (density > 1e-3)
    core_mask = _top(score, can_host, core)
    wrap = ndimage.binary_dilation(core_mask, iterations=2) & brain & (csf < 0.5) & ~core_mask
    edema_score = np.sqrt(density) * (0.15 + wm)
    whole = core_mask | wrap | _top(edema_score, can_host & ~core_mask & ~wrap,
                                    wt - core - np.count_nonzero(wrap))
    labels = np.zeros(brain.shape, dtype=np.uint8)
    labels[whole] = 2
    if et <= 0:
        labels[core_mask] = 1
        return labels, "no enhancement"
    pattern = str(rng.choice(list(CORE_PATTERNS), p=list(CORE_PATTERNS.values()))) if grade == "HGG" else "patchy"
    if pattern == "solid":
        # A solid enhancing nodule, a few necrotic spots.
        spots = _coarse_field(rng, brain.shape, 4.0)
        labels[core_mask] = 4
        labels[core_mask & (spots > np.quantile(spots[core_mask], 1 - (core - et) / max(core, 1)))] = 1
    else:
        # The enhancing rim is the outer part of the core: ranking the score with a rough
        # field makes its thickness uneven; a patchy case has gaps in the rim.
        rim_score = -score - rng.uniform(0.05, 0.25) * _coarse_field(rng, brain.shape, 5.0)
        labels[core_mask] = 1
        if pattern == "patchy":
            gaps = _coarse_field(rng, brain.shape, 6.0)
            rim_score = np.where(gaps > rng.uniform(0.3, 1.0), -np.inf, rim_score)
        labels[_top(rim_score.astype(np.float32), core_mask, et)] = 4
    return labels, pattern


def _region_texture(rng, shape, sigma_range, scale=(2.0, 5.0)) -> np.ndarray:
    """Multiplicative log-normal texture: smooth, unit median."""
    return np.exp(rng.uniform(*sigma_range) * _coarse_field(rng, shape, rng.uniform(*scale)))


def synthesize_case(seed: int, index: int) -> SyntheticCase:
    """Make case ``index`` (1-based) of the stream given by ``seed``. Deterministic.

    The steps below draw from one random stream in a fixed order: the same (seed, index)
    gives the same case whatever else runs.
    """
    rng = np.random.default_rng([seed, index])
    tpl = _template()
    grade = case_grade(index)
    contrasts = draw_contrasts(rng)
    wt, core, et = _draw_tumour_volumes(rng, grade)
    scale, a_inv, out_centre = _draw_head_pose(rng, tpl)
    seeds, volumes = _draw_tumour_seeds(rng, tpl, wt)
    growths = [_grow_tumour(rng, tpl, s, v) for s, v in zip(seeds, volumes)]
    box, coords = _sampling_coordinates(rng, scale, a_inv, out_centre)
    shape = tuple(b.stop - b.start for b in box)
    coords = _mass_effect(rng, coords, seeds[0], core, grade)
    gm, wm, csf, ventricles, brain = _tissue_maps(tpl, coords)
    gm, wm, csf = _atrophy(rng, gm, wm, csf, ventricles, brain)
    density, score = _sample_growths(growths, coords, shape)
    del coords
    labels_box, pattern = _tumour_labels(rng, grade, (wt, core, et), density, score, brain, csf, wm)
    tumour = labels_box > 0
    tissue_box = _tissue_classes(gm, wm, csf, tumour)

    mimics = _mimics(rng, shape, brain, csf, wm, ventricles, tumour)
    brain_out = brain & ~mimics["stripped"]
    visible = brain_out | (mimics["shell"] > 0)  # what the skull stripping kept
    acquisition = _draw_acquisition(rng, shape)
    images = {}
    for modality in MODALITIES:
        image = _render(modality, (gm, wm, csf), labels_box, contrasts, acquisition, mimics, visible)
        images[modality] = _in_full_volume(_acquire(rng, image, modality, acquisition, visible), box)
    labels = _in_full_volume(np.where(brain_out, labels_box, 0).astype(np.uint8), box)
    tissue = _in_full_volume(np.where(brain_out, tissue_box, 0).astype(np.uint8), box)
    drawn = {"pattern": pattern, "multifocal": len(seeds) > 1, "low_resolution": acquisition["low_resolution"]}
    return SyntheticCase(case_id(index), grade, images, labels, tissue, drawn)


def _draw_tumour_volumes(rng, grade) -> tuple[float, float, float]:
    """Whole tumour, core and enhancing volumes (voxels of 1 mm^3); no ET for most LGG."""
    wt = np.exp(rng.uniform(*np.log(WT_VOLUME_CM3))) * 1000
    core = wt / (1 + np.exp(rng.uniform(*np.log(EDEMA_TO_CORE))))
    has_et = grade == "HGG" or rng.uniform() < LGG_WITH_ET
    et = core * rng.uniform(*ET_FRACTION_OF_CORE[grade]) if has_et else 0.0
    return wt, core, et


def _draw_head_pose(rng, tpl):
    """Brain size and shape (per-axis scale), a small rotation, and where the head sits.

    Output voxel ``o`` samples template voxel ``TEMPLATE_CENTRE + a_inv (o - out_centre)``.
    """
    brain_cm3 = np.exp(rng.uniform(*np.log(BRAIN_VOLUME_CM3)))
    scale = (brain_cm3 / tpl.volume_cm3) ** (1 / 3) * rng.uniform(0.96, 1.04, size=3)
    a_inv = np.diag(1 / scale) @ _rotation(rng, 6.0).T
    out_centre = np.array([77.0, 120.0, 120.0]) + rng.uniform(-3, 3, size=3)
    return scale, a_inv, out_centre


TEMPLATE_CENTRE = np.array([77.0, 115.0, 98.0])


def _draw_tumour_seeds(rng, tpl, wt) -> tuple[list, list]:
    """Where the tumour starts (template voxels) and the volume grown from each seed."""
    seeds = [tpl.seeds[rng.choice(len(tpl.seeds), p=tpl.seed_weights)]]
    volumes = [wt]
    if rng.uniform() < MULTIFOCAL_PROBABILITY:
        seeds.append(tpl.seeds[rng.choice(len(tpl.seeds), p=tpl.seed_weights)])
        volumes = [wt * 0.75, wt * 0.25]
    return seeds, volumes


def _sampling_coordinates(rng, scale, a_inv, out_centre):
    """``(box, coords)``: the output box around the brain (slices into the 155x240x240
    volume) and, for each of its voxels, the template coordinates it samples ``(3, *box)``,
    a fine random deformation included. Working in the box keeps a case within budget."""
    half_extent = np.ceil(np.array([80, 100, 82]) * scale.max())
    lo = np.maximum(np.floor(out_centre - half_extent), 0).astype(int)
    hi = np.minimum(np.ceil(out_centre + half_extent), ORIGINAL_SHAPE).astype(int)
    shape = tuple(hi - lo)
    grid = np.indices(shape, dtype=np.float32)
    rel = [grid[i] + (lo[i] - out_centre[i]) for i in range(3)]
    coords = _deformation(rng, shape)
    for i in range(3):
        coords[i] += TEMPLATE_CENTRE[i] + a_inv[i, 0] * rel[0] + a_inv[i, 1] * rel[1] + a_inv[i, 2] * rel[2]
    return tuple(slice(l, h) for l, h in zip(lo, hi)), coords


def _mass_effect(rng, coords, centre, core, grade):
    """Sample closer to the tumour centre, so tissue is pushed outwards (more for HGG)."""
    radius = (3 * core / (4 * np.pi)) ** (1 / 3)
    reach = 1.5 * radius + 10.0
    strength = rng.uniform(0.2, 0.35) if grade == "HGG" else rng.uniform(0.05, 0.15)
    offset = coords - centre.reshape(3, 1, 1, 1).astype(np.float32)
    shrink = 1 - strength * np.exp(-np.sum(offset ** 2, axis=0) / reach ** 2)
    return centre.reshape(3, 1, 1, 1) + offset * shrink


def _tissue_maps(tpl, coords):
    """Grey matter, white matter, CSF fractions (summing to 1 in the brain), ventricles, brain mask."""
    gm, wm, csf, ventricles = (ndimage.map_coordinates(volume, coords, order=1, cval=0.0, prefilter=False)
                               for volume in (tpl.gm, tpl.wm, tpl.csf, tpl.ventricles))
    total = gm + wm + csf
    brain = total > 0.5
    norm = np.where(brain, total, 1)
    return gm / norm, wm / norm, csf / norm, ventricles, brain


def _atrophy(rng, gm, wm, csf, ventricles, brain):
    """CSF spreads into the tissue next to it (wider sulci, larger ventricles), grey matter
    first; the template, an average of 152 brains, has almost no sulci."""
    atrophy = rng.uniform(*ATROPHY)
    spread = ndimage.gaussian_filter(csf, 1.2) * (1 + 1.5 * ventricles)
    gained = np.clip(atrophy * 1.6 * spread * (0.7 + 0.6 * _coarse_field(rng, csf.shape, 8.0) ** 2), 0, 1)
    gained = np.minimum(gained, gm + 0.5 * wm) * brain
    from_gm = np.minimum(gained, gm)
    return gm - from_gm, wm - (gained - from_gm), csf + gained


def _sample_growths(growths, coords, shape):
    """The tumour growth fields (density, and the score that orders core and ET) in the output box."""
    density = np.zeros(shape, dtype=np.float32)
    score = np.full(shape, -np.inf, dtype=np.float32)
    for origin, spacing, grown, bulk in growths:
        box_coords = (coords - origin.reshape(3, 1, 1, 1)) / spacing
        density = np.maximum(density, ndimage.map_coordinates(grown, box_coords, order=1, cval=0.0,
                                                              prefilter=False))
        sampled = ndimage.map_coordinates(bulk, box_coords, order=1, cval=-np.inf, prefilter=False)
        score = np.maximum(score, np.where(np.isfinite(sampled), sampled, -np.inf))
    return density, score


def _tissue_classes(gm, wm, csf, tumour) -> np.ndarray:
    """uint8 map of nearly pure tissue (1 CSF, 2 GM, 3 WM), 0 elsewhere and in the tumour."""
    tissue = np.zeros(gm.shape, dtype=np.uint8)
    tissue[csf > 0.9] = 1
    tissue[gm > 0.9] = 2
    tissue[wm > 0.9] = 3
    tissue[tumour] = 0
    return tissue


def _draw_acquisition(rng, shape) -> dict:
    """Per-case textures and scanner properties shared by the four contrasts."""
    acquisition = {
        "normal_texture": {m: _region_texture(rng, shape, TEXTURE_SIGMA["normal"]) for m in MODALITIES},
        "region_textures": {tissue: (_region_texture(rng, shape, TEXTURE_SIGMA[tissue]),
                                     _region_texture(rng, shape, TEXTURE_SIGMA[tissue]))
                            for tissue in TUMOUR_LABELS},
        "bias_amplitude": rng.uniform(0.05, 0.15),
        "inplane": rng.uniform(*INPLANE_BLUR),
        "low_resolution": rng.uniform() < LOW_RESOLUTION_PROBABILITY,
    }
    if acquisition["low_resolution"]:
        acquisition["inplane"] = rng.uniform(*LOW_RESOLUTION_BLUR)
    return acquisition


def _render(modality, tissues, labels_box, contrasts, acquisition, mimics, visible) -> np.ndarray:
    """The noiseless image of one contrast: tissues, tumour regions with their texture, mimics."""
    gm, wm, csf = tissues
    image = (gm * contrasts["gm"][modality] + wm + csf * contrasts["csf"][modality]) \
        * acquisition["normal_texture"][modality]
    for tissue, (shared, own) in acquisition["region_textures"].items():
        region = labels_box == TUMOUR_LABELS[tissue]
        # Part of the texture is shared by the contrasts (the same cells), part is not.
        image[region] = contrasts[tissue][modality] * np.sqrt(shared[region] * own[region])
    image = _apply_mimics(image, modality, mimics)
    return np.where(visible, image, 0)


def _acquire(rng, image, modality, acquisition, visible) -> np.ndarray:
    """What a scanner makes of it: bias field, Rician noise, slice thickness and in-plane
    blur, an arbitrary intensity scale; int16 with at least 1 inside the brain."""
    shape = image.shape
    amplitude = acquisition["bias_amplitude"] / 1.7
    bias = (1 + _smooth_field_1d(rng, shape[0], 3, amplitude)[:, None, None]) \
        * (1 + _smooth_field_1d(rng, shape[1], 3, amplitude)[None, :, None]) \
        * (1 + _smooth_field_1d(rng, shape[2], 3, amplitude)[None, None, :])
    image = image * bias
    sigma = rng.uniform(*NOISE)
    image = np.sqrt((image + sigma * rng.standard_normal(shape, dtype=np.float32)) ** 2
                    + (sigma * rng.standard_normal(shape, dtype=np.float32)) ** 2)
    thick = rng.uniform(*THICK_SLICE_BLUR) if modality in THICK_SLICE_CONTRASTS else 0.0
    inplane = acquisition["inplane"]
    image = ndimage.gaussian_filter(image, (max(thick, inplane), inplane, inplane))
    wm_intensity = rng.uniform(250, 1200)
    # At least 1 inside: a zero is background to every reader of skull-stripped scans.
    return np.clip(np.round(image * wm_intensity), 1, 32767).astype(np.int16) * visible


def _in_full_volume(box_array: np.ndarray, box) -> np.ndarray:
    """Place an array computed in the brain's box into a zero ``(155, 240, 240)`` volume."""
    full = np.zeros(ORIGINAL_SHAPE, dtype=box_array.dtype)
    full[box] = box_array
    return full


def _mimics(rng, shape, brain, csf, wm, ventricles, tumour) -> dict:
    """What is not tumour but looks like it, as soft maps in [0, 1] over the box.

    ``vessels`` (T1ce-bright tubes: where two smooth fields both cross zero, near the
    surface and in the deep fissures), ``plexus`` (choroid plexus, T1ce-bright in the
    ventricles), ``periventricular`` (FLAIR/T2-bright caps and bands around the
    ventricles), ``wmh`` (small FLAIR-bright white-matter spots), ``rim`` (bright cortical
    rim on FLAIR), ``shell`` (tissue left outside the brain by the skull stripping: dura,
    bright on T1ce), ``stripped`` (brain cut away by it).
    """
    smooth_brain = ndimage.gaussian_filter(brain.astype(np.float32), 2.0)
    surface = brain & (smooth_brain < 0.8)
    deep_csf = (csf > 0.5) & (smooth_brain > 0.98)
    a, b = _coarse_field(rng, shape, 9.0), _coarse_field(rng, shape, 9.0)
    width = rng.uniform(0.04, 0.09)
    tubes = np.clip(1 - np.sqrt(a ** 2 + b ** 2) / width, 0, 1)
    near = ndimage.gaussian_filter((surface | deep_csf).astype(np.float32), 1.5) > 0.2
    vessels = tubes * near * brain * ~tumour

    posterior = np.zeros(shape, dtype=bool)
    in_ventricles = ventricles > 0.5
    if in_ventricles.any():
        ys = np.nonzero(in_ventricles)[1]
        posterior[:, int(np.percentile(ys, 60)):, :] = True
    centres = _pick(rng, in_ventricles & posterior, int(rng.integers(1, 4)))
    plexus = _blobs(shape, centres, rng.uniform(2.5, 5.0, size=len(centres))) * (ventricles > 0.2)

    periventricular = rng.uniform(0.0, 1.0) * np.clip(
        ndimage.gaussian_filter(ventricles, rng.uniform(2.0, 4.0)) * 2.5 - ventricles, 0, 1) * wm
    n_wmh = int(rng.poisson(rng.uniform(0, 6)))
    wmh_centres = _pick(rng, (wm > 0.8) & ~tumour, n_wmh)
    wmh = _blobs(shape, wmh_centres, rng.uniform(1.5, 4.0, size=len(wmh_centres))) * rng.uniform(0.4, 1.0)

    rim = surface * rng.uniform(0.0, 1.0) * np.clip(0.5 + 0.5 * _coarse_field(rng, shape, 20.0), 0, 1)

    patches = _coarse_field(rng, shape, 25.0)
    outside_band = ~brain & (smooth_brain > rng.uniform(0.05, 0.3))
    shell = (outside_band & (patches > rng.uniform(0.3, 1.5))).astype(np.float32)
    stripped = surface & (smooth_brain < 0.6) & (patches < -rng.uniform(1.0, 2.0)) & ~tumour
    return {"vessels": vessels.astype(np.float32), "plexus": plexus, "periventricular": periventricular,
            "wmh": wmh, "rim": rim.astype(np.float32), "shell": shell, "stripped": stripped,
            "contrasts": {"vessel": rng.uniform(1.3, 2.2), "plexus": rng.uniform(1.3, 1.9),
                          "dura": rng.uniform(1.2, 2.0), "periventricular": rng.uniform(1.2, 1.6),
                          "wmh": rng.uniform(1.3, 1.8), "rim": rng.uniform(1.1, 1.4),
                          "shell": {"t1": rng.uniform(0.7, 1.3), "t2": rng.uniform(0.6, 1.3),
                                    "flair": rng.uniform(0.6, 1.2)}}}


def _apply_mimics(image, modality, mimics) -> np.ndarray:
    """Blend the mimics of :func:`_mimics` into one contrast (white matter = 1)."""
    c = mimics["contrasts"]

    def blend(image, weight, value):
        return image * (1 - weight) + weight * value

    if modality == "t1ce":
        image = blend(image, mimics["vessels"], c["vessel"])
        image = blend(image, mimics["plexus"], c["plexus"])
        return blend(image, mimics["shell"], c["dura"])
    if modality in ("t2", "flair"):
        image = image * (1 - 0.5 * mimics["vessels"])  # flow void
        image = blend(image, mimics["plexus"], 1.1)
        lift = c["periventricular"] if modality == "flair" else 0.8 * c["periventricular"]
        image = image * (1 + (lift - 1) * mimics["periventricular"])
        image = blend(image, mimics["wmh"], c["wmh"])
        if modality == "flair":
            image = image * (1 + (c["rim"] - 1) * mimics["rim"])
        return blend(image, mimics["shell"], c["shell"][modality])
    image = blend(image, mimics["plexus"], 0.8)
    return blend(image, mimics["shell"], c["shell"]["t1"])


def _to_sitk(array):
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(array)
    image.SetSpacing(SPACING)
    image.SetOrigin(ORIGIN)
    image.SetDirection(DIRECTION)
    return image


def write_case(case: SyntheticCase, out_dir: Path) -> Path:
    """Write ``out_dir/<ID>/<ID>_{t1,t1ce,t2,flair,seg}.nii.gz`` atomically (tmp folder + rename)."""
    import SimpleITK as sitk

    final = Path(out_dir) / case.case_id
    volumes = dict(case.images, **{LABEL_SUFFIX: case.labels})
    with atomic_folder(final) as tmp:
        for name, array in volumes.items():
            # Level 1: these volumes are written once and read a few times; speed wins.
            path = tmp / f"{case.case_id}_{name}.nii.gz"
            sitk.WriteImage(_to_sitk(array), str(path), useCompression=True, compressionLevel=1)
            verify_written(path)
    return final


def _make_and_write(job):
    seed, index, out_dir = job
    case = synthesize_case(seed, index)
    write_case(case, out_dir)
    return case.case_id, case.grade


#: Which seed and generator wrote the cases of an output folder (never two in one folder).
RECORD = ".tp3-synth.json"


def generate(out_dir, n_patients: int, seed: int, workers: int = 1, force: bool = False,
             progress: bool = True) -> list[tuple[str, str]]:
    """Write ``n_patients`` cases into ``out_dir`` (BraTS 2019 layout) and ``name_mapping.csv``.

    Refuses an ``out_dir`` holding anything but this generator's cases for this seed unless
    ``force`` (which replaces the generator's cases and keeps anything else); finished cases
    are kept and checked whole (a rerun completes an interrupted run). One run at a time
    holds ``out_dir``. Returns ``[(case_id, grade), ...]``.
    """
    from tqdm.auto import tqdm

    from .workers import parallel

    out_dir = Path(out_dir)
    if isinstance(n_patients, bool) or not isinstance(n_patients, int) or n_patients < 1:
        raise ValueError(f"--patients must be at least 1, got {n_patients!r}")
    with exclusive(out_dir, f"synth --out {out_dir}"):
        _check_out_dir(out_dir, n_patients, seed, force)
        write_text_atomic(out_dir / RECORD, json.dumps({"generator": GENERATOR_VERSION, "seed": seed}) + "\n")
        done = {i for i in range(1, n_patients + 1) if _complete_case(out_dir / case_id(i))}
        jobs = [(seed, i, out_dir) for i in range(1, n_patients + 1) if i not in done]
        results = [(case_id(i), case_grade(i)) for i in sorted(done)]
        bar = tqdm(total=len(jobs), desc="synth", unit="case", disable=not progress)
        try:
            with parallel(_make_and_write, jobs, workers) as made:
                for result in made:
                    results.append(result)
                    bar.update()
        finally:
            bar.close()  # an error message then starts on a line of its own
        results.sort()
        _write_name_mapping(out_dir, results)
    return results


def _check_out_dir(out_dir: Path, n_patients: int, seed: int, force: bool) -> None:
    wanted = {case_id(i) for i in range(1, n_patients + 1)}
    entries = [p for p in out_dir.iterdir() if not p.name.startswith(".") and p.name != "name_mapping.csv"]
    foreign = sorted(p.name for p in entries if p.name not in wanted)
    try:
        record = json.loads((out_dir / RECORD).read_text())
    except (OSError, ValueError):
        record = {"generator": GENERATOR_VERSION, "seed": seed} if not entries else {}
    other_run = record != {"generator": GENERATOR_VERSION, "seed": seed}
    if force:
        for entry in entries:  # the generator's case folders only, by their names
            if entry.is_dir() and not entry.is_symlink() and _is_case_name(entry.name):
                shutil.rmtree(entry)
        for entry in out_dir.glob(".*.tmp"):
            shutil.rmtree(entry, ignore_errors=True)
        return
    if foreign:
        raise FileExistsError(
            f"{out_dir} already holds {len(foreign)} other entries (e.g. {foreign[0]}); "
            "choose an empty folder or pass --force (which replaces the synthetic cases only)")
    if entries and other_run:
        made_by = (f"seed {record['seed']} of generator {record['generator']}" if record
                   else "an unknown seed")
        raise FileExistsError(
            f"{out_dir} holds cases made with {made_by}, not seed {seed} of {GENERATOR_VERSION}; "
            "one folder never mixes two: choose another folder or pass --force to replace them")


def _is_case_name(name: str) -> bool:
    return name.startswith(ID_PREFIX) and name[len(ID_PREFIX):].isdigit()


def _complete_case(folder: Path) -> bool:
    return all_whole(folder / f"{folder.name}_{m}.nii.gz" for m in MODALITIES + (LABEL_SUFFIX,))


def _write_name_mapping(out_dir: Path, cases) -> None:
    """BraTS 2019's ``name_mapping.csv`` (Grade, BraTS_2019_subject_ID): grades for the split."""
    with atomic_file(out_dir / "name_mapping.csv") as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Grade", "BraTS_2019_subject_ID"])
        for cid, grade in cases:
            writer.writerow([grade, cid])
