"""Which cells of an exercise notebook are graded, in nbgrader's metadata (schema 3).

* a **self-check cell** — a code cell holding one ``tp3.checks.check_<id>(...)`` call — is an
  *autograder test*: locked, worth :data:`tp3.settings.POINTS` ``[<id>]`` points, ``grade_id``
  ``<id>`` (``ex1`` ... ``ex13``, ``ex12_truth``); it passes when it runs without an error;
* a code cell with ``### BEGIN SOLUTION`` is an *autograded answer*, ``grade_id``
  ``ex<N>_answer`` (``_2``, ``_3`` for the exercise's next ones), N from the ``## Exercise N``
  heading above it;
* the setup cell (the first code cell, ``# Setup ...``) is *read-only*, ``grade_id`` ``setup``.

Written answers (markdown) carry no metadata: nbgrader would make them manually graded, and
the kit grades what runs. Student notebooks get the same metadata (``make students``); it is
inert on Colab and in plain Jupyter.
"""

from __future__ import annotations

import copy
import re

from ...settings import POINTS

CHECK_CALL = re.compile(r"^tp3\.checks\.check_(\w+)\(.*\)$")
EXERCISE_HEADING = re.compile(r"^##\s+Exercise\s+(\d+)\b", re.M)
SOLUTION_MARK = "### BEGIN SOLUTION"
SETUP_MARK = "# Setup"
SETUP_ID = "setup"
SCHEMA_VERSION = 3


def _metadata(grade_id: str, *, grade=False, solution=False, locked=False, points=None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": SCHEMA_VERSION,
            "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return meta


def nbgrader_metadata(cell) -> dict:
    """The cell's ``nbgrader`` metadata (``{}`` when it has none: a cell added by the student)."""
    return cell.get("metadata", {}).get("nbgrader", {})


def grade_id_of(cell) -> str | None:
    """The cell's nbgrader ``grade_id``, else ``None``."""
    return nbgrader_metadata(cell).get("grade_id")


def check_id(cell) -> str | None:
    """The ``grade_id`` of a self-check cell (``"ex1"`` for ``tp3.checks.check_ex1(...)``), else ``None``."""
    if cell.cell_type != "code":
        return None
    match = CHECK_CALL.match(cell.source.strip())
    return match.group(1) if match else None


def exercise_number(grade_id: str) -> int:
    """``"ex12_truth"`` -> 12."""
    return int(re.match(r"ex(\d+)", grade_id).group(1))


def exercise_label(grade_id: str) -> str:
    """How a report names a check: ``"ex12_truth"`` -> ``"Ex 12 (truth)"``, ``"ex7"`` -> ``"Ex 7"``."""
    number, _, part = grade_id[2:].partition("_")
    return f"Ex {number}" + (f" ({part})" if part else "")


def mark_graded_cells(notebook, points: dict = POINTS):
    """A copy of ``notebook`` whose cells carry the nbgrader metadata described above (any
    earlier ``nbgrader`` metadata replaced). Raises ``ValueError`` when a check shares its cell
    with other code (it could not be locked), has no points, or an answer precedes every
    exercise heading."""
    notebook = copy.deepcopy(notebook)
    exercise, answers = None, {}
    setup_seen = False
    for index, cell in enumerate(notebook.cells):
        cell.metadata.pop("nbgrader", None)
        if cell.cell_type == "markdown":
            headings = EXERCISE_HEADING.findall(cell.source)
            exercise = int(headings[-1]) if headings else exercise
            continue
        if cell.cell_type != "code":
            continue
        grade_id = check_id(cell)
        if not setup_seen:
            setup_seen = True
            if cell.source.startswith(SETUP_MARK):
                cell.metadata["nbgrader"] = _metadata(SETUP_ID, locked=True)
                continue
        if grade_id is not None:
            if grade_id not in points:
                raise ValueError(f"cell {index}: check_{grade_id} has no points in tp3/settings.py POINTS")
            cell.metadata["nbgrader"] = _metadata(grade_id, grade=True, locked=True, points=points[grade_id])
        elif "tp3.checks.check_" in cell.source:
            raise ValueError(f"cell {index} calls a self-check beside other code: give the check a cell "
                             "of its own (a graded cell is locked)")
        elif SOLUTION_MARK in cell.source:
            if exercise is None:
                raise ValueError(f"cell {index} holds a solution before any '## Exercise N' heading")
            answers[exercise] = answers.get(exercise, 0) + 1
            suffix = f"_{answers[exercise]}" if answers[exercise] > 1 else ""
            cell.metadata["nbgrader"] = _metadata(f"ex{exercise}_answer{suffix}", solution=True)
    return notebook


def graded_cells(notebook) -> dict:
    """``{grade_id: cell}`` of the cells carrying nbgrader metadata, in notebook order."""
    found = {}
    for cell in notebook.cells:
        grade_id = grade_id_of(cell)
        if grade_id and grade_id not in found:
            found[grade_id] = cell
    return found


def checks(notebook) -> list[str]:
    """The ``grade_id`` of every graded self-check of ``notebook``, in order."""
    return [grade_id for grade_id, cell in graded_cells(notebook).items()
            if cell.metadata["nbgrader"].get("grade")]
