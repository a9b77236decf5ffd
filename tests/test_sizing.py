"""Ex 7 and 9 sized to the machine (tp3.sizing): the share of slices an epoch serves, the choice
of a run's size from measured step times, the measurement kept per machine, the self-check."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tp3 import settings, sizing
from tp3.config import TrainConfig
from tp3.pipeline import epoch_slices, make_dataset, stream_dataset, tumour_slices


def _slices(n_with: int, n_without: int):
    """Images whose first channel holds the slice's index; classes with tumour in the first n_with."""
    n = n_with + n_without
    images = np.zeros((n, 96, 96, 4), np.float32)
    images[..., 0] = np.arange(n)[:, None, None] + 1
    classes = np.zeros((n, 96, 96), np.uint8)
    classes[:n_with, 40:50, 40:50] = 2
    return images, classes


def _epochs(dataset, epochs: int) -> list[list[int]]:
    """The slice indices served in each epoch (each a new iteration, as Keras' fit makes)."""
    return [sorted(int(v) - 1 for batch, _ in dataset for v in batch.numpy()[:, 0, 0, 0]) for _ in range(epochs)]


def test_epoch_slices_take_tumour_first():
    assert epoch_slices(50, 50, 1.0) == (50, 50)
    assert epoch_slices(50, 50, 0.75) == (50, 25)
    assert epoch_slices(50, 50, 0.3) == (30, 0)
    assert epoch_slices(0, 10, 0.01) == (0, 1)  # at least one slice
    for bad in (0, 1.5, -0.2):
        with pytest.raises(ValueError, match="epoch_share"):
            epoch_slices(5, 5, bad)


def test_an_epoch_serves_its_share_drawn_afresh_and_the_same_for_the_same_seed():
    images, classes = _slices(12, 28)
    assert list(np.flatnonzero(tumour_slices(classes))) == list(range(12))
    dataset = make_dataset(images, classes, 8, shuffle=True, seed=3, epoch_share=0.5)
    assert int(dataset.cardinality()) == 3  # 20 slices: Keras knows the epoch's length
    epochs = _epochs(dataset, 4)
    for served in epochs:
        assert len(served) == 20 and set(range(12)) <= set(served)  # every slice with tumour, 8 others
    assert len({tuple(served) for served in epochs}) > 1  # the others are drawn afresh
    again = _epochs(make_dataset(images, classes, 8, shuffle=True, seed=3, epoch_share=0.5), 4)
    assert again == epochs
    assert _epochs(make_dataset(images, classes, 8, shuffle=True, seed=3), 1)[0] == list(range(40))
    with pytest.raises(ValueError, match="validation"):
        make_dataset(images, classes, 8, shuffle=False, epoch_share=0.5)
    with pytest.raises(ValueError, match="epoch_share must be a number"):
        make_dataset(images, classes, 8, shuffle=True, epoch_share="0.5")


def test_the_cache_serves_the_same_share(tmp_path, course_root):
    from tp3 import training
    from tp3.cache import split_cache

    cached = split_cache("train", course_root, progress=False)
    images, classes = training.load_split("train", course_root, progress=False)
    streamed = stream_dataset(cached, 16, shuffle=True, seed=5, epoch_share=0.4)
    in_memory = make_dataset(images, classes, 16, shuffle=True, seed=5, epoch_share=0.4)
    for (a, ya), (b, yb) in zip(streamed, in_memory):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=2e-3)  # float16 in the cache
        np.testing.assert_array_equal(ya.numpy(), yb.numpy())


def _steps(train_s: float, width: int = 16) -> sizing.StepTimes:
    return sizing.StepTimes(width=width, policy="float32", batch_size=32, train_s=train_s, test_s=train_s / 3,
                            augment_s=0.05, trace_s=5.0)


@pytest.mark.parametrize("seconds_a_batch, expected", [
    (0.2, (16, 1.0)),     # a fast CPU: the default size fits
    (0.45, (16, 0.5)),    # every slice, or 75 % of them, would take too long; half fits
    (1.2, (16, 0.15)),    # slow (a 2-core AVX2 CPU): the floor fits
    (5.0, (16, 0.15)),    # slower still: the floor, and it says so
])
def test_size_run_takes_the_largest_size_that_fits(course_root, monkeypatch, capsys, seconds_a_batch, expected):
    monkeypatch.delenv("TP3_SMOKE", raising=False)
    monkeypatch.setattr("tp3.runtime.gpu_available", lambda: False)
    monkeypatch.setattr(sizing, "measure_steps", lambda width, **kw: _steps(seconds_a_batch, width))
    classes = np.zeros((2000, 96, 96), np.uint8)
    classes[:1000, 10, 10] = 1  # half the slices with tumour, as in the 40-case sample
    size = sizing.size_run(course_root, 10, train_classes=classes)
    assert (size.width, size.epoch_share) == expected
    printed = capsys.readouterr().out
    assert f"width {expected[0]}" in printed and "about" in printed
    for share in settings.EPOCH_SHARES[:settings.EPOCH_SHARES.index(expected[1])]:
        assert size.seconds_for(16, share, 10) > settings.TARGET_SECONDS  # every larger size was over
    if size.seconds > settings.TARGET_SECONDS:
        assert "still over" in size.why
    # its estimate: the batches at the measured step times, the tracing and the callbacks
    batches = size.batches()
    assert size.seconds == pytest.approx(sizing.expected_seconds(
        _steps(seconds_a_batch, size.width), batches, int(np.ceil(size.validation_slices / 32)), 10))


