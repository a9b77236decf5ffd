"""The pretrained model's data (issue 33): scenes on the course grid, images drawn afresh from them
with the label-defining orderings kept, and ``python -m tp3 pretrain`` end to end (tiny)."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from tp3.layout import MODALITIES
from tp3.preprocessing import COURSE_SHAPE
from tp3.tools.synth import randomise
from tp3.tools.synth.scenes import MAPS, course_scene, load_scene, save_scene

SEED = 77


@pytest.fixture(scope="module")
def scene():
    return course_scene(SEED, 2)


def test_a_scene_is_the_same_for_the_same_seed_and_holds_fractions_on_the_course_grid(scene, tmp_path):
    assert scene.maps.shape == (len(MAPS),) + COURSE_SHAPE and scene.maps.dtype == np.uint8
    assert scene.classes.shape == COURSE_SHAPE and set(np.unique(scene.classes)) <= {0, 1, 2, 3}
    assert scene.grade == "HGG" and np.any(scene.classes == 3)
    visible = scene.maps[MAPS.index("visible")] > 0
    assert not np.any(scene.classes[~visible]), "tumour outside what the skull stripping kept"
    tissue = sum(scene.fraction(name) for name in ("gm", "wm", "csf"))
    assert tissue.max() <= 1.02 and np.median(tissue[scene.classes == 0][visible[scene.classes == 0]]) > 0.5
    again = load_scene(save_scene(scene, tmp_path / "scene.npz"))
    assert np.array_equal(again.maps, scene.maps) and np.array_equal(again.classes, scene.classes)
    (tmp_path / "bad.npz").write_bytes(b"not a scene")
    with pytest.raises(ValueError, match="bad.npz: not a readable scene"):
        load_scene(tmp_path / "bad.npz")


def test_a_scene_folder_holds_one_stream_of_one_tumour_variety(scene, tmp_path):
    from tp3.tools.synth.recipe import GENERATOR_VERSION
    from tp3.tools.synth.scenes import RECORD, generate_scenes

    second = generate_scenes(tmp_path / "course", 2, SEED, start=2, progress=False, tumours="course")[1]
    assert not np.array_equal(load_scene(second).classes, scene.classes), "the course tumours are the wide ones"
    with pytest.raises(FileExistsError, match="never mixes two streams"):
        generate_scenes(tmp_path / "course", 2, SEED, progress=False)
    older = tmp_path / "older"  # a folder written before the variety could be chosen holds wide tumours
    older.mkdir()
    (older / RECORD).write_text(json.dumps({"generator": GENERATOR_VERSION, "seed": SEED}))
    assert generate_scenes(older, 0, SEED, progress=False) == []
    with pytest.raises(FileExistsError, match="never mixes two streams"):
        generate_scenes(older, 0, SEED, progress=False, tumours="course")
    with pytest.raises(ValueError, match="tumours 'huge': not one of wide, course"):
        generate_scenes(tmp_path / "other", 0, SEED, progress=False, tumours="huge")
    assert not (tmp_path / "other").exists(), "a refused variety leaves no folder behind"


def test_the_course_cases_do_not_change_when_scenes_are_drawn():
    """A scene draws the wide variety from its own stream; the course's cases keep theirs."""
    from tp3.tools.synth import synthesize_case
    from tp3.tools.synth.recipe import COURSE_VARIETY, WIDE_VARIETY

    assert COURSE_VARIETY.seed_region == "course" and WIDE_VARIETY.wt_volume_cm3[0] < COURSE_VARIETY.wt_volume_cm3[0]
    first, second = synthesize_case(SEED, 1), synthesize_case(SEED, 1)
    assert np.array_equal(first.labels, second.labels)


def test_drawn_contrasts_are_wide_and_keep_the_orderings_that_define_the_labels():
    rng = np.random.default_rng(0)
    tables = [randomise.draw_wide_contrasts(rng) for _ in range(300)]
    assert all(randomise.keeps_orderings(table) for table in tables)
    flair_edema = [t["edema"]["flair"] for t in tables]
    low, high = randomise.WIDE_CONTRAST_RANGES["edema"]["flair"]
    assert min(flair_edema) < low and max(flair_edema) > high, "drawn beyond the real range on both sides"
    assert not randomise.keeps_orderings({**tables[0], "enhancing": {**tables[0]["enhancing"], "t1ce": 0.5}})


@pytest.mark.parametrize("name", sorted(randomise.CONTRAST_SETS))
def test_every_contrast_set_keeps_the_orderings_and_stays_near_its_ranges(name):
    ranges, widening = randomise.CONTRAST_SETS[name]
    rng = np.random.default_rng(1)
    tables = [randomise.draw_wide_contrasts(rng, name) for _ in range(200)]
    assert all(randomise.keeps_orderings(table) for table in tables)
    for tissue in ("edema", "enhancing"):
        for modality in ("flair", "t1ce"):
            low, high = ranges[tissue][modality]
            margin = widening * (high - low) + 1e-9
            drawn = [t[tissue][modality] for t in tables]
            # Edema's T1ce follows its T1 (it does not enhance): not drawn from its own range.
            if (tissue, modality) != ("edema", "t1ce"):
                assert low - margin <= min(drawn) and max(drawn) <= high + margin


