"""Each self-check's grade, computed in the grader's process from the answer the run recorded.

The kernel that ran a submission is gone when this runs; what it left in its record folder
(:mod:`tp3.checks.record`: data only) is read back and judged by the kit's own judges
(:data:`tp3.checks.common.JUDGES`) against the grader's copy of the course data. What student
code did to ``tp3.checks``, to IPython's error handling or to the notebook's outputs changes
nothing here: a check that recorded no answer gets no points.
"""

from __future__ import annotations

import ast
import contextlib
import io
import logging
import sys
import threading
from pathlib import Path

from ...checks.common import JUDGES, SelfCheckError, first_line
from ...checks.record import RecordError, load, recorded
from .scoring import hint_detail

#: The record folder, inside a submission's temporary course root.
RECORD_FOLDER = ".tp3-grading-record"
#: Functions an exercise's answer cells must define themselves: the kit ships its own blocks,
#: and an answer that imports them is not the student's.
MUST_DEFINE = {"ex5": ("DownConvBlock", "UpConvBlock")}
#: Keras builds models in global state: one judge at a time.
_LOCK = threading.Lock()


def defined_functions(sources) -> set[str]:
    """The names of the functions defined at the top level of these cell sources."""
    names = set()
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        names |= {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    return names


def judge(record_folder: Path, grade_id: str, root: Path, answer_sources=()) -> tuple[str, str] | None:
    """``(outcome, detail)`` of ``grade_id``'s recorded answer — ``passed``, ``hint`` (the
    judge's message) or ``error`` (an answer that cannot be read) — or ``None`` when the run
    recorded none."""
    if not recorded(record_folder, grade_id):
        return None
    own = defined_functions(answer_sources)
    for name in MUST_DEFINE.get(grade_id, ()):
        if name not in own:
            return "hint", (f"Ex {grade_id[2:]}: {name} is not defined in your answer cells (the kit's, imported?) "
                            f"Hint: write {name} yourself with the layers of keras.layers")
    with _LOCK:
        logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing notes: one model per answer
        try:
            answer = load(record_folder, grade_id, root)
            with contextlib.redirect_stdout(io.StringIO()):
                JUDGES[grade_id](**answer)
        except SelfCheckError as error:
            return "hint", hint_detail(str(error))
        except RecordError as error:
            return "error", f"the recorded answer could not be read: {error}"
        except Exception as error:  # an answer of the wrong kind: the judge could not use it
            return "error", f"the answer could not be judged: {type(error).__name__}: {first_line(error)[:200]}"
        finally:
            if "keras" in sys.modules:
                sys.modules["keras"].backend.clear_session()
    return "passed", ""
