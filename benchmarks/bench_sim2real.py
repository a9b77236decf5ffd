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
    from tp3.tools.evaluation import evaluate_case_folder

    rows = []
    for folder in folders:
        metrics, prediction, truth = evaluate_case_folder(model, folder)
        rows.append({"case": Path(folder).name, "source": source, **{r: metrics[r]["dice"] for r in REGIONS},
                     "has_et": bool(np.any(truth == 4)), "et_cm3": np.count_nonzero(prediction == 4) / 1000})
    return rows


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
        generate(tmp, args.heldout, SEED + HELDOUT_SEED_OFFSET, workers=2, progress=False)
        rows = score(model, case_folders([tmp]), "synthetic") + score(model, real, "real")

    print(f"{'case':<24}{'source':<11}" + "".join(f"{r + ' Dice':>9}" for r in REGIONS) + f"{'ET cm3':>9}")
    for row in rows:
        print(f"{row['case']:<24}{row['source']:<11}" + "".join(f"{row[r]:9.3f}" for r in REGIONS)
              + f"{row['et_cm3']:9.1f}")
    means = {}
    for source in ("synthetic", "real"):
        group = [row for row in rows if row["source"] == source]
        means[source] = {r: statistics.mean(row[r] for row in group) for r in ("WT", "TC")}
        with_et = [row["ET"] for row in group if row["has_et"]]
        means[source]["ET"] = statistics.mean(with_et) if with_et else float("nan")
        without_et = [row["et_cm3"] for row in group if not row["has_et"]]
        print(f"{'mean ' + source:<35}" + "".join(f"{means[source][r]:9.3f}" for r in REGIONS)
              + (f"{max(without_et):9.1f}" if without_et else ""))
    print("(ET Dice: mean over the cases that have ET; ET cm3 on a mean line: the most predicted on a "
          "case without ET)")
    print(f"synthetic - real WT Dice gap: {means['synthetic']['WT'] - means['real']['WT']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
