"""One scan's reference lesions and detections, and what each figure needs from it.

Two matchings, because the two families of detection figures count differently:
- FROC and CPM (LUNA16's rule): a lesion is found at score threshold s when ANY detection with
  score >= s hits it (the hit rule), so its score is the highest among the detections that hit
  it; a detection that hits no lesion is a false positive; a second detection of a found lesion
  is neither (`froc_scores`).
- Average precision (COCO's rule, MONAI's `matching_batch`): detections in descending score
  take, one to one, the unmatched lesion they overlap best with IoU >= t; a detection left
  without a lesion is a false positive, duplicates included (`greedy_matches`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from containers.common.metrics.boxes import HitRule, as_boxes, box_iou

MISSED = -np.inf  # the score of a lesion no detection hits


@dataclass(frozen=True)
class ScanDetections:
    """Reference lesions and scored detections of one scan, boxes in one mm frame."""

    scan: str
    lesions: np.ndarray  # (R, 6)
    lesion_diameters_mm: np.ndarray  # (R,)
    detections: np.ndarray  # (D, 6)
    scores: np.ndarray  # (D,)
    group: str = ""  # e.g. the site, for per-group figures

    @classmethod
    def of(
        cls,
        scan: str,
        lesions: object,
        detections: object,
        scores: object,
        *,
        lesion_diameters_mm: object | None = None,
        group: str = "",
    ) -> ScanDetections:
        """Checked arrays; lesion diameters default to each reference box's longest edge."""
        lesion_boxes = as_boxes(lesions, f"reference boxes of {scan}")
        detection_boxes = as_boxes(detections, f"detection boxes of {scan}")
        score_array = np.asarray(scores, dtype=np.float64).reshape(-1)
        if len(score_array) != len(detection_boxes):
            raise ValueError(
                f"{scan}: {len(detection_boxes)} detection boxes but {len(score_array)} scores"
            )
        if not np.isfinite(score_array).all():
            raise ValueError(f"{scan}: a detection score is NaN or infinite")
        if lesion_diameters_mm is None:
            diameters = (lesion_boxes[:, 3:] - lesion_boxes[:, :3]).max(axis=1, initial=0.0)
        else:
            diameters = np.asarray(lesion_diameters_mm, dtype=np.float64).reshape(-1)
            if len(diameters) != len(lesion_boxes):
                raise ValueError(f"{scan}: {len(lesion_boxes)} lesions but {len(diameters)} sizes")
        return cls(scan, lesion_boxes, diameters, detection_boxes, score_array, group)


@dataclass(frozen=True)
class FrocScores:
    """What FROC needs from a scan: false positives' scores, each lesion's best hit score."""

    false_positive_scores: np.ndarray
    lesion_scores: np.ndarray  # MISSED where no detection hits the lesion
    lesion_diameters_mm: np.ndarray


def froc_scores(scan: ScanDetections, rule: HitRule) -> FrocScores:
    hits = rule.hits(scan.detections, scan.lesions)
    hit_scores = np.where(hits, scan.scores[:, None], MISSED)
    lesion_scores = hit_scores.max(axis=0, initial=MISSED)
    false_positive_scores = scan.scores[~hits.any(axis=1)]
    return FrocScores(false_positive_scores, lesion_scores, scan.lesion_diameters_mm)


@dataclass(frozen=True)
class GreedyMatches:
    """A scan's detections in descending score with, per IoU threshold, which found a lesion."""

    scores: np.ndarray  # (D,), descending
    matched: dict[float, np.ndarray]  # threshold -> (D,) bool
    lesion_count: int


def greedy_matches(scan: ScanDetections, iou_thresholds: tuple[float, ...]) -> GreedyMatches:
    """COCO's one-to-one matching: the highest-scoring detection first takes, among the lesions
    still free, the one with the highest IoU if it reaches the threshold (on a tie the later
    lesion, as `matching_batch` does)."""
    order = np.argsort(-scan.scores, kind="mergesort")
    boxes, scores = scan.detections[order], scan.scores[order]
    iou = box_iou(boxes, scan.lesions)
    matched: dict[float, np.ndarray] = {}
    for threshold in iou_thresholds:
        taken = np.zeros(len(scan.lesions), dtype=bool)
        found = np.zeros(len(boxes), dtype=bool)
        for d in range(len(boxes)):
            if len(taken) == 0:
                break
            candidates = np.where(taken, -1.0, iou[d])
            best = len(candidates) - 1 - int(np.argmax(candidates[::-1]))
            if candidates[best] >= threshold and not taken[best]:
                taken[best] = True
                found[d] = True
        matched[threshold] = found
    return GreedyMatches(scores, matched, len(scan.lesions))
