"""Each metric against answers worked out by hand or by brute force on small shapes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from containers.common.metrics import compute_label_metrics, surface_metrics
from containers.common.metrics.surface import surface_voxels
from tests.metrics.shapes import ball, blobs, box

SPACING = (2.5, 0.8, 1.5)  # anisotropic on purpose: slice 2.5 mm, in-plane 0.8 × 1.5 mm


def test_cube_shifted_along_the_slice_axis_gives_dice_and_distances_of_the_shift():
    reference = box((30, 40, 40), (5, 10, 10), (15, 30, 30))
    prediction = np.roll(reference, 2, axis=0)  # 2 slices = 5 mm
    m = compute_label_metrics(reference, prediction, SPACING, {"liver": 1})["liver"]
    assert m.dice == pytest.approx(8 / 10)
    assert m.iou == pytest.approx(8 / 12)
    assert m.precision == pytest.approx(0.8) and m.recall == pytest.approx(0.8)
    assert m.hausdorff_mm == pytest.approx(5.0)
    assert m.hausdorff95_mm <= 5.0 + 1e-9
    voxel_ml = 2.5 * 0.8 * 1.5 / 1000
    assert m.volume_reference_ml == pytest.approx(10 * 20 * 20 * voxel_ml)
    assert m.volume_difference_ml == pytest.approx(0.0)
    assert m.false_positive_voxels == m.false_negative_voxels == 2 * 20 * 20


def test_specificity_counts_true_negatives_over_the_whole_volume():
    reference = box((10, 10, 10), (0, 0, 0), (2, 2, 2))
    prediction = box((10, 10, 10), (0, 0, 0), (2, 2, 3))
    m = compute_label_metrics(reference, prediction, (1, 1, 1), {"x": 1})["x"]
    assert m.specificity == pytest.approx((1000 - 12) / (1000 - 8))


def test_grown_cube_gives_known_volume_difference_in_millilitres():
    reference = box((20, 20, 20), (5, 5, 5), (15, 15, 15))
    prediction = box((20, 20, 20), (5, 5, 5), (15, 15, 17))
    m = compute_label_metrics(reference, prediction, (2.0, 2.0, 2.0), {"x": 1})["x"]
    assert m.volume_reference_ml == pytest.approx(8.0)
    assert m.volume_prediction_ml == pytest.approx(9.6)
    assert m.relative_volume_difference_percent == pytest.approx(20.0)
    assert m.hausdorff_mm == pytest.approx(4.0)


def test_concentric_spheres_have_hausdorff_near_the_radius_difference():
    shape, spacing = (40, 60, 60), (2.0, 1.0, 1.0)
    centre = (40.0, 30.0, 30.0)
    reference = ball(shape, centre, 20.0, spacing)
    prediction = ball(shape, centre, 24.0, spacing)
    m = surface_metrics(reference, prediction, spacing, tolerance_mm=1.0)
    # Voxel centres sample each sphere to within half a voxel diagonal.
    assert abs(m.hausdorff_mm - 4.0) <= 0.5 * math.sqrt(4 + 1 + 1)
    assert abs(m.assd_mm - 4.0) <= 1.0
    assert m.surface_dice < 0.2


def _brute_force(reference: np.ndarray, prediction: np.ndarray, spacing, tol):
    a = np.argwhere(surface_voxels(reference.astype(bool))) * np.asarray(spacing)
    b = np.argwhere(surface_voxels(prediction.astype(bool))) * np.asarray(spacing)
    pairwise = cdist(a, b)
    a_to_b, b_to_a = pairwise.min(axis=1), pairwise.min(axis=0)
    return {
        "hd": max(a_to_b.max(), b_to_a.max()),
        "hd95": max(np.percentile(a_to_b, 95), np.percentile(b_to_a, 95)),
        "assd": np.concatenate([a_to_b, b_to_a]).mean(),
        "nsd": (np.sum(a_to_b <= tol) + np.sum(b_to_a <= tol)) / (len(a) + len(b)),
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_surface_metrics_equal_a_brute_force_pairwise_computation(seed):
    reference = blobs((16, 24, 20), seed)
    prediction = blobs((16, 24, 20), seed + 100)
    expected = _brute_force(reference, prediction, SPACING, 2.0)
    m = compute_label_metrics(reference, prediction, SPACING, {"x": 1}, tolerance_mm=2.0)["x"]
    assert m.hausdorff_mm == pytest.approx(expected["hd"])
    assert m.hausdorff95_mm == pytest.approx(expected["hd95"])
    assert m.assd_mm == pytest.approx(expected["assd"])
    assert m.surface_dice == pytest.approx(expected["nsd"])


def test_surface_of_a_solid_box_is_its_outer_shell():
    solid = box((7, 7, 7), (1, 1, 1), (6, 6, 6)).astype(bool)
    assert surface_voxels(solid).sum() == 5**3 - 3**3


def test_metrics_do_not_change_when_the_volume_is_padded_or_a_far_label_is_added():
    reference = blobs((16, 24, 20), 7)
    prediction = blobs((16, 24, 20), 8)
    small = compute_label_metrics(reference, prediction, SPACING, {"x": 1})["x"]
    pad = ((30, 5), (3, 40), (0, 12))
    big_ref, big_pred = np.pad(reference, pad), np.pad(prediction, pad)
    big_pred[-1, -1, -1] = 2  # another label far away must not touch label 1's crop
    big = compute_label_metrics(big_ref, big_pred, SPACING, {"x": 1})["x"]
    for name in ("dice", "hausdorff_mm", "hausdorff95_mm", "assd_mm", "surface_dice"):
        assert getattr(big, name) == pytest.approx(getattr(small, name))


def test_all_labels_are_computed_in_one_call_with_their_own_values():
    reference = box((20, 20, 20), (2, 2, 2), (8, 8, 8), 1) + box(
        (20, 20, 20), (10, 10, 10), (18, 18, 18), 3
    )
    prediction = reference.copy()
    prediction[prediction == 3] = 0
    result = compute_label_metrics(reference, prediction, (1, 1, 1), {"liver": 1, "kidney": 3})
    assert result["liver"].dice == 1.0 and result["liver"].hausdorff_mm == 0.0
    assert result["kidney"].dice == 0.0 and result["kidney"].prediction_empty


def test_label_maps_on_different_grids_are_refused():
    with pytest.raises(ValueError, match="different grids"):
        compute_label_metrics(
            np.zeros((4, 4, 4), np.uint8), np.zeros((4, 4, 5), np.uint8), (1, 1, 1), {"x": 1}
        )


def test_column_major_label_maps_give_the_same_figures_as_row_major_ones():
    reference = blobs((16, 24, 20), 31)
    prediction = blobs((16, 24, 20), 32)
    row_major = compute_label_metrics(reference, prediction, SPACING, {"x": 1})["x"]
    column_major = compute_label_metrics(
        np.asfortranarray(reference), np.asfortranarray(prediction), SPACING, {"x": 1}
    )["x"]
    assert column_major.as_dict() == pytest.approx(row_major.as_dict())
