"""From tissues to images: per-case contrasts and textures, the mimics blended in, then what a
scanner adds (bias field, Rician noise, slice thickness, blur, an arbitrary scale)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ...layout import MODALITIES
from .fields import coarse_field, smooth_field_1d
from .mimics import apply_mimics
from .recipe import (BIAS_AMPLITUDE, CONTRAST_RANGES, CONTRAST_STRATA, DOMAIN_MARGIN, EDEMA_OVER_GM, ENHANCING_MARGIN,
                     ENHANCING_OVER_NEIGHBOURS, FAR_MARGIN,
                     INPLANE_BLUR, LOW_RESOLUTION_BLUR, LOW_RESOLUTION_PROBABILITY, NOISE, NON_ENHANCING_T1CE,
                     NORMAL_TEXTURE_SCALE, TEXTURE_SIGMA, THICK_SLICE_BLUR, THICK_SLICE_CONTRASTS, TUMOUR_LABELS,
                     case_grade)

#: The contrasts drawn in strata. Not drawn in their own: the T1ce of edema and necrosis, which
#: follows their T1, and enhancing tumour's T1, which follows its T1ce.
DERIVED = (("edema", "t1ce"), ("necrosis", "t1ce"), ("enhancing", "t1"))
STRATIFIED = tuple((tissue, modality) for tissue in ("edema", "necrosis", "enhancing") for modality in MODALITIES
                   if (tissue, modality) not in DERIVED)


def _widened(lo_hi, margin=DOMAIN_MARGIN, far_margin=None) -> tuple:
    """``lo_hi`` widened by ``margin`` of its width on each side (by ``far_margin`` on the side
    away from white matter's 1, when given); a range above white matter stays above it (edema
    bright on FLAIR is what the label means)."""
    lo, hi = lo_hi
    below, above = margin, margin
    if far_margin is not None:
        below, above = (far_margin, margin) if (lo + hi) / 2 < 1.0 else (margin, far_margin)
    widened = lo - below * (hi - lo), hi + above * (hi - lo)
    return (max(widened[0], 1.0), widened[1]) if lo >= 1.0 else widened


def _draw(rng, lo_hi, stratum=None) -> float:
    """Uniform over ``lo_hi``; in stratum ``(k, n)``: over its ``k``-th of ``n`` equal parts."""
    lo, hi = lo_hi
    k, n = stratum if stratum is not None else (0, 1)
    return lo + (k + rng.uniform()) * (hi - lo) / n


def contrast_strata(seed: int, index: int) -> dict:
    """``{(tissue, modality): (k, n)}``: the stratum of each tumour contrast of case ``index``
    (1-based) of stream ``seed`` (:data:`~.recipe.CONTRAST_STRATA`). The strata of a block of
    cases are a random permutation per contrast, drawn from the block's own stream, so that a
    case's strata do not depend on which other cases are made. Enhancing tumour: strata over
    the block's high-grade cases only (most low-grade ones have none)."""
    block, position = divmod(index - 1, CONTRAST_STRATA)
    rng = np.random.default_rng([seed, block, CONTRAST_STRATA])
    high_grade = [p for p in range(CONTRAST_STRATA) if case_grade(block * CONTRAST_STRATA + p + 1) == "HGG"]
    strata = {}
    for tissue, modality in STRATIFIED:
        members = high_grade if tissue == "enhancing" else list(range(CONTRAST_STRATA))
        order = rng.permutation(len(members))
        if position in members:
            strata[(tissue, modality)] = (int(order[members.index(position)]), len(members))
    return strata


def draw_contrasts(rng, strata: dict | None = None) -> dict:
    """Per-case relative intensities ``{tissue: {modality: ratio}}``, WM = 1 in every contrast,
    drawn across the real ranges of :data:`CONTRAST_RANGES` and a little beyond; tumour
    contrasts in their ``strata`` (:func:`contrast_strata`) when given."""
    strata = strata or {}
    table = {"wm": {m: 1.0 for m in MODALITIES}}
    for tissue, ranges in CONTRAST_RANGES.items():
        # Enhancing tumour, a thin rim between necrosis and edema, is pulled towards either.
        margin, far = {"enhancing": (ENHANCING_MARGIN, ENHANCING_MARGIN), "edema": (DOMAIN_MARGIN, FAR_MARGIN),
                       "necrosis": (DOMAIN_MARGIN, FAR_MARGIN)}.get(tissue, (DOMAIN_MARGIN, None))
        widened = {m: _widened(r, margin, far) for m, r in ranges.items()}
        table[tissue] = {m: _draw(rng, widened[m], strata.get((tissue, m))) for m in ranges
                         if (tissue, m) != ("enhancing", "t1")}
        if tissue == "enhancing":
            # Its T1 at the same place in its range as its T1ce: it always enhances (T1ce/T1 > 1.3).
            (lo, hi), (t1_lo, t1_hi) = widened["t1ce"], widened["t1"]
            table[tissue]["t1"] = t1_lo + (table[tissue]["t1ce"] - lo) / (hi - lo) * (t1_hi - t1_lo)
    # Without enhancement T1ce follows T1 (same tissue, same sequence but for the contrast agent);
    # edema and necrosis a little brighter on T1ce (real medians: 0.88 / 0.83, 0.78 / 0.73).
    for tissue, factor in (("gm", (0.95, 1.05)), ("csf", (0.95, 1.05)), ("necrosis", NON_ENHANCING_T1CE),
                           ("edema", NON_ENHANCING_T1CE)):
        table[tissue]["t1ce"] = table[tissue]["t1"] * rng.uniform(*factor)
    return _keep_orderings(table)


def _keep_orderings(table: dict) -> dict:
    """The contrasts that define the labels, whatever was drawn (as
    :func:`.randomise.keeps_orderings` requires of the pretraining's renders): edema brighter
    than grey matter on FLAIR and not darker on T2 — a case drawn with faint edema has faint
    cortex too, as a low-contrast scan has —, enhancing tumour brighter on T1ce than edema and
    necrosis — a faintly enhancing case has darker edema and necrosis there, down to their real
    range, and brighter enhancement beyond. Without these, a
    label was given to tissue that looked like normal grey matter or like its neighbour, which
    taught a network to call tumour where there is none (measured on real scans, issue 33)."""
    gm, edema, enhancing = table["gm"], table["edema"], table["enhancing"]
    gm["flair"] = min(gm["flair"], edema["flair"] / EDEMA_OVER_GM["flair"])
    gm["t2"] = min(gm["t2"], edema["t2"] / EDEMA_OVER_GM["t2"])
    for tissue in ("edema", "necrosis"):
        lowest = CONTRAST_RANGES[tissue]["t1"][0] / table[tissue]["t1"]  # not below the real range
        darker = min(1.0, max(enhancing["t1ce"] / (ENHANCING_OVER_NEIGHBOURS * table[tissue]["t1ce"]), lowest))
        table[tissue]["t1"] *= darker
        table[tissue]["t1ce"] *= darker
    brighter = max(1.0, ENHANCING_OVER_NEIGHBOURS * max(edema["t1ce"], table["necrosis"]["t1ce"]) / enhancing["t1ce"])
    enhancing["t1ce"] *= brighter
    enhancing["t1"] *= brighter
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
