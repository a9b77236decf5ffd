"""Reading the course data (handout §3, Ex 1-4).

The course layout (:mod:`tp3.layout`) under the course root:
``datasets/{train,validation,test}.txt``, ``data/<ID>/<ID>_<modality>_<zzz>.nii.gz``
(77 slices of 96x96 per modality and for the labels) and ``origin_data/<ID>/`` (original
volumes of a few validation patients). :func:`load_image` is the network's one input path:
training (Ex 7) and prediction (Ex 11, as ``tp3.predict.load_image``) both read through it.

Ex 1   ``read_split``, ``load_splits``
Ex 2   ``list_patients``, ``list_images``, ``count_slices``
Ex 3   ``read_image``, ``describe_image``
Ex 4   ``load_original``, ``read_slices``, ``plot_original_vs_processed``
Ex 7, 11  ``load_image`` (one patient as the network's input)
Ex 11-13  ``list_origin_patients``, ``origin_path``, ``original_spacing``, ``most_tumour_slices``
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import layout
from .files import DamagedFileError, check_nifti_complete
from .layout import MODALITIES, SPLITS, VOLUMES, course_root
from .preprocessing import COURSE_SHAPE, normalise


def _root(root) -> Path:
    return Path(root) if root is not None else course_root()


def read_split(name: str, root=None) -> list[str]:
    """Patient IDs of split ``name`` (``train``, ``validation`` or ``test``). Ex 1."""
    if name not in SPLITS:
        raise ValueError(f"unknown split {name!r}; choose one of {SPLITS}")
    path = layout.split_path(_root(root), name)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: split file missing; build the course data first "
            "(`python -m tp3 sample`, or `python -m tp3 prepare --brats DIR`)")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def load_splits(root=None) -> dict[str, list[str]]:
    """``{"train": [...], "validation": [...], "test": [...]}``. Ex 1."""
    return {name: read_split(name, root) for name in SPLITS}


def data_dir(root=None) -> Path:
    path = _root(root) / layout.DATA
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no data folder; build the course data first "
                                "(`python -m tp3 sample`)")
    return path


def list_patients(root=None) -> list[str]:
    """Sorted patient folders of ``data/``. Ex 2."""
    return sorted(p.name for p in data_dir(root).iterdir() if p.is_dir() and not p.name.startswith("."))


def patient_dir(patient: str, root=None) -> Path:
    path = data_dir(root) / patient
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: patient {patient!r} is not in the data folder")
    return path


def list_images(patient: str, root=None) -> list[str]:
    """Sorted file names of one patient's folder (77 slices x 5 volumes). Ex 2."""
    return sorted(p.name for p in patient_dir(patient, root).iterdir() if p.name.endswith(".nii.gz"))


def slice_paths(patient: str, name: str, root=None) -> list[Path]:
    """The 77 slice files of one modality (or ``"seg"``), in z order."""
    folder = patient_dir(patient, root)
    paths = sorted(folder.glob(layout.slice_glob(patient, name)))
    if len(paths) != COURSE_SHAPE[0]:
        raise FileNotFoundError(f"{folder}: expected {COURSE_SHAPE[0]} {name} slices, found "
                                f"{len(paths)}; rebuild the course data")
    return paths


def count_slices(patient: str, root=None) -> int:
    """Number of z slices of one patient (77 in the course data). Ex 2."""
    return len(slice_paths(patient, MODALITIES[0], root))


def read_image(path):
    """Read a medical image with SimpleITK (``sitk.Image``). Ex 3.

    The kit's one reader of whole volumes (preparation, evaluation, Ex 4 and 12): a NIfTI
    file is first checked whole (:func:`tp3.files.check_nifti_complete`), because ITK reads
    a truncated one without complaint. Raises ``FileNotFoundError`` or
    :class:`tp3.files.DamagedFileError` (a ``ValueError``) naming the file.
    """
    import SimpleITK as sitk

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such image")
    if path.name.lower().endswith((".nii", ".nii.gz")):
        check_nifti_complete(path)
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as error:
        detail = str(error).strip().splitlines()[-1] if str(error).strip() else "read error"
        raise DamagedFileError(f"{path}: unreadable image file ({detail})") from None


