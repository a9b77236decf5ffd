"""The recipe of the synthetic cases: every range the generator draws from, in one place.

The contrast and shape ranges are those measured on real skull-stripped scans (design notes,
"What real scans look like, measured"); :mod:`tp3.tools.realism` measures the same
statistics on the cases (``benchmarks/bench_realism.py``).
"""

from __future__ import annotations


SPACING = (1.0, 1.0, 1.0)
ORIGIN = (0.0, -239.0, 0.0)
DIRECTION = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
ID_PREFIX = "BraTS19_SYN_"
#: Recorded with the default sample (tp3.tools.sample), so that an older sample can be told apart.
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
