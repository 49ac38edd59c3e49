"""Surface distances between two binary masks in millimetres, and the metrics built on them.

Definitions (the same as MONAI's `compute_hausdorff_distance`, `compute_average_surface_distance`
with `symmetric=True` and `compute_surface_dice` without sub-voxels, so training-time validation
numbers from MONAI and evaluation numbers from this step mean the same thing):

- the **surface** of a mask is its foreground voxels that have at least one background
  face-neighbour (a voxel on the array border counts as on the surface), i.e. `mask XOR
  erosion(mask)` with the 6-neighbour cross; each surface voxel is a point at its centre,
  scaled by the voxel spacing;
- the **directed distances** A→B are, for every surface point of A, the exact Euclidean
  distance to the nearest surface point of B;
- **HD** is the maximum of both directed distance sets; **HD95** is the larger of the two
  directed 95th percentiles (linear interpolation), as MONAI and `surface-distance`'s
  `compute_robust_hausdorff` both do; a pooled percentile would let a large, well-matched
  surface hide a small one that is far off;
- **ASSD** is the mean of the pooled directed distances (both directions together);
- **NSD** (normalised surface Dice) at tolerance τ is the number of surface points of either
  mask within τ of the other surface, over the number of surface points of both.

Nearest-surface distances come from a k-d tree over the surface points (exact Euclidean, like
an EDT with `sampling=spacing`), whose cost follows the surface size, not the crop volume: a
few stray false-positive voxels far from the organ widen the crop a lot but add few points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree


def surface_voxels(mask: np.ndarray) -> np.ndarray:
    """Foreground voxels with a background face-neighbour or on the array border."""
    padded = np.pad(mask, 1, mode="constant", constant_values=False)
    interior = mask.copy()
    for axis in range(mask.ndim):
        for shift in (0, 2):
            index = [slice(1, -1)] * mask.ndim
            index[axis] = slice(shift, shift + mask.shape[axis])
            interior &= padded[tuple(index)]
    return mask & ~interior


def surface_points_mm(
    mask: np.ndarray, spacing: Sequence[float], origin: Sequence[int]
) -> np.ndarray:
    """Centres of the surface voxels of `mask` in mm; `origin` is the crop's index offset."""
    indices = np.argwhere(surface_voxels(mask))
    return (indices + np.asarray(origin)) * np.asarray(spacing, dtype=np.float64)


def directed_distances(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """For every point of `source` (N×D, mm) the distance to the nearest point of `target`."""
    if len(source) == 0:
        return np.zeros(0)
    if len(target) == 0:
        return np.full(len(source), np.inf)
    distances, _ = cKDTree(target, leafsize=32).query(source, k=1)
    return np.asarray(distances, dtype=np.float64)


@dataclass(frozen=True)
class SurfaceMetrics:
    """HD, HD95, ASSD (mm) and NSD at `tolerance_mm`; see the module docstring.

    Both masks empty: every value is NaN (undefined, nothing to compare). Exactly one empty:
    the distances are +inf and NSD is 0 (no surface point has a partner).
    """

    hausdorff_mm: float
    hausdorff95_mm: float
    assd_mm: float
    surface_dice: float
    tolerance_mm: float


def surface_metrics_from_points(
    reference_points: np.ndarray, prediction_points: np.ndarray, tolerance_mm: float
) -> SurfaceMetrics:
    n_ref, n_pred = len(reference_points), len(prediction_points)
    if n_ref == 0 and n_pred == 0:
        nan = float("nan")
        return SurfaceMetrics(nan, nan, nan, nan, tolerance_mm)
    if n_ref == 0 or n_pred == 0:
        inf = float("inf")
        return SurfaceMetrics(inf, inf, inf, 0.0, tolerance_mm)
    pred_to_ref = directed_distances(prediction_points, reference_points)
    ref_to_pred = directed_distances(reference_points, prediction_points)
    within = np.count_nonzero(pred_to_ref <= tolerance_mm) + np.count_nonzero(
        ref_to_pred <= tolerance_mm
    )
    return SurfaceMetrics(
        hausdorff_mm=float(max(pred_to_ref.max(), ref_to_pred.max())),
        hausdorff95_mm=float(max(np.percentile(pred_to_ref, 95), np.percentile(ref_to_pred, 95))),
        assd_mm=float((pred_to_ref.sum() + ref_to_pred.sum()) / (n_ref + n_pred)),
        surface_dice=float(within / (n_ref + n_pred)),
        tolerance_mm=tolerance_mm,
    )


def surface_metrics(
    reference: np.ndarray,
    prediction: np.ndarray,
    spacing: Sequence[float],
    tolerance_mm: float = 1.0,
) -> SurfaceMetrics:
    """Surface metrics of two binary masks of the same grid with voxel `spacing` (mm per axis)."""
    if reference.shape != prediction.shape:
        raise ValueError(f"masks differ in shape: {reference.shape} vs {prediction.shape}")
    origin = (0,) * reference.ndim
    return surface_metrics_from_points(
        surface_points_mm(reference.astype(bool), spacing, origin),
        surface_points_mm(prediction.astype(bool), spacing, origin),
        tolerance_mm,
    )
