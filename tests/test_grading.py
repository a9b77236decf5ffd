"""Grading: the notebooks' nbgrader metadata, and a fabricated class graded end to end."""

from __future__ import annotations

import copy
import csv
import hashlib
import tempfile
from pathlib import Path

import nbformat
import pytest

from tp3.settings import POINTS
from tp3.tools import notebooks
from tp3.tools.cli import main
from tp3.tools.grading import cells, classroom, grader

NAMES = [p.stem for p in sorted(notebooks.SOLUTIONS.glob("*.ipynb"))]
#: The class of the end-to-end test hands in the two quickest notebooks.
QUICK = NAMES[:2]


def _read(path):
    return nbformat.read(str(path), as_version=4)


@pytest.mark.parametrize("name", NAMES)
def test_notebooks_carry_their_grading_metadata(name):
    from nbgrader.nbgraderformat import MetadataValidator

    solution, student = _read(notebooks.SOLUTIONS / f"{name}.ipynb"), _read(notebooks.STUDENTS / f"{name}.ipynb")
    assert cells.mark_graded_cells(solution) == solution, "run `python -m tp3 notebooks strip`"
    for notebook in (solution, student):
        MetadataValidator().validate_nb(notebook)
        graded = cells.graded_cells(notebook)
        assert next(iter(graded)) == cells.SETUP_ID
        for grade_id in cells.checks(notebook):
            meta = graded[grade_id].metadata["nbgrader"]
            assert meta["locked"] and meta["points"] == POINTS[grade_id]
            assert cells.check_id(graded[grade_id]) == grade_id
            # every check follows an answer of its exercise, which the student fills in
            assert any(g.startswith(f"ex{cells.exercise_number(grade_id)}_answer") for g in list(graded)[:list(graded).index(grade_id)])
    # the locked cells the grader restores are the same in both versions
    locked = lambda nb: {g: c.source for g, c in cells.graded_cells(nb).items() if c.metadata["nbgrader"]["locked"]}
    assert locked(solution) == locked(student)
    assert sum(POINTS[g] for g in cells.checks(solution)) == 10


def test_every_point_is_a_check_of_some_notebook():
    found = [g for name in NAMES for g in cells.checks(_read(notebooks.SOLUTIONS / f"{name}.ipynb"))]
    assert sorted(found) == sorted(POINTS) and len(found) == len(set(found))


def test_a_check_beside_other_code_is_refused():
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("## Exercise 1: x"),
        nbformat.v4.new_code_cell("x = 1\ntp3.checks.check_ex1(x)")])
    with pytest.raises(ValueError, match="cell 1 calls a self-check beside other code"):
        cells.mark_graded_cells(notebook)
    notebook.cells[1].source = "tp3.checks.check_ex99(x)"
    with pytest.raises(ValueError, match="check_ex99 has no points"):
        cells.mark_graded_cells(notebook)


def test_edited_and_deleted_locked_cells_are_put_back():
    master = grader.load_masters()[NAMES[0]]
    submitted = copy.deepcopy(_read(notebooks.SOLUTIONS / f"{NAMES[0]}.ipynb"))
    first = master.checks[0]
    check = next(c for c in submitted.cells if cells.grade_id_of(c) == first)
    check.source = "print('all good')"
    check.outputs = [nbformat.v4.new_output("stream", name="stdout", text="all good")]
    submitted.cells = [c for c in submitted.cells if cells.grade_id_of(c) != cells.SETUP_ID]
    restored, notes, general = grader.restore_locked_cells(submitted, master)
    assert cells.graded_cells(restored)[first].source == master.cells[first].source
    assert "edited" in notes[first] and general == ["setup cell deleted: put back"]
    assert cells.graded_cells(restored)[cells.SETUP_ID].source == master.cells[cells.SETUP_ID].source
    assert all(not c.get("outputs") for c in restored.cells)
    assert check.source == "print('all good')"  # the submission itself is untouched


