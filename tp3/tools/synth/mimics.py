"""What is not tumour but looks like it (vessels, choroid plexus, periventricular and small
white-matter hyperintensities, cortical rims, skull-stripping leftovers), which a network
must learn to leave out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .fields import blobs, coarse_field, pick_voxels


@dataclass(frozen=True)
class Mimics:
    """The mimics of one case: soft maps in [0, 1] over the brain's box (``stripped`` is boolean)
    and the intensity of each relative to white matter.

    ``vessels`` (T1ce-bright tubes: where two smooth fields both cross zero, near the
    surface and in the deep fissures), ``plexus`` (choroid plexus, T1ce-bright in the
    ventricles), ``periventricular`` (FLAIR/T2-bright caps and bands around the
    ventricles), ``wmh`` (small FLAIR-bright white-matter spots), ``rim`` (bright cortical
    rim on FLAIR), ``shell`` (tissue left outside the brain by the skull stripping: dura,
    bright on T1ce), ``stripped`` (brain cut away by it).
    """

    vessels: np.ndarray
    plexus: np.ndarray
    periventricular: np.ndarray
    wmh: np.ndarray
    rim: np.ndarray
    shell: np.ndarray
    stripped: np.ndarray
    vessel_level: float
    plexus_level: float
    dura_level: float
    periventricular_lift: float
    wmh_level: float
    rim_lift: float
    shell_levels: dict  # {modality: level} for t1, t2, flair (T1ce shows the dura instead)


def draw_mimics(rng, shape, brain, csf, wm, ventricles, tumour) -> Mimics:
    """The :class:`Mimics` of one case, over the box of shape ``shape`` (boolean ``brain`` and
    ``tumour``, tissue fractions ``csf`` and ``wm``, soft ``ventricles``)."""
    smooth_brain = ndimage.gaussian_filter(brain.astype(np.float32), 2.0)
    surface = brain & (smooth_brain < 0.8)
    deep_csf = (csf > 0.5) & (smooth_brain > 0.98)
    a, b = coarse_field(rng, shape, 9.0), coarse_field(rng, shape, 9.0)
    width = rng.uniform(0.04, 0.09)
    tubes = np.clip(1 - np.sqrt(a ** 2 + b ** 2) / width, 0, 1)
    near = ndimage.gaussian_filter((surface | deep_csf).astype(np.float32), 1.5) > 0.2
    vessels = tubes * near * brain * ~tumour

    posterior = np.zeros(shape, dtype=bool)
    in_ventricles = ventricles > 0.5
    if in_ventricles.any():
        ys = np.nonzero(in_ventricles)[1]
        posterior[:, int(np.percentile(ys, 60)):, :] = True
    centres = pick_voxels(rng, in_ventricles & posterior, int(rng.integers(1, 4)))
    plexus = blobs(shape, centres, rng.uniform(2.5, 5.0, size=len(centres))) * (ventricles > 0.2)

    periventricular = rng.uniform(0.0, 1.0) * np.clip(
        ndimage.gaussian_filter(ventricles, rng.uniform(2.0, 4.0)) * 2.5 - ventricles, 0, 1) * wm
    n_wmh = int(rng.poisson(rng.uniform(0, 6)))
    wmh_centres = pick_voxels(rng, (wm > 0.8) & ~tumour, n_wmh)
    wmh = blobs(shape, wmh_centres, rng.uniform(1.5, 4.0, size=len(wmh_centres))) * rng.uniform(0.4, 1.0)

    rim = surface * rng.uniform(0.0, 1.0) * np.clip(0.5 + 0.5 * coarse_field(rng, shape, 20.0), 0, 1)

    patches = coarse_field(rng, shape, 25.0)
    outside_band = ~brain & (smooth_brain > rng.uniform(0.05, 0.3))
    shell = (outside_band & (patches > rng.uniform(0.3, 1.5))).astype(np.float32)
    stripped = surface & (smooth_brain < 0.6) & (patches < -rng.uniform(1.0, 2.0)) & ~tumour
    # The levels are drawn after the maps, in this order (the same case for the same seed).
    return Mimics(vessels.astype(np.float32), plexus, periventricular, wmh, rim.astype(np.float32), shell, stripped,
                  **draw_mimic_levels(rng))


def draw_mimic_levels(rng) -> dict:
    """How bright each mimic is, relative to white matter (the level fields of :class:`Mimics`)."""
    return dict(vessel_level=rng.uniform(1.3, 2.2), plexus_level=rng.uniform(1.3, 1.9),
                dura_level=rng.uniform(1.2, 2.0), periventricular_lift=rng.uniform(1.2, 1.6),
                wmh_level=rng.uniform(1.3, 1.8), rim_lift=rng.uniform(1.1, 1.4),
                shell_levels={"t1": rng.uniform(0.7, 1.3), "t2": rng.uniform(0.6, 1.3),
                              "flair": rng.uniform(0.6, 1.2)})


def apply_mimics(image, modality: str, mimics: Mimics) -> np.ndarray:
    """Blend the :class:`Mimics` into one contrast (white matter = 1)."""
    def blend(image, weight, value):
        return image * (1 - weight) + weight * value

    if modality == "t1ce":
        image = blend(image, mimics.vessels, mimics.vessel_level)
        image = blend(image, mimics.plexus, mimics.plexus_level)
        return blend(image, mimics.shell, mimics.dura_level)
    if modality in ("t2", "flair"):
        image = image * (1 - 0.5 * mimics.vessels)  # flow void
        image = blend(image, mimics.plexus, 1.1)
        lift = mimics.periventricular_lift if modality == "flair" else 0.8 * mimics.periventricular_lift
        image = image * (1 + (lift - 1) * mimics.periventricular)
        image = blend(image, mimics.wmh, mimics.wmh_level)
        if modality == "flair":
            image = image * (1 + (mimics.rim_lift - 1) * mimics.rim)
        return blend(image, mimics.shell, mimics.shell_levels[modality])
    image = blend(image, mimics.plexus, 0.8)
    return blend(image, mimics.shell, mimics.shell_levels["t1"])
