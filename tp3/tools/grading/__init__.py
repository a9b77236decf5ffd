"""Grading a class (``python -m tp3 grade``, docs/grading.md).

* :mod:`.cells` — which cells are graded: nbgrader metadata from :data:`tp3.settings.POINTS`;
* :mod:`.run` — the worker process running one notebook within its time limit;
* :mod:`.grader` — finding the submissions, running them, scoring, ``grades.csv`` and feedback;
* :mod:`.classroom` — a fabricated class and the grades it must get (tests, benchmark).
"""
