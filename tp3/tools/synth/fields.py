"""Random fields and shapes the other parts of the generator draw: smooth 1D profiles and 3D
fields, smoothed noise, soft balls, random voxels, the top voxels of a score."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def smooth_field_1d(rng, n, knots, amplitude):
    values = rng.uniform(-amplitude, amplitude, size=knots)
    return np.interp(np.linspace(0, knots - 1, n), np.arange(knots), values).astype(np.float32)


def _knot_weights(n: int, scale_vox: float) -> np.ndarray:
    """``(n, knots)`` Gaussian interpolation weights from knots ``scale_vox`` apart to ``n`` voxels."""
    knots = np.arange(-scale_vox, n + 2 * scale_vox, scale_vox, dtype=np.float32)
    weights = np.exp(-0.5 * ((np.arange(n, dtype=np.float32)[:, None] - knots[None, :]) / (0.6 * scale_vox)) ** 2)
    return weights / weights.sum(axis=1, keepdims=True)


def coarse_field(rng, shape, scale_vox: float) -> np.ndarray:
    """Smooth random field (float32, zero mean, unit standard deviation) with a correlation
    length of about ``scale_vox`` voxels: random values on a coarse grid, interpolated with
    separable Gaussian weights (three small matrix products: cheap at any scale)."""
    wz, wy, wx = (_knot_weights(n, scale_vox) for n in shape)
    values = rng.standard_normal((wz.shape[1], wy.shape[1], wx.shape[1])).astype(np.float32)
    field = wy @ (values @ wx.T)                                 # (kz, Y, X)
    field = (wz @ field.reshape(wz.shape[1], -1)).reshape(shape)  # (Z, Y, X)
    return (field - field.mean()) / max(float(field.std()), 1e-6)


def smooth_noise(rng, shape, sigma):
    """Gaussian-smoothed white noise rescaled to unit standard deviation (float32)."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma)
    return field / max(float(field.std()), 1e-6)


def top_voxels(score, mask, n):
    """Boolean mask of the ``n`` highest ``score`` voxels within ``mask``."""
    values = score[mask]
    n = int(min(n, np.count_nonzero(np.isfinite(values))))
    out = np.zeros_like(mask)
    if n <= 0:
        return out
    threshold = np.partition(values, len(values) - n)[len(values) - n]
    return mask & (score >= threshold)


def blobs(shape, centres, radii) -> np.ndarray:
    """Soft balls (1 inside, smooth edge) of the given radii (voxels) around ``centres``."""
    out = np.zeros(shape, dtype=np.float32)
    for centre, radius in zip(centres, radii):
        lo = np.maximum(np.floor(np.asarray(centre) - radius - 2), 0).astype(int)
        hi = np.minimum(np.ceil(np.asarray(centre) + radius + 3), shape).astype(int)
        grid = np.indices(tuple(hi - lo), dtype=np.float32)
        dist = np.sqrt(sum((g + l - c) ** 2 for g, l, c in zip(grid, lo, centre)))
        ball = np.clip(radius + 0.5 - dist, 0, 1)
        region = tuple(slice(a, b) for a, b in zip(lo, hi))
        out[region] = np.maximum(out[region], ball)
    return out


def pick_voxels(rng, mask, n) -> np.ndarray:
    """``n`` random voxel indices ``(n, 3)`` inside ``mask`` (fewer if it is smaller)."""
    where = np.flatnonzero(mask)
    if not len(where):
        return np.zeros((0, 3), dtype=int)
    chosen = rng.choice(where, size=min(n, len(where)), replace=False)
    return np.stack(np.unravel_index(chosen, mask.shape), axis=1)
