"""Course geometry: original BraTS volume <-> 77 slices of 96x96 (handout Ex 4 and Ex 11).

All arrays are in SimpleITK order ``(z, y, x)``. The forward path is

1. crop in-plane ``[:, 24:216, 24:216]``: ``(155, 240, 240) -> (155, 192, 192)``;
2. resize to exactly ``(77, 96, 96)``: images linearly with anti-aliasing, labels
   label-safely (one-hot, linear, argmax) so no label value is ever invented.

``skimage.transform.rescale(x, 0.5)`` would give 78 slices (``np.round(77.5)`` rounds
half to even), hence ``resize`` with an explicit output shape.

The inverse (:func:`get_mask2original_shape`) resamples class *probabilities*, then
takes the argmax, maps class 3 back to label 4 and pads back to ``(155, 240, 240)``.
"""

from __future__ import annotations

import numpy as np
from skimage.transform import resize

from .config import BRATS_LABELS, N_CLASSES

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


def labels_to_classes(labels: np.ndarray) -> np.ndarray:
    """BraTS labels {0,1,2,4} -> network classes {0,1,2,3} (uint8, same shape)."""
    classes = labels.astype(np.uint8, copy=True)
    classes[labels == 4] = 3
    return classes


def classes_to_labels(classes: np.ndarray) -> np.ndarray:
    """Network classes {0,1,2,3} -> BraTS labels {0,1,2,4} (uint8, same shape)."""
    labels = classes.astype(np.uint8, copy=True)
    labels[classes == 3] = 4
    return labels


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


def get_mask2original_shape(prediction: np.ndarray) -> np.ndarray:
    """Class probabilities ``(77, 96, 96, 4)`` -> BraTS labels ``(155, 240, 240)`` uint8. Ex 11.

    Steps (and the shapes students are asked to guess):
    linear resize of the probabilities to ``(155, 192, 192, 4)``; argmax over classes
    -> ``(155, 192, 192)``; class 3 -> label 4; zero-pad to ``(155, 240, 240)`` at the
    offsets of the crop. Resampling probabilities rather than labels keeps borders smooth
    and never invents a label between two others.
    """
    prediction = np.asarray(prediction)
    if prediction.shape != COURSE_SHAPE + (N_CLASSES,):
        raise ValueError(
            f"expected class probabilities of shape {COURSE_SHAPE + (N_CLASSES,)}, "
            f"got {prediction.shape}; pass model.predict(X) for one whole patient")
    upsampled = np.empty((N_CLASSES,) + CROPPED_SHAPE, dtype=np.float32)
    for c in range(N_CLASSES):
        upsampled[c] = resize(prediction[..., c].astype(np.float32), CROPPED_SHAPE, order=1,
                              anti_aliasing=False, preserve_range=True)
    labels = np.zeros(ORIGINAL_SHAPE, dtype=np.uint8)
    labels[CROP] = classes_to_labels(np.argmax(upsampled, axis=0))
    return labels


def check_labels(labels: np.ndarray, where: str) -> None:
    """Raise ``ValueError`` naming ``where`` if ``labels`` holds values outside {0,1,2,4}."""
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.mod(labels, 1) == 0):
            raise ValueError(f"{where}: labels must be integers, found non-integer values")
    found = np.unique(labels)
    bad = sorted(set(found.tolist()) - set(BRATS_LABELS))
    if bad:
        raise ValueError(f"{where}: labels must be in {set(BRATS_LABELS)}, found {bad}")
