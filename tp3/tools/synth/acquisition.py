"""From tissues to images: per-case contrasts and textures, the mimics blended in, then what a
scanner adds (bias field, Rician noise, slice thickness, blur, an arbitrary scale)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ...layout import MODALITIES
from .fields import coarse_field, smooth_field_1d
from .mimics import apply_mimics
from .recipe import (BIAS_AMPLITUDE, CONTRAST_RANGES, DOMAIN_MARGIN, INPLANE_BLUR, LOW_RESOLUTION_BLUR, LOW_RESOLUTION_PROBABILITY,
                     NOISE, NORMAL_TEXTURE_SCALE, TEXTURE_SIGMA, THICK_SLICE_BLUR, THICK_SLICE_CONTRASTS, TUMOUR_LABELS)


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


def _region_texture(rng, shape, sigma_range, scale=(2.0, 5.0)) -> np.ndarray:
    """Multiplicative log-normal texture: smooth, unit median."""
    return np.exp(rng.uniform(*sigma_range) * coarse_field(rng, shape, rng.uniform(*scale)))


def draw_acquisition(rng, shape) -> dict:
    """Per-case textures and scanner properties shared by the four contrasts."""
    acquisition = {
        "normal_texture": {m: _region_texture(rng, shape, TEXTURE_SIGMA["normal"], NORMAL_TEXTURE_SCALE)
                           for m in MODALITIES},
        "region_textures": {tissue: (_region_texture(rng, shape, TEXTURE_SIGMA[tissue]),
                                     _region_texture(rng, shape, TEXTURE_SIGMA[tissue]))
                            for tissue in TUMOUR_LABELS},
        "bias_amplitude": rng.uniform(*BIAS_AMPLITUDE),
        "inplane": rng.uniform(*INPLANE_BLUR),
        "low_resolution": rng.uniform() < LOW_RESOLUTION_PROBABILITY,
    }
    if acquisition["low_resolution"]:
        acquisition["inplane"] = rng.uniform(*LOW_RESOLUTION_BLUR)
    return acquisition


def render(modality, tissues, labels_box, contrasts, acquisition, mimics, visible) -> np.ndarray:
    """The noiseless image of one contrast: tissues, tumour regions with their texture, mimics."""
    gm, wm, csf = tissues
    image = (gm * contrasts["gm"][modality] + wm + csf * contrasts["csf"][modality]) \
        * acquisition["normal_texture"][modality]
    for tissue, (shared, own) in acquisition["region_textures"].items():
        region = labels_box == TUMOUR_LABELS[tissue]
        # Part of the texture is shared by the contrasts (the same cells), part is not.
        image[region] = contrasts[tissue][modality] * np.sqrt(shared[region] * own[region])
    image = apply_mimics(image, modality, mimics)
    return np.where(visible, image, 0)


def acquire(rng, image, modality, acquisition, visible) -> np.ndarray:
    """What a scanner makes of it: bias field, Rician noise, slice thickness and in-plane
    blur, an arbitrary intensity scale; int16 with at least 1 inside the brain."""
    shape = image.shape
    amplitude = acquisition["bias_amplitude"] / 1.7
    bias = (1 + smooth_field_1d(rng, shape[0], 3, amplitude)[:, None, None]) \
        * (1 + smooth_field_1d(rng, shape[1], 3, amplitude)[None, :, None]) \
        * (1 + smooth_field_1d(rng, shape[2], 3, amplitude)[None, None, :])
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
