"""Project mode: every session evaluation of a project in one report.

Writes `<output>/<run>/`: `summary.json` (per model and label: mean, median, SD, IQR,
bootstrap 95 % CI of every metric; the same per site; Bland–Altman of volumes; paired
Wilcoxon tests when two models are named), `metrics.csv` (one row per session, model, label),
box plots and Bland–Altman PNGs, `report.html`, `report.pdf`, and provenance in the summary.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from containers.evaluate.metrics_files import csv_value
from containers.evaluate.output_folder import staged_output
from containers.evaluate.project_cases import CaseEvaluation, gather_cases
from containers.evaluate.project_stats import (
    BlandAltman,
    bland_altman,
    label_names,
    models_of,
    paired_tests,
    summarise_by_site,
    summarise_cases,
)
from containers.evaluate.report_figures import BOX_PLOT_METRICS, bland_altman_plot, box_plot
from containers.evaluate.report_html import render_report_html
from containers.evaluate.report_pdf import write_report_pdf
from containers.evaluate.session_assessor import STORED_METRICS
from containers.evaluate.step_provenance import step_provenance
from xnat_plugin.client import XnatClient
from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)
RUN_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")


@dataclass(frozen=True)
class ProjectRequest:
    project: str
    output: Path
    models: list[str] = field(default_factory=list)
    run: str | None = None
    seed: int = 0


def _json_ready(value: Any) -> Any:
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    return value


def build_summary(
    project: str, run: str, cases: list[CaseEvaluation], models: list[str], seed: int
) -> dict[str, Any]:
    found = models or models_of(cases)
    by_model = {m: [c for c in cases if c.model == m] for m in found}
    summary: dict[str, Any] = {
        "project": project,
        "run": run,
        "models": found,
        "n_sessions": len({c.session_id for c in cases}),
        "seed": seed,
        "labels": {m: summarise_cases(by_model[m], seed) for m in found},
        "sites": {m: summarise_by_site(by_model[m], seed) for m in found},
        "bland_altman": {
            m: {label: bland_altman(by_model[m], label).as_dict() for label in label_names(cases)}
            for m in found
        },
    }
    if len(found) == 2:
        summary["paired_tests"] = {
            f"{found[0]} vs {found[1]}": paired_tests(cases, found[0], found[1])
        }
    return summary


def write_cases_csv(path: Path, cases: list[CaseEvaluation]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["session_id", "session", "site", "model", "assessor", "label", *STORED_METRICS]
        )
        for case in cases:
            for label, row in case.labels.items():
                writer.writerow(
                    [
                        case.session_id,
                        case.session_label,
                        case.site,
                        case.model,
                        case.assessor_label,
                        label,
                        *(csv_value(row.get(m, math.nan)) for m in STORED_METRICS),
                    ]
                )


def run_project(request: ProjectRequest, client: XnatClient | None = None) -> Path:
    if len(request.models) > 2:
        raise UserError(
            f"--models names {len(request.models)} models; name one, or two for paired tests"
        )
    run = request.run or f"eval_{dt.datetime.now(dt.UTC):%Y%m%d%H%M%S}"
    if not RUN_NAME.match(run):
        raise UserError(f"--run {run!r} may contain only letters, digits, '_', '-' and '.'")
    if client is None:
        from containers.evaluate.session_mode import connect_from_environment

        client = connect_from_environment()
    with step_provenance("evaluate-project") as provenance:
        cases = gather_cases(client, request.project, request.models)
        for case in cases:
            provenance.add_input(
                case.assessor_label,
                uri=f"/experiments/{case.session_id}/assessors/{case.assessor_label}",
            )
        summary = build_summary(request.project, run, cases, request.models, request.seed)
        figures = {f"box_{metric}.png": box_plot(cases, metric) for metric in BOX_PLOT_METRICS}
        for model, per_label in summary["bland_altman"].items():
            results = {label: BlandAltman(**values) for label, values in per_label.items()}
            figures[f"bland_altman_{model}.png"] = bland_altman_plot(results, model)
        with staged_output(request.output) as staging:
            folder = staging / run
            folder.mkdir()
            for name, figure in figures.items():
                figure.savefig(folder / name, dpi=100)
            summary["provenance"] = provenance.as_dict()
            (folder / "summary.json").write_text(json.dumps(_json_ready(summary), indent=2) + "\n")
            write_cases_csv(folder / "metrics.csv", cases)
            (folder / "report.html").write_text(render_report_html(summary, list(figures)))
            write_report_pdf(folder / "report.pdf", summary, list(figures.values()))
    log.info(
        "project %s: %d sessions, report in %s",
        request.project,
        summary["n_sessions"],
        request.output / run,
    )
    return request.output / run
