"""Box detection figures against MONAI where it computes the same quantity:

- average precision at an IoU threshold: `monai.apps.detection.metrics.coco.COCOMetric`
  (`AP_IoU_<t>_MaxDet_<n>`) over `matching.matching_batch` with `monai.data.box_utils.box_iou`;
- the FROC curve and the mean sensitivity at fixed FP rates (CPM at LUNA16's rates):
  `monai.metrics.froc.compute_froc_curve_data` and `compute_froc_score`, fed the same false
  positive scores and per-lesion best scores (MONAI marks a missed lesion with score 0 and
  drops the lowest score as a threshold, so every score here is positive and one lesion is
  missed).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.apps.detection.metrics.coco import COCOMetric
from monai.apps.detection.metrics.matching import matching_batch
from monai.data.box_utils import box_iou as monai_box_iou
from monai.metrics.froc import compute_froc_curve_data, compute_froc_score

from containers.common.metrics.boxes import HitRule
from containers.common.metrics.detection_cases import ScanDetections, froc_scores
from containers.common.metrics.detection_figures import DetectionSettings, detection_figures
from containers.common.metrics.froc import LUNA16_FP_RATES, froc_curve


def _random_scans(seed: int, count: int = 8) -> list[ScanDetections]:
    """Lesions of 4-30 mm; per scan some detections jittered around lesions, some stray."""
    rng = np.random.default_rng(seed)
    scans = []
    for k in range(count):
        centres = rng.uniform(20, 180, (int(rng.integers(0, 5)), 3))
        sizes = rng.uniform(4, 30, (len(centres), 1)) * rng.uniform(0.8, 1.2, (len(centres), 3))
        lesions = np.hstack([centres - sizes / 2, centres + sizes / 2])
        found = rng.random(len(centres)) < 0.7
        near = centres[found] + rng.normal(0, 2, (int(found.sum()), 3))
        near_sizes = sizes[found] * rng.uniform(0.8, 1.25, (int(found.sum()), 3))
        stray = rng.uniform(20, 180, (int(rng.integers(0, 4)), 3))
        stray_sizes = rng.uniform(4, 30, (len(stray), 3))
        det_centres, det_sizes = np.vstack([near, stray]), np.vstack([near_sizes, stray_sizes])
        detections = np.hstack([det_centres - det_sizes / 2, det_centres + det_sizes / 2])
        scores = rng.uniform(0.01, 1.0, len(detections))
        scans.append(ScanDetections.of(f"S{k}", lesions, detections, scores))
    return scans


def _monai_ap(scans: list[ScanDetections], ious: tuple[float, ...]) -> dict[float, float]:
    metric = COCOMetric(
        classes=["nodule"], iou_list=ious, iou_range=(0.1, 0.5, 0.05), max_detection=[1000],
        verbose=False,
    )  # fmt: skip
    matched = matching_batch(
        iou_fn=lambda a, b: monai_box_iou(torch.as_tensor(a), torch.as_tensor(b)).numpy(),
        iou_thresholds=metric.iou_thresholds,
        pred_boxes=[s.detections for s in scans],
        pred_classes=[np.zeros(len(s.scores), int) for s in scans],
        pred_scores=[s.scores for s in scans],
        gt_boxes=[s.lesions for s in scans],
        gt_classes=[np.zeros(len(s.lesions), int) for s in scans],
        max_detections=1000,
    )
    values, _ = metric(matched)
    return {t: values[f"AP_IoU_{t:.2f}_MaxDet_1000"] for t in ious}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_average_precision_equals_monai_coco_metric(seed):
    scans = _random_scans(seed)
    ours = detection_figures(scans, DetectionSettings(resamples=2, ap_ious=(0.1, 0.5)))
    theirs = _monai_ap(scans, (0.1, 0.5))
    for iou in (0.1, 0.5):
        assert ours.average_precision[iou].value == pytest.approx(theirs[iou], rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_froc_curve_and_cpm_equal_monai_froc(seed):
    scans = _random_scans(seed, count=10)
    parts = [froc_scores(s, HitRule("centre-in-box")) for s in scans]
    fp = np.concatenate([p.false_positive_scores for p in parts])
    best = np.concatenate([p.lesion_scores for p in parts])
    assert np.isinf(best).any(), "the comparison needs a missed lesion (see module docstring)"
    ours = froc_curve(fp, best, len(scans))

    fps, sens = compute_froc_curve_data(
        fp.astype(np.float64), np.where(np.isinf(best), 0.0, best), len(best), len(scans)
    )
    # MONAI lists the operating points from the lowest threshold up, ending at (0, 0).
    np.testing.assert_allclose(fps[::-1], ours.fps_per_scan)
    np.testing.assert_allclose(sens[::-1], ours.sensitivity)
    theirs = compute_froc_score(fps, sens, eval_thresholds=LUNA16_FP_RATES)
    assert ours.cpm() == pytest.approx(float(theirs), rel=1e-12)
