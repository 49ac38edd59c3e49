"""Average precision of box detections at one IoU threshold, as COCO and MONAI compute it.

Detections of every scan (one to one matched within their scan, `detection_cases.greedy_matches`)
are pooled and sorted by score (a stable sort, scans in order); precision is made
non-increasing from the right (the "envelope"), then read at the 101 recall levels 0, 0.01, …, 1
at the first operating point whose recall reaches the level (0 where none does), and averaged.
This is `COCOMetric`'s `AP_IoU_<t>` in `monai.apps.detection.metrics.coco` (tested to agree).
With one class, AP at a threshold is also that threshold's mAP. No reference lesion: NaN.
"""

from __future__ import annotations

import math

import numpy as np

RECALL_LEVELS = np.linspace(0.0, 1.0, 101)
DEFAULT_AP_IOUS: tuple[float, ...] = (0.1, 0.5)


def average_precision(scores: np.ndarray, matched: np.ndarray, lesions: int) -> float:
    """AP of pooled detections: `scores` and `matched` in scan order, each scan's descending."""
    if lesions == 0:
        return math.nan
    if len(scores) == 0:
        return 0.0
    order = np.argsort(-scores, kind="mergesort")
    hit = matched[order].astype(np.float64)
    tp = np.cumsum(hit)
    fp = np.cumsum(1.0 - hit)
    recall = tp / lesions
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    reached = np.searchsorted(recall, RECALL_LEVELS, side="left")
    inside = reached < len(envelope)
    at_levels = np.where(inside, envelope[np.minimum(reached, len(envelope) - 1)], 0.0)
    return float(at_levels.mean())
