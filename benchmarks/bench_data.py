"""Course-data speed figures (issue: course data): synthesis, preparation, loading.

Each figure is measured in one process on one core, in this run:
  synth    seconds per case (synthesize + write the 5 volumes), template already loaded
  prepare  seconds per case (read, check, crop/resize, write 77 x 5 slices)
  load     seconds to load one prepared patient as training does: load_image + labels (median)
Targets: synth <= 5 s, prepare <= 2 s, load <= 0.3 s.

    python benchmarks/bench_data.py [--cases 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from tp3 import data
from tp3.tools import preparation, synth
from tp3.predict import load_image
from tp3.layout import LABEL_SUFFIX
from tp3.settings import SEED

TARGETS = {"synth": 5.0, "prepare": 2.0, "load": 0.3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source, root = Path(tmp) / "brats", Path(tmp) / "root"
        start = time.perf_counter()
        synth.anatomy.template()
        template_s = time.perf_counter() - start

        times = {"synth": [], "prepare": [], "load": []}
        for index in range(1, args.cases + 1):
            start = time.perf_counter()
            synth.write_case(synth.synthesize_case(SEED, index), source)
            times["synth"].append(time.perf_counter() - start)
        (root / "data").mkdir(parents=True)
        for case in preparation.find_cases(source):
            start = time.perf_counter()
            preparation.prepare_case(case, root / "data")
            times["prepare"].append(time.perf_counter() - start)
        patient = synth.case_id(1)
        def load():  # what training.load_split reads per patient
            return load_image(patient, root), data.read_slices(patient, LABEL_SUFFIX, root)

        load()  # first read warms the file cache like any later epoch
        for _ in range(7):
            start = time.perf_counter()
            load()
            times["load"].append(time.perf_counter() - start)

    print(f"template load (once per process): {template_s:.2f} s")
    print(f"{'figure':<10}{'median s':>10}{'min s':>8}{'max s':>8}{'target s':>10}  verdict")
    for name, values in times.items():
        median = statistics.median(values)
        verdict = "ok" if median <= TARGETS[name] else "MISSED"
        print(f"{name:<10}{median:>10.2f}{min(values):>8.2f}{max(values):>8.2f}{TARGETS[name]:>10.1f}  {verdict}")


if __name__ == "__main__":
    main()
