"""Self-checks of Part 5, prediction and evaluation (Ex 11-13).

Ex 12 compares the exported labels with the prediction (not only the file's geometry), and the
loop of Ex 13 is judged patient by patient against the kit's own prediction and metrics.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import data
from ..settings import BRATS_LABELS, N_CLASSES
from .common import as_array, attempt, expect, ok, self_check, shape

REGIONS = ("WT", "TC", "ET")


def _ex11(patient, X, prediction, mask, root=None) -> dict:  # noqa: N803 (handout's X)
    return dict(patient=str(patient), X=as_array(X), prediction=as_array(prediction), mask=as_array(mask), root=root)


@self_check("ex11", _ex11)
def check_ex11(patient, X, prediction, mask, root=None) -> None:  # noqa: N803 (handout's X)
    """Ex 11: ``X``, the prediction and the mask along load_image -> predict -> get_mask2original_shape."""
    from ..predict import get_mask2original_shape, load_image

    expect(patient in data.list_origin_patients(root), "Ex 11", f"{patient!r} is not a patient of origin_data/",
           "patient = tp3.data.list_origin_patients(ROOT)[0]")
    expected_x = load_image(patient, root)
    expect(shape(X) == expected_x.shape, "Ex 11", f"X has shape {shape(X)}, expected {expected_x.shape}",
           "load_image returns one patient: 77 slices, 96 x 96, 4 modalities")
    if not np.allclose(X, expected_x, atol=1e-4):
        raw = np.abs(np.asarray(X)).max() > 50
        expect(False, "Ex 11", f"X differs from load_image({patient!r})" + (": it is not normalised" if raw else ""),
               "give the network exactly what load_image returns: z-scores per modality, as in training")
    prediction = np.asarray(prediction)
    expect(prediction.shape == expected_x.shape[:3] + (N_CLASSES,), "Ex 11",
           f"prediction {prediction.shape}, expected {expected_x.shape[:3] + (N_CLASSES,)}",
           "model.predict(X) gives one probability per class (4) for every pixel")
    expect(np.allclose(prediction.sum(axis=-1), 1, atol=1e-2) and prediction.min() >= 0, "Ex 11",
           "the prediction is not a set of probabilities (each pixel's 4 values should sum to 1)",
           "use model.predict(X) as it comes, before any argmax")
    expect(shape(mask) == (155, 240, 240), "Ex 11", f"mask {shape(mask)}, expected (155, 240, 240)",
           "get_mask2original_shape resizes, takes the argmax and pads back")
    found = sorted(np.unique(mask).tolist())
    expect(set(found) <= set(BRATS_LABELS), "Ex 11", f"mask labels {found}", "class 3 of the network is label 4 in BraTS")
    expect(np.array_equal(mask, get_mask2original_shape(prediction)), "Ex 11",
           "the mask is not get_mask2original_shape(prediction)", "apply get_mask2original_shape to the prediction")
    ok("Ex 11", "X (77, 96, 96, 4) -> prediction (77, 96, 96, 4) -> mask (155, 240, 240)")


def _ex12_truth(orig_mask, patient, root=None) -> dict:
    return dict(orig_mask=as_array(orig_mask), patient=str(patient), root=root)


@self_check("ex12_truth", _ex12_truth)
def check_ex12_truth(orig_mask, patient, root=None) -> None:
    """Ex 12: the ground truth of ``patient``, read from ``origin_data/`` (before plotting it)."""
    expect(shape(orig_mask) == (155, 240, 240), "Ex 12",
           f"the ground truth has shape {shape(orig_mask)}, expected (155, 240, 240)",
           "read the original labels, origin_data/<ID>/<ID>_seg.nii.gz, not the 96 x 96 slices of data/")
    expect(np.array_equal(orig_mask, data.load_original(patient, "seg", root)), "Ex 12",
           f"the ground truth is not {patient}'s origin_data seg volume",
           "read tp3.data.origin_path(patient, 'seg', ROOT) with SimpleITK")
    ok("Ex 12", f"ground truth of {patient}, (155, 240, 240), labels {sorted(np.unique(orig_mask).tolist())}")


def _ex12(exported_path, reference_path, predict_mask, patient, root=None) -> dict:
    return dict(exported_path=Path(exported_path), reference_path=Path(reference_path),
                predict_mask=as_array(predict_mask), patient=str(patient), root=root)


@self_check("ex12", _ex12)
def check_ex12(exported_path, reference_path, predict_mask, patient, root=None) -> None:
    """Ex 12: the exported NIfTI holds the prediction and overlays the MRI (same size, spacing,
    origin, direction)."""
    expect(exported_path.is_file(), "Ex 12", f"no file {exported_path.name}", "numpy2nifti(...) writes it and returns its path")
    exported, reference = data.describe_image(exported_path), data.describe_image(reference_path)
    for key in ("size", "spacing", "origin", "direction"):
        expect(exported[key] == reference[key], "Ex 12", f"{key} {exported[key]} differs from the MRI's {reference[key]}",
               "numpy2nifti copies spacing, origin and direction from the reference image")
    import SimpleITK as sitk

    labels = sitk.GetArrayFromImage(data.read_image(exported_path))
    truth = data.load_original(patient, "seg", root)
    expect(not np.array_equal(labels, truth) or np.array_equal(predict_mask, truth), "Ex 12",
           "the file holds the ground truth, not the prediction", "export predict_mask, the network's labels")
    expect(shape(predict_mask) == labels.shape and np.array_equal(labels, predict_mask), "Ex 12",
           "the file's labels are not predict_mask", "numpy2nifti(predict_mask, reference, path)")
    ok("Ex 12", f"{exported_path.name} holds the prediction, with the MRI's geometry: open both in 3D Slicer")


def _ex13(results, prediction, ground_truth, patient=None, root=None) -> dict:
    return dict(results=results, prediction=as_array(prediction), ground_truth=as_array(ground_truth),
                patient=None if patient is None else str(patient), root=root)


def _close(a, b) -> bool:
    try:
        return all(np.isclose(float(a[r][m]), b[r][m]) for r in b for m in b[r])
    except (KeyError, TypeError, ValueError):
        return False


def _ex13_hint(results, prediction, ground_truth) -> str:
    """What most likely made ``results`` differ (computed only for a wrong answer)."""
    from ..metrics import evalAllSample
    from ..preprocessing import labels_to_classes

    if _close(results, evalAllSample(prediction, labels_to_classes(ground_truth))) or \
            _close(results, evalAllSample(labels_to_classes(prediction), ground_truth)):
        return ("one of your volumes holds the network's class 3 where BraTS has label 4: evaluate the "
                "predict_mask of Ex 11 (labels 0, 1, 2, 4) against orig_mask as read from origin_data/")
    return ("compute results from the predict_mask and orig_mask passed to this check, unchanged, both "
            "(155, 240, 240) in the original space: results = evalAllSample(predict_mask, orig_mask)")


@self_check("ex13", _ex13)
def check_ex13(results, prediction, ground_truth, patient=None, root=None) -> None:
    """Ex 13: the metrics of one patient, as evalAllSample computes them."""
    from ..metrics import evalAllSample

    for name, volume in (("prediction", prediction), ("ground truth", ground_truth)):
        expect(shape(volume) == (155, 240, 240), "Ex 13", f"the {name} has shape {shape(volume)}",
               "both volumes are in the original space (155, 240, 240)")
        extra = sorted(set(np.unique(volume).tolist()) - set(BRATS_LABELS))
        expect(not extra, "Ex 13", f"the {name} holds labels {extra}",
               "BraTS labels are 0, 1, 2 and 4: the network's class 3 is label 4")
    if patient is not None:
        expect(np.array_equal(ground_truth, data.load_original(patient, "seg", root)), "Ex 13",
               f"the ground truth is not {patient}'s", "use the orig_mask of Ex 12")
    expect(isinstance(results, dict) and set(results) == set(REGIONS), "Ex 13",
           f"results should map WT, TC and ET to their metrics, got {type(results).__name__}",
           "results = evalAllSample(predict_mask, orig_mask)")
    expected = evalAllSample(prediction, ground_truth)
    # The swapped order is scored only for a wrong answer: a right one pays one evaluation.
    expect(_close(results, expected) or not _close(results, evalAllSample(ground_truth, prediction)), "Ex 13",
           "your results are evalAllSample(ground truth, prediction): the arguments are swapped",
           "evalAllSample(prediction, ground_truth): the prediction first")
    for region, values in expected.items():
        for metric, value in values.items():
            got = results[region].get(metric) if isinstance(results[region], dict) else None
            expect(isinstance(got, (int, float)) and np.isclose(got, value), "Ex 13",
                   f"{region} {metric} = {got}, expected {value:.4f}", _ex13_hint(results, prediction, ground_truth))
    ok("Ex 13", "Dice " + ", ".join(f"{r} {v['dice']:.3f}" for r, v in expected.items()))


def _ex13_loop(all_results, model, root=None) -> dict:
    return dict(all_results=all_results, model=model, root=root)


def kit_results(model, patient: str, root=None) -> dict:
    """evalAllSample of ``model``'s prediction for ``patient`` against its ground truth, as the kit computes it."""
    from ..metrics import evalAllSample
    from ..predict import get_mask2original_shape, load_image

    mask = get_mask2original_shape(model.predict(load_image(patient, root), verbose=0))
    return evalAllSample(mask, data.load_original(patient, "seg", root))


