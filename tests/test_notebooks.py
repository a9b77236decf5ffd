"""Exercise notebooks: stored clean, students generated without drift, self-checks guide.

The notebooks themselves run end to end under nbval (``make test``, second step).
"""

from __future__ import annotations

import nbformat
import pytest

from tp3.tools import notebooks

SOLUTIONS = sorted(notebooks.SOLUTIONS.glob("*.ipynb"))
NAMES = ["01_data.ipynb", "02_network.ipynb", "03_training.ipynb", "04_augmentation.ipynb",
         "05_prediction_evaluation.ipynb"]


def _read(path):
    return nbformat.read(str(path), as_version=4)


def test_one_solution_notebook_per_part():
    assert [p.name for p in SOLUTIONS] == NAMES
    assert sorted(p.name for p in notebooks.STUDENTS.glob("*.ipynb")) == NAMES


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_solutions_are_stored_without_outputs(path):
    notebook = _read(path)
    assert notebooks.strip_outputs(notebook) == notebook
    checked = [c for c in notebook.cells if notebooks.checks_output(c)]
    for cell in notebook.cells:
        if cell.cell_type == "code" and cell not in checked:
            assert not cell.outputs and cell.execution_count is None
    # the cells nbval compares hold their expected text, else the comparison is empty
    assert all(cell.outputs for cell in checked)


def test_student_notebooks_match_a_fresh_generation(tmp_path):
    written = notebooks.generate_students(students=tmp_path)
    for fresh in written:
        committed = notebooks.STUDENTS / fresh.name
        assert committed.read_text() == fresh.read_text(), (
            f"{committed} differs from its solution: run `python -m tp3 notebooks students`")


@pytest.mark.parametrize("name", NAMES)
def test_students_have_blanks_and_the_same_checks(name):
    solution, student = _read(notebooks.SOLUTIONS / name), _read(notebooks.STUDENTS / name)
    student_text = "\n".join(c.source for c in student.cells)
    assert "BEGIN SOLUTION" not in student_text and "raise NotImplementedError()" in student_text
    assert all(not c.get("outputs") for c in student.cells)
    count = lambda nb: sum(c.source.count("tp3.checks.check_") for c in nb.cells)
    assert count(student) == count(solution) >= 1
    assert "colab.research.google.com" in student.cells[0].source


def _run_cells(cells, root, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("TP3_ROOT", str(root))
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = NotebookClient(notebook, timeout=300, kernel_name="python3")
    client.execute()
    return notebook


def test_a_student_fills_exercise_1(course_root, monkeypatch):
    """As a new user would: setup, fill the Ex 1 blank from the solution, run the self-check."""
    solution, student = _read(notebooks.SOLUTIONS / "01_data.ipynb"), _read(notebooks.STUDENTS / "01_data.ipynb")
    setup = next(c for c in student.cells if c.cell_type == "code")
    blank = next(c for c in student.cells if "datasets_dir" in c.source)
    answer = next(c for c in solution.cells if "datasets_dir" in c.source)
    check = next(c for c in student.cells if "check_ex1" in c.source)
    assert "raise NotImplementedError()" in blank.source
    filled = nbformat.v4.new_code_cell(answer.source)
    done = _run_cells([setup, filled, check], course_root, monkeypatch)
    assert "✅ Ex 1" in done.cells[-1].outputs[0]["text"]

    wrong = nbformat.v4.new_code_cell(answer.source.replace("\"validation.txt\"", "\"train.txt\""))
    from nbclient.exceptions import CellExecutionError

    with pytest.raises(CellExecutionError, match="Hint"):
        _run_cells([setup, wrong, check], course_root, monkeypatch)


@pytest.mark.parametrize("name", NAMES)
def test_a_student_fills_the_first_exercise(name, course_root, monkeypatch):
    """Every student notebook: run it in order, fill the blanks of its first exercise with
    the solution's code, and its first self-check must say ✅."""
    solution, student = _read(notebooks.SOLUTIONS / name), _read(notebooks.STUDENTS / name)
    # the student version is the solution with one note cell inserted after the title
    assert len(student.cells) == len(solution.cells) + 1
    cells = []
    for index, cell in enumerate(student.cells[2:], start=1):
        if cell.cell_type != "code" or "NBVAL_SKIP" in cell.source:
            continue
        source = solution.cells[index].source if "raise NotImplementedError()" in cell.source else cell.source
        cells.append(nbformat.v4.new_code_cell(source))
        if "tp3.checks.check_" in cell.source:
            break
    done = _run_cells(cells, course_root, monkeypatch)
    printed = "".join(o.get("text", "") for o in done.cells[-1].outputs)
    assert "✅" in printed, printed


def test_setup_imports_tensorflow_without_its_start_up_lines():
    """TensorFlow's C++ start-up lines (oneDNN, CUDA probing) bypass sys.stderr; the notebooks'
    setup imports it with them silenced, and a later Python error still shows."""
    import subprocess
    import sys

    code = ("import tp3.course; tp3.course.quiet_tensorflow_import(); import tensorflow as tf; "
            "print(tf.constant(2) * 3); raise SystemExit('after the import, errors show')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert "tf.Tensor(6" in done.stdout
    assert "errors show" in done.stderr
    assert not [line for line in done.stderr.splitlines() if "oneDNN" in line or "cudart" in line
                or "absl::InitializeLog" in line]
