"""Ex 7 and Ex 9 sized to the machine they run on: a few training steps timed here, then the
run's slices per epoch chosen (at width 16 on a CPU) so that the epochs take about
:data:`tp3.settings.TARGET_SECONDS`, and the wait said before it starts.

On a 2-core CPU with bfloat16, Ex 7's default run (width 16, every slice) takes about 2 ½
minutes; on a 2-core AVX2 CPU in float32 the same run takes 17. :func:`size_run` times one
training and one validation step per width it considers (after the step that traces the graph),
estimates the whole run from them and the split's counts, and takes the first size of
:data:`tp3.settings.EPOCH_SHARES` that fits (a GPU keeps the paper's width, smoke mode CI's).
A step's time is measured once per machine (its CPU model, cores, GPU, TensorFlow, oneDNN's
instruction-set cap, precision) and kept in ``ROOT/.tp3_cache/step_timings.json``: the same
machine and seed give the same run, whatever the noise of a second measurement would say
(``remeasure=True`` measures again).

Ex 7   ``size_run`` (its choice and the time it expects, printed), ``RunSize.config`` (the run's
       ``TrainConfig``, a field changed by hand taking effect, its new time said)
Ex 9   the same, ``augment=True`` (the augmentation's time per batch measured too)
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from . import layout, settings
from .config import TrainConfig
from .files import write_text_atomic
from .pipeline import epoch_slices, tumour_slices
from .runtime import default_epochs, default_width, requested_precision, resolve_precision, smoke_mode

__all__ = ["StepTimes", "RunSize", "size_run", "measure_steps", "expected_seconds", "machine_name"]

#: Timed steps per measurement, after the first (which traces the graph). The median is kept.
TIMED_STEPS = 3
#: Seconds a run spends beyond its batches: once (building the network, the prediction images'
#: first drawing) and at every epoch (the checkpoint, TensorBoard's scalars and images, the CSV
#: log: 0.4-0.5 s in benchmarks/bench_ex7.py's breakdown; the epoch's start). Set on this kit's
#: machine, where the whole estimate comes out 5-12 % above the run's time (docs/speed.md).
RUN_OVERHEAD_S = 4.0
EPOCH_OVERHEAD_S = 0.7


@dataclasses.dataclass(frozen=True)
class StepTimes:
    """One training step's seconds on this machine at one width (a batch of ``batch_size``):
    ``train_s`` (forward, backward, update), ``test_s`` (a validation batch), ``augment_s``
    (Ex 9's transforms of a batch), ``trace_s`` (what the first steps cost beyond
    these: tracing the graphs)."""

    width: int
    policy: str
    batch_size: int
    train_s: float
    test_s: float
    augment_s: float
    trace_s: float


def machine_name() -> str:
    """What the step times depend on: CPU model and cores, GPU, TensorFlow, oneDNN's ISA cap."""
    import tensorflow as tf

    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    gpus = [tf.config.experimental.get_device_details(gpu).get("device_name", "GPU")
            for gpu in tf.config.list_physical_devices("GPU")]
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"{model}, {cores} cores" + (f", {' + '.join(gpus)}" if gpus else "")
            + f", TensorFlow {tf.__version__}" + (f", ONEDNN_MAX_CPU_ISA={cap}" if cap else ""))


def measure_steps(width: int, precision: str | None = None, batch_size: int | None = None,
                  root=None, remeasure: bool = False) -> StepTimes:
    """The seconds of one training step of the U-Net at ``width`` on this machine (random data,
    the kit's compile and precision), read from ``ROOT/.tp3_cache/step_timings.json`` when this
    machine measured it before, else measured (a few seconds to half a minute) and kept there."""
    policy = resolve_precision(precision)[0]
    batch_size = batch_size or settings.BATCH_SIZE
    store = Path(root if root is not None else layout.course_root()) / layout.STEP_TIMINGS
    key = f"{machine_name()} | {policy} | width {width} | batch {batch_size}"
    known = _read_store(store)
    if key in known and not remeasure:
        return StepTimes(**known[key])
    times = _time_steps(width, policy, batch_size)
    known[key] = dataclasses.asdict(times)
    store.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(store, json.dumps(known, indent=1) + "\n")
    return times


def _read_store(store: Path) -> dict:
    try:
        known = json.loads(store.read_text())
        return known if isinstance(known, dict) else {}
    except (OSError, ValueError):  # none yet, or a damaged file: measured again, rewritten whole
        return {}


