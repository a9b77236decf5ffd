"""Evaluation figures (issue: prediction and metrics), on the course sample's origin_data/.

  metrics   seconds for evalAllSample on one 155x240x240 patient, all regions (target <= 2 s)
  inverse   seconds for get_mask2original_shape on one patient's (77, 96, 96, 4) probabilities
  ceiling   what the 96x96 grid costs a perfect hard segmentation: ground truth -> course
            preprocessing -> one-hot -> get_mask2original_shape, scored against the original
            ground truth (mean and min over the patients); a network's soft probabilities
            can do better on a patient

    python benchmarks/bench_eval.py [--root ROOT]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from tp3.data import list_origin_patients
from tp3.metrics import evalAllSample
from tp3.settings import REGIONS
from tp3.predict import get_mask2original_shape, resolution_ceiling
from tp3.tools.sample import ensure_sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=None)
    args = parser.parse_args()
    root = ensure_sample(args.root, progress=False)
    patients = list_origin_patients(root)
    metric_s, dice = [], {r: [] for r in REGIONS}
    for patient in patients:
        truth, round_trip = resolution_ceiling(patient, root)
        start = time.perf_counter()
        scores = evalAllSample(round_trip, truth)
        metric_s.append(time.perf_counter() - start)
        for region in REGIONS:
            dice[region].append(scores[region]["dice"])
    probabilities = np.random.default_rng(0).random((77, 96, 96, 4), dtype=np.float32)
    inverse_s = []
    for _ in range(3):
        start = time.perf_counter()
        get_mask2original_shape(probabilities)
        inverse_s.append(time.perf_counter() - start)

    print(f"{len(patients)} patients of {root / 'origin_data'}")
    print(f"metrics (evalAllSample, 3 regions x 4 metrics): median {statistics.median(metric_s):.2f} s, "
          f"max {max(metric_s):.2f} s per patient (target <= 2 s)")
    print(f"inverse (get_mask2original_shape): median {statistics.median(inverse_s):.2f} s per patient")
    print("ground truth round trip at 96x96 (what the grid costs), Dice (mean / min over patients):")
    for region, values in dice.items():
        print(f"  {region}: {np.mean(values):.3f} / {np.min(values):.3f}")


if __name__ == "__main__":
    main()
