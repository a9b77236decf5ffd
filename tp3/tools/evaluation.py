"""``python -m tp3 evaluate``: predict, export and score patients in the original space.

The notebook's Ex 11-13 loop for a whole folder, from the command line (and ``make demo``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..data import list_origin_patients, load_original, original_spacing, origin_path
from ..files import check_nifti_complete, write_text_atomic
from ..metrics import evalAllSample, summarise
from ..predict import load_model, numpy2nifti, predict_patient, predict_volume
from ..preprocessing import course_images, normalise
from .. import layout
from ..layout import VOLUMES


def evaluate_case_folder(model, folder) -> tuple[dict, np.ndarray, np.ndarray]:
    """Score ``model`` on one case in the BraTS 2019 layout (``<ID>/<ID>_{t1,...,seg}.nii.gz``),
    read straight from its folder (not from the course root): the course preprocessing,
    :func:`tp3.predict.get_mask2original_shape`, then ``evalAllSample``.

    Returns ``(metrics {region: {metric: value}}, prediction, ground truth)``, both labels
    ``(155, 240, 240)`` uint8 in {0,1,2,4}.
    Used to score cases that are not part of the course data (``benchmarks/bench_sim2real.py``).
    """
    from .preparation import read_case_folder

    images, truth, reference = read_case_folder(folder)
    prediction = predict_volume(model, normalise(course_images(images)))
    spacing = tuple(reversed(reference.GetSpacing()))
    return evalAllSample(prediction, truth, spacing), prediction, truth


def evaluate(model_path, root, patients=None, out_dir=None, json_path=None, force: bool = False,
             progress: bool = True) -> dict:
    """Predict each patient of ``origin_data/`` (or ``patients``), write its prediction as
    NIfTI into ``out_dir`` (default ``ROOT/predictions``), score it with ``evalAllSample``.

    Returns ``{"patients": {ID: {region: {metric: value}}}, "mean": {region: {metric: value}}}``,
    also written to ``json_path`` when given.
    """
    from tqdm.auto import tqdm

    root = Path(root)
    patients = list(patients) if patients else list_origin_patients(root, complete=False)
    if not patients:
        raise FileNotFoundError(f"{root / layout.ORIGIN_DATA} holds no patient to evaluate")
    for patient in patients:  # every file there and whole before the first prediction
        for name in VOLUMES:
            check_nifti_complete(origin_path(patient, name, root))
    out_dir = Path(out_dir) if out_dir else root / layout.PREDICTIONS
    existing = [out_dir / f"{p}_pred.nii.gz" for p in patients if (out_dir / f"{p}_pred.nii.gz").exists()]
    if existing and not force:
        more = f" (and {len(existing) - 1} other prediction(s))" if len(existing) > 1 else ""
        raise FileExistsError(f"{existing[0]} exists{more}; pass --force to replace earlier predictions, "
                              "or --out another folder")
    model = load_model(model_path)
    results = {}
    for patient in tqdm(patients, desc="evaluate", unit="patient", disable=not progress):
        prediction = predict_patient(model, patient, root)
        truth = load_original(patient, "seg", root).astype(np.uint8)
        spacing = original_spacing(patient, root)
        numpy2nifti(prediction, origin_path(patient, "flair", root), out_dir / f"{patient}_pred.nii.gz",
                    overwrite=force)
        results[patient] = evalAllSample(prediction, truth, spacing)
    report = {"patients": results, "mean": summarise(results)["mean"]}
    if json_path:
        write_text_atomic(json_path, json.dumps(report, indent=2) + "\n")
    return report
