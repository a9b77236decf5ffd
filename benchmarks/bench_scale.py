"""What a big course costs (issue 20): cache, memory and disk for N prepared patients.

For each N, fabricates a course of N prepared patients quickly (not by synthesising each
case: copies of a few prepared patients of an existing course, each flipped and given its
own smooth intensity ramp, written in the course layout with the kit's slice writer), then
measures in fresh processes:

* building the slice cache of the train and validation splits (:func:`tp3.cache.split_cache`):
  time, seconds per patient per core, peak memory;
* one training epoch at width 4 through :func:`tp3.training.train` (streamed from the cache;
  the network is not what is measured): time and peak memory;
* disk used by the slices and by the cache.

and, on the first N only, the streamed pipeline against the in-memory one (``load_split`` +
``make_dataset``) on the same patients: batches per second at width 16 timed in turn in one
process, and the peak memory of one epoch at width 4 each. ``--prepare-cases K`` also times
``prepare`` on K source cases (hard-linked copies of the cases of ``--prepare-from`` under
new IDs: what is timed is reading, checking and writing, which content does not change).

    python benchmarks/bench_scale.py [--patients 40 335 1251] [--from ROOT] [--work DIR] [--keep]
        [--prepare-cases K --prepare-from BRATS_DIR]

Peak memory is the child process's high-water resident set (``VmHWM``: ``ru_maxrss`` would
include the peak of the process it was forked from), and, for the cache's worker
processes, the largest ``ru_maxrss`` among them (an upper bound); every figure of a line
comes from the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

DEFAULT_WORK = Path(tempfile.gettempdir()) / "tp3-bench-scale"


def fabricate_patient(job) -> None:
    """Write fabricated patient ``new_id`` from prepared patient ``source`` of ``from_root``."""
    from_root, source, new_id, index, out_root = job
    import SimpleITK as sitk

    from tp3 import data, layout
    from tp3.files import atomic_folder

    rng = np.random.default_rng(index)
    ramp = 1 + rng.uniform(-0.15, 0.15) * np.linspace(-1, 1, 96, dtype=np.float32)[None, :]
    flip = bool(index % 2)
    final = Path(out_root) / layout.DATA / new_id
    if final.is_dir() and len(os.listdir(final)) == len(layout.VOLUMES) * 77:
        return
    with atomic_folder(final) as folder:
        for volume in layout.VOLUMES:
            stack = data.read_slices(source, volume, from_root)
            if flip:
                stack = stack[:, :, ::-1]
            if volume != layout.LABEL_SUFFIX:
                stack = (stack * ramp).astype(np.float32)
            for z, plane in enumerate(stack):
                sitk.WriteImage(sitk.GetImageFromArray(np.ascontiguousarray(plane)),
                                str(folder / layout.slice_name(new_id, volume, z)))


def fabricate(from_root: Path, n: int, out_root: Path, workers: int) -> float:
    """A course of ``n`` patients under ``out_root`` (kept between runs); returns seconds."""
    from tp3 import data, layout
    from tp3.tools.preparation import split_patients

    sources = data.list_patients(from_root)
    ids = [f"BraTS19_FAB_{i:05d}" for i in range(1, n + 1)]
    start = time.perf_counter()
    jobs = [(str(from_root), sources[i % len(sources)], pid, i, str(out_root)) for i, pid in enumerate(ids)]
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(fabricate_patient, jobs, chunksize=4))
    splits = split_patients({pid: "HGG" if i % 4 else "LGG" for i, pid in enumerate(ids)})
    (out_root / layout.DATASETS).mkdir(parents=True, exist_ok=True)
    for name, patients in splits.items():
        layout.split_path(out_root, name).write_text("".join(f"{p}\n" for p in patients))
    return time.perf_counter() - start


CHILD = r"""
import json, resource, sys, time
root, job = sys.argv[1], sys.argv[2]
start = time.perf_counter()
if job == "cache":
    from tp3.cache import split_cache
    for split in ("train", "validation"):
        split_cache(split, root, progress=False)
else:
    from tp3.training import TrainConfig, load_split, train
    cfg = TrainConfig(root=root, logdir=root + "/logs/scale", model_out=root + "/models/scale.weights.h5",
                      epochs=1, width=4)
    data = (load_split("train", root, False), load_split("validation", root, False)) if job == "memory" else None
    train(cfg, data=data, progress=False)
