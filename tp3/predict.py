"""Prediction back in the original space (handout §6, Ex 11-12).

``load_image`` -> ``model.predict`` -> ``get_mask2original_shape`` turns a prepared patient
into a ``(155, 240, 240)`` label volume comparable with the original ground truth.
"""

from __future__ import annotations

import numpy as np

from .config import MODALITIES
from .data import load_original, read_slices
from .pipeline import normalise
from .preprocessing import get_mask2original_shape, labels_to_classes, one_hot, resize_labels

__all__ = ["load_image", "get_mask2original_shape", "predict_volume", "predict_patient", "resolution_ceiling",
           "plot_prediction"]


def load_image(patient: str, root=None) -> np.ndarray:
    """Ex 11: everything the network needs for one patient, normalised as in training.

    Shapes along the way (the handout asks to guess them):
    ``temp_array`` — one modality, its 77 slices stacked: ``(77, 96, 96)``;
    ``array`` — the four modalities side by side (t1, t1ce, t2, flair): ``(77, 96, 96, 4)``;
    ``X`` — ``array`` z-scored per modality over the brain: ``(77, 96, 96, 4)`` float32,
    a batch of 77 slices ready for ``model.predict``.
    """
    array = np.zeros((77, 96, 96, len(MODALITIES)), dtype=np.float32)
    for channel, modality in enumerate(MODALITIES):
        temp_array = read_slices(patient, modality, root)
        array[..., channel] = temp_array
    X = normalise(array)  # noqa: N806 (the handout's name)
    return X


def predict_volume(model, X: np.ndarray, batch_size: int = 16) -> np.ndarray:  # noqa: N803 (handout's X)
    """``X`` ``(77, 96, 96, 4)`` normalised (as :func:`load_image` gives) -> labels ``(155, 240, 240)``
    uint8 in {0,1,2,4} in the original space. Ex 11."""
    return get_mask2original_shape(model.predict(X, batch_size=batch_size, verbose=0))


def predict_patient(model, patient: str, root=None, batch_size: int = 16) -> np.ndarray:
    """Labels ``(155, 240, 240)`` uint8 in {0,1,2,4} predicted by ``model`` for ``patient``. Ex 11."""
    return predict_volume(model, load_image(patient, root), batch_size)


def resolution_ceiling(patient: str, root=None) -> tuple[np.ndarray, np.ndarray]:
    """The best any model can do at 96x96: ``(original ground truth, its round trip)``.

    The original labels go through the course preprocessing (crop, resize to 77x96x96),
    become one-hot "perfect predictions", and come back with :func:`get_mask2original_shape`.
    Both arrays are ``(155, 240, 240)`` uint8; compare them with ``evalAllSample``.
    """
    truth = load_original(patient, "seg", root).astype(np.uint8)
    perfect = one_hot(labels_to_classes(resize_labels(truth)))
    return truth, get_mask2original_shape(perfect)


def plot_prediction(mri: np.ndarray, ground_truth: np.ndarray, prediction: np.ndarray, z_slice: int,
                    title: str = ""):
    """Ex 12: MRI slice | ground truth | prediction, in the label colours, with a legend.

    All three volumes ``(155, 240, 240)``; labels in {0,1,2,4}. Returns the figure.
    """
    import matplotlib.pyplot as plt

    from .viz import class_overlay, legend_handles, to_grey_rgb

    if not 0 <= z_slice < mri.shape[0]:
        raise ValueError(f"z_slice must be in [0, {mri.shape[0] - 1}], got {z_slice}")
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.6))
    panels = (("MRI", to_grey_rgb(mri[z_slice])),
              ("ground truth", class_overlay(mri[z_slice], labels_to_classes(ground_truth[z_slice]))),
              ("prediction", class_overlay(mri[z_slice], labels_to_classes(prediction[z_slice]))))
    for ax, (name, image) in zip(axes, panels):
        ax.imshow(image)
        ax.set_title(f"{name} (z={z_slice})")
        ax.axis("off")
    fig.legend(handles=legend_handles(), loc="lower center", ncol=3)
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.08, 1, 0.93 if title else 1))
    return fig
