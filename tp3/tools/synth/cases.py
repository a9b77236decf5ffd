"""One synthetic case, from its seed and index: the steps of the other modules in a fixed order."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...layout import MODALITIES
from .acquisition import acquire, draw_acquisition, draw_contrasts, render
from .anatomy import (apply_atrophy, draw_head_pose, in_full_volume, sampling_coordinates, sharpen_tissues, template,
                      tissue_classes, tissue_maps)
from .mimics import draw_mimics
from .recipe import COURSE_VARIETY, TumourVariety, case_grade, case_id
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


@dataclass
class Scene:
    """What a case is made of before any contrast is drawn, in the brain's ``box`` of the
    ``(155, 240, 240)`` volume: tissue fractions ``gm``, ``wm``, ``csf`` (float32), tumour
    ``labels`` {0,1,2,4} and the pure-``tissue`` map (uint8), the :class:`~.mimics.Mimics`,
    ``brain`` (what the skull stripping kept of the brain) and ``visible`` (that plus the
    tissue it left outside); ``drawn`` as :class:`SyntheticCase`'s."""

    box: tuple
    gm: np.ndarray
    wm: np.ndarray
    csf: np.ndarray
    labels: np.ndarray
    tissue: np.ndarray
    mimics: object
    brain: np.ndarray
    visible: np.ndarray
    drawn: dict = field(default_factory=dict)


def build_scene(rng, grade: str, variety: TumourVariety = COURSE_VARIETY) -> Scene:
    """The anatomy, tumour and mimics of one case, drawn from ``rng`` in a fixed order.

    :func:`synthesize_case` renders it at full resolution; :mod:`.scenes` keeps it, at the
    course's resolution, for training with contrasts drawn afresh (the pretrained model).
    """
    tpl = template()
    wt, core, et = draw_tumour_volumes(rng, grade, variety)
    scale, a_inv, out_centre = draw_head_pose(rng, tpl)
    seeds, volumes = draw_tumour_seeds(rng, tpl, wt, variety)
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
    labels_box = np.where(brain_out, labels_box, 0).astype(np.uint8)
    tissue_box = np.where(brain_out, tissue_box, 0).astype(np.uint8)
    drawn = {"pattern": pattern, "multifocal": len(seeds) > 1}
    return Scene(box, gm, wm, csf, labels_box, tissue_box, mimics, brain_out, visible, drawn)


def synthesize_case(seed: int, index: int) -> SyntheticCase:
    """Make case ``index`` (1-based) of the stream given by ``seed``. Deterministic.

    The steps below draw from one random stream in a fixed order: the same (seed, index)
    gives the same case whatever else runs.
    """
    rng = np.random.default_rng([seed, index])
    grade = case_grade(index)
    contrasts = draw_contrasts(rng)
    scene = build_scene(rng, grade)
    shape = scene.gm.shape
    acquisition = draw_acquisition(rng, shape)
    images = {}
    for modality in MODALITIES:
        image = render(modality, (scene.gm, scene.wm, scene.csf), scene.labels, contrasts, acquisition,
                       scene.mimics, scene.visible)
        images[modality] = in_full_volume(acquire(rng, image, modality, acquisition, scene.visible), scene.box)
    labels = in_full_volume(scene.labels, scene.box)
    tissue = in_full_volume(scene.tissue, scene.box)
    drawn = dict(scene.drawn, low_resolution=acquisition["low_resolution"])
    return SyntheticCase(case_id(index), grade, images, labels, tissue, drawn)
