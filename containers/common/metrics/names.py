"""Every metric's unit and the name people write it under, in one table.

`metrics.json` and the CSVs keep the code names (`hausdorff95_mm`); reports, figures and the
demo's tables show `heading(metric)`, e.g. "HD95 (mm)", "NSD @ 1 mm".
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class MetricName:
    display: str  # as written in papers
    unit: str  # "1" for a ratio


METRICS: dict[str, MetricName] = {
    "dice": MetricName("Dice", "1"),
    "iou": MetricName("IoU", "1"),
    "precision": MetricName("precision", "1"),
    "recall": MetricName("recall", "1"),
    "specificity": MetricName("specificity", "1"),
    "hausdorff_mm": MetricName("HD", "mm"),
    "hausdorff95_mm": MetricName("HD95", "mm"),
    "assd_mm": MetricName("ASSD", "mm"),
    "surface_dice": MetricName("NSD", "1"),
    "tolerance_mm": MetricName("NSD tolerance", "mm"),
    "volume_reference_ml": MetricName("reference volume", "mL"),
    "volume_prediction_ml": MetricName("AI volume", "mL"),
    "volume_difference_ml": MetricName("volume difference", "mL"),
    "absolute_volume_difference_ml": MetricName("volume difference", "mL"),
    "relative_volume_difference_percent": MetricName("relative volume difference", "%"),
    "voxels_reference": MetricName("reference voxels", "voxels"),
    "voxels_prediction": MetricName("AI voxels", "voxels"),
    "true_positive_voxels": MetricName("true positive voxels", "voxels"),
    "false_positive_voxels": MetricName("false positive voxels", "voxels"),
    "false_negative_voxels": MetricName("false negative voxels", "voxels"),
    "lesions_reference": MetricName("reference lesions", "count"),
    "lesions_prediction": MetricName("AI lesions", "count"),
    "lesions_true_positive": MetricName("detected lesions", "count"),
    "lesions_false_positive": MetricName("false positive lesions", "count"),
    "lesions_false_negative": MetricName("missed lesions", "count"),
}
METRIC_UNITS: dict[str, str] = {name: m.unit for name, m in METRICS.items()}


def display_name(metric: str, tolerance_mm: float | None = None) -> str:
    """ "HD95", "NSD @ 1 mm" (with the tolerance), "|volume difference|" for the absolute one."""
    entry = METRICS.get(metric)
    if entry is None:
        return metric
    if metric == "surface_dice" and tolerance_mm is not None and math.isfinite(tolerance_mm):
        return f"NSD @ {tolerance_mm:g} mm"
    if metric == "absolute_volume_difference_ml":
        return f"|{entry.display}|"
    return entry.display


def heading(metric: str, tolerance_mm: float | None = None) -> str:
    """The name with its unit for a column or an axis: "HD95 (mm)", "Dice"."""
    unit = METRICS[metric].unit if metric in METRICS else ""
    name = display_name(metric, tolerance_mm)
    return f"{name} ({unit})" if unit not in ("", "1", "count") else name
