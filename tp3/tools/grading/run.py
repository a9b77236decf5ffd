"""Run one submitted notebook, cell by cell, within a time limit (the grader's worker process).

``python -m tp3.tools.grading.run NOTEBOOK EXECUTED RESULT --seconds S --runtime DIR`` executes
NOTEBOOK in a fresh kernel of the kernel spec ``tp3-grading`` (:mod:`.sandbox`: the kernel is the
only process in the sandbox; this worker, the grader's code, stays outside), talking to it
through sockets in DIR, with errors allowed (a failing cell is graded, it does not stop the
notebook), and writes the executed notebook to EXECUTED and ``{"status", "cell", "message",
"seconds"}`` to RESULT — both outside the student's reach:
``status`` is ``complete``, ``timeout`` (the limit struck in code cell ``cell``) or
``kernel died`` (in cell ``cell``: ``exit()``, ``os._exit``, a crash). Cells marked
``# NBVAL_SKIP`` (TensorBoard's magics, which start a server) are not run.

It is a process of its own so that the grader can kill it, kernel included (the kernel
exits with its parent), whatever a student's code does.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import nbformat

from ...files import atomic_file

SKIP_MARK = "# NBVAL_SKIP"
KERNEL_START_S = 120


def execute(notebook, seconds: float, folder, runtime) -> dict:
    """Execute ``notebook`` (in place) in ``folder`` for at most ``seconds``, the kernel's sockets
    in ``runtime``; returns the outcome."""
    from jupyter_client import AsyncKernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    from .sandbox import KERNEL_NAME

    # Sockets that are files: the sandboxed kernel has no network, not even the loopback.
    manager = AsyncKernelManager(kernel_name=KERNEL_NAME, transport="ipc", ip=str(Path(runtime) / "kernel"),
                            connection_file=str(Path(runtime) / "connection.json"))
    client = NotebookClient(notebook, km=manager, allow_errors=True, shutdown_kernel="immediate",
                            startup_timeout=KERNEL_START_S, resources={"metadata": {"path": str(folder)}})
    start = time.monotonic()
    outcome = {"status": "complete", "cell": None, "message": ""}
    with client.setup_kernel():
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code" or cell.source.lstrip().startswith(SKIP_MARK):
                continue
            remaining = seconds - (time.monotonic() - start)
            if remaining < 1:
                outcome = {"status": "timeout", "cell": index, "message": f"time limit of {seconds:.0f} s"}
                break
            client.timeout = int(remaining)
            try:
                client.execute_cell(cell, index)
            except CellTimeoutError:
                outcome = {"status": "timeout", "cell": index, "message": f"time limit of {seconds:.0f} s"}
                break
            except DeadKernelError as error:
                outcome = {"status": "kernel died", "cell": index, "message": str(error).splitlines()[0]}
                break
    outcome["seconds"] = round(time.monotonic() - start, 1)
    return outcome


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("executed", type=Path)
    parser.add_argument("result", type=Path)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--runtime", type=Path, required=True)
    parser.add_argument("--folder", type=Path, required=True, help="the kernel's working folder")
    args = parser.parse_args(argv)
    notebook = nbformat.read(str(args.notebook), as_version=4)
    try:
        outcome = execute(notebook, args.seconds, args.folder, args.runtime)
    except Exception as error:  # the kernel would not start, or nbclient failed: the grader reports it
        outcome = {"status": "grader error", "cell": None, "seconds": None,
                   "message": f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"}
    with atomic_file(args.executed) as tmp:
        nbformat.write(notebook, str(tmp))
    with atomic_file(args.result) as tmp:
        Path(tmp).write_text(json.dumps(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main())
