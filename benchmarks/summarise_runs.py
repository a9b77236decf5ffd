"""The figures of tensorboard_logs/README.md and of the Ex 10 answer, read from the runs' CSV logs.

For each run: the best validation loss and its epoch, the final training and validation
losses, the validation Dice per region at the best epoch and at the end, and the epoch
from which overfitting shows — the first epoch after which the validation loss never
again comes within 5 % of its best while the training loss keeps falling (none when the
validation loss is still near its best at the end). Epochs are counted from 1.

    python benchmarks/summarise_runs.py [tensorboard_logs/no_augmentation tensorboard_logs/augmentation]
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

REGIONS = ("wt", "tc", "et")


def read_log(folder: Path) -> dict:
    with open(folder / "training_log.csv") as handle:
        rows = list(csv.DictReader(handle))
    return {key: [float(row[key]) for row in rows] for key in rows[0] if key != "epoch"}


def overfitting_onset(train_loss: list, val_loss: list, tolerance: float = 0.05):
    """First epoch (1-based) from which the validation loss stays more than ``tolerance``
    above its best while the training loss ends lower than it was then; ``None`` if none."""
    best = min(val_loss)
    near = [i for i, value in enumerate(val_loss) if value <= best * (1 + tolerance)]
    last_near = near[-1]
    if last_near == len(val_loss) - 1 or train_loss[-1] >= train_loss[last_near]:
        return None
    return last_near + 2


def summarise(folder: Path) -> dict:
    log = read_log(folder)
    best = min(range(len(log["val_loss"])), key=log["val_loss"].__getitem__)
    return {
        "epochs": len(log["loss"]),
        "best_val_loss": log["val_loss"][best], "best_epoch": best + 1,
        "final_train_loss": log["loss"][-1], "final_val_loss": log["val_loss"][-1],
        "dice_at_best": [log[f"val_dice_{r}"][best] for r in REGIONS],
        "dice_final": [log[f"val_dice_{r}"][-1] for r in REGIONS],
        "train_dice_final": [log[f"dice_{r}"][-1] for r in REGIONS],
        "onset": overfitting_onset(log["loss"], log["val_loss"]),
    }


def main(argv: list[str]) -> int:
    folders = [Path(a) for a in argv] or [Path("tensorboard_logs/no_augmentation"), Path("tensorboard_logs/augmentation")]
    print("| run | epochs | best validation loss (epoch) | final training loss | final validation loss "
          "| validation Dice WT/TC/ET at best | final validation Dice WT/TC/ET | final training Dice WT/TC/ET "
          "| overfitting from epoch |")
    print("|---|---|---|---|---|---|---|---|---|")
    for folder in folders:
        s = summarise(folder)
        dice = lambda values: " / ".join(f"{v:.3f}" for v in values)
        print(f"| {folder.name} | {s['epochs']} | {s['best_val_loss']:.4f} ({s['best_epoch']}) | "
              f"{s['final_train_loss']:.4f} | {s['final_val_loss']:.4f} | {dice(s['dice_at_best'])} | "
              f"{dice(s['dice_final'])} | {dice(s['train_dice_final'])} | {s['onset'] or 'none'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
