"""``python -m tp3 <command>``: the kit's command line (a thin layer over the package)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .config import SEED, course_root, default_workers, sample_patients


def _synth(args) -> int:
    from .synth import generate

    start = time.perf_counter()
    cases = generate(args.out, args.patients, args.seed, workers=args.workers, force=args.force)
    grades = [g for _, g in cases]
    print(f"{len(cases)} synthetic case(s) in {args.out} ({grades.count('HGG')} HGG, "
          f"{grades.count('LGG')} LGG) in {time.perf_counter() - start:.1f} s")
    return 0


def _prepare(args) -> int:
    from .prepare import prepare

    summary = prepare(args.brats, args.root, seed=args.seed, workers=args.workers,
                      force=args.force, strict=args.strict)
    print(summary)
    return 0


def _sample(args) -> int:
    from .data import summarise_course
    from .sample import ensure_sample

    root = ensure_sample(args.root, args.patients, args.seed, args.workers)
    print(summarise_course(root))
    return 0


def _demo(args) -> int:
    from .data import summarise_course
    from .sample import ensure_sample

    root = ensure_sample(args.root)
    print(summarise_course(root))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tp3", description="TP3 U-Net course kit")
    commands = parser.add_subparsers(dest="command", required=True)

    synth = commands.add_parser("synth", help="write synthetic BraTS-like cases (BraTS 2019 layout)")
    synth.add_argument("--out", type=Path, required=True, help="output folder")
    synth.add_argument("--patients", type=int, default=sample_patients())
    synth.add_argument("--seed", type=int, default=SEED)
    synth.add_argument("--workers", type=int, default=default_workers())
    synth.add_argument("--force", action="store_true", help="write into a non-empty folder")
    synth.set_defaults(run=_synth)

    prep = commands.add_parser("prepare", help="BraTS 2019 cases -> course layout (data/, datasets/, origin_data/)")
    prep.add_argument("--brats", type=Path, required=True, help="folder of BraTS 2019 cases")
    prep.add_argument("--root", type=Path, default=None, help="course root (default: %(default)s -> TP3_ROOT, Colab or repo)")
    prep.add_argument("--seed", type=int, default=SEED, help="seed of the split")
    prep.add_argument("--workers", type=int, default=default_workers())
    prep.add_argument("--force", action="store_true", help="replace existing course data")
    prep.add_argument("--strict", action="store_true", help="stop at the first bad case")
    prep.set_defaults(run=_prepare)

    sample = commands.add_parser("sample", help="build the default synthetic sample if absent")
    sample.add_argument("--root", type=Path, default=None)
    sample.add_argument("--patients", type=int, default=None)
    sample.add_argument("--seed", type=int, default=SEED)
    sample.add_argument("--workers", type=int, default=None)
    sample.set_defaults(run=_sample)

    demo = commands.add_parser("demo", help="the kit's main job on the default sample (make demo)")
    demo.add_argument("--root", type=Path, default=None)
    demo.set_defaults(run=_demo)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "root", "unset") is None:
        args.root = course_root()
    try:
        return args.run(args)
    except (FileNotFoundError, FileExistsError, ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
