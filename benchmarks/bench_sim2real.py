"""Does a U-Net trained on the synthetic course data work on real MRI? (issue: course data v2)

Trains a U-Net (width 16, ``auto`` precision, augmentation on, a fixed number of epochs
that fits in about an hour on 2 CPU cores) on the default synthetic sample only, keeps
its best validation checkpoint, then scores it with the kit's own evaluation code
(:func:`tp3.tools.evaluation.evaluate_case_folder`: course preprocessing, prediction back to the
original space, BraTS metrics) on held-out synthetic cases (a seed the sample never uses)
and on every case of ``--real`` (BraTS 2019 layout). Prints one table: Dice per region,
the ET volume predicted (cm³), and the means of each group.

    python benchmarks/bench_sim2real.py --real ../shared/real [--root ROOT] [--epochs 50]
        [--heldout 6] [--out DIR]
    python benchmarks/bench_sim2real.py --real ../shared/real --model models/pretrained.weights.h5

With ``--model`` nothing is trained: that model is scored the same way.

The sample is the course root's (built if absent); the model and logs go to ``--out``
(default ``ROOT/logs/sim2real``), so a run can be looked at in TensorBoard afterwards.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_realism import case_folders

#: Held-out synthetic cases use this seed offset: never the sample's own cases.
HELDOUT_SEED_OFFSET = 1000
REGIONS = ("WT", "TC", "ET")


def score(model, folders, source: str) -> list[dict]:
    """Per case: Dice of each region, WT sensitivity, ET predicted (cm3), and the Dice of the ground
    truth itself through the 96 x 96 grid and back (what the course resolution allows)."""
    from tp3.metrics import evalAllSample
    from tp3.predict import get_mask2original_shape
    from tp3.preprocessing import labels_to_classes, one_hot, resize_labels
    from tp3.tools.evaluation import evaluate_case_folder

    rows = []
    for folder in folders:
        metrics, prediction, truth = evaluate_case_folder(model, folder)
        round_trip = get_mask2original_shape(one_hot(labels_to_classes(resize_labels(truth))))
        grid = evalAllSample(round_trip, truth)
        rows.append({"case": Path(folder).name, "source": source, **{r: metrics[r]["dice"] for r in REGIONS},
                     "WT sens": metrics["WT"]["sensitivity"], **{f"grid {r}": grid[r]["dice"] for r in REGIONS},
                     "has_et": bool(np.any(truth == 4)), "et_cm3": np.count_nonzero(prediction == 4) / 1000})
    return rows


COLUMNS = (*REGIONS, "WT sens", *(f"grid {r}" for r in REGIONS))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--real", type=Path, required=True, help="folder of real cases (BraTS 2019 layout)")
    parser.add_argument("--root", type=Path, default=None, help="course root with the default sample")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--heldout", type=int, default=6, help="held-out synthetic cases")
    parser.add_argument("--no-augment", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="folder for the model and logs")
    parser.add_argument("--model", type=Path, default=None, help="score this trained model instead of training one")
    args = parser.parse_args()

    from tp3.settings import SEED
    from tp3.predict import load_model
    from tp3.tools.sample import ensure_sample
    from tp3.tools.synth import generate
    from tp3.training import TrainConfig, train

    real = case_folders([args.real])
    if args.model:
        model = load_model(args.model)
        print(f"model {args.model} (not trained here)")
    else:
        root = ensure_sample(args.root, progress=False)
        out = args.out or root / "logs" / "sim2real"
        cfg = TrainConfig(root=str(root), logdir=str(out), model_out=str(out / "model.weights.h5"),
                          epochs=args.epochs, width=args.width, augment=not args.no_augment)
        start = time.perf_counter()
        history = train(cfg, progress=False).history
        minutes = (time.perf_counter() - start) / 60
        model = load_model(cfg.model_out)
        best = int(np.argmin(history["val_loss"]))
        print(f"U-Net width {cfg.width}, {cfg.epochs} epochs ({minutes:.0f} min), augmentation "
              f"{'on' if cfg.augment else 'off'}, trained on {root} (synthetic sample); best validation "
              f"loss {history['val_loss'][best]:.4f} at epoch {best + 1}")
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        if args.heldout:
            generate(tmp, args.heldout, SEED + HELDOUT_SEED_OFFSET, workers=2, progress=False)
            rows = score(model, case_folders([tmp]), "synthetic")
        rows += score(model, real, "real")

    print(f"{'case':<24}{'source':<11}" + "".join(f"{c:>9}" for c in COLUMNS) + f"{'ET cm3':>9}")
    for row in rows:
        print(f"{row['case']:<24}{row['source']:<11}" + "".join(f"{row[c]:9.3f}" for c in COLUMNS)
              + f"{row['et_cm3']:9.1f}")
    means = {}
    for source in ("synthetic", "real"):
        group = [row for row in rows if row["source"] == source]
        if not group:
            continue
        means[source] = {c: statistics.mean(row[c] for row in group) for c in COLUMNS}
        with_et = [row for row in group if row["has_et"]]
        for column in ("ET", "grid ET"):
            means[source][column] = statistics.mean(row[column] for row in with_et) if with_et else float("nan")
        without_et = [row["et_cm3"] for row in group if not row["has_et"]]
        print(f"{'mean ' + source:<35}" + "".join(f"{means[source][c]:9.3f}" for c in COLUMNS)
              + (f"{max(without_et):9.1f}" if without_et else ""))
        print(f"{'lowest ' + source:<35}" + "".join(f"{min(row[c] for row in group):9.3f}" for c in COLUMNS[:4]))
    print("(ET Dice: mean over the cases that have ET; ET cm3 on a mean line: the most predicted on a "
          "case without ET;\n 'grid': the ground truth through the course's 96 x 96 grid and back, what that "
          "resolution allows)")
    if len(means) == 2:
        print(f"synthetic - real WT Dice gap: {means['synthetic']['WT'] - means['real']['WT']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
