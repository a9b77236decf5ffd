"""Synthetic BraTS-like cases from a real brain template (the kit's default course data).

Real BraTS cannot ship with the kit, so each case is made from the MNI ICBM152 2009
template (T1, grey- and white-matter maps at 1 mm) that nilearn bundles and loads
without network. The ingredients follow what the field uses (SynthSeg, TumorSim,
BrainWeb):

* anatomy: per-case affine (rotation, scale, shift) and a smooth deformation;
* tumour: a reaction-diffusion growth seeded in supratentorial white matter, faster in
  white matter, so the edema follows it; NCR nested inside an ET rim inside edema;
  mass effect pushes the surrounding tissue out; HGG and LGG in BraTS's 3:1 mix
  (LGG mostly without enhancement);
* contrasts: tissue intensities relative to normal white matter drawn per case from the
  design notes' table (:data:`CONTRAST_RANGES`), multiplicative bias field, Rician noise,
  thick-slice blur along z for T1/T2/FLAIR, a per-case intensity scale.

Output follows the BraTS 2019 layout and geometry: 240x240x155 voxels of 1 mm, origin
(0, -239, 0), identity direction, int16 images, uint8 labels in {0, 1, 2, 4}.
The same ``(seed, index)`` always gives the same case, whatever the number of workers.
Used by ``python -m tp3 synth`` and by the default sample (:mod:`tp3.sample`).
"""

from __future__ import annotations

import csv
import functools
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from scipy import ndimage

from .config import LABEL_SUFFIX, MODALITIES
from .preprocessing import ORIGINAL_SHAPE

SPACING = (1.0, 1.0, 1.0)
ORIGIN = (0.0, -239.0, 0.0)
DIRECTION = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
ID_PREFIX = "BraTS19_SYN_"

#: Median intensity relative to normal white matter, per tissue and contrast (design
#: notes' table). T1ce equals T1 where the table says "as T1" (no enhancement there).
CONTRAST_RANGES = {
    "gm": {"t1": (0.60, 0.85), "t2": (1.3, 1.6), "flair": (1.2, 1.4)},
    "csf": {"t1": (0.28, 0.45), "t2": (2.5, 4.0), "flair": (0.2, 0.4)},
    "edema": {"t1": (0.85, 0.95), "t2": (1.8, 2.5), "flair": (1.6, 2.2)},
    "necrosis": {"t1": (0.5, 0.7), "t1ce": (0.5, 0.7), "t2": (2.5, 3.5), "flair": (0.8, 1.5)},
    "enhancing": {"t1": (0.7, 0.85), "t1ce": (1.4, 2.0), "t2": (1.4, 1.8), "flair": (1.1, 1.4)},
}
#: Region label of each tumour tissue.
TUMOUR_LABELS = {"necrosis": 1, "edema": 2, "enhancing": 4}
#: Volumes drawn per case, cm^3 (within the design notes' typical HGG ranges).
WT_VOLUME_CM3 = (30.0, 200.0)
CORE_FRACTION = {"HGG": (0.25, 0.5), "LGG": (0.15, 0.4)}
ET_FRACTION_OF_CORE = (0.3, 0.6)
LGG_WITH_ET = 0.3
#: Thick-slice acquisition (blur along z, in voxels) for these contrasts only.
THICK_SLICE_CONTRASTS = ("t1", "t2", "flair")


def case_id(index: int) -> str:
    """``BraTS19_SYN_0001`` for index 1: never mistakable for a real patient."""
    return f"{ID_PREFIX}{index:04d}"


def case_grade(index: int) -> str:
    """HGG for three indices out of four, LGG for every fourth (BraTS 2019 is about 3:1)."""
    return "LGG" if index % 4 == 0 else "HGG"


@dataclass
class SyntheticCase:
    """One case: ``images[modality]`` int16 ``(155, 240, 240)``, ``labels`` uint8 in {0,1,2,4},
    ``tissue`` uint8 (0 mixed/background, 1 CSF, 2 GM, 3 WM where that tissue is pure)."""

    case_id: str
    grade: str
    images: dict
    labels: np.ndarray
    tissue: np.ndarray


