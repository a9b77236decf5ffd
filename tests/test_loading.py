"""Input pipeline: shapes, dtypes, normalisation, bad input; augmentation safety."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from tp3 import preprocessing, settings, training
from tp3.augment import augment_numpy


@pytest.fixture(scope="module")
def validation(course_root):
    return training.load_split("validation", course_root, progress=False)


def test_load_split_contract(course_root, validation):
    images, classes = validation
    n_patients = len((course_root / "datasets" / "validation.txt").read_text().split())
    assert images.shape == (77 * n_patients, 96, 96, 4) and images.dtype == np.float32
    assert classes.shape == (77 * n_patients, 96, 96) and classes.dtype == np.uint8
    assert set(np.unique(classes)) <= {0, 1, 2, 3} and (classes == 3).any()


def test_normalisation_is_a_zscore_over_the_brain(validation):
    images, _ = validation
    patient = images[:77]
    brain = preprocessing.brain_mask(patient)
    assert not patient[~brain].any()
    for channel in range(4):
        values = patient[..., channel][brain]
        assert abs(values.mean()) < 1e-3 and abs(values.std() - 1) < 1e-3


def test_dataset_batches(validation):
    images, classes = validation
    dataset = training.make_dataset(images, classes, batch_size=8, shuffle=True, augment=True, seed=1)
    x, y = next(iter(dataset))
    assert x.shape == (8, 96, 96, 4) and x.dtype.name == "float32"
    assert y.shape == (8, 96, 96, 4) and y.dtype.name == "float32"
    np.testing.assert_array_equal(y.numpy().sum(axis=-1), 1.0)


def test_training_batches_can_leave_out_slices_without_brain(validation, monkeypatch):
    images, classes = validation
    empty = np.flatnonzero(~images.any(axis=(1, 2, 3)))
    assert len(empty), "the sample's volumes start and end with slices outside the brain"
    np.testing.assert_array_equal(training.brain_slices(images), np.setdiff1d(np.arange(len(images)), empty))

    def batches(**options):
        return np.concatenate([x.numpy() for x, _ in training.make_dataset(images, classes, 64, **options)])
    kept = batches(shuffle=True, skip_empty=True)
    assert len(kept) == len(images) - len(empty) and kept.reshape(len(kept), -1).any(axis=1).all()
    assert len(batches(shuffle=True)) == len(images)  # settings.SKIP_EMPTY_SLICES is off
    monkeypatch.setattr(settings, "SKIP_EMPTY_SLICES", True)
    assert len(batches(shuffle=True)) == len(kept)
    assert len(batches(shuffle=False)) == len(images)  # validation keeps every slice
    with pytest.raises(ValueError, match="no slice holds brain"):
        training.make_dataset(np.zeros_like(images[:4]), classes[:4], 8, shuffle=True)


def test_kit_batches_are_not_autotuned(validation):
    # Autotuning made the end of an epoch wait ~10 s on its thread (tp3/settings.py, DATA_AUTOTUNE).
    images, classes = validation
    for shuffle in (True, False):
        assert training.make_dataset(images, classes, 8, shuffle=shuffle).options().autotune.enabled is False


def test_bad_input(tmp_path, course_root):
    with pytest.raises(FileNotFoundError, match="split file missing"):
        training.load_split("train", tmp_path)
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "train.txt").write_text("")
    with pytest.raises(ValueError, match="train split is empty"):
        training.load_split("train", tmp_path)
    (tmp_path / "datasets" / "train.txt").write_text("BraTS19_GHOST\n")
    (tmp_path / "data").mkdir()
    with pytest.raises(FileNotFoundError, match="BraTS19_GHOST is listed in datasets/train.txt"):
        training.load_split("train", tmp_path)
    with pytest.raises(ValueError, match="no slices"):
        training.make_dataset(np.zeros((0, 96, 96, 4), np.float32), np.zeros((0, 96, 96), np.uint8), 8, True)


def _tumour_slices(validation, n=8):
    images, classes = validation
    order = np.argsort(-(classes > 0).sum(axis=(1, 2)))[:n]
    return images[order], classes[order]


def test_augmentation_invents_no_label(validation):
    images, classes = _tumour_slices(validation)
    for seed in range(5):
        _, augmented = augment_numpy(images, classes, seed)
        assert augmented.dtype == classes.dtype
        for before, after in zip(classes, augmented):
            assert set(np.unique(after)) <= set(np.unique(before)) | {0}


def test_augmentation_keeps_image_and_labels_aligned(validation):
    _, classes = _tumour_slices(validation)
    # an image that *is* its labels (one channel per class): after augmentation the
    # brightest channel must still be the label at every pixel away from class borders
    coded = 5.0 * np.eye(4, dtype=np.float32)[classes]
    moved_images, moved_classes = augment_numpy(coded, classes, seed=3)
    assert not np.array_equal(moved_classes, classes)  # something did move
    for image, labels in zip(moved_images, moved_classes):
        interior = np.ones_like(labels, dtype=bool)
        for c in np.unique(labels):
            interior &= ~ndimage.binary_dilation(labels == c) | ndimage.binary_erosion(labels == c)
        interior &= image.any(axis=-1)
        assert interior.sum() > 1000
        assert (np.argmax(image, axis=-1)[interior] == labels[interior]).mean() > 0.999


def test_augmentation_is_deterministic_per_seed(validation):
    images, classes = _tumour_slices(validation, 4)
    a = augment_numpy(images, classes, seed=7)
    b = augment_numpy(images, classes, seed=7)
    c = augment_numpy(images, classes, seed=8)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])


def test_slices_are_read_whole_and_reading_does_not_accumulate_memory(course_root):
    """The slices of a volume, stacked, are the files' own arrays; reading a patient again and
    again keeps the memory flat (SimpleITK's series reader kept 3 MB per volume read: a split
    of 250 patients grew the process by 3 GB)."""
    import SimpleITK as sitk

    from tp3 import data

    patient = data.read_split("train", course_root)[0]
    for volume in ("flair", "seg"):
        paths = data.slice_paths(patient, volume, course_root)
        stacked = data.read_slices(patient, volume, course_root)
        files = np.stack([sitk.GetArrayFromImage(sitk.ReadImage(str(path))) for path in paths])
        assert stacked.dtype == files.dtype and np.array_equal(stacked, files)

    def resident_mb():
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * 4096 / 1e6

    data.load_image(patient, course_root)
    before = resident_mb()
    for _ in range(30):  # 30 patients' worth: the old reader grew by about 360 MB
        data.load_image(patient, course_root)
    assert resident_mb() - before < 120