def describe_image(path) -> dict:
    """Header and array summary of a medical image file. Ex 3.

    Returns size (x, y[, z]), spacing (mm), origin (mm), direction cosines, pixel type,
    the NIfTI metadata keys, and the array's shape (z, y, x order), dtype, min and max.
    """
    import SimpleITK as sitk

    image = read_image(path)
    array = sitk.GetArrayViewFromImage(image)
    return {
        "file": Path(path).name,
        "size": image.GetSize(),
        "spacing": tuple(round(v, 4) for v in image.GetSpacing()),
        "origin": tuple(round(v, 4) for v in image.GetOrigin()),
        "direction": tuple(round(v, 4) for v in image.GetDirection()),
        "pixel_type": image.GetPixelIDTypeAsString(),
        "metadata_keys": list(image.GetMetaDataKeys()),
        "array_shape": array.shape,
        "array_dtype": str(array.dtype),
        "min": float(array.min()),
        "max": float(array.max()),
    }


def _read_stack(paths) -> np.ndarray:
    """The slices at ``paths`` stacked ``(len(paths), 96, 96)`` (z, y, x as SimpleITK orders
    them), in the files' own dtype.

    Read with nibabel, from each file's bytes decompressed at once (twice as fast as
    ``nibabel.load``'s stream): SimpleITK's ``ImageSeriesReader`` keeps about 3 MB per 77-slice
    series it has read, for the life of the process (SimpleITK 2.5.7: 12 MB per patient, 3 GB
    for a split of 250 patients), and its single-file reader is 2.4 times slower."""
    import gzip

    import nibabel as nib

    planes = []
    for path in paths:
        check_nifti_complete(path)  # ~0.1 ms a slice; a slice cut short by a full disk is named here
        raw = Path(path).read_bytes()
        image = nib.Nifti1Image.from_bytes(gzip.decompress(raw) if str(path).endswith(".gz") else raw)
        plane = np.asanyarray(image.dataobj)
        planes.append(plane.reshape(plane.shape[:2]).T)  # NIfTI's (x, y) -> SimpleITK's (y, x)
    return np.stack(planes)


def read_slices(patient: str, name: str, root=None) -> np.ndarray:
    """The 77 slices of one modality (or ``"seg"``) stacked: ``(77, 96, 96)`` (float32 / uint8). Ex 11."""
    return _read_stack(slice_paths(patient, name, root))


def load_image(patient: str, root=None) -> np.ndarray:
    """Ex 11 (and Ex 7's training data): everything the network needs for one patient.

    Shapes along the way (the handout asks to guess them):
    ``temp_array`` — one modality, its 77 slices stacked: ``(77, 96, 96)``;
    ``array`` — the four modalities side by side (t1, t1ce, t2, flair): ``(77, 96, 96, 4)``;
    ``X`` — ``array`` z-scored per modality over the brain: ``(77, 96, 96, 4)`` float32,
    a batch of 77 slices ready for ``model.predict``.
    """
    array = np.zeros(COURSE_SHAPE + (len(MODALITIES),), dtype=np.float32)
    for channel, modality in enumerate(MODALITIES):
        temp_array = read_slices(patient, modality, root)
        array[..., channel] = temp_array
    X = normalise(array)  # noqa: N806 (the handout's name)
    return X