@dataclass(frozen=True)
class _Template:
    gm: np.ndarray      # tissue fractions, float32, (z, y, x) in BraTS orientation
    wm: np.ndarray
    csf: np.ndarray
    seeds: np.ndarray   # candidate tumour seeds, voxel indices (n, 3)
    seed_weights: np.ndarray


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

    # Seeds: deep white matter, supratentorial, weighted towards frontal/temporal lobes.
    depth = ndimage.distance_transform_edt(mask[::2, ::2, ::2]) * 2.0
    z, y, x = np.nonzero((wm[::2, ::2, ::2] > 0.9) & (depth > 18))
    seeds = np.stack([z, y, x], axis=1) * 2
    mni_z = seeds[:, 0] - 72            # template voxel -> MNI mm (affine of nilearn)
    mni_y = 98 - seeds[:, 1]
    keep = mni_z > -10
    seeds, mni_y = seeds[keep], mni_y[keep]
    weights = np.where(mni_y > -20, 3.0, 1.0)
    return _Template(gm, wm, csf, seeds, weights / weights.sum())


def _inner(rng, lo_hi, margin=0.3):
    lo, hi = lo_hi
    return lo + (hi - lo) * rng.uniform(margin, 1 - margin)


def draw_contrasts(rng) -> dict:
    """Per-case relative intensities ``{tissue: {modality: ratio}}``, WM = 1 in every contrast.

    Ratios are drawn from the inner part of each range so that after noise, bias and
    blur the measured medians still fall inside the table (tests check that).
    """
    table = {"wm": {m: 1.0 for m in MODALITIES}}
    for tissue, ranges in CONTRAST_RANGES.items():
        ratios = {m: _inner(rng, r) for m, r in ranges.items()}
        ratios.setdefault("t1ce", ratios["t1"])
        table[tissue] = ratios
    return table


def _smooth_field_1d(rng, n, knots, amplitude):
    values = rng.uniform(-amplitude, amplitude, size=knots)
    return np.interp(np.linspace(0, knots - 1, n), np.arange(knots), values).astype(np.float32)


def _deformation(rng, shape, amplitude_mm=2.5, terms=3):
    """A smooth random displacement field (3, *shape), sum of separable smooth products."""
    field = np.zeros((3,) + shape, dtype=np.float32)
    for c in range(3):
        for _ in range(terms):
            fz = _smooth_field_1d(rng, shape[0], 4, 1.0)
            fy = _smooth_field_1d(rng, shape[1], 4, 1.0)
            fx = _smooth_field_1d(rng, shape[2], 4, 1.0)
            field[c] += (amplitude_mm / terms) * fz[:, None, None] * fy[None, :, None] * fx[None, None, :]
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
    near the seed (the bulk).
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
    roughness = _smooth_noise(rng, wm.shape, 1.5)
    core_score = -(arrival / (step + 1) + dist / max(dist[arrived].max(), 1) + 0.15 * roughness)
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


