"""Keep only the largest connected components of each label: as many as the label has pieces in
the training references (one for most organs, two for paired ones sharing a label)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import cc3d
import numpy as np
import torch


def keep_largest_component(
    label_map: np.ndarray, values: list[int], keep: Mapping[int, int] | None = None
) -> np.ndarray:
    """Drop every island of each label in `values` but its `keep[value]` largest (default 1);
    works in place, returns `label_map`.

    Islands are 26-connected (diagonal neighbours belong to the same organ) and found for all
    labels in one pass; labels not in `values` are left as they are.
    """
    if not values or not label_map.any():
        return label_map
    if not (label_map.flags.c_contiguous or label_map.flags.f_contiguous):
        label_map[...] = keep_largest_component(label_map.copy(), values, keep)
        return label_map
    components, count = cc3d.connected_components(
        label_map, connectivity=26, return_N=True, out_dtype=np.uint32
    )
    # Both arrays share one memory order (cc3d keeps its input's), so the flat views line
    # up voxel for voxel without a copy.
    layout: Literal["C", "F"] = "C" if label_map.flags.c_contiguous else "F"
    flat = components.ravel(order=layout)
    # torch counts int32 in place; numpy's bincount would first copy every voxel to int64.
    sizes = torch.bincount(torch.from_numpy(flat.view(np.int32)), minlength=count + 1).numpy()
    owner = np.zeros(count + 1, dtype=label_map.dtype)
    owner[flat] = label_map.ravel(order=layout)
    owner[0] = 0
    drop = np.zeros(count + 1, dtype=bool)
    for value in values:
        mine = np.flatnonzero(owner == value)
        wanted = max(1, (keep or {}).get(value, 1))
        if mine.size <= wanted:
            continue
        # Largest first; among equal sizes the first found (lowest index) wins, as a stable
        # sort keeps them in scan order.
        ranked = np.argsort(-sizes[mine], kind="stable")
        drop[mine[ranked[wanted:]]] = True
    if drop.any():
        label_map[drop[components]] = 0
    return label_map