def read_patient(patient: str, root=None, split: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One patient as the network trains on it: images float32 ``(77, 96, 96, 4)``
    (:func:`load_image`) and classes uint8 ``(77, 96, 96)`` in {0,1,2,3} (label 4 -> class 3).
    Ex 7 (``training.load_split`` and the cache of :mod:`tp3.cache` both read patients here).

    ``split``: the split that lists the patient, named in the error when its slices are missing.
    """
    from .preprocessing import labels_to_classes

    try:
        return load_image(patient, root), labels_to_classes(read_slices(patient, layout.LABEL_SUFFIX, root))
    except FileNotFoundError as error:
        if split is None:
            raise
        raise FileNotFoundError(
            f"patient {patient} is listed in datasets/{layout.split_name(split)} but its slices are "
            f"missing ({error}); rebuild the course data or remove the line") from None


def origin_dir(root=None) -> Path:
    path = _root(root) / layout.ORIGIN_DATA
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no origin_data folder; build the course data first")
    return path


def list_origin_patients(root=None, complete: bool = True) -> list[str]:
    """Patients whose original volumes (all four modalities and the labels) are in
    ``origin_data/`` (Ex 4, Ex 11-13); ``complete=False``: every patient folder there."""
    folders = [p for p in origin_dir(root).iterdir() if p.is_dir() and not p.name.startswith(".")]
    return sorted(p.name for p in folders if not complete or not _missing_originals(p))


def _missing_originals(folder: Path) -> list[str]:
    return [name for name in VOLUMES if not (folder / layout.original_name(folder.name, name)).is_file()]


def origin_path(patient: str, name: str, root=None) -> Path:
    """``origin_data/<ID>/<ID>_<name>.nii.gz`` (``name``: a modality or ``"seg"``)."""
    folder = origin_dir(root) / patient
    path = folder / layout.original_name(patient, name)
    if not path.is_file():
        state = (f"its originals lack {', '.join(_missing_originals(folder))}" if folder.is_dir()
                 else "no such patient there")
        raise FileNotFoundError(f"{path}: no such original volume ({state}; patients with all their "
                                f"originals: {list_origin_patients(root)})")
    return path


def load_original(patient: str, name: str, root=None) -> np.ndarray:
    """Original volume ``(155, 240, 240)`` of a patient in ``origin_data/``. Ex 4, Ex 12."""
    import SimpleITK as sitk

    return sitk.GetArrayFromImage(read_image(origin_path(patient, name, root)))


def original_spacing(patient: str, root=None) -> tuple[float, float, float]:
    """Voxel size (mm) of a patient's original volumes in array order ``(z, y, x)`` (header only)."""
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(origin_path(patient, "seg", root)))
    reader.ReadImageInformation()
    return tuple(reversed(reader.GetSpacing()))


def plot_original_vs_processed(patient: str, z: int = 38, modality: str = "flair", root=None):
    """Ex 4: an original slice (240x240) beside the course slice (96x96) at the same height.

    ``z`` indexes the course slices (0-76); the original slice shown is the one at the
    same physical height (about ``2 z``). Returns the matplotlib figure.
    """
    import matplotlib.pyplot as plt

    original = load_original(patient, modality, root)
    processed = _read_stack([slice_paths(patient, modality, root)[z]])[0]
    z_original = min(int(round((z + 0.5) * original.shape[0] / COURSE_SHAPE[0] - 0.5)),
                     original.shape[0] - 1)
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.5))
    axes[0].imshow(original[z_original], cmap="gray")
    axes[0].set_title(f"original {modality} z={z_original} {original[z_original].shape}")
    axes[1].imshow(processed, cmap="gray")
    axes[1].set_title(f"processed {modality} z={z} {processed.shape}")
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    return fig


def summarise_course(root=None) -> str:
    """A few lines describing the course data in ``root`` (printed by ``make demo``)."""
    root = _root(root)
    splits = load_splits(root)
    patients = list_patients(root)
    first = patients[0]
    images, labels = load_image(first, root), read_slices(first, layout.LABEL_SUFFIX, root)
    lines = [f"Course data in {root}",
             f"  data/: {len(patients)} patients, {len(list_images(first, root))} files each "
             f"({count_slices(first, root)} slices x {len(MODALITIES)} modalities + labels)",
             *(f"  datasets/{name}.txt: {len(ids)} patients" for name, ids in splits.items()),
             f"  origin_data/: {len(list_origin_patients(root))} patients",
             f"  {first}: images {images.shape} {images.dtype}, labels {labels.shape} "
             f"{labels.dtype} with labels {sorted(np.unique(labels).tolist())}"]
    return "\n".join(lines)


def most_tumour_slices(labels: np.ndarray, n: int = 1) -> list[int]:
    """Indices along the first axis of the ``n`` slices with the most tumour (non-zero labels
    or classes), the most first. ``labels`` ``(Z, H, W)`` (a volume, or a stack of slices).
    Used to choose the slices shown in Ex 7, 8, 12 and in previews."""
    tumour = np.count_nonzero(np.asarray(labels).reshape(len(labels), -1), axis=1)
    return [int(i) for i in np.argsort(-tumour, kind="stable")[:n]]
