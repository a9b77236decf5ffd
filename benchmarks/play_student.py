"""Play the student: fill every exercise of the solution notebooks wrongly, then rightly.

For each notebook, its code cells run in order in one IPython shell (in this process). At
each exercise, every listed mistake is tried first: the exercise cell with the mistake
typed in, then its self-check. The outcome is one of

  caught      the self-check rejected it with a hint (the hint is printed);
  cell error  the student's own cell failed before the check (the error's first line);
  MISSED      the self-check said ✅.

Then the right answer runs and the notebook goes on. Prints a Markdown table.

    TP3_SMOKE=1 python benchmarks/play_student.py [--root DIR]

``--root`` (default: a fresh temporary folder) receives the smoke sample; smoke mode keeps
the training exercises to a couple of minutes.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO / "notebooks" / "solutions"

#: (notebook, exercise, mistake, text of the right cell, the text a student could type instead)
MISTAKES = [
    ("01_data", "Ex 1", "validation read from train.txt (copy-paste)",
     'validation = (datasets_dir / "validation.txt")', 'validation = (datasets_dir / "train.txt")'),
    ("01_data", "Ex 1", "lines kept with their newline",
     'train = (datasets_dir / "train.txt").read_text().split()', 'train = open(datasets_dir / "train.txt").readlines()'),
    ("01_data", "Ex 2", "slices counted with 't1', which t1ce's names hold too",
     'n_slices = len([name for name in images if "_flair_" in name])',
     'n_slices = len([name for name in images if "t1" in name])'),
    ("01_data", "Ex 2", "every file counted as a slice",
     'n_slices = len([name for name in images if "_flair_" in name])', "n_slices = len(images)"),
    ("01_data", "Ex 3", "origin in (z, y, x) order, like a numpy array",
     "origin, direction = image.GetOrigin(), image.GetDirection()",
     "origin, direction = image.GetOrigin()[::-1], image.GetDirection()"),
    ("01_data", "Ex 4", "original slice taken along x",
     "original_slice = original[2 * z]", "original_slice = original[:, :, 2 * z]"),
    ("02_network", "Ex 5", "up-convolution without strides=2",
     'x = layers.Conv2DTranspose(filters, 2, strides=2, padding="same")(x)',
     'x = layers.Conv2DTranspose(filters, 2, padding="same")(x)'),
    ("02_network", "Ex 5", "DownConvBlock returns (pooled, skip)", "return skip, pooled", "return pooled, skip"),
    ("02_network", "Ex 6", "up-convolutions not counted",
     "isinstance(layer, (layers.Conv2D, layers.Conv2DTranspose))", "isinstance(layer, layers.Conv2D)"),
    ("02_network", "Ex 6", "smallest shape given as one number",
     "smallest_shape = min(", "smallest_shape = 6 or min("),
    ("03_training", "Ex 7", "Adam's learning rate 1.0 (the schedule scales it, it does not replace it)",
     "keras.optimizers.Adam(learning_rate=cfg.learning_rate)", "keras.optimizers.Adam(learning_rate=1.0)"),
    ("03_training", "Ex 7", "no validation data",
     "history = model.fit(train_set, validation_data=val_set,", "history = model.fit(train_set,"),
    ("03_training", "Ex 7", "callbacks not passed",
     "callbacks=callbacks + [training.ProgressBar()]", "callbacks=[training.ProgressBar()]"),
    ("03_training", "Ex 7", "labels given as classes, not one-hot (arrays to fit)",
     "history = model.fit(train_set, validation_data=val_set,",
     "history = model.fit(x_train, y_train, validation_data=(x_val, y_val), batch_size=cfg.batch_size,"),
    ("04_augmentation", "Ex 8", "labels flipped along another axis than the image",
     "augmented_images, augmented_classes = augment.augment_numpy(images, classes, seed=0)",
     "augmented_images, augmented_classes = images[:, :, ::-1], classes[:, ::-1]"),
    ("04_augmentation", "Ex 8", "image and labels augmented with two different draws",
     "augmented_images, augmented_classes = augment.augment_numpy(images, classes, seed=0)",
     "augmented_images = augment.augment_numpy(images, classes, seed=0)[0]\n"
     "augmented_classes = augment.augment_numpy(images, classes, seed=1)[1]"),
    ("04_augmentation", "Ex 8", "labels rotated with linear interpolation",
     "augmented_images, augmented_classes = augment.augment_numpy(images, classes, seed=0)",
     "from scipy import ndimage\n"
     "augmented_images = ndimage.rotate(images, 20, axes=(1, 2), reshape=False, order=1)\n"
     "augmented_classes = ndimage.rotate(classes, 20, axes=(1, 2), reshape=False, order=1)"),
    ("04_augmentation", "Ex 9", "augmentation left off",
     "augment=True)", "augment=False)"),
    ("05_prediction_evaluation", "Ex 11", "X not normalised",
     "X = load_image(patient, ROOT)",
     'X = np.stack([tp3.data.read_slices(patient, m, ROOT) for m in ("t1", "t1ce", "t2", "flair")], axis=-1)'),
    ("05_prediction_evaluation", "Ex 11", "class 3 not turned back into label 4",
     "predict_mask = get_mask2original_shape(prediction)",
     "predict_mask = get_mask2original_shape(prediction)\npredict_mask[predict_mask == 4] = 3"),
    ("05_prediction_evaluation", "Ex 12", "ground truth read from the 96 x 96 slices",
     'orig_mask = sitk.GetArrayFromImage(sitk.ReadImage(str(tp3.data.origin_path(patient, "seg", ROOT))))',
     'orig_mask = tp3.data.read_slices(patient, "seg", ROOT)'),
    ("05_prediction_evaluation", "Ex 13", "evalAllSample's arguments swapped",
     "results = evalAllSample(predict_mask, orig_mask)", "results = evalAllSample(orig_mask, predict_mask)"),
    ("05_prediction_evaluation", "Ex 13", "ground truth's label 4 turned into the network's class 3",
     "results = evalAllSample(predict_mask, orig_mask)",
     "results = evalAllSample(predict_mask, np.where(orig_mask == 4, 3, orig_mask))"),
]

PRELUDE = "import numpy as np\nimport matplotlib\nmatplotlib.use('Agg')\n"


def _first_line(text: str) -> str:
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


def _run(shell, source: str):
    """Run ``source`` (its printout and tracebacks are kept out of the table); ``None`` when
    it worked, else the exception."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        result = shell.run_cell(source, silent=True)
    return result.error_in_exec or result.error_before_exec


