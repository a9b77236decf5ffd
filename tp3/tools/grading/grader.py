"""Grade a class: every submitted notebook run in smoke mode, its self-checks scored.

``python -m tp3 grade SUBMISSIONS --out DIR`` reads ``SUBMISSIONS/<student>/**/*.ipynb``.
Each notebook is recognised by its self-checks (a renamed file, ``Copy of 01_data.ipynb``,
is still ``01_data``) and compared with the kit's student version of it: a locked cell the
student edited (nbgrader's checksum differs) is put back and reported, outputs are cleared.
It then runs in a worker process (:mod:`.run`) whose kernel — the only process running student
code — is sandboxed (:mod:`.sandbox`), in a fresh temporary course root holding a copy of the
smoke sample (never the instructor's course data), with ``HOME`` and ``TMPDIR`` inside that root
and a time limit. Each self-check records its answer (:mod:`tp3.checks.record`); once the kernel
is gone, the grader judges every recorded answer itself (:mod:`.judge`), on its own copy of the
sample: a check passes only when its recorded answer is right.

Written to DIR: ``grades.csv`` (one row per student, notebook and self-check: points, max,
outcome, detail), ``totals.csv`` (one row per student and notebook), ``summary.md`` (the
class's mean per exercise, hardest first) and ``feedback/<student>/<notebook>.html`` (the
executed notebook with its grades on top). Outcomes:

=============== ===============================================================
passed          the answer the self-check recorded is right (judged by the grader): its points
hint            the self-check rejected the answer (detail: its message and hint)
not answered    the exercise's cell still raises ``NotImplementedError``
error           the check (or what it needs) failed: the error's first line
unverified      the check's cell ran, but no answer was recorded (``tp3.checks`` replaced?)
timeout         the time limit struck before the check ran
kernel died     the kernel exited before the check ran (``os._exit``, a crash)
missing         no such notebook, or its self-check cell was deleted
invalid         the file is not a notebook (detail: why); not graded
unrecognised    a notebook without any of the kit's self-checks; not graded
duplicate       a second file for the same notebook; not graded
grader error    the notebook could not be run (detail: why)
=============== ===============================================================

The exit code is 0 when every submitted file could be graded, 1 otherwise. What the sandbox
and the recorded answers protect, and what they do not: docs/grading.md.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import nbformat

from ... import layout
from ...files import write_text_atomic
from ...settings import GRADING_TIMEOUT_S, SMOKE_SAMPLE_PATIENTS
from . import sandbox
from .cells import graded_cells
from .judge import RECORD_FOLDER, judge
from .reports import TOTAL_COLUMNS, class_summary, csv_text, feedback_html
from .scoring import CSV_COLUMNS, score
from .submissions import Job, Master, discover, load_masters, restore_locked_cells

__all__ = ["grade", "run_job", "discover", "load_masters", "restore_locked_cells", "score", "Job", "Master"]

#: Seconds a worker gets beyond the notebook's limit to start its kernel and write its result.
WORKER_GRACE_S = 180
NOT_GRADED = ("invalid", "unrecognised", "duplicate", "grader error")
#: The course data a notebook may read, copied into each temporary root.
SAMPLE_ENTRIES = (*layout.COURSE_DATA_DIRS, layout.PREPARE_MANIFEST, layout.SAMPLE_RECORD)


def _course_copy(sample: Path, root: Path) -> None:
    """A fresh course root: the sample's course data copied (a student's cell may change it)."""
    for entry in SAMPLE_ENTRIES:
        source = sample / entry
        if source.is_dir():
            shutil.copytree(source, root / entry)
        elif source.is_file():
            shutil.copy2(source, root / entry)
    for folder in ("home", "tmp"):
        (root / folder).mkdir()


def _worker_environment(kernel: dict) -> dict:
    """The worker's environment: the grader's, without what locates the grader (its folder,
    its arguments), plus where the kernel spec and its sockets are."""
    env = {name: value for name, value in os.environ.items()
           if name not in ("PWD", "OLDPWD", "TP3_ROOT", "TP3_SAMPLE_PATIENTS", "JUPYTER_PATH", "JUPYTER_RUNTIME_DIR")}
    return {**env, **kernel, "TP3_SMOKE": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}


class _Running:
    """The worker processes running now, to stop them all on Ctrl-C."""

    def __init__(self):
        self.lock, self.processes = threading.Lock(), set()

    def kill_all(self):
        with self.lock:
            for process in self.processes:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass


def run_job(job: Job, sample: Path, work: Path, seconds: float, running: _Running | None = None,
            sandboxed: bool = True) -> dict:
    """Run one submission in its own course root under ``work``, then judge what it recorded;
    returns its rows and the executed notebook.

    ``work/job-*/``: ``root/`` (the kernel's course root, the only folder it may write),
    ``runtime/`` (the kernel's sockets), ``jupyter/`` (its kernel spec) and what the worker
    writes — the executed notebook, its outcome, its log — beside ``root/``, out of the kernel's
    sight."""
    job_dir = Path(tempfile.mkdtemp(prefix="job-", dir=work))
    try:
        root, runtime = job_dir / "root", job_dir / "runtime"
        root.mkdir()
        runtime.mkdir()
        _course_copy(sample, root)
        record = root / RECORD_FOLDER
        kernel = sandbox.write_kernelspec(job_dir / "jupyter", root, runtime, record, sandboxed)
        notebook, notes, general = restore_locked_cells(job.notebook, job.master)
        source, executed_path, result_path = root / f"{job.master.name}.ipynb", job_dir / "executed.ipynb", job_dir / "result.json"
        nbformat.write(notebook, str(source))
        command = [sys.executable, "-m", "tp3.tools.grading.run", str(source), str(executed_path), str(result_path),
                   "--seconds", str(seconds), "--runtime", str(runtime), "--folder", str(root)]
        log = (job_dir / "worker.log").open("wb")
        start = time.monotonic()
        process = subprocess.Popen(command, cwd=job_dir, env=_worker_environment(kernel), stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        if running:
            with running.lock:
                running.processes.add(process)
        try:
            process.wait(timeout=seconds + WORKER_GRACE_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        finally:
            log.close()
            if running:
                with running.lock:
                    running.processes.discard(process)
        elapsed = time.monotonic() - start
        if process.returncode == 0 and result_path.is_file():
            outcome = json.loads(result_path.read_text())
            executed = nbformat.read(str(executed_path), as_version=4)
        else:
            tail = (job_dir / "worker.log").read_text(errors="replace").strip().splitlines()[-1:] or [""]
            status = "timeout" if elapsed >= seconds else "grader error"
            outcome = {"status": status, "cell": None, "seconds": round(elapsed, 1),
                       "message": f"time limit of {seconds:.0f} s" if status == "timeout"
                       else f"the worker stopped (exit {process.returncode}): {tail[0][:200]}"}
            executed = notebook
        judged, cells = {}, graded_cells(notebook)
        for grade_id in job.master.checks:
            answers = [cells[a].source for a in job.master.answers[grade_id] if a in cells]
            verdict = judge(record, grade_id, sample, answers)
            if verdict is not None:
                judged[grade_id] = verdict
        rows = score(executed, job.master, outcome, notes, job.student, judged)
        notes_all = job.notes + general
        if notes_all:
            for row in rows:
                row["detail"] = "; ".join(t for t in (row["detail"], *notes_all) if t)
        return {"job": job, "rows": rows, "executed": executed, "outcome": outcome, "notes": notes_all,
                "seconds": round(elapsed, 1)}
    finally:
        shutil.rmtree(job_dir, ignore_errors=True)


def _ready_output(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} is a file: --out needs a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise FileExistsError(f"{out} is not empty (grades of an earlier run?): pass --force to replace "
                              "its grades, or choose another --out")
    out.mkdir(parents=True, exist_ok=True)


def grade(submissions, out, jobs: int = 2, seconds: float = GRADING_TIMEOUT_S, sample=None,
          force: bool = False, progress: bool = True, masters: dict | None = None, unsafe: bool = False,
          scratch=None) -> int:
    """Grade every submission of ``submissions`` into ``out`` (see the module's docstring).

    ``sample``: a course root to copy into each notebook's root (default: the smoke sample,
    built once in a temporary folder). ``unsafe``: run the kernels without the sandbox (refused
    otherwise where it cannot start). ``scratch``: where the grader's temporary folder goes
    (default: the system's; keep its path short: the kernels' sockets are files in it). Returns the exit code: 0 when every submitted file could
    be graded, else 1.
    """
    from tqdm.auto import tqdm

    missing_sandbox = sandbox.unavailable()
    if missing_sandbox and not unsafe:
        raise RuntimeError(f"{missing_sandbox}: student code would run with your rights. To grade, "
                           + sandbox.INSTALL_HINT)
    if unsafe:
        print("Warning: --unsafe: the notebooks run without the sandbox; student code can read and write "
              "what you can (the grades are still the grader's own).", file=sys.stderr)
    out = Path(out)
    masters = masters or load_masters()
    found, rows = discover(submissions, masters)  # bad input is refused before anything is written
    _ready_output(out, force)
    shutil.rmtree(out / "feedback", ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix="tp3-grade-", dir=scratch))
    running = _Running()
    totals = [dict(zip(TOTAL_COLUMNS, (r["student"], r["notebook"], 0, 0, r["outcome"], "", r["detail"])))
              for r in rows if not r["exercise"]]
    try:
        if sample is None:
            from .. import sample as sample_tool
            sample = sample_tool.ensure_sample(work / "sample", n_patients=SMOKE_SAMPLE_PATIENTS, progress=progress)
        sample = Path(sample)
        bar = tqdm(total=len(found), desc="grading", unit="notebook", disable=not progress)
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = [pool.submit(run_job, job, sample, work, seconds, running, not unsafe) for job in found]
            try:
                for future in as_completed(futures):
                    result = future.result()
                    job = result["job"]
                    rows += result["rows"]
                    html = feedback_html(result["executed"], result["rows"], job.master)
                    write_text_atomic(out / "feedback" / job.student / f"{job.master.name}.html", html)
                    totals.append(dict(zip(TOTAL_COLUMNS, (
                        job.student, job.master.name, sum(r["points"] for r in result["rows"]), job.master.max_points,
                        result["outcome"]["status"], result["seconds"], "; ".join(result["notes"])))))
                    bar.update()
            except BaseException:
                for future in futures:
                    future.cancel()
                running.kill_all()
                raise
        bar.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    order = {name: i for i, name in enumerate(masters)}
    key = lambda r: (r["student"], order.get(r["notebook"], len(order)), r["notebook"])
    rows.sort(key=key)
    totals.sort(key=key)
    write_text_atomic(out / "grades.csv", csv_text(rows, CSV_COLUMNS))
    write_text_atomic(out / "totals.csv", csv_text(totals, TOTAL_COLUMNS))
    summary = class_summary(rows, masters)
    write_text_atomic(out / "summary.md", summary)
    print(summary)
    ungraded = [r for r in rows if r["outcome"] in NOT_GRADED]
    seconds_each = [t["seconds"] for t in totals if t["seconds"] != ""]
    if seconds_each:
        print(f"{len(seconds_each)} notebooks run, {sum(seconds_each) / len(seconds_each):.0f} s each on average, "
              f"{jobs} at a time")
    print(f"Grades: {out / 'grades.csv'} · totals: {out / 'totals.csv'} · feedback: {out / 'feedback'}/")
    if ungraded:
        print(f"{len(ungraded)} submitted file(s) could not be graded: "
              + "; ".join(f"{r['student']}/{r['notebook']} ({r['outcome']})" for r in ungraded))
        return 1
    return 0
