"""Where each label lives: per-label bounding boxes of two label maps, found in one pass each.

Every later computation (overlap counts, surfaces, lesions) works on the crop of the union box
of one label in the reference and the prediction, so its cost follows the organ, not the volume.
`component_boxes` gives one box per connected component: a lesion's reference box.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from containers.common.metrics.detection import connected_components


@dataclass(frozen=True)
class Box:
    """A half-open index box `[start, stop)` per axis."""

    start: tuple[int, ...]
    stop: tuple[int, ...]

    @property
    def slices(self) -> tuple[slice, ...]:
        return tuple(slice(a, b) for a, b in zip(self.start, self.stop, strict=True))

    def union(self, other: Box) -> Box:
        return Box(
            tuple(min(a, b) for a, b in zip(self.start, other.start, strict=True)),
            tuple(max(a, b) for a, b in zip(self.stop, other.stop, strict=True)),
        )

    def grown(self, margin: int, shape: Sequence[int]) -> Box:
        """The box widened by `margin` voxels on every side, clipped to the array."""
        return Box(
            tuple(max(0, a - margin) for a in self.start),
            tuple(min(n, b + margin) for b, n in zip(self.stop, shape, strict=True)),
        )


def boxes_by_label(label_map: np.ndarray, max_label: int) -> dict[int, Box]:
    """Bounding box of every label value 1..max_label present in `label_map`."""
    if label_map.dtype.kind not in "iu":
        raise ValueError(f"label map must hold integers, got {label_map.dtype}")
    # find_objects visits the array once and returns one box per value up to max_label.
    found = ndimage.find_objects(label_map, max_label=max_label)
    boxes: dict[int, Box] = {}
    for index, slices in enumerate(found, start=1):
        if slices is not None:
            boxes[index] = Box(tuple(s.start for s in slices), tuple(s.stop for s in slices))
    return boxes


def union_boxes(
    reference: np.ndarray, prediction: np.ndarray, labels: Sequence[int], margin: int = 1
) -> dict[int, Box | None]:
    """Per label, the union of its boxes in both maps widened by `margin`; None when absent."""
    max_label = max(labels, default=0)
    ref_boxes = boxes_by_label(reference, max_label)
    pred_boxes = boxes_by_label(prediction, max_label)
    result: dict[int, Box | None] = {}
    for value in labels:
        a, b = ref_boxes.get(value), pred_boxes.get(value)
        box = a.union(b) if a and b else (a or b)
        result[value] = box.grown(margin, reference.shape) if box else None
    return result


def count_voxels_by_label(label_map: np.ndarray, max_label: int, slab: int = 16) -> np.ndarray:
    """Voxel count of every value 0..max_label, in slabs so no full-size int64 copy is made."""
    counts = np.zeros(max_label + 1, dtype=np.int64)
    for start in range(0, label_map.shape[0], slab):
        part = label_map[start : start + slab].ravel()
        counts += np.bincount(part, minlength=max_label + 1)[: max_label + 1]
    return counts


@dataclass(frozen=True)
class Component:
    """One connected component of a mask: its box and how many voxels it holds."""

    box: Box
    voxels: int


def component_boxes(mask: np.ndarray) -> list[Component]:
    """One box per connected component of `mask` (26-connected in 3D, as lesions are counted
    in `detection`), in the order of their first voxel."""
    ids, count = connected_components(mask.astype(bool, copy=False))
    if count == 0:
        return []
    sizes = np.bincount(ids.ravel(), minlength=count + 1)
    found = ndimage.find_objects(ids, max_label=count)
    return [
        Component(Box(tuple(s.start for s in slices), tuple(s.stop for s in slices)), int(sizes[n]))
        for n, slices in enumerate(found, start=1)
        if slices is not None
    ]
