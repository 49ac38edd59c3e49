"""Detection findings as JSON: scored boxes on one series, the form detection results travel in.

```json
{
  "format": "xnat-monai-findings",
  "version": 1,
  "frame": "scan",
  "series_instance_uid": "1.2.826.0.1.3680043.8.498.1",
  "findings": [{"box_mm": [10.0, 12.5, 3.0, 18.0, 20.5, 9.0], "score": 0.93, "label": "nodule"}]
}
```

`frame` says what the six numbers of `box_mm` (`[lo x3, hi x3]`, mm) are measured along:
- `scan`: the series' own voxel axes (row, column, slice) from the centre of voxel (0, 0, 0),
  `containers.common.lesions.ScanFrame`; a box stays a box on an oblique series. Reference
  lesions are boxes in this frame, so findings in it are compared as they are.
- `lps`: patient coordinates (DICOM LPS), axis-aligned there (a detector working in world
  coordinates). On an axial series this is the same box; on an oblique one the box compared is
  the scan-frame box around its eight corners.

`score` is any finite number, higher meaning more confident (a SEG or an RTSTRUCT without scores
gives 1). The file is checked once, here, when read: anything else is one `UserError` naming
the file and the finding.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from containers.common.lesions import ScanFrame
from xnat_plugin.errors import UserError

FINDINGS_FORMAT = "xnat-monai-findings"
FINDINGS_VERSION = 1
FRAMES = ("scan", "lps")
MAX_FINDINGS = 10_000
MAX_FILE_BYTES = 16 * 1024 * 1024
DEFAULT_LABEL = "lesion"
# How a DICOM object without a score field carries a finding's score: its ROI or segment
# description reads "detection score 0.9312".
SCORE_DESCRIPTION = "detection score "


@dataclass(frozen=True)
class Finding:
    """One scored box, in the frame of the `Findings` that holds it."""

    box_mm: tuple[float, float, float, float, float, float]
    score: float
    label: str = DEFAULT_LABEL

    def as_dict(self) -> dict[str, Any]:
        return {
            "box_mm": [round(v, 4) for v in self.box_mm],
            "score": self.score,
            "label": self.label,
        }


@dataclass(frozen=True)
class Findings:
    series_instance_uid: str
    findings: tuple[Finding, ...]
    frame: str = "scan"

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": FINDINGS_FORMAT,
            "version": FINDINGS_VERSION,
            "frame": self.frame,
            "series_instance_uid": self.series_instance_uid,
            "findings": [f.as_dict() for f in self.findings],
        }

    def in_scan_frame(self, frame: ScanFrame) -> Findings:
        """The same findings as scan-frame boxes of the series `frame` describes."""
        if self.frame == "scan":
            return self
        moved = []
        for finding in self.findings:
            lo, hi = np.asarray(finding.box_mm[:3]), np.asarray(finding.box_mm[3:])
            corners = np.array(
                [[hi[a] if (n >> a) & 1 else lo[a] for a in range(3)] for n in range(8)]
            )
            scan = frame.from_lps(corners)
            box = tuple(float(v) for v in np.concatenate([scan.min(axis=0), scan.max(axis=0)]))
            moved.append(Finding(box, finding.score, finding.label))  # type: ignore[arg-type]
        return Findings(self.series_instance_uid, tuple(moved), "scan")

    def boxes(self) -> np.ndarray:
        return np.array([f.box_mm for f in self.findings], dtype=np.float64).reshape(-1, 6)

    def scores(self) -> np.ndarray:
        return np.array([f.score for f in self.findings], dtype=np.float64)

    def reported(self, threshold: float) -> Findings:
        """The findings scoring at least `threshold` (the operating point), in order."""
        kept = tuple(f for f in self.findings if f.score >= threshold)
        return Findings(self.series_instance_uid, kept, self.frame)

    def largest_edge_mm(self) -> float:
        """The longest box edge of any finding (0 without findings): a finding's size."""
        boxes = self.boxes()
        return float((boxes[:, 3:] - boxes[:, :3]).max(initial=0.0))


