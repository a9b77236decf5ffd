"""The record of a self-check's answer, for the grader (``python -m tp3 grade``).

When ``$TP3_GRADING_RECORD`` names a folder (the grader sets it in the kernel that runs a
submission), every self-check writes its answer there before judging it:
``<folder>/<grade_id>/answer.json`` and the files it names. The answer is data only —

* JSON values (lists, numbers, strings, dictionaries);
* numpy arrays, as ``.npy`` (read back with ``allow_pickle=False``);
* files and folders (a NIfTI, a log folder, a model file), copied; a path inside the course
  root is recorded relative to it, so the grader reads the course data from its own copy;
* Keras models of standard layers, as ``.keras`` archives (read back in Keras' safe mode);
* the course root itself, as a marker the grader replaces with its own root.

Nothing is pickled and no code crosses: the grader judges the record with the kit's own
judges (:data:`tp3.checks.common.JUDGES`), so a check replaced, silenced or patched in the
kernel records nothing (no points), and a forged record is judged as any answer.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np

from ..layout import COURSE_DATA_DIRS, course_root

ENV = "TP3_GRADING_RECORD"
ANSWER = "answer.json"
#: The grader refuses to read a record file above this size (a notebook's largest, Ex 4's
#: volume, is 36 MB).
MAX_FILE_BYTES = 256 * 2**20


class RecordError(ValueError):
    """A record the grader cannot read: its answer cannot be judged."""


def save(grade_id: str, answer: dict) -> None:
    """Write ``answer`` under ``$TP3_GRADING_RECORD/<grade_id>`` (nothing when it is unset)."""
    folder = os.environ.get(ENV)
    if not folder:
        return
    root = Path(answer.get("root") or course_root()).resolve()
    target, partial = Path(folder) / grade_id, Path(folder) / f".{grade_id}.partial"
    for old in (partial, target):
        shutil.rmtree(old, ignore_errors=True)
    partial.mkdir(parents=True)
    encoded = {name: _encode(name, value, partial, root) for name, value in answer.items()}
    (partial / ANSWER).write_text(json.dumps(encoded))
    partial.rename(target)


def _json_ready(value):
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(type(value).__name__)


def _encode(name: str, value, folder: Path, root: Path) -> dict:
    if name == "root":
        return {"root": True}
    if isinstance(value, Path):
        path = value.expanduser().resolve()
        relative = str(path.relative_to(root)) if path.is_relative_to(root) else None
        copy = folder / f"{name}.file"
        if path.is_dir():
            shutil.copytree(path, copy)
        elif path.is_file():
            shutil.copy2(path, copy)
        return {"path": relative, "copy": copy.name, "name": path.name}
    if isinstance(value, np.ndarray):
        if value.dtype != object:
            np.save(folder / f"{name}.npy", value, allow_pickle=False)
            return {"array": f"{name}.npy"}
    elif "keras" in sys.modules and isinstance(value, sys.modules["keras"].Model):  # keras is loaded when one exists
        value.save(folder / f"{name}.keras")
        return {"keras": f"{name}.keras"}
    try:
        return {"json": _json_ready(value)}
    except TypeError:
        return {"type": type(value).__name__}


def recorded(folder, grade_id: str) -> bool:
    return (Path(folder) / grade_id / ANSWER).is_file()


def _readable(path: Path) -> Path:
    if path.is_symlink() or not path.is_file():
        raise RecordError(f"{path.name} is missing")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise RecordError(f"{path.name} weighs {path.stat().st_size / 2**20:.0f} MB, above the "
                          f"{MAX_FILE_BYTES // 2**20} MB a recorded answer may")
    return path


def _inside(folder: Path, name: str) -> Path:
    path = (folder / name).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise RecordError(f"{name!r} points outside the record")
    return path


def load(folder, grade_id: str, root) -> dict:
    """The answer recorded for ``grade_id`` in ``folder``, with the course root and the course
    files it names taken from ``root`` (the grader's copy). Raises :class:`RecordError`."""
    folder, root = Path(folder) / grade_id, Path(root).resolve()
    for parent, dirs, files in os.walk(folder):  # a link could point the grader anywhere
        links = [name for name in dirs + files if os.path.islink(os.path.join(parent, name))]
        if links:
            raise RecordError(f"the record holds a link ({links[0]}): not an answer the kit writes")
    try:
        encoded = json.loads(_readable(folder / ANSWER).read_text())
    except ValueError as error:
        raise RecordError(f"{ANSWER} is not JSON ({error})") from None
    if not isinstance(encoded, dict):
        raise RecordError(f"{ANSWER} holds no answer")
    return {str(name): _decode(value, folder, root) for name, value in encoded.items()}


def _decode(value, folder: Path, root: Path):
    if not isinstance(value, dict) or len(set(value) & {"root", "path", "array", "keras", "json", "type"}) != 1:
        raise RecordError(f"an entry of {ANSWER} is not one the kit writes")
    if "root" in value:
        return root
    if "json" in value:
        return value["json"]
    if "type" in value:  # an object the check could not record: judged by its type's name
        return type(str(value["type"]), (), {})()
    if "array" in value:
        return np.load(_readable(_inside(folder, value["array"])), allow_pickle=False)
    if "keras" in value:
        import keras

        return keras.saving.load_model(_readable(_inside(folder, value["keras"])), compile=False, safe_mode=True)
    relative = value.get("path")
    if isinstance(relative, str):
        course_file = (root / relative).resolve()
        if course_file.is_relative_to(root) and course_file.exists() and _course_data(relative):
            return course_file
    copy = _inside(folder, str(value.get("copy")))
    if copy.is_symlink():
        raise RecordError(f"{copy.name} is a link")
    if copy.is_file():
        _readable(copy)
    # the copy keeps the file's own name: readers that go by suffix (.nii.gz, .weights.h5) still can
    named = copy.parent / "named" / str(value.get("copy")) / Path(str(value.get("name"))).name
    if copy.exists() and not named.exists():
        named.parent.mkdir(parents=True, exist_ok=True)
        named.symlink_to(copy)
    return named


def _course_data(relative: str) -> bool:
    """A path into the course data (read from the grader's copy); a notebook's own outputs
    (runs, predictions) are read from the record."""
    return Path(relative).parts[:1] != () and Path(relative).parts[0] in COURSE_DATA_DIRS
