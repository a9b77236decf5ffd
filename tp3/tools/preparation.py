"""BraTS cases -> the course layout (handout §3, Ex 1-4): ``python -m tp3 prepare``.

Input: a folder of BraTS cases, real or synthetic: BraTS 2019's
``<ID>/<ID>_{t1,t1ce,t2,flair,seg}.nii.gz`` (optionally under ``HGG/`` and ``LGG/``; grades
also read from BraTS's ``name_mapping.csv``), or another release (:mod:`tp3.tools.sources`).

Output under the course root:

* ``data/<ID>/<ID>_<modality>_<zzz>.nii.gz``: 77 slices of 96x96 for each of t1, t1ce,
  t2, flair (float32) and seg (uint8, labels {0,1,2,4}): exactly 77 x 5 files whose names
  sort by modality, then slice;
* ``datasets/{train,validation,test}.txt``: one patient ID a line, grades balanced,
  deterministic for a seed (``--patients N``: a subset of the release, grades in their shares);
* ``origin_data/<ID>/<ID>_{t1,t1ce,t2,flair,seg}.nii.gz``: the original volumes of 5
  validation patients (Ex 11-13).

Nothing is lost: the source is only read; one run at a time holds the course root
(:func:`tp3.files.exclusive`); each patient is written into a hidden folder, every file
checked whole, then renamed; a non-empty output is refused unless ``force``, which removes
only what the kit wrote (the manifest lists its cases) and lists the rest; a rerun after an
interruption (same source and seed) checks what it keeps and finishes the job.

Longer than the kit's other modules (about 480 lines) because those guarantees are one
sequence — read and check a case, write it whole, record it, resume — whose steps share the
manifest and its checks; the readers of each release's layout are apart (:mod:`.sources`).
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import layout
from ..data import read_image
from ..files import DamagedFileError, all_whole, atomic_folder, exclusive, verify_written, write_text_atomic
from ..layout import (COURSE_DATA_DIRS, DATA, DATASETS, LABEL_SUFFIX, MODALITIES, ORIGIN_DATA, PREPARE_MANIFEST, SPLITS,
                      VOLUMES, slice_name)
from ..preprocessing import COURSE_SHAPE, CROP, CROPPED_SHAPE, ORIGINAL_SHAPE, check_labels, resize_image, resize_labels
from ..settings import N_ORIGIN_PATIENTS, SEED, SPLIT_FRACTIONS
from .sources import LAYOUT_MSD, CaseError, SourceCase, find_cases, locate
from .workers import parallel

__all__ = ["CaseError", "SourceCase", "find_cases", "read_case", "read_case_folder", "prepare_case",
           "prepare", "split_patients", "read_manifest", "read_record", "write_record", "is_prepared"]

KEPT = {"README.md"}  # documentation committed in the output folders
_TMP = re.compile(r"^\..*\.tmp(\..*)?$")  # what an interrupted run leaves (tp3.files)
_KIT_FILE = re.compile(rf"^\.tp3-.*|{_TMP.pattern}")  # manifests, temporary files


@dataclass
class PrepareSummary:
    """What a preparation did; ``str()`` gives the summary the CLI prints."""

    root: Path
    prepared: list = field(default_factory=list)
    resumed: list = field(default_factory=list)
    skipped: list = field(default_factory=list)  # (case_id, message)
    splits: dict = field(default_factory=dict)
    origin: list = field(default_factory=list)
    others: list = field(default_factory=list)  # entries of the output folders the kit did not write

    def __str__(self) -> str:
        lines = [f"Course data in {self.root}",
                 f"  prepared {len(self.prepared)} case(s), kept {len(self.resumed)} from an "
                 f"earlier run, skipped {len(self.skipped)}"]
        lines += [f"  skipped {cid}: {msg}" for cid, msg in self.skipped]
        lines += [f"  {name}: {len(ids)} patients" for name, ids in self.splits.items()]
        lines.append(f"  origin_data: {len(self.origin)} patients ({', '.join(self.origin)})")
        if self.others:
            lines.append("  left in place, not written by the kit: "
                         + ", ".join(str(p.relative_to(self.root)) for p in self.others))
        return "\n".join(lines)


def read_case(case: SourceCase):
    """Read and check one case: ``({modality: array}, labels, reference_image)``.

    Arrays are ``(155, 240, 240)`` (z, y, x), images as stored (NaN or infinite voxels are
    refused: ITK would read them as 0), labels uint8 in {0,1,2,4} (mapped from the release's own labels); all five
    volumes must share size, spacing, origin and direction; every file must be whole.
    Raises :class:`CaseError` naming the file and the fault.
    """
    import SimpleITK as sitk

    if case.layout != LAYOUT_MSD and not any(case.folder.iterdir()):
        raise CaseError(f"{case.folder}: empty case folder")
    volumes, label_map = locate(case)
    files, arrays, reference = {}, {}, None
    for name in VOLUMES:
        volume = volumes[name]
        if volume.path not in files:  # a 4D file (MSD) is read once for its four channels
            try:
                files[volume.path] = read_image(volume.path)
            except (DamagedFileError, FileNotFoundError) as error:
                raise CaseError(str(error)) from None
            if name != LABEL_SUFFIX:
                _check_finite(volume.path)
        image = _channel(files[volume.path], volume)
        array = sitk.GetArrayFromImage(image)
        if array.shape != ORIGINAL_SHAPE:
            raise CaseError(f"{volume.path}: shape {array.shape[::-1]} (x, y, z), expected "
                            f"{ORIGINAL_SHAPE[::-1]} as in BraTS")
        if reference is None:
            reference = (volume.path, image)
        else:
            _check_same_geometry(reference, volume.path, image)
        arrays[name] = array
    labels = _course_labels(arrays.pop(LABEL_SUFFIX), label_map, volumes[LABEL_SUFFIX].path)
    return arrays, labels, reference[1]


def read_case_folder(folder):
    """:func:`read_case` for one case folder ``<ID>/<ID>_{t1,t1ce,t2,flair,seg}.nii.gz`` given by
    its path (grade unknown): ``({modality: array}, labels, reference_image)``, checked."""
    folder = Path(folder)
    return read_case(SourceCase(folder.name, folder))


def _channel(image, volume):
    """The 3D volume a :class:`~tp3.tools.sources.Volume` names (a channel of a 4D file)."""
    import SimpleITK as sitk

    if volume.channel is None:
        if image.GetDimension() != 3:
            raise CaseError(f"{volume.path}: {image.GetDimension()}D image, expected a 3D volume")
        return image
    size = image.GetSize()
    if image.GetDimension() != 4 or size[3] <= volume.channel:
        raise CaseError(f"{volume.path}: size {size}, expected 4D with 4 channels (MSD Task01)")
    return sitk.Extract(image, size[:3] + (0,), (0, 0, 0, volume.channel))


def _check_finite(path) -> None:
    """Refuse NaN or infinite voxels, which ITK reads as 0 without a word. Only a
    floating-point file can hold them; it is read a second time, by nibabel, to count them."""
    import nibabel as nib

    image = nib.load(path)
    if np.issubdtype(image.get_data_dtype(), np.floating):
        bad = int(np.count_nonzero(~np.isfinite(np.asanyarray(image.dataobj))))
        if bad:
            raise CaseError(f"{path}: {bad} voxel(s) are NaN or infinite; the kit does not guess "
                            "values for them: fix or remove this case")


def _course_labels(labels: np.ndarray, label_map: dict, path) -> np.ndarray:
    """The release's labels -> BraTS 2019's {0,1,2,4}, uint8, after checking them."""
    try:
        check_labels(labels, str(path), allowed=tuple(label_map))
    except ValueError as error:
        raise CaseError(str(error)) from None
    lookup = np.zeros(max(label_map) + 1, dtype=np.uint8)
    for source, course in label_map.items():
        lookup[source] = course
    return lookup[labels.astype(np.int64)]


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

    With the crop starting at 24 and a factor of 2 (192 -> 96), slice pixel ``(i, j)``
    covers original voxels ``24 + 2i, 24 + 2i + 1`` (same in y), so its centre lies at
    continuous index ``24.5 + 2i``.
    """
    spacing = reference.GetSpacing()
    factor = CROPPED_SHAPE[2] / COURSE_SHAPE[2]
    first_centre = CROP[2].start + (factor - 1) / 2, CROP[1].start + (factor - 1) / 2  # (x, y)
    origin = reference.TransformContinuousIndexToPhysicalPoint((*first_centre, 0.0))
    direction = np.reshape(reference.GetDirection(), (3, 3))[:2, :2].ravel()
    return (factor * spacing[0], factor * spacing[1]), tuple(origin[:2]), tuple(direction)


def prepare_case(case: SourceCase, data_dir: Path) -> Path:
    """Write the 77 x 5 slices of one case into ``data_dir/<ID>/`` atomically, each file
    checked whole before the folder is renamed into place."""
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
                path = tmp / slice_name(case.case_id, name, z)
                sitk.WriteImage(image, str(path), useCompression=True, compressionLevel=1,
                                imageIO="NiftiImageIO")
                verify_written(path)  # ITK does not always raise on a full disk
    return final


def is_prepared(folder: Path) -> bool:
    """True when ``folder`` holds the 77 x 5 slices of its patient, every file whole."""
    return all_whole(folder / slice_name(folder.name, name, z)
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


#: The fewest cases a course can have: one patient for each split.
MIN_PATIENTS = len(SPLITS)


def choose_patients(cases: list, n: int, seed: int = SEED) -> list:
    """``n`` of ``cases``, deterministic for a seed, each grade in its share of the release
    (largest remainders; a grade present keeps at least one case when ``n`` allows): a course
    of 300 cases of BraTS 2024 without copying files by hand. Returned in the release's order."""
    if not MIN_PATIENTS <= n <= len(cases):
        raise ValueError(f"--patients {n}: choose between {MIN_PATIENTS} (one patient for each of "
                         f"{', '.join(SPLITS)}) and {len(cases)}, the cases this release holds")
    by_grade = {}
    for case in cases:
        by_grade.setdefault(case.grade, []).append(case)
    grades = sorted(by_grade, key=str)
    shares = {g: n * len(by_grade[g]) / len(cases) for g in grades}
    counts = {g: int(shares[g]) for g in grades}
    for g in sorted(grades, key=lambda g: (counts[g] > 0, -(shares[g] - counts[g]), str(g))):
        if sum(counts.values()) == n:
            break
        counts[g] += 1
    rng = np.random.default_rng(seed)
    chosen = set()
    for g in grades:
        ids = sorted(case.case_id for case in by_grade[g])
        chosen.update(ids[i] for i in rng.permutation(len(ids))[:counts[g]])
    return [case for case in cases if case.case_id in chosen]


def _copy_original(case: SourceCase, origin_dir: Path) -> None:
    """``origin_data/<ID>/<ID>_<name>.nii.gz``: BraTS 2019's files are copied byte for byte;
    other layouts' volumes are written from what :func:`read_case` read (3D, labels mapped)."""
    import SimpleITK as sitk

    final = origin_dir / case.case_id
    if all_whole(final / layout.original_name(case.case_id, name) for name in VOLUMES):
        return
    sources = locate(case)[0]
    standard = all(v.channel is None and v.path.name == layout.original_name(case.case_id, name)
                   for name, v in sources.items())
    arrays = None if standard else read_case(case)
    with atomic_folder(final) as tmp:
        for name in VOLUMES:
            target = tmp / layout.original_name(case.case_id, name)
            if standard:
                try:
                    shutil.copyfile(sources[name].path, target)
                except OSError as error:  # its message would not name the file
                    raise OSError(error.errno, error.strerror, str(target)) from None
            else:
                images, labels, reference = arrays
                image = sitk.GetImageFromArray(labels if name == LABEL_SUFFIX else images[name])
                image.CopyInformation(reference)
                sitk.WriteImage(image, str(target), useCompression=True)
            verify_written(target)


def _is_within(path: Path, other: Path) -> bool:
    return path == other or other in path.parents


def _is_kit_entry(entry: Path, written: dict) -> bool:
    """Whether preparation wrote ``entry`` (an entry of data/, datasets/ or origin_data/).
    A case folder must be listed in the manifest (``written``: ``{"data": [...],
    "origin_data": [...]}``; a manifest of an older kit has no lists, then the names decide)
    and hold only the kit's file names. Symbolic links never are: what they point to is not
    ours to delete."""
    if entry.is_symlink():
        return False
    if _KIT_FILE.match(entry.name):
        return True
    if entry.parent.name == layout.DATASETS:
        return entry.is_file() and entry.name in {layout.split_name(s) for s in SPLITS}
    listed = written.get(entry.parent.name)
    if not entry.is_dir() or (listed is not None and entry.name not in listed):
        return False
    children = [c.name for c in entry.iterdir()]
    pattern = (layout.slice_pattern(entry.name) if entry.parent.name == layout.DATA
               else layout.original_pattern(entry.name))
    return bool(children) and all(pattern.match(c) for c in children)


def _output_entries(root: Path) -> tuple[list, list]:
    """``(the kit's entries, other entries)`` of the output folders (README files aside)."""
    written = read_manifest(root).get("written", {})
    ours, others = [], []
    for name in COURSE_DATA_DIRS:
        folder = root / name
        if folder.is_dir():
            for entry in sorted(folder.iterdir()):
                if entry.name not in KEPT:
                    (ours if _is_kit_entry(entry, written) else others).append(entry)
    return ours, others


def _check_output(root: Path, source: Path, seed: int, force: bool, subset: int | None = None) -> list:
    """Refuse overlapping source/output and an output holding earlier course data (unless
    resuming, or ``force``: then only the kit's entries are removed). Returns the entries
    the kit did not write (left in place)."""
    for name in COURSE_DATA_DIRS:
        out = root / name
        if _is_within(out, source) or _is_within(source, out):
            raise ValueError(f"{out} and the source {source} overlap; the source is never written "
                             "into: choose another --root")
    ours, others = _output_entries(root)
    leftovers = [e for e in ours if _KIT_FILE.match(e.name)]
    earlier = [e for e in ours if e not in leftovers]
    manifest = read_manifest(root)
    resumable = (manifest.get("status") == "running" and manifest.get("source") == str(source)
                 and manifest.get("seed") == seed and manifest.get("subset") == subset)
    if earlier and not resumable and not force:
        raise FileExistsError(f"{earlier[0].parent} holds course data ({earlier[0].name}...); pass "
                              f"--force to replace the course data in {root} (the source is never "
                              "touched; files the kit did not write are kept)")
    removable = ours if force else [e for e in leftovers if _TMP.match(e.name)]
    # The manifest goes last: until then a rerun still knows what this root holds.
    for entry in sorted(removable, key=lambda e: e.name == PREPARE_MANIFEST):
        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    return others


def read_record(root, record: str) -> dict:
    """One of the kit's records of a course root (:data:`tp3.layout.PREPARE_MANIFEST`,
    :data:`tp3.layout.SAMPLE_RECORD`), where this kit keeps it or where an older one did
    (``data/``); empty when neither is readable."""
    for path in (layout.record_path(root, record), layout.legacy_record_path(root, record)):
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            continue
    return {}


def write_record(root, record: str, content: dict) -> None:
    """Write a record atomically where this kit keeps it; an older kit's copy in ``data/`` goes."""
    write_text_atomic(layout.record_path(root, record), json.dumps(content, indent=2) + "\n")
    layout.legacy_record_path(root, record).unlink(missing_ok=True)


def read_manifest(root) -> dict:
    """The record of the last preparation in ``root`` (empty when there is none)."""
    return read_record(root, PREPARE_MANIFEST)


def missing_from(root, manifest: dict) -> list[str]:
    """What a finished preparation's ``manifest`` says it wrote but ``root`` no longer holds
    (a folder deleted from Colab's file browser, space freed): split lists, patient folders,
    original volumes, as paths relative to ``root``. Empty when all is there."""
    root = Path(root)
    gone = [f"{DATASETS}/{layout.split_name(split)}" for split in SPLITS if not layout.split_path(root, split).is_file()]
    written = manifest.get("written") or {}
    for patient in written.get(DATA, []):
        if not (root / DATA / patient).is_dir():
            gone.append(f"{DATA}/{patient}")
    for patient in written.get(ORIGIN_DATA, []):
        files = [root / ORIGIN_DATA / patient / layout.original_name(patient, volume) for volume in VOLUMES]
        if not all(f.is_file() for f in files):
            gone.append(f"{ORIGIN_DATA}/{patient}")
    return gone


def _prepare_job(job):
    case, data_dir = job
    try:
        prepare_case(case, data_dir)
        return case, None
    except CaseError as error:
        return case, str(error)


def prepare(brats_dir, root, seed: int = SEED, workers: int = 1, force: bool = False,
            strict: bool = False, progress: bool = True, patients: int | None = None) -> PrepareSummary:
    """Prepare every case of ``brats_dir`` (or ``patients`` of them, :func:`choose_patients`)
    into the course layout under ``root``.

    Bad cases are reported and skipped (``strict``: the first one stops the run with
    :class:`CaseError`); at least one patient per split must remain. Returns a
    :class:`PrepareSummary`. Holds ``root`` for the run (:func:`tp3.files.exclusive`).
    """
    source, root = Path(brats_dir).resolve(), Path(root).resolve()
    cases = find_cases(source)
    if patients is not None:
        cases = choose_patients(cases, patients, seed)
    with exclusive(root, f"prepare --brats {source}"):
        return _prepare_locked(cases, source, root, seed=seed, workers=workers, force=force, strict=strict,
                               progress=progress, subset=patients)


def _prepare_locked(cases, source: Path, root: Path, *, seed: int, workers: int, force: bool, strict: bool,
                    progress: bool, subset: int | None = None) -> PrepareSummary:
    from tqdm.auto import tqdm

    summary = PrepareSummary(root)
    summary.others = _check_output(root, source, seed, force, subset)
    data_dir = root / layout.DATA
    data_dir.mkdir(parents=True, exist_ok=True)
    summary.resumed = [c.case_id for c in cases if is_prepared(data_dir / c.case_id)]

    def record(status="running", **more):  # what the kit wrote, for a later --force
        written = {layout.DATA: sorted(summary.prepared + summary.resumed), layout.ORIGIN_DATA: summary.origin}
        write_record(root, PREPARE_MANIFEST, dict(status=status, source=str(source), seed=seed, subset=subset,
                                                  written=written, **more))

    record()
    todo = [c for c in cases if c.case_id not in summary.resumed]
    bar = tqdm(total=len(todo), desc="prepare", unit="case", disable=not progress)
    try:
        with parallel(_prepare_job, [(case, data_dir) for case in todo], workers) as results:
            _collect(results, summary, strict, bar, record)
    finally:
        bar.close()  # an error message then starts on a line of its own

    grades = {c.case_id: c.grade for c in cases
              if c.case_id in set(summary.prepared) | set(summary.resumed)}
    if len(grades) < len(SPLITS):
        skipped = f" ({len(summary.skipped)} skipped, named above)" if summary.skipped else ""
        raise CaseError(f"{source}: {len(grades)} of {len(cases)} case(s) could be prepared{skipped}; "
                        f"the course needs at least {len(SPLITS)}, one for each of {', '.join(SPLITS)}")
    summary.splits = split_patients(grades, seed)
    (root / layout.DATASETS).mkdir(exist_ok=True)
    for name, ids in summary.splits.items():
        write_text_atomic(layout.split_path(root, name), "".join(f"{pid}\n" for pid in ids))
    by_id = {c.case_id: c for c in cases}
    summary.origin = summary.splits["validation"][:N_ORIGIN_PATIENTS]
    record()
    origin_dir = root / layout.ORIGIN_DATA
    origin_dir.mkdir(exist_ok=True)
    for pid in summary.origin:
        _copy_original(by_id[pid], origin_dir)
    record("done", patients=len(grades), skipped=[list(s) for s in summary.skipped])
    return summary


def _collect(results, summary: PrepareSummary, strict: bool, bar, record) -> None:
    for case, error in results:
        bar.update()
        if error is None:
            summary.prepared.append(case.case_id)
            record()
            continue
        if strict:
            raise CaseError(error)
        summary.skipped.append((case.case_id, error))
        bar.write(f"skipped {case.case_id}: {error}")
    summary.prepared.sort()
    summary.skipped.sort()
