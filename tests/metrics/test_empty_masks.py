"""The empty-mask conventions: both empty is undefined (NaN), one empty is infinitely far."""

from __future__ import annotations

import math

import numpy as np

from containers.common.metrics import compute_label_metrics, summarise, values_for_summary
from tests.metrics.shapes import box

EMPTY = np.zeros((10, 10, 10), np.uint8)
CUBE = box((10, 10, 10), (2, 2, 2), (6, 6, 6))


def _metrics(reference, prediction):
    return compute_label_metrics(reference, prediction, (1.0, 1.0, 2.0), {"lesion": 1})["lesion"]


def test_both_masks_empty_give_nan_overlap_and_distances_not_a_perfect_score():
    m = _metrics(EMPTY, EMPTY)
    assert m.reference_empty and m.prediction_empty
    for name in (
        "dice",
        "iou",
        "precision",
        "recall",
        "hausdorff_mm",
        "hausdorff95_mm",
        "assd_mm",
        "surface_dice",
    ):
        assert math.isnan(getattr(m, name)), name
    assert m.specificity == 1.0
    assert m.lesions_false_positive == 0


def test_prediction_on_an_empty_reference_scores_zero_dice_and_infinite_distance():
    m = _metrics(EMPTY, CUBE)
    assert m.reference_empty and not m.prediction_empty
    assert m.dice == 0.0 and m.precision == 0.0 and math.isnan(m.recall)
    assert math.isinf(m.hausdorff_mm) and math.isinf(m.hausdorff95_mm) and math.isinf(m.assd_mm)
    assert m.surface_dice == 0.0
    assert m.lesions_false_positive == 1
    assert math.isnan(m.relative_volume_difference_percent)


def test_missed_reference_scores_zero_dice_and_infinite_distance():
    m = _metrics(CUBE, EMPTY)
    assert m.dice == 0.0 and m.recall == 0.0 and math.isnan(m.precision)
    assert math.isinf(m.hausdorff_mm)
    assert m.lesions_false_negative == 1
    assert m.relative_volume_difference_percent == -100.0


def test_cases_with_an_empty_reference_stay_out_of_the_mean_dice_unless_asked():
    rows = [
        _metrics(CUBE, CUBE).as_dict(),  # dice 1
        _metrics(EMPTY, CUBE).as_dict(),  # dice 0, but the reference is empty
        _metrics(EMPTY, EMPTY).as_dict(),  # dice NaN
    ]
    default = summarise(values_for_summary(rows, "dice"))
    assert default.n == 1 and default.mean == 1.0
    asked = summarise(values_for_summary(rows, "dice", include_empty_reference=True))
    assert asked.n == 2 and asked.n_undefined == 1 and asked.mean == 0.5


def test_infinite_distances_are_counted_apart_and_kept_in_the_median():
    summary = summarise([1.0, 2.0, math.inf])
    assert summary.n == 3 and summary.n_infinite == 1
    assert summary.mean == 1.5
    assert summary.median == 2.0
