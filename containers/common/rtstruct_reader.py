"""DICOM RT Structure Set → a label map on its source series' grid (one value per ROI).

An RTSTRUCT holds contours in patient coordinates (LPS mm), one closed polygon per slice an
ROI crosses. Each `CLOSED_PLANAR` contour is filled on the slice it lies on: a voxel belongs to
the ROI when its centre is inside the polygon; a contour too small to hold any voxel centre
marks the voxel under its centroid, so a lesion drawn smaller than a voxel is not lost. `POINT`
and open contours mark the voxels of their points. Contours are united (an inner contour does not cut a hole), and an
ROI painted later wins where two overlap. A contour that does not lie on a slice of the series,
or an RTSTRUCT of another series or frame of reference, is refused.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from skimage.draw import polygon as fill_polygon

from containers.common.dicom_series import Series
from containers.common.seg_reader import LabelMap, SegmentInfo
from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)

RTSTRUCT_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"
# A contour may sit this many slice steps away from a slice centre and still be that slice.
SLICE_TOLERANCE = 0.1


def read_rtstruct(path: Path | str, series: Series) -> LabelMap:
    """Fill every ROI of the RTSTRUCT at `path` onto `series`' grid (values 1..n by ROI order)."""
    path = Path(path)
    dataset = _load(path)
    _check_references(dataset, series, path)
    names = {
        int(item.ROINumber): str(item.get("ROIName", f"ROI {item.ROINumber}"))
        for item in dataset.get("StructureSetROISequence", [])
    }
    algorithms = {
        int(item.ReferencedROINumber): str(item.get("ROIInterpreter", ""))
        for item in dataset.get("RTROIObservationsSequence", [])
    }
    generation = {
        int(item.ROINumber): str(item.get("ROIGenerationAlgorithm", ""))
        for item in dataset.get("StructureSetROISequence", [])
    }
    array = np.zeros(series.shape, dtype=np.uint8, order="F")
    to_index = np.linalg.inv(series.affine_lps)
    labels: dict[str, int] = {}
    segments: list[SegmentInfo] = []
    for value, roi in enumerate(dataset.get("ROIContourSequence", []), start=1):
        if value > 255:
            raise UserError(f"{path.name} has more than 255 ROIs: not a label map")
        number = int(roi.ReferencedROINumber)
        name = names.get(number, f"ROI {number}")
        for n, contour in enumerate(roi.get("ContourSequence", []), start=1):
            _paint_contour(array, contour, value, to_index, path, f"ROI {name!r} contour {n}")
        labels[name] = value
        segments.append(
            SegmentInfo(
                number=value,
                label=name,
                type_meaning=name,
                algorithm_type=generation.get(number, ""),
                algorithm_name=algorithms.get(number, ""),
            )
        )
    return LabelMap(
        array=array, labels=labels, segments=segments, sop_instance_uid=str(dataset.SOPInstanceUID)
    )


def _load(path: Path) -> Dataset:
    if not path.is_file():
        raise UserError(f"RTSTRUCT file {path} does not exist")
    try:
        dataset = pydicom.dcmread(path)
    except Exception as exc:
        raise UserError(
            f"{path} is not a readable DICOM file ({str(exc).splitlines()[0]}); check that the "
            "assessor's RTSTRUCT resource holds an RT Structure Set"
        ) from exc
    if str(dataset.get("SOPClassUID", "")) != RTSTRUCT_SOP_CLASS:
        raise UserError(
            f"{path.name} is not an RT Structure Set (SOP class {dataset.get('SOPClassUID')}, "
            f"modality {dataset.get('Modality')})"
        )
    return dataset


def referenced_series_uids(dataset: Dataset) -> set[str]:
    """The series the structure set's contours were drawn on."""
    found = set()
    for frame in dataset.get("ReferencedFrameOfReferenceSequence", []):
        for study in frame.get("RTReferencedStudySequence", []):
            for item in study.get("RTReferencedSeriesSequence", []):
                found.add(str(item.SeriesInstanceUID))
    return found


def _check_references(dataset: Dataset, series: Series, path: Path) -> None:
    referenced = referenced_series_uids(dataset)
    if referenced and series.series_instance_uid not in referenced:
        raise UserError(
            f"{path.name} was drawn on series {', '.join(sorted(referenced))}, not the image "
            f"series {series.series_instance_uid}; pick the RTSTRUCT made on this scan"
        )
    frames = {
        str(item.FrameOfReferenceUID)
        for item in dataset.get("ReferencedFrameOfReferenceSequence", [])
        if "FrameOfReferenceUID" in item
    }
    if frames and series.frame_of_reference_uid and series.frame_of_reference_uid not in frames:
        raise UserError(
            f"{path.name} is in frame of reference {', '.join(sorted(frames))}, the series in "
            f"{series.frame_of_reference_uid}: they cannot be aligned"
        )


def _paint_contour(
    array: np.ndarray, contour: Dataset, value: int, to_index: np.ndarray, path: Path, what: str
) -> None:
    kind = str(contour.get("ContourGeometricType", "CLOSED_PLANAR"))
    points = np.asarray(contour.ContourData, dtype=np.float64).reshape(-1, 3)
    index = points @ to_index[:3, :3].T + to_index[:3, 3]
    k_values = index[:, 2]
    k = int(round(float(k_values.mean())))
    if np.abs(k_values - k).max() > SLICE_TOLERANCE or not 0 <= k < array.shape[2]:
        raise UserError(
            f"{path.name} {what} does not lie on a slice of the series (slice index "
            f"{k_values.min():.2f} to {k_values.max():.2f}); the RTSTRUCT cannot be aligned"
        )
    plane = array[:, :, k]
    if kind == "CLOSED_PLANAR" and len(index) >= 3:
        rows, cols = fill_polygon(index[:, 0], index[:, 1], shape=plane.shape)
        if len(rows):
            plane[rows, cols] = value
            return
        # Smaller than a voxel: the voxel under its centroid.
        index = index.mean(axis=0, keepdims=True)
    elif kind not in ("POINT", "CLOSED_PLANAR"):
        log.warning(
            "%s %s is %s, not a closed contour: only its points are marked", path.name, what, kind
        )
    for i, j in np.rint(index[:, :2]).astype(int):
        if 0 <= i < plane.shape[0] and 0 <= j < plane.shape[1]:
            plane[i, j] = value
