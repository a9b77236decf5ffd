"""Settings of the kit, in one place.

Everything a course might want to change — where the data lives, the seed, the size
of the default sample, the smoke mode used by CI — is read here and nowhere else.

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


# --- Training hyper-parameters (Ex 7, 9), all here -----------------------------------
#: Base width of the U-Net (filters of its first level). 16 (1.9 M parameters) trains a
#: few epochs in minutes on a laptop CPU; 64 (31 M) is the paper's network, the default
#: when a GPU is visible (Colab). Change these two values, nothing else.
UNET_WIDTH_CPU = 16
UNET_WIDTH_GPU = 64
SMOKE_WIDTH = 4
EPOCHS = 10
SMOKE_EPOCHS = 2
BATCH_SIZE = 32
LEARNING_RATE = 1e-3
#: The learning rate is multiplied by this factor every LR_DECAY_EVERY epochs (the
#: reference runs last 200 epochs: halving it every 50 keeps them learning to the end).
LR_DECAY = 0.5
LR_DECAY_EVERY = 50
#: Prediction images are written to TensorBoard about this many times per run.
N_PREVIEW_EPOCHS = 50
#: ``make demo`` trains briefly: a narrow U-Net for a few epochs (minutes on 2 CPU cores).
DEMO_WIDTH = 8
DEMO_EPOCHS = 6
#: Validation slices shown in TensorBoard at every epoch (those with the most tumour).
N_PREVIEW_SLICES = 4


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
