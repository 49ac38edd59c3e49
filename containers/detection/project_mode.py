"""Detection evaluation of a project in XNAT: every session's detection result, pooled.

Reads, per session, the newest `*_monai_detect_eval_*` assessor of each model (re-runs replace
earlier ones; the model is the assessor's `model_name` field) and its `REPORT/detection.json`,
then computes the project figures per model, overall and per site (`project_figures`), and
writes `summary.json`, `sessions.csv`, `froc.png` and the report (`report.html`,
`report.pdf`) into `folder`.
"""

from __future__ import annotations

import logging
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from containers.common.metrics.detection_figures import DetectionFigures
from containers.detection.project_figures import project_figures, write_project_outputs
from containers.detection.session_assessor import EVALUATION_LABEL_INFIX
from containers.detection.session_result import RESULT_FILE, SessionResult, read_result
from containers.evaluate.assessor_choice import newest_first_key
from xnat_plugin.assessors.qc_assessment import QC_ASSESSMENT_XSI_TYPE, QcAssessment
from xnat_plugin.client import XnatClient, paths
from xnat_plugin.client.assessor_store import read_assessor_xml
from xnat_plugin.client.browse import list_assessors, list_sessions
from xnat_plugin.client.connection import XnatNotFoundError
from xnat_plugin.client.transfer import download_file
from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)

REPORT_RESOURCE = "REPORT"


def gather_results(
    client: XnatClient, project: str, models: Sequence[str] = ()
) -> dict[str, list[SessionResult]]:
    """The newest detection result per session and model, by model (name order)."""
    sessions = list_sessions(client, project)
    if not sessions:
        raise UserError(f"project {project} has no image sessions: nothing to evaluate")
    newest: dict[tuple[str, str], tuple[str, str, str]] = {}  # (session, model) → (label, id)
    with tempfile.TemporaryDirectory() as work:
        for session in sessions:
            for info in list_assessors(client, session.id):
                if (
                    info.xsi_type != QC_ASSESSMENT_XSI_TYPE
                    or EVALUATION_LABEL_INFIX not in info.label
                ):
                    continue
                try:
                    xml = read_assessor_xml(client, session.id, info.id)
                    model = QcAssessment.from_xml(xml).fields.get("model_name", "unknown")
                except (UserError, ET.ParseError) as exc:
                    log.warning("skipping %s of session %s: %s", info.label, session.label, exc)
                    continue
                if models and model not in models:
                    continue
                key = (session.id, model)
                if key not in newest or newest_first_key(info.label) > newest_first_key(
                    newest[key][0]
                ):
                    newest[key] = (info.label, info.id, session.label)
        results: dict[str, list[SessionResult]] = {}
        for (session_id, model), (label, assessor_id, session_label) in sorted(newest.items()):
            owner = paths.assessor(session_id, assessor_id)
            target = Path(work) / assessor_id / RESULT_FILE
            try:
                download_file(
                    client, paths.resource_file(owner, REPORT_RESOURCE, RESULT_FILE), target
                )
                result = read_result(target)
            except (XnatNotFoundError, UserError) as exc:
                # One damaged evaluation must not hide the others' figures.
                log.warning("skipping %s of session %s: %s", label, session_label, exc)
                continue
            results.setdefault(model, []).append(result)
    missing = [m for m in models if m not in results]
    if missing:
        raise UserError(
            f"project {project} has no detection evaluation of model {', '.join(missing)}: "
            "evaluate its sessions first"
        )
    if not results:
        raise UserError(
            f"project {project} has no detection evaluations (*{EVALUATION_LABEL_INFIX}*): "
            "evaluate its sessions first"
        )
    return dict(sorted(results.items()))


def evaluate_project(
    client: XnatClient,
    project: str,
    folder: Path,
    *,
    models: Sequence[str] = (),
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, dict[str, DetectionFigures]]:
    """Figures per model (overall and per site), written into `folder`."""
    results = gather_results(client, project, models)
    figures = {
        model: project_figures(rows, resamples=resamples, seed=seed)
        for model, rows in results.items()
    }
    write_project_outputs(folder, results, figures, project)
    for model, by_group in figures.items():
        overall = next(iter(by_group.values()))
        log.info(
            "%s: CPM %.3f (95%% CI %.3f-%.3f) over %d sessions, %d lesions",
            model,
            overall.cpm.value,
            overall.cpm.ci95_low,
            overall.cpm.ci95_high,
            overall.scans,
            overall.lesions,
        )
    return figures
