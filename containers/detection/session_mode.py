"""Detection evaluation of one session in XNAT: its AI findings against its reference lesions.

The AI and the reference are `icr:roiCollectionData` assessors picked by label pattern as the
segmentation evaluation picks them (`containers.evaluate.assessor_choice`: the newest match, or
the AI assessor named by ID). Each one's regions are its `SEG` or `RTSTRUCT` resource (the ICR
ROI plugin names the resource after the collection type); the AI assessor's `FINDINGS` resource,
when it holds a findings JSON, is read instead, for its scores. Files come from the mounted
session archive where XNAT's catalog puts them, else over REST (`SessionFiles`).

Writes into `folder`: `assessor.xml` (`session_assessor`), `REPORT/detection.json`
(`session_result`), the figures of the session and every box, which the project evaluation reads,
and `REPORT/detection.png`, the slices through each lesion and finding with the boxes drawn.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pydicom

from containers.common.dicom_series import read_series
from containers.common.lesions import ScanFrame
from containers.common.metrics.boxes import HitRule
from containers.common.rtstruct_reader import RTSTRUCT_SOP_CLASS, referenced_series_uids
from containers.detection.session_assessor import (
    build_detection_assessor,
    detection_evaluation_label,
)
from containers.detection.session_result import (
    DEFAULT_HIT_RULE,
    DEFAULT_THRESHOLD,
    PICTURE_FILE,
    RESULT_FILE,
    SessionResult,
    write_picture,
    write_result,
)
from containers.detection.sources import one_file, predicted_findings, reference_lesions
from containers.evaluate.assessor_choice import model_name_from_label, session_pair
from containers.evaluate.session_sources import SessionFiles, referenced_series_uid
from xnat_plugin.client import XnatClient, paths
from xnat_plugin.client.browse import AssessorInfo, list_resources
from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)

REGION_RESOURCES = ("SEG", "RTSTRUCT")
FINDINGS_RESOURCE = "FINDINGS"
UNKNOWN_GROUP = "unknown"


class Recorder(Protocol):
    """What records a step's provenance (the shared step scaffolding's record)."""

    model: dict[str, Any]

    def add_input(self, name: str, path: Path | None = None, uri: str | None = None) -> None: ...

    def as_dict(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class DetectionSessionRequest:
    session_id: str
    project: str
    session_dir: Path | None = None
    ai_pattern: str = ".*_monai_.*"
    reference_pattern: str = ".*manual.*"
    ai_assessor_id: str | None = None
    hit_rule: str = DEFAULT_HIT_RULE
    threshold: float = DEFAULT_THRESHOLD
    labels: tuple[str, ...] = ()


def parse_hit_rule(text: str) -> HitRule:
    try:
        return HitRule.parse(text)
    except ValueError as exc:
        raise UserError(f"--hit-rule: {exc}") from None


def _assessor_file(
    files: SessionFiles, assessor: AssessorInfo, resources: Sequence[str], work: Path
) -> Path:
    """The one file of the first of `resources` the assessor has."""
    from containers.common.resource_files import resource_folder

    owner = paths.assessor(files.session_id, assessor.id)
    present = {r.label for r in list_resources(files.client, owner)}
    for resource in resources:
        if resource in present:
            folder = resource_folder(
                files.client, owner, resource, files.mount, work / assessor.id / resource
            )
            return one_file(folder, f"{assessor.label} {resource}")
    raise UserError(
        f"assessor {assessor.label} has no {' or '.join(resources)} resource "
        f"(it has: {', '.join(sorted(present)) or 'none'}): upload its boxes there"
    )


def series_of(path: Path) -> str:
    """The series a SEG, an RTSTRUCT or a findings JSON is on."""
    if path.suffix.lower() == ".json":
        from containers.common.findings import read_findings

        return read_findings(path).series_instance_uid
    header = pydicom.dcmread(path, stop_before_pixels=True)
    if str(header.get("SOPClassUID", "")) == RTSTRUCT_SOP_CLASS:
        uids = referenced_series_uids(header)
        if len(uids) != 1:
            raise UserError(
                f"{path.name} references {len(uids)} series; an RTSTRUCT of exactly one scan is "
                "expected"
            )
        return uids.pop()
    return referenced_series_uid(path)


def evaluate_session(
    request: DetectionSessionRequest,
    client: XnatClient,
    folder: Path,
    record: Recorder | None = None,
) -> SessionResult:
    """Evaluate the session and write `assessor.xml`, `REPORT/detection.json` (with `record`'s
    provenance, when given) and `REPORT/detection.png` into `folder` (downloads, when the mount
    does not hold a file, go to a temporary folder)."""
    with tempfile.TemporaryDirectory() as work:
        return _evaluate_session(request, client, Path(work), folder, record)


def _evaluate_session(
    request: DetectionSessionRequest,
    client: XnatClient,
    work: Path,
    folder: Path,
    record: Recorder | None,
) -> SessionResult:
    if request.threshold != request.threshold:  # NaN
        raise UserError("--threshold must be a number")
    rule = parse_hit_rule(request.hit_rule)
    pair = session_pair(
        client,
        request.session_id,
        request.ai_pattern,
        request.reference_pattern,
        ai_id=request.ai_assessor_id,
    )
    session, ai, reference = pair.session, pair.ai, pair.reference
    files = SessionFiles(client, request.session_id, work, request.session_dir)
    prediction = _assessor_file(files, ai, (FINDINGS_RESOURCE, *REGION_RESOURCES), work)
    reference_file = _assessor_file(files, reference, REGION_RESOURCES, work)
    reference_series = pair.require_one_series(series_of(prediction), series_of(reference_file))
    scan_id, dicom_dir = files.scan_dicom_dir(reference_series)
    series = read_series(dicom_dir, series_uid=reference_series)
    labels = list(request.labels) or None
    result = SessionResult(
        scan=session.label or request.session_id,
        group=session.site or session.manufacturer or UNKNOWN_GROUP,
        series_instance_uid=series.series_instance_uid,
        lesions=tuple(reference_lesions(reference_file, series, labels)),
        findings=predicted_findings(prediction, series, labels),
        hit_rule=rule,
        threshold=request.threshold,
    )
    when = pair.unused_time(detection_evaluation_label)
    assessor = build_detection_assessor(
        project=request.project,
        session_id=request.session_id,
        session_label=session.label,
        scan_id=scan_id,
        result=result,
        ai_assessor=ai.label,
        reference_assessor=reference.label,
        model_name=model_name_from_label(ai.label, session.label),
        when=when,
    )
    provenance = None
    if record is not None:
        record.add_input("prediction", prediction, paths.assessor(request.session_id, ai.id))
        record.add_input(
            "reference", reference_file, paths.assessor(request.session_id, reference.id)
        )
        record.add_input("scan", dicom_dir, paths.scan(request.session_id, scan_id))
        record.model = {"name": assessor.fields["model_name"], "ai_assessor": ai.label}
        provenance = record.as_dict()
    (folder / "REPORT").mkdir(parents=True, exist_ok=True)
    (folder / "assessor.xml").write_text(assessor.to_xml(), encoding="utf-8")
    write_result(folder / "REPORT" / RESULT_FILE, result, provenance)
    write_picture(folder / "REPORT" / PICTURE_FILE, series.volume, ScanFrame.of(series), result)
    figures = result.figures()
    log.info(
        "%s: %d of %d lesions found, %d false positives at score >= %g (%s)",
        result.scan,
        figures["true_positive"],
        figures["reference_lesions"],
        figures["false_positive"],
        result.threshold,
        rule.name,
    )
    return result
