"""Try the course-data tools with bad input, as a user would, and print what the user sees.

Every row runs the real command line (``python -m tp3 ...``) in a fresh temporary folder and
reports its exit status and the line that matters (the last line of stderr, or of the
summary). The README's bad-input table is this script's output.

    python benchmarks/bad_inputs.py [--only WORD]

Rows that need a small or read-only disk mount a tmpfs: they run only as root on Linux
(CI and the dev machine are), and say "skipped" elsewhere.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

REPO = Path(__file__).resolve().parent.parent
MODEL = REPO / "models" / "pretrained.weights.h5"
NAMES = ("t1", "t1ce", "t2", "flair", "seg")
NOISE = re.compile(r"^(prepare|synth|evaluate):|^I0000|^W0000|^E0000|^WARNING: All log|^To enable|^$")


def tp3(*args, timeout=600, **popen):
    """Run ``python -m tp3 args``: (exit status, the line that matters, seconds)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "tp3", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=dict(os.environ, COLUMNS="100"), **popen)
    return done.returncode, _telling_line(done.stdout, done.stderr), time.perf_counter() - start


def _telling_line(out: str, err: str) -> str:
    lines = [line.strip() for line in re.split(r"[\r\n]", err) if not NOISE.match(line.strip())]
    if lines:
        return lines[-1]
    summary = [line.strip() for line in out.splitlines() if line.strip()]
    keep = [line for line in summary if re.match(r"(prepared|skipped|left in place|error)", line)]
    return " / ".join(dict.fromkeys(keep)) or (summary[-1] if summary else "")  # once each


def _case(source: Path, case: str, dest: Path, rename=None) -> Path:
    """Copy one case folder, renaming its files as ``rename(volume)`` gives."""
    dest.mkdir(parents=True)
    for name in NAMES:
        target = rename(name) if rename else f"{dest.name}_{name}.nii.gz"
        shutil.copyfile(source / case / f"{case}_{name}.nii.gz", dest / target)
    return dest


def _rewrite(path: Path, change) -> None:
    image = sitk.ReadImage(str(path))
    array = change(sitk.GetArrayFromImage(image))
    new = sitk.GetImageFromArray(array)
    new.CopyInformation(image)
    sitk.WriteImage(new, str(path))


def _source(base: Path, cases: list, source: Path, extra=None) -> Path:
    """A BraTS folder of the first ``len(cases)`` synthetic cases (IDs as given), plus ``extra``."""
    ids = sorted(p.name for p in source.iterdir() if p.is_dir())
    for new_id, case in zip(cases, ids):
        _case(source, case, base / new_id)
    if extra:
        extra(base)
    return base


class Matrix:
    def __init__(self, source: Path, work: Path):
        self.source, self.work, self.rows = source, work, []
        self.n = 0

    def folder(self) -> Path:
        self.n += 1
        path = self.work / f"t{self.n:02d}"
        path.mkdir()
        return path

    def row(self, what: str, command: str, result) -> None:
        code, line, seconds = result
        line = line.replace(str(self.work), "$T").replace(str(REPO), ".")
        self.rows.append((what, command, code, line, seconds))
        print(f"[{code:>3}] {what}: {line}", file=sys.stderr)

    def three_cases(self, base: Path, extra=None) -> Path:
        return _source(base / "brats", ["Case_A", "Case_B", "Case_C"], self.source, extra)

    def prepared_root(self) -> Path:
        """A small course root (3 synthetic patients) for the evaluate rows."""
        t = self.folder()
        assert tp3("prepare", "--brats", self.three_cases(t), "--root", t / "root")[0] == 0
        return t / "root"


