"""Reading TensorBoard event files back (Ex 7, Ex 10): curves and prediction images.

TensorBoard does not always display inside Colab; these helpers read the same event
files so that notebooks can plot the curves and images with matplotlib.

Ex 7   ``plot_curves`` (one run), ``show_predictions``
Ex 10  ``plot_curves`` (the two reference runs side by side), ``read_scalars``, ``read_images``
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _accumulator(folder):
    from tensorboard.backend.event_processing import event_accumulator

    acc = event_accumulator.EventAccumulator(
        str(folder), size_guidance={event_accumulator.TENSORS: 0, event_accumulator.SCALARS: 0,
                                    event_accumulator.IMAGES: 0})
    acc.Reload()
    return acc


def _runs(logdir: Path) -> list[Path]:
    """Folders under ``logdir`` (itself included) that hold event files."""
    return sorted({p.parent for p in Path(logdir).rglob("events.out.tfevents.*")})


def read_scalars(logdir) -> dict:
    """``{run: {tag: (steps int array, values float array)}}`` for every run under ``logdir``.

    Keras writes ``train/`` and ``validation/`` runs with tags such as ``epoch_loss``.
    """
    import tensorflow as tf

    logdir = Path(logdir)
    if not logdir.is_dir():
        raise FileNotFoundError(f"{logdir}: no such log folder")
    out = {}
    for run in _runs(logdir):
        acc = _accumulator(run)
        curves = {}
        for tag in acc.Tags().get("tensors", []):
            events = acc.Tensors(tag)
            values = [tf.make_ndarray(e.tensor_proto) for e in events]
            if values and all(v.ndim == 0 and v.dtype.kind == "f" for v in values):
                curves[tag] = (np.array([e.step for e in events]), np.array(values, dtype=float))
        for tag in acc.Tags().get("scalars", []):
            events = acc.Scalars(tag)
            curves[tag] = (np.array([e.step for e in events]), np.array([e.value for e in events]))
        if curves:
            out[str(run.relative_to(logdir))] = curves
    return out


def read_images(logdir, tag: str = "predictions") -> dict:
    """``{step: [uint8 (H, W, 3) images]}`` of an image summary ``tag`` under ``logdir``."""
    import tensorflow as tf

    images = {}
    for run in _runs(Path(logdir)):
        acc = _accumulator(run)
        if tag not in acc.Tags().get("tensors", []):
            continue
        for event in acc.Tensors(tag):
            encoded = tf.make_ndarray(event.tensor_proto)[2:]  # width, height, then PNGs
            images[event.step] = [tf.io.decode_png(png).numpy() for png in encoded]
    return dict(sorted(images.items()))


def plot_curves(logdirs: dict, tags=("epoch_loss", "epoch_accuracy")):
    """Ex 10 without TensorBoard: train and validation curves of several runs side by side.

    ``logdirs``: ``{label: logdir}``. Returns the matplotlib figure.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(tags), figsize=(6 * len(tags), 4), squeeze=False)
    for label, logdir in logdirs.items():
        for run, curves in read_scalars(logdir).items():
            for ax, tag in zip(axes[0], tags):
                if tag in curves:
                    steps, values = curves[tag]
                    ax.plot(steps, values, label=f"{label} {run}")
    for ax, tag in zip(axes[0], tags):
        ax.set_title(tag)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def show_predictions(logdir, steps=None, max_rows: int = 6, tag: str = "predictions"):
    """Ex 7 without TensorBoard: the prediction panels (FLAIR | truth | prediction) per epoch.

    ``steps``: the epochs to show; by default at most ``max_rows`` of them, evenly spread.
    """
    import matplotlib.pyplot as plt

    images = read_images(logdir, tag)
    if not images:
        raise FileNotFoundError(f"{logdir}: no '{tag}' images in this log folder; they are written by "
                                "the callback training.PredictionImages (train() adds it)")
    available = list(images)
    if steps is None:
        picks = np.linspace(0, len(available) - 1, min(max_rows, len(available))).round().astype(int)
        chosen = [available[i] for i in sorted(set(picks))]
    else:
        chosen = [s for s in steps if s in images]
    n_slices = len(images[chosen[0]])
    fig, axes = plt.subplots(len(chosen), n_slices, figsize=(4 * n_slices, 1.5 * len(chosen)),
                             squeeze=False)
    for row, step in enumerate(chosen):
        for col, image in enumerate(images[step]):
            axes[row, col].imshow(image)
            axes[row, col].set_axis_off()
            axes[row, col].set_title(f"epoch {step}", fontsize=8)
    fig.tight_layout()
    return fig
