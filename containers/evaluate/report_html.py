"""`report.html`: the project report for people, one self-contained page beside its PNGs."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

TABLE_METRICS = (
    "dice",
    "hausdorff95_mm",
    "assd_mm",
    "surface_dice",
    "absolute_volume_difference_ml",
)
_STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
caption { text-align: left; font-weight: bold; padding: 0.3em 0; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.5em 0; }
.note { color: #555; font-size: 0.9em; }
"""


def number(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        if math.isinf(value):
            return "∞"
        return f"{value:.{digits}g}" if abs(value) >= 1000 else f"{value:.{digits}f}"
    return str(value)


def summary_table(caption: str, per_label: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> str:
    head = "".join(
        f"<th>{html.escape(m)}<br>mean (SD)</th><th>median [IQR]</th><th>95 % CI</th>"
        for m in TABLE_METRICS
    )
    rows = []
    for label, metrics in per_label.items():
        cells = []
        for metric in TABLE_METRICS:
            s = metrics[metric]
            cells.append(
                f"<td>{number(s['mean'])} ({number(s['sd'])})</td>"
                f"<td>{number(s['median'])} [{number(s['iqr'])}]</td>"
                f"<td>{number(s['ci95_low'])}–{number(s['ci95_high'])}</td>"
            )
        n = metrics["dice"]["n"]
        rows.append(f"<tr><td>{html.escape(label)} (n={n})</td>{''.join(cells)}</tr>")
    return f"<table><caption>{html.escape(caption)}</caption><tr><th>label</th>{head}</tr>{''.join(rows)}</table>"


def paired_table(caption: str, tests: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> str:
    rows = []
    for label, metrics in tests.items():
        for metric, t in metrics.items():
            rows.append(
                f"<tr><td>{html.escape(label)}</td><td>{html.escape(metric)}</td><td>{t['n']}</td>"
                f"<td>{number(t['median_a'])}</td><td>{number(t['median_b'])}</td>"
                f"<td>{number(t['statistic'])}</td><td>{number(t['p_value'], 4)}</td>"
                f"<td>{html.escape(t['note'])}</td></tr>"
            )
    return (
        f"<table><caption>{html.escape(caption)}</caption><tr><th>label</th><th>metric</th>"
        "<th>n</th><th>median A</th><th>median B</th><th>W</th><th>p</th><th>note</th></tr>"
        f"{''.join(rows)}</table>"
    )


def render_report_html(summary: Mapping[str, Any], figures: Sequence[str]) -> str:
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(summary['project'])}: segmentation evaluation</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Project {html.escape(summary['project'])}: segmentation evaluation</h1>",
        f"<p>Run {html.escape(summary['run'])}, {summary['n_sessions']} sessions, models: "
        f"{html.escape(', '.join(summary['models']))}.</p>",
        "<p class='note'>Cases whose reference is empty for a label are left out of that "
        "label's statistics; infinite distances (a missed organ) are left out of means and "
        "CIs and kept in medians. CI: percentile bootstrap of the mean, seed "
        f"{summary['seed']}.</p>",
    ]
    for model, per_label in summary["labels"].items():
        parts.append(summary_table(f"{model}: all sessions", per_label))
        for site, per_site in summary["sites"][model].items():
            parts.append(summary_table(f"{model}: site {site}", per_site))
    for key, tests in summary.get("paired_tests", {}).items():
        parts.append(paired_table(f"Paired Wilcoxon signed-rank tests, {key}", tests))
    for figure in figures:
        parts.append(f"<div><img src='{html.escape(figure)}' alt='{html.escape(figure)}'></div>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
