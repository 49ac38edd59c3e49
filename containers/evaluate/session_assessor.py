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
    return QcAssessment(
        label=evaluation_label(session_label, when),
        project=project,
        session_id=session_id,
        date=when.date(),
        time=when.time(),
        qc_type=QC_TYPE,
        fields={
            "ai_assessor": ai_assessor,
            "reference_assessor": reference_assessor,
            "model_name": model_name or "unknown",
            "labels": ",".join(metrics),
            "tolerance_mm": repr(float(tolerance_mm)),
        },
        scans=[
            ScanStatistics(
                scan_id=scan_id,
                statistics=label_statistics(metrics),
                text_fields={"ai_assessor": ai_assessor, "reference_assessor": reference_assessor},
            )
        ],
    )
