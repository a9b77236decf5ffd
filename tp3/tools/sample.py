"""The default course sample: synthetic cases, prepared, in the course root.

One call, :func:`ensure_sample`, used by ``make demo``, the notebooks' setup cell and
the tests. It does nothing when the course data is already complete (whatever made it:
instructors' real BraTS data is never replaced), and finishes an interrupted build.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from . import preparation
from . import synth
from .. import layout
from ..files import exclusive
from ..layout import SAMPLE_CACHE, course_root
from ..runtime import default_workers, sample_patients
from ..settings import SEED


def ensure_sample(root=None, n_patients: int | None = None, seed: int = SEED,
                  workers: int | None = None, progress: bool = True) -> Path:
    """Build ``n_patients`` synthetic cases (default :func:`tp3.runtime.sample_patients`)
    into the course layout under ``root`` unless complete course data is there already.
    Returns the root. Idempotent. A sample made by an earlier generator, or of another size
    than the one asked for, is kept (runs and logs depend on it) with a notice saying how
    to rebuild it."""
    root = Path(root) if root is not None else course_root()
    _move_legacy_records(root)
    manifest = preparation.read_manifest(root)
    gone = preparation.missing_from(root, manifest) if manifest.get("status") == "done" else []
    if gone and not _ours(manifest):
        raise FileNotFoundError(
            f"{root}: its course data is recorded as complete ({layout.PREPARE_MANIFEST}) but {len(gone)} of its "
            f"entries are gone ({', '.join(gone[:3])}{'...' if len(gone) > 3 else ''}): prepare it again, "
            f"python -m tp3 prepare --brats <the BraTS folder> --root {root} --force")
    if gone:
        print(f"The course data in {root} lacks {', '.join(gone[:3])}{'...' if len(gone) > 3 else ''} "
              "(deleted?): building the sample again.")
    if manifest.get("status") != "done" or gone:  # complete data may be read-only
        with exclusive(root, "sample (the course data)"):
            _ensure_sample_locked(root, n_patients, seed, workers, progress, rebuild=bool(gone))
    _notice_if_outdated(root, preparation.read_manifest(root), n_patients or sample_patients())
    return root


def _move_legacy_records(root: Path) -> None:
    """Course data made by a kit before December 2026 kept its records in ``data/``, where Ex 2
    lists the patients: move them to the root (a read-only root keeps them where they are)."""
    for record in (layout.PREPARE_MANIFEST, layout.SAMPLE_RECORD):
        legacy = layout.legacy_record_path(root, record)
        if legacy.is_file() and not layout.record_path(root, record).exists():
            try:
                os.replace(legacy, layout.record_path(root, record))
            except OSError:
                pass


def _ours(manifest: dict) -> bool:
    """Course data this module built (not an instructor's BraTS, never rebuilt behind their back)."""
    return str(manifest.get("source", "")).endswith(SAMPLE_CACHE)


def _ensure_sample_locked(root: Path, n_patients, seed, workers, progress, rebuild: bool = False) -> None:
    manifest = preparation.read_manifest(root)
    if manifest.get("status") == "done" and not (rebuild and preparation.missing_from(root, manifest)):
        return  # built while we waited
    n_patients = n_patients or sample_patients()
    workers = workers or default_workers()
    source = root / SAMPLE_CACHE
    recipe = json.dumps({"patients": n_patients, "seed": seed})
    marker = source / ".sample.json"
    if (not marker.is_file() or marker.read_text() != recipe
            or not (source / synth.RECORD).is_file()):
        shutil.rmtree(source, ignore_errors=True)  # ours, from another size, seed or kit version
        source.mkdir(parents=True)
        marker.write_text(recipe)
    synth.generate(source, n_patients, seed, workers=workers, progress=progress)
    # force: what is left of our earlier sample is replaced (files the kit did not write are kept)
    summary = preparation.prepare(source, root, seed=seed, workers=workers, progress=progress, force=rebuild)
    if summary.skipped:
        raise RuntimeError(f"the synthetic sample has bad cases: {summary.skipped}")
    # The originals needed later were copied to origin_data/; the rest is rebuilt on demand.
    shutil.rmtree(source)
    preparation.write_record(root, layout.SAMPLE_RECORD,
                             {"generator": synth.GENERATOR_VERSION, "patients": n_patients, "seed": seed})


def _notice_if_outdated(root: Path, manifest: dict, wanted: int) -> None:
    if not _ours(manifest):
        return  # real data, or cases an instructor made: not ours to judge
    generator = preparation.read_record(root, layout.SAMPLE_RECORD).get("generator", "v1")
    folders = [str(root / name) for name in layout.COURSE_DATA_DIRS]
    rebuild = (f"To rebuild it: make clean-data (or delete {', '.join(folders[:-1])} and {folders[-1]} "
               "but their README.md), then rerun.")
    if generator != synth.GENERATOR_VERSION:
        print(f"Note: the course data in {root} was made by the synthetic generator {generator}; "
              f"this kit has {synth.GENERATOR_VERSION}. {rebuild}")
    patients = manifest.get("patients")
    if patients is not None and patients != wanted:
        kind = "a smaller sample, e.g. CI's smoke sample" if patients < wanted else "a larger sample"
        print(f"Note: keeping the {patients} synthetic cases in {root} ({kind}); {wanted} were asked "
              f"for. {rebuild}")

