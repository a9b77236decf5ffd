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

import copy
import csv
import io
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
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ... import layout
from ...files import write_text_atomic
from ...settings import GRADING_TIMEOUT_S, POINTS, SMOKE_SAMPLE_PATIENTS
from . import sandbox
from .cells import (SETUP_ID, check_id, checks, exercise_label, exercise_number, grade_id_of, graded_cells,
                    nbgrader_metadata)
from .judge import RECORD_FOLDER, judge

STUDENTS_FOLDER = layout.REPO_ROOT / "notebooks" / "students"
#: A submission larger than this is refused unread (a notebook of the course is < 1 MB without outputs).
MAX_NOTEBOOK_BYTES = 200 * 2**20
#: Seconds a worker gets beyond the notebook's limit to start its kernel and write its result.
WORKER_GRACE_S = 180
NOT_GRADED = ("invalid", "unrecognised", "duplicate", "grader error")
CSV_COLUMNS = ("student", "notebook", "exercise", "points", "max", "outcome", "detail")
TOTAL_COLUMNS = ("student", "notebook", "points", "max", "status", "seconds", "notes")
#: The course data a notebook may read, copied into each temporary root.
SAMPLE_ENTRIES = (*layout.COURSE_DATA_DIRS, layout.PREPARE_MANIFEST, layout.SAMPLE_RECORD)


@dataclass
class Master:
    """The kit's student version of one notebook: what a submission is compared with."""

    name: str
    notebook: nbformat.NotebookNode
    #: {grade_id: cell} of its graded cells (setup, answers as handed out, self-checks)
    cells: dict
    checks: list
    #: {check grade_id: the grade_ids of the answer cells of its exercise before it}
    answers: dict

    @property
    def locked(self) -> dict:
        return {g: cell for g, cell in self.cells.items() if cell.metadata["nbgrader"].get("locked")}

    @property
    def max_points(self) -> int:
        return sum(POINTS[c] for c in self.checks)


@dataclass
class Job:
    student: str
    master: Master
    path: Path
    notebook: nbformat.NotebookNode
    notes: list = field(default_factory=list)


def load_masters(folder=STUDENTS_FOLDER) -> dict:
    """``{name: Master}`` of the kit's student notebooks (``01_data``, ...)."""
    masters = {}
    for path in sorted(Path(folder).glob("*.ipynb")):
        notebook = nbformat.read(str(path), as_version=4)
        cells = graded_cells(notebook)
        order = list(cells)
        found = checks(notebook)
        answers = {c: [g for g in order[:order.index(c)] if g.startswith(f"ex{exercise_number(c)}_answer")]
                   for c in found}
        masters[path.stem] = Master(path.stem, notebook, cells, found, answers)
    if not masters:
        raise FileNotFoundError(f"no student notebooks in {folder}: run `python -m tp3 notebooks students`")
    return masters


# --- Finding the submissions ----------------------------------------------------------------

def _row(student, notebook, exercise, points, max_points, outcome, detail="") -> dict:
    return dict(zip(CSV_COLUMNS, (student, notebook, exercise, points, max_points, outcome, detail)))


def _read_notebook(path: Path):
    """The notebook at ``path``, or the reason it is not one (a string)."""
    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        return f"{size / 2**20:.0f} MB, above the {MAX_NOTEBOOK_BYTES // 2**20} MB a notebook may weigh"
    try:
        text = path.read_text(encoding="utf-8")
        json.loads(text)
        return nbformat.reads(text, as_version=4)
    except UnicodeDecodeError as error:
        return f"not text (UTF-8): {error.reason} at byte {error.start}"
    except json.JSONDecodeError as error:
        return f"not JSON: {error.msg} at line {error.lineno}, column {error.colno} (a truncated download?)"
    except Exception as error:  # nbformat's own: a JSON file that is no notebook
        return f"not a notebook: {type(error).__name__}: {str(error).strip().splitlines()[0][:200]}"


def _check_ids(notebook) -> set:
    """The kit's self-checks a notebook holds: by nbgrader metadata, else by the call in the cell."""
    found = set()
    for cell in notebook.get("cells", []):
        found |= {grade_id_of(cell), check_id(cell)} & set(POINTS)
    return found


