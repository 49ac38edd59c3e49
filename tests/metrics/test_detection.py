"""Lesion-wise TP/FP/FN counts under the documented overlap rule."""

from __future__ import annotations

import numpy as np

from containers.common.metrics import detection_counts
from tests.metrics.shapes import box


def _lesions(*boxes):
    volume = np.zeros((20, 20, 20), bool)
    for start, stop in boxes:
        volume |= box((20, 20, 20), start, stop).astype(bool)
    return volume


def test_overlapping_lesion_is_found_missed_lesion_is_fn_and_stray_blob_is_fp():
    reference = _lesions(((1, 1, 1), (4, 4, 4)), ((10, 10, 10), (13, 13, 13)))
    prediction = _lesions(((2, 2, 2), (5, 5, 5)), ((16, 1, 1), (18, 3, 3)))
    counts = detection_counts(reference, prediction)
    assert (counts.true_positive, counts.false_positive, counts.false_negative) == (1, 1, 1)
    assert counts.reference_lesions == 2 and counts.predicted_lesions == 2


def test_one_prediction_covering_two_lesions_detects_both_without_a_false_positive():
    reference = _lesions(((1, 1, 1), (4, 4, 4)), ((1, 6, 1), (4, 9, 4)))
    prediction = _lesions(((1, 1, 1), (4, 9, 4)))
    counts = detection_counts(reference, prediction)
    assert (counts.true_positive, counts.false_positive, counts.false_negative) == (2, 0, 0)


def test_diagonal_touch_keeps_one_lesion_because_components_are_26_connected():
    reference = _lesions(((1, 1, 1), (3, 3, 3)), ((3, 3, 3), (5, 5, 5)))
    assert detection_counts(reference, reference).reference_lesions == 1


def test_minimum_iou_turns_a_grazing_overlap_into_a_miss():
    reference = _lesions(((1, 1, 1), (6, 6, 6)))
    prediction = _lesions(((5, 5, 5), (10, 10, 10)))
    assert detection_counts(reference, prediction).true_positive == 1
    strict = detection_counts(reference, prediction, min_iou=0.1)
    assert (strict.true_positive, strict.false_positive, strict.false_negative) == (0, 1, 1)


def test_no_overlap_at_all_counts_every_component():
    reference = _lesions(((1, 1, 1), (3, 3, 3)))
    prediction = _lesions(((10, 10, 10), (12, 12, 12)))
    counts = detection_counts(reference, prediction)
    assert (counts.true_positive, counts.false_positive, counts.false_negative) == (0, 1, 1)


def test_speckled_masks_with_thousands_of_components_use_the_same_rule():
    reference = np.zeros((60, 60, 60), bool)
    reference[::2, ::2, ::2] = True  # 27 000 isolated voxels
    prediction = reference.copy()
    prediction[:30] = False
    prediction[1, 1, 1] = True  # odd index: touches no reference voxel, a false positive
    counts = detection_counts(reference, prediction)
    assert counts.reference_lesions == 27_000
    assert counts.true_positive == 13_500
    assert counts.false_negative == 13_500
    assert counts.false_positive == 1
