"""The per-session detection assessor: `xnat:qcAssessmentData` with the session's figures.

Label `<session-label>_monai_detect_eval_<YYYYmmddHHMMSS>`, type `monai_detection_evaluation`.
The scan's `additionalStatistics` hold every per-session figure (`session_result.SESSION_FIGURES`)
as `detection_<figure>` (`detection_true_positive`, `detection_sensitivity`, ...; NaN as xs:double
`NaN`), so a project's sessions can be searched and listed by them in XNAT. The AI and reference
assessors, the model, the hit rule and the operating threshold are assessor fields.
"""

from __future__ import annotations

import datetime as dt

from containers.detection.session_result import SESSION_FIGURES, SessionResult
from containers.evaluate.session_assessor import comparison_assessment
from xnat_plugin.assessors.qc_assessment import QcAssessment

QC_TYPE = "monai_detection_evaluation"
EVALUATION_LABEL_INFIX = "_monai_detect_eval_"
STATISTIC_PREFIX = "detection_"


def detection_evaluation_label(session_label: str, when: dt.datetime) -> str:
    return f"{session_label}{EVALUATION_LABEL_INFIX}{when:%Y%m%d%H%M%S}"


def detection_statistics(result: SessionResult) -> dict[str, float]:
    figures = result.figures()
    return {f"{STATISTIC_PREFIX}{name}": float(figures[name]) for name in SESSION_FIGURES}


def build_detection_assessor(
    *,
    project: str,
    session_id: str,
    session_label: str,
    scan_id: str,
    result: SessionResult,
    ai_assessor: str,
    reference_assessor: str,
    model_name: str,
    when: dt.datetime,
) -> QcAssessment:
    return comparison_assessment(
        label=detection_evaluation_label(session_label, when),
        qc_type=QC_TYPE,
        project=project,
        session_id=session_id,
        scan_id=scan_id,
        ai_assessor=ai_assessor,
        reference_assessor=reference_assessor,
        model_name=model_name,
        statistics=detection_statistics(result),
        settings={"hit_rule": result.hit_rule.name, "threshold": repr(float(result.threshold))},
        when=when,
    )
