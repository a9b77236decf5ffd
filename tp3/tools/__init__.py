"""Instructor tools: everything that makes or manages the course rather than teaching it.

``synth``        synthetic BraTS-like cases from the MNI template (``python -m tp3 synth``)
``preparation``  BraTS cases -> the course layout (``python -m tp3 prepare``)
``sources``      where each BraTS release (and the Decathlon) keeps a case, and its labels
``workers``      cases side by side in processes that stop with their run
``sample``       the default synthetic sample, built once per course root (``python -m tp3 sample``)
``evaluation``   predict, export and score a folder of patients (``python -m tp3 evaluate``)
``realism``      intensity and shape statistics that compare synthetic and real cases
``montage``      a picture of cases, four modalities and labels (``python -m tp3 synth --preview``)
``notebooks``    student notebooks from the solutions, stripping, HTML (``python -m tp3 notebooks``)
``grading``      grade a class's notebooks: grades.csv and feedback (``python -m tp3 grade``)
``cli``          the command line, ``python -m tp3 <command>``
"""

import importlib

_SUBMODULES = ("cli", "evaluation", "grading", "montage", "notebooks", "preparation", "realism", "sample", "sources",
               "synth", "workers")


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return list(_SUBMODULES)
