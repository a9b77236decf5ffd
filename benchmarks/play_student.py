"""Play the student: fill every exercise of the solution notebooks wrongly, then rightly.

For each notebook, its code cells run in order in one IPython shell (in this process). At
each exercise, every listed mistake is tried first: the exercise cell with the mistake
typed in, then its self-check. The outcome is one of

  caught      the self-check rejected it with a hint (the hint is printed);
  cell error  the student's own cell failed before the check (the error's first line);
  MISSED      the self-check said ✅.

Then the right answer runs and the notebook goes on. Prints a Markdown table. The mistakes
are ``tp3.tools.grading.classroom.MISTAKES``, which the fabricated class of the grader makes too.

    TP3_SMOKE=1 python benchmarks/play_student.py [--root DIR]

``--root`` (default: a fresh temporary folder) receives the smoke sample; smoke mode keeps
the training exercises to a couple of minutes.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO / "notebooks" / "solutions"
sys.path.insert(0, str(REPO))
from tp3.tools.grading.classroom import MISTAKES  # noqa: E402  (the list the fabricated class uses too)

PRELUDE = "import numpy as np\nimport matplotlib\nmatplotlib.use('Agg')\n"


def _first_line(text: str) -> str:
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


def _run(shell, source: str):
    """Run ``source`` (its printout and tracebacks are kept out of the table); ``None`` when
    it worked, else the exception."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        result = shell.run_cell(source, silent=True)
    return result.error_in_exec or result.error_before_exec


def play_notebook(name: str) -> list[tuple]:
    import nbformat
    from IPython.core.interactiveshell import InteractiveShell

    from tp3.checks import SelfCheckError

    cells = [c.source for c in nbformat.read(str(SOLUTIONS / f"{name}.ipynb"), as_version=4).cells
             if c.cell_type == "code" and "NBVAL_SKIP" not in c.source]
    shell = InteractiveShell.instance()
    _run(shell, PRELUDE)
    rows = []
    for index, source in enumerate(cells):
        mistakes = [m for m in MISTAKES if m.notebook == name and m.right in source and "BEGIN SOLUTION" in source]
        check_index = next(i for i in range(index, len(cells)) if "tp3.checks.check_" in cells[i]) if mistakes else None
        for _, exercise, mistake, right, wrong, *_ in mistakes:
            steps = [source.replace(right, wrong)] + cells[index + 1:check_index + 1]
            error, where = None, None
            for step_index, step in enumerate(steps):
                error = _run(shell, step)
                if error is not None:
                    where = "check" if step_index == len(steps) - 1 and "tp3.checks.check_" in step else "cell"
                    break
            if error is None:
                rows.append((exercise, mistake, "MISSED", "the self-check said ✅"))
            elif where == "check" and isinstance(error, SelfCheckError):
                rows.append((exercise, mistake, "caught", _first_line(str(error).split("Hint:")[1])))
            else:
                rows.append((exercise, mistake, "cell error", f"{type(error).__name__}: {_first_line(error)}"[:160]))
        error = _run(shell, source)
        if error is not None:
            raise RuntimeError(f"{name}: the right answer of cell {index} failed: {error!r}")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, help="course root (default: a temporary folder)")
    args = parser.parse_args()
    os.environ.setdefault("TP3_SMOKE", "1")
    root = args.root or Path(tempfile.mkdtemp(prefix="tp3-student-"))
    os.environ["TP3_ROOT"] = str(root)
    rows = []
    for name in dict.fromkeys(m.notebook for m in MISTAKES):
        print(f"playing {name}...", file=sys.stderr, flush=True)
        rows += play_notebook(name)
    print("| exercise | mistake | outcome | what the student reads |")
    print("|---|---|---|---|")
    for exercise, mistake, outcome, text in rows:
        print(f"| {exercise} | {mistake} | {outcome} | {text.replace('|', '/')} |")
    caught = sum(row[2] == "caught" for row in rows)
    print(f"\n{caught} of {len(rows)} mistakes caught by a self-check with a hint "
          f"({sum(row[2] == 'MISSED' for row in rows)} missed).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
