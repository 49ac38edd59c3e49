"""Keep only the largest connected components of each label: as many as the label has pieces in
the training references (one for most organs, two for paired ones sharing a label)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy import ndimage

# 26-connectivity: diagonal neighbours belong to the same organ.
_FULL_CONNECTIVITY = np.ones((3, 3, 3), dtype=bool)


def keep_largest_component(
    label_map: np.ndarray, values: list[int], keep: Mapping[int, int] | None = None
) -> np.ndarray:
    """Drop every island of each label in `values` but its `keep[value]` largest (default 1);
    works in place, returns `label_map`."""
    boxes = ndimage.find_objects(label_map, max_label=max(values, default=0))
    for value in values:
        box = boxes[value - 1] if value - 1 < len(boxes) else None
        if box is None:
            continue
        region = label_map[box]
        mask = region == value
        components, count = ndimage.label(mask, structure=_FULL_CONNECTIVITY)
        wanted = max(1, (keep or {}).get(value, 1))
        if count <= wanted:
            continue
        sizes = np.bincount(components.ravel())
        sizes[0] = 0
        kept = np.argsort(sizes)[::-1][:wanted]
        region[mask & ~np.isin(components, kept)] = 0
    return label_map
