"""A picture of synthetic or real cases, for the instructor who makes them (``synth --preview``)."""

from __future__ import annotations

import numpy as np

from ..data import most_tumour_slices
from ..layout import MODALITIES
from ..preprocessing import labels_to_classes
from ..viz import class_overlay, legend_handles, to_grey_rgb
from .preparation import read_case_folder


def case_montage(folders, path, max_cases: int = 8):
    """PNG montage of cases in the BraTS 2019 layout: one row per case, T1 | T1ce | T2 | FLAIR |
    labels at the axial slice with the most tumour (``python -m tp3 synth --preview``).

    ``folders``: case folders ``<ID>/<ID>_{t1,t1ce,t2,flair,seg}.nii.gz``. Returns ``path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folders = list(folders)[:max_cases]
    fig, axes = plt.subplots(len(folders), 5, figsize=(12.5, 2.6 * len(folders)), squeeze=False,
                             facecolor="black")
    for row, folder in zip(axes, folders):
        images, labels, _ = read_case_folder(folder)
        z = most_tumour_slices(labels)[0]
        inside = images["t1"][z] > 0
        rows, cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
        crop = (slice(max(rows.min() - 4, 0), rows.max() + 5), slice(max(cols.min() - 4, 0), cols.max() + 5)) \
            if inside.any() else (slice(None), slice(None))
        panels = [to_grey_rgb(images[m][z][crop]) for m in MODALITIES]
        panels.append(class_overlay(images["flair"][z][crop], labels_to_classes(labels[z][crop]), alpha=0.6))
        for ax, panel, name in zip(row, panels, [m.upper() for m in MODALITIES] + ["labels on FLAIR"]):
            ax.imshow(panel)
            ax.set_title(name, color="white", fontsize=9)
            ax.axis("off")
        row[0].text(-0.04, 0.5, f"{folder.name}\nz={z}", color="white", fontsize=8, rotation=90,
                    va="center", ha="right", transform=row[0].transAxes)
    fig.legend(handles=legend_handles(), loc="lower center", ncol=3, facecolor="black",
               labelcolor="white", edgecolor="black")
    fig.tight_layout(rect=(0.02, 0.03, 1, 1))
    fig.savefig(path, dpi=80, facecolor="black")
    plt.close(fig)
    return path
