"""The project report's pictures: box plots per metric and Bland–Altman plots of volumes.

Each function returns a matplotlib Figure sized for half a page or half a laptop window (the
report shows them two per row), titled with the metric's display name; every text stays inside
the canvas (`constrained` layout). Each session's point is drawn over the boxes, coloured by its
group (unseen, validation, training), so a reader sees which sessions the model had seen.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from containers.common.data_split import ROLE_ORDER
from containers.common.metrics import heading
from containers.evaluate.project_cases import CaseEvaluation
from containers.evaluate.project_stats import BlandAltman, label_names, models_of

BOX_PLOT_METRICS = ("dice", "hausdorff95_mm", "assd_mm", "surface_dice")
FIGURE_DPI = 120
FIGURE_SIZE = (5.6, 3.6)  # inches: two fit side by side on A4 and in a 1280-px window
MODEL_COLOURS = ("#d9d9d9", "#fde0c5", "#c6dbef")
ROLE_COLOURS = {
    "unseen": "#1b7837",
    "validation": "#2166ac",
    "training": "#b2182b",
    "unknown": "#555555",
}


def _finite_values(
    cases: Sequence[CaseEvaluation], model: str, label: str, metric: str, role: str | None = None
) -> list[float]:
    values = []
    for case in cases:
        row = case.labels.get(label, {})
        if case.model != model or row.get("reference_empty", 0.0):
            continue
        if role is not None and case.role != role:
            continue
        value = row.get(metric, math.nan)
        if math.isfinite(value):
            values.append(value)
    return values


def box_plot(cases: Sequence[CaseEvaluation], metric: str) -> Figure:
    """One group of boxes per label, one box per model, every session as a point."""
    labels, models = label_names(cases), models_of(cases)
    figure = Figure(figsize=FIGURE_SIZE, layout="constrained")
    axis = figure.add_subplot()
    width = 0.8 / len(models)
    rng = np.random.default_rng(0)
    for m, model in enumerate(models):
        data = [_finite_values(cases, model, label, metric) for label in labels]
        positions = [i + (m - (len(models) - 1) / 2) * width for i in range(len(labels))]
        boxes = axis.boxplot(
            [d if d else [math.nan] for d in data],
            positions=positions,
            widths=width * 0.8,
            showfliers=False,
            patch_artist=True,
            medianprops={"color": "black"},
        )
        for patch in boxes["boxes"]:
            patch.set_facecolor(MODEL_COLOURS[m % len(MODEL_COLOURS)])
        for role in ROLE_ORDER:
            for position, label in zip(positions, labels, strict=True):
                values = _finite_values(cases, model, label, metric, role)
                if values:
                    jitter = rng.uniform(-width * 0.25, width * 0.25, len(values))
                    axis.scatter(
                        position + jitter, values, s=12, color=ROLE_COLOURS[role], zorder=3
                    )
    present = [r for r in ROLE_ORDER if any(c.role == r for c in cases)]
    for role in present:
        axis.scatter([], [], s=12, color=ROLE_COLOURS[role], label=f"{role} session")
    if len(models) > 1:
        for m, model in enumerate(models):
            axis.fill_between([], [], color=MODEL_COLOURS[m % len(MODEL_COLOURS)], label=model)
    axis.set_xticks(range(len(labels)), labels)
    axis.set_ylabel(heading(metric))
    title = heading(metric) + (f", {models[0]}" if len(models) == 1 else "")
    axis.set_title(title, fontsize=10)
    axis.legend(fontsize=7, loc="best")
    axis.grid(axis="y", alpha=0.3)
    return figure


def bland_altman_plot(result: BlandAltman, label: str, model: str) -> Figure:
    """(AI + reference)/2 against AI − reference for one label, with the bias and its limits."""
    figure = Figure(figsize=FIGURE_SIZE, layout="constrained")
    axis = figure.add_subplot()
    axis.scatter(result.means_ml, result.differences_ml, s=14, color="C0", zorder=3)
    if result.n:
        axis.axhline(result.bias_ml, color="C1", label=f"bias {result.bias_ml:.1f} mL")
    if result.n > 1 and np.isfinite(result.sd_ml):
        axis.axhline(
            result.upper_limit_ml,
            color="C3",
            linestyle="--",
            label=f"limits of agreement {result.lower_limit_ml:.1f} to {result.upper_limit_ml:.1f}",
        )
        axis.axhline(result.lower_limit_ml, color="C3", linestyle="--")
    axis.set_title(f"Bland–Altman, {label} volume, {model} (n = {result.n})", fontsize=10)
    axis.set_xlabel("mean of AI and reference volume (mL)")
    axis.set_ylabel("AI − reference (mL)")
    axis.grid(alpha=0.3)
    if result.n:
        axis.legend(fontsize=7, loc="best")
    return figure
