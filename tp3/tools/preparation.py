"""BraTS 2019 cases -> the course layout (handout §3, Ex 1-4): ``python -m tp3 prepare``.

Input: ``<brats>/<ID>/<ID>_{t1,t1ce,t2,flair,seg}.nii.gz`` (optionally under ``HGG/`` and
``LGG/``; grades also read from BraTS's ``name_mapping.csv``), real or synthetic.

Output under the course root:

* ``data/<ID>/<ID>_<modality>_<zzz>.nii.gz``: 77 slices of 96x96 for each of t1, t1ce,
  t2, flair (float32) and seg (uint8, labels {0,1,2,4}): exactly 77 x 5 files whose names
  sort by modality, then slice;
* ``datasets/{train,validation,test}.txt``: one patient ID a line, grades balanced,
  deterministic for a seed;
* ``origin_data/<ID>/``: the original volumes of 5 validation patients (Ex 11-13).

Nothing is lost: the source is only read; each patient is written into a temporary
folder and renamed; a non-empty output is refused unless ``force``; a rerun after an
interruption (same source and seed) finishes the job instead of starting over.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import shutil
import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from ..settings import LABEL_SUFFIX, MODALITIES, N_ORIGIN_PATIENTS, SEED, SPLIT_FRACTIONS
from ..files import atomic_folder, write_text_atomic
from ..preprocessing import COURSE_SHAPE, ORIGINAL_SHAPE, check_labels, resize_image, resize_labels

VOLUMES = MODALITIES + (LABEL_SUFFIX,)
OUTPUT_DIRS = ("data", "datasets", "origin_data")
MANIFEST = ".tp3-prepare.json"
GRADES = ("HGG", "LGG")
KEPT = {"README.md"}  # documentation committed in the output folders


class CaseError(ValueError):
    """A case that cannot be prepared; the message names the file and the fault."""


@dataclass(frozen=True)
class SourceCase:
    case_id: str
    folder: Path
    grade: str  # "HGG", "LGG" or "unknown"


@dataclass
class PrepareSummary:
    """What a preparation did; ``str()`` gives the summary the CLI prints."""

    root: Path
    prepared: list = field(default_factory=list)
    resumed: list = field(default_factory=list)
    skipped: list = field(default_factory=list)  # (case_id, message)
    splits: dict = field(default_factory=dict)
    origin: list = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"Course data in {self.root}",
                 f"  prepared {len(self.prepared)} case(s), kept {len(self.resumed)} from an "
                 f"earlier run, skipped {len(self.skipped)}"]
        lines += [f"  skipped {cid}: {msg}" for cid, msg in self.skipped]
        lines += [f"  {name}: {len(ids)} patients" for name, ids in self.splits.items()]
        lines.append(f"  origin_data: {len(self.origin)} patients ({', '.join(self.origin)})")
        return "\n".join(lines)


def volume_path(folder: Path, case_id: str, name: str) -> Path:
    """``<folder>/<ID>_<name>.nii.gz`` (``.nii`` accepted too)."""
    gz = folder / f"{case_id}_{name}.nii.gz"
    plain = folder / f"{case_id}_{name}.nii"
    return plain if not gz.exists() and plain.exists() else gz


def slice_name(case_id: str, name: str, z: int) -> str:
    """``<ID>_<modality>_<zzz>.nii.gz``: sorts by modality, then slice."""
    return f"{case_id}_{name}_{z:03d}.nii.gz"


def find_cases(brats_dir) -> list[SourceCase]:
    """Case folders under ``brats_dir`` (directly or in ``HGG/``/``LGG/``), sorted by ID."""
    brats_dir = Path(brats_dir)
    if not brats_dir.is_dir():
        raise FileNotFoundError(f"{brats_dir}: no such folder (expected BraTS 2019 case folders)")
    grades = _read_name_mapping(brats_dir)
    cases = []
    for parent in [brats_dir] + [brats_dir / g for g in GRADES if (brats_dir / g).is_dir()]:
        for folder in sorted(parent.iterdir()):
            if not folder.is_dir() or folder.name.startswith(".") or folder.name in GRADES:
                continue
            grade = parent.name if parent.name in GRADES else grades.get(folder.name, "unknown")
            cases.append(SourceCase(folder.name, folder, grade))
    if not cases:
        raise FileNotFoundError(f"{brats_dir}: empty, no case folders found "
                                "(expected <ID>/<ID>_t1.nii.gz ..., optionally under HGG/ and LGG/)")
    return sorted(cases, key=lambda c: c.case_id)


def _read_name_mapping(brats_dir: Path) -> dict:
    path = brats_dir / "name_mapping.csv"
    if not path.is_file():
        return {}
    with open(path, newline="") as handle:
        return {row["BraTS_2019_subject_ID"]: row["Grade"] for row in csv.DictReader(handle)
                if row.get("BraTS_2019_subject_ID") and row.get("Grade") in GRADES}


def read_case(case: SourceCase):
    """Read and check one case: ``({modality: array}, labels, reference_image)``.

    Arrays are ``(155, 240, 240)`` (z, y, x); labels are checked to be integers in
    {0,1,2,4}; all five volumes must share size, spacing, origin and direction.
    Raises :class:`CaseError` naming the file and the fault.
    """
    import SimpleITK as sitk

    if not any(case.folder.iterdir()):
        raise CaseError(f"{case.folder}: empty case folder")
    arrays, reference = {}, None
    for name in VOLUMES:
        path = volume_path(case.folder, case.case_id, name)
        if not path.is_file():
            raise CaseError(f"{path}: missing {name} volume")
        try:
            image = sitk.ReadImage(str(path))
            array = sitk.GetArrayFromImage(image)
        except RuntimeError as error:
            detail = str(error).strip().splitlines()[-1] if str(error).strip() else "read error"
            raise CaseError(f"{path}: unreadable or truncated NIfTI file ({detail})") from None
        _check_complete(path, image)
        if array.shape != ORIGINAL_SHAPE:
            raise CaseError(f"{path}: shape {array.shape[::-1]} (x, y, z), expected "
                            f"{ORIGINAL_SHAPE[::-1]} as in BraTS 2019")
        if reference is None:
            reference = (path, image)
        else:
            _check_same_geometry(reference, path, image)
        arrays[name] = array
    labels = arrays.pop(LABEL_SUFFIX)
    try:
        check_labels(labels, str(volume_path(case.folder, case.case_id, LABEL_SUFFIX)))
    except ValueError as error:
        raise CaseError(str(error)) from None
    return arrays, labels.astype(np.uint8), reference[1]


def read_case_folder(folder):
    """:func:`read_case` for one case folder ``<ID>/<ID>_{t1,t1ce,t2,flair,seg}.nii.gz`` given by
    its path (grade unknown): ``({modality: array}, labels, reference_image)``, checked."""
    folder = Path(folder)
    return read_case(SourceCase(folder.name, folder, "unknown"))


def _check_complete(path: Path, image) -> None:
    """Raise :class:`CaseError` if the file holds fewer bytes than its header announces.

    ITK silently fills a truncated ``.nii.gz`` with zeros, so the length is checked here:
    a gzip stream ends with its uncompressed size (mod 2^32); when that does not match
    the header, the stream is decompressed to tell a truncation from an unusual file.
    """
    expected = (int(float(image.GetMetaData("vox_offset")))
                + int(np.prod(image.GetSize())) * int(image.GetMetaData("bitpix")) // 8)
    if path.suffix != ".gz":
        if path.stat().st_size < expected:
            raise CaseError(f"{path}: truncated file ({path.stat().st_size} bytes, header "
                            f"announces {expected})")
        return
    with open(path, "rb") as handle:
        handle.seek(-4, os.SEEK_END)
        if int.from_bytes(handle.read(4), "little") == expected % 2 ** 32:
            return
    try:
        with gzip.open(path) as stream:
            size = sum(len(chunk) for chunk in iter(lambda: stream.read(1 << 22), b""))
    except (EOFError, OSError, zlib.error) as error:
        raise CaseError(f"{path}: unreadable or truncated NIfTI file ({error})") from None
    if size < expected:
        raise CaseError(f"{path}: truncated file ({size} bytes once decompressed, header "
                        f"announces {expected})")


def _check_same_geometry(reference, path, image) -> None:
    ref_path, ref = reference
    for what, getter in (("spacing", "GetSpacing"), ("origin", "GetOrigin"),
                         ("direction", "GetDirection")):
        a, b = getattr(ref, getter)(), getattr(image, getter)()
        if not np.allclose(a, b, atol=1e-3):
            raise CaseError(f"{path}: {what} {tuple(round(v, 4) for v in b)} differs from "
                            f"{ref_path.name} ({tuple(round(v, 4) for v in a)})")


def slice_geometry(reference):
    """Spacing, origin and direction of the 2D course slices, from the original image.

    Slice pixel ``(i, j)`` covers original voxels ``24 + 2i, 24 + 2i + 1`` (same in y), so
    its centre lies at continuous index ``24.5 + 2i``.
    """
    spacing = reference.GetSpacing()
    origin = reference.TransformContinuousIndexToPhysicalPoint((24.5, 24.5, 0.0))
    direction = np.reshape(reference.GetDirection(), (3, 3))[:2, :2].ravel()
    return (2 * spacing[0], 2 * spacing[1]), tuple(origin[:2]), tuple(direction)


def prepare_case(case: SourceCase, data_dir: Path) -> Path:
    """Write the 77 x 5 slices of one case into ``data_dir/<ID>/`` atomically."""
    import SimpleITK as sitk

    arrays, labels, reference = read_case(case)
    volumes = {name: resize_image(arrays[name]) for name in MODALITIES}
    volumes[LABEL_SUFFIX] = resize_labels(labels)
    spacing, origin, direction = slice_geometry(reference)
    final = data_dir / case.case_id
    with atomic_folder(final) as tmp:
        for name, volume in volumes.items():
            assert volume.shape == COURSE_SHAPE
            for z in range(COURSE_SHAPE[0]):
                image = sitk.GetImageFromArray(volume[z])
                image.SetSpacing(spacing)
                image.SetOrigin(origin)
                image.SetDirection(direction)
                sitk.WriteImage(image, str(tmp / slice_name(case.case_id, name, z)),
                                useCompression=True, compressionLevel=1, imageIO="NiftiImageIO")
    return final


def is_prepared(folder: Path) -> bool:
    """True when ``folder`` holds the complete 77 x 5 slices of its patient."""
    return folder.is_dir() and all(
        (folder / slice_name(folder.name, name, z)).is_file()
        for name in VOLUMES for z in range(COURSE_SHAPE[0]))


def split_patients(patients: dict, seed: int = SEED, fractions: dict = SPLIT_FRACTIONS) -> dict:
    """``{ID: grade}`` -> ``{"train": [...], "validation": [...], "test": [...]}``.

    Deterministic for a seed. Grades are balanced: patients of each grade are shuffled
    and interleaved evenly before the list is cut, so every split gets about the same
    HGG/LGG ratio. Validation and test get at least one patient when there are enough.
    """
    rng = np.random.default_rng(seed)
    keyed = []
    for grade in sorted(set(patients.values())):
        ids = sorted(pid for pid, g in patients.items() if g == grade)
        order = rng.permutation(len(ids))
        keyed += [((rank + 0.5) / len(ids), ids[i]) for rank, i in enumerate(order)]
    ordered = [pid for _, pid in sorted(keyed)]
    n = len(ordered)
    n_val = max(1, round(n * fractions["validation"])) if n >= 2 else 0
    n_test = max(1, round(n * fractions["test"])) if n >= 3 else 0
    return {"train": sorted(ordered[n_val + n_test:]),
            "validation": sorted(ordered[:n_val]),
            "test": sorted(ordered[n_val:n_val + n_test])}


def _copy_original(case: SourceCase, origin_dir: Path) -> None:
    final = origin_dir / case.case_id
    if final.is_dir() and all(volume_path(final, case.case_id, n).is_file() for n in VOLUMES):
        return
    with atomic_folder(final) as tmp:
        for name in VOLUMES:
            source = volume_path(case.folder, case.case_id, name)
            shutil.copy2(source, tmp / source.name)


def _is_within(path: Path, other: Path) -> bool:
    return path == other or other in path.parents


def _check_output(root: Path, source: Path, seed: int, force: bool) -> None:
    """Refuse overlapping source/output and non-empty outputs (unless resuming or ``force``)."""
    for name in OUTPUT_DIRS:
        out = root / name
        if _is_within(out, source) or _is_within(source, out):
            raise ValueError(f"{out} and the source {source} overlap; the source is never written "
                             "into: choose another --root")
    busy = [root / n for n in OUTPUT_DIRS if _own_entries(root / n)]
    if not busy:
        return
    manifest = _read_manifest(root)
    resumable = (manifest.get("status") == "running" and manifest.get("source") == str(source)
                 and manifest.get("seed") == seed)
    if resumable:
        return
    if not force:
        raise FileExistsError(f"{busy[0]} is not empty; pass --force to replace the course data "
                              f"in {root} (the source is never touched)")
    for name in OUTPUT_DIRS:
        for entry in _own_entries(root / name):
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def _own_entries(folder: Path) -> list[Path]:
    """What preparation wrote in an output folder (the kit's README files are not ours)."""
    if not folder.is_dir():
        return []
    return [entry for entry in folder.iterdir() if entry.name not in KEPT]


def _read_manifest(root: Path) -> dict:
    try:
        return json.loads((root / "data" / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}


def _write_manifest(root: Path, **content) -> None:
    write_text_atomic(root / "data" / MANIFEST, json.dumps(content, indent=2) + "\n")


def read_manifest(root) -> dict:
    """The record of the last preparation in ``root`` (empty when there is none)."""
    return _read_manifest(Path(root))


def _prepare_job(job):
    case, data_dir = job
    try:
        prepare_case(case, data_dir)
        return case, None
    except CaseError as error:
        return case, str(error)


def prepare(brats_dir, root, seed: int = SEED, workers: int = 1, force: bool = False,
            strict: bool = False, progress: bool = True) -> PrepareSummary:
    """Prepare every case of ``brats_dir`` into the course layout under ``root``.

    Bad cases are reported and skipped (``strict``: the first one stops the run with
    :class:`CaseError`). Returns a :class:`PrepareSummary`.
    """
    from tqdm.auto import tqdm

    source, root = Path(brats_dir).resolve(), Path(root).resolve()
    cases = find_cases(source)
    _check_output(root, source, seed, force)
    data_dir = root / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    _write_manifest(root, status="running", source=str(source), seed=seed)

    summary = PrepareSummary(root)
    summary.resumed = [c.case_id for c in cases if is_prepared(data_dir / c.case_id)]
    todo = [c for c in cases if c.case_id not in summary.resumed]

    bar = tqdm(total=len(todo), desc="prepare", unit="case", disable=not progress)
    jobs = [(case, data_dir) for case in todo]
    if workers <= 1 or len(jobs) <= 1:
        results = (_prepare_job(job) for job in jobs)
        _collect(results, summary, strict, bar)
    else:
        with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(_prepare_job, job) for job in jobs]
            try:
                _collect((f.result() for f in as_completed(futures)), summary, strict, bar)
            except CaseError:
                for future in futures:
                    future.cancel()
                raise
    bar.close()

    grades = {c.case_id: c.grade for c in cases
              if c.case_id in set(summary.prepared) | set(summary.resumed)}
    if not grades:
        raise CaseError(f"{source}: none of the {len(cases)} case(s) could be prepared")
    summary.splits = split_patients(grades, seed)
    datasets = root / "datasets"
    datasets.mkdir(exist_ok=True)
    for name, ids in summary.splits.items():
        write_text_atomic(datasets / f"{name}.txt", "".join(f"{pid}\n" for pid in ids))
    by_id = {c.case_id: c for c in cases}
    summary.origin = summary.splits["validation"][:N_ORIGIN_PATIENTS]
    origin_dir = root / "origin_data"
    origin_dir.mkdir(exist_ok=True)
    for pid in summary.origin:
        _copy_original(by_id[pid], origin_dir)
    _write_manifest(root, status="done", source=str(source), seed=seed,
                    patients=len(grades), skipped=[list(s) for s in summary.skipped])
    return summary


def _collect(results, summary: PrepareSummary, strict: bool, bar) -> None:
    for case, error in results:
        bar.update()
        if error is None:
            summary.prepared.append(case.case_id)
            continue
        if strict:
            raise CaseError(error)
        summary.skipped.append((case.case_id, error))
        bar.write(f"skipped {case.case_id}: {error}")
    summary.prepared.sort()
    summary.skipped.sort()
