"""Self-checks of Part 1, the data (Ex 1-4): each recomputes the answer from the course data."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import data
from ..layout import MODALITIES, slice_name
from ..preprocessing import COURSE_SHAPE
from .common import SelfCheckError, as_array, expect, ok, self_check, shape


def _ex1(train, validation, test, root=None) -> dict:
    return dict(train=train, validation=validation, test=test, root=root)


@self_check("ex1", _ex1)
def check_ex1(train, validation, test, root=None) -> None:
    """Ex 1: the three split lists, read from ``datasets/``."""
    splits = data.load_splits(root)
    answers = {"train": train, "validation": validation, "test": test}
    for name, answer in answers.items():
        expect(isinstance(answer, (list, tuple)), "Ex 1",
               f"{name} should be a list of patient IDs, got {type(answer).__name__}",
               "split the text of the file into lines, e.g. path.read_text().split()")
        ids = [str(p) for p in answer]
        expect(all(p == p.strip() for p in ids), "Ex 1", f"the IDs of {name} end with a newline or spaces",
               "f.readlines() keeps the '\\n': use read().splitlines() or strip each line")
        for other, content in splits.items():
            if other != name and ids == content and content != splits[name]:
                raise SelfCheckError(f"❌ Ex 1: your {name} list is the content of datasets/{other}.txt\n"
                                     f"   Hint: read datasets/{name}.txt for {name} (a copy-paste slip?)")
        first_difference = next((i for i, (a, b) in enumerate(zip(ids, splits[name])) if a != b),
                                 min(len(ids), len(splits[name])))
        expect(ids == splits[name], "Ex 1",
               f"your {name} list differs from datasets/{name}.txt ({len(ids)} entries, the file lists "
               f"{len(splits[name])}; first difference at {first_difference})",
               f"open datasets/{name}.txt and keep one ID per line, in the file's order")
    ok("Ex 1", f"train {len(train)}, validation {len(validation)}, test {len(test)} patients")


def _ex2(patients, n_images, n_slices, root=None) -> dict:
    return dict(patients=patients, n_images=n_images, n_slices=n_slices, root=root)


@self_check("ex2", _ex2)
def check_ex2(patients, n_images, n_slices, root=None) -> None:
    """Ex 2: the content of ``data/`` (patients, files of one patient, z slices)."""
    expected = data.list_patients(root)
    expect(isinstance(patients, (list, tuple)), "Ex 2", f"patients should be a list, got {type(patients).__name__}",
           "os.listdir gives a list of names")
    extra = sorted(set(map(str, patients)) - set(expected))
    expect(not extra, "Ex 2", f"your list holds {extra[:3]}, which are not patient folders",
           "keep only the patient folders of data/ (os.path.isdir, or Path.is_dir)")
    expect(sorted(map(str, patients)) == expected, "Ex 2", f"found {len(patients)} patients, data/ holds {len(expected)}",
           "list data/ with os.listdir and keep every folder")
    files = len(data.list_images(expected[0], root))
    slices = data.count_slices(expected[0], root)
    expect(n_images == files, "Ex 2", f"{n_images} images per patient, expected {files}",
           "count the .nii.gz files of one patient folder: one per modality and per slice, plus the labels")
    expect(n_slices != files, "Ex 2", f"{n_slices} z slices is the number of files",
           "each z slice has one file per modality and one for the labels: count one modality only")
    expect(n_slices == slices, "Ex 2", f"{n_slices} z slices, expected {slices}",
           "count the files of a single modality (e.g. the names containing '_flair_')")
    ok("Ex 2", f"{len(patients)} patients, {n_images} files each, {n_slices} slices")


def _ex3(image_path, size, spacing, origin, direction) -> dict:
    return dict(image_path=Path(image_path), size=size, spacing=spacing, origin=origin, direction=direction)


@self_check("ex3", _ex3)
def check_ex3(image_path, size, spacing, origin, direction) -> None:
    """Ex 3: the header of a medical image, read with SimpleITK."""
    expect(Path(image_path).is_file() and Path(image_path).name.endswith(".nii.gz"), "Ex 3",
           f"{Path(image_path).name} is not an image of the course", "path = data_dir / patient / images[0]")
    info = data.describe_image(image_path)
    for name, answer in (("size", size), ("spacing", spacing), ("origin", origin), ("direction", direction)):
        try:
            values = np.atleast_1d(np.asarray(answer, dtype=float))
        except (TypeError, ValueError):
            values = np.array([np.nan])
        expected = np.asarray(info[name], dtype=float)
        if values.shape == expected.shape and values.size > 1 and np.allclose(values[::-1], expected, atol=1e-3) \
                and not np.allclose(values, expected, atol=1e-3):
            raise SelfCheckError(f"❌ Ex 3: your {name} {tuple(values)} is in reverse order\n"
                                 f"   Hint: read it from the image (x, y order), not from the numpy array (y, x)")
        expect(values.shape == expected.shape and np.allclose(values, expected, atol=1e-3), "Ex 3",
               f"{name} {tuple(values)} differs from the file's {info[name]}",
               f"use image.Get{name.capitalize()}() on the image read with sitk.ReadImage")
    ok("Ex 3", f"size {info['size']}, spacing {info['spacing']} mm, origin {info['origin']} mm")


def original_height(z: int, n_original: int) -> int:
    """The original slice at the physical height of course slice ``z`` (about ``2 z``)."""
    return min(int(round((z + 0.5) * n_original / COURSE_SHAPE[0] - 0.5)), n_original - 1)


def _ex4(original, processed, original_slice, patient, z, root=None) -> dict:
    return dict(original=as_array(original), processed=as_array(processed), original_slice=as_array(original_slice),
                patient=str(patient), z=int(z) if isinstance(z, (int, np.integer)) else z, root=root)


def _which_volume(array, patient: str, root, exclude: str) -> str | None:
    """``"t1ce"``, ``"flair of <other patient>"``... whose original ``array`` is, else ``None``."""
    for modality in MODALITIES:
        if modality != exclude and np.allclose(array, data.load_original(patient, modality, root), atol=1e-4):
            return f"the {modality} volume"
    for other in data.list_origin_patients(root):
        if other != patient and np.allclose(array, data.load_original(other, exclude, root), atol=1e-4):
            return f"{other}'s volume"
    return None


@self_check("ex4", _ex4)
def check_ex4(original, processed, original_slice, patient, z, root=None) -> None:
    """Ex 4: the FLAIR volume of ``patient`` from ``origin_data/`` ``(155, 240, 240)``, its
    course slice ``z`` ``(96, 96)`` from ``data/``, and the original slice at that height
    ``(240, 240)`` (``original[k]`` with ``k`` about ``2 z``)."""
    expect(patient in data.list_origin_patients(root), "Ex 4", f"{patient!r} is not a patient of origin_data/",
           "origin_patient = tp3.data.list_origin_patients(ROOT)[0]")
    expect(isinstance(z, int) and 0 <= z < COURSE_SHAPE[0], "Ex 4", f"z = {z!r} is not a course slice",
           f"a whole number from 0 to {COURSE_SHAPE[0] - 1}")
    expect(shape(original) == (155, 240, 240), "Ex 4", f"original shape {shape(original)}, expected (155, 240, 240)",
           "read the volume of origin_data/<ID>/<ID>_flair.nii.gz; sitk.GetArrayFromImage gives (z, y, x)")
    expect(shape(processed) == COURSE_SHAPE[1:], "Ex 4", f"processed slice shape {shape(processed)}, expected (96, 96)",
           "each file of data/<ID>/ is one z slice of 96 x 96")
    expect(shape(original_slice) == (240, 240), "Ex 4",
           f"the original slice you show has shape {shape(original_slice)}: it is not an axial (z) slice",
           "the numpy array is ordered (z, y, x): index the first axis, original[2 * z]")
    flair = data.load_original(patient, "flair", root)
    if not np.allclose(original, flair, atol=1e-4):
        which = _which_volume(original, patient, root, "flair")
        expect(False, "Ex 4", f"original is {which or 'not ' + patient + ' FLAIR volume'}",
               f"read origin_data/{patient}/{patient}_flair.nii.gz")
    slices = data.read_slices(patient, "flair", root)
    if not np.allclose(processed, slices[z], atol=1e-4):
        same = [k for k in range(len(slices)) if np.allclose(processed, slices[k], atol=1e-4)]
        expect(False, "Ex 4", f"the processed slice is not {patient}'s FLAIR slice z={z}"
               + (f" (it is slice {same[0]})" if same else ""),
               f"read data/{patient}/{slice_name(patient, 'flair', z)} (the z of the cell)")
    heights = [k for k in range(len(flair)) if np.array_equal(original_slice, np.asarray(original)[k])]
    expect(bool(heights), "Ex 4", "the original slice you show is not a slice of the original volume",
           "take original[k] for k near 2 * z")
    target = original_height(z, len(flair))
    expect(min(abs(k - target) for k in heights) <= 1 or 2 * z in heights, "Ex 4",
           f"the original slice is at height {heights[0]}, the processed slice z={z} at about {target}",
           "77 course slices cover the 155 original ones: take original[2 * z]")
    ok("Ex 4", f"{patient}'s FLAIR (155, 240, 240) at z={heights[0]} beside course slice {z} (96, 96)")
