"""A project's detection figures from its sessions' results, and the FROC picture.

Every figure comes from `containers.common.metrics.detection_figures` (FROC, CPM, sensitivity at
the LUNA16 rates, AP at IoU 0.1/0.5, per-size-bin sensitivity, percentile bootstrap CIs over
sessions), over all sessions and per group (site). All sessions must have been evaluated under
one hit rule: figures under two rules do not pool.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from containers.common.metrics.detection_figures import (
    DetectionFigures,
    DetectionSettings,
    detection_figures,
    detection_figures_by_group,
)
from containers.detection.report import FROC_FILE, write_report
from containers.detection.session_result import SESSION_FIGURES, SessionResult
from xnat_plugin.errors import UserError

ALL_SESSIONS = "all sessions"
FROC_FIGURE_SIZE = (5.6, 3.6)  # inches, as the project report's other pictures
FIGURE_DPI = 120


def project_figures(
    results: Sequence[SessionResult], *, resamples: int = 1000, seed: int = 0
) -> dict[str, DetectionFigures]:
    """Figures over all sessions (`ALL_SESSIONS`) and per group, under the results' hit rule."""
    if not results:
        raise UserError("no session detection results to evaluate: evaluate sessions first")
    rules = {r.hit_rule for r in results}
    if len(rules) > 1:
        names = ", ".join(sorted(rule.name for rule in rules))
        raise UserError(
            f"the sessions were evaluated under different hit rules ({names}); "
            "evaluate them again under one"
        )
    scans = [r.scan for r in results]
    twice = sorted({n for n in scans if scans.count(n) > 1})
    if twice:
        raise UserError(f"session {twice[0]} has more than one result: keep one per session")
    settings = DetectionSettings(hit_rule=rules.pop(), resamples=resamples, seed=seed)
    detections = [r.scan_detections() for r in results]
    figures = {ALL_SESSIONS: detection_figures(detections, settings)}
    if len({d.group for d in detections}) > 1:
        figures.update(detection_figures_by_group(detections, settings))
    return figures


def froc_picture(figures: dict[str, DetectionFigures]) -> Figure:
    """FROC curves (sensitivity against false positives per scan, log axis from 1/8 to 8), one
    per entry of `figures`, each named with its CPM; the hit rule under the axis."""
    figure = Figure(figsize=FROC_FIGURE_SIZE, layout="constrained")
    axis = figure.add_subplot()
    for name, result in figures.items():
        curve = result.froc
        cpm = result.cpm.value
        text = "n/a" if math.isnan(cpm) else f"{cpm:.3f}"
        style = {"linewidth": 2.2, "color": "black"} if name == ALL_SESSIONS else {"linewidth": 1.4}
        axis.step(
            curve.fps_per_scan,
            curve.sensitivity,
            where="post",
            label=f"{name} (CPM {text}, {result.lesions} lesions)",
            **style,  # type: ignore[arg-type]
        )
    first = next(iter(figures.values()))
    rates = sorted(first.sensitivity)
    for rate in rates:
        axis.axvline(rate, color="#cccccc", linewidth=0.6, zorder=0)
    axis.set_xscale("log", base=2)
    axis.set_xlim(rates[0] / 1.5, rates[-1] * 1.5)
    axis.set_xticks(rates, [f"{r:g}" for r in rates])
    axis.set_ylim(0, 1.02)
    axis.set_xlabel(f"false positives per scan\n{first.hit_rule.describe()}", fontsize=8)
    axis.set_ylabel("sensitivity")
    axis.set_title("FROC", fontsize=10)
    axis.legend(fontsize=7, loc="lower right")
    return figure


def write_project_outputs(
    folder: Path,
    results: Mapping[str, Sequence[SessionResult]],
    figures: dict[str, dict[str, DetectionFigures]],
    project: str,
) -> None:
    """`summary.json` (every figure per model, overall and per group), `sessions.csv` (the
    per-session figures), `froc.png`, and the report drawn from them (`report.html`,
    `report.pdf`) in `folder`, whose name is the run's. `results` and `figures` are by model;
    the picture shows one model's groups, or each model over all sessions when there are
    several."""
    summary: dict[str, Any] = {
        "sessions": sum(len(r) for r in results.values()),
        "hit_rule": next(iter(next(iter(figures.values())).values())).hit_rule.name,
        "threshold": sorted({r.threshold for rs in results.values() for r in rs}),
        "models": {
            model: {name: f.as_dict() for name, f in by_group.items()}
            for model, by_group in figures.items()
        },
    }
    (folder / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    with (folder / "sessions.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["model", "session", "group", *SESSION_FIGURES])
        for model, rows in results.items():
            for result in sorted(rows, key=lambda r: (r.group, r.scan)):
                values = result.figures()
                writer.writerow(
                    [model, result.scan, result.group, *(values[k] for k in SESSION_FIGURES)]
                )
    if len(figures) == 1:
        curves = next(iter(figures.values()))
    else:
        curves = {model: by_group[ALL_SESSIONS] for model, by_group in figures.items()}
    froc_picture(curves).savefig(folder / FROC_FILE, dpi=FIGURE_DPI)
    write_report(folder, summary, project, folder.name)
