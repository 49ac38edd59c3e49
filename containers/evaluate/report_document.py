"""The project report as one document, built once from `summary.json` and drawn twice: as HTML
(`report_html`) and as PDF (`report_pdf`). Both show the same blocks in the same order.

Page 1 answers "how good is it": per label Dice and HD95 with 95 % CIs on the sessions the
model never saw (or, when there are none, a sentence saying so above the table of all sessions),
n, the model's name and version, and the energy the study used. Then the model card, the full
tables per group of sessions (unseen, validation, training), the per-site comparison with the
test named, the figures two per row, the worst five sessions per label with their pictures, and
every session with links to its assessors and pictures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from containers.common.data_split import ROLE_TITLES, TRAINING, UNSEEN, VALIDATION
from containers.common.metrics import display_name, heading

DETAIL_METRICS = (
    "dice",
    "hausdorff95_mm",
    "assd_mm",
    "surface_dice",
    "absolute_volume_difference_ml",
)
HEADLINE_METRICS = ("dice", "hausdorff95_mm")


@dataclass(frozen=True)
class Link:
    text: str
    href: str


Cell = str | Link


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    text: str
    note: bool = False  # small print


@dataclass(frozen=True)
class Table:
    caption: str
    columns: list[str]
    rows: list[list[Cell]]
    # Relative column widths; the first column (names) takes what its text needs.
    widths: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Picture:
    file: str  # relative to the report folder
    caption: str


@dataclass(frozen=True)
class Pictures:
    """Laid out two per row."""

    items: list[Picture]


@dataclass(frozen=True)
class PageBreak:
    pass


Block = Heading | Paragraph | Table | Pictures | PageBreak


@dataclass
class Document:
    title: str
    blocks: list[Block]


def number(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float | int) and not isinstance(value, bool):
        value = float(value)
        if math.isnan(value):
            return "–"
        if math.isinf(value):
            return "∞"
        return f"{value:.{digits}g}" if abs(value) >= 1000 else f"{value:.{digits}f}"
    return str(value)


def interval_text(value: Any, low: Any, high: Any) -> str:
    """`0.750 (0.500–1.000)`: a figure with its 95 % interval; – without a figure."""
    if value is None:
        return "–"
    if low is None or high is None:
        return number(value)
    return f"{number(value)} ({number(low)}–{number(high)})"


def _digits(metric: str) -> int:
    return 3 if metric in ("dice", "surface_dice", "iou") else 1


def mean_ci(s: Mapping[str, Any], metric: str) -> str:
    d = _digits(metric)
    if s.get("mean") is None or (isinstance(s["mean"], float) and math.isnan(s["mean"])):
        return "–"
    return f"{number(s['mean'], d)} [{number(s['ci95_low'], d)}, {number(s['ci95_high'], d)}]"


def mean_sd(s: Mapping[str, Any], metric: str) -> str:
    d = _digits(metric)
    return f"{number(s.get('mean'), d)} ({number(s.get('sd'), d)})"


def median_iqr(s: Mapping[str, Any], metric: str) -> str:
    d = _digits(metric)
    return f"{number(s.get('median'), d)} [{number(s.get('q1'), d)}, {number(s.get('q3'), d)}]"


def _tolerance(summary: Mapping[str, Any]) -> float | None:
    values = {
        row["labels"][label].get("tolerance_mm")
        for row in summary.get("sessions", [])
        for label in row.get("labels", {})
        if "tolerance_mm" in row["labels"][label]
    }
    values.discard(None)
    return float(values.pop()) if len(values) == 1 else None


def sessions(n: int, what: str = "") -> str:
    """ "1 unseen session", "4 sessions"."""
    return f"{n} {what + ' ' if what else ''}session{'' if n == 1 else 's'}"


def _group_caption(summary: Mapping[str, Any], model: str, group: str) -> str:
    roles = summary["roles"][model]
    if group == UNSEEN:
        return f"{model}: {sessions(roles[UNSEEN], 'unseen')}"
    return f"{model}: all {sessions(sum(roles.values()))}"


def headline_table(
    summary: Mapping[str, Any], model: str, per_label: Mapping[str, Any], caption: str
) -> Table:
    columns = ["label", "n"]
    for metric in HEADLINE_METRICS:
        columns += [f"{heading(metric)} mean [95 % CI]", f"{heading(metric)} median [IQR]"]
    rows: list[list[Cell]] = []
    for label, metrics in per_label.items():
        row: list[Cell] = [label, str(metrics["dice"]["n"])]
        for metric in HEADLINE_METRICS:
            row += [mean_ci(metrics[metric], metric), median_iqr(metrics[metric], metric)]
        rows.append(row)
    return Table(caption, columns, rows, [1.1, 0.4, 1.6, 1.6, 1.6, 1.6])


def detail_table(caption: str, per_label: Mapping[str, Any], tolerance: float | None) -> Table:
    columns = ["label", "n", *(heading(m, tolerance) for m in DETAIL_METRICS)]
    rows: list[list[Cell]] = []
    for label, metrics in per_label.items():
        rows.append(
            [
                label,
                str(metrics["dice"]["n"]),
                *(f"{mean_sd(metrics[m], m)}\n{median_iqr(metrics[m], m)}" for m in DETAIL_METRICS),
            ]
        )
    return Table(caption, columns, rows, [1.0, 0.4, *([1.5] * len(DETAIL_METRICS))])


def _roles_sentence(summary: Mapping[str, Any], model: str) -> str:
    roles = summary["roles"][model]
    record = summary["model_records"][model]
    counted = ", ".join(f"{n} {role}" for role, n in roles.items() if n)
    if not record["found"]:
        return (
            f"The bundle of {model} is not in this project's MONAI_MODELS, so what it was "
            f"trained on is unknown and no session can be called unseen ({counted})."
        )
    if not record["training_recorded"]:
        return (
            f"The bundle of {model} does not record the sessions it was trained on, so no "
            f"session can be called unseen ({counted})."
        )
    if roles[UNSEEN] == 0:
        return (
            f"None of the {sum(roles.values())} evaluated sessions is unseen: {model} was "
            f"trained or validated on every one of them ({counted}), so the figures below "
            "overstate how it does on new data."
        )
    return (
        f"Sessions evaluated: {counted}. The first table is on the "
        f"{sessions(roles[UNSEEN], 'unseen')} {model} never saw in training or validation "
        "(neither them nor their subjects)."
    )


def _energy_sentence(energy: Mapping[str, Any] | None) -> str:
    if not energy:
        return ""
    by_job = energy.get("by_job", {})
    parts = ", ".join(
        f"{kind} {v['kwh'] * 1000:.2f} Wh ({v['jobs']} job{'s' if v['jobs'] != 1 else ''})"
        for kind, v in by_job.items()
    )
    estimated = [kind for kind, v in by_job.items() if v["estimated"]]
    text = (
        f"Energy of the study: {energy['kwh'] * 1000:.2f} Wh ({energy['kwh']:.5f} kWh), "
        f"{energy['co2e_g']:.1f} g CO2e at {energy['grid_intensity_g_per_kwh']:g} g CO2e/kWh; "
        f"{parts}."
    )
    if estimated:
        text += f" Estimated from CPU time for {', '.join(estimated)} (no energy counter readable)."
    missing = energy.get("jobs_without_a_record") or {}
    if missing:
        text += (
            " Jobs without an energy record: "
            + ", ".join(f"{kind} {n}" for kind, n in missing.items())
            + "."
        )
    return text


def first_page(summary: Mapping[str, Any]) -> list[Block]:
    blocks: list[Block] = []
    for model in summary["models"]:
        record = summary["model_records"][model]
        version = record["version"]
        group = summary["headline"][model]
        per_label = (
            summary["by_role"][model][UNSEEN] if group == UNSEEN else summary["labels"][model]
        )
        blocks += [
            Heading(f"How good is {model}{' ' + version if version else ''}?", 2),
            Paragraph(_roles_sentence(summary, model)),
            headline_table(summary, model, per_label, _group_caption(summary, model, group)),
        ]
    blocks.append(
        Paragraph(
            "Mean with its 95 % confidence interval (percentile bootstrap, 2000 resamples, seed "
            f"{summary['seed']}) and median with the quartiles. Sessions whose reference is "
            "empty for a label are left out of that label; infinite distances (a missed organ) "
            "are left out of means and CIs and kept in medians.",
            note=True,
        )
    )
    energy = _energy_sentence(summary.get("energy"))
    if energy:
        blocks.append(Paragraph(energy))
    return blocks


def model_card_blocks(summary: Mapping[str, Any]) -> list[Block]:
    blocks: list[Block] = []
    for model in summary["models"]:
        card = summary["model_records"][model]["card"]
        if not card:
            continue
        blocks += [
            Heading(f"Model card: {model}", 2),
            Table("", ["", ""], [[key, text] for key, text in card], [1.0, 4.0]),
        ]
    return blocks


def group_tables(summary: Mapping[str, Any], tolerance: float | None) -> list[Block]:
    blocks: list[Block] = [
        Heading("All figures by group of sessions", 2),
        Paragraph(
            "Each cell: mean (SD), then median [Q1, Q3]. Unseen sessions say how the model does "
            "on new data; validation sessions chose its best epoch; training sessions were "
            "fitted and flatter it.",
            note=True,
        ),
    ]
    for model in summary["models"]:
        for role, per_label in summary["by_role"][model].items():
            n = summary["roles"][model][role]
            blocks.append(detail_table(f"{model}: {n} × {ROLE_TITLES[role]}", per_label, tolerance))
    return blocks


def site_blocks(summary: Mapping[str, Any]) -> list[Block]:
    blocks: list[Block] = [Heading("Sites", 2)]
    for model in summary["models"]:
        group = summary["headline"][model]
        what = "unseen sessions" if group == UNSEEN else "all sessions"
        rows: list[list[Cell]] = []
        for site, per_label in summary["sites"][model].items():
            for label, metrics in per_label.items():
                rows.append(
                    [
                        site,
                        label,
                        str(metrics["dice"]["n"]),
                        mean_ci(metrics["dice"], "dice"),
                        mean_ci(metrics["hausdorff95_mm"], "hausdorff95_mm"),
                    ]
                )
        blocks.append(
            Table(
                f"{model}, {what}, per site",
                ["site", "label", "n", "Dice mean [95 % CI]", "HD95 (mm) mean [95 % CI]"],
                rows,
                [1.2, 1.0, 0.4, 1.8, 1.8],
            )
        )
        tests = summary["site_tests"][model]
        test_rows: list[list[Cell]] = [
            [
                label,
                t["test"],
                ", ".join(f"{s} {n}" for s, n in t["sites"].items()),
                number(t["statistic"], 2),
                number(t["p_value"], 3),
                t["note"],
            ]
            for label, t in tests.items()
        ]
        blocks.append(
            Table(
                f"{model}: do the sites differ in Dice? ({what})",
                ["label", "test", "sessions per site", "statistic", "p", "note"],
                test_rows,
                [1.0, 1.8, 1.4, 0.8, 0.6, 1.6],
            )
        )
    return blocks


def paired_blocks(summary: Mapping[str, Any]) -> list[Block]:
    blocks: list[Block] = []
    for key, per_label in summary.get("paired_tests", {}).items():
        rows: list[list[Cell]] = [
            [
                label,
                display_name(metric),
                str(t["n"]),
                number(t["median_a"]),
                number(t["median_b"]),
                number(t["statistic"], 1),
                number(t["p_value"], 4),
                t["note"],
            ]
            for label, metrics in per_label.items()
            for metric, t in metrics.items()
        ]
        blocks += [
            Heading(f"Paired comparison: {key}", 2),
            Table(
                "Wilcoxon signed-rank test on the sessions both models segmented",
                ["label", "metric", "n", "median A", "median B", "W", "p", "note"],
                rows,
                [0.9, 0.8, 0.4, 0.8, 0.8, 0.6, 0.6, 2.4],
            ),
        ]
    return blocks


def figure_blocks(figures: Mapping[str, str]) -> list[Block]:
    items = [Picture(name, caption) for name, caption in figures.items()]
    return [
        Heading("Figures", 2),
        Paragraph(
            "Box plots: every session, one colour per group (unseen, validation, training); "
            "empty references and infinite distances left out. Bland–Altman: AI − reference "
            "volume against their mean, with the bias and its 95 % limits of agreement.",
            note=True,
        ),
        Pictures(items),
    ]


def _session_dice(row: Mapping[str, Any], label: str) -> str:
    values = row["labels"].get(label)
    if not values or values.get("reference_empty"):
        return "–"
    return f"{number(values.get('dice'))} / {number(values.get('hausdorff95_mm'), 1)}"


def worst_blocks(summary: Mapping[str, Any], pictures: Mapping[str, str]) -> list[Block]:
    rows_by_id = {(r["model"], r["session_id"]): r for r in summary["sessions"]}
    blocks: list[Block] = [Heading("Worst five sessions per label", 2)]
    for model in summary["models"]:
        for label, ids in summary["worst_sessions"][model].items():
            rows = [rows_by_id[(model, sid)] for sid in ids]
            blocks.append(
                Table(
                    f"{model}, {label}: lowest Dice",
                    ["session", "site", "group", "Dice / HD95 (mm)", "pictures"],
                    [
                        [
                            Link(r["session"], r["links"]["session"]),
                            r["site"],
                            r["role"],
                            _session_dice(r, label),
                            Link("disagreement", r["links"]["disagreement"]),
                        ]
                        for r in rows
                    ],
                    [1.6, 1.0, 0.9, 1.2, 1.1],
                )
            )
            shown = [
                Picture(
                    pictures[r["session_id"]],
                    f"{r['session']} ({r['role']}): {label} Dice {number(r['labels'][label].get('dice'))}",
                )
                for r in rows
                if r["session_id"] in pictures
            ]
            if shown:
                blocks.append(Pictures(shown))
    return blocks


def session_table(summary: Mapping[str, Any]) -> list[Block]:
    labels: list[str] = []
    for row in summary["sessions"]:
        labels.extend(n for n in row["labels"] if n not in labels)
    rows: list[list[Cell]] = []
    order = {UNSEEN: 0, VALIDATION: 1, TRAINING: 2}
    for r in sorted(
        summary["sessions"], key=lambda r: (r["model"], order.get(r["role"], 3), r["session"])
    ):
        links = r["links"]
        rows.append(
            [
                Link(r["session"], links["session"]),
                r["site"],
                r["role"],
                *(_session_dice(r, label) for label in labels),
                Link("segmentation", links["segmentation"]) if "segmentation" in links else "–",
                Link("QC", links["qc"]) if "qc" in links else "–",
                Link("evaluation", links["evaluation"]),
            ]
        )
    columns = ["session", "site", "group", *(f"{label}: Dice / HD95" for label in labels)]
    columns += ["assessor", "QC", "metrics"]
    widths = [1.7, 1.0, 0.9, *([1.1] * len(labels)), 1.2, 0.5, 1.0]
    if len(summary["models"]) > 1:
        columns.insert(1, "model")
        widths.insert(1, 0.9)
        for row, r in zip(
            rows,
            sorted(
                summary["sessions"],
                key=lambda r: (r["model"], order.get(r["role"], 3), r["session"]),
            ),
            strict=True,
        ):
            row.insert(1, r["model"])
    return [
        Heading("Every session", 2),
        Paragraph(
            "Dice / HD95 (mm) per label; links open the session, its AI segmentation assessor, "
            "the segmentation's QC picture and the evaluation assessor in XNAT.",
            note=True,
        ),
        Table("", columns, rows, widths),
    ]


def provenance_blocks(summary: Mapping[str, Any]) -> list[Block]:
    provenance = summary.get("provenance") or {}
    image = provenance.get("image") or {}
    software = provenance.get("software") or {}
    rows: list[list[Cell]] = [
        ["run", f"{summary['run']}, started {provenance.get('started', '?')}"],
        [
            "image",
            image.get("reference", "?")
            + (f" ({image['source_commit']})" if image.get("source_commit") else ""),
        ],
        ["software", ", ".join(f"{k} {v}" for k, v in software.items())],
        [
            "inputs",
            f"{len(provenance.get('inputs', {}))} session evaluations (URIs in summary.json)",
        ],
    ]
    return [Heading("Provenance", 2), Table("", ["", ""], rows, [1.0, 4.0])]


def build_document(
    summary: Mapping[str, Any], figures: Mapping[str, str], pictures: Mapping[str, str]
) -> Document:
    """`figures`: file → caption, in the order shown; `pictures`: session ID → its picture."""
    tolerance = _tolerance(summary)
    blocks: list[Block] = [
        Heading(f"Project {summary['project']}: segmentation evaluation", 1),
        Paragraph(
            f"Run {summary['run']}: {summary['n_sessions']} sessions, "
            f"model{'s' if len(summary['models']) > 1 else ''} "
            + ", ".join(
                f"{m} {summary['model_records'][m]['version']}".strip() for m in summary["models"]
            )
            + "."
        ),
        *first_page(summary),
        PageBreak(),
        *model_card_blocks(summary),
        *group_tables(summary, tolerance),
        *site_blocks(summary),
        *paired_blocks(summary),
        PageBreak(),
        *figure_blocks(figures),
        PageBreak(),
        *worst_blocks(summary, pictures),
        PageBreak(),
        *session_table(summary),
        *provenance_blocks(summary),
    ]
    return Document(f"{summary['project']}: segmentation evaluation {summary['run']}", blocks)
