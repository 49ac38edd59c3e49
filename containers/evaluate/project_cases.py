"""Every session evaluation of a project, read back from XNAT's qcAssessment assessors.

One `CaseEvaluation` per (session, model): the newest `*_monai_eval_*` assessor of that model on
the session (re-runs replace earlier figures), its figures per label parsed from
`additionalStatistics` named `<label>_<metric>`.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from rich.progress import Progress

from containers.common.data_split import UNKNOWN
from containers.evaluate.assessor_choice import newest_first_key
from containers.evaluate.session_assessor import (
    EVALUATION_LABEL_INFIX,
    STORED_METRICS,
    statistic_name,
)
from xnat_plugin.assessors.qc_assessment import QC_ASSESSMENT_XSI_TYPE, QcAssessment
from xnat_plugin.client import XnatClient
from xnat_plugin.client.assessor_store import read_assessor_xml
from xnat_plugin.client.browse import SessionInfo, list_assessors, list_sessions
from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)
UNKNOWN_SITE = "unknown"


@dataclass
class CaseEvaluation:
    session_id: str
    session_label: str
    site: str
    model: str
    assessor_label: str
    labels: dict[str, dict[str, float]] = field(default_factory=dict)  # label → metric → value
    subject: str = ""
    ai_assessor: str = ""  # the segmentation assessor that was evaluated
    role: str = UNKNOWN  # training / validation / unseen with respect to the model


def parse_case(session: SessionInfo, assessor: QcAssessment) -> CaseEvaluation:
    statistics = {k: v for scan in assessor.scans for k, v in scan.statistics.items()}
    names = [n for n in assessor.fields.get("labels", "").split(",") if n]
    if not names:  # documents written without the field: labels are the prefixes of `_dice`
        names = [
            k[: -len("_dice")]
            for k in statistics
            if k.endswith("_dice") and not k.endswith("_surface_dice")
        ]
    return CaseEvaluation(
        session_id=session.id,
        session_label=session.label,
        site=session.site or session.manufacturer or UNKNOWN_SITE,
        model=assessor.fields.get("model_name", "unknown"),
        assessor_label=assessor.label,
        subject=session.subject_label or session.subject_id,
        ai_assessor=assessor.fields.get("ai_assessor", ""),
        labels={
            name: {
                metric: statistics[statistic_name(name, metric)]
                for metric in STORED_METRICS
                if statistic_name(name, metric) in statistics
            }
            for name in names
        },
    )


def _is_evaluation(xsi_type: str, label: str) -> bool:
    return xsi_type == QC_ASSESSMENT_XSI_TYPE and EVALUATION_LABEL_INFIX in label


def gather_cases(client: XnatClient, project: str, models: list[str]) -> list[CaseEvaluation]:
    sessions = list_sessions(client, project, with_fields=True)
    if not sessions:
        raise UserError(f"project {project} has no image sessions: nothing to report")
    newest: dict[tuple[str, str], CaseEvaluation] = {}
    seen_models: set[str] = set()
    with Progress(transient=True) as progress:
        task = progress.add_task("reading session evaluations", total=len(sessions))
        for session in sessions:
            for info in list_assessors(client, session.id):
                if not _is_evaluation(info.xsi_type, info.label):
                    continue
                try:
                    document = QcAssessment.from_xml(read_assessor_xml(client, session.id, info.id))
                except (UserError, ET.ParseError) as exc:
                    # One damaged assessor must not hide the rest of the project's figures.
                    log.warning("skipping %s of session %s: %s", info.label, session.label, exc)
                    continue
                case = parse_case(session, document)
                seen_models.add(case.model)
                if models and case.model not in models:
                    continue
                key = (session.id, case.model)
                if key not in newest or newest_first_key(case.assessor_label) > newest_first_key(
                    newest[key].assessor_label
                ):
                    newest[key] = case
            progress.advance(task)
    cases = sorted(newest.values(), key=lambda c: (c.model, c.session_label))
    found = {c.model for c in cases}
    missing = [m for m in models if m not in found]
    if missing:
        raise UserError(
            f"project {project} has no session evaluation of model {', '.join(missing)} "
            f"(evaluated models: {', '.join(sorted(seen_models)) or 'none'}): run the session "
            "evaluation first"
        )
    if not cases:
        raise UserError(
            f"project {project} has no session evaluations (*{EVALUATION_LABEL_INFIX}*): run "
            "xnat-monai-evaluate-session on its sessions first"
        )
    log.info("read %d session evaluations of %d models", len(cases), len(found))
    return cases
