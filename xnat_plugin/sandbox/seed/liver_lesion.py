"""The classification task's sessions: an abdominal phantom with or without one liver lesion.

The lesion is a hypodense sphere of 8-25 mm, 18-30 HU darker than the liver it sits in, with a
soft edge (partial volume over about 1.5 mm), wholly inside the liver. The organs' texture
noise (σ 15-20 HU, `phantom.py`) is of the same order as the contrast: a lesion is visible, a
threshold does not find it, and the smallest ones span two or three pixels of a 3 mm grid.

Classes are balanced across sites: sessions go to the sites in turn (`site_for_session`), and
at each site every second session has a lesion (`has_lesion`). The class is written as the
session field `CLASS_FIELD` (`lesion` or `no_lesion`).

Deterministic: the same seed gives the same lesion, bit for bit.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from xnat_plugin.errors import UserError
from xnat_plugin.sandbox.seed.phantom import HU_RANGE, Phantom

CLASS_FIELD = "diagnosis"
PRESENT, ABSENT = "lesion", "no_lesion"
CLASSES = (ABSENT, PRESENT)
DIAMETER_MM = (8.0, 25.0)
CONTRAST_HU = (18.0, 30.0)
EDGE_MM = 1.5  # the width over which the lesion's edge fades into the liver
MARGIN_MM = 3.0  # liver all round the lesion, at the least
LIVER = 1  # the liver's value in the phantom's labels


@dataclass(frozen=True)
class LiverLesion:
    center_mm: tuple[float, float, float]  # patient LPS (x, y, z)
    diameter_mm: float
    contrast_hu: float  # how much darker than the liver


def has_lesion(index: int, site_count: int) -> bool:
    """Session `index` (1-based) of a project spread over `site_count` sites in turn: at each
    site, the first, third, … session has a lesion, the second, fourth, … none."""
    if index < 1 or site_count < 1:
        raise ValueError(f"index {index} and site count {site_count} must be at least 1")
    return ((index - 1) // site_count) % 2 == 0


def add_liver_lesion(phantom: Phantom) -> tuple[Phantom, LiverLesion]:
    """The same phantom with one lesion in its liver, and where the lesion is."""
    rng = np.random.default_rng([phantom.seed, 0x1E51])
    diameter = float(rng.uniform(*DIAMETER_MM))
    contrast = float(rng.uniform(*CONTRAST_HU))
    spacing = np.array(phantom.spacing_mm)  # (z, y, x)
    liver = phantom.labels == LIVER
    depth = ndimage.distance_transform_edt(liver, sampling=spacing)
    room = depth >= diameter / 2 + MARGIN_MM
    if not room.any():
        # A small liver on a coarse grid: the largest lesion that fits, but never under 8 mm.
        diameter = max(DIAMETER_MM[0], 2 * (float(depth.max()) - MARGIN_MM))
        room = depth >= diameter / 2 + MARGIN_MM
        if not room.any():
            raise UserError(
                f"the liver of phantom seed {phantom.seed} on a {phantom.shape} grid has no room "
                f"for a {DIAMETER_MM[0]:g} mm lesion: seed with a larger --matrix or --slices"
            )
    candidates = np.argwhere(room)
    center_voxel = candidates[int(rng.integers(len(candidates)))]
    grid = np.indices(phantom.shape, dtype=np.float32)
    distance = np.sqrt(
        sum(((grid[axis] - center_voxel[axis]) * spacing[axis]) ** 2 for axis in range(3))
    )
    # 1 inside, 0 outside, a linear fade over EDGE_MM across the surface.
    profile = np.clip((diameter / 2 - distance) / EDGE_MM + 0.5, 0.0, 1.0)
    hu = phantom.hu.astype(np.float32) - contrast * profile * liver
    hu = np.clip(np.rint(hu), *HU_RANGE).astype(np.int16)
    origin = phantom.origin_mm  # LPS of voxel (0, 0, 0); rows run along y, columns along x
    center = (
        float(origin[0] + center_voxel[2] * spacing[2]),
        float(origin[1] + center_voxel[1] * spacing[1]),
        float(origin[2] + center_voxel[0] * spacing[0]),
    )
    lesion = LiverLesion(
        center_mm=center, diameter_mm=round(diameter, 2), contrast_hu=round(contrast, 2)
    )
    return dataclasses.replace(phantom, hu=hu), lesion


def lesion_voxel(phantom: Phantom, lesion: LiverLesion) -> tuple[int, int, int]:
    """The (z, y, x) voxel of the lesion's centre."""
    origin, spacing = phantom.origin_mm, phantom.spacing_mm
    return (
        round((lesion.center_mm[2] - origin[2]) / spacing[0]),
        round((lesion.center_mm[1] - origin[1]) / spacing[1]),
        round((lesion.center_mm[0] - origin[0]) / spacing[2]),
    )


def lesion_at_every_second_session(
    phantom: Phantom, index: int, site_count: int
) -> tuple[Phantom, dict[str, str]]:
    """The classification task's session `index`: its phantom (with a lesion at every second
    session of each site) and its class as the session field `CLASS_FIELD`."""
    if not has_lesion(index, site_count):
        return phantom, {CLASS_FIELD: ABSENT}
    with_lesion, _ = add_liver_lesion(phantom)
    return with_lesion, {CLASS_FIELD: PRESENT}
