"""The rows of the grades: one per self-check of a notebook run, from the answers the grader
judged (:mod:`.judge`) and, for the checks without one, from how their cells ended."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...settings import POINTS
from .cells import exercise_label, graded_cells, nbgrader_metadata

if TYPE_CHECKING:
    from .submissions import Master

CSV_COLUMNS = ("student", "notebook", "exercise", "points", "max", "outcome", "detail")


def row(student, notebook, exercise, points, max_points, outcome, detail="") -> dict:
    return dict(zip(CSV_COLUMNS, (student, notebook, exercise, points, max_points, outcome, detail)))


def hint_detail(message: str) -> str:
    """A self-check's message (``❌ Ex N: problem`` and its hint line) as one line of a report."""
    return " ".join(line.strip() for line in str(message).splitlines() if line.strip()).lstrip("❌ ")


def _first_line(text) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""


def _error(cell):
    """The cell's error output (``ename``, ``evalue``), else ``None``."""
    for output in cell.get("outputs", []):
        if output.output_type == "error":
            return output.ename, output.evalue
    return None


def _unanswered(cell, blank) -> bool:
    """An answer cell left as handed out, or still raising ``NotImplementedError``."""
    return (blank is not None and cell.source == blank.source) or (_error(cell) or ("",))[0] == "NotImplementedError"


def _first_failure(executed, check) -> str:
    """``"; after code cell N failed (Error: ...)"`` for the first cell before ``check`` that
    failed (the usual cause of a check's NameError), else ``""``."""
    number = 0
    for cell in executed.cells:
        if cell is check:
            return ""
        if cell.cell_type != "code":
            continue
        number += 1
        error = _error(cell)
        if error is not None and not nbgrader_metadata(cell).get("grade"):
            return f"; after code cell {number} failed ({error[0]}: {_first_line(error[1])[:150]})"
    return ""


def score(executed, master: Master, outcome: dict, notes: dict, student: str, judged: dict) -> list:
    """One row per self-check of ``master`` for the executed notebook; ``judged``: ``{grade_id:
    (outcome, detail)}`` of the answers recorded (:func:`.judge.judge`), the only way to pass."""
    cells = graded_cells(executed)
    code_cells = [i for i, c in enumerate(executed.cells) if c.cell_type == "code"]
    stopped = outcome.get("cell")
    stop_at = f"code cell {code_cells.index(stopped) + 1}" if stopped in code_cells else "a cell"
    rows = []
    for grade_id in master.checks:
        label, points = exercise_label(grade_id), POINTS[grade_id]
        cell = cells.get(grade_id)
        note = notes.get(grade_id, "")
        detail = lambda text: "; ".join(t for t in (text, note) if t)
        if cell is None:
            rows.append(row(student, master.name, label, 0, points, "missing", detail("its self-check cell was deleted")))
            continue
        error = _error(cell)
        blank = [a for a in master.answers[grade_id] if a in cells and _unanswered(cells[a], master.cells.get(a))]
        if grade_id in judged and not (blank and judged[grade_id][0] != "passed"):
            verdict, text = judged[grade_id]
            rows.append(row(student, master.name, label, points if verdict == "passed" else 0, points, verdict,
                             detail(text)))
        elif error is None and cell.get("execution_count") is not None:
            rows.append(row(student, master.name, label, 0, points, "unverified",
                             detail("the self-check's cell ran, but the kit's check recorded no answer "
                                    "(tp3.checks replaced or silenced?)")))
        elif blank:  # a check that ran on what a blank cell left (an empty dict) judges no answer
            rows.append(row(student, master.name, label, 0, points, "not answered",
                             detail("its answer cell is still blank" if len(blank) == 1
                                    else f"{len(blank)} of its answer cells are still blank")))
        elif error is not None and error[0] == "SelfCheckError":
            rows.append(row(student, master.name, label, 0, points, "hint", detail(hint_detail(error[1]))))
        elif error is not None:
            cause = _first_failure(executed, cell)
            rows.append(row(student, master.name, label, 0, points, "error",
                             detail(f"{error[0]}: {_first_line(error[1])}"[:300] + cause)))
        elif outcome["status"] == "timeout":
            rows.append(row(student, master.name, label, 0, points, "timeout",
                             detail(f"{outcome['message']} reached in {stop_at}")))
        elif outcome["status"] == "kernel died":
            rows.append(row(student, master.name, label, 0, points, "kernel died",
                             detail(f"in {stop_at} (exit of the process: os._exit, a crash, memory)")))
        else:
            rows.append(row(student, master.name, label, 0, points, "grader error",
                             detail(outcome.get("message") or "the check cell did not run")))
    return rows
