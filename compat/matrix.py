#!/usr/bin/env python3
"""The compatibility matrix: the kit's TensorFlow/Keras tests and notebooks on other stacks.

Each stack is a constraints file beside this script (``lowest.txt``, ``colab-2025-12.txt``,
``colab-2026-08.txt``, ``latest.txt``) and becomes a virtual environment of its own:
the kit's runtime requirements plus the test tools (``tools.txt``), installed under those
constraints. The kit itself is not installed there: it is imported from the checkout under
test (``PYTHONPATH``), so one environment serves every clone and is built once per content
of its files (their hash names its folder, under ``$TP3_COMPAT_HOME``, default
``~/.cache/tp3-compat``).

In each environment it runs, in smoke mode and in a course root of its own, the unit tests
of the modules marked ``keras`` (build, train, save/load, precision, TensorBoard logs, prediction) or ``widgets`` (Ex 12's 3D views) and every
solution notebook with nbval, then prints one row per stack. Standard library only: it runs
with the system Python before any environment exists.

    python3 compat/matrix.py                      # every stack
    python3 compat/matrix.py lowest colab-2026-08 # these stacks
    python3 compat/matrix.py --build-only latest  # build (or reuse) without testing
    python3 compat/matrix.py --resolve 3.13 colab-2026-08 latest  # resolves for a Python not here?
    python3 compat/matrix.py --python ~/.cache/tp3-compat/python3.13/bin/python3.13 colab-2026-08
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
from tp3 import layout  # noqa: E402 (the kit's checkout; tp3.layout needs the standard library only)
STACKS = ("lowest", "colab-2025-12", "colab-2026-08", "latest")
#: Packages whose versions the summary shows (as pip names them).
SHOWN = ("tensorflow", "keras", "numpy", "ipykernel")
COMPLETE = ".tp3-compat-complete"


def compat_home() -> Path:
    return Path(os.environ.get("TP3_COMPAT_HOME", Path.home() / ".cache" / "tp3-compat")).expanduser()


def python_version(python) -> str:
    return subprocess.run([str(python), "-c", "import platform; print(platform.python_version())"],
                          capture_output=True, text=True, check=True).stdout.strip()


def env_folder(stack: str, python) -> Path:
    """Where the environment of ``stack`` on ``python`` lives: named by the hash of what it is
    built from."""
    digest = hashlib.sha256()
    for path in (HERE / f"{stack}.txt", HERE / "tools.txt", REPO / "requirements.txt"):
        digest.update(path.read_bytes())
    version = python_version(python)
    digest.update(version.encode())
    return compat_home() / f"{stack}-py{version.rpartition('.')[0]}-{digest.hexdigest()[:12]}"


def run(command, log, **kwargs) -> int:
    """Run ``command``, its output appended to ``log``; returns the exit code."""
    with open(log, "a") as out:
        out.write(f"\n$ {' '.join(map(str, command))}\n")
        out.flush()
        return subprocess.run([str(part) for part in command], stdout=out, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, **kwargs).returncode


def build(stack: str, python, log: Path) -> Path:
    """The environment of ``stack`` on ``python``, built unless a complete one exists. Raises on failure."""
    env = env_folder(stack, python)
    if (env / COMPLETE).is_file():
        return env
    if env.exists():
        shutil.rmtree(env)  # an interrupted build: start it again
    env.parent.mkdir(parents=True, exist_ok=True)
    print(f"[{stack}] building {env} (a few minutes; log {log})", flush=True)
    interpreter = python
    python = env / "bin" / "python"
    install = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
               "-r", REPO / "requirements.txt", "-r", HERE / "tools.txt", "-c", HERE / f"{stack}.txt"]
    if stack == "latest":
        install[4:4] = ["--upgrade", "--upgrade-strategy", "eager"]
    steps = ([interpreter, "-m", "venv", env],
             [python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"],  # its resolver backtracks less
             install, [python, "-m", "pip", "check"])
    for step in steps:
        if run(step, log) != 0:
            raise RuntimeError(f"[{stack}] could not build the environment: see {log}")
    freeze = subprocess.run([python, "-m", "pip", "freeze"], capture_output=True, text=True, check=True).stdout
    (env / "pip-freeze.txt").write_text(freeze)
    (env / COMPLETE).write_text(time.strftime("%Y-%m-%d %H:%M:%S\n"))
    return env


def versions(env: Path) -> dict:
    """``{package: version}`` of the environment's freeze, plus ``python``."""
    found = {}
    for line in (env / "pip-freeze.txt").read_text().splitlines():
        name, _, version = line.partition("==")
        found[name.lower().replace("_", "-")] = version
    return {"python": python_version(env / "bin" / "python"), **{name: found.get(name, "?") for name in SHOWN}}


