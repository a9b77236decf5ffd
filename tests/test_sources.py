"""Other BraTS releases and the Decathlon layout: the same case gives the same course data."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import SimpleITK as sitk

from tp3.tools import preparation as prep
from tp3.tools.sources import LAYOUT_2023, LAYOUT_MSD, find_cases, locate

CASE = "BraTS19_SYN_0001"
NAMES = ("t1", "t1ce", "t2", "flair", "seg")


def _volumes(synthetic_source):
    return {n: sitk.ReadImage(str(synthetic_source / CASE / f"{CASE}_{n}.nii.gz")) for n in NAMES}


def _relabelled(image, mapping):
    array = sitk.GetArrayFromImage(image)
    out = np.zeros_like(array)
    for course, source in mapping.items():
        out[array == course] = source
    new = sitk.GetImageFromArray(out)
    new.CopyInformation(image)
    return new


def _write_folder(folder, files):
    folder.mkdir(parents=True)
    for name, image in files.items():
        sitk.WriteImage(image, str(folder / name))


def _brats2020_case355(vols, source):
    files = {f"BraTS20_Training_355_{n}.nii": vols[n] for n in NAMES[:4]}
    files["W39_1998.09.19_Segm.nii"] = vols["seg"]
    _write_folder(source / "BraTS20_Training_355", files)


def _upper_case_and_t1gd(vols, source):
    words = {"t1": "T1", "t1ce": "t1Gd", "t2": "T2", "flair": "FLAIR", "seg": "Seg"}
    _write_folder(source / "Patient_A", {f"Patient_A_{words[n]}.nii.gz": vols[n] for n in NAMES})


def _t1c(vols, source):
    words = {"t1": "t1", "t1ce": "t1c", "t2": "t2", "flair": "flair", "seg": "seg"}
    _write_folder(source / "P7" / "", {f"P7_{words[n]}.nii.gz": vols[n] for n in NAMES})


def _brats2023(vols, source):
    words = {"t1": "t1n", "t1ce": "t1c", "t2": "t2w", "flair": "t2f", "seg": "seg"}
    files = {f"BraTS-GLI-00000-000-{words[n]}.nii.gz": vols[n] for n in NAMES[:4]}
    files["BraTS-GLI-00000-000-seg.nii.gz"] = _relabelled(vols["seg"], {1: 1, 2: 2, 4: 3})
    _write_folder(source / "BraTS-GLI-00000-000", files)


def _decathlon(vols, source):
    images = sitk.JoinSeries([vols[n] for n in ("flair", "t1", "t1ce", "t2")])
    _write_folder(source / "imagesTr", {"BRATS_001.nii.gz": images})
    _write_folder(source / "labelsTr", {"BRATS_001.nii.gz": _relabelled(vols["seg"], {2: 1, 1: 2, 4: 3})})
    (source / "imagesTr" / "._BRATS_001.nii.gz").write_bytes(b"\0" * 4096)  # macOS metadata in the tar
    (source / "dataset.json").write_text(json.dumps(
        {"modality": {"0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w"}}))


LAYOUTS = {"BraTS 2020, case 355": _brats2020_case355, "upper case, t1Gd": _upper_case_and_t1gd,
           "t1c": _t1c, "BraTS 2023/2024": _brats2023, "MSD Task01": _decathlon}


def _course_files(folder, case_id):
    """{(volume, slice): sha256} of a prepared case, whatever its ID."""
    return {path.name[len(case_id) + 1:]: hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def reference(tmp_path_factory, synthetic_source):
    data = tmp_path_factory.mktemp("ref")
    case = [c for c in find_cases(synthetic_source) if c.case_id == CASE][0]
    return _course_files(prep.prepare_case(case, data), CASE), prep.read_case(case)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_same_case_same_course_data_from_every_layout(tmp_path, synthetic_source, reference, layout):
    source = tmp_path / "source"
    LAYOUTS[layout](_volumes(synthetic_source), source)
    (case,) = find_cases(source)
    folder = prep.prepare_case(case, tmp_path / "data")
    assert _course_files(folder, case.case_id) == reference[0]  # byte-identical slices
    images, labels, ref_image = prep.read_case(case)
    assert np.array_equal(labels, reference[1][1])
    prep._copy_original(case, tmp_path / "origin_data")  # originals in the kit's names, 3D, mapped labels
    original = sitk.ReadImage(str(tmp_path / "origin_data" / case.case_id / f"{case.case_id}_seg.nii.gz"))
    assert np.array_equal(sitk.GetArrayFromImage(original), reference[1][1])
    assert original.GetSpacing() == reference[1][2].GetSpacing()
    assert original.GetDirection() == reference[1][2].GetDirection()


def test_layout_is_recognised_and_labels_mapped(tmp_path, synthetic_source):
    vols = _volumes(synthetic_source)
    _brats2023(vols, tmp_path / "gli")
    _decathlon(vols, tmp_path / "msd")
    (gli,), (msd,) = find_cases(tmp_path / "gli"), find_cases(tmp_path / "msd")
    assert (gli.layout, locate(gli)[1]) == (LAYOUT_2023, {0: 0, 1: 1, 2: 2, 3: 4})
    assert (msd.layout, msd.case_id, locate(msd)[1]) == (LAYOUT_MSD, "BRATS_001", {0: 0, 1: 2, 2: 1, 3: 4})
    assert locate(gli)[0]["flair"].path.name.endswith("-t2f.nii.gz")


def test_decathlon_case_without_labels_is_named(tmp_path, synthetic_source):
    _decathlon(_volumes(synthetic_source), tmp_path / "msd")
    (tmp_path / "msd" / "labelsTr" / "BRATS_001.nii.gz").unlink()
    (case,) = find_cases(tmp_path / "msd")
    with pytest.raises(prep.CaseError, match=r"labelsTr/BRATS_001.nii.gz: missing labels"):
        prep.read_case(case)


def test_two_files_for_one_volume_are_refused(tmp_path, synthetic_source):
    vols = _volumes(synthetic_source)
    _t1c(vols, tmp_path / "src")
    sitk.WriteImage(vols["t1ce"], str(tmp_path / "src" / "P7" / "P7_t1ce.nii.gz"))
    (case,) = find_cases(tmp_path / "src")
    with pytest.raises(prep.CaseError, match="a second t1ce volume"):
        prep.read_case(case)


def test_a_volume_stored_twice_skips_that_case_only(tmp_path, synthetic_source):
    vols = _volumes(synthetic_source)
    _t1c(vols, tmp_path / "src")
    sitk.WriteImage(vols["t1"], str(tmp_path / "src" / "P7" / "P7_t1.nii"))  # beside P7_t1.nii.gz
    (case,) = find_cases(tmp_path / "src")  # listing the cases does not stop on it
    with pytest.raises(prep.CaseError, match="P7_t1.nii.gz: a second t1 volume besides P7_t1.nii;"):
        prep.read_case(case)


def test_grades_from_brats2020_name_mapping(tmp_path):
    (tmp_path / "name_mapping.csv").write_text(
        "Grade,BraTS_2017_subject_ID,BraTS_2018_subject_ID,TCGA_TCIA_subject_ID,BraTS_2019_subject_ID,"
        "BraTS_2020_subject_ID\nLGG,NA,NA,TCGA-x,BraTS19_TMC_1,BraTS20_Training_355\n")
    from tp3.tools.sources import read_grades
    assert read_grades(tmp_path)["BraTS20_Training_355"] == "LGG"
