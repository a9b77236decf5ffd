"""Training data: the prepared course layout -> normalised arrays in memory -> ``tf.data`` (Ex 7-9).

The per-slice NIfTI files of a split are read once (:func:`load_split`), normalised and
kept in memory as numpy arrays; batches are then served by ``tf.data`` (shuffle, batch,
optional augmentation, one-hot, prefetch), so no batch ever waits on NIfTI decoding.

Normalisation: per patient and per modality, a z-score over the brain voxels (voxels
where any modality is non-zero); the background stays exactly 0. This removes the
per-scanner intensity scale that BraTS (and the synthetic cases) carry.
"""

from __future__ import annotations

import numpy as np

from .config import N_CLASSES
from .data import load_patient, read_split
from .preprocessing import labels_to_classes


def brain_mask(images: np.ndarray) -> np.ndarray:
    """``(..., 4)`` images -> boolean ``(...)``: voxels where any modality is non-zero."""
    return np.any(images != 0, axis=-1)


def normalise(images: np.ndarray) -> np.ndarray:
    """One patient's images ``(77, 96, 96, 4)`` -> float32 z-scores per modality over the brain.

    Background (outside the brain) stays 0. A modality with a constant brain is only centred.
    """
    images = np.asarray(images, dtype=np.float32)
    brain = brain_mask(images)
    out = np.zeros_like(images)
    if not brain.any():
        return out
    for channel in range(images.shape[-1]):
        values = images[..., channel][brain]
        std = values.std()
        out[..., channel][brain] = (values - values.mean()) / (std if std > 0 else 1.0)
    return out


def load_split(split: str, root=None, progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """All slices of a split: images float32 ``(N, 96, 96, 4)`` normalised, classes uint8
    ``(N, 96, 96)`` in {0,1,2,3} (label 4 -> class 3), ``N = 77 x patients``. Ex 7."""
    from tqdm.auto import tqdm

    patients = read_split(split, root)
    if not patients:
        raise ValueError(f"the {split} split is empty: datasets/{split}.txt lists no patient; "
                         "rebuild the course data with more cases (python -m tp3 prepare)")
    images, classes = [], []
    for patient in tqdm(patients, desc=f"loading {split}", unit="patient", disable=not progress):
        try:
            x, y = load_patient(patient, root)
        except FileNotFoundError as error:
            raise FileNotFoundError(
                f"patient {patient} is listed in datasets/{split}.txt but its slices are missing "
                f"({error}); rebuild the course data or remove the line") from None
        images.append(normalise(x))
        classes.append(labels_to_classes(y))
    return np.concatenate(images), np.concatenate(classes)


def make_dataset(images: np.ndarray, classes: np.ndarray, batch_size: int, shuffle: bool,
                 augment: bool = False, seed: int = 0):
    """``tf.data.Dataset`` of ``(images (B, 96, 96, 4) float32, one-hot (B, 96, 96, 4) float32)``.

    Shuffled every epoch (deterministically for a seed) when ``shuffle``; augmented per
    batch with seeds drawn from ``tf.data.Dataset.random`` (new each epoch, same for the
    same seed) when ``augment``.
    """
    import tensorflow as tf

    from .augment import augment_batch

    if len(images) == 0:
        raise ValueError("no slices to train on: the split is empty")
    if images.shape[1:] != (96, 96, 4) or classes.shape != images.shape[:-1]:
        raise ValueError(f"expected images (N, 96, 96, 4) and classes (N, 96, 96), got "
                         f"{images.shape} and {classes.shape}")
    dataset = tf.data.Dataset.from_tensor_slices((images, classes))
    if shuffle:
        dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    if augment:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        dataset = tf.data.Dataset.zip((dataset, seeds)).map(
            lambda batch, pair: augment_batch(batch[0], batch[1], pair),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.map(lambda x, y: (x, tf.one_hot(tf.cast(y, tf.int32), N_CLASSES)),
                          num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)
