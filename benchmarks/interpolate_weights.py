"""A model between the shipped one and a fine-tuned version of it (WiSE-FT; issue 33).

Every weight is ``(1 - share) * START + share * TUNED``
(:func:`tp3.tools.pretrain.interpolate_weights`); the result is a kit model file, scored
like any other:

    python benchmarks/interpolate_weights.py models/pretrained.weights.h5 TUNED --share 0.5 --out M
    python benchmarks/bench_sim2real.py --real ../shared/real --model M --heldout 8

``TUNED`` comes from ``python -m tp3 pretrain --init models/pretrained.weights.h5 ...``; the
model card (models/README.md) gives the runs and their figures.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("start", type=Path, help="the model fine-tuned from (kit model file)")
    parser.add_argument("tuned", type=Path, help="its fine-tuned version (same width and depth)")
    parser.add_argument("--share", type=float, required=True, help="of the fine-tuned weights, 0 to 1")
    parser.add_argument("--out", type=Path, required=True, help="the model file to write (.weights.h5)")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    args = parser.parse_args()
    if args.out.exists() and not args.force:
        parser.error(f"{args.out} exists; pass --force to replace it")
    from tp3.modelfile import save_unet
    from tp3.tools.pretrain import interpolate_weights

    model = interpolate_weights(args.start, args.tuned, args.share)
    save_unet(model, args.out, interpolated={"start": str(args.start), "tuned": str(args.tuned), "share": args.share})
    print(f"{args.out}: {1 - args.share:g} x {args.start} + {args.share:g} x {args.tuned}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
