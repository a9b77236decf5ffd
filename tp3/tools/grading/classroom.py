"""A fabricated class: the submissions an instructor really receives, and their expected grades.

:data:`MISTAKES` are the typical slips of each exercise (``benchmarks/play_student.py`` tries
them all against the self-checks). :func:`fabricate_class` writes
``FOLDER/<student>/<notebook>.ipynb`` for ten students — the solutions (a perfect student),
the untouched student version, three students each making one typical mistake per
notebook, and the awkward ones: a crash (``os._exit``), an infinite loop, an edited
self-check, renamed files with a deleted and a moved check, a cell deleting course files
beside a 50 MB notebook full of outputs, a notebook handed in under another's name beside
invalid JSON and another course's notebook, and a student who handed in two notebooks only —
and returns the outcome each self-check must get. ``tests/test_grading.py`` asserts them;
``benchmarks/bench_grading.py`` times the class.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import NamedTuple

import nbformat

from ...files import write_text_atomic
from .cells import checks, exercise_label, grade_id_of, graded_cells


class Mistake(NamedTuple):
    notebook: str
    exercise: str
    mistake: str
    #: the text of the solution cell, and what a student could type instead
    right: str
    wrong: str
    #: the slip breaks the student's own cell before the self-check (the check then errors)
    breaks_cell: bool = False
    #: (grade_id, outcome) of the checks it changes beyond its exercise's hint, e.g. a later
    #: exercise whose cell fails because of it
    outcomes: tuple = ()


MISTAKES = [
    Mistake("01_data", "Ex 1", "validation read from train.txt (copy-paste)",
            'validation = (datasets_dir / "validation.txt")', 'validation = (datasets_dir / "train.txt")'),
    Mistake("01_data", "Ex 1", "lines kept with their newline",
            'train = (datasets_dir / "train.txt").read_text().split()',
            'train = open(datasets_dir / "train.txt").readlines()'),
    Mistake("01_data", "Ex 2", "slices counted with 't1', which t1ce's names hold too",
            'n_slices = len([name for name in images if "_flair_" in name])',
            'n_slices = len([name for name in images if "t1" in name])'),
    Mistake("01_data", "Ex 2", "every file counted as a slice",
            'n_slices = len([name for name in images if "_flair_" in name])', "n_slices = len(images)"),
    Mistake("01_data", "Ex 3", "origin in (z, y, x) order, like a numpy array",
            "origin, direction = image.GetOrigin(), image.GetDirection()",
            "origin, direction = image.GetOrigin()[::-1], image.GetDirection()"),
    Mistake("01_data", "Ex 4", "original slice taken along x",
            "original_slice = original[2 * z]", "original_slice = original[:, :, 2 * z]"),
    Mistake("02_network", "Ex 5", "up-convolution without strides=2",
            'x = layers.Conv2DTranspose(filters, 2, strides=2, padding="same")(x)',
            'x = layers.Conv2DTranspose(filters, 2, padding="same")(x)', outcomes=(("ex6", "error"),)),
    Mistake("02_network", "Ex 5", "DownConvBlock returns (pooled, skip)", "return skip, pooled", "return pooled, skip",
            outcomes=(("ex6", "error"),)),
    Mistake("02_network", "Ex 6", "up-convolutions not counted",
            "isinstance(layer, (layers.Conv2D, layers.Conv2DTranspose))", "isinstance(layer, layers.Conv2D)"),
    Mistake("02_network", "Ex 6", "smallest shape given as one number",
            "smallest_shape = min(", "smallest_shape = 6 or min("),
    Mistake("03_training", "Ex 7", "Adam's learning rate 1.0 (the schedule scales it, it does not replace it)",
            "keras.optimizers.Adam(learning_rate=cfg.learning_rate)", "keras.optimizers.Adam(learning_rate=1.0)"),
    Mistake("03_training", "Ex 7", "no validation data",
            "history = model.fit(train_set, validation_data=val_set,", "history = model.fit(train_set,"),
    Mistake("03_training", "Ex 7", "callbacks not passed",
            "callbacks=callbacks + [training.ProgressBar()]", "callbacks=[training.ProgressBar()]"),
    Mistake("03_training", "Ex 7", "labels given as classes, not one-hot (arrays to fit)",
            "history = model.fit(train_set, validation_data=val_set,",
            "history = model.fit(x_train, y_train, validation_data=(x_val, y_val), batch_size=cfg.batch_size,",
            breaks_cell=True),
    Mistake("04_augmentation", "Ex 8", "labels flipped along another axis than the image",
            "augmented_images, augmented_classes = augment.augment_numpy(images, classes, seed=0)",
            "augmented_images, augmented_classes = images[:, :, ::-1], classes[:, ::-1]"),
    Mistake("04_augmentation", "Ex 8", "image and labels augmented with two different draws",
            "augmented_images, augmented_classes = augment.augment_numpy(images, classes, seed=0)",
            "augmented_images = augment.augment_numpy(images, classes, seed=0)[0]\n"
            "augmented_classes = augment.augment_numpy(images, classes, seed=1)[1]"),
    Mistake("04_augmentation", "Ex 8", "labels rotated with linear interpolation",
            "augmented_images, augmented_classes = augment.augment_numpy(images, classes, seed=0)",
            "from scipy import ndimage\n"
            "augmented_images = ndimage.rotate(images, 20, axes=(1, 2), reshape=False, order=1)\n"
            "augmented_classes = ndimage.rotate(classes, 20, axes=(1, 2), reshape=False, order=1)"),
    Mistake("04_augmentation", "Ex 9", "augmentation left off", "model_out=model_path, augment=True)",
            "model_out=model_path, augment=False)"),
    Mistake("05_prediction_evaluation", "Ex 11", "X not normalised",
            "X = load_image(patient, ROOT)",
            'import numpy as np\n'
            'X = np.stack([tp3.data.read_slices(patient, m, ROOT) for m in ("t1", "t1ce", "t2", "flair")], axis=-1)'),
    Mistake("05_prediction_evaluation", "Ex 11", "class 3 not turned back into label 4",
            "predict_mask = get_mask2original_shape(prediction)",
            "predict_mask = get_mask2original_shape(prediction)\npredict_mask[predict_mask == 4] = 3",
            outcomes=(("ex12", "error"), ("ex13", "hint"))),
    Mistake("05_prediction_evaluation", "Ex 12", "ground truth read from the 96 x 96 slices",
            'orig_mask = sitk.GetArrayFromImage(sitk.ReadImage(str(tp3.data.origin_path(patient, "seg", ROOT))))',
            'orig_mask = tp3.data.read_slices(patient, "seg", ROOT)', outcomes=(("ex12", "passed"), ("ex13", "error"))),
    Mistake("05_prediction_evaluation", "Ex 13", "evalAllSample's arguments swapped",
            "results = evalAllSample(predict_mask, orig_mask)", "results = evalAllSample(orig_mask, predict_mask)"),
    Mistake("05_prediction_evaluation", "Ex 13", "ground truth's label 4 turned into the network's class 3",
            "results = evalAllSample(predict_mask, orig_mask)",
            "import numpy as np\nresults = evalAllSample(predict_mask, np.where(orig_mask == 4, 3, orig_mask))"),
    # The slips of the walk-through of 2026-12-07 (issue 31) that used to pass with a tick: after the
    # slips above, so that the fabricated class's students make the same ones as before.
    Mistake("01_data", "Ex 4", "original slice at the processed slice's index, not its height",
            "original_slice = original[2 * z]", "original_slice = original[z]"),
    Mistake("01_data", "Ex 4", "T1 volume instead of FLAIR",
            'f"{origin_patient}_flair.nii.gz"', 'f"{origin_patient}_t1.nii.gz"'),
    Mistake("01_data", "Ex 4", "original slice of another patient",
            "original_slice = original[2 * z]",
            'original_slice = tp3.data.load_original(tp3.data.list_origin_patients(ROOT)[-1], "flair", ROOT)[2 * z]'),
    Mistake("02_network", "Ex 5", "convolutions without activation",
            'x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)\n    skip = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)',
            'x = layers.Conv2D(filters, 3, padding="same")(x)\n    skip = layers.Conv2D(filters, 3, padding="same")(x)'),
    Mistake("02_network", "Ex 5", "sigmoid instead of ReLU in the up block",
            'x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)\n    x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)',
            'x = layers.Conv2D(filters, 3, padding="same", activation="sigmoid")(x)\n    x = layers.Conv2D(filters, 3, padding="same", activation="sigmoid")(x)'),
    Mistake("02_network", "Ex 5", "skip taken after the first convolution",
            'skip = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)\n    pooled = layers.MaxPooling2D(2)(skip)',
            'skip = x\n    x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)\n    pooled = layers.MaxPooling2D(2)(x)'),
    Mistake("02_network", "Ex 5", "the kit's DownConvBlock imported instead of written",
            "def DownConvBlock(x, filters):", "from tp3.unet import DownConvBlock\n\ndef _unused(x, filters):"),
    Mistake("03_training", "Ex 7", "binary cross-entropy", 'loss="categorical_crossentropy"', 'loss="binary_crossentropy"'),
    Mistake("03_training", "Ex 7", "fitted on the validation set",
            "history = model.fit(train_set, validation_data=val_set,", "history = model.fit(val_set, validation_data=val_set,"),
    Mistake("04_augmentation", "Ex 9", "augment='yes' (a string, not True)", "model_out=model_path, augment=True)",
            'model_out=model_path, augment="yes")',
            breaks_cell=True),
    Mistake("05_prediction_evaluation", "Ex 12", "the ground truth exported as the prediction",
            "exported = numpy2nifti(predict_mask, reference,", "exported = numpy2nifti(orig_mask, reference,"),
    Mistake("05_prediction_evaluation", "Ex 13", "the same ground truth at every turn of the loop",
            'truth_p = sitk.GetArrayFromImage(sitk.ReadImage(str(tp3.data.origin_path(p, "seg", ROOT))))',
            "truth_p = orig_mask"),
    Mistake("05_prediction_evaluation", "Ex 13", "the first patient's prediction at every turn of the loop",
            "mask = get_mask2original_shape(model.predict(load_image(p, ROOT), verbose=0))", "mask = predict_mask"),
]

#: Students making one typical mistake per notebook (the k-th of its list).
MISTAKEN = ("mistaken-1", "mistaken-2", "mistaken-3")


def apply_mistake(notebook, mistake: Mistake):
    """A copy of ``notebook`` (a solution) with ``mistake`` typed into its solution cell."""
    notebook = copy.deepcopy(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code" and "BEGIN SOLUTION" in cell.source and mistake.right in cell.source:
            cell.source = cell.source.replace(mistake.right, mistake.wrong, 1)
            return notebook
    raise ValueError(f"{mistake.notebook}: no solution cell holds {mistake.right!r}")


def checked_by(notebook, mistake: Mistake) -> str:
    """The grade_id of the self-check that first follows the solution cell ``mistake`` changes."""
    found = False
    for cell in notebook.cells:
        found = found or (cell.cell_type == "code" and "BEGIN SOLUTION" in cell.source and mistake.right in cell.source)
        if found and grade_id_of(cell) in checks(notebook):
            return grade_id_of(cell)
    raise ValueError(f"{mistake.notebook}: no self-check follows the cell holding {mistake.right!r}")


def append_to_answer(notebook, grade_id: str, code: str):
    """A copy of ``notebook`` with ``code`` added at the end of the answer cell ``grade_id``."""
    notebook = copy.deepcopy(notebook)
    cell = graded_cells(notebook)[grade_id]
    cell.source = cell.source + "\n" + code
    return notebook


def _index(notebook, grade_id: str) -> int:
    return next(i for i, c in enumerate(notebook.cells) if grade_id_of(c) == grade_id)


def _expect(expected, student, name, notebook, default, **special):
    for grade_id in checks(notebook):
        expected[(student, name, exercise_label(grade_id))] = special.get(grade_id, default)


def fabricate_class(folder, solutions, students, names=None) -> dict:
    """Write the class into ``folder`` from the ``solutions`` and ``students`` notebook folders
    (``names``: the notebooks to hand in, default all). Returns ``{(student, notebook, exercise):
    outcome}`` for every self-check, and ``{(student, file): outcome}`` for files not graded."""
    folder = Path(folder)
    names = list(names or sorted(p.stem for p in Path(solutions).glob("*.ipynb")))
    solution = {n: nbformat.read(str(Path(solutions) / f"{n}.ipynb"), as_version=4) for n in names}
    blank = {n: nbformat.read(str(Path(students) / f"{n}.ipynb"), as_version=4) for n in names}
    expected, hand_in = {}, []
    put = lambda student, file, notebook: hand_in.append((student, file, nbformat.writes(notebook)))

    for n in names:
        put("perfect", f"{n}.ipynb", solution[n])
        _expect(expected, "perfect", n, solution[n], "passed")
        put("untouched", f"{n}.ipynb", blank[n])
        _expect(expected, "untouched", n, blank[n], "not answered")
        own = [m for m in MISTAKES if m.notebook == n]
        for k, student in enumerate(MISTAKEN):
            mistake = own[k % len(own)] if own else None
            notebook = apply_mistake(solution[n], mistake) if mistake else solution[n]
            put(student, f"{n}.ipynb", notebook)
            wrong = {checked_by(solution[n], mistake): "error" if mistake.breaks_cell else "hint"} if mistake else {}
            wrong.update(mistake.outcomes if mistake else ())
            _expect(expected, student, n, notebook, "passed", **wrong)

    first, second = names[0], names[min(1, len(names) - 1)]
    for student in ("crashing", "looping", "editor", "renamer", "vandal", "mixup", "latecomer"):
        for n in names:
            if student in ("mixup", "latecomer") or (student == "renamer" and n in (first, second)):
                continue
            if (student, n) in (("crashing", first), ("looping", second), ("editor", first), ("vandal", first),
                                ("vandal", second)):
                continue
            put(student, f"{n}.ipynb", solution[n])
            _expect(expected, student, n, solution[n], "passed")

    # crashing: the process ends in the third exercise's answer cell of the first notebook
    ids = checks(solution[first])
    crashed = append_to_answer(solution[first], f"{ids[2]}_answer", "import os; os._exit(1)")
    put("crashing", f"{first}.ipynb", crashed)
    _expect(expected, "crashing", first, crashed, "passed", **{c: "kernel died" for c in ids[2:]})
    # looping: an endless loop in the second notebook's last answer
    ids2 = checks(solution[second])
    looped = append_to_answer(solution[second], f"{ids2[-1]}_answer", "while True:\n    pass")
    put("looping", f"{second}.ipynb", looped)
    _expect(expected, "looping", second, looped, "passed", **{ids2[-1]: "timeout"})
    # editor: a wrong first answer, and its self-check replaced by a printed tick
    edited = apply_mistake(solution[first], next(m for m in MISTAKES if m.notebook == first))
    edited.cells[_index(edited, ids[0])].source = f'print("✅ {exercise_label(ids[0])}: all good")'
    put("editor", f"{first}.ipynb", edited)
    _expect(expected, "editor", first, edited, "passed", **{ids[0]: "hint"})
    # renamer: Colab's "Copy of" name, the last check deleted; "(1)" name, the last check moved up
    deleted = copy.deepcopy(solution[first])
    del deleted.cells[_index(deleted, ids[-1])]
    put("renamer", f"Copy of {first}.ipynb", deleted)
    _expect(expected, "renamer", first, solution[first], "passed", **{ids[-1]: "missing"})
    if second != first:
        moved = copy.deepcopy(solution[second])
        cell = moved.cells.pop(_index(moved, ids2[-1]))
        moved.cells.insert(_index(moved, f"{ids2[-1]}_answer"), cell)
        put("renamer", f"{second} (1).ipynb", moved)
        _expect(expected, "renamer", second, moved, "passed", **{ids2[-1]: "error"})
    # vandal: removes origin_data/ and writes in its home and temporary folders before the last
    # exercise; hands in the second notebook with 50 MB of stored outputs
    vandal = append_to_answer(solution[first], f"{ids[-2]}_answer",
                               "import shutil, os, pathlib, tempfile\nshutil.rmtree(ROOT / 'origin_data')\n"
                               "pathlib.Path('~/vandal.txt').expanduser().write_text('x')\n"
                               "pathlib.Path(tempfile.gettempdir(), 'vandal.txt').write_text('x')")
    put("vandal", f"{first}.ipynb", vandal)
    _expect(expected, "vandal", first, vandal, "passed", **{ids[-1]: "error"})
    if second != first:
        heavy = copy.deepcopy(solution[second])
        heavy.cells[_index(heavy, ids2[0])].outputs = [
            nbformat.v4.new_output("stream", name="stdout", text="0123456789abcdef" * (50 * 2**16))]
        put("vandal", f"{second}.ipynb", heavy)
        _expect(expected, "vandal", second, heavy, "passed")
    # mixup: the second notebook under the first's name, invalid JSON, another course's notebook
    put("mixup", f"{first}.ipynb", solution[second])
    _expect(expected, "mixup", second, solution[second], "passed")
    if second != first:
        _expect(expected, "mixup", first, solution[first], "missing")
        hand_in.append(("mixup", f"{second}.ipynb", nbformat.writes(solution[second])[:5000]))
        expected[("mixup", f"{second}.ipynb")] = "invalid"
    hand_in.append(("mixup", "homework.ipynb", nbformat.writes(nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("print('hello')")]))))
    expected[("mixup", "homework.ipynb")] = "unrecognised"
    for n in names[2:]:
        _expect(expected, "mixup", n, solution[n], "missing")
    # latecomer: the first two notebooks only
    for n in names:
        if n in (first, second):
            put("latecomer", f"{n}.ipynb", solution[n])
            _expect(expected, "latecomer", n, solution[n], "passed")
        else:
            _expect(expected, "latecomer", n, solution[n], "missing")

    for student, file, text in hand_in:
        write_text_atomic(folder / student / file, text)
    return expected
