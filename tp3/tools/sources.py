"""Where each BraTS release keeps a case's volumes, and how its labels map to the course's.

``python -m tp3 prepare --brats DIR`` reads any of these layouts (found by what ``DIR`` holds):

* **BraTS 2017-2022** (2019 is the handout's): ``<ID>/<ID>_{t1,t1ce,t2,flair,seg}.nii[.gz]``,
  optionally under ``HGG/`` and ``LGG/``; labels 1 NCR/NET, 2 edema, 4 enhancing. Name
  variants are accepted: any case, ``t1Gd`` or ``t1c`` for ``t1ce``, and 2020's case 355
  whose labels are named ``W39_1998.09.19_Segm.nii``.
* **BraTS 2023/2024** (GLI): ``<ID>/<ID>-{t1n,t1c,t2w,t2f,seg}.nii.gz``; labels 1 NETC,
  2 SNFH, 3 ET, mapped to 1, 2, 4.
* **Medical Segmentation Decathlon, Task01_BrainTumour**: ``imagesTr/<ID>.nii.gz``, 4D with
  the channels FLAIR, T1w, T1gd, T2w (``dataset.json`` confirms the order when present), and
  ``labelsTr/<ID>.nii.gz`` with 1 edema, 2 non-enhancing tumour, 3 enhancing, mapped to 2, 1, 4.

The same case stored in any of them gives byte-identical course data (tested).
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path

from .. import layout
from ..layout import LABEL_SUFFIX, MODALITIES, VOLUMES

GRADES = ("HGG", "LGG")

#: The last ``_``/``-`` separated word of a file name -> the course's volume name.
NAME_WORDS = {"t1": "t1", "t1n": "t1", "t1w": "t1",
              "t1ce": "t1ce", "t1gd": "t1ce", "t1c": "t1ce",
              "t2": "t2", "t2w": "t2", "flair": "flair", "t2f": "flair",
              "seg": "seg", "segm": "seg"}
GLI_WORDS = {"t1n", "t2w", "t2f"}  # only BraTS 2023/2024 names its files so

#: Source label -> BraTS 2019 label (the course's), per release.
LABELS_2017 = {0: 0, 1: 1, 2: 2, 4: 4}
LABELS_2023 = {0: 0, 1: 1, 2: 2, 3: 4}
LABELS_MSD = {0: 0, 1: 2, 2: 1, 3: 4}
MSD_CHANNELS = ("flair", "t1", "t1ce", "t2")  # Task01's documented order

LAYOUT_2017, LAYOUT_2023, LAYOUT_MSD = "BraTS 2017-2022", "BraTS 2023-2024", "MSD Task01"


class CaseError(ValueError):
    """A case that cannot be prepared; the message names the file and the fault."""


@dataclass(frozen=True)
class Volume:
    """One volume of a case: a file, and for a 4D file the channel to take."""

    path: Path
    channel: int | None = None


@dataclass(frozen=True)
class SourceCase:
    case_id: str
    folder: Path  # the case folder; for MSD the dataset folder
    grade: str = "unknown"  # "HGG", "LGG" or "unknown"
    layout: str = LAYOUT_2017


def find_cases(brats_dir) -> list[SourceCase]:
    """The cases under ``brats_dir`` in any supported layout, sorted by ID."""
    brats_dir = Path(brats_dir)
    if not brats_dir.is_dir():
        raise FileNotFoundError(f"{brats_dir}: no such folder (expected BraTS case folders, or a "
                                "Decathlon Task01 folder with imagesTr/ and labelsTr/)")
    if (brats_dir / "imagesTr").is_dir():
        cases = [SourceCase(_strip_nifti(path.name), brats_dir, layout=LAYOUT_MSD)
                 for path in sorted((brats_dir / "imagesTr").iterdir())
                 if _strip_nifti(path.name) and not path.name.startswith(".")]
    else:
        grades = read_grades(brats_dir)
        cases = []
        for parent in [brats_dir] + [brats_dir / g for g in GRADES if (brats_dir / g).is_dir()]:
            for folder in sorted(parent.iterdir()):
                if not folder.is_dir() or folder.name.startswith(".") or folder.name in GRADES:
                    continue
                grade = parent.name if parent.name in GRADES else grades.get(folder.name, "unknown")
                words = {word for word, _ in _volume_words(folder)}
                layout = LAYOUT_2023 if words & GLI_WORDS else LAYOUT_2017
                cases.append(SourceCase(folder.name, folder, grade, layout))
    if not cases:
        raise FileNotFoundError(f"{brats_dir}: empty, no case folders found (expected "
                                "<ID>/<ID>_t1.nii.gz ..., optionally under HGG/ and LGG/, or imagesTr/)")
    return sorted(cases, key=lambda c: c.case_id)


def read_grades(brats_dir: Path) -> dict:
    """``{ID: "HGG"|"LGG"}`` from BraTS's ``name_mapping.csv`` (2019: ``BraTS_2019_subject_ID``;
    2020 also lists the 2017-2019 IDs: every ``*subject_ID`` column is read)."""
    path = Path(brats_dir) / "name_mapping.csv"
    if not path.is_file():
        return {}
    grades = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            if row.get("Grade") in GRADES:
                grades.update({value: row["Grade"] for key, value in row.items()
                               if key and key.lower().endswith("subject_id") and value})
    return grades


def locate(case: SourceCase) -> tuple[dict, dict]:
    """``({volume name: Volume}, {source label: course label})`` for one case.
    Raises :class:`CaseError` naming the folder or file when a volume is missing or twice."""
    if case.layout == LAYOUT_MSD:
        return _locate_msd(case)
    found, words = {}, _volume_words(case.folder)
    for word, path in words:
        name = NAME_WORDS[word]
        if name in found:  # e.g. t1c beside t1ce, or a .nii beside a .nii.gz
            raise CaseError(f"{path}: a second {name} volume besides {found[name].path.name}; keep one")
        found[name] = Volume(path)
    for name in VOLUMES:
        if name not in found:
            raise CaseError(f"{case.folder / layout.original_name(case.case_id, name)}: missing {name} volume "
                            f"(no file ending in {', '.join(_variants(name))})")
    layout_labels = LABELS_2023 if {word for word, _ in words} & GLI_WORDS else LABELS_2017
    return found, layout_labels


def _volume_words(folder: Path) -> list[tuple[str, Path]]:
    """``[(word, path)]`` for the NIfTI files of a case folder whose last word names a volume
    (never raises: a volume found twice is :func:`locate`'s to report, for that case alone)."""
    words = []
    for path in sorted(folder.iterdir()):
        stem = _strip_nifti(path.name)
        word = re.split(r"[_\-]", stem)[-1].lower() if stem and not path.name.startswith(".") else ""
        if word in NAME_WORDS:
            words.append((word, path))
    return words


def _locate_msd(case: SourceCase) -> tuple[dict, dict]:
    image = _nifti_named(case.folder / "imagesTr", case.case_id)
    labels = _nifti_named(case.folder / "labelsTr", case.case_id)
    if labels is None:
        raise CaseError(f"{case.folder / 'labelsTr' / (case.case_id + '.nii.gz')}: missing labels of "
                        f"{case.case_id} (MSD Task01 layout)")
    order = _msd_channel_order(case.folder)
    found = {name: Volume(image, channel) for channel, name in enumerate(order)}
    found[LABEL_SUFFIX] = Volume(labels)
    return found, LABELS_MSD


def _msd_channel_order(folder: Path) -> tuple:
    path = folder / "dataset.json"
    if not path.is_file():
        return MSD_CHANNELS
    try:
        modality = json.loads(path.read_text())["modality"]
        order = tuple(NAME_WORDS[modality[str(i)].lower()] for i in range(len(modality)))
    except (ValueError, KeyError, TypeError):
        raise CaseError(f"{path}: unreadable, or its \"modality\" names are not FLAIR, T1w, t1gd, "
                        "T2w") from None
    if sorted(order) != sorted(MODALITIES):
        raise CaseError(f"{path}: channels {order}, expected the four {MODALITIES}")
    return order


def _nifti_named(folder: Path, stem: str) -> Path | None:
    for suffix in (".nii.gz", ".nii"):
        if (folder / f"{stem}{suffix}").is_file():
            return folder / f"{stem}{suffix}"
    return None


def _strip_nifti(name: str) -> str:
    for suffix in (".nii.gz", ".nii"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return ""


def _variants(name: str) -> list[str]:
    return [f"_{word}.nii.gz" for word, target in NAME_WORDS.items() if target == name]
