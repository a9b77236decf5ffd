"""How the settings apply here: environment overrides, smoke mode, the hardware, and
:class:`TrainConfig`, the settings of one training run.

Environment variables
---------------------
``TP3_ROOT``
    The course root (:func:`tp3.layout.course_root`). Default: ``/content/TP3`` on Google
    Colab (the handout's paths), else the repository root.
``TP3_SMOKE``
    ``1`` shrinks everything for CI and quick checks (fewer cases, fewer epochs).
``TP3_SAMPLE_PATIENTS``
    Overrides the number of synthetic cases in the default sample.
``TP3_PRECISION``
    Overrides :data:`tp3.settings.PRECISION` (``auto``, ``float32``, ``bfloat16``, ``float16``),
    e.g. ``TP3_PRECISION=float32`` to train as a machine without bfloat16 would.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from .layout import course_root
from .settings import (BF16_CPU_FLAGS, BATCH_SIZE, EPOCHS, FULL_SAMPLE_PATIENTS, LEARNING_RATE, LR_DECAY,
                       LR_DECAY_EVERY, PRECISION, PRECISION_POLICIES, PRECISIONS, SEED, SMOKE_EPOCHS,
                       SMOKE_SAMPLE_PATIENTS, SMOKE_WIDTH, UNET_WIDTH_CPU, UNET_WIDTH_GPU)


def smoke_mode() -> bool:
    """True when ``TP3_SMOKE=1``: CI-sized data and training."""
    return os.environ.get("TP3_SMOKE", "0").strip().lower() in ("1", "true", "yes")


def sample_patients() -> int:
    """Number of synthetic cases in the default sample (about 40; 10 in smoke mode)."""
    if os.environ.get("TP3_SAMPLE_PATIENTS"):
        return int(os.environ["TP3_SAMPLE_PATIENTS"])
    return SMOKE_SAMPLE_PATIENTS if smoke_mode() else FULL_SAMPLE_PATIENTS


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def available_memory(meminfo: str | None = None) -> int | None:
    """Bytes of memory this machine can still give (Linux's ``MemAvailable``, Colab included);
    None where it cannot be told."""
    try:
        meminfo = meminfo if meminfo is not None else Path("/proc/meminfo").read_text()
    except OSError:
        return None
    for line in meminfo.splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return None


def gpu_available() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def gpu_compute_capability() -> tuple[int, int] | None:
    """Lowest compute capability among the visible GPUs, ``None`` without a GPU."""
    import tensorflow as tf

    capabilities = [tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0))
                    for gpu in tf.config.list_physical_devices("GPU")]
    return min(capabilities) if capabilities else None


def cpu_bf16_flags(cpuinfo: str | None = None) -> list[str]:
    """The CPU's bfloat16 flags among :data:`BF16_CPU_FLAGS` (empty when unknown, e.g. not Linux)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return []
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
    return [flag for flag in BF16_CPU_FLAGS if flag in flags]


def requested_precision() -> str:
    """:data:`PRECISION`, or ``$TP3_PRECISION`` when set."""
    return os.environ.get("TP3_PRECISION", "").strip().lower() or PRECISION


def resolve_precision(requested: str | None = None, gpu_capability="detect",
                      bf16_flags="detect") -> tuple[str, str]:
    """``(Keras dtype policy, why)`` for a requested precision (default :func:`requested_precision`).

    ``auto``: ``mixed_float16`` on GPUs of compute capability >= 7.0, ``mixed_bfloat16``
    on a CPU with AVX512-BF16 or AMX-BF16, else ``float32``. ``gpu_capability`` and
    ``bf16_flags`` stand in for the hardware (tests force the fallback with them).
    """
    requested = (requested or requested_precision()).lower()
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {requested!r}")
    if requested != "auto":
        return PRECISION_POLICIES[requested], "requested"
    capability = gpu_compute_capability() if gpu_capability == "detect" else gpu_capability
    if capability is not None:
        if tuple(capability) >= (7, 0):
            return "mixed_float16", f"auto: GPU of compute capability {capability[0]}.{capability[1]}"
        return "float32", (f"auto: GPU of compute capability {capability[0]}.{capability[1]} "
                           "(< 7.0, no tensor cores)")
    flags = cpu_bf16_flags() if bf16_flags == "detect" else list(bf16_flags)
    if flags:
        return "mixed_bfloat16", f"auto: CPU with {' and '.join(f.upper().replace('_', '-') for f in flags)}"
    return "float32", "auto: CPU without bfloat16 instructions"


def default_width() -> int:
    """U-Net width: SMOKE_WIDTH in smoke mode, else UNET_WIDTH_GPU with a GPU, else UNET_WIDTH_CPU."""
    if smoke_mode():
        return SMOKE_WIDTH
    return UNET_WIDTH_GPU if gpu_available() else UNET_WIDTH_CPU


def default_epochs() -> int:
    return SMOKE_EPOCHS if smoke_mode() else EPOCHS


def _option(default=dataclasses.MISSING, help: str = "", factory=None):  # noqa: A002 (argparse's word)
    """A :class:`TrainConfig` field with the help text of its command-line flag."""
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata={"help": help})
    return dataclasses.field(default=default, metadata={"help": help})


