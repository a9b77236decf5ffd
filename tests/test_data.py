"""Loaders and helpers of Ex 1-4, root resolution and the default sample."""

from __future__ import annotations

import json
import shutil

import matplotlib
import numpy as np
import pytest

from tp3 import data, layout, runtime, settings
from tp3.tools import sample

matplotlib.use("Agg")
PATIENT = "BraTS19_SYN_0001"


def test_splits_and_listing(course_root):
    splits = data.load_splits(course_root)
    assert set(splits) == {"train", "validation", "test"}
    assert sorted(sum(splits.values(), [])) == data.list_patients(course_root)
    images = data.list_images(PATIENT, course_root)
    assert len(images) == 385 and images == sorted(images)
    assert data.count_slices(PATIENT, course_root) == 77


def test_missing_split_and_patient_say_what_to_do(tmp_path, course_root):
    with pytest.raises(FileNotFoundError, match="python -m tp3 sample"):
        data.read_split("train", tmp_path)
    with pytest.raises(ValueError, match="unknown split"):
        data.read_split("training", course_root)
    with pytest.raises(FileNotFoundError, match="BraTS19_NOPE"):
        data.load_image("BraTS19_NOPE", course_root)


def test_describe_image_header(course_root):
    info = data.describe_image(course_root / "data" / PATIENT / f"{PATIENT}_flair_040.nii.gz")
    assert info["size"] == (96, 96) and info["array_shape"] == (96, 96)
    assert info["spacing"] == (2.0, 2.0) and info["pixel_type"] == "32-bit float"
    original = data.describe_image(data.origin_path(PATIENT, "flair", course_root))
    assert original["size"] == (240, 240, 155) and original["array_shape"] == (155, 240, 240)
    assert original["origin"] == (0.0, -239.0, 0.0) and original["spacing"] == (1.0, 1.0, 1.0)


def test_load_image_and_labels_contract(course_root):
    images, labels = data.load_image(PATIENT, course_root), data.read_slices(PATIENT, "seg", course_root)
    assert images.shape == (77, 96, 96, 4) and images.dtype == np.float32
    assert labels.shape == (77, 96, 96) and labels.dtype == np.uint8
    assert set(np.unique(labels)) <= {0, 1, 2, 4} and (labels > 0).any()
    # channel order is layout.MODALITIES: T1ce (index 1) enhances, T1 (index 0) does not
    et = labels == 4
    assert images[..., 1][et].mean() > images[..., 0][et].mean() + 0.25  # z-scores


def test_original_vs_processed_figure(course_root):
    fig = data.plot_original_vs_processed(PATIENT, z=40, root=course_root)
    titles = [ax.get_title() for ax in fig.axes]
    assert "(240, 240)" in titles[0] and "(96, 96)" in titles[1]


def test_summary_mentions_the_layout(course_root):
    text = data.summarise_course(course_root)
    assert "385 files each" in text and "(77, 96, 96, 4)" in text


def test_root_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("TP3_ROOT", str(tmp_path))
    assert layout.course_root() == tmp_path.resolve()
    monkeypatch.delenv("TP3_ROOT")
    monkeypatch.setenv("COLAB_RELEASE_TAG", "test")
    assert layout.course_root() == layout.COLAB_ROOT
    monkeypatch.delenv("COLAB_RELEASE_TAG")
    assert layout.course_root() == layout.REPO_ROOT


def test_sample_size_setting(monkeypatch):
    monkeypatch.delenv("TP3_SAMPLE_PATIENTS", raising=False)
    monkeypatch.setenv("TP3_SMOKE", "0")
    assert runtime.sample_patients() == settings.FULL_SAMPLE_PATIENTS
    monkeypatch.setenv("TP3_SMOKE", "1")
    assert runtime.sample_patients() == settings.SMOKE_SAMPLE_PATIENTS


