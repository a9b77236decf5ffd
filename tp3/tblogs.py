"""TensorBoard logs of a training run (Ex 7, Ex 10): what is written, and reading it back.

:data:`SCALAR_TAGS` says how each metric appears in TensorBoard (the callback
:class:`tp3.training.TensorBoardLogs` writes it). TensorBoard does not always display
inside Colab; the other helpers read the same event files so that notebooks can draw the
curves and the prediction images with matplotlib.

Ex 7   ``plot_curves`` (one run), ``show_predictions``
Ex 10  ``plot_curves`` (the two reference runs side by side), ``read_scalars``, ``read_images``
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .settings import REGION_NAMES, REGIONS

#: Keras metric name -> (TensorBoard tag, description). TensorBoard groups tags by what comes
#: before "/" and sorts the groups by name: the numbers put the loss first, then the Dice of
#: each region, then the rest.
SCALAR_TAGS = {
    "loss": ("1 loss/cross-entropy",
             "Categorical cross-entropy, the loss the network minimises: lower is better. Run 'train': "
             "the mean over the epoch's training batches (augmented ones when augmenting); run "
             "'validation': on the validation slices after the epoch. A training curve that keeps "
             "falling while the validation curve rises is overfitting. Tip: log scale on the y axis."),
    **{f"dice_{region.lower()}": (
        f"2 Dice/{region} {REGION_NAMES[region]}",
        f"Dice of the {REGION_NAMES[region]} ({region}: BraTS labels {', '.join(map(str, labels))}) "
        "between the predicted and true classes of the 96 x 96 slices, over the epoch: 1 is a "
        "perfect overlap, 0 none.")
       for region, labels in REGIONS.items()},
    "accuracy": ("3 other/accuracy",
                 "Share of pixels given the right class. About 98 % of the pixels are background, so it "
                 "stays near 1 whatever the tumour: read the Dice instead."),
    "learning_rate": ("3 other/learning rate",
                      "Adam's learning rate, multiplied by lr_decay every lr_decay_every epochs."),
}
#: Tag of the prediction images (in the run 'validation').
IMAGES_TAG = "predictions"

_NAME_OF_TAG = {tag: name for name, (tag, _) in SCALAR_TAGS.items()}


def metric_name(tag: str) -> str:
    """The metric a tag holds: ``"1 loss/cross-entropy"`` and Keras' own ``"epoch_loss"`` both give ``"loss"``."""
    if tag in _NAME_OF_TAG:
        return _NAME_OF_TAG[tag]
    return tag[len("epoch_"):] if tag.startswith("epoch_") else tag


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
    """``{run: {metric: (epochs int array, values float array)}}`` for every run under ``logdir``.

    Runs are ``train`` and ``validation``; metrics are named as Keras names them (``loss``,
    ``dice_wt``, ``accuracy``...), whichever tags the logs use (:func:`metric_name`).
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
                curves[metric_name(tag)] = (np.array([e.step for e in events]), np.array(values, dtype=float))
        for tag in acc.Tags().get("scalars", []):
            events = acc.Scalars(tag)
            curves[metric_name(tag)] = (np.array([e.step for e in events]), np.array([e.value for e in events]))
        if curves:
            out[str(run.relative_to(logdir))] = curves
    return out


def read_images(logdir, tag: str = IMAGES_TAG) -> dict:
    """``{epoch: [uint8 (H, W, 3) images]}`` of the image summary ``tag`` under ``logdir``."""
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


def plot_curves(logdirs: dict, metrics=("loss", "dice_wt", "dice_tc", "dice_et")):
    """Ex 7, Ex 10 without TensorBoard: training (solid) and validation (dashed) curves of
    one or more runs, one colour per run, one panel per metric; losses on a log axis, where
    a validation loss that turns up late is visible.

    ``logdirs``: ``{label: logdir}``. Returns the matplotlib figure.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(metrics), figsize=(4.6 * len(metrics), 3.8), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (label, logdir) in enumerate(logdirs.items()):
        runs = read_scalars(logdir)
        for ax, metric in zip(axes[0], metrics):
            for run, style in (("train", "-"), ("validation", "--")):
                if metric in runs.get(run, {}):
                    steps, values = runs[run][metric]
                    ax.plot(steps, values, style, color=colours[index % len(colours)], linewidth=1.2,
                            label=f"{label}, {run}")
    for ax, metric in zip(axes[0], metrics):
        tag = SCALAR_TAGS.get(metric, (metric, ""))[0]
        ax.set_title(tag.split("/", 1)[-1] if "/" in tag else tag)
        ax.set_xlabel("epoch")
        if "loss" in metric:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def spaced_epochs(count: int, n: int) -> list[int]:
    """Up to ``n`` of the indices ``0 .. count - 1``, spaced geometrically: all of them when
    ``count <= n``, else the first, the last and more of the early ones, where predictions
    change most. The epochs at which training draws its prediction images
    (:class:`tp3.training.PredictionImages`), and which of those :func:`show_predictions` shows."""
    if count <= n or n < 2:
        return list(range(min(count, n)))
    # geomspace of one point gives its start: the last epoch must be among the picks
    later = np.geomspace(1, count - 1, n - 1) if n > 2 else np.array([count - 1])
    return [0, *np.unique(np.round(later).astype(int)).tolist()]


def show_predictions(logdir, epochs=None, max_epochs: int = 4, tag: str = IMAGES_TAG):
    """Ex 7, Ex 10 without TensorBoard: the prediction images logged at a few epochs, side by side.

    ``epochs``: which (0-based, as logged) epochs to show; by default up to ``max_epochs``
    of them, the early ones first. Returns the matplotlib figure.
    """
    import matplotlib.pyplot as plt

    images = read_images(logdir, tag)
    if not images:
        raise FileNotFoundError(f"{logdir}: no '{tag}' images in this log folder; they are written by "
                                "the callback training.PredictionImages (train() adds it)")
    available = list(images)
    if epochs is None:
        chosen = [available[i] for i in spaced_epochs(len(available), max_epochs)]
    else:
        missing = [e for e in epochs if e not in images]
        if missing:
            raise ValueError(f"epoch(s) {missing} were not logged in {logdir}; logged epochs: {available}")
        chosen = list(epochs)
    # One image per epoch (older logs: one panel per slice, stacked here).
    grids = [np.concatenate(images[e], axis=0) for e in chosen]
    height = max(g.shape[0] for g in grids)
    width = sum(g.shape[1] for g in grids)
    fig, axes = plt.subplots(1, len(grids), figsize=(min(18, 3 + width / 110), 1 + height / 110),
                             squeeze=False, facecolor="black")
    for ax, epoch, grid in zip(axes[0], chosen, grids):
        ax.imshow(grid)
        ax.set_title(f"after epoch {epoch + 1}", color="white", fontsize=10)  # the log's step {epoch}
        ax.set_axis_off()
    fig.tight_layout()
    return fig
