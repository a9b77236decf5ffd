"""Synthetic BraTS-like cases from a real brain template (the kit's default course data).

Real BraTS cannot ship with the kit, so each case is made from the MNI ICBM152 2009
template (T1, grey- and white-matter maps at 1 mm) that nilearn bundles and loads
without network. The aim (course data v2, v3) is data on which a network learns what it would
learn on BraTS, so every ingredient is checked against measurements of real scans
(design notes; :mod:`tp3.tools.realism`, ``benchmarks/bench_realism.py``):

* anatomy: the template scaled to a brain of 1.04-1.69 L, a per-case affine, a broad and
  a fine random deformation (cases do not share their folding), tissue fractions sharpened
  per case (v3: one brain's grey/white boundary, not an average's), per-case atrophy (CSF
  spreading into the sulci and around the ventricles);
* tumour: reaction-diffusion growth seeded in supratentorial white matter (deep, near the
  ventricles or the cortex), faster in white matter so the edema follows it; the core is
  where it arrived first: a necrotic centre in an enhancing ring of uneven thickness, a
  solid enhancing nodule, or patchy enhancement; some cases multifocal; edema/core 0.5-3;
  mass effect; HGG and LGG in BraTS's 3:1 mix, LGG mostly without enhancement;
* contrasts: region-to-white-matter ratios drawn per case across the measured real ranges
  and a little beyond (:data:`CONTRAST_RANGES`, domain randomisation), smooth log-normal
  texture in every region (v3: smoother in normal tissue), bias field, Rician noise blurred like resampled scans,
  thick slices for T1/T2/FLAIR, some cases at low resolution, a per-case intensity scale;
* mimics, which a network must learn to leave out: enhancing vessels, choroid plexus and
  dura on T1ce, periventricular and small white-matter FLAIR hyperintensities, bright
  cortical rims, imperfect skull stripping.

Output follows the BraTS 2019 layout and geometry: 240x240x155 voxels of 1 mm, origin
(0, -239, 0), identity direction, int16 images, uint8 labels in {0, 1, 2, 4}.
The same ``(seed, index)`` always gives the same case, whatever the number of workers.
Used by ``python -m tp3 synth`` and by the default sample (:mod:`tp3.tools.sample`).

The parts, in the order a case is made (:func:`synthesize_case`):

``recipe``       every range drawn from (contrasts, tumour volumes and shapes, acquisition)
``anatomy``      the template, the head's size, pose and deformation, tissue maps, atrophy
``tumour``       volumes and seeds, reaction-diffusion growth, mass effect, the labels
``mimics``       what looks like tumour and is not
``acquisition``  contrasts, textures, the mimics blended in, bias, noise, blur
``cases``        one case from ``(seed, index)``: the parts above in a fixed order
``writing``      case folders on disk and :func:`generate` (resumable, one run at a time)
``fields``       the random fields and shapes they all draw

For the pretrained model of Ex 11-13 (``python -m tp3 pretrain``, :mod:`tp3.tools.pretrain`):

``scenes``       a case without contrast (:func:`~.cases.build_scene`, wide tumour variety) on the course grid
``randomise``    images drawn afresh from a scene for every batch: contrasts, scanner, acquisition
"""

from .cases import SyntheticCase, synthesize_case
from .recipe import GENERATOR_VERSION, ID_PREFIX, case_grade, case_id
from .writing import RECORD, generate, write_case

__all__ = ["GENERATOR_VERSION", "ID_PREFIX", "RECORD", "SyntheticCase", "case_grade", "case_id", "generate",
           "synthesize_case", "write_case"]
