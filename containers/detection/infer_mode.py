"""Detection on one series (`python -m containers.detection infer` and `infer-session`).

Runs a detection bundle (`bundle_detect`: the bundle's own network, preprocessing, detector and
inferer) on the series' DICOM and writes, all together or none (`containers.common.step`):

- `FINDINGS/findings.json`: every box the detector kept after its NMS, with its score, in the
  scan frame (`containers.common.findings`): what the detection evaluation reads, FROC included;
- `RTSTRUCT/<name>.dcm`: one ROI per reported finding (score at least `--threshold`), a
  rectangle on every slice through its box, its score in the ROI description: what XNAT's OHIF
  viewer overlays on the series (it reads RTSTRUCT and SEG ROI collections);
- `SR/<name>.dcm`: the reported findings as a DICOM SR measurement report (TID 1500,
  `measurement_report`), for viewers and PACS that read measurements;
- `REPORT/detection.png`: the slices through each reported finding, boxes outlined
  (`containers.common.box_picture`); `REPORT/report.json`: counts, sizes, timings, provenance;
- with the XNAT arguments, `assessor.xml`: an `icr:roiCollectionData` (collection type
  RTSTRUCT) whose fields `detection_findings` and `detection_largest_finding_mm` are searchable.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from containers.common.step import StepRecord, require_empty_output, staged_output
from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)

FINDINGS_FILE = "findings.json"
REPORT_FILE = "report.json"
PICTURE_FILE = "detection.png"
XNAT_ARGUMENTS = ("session_id", "project", "subject", "session_label")
# The assessor's searchable numbers (xnat:experimentData fields).
COUNT_FIELD = "detection_findings"
LARGEST_FIELD = "detection_largest_finding_mm"


@dataclass(frozen=True)
class DetectionInferRequest:
    input: Path  # the series' DICOM folder
    model: Path  # a bundle folder, or a folder of models with `model_name`
    output: Path
    model_name: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    threshold: float = 0.5
    device: str = "auto"
    label: str = "nodule"
    xnat: dict[str, str] | None = None  # session_id, project, subject, session_label
    scan_id: str | None = None
    assessor_label: str | None = None


@dataclass(frozen=True)
class DetectionInferResult:
    name: str
    findings: int
    reported: int
    largest_finding_mm: float
    report: dict[str, Any]


def xnat_arguments(values: dict[str, str | None]) -> dict[str, str] | None:
    """All four XNAT arguments or none; one line naming the missing ones."""
    given = {k: v for k, v in values.items() if k in XNAT_ARGUMENTS and v}
    if not given:
        return None
    missing = [f"--{k.replace('_', '-')}" for k in XNAT_ARGUMENTS if k not in given]
    if missing:
        raise UserError(
            f"XNAT arguments are incomplete: {', '.join(missing)} missing; give all of "
            "--session-id, --project, --subject and --session-label, or none"
        )
    return given  # type: ignore[return-value]


def run_detection(request: DetectionInferRequest) -> DetectionInferResult:
    """The step (see the module)."""
    from containers.common.dicom_series import read_series
    from containers.common.model_folder import model_folder
    from containers.detection.bundle_detect import detect, read_detection_pipeline
    from containers.infer.__main__ import _bundle_folder
    from containers.infer.predict import choose_device
    from xnat_plugin.models.layout import read_metadata, weights_checksum

    record = StepRecord("detection-infer")
    root = (
        model_folder(request.model, request.model_name)
        if request.model_name is not None
        else _bundle_folder(request.model)
    )
    if not (root / "configs").is_dir():
        raise UserError(f"{root} is not a MONAI bundle (no configs/): give the bundle's folder")
    require_empty_output(request.output)
    metadata = read_metadata(root)
    version = str(metadata.get("version", "unknown"))
    pipeline = read_detection_pipeline(root, overrides=request.overrides)
    series = read_series(request.input)
    log.info("series %s %s", series.series_instance_uid, series.shape)
    device = choose_device(request.device)
    detections = detect(pipeline, series, device=device)

    from containers.common.findings import findings_of_boxes

    findings = findings_of_boxes(
        series.series_instance_uid, detections.boxes_mm, detections.scores, request.label
    )
    reported = findings.reported(request.threshold)
    stamp = dt.datetime.now().strftime("%Y%m%d%H%M%S")
    xnat = request.xnat
    assessor_label = None
    if xnat is not None:
        assessor_label = request.assessor_label or (
            f"{xnat['session_label']}_monai_{root.name}_{stamp}"
        )
    name = assessor_label or f"monai_{root.name}_{stamp}"
    record.device = str(device)
    record.add_input(f"scan {request.scan_id}" if request.scan_id else str(request.input),
                     path=request.input)  # fmt: skip
    record.model = {
        "name": root.name,
        "version": version,
        "kind": "MONAI detection bundle",
        "title": str(metadata.get("name", "")),
        "network": type(pipeline.network).__name__,
        "config": str(pipeline.config_path.relative_to(root)),
        "code_sha256": pipeline.code_checksum,
        "trust": pipeline.trust_reason,
        "overrides": pipeline.overrides,
        "sha256": weights_checksum(root),
    }
    largest = reported.largest_edge_mm()
    with staged_output(request.output) as staging:
        rtstruct_uid = _write_objects(staging, name, series, reported, root.name, version)
        from containers.common.box_picture import write_box_picture
        from containers.common.findings import write_findings
        from containers.common.lesions import ScanFrame

        (staging / "FINDINGS").mkdir()
        write_findings(staging / "FINDINGS" / FINDINGS_FILE, findings)
        write_box_picture(
            staging / "REPORT" / PICTURE_FILE,
            series.volume,
            ScanFrame.of(series),
            [],
            [(f.box_mm, f.score) for f in reported.findings],
            title=f"{name}: {len(reported.findings)} finding(s) scoring >= {request.threshold:g}",
        )
        report = {
            "model_name": root.name,
            "model_version": version,
            "series_instance_uid": series.series_instance_uid,
            "assessor_label": assessor_label,
            "rtstruct_sop_instance_uid": rtstruct_uid,
            "threshold": request.threshold,
            "findings": len(findings.findings),
            "reported_findings": len(reported.findings),
            "largest_finding_mm": round(largest, 3),
            "reported": [f.as_dict() for f in reported.findings],
            "image_shape": list(series.shape),
            "model_grid_shape": list(detections.model_grid_shape),
            "timings": {
                "preprocess_seconds": round(detections.preprocess_seconds, 3),
                "inference_seconds": round(detections.inference_seconds, 3),
                "total_seconds": round(record.clock.elapsed(), 3),
            },
            "provenance": record.as_dict(),
        }
        (staging / "REPORT" / REPORT_FILE).write_text(
            json.dumps(report, indent=1, default=str) + "\n", encoding="utf-8"
        )
        if xnat is not None and assessor_label is not None:
            _write_assessor(staging, xnat, assessor_label, rtstruct_uid, series, record, report)
    log.info(
        "%d finding(s), %d scoring >= %g, largest %.1f mm",
        len(findings.findings),
        len(reported.findings),
        request.threshold,
        largest,
    )
    return DetectionInferResult(
        name=name,
        findings=len(findings.findings),
        reported=len(reported.findings),
        largest_finding_mm=largest,
        report=report,
    )


def _write_objects(
    staging: Path, name: str, series: Any, reported: Any, model: str, version: str
) -> str:
    """RTSTRUCT/ and SR/ of the reported findings; returns the RTSTRUCT's SOP instance UID."""
    from pydicom.uid import generate_uid

    from containers.common.findings import score_description
    from containers.common.lesions import ScanFrame
    from containers.common.rtstruct_writer import (
        RoiContours,
        StructureSetIdentity,
        box_contours,
        write_rtstruct,
    )
    from containers.detection.measurement_report import ReportIdentity, write_measurement_report

    frame = ScanFrame.of(series)
    rois = []
    for number, finding in enumerate(reported.findings, start=1):
        contours = box_contours(frame, finding.box_mm)
        if contours:  # a box between two slices' centres covers no slice of the series
            rois.append(
                RoiContours(
                    f"{finding.label} {number}",
                    contours,
                    description=score_description(finding.score),
                )
            )
    identity = StructureSetIdentity(
        sop_instance_uid=generate_uid(),
        series_instance_uid=generate_uid(),
        label="MONAI findings",
        series_description=f"MONAI {model} {version}"[:64],
        model_name=model[:64],
        software_versions=version[:64],
        interpreter=model,
    )
    write_rtstruct(staging / "RTSTRUCT" / f"{name}.dcm", series, rois, identity)
    write_measurement_report(
        staging / "SR" / f"{name}.dcm",
        series,
        reported.findings,
        ReportIdentity(generate_uid(), generate_uid(), model, version),
    )
    return identity.sop_instance_uid


def _write_assessor(
    staging: Path,
    xnat: dict[str, str],
    label: str,
    rtstruct_uid: str,
    series: Any,
    record: StepRecord,
    report: dict[str, Any],
) -> None:
    from xnat_plugin.assessors.image_assessor import format_double
    from xnat_plugin.assessors.roi_collection import ICR_NAMESPACE, RoiCollection

    assessor = RoiCollection(
        label=label,
        project=xnat["project"],
        session_id=xnat["session_id"],
        subject_id=xnat["subject"],
        date=record.clock.started_at.date(),
        time=record.clock.started_at.time(),
        uid=rtstruct_uid,
        collection_type="RTSTRUCT",
        series_uids=[series.series_instance_uid],
        name=label,
        description=f"MONAI {report['model_name']} {report['model_version']} (AUTOMATIC)",
        fields={
            COUNT_FIELD: str(report["reported_findings"]),
            LARGEST_FIELD: format_double(report["largest_finding_mm"]),
        },
    )
    (staging / "assessor.xml").write_text(assessor.to_xml(ICR_NAMESPACE), encoding="utf-8")
