"""Cases on disk: one case folder in the BraTS 2019 layout, and ``generate``, which fills an output
folder with cases side by side (resumable, one run at a time, never mixing two seeds)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

from ...files import all_whole, atomic_file, atomic_folder, exclusive, verify_written, write_text_atomic
from ...layout import LABEL_SUFFIX, VOLUMES, original_name
from .cases import SyntheticCase, synthesize_case
from .recipe import DIRECTION, GENERATOR_VERSION, ID_PREFIX, ORIGIN, SPACING, case_grade, case_id


def _to_sitk(array):
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(array)
    image.SetSpacing(SPACING)
    image.SetOrigin(ORIGIN)
    image.SetDirection(DIRECTION)
    return image


def write_case(case: SyntheticCase, out_dir: Path) -> Path:
    """Write ``out_dir/<ID>/<ID>_{t1,t1ce,t2,flair,seg}.nii.gz`` atomically (tmp folder + rename)."""
    import SimpleITK as sitk

    final = Path(out_dir) / case.case_id
    volumes = dict(case.images, **{LABEL_SUFFIX: case.labels})
    with atomic_folder(final) as tmp:
        for name, array in volumes.items():
            # Level 1: these volumes are written once and read a few times; speed wins.
            path = tmp / original_name(case.case_id, name)
            sitk.WriteImage(_to_sitk(array), str(path), useCompression=True, compressionLevel=1)
            verify_written(path)
    return final


def _make_and_write(job):
    seed, index, out_dir = job
    case = synthesize_case(seed, index)
    write_case(case, out_dir)
    return case.case_id, case.grade


#: Which seed and generator wrote the cases of an output folder (never two in one folder).
RECORD = ".tp3-synth.json"


def generate(out_dir, n_patients: int, seed: int, workers: int = 1, force: bool = False,
             progress: bool = True) -> list[tuple[str, str]]:
    """Write ``n_patients`` cases into ``out_dir`` (BraTS 2019 layout) and ``name_mapping.csv``.

    Refuses an ``out_dir`` holding anything but this generator's cases for this seed unless
    ``force`` (which replaces the generator's cases and keeps anything else); finished cases
    are kept and checked whole (a rerun completes an interrupted run). One run at a time
    holds ``out_dir``. Returns ``[(case_id, grade), ...]``.
    """
    from tqdm.auto import tqdm

    from ..workers import parallel

    out_dir = Path(out_dir)
    if isinstance(n_patients, bool) or not isinstance(n_patients, int) or n_patients < 1:
        raise ValueError(f"--patients must be at least 1, got {n_patients!r}")
    with exclusive(out_dir, f"synth --out {out_dir}"):
        _check_out_dir(out_dir, n_patients, seed, force)
        write_text_atomic(out_dir / RECORD, json.dumps({"generator": GENERATOR_VERSION, "seed": seed}) + "\n")
        done = {i for i in range(1, n_patients + 1) if _complete_case(out_dir / case_id(i))}
        jobs = [(seed, i, out_dir) for i in range(1, n_patients + 1) if i not in done]
        results = [(case_id(i), case_grade(i)) for i in sorted(done)]
        bar = tqdm(total=len(jobs), desc="synth", unit="case", disable=not progress)
        try:
            with parallel(_make_and_write, jobs, workers) as made:
                for result in made:
                    results.append(result)
                    bar.update()
        finally:
            bar.close()  # an error message then starts on a line of its own
        results.sort()
        _write_name_mapping(out_dir, results)
    return results


def _check_out_dir(out_dir: Path, n_patients: int, seed: int, force: bool) -> None:
    wanted = {case_id(i) for i in range(1, n_patients + 1)}
    entries = [p for p in out_dir.iterdir() if not p.name.startswith(".") and p.name != "name_mapping.csv"]
    foreign = sorted(p.name for p in entries if p.name not in wanted)
    try:
        record = json.loads((out_dir / RECORD).read_text())
    except (OSError, ValueError):
        record = {"generator": GENERATOR_VERSION, "seed": seed} if not entries else {}
    other_run = record != {"generator": GENERATOR_VERSION, "seed": seed}
    if force:
        for entry in entries:  # the generator's case folders only, by their names
            if entry.is_dir() and not entry.is_symlink() and _is_case_name(entry.name):
                shutil.rmtree(entry)
        for entry in out_dir.glob(".*.tmp"):
            shutil.rmtree(entry, ignore_errors=True)
        return
    if foreign:
        raise FileExistsError(
            f"{out_dir} already holds {len(foreign)} other entries (e.g. {foreign[0]}); "
            "choose an empty folder or pass --force (which replaces the synthetic cases only)")
    if entries and other_run:
        made_by = (f"seed {record['seed']} of generator {record['generator']}" if record
                   else "an unknown seed")
        raise FileExistsError(
            f"{out_dir} holds cases made with {made_by}, not seed {seed} of {GENERATOR_VERSION}; "
            "one folder never mixes two: choose another folder or pass --force to replace them")


def _is_case_name(name: str) -> bool:
    return name.startswith(ID_PREFIX) and name[len(ID_PREFIX):].isdigit()


def _complete_case(folder: Path) -> bool:
    return all_whole(folder / original_name(folder.name, volume) for volume in VOLUMES)


def _write_name_mapping(out_dir: Path, cases) -> None:
    """BraTS 2019's ``name_mapping.csv`` (Grade, BraTS_2019_subject_ID): grades for the split."""
    with atomic_file(out_dir / "name_mapping.csv") as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Grade", "BraTS_2019_subject_ID"])
        for cid, grade in cases:
            writer.writerow([grade, cid])