def rows_prepare(m: Matrix) -> None:
    t = m.folder()
    m.row("source folder does not exist", "prepare --brats missing", tp3("prepare", "--brats", t / "missing", "--root", t / "r"))
    (t / "empty").mkdir()
    m.row("source folder empty", "prepare --brats empty", tp3("prepare", "--brats", t / "empty", "--root", t / "r"))

    def one_bad(make, what):
        t = m.folder()
        brats = m.three_cases(t)
        bad = _case(m.source, "BraTS19_SYN_0004", brats / "Case_X")
        make(bad)
        m.row(what, "prepare", tp3("prepare", "--brats", brats, "--root", t / "r"))

    one_bad(lambda f: (f / "Case_X_t2.nii.gz").unlink(), "a case without its t2")
    one_bad(lambda f: (f / "Case_X_flair.nii.gz").write_bytes((f / "Case_X_flair.nii.gz").read_bytes()[:400000]),
            "a truncated flair (.nii.gz cut in half)")
    one_bad(lambda f: _rewrite(f / "Case_X_seg.nii.gz", lambda a: np.where(a == 4, 3, a).astype(a.dtype)),
            "BraTS 2023 labels (3) under 2019 names")

    def nan(f):
        def change(a):
            a = a.astype(np.float32)
            a[70, 120, 100:104] = np.nan
            return a
        _rewrite(f / "Case_X_t1.nii.gz", change)
    one_bad(nan, "NaN voxels in t1")

    t = m.folder()
    brats = _source(t / "brats", ["Case_A", "Case_B"], m.source)
    m.row("only 2 usable cases (a course needs 3)", "prepare", tp3("prepare", "--brats", brats, "--root", t / "r"))

    t = m.folder()
    brats = m.three_cases(t)
    tp3("prepare", "--brats", brats, "--root", t / "r")
    m.row("course data already there", "prepare (again)", tp3("prepare", "--brats", brats, "--root", t / "r"))
    (t / "r" / "data" / "my_annotations.csv").write_text("a,b\n")
    (t / "mine").mkdir()
    (t / "r" / "data" / "linked").symlink_to(t / "mine")
    (t / "r" / "origin_data" / "MyPatient").mkdir()
    (t / "r" / "origin_data" / "MyPatient" / "notes.txt").write_text("mine")
    m.row("--force beside the user's file, folder and symlinked folder", "prepare --force",
          tp3("prepare", "--brats", brats, "--root", t / "r", "--force"))
    m.row("--workers 0", "prepare --workers 0", tp3("prepare", "--brats", brats, "--root", t / "r", "--workers", "0"))
    m.row("--workers 100000", "prepare --workers 100000",
          tp3("prepare", "--brats", brats, "--root", t / "r2", "--workers", "100000"))
    (t / "file").write_text("")
    m.row("--root under a file", "prepare --root file/root", tp3("prepare", "--brats", brats, "--root", t / "file" / "root"))


def rows_layouts(m: Matrix) -> None:
    t = m.folder()
    words = {"t1": "t1n", "t1ce": "t1c", "t2": "t2w", "flair": "t2f", "seg": "seg"}
    brats = t / "gli"
    for i, case in enumerate(sorted(p.name for p in m.source.iterdir() if p.is_dir())[:3]):
        cid = f"BraTS-GLI-0000{i}-000"
        folder = _case(m.source, case, brats / cid, lambda n, c=cid: f"{c}-{words[n]}.nii.gz")
        _rewrite(folder / f"{cid}-seg.nii.gz", lambda a: np.where(a == 4, 3, a).astype(a.dtype))
    m.row("BraTS 2023/2024 names and labels", "prepare", tp3("prepare", "--brats", brats, "--root", t / "r"))
    t = m.folder()
    brats = t / "MICCAI_BraTS2020_TrainingData"
    for i, case in enumerate(sorted(p.name for p in m.source.iterdir() if p.is_dir())[:3]):
        cid = f"BraTS20_Training_35{5 + i}"
        _case(m.source, case, brats / cid,
              lambda n, c=cid: "W39_1998.09.19_Segm.nii.gz" if n == "seg" and c.endswith("355")
              else f"{c}_{n.replace('t1ce', 't1Gd').upper()}.nii.gz")
    m.row("BraTS 2020 incl. case 355's seg name; t1Gd, upper case", "prepare",
          tp3("prepare", "--brats", brats, "--root", t / "r"))
    t = m.folder()
    msd = t / "Task01_BrainTumour"
    (msd / "imagesTr").mkdir(parents=True)
    (msd / "labelsTr").mkdir()
    for i, case in enumerate(sorted(p.name for p in m.source.iterdir() if p.is_dir())[:3]):
        vols = {n: sitk.ReadImage(str(m.source / case / f"{case}_{n}.nii.gz")) for n in NAMES}
        sitk.WriteImage(sitk.JoinSeries([vols[n] for n in ("flair", "t1", "t1ce", "t2")]),
                        str(msd / "imagesTr" / f"BRATS_00{i + 1}.nii.gz"))
        seg = sitk.GetArrayFromImage(vols["seg"])
        msd_seg = sitk.GetImageFromArray(np.select([seg == 2, seg == 1, seg == 4], [1, 2, 3], 0).astype(np.uint8))
        msd_seg.CopyInformation(vols["seg"])
        sitk.WriteImage(msd_seg, str(msd / "labelsTr" / f"BRATS_00{i + 1}.nii.gz"))
    m.row("Decathlon Task01 (4D images, its labels)", "prepare", tp3("prepare", "--brats", msd, "--root", t / "r"))