def test_ensure_sample_builds_once(tmp_path, monkeypatch):
    root = sample.ensure_sample(tmp_path, n_patients=3, workers=2, progress=False)
    assert len(data.list_patients(root)) == 3
    assert not (root / layout.SAMPLE_CACHE).exists()
    # idempotent: a second call does not rebuild
    def fail(*args, **kwargs):
        raise AssertionError("rebuilt")
    monkeypatch.setattr(sample.synth, "generate", fail)
    assert sample.ensure_sample(root, n_patients=3, progress=False) == root
    record = sample.preparation.read_record(root, layout.SAMPLE_RECORD)
    assert [p.name for p in (root / "data").iterdir() if not p.is_dir()] == []  # Ex 2 lists it: folders only
    assert record == {"generator": sample.synth.GENERATOR_VERSION, "patients": 3, "seed": settings.SEED}


def test_a_sample_of_another_size_is_kept_with_a_notice(tmp_path, capsys):
    """After `make test` (10 smoke cases), a full-mode run must not use them silently."""
    root = sample.ensure_sample(tmp_path, n_patients=3, workers=2, progress=False)
    capsys.readouterr()
    sample.ensure_sample(root, n_patients=40, progress=False)
    notice = capsys.readouterr().out
    assert "keeping the 3 synthetic cases" in notice and "40 were asked" in notice and "make clean-data" in notice
    sample.ensure_sample(root, n_patients=3, progress=False)
    assert capsys.readouterr().out == ""


def test_a_record_is_believed_only_as_far_as_what_it_claims_is_there(tmp_path, capsys):
    """Course folders deleted (Colab's file browser), the records left: our sample is built
    again; an instructor's data is not rebuilt behind their back, the error says what is gone."""
    root = sample.ensure_sample(tmp_path / "ours", n_patients=3, workers=2, progress=False)
    patient = data.list_origin_patients(root)[0]
    shutil.rmtree(root / layout.ORIGIN_DATA / patient)
    (root / layout.DATASETS / "test.txt").unlink()
    capsys.readouterr()
    sample.ensure_sample(root, n_patients=3, workers=2, progress=False)
    assert "building the sample again" in capsys.readouterr().out
    assert data.list_origin_patients(root) == [patient] and data.read_split("test", root)
    manifest = json.loads(layout.record_path(root, layout.PREPARE_MANIFEST).read_text())
    manifest["source"] = "/somewhere/MICCAI_BraTS_2019_Data_Training"
    layout.record_path(root, layout.PREPARE_MANIFEST).write_text(json.dumps(manifest))
    shutil.rmtree(root / layout.ORIGIN_DATA / patient)
    with pytest.raises(FileNotFoundError, match=f"origin_data/{patient}.*python -m tp3 prepare"):
        sample.ensure_sample(root, progress=False)


def test_a_sample_from_an_older_generator_is_kept_with_a_notice(course_root, tmp_path, capsys):
    """Runs and logs depend on the data: an older synthetic sample is not replaced silently,
    nor used silently."""
    root = tmp_path / "old"
    for folder in layout.COURSE_DATA_DIRS:
        shutil.copytree(course_root / folder, root / folder)
    manifest = json.loads(layout.record_path(course_root, layout.PREPARE_MANIFEST).read_text())
    manifest["source"] = str(root / layout.SAMPLE_CACHE)  # as the default sample records it
    # where a kit before December 2026 kept it, with no sample record: read, not rewritten
    layout.legacy_record_path(root, layout.PREPARE_MANIFEST).write_text(json.dumps(manifest))
    assert sample.ensure_sample(root, progress=False) == root
    notice = capsys.readouterr().out
    assert "synthetic generator v1" in notice and "make clean-data" in notice
    assert len(data.list_patients(root)) == len(data.list_patients(course_root))  # kept
    # data an instructor prepared from elsewhere (real BraTS) gets no notice
    # moved out of data/, which Ex 2 lists, into the course root
    assert not layout.legacy_record_path(root, layout.PREPARE_MANIFEST).exists()
    assert [p.name for p in (root / "data").iterdir() if not p.is_dir()] == []
    manifest["source"] = "/somewhere/MICCAI_BraTS_2019_Data_Training"
    layout.record_path(root, layout.PREPARE_MANIFEST).write_text(json.dumps(manifest))
    sample.ensure_sample(root, progress=False)
    assert capsys.readouterr().out == ""

