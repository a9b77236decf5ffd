"""Settings of the kit, in one place.

Everything a course might want to change is here and nowhere else: where the data lives,
the seed, the labels and regions, the size of the default sample, the network's width
and depth, the training hyper-parameters and precision, the augmentation ranges, the
prediction batch size, and the smoke mode used by CI. The synthetic generator's own
recipe (contrasts, tumour shapes) stays in :mod:`tp3.tools.synth`, the one module that uses it.

Environment variables
---------------------
``TP3_ROOT``
    Folder holding ``data/``, ``datasets/``, ``origin_data/``, ``tensorboard_logs/``.
    Default: ``/content/TP3`` on Google Colab (the handout's paths), else the
    repository root.
``TP3_SMOKE``
    ``1`` shrinks everything for CI and quick checks (fewer cases, fewer epochs).
``TP3_SAMPLE_PATIENTS``
    Overrides the number of synthetic cases in the default sample.
``TP3_PRECISION``
    Overrides :data:`PRECISION` (``auto``, ``float32``, ``bfloat16``, ``float16``), e.g.
    ``TP3_PRECISION=float32`` to train as a machine without bfloat16 would.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

#: The one seed of the kit: data synthesis, splits and training all derive from it.
SEED = 2020

#: Modalities in the fixed order of the network's input channels (Ex 4, Ex 11).
MODALITIES = ("t1", "t1ce", "t2", "flair")
#: File suffix of the label volume / label slices in the BraTS layout.
LABEL_SUFFIX = "seg"
#: Labels of BraTS 2019: background, NCR/NET, edema, enhancing tumour.
BRATS_LABELS = (0, 1, 2, 4)

#: Network classes: 0 background, 1 NCR/NET, 2 edema, 3 enhancing tumour (label 4).
N_CLASSES = 4
#: BraTS label -> network class (the network's classes are contiguous).
LABEL_TO_CLASS = {label: index for index, label in enumerate(BRATS_LABELS)}
#: The evaluated tumour regions as sets of BraTS labels: whole tumour, tumour core,
#: enhancing tumour (Ex 13). Their network classes follow from LABEL_TO_CLASS.
REGIONS = {"WT": (1, 2, 4), "TC": (1, 4), "ET": (4,)}
REGION_NAMES = {"WT": "whole tumour", "TC": "tumour core", "ET": "enhancing tumour"}

#: Fractions of patients in the train / validation / test splits.
SPLIT_FRACTIONS = {"train": 0.7, "validation": 0.15, "test": 0.15}
#: Number of validation patients whose original volumes go to ``origin_data/``.
N_ORIGIN_PATIENTS = 5

COLAB_ROOT = Path("/content/TP3")
REPO_ROOT = Path(__file__).resolve().parent.parent

FULL_SAMPLE_PATIENTS = 40
SMOKE_SAMPLE_PATIENTS = 10


def smoke_mode() -> bool:
    """True when ``TP3_SMOKE=1``: CI-sized data and training."""
    return os.environ.get("TP3_SMOKE", "0").strip().lower() in ("1", "true", "yes")


def on_colab() -> bool:
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def course_root() -> Path:
    """The course root: ``$TP3_ROOT``, else ``/content/TP3`` on Colab, else the repository."""
    if os.environ.get("TP3_ROOT"):
        return Path(os.environ["TP3_ROOT"]).expanduser().resolve()
    if on_colab():
        return COLAB_ROOT
    return REPO_ROOT


def sample_patients() -> int:
    """Number of synthetic cases in the default sample (about 40; 10 in smoke mode)."""
    if os.environ.get("TP3_SAMPLE_PATIENTS"):
        return int(os.environ["TP3_SAMPLE_PATIENTS"])
    return SMOKE_SAMPLE_PATIENTS if smoke_mode() else FULL_SAMPLE_PATIENTS


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


# --- The network (Ex 5-6) ------------------------------------------------------------
#: Base width of the U-Net (filters of its first level). 16 (1.9 M parameters) trains an
#: epoch of the 40-case sample in about half a minute on 2 CPU cores in bfloat16; 64
#: (31 M) is the paper's network, the default when a GPU is visible (Colab).
UNET_WIDTH_CPU = 16
UNET_WIDTH_GPU = 64
SMOKE_WIDTH = 4
#: Number of poolings of the U-Net: 96 -> 48 -> 24 -> 12 -> 6.
UNET_DEPTH = 4

# --- Training (Ex 7, 9) ---------------------------------------------------------------
EPOCHS = 10
SMOKE_EPOCHS = 2
BATCH_SIZE = 32
LEARNING_RATE = 1e-3
#: The learning rate is multiplied by LR_DECAY every LR_DECAY_EVERY epochs: a no-op in
#: the notebooks' short runs, it lets long runs (Ex 10's references) settle.
LR_DECAY = 0.5
LR_DECAY_EVERY = 50
#: Prediction images are written to TensorBoard at most this many times per run (every
#: epoch of a short run; geometrically spaced epochs of a long one). TensorBoard keeps 10
#: images per tag by default: more would hide the early epochs.
N_PREVIEW_EPOCHS = 10
#: Validation slices shown in TensorBoard (those with the most tumour, one per patient).
N_PREVIEW_SLICES = 4
#: ``make demo`` trains briefly: a narrow U-Net for a few epochs (minutes on 2 CPU cores).
DEMO_WIDTH = 8
DEMO_EPOCHS = 6

# --- Data augmentation (Ex 8-9): ranges of the random transforms ------------------------
MAX_ROTATION_DEG = 15.0
SCALE_RANGE = (0.9, 1.1)
FLIP_PROBABILITY = 0.5
#: Per-channel intensity gain and offset (in z-score units) and Gaussian noise.
GAIN_RANGE = (0.9, 1.1)
OFFSET_RANGE = (-0.1, 0.1)
NOISE_STD = 0.03

# --- Prediction (Ex 11-13) -------------------------------------------------------------
#: Slices per ``model.predict`` batch when a whole patient (77 slices) is predicted.
PREDICT_BATCH_SIZE = 16


#: Numeric precision of training (Ex 7, 9). ``auto`` follows the hardware:
#: ``mixed_float16`` on a GPU of compute capability >= 7.0 (tensor cores),
#: ``mixed_bfloat16`` on a CPU with AVX512-BF16 or AMX-BF16 (about 2x float32 there),
#: ``float32`` otherwise (bfloat16 without hardware support is emulated, slower than float32).
#: Mixed precision computes in 16 bits and keeps the weights, the softmax head, the loss
#: and the metrics in float32.
PRECISION = "auto"
PRECISIONS = ("auto", "float32", "bfloat16", "float16")
#: Keras dtype policy of each explicit precision.
PRECISION_POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
#: CPU flags (Linux ``/proc/cpuinfo``) that make bfloat16 fast.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


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


@dataclasses.dataclass(kw_only=True)
class TrainConfig:
    """Everything that defines a training run (Ex 7, 9); saved as ``config.json`` in its log folder.

    Defaults are the settings above (width and epochs follow the machine and smoke mode);
    paths may be given as ``str`` or ``Path``. Invalid values raise ``ValueError`` here,
    before any data is read. ``python -m tp3 train`` has one flag per field.
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
        for name in ("root", "logdir", "model_out"):
            setattr(self, name, str(getattr(self, name)))  # JSON-ready, whatever the caller passed
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
        self.precision = str(self.precision).lower()
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
