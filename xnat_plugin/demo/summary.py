"""The demo's closing tables: Dice and HD95 per label from the project report's `summary.json`,
on the sessions the model never saw first (per site too), then the sessions it was validated and
trained on; the containers' statuses and energy; and where the pictures are."""

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
# The groups of sessions `summary.json` reports (containers/common/data_split.py), in order.
GROUP_ORDER = ("unseen", "validation", "training", "unknown")


def _cell(stats: dict[str, Any] | None, digits: int) -> str:
    if not stats or stats.get("mean") is None:
        return "–"
    return f"{float(stats['mean']):.{digits}f} ± {float(stats.get('sd') or 0.0):.{digits}f}"


def metric_rows(summary: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    """(model, sessions, site, label, Dice, HD95): the unseen sessions first, overall and per
    site, then every other group overall."""
    rows = []
    for model in summary.get("models", []):
        counts = summary.get("roles", {}).get(model, {})
        by_role = summary.get("by_role", {}).get(model, {})
        for group in GROUP_ORDER:
            if group not in by_role:
                continue
            groups = {ALL_SITES: by_role[group]}
            if group == summary.get("headline", {}).get(model):
                groups.update(summary.get("sites", {}).get(model, {}))
            for site, per_label in groups.items():
                for label, metrics in per_label.items():
                    rows.append(
                        (
                            model,
                            f"{counts.get(group, '?')} {group}",
                            site,
                            label,
                            _cell(metrics.get("dice"), 3),
                            _cell(metrics.get("hausdorff95_mm"), 1),
                        )
                    )
    return rows


def unseen_sentence(summary: dict[str, Any]) -> str:
    """A warning for every model that has no unseen session (its figures flatter it)."""
    lines = []
    for model in summary.get("models", []):
        if summary.get("headline", {}).get(model) != "unseen":
            lines.append(
                f"No session is unseen by {model}: it was trained or validated on every evaluated "
                "session (or its training data is not recorded), so these figures overstate how "
                "it does on new data."
            )
    return " ".join(lines)


def print_summary(result: DemoResult, console: Console) -> None:
    if result.report_dir is not None and (result.report_dir / "summary.json").is_file():
        summary = json.loads((result.report_dir / "summary.json").read_text())
        table = Table(title=f"Segmentation quality, {summary.get('n_sessions')} sessions")
        columns = ("model", "sessions", "site", "label", "Dice (mean ± SD)", "HD95 mm (mean ± SD)")
        for column in columns:
            table.add_column(column)
        for row in metric_rows(summary):
            table.add_row(*row)
        console.print(table)
        warning = unseen_sentence(summary)
        if warning:
            console.print(warning)
        energy = summary.get("energy")
        if energy:
            console.print(
                f"Energy of the study: {energy['kwh'] * 1000:.1f} Wh, "
                f"{energy['co2e_g']:.1f} g CO2e at {energy['grid_intensity_g_per_kwh']:g} g/kWh"
            )

    print_containers(result, console)


def print_containers(result: DemoResult, console: Console) -> None:
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


def print_classification_summary(result: DemoResult, console: Console) -> None:
    """ROC AUC and the operating point per model on the held-out sessions, from the report's
    `summary.json` (`containers.classify.project`), then the containers."""
    if result.report_dir is not None and (result.report_dir / "summary.json").is_file():
        summary = json.loads((result.report_dir / "summary.json").read_text())
        table = Table(title=f"Classification of {summary['positive']}, held-out sessions")
        for column in ("model", "sessions", "AUC [95 % CI, DeLong]", "sensitivity / specificity"):
            table.add_column(column)
        for model, figures in summary["models"].items():
            auc = figures["auc_delong"]
            point = figures["at_threshold"]
            table.add_row(
                model,
                str(figures["sessions"]),
                f"{auc['value']:.3f} [{auc['low']:.3f}, {auc['high']:.3f}]"
                if "value" in auc
                else auc.get("undefined", "–"),
                f"{point['sensitivity']:.2f} / {point['specificity']:.2f}"
                if "sensitivity" in point
                else "–",
            )
        console.print(table)
    print_containers(result, console)
