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
