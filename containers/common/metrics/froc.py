"""FROC curve and the LUNA16 competition performance metric (CPM).

The curve pools every scan's detections (LUNA16, Setio et al. 2017): at each distinct score
threshold s, from the highest down, sensitivity = lesions found at s / all lesions and
false positives per scan = false positives with score >= s / scans (what counts as found and
as false positive: `detection_cases`). It starts at (0, 0) for a threshold above every score.

Sensitivity at a false-positive rate r is read off the curve as LUNA16's evaluation script
does (`np.interp` over the operating points): linearly between the last operating point at or
below r and the next one; beyond the last point (the system never makes r false positives per
scan) it is the sensitivity with every detection kept. CPM is the mean sensitivity at 1/8, 1/4,
1/2, 1, 2, 4 and 8 false positives per scan. With no reference lesion every sensitivity is NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

LUNA16_FP_RATES: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


@dataclass(frozen=True)
class FrocCurve:
    fps_per_scan: np.ndarray  # non-decreasing, starts at 0
    sensitivity: np.ndarray  # non-decreasing, starts at 0
    thresholds: np.ndarray  # descending, starts at +inf
    scans: int
    lesions: int

    def sensitivity_at(self, rate: float) -> float:
        if self.lesions == 0:
            return math.nan
        fps, sens = self.fps_per_scan, self.sensitivity
        last = int(np.searchsorted(fps, rate, side="right")) - 1
        if last >= len(fps) - 1:
            return float(sens[-1])
        step = (rate - fps[last]) / (fps[last + 1] - fps[last])
        return float(sens[last] + step * (sens[last + 1] - sens[last]))

    def cpm(self, rates: Sequence[float] = LUNA16_FP_RATES) -> float:
        return float(np.mean([self.sensitivity_at(r) for r in rates]))


def froc_curve(
    false_positive_scores: np.ndarray, lesion_scores: np.ndarray, scans: int
) -> FrocCurve:
    """The curve from pooled scores: every false positive's score, every lesion's best hit
    score (-inf when missed)."""
    if scans <= 0:
        raise ValueError("a FROC curve needs at least one scan")
    fp_sorted = np.sort(false_positive_scores)
    lesion_sorted = np.sort(lesion_scores)
    found = lesion_sorted[np.isfinite(lesion_sorted)]
    thresholds = np.unique(np.concatenate([fp_sorted, found]))[::-1]
    # How many of each lie at or above every threshold.
    fp_counts = len(fp_sorted) - np.searchsorted(fp_sorted, thresholds, side="left")
    tp_counts = len(lesion_sorted) - np.searchsorted(lesion_sorted, thresholds, side="left")
    lesions = len(lesion_scores)
    sens = tp_counts / lesions if lesions else np.full(len(thresholds), math.nan)
    return FrocCurve(
        fps_per_scan=np.concatenate([[0.0], fp_counts / scans]),
        sensitivity=np.concatenate([[0.0], sens]),
        thresholds=np.concatenate([[math.inf], thresholds]),
        scans=scans,
        lesions=lesions,
    )
