"""Course geometry: exact shapes, label safety, and the inverse back to the original space."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.transform import rescale

from tp3 import preprocessing as pre
from tp3.predict import get_mask2original_shape


def _random_labels(rng, shape=(155, 240, 240)):
    labels = np.zeros(shape, dtype=np.uint8)
    z, y, x = np.indices(shape)
    for label, radius in ((2, 40), (4, 22), (1, 12)):
        centre = rng.uniform([50, 90, 90], [100, 150, 150])
        labels[((z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2) < radius ** 2] = label
    return labels


def test_rescale_would_give_78_slices_resize_gives_77():
    volume = np.zeros((155, 192, 192), dtype=np.float32)
    assert rescale(volume, 0.5, order=0, anti_aliasing=False).shape[0] == 78
    assert pre.resize_image(np.zeros((155, 240, 240), np.int16)).shape == (77, 96, 96)


def test_crop_rejects_other_shapes():
    with pytest.raises(ValueError, match=r"\(155, 240, 240\)"):
        pre.crop(np.zeros((154, 240, 240)))


def test_resize_labels_invents_no_label():
    rng = np.random.default_rng(0)
    labels = _random_labels(rng)
    labels[labels == 1] = 0  # a volume without NCR must stay without NCR
    small = pre.resize_labels(labels)
    assert small.shape == (77, 96, 96) and small.dtype == np.uint8
    assert set(np.unique(small)) <= set(np.unique(labels))
    # a label between two others (e.g. 2 between 0 and 4) is not created at borders
    noisy = rng.choice(np.array([0, 4], np.uint8), size=(155, 240, 240))
    assert set(np.unique(pre.resize_labels(noisy))) <= {0, 4}


def test_inverse_maps_one_hot_back_to_original_labels():
    labels = _random_labels(np.random.default_rng(1))
    small = pre.resize_labels(labels)
    back = get_mask2original_shape(pre.one_hot(pre.labels_to_classes(small)))
    assert back.shape == (155, 240, 240) and back.dtype == np.uint8
    assert set(np.unique(back)) <= {0, 1, 2, 4}
    assert not back[:, :24].any() and not back[:, :, 216:].any()
    for label in (1, 2, 4):
        a, b = labels == label, back == label
        dice = 2 * (a & b).sum() / (a.sum() + b.sum())
        assert dice > 0.85, (label, dice)


def test_inverse_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r"\(77, 96, 96, 4\)"):
        get_mask2original_shape(np.zeros((77, 96, 96)))


@pytest.mark.parametrize("bad, message", [(np.array([0, 3]), r"\[3\]"), (np.array([0.0, 0.5]), "non-integer")])
def test_check_labels_names_the_fault(bad, message):
    with pytest.raises(ValueError, match=message):
        pre.check_labels(bad, "case.nii.gz")
