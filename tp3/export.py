"""NIfTI export for 3D Slicer (handout §6, Ex 12)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .preprocessing import check_labels


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
        raise FileExistsError(f"{out_path} exists; pass overwrite=True to replace it")
    image = sitk.GetImageFromArray(labels.astype(np.uint8))
    image.SetSpacing(reader.GetSpacing())
    image.SetOrigin(reader.GetOrigin())
    image.SetDirection(reader.GetDirection())
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp.nii.gz")
    sitk.WriteImage(image, str(tmp), useCompression=True)
    os.replace(tmp, out_path)
    return out_path