def _time_steps(width: int, policy: str, batch_size: int) -> StepTimes:
    import tensorflow as tf

    from .augment import augment_batch
    from .config import AugmentRanges
    from .precision import dtype_policy
    from .training import compile_unet
    from .unet import INPUT_SHAPE, build_unet

    rng = np.random.default_rng(0)  # its own generator: the run's seeds are not touched
    images = rng.standard_normal((batch_size, *INPUT_SHAPE)).astype(np.float32)
    classes = rng.integers(0, settings.N_CLASSES, (batch_size, *INPUT_SHAPE[:2]))
    one_hot = np.eye(settings.N_CLASSES, dtype=np.float32)[classes]
    with dtype_policy(policy):  # the run's precision, said once, by the run
        model = compile_unet(build_unet(width))

    def timed(step):
        start = time.perf_counter()
        step()
        return time.perf_counter() - start

    first_train = timed(lambda: model.train_on_batch(images, one_hot))
    train = statistics.median(timed(lambda: model.train_on_batch(images, one_hot)) for _ in range(TIMED_STEPS))
    first_test = timed(lambda: model.test_on_batch(images, one_hot))
    test = statistics.median(timed(lambda: model.test_on_batch(images, one_hot)) for _ in range(TIMED_STEPS))
    ranges = AugmentRanges()
    transform = tf.function(lambda x, y, pair: augment_batch(x, y, pair, ranges))
    args = (tf.constant(images), tf.constant(classes.astype(np.uint8)), tf.constant([1, 2], tf.int64))
    timed(lambda: transform(*args))
    augment_s = statistics.median(timed(lambda: transform(*args)) for _ in range(TIMED_STEPS))
    return StepTimes(width=width, policy=policy, batch_size=batch_size,
                     train_s=round(train, 4), test_s=round(test, 4), augment_s=round(augment_s, 4),
                     trace_s=round(max(0.0, first_train - train) + max(0.0, first_test - test), 2))


def expected_seconds(steps: StepTimes, train_batches: int, validation_batches: int, epochs: int,
                     augment: bool = False) -> float:
    """The run's expected wall time, ``model.fit`` to the last checkpoint: its batches at the
    measured step times (and augmentation's, Ex 9), the graphs' tracing, and the callbacks' share
    (:data:`EPOCH_OVERHEAD_S`)."""
    per_epoch = (train_batches * (steps.train_s + (steps.augment_s if augment else 0.0))
                 + validation_batches * steps.test_s + EPOCH_OVERHEAD_S)
    return RUN_OVERHEAD_S + steps.trace_s + epochs * per_epoch


