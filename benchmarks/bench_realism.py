"""How close are cases to real MRI? The design notes' statistics, case by case (issue: course data v2).

For each case folder (BraTS 2019 layout), prints the statistics of :mod:`tp3.tools.realism`
(region / white-matter intensity ratios per modality, interquartile range over median,
CSF-dark fraction, brain volume, grey/white T1 ratio, texture, tumour shape) beside the
ranges measured on real scans, flags what falls outside, and counts, per statistic, the
cases outside, and how much of the real 10th-90th percentile interval of each tumour
contrast the cases span between them (issue 33's realism target). The same measurement
applies to synthetic and real cases, so both can be passed in one call:

    python benchmarks/bench_realism.py CASE_DIR... [--synthetic N] [--seed S]

``CASE_DIR`` is a case folder or a folder of case folders; ``--synthetic N`` adds N new
synthetic cases made in a temporary folder, of seed ``S`` (default: the seed of
tp3/settings.py; another seed gives cases no tuning has seen). To compare generator
versions, run the same command from a checkout of each: same seed, same draws' order
within a version.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np


def case_folders(paths) -> list[Path]:
    from tp3.tools.preparation import find_cases

    folders = []
    for path in map(Path, paths):
        is_case = any(path.glob(f"{path.name}_seg.nii*"))
        folders += [path] if is_case else [case.folder for case in find_cases(path)]
    return folders


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="*", type=Path, help="case folders, or folders of cases")
    parser.add_argument("--synthetic", type=int, default=0, help="add N new synthetic cases")
    parser.add_argument("--seed", type=int, default=None, help="seed of the synthetic cases")
    args = parser.parse_args()

    from tp3.settings import SEED
    from tp3.tools.synth import GENERATOR_VERSION
    from tp3.tools.preparation import read_case_folder
    from tp3.tools.realism import REAL_RANGES, REAL_SPREAD, TUMOUR_SHAPE, coverage, measure_case, outside
    from tp3.tools.synth import generate

    with tempfile.TemporaryDirectory() as tmp:
        folders = case_folders(args.cases)
        if args.synthetic:
            seed = SEED if args.seed is None else args.seed
            print(f"{args.synthetic} synthetic case(s), generator {GENERATOR_VERSION}, seed {seed}")
            generate(tmp, args.synthetic, seed, workers=2, progress=False)
            folders += case_folders([tmp])
        if not folders:
            parser.error("no case given: pass case folders or --synthetic N")
        measured = {}
        for folder in folders:
            images, labels, _ = read_case_folder(folder)
            measured[folder.name] = measure_case(images, labels)

    names = list(measured)
    width = max(9, *(len(n) for n in names))
    print(f"{'statistic':<20}{'real range':>16}  " + "".join(f"{n[-width:]:>{width + 1}}" for n in names)
          + "  outside")
    for stat, (low, high) in REAL_RANGES.items():
        values = [measured[n][stat] for n in names]
        flags = [bool(outside({stat: v}, {stat: (low, high)})) for v in values]
        cells = "".join(f"{v:>{width}.2f}{'*' if f else ' '}" for v, f in zip(values, flags))
        note = " (tumour shape: a range over cases)" if stat in TUMOUR_SHAPE else ""
        print(f"{stat:<20}{low:>7.2f} - {high:<7.2f}  {cells}  {sum(flags)}/{np.isfinite(values).sum()}{note}")
    print("* outside the real range (NaN: region absent)")
    checked = {stat: span for stat, span in REAL_RANGES.items() if stat not in TUMOUR_SHAPE}
    counts = {n: (len(outside(measured[n], checked)), int(sum(np.isfinite(measured[n][s]) for s in checked)))
              for n in names}
    print("statistics outside the real range, per case (tumour shape left out): "
          + ", ".join(f"{n} {bad}/{total}" for n, (bad, total) in counts.items()))
    print(f"mean: {np.mean([bad for bad, _ in counts.values()]):.1f} of "
          f"{np.mean([total for _, total in counts.values()]):.1f}; cases with every statistic inside: "
          f"{sum(bad == 0 for bad, _ in counts.values())} of {len(counts)}")
    print(f"\nreal variety spanned by these {len(names)} cases: share of the real 10th-90th percentile "
          f"interval (26 real scans) between the lowest and highest case")
    shares = {}
    for stat, spread in REAL_SPREAD.items():
        values = [measured[n][stat] for n in names]
        shares[stat] = coverage(values, spread)
        finite = [v for v in values if np.isfinite(v)]
        span = f"{min(finite):.2f} - {max(finite):.2f}" if finite else "none"
        print(f"{stat:<20}real {spread[1]:.2f} - {spread[3]:<6.2f} cases {span:<13} {100 * shares[stat]:5.0f} %")
    print(f"mean {100 * np.mean(list(shares.values())):.0f} %, lowest {100 * min(shares.values()):.0f} % "
          f"({min(shares, key=shares.get)}); target: every one >= 90 %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
