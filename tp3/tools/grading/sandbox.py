"""Where a submitted notebook's kernel runs: a bubblewrap sandbox whose end the grader controls.

The grader's worker (:mod:`.run`, the grader's own code) drives the kernel over ZeroMQ sockets
that are files (``ipc`` transport) in a folder the two share; only the kernel — the one
process that runs student code — is inside the sandbox (``bwrap``, bubblewrap, Debian's
package ``bubblewrap``):

* a PID namespace of its own, ended with the worker (``--die-with-parent``): every process the
  kernel starts, detached or not, dies with it; ``/proc`` shows those processes only;
* no network (``--unshare-net``), no IPC or host name shared, a new session (no terminal);
* a file system of its own: the system's programs and libraries, this Python and its packages,
  and the kit's package, models and reference logs, all read-only; the notebook's temporary
  course root (its ``HOME`` and ``TMPDIR`` inside) read-write; an empty ``/tmp``. Other
  submissions, the grader's files, the output folder, the instructor's course data and home
  are not there at all;
* an environment made anew (``--clearenv``): only the variables :func:`kernel_environment` sets.

Without bubblewrap (or where it cannot start: user namespaces disabled) the grader refuses, unless
the instructor passes ``--unsafe``: the kernel then runs as an ordinary process (the grades are
still computed by the grader from the recorded answers, but the kernel can read and write what
the instructor can). ``docs/grading.md`` says what each mode protects.
"""

from __future__ import annotations

import functools
import json
import shutil
import site
import subprocess
import sys
from pathlib import Path

from ... import layout

KERNEL_NAME = "tp3-grading"
#: What of /etc a Python kernel reads (the dynamic loader, fonts, time zone); nothing else of it.
ETC_ENTRIES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "fonts", "localtime", "alternatives", "ssl",
               "mime.types", "matplotlibrc")
INSTALL_HINT = ("install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install "
                "bubblewrap), or pass --unsafe to grade a class you trust without a sandbox")


@functools.lru_cache(maxsize=1)
def unavailable() -> str | None:
    """Why the sandbox cannot be used here (``None`` when it can)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed"
    probe = subprocess.run([bwrap, "--ro-bind", "/", "/", "--unshare-pid", "--unshare-net", "--die-with-parent", "true"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return f"bubblewrap cannot start here ({(probe.stderr.strip().splitlines() or ['?'])[0]})"
    return None


def kit_folders() -> list[Path]:
    """The kit's folders a notebook reads: its package, pretrained models and reference logs."""
    package = Path(__file__).resolve().parents[2]
    shipped = [layout.REPO_ROOT / name for name in (layout.MODELS, layout.REFERENCE_LOGS)]
    return [package] + [folder for folder in shipped if folder.is_dir()]


def python_folders() -> list[Path]:
    """This Python and its packages (a virtual environment's and the user's too)."""
    folders = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), Path(sys.executable).parent}
    user = Path(site.getusersitepackages())
    if user.is_dir():
        folders.add(user.resolve())
    return sorted(folders)


def kernel_environment(root: Path, record: Path) -> dict:
    """The kernel's whole environment: smoke mode in the notebook's course root."""
    return {"TP3_ROOT": str(root), "TP3_SMOKE": "1", "HOME": str(root / "home"), "TMPDIR": str(root / "tmp"),
            "MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "3", "LANG": "C.UTF-8",
            "PYTHONUSERBASE": site.getuserbase(), "TP3_GRADING_RECORD": str(record),
            # the kernel spec's "python" must be this Python (as the Makefile's RUN does)
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin"}


def _read_only(path: Path) -> list[str]:
    path = Path(path)
    if path.is_symlink() and path.parent == Path("/"):  # merged /usr: /bin -> usr/bin
        return ["--symlink", str(path.readlink()), str(path)]
    return ["--ro-bind", str(path), str(path)] if path.exists() else []


def bwrap_arguments(root: Path, runtime: Path, environment: dict) -> list[str]:
    """``bwrap`` and its options for a kernel working in ``root``, its sockets in ``runtime``."""
    arguments = [shutil.which("bwrap") or "bwrap"]
    for system in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        arguments += _read_only(Path(system))
    for entry in ETC_ENTRIES:
        arguments += _read_only(Path("/etc") / entry)
    arguments += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for folder in python_folders() + kit_folders():
        arguments += ["--ro-bind", str(folder), str(folder)]
    arguments += ["--bind", str(root), str(root), "--bind", str(runtime), str(runtime)]
    arguments += ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                  "--die-with-parent", "--new-session", "--clearenv", "--chdir", str(root)]
    for name, value in environment.items():
        arguments += ["--setenv", name, value]
    return arguments


def write_kernelspec(folder: Path, root: Path, runtime: Path, record: Path, sandboxed: bool) -> dict:
    """Write the kernel spec :data:`KERNEL_NAME` under ``folder`` (a ``JUPYTER_PATH``); returns
    the variables the worker needs to find it (``JUPYTER_PATH``, ``JUPYTER_RUNTIME_DIR``)."""
    environment = kernel_environment(root, record)
    kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec = {"display_name": "tp3 grading", "language": "python"}
    if sandboxed:
        spec["argv"] = bwrap_arguments(root, runtime, environment) + kernel
    else:
        spec.update(argv=kernel, env=environment)
    target = Path(folder) / "kernels" / KERNEL_NAME
    target.mkdir(parents=True)
    (target / "kernel.json").write_text(json.dumps(spec, indent=1))
    return {"JUPYTER_PATH": str(folder), "JUPYTER_RUNTIME_DIR": str(runtime)}
