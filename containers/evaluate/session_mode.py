"""Session mode: the newest AI segmentation of a session against its reference, over REST.

Finds both `icr:roiCollectionData` assessors by label pattern, reads their SEGs (from the
mounted archive or downloaded) onto the series they reference (refusing SEGs of different
series), computes every metric per label, and writes `assessor.xml` (xnat:qcAssessmentData),
`REPORT/metrics.json`, `REPORT/metrics.csv` and `REPORT/disagreement.png`.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

from containers.common.dicom_series import read_series
from containers.common.metrics import compute_label_metrics
from containers.common.seg_reader import LabelMap, read_seg
from containers.common.step import StepRecord, required_xnat, staged_output
from containers.evaluate.assessor_choice import model_name_from_label, session_pair
from containers.evaluate.disagreement_png import write_disagreement_png
from containers.evaluate.metrics_files import write_metrics_csv, write_metrics_json
from containers.evaluate.session_assessor import build_evaluation_assessor, evaluation_label
from containers.evaluate.session_sources import (
    SessionFiles,
    referenced_series_uid,
    seg_file_when_uploaded,
)
from xnat_plugin.client import XnatClient
from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SessionRequest:
    session_id: str
    project: str
    output: Path
    session_dir: Path | None = None
    ai_pattern: str = ".*_monai_.*"
    reference_pattern: str = ".*manual.*"
    tolerance_mm: float = 1.0
    ai_assessor_id: str | None = None
    seg_wait_seconds: float = 0.0


def _model_name(prediction: LabelMap, ai_label: str, session_label: str) -> str:
    names = {s.algorithm_name for s in prediction.segments if s.algorithm_name}
    return sorted(names)[0] if names else model_name_from_label(ai_label, session_label)


def run_session(request: SessionRequest, client: XnatClient | None = None) -> Path:
    if request.tolerance_mm < 0:
        raise UserError(f"--tolerance-mm {request.tolerance_mm} must be 0 or more")
    provenance = StepRecord("evaluate-session")
    with (
        required_xnat(client, needed_by="the session mode") as client,
        tempfile.TemporaryDirectory() as work,
    ):
        pair = session_pair(
            client,
            request.session_id,
            request.ai_pattern,
            request.reference_pattern,
            ai_id=request.ai_assessor_id,
        )
        session, ai, reference = pair.session, pair.ai, pair.reference
        sources = SessionFiles(client, request.session_id, Path(work), request.session_dir)
        # A named AI segmentation may have been launched on by XNAT's event service before its
        # SEG was uploaded (the event fires when the assessor's XML is stored).
        wait = request.seg_wait_seconds if request.ai_assessor_id else 0.0
        ai_seg = seg_file_when_uploaded(sources, ai, wait)
        reference_seg = sources.seg_file(reference)
        reference_series = pair.require_one_series(
            referenced_series_uid(ai_seg), referenced_series_uid(reference_seg)
        )
        scan_id, dicom_dir = sources.scan_dicom_dir(reference_series)
        series = read_series(dicom_dir, series_uid=reference_series)
        reference_map = read_seg(reference_seg, series)
        prediction_map = read_seg(ai_seg, series, labels=reference_map.labels)
        metrics = compute_label_metrics(
            reference_map.array,
            prediction_map.array,
            series.spacing,
            reference_map.labels,
            request.tolerance_mm,
        )
        model = _model_name(prediction_map, ai.label, session.label)
        for name, uri, path in (
            ("ai_seg", ai.uri, ai_seg),
            ("reference_seg", reference.uri, reference_seg),
            ("scan_dicom", f"/experiments/{request.session_id}/scans/{scan_id}", dicom_dir),
        ):
            provenance.add_input(name, path, uri)
        provenance.model = {"name": model, "ai_assessor": ai.label}
        when = pair.unused_time(evaluation_label)
        assessor = build_evaluation_assessor(
            project=request.project,
            session_id=request.session_id,
            session_label=session.label,
            scan_id=scan_id,
            metrics=metrics,
            ai_assessor=ai.label,
            reference_assessor=reference.label,
            model_name=model,
            tolerance_mm=request.tolerance_mm,
            when=when,
        )
        with staged_output(request.output) as staging:
            report = staging / "REPORT"
            report.mkdir()
            (staging / "assessor.xml").write_text(assessor.to_xml())
            context = {
                "mode": "session",
                "project": request.project,
                "session_id": request.session_id,
                "session_label": session.label,
                "scan_id": scan_id,
                "ai_assessor": ai.label,
                "reference_assessor": reference.label,
                "model_name": model,
                "assessor_label": assessor.label,
                "tolerance_mm": request.tolerance_mm,
                "spacing_mm": list(series.spacing),
            }
            write_metrics_json(
                report / "metrics.json", metrics, context=context, provenance=provenance.as_dict()
            )
            write_metrics_csv(
                report / "metrics.csv",
                metrics,
                case={"session": session.label, "model": model},
            )
            write_disagreement_png(
                report / "disagreement.png",
                series.volume,
                reference_map.array,
                prediction_map.array,
                f"{session.label}: {ai.label} vs {reference.label}",
            )
    for name, m in metrics.items():
        log.info("%s: Dice %.4f, HD95 %.2f mm", name, m.dice, m.hausdorff95_mm)
    return request.output
