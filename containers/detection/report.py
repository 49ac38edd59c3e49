"""The project's detection report as a document, drawn as HTML and PDF by the same machinery as
the segmentation report (`containers.evaluate.report_document` blocks, `report_html`,
`report_pdf`), from the same `summary.json` the step writes beside it.

Page 1 answers "how good is it": per model, over all sessions and per site, the LUNA16
competition performance metric (mean sensitivity at 1/8 … 8 false positives per scan) and the
average precision at IoU 0.1 and 0.5, each with its 95 % bootstrap CI, with the hit rule that
decided every hit stated above them. Then the sensitivity at each false-positive rate, the
sensitivity by lesion size, and the FROC picture.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from containers.evaluate.report_document import (
    Block,
    Cell,
    Document,
    Heading,
    PageBreak,
    Paragraph,
    Picture,
    Pictures,
    Table,
    interval_text,
    number,
)

HTML_FILE = "report.html"
PDF_FILE = "report.pdf"
FROC_FILE = "froc.png"


def estimate(value: Mapping[str, Any] | None) -> str:
    """`0.750 (0.500–1.000)`: a figure with its 95 % CI; – when there is none."""
    if not value:
        return "–"
    return interval_text(value.get("value"), value.get("ci95_low"), value.get("ci95_high"))


def _ap(figures: Mapping[str, Any], iou: str) -> str:
    return estimate(figures.get("average_precision", {}).get(f"iou_{iou}"))


def _headline(model: str, by_group: Mapping[str, Any]) -> Table:
    rows: list[list[Cell]] = [
        [
            group,
            str(f["scans"]),
            str(f["lesions"]),
            str(f["detections"]),
            estimate(f["cpm"]),
            _ap(f, "0.10"),
            _ap(f, "0.50"),
        ]
        for group, f in by_group.items()
    ]
    return Table(
        f"{model}: CPM and average precision, 95 % bootstrap CIs over sessions",
        ["sessions", "scans", "lesions", "findings", "CPM", "AP (IoU 0.1)", "AP (IoU 0.5)"],
        rows,
        [1.6, 0.6, 0.7, 0.8, 1.6, 1.6, 1.6],
    )


def _sensitivity(model: str, by_group: Mapping[str, Any]) -> Table:
    rates = list(next(iter(by_group.values()))["sensitivity_at_fp_per_scan"])
    rows: list[list[Cell]] = [
        [group, *(number(f["sensitivity_at_fp_per_scan"][r]["value"]) for r in rates)]
        for group, f in by_group.items()
    ]
    return Table(
        f"{model}: sensitivity at each rate of false positives per scan (the CPM's points)",
        ["sessions", *rates],
        rows,
    )


def _size_bins(model: str, overall: Mapping[str, Any]) -> Table:
    rows: list[list[Cell]] = [
        [b["name"], str(b["lesions"]), estimate(b["cpm"])] for b in overall["size_bins"]
    ]
    return Table(
        f"{model}: by lesion diameter (the sphere of the lesion's volume), all sessions",
        ["diameter", "lesions", "CPM"],
        rows,
        [1.5, 1.0, 2.0],
    )


def detection_document(summary: Mapping[str, Any], project: str, run: str) -> Document:
    models: Mapping[str, Mapping[str, Any]] = summary["models"]
    first = next(iter(next(iter(models.values())).values()))
    thresholds = ", ".join(number(t, 2) for t in summary.get("threshold", []))
    blocks: list[Block] = [
        Heading(f"Project {project}: detection evaluation", 1),
        Paragraph(
            f"Run {run}: {summary['sessions']} session evaluations, "
            f"model{'s' if len(models) > 1 else ''} {', '.join(models)}."
        ),
        Paragraph(
            f"{first['hit_rule_text']} (Hit rule {summary['hit_rule']}.) "
            "CPM: the mean sensitivity at 1/8, 1/4, 1/2, 1, 2, 4 and 8 "
            "false positives per scan (LUNA16). The per-session counts on the sessions' "
            f"assessors use the operating score {thresholds or '–'}; these figures use every "
            "score."
        ),
    ]
    for model, by_group in models.items():
        blocks += [Heading(model, 2), _headline(model, by_group)]
    blocks.append(PageBreak())
    for model, by_group in models.items():
        overall = next(iter(by_group.values()))
        blocks += [
            Heading(f"{model}: operating points and sizes", 2),
            _sensitivity(model, by_group),
            _size_bins(model, overall),
        ]
    blocks.append(
        Pictures([Picture(FROC_FILE, "FROC: sensitivity against false positives per scan (log).")])
    )
    return Document(f"{project}: detection evaluation {run}", blocks)


def write_report(folder: Path, summary: Mapping[str, Any], project: str, run: str) -> None:
    """`report.html` and `report.pdf` in `folder`, beside the FROC picture they show."""
    from containers.evaluate.report_html import render_report_html
    from containers.evaluate.report_pdf import write_report_pdf

    document = detection_document(summary, project, run)
    (folder / HTML_FILE).write_text(render_report_html(document), encoding="utf-8")
    write_report_pdf(folder / PDF_FILE, document, folder)
