"""Regions on a DICOM series → one RT Structure Set (pydicom; highdicom has no RT module).

The RT Structure Set IOD (PS3.3 A.19): Patient, General Study, RT Series, General Equipment,
Structure Set, ROI Contour, RT ROI Observations and SOP Common modules. Every contour is a
`CLOSED_PLANAR` polygon in patient coordinates (LPS mm) on one slice of the source series and
names that slice's image (Contour Image Sequence), which is how XNAT's OHIF viewer places
contours on the series it shows. A detection's box becomes one rectangle on every slice whose
centre lies inside the box (`box_contours`), so `rtstruct_reader` fills exactly the box's voxels.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian
from pydicom.valuerep import format_number_as_ds

from containers.common.dicom_series import Series
from containers.common.lesions import ScanFrame
from containers.common.rtstruct_reader import RTSTRUCT_SOP_CLASS

# The Structure Set module's RT Referenced Study names the study by this (retired) SOP class.
DETACHED_STUDY_MANAGEMENT = "1.2.840.10008.3.1.2.3.1"
PATIENT_MODULE = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex",
)  # fmt: skip
STUDY_MODULE = (
    "StudyInstanceUID", "StudyDate", "StudyTime", "ReferringPhysicianName", "StudyID",
    "AccessionNumber", "StudyDescription",
)  # fmt: skip


@dataclass(frozen=True)
class RoiContours:
    """One ROI: a name and closed polygons, each on slice k of the series."""

    name: str
    contours: list[tuple[int, np.ndarray]]  # (slice k, (N, 3) LPS mm)
    color: tuple[int, int, int] = (255, 64, 0)
    algorithm: str = "AUTOMATIC"  # ROIGenerationAlgorithm: AUTOMATIC, SEMIAUTOMATIC, MANUAL
    description: str = ""


@dataclass(frozen=True)
class StructureSetIdentity:
    sop_instance_uid: str
    series_instance_uid: str
    label: str  # StructureSetLabel, at most 16 characters
    series_number: int = 400
    series_description: str = ""
    manufacturer: str = "xnat-monai"
    model_name: str = ""
    software_versions: str = ""
    interpreter: str = ""  # ROIInterpreter of every ROI, e.g. the model's name
    when: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


def box_contours(frame: ScanFrame, box_mm: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """A scan-frame box as one rectangle (LPS) per slice whose centre lies inside it."""
    k_slice = frame.covered_voxels(box_mm)[2]
    lo, hi = np.asarray(box_mm[:3], float), np.asarray(box_mm[3:], float)
    contours = []
    for k in range(k_slice.start, k_slice.stop):
        z = k * frame.spacing[2]
        corners = np.array(
            [[lo[0], lo[1], z], [hi[0], lo[1], z], [hi[0], hi[1], z], [lo[0], hi[1], z]]
        )
        contours.append((k, frame.to_lps(corners)))
    return contours


def build_rtstruct(
    series: Series, rois: Sequence[RoiContours], identity: StructureSetIdentity
) -> Dataset:
    """The RT Structure Set of `rois` drawn on `series`."""
    source = series.first_header
    ds = Dataset()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = RTSTRUCT_SOP_CLASS
    meta.MediaStorageSOPInstanceUID = identity.sop_instance_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta
    ds.SpecificCharacterSet = source.get("SpecificCharacterSet", "ISO_IR 192")
    ds.SOPClassUID = RTSTRUCT_SOP_CLASS
    ds.SOPInstanceUID = identity.sop_instance_uid
    for keyword in (*PATIENT_MODULE, *STUDY_MODULE):
        setattr(ds, keyword, source.get(keyword, ""))
    ds.StudyInstanceUID = series.study_instance_uid
    date, time = identity.when.strftime("%Y%m%d"), identity.when.strftime("%H%M%S")
    ds.Modality = "RTSTRUCT"
    ds.SeriesInstanceUID = identity.series_instance_uid
    ds.SeriesNumber = identity.series_number
    ds.SeriesDescription = identity.series_description
    ds.SeriesDate, ds.SeriesTime = date, time
    ds.InstanceNumber = 1
    ds.OperatorsName = ""
    ds.Manufacturer = identity.manufacturer
    ds.ManufacturerModelName = identity.model_name
    ds.SoftwareVersions = identity.software_versions
    ds.FrameOfReferenceUID = series.frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    ds.StructureSetLabel = identity.label[:16]
    ds.StructureSetDate, ds.StructureSetTime = date, time
    ds.ReferencedFrameOfReferenceSequence = DicomSequence([_referenced_frame(series)])
    ds.StructureSetROISequence = DicomSequence()
    ds.ROIContourSequence = DicomSequence()
    ds.RTROIObservationsSequence = DicomSequence()
    for number, roi in enumerate(rois, start=1):
        ds.StructureSetROISequence.append(_roi_item(number, roi, series))
        ds.ROIContourSequence.append(_contour_item(number, roi, series))
        ds.RTROIObservationsSequence.append(_observation_item(number, roi, identity))
    return ds


def _image_reference(series: Series, k: int) -> Dataset:
    item = Dataset()
    header = series.headers[k] if series.headers else series.first_header
    item.ReferencedSOPClassUID = str(header.get("SOPClassUID", series.first_header.SOPClassUID))
    item.ReferencedSOPInstanceUID = series.sop_instance_uids[k]
    return item


def _referenced_frame(series: Series) -> Dataset:
    referenced_series = Dataset()
    referenced_series.SeriesInstanceUID = series.series_instance_uid
    referenced_series.ContourImageSequence = DicomSequence(
        [_image_reference(series, k) for k in range(series.shape[2])]
    )
    study = Dataset()
    study.ReferencedSOPClassUID = DETACHED_STUDY_MANAGEMENT
    study.ReferencedSOPInstanceUID = series.study_instance_uid
    study.RTReferencedSeriesSequence = DicomSequence([referenced_series])
    frame = Dataset()
    frame.FrameOfReferenceUID = series.frame_of_reference_uid
    frame.RTReferencedStudySequence = DicomSequence([study])
    return frame


def _roi_item(number: int, roi: RoiContours, series: Series) -> Dataset:
    item = Dataset()
    item.ROINumber = number
    item.ReferencedFrameOfReferenceUID = series.frame_of_reference_uid
    item.ROIName = roi.name[:64]
    if roi.description:
        item.ROIDescription = roi.description[:1024]
    item.ROIGenerationAlgorithm = roi.algorithm
    return item


def _contour_item(number: int, roi: RoiContours, series: Series) -> Dataset:
    item = Dataset()
    item.ROIDisplayColor = list(roi.color)
    item.ReferencedROINumber = number
    item.ContourSequence = DicomSequence()
    for n, (k, points) in enumerate(roi.contours, start=1):
        contour = Dataset()
        contour.ContourNumber = n
        contour.ContourImageSequence = DicomSequence([_image_reference(series, k)])
        contour.ContourGeometricType = "CLOSED_PLANAR"
        contour.NumberOfContourPoints = len(points)
        contour.ContourData = [format_number_as_ds(float(v)) for v in np.ravel(points)]
        item.ContourSequence.append(contour)
    return item


def _observation_item(number: int, roi: RoiContours, identity: StructureSetIdentity) -> Dataset:
    item = Dataset()
    item.ObservationNumber = number
    item.ReferencedROINumber = number
    item.RTROIInterpretedType = ""
    item.ROIInterpreter = identity.interpreter[:64]
    return item


def write_rtstruct(
    path: Path, series: Series, rois: Sequence[RoiContours], identity: StructureSetIdentity
) -> Dataset:
    """Build the structure set and save it as a DICOM file (with preamble and file meta)."""
    dataset = build_rtstruct(series, rois, identity)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    dataset.save_as(path, enforce_file_format=True)
    return dataset
