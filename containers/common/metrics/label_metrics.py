"""Every metric for every label of a reference/prediction label-map pair, in physical units.

`compute_label_metrics` makes one pass over each full volume (label boxes and label voxel
counts), then works per label inside the union bounding box of that label in both maps.

Empty-mask conventions (the nnU-Net v2 / Metrics Reloaded choice; see README.md):
- both empty: Dice, IoU, precision, recall, NSD and the distances are NaN ("undefined"),
  not 1: a perfect score for "nothing to find, nothing found" would inflate a mean with cases
  that say nothing about segmentation quality (nnU-Net's `compute_metrics` sets NaN too);
- reference empty, prediction not: Dice = IoU = 0, precision = 0, recall NaN, distances +inf,
  NSD 0; the case is flagged `reference_empty` and aggregation leaves it out of every mean
  unless asked (`include_empty_reference`), while its false-positive lesions still count;
- prediction empty, reference not: Dice = IoU = recall = 0, precision NaN, distances +inf.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from containers.common.metrics.detection import detection_counts
from containers.common.metrics.label_boxes import count_voxels_by_label, union_boxes
from containers.common.metrics.names import METRIC_UNITS
from containers.common.metrics.surface import surface_metrics_from_points, surface_points_mm

__all__ = ["METRIC_UNITS", "SUMMARY_METRICS", "LabelMetrics", "compute_label_metrics"]

# The figures a summary averages over cases (counts and flags are summed or reported as is).
SUMMARY_METRICS: tuple[str, ...] = (
    "dice",
    "iou",
    "precision",
    "recall",
    "specificity",
    "hausdorff_mm",
    "hausdorff95_mm",
    "assd_mm",
    "surface_dice",
    "volume_reference_ml",
    "volume_prediction_ml",
    "absolute_volume_difference_ml",
    "relative_volume_difference_percent",
)


@dataclass(frozen=True)
class LabelMetrics:
    """All figures for one label of one case; units in METRIC_UNITS."""

    label: str
    value: int
    reference_empty: bool
    prediction_empty: bool
    dice: float
    iou: float
    precision: float
    recall: float
    specificity: float
    hausdorff_mm: float
    hausdorff95_mm: float
    assd_mm: float
    surface_dice: float
    tolerance_mm: float
    volume_reference_ml: float
    volume_prediction_ml: float
    volume_difference_ml: float
    absolute_volume_difference_ml: float
    relative_volume_difference_percent: float
    voxels_reference: int
    voxels_prediction: int
    true_positive_voxels: int
    false_positive_voxels: int
    false_negative_voxels: int
    lesions_reference: int
    lesions_prediction: int
    lesions_true_positive: int
    lesions_false_positive: int
    lesions_false_negative: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


def _check_inputs(reference: np.ndarray, prediction: np.ndarray, spacing: Sequence[float]) -> None:
    if reference.shape != prediction.shape:
        raise ValueError(
            f"reference {reference.shape} and prediction {prediction.shape} are on different grids"
        )
    if len(spacing) != reference.ndim or any(s <= 0 for s in spacing):
        raise ValueError(f"spacing {tuple(spacing)} must give one positive mm value per axis")
    for name, array in (("reference", reference), ("prediction", prediction)):
        if array.dtype.kind not in "iub":
            raise ValueError(f"{name} must be an integer label map, got {array.dtype}")


def compute_label_metrics(
    reference: np.ndarray,
    prediction: np.ndarray,
    spacing: Sequence[float],
    labels: Mapping[str, int],
    tolerance_mm: float = 1.0,
    detection_min_iou: float = 0.0,
) -> dict[str, LabelMetrics]:
    """Metrics per label name for two integer label maps on the same grid.

    `spacing` is the voxel size in mm along each array axis (same order as the axes);
    `labels` maps a name to its voxel value (e.g. {"liver": 1, "spleen": 2}).
    """
    _check_inputs(reference, prediction, spacing)
    if reference.flags.f_contiguous and not reference.flags.c_contiguous:
        # Column-major maps (e.g. read from DICOM SEG) are walked 3× slower slab by slab; the
        # transposed view is row-major, and every metric is the same with the spacing reversed.
        reference, prediction, spacing = reference.T, prediction.T, tuple(spacing)[::-1]
    if reference.dtype == bool:
        reference = reference.view(np.uint8)
    if prediction.dtype == bool:
        prediction = prediction.view(np.uint8)
    values = sorted(set(labels.values()))
    max_label = max(values, default=0)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    total_voxels = int(reference.size)
    ref_counts = count_voxels_by_label(reference, max_label)
    pred_counts = count_voxels_by_label(prediction, max_label)
    boxes = union_boxes(reference, prediction, values)

    results: dict[str, LabelMetrics] = {}
    for name, value in labels.items():
        n_ref, n_pred = int(ref_counts[value]), int(pred_counts[value])
        box = boxes[value]
        if box is None:
            ref_mask = pred_mask = np.zeros((1,) * reference.ndim, dtype=bool)
            origin: tuple[int, ...] = (0,) * reference.ndim
        else:
            ref_mask = reference[box.slices] == value
            pred_mask = prediction[box.slices] == value
            origin = box.start
        tp = int(np.count_nonzero(ref_mask & pred_mask))
        fp, fn = n_pred - tp, n_ref - tp
        tn = total_voxels - tp - fp - fn
        surface = surface_metrics_from_points(
            surface_points_mm(ref_mask, spacing, origin),
            surface_points_mm(pred_mask, spacing, origin),
            tolerance_mm,
        )
        lesions = detection_counts(ref_mask, pred_mask, detection_min_iou)
        volume_ref, volume_pred = n_ref * voxel_ml, n_pred * voxel_ml
        results[name] = LabelMetrics(
            label=name,
            value=value,
            reference_empty=n_ref == 0,
            prediction_empty=n_pred == 0,
            dice=_ratio(2 * tp, 2 * tp + fp + fn),
            iou=_ratio(tp, tp + fp + fn),
            precision=_ratio(tp, tp + fp),
            recall=_ratio(tp, tp + fn),
            specificity=_ratio(tn, tn + fp),
            hausdorff_mm=surface.hausdorff_mm,
            hausdorff95_mm=surface.hausdorff95_mm,
            assd_mm=surface.assd_mm,
            surface_dice=surface.surface_dice,
            tolerance_mm=tolerance_mm,
            volume_reference_ml=volume_ref,
            volume_prediction_ml=volume_pred,
            volume_difference_ml=volume_pred - volume_ref,
            absolute_volume_difference_ml=abs(volume_pred - volume_ref),
            relative_volume_difference_percent=_ratio(
                100.0 * (volume_pred - volume_ref), volume_ref
            ),
            voxels_reference=n_ref,
            voxels_prediction=n_pred,
            true_positive_voxels=tp,
            false_positive_voxels=fp,
            false_negative_voxels=fn,
            lesions_reference=lesions.reference_lesions,
            lesions_prediction=lesions.predicted_lesions,
            lesions_true_positive=lesions.true_positive,
            lesions_false_positive=lesions.false_positive,
            lesions_false_negative=lesions.false_negative,
        )
    return results
