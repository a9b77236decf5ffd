"""The slice cache (tp3.cache) and the batches streamed from it (training.stream_dataset)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import threading
import time

import numpy as np
import pytest

from tp3 import cache, layout, training


@pytest.fixture
def own_root(tmp_path, course_root):
    """A copy of the course root that a test may damage."""
    root = tmp_path / "course"
    shutil.copytree(course_root, root, ignore=shutil.ignore_patterns(".tp3_cache"))
    return root


def test_cache_holds_what_load_split_gives(course_root, capsys):
    images, classes = training.load_split("train", course_root, progress=False)
    cached = cache.split_cache("train", course_root, progress=False)
    assert cached.count == len(images) == 77 * len(cached.patients)
    assert cached.images().dtype == np.float16 and cached.images().shape == images.shape
    np.testing.assert_allclose(cached.images(), images, rtol=1e-3, atol=1e-3)  # float16 rounding
    np.testing.assert_array_equal(cached.classes(), classes)
    picked = [5, 80, 3]
    x, y = cached.read(picked)
    assert x.dtype == np.float32 and y.dtype == np.uint8
    np.testing.assert_array_equal(x, images[picked].astype(np.float16).astype(np.float32))
    np.testing.assert_array_equal(y, classes[picked])
    capsys.readouterr()
    built = cached.images_path.stat().st_mtime_ns
    again = cache.split_cache("train", course_root, progress=False)
    assert again == cached and again.images_path.stat().st_mtime_ns == built  # reused, silently
    assert capsys.readouterr().out == ""


def test_stream_dataset_gives_make_dataset_batches(course_root):
    images, classes = training.load_split("train", course_root, progress=False)
    cached = cache.split_cache("train", course_root, progress=False)
    rounded = images.astype(np.float16).astype(np.float32)
    for augment, skip_empty in ((False, False), (True, False), (False, True)):
        memory = training.make_dataset(rounded, classes, 16, shuffle=True, augment=augment, seed=3,
                                       skip_empty=skip_empty)
        streamed = training.stream_dataset(cached, 16, shuffle=True, augment=augment, seed=3, skip_empty=skip_empty)
        for _epoch in range(2):  # reshuffled alike every epoch
            for (xa, ya), (xb, yb) in zip(memory.take(3), streamed.take(3)):
                np.testing.assert_allclose(xa.numpy(), xb.numpy(), atol=1e-5)
                np.testing.assert_array_equal(ya.numpy(), yb.numpy())


def test_changed_slices_rebuild_the_cache(own_root, capsys):
    first = cache.split_cache("validation", own_root, progress=False)
    patient = first.patients[0]
    path = sorted((own_root / layout.DATA / patient).glob(f"{patient}_flair_*.nii.gz"))[40]
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    capsys.readouterr()
    cache.split_cache("validation", own_root, progress=False)
    out = capsys.readouterr().out
    assert "Rebuilding the validation cache" in out and "slice files changed" in out


def test_stale_cache_says_why_it_is_rebuilt(own_root, capsys, monkeypatch):
    from tp3 import data, preprocessing

    cache.split_cache("validation", own_root, progress=False)
    capsys.readouterr()
    monkeypatch.setattr(data.load_image, "__doc__", "edited")  # a docstring is no preprocessing
    cache.split_cache("validation", own_root, progress=False)
    assert capsys.readouterr().out == ""
    monkeypatch.setattr(preprocessing, "VERSION", preprocessing.VERSION + 1)
    cache.split_cache("validation", own_root, progress=False)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "the kit's preprocessing changed" in out


#: load_image (and the classes) of the fixed patient below, summed up, by preprocessing VERSION.
GOLDEN_LOAD_IMAGE = {1: [347193, 347193, 347193, 347193, 0, 0, 0, 0, 0.489257864, 0.48925779, 0.489257889, 0.48925782,
                         -2.459e-06, 0.000192757, -9.7861e-05, 4.3929e-05, 674836, 0, 34796, 0]}


def _fixed_patient(root):
    """A patient of 77 slices whose values come from a seeded generator (not the synthetic
    generator, which has versions of its own): a bright 'brain' disc on a zero background."""
    import SimpleITK as sitk

    rng = np.random.default_rng(7)
    patient = "FIXED_0001"
    folder = root / layout.DATA / patient
    folder.mkdir(parents=True)
    y, x = np.mgrid[:96, :96]
    brain = (y - 48) ** 2 + (x - 50) ** 2 < 38 ** 2
    for index, volume in enumerate(layout.VOLUMES):
        for z in range(77):
            values = (rng.gamma(4.0, 50.0 * (index + 1), (96, 96)) * brain).astype(np.float32)
            if volume == layout.LABEL_SUFFIX:
                values = np.where(brain & (rng.random((96, 96)) < 0.1), 2, 0).astype(np.uint8)
            sitk.WriteImage(sitk.GetImageFromArray(values), str(folder / layout.slice_name(patient, volume, z)))
    return patient


def _load_image_summary(root, patient) -> list:
    """What load_image returns for ``patient``, in 20 numbers that any change of its brain mask,
    normalisation or class mapping moves (robust to the last bits of float arithmetic, which a
    hash of the array is not across CPUs and numpy versions)."""
    from tp3 import data, preprocessing

    images = data.load_image(patient, root).astype(np.float64)
    classes = preprocessing.labels_to_classes(data.read_slices(patient, layout.LABEL_SUFFIX, root))
    ramp = np.linspace(-1, 1, images.shape[1])[None, :, None, None] * np.linspace(0, 1, images.shape[2])[None, None, :, None]
    axes = (0, 1, 2)
    return [*np.count_nonzero(images, axis=axes), *images.mean(axis=axes), *(images ** 2).mean(axis=axes),
            *(images * ramp).mean(axis=axes), *np.bincount(classes.ravel(), minlength=4)]


def test_load_image_is_the_preprocessing_its_version_names(tmp_path, monkeypatch):
    """Change what load_image returns (the brain mask, the normalisation) and this fails until
    tp3.preprocessing.VERSION is bumped and its digest added above: caches are keyed by it."""
    from tp3 import preprocessing

    patient = _fixed_patient(tmp_path)
    summary = _load_image_summary(tmp_path, patient)
    golden = GOLDEN_LOAD_IMAGE.get(preprocessing.VERSION)
    assert golden is not None and np.allclose(summary, golden, rtol=1e-6, atol=1e-6), (
        f"load_image changed: bump tp3.preprocessing.VERSION and add {preprocessing.VERSION + 1}: "
        f"{[round(float(v), 9) for v in summary]}")
    # the test sees a change of the brain mask
    monkeypatch.setattr(preprocessing, "brain_mask", lambda images: np.ones(images.shape[:-1], bool))
    assert not np.allclose(_load_image_summary(tmp_path, patient), golden, rtol=1e-6, atol=1e-6)


def test_truncated_or_foreign_array_is_never_used(own_root, capsys):
    cached = cache.split_cache("validation", own_root, progress=False)
    expected = cached.images().copy()
    with open(cached.images_path, "r+b") as handle:
        handle.truncate(cached.images_path.stat().st_size - 1000)
    capsys.readouterr()
    rebuilt = cache.split_cache("validation", own_root, progress=False)
    out = capsys.readouterr().out
    assert "truncated" in out and str(cached.images_path) in out
    np.testing.assert_array_equal(rebuilt.images(), expected)

    # Same size, same header, other numbers: the digest tells them apart.
    np.save(cached.images_path, np.zeros_like(expected))
    rebuilt = cache.split_cache("validation", own_root, progress=False)
    assert "not the array its manifest describes" in capsys.readouterr().out
    np.testing.assert_array_equal(rebuilt.images(), expected)

    (cache.cache_folder(own_root) / "validation.json").write_text("{not json")
    cache.split_cache("validation", own_root, progress=False)
    assert "Rebuilding" in capsys.readouterr().out


def test_full_disk_leaves_no_cache_a_later_run_would_trust(own_root, monkeypatch):
    patients = training.read_split("train", own_root)
    real = cache.load_patient

    def fail_on_last(patient, root, split=None):  # the arrays' headers and the first patients are written by then
        if patient == patients[-1]:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(patient, root, split)

    monkeypatch.setattr(cache, "load_patient", fail_on_last)
    monkeypatch.setattr(cache, "default_workers", lambda: 1)  # in this process, where the patch is
    with pytest.raises(OSError) as caught:
        cache.split_cache("train", own_root, progress=False)
    assert caught.value.errno == errno.ENOSPC and str(cache.cache_folder(own_root)) in str(caught.value)
    left = [p.name for p in cache.cache_folder(own_root).iterdir() if not p.name.startswith(".tp3.lock")]
    assert left == []
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**12, 10**12 - 10, 10))
    with pytest.raises(OSError, match="GB are free"):
        cache.split_cache("validation", own_root, progress=False)


def test_manifest_records_what_the_cache_was_built_from(own_root):
    cached = cache.split_cache("validation", own_root, progress=False)
    manifest = json.loads((cache.cache_folder(own_root) / "validation.json").read_text())
    assert manifest["patients"] == list(cached.patients) and manifest["count"] == cached.count
    assert manifest["preprocessing"] == cache.preprocessing_version()


def test_load_split_refuses_a_split_too_big_for_memory():
    training._check_fits_in_memory("train", 28, available=12_700_000_000)  # the 40-case sample
    with pytest.raises(MemoryError, match="stream_dataset") as caught:
        training._check_fits_in_memory("train", 875, available=12_700_000_000)  # BraTS 2021's 70 %
    assert "875 patients" in str(caught.value)


def test_in_order_keeps_order_and_reads_only_a_few_ahead():
    started, lock = [], threading.Lock()

    def work(item):
        with lock:
            started.append(item)
        return item * 10

    seen = []
    for result in cache.in_order(work, range(40), workers=2):
        seen.append(result)
        time.sleep(0.002)
        assert len(started) <= len(seen) + 4
    assert seen == [i * 10 for i in range(40)]


def test_train_streams_a_course_from_its_cache(tmp_path, course_root):
    cfg = training.TrainConfig(root=str(course_root), logdir=str(tmp_path / "logs"),
                               model_out=str(tmp_path / "m.weights.h5"), epochs=1, width=2, batch_size=32)
    history = training.train(cfg, progress=False)
    assert np.isfinite(history.history["val_loss"][0]) and (tmp_path / "m.weights.h5").is_file()
    folder = cache.cache_folder(course_root)
    assert {p.name for p in folder.glob("*.json")} >= {"train.json", "validation.json"}


def test_several_machines_are_refused_with_the_reason(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]},
                                                "task": {"type": "worker", "index": 0}}))
    with pytest.raises(RuntimeError, match="2 workers.*MultiWorkerMirroredStrategy.*unset TF_CONFIG"):
        training.distribution_strategy()
    monkeypatch.setenv("TF_CONFIG", "{oops")
    with pytest.raises(ValueError, match="TF_CONFIG is not a JSON"):
        training.distribution_strategy()
    monkeypatch.delenv("TF_CONFIG")
    import tensorflow as tf

    # one machine without GPUs: TensorFlow's default strategy, the one used outside any scope
    assert training.distribution_strategy() is tf.distribute.get_strategy()
    assert not tf.distribute.has_strategy()
