"""The batches the network trains on (Ex 7, 9): one ``tf.data`` builder over slices held in
memory or streamed from the cache.

Both sources go the same way: the indices of the slices to serve (all, or those with brain; and
when ``epoch_share`` < 1, that share of them, those with tumour first, drawn afresh every epoch:
how :mod:`tp3.sizing` shortens an epoch on a slow machine), shuffled every epoch with
the run's seed, batched, then each batch read (from the arrays, or
from the cache's files), augmented (Ex 9) and one-hot encoded. So :func:`make_dataset` and
:func:`stream_dataset` give the same batches for the same seed (float16 rounding aside) by
construction. ``tp3.training`` re-exports these names: students reach them there.

Ex 7   ``make_dataset`` (a split in memory), ``stream_dataset`` (a split from the cache of
       :mod:`tp3.cache`, any course size), ``brain_slices``, ``tumour_slices``, ``epoch_slices``,
       ``pipeline_options``
Ex 9   the same with ``augment=True`` (:func:`tp3.augment.augment_batch` per batch)
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from . import settings
from .cache import CachedSplit
from .preprocessing import brain_mask
from .config import AugmentRanges
from .unet import INPUT_SHAPE

__all__ = ["make_dataset", "stream_dataset", "brain_slices", "tumour_slices", "epoch_slices", "pipeline_options"]


def make_dataset(images: np.ndarray, classes: np.ndarray, batch_size: int, shuffle: bool,
                 augment: bool = False, seed: int = 0, skip_empty: bool | None = None,
                 ranges: AugmentRanges | None = None, epoch_share: float = 1.0):
    """``tf.data.Dataset`` of ``(images (B, 96, 96, 4) float32, one-hot (B, 96, 96, 4) float32)``
    from a split held in memory (``training.load_split``). Ex 7.

    Shuffled every epoch (deterministically for a seed) when ``shuffle``; augmented per
    batch with seeds drawn from ``tf.data.Dataset.random`` (new each epoch, same for the
    same seed) when ``augment``, within ``ranges`` (default: the settings now; a
    ``TrainConfig``'s ``augmentation``). ``skip_empty`` leaves out the slices without brain
    (:func:`brain_slices`); by default (None) training batches (``shuffle``) do so when
    :data:`tp3.settings.SKIP_EMPTY_SLICES`, validation batches never. ``epoch_share`` < 1
    (a ``TrainConfig``'s, chosen by :func:`tp3.sizing.size_run` on a slow machine) serves that
    share of the slices each epoch, those with tumour first (:func:`epoch_slices`), drawn afresh
    every epoch: training only.
    :func:`stream_dataset` gives the same batches from the cache.
    """
    if len(images) == 0:
        raise ValueError("no slices to train on: the split is empty")
    if images.shape[1:] != INPUT_SHAPE or classes.shape != images.shape[:-1]:
        raise ValueError(f"expected images (N, {', '.join(map(str, INPUT_SHAPE))}) and classes "
                         f"(N, {', '.join(map(str, INPUT_SHAPE[:2]))}), got "
                         f"{images.shape} and {classes.shape}")
    kept = _slices_to_use(images, skip_empty, shuffle, "no slice holds brain (every image is 0)")
    indices = _indices(kept, classes, epoch_share, shuffle, seed)
    images, classes = tf.constant(images, tf.float32), tf.constant(classes)

    def read(indices):
        return tf.gather(images, indices), tf.gather(classes, indices)
    return _batches(indices, read, batch_size, augment, seed, ranges)


def stream_dataset(cached: CachedSplit, batch_size: int, shuffle: bool, augment: bool = False, seed: int = 0,
                   skip_empty: bool | None = None, ranges: AugmentRanges | None = None,
                   epoch_share: float = 1.0):
    """The batches of :func:`make_dataset` (same order, same augmentation, same slices left out
    for the same seed; float16 rounding aside) read from the cache
    (:func:`tp3.cache.split_cache`) batch by batch: memory does not grow with the course.
    Ex 7/9 on a big course; what ``training.train`` uses."""
    def read(indices):
        images, classes = tf.numpy_function(cached.read, [indices], (tf.float32, tf.uint8), stateful=False)
        images.set_shape((None,) + INPUT_SHAPE)
        classes.set_shape((None,) + INPUT_SHAPE[:2])
        return images, classes

    kept = _slices_to_use(cached.images(), skip_empty, shuffle, f"the {cached.split} split holds no brain")
    indices = _indices(kept, cached.classes(mmap=True), epoch_share, shuffle, seed)
    return _batches(indices, read, batch_size, augment, seed, ranges)


def brain_slices(images) -> np.ndarray:
    """Indices of the slices that hold brain (any modality non-zero) of images ``(N, 96, 96, 4)``,
    in increasing order; read in chunks, so a memory-mapped cache is never copied whole. Ex 7."""
    chunk = 1024
    kept = [np.flatnonzero(brain_mask(images[start:start + chunk]).any(axis=(1, 2))) + start
            for start in range(0, len(images), chunk)]
    return np.concatenate(kept) if kept else np.zeros(0, np.int64)


def tumour_slices(classes) -> np.ndarray:
    """Per slice of classes ``(N, 96, 96)``: True where it holds tumour (any class > 0); read in
    chunks, so a memory-mapped cache is never copied whole. Ex 7 (:func:`tp3.sizing.size_run`)."""
    chunk = 4096
    parts = [np.asarray(classes[start:start + chunk]).reshape(-1, int(np.prod(classes.shape[1:]))).any(axis=1)
             for start in range(0, len(classes), chunk)]
    return np.concatenate(parts) if parts else np.zeros(0, bool)


def epoch_slices(n_with_tumour: int, n_without: int, epoch_share: float) -> tuple[int, int]:
    """``(slices with tumour, slices without)`` one training epoch serves: ``epoch_share`` of all
    (rounded, at least one), those with tumour first: every one of them when the share allows,
    then the others. Ex 7 (on a slow machine, :func:`tp3.sizing.size_run`)."""
    _check_share(epoch_share)
    count = max(1, int(np.floor(epoch_share * (n_with_tumour + n_without) + 0.5)))
    with_tumour = min(n_with_tumour, count)
    return with_tumour, min(n_without, count - with_tumour)


def _check_share(epoch_share) -> None:
    if isinstance(epoch_share, bool) or not isinstance(epoch_share, (int, float)) or not 0 < epoch_share <= 1:
        raise ValueError(f"epoch_share must be a number in (0, 1], got {epoch_share!r}")


def _indices(kept: np.ndarray, classes, share: float, shuffle: bool, seed: int) -> tf.data.Dataset:
    """The slice indices of one epoch, shuffled with ``seed`` when ``shuffle``: every ``kept`` slice,
    or (``share`` < 1) ``share`` of them, those with tumour first (:func:`epoch_slices`), each part
    drawn afresh each epoch (other streams of the same seed). The count is known before the
    epoch: Keras shows it."""
    _check_share(share)
    if share < 1 and not shuffle:
        raise ValueError("epoch_share < 1 leaves slices out: for training batches (shuffle=True) only; "
                         "validation is measured on every slice")
    if share >= 1:
        indices = tf.data.Dataset.from_tensor_slices(kept)
    else:
        has_tumour = tumour_slices(classes)[kept]
        with_tumour, without = kept[has_tumour], kept[~has_tumour]
        counts = epoch_slices(len(with_tumour), len(without), share)
        parts = [tf.data.Dataset.from_tensor_slices(pool).shuffle(len(pool), seed=seed + offset,
                                                                  reshuffle_each_iteration=True).take(count)
                 for pool, count, offset in zip((with_tumour, without), counts, (1, 2)) if count]
        indices = parts[0] if len(parts) == 1 else parts[0].concatenate(parts[1])
    if shuffle:
        count = int(indices.cardinality())
        indices = indices.shuffle(count, seed=seed, reshuffle_each_iteration=True)
    return indices


def _slices_to_use(images, skip_empty: bool | None, shuffle: bool, none_left: str) -> np.ndarray:
    """Indices of the slices a dataset serves: all, or those with brain (``make_dataset``'s
    ``skip_empty`` rule); ``none_left`` says why when none is left."""
    skips = (shuffle and settings.SKIP_EMPTY_SLICES) if skip_empty is None else bool(skip_empty)
    if not skips:
        return np.arange(len(images))
    kept = brain_slices(images)
    if len(kept) == 0:
        raise ValueError(f"no slices to train on: {none_left}")
    return kept


def _batches(indices: tf.data.Dataset, read, batch_size: int, augment: bool, seed: int,
             ranges: AugmentRanges | None):
    """The one builder: an epoch's slice ``indices`` (:func:`_indices`), batched, each batch read
    by ``read(indices) -> (images, classes)``, augmented (optionally) and one-hot encoded; prefetched."""
    from .augment import augment_batch

    batches = indices.batch(batch_size).map(read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if augment:
        ranges = ranges or AugmentRanges()  # read once, here: the whole run uses the same ranges
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        batches = tf.data.Dataset.zip((batches, seeds)).map(
            lambda batch, pair: augment_batch(batch[0], batch[1], pair, ranges),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    batches = batches.map(lambda x, y: (x, tf.one_hot(tf.cast(y, tf.int32), settings.N_CLASSES)),
                          num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return batches.prefetch(tf.data.AUTOTUNE).with_options(pipeline_options())


def pipeline_options() -> tf.data.Options:
    """The ``tf.data`` options of the kit's batches: autotuning as :data:`tp3.settings.DATA_AUTOTUNE`
    says (off by default: with it, the end of an epoch can wait ~10 s on its thread)."""
    options = tf.data.Options()
    options.autotune.enabled = settings.DATA_AUTOTUNE
    return options
