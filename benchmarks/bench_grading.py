"""Grading figures (issue: instructors grade a class): a fabricated class graded end to end.

Fabricates the class of ``tp3.tools.grading.classroom`` — by default the ten students who hand
in all five notebooks (perfect, untouched, three with typical mistakes, a crash, an endless
loop, an edited check, renamed files, a vandal with a 50 MB notebook); ``--all`` adds the two
who hand in fewer (a mix-up with invalid JSON and another course's notebook, a latecomer) —
grades it with ``python -m tp3 grade``'s code in smoke mode, ``--jobs`` notebooks at a time,
and prints:

  time      wall-clock time of the class, and seconds per notebook (mean, and per notebook
            of the course: median / max); the looping student's notebook runs to the limit
  outcomes  every self-check's outcome against the one the fabricated class expects
            (mismatches listed; 0 is the target)

``--hostile`` grades the hostile class of ``tp3.tools.grading.hostile`` instead (cheaters
handing in ``01_data`` with wrong answers), and adds: the points the cheaters got for wrong
answers (0 is the target), and whether the grades are unchanged a minute after the grader exits.

    python benchmarks/bench_grading.py [--jobs 2] [--timeout 300] [--all | --hostile] [--sample ROOT] [--out DIR]
"""

from __future__ import annotations

import argparse
import csv
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tp3.tools import notebooks  # noqa: E402
from tp3.tools.grading import classroom, grader, hostile  # noqa: E402

FEWER = ("mixup", "latecomer")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=int, default=300, help="seconds per notebook (the looping one uses them all)")
    parser.add_argument("--all", action="store_true", help="also the two students who hand in fewer notebooks")
    parser.add_argument("--hostile", action="store_true", help="the hostile class instead (docs/grading.md)")
    parser.add_argument("--sample", type=Path, default=None, help="course root to copy (default: built once)")
    parser.add_argument("--out", type=Path, default=None, help="keep the grades here (default: a temporary folder)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tp3-bench-grading-"))
    submissions, out = work / "submissions", args.out or work / "grades"
    if args.hostile:
        expected = hostile.fabricate_hostile_class(submissions, notebooks.SOLUTIONS, out)
    else:
        expected = classroom.fabricate_class(submissions, notebooks.SOLUTIONS, notebooks.STUDENTS)
    if not args.all and not args.hostile:
        for student in FEWER:
            shutil.rmtree(submissions / student)
        expected = {k: v for k, v in expected.items() if k[0] not in FEWER}
    students = sorted(p.name for p in submissions.iterdir())
    start = time.perf_counter()
    masters = {n: m for n, m in grader.load_masters().items() if n == hostile.NOTEBOOK} if args.hostile else None
    code = grader.grade(submissions, out, jobs=args.jobs, seconds=args.timeout, sample=args.sample, force=True,
                        masters=masters)
    wall = time.perf_counter() - start
    if args.hostile:
        graded = {name: (out / name).read_bytes() for name in ("grades.csv", "totals.csv", "summary.md")}
        time.sleep(hostile.DETACHED_SECONDS + 5)
        unchanged = all((out / name).read_bytes() == text for name, text in graded.items())

    rows = list(csv.DictReader((out / "grades.csv").open()))
    got = {((r["student"], r["notebook"], r["exercise"]) if r["exercise"] else (r["student"], r["notebook"])): r["outcome"]
           for r in rows}
    mismatches = [(k, expected.get(k), got.get(k)) for k in sorted(set(expected) | set(got)) if expected.get(k) != got.get(k)]
    totals = [t for t in csv.DictReader((out / "totals.csv").open()) if t["seconds"]]
    seconds = [float(t["seconds"]) for t in totals]
    print(f"\nclass: {len(students)} students, {len(totals)} notebooks run, {args.jobs} at a time: "
          f"{wall / 60:.1f} min wall-clock (sample build included), exit code {code}")
    print(f"seconds per notebook: mean {statistics.mean(seconds):.0f}, "
          f"wall-clock per notebook {wall / len(totals):.1f} (the class's time / notebooks)")
    print("| notebook | graded | median s | max s |\n|---|---|---|---|")
    for name in sorted({t["notebook"] for t in totals}):
        times = [float(t["seconds"]) for t in totals if t["notebook"] == name]
        print(f"| {name} | {len(times)} | {statistics.median(times):.0f} | {max(times):.0f} |")
    print(f"\noutcomes: {len(got) - len(mismatches)} of {len(got)} as expected; mismatches {len(mismatches)}")
    for key, want, have in mismatches:
        print(f"  {key}: expected {want}, got {have}")
    if args.hostile:
        stolen = sum(int(r["points"]) for r in rows if r["student"] != "perfect" and r["exercise"] in ("Ex 1",)
                     or (r["student"] == "numpy-patcher" and r["exercise"] == "Ex 4"))
        print(f"points the cheaters got for wrong answers: {stolen}; grades, totals and summary unchanged "
              f"{hostile.DETACHED_SECONDS + 5} s after the grader exited: {'yes' if unchanged else 'NO'}")
    if args.out is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if not mismatches else 1


if __name__ == "__main__":
    raise SystemExit(main())