def _minutes(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


@dataclasses.dataclass(frozen=True)
class RunSize:
    """The size :func:`size_run` chose for a run, and what it knows to estimate any other.

    ``width``, ``epoch_share``, ``epochs``, ``batch_size``, ``precision``: the run; ``seconds``: its
    expected time; ``with_tumour``, ``without_tumour``, ``validation_slices``: the split's counts;
    ``steps``: the step times measured, by width; ``target_seconds``, ``machine``, ``why``."""

    width: int
    epoch_share: float
    epochs: int
    batch_size: int
    precision: str
    seconds: float
    with_tumour: int
    without_tumour: int
    validation_slices: int
    steps: dict
    target_seconds: float
    machine: str
    augment: bool
    root: str
    why: str

    def batches(self, epoch_share: float | None = None, batch_size: int | None = None) -> int:
        """Training batches of one epoch at this share (default: the chosen one)."""
        share = self.epoch_share if epoch_share is None else epoch_share
        slices = sum(epoch_slices(self.with_tumour, self.without_tumour, share))
        return math.ceil(slices / (batch_size or self.batch_size))

    def seconds_for(self, width: int, epoch_share: float, epochs: int, batch_size: int | None = None,
                    augment: bool | None = None, precision: str | None = None) -> float:
        """The expected time of another run on this machine (measuring its steps if not yet done)."""
        batch_size = batch_size or self.batch_size
        precision = precision or self.precision
        steps = self.steps.get(width)
        if steps is None or steps.batch_size != batch_size or precision != self.precision:
            steps = measure_steps(width, precision=precision, batch_size=batch_size, root=self.root)
        return expected_seconds(steps, self.batches(epoch_share, batch_size),
                                math.ceil(self.validation_slices / batch_size), epochs,
                                self.augment if augment is None else augment)

    def describe(self, width=None, epoch_share=None, epochs=None, batch_size=None) -> str:
        width = self.width if width is None else width
        share = self.epoch_share if epoch_share is None else epoch_share
        epochs = self.epochs if epochs is None else epochs
        with_tumour, without = epoch_slices(self.with_tumour, self.without_tumour, share)
        slices = ("every slice" if share >= 1 else
                  f"{share:.0%} of the slices, those with tumour first ({with_tumour:,} of {self.with_tumour:,} with "
                  f"tumour, {without:,} of {self.without_tumour:,} without), drawn afresh every epoch")
        return f"width {width}, {slices} ({self.batches(share, batch_size)} batches an epoch), {epochs} epochs"

    def __str__(self) -> str:
        measured = ", ".join(f"{steps.train_s:.2f} s at width {width}" for width, steps in sorted(self.steps.items()))
        return (f"This machine ({self.machine}, {next(iter(self.steps.values())).policy}): a training batch of "
                f"{self.batch_size} takes {measured}.\n"
                f"{'Ex 9' if self.augment else 'Ex 7'} here: {self.describe()}: about {_minutes(self.seconds)} "
                f"({self.why}).")

    def config(self, **fields) -> TrainConfig:
        """The run's :class:`~tp3.config.TrainConfig`: this size, ``fields`` for the rest (``root``,
        ``logdir``, ``model_out``, ``augment``...). A width, epoch share, epochs or batch size given here
        wins over the size chosen, and the time it will take is said; ``config.json`` records
        which (``sizing``)."""
        chosen = {"width": self.width, "epoch_share": self.epoch_share, "epochs": self.epochs,
                  "batch_size": self.batch_size, "precision": self.precision}
        changed = {name: fields[name] for name in chosen if name in fields and fields[name] != chosen[name]}
        values = {**chosen, **fields}
        given_note = values.pop("sizing", None)
        cfg = TrainConfig(**values)  # every value checked before any is used
        if given_note is not None:
            return dataclasses.replace(cfg, sizing=given_note)
        if changed or cfg.augment != self.augment:
            seconds = self.seconds_for(cfg.width, cfg.epoch_share, cfg.epochs, cfg.batch_size, cfg.augment,
                                       cfg.precision)
            hand = ", ".join(f"{k}={v}" for k, v in changed.items()) or f"augment={cfg.augment}"
            note = (f"chosen by hand ({hand}): about {_minutes(seconds)} on this machine; size_run chose "
                    f"{self.describe()}, about {_minutes(self.seconds)}")
            print(f"As you set it: {self.describe(cfg.width, cfg.epoch_share, cfg.epochs, cfg.batch_size)}: "
                  f"about {_minutes(seconds)} here.")
        else:
            note = f"size_run: {self.describe()}, about {_minutes(self.seconds)} on {self.machine} ({self.why})"
        return dataclasses.replace(cfg, sizing=note)


def size_run(root=None, epochs: int | None = None, augment: bool = False, train_classes=None,
             target_seconds: float | None = None, precision: str | None = None, remeasure: bool = False,
             verbose: bool = True) -> RunSize:
    """The largest run of :data:`tp3.settings.EPOCH_SHARES` (at :func:`tp3.runtime.default_width`) that trains in ``target_seconds``
    (default :data:`tp3.settings.TARGET_SECONDS`) on this machine; printed unless ``verbose=False``.
    Ex 7 (``train_classes``: the training split's classes ``(N, 96, 96)``, as ``load_split`` gives
    them; else read from the cache of :mod:`tp3.cache`), Ex 9 (``augment=True``: Ex 7's size, so
    that the two runs differ by the augmentation only, and its time with the augmentation's).

    ``precision``: the run's (default :func:`tp3.runtime.requested_precision`), the one timed.
    A GPU keeps :data:`tp3.settings.UNET_WIDTH_GPU` and every slice, smoke mode (CI)
    :data:`tp3.settings.SMOKE_WIDTH`: they are timed and announced, not sized."""
    from .cache import split_cache
    from .data import count_slices, read_split
    from .runtime import gpu_available

    root = Path(root) if root is not None else layout.course_root()
    epochs = epochs or default_epochs()
    precision = precision or requested_precision()
    target = float(target_seconds or settings.TARGET_SECONDS)
    if train_classes is None:
        train_classes = split_cache("train", root, progress=False).classes(mmap=True)
    has_tumour = tumour_slices(train_classes)
    validation = sum(count_slices(patient, root) for patient in read_split("validation", root))
    if smoke_mode():
        sizes, why = ((settings.SMOKE_WIDTH, 1.0),), "smoke mode: CI's size"
    elif gpu_available():
        sizes, why = ((settings.UNET_WIDTH_GPU, 1.0),), "a GPU: the paper's width"
    else:
        sizes, why = tuple((default_width(), share) for share in settings.EPOCH_SHARES), None
    batch_size = settings.BATCH_SIZE
    steps = {width: measure_steps(width, precision=precision, batch_size=batch_size, root=root,
                                  remeasure=remeasure)
             for width in dict.fromkeys(width for width, _ in sizes)}
    known = dict(with_tumour=int(has_tumour.sum()), without_tumour=int((~has_tumour).sum()),
                 validation_slices=validation, steps=steps, machine=machine_name(), root=str(root))
    for width, share in sizes:
        # Ex 9 takes Ex 7's size (the two runs differ by the augmentation only), and says its own time
        fits = RunSize(width=width, epoch_share=share, epochs=epochs, batch_size=batch_size, precision=precision,
                       seconds=0.0, target_seconds=target, augment=False, why="", **known)
        within = fits.seconds_for(width, share, epochs) <= target
        if within:
            break
    if why is None:
        why = ("the default size fits" if within and (width, share) == sizes[0] else
               f"the largest size that fits {_minutes(target)}" if within else
               f"the smallest size; still over {_minutes(target)} here: fewer epochs shorten it")
    if augment:
        why = f"Ex 7's size: {why}; the augmentation's time added"
    size = dataclasses.replace(fits, augment=augment, why=why,
                               seconds=fits.seconds_for(width, share, epochs, augment=augment))
    if verbose:
        print(size)
    return size
