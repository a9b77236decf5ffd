"""Ex 7 end to end, as the notebook runs it: the 40-case sample read with ``load_split``, the
run sized to this machine (``training.size_run``: a few steps timed, unless this machine's are
known), then ``training.train`` for 10 epochs, every callback included.

Prints the time from the first file read to the last checkpoint, where it goes (reading
the data, sizing, building and compiling, the first epoch that traces the graph, the other
epochs' training steps, validation, the callbacks at the end of each epoch), the time
``size_run`` announced against the time the run took (from the network's building to the last
checkpoint, what it estimates), and the validation Dice WT/TC/ET of the last epoch. Targets
(issue 35): <= 240 s end to end on any 2-core CPU, the announced time within 30 % of the run's.
``--width W [--epoch-share S]`` trains that size instead of sizing (``--remeasure``: time the
steps again rather than reuse this machine's).
``--ex9`` times Ex 9's cell instead: ``training.train(cfg)`` with augmentation, the splits
streamed from the slice cache (built by the first run, then reused, as in the notebook).

    python benchmarks/bench_ex7.py [--root DIR] [--epochs 10] [--width 16 [--epoch-share 1]] [--remeasure]
        [--precision auto] [--set SETTING=VALUE ...] [--batch-size B] [--ex9]
    python benchmarks/bench_ex7.py --variants "kit:" "all slices:SKIP_EMPTY_SLICES=False" ...

``--root`` holds (or receives) the 40-case sample: the default is a folder under the
system's temporary directory, kept between runs, so that only the first run builds it.
``--set`` overrides a value of :mod:`tp3.settings` for the run (e.g. ``SKIP_EMPTY_SLICES=False``;
in ``--variants``, ``$NAME=VALUE`` sets an environment variable and ``batch_size=B`` the batch);
``--variants NAME:SETTING=VALUE,...`` runs each variant in its own process, one after the
other (same data, same seed), and prints their times and Dice side by side, with each
variant's time as a ratio to the first's.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_ROOT = Path(tempfile.gettempdir()) / "tp3-bench-ex7"


def make_timer():
    import keras

    class Timer(keras.callbacks.Callback):
        """Wall times of the run's phases. Placed first and last among the callbacks: the
        difference between its two copies' ``on_epoch_end`` is what the others cost."""

        def __init__(self, marks: dict, first: bool):
            super().__init__()
            self.marks, self.first = marks, first

        def _add(self, key, value):
            self.marks.setdefault(key, []).append(value)

        def on_epoch_begin(self, epoch, logs=None):
            if self.first:
                self.marks["epoch_start"] = time.perf_counter()

        def on_test_begin(self, logs=None):
            if self.first:
                self.marks["test_start"] = time.perf_counter()
                self._add("train_steps", self.marks["test_start"] - self.marks["epoch_start"])

        def on_test_end(self, logs=None):
            if self.first:
                self._add("validation", time.perf_counter() - self.marks["test_start"])

        def on_epoch_end(self, epoch, logs=None):
            now = time.perf_counter()
            if self.first:
                self.marks["callbacks_start"] = now
            else:
                self._add("callbacks", now - self.marks["callbacks_start"])
                self._add("epoch", now - self.marks["epoch_start"])

    return Timer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--width", type=int, default=None, help="train this width instead of sizing the run")
    parser.add_argument("--epoch-share", type=float, default=1.0, help="with --width: the share of slices per epoch")
    parser.add_argument("--remeasure", action="store_true", help="time the steps again (not this machine's record)")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--patients", type=int, default=40, help="cases of the sample (the notebooks': 40)")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--ex9", action="store_true",
                        help="Ex 9 instead: training.train(cfg) with augment=True, the splits streamed from the cache")
    parser.add_argument("--set", action="append", default=[], metavar="SETTING=VALUE")
    parser.add_argument("--variants", nargs="+", metavar="NAME:SETTING=VALUE,...")
    parser.add_argument("--json", type=Path, help="write the figures here (used by --variants)")
    args = parser.parse_args()
    os.environ.pop("TP3_SMOKE", None)
    if args.variants:
        compare(args)
        return

    start = time.perf_counter()
    from tp3 import settings, training  # first: it quiets TensorFlow's C++ start-up lines

    from tp3.data import read_split
    from tp3.runtime import resolve_precision
    from tp3.tools.sample import ensure_sample

    import_s = time.perf_counter() - start
    for assignment in args.set:
        name, _, value = assignment.partition("=")
        if not hasattr(settings, name):
            raise SystemExit(f"--set {assignment}: tp3.settings has no {name}")
        setattr(settings, name, ast.literal_eval(value))
    root = ensure_sample(args.root, n_patients=args.patients, progress=False)
    marks: dict = {}
    Timer = make_timer()
    original = training.make_callbacks

    def timed_callbacks(cfg, preview):  # the run's own callbacks, between two timers
        return [Timer(marks, first=True), *original(cfg, preview), Timer(marks, first=False)]

    training.make_callbacks = timed_callbacks
    with tempfile.TemporaryDirectory() as tmp:
        begin = time.perf_counter()
        if args.ex9:  # Ex 9's cell: training.train(cfg) reads the splits into the cache, or reuses it
            data = None
        else:
            data = (training.load_split("train", root, progress=False),
                    training.load_split("validation", root, progress=False))
        loaded = time.perf_counter()
        fields = dict(root=root, logdir=Path(tmp) / "logs", model_out=Path(tmp) / "ex7.weights.h5",
                      precision=args.precision, augment=args.ex9)
        size = None
        if args.width is None:  # as the notebooks do
            size = training.size_run(root, args.epochs, augment=args.ex9, precision=args.precision,
                                     remeasure=args.remeasure, train_classes=None if args.ex9 else data[0][1])
            if args.batch_size:
                fields["batch_size"] = args.batch_size
            cfg = size.config(**fields)
        else:
            cfg = training.TrainConfig(**fields, epochs=args.epochs, width=args.width, epoch_share=args.epoch_share,
                                       batch_size=args.batch_size or settings.BATCH_SIZE)
        sized = time.perf_counter()
        history = training.train(cfg, data=data, progress=False)
        end = time.perf_counter()
    n_train, n_val = (len(read_split(split, root)) for split in ("train", "validation"))
    epochs, steps = marks["epoch"], marks["train_steps"]
    policy = resolve_precision(args.precision)[0]
    from tp3.sizing import machine_name

    print(f"Ex {9 if args.ex9 else 7} as the notebook runs it: {n_train} training patients "
          f"({77 * n_train} slices), {77 * n_val} validation slices, width {cfg.width}, epoch share "
          f"{cfg.epoch_share:g} ({steps_per_epoch(history)} batches an epoch), {args.epochs} epochs, batch "
          f"{cfg.batch_size}, {policy}, {machine_name()}")
    target = 300 if args.ex9 else 240
    print(f"  total, data read to last checkpoint: {end - begin:7.1f} s   target <= {target} s   "
          f"{'ok' if end - begin <= target else 'MISSED'}")
    if not args.ex9:
        print(f"    reading the two splits (load_split):       {loaded - begin:7.1f} s")
    print(f"    sizing (size_run{', steps reused' if size and sized - loaded < 2 else ''}): {sized - loaded:7.1f} s")
    print(f"    {'cache, ' if args.ex9 else ''}building, compiling, first epoch (traced): {end - sized - sum(epochs[1:]):7.1f} s "
          f"(first epoch {epochs[0]:.1f} s)")
    print(f"    epochs 2-{args.epochs}: {sum(epochs[1:]):.1f} s, per epoch {sum(epochs[1:]) / max(len(epochs) - 1, 1):.1f} s: "
          f"training steps {sum(steps[1:]) / max(len(steps) - 1, 1):.1f} s, validation "
          f"{sum(marks['validation'][1:]) / max(len(epochs) - 1, 1):.1f} s, callbacks "
          f"{sum(marks['callbacks'][1:]) / max(len(epochs) - 1, 1):.1f} s")
    print(f"  (importing TensorFlow and the kit: {import_s:.1f} s, before the notebook's cells)")
    if size is not None:
        announced, took = size.seconds, end - sized
        print(f"  announced by size_run: {announced:.0f} s; the run took {took:.0f} s (building to last checkpoint): "
              f"{announced / took:.2f}   target 0.70-1.30   {'ok' if 0.7 <= announced / took <= 1.3 else 'MISSED'}")
    last = {key: values[-1] for key, values in history.history.items()}
    dice = [last[f"val_dice_{r}"] for r in ("wt", "tc", "et")]
    print("  validation Dice WT/TC/ET after the last epoch: " + "/".join(f"{d:.3f}" for d in dice)
          + f", validation loss {last['val_loss']:.4f}")
    if args.json:
        args.json.write_text(json.dumps({"total": end - begin, "epoch": sum(epochs[1:]) / max(len(epochs) - 1, 1),
                                         "dice": dice, "val_loss": last["val_loss"], "width": cfg.width,
                                         "epoch_share": cfg.epoch_share,
                                         "announced": size.seconds if size else None, "run": end - sized}))


