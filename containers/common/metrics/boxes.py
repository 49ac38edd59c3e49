"""Axis-aligned boxes in millimetres and the rule that says when a detection hits a lesion.

A set of boxes is a float array of shape (N, 6): `[lo_0, lo_1, lo_2, hi_0, hi_1, hi_2]`, the low
and high faces along three axes of one frame in mm (MONAI's `xyzxyz` box mode with
`TO_REMOVE = 0`: a box from 1 to 2 is 1 mm wide). Every box compared with another must be in
the same frame; the detection steps use the source series' own axes (row, column and slice
directions, so a box stays a box on an oblique series), see `containers.common.lesions`.

Hit rules (stated in every report):
- `centre-in-box`: a detection hits a lesion when the detection's centre lies inside the
  lesion's reference box (faces included);
- `iou>=T`: a detection hits a lesion when their boxes' intersection over union is at least T.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

BOX_WIDTH = 6


def as_boxes(values: object, what: str = "boxes") -> np.ndarray:
    """`values` as an (N, 6) float64 array of finite boxes with lo <= hi, or ValueError."""
    boxes = np.asarray(values, dtype=np.float64)
    if boxes.size == 0:
        return np.zeros((0, BOX_WIDTH), dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != BOX_WIDTH:
        raise ValueError(f"{what} must have shape (N, 6) [lo x3, hi x3], got {boxes.shape}")
    if not np.isfinite(boxes).all():
        raise ValueError(f"{what} hold a NaN or infinite coordinate")
    if (boxes[:, 3:] < boxes[:, :3]).any():
        raise ValueError(f"{what} have a high face below the low face")
    return boxes


def box_centres(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, :3] + boxes[:, 3:]) / 2.0


def box_sizes(boxes: np.ndarray) -> np.ndarray:
    return boxes[:, 3:] - boxes[:, :3]


def box_volumes(boxes: np.ndarray) -> np.ndarray:
    return np.prod(box_sizes(boxes), axis=1)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) intersection over union; 0 where both boxes are empty."""
    low = np.maximum(a[:, None, :3], b[None, :, :3])
    high = np.minimum(a[:, None, 3:], b[None, :, 3:])
    inter = np.prod(np.clip(high - low, 0.0, None), axis=2)
    union = box_volumes(a)[:, None] + box_volumes(b)[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
    return iou


_IOU_RULE = re.compile(r"^iou>=(0(?:\.\d+)?|1(?:\.0+)?)$")


@dataclass(frozen=True)
class HitRule:
    """When a detection counts as finding a lesion (see the module docstring)."""

    kind: Literal["centre-in-box", "iou"]
    iou_threshold: float = 0.0

    @classmethod
    def parse(cls, text: str) -> HitRule:
        """`centre-in-box` or `iou>=T` (0 < T <= 1), as a command input writes it."""
        cleaned = text.strip().lower().replace(" ", "")
        if cleaned in ("centre-in-box", "center-in-box"):
            return cls("centre-in-box")
        found = _IOU_RULE.match(cleaned)
        if found and float(found.group(1)) > 0:
            return cls("iou", float(found.group(1)))
        raise ValueError(
            f"hit rule {text!r} is not known: use 'centre-in-box' or 'iou>=T' with 0 < T <= 1"
        )

    @property
    def name(self) -> str:
        return "centre-in-box" if self.kind == "centre-in-box" else f"iou>={self.iou_threshold:g}"

    def describe(self) -> str:
        """The sentence a report prints under its detection figures."""
        if self.kind == "centre-in-box":
            return (
                "A detection finds a lesion when its box centre lies inside the lesion's "
                "reference box."
            )
        return (
            "A detection finds a lesion when the intersection over union of their boxes is "
            f"at least {self.iou_threshold:g}."
        )

    def hits(self, detections: np.ndarray, lesions: np.ndarray) -> np.ndarray:
        """(len(detections), len(lesions)) booleans: which detection hits which lesion."""
        if len(detections) == 0 or len(lesions) == 0:
            return np.zeros((len(detections), len(lesions)), dtype=bool)
        if self.kind == "centre-in-box":
            centres = box_centres(detections)[:, None, :]
            inside = (centres >= lesions[None, :, :3]) & (centres <= lesions[None, :, 3:])
            return np.asarray(inside.all(axis=2))
        return box_iou(detections, lesions) >= self.iou_threshold
