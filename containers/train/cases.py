"""Training cases: one session's image volume paired with its reference label map.

Both arrays stay on the scan's own grid here (with its voxel → RAS affine); the trainer brings
them to the model grid. Label names are matched across sessions by the SEG's segment labels, so
a project whose SEGs number the organs differently still trains one consistent model.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom

from containers.common.dicom_series import read_series
from containers.common.provenance import sha256_of_files
from containers.common.seg_reader import find_seg_file, read_seg
from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)

DEFAULT_REFERENCE_PATTERN = ".*manual.*"
# Segmentations this product wrote are predictions, never ground truth.
OWN_OUTPUT_MARKER = "_monai_"


@dataclass
class TrainingCase:
    """One image with its reference segmentation, on the scan's grid."""

    session_label: str
    session_uri: str
    subject: str
    site: str
    image: np.ndarray = field(repr=False)  # float32 (i, j, k), Hounsfield units
    label: np.ndarray = field(repr=False)  # uint8 (i, j, k), values of `labels`
    affine: np.ndarray = field(repr=False)  # voxel → RAS mm
    labels: dict[str, int]
    checksum: str  # sha256 over the image's DICOM files and the reference SEG
    reference_label: str = ""

    @property
    def spacing(self) -> tuple[float, float, float]:
        s = np.linalg.norm(self.affine[:3, :3], axis=0)
        return (float(s[0]), float(s[1]), float(s[2]))


@dataclass(frozen=True)
class SkippedSession:
    session_label: str
    reason: str


@dataclass(frozen=True)
class ReferenceCandidate:
    """A session's image scan folder and its reference SEG folder, before reading."""

    session_label: str
    session_uri: str
    subject: str
    site: str
    dicom_dir: Path
    seg_dir: Path
    reference_label: str


def reference_matcher(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise UserError(
            f"--reference-pattern {pattern!r} is not a valid regular expression ({exc})"
        ) from exc


def is_reference_label(label: str, matcher: re.Pattern[str]) -> bool:
    """Whether an assessor label names a usable reference (never one of our predictions)."""
    return OWN_OUTPUT_MARKER not in label and matcher.fullmatch(label) is not None


def referenced_series_uid(seg_dir: Path) -> str:
    """The image series a SEG was drawn on (header only), or '' when it does not say."""
    path = find_seg_file(seg_dir)
    try:
        header = pydicom.dcmread(path, stop_before_pixels=True)
        for item in header.get("ReferencedSeriesSequence", []):
            return str(item.SeriesInstanceUID)
    except Exception as exc:  # a truncated file fails on whichever element is cut
        raise UserError(
            f"{path} is not a readable DICOM SEG ({type(exc).__name__}); replace or remove "
            "the reference assessor that holds it and run again"
        ) from exc
    return ""


def load_case(candidate: ReferenceCandidate, labels: dict[str, int] | None) -> TrainingCase:
    """Read the series and its SEG onto one grid; `labels` (name → value) selects segments."""
    series = read_series(candidate.dicom_dir)
    seg_path = find_seg_file(candidate.seg_dir)
    try:
        label_map = read_seg(seg_path, series, labels=labels)
    except UserError as exc:
        raise UserError(f"session {candidate.session_label}: {exc}") from exc
    except Exception as exc:  # a damaged file can fail anywhere inside pydicom/highdicom
        raise UserError(
            f"session {candidate.session_label}: reference {candidate.reference_label} is a "
            f"corrupt DICOM SEG ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
            "replace or remove that assessor and run again"
        ) from exc
    checksum = sha256_of_files([*series.paths, seg_path])
    return TrainingCase(
        session_label=candidate.session_label,
        session_uri=candidate.session_uri,
        subject=candidate.subject,
        site=candidate.site,
        image=np.asarray(series.volume, dtype=np.float32),
        label=np.asarray(label_map.array, dtype=np.uint8),
        affine=np.asarray(series.affine, dtype=np.float64),
        labels={name.lower(): value for name, value in label_map.labels.items()},
        checksum=checksum,
        reference_label=candidate.reference_label,
    )


def agree_on_labels(
    candidates: Sequence[ReferenceCandidate], requested: Sequence[str] | None
) -> dict[str, int]:
    """The label names every reference holds (values 1..n); refuse when they disagree.

    With `requested` names, those are the labels (in that order) and each reference must hold
    them all; without, every reference must hold the same set of segment labels.
    """
    found: dict[str, list[str]] = {}
    for candidate in candidates:
        found[candidate.session_label] = _segment_labels(find_seg_file(candidate.seg_dir))
    if requested:
        wanted = [name.strip().lower() for name in requested if name.strip()]
        missing = {
            session: sorted(set(wanted) - set(names))
            for session, names in found.items()
            if set(wanted) - set(names)
        }
        if missing:
            listing = "; ".join(f"{s} lacks {', '.join(m)}" for s, m in sorted(missing.items()))
            raise UserError(
                f"--labels {','.join(wanted)} are not in every reference segmentation ({listing}): "
                "fix those references or choose labels they all have"
            )
        return {name: value for value, name in enumerate(wanted, start=1)}
    distinct = {tuple(sorted(names)) for names in found.values()}
    if len(distinct) > 1:
        listing = "; ".join(
            f"{session}: {', '.join(sorted(names))}" for session, names in sorted(found.items())
        )
        raise UserError(
            f"reference segmentations name different labels ({listing}): give --labels with the "
            "names to train on, or fix the segment labels so they agree"
        )
    first = next(iter(found.values()))
    return {name: value for value, name in enumerate(first, start=1)}


def _segment_labels(path: Path) -> list[str]:
    """Segment labels of a SEG in segment-number order, lower case (header only)."""
    try:
        header = pydicom.dcmread(path, stop_before_pixels=True)
        segments = sorted(header.SegmentSequence, key=lambda item: int(item.SegmentNumber))
        return [str(item.SegmentLabel).strip().lower() for item in segments]
    except Exception as exc:
        raise UserError(
            f"{path} is not a readable DICOM SEG ({type(exc).__name__}); replace or remove the "
            "reference assessor that holds it and run again"
        ) from exc


def load_cases(
    candidates: Sequence[ReferenceCandidate], requested_labels: Sequence[str] | None
) -> tuple[list[TrainingCase], dict[str, int]]:
    """Read every candidate; all must carry the agreed labels."""
    if not candidates:
        return [], {}
    labels = agree_on_labels(candidates, requested_labels)
    cases = []
    for candidate in candidates:
        case = load_case(candidate, labels)
        log.info(
            "case %s (subject %s, %s): grid %s, spacing %s mm",
            case.session_label,
            case.subject,
            case.site or "site unknown",
            case.image.shape,
            tuple(round(s, 2) for s in case.spacing),
        )
        cases.append(case)
    return cases, labels
