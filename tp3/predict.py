"""Prediction back in the original space, and export (handout §6, Ex 11-12).

``load_image`` -> ``model.predict`` -> ``get_mask2original_shape`` turns a prepared patient
into a ``(155, 240, 240)`` label volume comparable with the original ground truth;
``numpy2nifti`` writes it with the MRI's geometry for 3D Slicer.

Ex 11  ``load_model``, ``load_image`` (:func:`tp3.data.load_image`, the network's one input
       path), ``get_mask2original_shape`` (``predict_patient`` does all three), ``resolution_ceiling``
Ex 12  ``plot_prediction``, ``numpy2nifti``
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from skimage.transform import resize

from .data import load_image, load_original  # load_image: Ex 11 imports it from here, as the handout does
from .files import atomic_file
from .preprocessing import (CROP, CROPPED_SHAPE, COURSE_SHAPE, ORIGINAL_SHAPE, check_labels,
                            classes_to_labels, labels_to_classes, one_hot, resize_labels)
from .settings import N_CLASSES, PREDICT_BATCH_SIZE

__all__ = ["load_model", "load_image", "get_mask2original_shape", "predict_volume", "predict_patient",
           "resolution_ceiling", "plot_prediction", "numpy2nifti"]


def load_model(path):
    """Ex 11: a trained U-Net, computing in float32 whatever precision it was trained in.

    ``path``: the kit's model file (``.weights.h5``, what training saves and the kit ships:
    it loads on every supported Keras 3) or a ``.keras`` archive (a U-Net of the kit loads
    whichever Keras 3 saved it). No optimizer or metrics: the model is for prediction.
    Errors name the file and what to do (:class:`tp3.modelfile.ModelFileError`).
    """
    from .modelfile import SUFFIX, load_keras_archive, load_unet

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model; train one (python -m tp3 train) or use "
                                "the pretrained model shipped with the kit (models/pretrained.weights.h5)")
    if path.name.endswith(SUFFIX):
        return load_unet(path)
    if path.suffix == ".keras":
        return load_keras_archive(path)
    raise ValueError(f"{path}: not a model file of the kit ({SUFFIX}) nor a Keras archive (.keras)")


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


def predict_volume(model, X: np.ndarray, batch_size: int = PREDICT_BATCH_SIZE) -> np.ndarray:  # noqa: N803 (handout's X)
    """``X`` ``(77, 96, 96, 4)`` normalised (as :func:`load_image` gives) -> labels ``(155, 240, 240)``
    uint8 in {0,1,2,4} in the original space. Ex 11."""
    return get_mask2original_shape(model.predict(X, batch_size=batch_size, verbose=0))


def predict_patient(model, patient: str, root=None, batch_size: int = PREDICT_BATCH_SIZE) -> np.ndarray:
    """Labels ``(155, 240, 240)`` uint8 in {0,1,2,4} predicted by ``model`` for ``patient``. Ex 11."""
    return predict_volume(model, load_image(patient, root), batch_size)


def resolution_ceiling(patient: str, root=None) -> tuple[np.ndarray, np.ndarray]:
    """What the 96x96 grid costs a perfect *hard* segmentation: ``(original ground truth, its round trip)``.

    The original labels go through the course preprocessing (crop, resize to 77x96x96),
    become one-hot "perfect predictions", and come back with :func:`get_mask2original_shape`.
    Not an upper bound for a network: its soft probabilities, resampled before the argmax,
    can place a border between two coarse pixels and score higher.
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

    for name, volume in (("ground_truth", ground_truth), ("prediction", prediction)):
        if np.shape(volume) != np.shape(mri):
            raise ValueError(f"{name} has shape {np.shape(volume)} and the MRI {np.shape(mri)}: give all three "
                             "in the original space (155, 240, 240); the ground truth is "
                             "origin_data/<ID>/<ID>_seg.nii.gz, not the 96 x 96 slices of data/")
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


def numpy2nifti(labels, reference_image_path, out_path, overwrite: bool = False) -> Path:
    """Ex 12: write a label volume as NIfTI with the reference image's geometry.

    ``labels``: ``(155, 240, 240)`` (z, y, x, the reference's array shape) in {0,1,2,4};
    written as uint8 with the spacing, origin and direction of ``reference_image_path``
    (the patient's MRI), so it overlays the MRI in 3D Slicer. Written atomically; an
    existing ``out_path`` is kept unless ``overwrite``. Returns ``out_path``.
    """
    import SimpleITK as sitk

    reference_image_path, out_path = Path(reference_image_path), Path(out_path)
    if not reference_image_path.is_file():
        raise FileNotFoundError(f"{reference_image_path}: no such reference image")
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(reference_image_path))
    reader.ReadImageInformation()
    expected = tuple(reversed(reader.GetSize()))
    labels = np.asarray(labels)
    if labels.shape != expected:
        raise ValueError(f"labels of shape {labels.shape} do not match {reference_image_path.name} "
                         f"(array shape {expected}, z, y, x)")
    check_labels(labels, f"labels for {out_path.name}")
    if out_path.resolve() == reference_image_path.resolve():
        raise ValueError(f"{out_path}: refusing to overwrite the reference image")
    if out_path.exists() and not overwrite:
        raise FileExistsError(f"{out_path} exists (written by an earlier run of this code?): nothing was "
                              "written; pass overwrite=True to replace it, or choose another out_path "
                              "(python -m tp3 evaluate: --force)")
    image = sitk.GetImageFromArray(labels.astype(np.uint8))
    image.SetSpacing(reader.GetSpacing())
    image.SetOrigin(reader.GetOrigin())
    image.SetDirection(reader.GetDirection())
    with atomic_file(out_path, suffix=".nii.gz") as tmp:
        sitk.WriteImage(image, str(tmp), useCompression=True)
    return out_path
