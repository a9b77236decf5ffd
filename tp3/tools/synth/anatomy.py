"""The brain of a synthetic case: the MNI template (through nilearn), a per-case size, pose and
deformation, tissue fractions sampled from it, atrophy."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ...preprocessing import ORIGINAL_SHAPE
from .fields import coarse_field, smooth_field_1d
from .recipe import ATROPHY, BRAIN_VOLUME_CM3, TISSUE_SHARPNESS


@dataclass(frozen=True)
class Template:
    gm: np.ndarray      # tissue fractions, float32, (z, y, x) in BraTS orientation
    wm: np.ndarray
    csf: np.ndarray
    ventricles: np.ndarray  # float32, 1 inside the lateral ventricles, smoothed
    #: ``{name: (candidate tumour seeds, voxel indices (n, 3), their probabilities)}``, the
    #: regions of :attr:`recipe.TumourVariety.seed_region`
    seed_regions: dict
    volume_cm3: float   # brain volume of the template


@functools.lru_cache(maxsize=1)
def template() -> Template:
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

    return Template(gm, wm, csf, ventricles.astype(np.float32),
                    {"course": _course_seeds(wm, depth), "wide": _wide_seeds(gm, wm, depth)},
                    float(mask.sum()) / 1000)


def _mni(seeds):
    """Template voxels (z, y, x) -> MNI mm (x, y, z) (nilearn's 1 mm affine, the two flips undone)."""
    return 98 - seeds[:, 2], 98 - seeds[:, 1], seeds[:, 0] - 72


def _course_seeds(wm, depth):
    # White matter at least 8 mm deep, supratentorial, weighted towards the frontal and
    # temporal lobes; near the ventricles and near the cortex alike.
    z, y, x = np.nonzero((wm[::2, ::2, ::2] > 0.5) & (depth[::2, ::2, ::2] > 8))
    seeds = np.stack([z, y, x], axis=1) * 2
    _, mni_y, mni_z = _mni(seeds)
    keep = mni_z > -10
    seeds, mni_y = seeds[keep], mni_y[keep]
    weights = np.where(mni_y > -20, 3.0, 1.0)
    return seeds, weights / weights.sum()


def _wide_seeds(gm, wm, depth):
    # Every place gliomas grow: white or grey matter from 4 mm deep, the temporal lobes' low
    # slices included (below MNI z = -10 only lateral to the brainstem and in front of the
    # cerebellum); weighted as the course's, the cortex as likely as the deep white matter.
    tissue = (wm[::2, ::2, ::2] + gm[::2, ::2, ::2] > 0.6) & (depth[::2, ::2, ::2] > 4)
    z, y, x = np.nonzero(tissue)
    seeds = np.stack([z, y, x], axis=1) * 2
    mni_x, mni_y, mni_z = _mni(seeds)
    temporal = (mni_z > -35) & (np.abs(mni_x) > 25) & (mni_y > -45)
    keep = (mni_z > -10) | temporal
    seeds, mni_y = seeds[keep], mni_y[keep]
    weights = np.where(mni_y > -20, 3.0, 1.0)
    return seeds, weights / weights.sum()


TEMPLATE_CENTRE = np.array([77.0, 115.0, 98.0])


def draw_head_pose(rng, tpl):
    """Brain size and shape (per-axis scale), a small rotation, and where the head sits.

    Output voxel ``o`` samples template voxel ``TEMPLATE_CENTRE + a_inv (o - out_centre)``.
    """
    brain_cm3 = np.exp(rng.uniform(*np.log(BRAIN_VOLUME_CM3)))
    scale = (brain_cm3 / tpl.volume_cm3) ** (1 / 3) * rng.uniform(0.96, 1.04, size=3)
    a_inv = np.diag(1 / scale) @ _rotation(rng, 6.0).T
    out_centre = np.array([77.0, 120.0, 120.0]) + rng.uniform(-3, 3, size=3)
    return scale, a_inv, out_centre


def _rotation(rng, max_deg):
    ax, ay, az = np.deg2rad(rng.uniform(-max_deg, max_deg, size=3))
    rz = np.array([[1, 0, 0], [0, np.cos(az), -np.sin(az)], [0, np.sin(az), np.cos(az)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rx = np.array([[np.cos(ax), -np.sin(ax), 0], [np.sin(ax), np.cos(ax), 0], [0, 0, 1]])
    return rz @ ry @ rx


def sampling_coordinates(rng, scale, a_inv, out_centre):
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


def _deformation(rng, shape, amplitude_mm=2.5, terms=3):
    """A smooth random displacement field (3, *shape): a broad separable part (head shape)
    and a finer one (a few mm at about 12 mm) so that cases do not share their folding."""
    field = np.zeros((3,) + shape, dtype=np.float32)
    fine = rng.uniform(1.5, 3.0)
    for c in range(3):
        for _ in range(terms):
            fz = smooth_field_1d(rng, shape[0], 4, 1.0)
            fy = smooth_field_1d(rng, shape[1], 4, 1.0)
            fx = smooth_field_1d(rng, shape[2], 4, 1.0)
            field[c] += (amplitude_mm / terms) * fz[:, None, None] * fy[None, :, None] * fx[None, None, :]
        field[c] += fine * coarse_field(rng, shape, 12.0)
    return field


def tissue_maps(tpl, coords):
    """Grey matter, white matter, CSF fractions as the template gives them (:func:`sharpen_tissues`
    makes them sum to 1 in the brain), ventricles, brain mask."""
    gm, wm, csf, ventricles = (ndimage.map_coordinates(volume, coords, order=1, cval=0.0, prefilter=False)
                               for volume in (tpl.gm, tpl.wm, tpl.csf, tpl.ventricles))
    brain = gm + wm + csf > 0.5
    return gm, wm, csf, ventricles, brain


def sharpen_tissues(rng, gm, wm, csf, brain):
    """Fractions raised to a per-case power and renormalised: the template, an average of 152
    brains, blurs grey and white matter into each other more than one real brain does (its
    measured grey/white T1 ratio stays at the top of the real range however grey matter is drawn)."""
    power = rng.uniform(*TISSUE_SHARPNESS)
    gm, wm, csf = (np.power(np.maximum(t, 0), power) for t in (gm, wm, csf))
    total = np.maximum(np.where(brain, gm + wm + csf, 1), 1e-6)
    return gm / total, wm / total, csf / total


def apply_atrophy(rng, gm, wm, csf, ventricles, brain):
    """CSF spreads into the tissue next to it (wider sulci, larger ventricles), grey matter
    first; the template, an average of 152 brains, has almost no sulci."""
    atrophy = rng.uniform(*ATROPHY)
    spread = ndimage.gaussian_filter(csf, 1.2) * (1 + 1.5 * ventricles)
    gained = np.clip(atrophy * 1.6 * spread * (0.7 + 0.6 * coarse_field(rng, csf.shape, 8.0) ** 2), 0, 1)
    gained = np.minimum(gained, gm + 0.5 * wm) * brain
    from_gm = np.minimum(gained, gm)
    return gm - from_gm, wm - (gained - from_gm), csf + gained


def tissue_classes(gm, wm, csf, tumour) -> np.ndarray:
    """uint8 map of nearly pure tissue (1 CSF, 2 GM, 3 WM), 0 elsewhere and in the tumour."""
    tissue = np.zeros(gm.shape, dtype=np.uint8)
    tissue[csf > 0.9] = 1
    tissue[gm > 0.9] = 2
    tissue[wm > 0.9] = 3
    tissue[tumour] = 0
    return tissue


def in_full_volume(box_array: np.ndarray, box) -> np.ndarray:
    """Place an array computed in the brain's box into a zero ``(155, 240, 240)`` volume."""
    full = np.zeros(ORIGINAL_SHAPE, dtype=box_array.dtype)
    full[box] = box_array
    return full
