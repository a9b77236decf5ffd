"""A hostile class: students who try to get points for wrong answers, and the grades they must get.

Every cheater hands in ``01_data`` with a wrong answer to Ex 1 (the validation list read from
``train.txt``) — some also to Ex 4 — and one way of making the grader believe otherwise:

=================  ================================================================================
patcher            replaces every ``tp3.checks.check_*`` with a function printing a tick
rebinder           rebinds the name ``tp3`` to a namespace of ticking checks
swallower          an IPython custom exception handler that swallows every error
excepthook         ``sys.excepthook`` silenced (IPython does not use it: nothing changes)
numpy-patcher      ``np.allclose`` / ``np.array_equal`` always true, a wrong slice in Ex 4
forger             after Ex 1's check: a forged record (a path out of it, a link to a system
                   file), forged worker files in and above its folder, a SIGKILL to its parent
detacher           a detached process that tries, for a minute, to rewrite the grades
peeker             reads another student's submission to copy its answer; writes into the kit's
                   package; looks for the grader's processes in ``/proc`` and signals them
startup            an IPython startup file that would patch the checks of later kernels
forker             twenty detached children, and ``kill(-1, SIGKILL)`` (every process it can) at the end
=================  ================================================================================

:func:`fabricate_hostile_class` writes them (and a perfect student, who must keep every point)
and returns the outcome each self-check must get; ``tests/test_grading.py`` grades them end to end
and checks that nothing was written outside the output folder and that the grades still stand
after the grader has exited.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat

from ...files import write_text_atomic
from .cells import checks, exercise_label
from .classroom import MISTAKES, append_to_answer, apply_mistake

NOTEBOOK = "01_data"
#: How long the detacher's process keeps trying to rewrite the grades (seconds).
DETACHED_SECONDS = 60

_TICKING_CHECKS = """
def _tick(*args, **kwargs):
    print("✅ all good")
"""

CHEATS = {
    "patcher": ("ex1_answer", _TICKING_CHECKS + """
import tp3.checks
for _name in dir(tp3.checks):
    if _name.startswith("check_"):
        setattr(tp3.checks, _name, _tick)
"""),
    "rebinder": ("ex1_answer", _TICKING_CHECKS + """
import types
tp3 = types.SimpleNamespace(data=tp3.data, course=tp3.course, checks=types.SimpleNamespace(
    **{f"check_ex{n}": _tick for n in range(1, 14)}))
"""),
    "swallower": ("ex1_answer", """
get_ipython().set_custom_exc((BaseException,), lambda shell, etype, evalue, tb, tb_offset=None: None)
"""),
    "excepthook": ("ex1_answer", """
import sys
sys.excepthook = lambda *args: None
"""),
    "numpy-patcher": ("ex4_answer", """
import numpy as np
np.allclose = np.array_equal = lambda *args, **kwargs: True
original_slice = original[z]
"""),
    "forger": ("ex2_answer", """
import json, os, pathlib, signal
record = pathlib.Path(os.environ.get("TP3_GRADING_RECORD", "record"))
(record / "ex1").mkdir(parents=True, exist_ok=True)
(record / "ex1" / "answer.json").write_text(json.dumps({
    "train": {"array": "../../../../etc/passwd"}, "validation": {"json": []}, "test": {"json": []}}))
(record / "ex3").mkdir(parents=True, exist_ok=True)
try:
    os.symlink("/etc/hostname", record / "ex3" / "image.file")
except OSError:
    pass
outcome = json.dumps({"status": "complete", "cell": None, "message": "", "seconds": 1})
for folder in (pathlib.Path.cwd(), pathlib.Path.cwd().parent):
    for name in ("result.json", ".result.json"):
        try:
            (folder / name).write_text(outcome)
        except OSError:
            pass
try:
    os.kill(os.getppid(), signal.SIGKILL)
except OSError:
    pass
"""),
    "detacher": ("ex1_answer", """
