"""Training throughput (issue: U-Net and training), in training slices per second.

Three parts, each measured in this one run.

Precision: float32 against ``auto`` (tp3/settings.py: mixed bfloat16 on a CPU with
AVX512-BF16/AMX-BF16, mixed float16 on a recent GPU), the kit's pipeline, the two models
timed in turn (interleaved) at each width; then whole epochs of ``python -m tp3 train``
(validation, checkpoint and TensorBoard images included), the two precisions run in turn,
epoch times read from the event files (the first epoch, which traces the graph, is left
out). Target: auto/float32 >= 1.5 per epoch at width 16 on a CPU with bfloat16. The same
runs give the quality check: validation Dice WT/TC/ET of the last epoch, same seed and
data, within 0.02 of float32 (``--cli-epochs 20 --cli-rounds 1`` for the issue's check).

Inputs, at the kit's precision (``auto``): all four are measured in this one run, same
model, batch size and number of slices, timed in turn over several rounds (median kept)
because the machine is noisy:
  (a) model.fit on in-memory random tensors (the compute ceiling)
  (b) the kit's pipeline (tp3.training.make_dataset) without augmentation
  (c) the same with augmentation
  (d) a naive baseline: a Python generator reading each batch's NIfTI slices from disk
Targets: b/a >= 0.95, c/a >= 0.85, b/d >= 5, judged on the medians; the best round is
printed too (on this 2-core machine a timing sometimes runs at half speed, as if one
core were taken elsewhere). Also prints the GFLOP/s achieved by (a)
(convolution FLOPs counted from the model, training = 3 x forward) against a float32
matrix multiply measured in the same run.

    python benchmarks/bench_training.py [--root ROOT] [--widths 4,16] [--slices 384] [--rounds 3]
        [--precision-widths 16,32] [--cli-epochs 3] [--cli-rounds 2] [--limit-widths 4,16,64]
        [--limit-policies float32,auto]

First, the hardware's limit (issue 22): float32 and bfloat16 matrix products on this machine,
the convolution kernels oneDNN chose in each precision (``ONEDNN_VERBOSE``), and the
network's training GFLOP/s at widths 4, 16 and 64 as a share of the matrix product's; then
variants of the training step side by side (without the Dice metrics, without any metric,
op determinism off, XLA's ``jit_compile``; ``--step-rounds 0`` skips them).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def conv_forward_flops(model) -> float:
    """Multiply-adds x 2 of every convolution of the model for one input slice."""
    from keras import layers

    flops = 0.0
    for layer in model.layers:
        if isinstance(layer, layers.Conv2DTranspose):
            h, w = layer.input.shape[1:3]
            flops += 2.0 * np.prod(layer.kernel_size) * layer.input.shape[-1] * layer.filters * h * w
        elif isinstance(layer, layers.Conv2D):
            h, w = layer.output.shape[1:3]
            flops += 2.0 * np.prod(layer.kernel_size) * layer.input.shape[-1] * layer.filters * h * w
    return flops


def matmul_gflops(n: int = 2048, repeats: int = 10, dtype: str = "float32", shape=None) -> float:
    """GFLOP/s of ``tf.linalg.matmul`` in ``dtype``: square ``n x n`` by default, or
    ``shape = (m, k, n)`` (e.g. the implicit GEMM of one of the network's convolutions)."""
    import tensorflow as tf

    m, k, n = shape or (n, n, n)
    a = tf.cast(tf.random.normal((m, k)), dtype)
    b = tf.cast(tf.random.normal((k, n)), dtype)
    tf.linalg.matmul(a, b).numpy()
    start = time.perf_counter()
    for _ in range(repeats):
        c = tf.linalg.matmul(a, b)
    c.numpy()
    return 2.0 * m * k * n * repeats / (time.perf_counter() - start) / 1e9


ONEDNN_PROBE = """
import numpy as np, keras
from tp3.training import compile_unet
from tp3.precision import dtype_policy
from tp3.unet import build_unet
for policy in ("float32", "mixed_bfloat16"):
    with dtype_policy(policy):
        model = compile_unet(build_unet(16))
    x = np.random.default_rng(0).standard_normal((8, 96, 96, 4)).astype("float32")
    y = keras.utils.to_categorical(np.zeros((8, 96, 96)), 4)
    print("=== " + policy, flush=True)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
"""


def onednn_kernels() -> dict:
    """``{policy: {convolution implementation: count}}`` from oneDNN's own log of one training
    step at width 16 (``ONEDNN_VERBOSE=1``), and the instruction sets it reports (``"isa"``)."""
    import os
    from collections import Counter

    done = subprocess.run([sys.executable, "-c", ONEDNN_PROBE], capture_output=True, text=True,
                          env={**os.environ, "ONEDNN_VERBOSE": "1"})
    kernels, policy, isa = {}, None, ""
    for line in done.stdout.splitlines():
        if line.startswith("=== "):
            policy = line[4:]
            kernels[policy] = Counter()
        fields = line.split(",")
        if line.startswith("onednn_verbose") and "isa:" in line and not isa:
            isa = line.split("isa:", 1)[1].strip()
        elif policy and line.startswith("onednn_verbose") and ",exec," in line and ",convolution," in line:
            kernels[policy][fields[fields.index("convolution") + 1]] += 1
    return {"isa": isa, **{name: dict(counter) for name, counter in kernels.items()}}


THREADS_PROBE = """
import sys, time, numpy as np, tensorflow as tf
from tp3.runtime import resolve_precision
from tp3.training import compile_unet, pipeline_options
from tp3.precision import dtype_policy
from tp3.unet import build_unet
width, batch, steps = (int(v) for v in sys.argv[1:4])
with dtype_policy(resolve_precision()[0]):
    model = compile_unet(build_unet(width))
rng = np.random.default_rng(0)
x = tf.constant(rng.standard_normal((batch, 96, 96, 4), dtype=np.float32))
y = tf.one_hot(rng.integers(0, 4, size=(batch, 96, 96)), 4)
data = tf.data.Dataset.from_tensors((x, y)).repeat().with_options(pipeline_options())
model.fit(data, epochs=1, steps_per_epoch=3, verbose=0)
start = time.perf_counter()
model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0)
print(steps * batch / (time.perf_counter() - start))
"""

STEP_PROBE = """
import json, sys, numpy as np, tensorflow as tf, keras
sys.path.insert(0, sys.argv[1])
from bench_training import timed_in_turn
from tp3 import metrics
from tp3.runtime import resolve_precision
from tp3.training import compile_unet, pipeline_options, seed_everything
from tp3.precision import dtype_policy
from tp3.unet import build_unet
width, batch, steps, rounds, deterministic = (int(v) for v in sys.argv[2:7])
names = sys.argv[7:]

def compiled(name):
    model = build_unet(width)
    if name == "kit":
        return compile_unet(model)
    chosen = {"no Dice metrics": ["accuracy"], "no metrics": [], "XLA (jit_compile)": None}[name]
    if chosen is None:
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy",
                      metrics=["accuracy", *metrics.region_dice_metrics()], jit_compile=True)
        return model
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy", metrics=chosen)
    return model

if deterministic:
    seed_everything(0)
rng = np.random.default_rng(0)
x = tf.constant(rng.standard_normal((batch, 96, 96, 4), dtype=np.float32))
y = tf.one_hot(rng.integers(0, 4, size=(batch, 96, 96)), 4)
data = tf.data.Dataset.from_tensors((x, y)).repeat().with_options(pipeline_options())
with dtype_policy(resolve_precision()[0]):
    runs = {name: (compiled(name), data) for name in names}
seconds = timed_in_turn(runs, steps, rounds)
print(json.dumps({name: steps * batch / float(np.median(values)) for name, values in seconds.items()}))
"""

#: Groups of training-step variants, each group timed in turn in a process of its own; the
#: first of each group is its reference. XLA needs TensorFlow's op determinism off (Keras
#: turns jit_compile off under it), hence its own process.
STEP_GROUPS = ({"deterministic": 1, "names": ["kit", "no Dice metrics", "no metrics"]},
               {"deterministic": 0, "names": ["kit", "XLA (jit_compile)"]})


def step_variants(width: int, batch: int, steps: int, rounds: int) -> list:
    """``[(group, {variant: slices/s})]`` of the training step (one in-memory batch) at ``width``."""
    import json

    results = []
    for group in STEP_GROUPS:
        done = subprocess.run([sys.executable, "-c", STEP_PROBE, str(Path(__file__).parent), str(width), str(batch),
                               str(steps), str(rounds), str(group["deterministic"]), *group["names"]],
                              capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"the step probe failed:\n{done.stderr[-3000:]}")
        results.append((group, json.loads(done.stdout.strip().splitlines()[-1])))
    return results


#: TensorFlow's thread pools, set through its environment variables (read when it starts).
THREAD_VARIANTS = {"TensorFlow's default": {}, "inter-op 1": {"TF_NUM_INTEROP_THREADS": "1"},
                   "inter-op 1, intra-op 2": {"TF_NUM_INTEROP_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "2"}}


def thread_settings(width: int, batch: int, steps: int, rounds: int) -> dict:
    """Slices/s of the kit's training step for each of :data:`THREAD_VARIANTS`, each in a
    process of its own, the variants run in turn ``rounds`` times (median kept)."""
    import os

    rates = {name: [] for name in THREAD_VARIANTS}
    for _ in range(rounds):
        for name, env in THREAD_VARIANTS.items():
            done = subprocess.run([sys.executable, "-c", THREADS_PROBE, str(width), str(batch), str(steps)],
                                  capture_output=True, text=True, env={**os.environ, **env}, check=True)
            rates[name].append(float(done.stdout.strip().splitlines()[-1]))
    return {name: statistics.median(values) for name, values in rates.items()}


def achieved_gflops(width: int, policy: str, batch: int, steps: int, rounds: int) -> float:
    """Training GFLOP/s of the U-Net on one in-memory batch (the compute ceiling of the kit's run)."""
    import tensorflow as tf

    from tp3.precision import dtype_policy
    from tp3.training import compile_unet, pipeline_options
    from tp3.unet import build_unet

    with dtype_policy(policy):
        model = compile_unet(build_unet(width))
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((batch, 96, 96, 4), dtype=np.float32))
    y = tf.one_hot(rng.integers(0, 4, size=(batch, 96, 96)), 4)
    data = tf.data.Dataset.from_tensors((x, y)).repeat().with_options(pipeline_options())
    seconds = timed_in_turn({policy: (model, data)}, steps, rounds)[policy]
    return steps * batch * 3 * conv_forward_flops(model) / statistics.median(seconds) / 1e9


def naive_generator(root, patients, batch_size, n_slices):
    """Reads every slice of every batch from its NIfTI files, normalising per slice."""
    import SimpleITK as sitk

    from tp3.data import patient_dir
    from tp3.layout import LABEL_SUFFIX, MODALITIES, slice_name
    from tp3.preprocessing import labels_to_classes, one_hot

    pairs = [(p, z) for p in patients for z in range(77)][:n_slices]
    while True:
        for start in range(0, len(pairs), batch_size):
            xs, ys = [], []
            for patient, z in pairs[start:start + batch_size]:
                folder = patient_dir(patient, root)
                read = lambda name: sitk.GetArrayFromImage(sitk.ReadImage(str(folder / slice_name(patient, name, z))))
                x = np.stack([read(m) for m in MODALITIES], axis=-1).astype(np.float32)
                x = (x - x.mean()) / (x.std() + 1e-6)
                xs.append(x)
                ys.append(one_hot(labels_to_classes(read(LABEL_SUFFIX))))
            yield np.stack(xs), np.stack(ys)


def measure_precisions(width, x, y, batch, rounds) -> dict:
    """Slices per second of float32 and ``auto`` models on the kit's pipeline, timed in turn."""
    from tp3.runtime import resolve_precision
    from tp3.settings import SEED
    from tp3.training import compile_unet, make_dataset, seed_everything
    from tp3.precision import dtype_policy
    from tp3.unet import build_unet

    seed_everything(SEED)
    models = {}
    for name in ("float32", "auto"):
        with dtype_policy(resolve_precision(name)[0]):
            models[name] = compile_unet(build_unet(width))
    data = make_dataset(x, y, batch, shuffle=True, seed=SEED).repeat()
    steps = len(x) // batch
    seconds = timed_in_turn({name: (model, data) for name, model in models.items()}, steps, rounds)
    return {name: steps * batch / statistics.median(values) for name, values in seconds.items()}


def timed_in_turn(runs: dict, steps: int, rounds: int) -> dict:
    """``{name: [seconds]}``: ``steps`` training steps of each ``(model, data)`` of ``runs``,
    all warmed up first, then timed in turn ``rounds`` times (the machine is noisy)."""
    for model, data in runs.values():
        model.fit(data, epochs=1, steps_per_epoch=2, verbose=0, shuffle=False)
    seconds = {name: [] for name in runs}
    for _ in range(rounds):
        for name, (model, data) in runs.items():
            start = time.perf_counter()
            model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
            seconds[name].append(time.perf_counter() - start)
    return seconds


def epoch_seconds(logdir: Path) -> list[float]:
    """Wall time of each epoch after the first, from the TensorBoard event files of a run."""
    from tensorboard.backend.event_processing.event_accumulator import TENSORS, EventAccumulator

    from tp3.tblogs import SCALAR_TAGS

    events = EventAccumulator(str(logdir / "train"), size_guidance={TENSORS: 0}).Reload()
    # The scalars are written as tensor summaries, once per epoch when it ends.
    ends = [event.wall_time for event in events.Tensors(SCALAR_TAGS["loss"][0])]
    return list(np.diff(ends))


def last_validation_dice(logdir: Path) -> tuple[float, float, float]:
    """Validation Dice WT, TC, ET of the last epoch, from the run's CSV log."""
    import csv

    with open(logdir / "training_log.csv") as handle:
        last = list(csv.DictReader(handle))[-1]
    return tuple(float(last[f"val_dice_{region}"]) for region in ("wt", "tc", "et"))


def measure_cli_epochs(root, width, epochs, rounds) -> dict:
    """``python -m tp3 train`` for float32 and auto, run in turn (same seed, same data):
    ``{precision: (median seconds per epoch, last validation Dice (WT, TC, ET) of the first run)}``."""
    seconds, dice = {"float32": [], "auto": []}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(rounds):
            for precision in seconds:
                run = Path(tmp) / f"{precision}_{round_}"
                done = subprocess.run([sys.executable, "-m", "tp3", "train", "--root", str(root),
                                       "--epochs", str(epochs), "--width", str(width), "--precision",
                                       precision, "--logdir", str(run), "--model-out", str(run / "model.weights.h5")],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                if done.returncode:
                    raise RuntimeError(f"python -m tp3 train --precision {precision} failed "
                                       f"(exit {done.returncode}):\n{done.stderr[-3000:]}")
                seconds[precision] += epoch_seconds(run)
                dice.setdefault(precision, last_validation_dice(run))
    return {precision: (statistics.median(values), dice[precision]) for precision, values in seconds.items()}


def measure(width, root, x, y, batch, rounds) -> dict:
    """Slices per second of (a)-(d) for one U-Net width.

    The machine is noisy, so the four are timed in turn, ``rounds`` times over, and each
    figure is the median of its rounds (every input warmed up once first).
    """
    import tensorflow as tf

    from tp3.runtime import resolve_precision
    from tp3.settings import SEED
    from tp3.data import read_split
    from tp3.training import compile_unet, make_dataset, pipeline_options, seed_everything
    from tp3.precision import dtype_policy
    from tp3.unet import build_unet

    seed_everything(SEED)
    with dtype_policy(resolve_precision()[0]):
        model = compile_unet(build_unet(width))
    steps = len(x) // batch
    rng = np.random.default_rng(SEED)
    # The ceiling: one batch already in memory as tensors, fed again and again.
    random_x = tf.constant(rng.standard_normal((batch,) + x.shape[1:], dtype=np.float32))
    random_y = tf.one_hot(rng.integers(0, 4, size=(batch,) + y.shape[1:]), 4)
    inputs = {
        "a": tf.data.Dataset.from_tensors((random_x, random_y)).repeat().with_options(pipeline_options()),
        "b": make_dataset(x, y, batch, shuffle=True, seed=SEED).repeat(),
        "c": make_dataset(x, y, batch, shuffle=True, augment=True, seed=SEED).repeat(),
        "d": naive_generator(root, read_split("train", root), batch, len(x)),
    }
    seconds = timed_in_turn({key: (model, data) for key, data in inputs.items()}, steps, rounds)
    rate = {key: steps * batch / statistics.median(values) for key, values in seconds.items()}
    rate.update({f"best_{key}": steps * batch / min(values) for key, values in seconds.items()})
    rate["gflop_per_slice"] = 3 * conv_forward_flops(model) / 1e9
    return rate


def hardware_limit(args, auto: str) -> None:
    """The network's training GFLOP/s at each width and precision against a matrix product of
    the same precision on this machine (the limit), and the kernels oneDNN chose."""
    dtypes = {"float32": "float32", "mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}
    policies = [policy for policy in ["float32"] + ([auto] if auto != "float32" else [])
                if policy in args.limit_policies or (policy == auto and "auto" in args.limit_policies)]
    # The implicit GEMM of a width-16 convolution at level 1 (batch 32, 48 x 48, 3 x 3 x 32 -> 32).
    conv_like = (32 * 48 * 48, 9 * 32, 32)
    limits = {policy: (matmul_gflops(dtype=dtypes[policy]), matmul_gflops(dtype=dtypes[policy], shape=conv_like))
              for policy in policies}
    kernels = onednn_kernels()
    print(f"\nThe hardware's limit: matrix products, GFLOP/s (2048^3; and {conv_like[0]} x {conv_like[1]} x "
          f"{conv_like[2]}, a width-16 convolution's GEMM)")
    for policy, (square, conv) in limits.items():
        print(f"  {dtypes[policy]:<9} {square:8.1f} {conv:8.1f}")
    print(f"  oneDNN: {kernels['isa'] or 'no instruction-set line'}")
    for policy in ("float32", "mixed_bfloat16"):
        used = ", ".join(f"{name} x{count}" for name, count in sorted(kernels.get(policy, {}).items(), key=lambda kv: -kv[1]))
        print(f"  {policy} convolutions (one training step, width 16): {used or 'none logged'}")
    print(f"\nThe network's training rate (one in-memory batch of {args.batch_size}, median of {args.rounds} rounds; "
          "FLOPs of the convolutions, training = 3 x forward), and its share of the matrix product's rate")
    print(f"  {'width':>5}  " + "".join(f"{p + ' GFLOP/s':>24}{'/ matmul':>10}" for p in policies))
    for width in args.limit_widths:
        steps = 2 if width >= 64 else 8  # width 64: a few steps only
        cells = []
        for policy in policies:
            rate = achieved_gflops(width, policy, args.batch_size, steps, args.rounds)
            cells.append(f"{rate:24.1f}{rate / limits[policy][0]:10.2f}")
        print(f"  {width:>5}  " + "".join(cells))


def _widths(text: str) -> list[int]:
    return [int(w) for w in text.split(",") if w.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=None)
    parser.add_argument("--widths", type=_widths, default=[4, 16],
                        help="comma-separated U-Net widths (default 4,16; '' skips the inputs)")
    parser.add_argument("--slices", type=int, default=384)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="timings per input (median kept)")
    parser.add_argument("--precision-widths", type=_widths, default=[16, 32],
                        help="widths of the float32 vs auto comparison (default 16,32; '' skips it)")
    parser.add_argument("--cli-epochs", type=int, default=3,
                        help="epochs of each python -m tp3 train run (0: skip whole epochs)")
    parser.add_argument("--cli-width", type=int, default=16)
    parser.add_argument("--cli-rounds", type=int, default=2, help="runs per precision, interleaved")
    parser.add_argument("--thread-rounds", type=int, default=3,
                        help="rounds of the thread-pool comparison at width 16 (0 skips it)")
    parser.add_argument("--limit-widths", type=_widths, default=[4, 16, 64],
                        help="widths whose GFLOP/s are compared with the matrix product's (default 4,16,64; '' skips)")
    parser.add_argument("--limit-policies", type=lambda text: text.split(","), default=["float32", "auto"],
                        help="precisions of the limit's part (default float32,auto; 'float32' alone where "
                             "bfloat16 is emulated, e.g. under ONEDNN_MAX_CPU_ISA=AVX2)")
    parser.add_argument("--step-rounds", type=int, default=3,
                        help="rounds of the training-step variants at width 16 (metrics, XLA; 0 skips them)")
    args = parser.parse_args()

    import tensorflow as tf

    from tp3.training import load_split
    from tp3.tools.sample import ensure_sample

    root = ensure_sample(args.root, progress=False)
    n, batch = args.slices - args.slices % args.batch_size, args.batch_size
    x_all, y_all = load_split("train", root, progress=False)
    x, y = x_all[:n], y_all[:n]
    matmul = matmul_gflops()
    labels = {"a": "one in-memory batch, repeated (ceiling)", "b": "kit pipeline",
              "c": "kit pipeline + augmentation", "d": "naive NIfTI generator"}
    from tp3.runtime import resolve_precision

    auto, why = resolve_precision("auto")
    print(f"batch {batch}, {n} slices per timing, median of {args.rounds} rounds, TensorFlow {tf.__version__}, "
          f"{len(tf.config.list_physical_devices('GPU'))} GPU(s); float32 matmul 2048^2: {matmul:.1f} GFLOP/s")
    if args.limit_widths:
        hardware_limit(args, auto)
    if args.thread_rounds:
        rates = thread_settings(16, batch, 12, args.thread_rounds)
        first = next(iter(rates.values()))
        print(f"\nThread pools (width 16, {auto}, one in-memory batch, a process per variant, "
              f"median of {args.thread_rounds} rounds run in turn), slices/s:")
        for name, rate in rates.items():
            print(f"  {name:<26}{rate:8.1f}{rate / first:8.2f}")
    if args.step_rounds:
        print(f"\nTraining-step variants (width 16, {auto}, one in-memory batch of {batch}, median of "
              f"{args.step_rounds} rounds run in turn; a process per group, ratios to its first), slices/s:")
        for group, rates in step_variants(16, batch, 24, args.step_rounds):
            first = next(iter(rates.values()))
            where = "op determinism on (the kit)" if group["deterministic"] else "op determinism off"
            for name, rate in rates.items():
                print(f"  {name + ', ' + where:<58}{rate:8.1f}{rate / first:8.2f}")
    print(f"\nPrecision: auto = {auto} ({why}); kit pipeline, slices/s, models timed in turn")
    if args.precision_widths:
        print(f"  {'width':>5}{'float32':>10}{'auto':>10}{'auto/float32':>14}")
    for width in args.precision_widths:
        rate = measure_precisions(width, x, y, batch, args.rounds)
        print(f"  {width:>5}{rate['float32']:10.1f}{rate['auto']:10.1f}{rate['auto'] / rate['float32']:14.2f}")
    if args.cli_epochs > 1:
        epoch = measure_cli_epochs(root, args.cli_width, args.cli_epochs, args.cli_rounds)
        (f32, f32_dice), (auto_s, auto_dice) = epoch["float32"], epoch["auto"]
        ratio = f32 / auto_s
        print(f"  whole epochs of python -m tp3 train (width {args.cli_width}, {args.cli_rounds} run(s) of "
              f"{args.cli_epochs} epochs each per precision, first epoch left out): float32 {f32:.1f} s, "
              f"auto {auto_s:.1f} s, speed-up {ratio:.2f}   target >= 1.5   {'ok' if ratio >= 1.5 else 'MISSED'}")
        gap = max(abs(a - b) for a, b in zip(f32_dice, auto_dice))
        print(f"  validation Dice WT/TC/ET after {args.cli_epochs} epochs (same seed and data): float32 "
              + "/".join(f"{d:.3f}" for d in f32_dice) + ", auto " + "/".join(f"{d:.3f}" for d in auto_dice)
              + f", largest difference {gap:.3f}   target <= 0.02   {'ok' if gap <= 0.02 else 'MISSED'}")
    if args.widths:
        print(f"\nInputs, at the kit's precision ({auto}):")
    for width in args.widths:
        rate = measure(width, root, x, y, batch, args.rounds)
        print(f"U-Net width {width} ({rate['gflop_per_slice']:.2f} GFLOP per training slice)")
        print(f"  {'':<44}{'median':>8}{'best':>8}  slices/s")
        for key in "abcd":
            print(f"  ({key}) {labels[key]:<40}{rate[key]:8.1f}{rate['best_' + key]:8.1f}")
        for (top, bottom), target in ((("b", "a"), 0.95), (("c", "a"), 0.85), (("b", "d"), 5.0)):
            value, best = rate[top] / rate[bottom], rate[f"best_{top}"] / rate[f"best_{bottom}"]
            print(f"  {top}/{bottom} = {value:6.2f} (best: {best:5.2f})   target >= {target}   "
                  f"{'ok' if value >= target else 'MISSED'}")
        achieved = rate["a"] * rate["gflop_per_slice"]
        print(f"  (a) achieves {achieved:.1f} GFLOP/s, {achieved / matmul:.2f} of the matmul rate")


if __name__ == "__main__":
    main()