def _identify(path: Path, notebook, masters: dict):
    """(master name or None, note): by the self-checks it holds, its file name breaking ties."""
    ids = _check_ids(notebook)
    scores = {name: len(ids & set(m.checks)) for name, m in masters.items()}
    best = max(scores.values(), default=0)
    if best == 0:
        return None, ""
    candidates = [name for name, score in scores.items() if score == best]
    name = path.stem if path.stem in candidates else candidates[0]
    return name, ("" if name == path.stem else f"file named {path.name}")


def discover(submissions, masters: dict) -> tuple[list, list]:
    """``(jobs, rows)``: a :class:`Job` per notebook to run, and the rows of files that cannot be
    graded and of notebooks missing, for every student folder of ``submissions``."""
    submissions = Path(submissions)
    if not submissions.is_dir():
        raise FileNotFoundError(f"{submissions}: no such folder (expected SUBMISSIONS/<student>/<notebook>.ipynb)")
    students = sorted(p for p in submissions.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not students:
        raise FileNotFoundError(f"{submissions} holds no student folder (expected SUBMISSIONS/<student>/<notebook>.ipynb)")
    jobs, rows = [], []
    for folder in students:
        student = folder.name
        files = sorted(p for p in folder.rglob("*.ipynb")
                       if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts))
        chosen = {}
        for path in files:
            shown = str(path.relative_to(folder))
            notebook = _read_notebook(path)
            if isinstance(notebook, str):
                rows.append(_row(student, shown, "", 0, 0, "invalid", notebook))
                continue
            name, note = _identify(path, notebook, masters)
            if name is None:
                rows.append(_row(student, shown, "", 0, 0, "unrecognised",
                                 "none of the kit's self-checks is in it (another course's notebook?)"))
            elif name in chosen and (chosen[name].path.stem == name or path.stem != name):
                rows.append(_row(student, shown, "", 0, 0, "duplicate",
                                 f"{name} graded from {chosen[name].path.relative_to(folder)}"))
            else:
                if name in chosen:  # the file with the notebook's own name wins
                    old = chosen[name].path
                    rows.append(_row(student, str(old.relative_to(folder)), "", 0, 0, "duplicate",
                                     f"{name} graded from {shown}"))
                chosen[name] = Job(student, masters[name], path, notebook, [note] if note else [])
        for name, master in masters.items():
            if name in chosen:
                jobs.append(chosen[name])
            else:
                rows += [dict(_row(student, name, exercise_label(c), 0, POINTS[c], "missing",
                                   f"no {name}.ipynb in {student}/"), submitted=False) for c in master.checks]
    return jobs, rows


# --- Preparing, running and scoring one notebook ----------------------------------------------

def _checksum(cell) -> str:
    from nbgrader.utils import compute_checksum

    if grade_id_of(cell) is None:
        return f"source:{cell.source}"
    return compute_checksum(cell)


def restore_locked_cells(notebook, master: Master) -> tuple:
    """``(notebook to run, {grade_id: note}, [notes])``: ``notebook`` without outputs, each locked
    cell (setup, self-checks) found by its grade_id or its check call and put back as the kit
    has it if edited (nbgrader's checksum); a deleted setup cell is put back first."""
    notebook = copy.deepcopy(notebook)
    by_id, notes, general, locked = {}, {}, [], master.locked
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        grade_id = grade_id_of(cell) or check_id(cell)
        if grade_id in locked and grade_id not in by_id:
            by_id[grade_id] = cell
    for grade_id, original in locked.items():
        cell = by_id.get(grade_id)
        if cell is None:
            if grade_id == SETUP_ID:
                notebook.cells.insert(0, copy.deepcopy(original))
                general.append("setup cell deleted: put back")
            continue
        if _checksum(cell) != _checksum(original) or cell.cell_type != original.cell_type:
            if grade_id == SETUP_ID:
                general.append("setup cell edited: the kit's put back")
            else:
                notes[grade_id] = "self-check cell edited: the kit's put back"
            cell.cell_type, cell.source = original.cell_type, original.source
            cell.metadata = copy.deepcopy(original.metadata)
            cell.setdefault("outputs", [])
            cell.setdefault("execution_count", None)
    position = {}
    for index, cell in enumerate(notebook.cells):
        position.setdefault(grade_id_of(cell), index)
    for check in master.checks:
        if check in position and any(position.get(a, -1) > position[check] for a in master.answers[check]):
            notes[check] = "; ".join(filter(None, (notes.get(check), "its self-check cell was moved above its answer")))
    return notebook, notes, general


