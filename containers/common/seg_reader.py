"""DICOM SEG → a label map on its source series' grid.

Each SEG frame is placed by its plane position (and checked against the source image it
references, when it names one), so a SEG written by any tool — highdicom, OHIF, 3D Slicer —
lands on the same voxels as `dicom_series.read_series` gives. A SEG that references another
series, or whose frames do not sit on the series' slices, is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset

from containers.common.dicom_series import Series
from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)

# A frame may sit this many voxels away from a slice centre and still be that slice.
ALIGNMENT_TOLERANCE_VOXELS = 0.05


@dataclass
class SegmentInfo:
    """One segment of the SEG as its header describes it."""

    number: int
    label: str
    type_meaning: str
    algorithm_type: str
    algorithm_name: str = ""


@dataclass
class LabelMap:
    """A uint8 label map in the series' voxel order (columns, rows, slices) and its labels."""

    array: np.ndarray
    labels: dict[str, int]  # name → value in `array`
    segments: list[SegmentInfo] = field(default_factory=list)
    sop_instance_uid: str = ""

    @property
    def algorithm_types(self) -> set[str]:
        return {s.algorithm_type for s in self.segments}


def find_seg_file(folder: Path) -> Path:
    """The one DICOM SEG file in `folder` (an assessor's SEG resource)."""
    candidates = [
        p for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.endswith(".xml")
    ]
    if not candidates:
        raise UserError(f"no DICOM SEG file in {folder}: the assessor's SEG resource is empty")
    if len(candidates) > 1:
        names = ", ".join(p.name for p in candidates[:5])
        raise UserError(f"{folder} holds {len(candidates)} files ({names}); expected one SEG")
    return candidates[0]


def read_seg(
    path: Path | str,
    series: Series,
    *,
    labels: Mapping[str, int] | None = None,
) -> LabelMap:
    """Read the SEG at `path` onto `series`' grid.

    Without `labels`, each segment keeps its segment number as value and its SegmentLabel as
    name. With `labels` (name → value), segments are matched by name (case-insensitive, the
    SegmentLabel or the segmented property type's meaning); a segment with no match is left
    out with a warning, so a caller can ask for a subset.
    """
    path = Path(path)
    seg = _load(path)
    _check_references(seg, series, path)
    segments = _segment_infos(seg)
    values = _segment_values(segments, labels, path)
    slice_of_frame = _slice_index_per_frame(seg, series, path)
    segment_of_frame = _segment_number_per_frame(seg, path)

    pixels = seg.pixel_array
    if pixels.ndim == 2:
        pixels = pixels[np.newaxis]
    threshold = 0
    if str(seg.SegmentationType) == "FRACTIONAL":
        threshold = int(seg.get("MaximumFractionalValue", 255)) // 2
    array = np.zeros(series.shape, dtype=np.uint8, order="F")
    overlaps = 0
    for frame, (k, segment) in enumerate(zip(slice_of_frame, segment_of_frame, strict=True)):
        value = values.get(segment)
        if value is None:
            continue
        mask = threshold < pixels[frame].T
        plane = array[:, :, k]
        overlaps += int(np.count_nonzero(plane[mask]))
        plane[mask] = value
    if overlaps:
        log.warning(
            "%s: %d voxels belong to more than one segment; the later one wins", path, overlaps
        )
    names = {s.number: s.label for s in segments}
    chosen = (
        {name: value for name, value in labels.items() if value in values.values()}
        if labels is not None
        else {names[n]: v for n, v in values.items()}
    )
    return LabelMap(
        array=array,
        labels=chosen,
        segments=segments,
        sop_instance_uid=str(seg.SOPInstanceUID),
    )


def _load(path: Path) -> hd.seg.Segmentation:
    if not path.is_file():
        raise UserError(f"SEG file {path} does not exist")
    try:
        return hd.seg.segread(path)
    except Exception as exc:
        raise UserError(
            f"{path} is not a readable DICOM SEG ({str(exc).splitlines()[0]}); "
            "check that the assessor's SEG resource holds a DICOM Segmentation"
        ) from exc


def _check_references(seg: Dataset, series: Series, path: Path) -> None:
    referenced = {str(item.SeriesInstanceUID) for item in seg.get("ReferencedSeriesSequence", [])}
    if referenced and series.series_instance_uid not in referenced:
        raise UserError(
            f"{path.name} segments series {', '.join(sorted(referenced))}, not the image series "
            f"{series.series_instance_uid}; pick the SEG made on this scan"
        )
    seg_frame = str(seg.get("FrameOfReferenceUID", ""))
    if seg_frame and series.frame_of_reference_uid and seg_frame != series.frame_of_reference_uid:
        raise UserError(
            f"{path.name} is in frame of reference {seg_frame}, the series in "
            f"{series.frame_of_reference_uid}: they cannot be aligned"
        )
    if (int(seg.Rows), int(seg.Columns)) != (series.shape[1], series.shape[0]):
        raise UserError(
            f"{path.name} frames are {seg.Rows}×{seg.Columns} but the series' images are "
            f"{series.shape[1]}×{series.shape[0]}; resampled SEGs are not supported"
        )


