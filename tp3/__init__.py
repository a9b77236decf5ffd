"""TP3 course kit: 2D U-Net segmentation of brain tumours (BraTS) with TensorFlow/Keras.

Modules follow the handout: ``data`` (Ex 1-4), ``unet`` (Ex 5-6), ``pipeline``/``train``
(Ex 7), ``augment`` (Ex 8-9), ``tblogs`` (Ex 10), ``predict``/``export`` (Ex 11-12),
``metrics`` (Ex 13); ``synth``/``prepare``/``sample`` make the course data, ``checks``
the notebooks' self-checks. Submodules load on first use (``tp3.unet`` imports Keras only
when touched), so ``import tp3`` stays light.
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = {"augment", "checks", "cli", "config", "course", "data", "evaluate", "export", "files", "metrics",
               "notebooks", "pipeline", "predict", "prepare", "preprocessing", "realism", "sample", "synth",
               "tblogs", "train", "unet", "viz"}


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
