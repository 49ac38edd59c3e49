"""Where detection evaluation gets its boxes: reference lesions and predicted findings.

- Reference: a DICOM SEG or an RTSTRUCT read onto the series; one lesion per connected
  component of each chosen label (`containers.common.lesions`), with its size.
- Prediction: a findings JSON (`containers.common.findings`, scores as given), or a DICOM SEG /
  RTSTRUCT whose components become findings, scored by the segment's or ROI's description
  (`findings.score_description`) and 1 when it carries none.

Every source is checked against the series: a findings file or a DICOM object of another
series is refused with one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

from containers.common.dicom_series import Series
from containers.common.findings import (
    Finding,
    Findings,
    read_findings,
    score_from_description,
)
from containers.common.lesions import Lesion, ScanFrame, lesions_from_label_map
from containers.common.rtstruct_reader import RTSTRUCT_SOP_CLASS
from containers.common.seg_reader import LabelMap
from xnat_plugin.errors import UserError

SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"


@dataclass(frozen=True)
class RegionSource:
    """A DICOM SEG or RTSTRUCT read onto a series: its label map and each label's score."""

    path: Path
    kind: str  # "SEG" or "RTSTRUCT"
    label_map: LabelMap
    scores: dict[str, float]  # label name → the score its description carries


def one_file(path: Path, what: str) -> Path:
    """`path` itself, or the one file of a folder (an assessor resource)."""
    if not path.exists():
        raise UserError(f"{what} {path} does not exist")
    if path.is_file():
        return path
    files = [
        p
        for p in sorted(path.rglob("*"))
        if p.is_file() and not p.name.startswith(".") and not p.name.endswith(".xml")
    ]
    if len(files) != 1:
        names = ", ".join(p.name for p in files[:5]) or "nothing"
        raise UserError(f"{what} folder {path} holds {names}; expected one file")
    return files[0]


def read_regions(path: Path, series: Series, what: str) -> RegionSource:
    """A DICOM SEG or RTSTRUCT at `path` read onto `series`."""
    try:
        header = pydicom.dcmread(path, stop_before_pixels=True)
    except (InvalidDicomError, OSError) as exc:
        raise UserError(f"{what} {path.name} is not a DICOM file ({exc})") from None
    sop_class = str(header.get("SOPClassUID", ""))
    if sop_class == SEG_SOP_CLASS:
        from containers.common.seg_reader import read_seg

        label_map = read_seg(path, series)
        descriptions = {
            str(item.get("SegmentLabel", "")): str(item.get("SegmentDescription", ""))
            for item in header.get("SegmentSequence", [])
        }
        kind = "SEG"
    elif sop_class == RTSTRUCT_SOP_CLASS:
        from containers.common.rtstruct_reader import read_rtstruct

        label_map = read_rtstruct(path, series)
        descriptions = {
            str(item.get("ROIName", "")): str(item.get("ROIDescription", ""))
            for item in header.get("StructureSetROISequence", [])
        }
        kind = "RTSTRUCT"
    else:
        raise UserError(
            f"{what} {path.name} is neither a DICOM SEG nor an RTSTRUCT (SOP class "
            f"{sop_class or 'missing'}): give a SEG, an RTSTRUCT or a findings JSON"
        )
    scores = {name: score_from_description(descriptions.get(name, "")) for name in label_map.labels}
    return RegionSource(
        path, kind, label_map, {n: (1.0 if s is None else s) for n, s in scores.items()}
    )


def _chosen_labels(label_map: LabelMap, names: Sequence[str] | None, where: str) -> dict[str, int]:
    if not names:
        return dict(label_map.labels)
    by_lower = {n.lower(): (n, v) for n, v in label_map.labels.items()}
    missing = [n for n in names if n.lower() not in by_lower]
    if missing:
        known = ", ".join(sorted(label_map.labels)) or "none"
        raise UserError(f"{where} has no label {', '.join(missing)} (it has: {known})")
    return dict(by_lower[n.lower()] for n in names)


def reference_lesions(
    path: Path, series: Series, labels: Sequence[str] | None = None
) -> list[Lesion]:
    """One lesion per connected component of the chosen labels (all labels when None)."""
    regions = read_regions(one_file(path, "reference"), series, "reference")
    chosen = _chosen_labels(regions.label_map, labels, f"reference {regions.path.name}")
    return lesions_from_label_map(regions.label_map.array, chosen, ScanFrame.of(series))


def predicted_findings(path: Path, series: Series, labels: Sequence[str] | None = None) -> Findings:
    """Scan-frame findings on `series` from a findings JSON, a SEG or an RTSTRUCT."""
    file = one_file(path, "prediction")
    frame = ScanFrame.of(series)
    if file.suffix.lower() == ".json":
        findings = read_findings(file)
        if findings.series_instance_uid != series.series_instance_uid:
            raise UserError(
                f"prediction {file.name} holds boxes on series {findings.series_instance_uid}, "
                f"not on the scan's series {series.series_instance_uid}"
            )
        if labels:
            wanted = {n.lower() for n in labels}
            findings = Findings(
                findings.series_instance_uid,
                tuple(f for f in findings.findings if f.label.lower() in wanted),
                findings.frame,
            )
        return findings.in_scan_frame(frame)
    regions = read_regions(file, series, "prediction")
    chosen = _chosen_labels(regions.label_map, labels, f"prediction {file.name}")
    found = tuple(
        Finding(lesion.box_mm, regions.scores[lesion.label], lesion.label)  # type: ignore[arg-type]
        for lesion in lesions_from_label_map(regions.label_map.array, chosen, frame)
    )
    return Findings(series.series_instance_uid, found, "scan")
