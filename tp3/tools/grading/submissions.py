"""A class's submissions: which notebook each file is, and the notebook to run for it.

Each file of ``SUBMISSIONS/<student>/**/*.ipynb`` is read (a file that is no notebook gets its
row), recognised by the kit's self-checks it holds (a renamed file, ``Copy of 01_data.ipynb``,
is still ``01_data``; the file with the notebook's own name wins over a second one), and
compared with the kit's student version of it (:class:`Master`): a locked cell the student
edited (nbgrader's checksum differs) is put back and reported, a deleted setup cell put back,
outputs cleared (:func:`restore_locked_cells`).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ... import layout
from ...settings import POINTS
from .cells import SETUP_ID, check_id, checks, exercise_label, exercise_number, grade_id_of, graded_cells
from .scoring import row as _row

STUDENTS_FOLDER = layout.REPO_ROOT / "notebooks" / "students"
#: A submission larger than this is refused unread (a notebook of the course is < 1 MB without outputs).
MAX_NOTEBOOK_BYTES = 200 * 2**20


@dataclass
class Master:
    """The kit's student version of one notebook: what a submission is compared with."""

    name: str
    notebook: nbformat.NotebookNode
    #: {grade_id: cell} of its graded cells (setup, answers as handed out, self-checks)
    cells: dict
    checks: list
    #: {check grade_id: the grade_ids of the answer cells of its exercise before it}
    answers: dict

    @property
    def locked(self) -> dict:
        return {g: cell for g, cell in self.cells.items() if cell.metadata["nbgrader"].get("locked")}

    @property
    def max_points(self) -> int:
        return sum(POINTS[c] for c in self.checks)


@dataclass
class Job:
    student: str
    master: Master
    path: Path
    notebook: nbformat.NotebookNode
    notes: list = field(default_factory=list)


def load_masters(folder=STUDENTS_FOLDER) -> dict:
    """``{name: Master}`` of the kit's student notebooks (``01_data``, ...)."""
    masters = {}
    for path in sorted(Path(folder).glob("*.ipynb")):
        notebook = nbformat.read(str(path), as_version=4)
        cells = graded_cells(notebook)
        order = list(cells)
        found = checks(notebook)
        answers = {c: [g for g in order[:order.index(c)] if g.startswith(f"ex{exercise_number(c)}_answer")]
                   for c in found}
        masters[path.stem] = Master(path.stem, notebook, cells, found, answers)
    if not masters:
        raise FileNotFoundError(f"no student notebooks in {folder}: run `python -m tp3 notebooks students`")
    return masters


def _read_notebook(path: Path):
    """The notebook at ``path``, or the reason it is not one (a string)."""
    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        return f"{size / 2**20:.0f} MB, above the {MAX_NOTEBOOK_BYTES // 2**20} MB a notebook may weigh"
    try:
        text = path.read_text(encoding="utf-8")
        json.loads(text)
        return nbformat.reads(text, as_version=4)
    except UnicodeDecodeError as error:
        return f"not text (UTF-8): {error.reason} at byte {error.start}"
    except json.JSONDecodeError as error:
        return f"not JSON: {error.msg} at line {error.lineno}, column {error.colno} (a truncated download?)"
    except Exception as error:  # nbformat's own: a JSON file that is no notebook
        return f"not a notebook: {type(error).__name__}: {str(error).strip().splitlines()[0][:200]}"


def _check_ids(notebook) -> set:
    """The kit's self-checks a notebook holds: by nbgrader metadata, else by the call in the cell."""
    found = set()
    for cell in notebook.get("cells", []):
        found |= {grade_id_of(cell), check_id(cell)} & set(POINTS)
    return found


def _identify(path: Path, notebook, masters: dict):
    """(master name or None, note): by the self-checks it holds, its file name breaking ties."""
    ids = _check_ids(notebook)
    scores = {name: len(ids & set(m.checks)) for name, m in masters.items()}
    best = max(scores.values(), default=0)
    if best == 0:
        return None, ""
    candidates = [name for name, score in scores.items() if score == best]
    name = path.stem if path.stem in candidates else candidates[0]
    return name, ("" if name == path.stem else f"file named {path.name}")


