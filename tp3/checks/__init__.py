"""Self-checks for the exercise notebooks: one function per exercise.

Each check compares the student's answer with what the course data says, computed
without the student's code, and recognises the usual mistakes. It prints
``✅ Ex N: ...`` when the answer is right and returns nothing; otherwise it raises
:class:`SelfCheckError` whose message names the mistake and where to look — never a
traceback from inside the kit. When a class is graded, the same judges run again in the
grader's process on the answers recorded here (:mod:`.record`, docs/grading.md).

Ex 1-4   ``check_ex1`` ... ``check_ex4`` (:mod:`.data_checks`)
Ex 5-6   ``check_ex5``, ``check_ex6`` (:mod:`.network_checks`)
Ex 7-9   ``check_ex7``, ``check_ex8``, ``check_ex9`` (:mod:`.training_checks`)
Ex 11-13 ``check_ex11``, ``check_ex12_truth`` and ``check_ex12`` (the ground truth, the export),
         ``check_ex13`` and ``check_ex13_loop`` (one patient, every patient) (:mod:`.evaluation_checks`)
Ex 10 is read, not checked.
"""

from .common import JUDGES, SelfCheckError
from .data_checks import check_ex1, check_ex2, check_ex3, check_ex4
from .evaluation_checks import check_ex11, check_ex12, check_ex12_truth, check_ex13, check_ex13_loop
from .network_checks import check_ex5, check_ex6
from .training_checks import MAX_SENSIBLE_ADAM_RATE, check_ex7, check_ex8, check_ex9

__all__ = ["JUDGES", "SelfCheckError", "MAX_SENSIBLE_ADAM_RATE", "check_ex1", "check_ex2", "check_ex3", "check_ex4",
           "check_ex5", "check_ex6", "check_ex7", "check_ex8", "check_ex9", "check_ex11", "check_ex12_truth",
           "check_ex12", "check_ex13", "check_ex13_loop"]
