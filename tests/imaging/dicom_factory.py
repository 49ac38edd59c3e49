"""Small synthetic single-frame CT (or MR) series written with pydicom, for tests and benchmarks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, MRImageStorage, generate_uid


@dataclass(frozen=True)
class SeriesGeometry:
    """Where a synthetic series sits: LPS origin, direction cosines, spacing (col, row, slice)."""

    origin: tuple[float, float, float] = (-100.0, -80.0, 30.0)
    row_dir: tuple[float, float, float] = (1.0, 0.0, 0.0)
    col_dir: tuple[float, float, float] = (0.0, 1.0, 0.0)
    spacing: tuple[float, float, float] = (0.8, 0.9, 2.5)

    def position(self, k: int) -> np.ndarray:
        normal = np.cross(self.row_dir, self.col_dir)
        return np.asarray(self.origin) + k * self.spacing[2] * normal


def oblique_geometry(degrees: float = 25.0) -> SeriesGeometry:
    """A series tilted about the patient's L axis and then about S: nothing axis-aligned."""
    a, b = np.radians(degrees), np.radians(degrees / 2)
    rot_x = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    rot_z = np.array([[np.cos(b), -np.sin(b), 0], [np.sin(b), np.cos(b), 0], [0, 0, 1]])
    rot = rot_z @ rot_x
    return SeriesGeometry(
        origin=(12.5, -40.0, 77.0),
        row_dir=tuple(float(v) for v in rot[:, 0]),  # type: ignore[arg-type]
        col_dir=tuple(float(v) for v in rot[:, 1]),  # type: ignore[arg-type]
        spacing=(0.7, 0.75, 3.0),
    )


def phantom_volume(shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """int16 HU-like volume (columns, rows, slices): body ellipse with three blobs + noise."""
    rng = np.random.default_rng(seed)
    i, j, k = np.meshgrid(*(np.linspace(-1, 1, n) for n in shape), indexing="ij")
    volume = np.full(shape, -1000, dtype=np.int16)
    volume[(i**2 + j**2) < 0.8] = 40
    volume[((i + 0.3) ** 2 + j**2 + k**2) < 0.12] = 120
    volume[((i - 0.4) ** 2 + (j + 0.2) ** 2 + k**2) < 0.04] = 90
    volume[((i - 0.1) ** 2 + (j - 0.45) ** 2 + k**2) < 0.03] = 200
    volume += rng.integers(-20, 20, size=shape, dtype=np.int16)
    return volume


def phantom_labels(shape: tuple[int, int, int]) -> np.ndarray:
    """uint8 label map matching `phantom_volume` blobs: 1 liver, 2 spleen, 3 kidney."""
    i, j, k = np.meshgrid(*(np.linspace(-1, 1, n) for n in shape), indexing="ij")
    labels = np.zeros(shape, dtype=np.uint8)
    labels[((i + 0.3) ** 2 + j**2 + k**2) < 0.12] = 1
    labels[((i - 0.4) ** 2 + (j + 0.2) ** 2 + k**2) < 0.04] = 2
    labels[((i - 0.1) ** 2 + (j - 0.45) ** 2 + k**2) < 0.03] = 3
    return labels


def write_ct_series(
    folder: Path,
    volume: np.ndarray,
    geometry: SeriesGeometry = SeriesGeometry(),
    *,
    series_uid: str | None = None,
    study_uid: str | None = None,
    slices: Sequence[int] | None = None,
    intercept: float = -1024.0,
    modality: str = "CT",
    series_description: str | None = None,
    series_number: int = 2,
    frame_uid: str | None = None,
) -> list[Path]:
    """Write `volume` (int16 HU, (columns, rows, slices)) as one file per slice, shuffled names.

    `modality="MR"` writes MR images (MR Image Storage) with the same geometry."""
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or generate_uid()
    study_uid = study_uid or generate_uid()
    frame_uid = frame_uid or generate_uid()
    cols, rows, n = volume.shape
    stored = (volume.astype(np.int32) - int(intercept)).astype(np.int16)
    paths = []
    for k in slices if slices is not None else range(n):
        ds = _ct_header(series_uid, study_uid, frame_uid, k)
        if modality != "CT":
            ds.Modality = modality
            ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
            del ds.KVP
        if series_description is not None:
            ds.SeriesDescription = series_description
        ds.SeriesNumber = series_number
        ds.Rows, ds.Columns = rows, cols
        ds.ImageOrientationPatient = [*geometry.row_dir, *geometry.col_dir]
        ds.ImagePositionPatient = [float(v) for v in geometry.position(k)]
        ds.PixelSpacing = [geometry.spacing[1], geometry.spacing[0]]
        ds.SliceThickness = geometry.spacing[2]
        ds.RescaleIntercept, ds.RescaleSlope = intercept, 1
        ds.PixelData = np.ascontiguousarray(stored[:, :, k].T).tobytes()
        # Names do not follow slice order: readers must sort by position.
        path = folder / f"IM{(k * 7919) % 100003:06d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _ct_header(series_uid: str, study_uid: str, frame_uid: str, k: int) -> Dataset:
    sop_uid = generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = frame_uid
    ds.PatientName = "Phantom^One"
    ds.PatientID = "PHANTOM001"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.StudyDate = ds.SeriesDate = "20260101"
    ds.StudyTime = ds.SeriesTime = "120000"
    ds.AccessionNumber = "ACC001"
    ds.ReferringPhysicianName = ""
    ds.StudyID = "1"
    ds.Modality = "CT"
    ds.Manufacturer = "Synthetic"
    ds.SeriesNumber = 2
    ds.InstanceNumber = k + 1
    ds.PositionReferenceIndicator = ""
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.KVP = 120
    return ds