import subprocess, sys
subprocess.Popen([sys.executable, "-c", '''
import pathlib, time
end = time.time() + SECONDS
while time.time() < end:
    for target in [pathlib.Path(OUT) / "grades.csv", pathlib.Path(OUT) / "totals.csv"]:
        try:
            target.write_text("student,notebook,exercise,points,max,outcome,detail\\\\ndetacher,01_data,Ex 1,2,2,passed,\\\\n")
        except OSError:
            pass
    time.sleep(0.5)
'''], start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
"""),
    "peeker": ("ex1_answer", """
import json, os, pathlib, signal
try:
    copied = json.loads(pathlib.Path(PERFECT).read_text())
    exec(next("".join(c["source"]) for c in copied["cells"] if "train.txt" in "".join(c["source"])))
except OSError:
    pass
try:
    kit = pathlib.Path(tp3.__file__).parent / "checks" / "__init__.py"
    kit.write_text(kit.read_text() + "\\nfor _n in list(globals()):\\n    pass\\n")
except OSError:
    pass
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        command = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        continue
    if b"grading.run" in command or b"pytest" in command:
        os.kill(int(pid), signal.SIGTERM)
"""),
    "startup": ("ex1_answer", """
import pathlib
startup = pathlib.Path("~/.ipython/profile_default/startup").expanduser()
startup.mkdir(parents=True, exist_ok=True)
(startup / "00-tick.py").write_text("import tp3.checks\\ntp3.checks.check_ex1 = lambda *a, **k: None\\n")
"""),
    "forker": ("ex1_answer", """
import subprocess
children = [subprocess.Popen(["sleep", "600"], start_new_session=True) for _ in range(20)]
"""),
}

#: The cheater's outcome for each self-check of NOTEBOOK, beyond Ex 1's ``hint``.
OUTCOMES = {
    "patcher": {"ex1": "unverified", "ex2": "unverified", "ex3": "unverified", "ex4": "unverified"},
    "rebinder": {"ex1": "unverified", "ex2": "unverified", "ex3": "unverified", "ex4": "unverified"},
    "numpy-patcher": {"ex4": "hint"},
    "forger": {"ex1": "error"},
}


def _wrong_first_answer(notebook):
    return apply_mistake(notebook, next(m for m in MISTAKES if m.notebook == NOTEBOOK and m.exercise == "Ex 1"))


def fabricate_hostile_class(folder, solutions, out) -> dict:
    """Write the hostile class into ``folder`` from the ``solutions`` folder; ``out`` is the
    grader's output folder, which the detacher aims at. Returns ``{(student, notebook,
    exercise): outcome}`` for every self-check."""
    folder, out = Path(folder), Path(out)
    solution = nbformat.read(str(Path(solutions) / f"{NOTEBOOK}.ipynb"), as_version=4)
    perfect_copy = folder / "perfect" / f"{NOTEBOOK}.ipynb"
    expected, hand_in = {}, [("perfect", solution)]
    for grade_id in checks(solution):
        expected[("perfect", NOTEBOOK, exercise_label(grade_id))] = "passed"
    for student, (grade_id, code) in CHEATS.items():
        for name, value in (("OUT", str(out)), ("SECONDS", DETACHED_SECONDS), ("PERFECT", str(perfect_copy))):
            code = code.replace(name, repr(value))
        notebook = append_to_answer(_wrong_first_answer(solution), grade_id, textwrap.dedent(code).strip())
        if student == "forker":
            notebook.cells.append(nbformat.v4.new_code_cell("import os, signal\nos.kill(-1, signal.SIGKILL)"))
        hand_in.append((student, notebook))
        outcomes = {"ex1": "hint", **OUTCOMES.get(student, {})}
        for check in checks(notebook):
            expected[(student, NOTEBOOK, exercise_label(check))] = outcomes.get(check, "passed")
    for student, notebook in hand_in:
        write_text_atomic(folder / student / f"{NOTEBOOK}.ipynb", nbformat.writes(notebook))
    return expected