def _first_line(text) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""


def _error(cell):
    """The cell's error output (``ename``, ``evalue``), else ``None``."""
    for output in cell.get("outputs", []):
        if output.output_type == "error":
            return output.ename, output.evalue
    return None


def _unanswered(cell, blank) -> bool:
    """An answer cell left as handed out, or still raising ``NotImplementedError``."""
    return (blank is not None and cell.source == blank.source) or (_error(cell) or ("",))[0] == "NotImplementedError"


def _first_failure(executed, check) -> str:
    """``"; after code cell N failed (Error: ...)"`` for the first cell before ``check`` that
    failed (the usual cause of a check's NameError), else ``""``."""
    number = 0
    for cell in executed.cells:
        if cell is check:
            return ""
        if cell.cell_type != "code":
            continue
        number += 1
        error = _error(cell)
        if error is not None and not nbgrader_metadata(cell).get("grade"):
            return f"; after code cell {number} failed ({error[0]}: {_first_line(error[1])[:150]})"
    return ""


def score(executed, master: Master, outcome: dict, notes: dict, student: str, judged: dict) -> list:
    """One row per self-check of ``master`` for the executed notebook; ``judged``: ``{grade_id:
    (outcome, detail)}`` of the answers recorded (:func:`.judge.judge`), the only way to pass."""
    cells = graded_cells(executed)
    code_cells = [i for i, c in enumerate(executed.cells) if c.cell_type == "code"]
    stopped = outcome.get("cell")
    stop_at = f"code cell {code_cells.index(stopped) + 1}" if stopped in code_cells else "a cell"
    rows = []
    for grade_id in master.checks:
        label, points = exercise_label(grade_id), POINTS[grade_id]
        cell = cells.get(grade_id)
        note = notes.get(grade_id, "")
        detail = lambda text: "; ".join(t for t in (text, note) if t)
        if cell is None:
            rows.append(_row(student, master.name, label, 0, points, "missing", detail("its self-check cell was deleted")))
            continue
        error = _error(cell)
        blank = [a for a in master.answers[grade_id] if a in cells and _unanswered(cells[a], master.cells.get(a))]
        if grade_id in judged and not (blank and judged[grade_id][0] != "passed"):
            verdict, text = judged[grade_id]
            rows.append(_row(student, master.name, label, points if verdict == "passed" else 0, points, verdict,
                             detail(text)))
        elif error is None and cell.get("execution_count") is not None:
            rows.append(_row(student, master.name, label, 0, points, "unverified",
                             detail("the self-check's cell ran, but the kit's check recorded no answer "
                                    "(tp3.checks replaced or silenced?)")))
        elif blank:  # a check that ran on what a blank cell left (an empty dict) judges no answer
            rows.append(_row(student, master.name, label, 0, points, "not answered",
                             detail("its answer cell is still blank" if len(blank) == 1
                                    else f"{len(blank)} of its answer cells are still blank")))
        elif error is not None and error[0] == "SelfCheckError":
            message = " ".join(line.strip() for line in error[1].splitlines() if line.strip()).lstrip("❌ ")
            rows.append(_row(student, master.name, label, 0, points, "hint", detail(message)))
        elif error is not None:
            cause = _first_failure(executed, cell)
            rows.append(_row(student, master.name, label, 0, points, "error",
                             detail(f"{error[0]}: {_first_line(error[1])}"[:300] + cause)))
        elif outcome["status"] == "timeout":
            rows.append(_row(student, master.name, label, 0, points, "timeout",
                             detail(f"{outcome['message']} reached in {stop_at}")))
        elif outcome["status"] == "kernel died":
            rows.append(_row(student, master.name, label, 0, points, "kernel died",
                             detail(f"in {stop_at} (exit of the process: os._exit, a crash, memory)")))
        else:
            rows.append(_row(student, master.name, label, 0, points, "grader error",
                             detail(outcome.get("message") or "the check cell did not run")))
    return rows


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