def _start(args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tp3", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for(pattern_root: Path, glob: str, limit=120) -> None:
    deadline = time.monotonic() + limit
    while not list(pattern_root.glob(glob)) and time.monotonic() < deadline:
        time.sleep(0.05)


def rows_processes(m: Matrix) -> None:
    for signum, what in ((signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "kill (SIGTERM)")):
        t = m.folder()
        brats = _source(t / "brats", [f"Case_{i}" for i in range(4)], m.source)
        run = _start(["prepare", "--brats", brats, "--root", t / "r", "--workers", "2"])
        _wait_for(t / "r" / "data", "Case_*")  # one case done, others under way
        sent = time.perf_counter()
        run.send_signal(signum)
        out, err = run.communicate()
        m.row(f"{what} mid-way, 2 workers", "prepare --workers 2",
              (run.returncode, _telling_line(out, err), time.perf_counter() - sent))
        m.row("... then the same command again", "prepare --workers 2",
              tp3("prepare", "--brats", brats, "--root", t / "r", "--workers", "2"))
    t = m.folder()
    brats = _source(t / "brats", [f"Case_{i}" for i in range(4)], m.source)
    run = _start(["prepare", "--brats", brats, "--root", t / "r", "--workers", "2"])
    _wait_for(t / "r" / "data", ".*.tmp")
    m.row("a second run on the same root", "prepare (twice at once)",
          tp3("prepare", "--brats", brats, "--root", t / "r"))
    run.send_signal(signal.SIGKILL)
    run.communicate()
    m.row("... after the first was killed (kill -9)", "prepare", tp3("prepare", "--brats", brats, "--root", t / "r"))


def _tmpfs(path: Path, options: str) -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    path.mkdir(parents=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)]).returncode == 0


def rows_disks(m: Matrix) -> None:
    t = m.folder()
    brats = _source(t / "brats", [f"Case_{i}" for i in range(6)], m.source)
    small = t / "small"
    if not _tmpfs(small, "size=20m"):
        m.row("course root on a full disk (20 MB)", "prepare", (None, "skipped: needs root to mount a tmpfs", 0))
        return
    try:
        m.row("course root on a full disk (20 MB)", "prepare", tp3("prepare", "--brats", brats, "--root", small / "r"))
        subprocess.run(["mount", "-o", "remount,size=40m", str(small)], check=True)
        m.row("... after freeing space, the same command", "prepare",
              tp3("prepare", "--brats", brats, "--root", small / "r"))
        subprocess.run(["mount", "-o", "remount,ro", str(small)], check=True)
        m.row("course root on a read-only disk", "prepare --root ro/new",
              tp3("prepare", "--brats", brats, "--root", small / "new"))
    finally:
        subprocess.run(["umount", str(small)])