def test_the_course_set_is_narrower_than_the_typical_one_which_is_narrower_than_the_wide_one():
    def width(name):
        ranges, widening = randomise.CONTRAST_SETS[name]
        return (1 + 2 * widening) * (ranges["edema"]["flair"][1] - ranges["edema"]["flair"][0])

    assert width("course") < width("typical") < width("wide")
    with pytest.raises(KeyError):
        randomise.draw_wide_contrasts(np.random.default_rng(0), "narrowest")


def test_old_acquisitions_noise_and_gamma_are_drawn_as_asked():
    from tp3.tools.pretrain import PretrainConfig

    rng = np.random.default_rng(2)
    config = PretrainConfig("w", "m")
    assert config.old_acquisitions == randomise.OLD_ACQUISITION_PROBABILITY
    assert config.max_noise == randomise.NOISE[1]
    assert config.max_log_gamma == randomise.GAMMA_LOG
    assert max(randomise.draw_acquisition(rng, 0.35, 0.02)["noise"] for _ in range(100)) <= 0.02
    gammas = [g for _ in range(100) for g in randomise.draw_acquisition(rng)["gamma"].values()]
    assert min(gammas) < 0.85 and max(gammas) > 1.15
    assert all(set(randomise.draw_acquisition(rng, max_log_gamma=0)["gamma"].values()) == {1.0} for _ in range(20))
    for share in (0.0, 0.35, 1.0):
        eras = [randomise.draw_acquisition(rng, share)["era"] for _ in range(400)]
        assert abs(eras.count("old") / 400 - share) < 0.08


def test_replayed_slices_make_up_their_share_and_the_pool_grows_with_the_renders(scene):
    from tp3.tools.pretrain import PretrainConfig, scene_slices

    config = PretrainConfig("w", "m", scenes=1, new_scenes_per_epoch=1, epochs=3, steps_per_epoch=1, batch_size=8,
                            slices_per_render=4, replay_share=0.5)
    asked = []

    def scenes(n):
        asked.append(n)
        return [scene] * n

    replay = [(np.full(COURSE_SHAPE + (4,), 7.0, np.float32), scene.classes)]
    slices = list(itertools.islice(scene_slices(scenes, config, np.random.default_rng(0), replay), 48))
    assert sum(bool(np.all(image == 7.0)) for image, _ in slices) == 24
    assert asked == [1, 2, 3, 4, 4, 4], "an epoch's 8 slices: 4 rendered, 4 replayed"
    asked.clear()
    slices = list(itertools.islice(scene_slices(scenes, config, np.random.default_rng(0)), 24))
    assert not any(np.all(image == 7.0) for image, _ in slices) and asked == [1, 1, 2, 2, 3, 3]


def test_replay_reads_the_training_patients_of_a_course_root(course_root, tmp_path):
    from tp3 import layout
    from tp3.data import read_split
    from tp3.tools.pretrain import replay_volumes

    from tp3.data import read_patient

    volumes = replay_volumes(course_root, progress=False)
    patients = read_split("train", course_root)
    assert len(volumes) == len(patients)
    images, classes = volumes[-1]
    assert images.shape == COURSE_SHAPE + (4,) and images.dtype == np.float32 and classes.shape == COURSE_SHAPE
    expected = read_patient(patients[-1], course_root)
    np.testing.assert_array_equal(images, expected[0])
    np.testing.assert_array_equal(classes, expected[1])
    split = layout.split_path(tmp_path, "train")
    split.parent.mkdir(parents=True)
    split.write_text("")
    with pytest.raises(ValueError, match="the train split is empty"):
        replay_volumes(tmp_path, progress=False)


def _region_median(images, classes, cls, channel):
    return float(np.median(images[..., channel][classes == cls]))


def _sharp_acquisition(rng) -> dict:
    """A scanner that adds nothing: thin slices, no blur, no noise, no gamma."""
    acquisition = randomise.draw_acquisition(rng)
    return {**acquisition, "thick": {m: 1.0 for m in MODALITIES}, "inplane_resolution": 1.0, "inplane_blur": 0.0,
            "noise": 0.0, "gamma": {m: 1.0 for m in MODALITIES}}


