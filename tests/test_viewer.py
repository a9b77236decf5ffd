"""Ex 12 in 3D (tp3.viewer): the NiiVue views hold what a student must see, the fallback says why,
the bundle for 3D Slicer holds the three files. What a browser draws is checked by
benchmarks/browser_ex12.py (it needs Chromium)."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from tp3 import viewer
from tp3.data import list_origin_patients, load_original, origin_path
from tp3.viz import CLASS_COLOURS

pytestmark = pytest.mark.widgets


@pytest.fixture(scope="module")
def patient(course_root):
    return list_origin_patients(course_root)[0]


def _views(widget):
    """The two NiiVue widgets of niivue_views' box, with their titles."""
    legend, row = widget.children
    return [(panel.children[0].value, panel.children[1]) for panel in row.children]


def test_the_views_show_the_mri_with_the_truth_and_the_prediction_in_the_kits_colours(course_root, patient):
    truth = load_original(patient, "seg", course_root)
    prediction = np.where(truth == 4, 1, truth).astype(np.uint8)  # a prediction unlike the truth
    widget = viewer.niivue_views(patient, prediction, course_root, modality="t1ce")
    (truth_title, truth_view), (pred_title, pred_view) = _views(widget)
    assert "ground truth" in truth_title and "prediction" in pred_title
    assert str(truth_view.volumes[0].path) == str(origin_path(patient, "t1ce", course_root))
    assert str(truth_view.volumes[1].path) == str(origin_path(patient, "seg", course_root))
    assert np.array_equal(_read(pred_view.volumes[1].path), prediction)
    lut = np.array(truth_view.volumes[1].colormap_label.lut).reshape(5, 4)
    assert lut[0, 3] == 0 and lut[3, 3] == 0, "background and the absent label 3 are see-through"
    assert lut[[1, 2, 4], :3].tolist() == CLASS_COLOURS[1:].tolist()


def _read(path) -> np.ndarray:
    import SimpleITK as sitk

    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def test_without_a_notebook_the_planes_are_drawn_and_the_reason_said(course_root, patient, capsys):
    truth = load_original(patient, "seg", course_root)
    figure = viewer.view3d(patient, truth, course_root)
    assert "3D view unavailable (not in a Jupyter notebook)" in capsys.readouterr().out
    assert len(figure.axes) == 6
    with pytest.raises(RuntimeError, match="the 3D widget cannot be shown: not in a Jupyter notebook"):
        viewer.view3d(patient, truth, course_root, widget=True)
    with pytest.raises(ValueError, match="differ in shape; bring the prediction back with get_mask2original_shape"):
        viewer.view3d(patient, truth[:, ::2, ::2], course_root, widget=False)
    with pytest.raises(ValueError, match="modality 'dwi'"):
        viewer.view3d(patient, truth, course_root, modality="dwi")


def test_the_slicer_bundle_holds_the_mri_the_truth_and_the_prediction(course_root, patient, tmp_path):
    missing = tmp_path / "none.nii.gz"
    with pytest.raises(FileNotFoundError, match="none.nii.gz: no such prediction file"):
        viewer.slicer_bundle(patient, missing, course_root)
    truth = load_original(patient, "seg", course_root)
    bundle = viewer.slicer_bundle(patient, truth, course_root, out=tmp_path / "b.zip")
    names = sorted(zipfile.ZipFile(bundle).namelist())
    assert names == sorted(f"{patient}/{patient}_{name}.nii.gz" for name in ("t1", "t1ce", "t2", "flair", "seg",
                                                                               "prediction")) + [f"{patient}/README.txt"]
