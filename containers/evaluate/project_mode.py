"""Project mode: every session evaluation of a project in one report.

Writes `<output>/<run>/`: `summary.json` (per model and label: mean, median, SD, IQR,
bootstrap 95 % CI of every metric; the same per site; Bland–Altman of volumes; paired
Wilcoxon tests when two models are named), `metrics.csv` (one row per session, model, label),
box plots and Bland–Altman PNGs, `report.html`, `report.pdf`, and provenance in the summary.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from containers.common.data_split import ROLE_ORDER, UNSEEN
from containers.common.metrics import heading
from containers.common.model_card import card_fields
from containers.common.step import StepRecord, report_run_name, required_xnat, staged_output
from containers.evaluate.metrics_files import csv_value
from containers.evaluate.project_cases import CaseEvaluation, gather_cases
from containers.evaluate.project_context import (
    ModelRecord,
    download_picture,
    grid_intensity,
    mark_roles,
    picture_links,
    read_model,
    tally_energy,
)
from containers.evaluate.project_stats import (
    BlandAltman,
    bland_altman,
    label_names,
    models_of,
    paired_tests,
    site_tests,
    summarise_by_site,
    summarise_cases,
)
from containers.evaluate.report_document import build_document
from containers.evaluate.report_figures import (
    BOX_PLOT_METRICS,
    FIGURE_DPI,
    bland_altman_plot,
    box_plot,
)
from containers.evaluate.report_html import render_report_html
from containers.evaluate.report_pdf import write_report_pdf
from containers.evaluate.session_assessor import STORED_METRICS
from xnat_plugin.client import XnatClient
from xnat_plugin.errors import UserError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)
ALL_SESSIONS = "all"
# The figures each session's row of the report shows.
ROW_METRICS = ("dice", "hausdorff95_mm", "reference_empty", "tolerance_mm")


@dataclass(frozen=True)
class ProjectRequest:
    project: str
    output: Path
    models: list[str] = field(default_factory=list)
    run: str | None = None
    seed: int = 0
    grid_intensity: float | None = None  # g CO2e per kWh; None: the world average


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


def headline_cases(cases: list[CaseEvaluation]) -> tuple[str, list[CaseEvaluation]]:
    """The group the report leads with: the unseen sessions, else all (said so in the report)."""
    unseen = [c for c in cases if c.role == UNSEEN]
    return (UNSEEN, unseen) if unseen else (ALL_SESSIONS, list(cases))


def session_rows(cases: list[CaseEvaluation]) -> list[dict[str, Any]]:
    return [
        {
            "session_id": c.session_id,
            "session": c.session_label,
            "subject": c.subject,
            "site": c.site,
            "model": c.model,
            "role": c.role,
            "assessor": c.assessor_label,
            "ai_assessor": c.ai_assessor,
            "labels": {
                label: {m: row.get(m, math.nan) for m in ROW_METRICS}
                for label, row in c.labels.items()
            },
            "links": picture_links(c),
        }
        for c in cases
    ]


def worst_sessions(cases: list[CaseEvaluation], count: int = 5) -> dict[str, list[str]]:
    """label → the session IDs with the lowest Dice (empty references left out)."""
    worst: dict[str, list[str]] = {}
    for label in label_names(cases):
        scored = [
            (c.labels[label].get("dice", math.nan), c.session_label, c.session_id)
            for c in cases
            if label in c.labels and not c.labels[label].get("reference_empty", 0.0)
        ]
        scored = [s for s in scored if not math.isnan(s[0])]
        worst[label] = [sid for _, _, sid in sorted(scored)[:count]]
    return worst


def build_summary(
    project: str,
    run: str,
    cases: list[CaseEvaluation],
    models: list[str],
    seed: int,
    records: dict[str, ModelRecord] | None = None,
) -> dict[str, Any]:
    found = models or models_of(cases)
    by_model = {m: [c for c in cases if c.model == m] for m in found}
    records = records or {m: ModelRecord(m) for m in found}
    headline = {m: headline_cases(by_model[m]) for m in found}
    summary: dict[str, Any] = {
        "project": project,
        "run": run,
        "models": found,
        "n_sessions": len({c.session_id for c in cases}),
        "seed": seed,
        "model_records": {
            m: {
                "found": records[m].found,
                "version": records[m].version,
                "training_recorded": records[m].seen.recorded,
                "card": card_fields(records[m].metadata) if records[m].found else [],
            }
            for m in found
        },
        "roles": {
            m: {role: sum(1 for c in by_model[m] if c.role == role) for role in ROLE_ORDER}
            for m in found
        },
        "headline": {m: group for m, (group, _) in headline.items()},
        "labels": {m: summarise_cases(by_model[m], seed) for m in found},
        "by_role": {
            m: {
                role: summarise_cases([c for c in by_model[m] if c.role == role], seed)
                for role in ROLE_ORDER
                if any(c.role == role for c in by_model[m])
            }
            for m in found
        },
        "sites": {m: summarise_by_site(headline[m][1], seed) for m in found},
        "site_tests": {m: site_tests(headline[m][1]) for m in found},
        "bland_altman": {
            m: {label: bland_altman(by_model[m], label).as_dict() for label in label_names(cases)}
            for m in found
        },
        "worst_sessions": {m: worst_sessions(by_model[m]) for m in found},
        "sessions": session_rows(cases),
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
    run = report_run_name(request.run, "eval")
    intensity = grid_intensity(request.grid_intensity)
    provenance = StepRecord("evaluate-project")
    with required_xnat(client, needed_by="the project mode") as client:
        cases = gather_cases(client, request.project, request.models)
        for case in cases:
            provenance.add_input(
                case.assessor_label,
                uri=f"/experiments/{case.session_id}/assessors/{case.assessor_label}",
            )
        found = request.models or models_of(cases)
        records = {m: read_model(client, request.project, m) for m in found}
        mark_roles(cases, records)
        energy = tally_energy(client, cases, records)
        summary = build_summary(request.project, run, cases, request.models, request.seed, records)
        figures = project_figures(cases, summary)
        with staged_output(request.output) as staging:
            folder = staging / run
            folder.mkdir()
            for name, (figure, _) in figures.items():
                figure.savefig(folder / name, dpi=FIGURE_DPI)
            pictures = worst_pictures(client, summary, folder)
            summary["provenance"] = provenance.as_dict()
            energy.add("evaluate-project", (summary["provenance"]["energy"]["joules"], True))
            summary["energy"] = energy.as_dict(intensity)
            (folder / "summary.json").write_text(json.dumps(_json_ready(summary), indent=2) + "\n")
            write_cases_csv(folder / "metrics.csv", cases)
            captions = {name: caption for name, (_, caption) in figures.items()}
            document = build_document(summary, captions, pictures)
            (folder / "report.html").write_text(render_report_html(document))
            write_report_pdf(folder / "report.pdf", document, folder)
    log.info(
        "project %s: %d sessions, report in %s",
        request.project,
        summary["n_sessions"],
        request.output / run,
    )
    return request.output / run


def project_figures(
    cases: list[CaseEvaluation], summary: dict[str, Any]
) -> dict[str, tuple[Figure, str]]:
    """File name → (figure, caption), in the order the report shows them."""
    figures = {
        f"box_{metric}.png": (box_plot(cases, metric), f"{heading(metric)} per label")
        for metric in BOX_PLOT_METRICS
    }
    for model, per_label in summary["bland_altman"].items():
        for label, values in per_label.items():
            figures[f"bland_altman_{model}_{label}.png"] = (
                bland_altman_plot(BlandAltman(**values), label, model),
                f"Bland–Altman of {label} volumes, {model}",
            )
    return figures


def worst_pictures(client: XnatClient, summary: dict[str, Any], folder: Path) -> dict[str, str]:
    """session ID → the disagreement picture of each session among the worst, in `folder`."""
    wanted = {
        sid
        for per_label in summary["worst_sessions"].values()
        for ids in per_label.values()
        for sid in ids
    }
    rows = {row["session_id"]: row for row in summary["sessions"]}
    pictures: dict[str, str] = {}
    if not wanted:
        return pictures
    (folder / "sessions").mkdir()
    for session_id in sorted(wanted):
        links = rows[session_id]["links"]
        name = f"sessions/{session_id}_disagreement.png"
        if download_picture(client, links["disagreement"], folder / name) is not None:
            pictures[session_id] = name
    return pictures
