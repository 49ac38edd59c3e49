"""Hand-made label maps with known geometry for the metric tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def box(
    shape: Sequence[int], start: Sequence[int], stop: Sequence[int], value: int = 1
) -> np.ndarray:
    volume = np.zeros(tuple(shape), dtype=np.uint8)
    volume[tuple(slice(a, b) for a, b in zip(start, stop, strict=True))] = value
    return volume


def ball(
    shape: Sequence[int], centre_mm: Sequence[float], radius_mm: float, spacing: Sequence[float]
) -> np.ndarray:
    """Voxels whose centre lies within `radius_mm` of `centre_mm` (coordinates = index × spacing)."""
    grids = np.meshgrid(
        *(np.arange(n) * s for n, s in zip(shape, spacing, strict=True)), indexing="ij"
    )
    squared = sum((g - c) ** 2 for g, c in zip(grids, centre_mm, strict=True))
    return (squared <= radius_mm**2).astype(np.uint8)


def blobs(shape: Sequence[int], seed: int, count: int = 4) -> np.ndarray:
    """A few overlapping random ellipsoids: irregular surfaces for agreement tests."""
    rng = np.random.default_rng(seed)
    grids = np.meshgrid(*(np.arange(n, dtype=float) for n in shape), indexing="ij")
    mask = np.zeros(tuple(shape), dtype=bool)
    for _ in range(count):
        centre = [rng.uniform(0.3 * n, 0.7 * n) for n in shape]
        radii = [rng.uniform(0.1 * n, 0.25 * n) for n in shape]
        mask |= sum(((g - c) / r) ** 2 for g, c, r in zip(grids, centre, radii, strict=True)) <= 1
    return mask.astype(np.uint8)