def test_files_that_are_no_notebook_get_their_row(tmp_path):
    masters = grader.load_masters()
    alice = tmp_path / "alice"
    alice.mkdir()
    (alice / f"{NAMES[0]}.ipynb").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    (alice / "notes.ipynb").write_text('{"cells": [], "metadata": {}}')
    (alice / "old.ipynb").write_text('{"cells": 3}')
    copy_of = _read(notebooks.STUDENTS / f"{NAMES[1]}.ipynb")
    nbformat.write(copy_of, str(alice / f"{NAMES[1]}.ipynb"))
    nbformat.write(copy_of, str(alice / f"Copy of {NAMES[1]}.ipynb"))
    (tmp_path / ".hidden").mkdir()
    jobs, rows = grader.discover(tmp_path, masters)
    outcomes = {r["notebook"]: (r["outcome"], r["detail"]) for r in rows if not r["exercise"]}
    assert outcomes[f"{NAMES[0]}.ipynb"][0] == "invalid" and "UTF-8" in outcomes[f"{NAMES[0]}.ipynb"][1]
    assert outcomes["notes.ipynb"][0] == "unrecognised"
    assert outcomes["old.ipynb"][0] == "invalid"
    assert outcomes[f"Copy of {NAMES[1]}.ipynb"] == ("duplicate", f"{NAMES[1]} graded from {NAMES[1]}.ipynb")
    assert [(j.student, j.master.name, j.path.name) for j in jobs] == [("alice", NAMES[1], f"{NAMES[1]}.ipynb")]
    missing = {r["notebook"] for r in rows if r["outcome"] == "missing"}
    assert missing == set(NAMES) - {NAMES[1]}


def test_grade_refuses_what_it_cannot_use(tmp_path, capsys):
    assert main(["grade", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")]) == 1
    assert "nowhere: no such folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["grade", str(tmp_path / "empty"), "--out", str(tmp_path / "out")]) == 1
    assert "holds no student folder" in capsys.readouterr().err
    (tmp_path / "class" / "bob").mkdir(parents=True)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "grades.csv").write_text("earlier grades")
    assert main(["grade", str(tmp_path / "class"), "--out", str(tmp_path / "out")]) == 1
    assert "pass --force" in capsys.readouterr().err
    assert (tmp_path / "out" / "grades.csv").read_text() == "earlier grades"


def _digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return digest.hexdigest()


def test_a_fabricated_class_gets_every_grade_it_should(course_root, tmp_path):
    submissions, out = tmp_path / "class", tmp_path / "grades"
    expected = classroom.fabricate_class(submissions, notebooks.SOLUTIONS, notebooks.STUDENTS, QUICK)
    masters = {name: m for name, m in grader.load_masters().items() if name in QUICK}
    before = {"class": _digest(submissions), "course": _digest(course_root)}
    # the grader's own temporary folder (another test file's grader may run beside this one)
    scratch = Path(tempfile.mkdtemp(prefix="g"))

    code = grader.grade(submissions, out, jobs=2, seconds=120, sample=course_root, masters=masters, progress=False,
                        scratch=scratch)

    rows = list(csv.DictReader((out / "grades.csv").open()))
    got = {((r["student"], r["notebook"], r["exercise"]) if r["exercise"] else (r["student"], r["notebook"])): r
           for r in rows}
    assert {k: r["outcome"] for k, r in got.items()} == expected
    assert code == 1  # the mix-up's invalid file and another course's notebook could not be graded
    assert got[("editor", QUICK[0], "Ex 1")]["detail"].endswith("self-check cell edited: the kit's put back")
    assert "Hint: read datasets/validation.txt" in got[("editor", QUICK[0], "Ex 1")]["detail"]
    assert "file named Copy of" in got[("renamer", QUICK[0], "Ex 1")]["detail"]
    assert "moved above its answer" in got[("renamer", QUICK[1], "Ex 6")]["detail"]
    assert "after code cell" in got[("vandal", QUICK[0], "Ex 4")]["detail"]
    assert got[("mixup", f"{QUICK[1]}.ipynb")]["detail"].startswith("not JSON")
    for r in rows:
        assert int(r["points"]) == (int(r["max"]) if r["outcome"] == "passed" else 0)

    totals = list(csv.DictReader((out / "totals.csv").open()))
    perfect = [t for t in totals if t["student"] == "perfect"]
    assert [(t["points"], t["max"], t["status"]) for t in perfect] == [("10", "10", "complete")] * 2
    assert {t["status"] for t in totals if t["student"] == "looping"} == {"complete", "timeout"}
    graded = {(t["student"], t["notebook"]) for t in totals if t["seconds"]}
    assert graded == {(s.name, n.stem) for s in (out / "feedback").iterdir() for n in s.glob("*.html")}
    html = (out / "feedback" / "editor" / f"{QUICK[0]}.html").read_text()
    assert f"{QUICK[0]}: 8 / 10 points" in html and "self-check cell edited" in html
    summary = (out / "summary.md").read_text()
    assert "| perfect | 20 / 20 |" in summary and f"| mixup | 10 / 20 | {QUICK[0]} |" in summary

    # nothing outside the temporary roots was written: the class, the course copied, home, /tmp
    assert {"class": _digest(submissions), "course": _digest(course_root)} == before
    assert list(scratch.iterdir()) == []
    scratch.rmdir()
    assert not (Path(tempfile.gettempdir()) / "vandal.txt").exists() and not (Path.home() / "vandal.txt").exists()
