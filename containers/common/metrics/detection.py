"""Lesion-wise detection: connected components of reference and prediction, matched by overlap.

Overlap rule (documented in README): components are 26-connected (3×3×3 neighbourhood) so a
diagonal touch does not split one lesion in two. A reference component is **detected** (TP)
when at least one predicted component overlaps it with IoU > `min_iou` (default 0: any shared
voxel, the "any overlap" rule in Metrics Reloaded's detection section). A reference component
with no such partner is a **FN**; a predicted component with no such partner is a **FP**. One
predicted component that covers two reference lesions detects both (no FP), so TP + FN always
equals the number of reference components.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

_FULL_CONNECTIVITY_3D = np.ones((3, 3, 3), dtype=bool)


@dataclass(frozen=True)
class DetectionCounts:
    reference_lesions: int
    predicted_lesions: int
    true_positive: int
    false_positive: int
    false_negative: int


def _components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    structure = _FULL_CONNECTIVITY_3D if mask.ndim == 3 else np.ones((3,) * mask.ndim, bool)
    labelled, count = ndimage.label(mask, structure=structure)
    return labelled, int(count)


def detection_counts(
    reference: np.ndarray, prediction: np.ndarray, min_iou: float = 0.0
) -> DetectionCounts:
    """Count TP/FP/FN lesions between two binary masks on one grid (see module docstring)."""
    ref_ids, n_ref = _components(reference.astype(bool))
    pred_ids, n_pred = _components(prediction.astype(bool))
    if n_ref == 0 or n_pred == 0:
        return DetectionCounts(n_ref, n_pred, 0, n_pred, n_ref)

    both = (ref_ids > 0) & (pred_ids > 0)
    pairs, shared = np.unique(np.stack([ref_ids[both], pred_ids[both]]), axis=1, return_counts=True)
    ref_sizes = np.bincount(ref_ids.ravel(), minlength=n_ref + 1)
    pred_sizes = np.bincount(pred_ids.ravel(), minlength=n_pred + 1)
    union = ref_sizes[pairs[0]] + pred_sizes[pairs[1]] - shared
    matched = shared / union > min_iou
    detected_ref = np.unique(pairs[0][matched])
    matched_pred = np.unique(pairs[1][matched])
    return DetectionCounts(
        reference_lesions=n_ref,
        predicted_lesions=n_pred,
        true_positive=len(detected_ref),
        false_positive=n_pred - len(matched_pred),
        false_negative=n_ref - len(detected_ref),
    )
