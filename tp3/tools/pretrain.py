"""A pretrained model for Ex 11-13 (``python -m tp3 pretrain``): a U-Net that learns from scenes
(anatomy and tumour label maps, :mod:`tp3.tools.synth.scenes`) whose images are drawn afresh for
every batch (:mod:`tp3.tools.synth.randomise`), so it never sees the same contrast twice; from
random weights, or (``init``) from a model file it then fine-tunes.

One command does it all in a work folder (its data resumably: scenes and validation cases
already there are kept; training starts from the beginning):

1. ``scenes/``: the first ``scenes`` scenes of stream ``seed`` (tumours of the variety ``tumours``, wide by default);
2. ``validation/``: ``validation_cases`` cases of the course generator (``python -m tp3 synth``,
   full resolution, its own narrower ranges, another seed) read through the course
   preprocessing: a *shifted* generator, on which the checkpoint is chosen (lowest validation
   loss). No real scan is used anywhere;
3. training: each batch of slices comes from scenes rendered with new contrasts and a new
   acquisition; half of a render's slices hold tumour. Fresh tumours: while it trains, a
   background process adds ``new_scenes_per_epoch`` scenes per epoch to the pool, which epoch
   ``e`` draws from (scenes ``1 .. scenes + e * new_scenes_per_epoch``; training waits for a
   scene not yet written, so the same seed trains the same model however fast the machine).
   With ``replay_root`` (prepared course data, e.g. the start model's own), a ``replay_share`` of
   the slices comes from its training patients instead: a fine-tuning that replays what the
   start model learnt from forgets less of it.

Writes ``model_out`` (the kit's model file, best epoch), ``WORK/training_log.csv`` and
``WORK/pretrain.json`` (the run's :class:`PretrainConfig`). Instructors never need it: the model of
Ex 11-13 ships in ``models/``; its card (``models/README.md``) says how it was trained and what was
tried with this command.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import numpy as np

@dataclasses.dataclass(frozen=True)
class PretrainConfig:
    """Everything that defines a pretraining run; the defaults are the v4 run of models/README.md
    (tried against the shipped model on real scans, and not shipped). ``python -m tp3 pretrain``
    has a flag each."""

    work: str
    model_out: str
    seed: int = 4040
    scenes: int = 120
    new_scenes_per_epoch: int = 8
    validation_cases: int = 16
    validation_seed: int = 5020
    width: int = 16
    epochs: int = 24
    steps_per_epoch: int = 130
    batch_size: int = 32
    slices_per_render: int = 16
    tumour_share: float = 0.5
    learning_rate: float = 1e-3
    lr_decay: float = 0.5
    lr_decay_every: int = 8
    precision: str = "auto"
    workers: int = 2
    #: The tumour contrasts drawn (:data:`tp3.tools.synth.randomise.CONTRAST_SETS`): ``wide`` (the
    #: whole real range and beyond), ``typical`` (the real middle 80 %), ``course`` (the course data's).
    contrasts: str = "wide"
    #: The share of renders acquired as older scans were (thick slices, low in-plane resolution);
    #: the default is ``randomise.OLD_ACQUISITION_PROBABILITY`` (not imported here: it is slow).
    old_acquisitions: float = 0.35
    #: The strongest Rician noise drawn, relative to white matter at the course's resolution
    #: (``randomise.NOISE``'s upper end by default).
    max_noise: float = 0.06
    #: The strongest gamma of a render's contrast, as a log (``randomise.GAMMA_LOG`` by default; 0:
    #: every contrast keeps its drawn levels).
    max_log_gamma: float = 0.25
    #: The tumours of the scenes (:data:`tp3.tools.synth.scenes.TUMOUR_VARIETIES`): ``wide`` (issue
    #: 33's failures: small, near the cortex, edema over a lobe, large cores) or ``course``.
    tumours: str = "wide"
    #: Weights to start from (a kit model file of the same width, e.g. the shipped model: the run
    #: then fine-tunes it); empty: random weights.
    init: str = ""
    #: A prepared course root (``python -m tp3 prepare``) whose training patients are mixed into
    #: the batches; empty: renders only.
    replay_root: str = ""
    #: The share of slices taken from ``replay_root`` (below 1: the renders are the point).
    replay_share: float = 0.5


def scene_slices(scenes, config: PretrainConfig, rng, replay=()):
    """Endless ``(image (96, 96, 4) float32, classes (96, 96) uint8)`` slices: each scene rendered
    afresh, ``slices_per_render`` of its brain slices taken (a ``tumour_share`` of them with
    tumour), left-right flipped at random. ``scenes(n)`` returns the list of the first ``n``
    scenes (waiting for them); the pool grows by ``new_scenes_per_epoch`` every epoch's worth of
    renders. ``replay``: ``(images, classes)`` volumes (:func:`replay_volumes`), of which whole
    blocks of slices, taken the same way, make up a ``replay_share`` of the slices."""
    from .synth.randomise import draw_acquisition, draw_wide_contrasts, render_scene

    render_share = 1 - config.replay_share if replay else 1.0
    renders_per_epoch = max(int(config.steps_per_epoch * config.batch_size * render_share)
                            // config.slices_per_render, 1)
    replay_blocks_per_render = (1 - render_share) / render_share
    rendered, replay_owed = 0, 0.0
    while True:
        # tf.data reads ahead of the last epoch: the pool stops growing there.
        epoch = min(rendered // renders_per_epoch, config.epochs)
        pool = scenes(config.scenes + epoch * config.new_scenes_per_epoch)
        scene = pool[rng.integers(len(pool))]
        contrasts = draw_wide_contrasts(rng, config.contrasts)
        acquisition = draw_acquisition(rng, config.old_acquisitions, config.max_noise, config.max_log_gamma)
        yield from _block(rng, *render_scene(rng, scene, contrasts, acquisition), config)
        rendered += 1
        replay_owed += replay_blocks_per_render
        while replay_owed >= 1:
            yield from _block(rng, *replay[rng.integers(len(replay))], config)
            replay_owed -= 1


def _block(rng, images, classes, config: PretrainConfig):
    for z, flip in zip(_pick_slices(rng, images, classes, config), rng.uniform(size=config.slices_per_render) < 0.5):
        image, label = images[z], classes[z]
        yield (image[:, ::-1], label[:, ::-1]) if flip else (image, label)


def replay_volumes(root, progress: bool = True) -> list[tuple[np.ndarray, np.ndarray]]:
    """The training patients of the prepared course data in ``root``, one ``(images (77, 96, 96, 4)
    float32 z-scored, classes (77, 96, 96) uint8 0-3)`` pair each (:func:`tp3.training.load_split`)."""
    from ..preprocessing import COURSE_SHAPE
    from ..training import load_split

    images, classes = load_split("train", root, progress)
    depth = COURSE_SHAPE[0]
    return [(images[start:start + depth], classes[start:start + depth]) for start in range(0, len(images), depth)]


def _pick_slices(rng, images, classes, config: PretrainConfig) -> np.ndarray:
    with_brain = np.flatnonzero(np.any(images != 0, axis=(1, 2, 3)))
    with_tumour = np.flatnonzero(np.any(classes > 0, axis=(1, 2)))
    n = config.slices_per_render
    n_tumour = int(round(n * config.tumour_share)) if len(with_tumour) else 0
    return np.concatenate([rng.choice(with_tumour, n_tumour), rng.choice(with_brain, n - n_tumour)])


def _start_from(model, path: Path) -> None:
    """Copy the weights of the kit model file ``path`` into ``model`` (same architecture)."""
    from ..predict import load_model

    start = load_model(path)
    shapes = [w.shape for w in start.get_weights()], [w.shape for w in model.get_weights()]
    if shapes[0] != shapes[1]:
        raise ValueError(f"{path}: not a U-Net of this run's width and depth (init must match --width)")
    model.set_weights(start.get_weights())


def interpolate_weights(start, tuned, share: float):
    """The U-Net whose every weight is ``(1 - share) * start + share * tuned`` (two kit model
    files of the same architecture, ``tuned`` fine-tuned from ``start``): WiSE-FT (Wortsman et
    al., CVPR 2022), which keeps more of the first model's robustness to what neither trained
    on. ``share`` in [0, 1]; 0 gives ``start``, 1 ``tuned``. Used by
    ``benchmarks/interpolate_weights.py`` (models/README.md)."""
    from ..predict import load_model

    if not 0 <= share <= 1:
        raise ValueError(f"share {share}: must be between 0 (the start model) and 1 (the fine-tuned one)")
    model, other = load_model(start), load_model(tuned)
    mine, theirs = model.get_weights(), other.get_weights()
    if [w.shape for w in mine] != [w.shape for w in theirs]:
        raise ValueError(f"{start} and {tuned}: not U-Nets of the same width and depth")
    model.set_weights([(1 - share) * a + share * b for a, b in zip(mine, theirs)])
    return model


class ScenePool:
    """Scenes in memory, read from the work folder as training needs them (waiting for the
    background process to write them)."""

    def __init__(self, folder: Path, producer=None, timeout: float = 3600):
        self.folder, self.producer, self.timeout, self.loaded = Path(folder), producer, timeout, []

    def __call__(self, n: int) -> list:
        from .synth.scenes import load_scene, scene_path

        while len(self.loaded) < n:
            path = scene_path(self.folder, len(self.loaded) + 1)
            waited = time.monotonic()
            while not path.exists():
                if self.producer is not None and not self.producer.is_alive() and not path.exists():
                    raise RuntimeError(f"{path} was not written: the process making scenes stopped "
                                       f"(exit code {self.producer.exitcode}); see its error above")
                if time.monotonic() - waited > self.timeout:
                    raise TimeoutError(f"{path} not written after {self.timeout:.0f} s")
                time.sleep(0.5)
            self.loaded.append(load_scene(path))
        return self.loaded[:n]


def validation_set(config: PretrainConfig, progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The shifted generator's cases through the course preprocessing: images ``(N*77, 96, 96, 4)``
    float32 z-scored, classes ``(N*77, 96, 96)`` uint8."""
    from ..preprocessing import course_images, labels_to_classes, normalise, resize_labels
    from .preparation import read_case_folder
    from .synth import case_id, generate

    folder = Path(config.work) / "validation"
    generate(folder, config.validation_cases, config.validation_seed, workers=config.workers, progress=progress)
    images, classes = [], []
    for index in range(1, config.validation_cases + 1):
        volumes, labels, _ = read_case_folder(folder / case_id(index))
        images.append(normalise(course_images(volumes)))
        classes.append(labels_to_classes(resize_labels(labels)).astype(np.uint8))
    return np.concatenate(images), np.concatenate(classes)


