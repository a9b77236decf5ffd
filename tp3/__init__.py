"""TP3 course kit: 2D U-Net segmentation of brain tumours (BraTS) with TensorFlow/Keras.

One module per part of the handout, each opening with its "Ex -> function" map:

=================  ============  ==========================================================
part of handout    exercises     module
=================  ============  ==========================================================
1 the data         Ex 1-4        ``tp3.data`` (and ``tp3.preprocessing``: crop, resize, normalise)
2 the network      Ex 5-6        ``tp3.unet``
3 training         Ex 7          ``tp3.training``
4 augmentation     Ex 8-10       ``tp3.augment``, ``tp3.tblogs`` (reading TensorBoard logs)
5 prediction       Ex 11-13      ``tp3.predict``, ``tp3.viewer`` (3D, Ex 12), ``tp3.metrics``
=================  ============  ==========================================================

Beside them: ``tp3.settings`` holds the values a course may change (seed, widths, epochs,
learning rate, augmentation ranges, precision), ``tp3.runtime`` how they apply on this
machine (smoke mode, GPU, bfloat16, ``TrainConfig``), ``tp3.layout`` where every file of the
course lives and how it is named; ``tp3.checks`` the notebooks' self-checks, ``tp3.viz`` the
shared colours, ``tp3.modelfile`` the model file training saves and Ex 11 loads (on every
Keras 3), ``tp3.files`` atomic writes and whole-file checks.

Layers on top: ``tp3.course`` (the notebooks' setup) and the instructor tools in
:mod:`tp3.tools` (synthetic data, preparation of BraTS, the command line, notebook tools).
The exercise modules never import either (a test checks it). Modules load on first use
(``tp3.unet`` imports Keras only when touched), so ``import tp3`` stays light.
"""

import importlib
import os

# TensorFlow's C++ start-up and graph messages (oneDNN, CUDA probing, a harmless "NodeDef
# mentions attribute" error at every epoch) are noise for students; Python errors are
# unaffected. Set TF_CPP_MIN_LOG_LEVEL=0 to see them again.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"

#: What a student sees after ``tp3.<TAB>``: the modules of the exercises, in handout order.
STUDENT_MODULES = ("data", "preprocessing", "unet", "training", "augment", "tblogs", "predict", "viewer", "metrics",
                   "checks", "course", "settings", "runtime", "layout", "viz")
_OTHER_MODULES = ("files", "modelfile", "tools")


def __getattr__(name):
    if name in STUDENT_MODULES or name in _OTHER_MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(STUDENT_MODULES) + ["__version__"]
