"""One synthetic case, from its seed and index: the steps of the other modules in a fixed order."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...layout import MODALITIES
from .acquisition import acquire, draw_acquisition, draw_contrasts, render
from .anatomy import (apply_atrophy, draw_head_pose, in_full_volume, sampling_coordinates, sharpen_tissues, template,
                      tissue_classes, tissue_maps)
from .mimics import draw_mimics
from .recipe import case_grade, case_id
from .tumour import draw_tumour_seeds, draw_tumour_volumes, grow_tumour, mass_effect, sample_growths, tumour_labels


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


def synthesize_case(seed: int, index: int) -> SyntheticCase:
    """Make case ``index`` (1-based) of the stream given by ``seed``. Deterministic.

    The steps below draw from one random stream in a fixed order: the same (seed, index)
    gives the same case whatever else runs.
    """
    rng = np.random.default_rng([seed, index])
    tpl = template()
    grade = case_grade(index)
    contrasts = draw_contrasts(rng)
    wt, core, et = draw_tumour_volumes(rng, grade)
    scale, a_inv, out_centre = draw_head_pose(rng, tpl)
    seeds, volumes = draw_tumour_seeds(rng, tpl, wt)
    growths = [grow_tumour(rng, tpl, s, v) for s, v in zip(seeds, volumes)]
    box, coords = sampling_coordinates(rng, scale, a_inv, out_centre)
    shape = tuple(b.stop - b.start for b in box)
    coords = mass_effect(rng, coords, seeds[0], core, grade)
    gm, wm, csf, ventricles, brain = tissue_maps(tpl, coords)
    gm, wm, csf = sharpen_tissues(rng, gm, wm, csf, brain)
    gm, wm, csf = apply_atrophy(rng, gm, wm, csf, ventricles, brain)
    density, score = sample_growths(growths, coords, shape)
    del coords
    labels_box, pattern = tumour_labels(rng, grade, (wt, core, et), density, score, brain, csf, wm)
    tumour = labels_box > 0
    tissue_box = tissue_classes(gm, wm, csf, tumour)

    mimics = draw_mimics(rng, shape, brain, csf, wm, ventricles, tumour)
    brain_out = brain & ~mimics.stripped
    visible = brain_out | (mimics.shell > 0)  # what the skull stripping kept
    acquisition = draw_acquisition(rng, shape)
    images = {}
    for modality in MODALITIES:
        image = render(modality, (gm, wm, csf), labels_box, contrasts, acquisition, mimics, visible)
        images[modality] = in_full_volume(acquire(rng, image, modality, acquisition, visible), box)
    labels = in_full_volume(np.where(brain_out, labels_box, 0).astype(np.uint8), box)
    tissue = in_full_volume(np.where(brain_out, tissue_box, 0).astype(np.uint8), box)
    drawn = {"pattern": pattern, "multifocal": len(seeds) > 1, "low_resolution": acquisition["low_resolution"]}
    return SyntheticCase(case_id(index), grade, images, labels, tissue, drawn)
