"""Course preprocessing: original BraTS volume -> 77 normalised slices of 96x96 (Ex 4).

All arrays are in SimpleITK order ``(z, y, x)``. The geometric path is

1. crop in-plane ``[:, 24:216, 24:216]``: ``(155, 240, 240) -> (155, 192, 192)``;
2. resize to exactly ``(77, 96, 96)``: images linearly with anti-aliasing, labels
   label-safely (one-hot, linear, argmax) so no label value is ever invented.

``skimage.transform.rescale(x, 0.5)`` would give 78 slices (``np.round(77.5)`` rounds
half to even), hence ``resize`` with an explicit output shape. Then, before the network,
each modality is z-scored over the brain (:func:`normalise`), in training and prediction alike.

The way back, :func:`tp3.predict.get_mask2original_shape` (Ex 11), resamples class
*probabilities*, takes the argmax, maps class 3 back to label 4 and pads back to
``(155, 240, 240)``.

Ex 4   ``crop``, ``resize_image``, ``resize_labels`` (what ``python -m tp3 prepare`` applies)
Ex 7   ``normalise``, ``labels_to_classes``
"""

from __future__ import annotations

import numpy as np
from skimage.transform import resize

from .layout import MODALITIES
from .settings import BRATS_LABELS, LABEL_TO_CLASS, N_CLASSES

#: The one BraTS label whose class number differs: enhancing tumour, label 4 = class 3.
ET_LABEL = 4

#: The version of what the network gets from the slice files (:func:`tp3.data.load_image`: reading,
#: :func:`brain_mask`, :func:`normalise`; :func:`labels_to_classes`). Bump it with any change to
#: these numbers: cached splits (:mod:`tp3.cache`) are keyed by it, and a test that computes
#: ``load_image`` on a fixed patient fails until it is bumped (tests/test_cache.py).
VERSION = 1
ORIGINAL_SHAPE = (155, 240, 240)
CROP = (slice(None), slice(24, 216), slice(24, 216))
CROPPED_SHAPE = (155, 192, 192)
COURSE_SHAPE = (77, 96, 96)


def crop(volume: np.ndarray) -> np.ndarray:
    """``(155, 240, 240)`` -> ``(155, 192, 192)`` (a view, same dtype). Ex 4, step 1."""
    if volume.shape != ORIGINAL_SHAPE:
        raise ValueError(f"expected a volume of shape {ORIGINAL_SHAPE} (z, y, x), got {volume.shape}")
    return volume[CROP]


def resize_image(volume: np.ndarray) -> np.ndarray:
    """One modality ``(155, 240, 240)`` -> float32 ``(77, 96, 96)``, linear + anti-aliasing. Ex 4."""
    out = resize(crop(volume).astype(np.float32), COURSE_SHAPE, order=1,
                 anti_aliasing=True, preserve_range=True)
    return out.astype(np.float32)


def course_images(volumes: dict) -> np.ndarray:
    """``{modality: (155, 240, 240)}`` -> float32 ``(77, 96, 96, 4)`` in the order of
    :data:`tp3.settings.MODALITIES`, not yet normalised (what the slice files hold)."""
    return np.stack([resize_image(volumes[modality]) for modality in MODALITIES], axis=-1)


def labels_to_classes(labels: np.ndarray) -> np.ndarray:
    """BraTS labels {0,1,2,4} -> network classes {0,1,2,3} (uint8, same shape)."""
    classes = labels.astype(np.uint8, copy=True)
    classes[labels == ET_LABEL] = LABEL_TO_CLASS[ET_LABEL]
    return classes


def classes_to_labels(classes: np.ndarray) -> np.ndarray:
    """Network classes {0,1,2,3} -> BraTS labels {0,1,2,4} (uint8, same shape)."""
    labels = classes.astype(np.uint8, copy=True)
    labels[classes == LABEL_TO_CLASS[ET_LABEL]] = ET_LABEL
    return labels


def brain_mask(images: np.ndarray) -> np.ndarray:
    """``(..., 4)`` images -> boolean ``(...)``: voxels where any modality is non-zero."""
    return np.any(images != 0, axis=-1)


def normalise(images: np.ndarray) -> np.ndarray:
    """One patient's images ``(77, 96, 96, 4)`` -> float32 z-scores per modality over the brain.

    The brain is where any modality is non-zero; the background stays exactly 0. This
    removes the per-scanner intensity scale that BraTS (and the synthetic cases) carry.
    A modality with a constant brain is only centred. Ex 7 and Ex 11.
    """
    images = np.asarray(images, dtype=np.float32)
    brain = brain_mask(images)
    out = np.zeros_like(images)
    if not brain.any():
        return out
    for channel in range(images.shape[-1]):
        values = images[..., channel][brain]
        std = values.std()
        out[..., channel][brain] = (values - values.mean()) / (std if std > 0 else 1.0)
    return out


def one_hot(classes: np.ndarray, n_classes: int = N_CLASSES) -> np.ndarray:
    """Classes ``(...)`` in ``[0, n_classes)`` -> float32 ``(..., n_classes)``."""
    return (classes[..., None] == np.arange(n_classes, dtype=classes.dtype)).astype(np.float32)


def resize_labels(labels: np.ndarray) -> np.ndarray:
    """Label volume ``(155, 240, 240)`` in {0,1,2,4} -> uint8 ``(77, 96, 96)`` in {0,1,2,4}.

    Label-safe: each class's indicator is resized linearly, the argmax picks the label,
    so the output holds only labels that were in the input. Ex 4.
    """
    classes = labels_to_classes(crop(labels))
    scores = np.empty((N_CLASSES,) + COURSE_SHAPE, dtype=np.float32)
    for c in range(N_CLASSES):
        scores[c] = resize((classes == c).astype(np.float32), COURSE_SHAPE, order=1,
                           anti_aliasing=True, preserve_range=True)
    return classes_to_labels(np.argmax(scores, axis=0))


def check_labels(labels: np.ndarray, where: str, allowed=BRATS_LABELS) -> None:
    """Raise ``ValueError`` naming ``where`` if ``labels`` holds non-integer values or values
    outside ``allowed`` (BraTS 2019's {0,1,2,4} unless a release with others is read)."""
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.mod(labels, 1) == 0):
            raise ValueError(f"{where}: labels must be integers, found non-integer values")
    found = np.unique(labels)
    bad = sorted(set(found.tolist()) - set(allowed))
    if bad:
        raise ValueError(f"{where}: labels must be in {set(allowed)}, found {bad}")
