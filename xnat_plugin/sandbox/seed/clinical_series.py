"""The series of a seeded CT session, as a clinical CT exam holds them.

Every session has its axial series, on which the manual reference is drawn. Every second
session also holds what a clinical exam holds beside it: the localizer the scanner takes first
(two projection images, ImageType LOCALIZER) and a thin (1 mm) and a thick (10 mm)
reconstruction of the same volume. A scan's ID is its SeriesNumber, as XNAT's DICOM import
names it, and its type is the series description, as the import sets it:

| scan | series                 | description (e.g. SITE_A) | frames |
|------|------------------------|---------------------------|--------|
| 1    | localizer              | `Topogram 0.6 T20f`       | 2      |
| 2    | axial (the reference's)| `ABDOMEN 5mm`             | 40     |
| 3    | thin reconstruction    | `ABDOMEN 1mm THIN`        | 200    |
| 4    | thick reconstruction   | `ABDOMEN 10mm THICK`      | 20     |

Container Service's default scan rule passes over the localizer (too few frames) but cannot
choose among the three others: a project with such sessions sets its own rule, e.g. the series
description `ABDOMEN [0-9.]+mm` (what the demo sets).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydicom.uid import generate_uid

from xnat_plugin.sandbox.seed.ct_series import SeriesIdentity, write_ct_series, write_localizer
from xnat_plugin.sandbox.seed.phantom import Phantom, make_phantom

AXIAL_SERIES_NUMBER = 2
THIN_MM = 1.0
THICK_MM = 10.0
# The series description pattern that picks the axial series among these (the demo's rule).
AXIAL_DESCRIPTION_PATTERN = "ABDOMEN [0-9.]+mm"

Kind = Literal["localizer", "axial", "thin", "thick"]


@dataclass(frozen=True)
class PlannedSeries:
    kind: Kind
    number: int  # SeriesNumber: the scan ID XNAT gives the series
    description: str


@dataclass(frozen=True)
class WrittenSeries:
    series: PlannedSeries
    identity: SeriesIdentity
    files: list[Path]

    @property
    def scan_id(self) -> str:
        return str(self.series.number)


def planned_series(
    phantom: Phantom, with_reconstructions: bool, localizer_name: str
) -> tuple[PlannedSeries, ...]:
    axial = PlannedSeries(
        "axial", AXIAL_SERIES_NUMBER, f"{phantom.body_part} {phantom.spacing_mm[0]:g}mm"
    )
    if not with_reconstructions:
        return (axial,)
    return (
        PlannedSeries("localizer", 1, localizer_name),
        axial,
        PlannedSeries("thin", 3, f"{phantom.body_part} {THIN_MM:g}mm THIN"),
        PlannedSeries("thick", 4, f"{phantom.body_part} {THICK_MM:g}mm THICK"),
    )


def series_identity(axial: SeriesIdentity, series: PlannedSeries) -> SeriesIdentity:
    """The axial series' identity for the axial series; for the others, their own series UID
    (derived from the axial one, so reseeding gives the same UIDs) in the same study."""
    uid = (
        axial.series_uid
        if series.kind == "axial"
        else generate_uid(entropy_srcs=[axial.series_uid, series.kind])
    )
    return dataclasses.replace(
        axial, series_uid=uid, series_number=series.number, series_description=series.description
    )


def write_series(
    phantom: Phantom,
    identity: SeriesIdentity,
    plan: tuple[PlannedSeries, ...],
    folder: Path,
) -> list[WrittenSeries]:
    """Every planned series of the phantom's session as DICOM under `folder/<scan>/`."""
    written = []
    for series in plan:
        own = series_identity(identity, series)
        out_dir = Path(folder) / str(series.number)
        if series.kind == "localizer":
            files = write_localizer(phantom, out_dir, own)
        elif series.kind == "axial":
            files = write_ct_series(phantom, out_dir, own)
        else:
            thickness = THIN_MM if series.kind == "thin" else THICK_MM
            files = write_ct_series(_reconstruction(phantom, thickness), out_dir, own)
        written.append(WrittenSeries(series, own, files))
    return written


def _reconstruction(phantom: Phantom, thickness_mm: float) -> Phantom:
    """The same subject over the same length, reconstructed at another slice thickness."""
    coverage = phantom.shape[0] * phantom.spacing_mm[0]
    slices = max(2, round(coverage / thickness_mm))
    return make_phantom(phantom.seed, phantom.site, slices=slices)