def junit_counts(path: Path) -> tuple[int, int]:
    """``(passed, failed)`` of a pytest JUnit XML report (errors count as failed)."""
    if not path.is_file():
        return 0, 0
    suite = ET.parse(path).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    tests, failures, errors, skipped = (int(suite.get(key, 0)) for key in ("tests", "failures", "errors", "skipped"))
    return tests - failures - errors - skipped, failures + errors


def stack_test_files() -> list[Path]:
    """The test modules marked ``keras`` or ``widgets`` (collecting the others would need their tools too)."""
    return sorted(path for path in (REPO / "tests").glob("test_*.py")
                  if any(f"pytestmark = pytest.mark.{marker}" in path.read_text() for marker in ("keras", "widgets")))


#: Size of the smoke-mode sample (tp3.settings.SMOKE_SAMPLE_PATIENTS), which the notebooks use.
SMOKE_PATIENTS = 10


def seed_course_data(root: Path) -> bool:
    """Link the checkout's smoke-sized sample (``make test`` builds it) into ``root``, so each
    stack's notebooks do not synthesize it again: building cases is tested on every stack by
    the unit tests, which make their own. The kit writes by replacing files, never in place,
    so the links cannot change the checkout's copy. Whether it was there to link."""
    record = layout.record_path(REPO, layout.SAMPLE_RECORD)
    try:
        patients = json.loads(record.read_text())["patients"]
    except (OSError, ValueError, KeyError):
        return False
    if patients != SMOKE_PATIENTS or not layout.split_path(REPO, "train").is_file():
        return False

    def link(source, target):
        try:
            os.link(source, target)
        except OSError:  # another file system
            shutil.copy2(source, target)

    for folder in layout.COURSE_DATA_DIRS:
        shutil.copytree(REPO / folder, root / folder, copy_function=link, dirs_exist_ok=True)
    for name in (layout.PREPARE_MANIFEST, layout.SAMPLE_RECORD):  # what says the data is complete
        shutil.copy2(layout.record_path(REPO, name), layout.record_path(root, name))
    return True


def test(stack: str, env: Path, work: Path, log: Path) -> dict:
    """The unit tests marked ``keras`` or ``widgets`` and the notebook suite in ``env``; their counts and time."""
    root = work / "root"
    root.mkdir(parents=True, exist_ok=True)
    seeded = seed_course_data(root)
    environ = {**os.environ, "PATH": f"{env / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
               "PYTHONPATH": str(REPO), "TP3_SMOKE": "1", "TP3_ROOT": str(root), "PYTHONNOUSERSITE": "1"}
    environ.pop("VIRTUAL_ENV", None)
    python = env / "bin" / "python"
    common = ["-p", "no:cacheprovider", "-q", "-o", "addopts=-ra"]
    start = time.monotonic()
    unit_status = run([python, "-m", "pytest", *common, "--junitxml", work / "unit.xml",
                       "--basetemp", work / "tmp", *stack_test_files()], log, env=environ, cwd=work)
    notebooks_status = run([python, "-m", "pytest", "--nbval-lax", "--nbval-cell-timeout=900", *common,
                            "--junitxml", work / "notebooks.xml", REPO / "notebooks" / "solutions"],
                           log, env=environ, cwd=work)
    unit, notebooks = junit_counts(work / "unit.xml"), junit_counts(work / "notebooks.xml")
    return {"stack": stack, **versions(env), "unit": unit, "notebooks": notebooks, "data_linked": seeded,
            "ok": unit_status == 0 and notebooks_status == 0 and unit[0] > 0 and notebooks[0] > 0,
            "seconds": round(time.monotonic() - start), "date": time.strftime("%Y-%m-%d")}


#: Colab's platform (Ubuntu 22.04, glibc 2.35, x86_64): every manylinux tag it accepts (pip
#: takes a given --platform literally, without the older glibc versions it implies).
COLAB_PLATFORMS = (*(f"manylinux_2_{minor}_x86_64" for minor in range(35, 16, -1)), "manylinux2014_x86_64")
#: What a resolution names, beside its count of packages.
RESOLVED_SHOWN = ("tensorflow", "keras", "numpy", "simpleitk", "scikit-image", "nilearn")


