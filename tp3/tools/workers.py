"""Cases side by side in worker processes that stop when their run stops.

Used by ``synth`` and ``prepare``. The workers ignore Ctrl-C: the parent gets it, stops
them at once (``Pool.terminate``) and says so; a worker whose parent has died (``kill -9``)
exits within half a second instead of waiting for work forever. A case a worker was
writing stays a hidden temporary folder, removed by the next run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from multiprocessing import get_context

PARENT_POLL_S = 0.5


def cap_workers(requested: int, jobs: int) -> int:
    """Workers worth starting: at most one per CPU core and one per job (more only cost
    memory: each worker holds a case, ~300 MB)."""
    if isinstance(requested, bool) or not isinstance(requested, int) or requested < 1:
        raise ValueError(f"--workers must be a whole number of at least 1, got {requested!r}")
    return max(1, min(requested, os.cpu_count() or 1, jobs))


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(1)


def _worker_setup(parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


@contextlib.contextmanager
def parallel(function, jobs: list, workers: int):
    """Yield an iterator of ``function(job)`` for every job, in completion order, computed by
    up to ``workers`` processes (in this process when one is enough). ``function`` must be a
    module-level function. Leaving the block early (an error, Ctrl-C) stops the workers."""
    workers = cap_workers(workers, len(jobs))
    if workers == 1:
        yield map(function, jobs)
        return
    # spawn: safe even when the caller has TensorFlow loaded (fork is not).
    pool = get_context("spawn").Pool(workers, initializer=_worker_setup, initargs=(os.getpid(),))
    try:
        yield pool.imap_unordered(function, jobs)
    except BaseException:
        pool.terminate()
        raise
    else:
        pool.close()
    finally:
        pool.join()