def play_notebook(name: str) -> list[tuple]:
    import nbformat
    from IPython.core.interactiveshell import InteractiveShell

    from tp3.checks import SelfCheckError

    cells = [c.source for c in nbformat.read(str(SOLUTIONS / f"{name}.ipynb"), as_version=4).cells
             if c.cell_type == "code" and "NBVAL_SKIP" not in c.source]
    shell = InteractiveShell.instance()
    _run(shell, PRELUDE)
    rows = []
    for index, source in enumerate(cells):
        mistakes = [m for m in MISTAKES if m[0] == name and m[3] in source and "BEGIN SOLUTION" in source]
        check_index = next(i for i in range(index, len(cells)) if "tp3.checks.check_" in cells[i]) if mistakes else None
        for _, exercise, mistake, right, wrong in mistakes:
            steps = [source.replace(right, wrong)] + cells[index + 1:check_index + 1]
            error, where = None, None
            for step_index, step in enumerate(steps):
                error = _run(shell, step)
                if error is not None:
                    where = "check" if step_index == len(steps) - 1 and "tp3.checks.check_" in step else "cell"
                    break
            if error is None:
                rows.append((exercise, mistake, "MISSED", "the self-check said ✅"))
            elif where == "check" and isinstance(error, SelfCheckError):
                rows.append((exercise, mistake, "caught", _first_line(str(error).split("Hint:")[1])))
            else:
                rows.append((exercise, mistake, "cell error", f"{type(error).__name__}: {_first_line(error)}"[:160]))
        error = _run(shell, source)
        if error is not None:
            raise RuntimeError(f"{name}: the right answer of cell {index} failed: {error!r}")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, help="course root (default: a temporary folder)")
    args = parser.parse_args()
    os.environ.setdefault("TP3_SMOKE", "1")
    root = args.root or Path(tempfile.mkdtemp(prefix="tp3-student-"))
    os.environ["TP3_ROOT"] = str(root)
    sys.path.insert(0, str(REPO))
    rows = []
    for name in dict.fromkeys(m[0] for m in MISTAKES):
        print(f"playing {name}...", file=sys.stderr, flush=True)
        rows += play_notebook(name)
    print("| exercise | mistake | outcome | what the student reads |")
    print("|---|---|---|---|")
    for exercise, mistake, outcome, text in rows:
        print(f"| {exercise} | {mistake} | {outcome} | {text.replace('|', '/')} |")
    caught = sum(row[2] == "caught" for row in rows)
    print(f"\n{caught} of {len(rows)} mistakes caught by a self-check with a hint "
          f"({sum(row[2] == 'MISSED' for row in rows)} missed).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
