"""The network's input at any course size (Ex 7 and 9 on a big course): each split read once.

``load_split`` holds a split in memory as float32: 11.4 MB per patient, so BraTS 2019's 335
patients already need more than Colab's 12.7 GB. Here each split's slices are read once
through :func:`tp3.data.load_image` (the network's one input path) into two files next to
the course data, ``ROOT/.tp3_cache/slices/<split>.images.npy`` (float16 ``(N, 96, 96, 4)``,
normalised) and ``<split>.classes.npy`` (uint8 ``(N, 96, 96)`` in {0,1,2,3}), with a
manifest ``<split>.json``. :func:`tp3.training.stream_dataset` reads them batch by batch
(one read per slice, the page cache doing the rest), so training memory does not grow
with the course. The manifest records what the arrays were built from (the split's
patients, the size and time of every slice file, :data:`tp3.preprocessing.VERSION`) and a
digest of the arrays: a cache that no longer matches is rebuilt with a one-line message, a
truncated or foreign array file is never used.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import multiprocessing
import os
import shutil
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import data, layout, preprocessing
from .files import atomic_file, exclusive, write_text_atomic
from .preprocessing import COURSE_SHAPE
from .runtime import default_workers

#: Bumped when the files' layout changes (the preprocessing has its own: tp3.preprocessing.VERSION).
CACHE_FORMAT = 1
IMAGE_DTYPE, CLASS_DTYPE = np.dtype("float16"), np.dtype("uint8")
SLICE_SHAPE = COURSE_SHAPE[1:] + (len(layout.MODALITIES),)
#: Blocks hashed to tell one array file from another of the same size (cheap at any size).
DIGEST_BLOCKS, DIGEST_BLOCK_BYTES = 32, 1 << 16


class CacheError(ValueError):
    """A cache file that cannot be trusted (truncated, foreign); the message names it."""


@dataclass(frozen=True)
class CachedSplit:
    """One split in the cache: ``count`` slices of ``patients`` (77 each, in the split's order)."""

    split: str
    patients: tuple
    images_path: Path
    classes_path: Path
    count: int
    images_offset: int  # where each file's data starts (after its .npy header)
    classes_offset: int

    def images(self) -> np.ndarray:
        """float16 ``(N, 96, 96, 4)``, memory-mapped (read-only): index it, do not copy it whole."""
        return np.load(self.images_path, mmap_mode="r")

    def classes(self, mmap: bool = False) -> np.ndarray:
        """uint8 ``(N, 96, 96)`` in {0,1,2,3}: read whole (9 KB a slice), or memory-mapped (read-only)."""
        return np.load(self.classes_path, mmap_mode="r" if mmap else None)

    def read(self, indices) -> tuple[np.ndarray, np.ndarray]:
        """Slices ``indices`` as the network takes them: images float32 ``(n, 96, 96, 4)``, classes
        uint8 ``(n, 96, 96)``."""
        indices = np.asarray(indices, dtype=np.int64)
        images = read_rows(self.images_path, self.images_offset, indices, SLICE_SHAPE, IMAGE_DTYPE)
        return (images.astype(np.float32),
                read_rows(self.classes_path, self.classes_offset, indices, COURSE_SHAPE[1:], CLASS_DTYPE))


def cache_folder(root) -> Path:
    return Path(root) / layout.SLICE_CACHE


def _paths(root, split: str) -> tuple[Path, Path, Path]:
    folder = cache_folder(root)
    return folder / f"{split}.images.npy", folder / f"{split}.classes.npy", folder / f"{split}.json"


def preprocessing_version() -> str:
    """What keys a cache to the preprocessing that built it: the cache's format and
    :data:`tp3.preprocessing.VERSION` (bumped with any change to what ``load_image`` returns,
    which a golden test enforces: editing a comment rebuilds nothing)."""
    return f"{CACHE_FORMAT}.{preprocessing.VERSION}"


def slices_fingerprint(patients, root) -> str:
    """A hash of the name, size and modification time of every file of the patients' folders."""
    digest = hashlib.sha256()
    for patient in patients:
        folder = data.patient_dir(patient, root)
        digest.update(f"{patient}\n".encode())
        with os.scandir(folder) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                stat = entry.stat()
                digest.update(f"{entry.name} {stat.st_size} {stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def array_digest(path: Path) -> str:
    """Size, header and evenly spaced blocks of an array file, hashed."""
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as handle:
        for offset in np.linspace(0, max(size - DIGEST_BLOCK_BYTES, 0), DIGEST_BLOCKS).astype(np.int64):
            handle.seek(int(offset))
            digest.update(handle.read(DIGEST_BLOCK_BYTES))
    return digest.hexdigest()


def _header(path: Path) -> tuple[tuple, np.dtype, int]:
    """``(shape, dtype, data offset)`` of a ``.npy`` file, or :class:`CacheError` naming it."""
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read_header(handle)
            offset = handle.tell()
    except (ValueError, EOFError) as error:
        raise CacheError(f"{path}: not an array file of the kit's cache ({error})") from None
    if fortran:
        raise CacheError(f"{path}: not an array file of the kit's cache (Fortran order)")
    return tuple(shape), np.dtype(dtype), offset


def check_array(path: Path, shape: tuple, dtype: np.dtype) -> int:
    """Raise :class:`CacheError` naming ``path`` unless it holds a whole ``shape`` array of
    ``dtype``; returns the offset of its data."""
    found_shape, found_dtype, offset = _header(path)
    if found_shape != tuple(shape) or found_dtype != dtype:
        raise CacheError(f"{path}: holds a {found_dtype} array {found_shape}, the cache's manifest "
                         f"expects {dtype} {tuple(shape)}")
    expected = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    size = path.stat().st_size
    if size != expected:
        raise CacheError(f"{path}: {'truncated' if size < expected else 'too long'} ({size} bytes, "
                         f"{expected} expected)")
    return offset


def read_rows(path: Path, offset: int, indices: np.ndarray, row_shape: tuple, dtype: np.dtype) -> np.ndarray:
    """Rows ``indices`` of the ``.npy`` array at ``path`` (its data from byte ``offset``), one
    read each: nothing of the file is mapped into this process, so reading an epoch does
    not grow its memory."""
    row_bytes = int(np.prod(row_shape)) * dtype.itemsize
    out = np.empty((len(indices),) + tuple(row_shape), dtype=dtype)
    buffer = memoryview(out.reshape(-1).view(np.uint8))
    with open(path, "rb", buffering=0) as handle:
        for row, index in enumerate(indices):
            handle.seek(offset + int(index) * row_bytes)
            if handle.readinto(buffer[row * row_bytes:(row + 1) * row_bytes]) != row_bytes:
                raise CacheError(f"{path}: truncated (row {int(index)} is not whole)")
    return out


def _trusted(split, patients, root, manifest: dict) -> tuple[str, tuple]:
    """Why the cache described by ``manifest`` cannot serve (empty: it can), and the offsets of
    its two arrays' data."""
    images_path, classes_path, _ = _paths(root, split)
    if manifest.get("format") != CACHE_FORMAT or manifest.get("preprocessing") != preprocessing_version():
        return "the kit's preprocessing changed", ()
    if manifest.get("patients") != list(patients):
        return f"datasets/{layout.split_name(split)} changed", ()
    if manifest.get("slices") != slices_fingerprint(patients, root):
        return "slice files changed", ()
    count = manifest["count"]
    try:
        offsets = (check_array(images_path, (count,) + SLICE_SHAPE, IMAGE_DTYPE),
                   check_array(classes_path, (count,) + COURSE_SHAPE[1:], CLASS_DTYPE))
    except FileNotFoundError as error:
        return f"{error.filename} is missing", ()
    if manifest.get("digests") != [array_digest(images_path), array_digest(classes_path)]:
        return (f"{images_path} or {classes_path} is not the array its manifest describes "
                "(a file from elsewhere?)"), ()
    return "", offsets


def split_cache(split: str, root=None, progress: bool = True) -> CachedSplit:
    """The split's slices in the cache, built (or rebuilt, saying why) when it does not match the
    course data. Ex 7/9's training data at any course size (:func:`tp3.training.stream_dataset`)."""
    root = Path(root) if root is not None else layout.course_root()
    patients = tuple(data.read_split(split, root))
    if not patients:
        raise ValueError(f"the {split} split is empty: datasets/{layout.split_name(split)} lists no patient; "
                         "rebuild the course data with more cases (python -m tp3 prepare)")
    images_path, classes_path, manifest_path = _paths(root, split)
    # Another process building the same cache (a second worker, Ex 9 beside a CLI run): wait for it.
    with exclusive(cache_folder(root), f"checking or building the {split} cache", wait=True):
        try:
            manifest = json.loads(manifest_path.read_text())
            reason, offsets = _trusted(split, patients, root, manifest)
        except FileNotFoundError:
            manifest, reason = None, ""
        except (ValueError, KeyError, TypeError, CacheError) as error:
            manifest, reason = {}, str(error) or f"{manifest_path} is damaged"
        if manifest and not reason:
            return CachedSplit(split, patients, images_path, classes_path, manifest["count"], *offsets)
        if manifest is not None:
            print(f"Rebuilding the {split} cache in {cache_folder(root)}: {reason}")
        return _build(split, patients, root, progress)


def _build(split, patients, root, progress) -> CachedSplit:
    from tqdm.auto import tqdm

    images_path, classes_path, manifest_path = _paths(root, split)
    manifest_path.unlink(missing_ok=True)  # the arrays below are about to change
    fingerprint = slices_fingerprint(patients, root)  # before reading: a change meanwhile rebuilds
    count = len(patients) * COURSE_SHAPE[0]
    needed = count * (int(np.prod(SLICE_SHAPE)) * IMAGE_DTYPE.itemsize + int(np.prod(COURSE_SHAPE[1:])))
    free = shutil.disk_usage(cache_folder(root)).free
    if needed > free:
        raise OSError(errno.ENOSPC, f"the {split} cache needs {needed / 1e9:.1f} GB in {cache_folder(root)}, "
                      f"{free / 1e9:.1f} GB are free; free some space, then rerun")

    with atomic_file(images_path) as images_tmp, atomic_file(classes_path) as classes_tmp, \
            open(images_tmp, "wb") as images_file, open(classes_tmp, "wb") as classes_file:
        try:
            np.lib.format.write_array_header_1_0(images_file, _npy_header((count,) + SLICE_SHAPE, IMAGE_DTYPE))
            np.lib.format.write_array_header_1_0(classes_file,
                                                 _npy_header((count,) + COURSE_SHAPE[1:], CLASS_DTYPE))
            # Processes, not threads: reading slice files is mostly Python (nibabel), which
            # threads would take turns at.
            read = functools.partial(load_patient, root=str(root), split=split)
            for images, classes in tqdm(in_order(read, patients, processes=True), total=len(patients),
                                        unit="patient", desc=f"caching {split}", disable=not progress):
                images_file.write(images.tobytes())
                classes_file.write(classes.tobytes())
            for handle in (images_file, classes_file):
                handle.flush()
                os.fsync(handle.fileno())  # a full disk shows here at the latest, not in a later read
        except OSError as error:
            if error.filename:  # a slice file's own error names it
                raise
            raise OSError(error.errno, f"writing the {split} cache in {cache_folder(root)} failed "
                          f"({error.strerror}); nothing of it is kept", str(cache_folder(root))) from None
    digests = [array_digest(images_path), array_digest(classes_path)]
    write_text_atomic(manifest_path, json.dumps({
        "format": CACHE_FORMAT, "preprocessing": preprocessing_version(), "split": split,
        "patients": list(patients), "count": count, "slices": fingerprint, "digests": digests}, indent=1) + "\n")
    offsets = (check_array(images_path, (count,) + SLICE_SHAPE, IMAGE_DTYPE),
               check_array(classes_path, (count,) + COURSE_SHAPE[1:], CLASS_DTYPE))
    return CachedSplit(split, patients, images_path, classes_path, count, *offsets)


def in_order(function, items, workers: int | None = None, processes: bool = False):
    """``function(item)`` for each item, computed by ``workers`` threads (or processes) side by
    side, yielded in order; at most two results per worker wait at any time (``Executor.map``
    would compute them all ahead, holding the whole course in memory). Processes are spawned,
    not forked: the caller may hold TensorFlow's threads."""
    workers = workers or default_workers()
    items = list(items)
    if processes and workers > 1:
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    else:
        pool = ThreadPoolExecutor(workers)
    with pool:
        pending = [pool.submit(function, item) for item in items[:2 * workers]]
        for index in range(len(items)):
            result = pending.pop(0).result()
            if index + 2 * workers < len(items):
                pending.append(pool.submit(function, items[index + 2 * workers]))
            yield result


def load_patient(patient: str, root, split: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One patient as the cache stores it: :func:`tp3.data.read_patient`'s arrays, images as
    float16 ``(77, 96, 96, 4)``, classes uint8 ``(77, 96, 96)``."""
    images, classes = data.read_patient(patient, root, split)
    return images.astype(IMAGE_DTYPE), classes.astype(CLASS_DTYPE)


def _npy_header(shape, dtype) -> dict:
    return {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": tuple(shape)}