@self_check("ex13_loop", _ex13_loop)
def check_ex13_loop(all_results, model, root=None) -> None:
    """Ex 13: the metrics of every patient of ``origin_data/`` (``{patient: evalAllSample(...)}``),
    each recomputed with ``model``, and their mean Dice per region."""
    patients = data.list_origin_patients(root)
    expect(isinstance(all_results, dict) and sorted(map(str, all_results)) == patients, "Ex 13",
           f"all_results should hold one entry per patient of origin_data/ ({len(patients)}), got "
           + (f"{sorted(all_results)[:3]}" if isinstance(all_results, dict) else type(all_results).__name__),
           "all_results[p] = evalAllSample(mask, truth_p) for every p of the loop")
    given = [all_results[p] for p in patients]
    expect(not (len(given) > 1 and all(_close(g, given[0]) for g in given[1:]) if isinstance(given[0], dict) else False),
           "Ex 13", "every patient got the same metrics", "inside the loop, predict and read the truth of p, not of patient")
    expected = {p: attempt("Ex 13", f"predicting {p} with your model", lambda p=p: kit_results(model, p, root),
                           "model = load_model(tp3.course.pretrained_model(ROOT)), as above") for p in patients}
    for p in patients:
        got, want = all_results[p], expected[p]
        if not _close(got, want):
            dice = got.get("WT", {}).get("dice") if isinstance(got, dict) and isinstance(got.get("WT"), dict) else None
            expect(False, "Ex 13", f"{p}: WT Dice {dice}, the kit computes {want['WT']['dice']:.4f}",
                   "for each p: mask = get_mask2original_shape(model.predict(load_image(p, ROOT))), its truth from "
                   "origin_data/, then evalAllSample(mask, truth_p) — the prediction first")
    means = {r: np.mean([expected[p][r]["dice"] for p in patients]) for r in REGIONS}
    ok("Ex 13", f"{len(patients)} patients, mean Dice " + ", ".join(f"{r} {v:.3f}" for r, v in means.items()))
