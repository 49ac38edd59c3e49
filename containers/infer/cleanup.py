"""Keep only the largest connected component of each label (organs are one piece)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

# 26-connectivity: diagonal neighbours belong to the same organ.
_FULL_CONNECTIVITY = np.ones((3, 3, 3), dtype=bool)


def keep_largest_component(label_map: np.ndarray, values: list[int]) -> np.ndarray:
    """Drop every island of each label in `values` but its largest; works in place, returns it."""
    boxes = ndimage.find_objects(label_map, max_label=max(values, default=0))
    for value in values:
        box = boxes[value - 1] if value - 1 < len(boxes) else None
        if box is None:
            continue
        region = label_map[box]
        mask = region == value
        components, count = ndimage.label(mask, structure=_FULL_CONNECTIVITY)
        if count <= 1:
            continue
        sizes = np.bincount(components.ravel())
        sizes[0] = 0
        region[mask & (components != int(np.argmax(sizes)))] = 0
    return label_map
