"""The demo's closing tables: Dice and HD95 per label and site from the project report's
`summary.json`, the containers' statuses, and where the pictures are."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from xnat_plugin.demo.flow import DemoResult

ALL_SITES = "all sites"


def _cell(stats: dict[str, Any] | None, digits: int) -> str:
    if not stats or stats.get("mean") is None:
        return "–"
    return f"{float(stats['mean']):.{digits}f} ± {float(stats.get('sd') or 0.0):.{digits}f}"


def metric_rows(summary: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(model, site, label, Dice, HD95) for every model, overall then per site."""
    rows = []
    for model in summary.get("models", []):
        groups = {ALL_SITES: summary["labels"].get(model, {})}
        groups.update(summary.get("sites", {}).get(model, {}))
        for site, per_label in groups.items():
            for label, metrics in per_label.items():
                rows.append(
                    (
                        model,
                        site,
                        label,
                        _cell(metrics.get("dice"), 3),
                        _cell(metrics.get("hausdorff95_mm"), 1),
                    )
                )
    return rows


def print_summary(result: DemoResult, console: Console) -> None:
    if result.report_dir is not None and (result.report_dir / "summary.json").is_file():
        summary = json.loads((result.report_dir / "summary.json").read_text())
        table = Table(title=f"Segmentation quality, {summary.get('n_sessions')} sessions")
        for column in ("model", "site", "label", "Dice (mean ± SD)", "HD95 mm (mean ± SD)"):
            table.add_column(column)
        for row in metric_rows(summary):
            table.add_row(*row)
        console.print(table)

    statuses = Counter(c.status for c in result.containers + result.automation_containers)
    table = Table(title="Containers")
    table.add_column("status")
    table.add_column("count", justify="right")
    for status, count in sorted(statuses.items()):
        table.add_row(status, str(count))
    console.print(table)

    pictures = sorted(Path(result.data_dir).glob("archive/*/arc001/*/ASSESSORS/*/REPORT/*.png"))
    if pictures:
        console.print(f"QC pictures: {len(pictures)}, e.g. {pictures[0]}")
