"""One session's detection result: its reference lesions, its findings, and what they give.

Per session, at an operating threshold (default 0.5: findings scoring at least this are
reported), under the hit rule (`containers.common.metrics.boxes.HitRule`) and with the
matching FROC uses (`detection_cases.froc_scores`, LUNA16's rule):
- a lesion is **found** when a finding scoring >= threshold hits it (`true_positive`), else
  missed (`false_negative`);
- a finding scoring >= threshold that hits no lesion is a `false_positive`; a second finding
  of a found lesion is neither;
- `sensitivity` = found / lesions (NaN without a lesion).

`write_picture` draws the session's boxes (`detection.png`). The result file (`detection.json`) keeps every box and score, so the project evaluation draws the
FROC curve and AP over all sessions from these files alone.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from containers.common.findings import Findings, findings_from_dict
from containers.common.lesions import Lesion, ScanFrame
from containers.common.metrics.boxes import HitRule
from containers.common.metrics.detection_cases import MISSED, ScanDetections, froc_scores
from xnat_plugin.errors import UserError

RESULT_FORMAT = "xnat-monai-detection-result"
RESULT_VERSION = 1
RESULT_FILE = "detection.json"
PICTURE_FILE = "detection.png"
DEFAULT_THRESHOLD = 0.5
DEFAULT_HIT_RULE = "centre-in-box"
# The per-session figures, in the order the assessor and the CSV list them.
SESSION_FIGURES = (
    "reference_lesions",
    "findings",
    "reported_findings",
    "true_positive",
    "false_positive",
    "false_negative",
    "sensitivity",
    "largest_lesion_mm",
    "largest_finding_mm",
)


@dataclass(frozen=True)
class SessionResult:
    scan: str  # the session's name in reports
    group: str  # e.g. the site
    series_instance_uid: str
    lesions: tuple[Lesion, ...]
    findings: Findings  # scan frame
    hit_rule: HitRule
    threshold: float

    def scan_detections(self) -> ScanDetections:
        return ScanDetections.of(
            self.scan,
            [lesion.box_mm for lesion in self.lesions],
            self.findings.boxes(),
            self.findings.scores(),
            lesion_diameters_mm=[lesion.diameter_mm for lesion in self.lesions],
            group=self.group,
        )

    def lesion_scores(self) -> np.ndarray:
        """Each lesion's best hitting score (`MISSED` when none hits it)."""
        return froc_scores(self.scan_detections(), self.hit_rule).lesion_scores

    def figures(self) -> dict[str, float]:
        scored = froc_scores(self.scan_detections(), self.hit_rule)
        found = int(np.count_nonzero(scored.lesion_scores >= self.threshold))
        lesions = len(self.lesions)
        scores = self.findings.scores()
        reported = scores >= self.threshold
        return {
            "reference_lesions": lesions,
            "findings": len(scores),
            "reported_findings": int(np.count_nonzero(reported)),
            "true_positive": found,
            "false_positive": int(np.count_nonzero(scored.false_positive_scores >= self.threshold)),
            "false_negative": lesions - found,
            "sensitivity": found / lesions if lesions else math.nan,
            "largest_lesion_mm": max((x.diameter_mm for x in self.lesions), default=0.0),
            "largest_finding_mm": self.findings.reported(self.threshold).largest_edge_mm(),
        }

    def as_dict(self) -> dict[str, Any]:
        best = self.lesion_scores()
        return {
            "format": RESULT_FORMAT,
            "version": RESULT_VERSION,
            "scan": self.scan,
            "group": self.group,
            "series_instance_uid": self.series_instance_uid,
            "hit_rule": self.hit_rule.name,
            "threshold": self.threshold,
            "figures": {k: _json_number(v) for k, v in self.figures().items()},
            "lesions": [
                {
                    **lesion.as_dict(),
                    "best_score": None if score == MISSED else float(score),
                    "found": bool(score >= self.threshold),
                }
                for lesion, score in zip(self.lesions, best, strict=True)
            ],
            "findings": self.findings.as_dict(),
        }


def write_picture(path: Path, volume: np.ndarray, frame: ScanFrame, result: SessionResult) -> None:
    """The boxes picture (`containers.common.box_picture`): every reference lesion, found or
    missed at the threshold, and every reported finding with its score."""
    from containers.common.box_picture import write_box_picture

    found = result.lesion_scores() >= result.threshold
    reported = [
        (f.box_mm, f.score) for f in result.findings.findings if f.score >= result.threshold
    ]
    write_box_picture(
        path,
        volume,
        frame,
        [(lesion.box_mm, bool(hit)) for lesion, hit in zip(result.lesions, found, strict=True)],
        reported,
        title=f"{result.scan}: findings scoring >= {result.threshold:g} ({result.hit_rule.name})",
    )


def write_result(
    path: Path, result: SessionResult, provenance: dict[str, Any] | None = None
) -> None:
    document = result.as_dict()
    if provenance is not None:
        document["provenance"] = provenance
    Path(path).write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")


def read_result(path: Path) -> SessionResult:
    """A `detection.json` written by `write_result`, or one `UserError` naming the file."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path} is not a readable detection result ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != RESULT_FORMAT:
        raise UserError(f"{path} is not a detection result ('format' is not {RESULT_FORMAT!r})")
    if document.get("version") != RESULT_VERSION:
        raise UserError(
            f"{path}: detection result version {document.get('version')!r} is not known"
        )
    try:
        lesions = tuple(
            Lesion(
                label=str(item["label"]),
                box_mm=tuple(float(v) for v in item["box_mm"]),
                centre_lps_mm=tuple(float(v) for v in item["centre_lps_mm"]),  # type: ignore[arg-type]
                extent_mm=tuple(float(v) for v in item["extent_mm"]),  # type: ignore[arg-type]
                diameter_mm=float(item["diameter_mm"]),
                volume_mm3=float(item["volume_mm3"]),
            )
            for item in document["lesions"]
        )
        result = SessionResult(
            scan=str(document["scan"]),
            group=str(document.get("group", "")),
            series_instance_uid=str(document["series_instance_uid"]),
            lesions=lesions,
            findings=findings_from_dict(document["findings"], f"{path} findings"),
            hit_rule=HitRule.parse(str(document["hit_rule"])),
            threshold=float(document["threshold"]),
        )
        result.scan_detections()  # box shapes and values checked once, here
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{path} is not a complete detection result ({exc})") from None
    return result


def _json_number(value: float) -> float | int | None:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
