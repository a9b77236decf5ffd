"""How the settings apply here: environment overrides, smoke mode, the hardware (the settings
of one training run are :class:`tp3.config.TrainConfig`).

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

import contextlib
import importlib
import os
import sys
from pathlib import Path

from . import settings
# Only fixed facts are bound at import; every value a course may change (tp3/settings.py) is read
# from `settings` when used, so that a change made in a running notebook takes effect.
from .settings import BF16_CPU_FLAGS, PRECISION_POLICIES, PRECISIONS


def smoke_mode() -> bool:
    """True when ``TP3_SMOKE=1``: CI-sized data and training."""
    return os.environ.get("TP3_SMOKE", "0").strip().lower() in ("1", "true", "yes")


def sample_patients() -> int:
    """Number of synthetic cases in the default sample (about 40; 10 in smoke mode)."""
    if os.environ.get("TP3_SAMPLE_PATIENTS"):
        return int(os.environ["TP3_SAMPLE_PATIENTS"])
    return settings.SMOKE_SAMPLE_PATIENTS if smoke_mode() else settings.FULL_SAMPLE_PATIENTS


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
    return os.environ.get("TP3_PRECISION", "").strip().lower() or settings.PRECISION


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
        return settings.SMOKE_WIDTH
    return settings.UNET_WIDTH_GPU if gpu_available() else settings.UNET_WIDTH_CPU


def default_epochs() -> int:
    return settings.SMOKE_EPOCHS if smoke_mode() else settings.EPOCHS


@contextlib.contextmanager
def _stderr_to_devnull():
    """Point file descriptor 2 at /dev/null for the block: TensorFlow's C++ start-up lines are
    written there directly, before any log level is read, and bypass Python's ``sys.stderr``."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def quiet_tensorflow_import() -> None:
    """Import TensorFlow without its C++ start-up lines (oneDNN, CUDA probing). An import that
    fails still raises, with its Python traceback, once stderr is back."""
    with _stderr_to_devnull():
        importlib.import_module("tensorflow")
