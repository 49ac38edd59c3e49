"""Our figures against MONAI's metric functions and DeepMind's `surface_distance` package.

MONAI uses the same surface definition (voxel centres of `mask XOR erosion(mask)`), so Dice,
HD, HD95, ASSD and NSD agree to float precision. `surface_distance` places surface elements on
voxel corners and weights them by area: Dice is the same quantity and agrees exactly; the
distance figures measure the same thing on a different discretisation and agree within about
one voxel.
"""

from __future__ import annotations

import numpy as np
import pytest
import surface_distance
import torch
from monai.metrics import (
    compute_average_surface_distance,
    compute_dice,
    compute_hausdorff_distance,
    compute_surface_dice,
)

from containers.common.metrics import compute_label_metrics
from tests.metrics.shapes import blobs

# surface_distance still imports from scipy.ndimage.filters, which warns on every call.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SPACING = (2.5, 0.8, 1.5)
TOLERANCE_MM = 2.0


def _pair(seed: int) -> tuple[np.ndarray, np.ndarray]:
    return blobs((24, 40, 32), seed), blobs((24, 40, 32), seed + 50)


def _one_hot(mask: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(mask.astype(np.float32))[None, None]


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_every_shared_metric_equals_monai(seed):
    reference, prediction = _pair(seed)
    ours = compute_label_metrics(
        reference, prediction, SPACING, {"x": 1}, tolerance_mm=TOLERANCE_MM
    )["x"]
    y, y_pred = _one_hot(reference), _one_hot(prediction)
    assert ours.dice == pytest.approx(float(compute_dice(y_pred, y)), rel=1e-6)
    hd = compute_hausdorff_distance(y_pred, y, spacing=SPACING)
    hd95 = compute_hausdorff_distance(y_pred, y, percentile=95, spacing=SPACING)
    assd = compute_average_surface_distance(y_pred, y, symmetric=True, spacing=SPACING)
    nsd = compute_surface_dice(y_pred, y, class_thresholds=[TOLERANCE_MM], spacing=SPACING)
    assert ours.hausdorff_mm == pytest.approx(float(hd), rel=1e-5)
    assert ours.hausdorff95_mm == pytest.approx(float(hd95), rel=1e-5)
    assert ours.assd_mm == pytest.approx(float(assd), rel=1e-5)
    assert ours.surface_dice == pytest.approx(float(nsd), rel=1e-5)


@pytest.mark.parametrize("seed", [21, 22])
def test_dice_equals_and_distances_stay_within_a_voxel_of_surface_distance(seed):
    reference, prediction = _pair(seed)
    ours = compute_label_metrics(
        reference, prediction, SPACING, {"x": 1}, tolerance_mm=TOLERANCE_MM
    )["x"]
    ref, pred = reference.astype(bool), prediction.astype(bool)
    assert ours.dice == pytest.approx(surface_distance.compute_dice_coefficient(ref, pred))
    distances = surface_distance.compute_surface_distances(ref, pred, SPACING)
    voxel = max(SPACING)
    hd = surface_distance.compute_robust_hausdorff(distances, 100)
    hd95 = surface_distance.compute_robust_hausdorff(distances, 95)
    assert abs(ours.hausdorff_mm - hd) <= voxel
    assert abs(ours.hausdorff95_mm - hd95) <= voxel
    ref_to_pred, pred_to_ref = surface_distance.compute_average_surface_distance(distances)
    assert abs(ours.assd_mm - (ref_to_pred + pred_to_ref) / 2) <= voxel / 2
    nsd = surface_distance.compute_surface_dice_at_tolerance(distances, TOLERANCE_MM)
    assert abs(ours.surface_dice - nsd) <= 0.1


def test_masks_touching_the_array_border_have_the_same_surface_as_in_monai():
    reference = np.zeros((20, 20, 20), np.uint8)
    reference[0:8, 0:10, 5:20] = 1
    prediction = np.zeros((20, 20, 20), np.uint8)
    prediction[0:9, 2:10, 4:18] = 1
    spacing = (2.0, 0.7, 1.3)
    ours = compute_label_metrics(reference, prediction, spacing, {"x": 1}, tolerance_mm=1.0)["x"]
    y, y_pred = _one_hot(reference), _one_hot(prediction)
    hd95 = compute_hausdorff_distance(y_pred, y, percentile=95, spacing=spacing)
    assd = compute_average_surface_distance(y_pred, y, symmetric=True, spacing=spacing)
    nsd = compute_surface_dice(y_pred, y, class_thresholds=[1.0], spacing=spacing)
    assert ours.hausdorff95_mm == pytest.approx(float(hd95), rel=1e-5)
    assert ours.assd_mm == pytest.approx(float(assd), rel=1e-5)
    assert ours.surface_dice == pytest.approx(float(nsd), rel=1e-5)
