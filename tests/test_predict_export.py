"""Prediction in the original space, the resolution ceiling, NIfTI export, the evaluate command."""

from __future__ import annotations

import json

import matplotlib
import nibabel as nib
import numpy as np
import pytest

from tp3 import data, layout, predict
from tp3.predict import numpy2nifti
from tp3.tools.cli import main
from tp3.metrics import evalAllSample
from tp3.preprocessing import normalise

matplotlib.use("Agg")


def test_load_image_is_the_training_input(course_root):
    """Training reads its images through load_image: a split's first patient is its X."""
    from tp3.training import load_split

    patient = data.read_split("validation", course_root)[0]
    X = predict.load_image(patient, course_root)
    assert X.shape == (77, 96, 96, 4) and X.dtype == np.float32
    np.testing.assert_array_equal(X, load_split("validation", course_root, progress=False)[0][:77])
    # the slice files, stacked in the order of layout.MODALITIES, normalised
    raw = np.stack([data.read_slices(patient, m, course_root) for m in layout.MODALITIES], axis=-1)
    np.testing.assert_array_equal(X, normalise(raw))
    assert predict.load_image is data.load_image  # Ex 11 imports it from tp3.predict, as the handout does


def test_resolution_ceiling_on_the_sample(course_root):
    dice = {"WT": [], "TC": [], "ET": []}
    for patient in data.list_origin_patients(course_root):
        truth, round_trip = predict.resolution_ceiling(patient, course_root)
        assert round_trip.shape == (155, 240, 240) and round_trip.dtype == np.uint8
        scores = evalAllSample(round_trip, truth)
        for region in dice:
            dice[region].append(scores[region]["dice"])
    # over the sample's patients (a thin enhancing rim alone can dip below the mean)
    assert np.mean(dice["WT"]) >= 0.95, dice
    assert np.mean(dice["TC"]) >= 0.90, dice
    assert np.mean(dice["ET"]) >= 0.80, dice


def test_export_overlays_the_mri(tmp_path, course_root):
    patient = data.list_origin_patients(course_root)[0]
    reference = data.origin_path(patient, "flair", course_root)
    _, labels = predict.resolution_ceiling(patient, course_root)
    out = numpy2nifti(labels, reference, tmp_path / "pred.nii.gz")
    exported, original = nib.load(str(out)), nib.load(str(reference))
    np.testing.assert_allclose(exported.affine, original.affine)
    assert exported.shape == original.shape == (240, 240, 155)
    # nibabel's (x, y, z) array is the transpose of SimpleITK's (z, y, x)
    np.testing.assert_array_equal(np.asarray(exported.dataobj).transpose(2, 1, 0), labels)


def test_export_bad_input(tmp_path, course_root):
    patient = data.list_origin_patients(course_root)[0]
    reference = data.origin_path(patient, "flair", course_root)
    with pytest.raises(ValueError, match=r"\(77, 96, 96\) do not match"):
        numpy2nifti(np.zeros((77, 96, 96), np.uint8), reference, tmp_path / "a.nii.gz")
    bad = np.zeros((155, 240, 240), np.uint8)
    bad[0, 0, 0] = 3
    with pytest.raises(ValueError, match=r"found \[3\]"):
        numpy2nifti(bad, reference, tmp_path / "b.nii.gz")
    numpy2nifti(np.zeros((155, 240, 240), np.uint8), reference, tmp_path / "c.nii.gz")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        numpy2nifti(np.zeros((155, 240, 240), np.uint8), reference, tmp_path / "c.nii.gz")
    before = reference.read_bytes()
    with pytest.raises(ValueError, match="reference image"):
        numpy2nifti(np.zeros((155, 240, 240), np.uint8), reference, reference, overwrite=True)
    assert reference.read_bytes() == before


def test_prediction_figure(course_root):
    patient = data.list_origin_patients(course_root)[0]
    truth, round_trip = predict.resolution_ceiling(patient, course_root)
    mri = data.load_original(patient, "flair", course_root)
    z = int(np.argmax((truth > 0).sum(axis=(1, 2))))
    fig = predict.plot_prediction(mri, truth, round_trip, z)
    assert [ax.get_title() for ax in fig.axes] == [f"MRI (z={z})", f"ground truth (z={z})", f"prediction (z={z})"]
    assert len(fig.legends) == 1
    with pytest.raises(ValueError, match="z_slice"):
        predict.plot_prediction(mri, truth, round_trip, 155)
    with pytest.raises(ValueError, match="not the 96 x 96 slices"):  # a truth read from data/
        predict.plot_prediction(mri, truth[::2, 24:216:2, 24:216:2], round_trip, z)


def test_evaluate_command(tmp_path, course_root, tiny_model, capsys):
    out, report_path = tmp_path / "pred", tmp_path / "metrics.json"
    code = main(["evaluate", "--root", str(course_root), "--model", str(tiny_model),
                 "--out", str(out), "--json", str(report_path)])
    assert code == 0
    patients = data.list_origin_patients(course_root)
    report = json.loads(report_path.read_text())
    assert sorted(report) == ["mean", "patients"] and sorted(report["patients"]) == patients
    for scores in list(report["patients"].values()) + [report["mean"]]:
        assert sorted(scores) == ["ET", "TC", "WT"]
        for region in scores.values():
            assert sorted(region) == ["dice", "hd95", "sensitivity", "specificity"]
            assert 0 <= region["dice"] <= 1
    assert sorted(p.name for p in out.iterdir()) == [f"{p}_pred.nii.gz" for p in patients]
    assert "mean" in capsys.readouterr().out
    assert main(["evaluate", "--root", str(course_root), "--model", str(tiny_model),
                 "--patients", "BraTS19_NOBODY", "--out", str(out)]) == 1
    assert "BraTS19_NOBODY" in capsys.readouterr().err
    assert main(["evaluate", "--root", str(course_root), "--model", str(tmp_path / "none.keras")]) == 1
    assert "no such model" in capsys.readouterr().err


def test_case_folder_evaluation_matches_the_course_path(course_root, synthetic_source, tiny_model):
    """Scoring a BraTS-layout folder directly (benchmarks/bench_sim2real.py) gives what the
    course path (prepared slices, load_image, evaluate) gives for the same patient."""
    from tp3.predict import load_model
    from tp3.tools.evaluation import evaluate, evaluate_case_folder

    patient = data.list_origin_patients(course_root)[0]
    metrics, prediction, truth = evaluate_case_folder(load_model(tiny_model), synthetic_source / patient)
    assert prediction.shape == truth.shape == (155, 240, 240) and prediction.dtype == np.uint8
    report = evaluate(tiny_model, course_root, [patient], out_dir=course_root / "pred_check", force=True,
                      progress=False)
    for region, values in report["patients"][patient].items():
        for name, value in values.items():
            assert metrics[region][name] == pytest.approx(value, abs=1e-6), (region, name)
