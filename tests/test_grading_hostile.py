"""A hostile class graded end to end: no cheat scores, nothing outside the output folder changes,
and the grades still stand after the grader has exited (tp3/tools/grading/hostile.py)."""

from __future__ import annotations

import csv
import hashlib
import os
import tempfile
import time
from pathlib import Path

import pytest

from tp3.layout import REPO_ROOT
from tp3.tools import notebooks
from tp3.tools.grading import grader, hostile, sandbox

#: Seconds waited after the grader returns: the detacher's process writes every half second.
AFTERWARDS_S = 15


def _digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.mark.skipif(sandbox.unavailable() is not None, reason=f"no sandbox here: {sandbox.unavailable()}")
def test_a_hostile_class_gets_no_point_for_a_wrong_answer(course_root, tmp_path):
    submissions, out = tmp_path / "class", tmp_path / "grades"
    expected = hostile.fabricate_hostile_class(submissions, notebooks.SOLUTIONS, out)
    masters = {name: m for name, m in grader.load_masters().items() if name == hostile.NOTEBOOK}
    watched = {"class": submissions, "course": course_root, "kit": REPO_ROOT / "tp3"}
    before = {name: _digest(folder) for name, folder in watched.items()}
    # the grader's own temporary folder (another test file's grader may run beside this one)
    scratch = Path(tempfile.mkdtemp(prefix="g"))

    grader.grade(submissions, out, jobs=2, seconds=120, sample=course_root, masters=masters, progress=False,
                 scratch=scratch)
    graded = _digest(out)
    time.sleep(AFTERWARDS_S)

    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert {(r["student"], r["notebook"], r["exercise"]): r["outcome"] for r in rows} == expected
    for r in rows:
        assert int(r["points"]) == (int(r["max"]) if r["outcome"] == "passed" else 0), r
    totals = {t["student"]: t for t in csv.DictReader((out / "totals.csv").open())}
    assert totals["perfect"]["points"] == "10" and totals["peeker"]["status"] == "complete"
    assert totals["forker"]["status"] == "complete"  # its kill(-1) reached its own namespace, not the grader
    forged = next(r for r in rows if r["student"] == "forger" and r["exercise"] == "Ex 1")
    assert "could not be read" in forged["detail"]
    assert "unverified" in (out / "summary.md").read_text()
    assert "| patcher | 0 / 10 |" in (out / "summary.md").read_text()
    assert (out / "feedback" / "numpy-patcher" / f"{hostile.NOTEBOOK}.html").is_file()

    # the grades still stand, and nothing outside the output folder was written
    assert _digest(out) == graded
    assert {name: _digest(folder) for name, folder in watched.items()} == before
    assert list(scratch.iterdir()) == []  # the roots the kernels wrote in are gone with them
    scratch.rmdir()
    for written in ("result.json", ".result.json", ".ipython/profile_default/startup/00-tick.py"):
        assert not (Path(tempfile.gettempdir()) / written).exists() and not (Path.home() / written).exists()
    assert not [line for line in os.popen("ps -eo args").read().splitlines() if "sleep 600" in line]


def test_without_a_sandbox_the_grader_refuses_unless_told(tmp_path, monkeypatch, capsys):
    from tp3.tools.cli import main

    (tmp_path / "class" / "bob").mkdir(parents=True)
    monkeypatch.setattr(sandbox, "unavailable", lambda: "bubblewrap (bwrap) is not installed")
    assert main(["grade", str(tmp_path / "class"), "--out", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err
    assert "bubblewrap (bwrap) is not installed" in error and "--unsafe" in error
    assert not (tmp_path / "out").exists()


def test_the_sandbox_shows_the_kernel_only_what_it_needs(tmp_path):
    root, runtime = tmp_path / "root", tmp_path / "runtime"
    environment = sandbox.kernel_environment(root, root / "record")
    arguments = sandbox.bwrap_arguments(root, runtime, environment)
    mounted = {arguments[i + 2]: arguments[i] for i, a in enumerate(arguments) if a in ("--bind", "--ro-bind")}
    assert mounted[str(root)] == mounted[str(runtime)] == "--bind"
    writable = {path for path, kind in mounted.items() if kind == "--bind"}
    assert writable == {str(root), str(runtime)}
    assert str(REPO_ROOT) not in mounted and str(Path.home()) not in mounted  # the kit's parts only
    assert str(REPO_ROOT / "tp3") in mounted
    for flag in ("--unshare-pid", "--unshare-net", "--die-with-parent", "--clearenv", "--new-session"):
        assert flag in arguments
    assert environment["TP3_SMOKE"] == "1" and environment["HOME"].startswith(str(root))
