"""Preparation: course layout, splits, origin_data, bad input, nothing lost, resume."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest
import SimpleITK as sitk

from tp3.tools import preparation as prep
from tp3.tools.cli import main
from tp3 import layout
from tp3.layout import MODALITIES
from tp3.settings import SEED

VOLUMES = MODALITIES + ("seg",)
GOOD = "BraTS19_SYN_0001"
GOODS = [GOOD, "GOOD_copy2", "GOOD_copy3"]  # a course needs a patient per split


def _snapshot(folder):
    return {p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _copy_case(source, brats, new_id):
    folder = brats / new_id
    folder.mkdir(parents=True)
    for name in VOLUMES:
        shutil.copy(source / GOOD / f"{GOOD}_{name}.nii.gz", folder / f"{new_id}_{name}.nii.gz")
    return folder


def _rewrite(path, change):
    image = sitk.ReadImage(str(path))
    new = change(image)
    sitk.WriteImage(new, str(path))


def _relabel(values):
    def change(image):
        array = sitk.GetArrayFromImage(image).astype(values.dtype)
        array[70:72, 100:110, 100:110] = values
        out = sitk.GetImageFromArray(array)
        out.CopyInformation(image)
        return out
    return change


def _shift_origin(image):
    image.SetOrigin((0.0, -230.0, 0.0))
    return image


def _make_faults(source, brats):
    """One case per fault the preparation must name; returns {case_id: expected words}."""
    faults = {}
    folder = _copy_case(source, brats, "BAD_missing")
    (folder / "BAD_missing_t2.nii.gz").unlink()
    faults["BAD_missing"] = ("BAD_missing_t2.nii.gz", "missing t2")
    folder = _copy_case(source, brats, "BAD_truncated")
    path = folder / "BAD_truncated_flair.nii.gz"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    faults["BAD_truncated"] = ("BAD_truncated_flair.nii.gz", "truncated")
    folder = _copy_case(source, brats, "BAD_geometry")
    _rewrite(folder / "BAD_geometry_t1ce.nii.gz", _shift_origin)
    faults["BAD_geometry"] = ("BAD_geometry_t1ce.nii.gz", "origin")
    folder = _copy_case(source, brats, "BAD_shape")
    sitk.WriteImage(sitk.Image(240, 240, 154, sitk.sitkUInt8), str(folder / "BAD_shape_seg.nii.gz"))
    faults["BAD_shape"] = ("BAD_shape_seg.nii.gz", "shape (240, 240, 154)")
    folder = _copy_case(source, brats, "BAD_label3")
    _rewrite(folder / "BAD_label3_seg.nii.gz", _relabel(np.uint8(3)))
    faults["BAD_label3"] = ("BAD_label3_seg.nii.gz", "found [3]")
    folder = _copy_case(source, brats, "BAD_float")
    _rewrite(folder / "BAD_float_seg.nii.gz", _relabel(np.float32(0.5)))
    faults["BAD_float"] = ("BAD_float_seg.nii.gz", "non-integer")
    (brats / "BAD_empty").mkdir()
    faults["BAD_empty"] = ("BAD_empty", "empty case folder")
    return faults


@pytest.fixture(scope="module")
def bad_source(tmp_path_factory, synthetic_source):
    brats = tmp_path_factory.mktemp("bad") / "brats"
    for name in GOODS:
        _copy_case(synthetic_source, brats, name)
    return brats, _make_faults(synthetic_source, brats)


def test_layout_77_slices_of_96x96_per_modality(course_root, synthetic_source):
    patients = sorted(p.name for p in (course_root / "data").iterdir() if p.is_dir())
    assert patients == sorted(p.name for p in synthetic_source.iterdir() if p.is_dir())
    names = sorted(p.name for p in (course_root / "data" / GOOD).iterdir())
    assert len(names) == 77 * 5
    # names sort by modality, then slice
    assert names[:2] == [f"{GOOD}_flair_000.nii.gz", f"{GOOD}_flair_001.nii.gz"]
    assert names[76] == f"{GOOD}_flair_076.nii.gz" and names[77] == f"{GOOD}_seg_000.nii.gz"
    image = sitk.ReadImage(str(course_root / "data" / GOOD / f"{GOOD}_t1_040.nii.gz"))
    assert image.GetSize() == (96, 96) and image.GetSpacing() == (2.0, 2.0)
    seg = sitk.GetArrayFromImage(sitk.ReadImage(str(course_root / "data" / GOOD / f"{GOOD}_seg_040.nii.gz")))
    assert seg.dtype == np.uint8 and set(np.unique(seg)) <= {0, 1, 2, 4}


def test_splits_are_disjoint_complete_and_deterministic(course_root):
    splits = {n: (course_root / "datasets" / f"{n}.txt").read_text().split() for n in ("train", "validation", "test")}
    everyone = sum(splits.values(), [])
    assert len(everyone) == len(set(everyone)) == 4
    assert all(splits.values())
    grades = {f"P{i:02d}": ("LGG" if i % 4 == 0 else "HGG") for i in range(1, 41)}
    first, again = prep.split_patients(grades, SEED), prep.split_patients(grades, SEED)
    assert first == again and first != prep.split_patients(grades, SEED + 1)
    assert [len(first[n]) for n in ("train", "validation", "test")] == [28, 6, 6]
    for ids in first.values():
        lgg = sum(grades[i] == "LGG" for i in ids) / len(ids)
        assert 0.15 <= lgg <= 0.35  # about the overall 25 %


def test_origin_data_holds_validation_originals(course_root, synthetic_source):
    validation = (course_root / "datasets" / "validation.txt").read_text().split()
    origin = sorted(p.name for p in (course_root / "origin_data").iterdir())
    assert origin == validation[:5]
    for pid in origin:
        for name in VOLUMES:
            copied = course_root / "origin_data" / pid / f"{pid}_{name}.nii.gz"
            assert copied.read_bytes() == (synthetic_source / pid / f"{pid}_{name}.nii.gz").read_bytes()


def test_source_untouched_and_output_refused_without_force(tmp_path, bad_source):
    brats, _ = bad_source
    before = _snapshot(brats)
    root = tmp_path / "root"
    prep.prepare(brats, root, progress=False)
    with pytest.raises(FileExistsError, match="--force"):
        prep.prepare(brats, root, progress=False)
    summary = prep.prepare(brats, root, force=True, progress=False)
    assert summary.prepared == sorted(GOODS)
    assert _snapshot(brats) == before
    assert not list(brats.rglob("*.tmp"))


def test_refuses_output_inside_source(bad_source):
    brats, _ = bad_source
    with pytest.raises(ValueError, match="overlap"):
        prep.prepare(brats, brats, progress=False)


@pytest.mark.parametrize("case_name", ["BAD_missing", "BAD_truncated", "BAD_geometry", "BAD_shape",
                                       "BAD_label3", "BAD_float", "BAD_empty"])
def test_bad_case_error_names_file_and_fault(bad_source, case_name):
    brats, faults = bad_source
    file_part, fault = faults[case_name]
    with pytest.raises(prep.CaseError) as error:
        prep.read_case(prep.SourceCase(case_name, brats / case_name, "unknown"))
    assert file_part in str(error.value) and fault in str(error.value)


def test_bad_cases_are_skipped_and_counted(tmp_path, bad_source):
    brats, faults = bad_source
    summary = prep.prepare(brats, tmp_path / "root", progress=False)
    assert summary.prepared == sorted(GOODS)
    assert sorted(cid for cid, _ in summary.skipped) == sorted(faults)
    text = str(summary)
    assert "prepared 3 case(s)" in text and f"skipped {len(faults)}" in text
    assert "BAD_truncated_flair.nii.gz" in text


def test_strict_stops_with_the_error(tmp_path, bad_source, capsys):
    brats, _ = bad_source
    code = main(["prepare", "--brats", str(brats), "--root", str(tmp_path / "root"), "--strict", "--workers", "1"])
    assert code == 1
    assert "error: " in capsys.readouterr().err


def test_empty_source_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["prepare", "--brats", str(tmp_path / "empty"), "--root", str(tmp_path / "root")]) == 1
    assert "empty" in capsys.readouterr().err
    assert main(["prepare", "--brats", str(tmp_path / "absent"), "--root", str(tmp_path / "root")]) == 1
    assert "no such folder" in capsys.readouterr().err


def test_rerun_after_interruption_finishes_the_job(tmp_path, synthetic_source, monkeypatch):
    real = prep.prepare_case
    calls = []

    def interrupted(case, data_dir):
        calls.append(case.case_id)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(case, data_dir)

    monkeypatch.setattr(prep, "prepare_case", interrupted)
    root = tmp_path / "root"
    with pytest.raises(KeyboardInterrupt):
        prep.prepare(synthetic_source, root, progress=False)
    monkeypatch.setattr(prep, "prepare_case", real)
    summary = prep.prepare(synthetic_source, root, progress=False)  # no --force needed
    assert summary.resumed == [calls[0]]
    assert len(summary.prepared) == 3
    assert prep.read_manifest(root)["status"] == "done"


def test_kit_readmes_are_neither_in_the_way_nor_deleted(tmp_path, bad_source):
    brats, _ = bad_source
    root = tmp_path / "root"
    for name in layout.COURSE_DATA_DIRS:
        (root / name).mkdir(parents=True)
        (root / name / "README.md").write_text("kept")
    prep.prepare(brats, root, progress=False)
    prep.prepare(brats, root, force=True, progress=False)
    assert all((root / n / "README.md").read_text() == "kept" for n in layout.COURSE_DATA_DIRS)


def test_a_subset_keeps_each_grade_in_its_share_and_is_deterministic():
    from types import SimpleNamespace

    cases = [SimpleNamespace(case_id=f"P{i:04d}", grade="LGG" if i % 4 == 0 else "HGG") for i in range(1, 1252)]
    chosen = prep.choose_patients(cases, 300, seed=1)
    assert len(chosen) == 300 and chosen == prep.choose_patients(cases, 300, seed=1)
    assert sum(c.grade == "LGG" for c in chosen) == 75  # 312 of 1,251 are LGG: 74.8 of 300
    assert chosen != prep.choose_patients(cases, 300, seed=2)
    assert [c.case_id for c in chosen] == sorted(c.case_id for c in chosen)  # the release's order
    rare = [SimpleNamespace(case_id=f"Q{i}", grade="LGG" if i == 0 else "HGG") for i in range(100)]
    assert any(c.grade == "LGG" for c in prep.choose_patients(rare, 10, seed=0))
    for n in (2, 1252):
        with pytest.raises(ValueError, match=f"--patients {n}: choose between 3 .* and 1251"):
            prep.choose_patients(cases, n)


def test_prepare_patients_records_the_subset(tmp_path, synthetic_source, capsys):
    root = tmp_path / "course"
    assert main(["prepare", "--brats", str(synthetic_source), "--root", str(root), "--patients", "3",
                 "--workers", "1"]) == 0
    manifest = prep.read_manifest(root)
    assert manifest["subset"] == 3 and manifest["patients"] == 3 and len(manifest["written"]["data"]) == 3
    assert main(["prepare", "--brats", str(synthetic_source), "--root", str(tmp_path / "other"),
                 "--patients", "9"]) == 1
    assert "--patients 9: choose between 3" in capsys.readouterr().err
