"""What a model found on the scan's grid, whichever pipeline produced it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class StageTimes:
    """Seconds per stage of the prediction (what report.json's timings show)."""

    preprocess_seconds: float = 0.0
    inference_seconds: float = 0.0  # sliding windows incl. forward passes
    forward_seconds: float = 0.0
    resample_seconds: float = 0.0  # scores back onto the scan's grid
    cleanup_seconds: float = 0.0  # largest components (ours) or the bundle's postprocessing
    forward_passes: int = 1
    windows: int = 0


@dataclass
class Segmentation:
    """One label map (`label_map`, values in `labels`), or one mask per label (`masks`,
    (labels, X, Y, Z), label value k at index k - 1) when the segments may overlap; then
    `label_map` is a picture of them, the smallest on top."""

    labels: dict[str, int]
    label_map: np.ndarray
    masks: np.ndarray | None = None
    model_grid_shape: list[int] = field(default_factory=list)
    times: StageTimes = field(default_factory=StageTimes)

    @classmethod
    def from_masks(
        cls, labels: dict[str, int], masks: np.ndarray, **kwargs: object
    ) -> Segmentation:
        return cls(labels=labels, label_map=display_map(masks), masks=masks, **kwargs)  # type: ignore[arg-type]

    @property
    def overlapping(self) -> bool:
        return self.masks is not None


def display_map(masks: np.ndarray) -> np.ndarray:
    """One label per voxel for pictures of overlapping masks: the smallest mask on top."""
    shown = np.zeros(masks.shape[1:], dtype=np.uint8)
    for index in np.argsort([-int(m.sum()) for m in masks], kind="stable"):
        shown[masks[index]] = index + 1
    return shown
