"""Instructor tools for the exercise notebooks: student versions, clean storage, HTML.

* :func:`generate_students` — ``notebooks/solutions/*.ipynb`` -> ``notebooks/students/``:
  code between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` becomes a marked blank
  (nbgrader's ``ClearSolutions`` through nbconvert, ``enforce_metadata=False``) and every
  output is cleared. Both carry the grading metadata of :mod:`tp3.tools.grading.cells`
  (self-checks locked with their points), which ``python -m tp3 grade`` reads.
* :func:`strip_outputs` — how solution notebooks are stored: no outputs, except the text
  printed by cells marked ``# NBVAL_CHECK_OUTPUT``, which nbval compares on every run.

``python -m tp3 notebooks students|strip|html`` runs them.
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat

from ..files import atomic_file
from ..layout import REPO_ROOT
from .grading.cells import mark_graded_cells

SOLUTIONS = REPO_ROOT / "notebooks" / "solutions"
STUDENTS = REPO_ROOT / "notebooks" / "students"
CHECK_OUTPUT = "# NBVAL_CHECK_OUTPUT"
STUDENT_NOTE = ("> **Student version.** Fill in the cells marked `# YOUR CODE HERE` (remove the "
                "`raise NotImplementedError()` line) and the answers marked *YOUR ANSWER HERE*; "
                "run the `tp3.checks` cell after each exercise to check yourself.")


def checks_output(cell) -> bool:
    return cell.cell_type == "code" and cell.source.lstrip().startswith(CHECK_OUTPUT)


def strip_outputs(notebook):
    """A copy without outputs, execution counts or run metadata, keeping only the stream
    text of ``# NBVAL_CHECK_OUTPUT`` cells (their expected output)."""
    notebook = copy.deepcopy(notebook)
    for cell in notebook.cells:
        cell.metadata = {k: v for k, v in cell.metadata.items() if k in ("tags", "nbgrader")}
        if cell.cell_type != "code":
            continue
        cell.execution_count = None
        if checks_output(cell):
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=o.get("text", ""))
                            for o in cell.outputs if o.output_type == "stream" and o.get("name") == "stdout"]
            if cell.outputs:
                cell.execution_count = 1  # nbval skips the comparison for "unrun" cells
        else:
            cell.outputs = []
    notebook.metadata = {k: v for k, v in notebook.metadata.items() if k in ("kernelspec", "language_info")}
    return notebook


def make_student(notebook):
    """The student version of a solution notebook (solutions blanked, no outputs)."""
    from nbconvert.preprocessors import ClearOutputPreprocessor
    from nbgrader.preprocessors import ClearSolutions

    notebook = mark_graded_cells(notebook)
    notebook, _ = ClearSolutions(enforce_metadata=False).preprocess(notebook, {})
    notebook, _ = ClearOutputPreprocessor().preprocess(notebook, {})
    notebook.cells.insert(1, nbformat.v4.new_markdown_cell(STUDENT_NOTE))
    return strip_outputs(notebook)


def _write(notebook, path: Path) -> None:
    for index, cell in enumerate(notebook.cells):
        cell.id = f"cell-{index:03d}"  # stable ids: regenerating changes nothing
    with atomic_file(path) as tmp:
        nbformat.write(notebook, str(tmp))


def generate_students(solutions=SOLUTIONS, students=STUDENTS) -> list[Path]:
    """Write the student version of every solution notebook; returns the paths written."""
    students = Path(students)
    students.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sorted(Path(solutions).glob("*.ipynb")):
        target = students / source.name
        _write(make_student(nbformat.read(str(source), as_version=4)), target)
        written.append(target)
    return written


def strip_solutions(solutions=SOLUTIONS) -> list[Path]:
    """Store the solution notebooks clean (see :func:`strip_outputs`), with their grading metadata."""
    paths = sorted(Path(solutions).glob("*.ipynb"))
    for path in paths:
        _write(strip_outputs(mark_graded_cells(nbformat.read(str(path), as_version=4))), path)
    return paths


def execute(path, timeout: int = 1800):
    """Run a notebook top to bottom in its own folder; returns the executed notebook."""
    from nbclient import NotebookClient

    path = Path(path)
    notebook = nbformat.read(str(path), as_version=4)
    NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return notebook


def refresh_solutions(solutions=SOLUTIONS) -> list[Path]:
    """Execute each solution notebook and store it clean, with the fresh expected outputs
    of its ``# NBVAL_CHECK_OUTPUT`` cells (run in smoke mode: they must not depend on it)."""
    paths = sorted(Path(solutions).glob("*.ipynb"))
    for path in paths:
        _write(strip_outputs(mark_graded_cells(execute(path))), path)
    return paths


def render_html(out_dir, solutions=SOLUTIONS) -> list[Path]:
    """Executed solution notebooks as HTML pages for instructors (``make html``)."""
    from nbconvert import HTMLExporter

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(Path(solutions).glob("*.ipynb")):
        body, _ = HTMLExporter().from_notebook_node(execute(path))
        target = out_dir / f"{path.stem}.html"
        target.write_text(body, encoding="utf-8")
        written.append(target)
    return written