def _produce(folder, stop, seed, start, tumours):
    os.nice(5)  # training first: a scene late by a few seconds costs nothing
    from .synth.scenes import generate_scenes

    generate_scenes(folder, stop, seed, workers=1, start=start, progress=False, tumours=tumours)


def pretrain(config: PretrainConfig, progress: bool = True, force: bool = False):
    """Make the scenes and the validation set, then train (see the module's docstring).
    An existing ``model_out`` is replaced only with ``force``. Returns the Keras ``History``."""
    import multiprocessing

    import keras
    import tensorflow as tf

    from ..files import write_text_atomic
    from ..precision import precision
    from ..preprocessing import N_CLASSES
    from ..training import compile_unet, seed_everything, step_decay
    from ..callbacks import ProgressBar, SaveBestModel
    from ..unet import INPUT_SHAPE, build_unet
    from .synth.randomise import CONTRAST_SETS
    from .synth.scenes import generate_scenes, tumour_variety

    work = Path(config.work)
    if config.contrasts not in CONTRAST_SETS:
        raise ValueError(f"contrasts {config.contrasts!r}: not one of {', '.join(CONTRAST_SETS)}")
    if not 0 <= config.old_acquisitions <= 1:
        raise ValueError(f"old_acquisitions {config.old_acquisitions}: a share, between 0 and 1")
    if config.max_noise < 0:
        raise ValueError(f"max_noise {config.max_noise}: noise cannot be negative")
    if config.max_log_gamma < 0:
        raise ValueError(f"max_log_gamma {config.max_log_gamma}: the largest |log gamma|, cannot be negative")
    if not 0 <= config.replay_share < 1:
        raise ValueError(f"replay_share {config.replay_share}: a share, at least 0 and below 1")
    tumour_variety(config.tumours)
    if Path(config.model_out).exists() and not force:
        raise FileExistsError(f"{config.model_out} exists; pass --force to replace it with the model trained now")
    work.mkdir(parents=True, exist_ok=True)
    write_text_atomic(work / "pretrain.json", json.dumps(dataclasses.asdict(config), indent=2) + "\n")
    generate_scenes(work / "scenes", config.scenes, config.seed, workers=config.workers, progress=progress,
                    tumours=config.tumours)
    x_val, y_val = validation_set(config, progress)
    replay = replay_volumes(config.replay_root, progress) if config.replay_root else ()
    total = config.scenes + config.epochs * config.new_scenes_per_epoch
    producer = None
    if total > config.scenes:
        producer = multiprocessing.get_context("spawn").Process(
            target=_produce, args=(work / "scenes", total, config.seed, config.scenes + 1, config.tumours),
            daemon=True)
        producer.start()
    seed_everything(config.seed)
    rng = np.random.default_rng([config.seed, 1])
    pool = ScenePool(work / "scenes", producer)
    signature = (tf.TensorSpec(INPUT_SHAPE, tf.float32), tf.TensorSpec(INPUT_SHAPE[:2], tf.uint8))
    train_set = (tf.data.Dataset.from_generator(lambda: scene_slices(pool, config, rng, replay),
                                                output_signature=signature)
                 .shuffle(8 * config.slices_per_render, seed=config.seed)
                 .batch(config.batch_size, drop_remainder=True)
                 .map(lambda x, y: (x, tf.one_hot(tf.cast(y, tf.int32), N_CLASSES)))
                 .prefetch(2))
    val_set = (tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(config.batch_size)
               .map(lambda x, y: (x, tf.one_hot(tf.cast(y, tf.int32), N_CLASSES))))
    with precision(config.precision):
        model = compile_unet(build_unet(config.width), config.learning_rate)
    if config.init:
        _start_from(model, Path(config.init))
    started = time.monotonic()

    def report(epoch, logs):
        shown = " ".join(f"{key} {logs[key]:.4f}" for key in ("loss", "val_loss", "val_dice_wt", "val_dice_tc",
                                                                 "val_dice_et") if key in logs)
        print(f"epoch {epoch + 1}/{config.epochs} ({(time.monotonic() - started) / 60:.1f} min): {shown}",
              flush=True)

    callbacks = [SaveBestModel(config.model_out, monitor="val_loss"),
                 keras.callbacks.LearningRateScheduler(step_decay(config.lr_decay, config.lr_decay_every)),
                 keras.callbacks.CSVLogger(str(work / "training_log.csv")),
                 keras.callbacks.LambdaCallback(on_epoch_end=report)]
    try:
        return model.fit(train_set, validation_data=val_set, epochs=config.epochs,
                         steps_per_epoch=config.steps_per_epoch,
                         callbacks=callbacks + [ProgressBar()] if progress else callbacks, verbose=0,
                         shuffle=False)
    finally:
        if producer is not None and producer.is_alive():
            producer.terminate()
