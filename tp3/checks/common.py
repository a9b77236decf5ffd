"""What every self-check shares: the error a student sees, and the way a check is built.

A check is two functions. ``prepare`` takes what the notebook's check cell passes (live
objects: lists, arrays, functions, a Keras history) and turns it into the *answer*: plain data
(JSON values, numpy arrays, files, Keras models of standard layers). ``judge`` takes the answer
and raises :class:`SelfCheckError` when it is wrong. :func:`self_check` joins them into the
``check_exN`` a notebook calls; when the grader runs the notebook, the answer is also recorded
(:mod:`.record`) and judged again by the grader, in its own process, on its own copy of the
course data — so that nothing a student's code does to the kernel can make a wrong answer pass.
"""

from __future__ import annotations

import functools
import inspect

import numpy as np

from . import record


class SelfCheckError(AssertionError):
    """A wrong answer; the message is meant for the student."""

    def _render_traceback_(self):
        # IPython's hook: a notebook shows the message alone, not the kit's frames around it.
        return str(self).splitlines()


#: ``{grade_id: judge}`` of every check, for the grader.
JUDGES: dict = {}


def self_check(grade_id: str, prepare):
    """The notebook's ``check_<grade_id>``: ``prepare``'s signature, the judge's docstring."""
    def wrap(judge):
        @functools.wraps(judge)
        def check(*args, **kwargs):
            exercise = f"Ex {grade_id[2:].split('_')[0]}"
            answer = attempt(exercise, "reading your answer", lambda: prepare(*args, **kwargs),
                             "run the exercise's cells above in order, so that the check cell gets their variables")
            record.save(grade_id, answer)
            attempt(exercise, "checking your answer", lambda: judge(**answer),
                    "the values passed to the check are not of the kind the exercise asks for (print them)")

        check.__signature__ = inspect.signature(prepare).replace(return_annotation=None)
        JUDGES[grade_id] = judge
        return check
    return wrap


def ok(exercise: str, message: str) -> None:
    print(f"✅ {exercise}: {message}")


def expect(condition: bool, exercise: str, problem: str, hint: str) -> None:
    if not condition:
        raise SelfCheckError(f"❌ {exercise}: {problem}\n   Hint: {hint}")


def shape(value) -> tuple | None:
    """The shape of an array-like (or a shape given as such), ``None`` if it has none."""
    if isinstance(value, (tuple, list)) and all(v is None or isinstance(v, (int, np.integer)) for v in value):
        return tuple(None if v is None else int(v) for v in value)
    found = getattr(value, "shape", None)
    return tuple(found) if found is not None else None


def as_array(value):
    """``value`` as a numpy array when it is array-like (an array, a tensor, nested lists of
    numbers), else unchanged (the judge then names its type)."""
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "shape") or isinstance(value, (list, tuple)):
        try:
            array = np.asarray(value)
        except Exception:  # ragged lists, objects numpy cannot hold: judged as they are
            return value
        return array if array.dtype != object else value
    return value


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def attempt(exercise: str, what: str, call, hint: str):
    """``call()``, or a :class:`SelfCheckError` naming ``what`` failed (the student's code)."""
    try:
        return call()
    except SelfCheckError:
        raise
    except Exception as error:  # the student's code: report whatever it raised, briefly
        raise SelfCheckError(f"❌ {exercise}: {what} failed: {first_line(error)[:300]}\n   Hint: {hint}") from None