def write_findings(path: Path, findings: Findings) -> None:
    Path(path).write_text(json.dumps(findings.as_dict(), indent=1) + "\n", encoding="utf-8")


def read_findings(path: Path) -> Findings:
    """The findings file at `path`, checked (see the module docstring), or one `UserError`."""
    path = Path(path)
    if path.stat().st_size > MAX_FILE_BYTES:
        raise UserError(
            f"{path.name} is larger than {MAX_FILE_BYTES >> 20} MB: not a findings file"
        )
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path.name} is not JSON ({exc}): give a findings file") from None
    return findings_from_dict(document, path.name)


def findings_from_dict(document: object, where: str) -> Findings:
    if not isinstance(document, dict) or document.get("format") != FINDINGS_FORMAT:
        raise UserError(f"{where} is not a findings file: its 'format' must be {FINDINGS_FORMAT!r}")
    if document.get("version") != FINDINGS_VERSION:
        raise UserError(
            f"{where}: findings version {document.get('version')!r} is not known "
            f"(this step reads version {FINDINGS_VERSION})"
        )
    frame = document.get("frame")
    if frame not in FRAMES:
        raise UserError(f"{where}: 'frame' is {frame!r}; use one of {', '.join(FRAMES)}")
    uid = document.get("series_instance_uid")
    if not isinstance(uid, str) or not uid or len(uid) > 64:
        raise UserError(f"{where}: 'series_instance_uid' must name the series the boxes are on")
    items = document.get("findings")
    if not isinstance(items, list):
        raise UserError(f"{where}: 'findings' must be a list (empty when nothing was found)")
    if len(items) > MAX_FINDINGS:
        raise UserError(f"{where} holds {len(items)} findings; at most {MAX_FINDINGS} are read")
    findings = tuple(_finding(item, f"{where} finding {n}") for n, item in enumerate(items, 1))
    return Findings(uid, findings, frame)


def _finding(item: object, where: str) -> Finding:
    if not isinstance(item, dict):
        raise UserError(f"{where} is not an object with 'box_mm' and 'score'")
    box = item.get("box_mm")
    if not isinstance(box, list) or len(box) != 6 or not all(_is_finite_number(v) for v in box):
        raise UserError(f"{where}: 'box_mm' must be six finite numbers [lo x3, hi x3] in mm")
    if any(box[a + 3] < box[a] for a in range(3)):
        raise UserError(f"{where}: a high face of 'box_mm' lies below its low face")
    score = item.get("score")
    if not _is_finite_number(score):
        raise UserError(f"{where}: 'score' must be a finite number")
    label = item.get("label", DEFAULT_LABEL)
    if not isinstance(label, str) or not label.strip() or len(label) > 64:
        raise UserError(f"{where}: 'label' must be a name of 1 to 64 characters")
    return Finding(tuple(float(v) for v in box), float(score), label.strip())  # type: ignore[arg-type]


def _is_finite_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def findings_of_boxes(
    series_instance_uid: str,
    boxes: Sequence[Sequence[float]],
    scores: Sequence[float],
    label: str = DEFAULT_LABEL,
) -> Findings:
    """Scan-frame findings from parallel lists of boxes and scores."""
    return Findings(
        series_instance_uid,
        tuple(
            Finding(tuple(float(v) for v in box), float(score), label)  # type: ignore[arg-type]
            for box, score in zip(boxes, scores, strict=True)
        ),
    )


def score_description(score: float) -> str:
    """The ROI/segment description that carries `score` in a DICOM object."""
    return f"{SCORE_DESCRIPTION}{score:.6g}"


def score_from_description(text: str) -> float | None:
    """The score a description written by `score_description` carries, else None."""
    if not text.startswith(SCORE_DESCRIPTION):
        return None
    try:
        value = float(text[len(SCORE_DESCRIPTION) :].split()[0])
    except (ValueError, IndexError):
        return None
    return value if math.isfinite(value) else None
