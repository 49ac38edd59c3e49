"""Findings as a DICOM SR measurement report (TID 1500, highdicom's `Comprehensive3DSR`).

One TID 1410 planar ROI group per finding: its box as a closed `POLYLINE` (a rectangle, SCOORD
in the pixel coordinates of the source image it names) on the series' slice through the box's
centre, the finding type (SNOMED "Nodule" or "Lesion"), a tracking identifier and UID, the
algorithm, and two measurements: `Diameter` (SNOMED 81827009; the box's longest edge, mm) and
`Certainty of Finding` (DCM 111012; the detector's score, unitless). Pixel coordinates follow
DICOM's SCOORD convention: the top-left corner of the image is (0, 0), the centre of the
top-left pixel (0.5, 0.5); column first. Scan-frame boxes (`containers.common.lesions`) are
along the series' own rows and columns, so the rectangle is exact on oblique series too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from containers.common.box_picture import centre_slice
from containers.common.dicom_series import Series
from containers.common.findings import Finding
from containers.common.lesions import ScanFrame

NODULE_LABELS = ("nodule", "lung nodule", "pulmonary nodule")


@dataclass(frozen=True)
class ReportIdentity:
    sop_instance_uid: str
    series_instance_uid: str
    model_name: str
    model_version: str
    series_number: int = 401
    manufacturer: str = "xnat-monai"


def box_rectangle(frame: ScanFrame, box_mm: Sequence[float]) -> np.ndarray:
    """The (5, 2) closed polyline (column, row) of a scan-frame box's rows and columns."""
    lo = np.asarray(box_mm[:2], float) / np.asarray(frame.spacing[:2]) + 0.5
    hi = np.asarray(box_mm[3:5], float) / np.asarray(frame.spacing[:2]) + 0.5
    return np.array(
        [[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]], [lo[0], lo[1]]]
    )


def rectangle_box_columns_rows(rectangle: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) continuous voxel indices (i, j) of a rectangle written by `box_rectangle`."""
    points = np.asarray(rectangle, float) - 0.5
    return points.min(axis=0), points.max(axis=0)


def build_measurement_report(
    series: Series, findings: Sequence[Finding], identity: ReportIdentity
) -> object:
    """The SR (a `highdicom.sr.Comprehensive3DSR`) of scan-frame `findings` on `series`."""
    import highdicom as hd
    import pydicom
    from pydicom.sr.codedict import codes

    frame = ScanFrame.of(series)
    headers: dict[int, pydicom.Dataset] = {}
    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=hd.UID(), name=f"{identity.model_name} {identity.model_version}"[:64]
        ),
    )
    algorithm = hd.sr.AlgorithmIdentification(
        name=identity.model_name[:64], version=identity.model_version[:64] or "unknown"
    )
    groups = []
    for number, finding in enumerate(findings, start=1):
        k = centre_slice(frame, finding.box_mm)
        if k not in headers:
            headers[k] = pydicom.dcmread(series.paths[k], stop_before_pixels=True)
        region = hd.sr.ImageRegion(
            graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
            graphic_data=box_rectangle(frame, finding.box_mm),
            source_image=hd.sr.SourceImageForRegion.from_source_image(headers[k]),
        )
        edges = np.asarray(finding.box_mm[3:]) - np.asarray(finding.box_mm[:3])
        nodule = finding.label.lower() in NODULE_LABELS
        groups.append(
            hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(
                    uid=hd.UID(), identifier=f"finding {number}"
                ),
                referenced_region=region,
                finding_type=codes.SCT.Nodule if nodule else codes.SCT.Lesion,
                algorithm_id=algorithm,
                measurements=[
                    hd.sr.Measurement(
                        name=codes.SCT.Diameter,
                        value=round(float(edges.max()), 3),
                        unit=codes.UCUM.Millimeter,
                        algorithm_id=algorithm,
                    ),
                    hd.sr.Measurement(
                        name=codes.DCM.CertaintyOfFinding,
                        value=float(finding.score),
                        unit=hd.sr.CodedConcept("1", "UCUM", "no units"),
                        algorithm_id=algorithm,
                    ),
                ],
            )
        )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=device),
        procedure_reported=hd.sr.CodedConcept("25045-6", "LN", "CT unspecified body region"),
        imaging_measurements=groups or None,
        title=codes.cid7021.ImagingMeasurementReport,
    )
    evidence = list(headers.values()) or [pydicom.dcmread(series.paths[0], stop_before_pixels=True)]
    return hd.sr.Comprehensive3DSR(
        evidence=evidence,
        content=report,
        series_instance_uid=identity.series_instance_uid,
        series_number=identity.series_number,
        sop_instance_uid=identity.sop_instance_uid,
        instance_number=1,
        manufacturer=identity.manufacturer,
        series_description=f"MONAI {identity.model_name} findings"[:64],
        is_complete=True,
        is_final=False,
        is_verified=False,
    )


def write_measurement_report(
    path: Path, series: Series, findings: Sequence[Finding], identity: ReportIdentity
) -> object:
    report = build_measurement_report(series, findings, identity)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    report.save_as(path, enforce_file_format=True)  # type: ignore[attr-defined]
    return report