@dataclasses.dataclass(kw_only=True, frozen=True)
class TrainConfig:
    """Everything that defines a training run (Ex 7, 9); saved as ``config.json`` in its log folder.

    Defaults are :mod:`tp3.settings` (width and epochs follow the machine and smoke mode);
    paths may be given as ``str`` or ``Path``. Invalid values raise ``ValueError`` here,
    before any data is read. Fixed once made, so that ``config.json`` says what ran: another
    run is another ``TrainConfig(...)`` (or ``dataclasses.replace(cfg, epochs=3)``).
    ``python -m tp3 train`` has one flag per field.
    """

    logdir: str = _option(help="TensorBoard log folder (config.json is written there)")
    model_out: str = _option(help="checkpoint of the best validation loss (.weights.h5, the kit's model file)")
    root: str = _option(factory=lambda: str(course_root()),
                        help="course root (default: TP3_ROOT, /content/TP3 on Colab, else the repository)")
    epochs: int = _option(factory=default_epochs, help=f"epochs (default {EPOCHS}, {SMOKE_EPOCHS} in smoke mode)")
    augment: bool = _option(False, help="augment the training batches (Ex 9)")
    width: int = _option(factory=default_width,
                         help=f"U-Net base width (default {UNET_WIDTH_CPU} on a CPU, {UNET_WIDTH_GPU} with a GPU)")
    seed: int = _option(SEED, help="seed of the shuffling, augmentation and initial weights")
    batch_size: int = _option(BATCH_SIZE, help="slices per batch")
    learning_rate: float = _option(LEARNING_RATE, help="Adam's initial learning rate")
    lr_decay: float = _option(LR_DECAY, help="factor applied to the learning rate every --lr-decay-every epochs")
    lr_decay_every: int = _option(LR_DECAY_EVERY, help="epochs between two learning-rate decays")
    precision: str = _option(factory=requested_precision,
                             help="auto: bfloat16 on CPUs that have it, float16 on recent GPUs, else float32")

    def __post_init__(self):
        for name in ("root", "logdir", "model_out"):  # JSON-ready, whatever the caller passed
            object.__setattr__(self, name, str(getattr(self, name)))
        if not self.model_out.endswith(".weights.h5"):
            raise ValueError(f"model_out must end with .weights.h5 (the kit's model file, which loads on "
                             f"every Keras 3; a .keras archive loads only on a Keras as new as the one that "
                             f"saved it), got {self.model_out}")
        for name in ("epochs", "width", "batch_size", "lr_decay_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive whole number, got {value!r}")
        if not self.learning_rate > 0 or not 0 < self.lr_decay <= 1:
            raise ValueError(f"learning_rate must be > 0 and lr_decay in (0, 1], got "
                             f"{self.learning_rate} and {self.lr_decay}")
        object.__setattr__(self, "precision", str(self.precision).lower())
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")

    @classmethod
    def load(cls, path) -> "TrainConfig":
        """The configuration saved in ``path`` (a run's ``config.json``); unknown keys are ignored."""
        path = Path(path)
        try:
            values = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise ValueError(f"{path}: not a readable config.json ({error})") from None
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})
