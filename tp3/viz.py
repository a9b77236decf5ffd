"""Colours and overlays shared by the figures of the kit (Ex 4, 7, 8, 12)."""

from __future__ import annotations

import numpy as np

#: RGB colour of each network class: background, NCR/NET (1), edema (2), ET (label 4).
CLASS_COLOURS = np.array([[0, 0, 0], [220, 40, 40], [40, 200, 60], [250, 220, 30]], dtype=np.uint8)
CLASS_NAMES = ("background", "NCR/NET (1)", "edema (2)", "enhancing (4)")


def to_grey_rgb(image: np.ndarray) -> np.ndarray:
    """2D image -> uint8 ``(H, W, 3)`` grey, scaled between the 1st and 99th percentiles of
    the brain (non-zero pixels); the background (exactly 0, also after normalisation) is black."""
    image = np.asarray(image, dtype=np.float32)
    brain = image != 0
    low, high = np.percentile(image[brain], [1, 99]) if brain.any() else (0.0, 1.0)
    scaled = np.where(brain, np.clip((image - low) / max(high - low, 1e-6), 0, 1) * 0.9 + 0.1, 0)
    return np.repeat((scaled * 255).astype(np.uint8)[..., None], 3, axis=-1)


def class_rgb(classes: np.ndarray) -> np.ndarray:
    """Classes ``(H, W)`` in {0,1,2,3} -> uint8 ``(H, W, 3)`` colours."""
    return CLASS_COLOURS[np.asarray(classes, dtype=np.intp)]


def class_overlay(image: np.ndarray, classes: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Grey image with the tumour classes blended on top: uint8 ``(H, W, 3)``."""
    grey = to_grey_rgb(image).astype(np.float32)
    colour = class_rgb(classes).astype(np.float32)
    tumour = (np.asarray(classes) > 0)[..., None]
    return np.where(tumour, (1 - alpha) * grey + alpha * colour, grey).astype(np.uint8)


def legend_handles():
    """Matplotlib patches naming each tumour class, for ``plt.legend(handles=...)``."""
    from matplotlib.patches import Patch

    return [Patch(color=CLASS_COLOURS[c] / 255, label=CLASS_NAMES[c]) for c in range(1, 4)]


def prediction_grid(flair: np.ndarray, truth: np.ndarray, prediction: np.ndarray, names, title: str = "") -> np.ndarray:
    """One image explaining itself (the TensorBoard images of Ex 7, 10): a row per slice,
    FLAIR | ground truth | prediction under their headings, each row named (patient and
    slice), the colour legend at the bottom, on black with thin separators.

    ``flair`` float ``(K, H, W)``; ``truth``, ``prediction`` classes ``(K, H, W)`` in {0,1,2,3};
    ``names`` K strings. Returns uint8 ``(height, width, 3)``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows, tile = len(flair), 1.7
    fig = Figure(figsize=(3 * tile + 0.5, rows * tile + 0.95), dpi=100, facecolor="black")
    FigureCanvasAgg(fig)
    top = 1 - 0.5 / (rows * tile + 0.95)
    bottom = 0.35 / (rows * tile + 0.95)
    axes = fig.subplots(rows, 3, squeeze=False,
                        gridspec_kw={"wspace": 0.03, "hspace": 0.03, "left": 0.5 / (3 * tile + 0.5),
                                     "right": 0.995, "top": top, "bottom": bottom})
    for row in range(rows):
        tiles = (to_grey_rgb(flair[row]), class_overlay(flair[row], truth[row]),
                 class_overlay(flair[row], prediction[row]))
        for col, image in enumerate(tiles):
            ax = axes[row, col]
            ax.imshow(image, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_color("#777777")
            if row == 0:
                ax.set_title(("FLAIR", "ground truth", "prediction")[col], color="white", fontsize=10)
        axes[row, 0].set_ylabel(names[row], color="white", fontsize=7)
    if title:
        fig.text(0.5, 1 - 0.12 / (rows * tile + 0.95), title, color="white", fontsize=10, ha="center", va="top")
    fig.legend(handles=legend_handles(), loc="lower center", ncol=3, frameon=False, labelcolor="white",
               fontsize=8, handlelength=1.2, borderaxespad=0.1)
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
