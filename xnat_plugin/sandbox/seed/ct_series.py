"""A phantom as a real DICOM CT series: one file per slice with complete headers; or as the
localizer a scanner takes first (two projection images).

Headers carry what readers and XNAT's importer rely on: patient/study/series/SOP UIDs, a frame
of reference, Modality CT, ImagePositionPatient/ImageOrientationPatient, PixelSpacing,
SliceThickness, RescaleSlope/Intercept (stored uint16 with intercept -1024, or int16 with
intercept 0, per site), and the site's Manufacturer, ManufacturerModelName and InstitutionName.
UIDs derive from the subject's seed, so reseeding gives the same files.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    generate_uid,
)

from xnat_plugin.sandbox.seed.phantom import Phantom

SYNTHETIC_STUDY_DATE = dt.date(2024, 3, 1)


@dataclass(frozen=True)
class SeriesIdentity:
    """Who and what a series belongs to (the DICOM patient, study and series)."""

    patient_id: str
    patient_name: str
    study_uid: str
    series_uid: str
    frame_of_reference_uid: str
    study_date: dt.date = SYNTHETIC_STUDY_DATE
    accession_number: str = ""
    series_number: int = 1
    series_description: str = "ABDOMEN 5mm"

    @classmethod
    def for_subject(cls, seed: int, subject_label: str, session_label: str) -> SeriesIdentity:
        """Stable UIDs for a subject/session: the same inputs give the same UIDs."""
        parts = [str(seed), subject_label, session_label]
        return cls(
            patient_id=subject_label,
            patient_name=f"SYNTHETIC^{subject_label}",
            study_uid=generate_uid(entropy_srcs=[*parts, "study"]),
            series_uid=generate_uid(entropy_srcs=[*parts, "series"]),
            frame_of_reference_uid=generate_uid(entropy_srcs=[*parts, "frame-of-reference"]),
            study_date=SYNTHETIC_STUDY_DATE + dt.timedelta(days=seed % 365),
            accession_number=f"ACC{abs(seed) % 10**8:08d}",
        )


def write_ct_series(
    phantom: Phantom, out_dir: Path, identity: SeriesIdentity | None = None
) -> list[Path]:
    """Write one DICOM file per slice into `out_dir`; returns them in instance order."""
    identity = identity or SeriesIdentity.for_subject(phantom.seed, "SUBJ", "SESSION")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    slices = phantom.shape[0]
    order = range(slices - 1, -1, -1) if phantom.site.head_first_instances else range(slices)
    paths = []
    for instance, z_index in enumerate(order, start=1):
        dataset = ct_slice_dataset(phantom, z_index, instance, identity)
        path = out_dir / f"CT_{instance:04d}.dcm"
        dataset.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def ct_slice_dataset(
    phantom: Phantom, z_index: int, instance: int, identity: SeriesIdentity
) -> Dataset:
    """The dataset of slice `z_index` (0 = feet end) as instance `instance` of the series."""
    site = phantom.site
    step_z, step_y, step_x = phantom.spacing_mm
    x0, y0, z0 = phantom.origin_mm
    position = [x0, y0, z0 + z_index * step_z]
    sop_uid = generate_uid(entropy_srcs=[identity.series_uid, str(instance)])
    date_text = identity.study_date.strftime("%Y%m%d")

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = date_text
    ds.StudyTime = ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = "093000"
    ds.AccessionNumber = identity.accession_number
    ds.Modality = "CT"
    ds.Manufacturer = site.manufacturer
    ds.InstitutionName = site.institution
    ds.ReferringPhysicianName = ""
    ds.StationName = f"{site.name}_CT1"
    ds.StudyDescription = f"CT {phantom.body_part}"
    ds.SeriesDescription = identity.series_description
    ds.ManufacturerModelName = site.model
    ds.PatientName = identity.patient_name
    ds.PatientID = identity.patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.BodyPartExamined = phantom.body_part
    ds.SliceThickness = _ds(step_z)
    ds.SpacingBetweenSlices = _ds(step_z)
    ds.KVP = str(site.kvp)
    ds.SoftwareVersions = "xnat-monai synthetic phantom"
    ds.ConvolutionKernel = site.kernel
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = identity.study_uid
    ds.SeriesInstanceUID = identity.series_uid
    ds.StudyID = "1"
    ds.SeriesNumber = identity.series_number
    ds.AcquisitionNumber = 1
    ds.InstanceNumber = instance
    ds.ImagePositionPatient = [_ds(v) for v in position]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.FrameOfReferenceUID = identity.frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    ds.SliceLocation = _ds(position[2])
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = int(phantom.hu.shape[1]), int(phantom.hu.shape[2])
    ds.PixelSpacing = [_ds(step_y), _ds(step_x)]
    ds.BitsAllocated = 16
    ds.WindowCenter, ds.WindowWidth = "40", "400"
    ds.RescaleIntercept = str(site.rescale_intercept)
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"

    hu = phantom.hu[z_index]
    if site.signed_pixels:
        ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 15, 1
        stored: np.ndarray = hu.astype("<i2")
    else:
        ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 12, 11, 0
        stored = np.clip(hu.astype(np.int32) - site.rescale_intercept, 0, 4095).astype("<u2")
    ds.PixelData = np.ascontiguousarray(stored).tobytes()
    return ds


def write_localizer(phantom: Phantom, out_dir: Path, identity: SeriesIdentity) -> list[Path]:
    """The localizer (scout, topogram, surview) of the phantom: a front-to-back and a side
    projection of its volume, ImageType LOCALIZER, rows running head to feet."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    step_z, step_y, step_x = phantom.spacing_mm
    x0, y0, z0 = phantom.origin_mm
    top = z0 + (phantom.shape[0] - 1) * step_z
    views = (
        # (projection along, pixels (z, across), row direction, across spacing, position)
        (1, [1, 0, 0, 0, 0, -1], step_x, [x0, y0 + phantom.shape[1] * step_y / 2, top]),
        (2, [0, 1, 0, 0, 0, -1], step_y, [x0 + phantom.shape[2] * step_x / 2, y0, top]),
    )
    paths = []
    for instance, (axis, orientation, across, position) in enumerate(views, start=1):
        projection = phantom.hu.astype(np.float32).mean(axis=axis)[::-1]  # head row first
        ds = ct_slice_dataset(phantom, 0, instance, identity)
        ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
        ds.ImageOrientationPatient = [str(v) for v in orientation]
        ds.ImagePositionPatient = [_ds(v) for v in position]
        ds.Rows, ds.Columns = int(projection.shape[0]), int(projection.shape[1])
        ds.PixelSpacing = [_ds(step_z), _ds(across)]
        for keyword in ("SliceLocation", "SpacingBetweenSlices"):
            delattr(ds, keyword)
        hu = np.clip(np.rint(projection), -1024, 3071)
        if phantom.site.signed_pixels:
            stored: np.ndarray = hu.astype("<i2")
        else:
            stored = np.clip(hu - phantom.site.rescale_intercept, 0, 4095).astype("<u2")
        ds.PixelData = np.ascontiguousarray(stored).tobytes()
        path = out_dir / f"LOC_{instance:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _ds(value: float) -> str:
    """A DICOM decimal string (at most 16 characters)."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text if len(text) <= 16 else f"{value:.8g}"
