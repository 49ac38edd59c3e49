"""`report.pdf`: the same report as the HTML page, drawn with matplotlib (no browser needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from containers.evaluate.report_html import TABLE_METRICS, number


def _table_page(title: str, per_label: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> Figure:
    figure = Figure(figsize=(11.7, 8.3))  # A4 landscape
    axis = figure.add_subplot()
    axis.axis("off")
    columns = ["label", "n", *(f"{m}\nmean (SD)\nmedian [IQR]" for m in TABLE_METRICS)]
    rows = []
    for label, metrics in per_label.items():
        cells = [label, str(metrics["dice"]["n"])]
        for metric in TABLE_METRICS:
            s = metrics[metric]
            cells.append(
                f"{number(s['mean'])} ({number(s['sd'])})\n"
                f"{number(s['median'])} [{number(s['iqr'])}]"
            )
        rows.append(cells)
    table = axis.table(cellText=rows, colLabels=columns, loc="upper center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.scale(1.0, 3.0)
    axis.set_title(title, loc="left")
    return figure


def write_report_pdf(path: Path, summary: Mapping[str, Any], figures: Sequence[Figure]) -> None:
    with PdfPages(path) as pdf:
        for model, per_label in summary["labels"].items():
            pdf.savefig(_table_page(f"{summary['project']} – {model}: all sessions", per_label))
            for site, per_site in summary["sites"][model].items():
                pdf.savefig(_table_page(f"{model}: site {site}", per_site))
        if summary.get("paired_tests"):
            pdf.savefig(paired_tests_page(summary["paired_tests"]))
        for figure in figures:
            pdf.savefig(figure)
        info = pdf.infodict()
        info["Title"] = f"{summary['project']}: segmentation evaluation {summary['run']}"


def paired_tests_page(tests: Mapping[str, Mapping[str, Mapping[str, Mapping[str, Any]]]]) -> Figure:
    figure = Figure(figsize=(11.7, 8.3))
    axis = figure.add_subplot()
    axis.axis("off")
    rows = [
        [
            key,
            label,
            metric,
            str(t["n"]),
            number(t["median_a"]),
            number(t["median_b"]),
            number(t["statistic"]),
            number(t["p_value"], 4),
        ]
        for key, per_label in tests.items()
        for label, metrics in per_label.items()
        for metric, t in metrics.items()
    ]
    columns = ["models", "label", "metric", "n", "median A", "median B", "W", "p"]
    table = axis.table(cellText=rows, colLabels=columns, loc="upper center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    axis.set_title("Paired Wilcoxon signed-rank tests", loc="left")
    return figure
