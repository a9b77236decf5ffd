"""The notebooks' layer: setup, and the runs and models later parts reuse.

Notebooks call these so that each can run on its own (Colab opens one at a time) while
reusing what an earlier notebook already produced in the course root. Like the command
line (:mod:`tp3.tools.cli`), this is a layer above the exercise modules: it is the one
module outside :mod:`tp3.tools` that uses an instructor tool, to build the default sample
(:func:`tp3.tools.sample.ensure_sample`) the first time a notebook runs.
"""

from __future__ import annotations

import ast
import inspect
import shutil
import textwrap
import warnings
from pathlib import Path

from . import layout, runtime
from .runtime import quiet_tensorflow_import  # noqa: F401 (the notebooks' and tests' name for it)

#: The two reference runs of Ex 10: {label: folder under tensorboard_logs/}.
REFERENCE_RUNS = {"without augmentation": "no_augmentation", "with augmentation": "augmentation"}


def setup(progress: bool = True) -> Path:
    """Build the course data if absent and say where everything is. Returns the course root."""
    from .tools.sample import ensure_sample

    quiet_tensorflow_import()
    root = ensure_sample(progress=progress)
    device = "a GPU" if runtime.gpu_available() else "the CPU"
    mode = " (smoke mode: CI-sized)" if runtime.smoke_mode() else ""
    policy = runtime.resolve_precision()[0]
    print(f"Course root: {root}{mode}\nTraining on {device}: U-Net width {runtime.default_width()}, "
          f"{runtime.default_epochs()} epochs, precision {policy} (set in tp3/settings.py); Ex 7 and 9 "
          "time a few batches first and size their runs to this machine")
    # Keras 3 warns that fit's shuffle=True is ignored for a tf.data dataset: the kit's datasets
    # shuffle themselves (tp3.pipeline), and the warning would only puzzle a student.
    warnings.filterwarnings("ignore", message="`shuffle=True` was passed, but will be ignored")
    return root


def fresh_run(root, name: str) -> tuple[Path, Path]:
    """``(model file path (.weights.h5), log folder)`` of a named run of the course (e.g. ``"ex7"``,
    :func:`tp3.layout.run_paths`), its log folder emptied first, saying so: a rerun's curves
    would otherwise pile up on the previous ones in TensorBoard. Ex 7, Ex 9.
    """
    model_path, logdir = layout.run_paths(root, name)
    if logdir.exists():
        shutil.rmtree(logdir)
        print(f"Previous logs of '{name}' removed: this run starts a fresh {logdir}")
    model_path.parent.mkdir(parents=True, exist_ok=True)
    return model_path, logdir


def trained_run(root, name: str, augment: bool = False, progress: bool = False) -> tuple[Path, Path]:
    """The model and logs of run ``name``, trained now if absent (sized to this machine as Ex 7 and 9
    are, :func:`tp3.sizing.size_run`)."""
    from .training import size_run, train

    model_path, logdir = layout.run_paths(root, name)
    if not model_path.is_file():
        fresh_run(root, name)
        print(f"No run '{name}' in {logdir.parent} yet: training it now "
              f"({runtime.default_epochs()} epochs, augmentation {'on' if augment else 'off'}).")
        size = size_run(root, augment=augment)
        train(size.config(root=root, logdir=logdir, model_out=model_path, augment=augment), progress=progress)
    return model_path, logdir


def pretrained_model(root) -> Path:
    """Ex 11-13: the pretrained model (``models/pretrained.weights.h5`` of the course root, else
    the kit's), or, when neither has it, the run of notebook 03."""
    pretrained = layout.shipped(root, layout.MODELS, layout.PRETRAINED)
    if pretrained.is_file():
        print(f"Using the pretrained model {pretrained}")
        return pretrained
    model_path, _ = trained_run(root, "ex7")
    print(f"The pretrained model is not shipped yet: using {model_path}, trained briefly in "
          "notebook 03 — expect modest scores.")
    return model_path


def reference_runs(root) -> dict:
    """Ex 10: ``{label: log folder}`` of the two reference runs (``tensorboard_logs/`` of the course
    root, else the kit's), or of the course's own runs of notebooks 03 and 04."""
    shipped = {label: layout.shipped(root, layout.REFERENCE_LOGS, folder) for label, folder in REFERENCE_RUNS.items()}
    if all(path.is_dir() and any(path.rglob("events.out.tfevents.*")) for path in shipped.values()):
        return shipped
    print("The 200-epoch reference logs are not shipped yet: comparing the runs of notebooks "
          "03 (Ex 7) and 04 (Ex 9) instead.")
    return {"without augmentation": trained_run(root, "ex7")[1],
            "with augmentation": trained_run(root, "ex9", augment=True)[1]}


def show_code(function) -> None:
    """Print a function's code without its docstring (Ex 11: the docstring holds the shapes to guess)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    definition = tree.body[0]
    if ast.get_docstring(definition) is not None:
        definition.body = definition.body[1:]
    print(ast.unparse(tree))
