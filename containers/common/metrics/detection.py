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
# Above this many (reference, prediction) id pairs the overlap table is built sparsely.
_MAX_DENSE_TABLE = 4_000_000


@dataclass(frozen=True)
class DetectionCounts:
    reference_lesions: int
    predicted_lesions: int
    true_positive: int
    false_positive: int
    false_negative: int


def connected_components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Component ids (26-connected in 3D, 1..n) of a boolean mask, and n."""
    structure = _FULL_CONNECTIVITY_3D if mask.ndim == 3 else np.ones((3,) * mask.ndim, bool)
    # uint16 ids halve the memory of int32 on CT-sized crops; far more components fall back.
    try:
        labelled = np.empty(mask.shape, dtype=np.uint16)
        count = ndimage.label(mask, structure=structure, output=labelled)
    except RuntimeError:
        labelled, count = ndimage.label(mask, structure=structure)
    return labelled, int(count)


def _overlap_table(
    ref_ids: np.ndarray, pred_ids: np.ndarray, n_ref: int, n_pred: int
) -> np.ndarray:
    """Voxel counts of every (reference id, predicted id) pair, background 0 included.

    Row sums are the reference component sizes, column sums the predicted ones. Built in slabs
    so no crop-sized int64 array exists at once.
    """
    width = n_pred + 1
    cells = (n_ref + 1) * width
    table = np.zeros(cells, dtype=np.int64)
    for start in range(0, ref_ids.shape[0], 8):
        code = ref_ids[start : start + 8].astype(np.int64) * width
        code += pred_ids[start : start + 8]
        table += np.bincount(code.ravel(), minlength=cells)
    return table.reshape(n_ref + 1, width)


def _match_dense(
    ref_ids: np.ndarray, pred_ids: np.ndarray, n_ref: int, n_pred: int, min_iou: float
) -> tuple[int, int]:
    """(detected reference components, matched predicted components) from the full table."""
    table = _overlap_table(ref_ids, pred_ids, n_ref, n_pred)
    ref_sizes = table.sum(axis=1)[1:, None]
    pred_sizes = table.sum(axis=0)[None, 1:]
    shared = table[1:, 1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = shared / (ref_sizes + pred_sizes - shared)
    matched = (shared > 0) & (iou > min_iou)
    return int(np.count_nonzero(matched.any(axis=1))), int(np.count_nonzero(matched.any(axis=0)))


def _match_sparse(
    ref_ids: np.ndarray, pred_ids: np.ndarray, n_ref: int, n_pred: int, min_iou: float
) -> tuple[int, int]:
    """The same as `_match_dense` for speckled masks with too many components for a table."""
    both = (ref_ids > 0) & (pred_ids > 0)
    codes, shared = np.unique(
        ref_ids[both].astype(np.int64) * (n_pred + 1) + pred_ids[both], return_counts=True
    )
    ref_of, pred_of = np.divmod(codes, n_pred + 1)
    ref_sizes = np.bincount(ref_ids.ravel(), minlength=n_ref + 1)
    pred_sizes = np.bincount(pred_ids.ravel(), minlength=n_pred + 1)
    iou = shared / (ref_sizes[ref_of] + pred_sizes[pred_of] - shared)
    matched = iou > min_iou
    return len(np.unique(ref_of[matched])), len(np.unique(pred_of[matched]))


def detection_counts(
    reference: np.ndarray, prediction: np.ndarray, min_iou: float = 0.0
) -> DetectionCounts:
    """Count TP/FP/FN lesions between two binary masks on one grid (see module docstring)."""
    ref_ids, n_ref = connected_components(reference.astype(bool, copy=False))
    pred_ids, n_pred = connected_components(prediction.astype(bool, copy=False))
    if n_ref == 0 or n_pred == 0:
        return DetectionCounts(n_ref, n_pred, 0, n_pred, n_ref)

    if (n_ref + 1) * (n_pred + 1) <= _MAX_DENSE_TABLE:
        detected_ref, matched_pred = _match_dense(ref_ids, pred_ids, n_ref, n_pred, min_iou)
    else:
        detected_ref, matched_pred = _match_sparse(ref_ids, pred_ids, n_ref, n_pred, min_iou)
    return DetectionCounts(
        reference_lesions=n_ref,
        predicted_lesions=n_pred,
        true_positive=detected_ref,
        false_positive=n_pred - matched_pred,
        false_negative=n_ref - detected_ref,
    )
