"""The per-session metrics assessor: `xnat:qcAssessmentData` with every figure per label.

Figures go in the scan's `additionalStatistics`, named `<label>_<metric>` (e.g. `liver_dice`,
`liver_hausdorff95_mm`); flags are 1/0 (`liver_reference_empty`); NaN and +inf are written as
xs:double `NaN` and `INF`. The AI and reference assessor labels, the model name and the NSD
tolerance are assessor fields, so the project report can read them back from the XML.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import fields

from containers.common.metrics import LabelMetrics
from xnat_plugin.assessors.qc_assessment import QcAssessment, ScanStatistics

QC_TYPE = "monai_evaluation"
# Every LabelMetrics field but the name, each stored as `<label>_<metric>`.
STORED_METRICS = tuple(f.name for f in fields(LabelMetrics) if f.name != "label")
EVALUATION_LABEL_INFIX = "_monai_eval_"


def evaluation_label(session_label: str, when: dt.datetime) -> str:
    return f"{session_label}{EVALUATION_LABEL_INFIX}{when:%Y%m%d%H%M%S}"


def statistic_name(label: str, metric: str) -> str:
    return f"{label}_{metric}"


def label_statistics(metrics: Mapping[str, LabelMetrics]) -> dict[str, float]:
    figures: dict[str, float] = {}
    for name, m in metrics.items():
        values = m.as_dict()
        for metric in STORED_METRICS:
            figures[statistic_name(name, metric)] = float(values[metric])  # type: ignore[arg-type]
    return figures


def comparison_assessment(
    *,
    label: str,
    qc_type: str,
    project: str,
    session_id: str,
    scan_id: str,
    ai_assessor: str,
    reference_assessor: str,
    model_name: str,
    statistics: Mapping[str, float],
    settings: Mapping[str, str],
    when: dt.datetime,
) -> QcAssessment:
    """An AI assessor compared with a reference on one scan: the figures as the scan's
    statistics; the pair, the model and the comparison's `settings` as assessor fields (every
    evaluation step writes this shape, so the project report reads each alike)."""
    return QcAssessment(
        label=label,
        project=project,
        session_id=session_id,
        date=when.date(),
        time=when.time(),
        qc_type=qc_type,
        fields={
            "ai_assessor": ai_assessor,
            "reference_assessor": reference_assessor,
            "model_name": model_name or "unknown",
            **settings,
        },
        scans=[
            ScanStatistics(
                scan_id=scan_id,
                statistics=dict(statistics),
                text_fields={"ai_assessor": ai_assessor, "reference_assessor": reference_assessor},
            )
        ],
    )


def build_evaluation_assessor(
    *,
    project: str,
    session_id: str,
    session_label: str,
    scan_id: str,
    metrics: Mapping[str, LabelMetrics],
    ai_assessor: str,
    reference_assessor: str,
    model_name: str,
    tolerance_mm: float,
    when: dt.datetime,
) -> QcAssessment:
    return comparison_assessment(
        label=evaluation_label(session_label, when),
        qc_type=QC_TYPE,
        project=project,
        session_id=session_id,
        scan_id=scan_id,
        ai_assessor=ai_assessor,
        reference_assessor=reference_assessor,
        model_name=model_name,
        statistics=label_statistics(metrics),
        settings={"labels": ",".join(metrics), "tolerance_mm": repr(float(tolerance_mm))},
        when=when,
    )
