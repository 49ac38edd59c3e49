"""The scanner sites of the synthetic study: each its own vendor, grid and pixel storage.

Default grids are small on purpose (training and the demo run on two CPU cores):

| site   | manufacturer / model              | matrix | in-plane mm | slices × mm  | stored |
|--------|-----------------------------------|--------|-------------|--------------|--------|
| SITE_A | SIEMENS / SOMATOM Definition AS   | 96×96  | 3.0         | 40 × 5.0     | uint16, intercept -1024 |
| SITE_B | GE MEDICAL SYSTEMS / LightSpeed VCT | 96×96 | 3.3        | 48 × 4.0     | int16, intercept 0 |
| SITE_C | Philips / Brilliance 64           | 96×96  | 3.6         | 44 × 4.5     | uint16, intercept -1024 |

All three cover about 20 cm of abdomen. `with_grid` makes a larger grid of the same site (for
benchmarks: 512×512×200).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from xnat_plugin.errors import UserError


@dataclass(frozen=True)
class Site:
    name: str
    manufacturer: str
    model: str
    institution: str
    matrix: int  # rows = columns
    pixel_spacing_mm: float
    slices: int
    slice_thickness_mm: float
    signed_pixels: bool  # int16 with intercept 0, else uint16 with intercept -1024
    kvp: int
    kernel: str
    # Some scanners write instance 1 at the head end, some at the feet: readers must sort.
    head_first_instances: bool
    # What the vendor calls the localizer series it takes first.
    localizer_name: str = "LOCALIZER"

    @property
    def rescale_intercept(self) -> int:
        return 0 if self.signed_pixels else -1024

    def with_grid(self, matrix: int | None = None, slices: int | None = None) -> Site:
        """The same site on another grid, keeping the field of view and the z coverage."""
        changes: dict[str, object] = {}
        if matrix is not None:
            changes["matrix"] = matrix
            changes["pixel_spacing_mm"] = self.pixel_spacing_mm * self.matrix / matrix
        if slices is not None:
            changes["slices"] = slices
            changes["slice_thickness_mm"] = self.slice_thickness_mm * self.slices / slices
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


SITES: tuple[Site, ...] = (
    Site(
        name="SITE_A",
        manufacturer="SIEMENS",
        model="SOMATOM Definition AS",
        institution="North General Hospital",
        matrix=96,
        pixel_spacing_mm=3.0,
        slices=40,
        slice_thickness_mm=5.0,
        signed_pixels=False,
        kvp=120,
        kernel="B30f",
        head_first_instances=True,
        localizer_name="Topogram 0.6 T20f",
    ),
    Site(
        name="SITE_B",
        manufacturer="GE MEDICAL SYSTEMS",
        model="LightSpeed VCT",
        institution="Riverside Clinic",
        matrix=96,
        pixel_spacing_mm=3.3,
        slices=48,
        slice_thickness_mm=4.0,
        signed_pixels=True,
        kvp=120,
        kernel="STANDARD",
        head_first_instances=False,
        localizer_name="Scout",
    ),
    Site(
        name="SITE_C",
        manufacturer="Philips",
        model="Brilliance 64",
        institution="Lakeside Imaging Centre",
        matrix=96,
        pixel_spacing_mm=3.6,
        slices=44,
        slice_thickness_mm=4.5,
        signed_pixels=False,
        kvp=100,
        kernel="B",
        head_first_instances=True,
        localizer_name="Surview",
    ),
)


def site_named(name: str) -> Site:
    for site in SITES:
        if site.name == name:
            return site
    raise UserError(f"unknown site {name!r}: choose one of {', '.join(s.name for s in SITES)}")


def site_for_session(index: int, site_count: int) -> Site:
    """Sessions are spread over the first `site_count` sites in turn (1-based index)."""
    if not 1 <= site_count <= len(SITES):
        raise UserError(f"--sites must be between 1 and {len(SITES)}, got {site_count}")
    return SITES[(index - 1) % site_count]