def synthesize_case(seed: int, index: int) -> SyntheticCase:
    """Make case ``index`` (1-based) of the stream given by ``seed``. Deterministic."""
    rng = np.random.default_rng([seed, index])
    tpl = _template()
    grade = case_grade(index)
    contrasts = draw_contrasts(rng)

    # Volumes of the tumour regions (voxels of 1 mm^3).
    wt = np.exp(rng.uniform(*np.log(WT_VOLUME_CM3))) * 1000
    core = wt * rng.uniform(*CORE_FRACTION[grade])
    has_et = grade == "HGG" or rng.uniform() < LGG_WITH_ET
    et_fraction = rng.uniform(*ET_FRACTION_OF_CORE) if grade == "HGG" else rng.uniform(0.05, 0.2)
    et = core * et_fraction if has_et else 0.0

    # Geometry: output voxel o -> template voxel  c_t + A^-1 (o - c_o) + deformation.
    scale = rng.uniform(0.9, 1.0) * rng.uniform(0.97, 1.03, size=3)
    a_inv = np.diag(1 / scale) @ _rotation(rng, 6.0).T
    out_centre = np.array([77.0, 120.0, 120.0]) + rng.uniform(-3, 3, size=3)
    tpl_centre = np.array([77.0, 115.0, 98.0])
    seed_voxel = tpl.seeds[rng.choice(len(tpl.seeds), p=tpl.seed_weights)]
    origin, spacing, density, core_score = _grow_tumour(rng, tpl, seed_voxel, wt)

    # Work only on the box around the (scaled, rotated) brain.
    half_extent = np.array([80, 100, 82])
    lo = np.maximum(np.floor(out_centre - half_extent), 0).astype(int)
    hi = np.minimum(np.ceil(out_centre + half_extent), ORIGINAL_SHAPE).astype(int)
    shape = tuple(hi - lo)
    grid = np.indices(shape, dtype=np.float32)
    rel = [grid[i] + (lo[i] - out_centre[i]) for i in range(3)]
    coords = _deformation(rng, shape)
    for i in range(3):
        coords[i] += tpl_centre[i] + a_inv[i, 0] * rel[0] + a_inv[i, 1] * rel[1] + a_inv[i, 2] * rel[2]
    del grid, rel

    # Mass effect: sample closer to the tumour centre, so tissue is pushed outwards.
    radius = (3 * core / (4 * np.pi)) ** (1 / 3)
    reach = 1.5 * radius + 10.0
    strength = rng.uniform(0.2, 0.35) if grade == "HGG" else rng.uniform(0.05, 0.15)
    offset = coords - seed_voxel.reshape(3, 1, 1, 1).astype(np.float32)
    shrink = 1 - strength * np.exp(-np.sum(offset ** 2, axis=0) / reach ** 2)
    coords = seed_voxel.reshape(3, 1, 1, 1) + offset * shrink
    del offset, shrink

    gm, wm, csf = (ndimage.map_coordinates(volume, coords, order=1, cval=0.0, prefilter=False)
                   for volume in (tpl.gm, tpl.wm, tpl.csf))
    total = gm + wm + csf
    brain = total > 0.5
    norm = np.where(brain, total, 1)
    gm, wm, csf = gm / norm, wm / norm, csf / norm

    # Tumour regions, from the growth fields sampled in the output space.
    box_coords = (coords - origin.reshape(3, 1, 1, 1)) / spacing
    tumour_density = ndimage.map_coordinates(density, box_coords, order=1, cval=0.0, prefilter=False)
    tumour_score = ndimage.map_coordinates(core_score, box_coords, order=1, cval=-np.inf,
                                           prefilter=False)
    tumour_score[~np.isfinite(tumour_score)] = -np.inf
    del box_coords, coords
    # The bulk (core) first, then edema outside it, preferring white matter: the order
    # makes ET and NCR nest inside the whole tumour by construction.
    can_host = brain & (csf < 0.5) & (tumour_density > 1e-3)
    core_mask = _top(tumour_score, can_host, core)
    # Edema wraps the core (a thin layer everywhere) and spreads along white matter.
    wrap = ndimage.binary_dilation(core_mask, iterations=2) & brain & (csf < 0.5) & ~core_mask
    edema_score = np.sqrt(tumour_density) * (0.15 + wm)
    whole = core_mask | wrap | _top(edema_score, can_host & ~core_mask & ~wrap,
                                    wt - core - np.count_nonzero(wrap))
    et_shell = _top(tumour_score, core_mask, core - et) if et > 0 else core_mask
    labels_box = np.zeros(shape, dtype=np.uint8)
    labels_box[whole] = 2
    labels_box[core_mask] = 4 if et > 0 else 1
    labels_box[et_shell] = 1
    if et > 0 and not np.any(labels_box == 1):
        labels_box[core_mask] = 4

    tissue_box = np.zeros(shape, dtype=np.uint8)
    tissue_box[csf > 0.9] = 1
    tissue_box[gm > 0.9] = 2
    tissue_box[wm > 0.9] = 3
    tissue_box[labels_box > 0] = 0

    # Bias field: separable smooth product, +-5-15 % over the brain.
    bias_amplitude = rng.uniform(0.05, 0.15)
    texture = 1 + 0.05 * _smooth_noise(rng, shape, 1.5)
    images = {}
    for modality in MODALITIES:
        healthy = gm * contrasts["gm"][modality] + wm + csf * contrasts["csf"][modality]
        for tissue, label in TUMOUR_LABELS.items():
            region = labels_box == label
            healthy[region] = contrasts[tissue][modality] * texture[region]
        bias = (1 + _smooth_field_1d(rng, shape[0], 3, bias_amplitude / 1.7)[:, None, None]) \
            * (1 + _smooth_field_1d(rng, shape[1], 3, bias_amplitude / 1.7)[None, :, None]) \
            * (1 + _smooth_field_1d(rng, shape[2], 3, bias_amplitude / 1.7)[None, None, :])
        image = healthy * bias
        if modality in THICK_SLICE_CONTRASTS:
            image = ndimage.gaussian_filter1d(image, rng.uniform(0.5, 1.0), axis=0)
        sigma = rng.uniform(0.01, 0.05)
        image = np.sqrt((image + sigma * rng.standard_normal(shape, dtype=np.float32)) ** 2
                        + (sigma * rng.standard_normal(shape, dtype=np.float32)) ** 2)
        wm_intensity = rng.uniform(250, 1200)
        image = np.where(brain, np.round(image * wm_intensity), 0)
        full = np.zeros(ORIGINAL_SHAPE, dtype=np.int16)
        full[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = np.clip(image, 0, 32767).astype(np.int16)
        images[modality] = full

    labels = np.zeros(ORIGINAL_SHAPE, dtype=np.uint8)
    labels[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = np.where(brain, labels_box, 0)
    tissue = np.zeros(ORIGINAL_SHAPE, dtype=np.uint8)
    tissue[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = np.where(brain, tissue_box, 0)
    return SyntheticCase(case_id(index), grade, images, labels, tissue)


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
    tmp = Path(out_dir) / f".{case.case_id}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    volumes = dict(case.images, **{LABEL_SUFFIX: case.labels})
    for name, array in volumes.items():
        # Level 1: these volumes are written once and read a few times; speed wins.
        sitk.WriteImage(_to_sitk(array), str(tmp / f"{case.case_id}_{name}.nii.gz"),
                        useCompression=True, compressionLevel=1)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


def _make_and_write(job):
    seed, index, out_dir = job
    case = synthesize_case(seed, index)
    write_case(case, out_dir)
    return case.case_id, case.grade


def generate(out_dir, n_patients: int, seed: int, workers: int = 1, force: bool = False,
             progress: bool = True) -> list[tuple[str, str]]:
    """Write ``n_patients`` cases into ``out_dir`` (BraTS 2019 layout) and ``name_mapping.csv``.

    Refuses an ``out_dir`` holding anything but finished cases of this generator unless
    ``force``; existing finished cases are kept (a rerun completes an interrupted run).
    Returns ``[(case_id, grade), ...]``.
    """
    from tqdm.auto import tqdm

    out_dir = Path(out_dir)
    if n_patients < 1:
        raise ValueError(f"--patients must be at least 1, got {n_patients}")
    out_dir.mkdir(parents=True, exist_ok=True)
    wanted = {case_id(i) for i in range(1, n_patients + 1)}
    foreign = [p.name for p in out_dir.iterdir()
               if p.name not in wanted and p.name != "name_mapping.csv" and not p.name.startswith(".")]
    if foreign and not force:
        raise FileExistsError(
            f"{out_dir} already holds {len(foreign)} other entries (e.g. {sorted(foreign)[0]}); "
            "choose an empty folder or pass --force")
    done = set() if force else {i for i in range(1, n_patients + 1)
                                if _complete_case(out_dir / case_id(i))}
    jobs = [(seed, i, out_dir) for i in range(1, n_patients + 1) if i not in done]
    results = [(case_id(i), case_grade(i)) for i in sorted(done)]
    bar = tqdm(total=len(jobs), desc="synth", unit="case", disable=not progress)
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            results.append(_make_and_write(job))
            bar.update()
    else:
        # spawn: safe even when the caller has TensorFlow loaded (fork is not).
        with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=get_context("spawn")) as pool:
            for result in pool.map(_make_and_write, jobs):
                results.append(result)
                bar.update()
    bar.close()
    results.sort()
    _write_name_mapping(out_dir, results)
    return results


def _complete_case(folder: Path) -> bool:
    return all((folder / f"{folder.name}_{m}.nii.gz").is_file() for m in MODALITIES + (LABEL_SUFFIX,))


def _write_name_mapping(out_dir: Path, cases) -> None:
    """BraTS 2019's ``name_mapping.csv`` (Grade, BraTS_2019_subject_ID): grades for the split."""
    tmp = out_dir / ".name_mapping.csv.tmp"
    with open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Grade", "BraTS_2019_subject_ID"])
        for cid, grade in cases:
            writer.writerow([grade, cid])
    os.replace(tmp, out_dir / "name_mapping.csv")
