"""What the grader writes for people: the feedback HTML of each notebook, the class's summary,
the CSV files."""

from __future__ import annotations

import copy
import csv
import io

from typing import TYPE_CHECKING

import nbformat

if TYPE_CHECKING:
    from .submissions import Master

TOTAL_COLUMNS = ("student", "notebook", "points", "max", "status", "seconds", "notes")


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


def csv_text(rows: list, columns) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