def high_water_gb():  # VmHWM starts afresh at exec; ru_maxrss keeps the forking parent's peak
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) * 1024 / 1e9
print(json.dumps({"seconds": time.perf_counter() - start, "peak_gb": high_water_gb(),
                  "worker_peak_gb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / 1e9}))
"""


def child(root: Path, job: str) -> dict:
    result = subprocess.run([sys.executable, "-c", CHILD, str(root), job], capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"{job} on {root} failed:\n{result.stderr[-3000:]}")
    *said, last = result.stdout.strip().splitlines()
    for line in said:  # e.g. a cache rebuilt, which would be measured with the job
        print(f"  ({job}, {root.name}) {line}", file=sys.stderr)
    return json.loads(last)


def disk_gb(path: Path) -> float:
    return sum(f.stat().st_blocks * 512 for f in path.rglob("*") if f.is_file()) / 1e9 if path.exists() else 0.0


def throughput(root: Path, width: int, rounds: int, steps: int) -> dict:
    """Batches per second of one model trained from the in-memory and the streamed pipeline, in turn."""
    from bench_training import timed_in_turn

    from tp3 import cache, settings, training
    from tp3.unet import build_unet

    training.seed_everything(settings.SEED)
    x, y = training.load_split("train", root, progress=False)
    streamed = training.stream_dataset(cache.split_cache("train", root, progress=False), settings.BATCH_SIZE,
                                       shuffle=True, seed=settings.SEED)
    in_memory = training.make_dataset(x, y, settings.BATCH_SIZE, shuffle=True, seed=settings.SEED)
    with training.precision():
        model = training.compile_unet(build_unet(width))
    seconds = timed_in_turn({"in memory": (model, in_memory), "streamed": (model, streamed)}, steps, rounds)
    return {name: steps / float(np.median(values)) for name, values in seconds.items()}


def time_prepare(from_source: Path, k: int, work: Path) -> dict:
    """``prepare`` on ``k`` hard-linked copies of the synthetic cases of ``from_source``."""
    from tp3.runtime import default_workers
    from tp3.tools.preparation import find_cases, prepare

    source = work / f"prepare-source-{k}"
    cases = find_cases(from_source)
    if not source.is_dir():
        for i in range(k):
            case = cases[i % len(cases)]
            new_id = f"BraTS19_FAB_{i + 1:05d}"
            folder = source / new_id
            folder.mkdir(parents=True)
            for path in case.folder.iterdir():
                os.link(path, folder / path.name.replace(case.case_id, new_id))
    out = work / "prepare-root"
    shutil.rmtree(out, ignore_errors=True)
    workers = default_workers()
    start = time.perf_counter()
    prepare(source, out, workers=workers, progress=False)
    seconds = time.perf_counter() - start
    return {"cases": k, "seconds": seconds, "per_case_core": seconds * workers / k, "workers": workers}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, nargs="+", default=[40, 335, 1251])
    parser.add_argument("--from", dest="from_root", type=Path, default=None,
                        help="a prepared course to copy patients from (default: the kit's sample)")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="where the fabricated courses go")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the throughput comparison")
    parser.add_argument("--steps", type=int, default=20, help="training steps per timing")
    parser.add_argument("--prepare-cases", type=int, default=0, metavar="K",
                        help="also time prepare on K source cases (hard-linked copies of --prepare-from's)")
    parser.add_argument("--prepare-from", type=Path, default=None, help="a folder of BraTS cases")
    parser.add_argument("--keep", action="store_true", help="keep the fabricated courses")
    args = parser.parse_args()

    from tp3.runtime import default_workers
    from tp3.tools.sample import ensure_sample

    from_root = args.from_root or ensure_sample(None, progress=False)
    workers = default_workers()
    print(f"patients copied from {from_root}; {workers} worker(s); {os.cpu_count()} CPU(s)")
    rows = []
    for i, n in enumerate(args.patients):
        root = args.work / f"course-{n}"
        made = fabricate(from_root, n, root, workers)
        for stale in (root / ".tp3_cache", root / "logs", root / "models"):
            shutil.rmtree(stale, ignore_errors=True)
        built = child(root, "cache")
        epoch = child(root, "stream")
        row = {"n": n, "fabricated_s": made, "cache_s": built["seconds"],
               "cache_per_patient_core": built["seconds"] * workers / n, "cache_peak_gb": built["peak_gb"],
               "cache_worker_peak_gb": built["worker_peak_gb"],
               "epoch_s": epoch["seconds"], "epoch_peak_gb": epoch["peak_gb"],
               "slices_gb": disk_gb(root / "data"), "cache_gb": disk_gb(root / ".tp3_cache")}
        if i == 0:
            row["memory_epoch_peak_gb"] = child(root, "memory")["peak_gb"]
            row["batches_per_s"] = throughput(root, 16, args.rounds, args.steps)
        rows.append(row)
        print(json.dumps(row), flush=True)
        if not args.keep and n != args.patients[0]:
            shutil.rmtree(root)

    print("\n| patients | cache build | s / patient / core | cache build peak (its workers) | one epoch, "
          "width 4 (streamed) | its peak memory | slices on disk | cache on disk |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['n']:,} | {row['cache_s']:.0f} s | {row['cache_per_patient_core']:.2f} | "
              f"{row['cache_peak_gb']:.2f} GB ({row['cache_worker_peak_gb']:.2f} GB) | {row['epoch_s']:.0f} s | "
              f"{row['epoch_peak_gb']:.2f} GB | "
              f"{row['slices_gb']:.2f} GB | {row['cache_gb']:.2f} GB |")
    first = rows[0]
    rates = first["batches_per_s"]
    print(f"\n{first['n']} patients, one epoch at width 4: peak memory {first['epoch_peak_gb']:.2f} GB streamed, "
          f"{first['memory_epoch_peak_gb']:.2f} GB in memory (load_split + make_dataset)")
    print(f"width 16, batches per second: in memory {rates['in memory']:.2f}, streamed {rates['streamed']:.2f} "
          f"(ratio {rates['streamed'] / rates['in memory']:.2f}; target >= 0.95)")
    if args.prepare_cases:
        if not args.prepare_from:
            parser.error("--prepare-cases needs --prepare-from (a folder of BraTS cases, e.g. from tp3 synth)")
        timing = time_prepare(args.prepare_from, args.prepare_cases, args.work)
        print(f"\nprepare, {timing['cases']} cases, {timing['workers']} worker(s): {timing['seconds']:.0f} s, "
              f"{timing['per_case_core']:.2f} s per case per core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
