"""The project report's pictures: box plots per metric and Bland–Altman plots of volumes.

Each function returns a matplotlib Figure; the caller saves it as PNG (for HTML) and adds it to
the PDF, so both reports show the same drawing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from containers.common.metrics import METRIC_UNITS
from containers.evaluate.project_cases import CaseEvaluation
from containers.evaluate.project_stats import BlandAltman, label_names, models_of

BOX_PLOT_METRICS = ("dice", "hausdorff95_mm", "assd_mm", "surface_dice")


def _finite_values(
    cases: Sequence[CaseEvaluation], model: str, label: str, metric: str
) -> list[float]:
    values = []
    for case in cases:
        row = case.labels.get(label, {})
        if case.model != model or row.get("reference_empty", 0.0):
            continue
        value = row.get(metric, math.nan)
        if math.isfinite(value):
            values.append(value)
    return values


def box_plot(cases: Sequence[CaseEvaluation], metric: str) -> Figure:
    """One group of boxes per label, one box per model."""
    labels, models = label_names(cases), models_of(cases)
    figure = Figure(figsize=(max(5.0, 1.6 * len(labels) * len(models)), 3.8))
    axis = figure.add_subplot()
    width = 0.8 / len(models)
    for m, model in enumerate(models):
        data = [_finite_values(cases, model, label, metric) for label in labels]
        positions = [i + (m - (len(models) - 1) / 2) * width for i in range(len(labels))]
        boxes = axis.boxplot(
            [d if d else [math.nan] for d in data],
            positions=positions,
            widths=width * 0.9,
            patch_artist=True,
            showfliers=True,
        )
        colour = f"C{m}"
        for patch in boxes["boxes"]:
            patch.set_facecolor(colour)
            patch.set_alpha(0.5)
        axis.plot([], [], color=colour, linewidth=8, alpha=0.5, label=model)
    axis.set_xticks(range(len(labels)), labels)
    unit = METRIC_UNITS.get(metric, "")
    axis.set_ylabel(f"{metric} ({unit})" if unit and unit != "1" else metric)
    axis.set_title(f"{metric} per label (empty references and infinite distances left out)")
    axis.legend(fontsize=8)
    figure.tight_layout()
    return figure


def bland_altman_plot(results: dict[str, BlandAltman], model: str) -> Figure:
    """One panel per label: (AI + reference)/2 against AI − reference, with bias and limits."""
    figure = Figure(figsize=(4.0 * max(1, len(results)), 3.6))
    for index, (label, result) in enumerate(results.items(), start=1):
        axis = figure.add_subplot(1, len(results), index)
        axis.scatter(result.means_ml, result.differences_ml, s=14, color="C0")
        if result.n:
            axis.axhline(result.bias_ml, color="C1", label=f"bias {result.bias_ml:.2f} mL")
        if result.n > 1 and np.isfinite(result.sd_ml):
            for limit in (result.lower_limit_ml, result.upper_limit_ml):
                axis.axhline(limit, color="C3", linestyle="--")
        axis.set_title(f"{label} ({model}), n={result.n}", fontsize=9)
        axis.set_xlabel("mean volume (mL)")
        axis.set_ylabel("AI − reference (mL)")
        axis.legend(fontsize=7)
    figure.tight_layout()
    return figure
