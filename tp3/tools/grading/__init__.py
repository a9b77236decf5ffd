"""Grading a class (``python -m tp3 grade``, docs/grading.md).

* :mod:`.cells` — which cells are graded: nbgrader metadata from :data:`tp3.settings.POINTS`;
* :mod:`.submissions` — finding the submissions, recognising each notebook, restoring its locked cells;
* :mod:`.sandbox` — the bubblewrap sandbox a submission's kernel runs in;
* :mod:`.run` — the worker process driving that kernel through the notebook within its time limit;
* :mod:`.judge` — each self-check's grade, judged in the grader's process from the answer recorded;
* :mod:`.scoring` — the rows of the grades; :mod:`.reports` — feedback HTML, summary, CSV;
* :mod:`.grader` — the whole run: ``grade()``;
* :mod:`.classroom`, :mod:`.hostile` — fabricated classes, honest and hostile, and the grades they
  must get (tests, benchmark).
"""