#: A small classifier saved as .keras: a model file that is not a U-Net of the kit.
FOREIGN_MODEL = ("import sys, keras\ninputs = keras.Input((28, 28, 1))\n"
                 "outputs = keras.layers.Dense(10, activation='softmax')(keras.layers.Flatten()(inputs))\n"
                 "keras.Model(inputs, outputs).save(sys.argv[1])\n")


def rows_others(m: Matrix) -> None:
    t = m.folder()
    tp3("synth", "--out", t / "s", "--patients", "1", "--seed", "1")
    m.row("synth into a folder made with another seed", "synth --seed 2",
          tp3("synth", "--out", t / "s", "--patients", "1", "--seed", "2"))
    m.row("train --batch-size 0", "train --batch-size 0",
          tp3("train", "--logdir", t / "l", "--model-out", t / "m.weights.h5", "--batch-size", "0"))
    root = m.prepared_root()
    patient = sorted(p.name for p in (root / "origin_data").iterdir() if p.is_dir())[0]
    broken = t / "broken.weights.h5"
    broken.write_bytes(MODEL.read_bytes()[:5000])
    m.row("a damaged model file", "evaluate --model broken.weights.h5",
          tp3("evaluate", "--root", root, "--model", broken, "--out", t / "p0"))
    foreign = t / "mnist.keras"
    subprocess.run([sys.executable, "-c", FOREIGN_MODEL, foreign], check=True, capture_output=True)
    m.row("a .keras of another network", "evaluate --model mnist.keras",
          tp3("evaluate", "--root", root, "--model", foreign, "--out", t / "p4"))
    m.row("converting it", "convert mnist.keras --out m.weights.h5",
          tp3("convert", foreign, "--out", t / "m.weights.h5"))
    m.row("converting onto an existing file", "convert --out pretrained.weights.h5 (a copy)",
          tp3("convert", foreign, "--out", shutil.copy(MODEL, t / "pretrained.weights.h5")))
    (t / "p1").mkdir()
    (t / "p1" / f"{patient}_pred.nii.gz").write_bytes(b"earlier")
    m.row("predictions already there", "evaluate", tp3("evaluate", "--root", root, "--model", MODEL, "--out", t / "p1"))
    seg = root / "origin_data" / patient / f"{patient}_seg.nii.gz"
    kept = seg.read_bytes()
    seg.write_bytes(kept[: len(kept) // 2])
    m.row("a truncated ground truth in origin_data", "evaluate",
          tp3("evaluate", "--root", root, "--model", MODEL, "--out", t / "p2"))
    seg.write_bytes(kept)
    (root / "origin_data" / patient / f"{patient}_flair.nii.gz").unlink()
    m.row("an original volume missing", "evaluate", tp3("evaluate", "--root", root, "--model", MODEL, "--out", t / "p3"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="run the groups whose name holds this word (prepare, layouts, "
                                       "processes, disks, others)")
    args = parser.parse_args()
    groups = {"prepare": rows_prepare, "layouts": rows_layouts, "processes": rows_processes,
              "disks": rows_disks, "others": rows_others}
    with tempfile.TemporaryDirectory(prefix="tp3-bad-") as work:
        work = Path(work)
        source = work / "synthetic"
        assert tp3("synth", "--out", source, "--patients", "6", "--workers", "2")[0] == 0
        matrix = Matrix(source, work)
        for name, rows in groups.items():
            if not args.only or args.only in name:
                rows(matrix)
    print("| bad input | command | exit | s | what the user sees |\n|---|---|---|---|---|")
    for what, command, code, line, seconds in matrix.rows:
        status = "—" if code is None else code
        print(f"| {what} | `{command}` | {status} | {seconds:.1f} | {line.replace('|', '/')} |")
    print(f"\n{len(matrix.rows)} runs; `python benchmarks/bad_inputs.py` on {time.strftime('%Y-%m-%d')}",
          json.dumps({"python": sys.version.split()[0]}))


if __name__ == "__main__":
    main()
