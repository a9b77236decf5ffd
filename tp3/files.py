"""Atomic writes: a reader sees the old file (or folder) or the new one, never half of one.

Two helpers serve the whole kit: :func:`atomic_file` for one file (split lists, manifests,
notebooks, exported NIfTI) and :func:`atomic_folder` for a folder written file by file
(a prepared patient, a synthetic case, copied originals).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path


@contextlib.contextmanager
def atomic_file(path, suffix: str = ""):
    """Yield a hidden temporary path beside ``path``; when the block ends without error it is
    renamed over ``path``, otherwise removed. ``suffix`` keeps an extension that a writer
    needs to choose its format (SimpleITK: ``".nii.gz"``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (:func:`atomic_file`). Returns ``path``."""
    with atomic_file(path) as tmp:
        tmp.write_text(text)
    return Path(path)


@contextlib.contextmanager
def atomic_folder(final):
    """Yield an empty hidden folder beside ``final``; when the block ends without error it
    replaces ``final`` (an older ``final`` is removed first), otherwise it is removed."""
    final = Path(final)
    tmp = final.with_name(f".{final.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