def steps_per_epoch(history) -> int | str:
    return history.params.get("steps") or "?"


def compare(args) -> None:
    """Each variant in a process of its own, in turn; a table of their figures."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, variant in enumerate(args.variants):
            name, _, assignments = variant.partition(":")
            command = [sys.executable, __file__, "--root", str(args.root), "--epochs", str(args.epochs),
                       "--precision", args.precision, "--patients", str(args.patients),
                       "--json", str(Path(tmp) / f"{index}.json")] + (["--ex9"] if args.ex9 else [])
            command += ["--width", str(args.width), "--epoch-share", str(args.epoch_share)] if args.width else []
            environment = dict(os.environ)
            for assignment in filter(None, assignments.split(",")):
                key, _, value = assignment.partition("=")
                if key.startswith("$"):  # an environment variable, e.g. $TF_NUM_INTEROP_THREADS=1
                    environment[key[1:]] = value
                else:
                    command += ["--batch-size", value] if key == "batch_size" else ["--set", assignment]
            print(f"--- {name}: {' '.join(command[2:])} {assignments}", flush=True)
            subprocess.run(command, check=True, env=environment)
            rows.append((name, json.loads((Path(tmp) / f"{index}.json").read_text())))
    base = rows[0][1]
    print(f"\n{'variant':<30}{'total s':>9}{'x first':>9}{'epoch s':>9}{'x first':>9}   Dice WT/TC/ET   val loss")
    for name, row in rows:
        print(f"{name:<30}{row['total']:9.1f}{row['total'] / base['total']:9.2f}{row['epoch']:9.1f}"
              f"{row['epoch'] / base['epoch']:9.2f}   " + "/".join(f"{d:.3f}" for d in row["dice"])
              + f"   {row['val_loss']:.4f}")


if __name__ == "__main__":
    main()