def _answer_sources(notebook, master: Master, grade_id: str) -> list:
    cells = graded_cells(notebook)
    return [cells[a].source for a in master.answers[grade_id] if a in cells]


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
        judged = {}
        for grade_id in job.master.checks:
            verdict = judge(record, grade_id, sample, _answer_sources(notebook, job.master, grade_id))
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


# --- Reports -------------------------------------------------------------------------------------

def feedback_html(executed, rows: list, master: Master) -> str:
    """The executed notebook as HTML, its grades in a table on top (outputs cut as nbgrader does)."""
    from nbconvert import HTMLExporter
    from nbgrader.preprocessors import LimitOutput

    notebook = copy.deepcopy(executed)
    total = sum(r["points"] for r in rows)
    lines = [f"# {master.name}: {total} / {master.max_points} points", "",
             "| exercise | points | outcome | detail |", "|---|---|---|---|"]
    lines += [f"| {r['exercise']} | {r['points']} / {r['max']} | {r['outcome']} | "
              f"{str(r['detail']).replace('|', '/')} |" for r in rows]
    notebook.cells.insert(0, nbformat.v4.new_markdown_cell("\n".join(lines)))
    notebook, _ = LimitOutput().preprocess(notebook, {})
    body, _ = HTMLExporter().from_notebook_node(notebook)
    return body


def class_summary(rows: list, masters: dict) -> str:
    """The class's mean per self-check over the notebooks handed in, hardest first, and each
    student's total (Markdown)."""
    students = sorted({r["student"] for r in rows})
    lines = [f"{len(students)} students", "", "| exercise | notebook | handed in | mean points | passed | outcomes |",
             "|---|---|---|---|---|---|"]
    per_check = {}
    for r in rows:
        if r["exercise"] and r.get("submitted", True):
            per_check.setdefault((r["notebook"], r["exercise"], r["max"]), []).append(r)
    share = lambda item: sum(r["points"] for r in item[1]) / (item[0][2] * len(item[1]))
    for (notebook, exercise, max_points), group in sorted(per_check.items(), key=share):
        counts = {}
        for r in group:
            counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
        outcomes = ", ".join(f"{name} {n}" for name, n in sorted(counts.items(), key=lambda kv: -kv[1]))
        mean = sum(r["points"] for r in group) / len(group)
        lines.append(f"| {exercise} | {notebook} | {len(group)} | {mean:.1f} / {max_points} | "
                     f"{counts.get('passed', 0)}/{len(group)} | {outcomes} |")
    course_max = sum(m.max_points for m in masters.values())
    lines += ["", "| student | points | notebooks missing |", "|---|---|---|"]
    for s in students:
        missing = sorted({r["notebook"] for r in rows if r["student"] == s and not r.get("submitted", True)})
        points = sum(r["points"] for r in rows if r["student"] == s)
        lines.append(f"| {s} | {points} / {course_max} | {', '.join(missing)} |")
    return "\n".join(lines) + "\n"


def _csv_text(rows: list, columns) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _ready_output(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} is a file: --out needs a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise FileExistsError(f"{out} is not empty (grades of an earlier run?): pass --force to replace "
                              "its grades, or choose another --out")
    out.mkdir(parents=True, exist_ok=True)


def grade(submissions, out, jobs: int = 2, seconds: float = GRADING_TIMEOUT_S, sample=None,
          force: bool = False, progress: bool = True, masters: dict | None = None, unsafe: bool = False) -> int:
    """Grade every submission of ``submissions`` into ``out`` (see the module's docstring).

    ``sample``: a course root to copy into each notebook's root (default: the smoke sample,
    built once in a temporary folder). ``unsafe``: run the kernels without the sandbox (refused
    otherwise where it cannot start). Returns the exit code: 0 when every submitted file could
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
    work = Path(tempfile.mkdtemp(prefix="tp3-grade-"))
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
    write_text_atomic(out / "grades.csv", _csv_text(rows, CSV_COLUMNS))
    write_text_atomic(out / "totals.csv", _csv_text(totals, TOTAL_COLUMNS))
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
