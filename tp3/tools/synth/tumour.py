"""The tumour of a synthetic case: volumes and seeds drawn, reaction-diffusion growth, mass
effect, and the labels (core, enhancing rim or nodule, edema) from the growth fields."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .anatomy import Template
from .fields import coarse_field, smooth_noise, top_voxels
from .recipe import COURSE_VARIETY, CORE_PATTERNS, ET_FRACTION_OF_CORE, TumourVariety


def draw_tumour_volumes(rng, grade, variety: TumourVariety = COURSE_VARIETY) -> tuple[float, float, float]:
    """Whole tumour, core and enhancing volumes (voxels of 1 mm^3); no ET for most LGG."""
    wt = np.exp(rng.uniform(*np.log(variety.wt_volume_cm3))) * 1000
    core = wt / (1 + np.exp(rng.uniform(*np.log(variety.edema_to_core))))
    has_et = grade == "HGG" or rng.uniform() < variety.lgg_with_et
    et = core * rng.uniform(*ET_FRACTION_OF_CORE[grade]) if has_et else 0.0
    return wt, core, et


def draw_tumour_seeds(rng, tpl, wt, variety: TumourVariety = COURSE_VARIETY) -> tuple[list, list]:
    """Where the tumour starts (template voxels) and the volume grown from each seed."""
    candidates, weights = tpl.seed_regions[variety.seed_region]
    seeds = [candidates[rng.choice(len(candidates), p=weights)]]
    volumes = [wt]
    if rng.uniform() < variety.multifocal_probability:
        seeds.append(candidates[rng.choice(len(candidates), p=weights)])
        volumes = [wt * 0.75, wt * 0.25]
    return seeds, volumes


def grow_tumour(rng, tpl: Template, seed, wt_volume_mm3, spacing=2, half=34, max_steps=160):
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
    heterogeneity = np.exp(0.3 * smooth_noise(rng, wm.shape, 2.0))
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
    roughness = smooth_noise(rng, wm.shape, rng.uniform(1.0, 2.5))
    # A small focus can stop growing before any voxel passes 0.5: then nothing "arrived".
    reach = max(float(dist[arrived].max()), 1.0) if arrived.any() else 1.0
    core_score = -(arrival / (step + 1) + dist / reach
                   + rng.uniform(0.1, 0.4) * roughness)
    core_score[density < 1e-3] = -np.inf
    return lo, spacing, density, core_score.astype(np.float32)


def mass_effect(rng, coords, centre, core, grade):
    """Sample closer to the tumour centre, so tissue is pushed outwards (more for HGG)."""
    radius = (3 * core / (4 * np.pi)) ** (1 / 3)
    reach = 1.5 * radius + 10.0
    strength = rng.uniform(0.2, 0.35) if grade == "HGG" else rng.uniform(0.05, 0.15)
    offset = coords - centre.reshape(3, 1, 1, 1).astype(np.float32)
    shrink = 1 - strength * np.exp(-np.sum(offset ** 2, axis=0) / reach ** 2)
    return centre.reshape(3, 1, 1, 1) + offset * shrink


def sample_growths(growths, coords, shape):
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


def tumour_labels(rng, grade, volumes, density, score, brain, csf, wm) -> tuple[np.ndarray, str]:
    """Labels {0,1,2,4} from the growth fields sampled in the output box, and the core's
    pattern (``ring``, ``solid``, ``patchy``, or ``no enhancement``).

    The core (NCR + ET) is the bulk, where the tumour arrived first; edema wraps it and
    spreads along white matter. ET and NCR nest inside the whole tumour by construction.
    """
    wt, core, et = volumes
    can_host = brain & (csf < 0.5) & (density > 1e-3)
    core_mask = top_voxels(score, can_host, core)
    wrap = ndimage.binary_dilation(core_mask, iterations=2) & brain & (csf < 0.5) & ~core_mask
    edema_score = np.sqrt(density) * (0.15 + wm)
    whole = core_mask | wrap | top_voxels(edema_score, can_host & ~core_mask & ~wrap,
                                    wt - core - np.count_nonzero(wrap))
    labels = np.zeros(brain.shape, dtype=np.uint8)
    labels[whole] = 2
    if et <= 0:
        labels[core_mask] = 1
        return labels, "no enhancement"
    pattern = str(rng.choice(list(CORE_PATTERNS), p=list(CORE_PATTERNS.values()))) if grade == "HGG" else "patchy"
    if pattern == "solid":
        # A solid enhancing nodule, a few necrotic spots.
        spots = coarse_field(rng, brain.shape, 4.0)
        labels[core_mask] = 4
        labels[core_mask & (spots > np.quantile(spots[core_mask], 1 - (core - et) / max(core, 1)))] = 1
    else:
        # The enhancing rim is the outer part of the core: ranking the score with a rough
        # field makes its thickness uneven; a patchy case has gaps in the rim.
        rim_score = -score - rng.uniform(0.05, 0.25) * coarse_field(rng, brain.shape, 5.0)
        labels[core_mask] = 1
        if pattern == "patchy":
            gaps = coarse_field(rng, brain.shape, 6.0)
            rim_score = np.where(gaps > rng.uniform(0.3, 1.0), -np.inf, rim_score)
        labels[top_voxels(rim_score.astype(np.float32), core_mask, et)] = 4
    return labels, pattern
