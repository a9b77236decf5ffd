"""The recipe of the synthetic cases: every range the generator draws from, in one place.

The contrast and shape ranges are those measured on real skull-stripped scans (design notes,
"What real scans look like, measured"); :mod:`tp3.tools.realism` measures the same
statistics on the cases (``benchmarks/bench_realism.py``).
"""

from __future__ import annotations

from dataclasses import dataclass


SPACING = (1.0, 1.0, 1.0)
ORIGIN = (0.0, -239.0, 0.0)
DIRECTION = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
ID_PREFIX = "BraTS19_SYN_"
#: Recorded with the default sample (tp3.tools.sample), so that an older sample can be told apart.
GENERATOR_VERSION = "v3"

#: Median intensity relative to normal white matter, per tissue and contrast: the ranges
#: measured on real skull-stripped scans (design notes, "What real scans look like,
#: measured"). Each case draws its own ratios across them, widened by DOMAIN_MARGIN of
#: their width on each side (domain randomisation, as SynthSeg does): a network trained
#: on the cases must not rely on one contrast. Grey matter and CSF are drawn so that
#: the measured grey/white T1 ratio and CSF contrasts fall in the real ranges too.
CONTRAST_RANGES = {
    "gm": {"t1": (0.56, 0.67), "t1ce": (0.56, 0.67), "t2": (1.25, 1.60), "flair": (1.10, 1.35)},
    "csf": {"t1": (0.22, 0.40), "t1ce": (0.22, 0.42), "t2": (2.4, 3.8), "flair": (0.20, 0.45)},
    "edema": {"t1": (0.70, 0.80), "t1ce": (0.65, 0.90), "t2": (1.46, 2.29), "flair": (1.43, 2.20)},
    "necrosis": {"t1": (0.35, 0.85), "t1ce": (0.35, 0.85), "t2": (1.78, 3.07), "flair": (1.45, 1.85)},
    "enhancing": {"t1": (0.53, 0.95), "t1ce": (1.27, 1.42), "t2": (1.70, 2.70), "flair": (1.62, 2.10)},
}
DOMAIN_MARGIN = 0.05
#: Heterogeneity: standard deviation of the log-intensity field inside each region (the
#: measured interquartile range over median is about 1.35 times it, before noise).
TEXTURE_SIGMA = {"normal": (0.08, 0.12), "edema": (0.15, 0.26), "necrosis": (0.10, 0.22),
                 "enhancing": (0.13, 0.22)}
#: Correlation length (voxels) of the normal tissue's texture: at 2-5 voxels (the tumour
#: regions' scale) normal tissue looked mottled next to real scans.
NORMAL_TEXTURE_SCALE = (4.0, 8.0)
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
@dataclass(frozen=True)
class TumourVariety:
    """The tumours a stream of cases draws from. The course data keeps :data:`COURSE_VARIETY`
    (the ranges above); the scenes the pretrained model learns from draw :data:`WIDE_VARIETY`."""

    wt_volume_cm3: tuple = WT_VOLUME_CM3
    edema_to_core: tuple = EDEMA_TO_CORE
    lgg_with_et: float = LGG_WITH_ET
    multifocal_probability: float = MULTIFOCAL_PROBABILITY
    #: ``"course"``: deep and subcortical white matter above the temporal horns (weighted to the
    #: front); ``"wide"``: also near the cortex, in grey matter, and the temporal lobes' low slices.
    seed_region: str = "course"


COURSE_VARIETY = TumourVariety()
#: Issue 33's failures on real scans: small tumours (from 5 cm^3) near the cortex or in the
#: temporal lobe's low slices, edema over a lobe, lower-grade tumours with a large core.
WIDE_VARIETY = TumourVariety(wt_volume_cm3=(5.0, 320.0), edema_to_core=(0.3, 5.0), lgg_with_et=0.3,
                             multifocal_probability=0.2, seed_region="wide")

#: Brain volume drawn per case, cm^3 (real 1016-1739; the MNI template is about 1880).
BRAIN_VOLUME_CM3 = (1040.0, 1690.0)
#: Per-case power applied to the template's tissue fractions (1: as they are).
TISSUE_SHARPNESS = (2.5, 4.0)
#: Per-case atrophy: how far CSF spreads into neighbouring tissue (sulci, ventricles).
ATROPHY = (0.03, 0.32)
#: In-plane blur (voxels) of every contrast: BraTS volumes were resampled to 1 mm.
INPLANE_BLUR = (0.35, 0.65)
#: Thick-slice acquisition (blur along z, in voxels) for these contrasts only.
THICK_SLICE_CONTRASTS = ("t1", "t2", "flair")
THICK_SLICE_BLUR = (0.7, 1.6)
#: Resolution randomisation (as SynthSeg does): a fraction of the cases are acquired at low
#: resolution and upsampled, as many multi-centre BraTS scans were (blur in voxels, all axes).
LOW_RESOLUTION_PROBABILITY = 0.1
LOW_RESOLUTION_BLUR = (1.2, 2.5)
#: Rician noise, relative to white matter, before the blur.
NOISE = (0.05, 0.075)
#: Amplitude of the smooth bias field (multiplicative; BraTS images were not bias-corrected).
BIAS_AMPLITUDE = (0.03, 0.10)


def case_id(index: int) -> str:
    """``BraTS19_SYN_0001`` for index 1: never mistakable for a real patient."""
    return f"{ID_PREFIX}{index:04d}"


def case_grade(index: int) -> str:
    """HGG for three indices out of four, LGG for every fourth (BraTS 2019 is about 3:1)."""
    return "LGG" if index % 4 == 0 else "HGG"
