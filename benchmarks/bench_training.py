"""Training throughput (issue: U-Net and training), in training slices per second.

All four are measured in this one run, same model, batch size and number of slices,
timed in turn over several rounds (median kept) because the machine is noisy:
  (a) model.fit on in-memory random tensors (the compute ceiling)
  (b) the kit's pipeline (tp3.pipeline.make_dataset) without augmentation
  (c) the same with augmentation
  (d) a naive baseline: a Python generator reading each batch's NIfTI slices from disk
Targets: b/a >= 0.95, c/a >= 0.85, b/d >= 5, judged on the medians; the best round is
printed too (on this 2-core machine a timing sometimes runs at half speed, as if one
core were taken elsewhere). Also prints the GFLOP/s achieved by (a)
(convolution FLOPs counted from the model, training = 3 x forward) against a float32
matrix multiply measured in the same run.

    python benchmarks/bench_training.py [--root ROOT] [--widths 4,16] [--slices 384] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

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


def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    import tensorflow as tf

    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    tf.linalg.matmul(a, b).numpy()
    start = time.perf_counter()
    for _ in range(repeats):
        c = tf.linalg.matmul(a, b)
    c.numpy()
    return 2.0 * n ** 3 * repeats / (time.perf_counter() - start) / 1e9


def naive_generator(root, patients, batch_size, n_slices):
    """Reads every slice of every batch from its NIfTI files, normalising per slice."""
    import SimpleITK as sitk

    from tp3.config import LABEL_SUFFIX, MODALITIES
    from tp3.data import patient_dir
    from tp3.preprocessing import labels_to_classes, one_hot

    pairs = [(p, z) for p in patients for z in range(77)][:n_slices]
    while True:
        for start in range(0, len(pairs), batch_size):
            xs, ys = [], []
            for patient, z in pairs[start:start + batch_size]:
                folder = patient_dir(patient, root)
                read = lambda name: sitk.GetArrayFromImage(sitk.ReadImage(str(folder / f"{patient}_{name}_{z:03d}.nii.gz")))
                x = np.stack([read(m) for m in MODALITIES], axis=-1).astype(np.float32)
                x = (x - x.mean()) / (x.std() + 1e-6)
                xs.append(x)
                ys.append(one_hot(labels_to_classes(read(LABEL_SUFFIX))))
            yield np.stack(xs), np.stack(ys)


def measure(width, root, x, y, batch, rounds) -> dict:
    """Slices per second of (a)-(d) for one U-Net width.

    The machine is noisy, so the four are timed in turn, ``rounds`` times over, and each
    figure is the median of its rounds (every input warmed up once first).
    """
    import tensorflow as tf

    from tp3.config import SEED
    from tp3.data import read_split
    from tp3.pipeline import make_dataset
    from tp3.train import compile_unet, seed_everything
    from tp3.unet import build_unet

    seed_everything(SEED)
    model = compile_unet(build_unet(width))
    steps = len(x) // batch
    rng = np.random.default_rng(SEED)
    # The ceiling: one batch already in memory as tensors, fed again and again.
    random_x = tf.constant(rng.standard_normal((batch,) + x.shape[1:], dtype=np.float32))
    random_y = tf.one_hot(rng.integers(0, 4, size=(batch,) + y.shape[1:]), 4)
    inputs = {
        "a": tf.data.Dataset.from_tensors((random_x, random_y)).repeat(),
        "b": make_dataset(x, y, batch, shuffle=True, seed=SEED).repeat(),
        "c": make_dataset(x, y, batch, shuffle=True, augment=True, seed=SEED).repeat(),
        "d": naive_generator(root, read_split("train", root), batch, len(x)),
    }
    seconds = {key: [] for key in inputs}
    for key, data in inputs.items():
        model.fit(data, epochs=1, steps_per_epoch=2, verbose=0, shuffle=False)
    for _ in range(rounds):
        for key, data in inputs.items():
            start = time.perf_counter()
            model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
            seconds[key].append(time.perf_counter() - start)
    rate = {key: steps * batch / statistics.median(values) for key, values in seconds.items()}
    rate.update({f"best_{key}": steps * batch / min(values) for key, values in seconds.items()})
    rate["gflop_per_slice"] = 3 * conv_forward_flops(model) / 1e9
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=None)
    parser.add_argument("--widths", type=lambda text: [int(w) for w in text.split(",")], default=[4, 16],
                        help="comma-separated U-Net widths (default 4,16)")
    parser.add_argument("--slices", type=int, default=384)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="timings per input (median kept)")
    args = parser.parse_args()

    import tensorflow as tf

    from tp3.pipeline import load_split
    from tp3.sample import ensure_sample

    root = ensure_sample(args.root, progress=False)
    n, batch = args.slices - args.slices % args.batch_size, args.batch_size
    x_all, y_all = load_split("train", root, progress=False)
    x, y = x_all[:n], y_all[:n]
    matmul = matmul_gflops()
    labels = {"a": "one in-memory batch, repeated (ceiling)", "b": "kit pipeline",
              "c": "kit pipeline + augmentation", "d": "naive NIfTI generator"}
    print(f"batch {batch}, {n} slices per timing, median of {args.rounds} rounds, TensorFlow {tf.__version__}, "
          f"{len(tf.config.list_physical_devices('GPU'))} GPU(s); float32 matmul 2048^2: {matmul:.1f} GFLOP/s")
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
