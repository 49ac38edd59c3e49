"""Segmentation metrics in physical units: overlap, surface distances, volumes, lesion counts.

Conventions (surface definition, HD95, empty masks, aggregation) are in README.md beside this
file and in the docstrings of `surface`, `label_metrics`, `detection` and `aggregate`.
"""

from containers.common.metrics.aggregate import Summary, summarise, values_for_summary
from containers.common.metrics.detection import DetectionCounts, detection_counts
from containers.common.metrics.label_metrics import (
    METRIC_UNITS,
    SUMMARY_METRICS,
    LabelMetrics,
    compute_label_metrics,
)
from containers.common.metrics.names import METRICS, display_name, heading
from containers.common.metrics.surface import SurfaceMetrics, surface_metrics

__all__ = [
    "METRICS",
    "METRIC_UNITS",
    "display_name",
    "heading",
    "SUMMARY_METRICS",
    "DetectionCounts",
    "LabelMetrics",
    "Summary",
    "SurfaceMetrics",
    "compute_label_metrics",
    "detection_counts",
    "summarise",
    "surface_metrics",
    "values_for_summary",
]
