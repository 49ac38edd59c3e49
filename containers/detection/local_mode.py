"""Local mode: one scan's findings against its reference lesions, from files.

Reads the series in `--image`, the reference (SEG or RTSTRUCT) and the prediction (findings
JSON, SEG or RTSTRUCT) onto it, and writes `detection.json` and `detection.png`
(`session_result`) into `--output`, all at once or nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from containers.common.dicom_series import read_series
from containers.common.lesions import ScanFrame
from containers.common.step import StepRecord, staged_output
from containers.detection.session_mode import parse_hit_rule
from containers.detection.session_result import (
    DEFAULT_HIT_RULE,
    DEFAULT_THRESHOLD,
    PICTURE_FILE,
    RESULT_FILE,
    SessionResult,
    write_picture,
    write_result,
)
from containers.detection.sources import predicted_findings, reference_lesions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LocalDetectionRequest:
    reference: Path
    prediction: Path
    image: Path
    output: Path
    name: str | None = None
    labels: tuple[str, ...] = ()
    hit_rule: str = DEFAULT_HIT_RULE
    threshold: float = DEFAULT_THRESHOLD
    group: str = ""


def run_local(request: LocalDetectionRequest) -> SessionResult:
    rule = parse_hit_rule(request.hit_rule)
    record = StepRecord("detection-evaluate")
    with staged_output(request.output) as staging:
        series = read_series(request.image)
        labels = list(request.labels) or None
        result = SessionResult(
            scan=request.name or series.series_instance_uid,
            group=request.group,
            series_instance_uid=series.series_instance_uid,
            lesions=tuple(reference_lesions(request.reference, series, labels)),
            findings=predicted_findings(request.prediction, series, labels),
            hit_rule=rule,
            threshold=request.threshold,
        )
        for name in ("reference", "prediction", "image"):
            record.add_input(name, getattr(request, name))
        write_result(staging / RESULT_FILE, result, record.as_dict())
        write_picture(staging / PICTURE_FILE, series.volume, ScanFrame.of(series), result)
    figures = result.figures()
    log.info(
        "%d of %d lesions found, %d false positives at score >= %g (%s)",
        figures["true_positive"],
        figures["reference_lesions"],
        figures["false_positive"],
        result.threshold,
        rule.name,
    )
    return result