def resolver(log: Path) -> Path:
    """A Python with a recent pip, which resolves for another Python without installing."""
    env = compat_home() / "resolver"
    if not (env / COMPLETE).is_file():
        shutil.rmtree(env, ignore_errors=True)
        env.parent.mkdir(parents=True, exist_ok=True)
        for step in ([sys.executable, "-m", "venv", env],
                     [env / "bin" / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip"]):
            if run(step, log) != 0:
                raise RuntimeError(f"could not make the resolver's environment: see {log}")
        (env / COMPLETE).write_text(time.strftime("%Y-%m-%d %H:%M:%S\n"))
    return env / "bin" / "python"


def resolve(stack: str, version: str, work: Path, log: Path) -> dict:
    """Whether the kit's runtime requirements, under ``stack``'s constraints, resolve to wheels
    for CPython ``version`` on Colab's platform (pip ``--dry-run``: metadata only, nothing
    installed or kept), and the versions chosen."""
    report = work / f"resolve-{stack}-{version}.json"
    tag = version.replace(".", "")
    command = [resolver(log), "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed",
               "--only-binary=:all:", "--python-version", version, "--implementation", "cp", "--abi", f"cp{tag}",
               *(part for platform in COLAB_PLATFORMS for part in ("--platform", platform)),
               "-r", REPO / "requirements.txt", "-c", HERE / f"{stack}.txt", "--report", report]
    ok = run(command, log) == 0 and report.is_file()
    chosen = {}
    if ok:
        for item in json.loads(report.read_text())["install"]:
            chosen[item["metadata"]["name"].lower()] = item["metadata"]["version"]
    return {"stack": stack, "python": version, "ok": ok, "packages": len(chosen),
            **{name: chosen.get(name, "?") for name in RESOLVED_SHOWN}}


def resolution_table(rows: list[dict]) -> str:
    header = ("stack", "python", *RESOLVED_SHOWN, "packages", "result")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = (row["stack"], row["python"], *(row[name] for name in RESOLVED_SHOWN), row["packages"],
                 "resolves" if row["ok"] else "DOES NOT RESOLVE")
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines)


def table(rows: list[dict]) -> str:
    header = ("stack", "python", *SHOWN, "unit tests (keras)", "notebook cells", "result", "time")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['stack']} | " + " | ".join(["?"] * (len(header) - 3)) + f" | {row['error']} | |")
            continue
        cells = (row["stack"], row["python"], *(row[name] for name in SHOWN),
                 "{} passed, {} failed".format(*row["unit"]), "{} passed, {} failed".format(*row["notebooks"]),
                 "pass" if row["ok"] else "FAIL", f"{row['seconds']} s")
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines)


def one_stack(stack: str, args) -> dict | None:
    """Build (or reuse) and test one stack: its row of the table (``None`` with --build-only)."""
    log = args.out / f"{stack}.log"
    log.write_text("")
    try:
        env = build(stack, args.python, log)
    except RuntimeError as error:
        print(error, flush=True)
        return {"stack": stack, "error": "environment not built", "ok": False}
    if args.build_only:
        print(f"[{stack}] ready: {env}", flush=True)
        return None
    work = Path(tempfile.mkdtemp(prefix=f"tp3-compat-{stack}-"))
    print(f"[{stack}] testing in {env.name} (log {log})", flush=True)
    try:
        row = test(stack, env, work, log)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"[{stack}] {'pass' if row['ok'] else 'FAIL'} in {row['seconds']} s", flush=True)
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stacks", nargs="*", metavar="STACK", help=f"some of {', '.join(STACKS)} (default: all)")
    parser.add_argument("--build-only", action="store_true", help="build or reuse the environments, run nothing")
    parser.add_argument("--python", default=sys.executable,
                        help="the interpreter of the environments (default: this one; compat/python313.sh builds 3.13)")
    parser.add_argument("--resolve", metavar="PYTHON_VERSION",
                        help="only check that each stack's install resolves for that CPython (e.g. 3.13) on "
                             "Colab's platform, without an interpreter of it")
    parser.add_argument("--parallel", type=int, default=1, metavar="N",
                        help="stacks tested side by side (default 1; a stack's run keeps about one core busy: "
                             "on 2 cores, 2 stacks take the time of one)")
    parser.add_argument("--out", type=Path, default=REPO / "build" / "compat",
                        help="logs, reports and results.json (default: build/compat)")
    args = parser.parse_args(argv)
    unknown = [stack for stack in args.stacks if stack not in STACKS]
    if unknown:
        parser.error(f"unknown stack {', '.join(unknown)}: choose among {', '.join(STACKS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.resolve:
        log = args.out / f"resolve-{args.resolve}.log"
        log.write_text("")
        rows = [resolve(stack, args.resolve, args.out, log) for stack in args.stacks or STACKS]
        print(resolution_table(rows))
        return 0 if all(row["ok"] for row in rows) else 1
    with ThreadPoolExecutor(max_workers=args.parallel) as pool:
        rows = [row for row in pool.map(lambda stack: one_stack(stack, args), args.stacks or STACKS) if row]
    if args.build_only:
        return 0
    print(table(rows))
    (args.out / "results.json").write_text(json.dumps(rows, indent=2) + "\n")
    failed = [row["stack"] for row in rows if not row["ok"]]
    if failed:
        print(f"failed: {', '.join(failed)} (logs in {args.out})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