def test_a_render_is_z_scored_over_the_brain_and_shows_what_defines_each_label(scene):
    """Rendered with a scanner that adds nothing, the orderings of the contrasts hold on the
    labelled voxels (with thick slices and blur, partial volume can hide them, as on real scans)."""
    rng = np.random.default_rng(1)
    t1, t1ce, flair = (MODALITIES.index(m) for m in ("t1", "t1ce", "flair"))
    wm = scene.fraction("wm") > 0.9
    for _ in range(3):
        images, classes = randomise.render_scene(rng, scene, acquisition=_sharp_acquisition(rng))
        assert images.shape == COURSE_SHAPE + (4,) and images.dtype == np.float32
        brain = np.any(images != 0, axis=-1)
        assert np.array_equal(brain, scene.maps[MAPS.index("visible")] > 0)
        assert np.allclose(images[brain].mean(axis=0), 0, atol=1e-3)
        assert np.allclose(images[brain].std(axis=0), 1, atol=1e-2)
        assert _region_median(images, classes, 3, t1ce) > _region_median(images, classes, 2, t1ce)
        assert _region_median(images, classes, 3, t1ce) > _region_median(images, classes, 3, t1)
        assert _region_median(images, classes, 2, flair) > float(np.median(images[..., flair][wm]))
    images, _ = randomise.render_scene(rng, scene)  # any scanner: still z-scored over the same brain
    assert np.array_equal(np.any(images != 0, axis=-1), scene.maps[MAPS.index("visible")] > 0)


def test_thick_slices_blur_and_step_along_their_axis_only():
    ramp = np.tile(np.arange(40, dtype=np.float32)[:, None, None], (1, 8, 8))
    assert randomise.resample_axis(ramp, 1.0, 0, 0.0) is ramp
    thick = randomise.resample_axis(ramp, 4.0, 0, 0.0)
    assert thick.shape == ramp.shape and np.allclose(thick[:, 0, 0], thick[:, 5, 7])
    edges = np.zeros((40, 8, 8), np.float32)
    edges[::2] = 1
    assert randomise.resample_axis(edges, 4.0, 0, 0.0)[:, 0, 0].std() < 0.2 * edges[:, 0, 0].std()


def test_pretrain_end_to_end_writes_the_best_model_and_its_log(tmp_path):
    from tp3.predict import load_model
    from tp3.tools.pretrain import PretrainConfig, pretrain

    config = PretrainConfig(work=str(tmp_path / "work"), model_out=str(tmp_path / "m.weights.h5"), scenes=1,
                            new_scenes_per_epoch=1, validation_cases=1, epochs=2, steps_per_epoch=2, batch_size=8,
                            slices_per_render=8, width=4, workers=1, precision="float32")
    history = pretrain(config, progress=False)
    assert len(history.history["val_loss"]) == 2
    assert load_model(config.model_out).output_shape == (None, 96, 96, 4)
    assert (tmp_path / "work" / "scenes" / "scene_00002.npz").is_file(), "the pool grew by a scene in epoch 2"
    assert json.loads((tmp_path / "work" / "pretrain.json").read_text()) == dataclasses.asdict(config)
    assert len((tmp_path / "work" / "training_log.csv").read_text().splitlines()) == 3
    # a run that fine-tunes starts from the weights it is given, of its own width only
    from tp3.tools.pretrain import _start_from
    from tp3.unet import build_unet

    fresh = build_unet(4)
    _start_from(fresh, Path(config.model_out))
    for mine, given in zip(fresh.get_weights(), load_model(config.model_out).get_weights()):
        np.testing.assert_array_equal(mine, given)
    with pytest.raises(ValueError, match="init must match --width"):
        _start_from(build_unet(8), Path(config.model_out))
    # WiSE-FT: weights interpolated between a start model and the one tuned from it
    from tp3.modelfile import save_unet
    from tp3.tools.pretrain import interpolate_weights

    start = save_unet(build_unet(4), tmp_path / "start.weights.h5")
    halfway = interpolate_weights(start, config.model_out, 0.5).get_weights()
    for mid, a, b in zip(halfway, load_model(start).get_weights(), load_model(config.model_out).get_weights()):
        np.testing.assert_allclose(mid, (a + b) / 2, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="not U-Nets of the same width"):
        interpolate_weights(save_unet(build_unet(8), tmp_path / "w8.weights.h5"), config.model_out, 0.5)
    with pytest.raises(ValueError, match="share 1.5: must be between 0"):
        interpolate_weights(start, config.model_out, 1.5)
    with pytest.raises(ValueError, match="contrasts 'narrowest': not one of wide, typical, course"):
        pretrain(dataclasses.replace(config, contrasts="narrowest", model_out=str(tmp_path / "n.weights.h5")))
    with pytest.raises(ValueError, match="old_acquisitions 1.5: a share"):
        pretrain(dataclasses.replace(config, old_acquisitions=1.5, model_out=str(tmp_path / "n.weights.h5")))
    with pytest.raises(ValueError, match="max_noise -0.1: noise cannot be negative"):
        pretrain(dataclasses.replace(config, max_noise=-0.1, model_out=str(tmp_path / "n.weights.h5")))
    with pytest.raises(ValueError, match="max_log_gamma -1.0: the largest"):
        pretrain(dataclasses.replace(config, max_log_gamma=-1.0, model_out=str(tmp_path / "n.weights.h5")))
    with pytest.raises(ValueError, match="tumours 'huge': not one of wide, course"):
        pretrain(dataclasses.replace(config, tumours="huge", model_out=str(tmp_path / "n.weights.h5")))
    with pytest.raises(ValueError, match="replay_share 1.0: a share, at least 0 and below 1"):
        pretrain(dataclasses.replace(config, replay_share=1.0, model_out=str(tmp_path / "n.weights.h5")))