def _segment_infos(seg: Dataset) -> list[SegmentInfo]:
    infos = []
    for item in seg.SegmentSequence:
        type_item = item.get("SegmentedPropertyTypeCodeSequence", [None])[0]
        algorithm = item.get("SegmentAlgorithmName", "")
        infos.append(
            SegmentInfo(
                number=int(item.SegmentNumber),
                label=str(item.get("SegmentLabel", f"segment_{item.SegmentNumber}")),
                type_meaning=str(type_item.CodeMeaning) if type_item is not None else "",
                algorithm_type=str(item.get("SegmentAlgorithmType", "")),
                algorithm_name=str(algorithm),
            )
        )
    return infos


def _segment_values(
    segments: list[SegmentInfo], labels: Mapping[str, int] | None, path: Path
) -> dict[int, int]:
    """segment number → value in the label map."""
    if labels is None:
        if any(s.number > 255 for s in segments):
            raise UserError(f"{path.name} has more than 255 segments: not a label map")
        return {s.number: s.number for s in segments}
    wanted = {name.lower(): value for name, value in labels.items()}
    values = {}
    for s in segments:
        value = wanted.get(s.label.lower(), wanted.get(s.type_meaning.lower()))
        if value is None:
            log.warning(
                "%s: segment %d %r is not among %s; left out",
                path.name,
                s.number,
                s.label,
                list(labels),
            )
            continue
        values[s.number] = value
    return values


def _segment_number_per_frame(seg: Dataset, path: Path) -> list[int]:
    shared = seg.get("SharedFunctionalGroupsSequence", [Dataset()])[0]
    numbers = []
    for frame in seg.PerFrameFunctionalGroupsSequence:
        ident = frame.get("SegmentIdentificationSequence") or shared.get(
            "SegmentIdentificationSequence"
        )
        if not ident:
            raise UserError(f"{path.name}: a frame names no segment (SegmentIdentification)")
        numbers.append(int(ident[0].ReferencedSegmentNumber))
    return numbers


def _slice_index_per_frame(seg: Dataset, series: Series, path: Path) -> list[int]:
    """For each SEG frame, the series slice k it lies on (by position, checked by reference)."""
    shared = seg.get("SharedFunctionalGroupsSequence", [Dataset()])[0]
    uid_to_slice = {uid: k for k, uid in enumerate(series.sop_instance_uids)}
    to_voxel = np.linalg.inv(series.affine_lps)
    series_orientation = np.asarray(series.orientation)
    slices = []
    for n, frame in enumerate(seg.PerFrameFunctionalGroupsSequence, start=1):
        orientation_seq = frame.get("PlaneOrientationSequence") or shared.get(
            "PlaneOrientationSequence"
        )
        position_seq = frame.get("PlanePositionSequence") or shared.get("PlanePositionSequence")
        referenced = _referenced_instance(frame, shared)
        if referenced is not None and referenced not in uid_to_slice:
            raise UserError(
                f"{path.name} frame {n} references image {referenced}, which is not in series "
                f"{series.series_instance_uid}; pick the SEG made on this scan"
            )
        if position_seq is None or orientation_seq is None:
            if referenced is None:
                raise UserError(
                    f"{path.name} frame {n} has neither a plane position nor a source image: "
                    "it cannot be placed on the series"
                )
            slices.append(uid_to_slice[referenced])
            continue
        orientation = np.asarray(orientation_seq[0].ImageOrientationPatient, dtype=float)
        if np.abs(orientation - series_orientation).max() > 1e-3:
            raise UserError(
                f"{path.name} frame {n} is oriented {list(orientation)}, the series "
                f"{list(series_orientation)}: the SEG is not on the series' grid"
            )
        position = np.asarray(position_seq[0].ImagePositionPatient, dtype=float)
        i, j, k = (to_voxel @ np.append(position, 1.0))[:3]
        k_index = int(round(k))
        off_grid = max(abs(i), abs(j), abs(k - k_index))
        if off_grid > ALIGNMENT_TOLERANCE_VOXELS or not 0 <= k_index < series.shape[2]:
            raise UserError(
                f"{path.name} frame {n} at {list(position)} mm does not lie on a slice of series "
                f"{series.series_instance_uid} (voxel {i:.2f}, {j:.2f}, {k:.2f}); the SEG "
                "cannot be aligned"
            )
        if referenced is not None and uid_to_slice[referenced] != k_index:
            raise UserError(
                f"{path.name} frame {n} references slice {uid_to_slice[referenced]} but lies on "
                f"slice {k_index}: the SEG's positions and references disagree"
            )
        slices.append(k_index)
    return slices


def _referenced_instance(frame: Dataset, shared: Dataset) -> str | None:
    derivation = frame.get("DerivationImageSequence") or shared.get("DerivationImageSequence")
    if not derivation:
        return None
    sources = derivation[0].get("SourceImageSequence")
    if not sources:
        return None
    return str(sources[0].ReferencedSOPInstanceUID)
