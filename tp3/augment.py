"""Data augmentation (handout §5, Ex 8-9).

Geometric transforms (left-right flip, rotation, scaling) are drawn per slice and applied
with the *same* matrix to the image (bilinear) and to the classes (nearest neighbour), so
labels stay exact and aligned: no class value is invented. Intensity transforms (a
per-channel gain and offset, Gaussian noise) touch the image only, inside the brain.
Randomness is stateless: a seed pair per batch gives the same augmentation every run.
The ranges of the transforms are an :class:`tp3.config.AugmentRanges` (a ``TrainConfig``'s
``augmentation``); by default :mod:`tp3.settings`' values, read when the ranges are made — a
change made in a running notebook takes effect (Ex 8 invites students to change them).

Ex 8  ``augment_numpy`` (one augmented copy of a few slices), ``show_augmentation``
Ex 9  ``augment_batch`` (what ``training.make_dataset(..., augment=True)`` applies per batch)
"""

from __future__ import annotations

import math

import numpy as np

from .config import AugmentRanges


def _affine_transforms(seed, batch: int, size: int, ranges: AugmentRanges):
    """``(B, 8)`` projective transforms (output pixel -> input pixel) about the image centre."""
    import tensorflow as tf

    angle_seed, scale_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    angle = tf.random.stateless_uniform([batch], angle_seed, -1.0, 1.0) * math.radians(ranges.max_rotation_deg)
    scale = tf.random.stateless_uniform([batch], scale_seed, *ranges.scale_range)
    flip = tf.where(tf.random.stateless_uniform([batch], flip_seed) < ranges.flip_probability, -1.0, 1.0)
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    m00, m01, m10, m11 = cos * flip, -sin, sin * flip, cos
    centre = (size - 1) / 2.0
    zeros = tf.zeros([batch])
    return tf.stack([m00, m01, centre - m00 * centre - m01 * centre,
                     m10, m11, centre - m10 * centre - m11 * centre, zeros, zeros], axis=1)


def augment_batch(images, classes, seed, ranges: AugmentRanges | None = None):
    """Augment one batch. ``images`` float32 ``(B, H, W, C)``, ``classes`` uint8 ``(B, H, W)``,
    ``seed`` int ``(2,)``, ``ranges`` (default: ``AugmentRanges()``, the settings now); returns
    the same shapes and dtypes. Ex 8-9."""
    import tensorflow as tf

    ranges = ranges or AugmentRanges()
    geometry_seed, gain_seed, offset_seed, noise_seed = tf.unstack(
        tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 4))
    shape = tf.shape(images)
    batch, size = shape[0], images.shape[1]
    transforms = _affine_transforms(geometry_seed, batch, size, ranges)
    output_shape = tf.shape(images)[1:3]

    def warp(x, interpolation):
        return tf.raw_ops.ImageProjectiveTransformV3(
            images=x, transforms=transforms, output_shape=output_shape, fill_value=0.0,
            interpolation=interpolation, fill_mode="CONSTANT")

    images = warp(images, "BILINEAR")
    classes = tf.cast(warp(tf.cast(classes[..., None], tf.float32), "NEAREST")[..., 0], classes.dtype)

    channels = images.shape[-1]
    gain = tf.random.stateless_uniform([batch, 1, 1, channels], gain_seed, *ranges.gain_range)
    offset = tf.random.stateless_uniform([batch, 1, 1, channels], offset_seed, *ranges.offset_range)
    noise = tf.random.stateless_normal(tf.shape(images), noise_seed, stddev=ranges.noise_std)
    brain = tf.cast(tf.reduce_any(tf.not_equal(images, 0.0), axis=-1, keepdims=True), images.dtype)
    images = (images * gain + offset + noise) * brain
    return images, classes


def augment_numpy(images: np.ndarray, classes: np.ndarray, seed: int = 0, ranges: AugmentRanges | None = None):
    """Numpy convenience for notebooks and tests: one augmented copy of a batch (``ranges``:
    default the settings now). Ex 8."""
    import tensorflow as tf

    out_images, out_classes = augment_batch(tf.constant(images, tf.float32), tf.constant(classes),
                                            tf.constant([seed, 0], tf.int64), ranges)
    return out_images.numpy(), out_classes.numpy()


def show_augmentation(images: np.ndarray, classes: np.ndarray, seed: int = 0, channel: int = 3,
                      ranges: AugmentRanges | None = None):
    """Ex 8: each slice (FLAIR by default) and its classes beside an augmented copy. Returns the figure."""
    import matplotlib.pyplot as plt

    from .viz import class_overlay

    augmented, augmented_classes = augment_numpy(images, classes, seed, ranges)
    n = len(images)
    fig, axes = plt.subplots(n, 2, figsize=(6, 3 * n), squeeze=False)
    for row in range(n):
        axes[row, 0].imshow(class_overlay(images[row, ..., channel], classes[row]))
        axes[row, 0].set_title("original")
        axes[row, 1].imshow(class_overlay(augmented[row, ..., channel], augmented_classes[row]))
        axes[row, 1].set_title("augmented")
        for ax in axes[row]:
            ax.axis("off")
    fig.tight_layout()
    return fig