def test_ex9_takes_ex7s_size_and_says_its_own_time(course_root, monkeypatch):
    """The two runs differ by the augmentation only: its time is added to the estimate, not to the size."""
    monkeypatch.delenv("TP3_SMOKE", raising=False)
    monkeypatch.setattr("tp3.runtime.gpu_available", lambda: False)
    monkeypatch.setattr(sizing, "measure_steps", lambda width, **kw: _steps(0.45, width))
    classes = np.zeros((2000, 96, 96), np.uint8)
    classes[:1000, 10, 10] = 1
    ex7 = sizing.size_run(course_root, 10, train_classes=classes, verbose=False)
    ex9 = sizing.size_run(course_root, 10, train_classes=classes, augment=True, verbose=False)
    assert (ex9.width, ex9.epoch_share) == (ex7.width, ex7.epoch_share)
    assert ex9.seconds == pytest.approx(ex7.seconds + 10 * ex7.batches() * 0.05)


def test_a_width_set_in_the_settings_is_the_one_sized(course_root, monkeypatch):
    monkeypatch.delenv("TP3_SMOKE", raising=False)
    monkeypatch.setattr("tp3.runtime.gpu_available", lambda: False)
    monkeypatch.setattr(settings, "UNET_WIDTH_CPU", 24)  # as a course would, in a running notebook
    monkeypatch.setattr(sizing, "measure_steps", lambda width, **kw: _steps(0.1, width))
    size = sizing.size_run(course_root, 10, train_classes=np.zeros((100, 96, 96), np.uint8), verbose=False)
    assert (size.width, size.epoch_share) == (24, 1.0)


def test_a_gpu_keeps_the_papers_width(course_root, monkeypatch):
    monkeypatch.delenv("TP3_SMOKE", raising=False)
    monkeypatch.setattr("tp3.runtime.gpu_available", lambda: True)
    monkeypatch.setattr(sizing, "measure_steps", lambda width, **kw: _steps(2.0, width))
    size = sizing.size_run(course_root, 10, train_classes=np.zeros((100, 96, 96), np.uint8), verbose=False)
    assert (size.width, size.epoch_share) == (settings.UNET_WIDTH_GPU, 1.0) and "GPU" in size.why


def test_a_size_chosen_by_hand_wins_and_its_time_is_said(course_root, tmp_path, monkeypatch, capsys):
    from tp3.training import save_config

    monkeypatch.setattr(sizing, "measure_steps", lambda width, **kw: _steps(0.5 if width == 16 else 0.2, width))
    size = sizing.size_run(course_root, 10, train_classes=np.ones((400, 96, 96), np.uint8), verbose=False)
    cfg = size.config(root=course_root, logdir=tmp_path / "a", model_out=tmp_path / "a.weights.h5")
    assert (cfg.width, cfg.epoch_share, cfg.epochs) == (size.width, size.epoch_share, 10)
    assert cfg.sizing.startswith("size_run: ")
    mine = size.config(root=course_root, logdir=tmp_path / "b", model_out=tmp_path / "b.weights.h5",
                       width=8, epoch_share=0.5)
    assert (mine.width, mine.epoch_share) == (8, 0.5) and "chosen by hand (width=8, epoch_share=0.5)" in mine.sizing
    assert "As you set it: width 8" in capsys.readouterr().out
    recorded = json.loads(save_config(mine).read_text())
    assert (recorded["width"], recorded["epoch_share"], recorded["sizing"]) == (8, 0.5, mine.sizing)
    for bad in (0, 1.2, "0.5", True):
        with pytest.raises(ValueError, match="epoch_share"):
            size.config(root=course_root, logdir=tmp_path / "c", model_out=tmp_path / "c.weights.h5", epoch_share=bad)


def test_a_machine_is_measured_once(tmp_path, monkeypatch):
    calls = []

    def fake(width, precision, batch_size):
        calls.append(width)
        return _steps(0.1 * len(calls), width)
    monkeypatch.setattr(sizing, "_time_steps", fake)
    first = sizing.measure_steps(4, "float32", 32, root=tmp_path)
    assert sizing.measure_steps(4, "float32", 32, root=tmp_path) == first and calls == [4]
    assert sizing.measure_steps(4, "float32", 32, root=tmp_path, remeasure=True) != first
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # another machine, as far as the steps go
    sizing.measure_steps(4, "float32", 32, root=tmp_path)
    assert calls == [4, 4, 4]
    (tmp_path / ".tp3_cache" / "step_timings.json").write_text("{not json")  # a damaged store: measured again
    sizing.measure_steps(4, "float32", 32, root=tmp_path)
    assert len(calls) == 4


def test_steps_are_measured_here(tmp_path):
    steps = sizing.measure_steps(4, "float32", 8, root=tmp_path)
    assert steps.width == 4 and steps.policy == "float32" and steps.batch_size == 8
    assert 0 < steps.test_s and 0 < steps.train_s and 0 < steps.augment_s and steps.trace_s >= 0
    stored = json.loads((tmp_path / ".tp3_cache" / "step_timings.json").read_text())
    assert list(stored.values()) == [dict(steps.__dict__)]


def test_train_config_refuses_a_bad_share(tmp_path):
    for bad in (0, 2, "all", None):
        with pytest.raises(ValueError, match="epoch_share"):
            TrainConfig(logdir=tmp_path, model_out=tmp_path / "m.weights.h5", epoch_share=bad)