def discover(submissions, masters: dict) -> tuple[list, list]:
    """``(jobs, rows)``: a :class:`Job` per notebook to run, and the rows of files that cannot be
    graded and of notebooks missing, for every student folder of ``submissions``."""
    submissions = Path(submissions)
    if not submissions.is_dir():
        raise FileNotFoundError(f"{submissions}: no such folder (expected SUBMISSIONS/<student>/<notebook>.ipynb)")
    students = sorted(p for p in submissions.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not students:
        raise FileNotFoundError(f"{submissions} holds no student folder (expected SUBMISSIONS/<student>/<notebook>.ipynb)")
    jobs, rows = [], []
    for folder in students:
        student = folder.name
        files = sorted(p for p in folder.rglob("*.ipynb")
                       if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts))
        chosen = {}
        for path in files:
            shown = str(path.relative_to(folder))
            notebook = _read_notebook(path)
            if isinstance(notebook, str):
                rows.append(_row(student, shown, "", 0, 0, "invalid", notebook))
                continue
            name, note = _identify(path, notebook, masters)
            if name is None:
                rows.append(_row(student, shown, "", 0, 0, "unrecognised",
                                 "none of the kit's self-checks is in it (another course's notebook?)"))
            elif name in chosen and (chosen[name].path.stem == name or path.stem != name):
                rows.append(_row(student, shown, "", 0, 0, "duplicate",
                                 f"{name} graded from {chosen[name].path.relative_to(folder)}"))
            else:
                if name in chosen:  # the file with the notebook's own name wins
                    old = chosen[name].path
                    rows.append(_row(student, str(old.relative_to(folder)), "", 0, 0, "duplicate",
                                     f"{name} graded from {shown}"))
                chosen[name] = Job(student, masters[name], path, notebook, [note] if note else [])
        for name, master in masters.items():
            if name in chosen:
                jobs.append(chosen[name])
            else:
                rows += [dict(_row(student, name, exercise_label(c), 0, POINTS[c], "missing",
                                   f"no {name}.ipynb in {student}/"), submitted=False) for c in master.checks]
    return jobs, rows


def _checksum(cell) -> str:
    from nbgrader.utils import compute_checksum

    if grade_id_of(cell) is None:
        return f"source:{cell.source}"
    return compute_checksum(cell)


def restore_locked_cells(notebook, master: Master) -> tuple:
    """``(notebook to run, {grade_id: note}, [notes])``: ``notebook`` without outputs, each locked
    cell (setup, self-checks) found by its grade_id or its check call and put back as the kit
    has it if edited (nbgrader's checksum); a deleted setup cell is put back first."""
    notebook = copy.deepcopy(notebook)
    by_id, notes, general, locked = {}, {}, [], master.locked
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        grade_id = grade_id_of(cell) or check_id(cell)
        if grade_id in locked and grade_id not in by_id:
            by_id[grade_id] = cell
    for grade_id, original in locked.items():
        cell = by_id.get(grade_id)
        if cell is None:
            if grade_id == SETUP_ID:
                notebook.cells.insert(0, copy.deepcopy(original))
                general.append("setup cell deleted: put back")
            continue
        if _checksum(cell) != _checksum(original) or cell.cell_type != original.cell_type:
            if grade_id == SETUP_ID:
                general.append("setup cell edited: the kit's put back")
            else:
                notes[grade_id] = "self-check cell edited: the kit's put back"
            cell.cell_type, cell.source = original.cell_type, original.source
            cell.metadata = copy.deepcopy(original.metadata)
            cell.setdefault("outputs", [])
            cell.setdefault("execution_count", None)
    position = {}
    for index, cell in enumerate(notebook.cells):
        position.setdefault(grade_id_of(cell), index)
    for check in master.checks:
        if check in position and any(position.get(a, -1) > position[check] for a in master.answers[check]):
            notes[check] = "; ".join(filter(None, (notes.get(check), "its self-check cell was moved above its answer")))
    return notebook, notes, general
