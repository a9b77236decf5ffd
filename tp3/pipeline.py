"""The batches the network trains on (Ex 7, 9): one ``tf.data`` builder over slices held in
memory or streamed from the cache.

Both sources go the same way: the indices of the slices to serve (all, or those with brain),
shuffled every epoch with the run's seed, batched, then each batch read (from the arrays, or
from the cache's files), augmented (Ex 9) and one-hot encoded. So :func:`make_dataset` and
:func:`stream_dataset` give the same batches for the same seed (float16 rounding aside) by
construction. ``tp3.training`` re-exports these names: students reach them there.

Ex 7   ``make_dataset`` (a split in memory), ``stream_dataset`` (a split from the cache of
       :mod:`tp3.cache`, any course size), ``brain_slices``, ``pipeline_options``
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

__all__ = ["make_dataset", "stream_dataset", "brain_slices", "pipeline_options"]


def make_dataset(images: np.ndarray, classes: np.ndarray, batch_size: int, shuffle: bool,
                 augment: bool = False, seed: int = 0, skip_empty: bool | None = None,
                 ranges: AugmentRanges | None = None):
    """``tf.data.Dataset`` of ``(images (B, 96, 96, 4) float32, one-hot (B, 96, 96, 4) float32)``
    from a split held in memory (``training.load_split``). Ex 7.

    Shuffled every epoch (deterministically for a seed) when ``shuffle``; augmented per
    batch with seeds drawn from ``tf.data.Dataset.random`` (new each epoch, same for the
    same seed) when ``augment``, within ``ranges`` (default: the settings now; a
    ``TrainConfig``'s ``augmentation``). ``skip_empty`` leaves out the slices without brain
    (:func:`brain_slices`); by default (None) training batches (``shuffle``) do so when
    :data:`tp3.settings.SKIP_EMPTY_SLICES`, validation batches never.
    :func:`stream_dataset` gives the same batches from the cache.
    """
    if len(images) == 0:
        raise ValueError("no slices to train on: the split is empty")
    if images.shape[1:] != INPUT_SHAPE or classes.shape != images.shape[:-1]:
        raise ValueError(f"expected images (N, {', '.join(map(str, INPUT_SHAPE))}) and classes "
                         f"(N, {', '.join(map(str, INPUT_SHAPE[:2]))}), got "
                         f"{images.shape} and {classes.shape}")
    kept = _slices_to_use(images, skip_empty, shuffle, "no slice holds brain (every image is 0)")
    images, classes = tf.constant(images, tf.float32), tf.constant(classes)

    def read(indices):
        return tf.gather(images, indices), tf.gather(classes, indices)
    return _batches(kept, read, batch_size, shuffle, augment, seed, ranges)


def stream_dataset(cached: CachedSplit, batch_size: int, shuffle: bool, augment: bool = False, seed: int = 0,
                   skip_empty: bool | None = None, ranges: AugmentRanges | None = None):
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
    return _batches(kept, read, batch_size, shuffle, augment, seed, ranges)


def brain_slices(images) -> np.ndarray:
    """Indices of the slices that hold brain (any modality non-zero) of images ``(N, 96, 96, 4)``,
    in increasing order; read in chunks, so a memory-mapped cache is never copied whole. Ex 7."""
    chunk = 1024
    kept = [np.flatnonzero(brain_mask(images[start:start + chunk]).any(axis=(1, 2))) + start
            for start in range(0, len(images), chunk)]
    return np.concatenate(kept) if kept else np.zeros(0, np.int64)


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


def _batches(kept: np.ndarray, read, batch_size: int, shuffle: bool, augment: bool, seed: int,
             ranges: AugmentRanges | None):
    """The one builder: ``kept`` slice indices, shuffled (``seed``) when ``shuffle``, batched,
    each batch read by ``read(indices) -> (images, classes)``, augmented (optionally) and
    one-hot encoded; prefetched."""
    from .augment import augment_batch

    dataset = tf.data.Dataset.from_tensor_slices(kept)
    if shuffle:
        dataset = dataset.shuffle(len(kept), seed=seed, reshuffle_each_iteration=True)
    batches = dataset.batch(batch_size).map(read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
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
