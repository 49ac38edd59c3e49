"""The numbers of a project report: per-label summaries (overall and per site), Bland–Altman of
volumes, and paired Wilcoxon tests between two models.

Which cases count follows `containers.common.metrics.aggregate`: a case whose reference is
empty for a label stays out of that label's statistics; NaN is undefined; +inf distances are
counted apart (see containers/common/metrics/README.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from containers.common.metrics import SUMMARY_METRICS, summarise, values_for_summary
from containers.evaluate.project_cases import CaseEvaluation

PAIRED_TEST_METRICS = ("dice", "hausdorff95_mm", "assd_mm", "surface_dice")


def label_names(cases: Sequence[CaseEvaluation]) -> list[str]:
    names: list[str] = []
    for case in cases:
        names.extend(n for n in case.labels if n not in names)
    return names


def models_of(cases: Sequence[CaseEvaluation]) -> list[str]:
    return sorted({c.model for c in cases})


def _rows(cases: Sequence[CaseEvaluation], label: str) -> list[dict[str, object]]:
    return [dict(c.labels[label]) for c in cases if label in c.labels]


def summarise_cases(
    cases: Sequence[CaseEvaluation], seed: int
) -> dict[str, dict[str, dict[str, Any]]]:
    """label → metric → Summary as a dict, over the given cases (one model)."""
    result: dict[str, dict[str, dict[str, Any]]] = {}
    for label in label_names(cases):
        rows = [
            {**row, "reference_empty": bool(row.get("reference_empty", 0.0))}
            for row in _rows(cases, label)
        ]
        result[label] = {
            metric: summarise(values_for_summary(rows, metric), seed=seed).as_dict()
            for metric in SUMMARY_METRICS
        }
        result[label]["cases_with_empty_reference"] = {
            "n": sum(1 for row in rows if row["reference_empty"])
        }
    return result


def summarise_by_site(
    cases: Sequence[CaseEvaluation], seed: int
) -> dict[str, dict[str, dict[str, dict[str, Any]]]]:
    sites = sorted({c.site for c in cases})
    return {site: summarise_cases([c for c in cases if c.site == site], seed) for site in sites}


@dataclass(frozen=True)
class BlandAltman:
    """AI − reference volume (mL): mean difference (bias) and 95 % limits of agreement."""

    n: int
    bias_ml: float
    sd_ml: float
    lower_limit_ml: float
    upper_limit_ml: float
    means_ml: list[float]
    differences_ml: list[float]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def bland_altman(cases: Sequence[CaseEvaluation], label: str) -> BlandAltman:
    pairs = [
        (row["volume_prediction_ml"], row["volume_reference_ml"])
        for row in (c.labels.get(label, {}) for c in cases)
        if "volume_prediction_ml" in row and not row.get("reference_empty", 0.0)
    ]
    ai = np.asarray([p[0] for p in pairs], dtype=float)
    reference = np.asarray([p[1] for p in pairs], dtype=float)
    differences, means = ai - reference, (ai + reference) / 2
    bias = float(differences.mean()) if len(pairs) else math.nan
    sd = float(differences.std(ddof=1)) if len(pairs) > 1 else math.nan
    return BlandAltman(
        n=len(pairs),
        bias_ml=bias,
        sd_ml=sd,
        lower_limit_ml=bias - 1.96 * sd,
        upper_limit_ml=bias + 1.96 * sd,
        means_ml=[float(v) for v in means],
        differences_ml=[float(v) for v in differences],
    )


@dataclass(frozen=True)
class PairedTest:
    """Wilcoxon signed-rank test of model A vs model B on the sessions both evaluated."""

    model_a: str
    model_b: str
    n: int
    median_a: float
    median_b: float
    statistic: float
    p_value: float
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def paired_wilcoxon(
    cases: Sequence[CaseEvaluation], model_a: str, model_b: str, label: str, metric: str
) -> PairedTest:
    from scipy.stats import wilcoxon

    by_session: dict[str, dict[str, float]] = {}
    for case in cases:
        row = case.labels.get(label, {})
        if case.model in (model_a, model_b) and not row.get("reference_empty", 0.0):
            value = row.get(metric, math.nan)
            by_session.setdefault(case.session_id, {})[case.model] = value
    pairs = [
        (values[model_a], values[model_b])
        for values in by_session.values()
        if model_a in values
        and model_b in values
        and math.isfinite(values[model_a])
        and math.isfinite(values[model_b])
    ]
    a = np.asarray([p[0] for p in pairs], dtype=float)
    b = np.asarray([p[1] for p in pairs], dtype=float)
    medians = (
        float(np.median(a)) if len(a) else math.nan,
        float(np.median(b)) if len(b) else math.nan,
    )
    if len(pairs) < 2 or not np.any(a != b):
        note = "fewer than two paired sessions" if len(pairs) < 2 else "all differences are 0"
        return PairedTest(model_a, model_b, len(pairs), *medians, math.nan, math.nan, note)
    result = wilcoxon(a, b)
    return PairedTest(
        model_a,
        model_b,
        len(pairs),
        *medians,
        float(result.statistic),
        float(result.pvalue),
        "sessions where a distance is infinite (a missed organ) are left out",
    )


def paired_tests(
    cases: Sequence[CaseEvaluation], model_a: str, model_b: str
) -> dict[str, dict[str, dict[str, Any]]]:
    return {
        label: {
            metric: paired_wilcoxon(cases, model_a, model_b, label, metric).as_dict()
            for metric in PAIRED_TEST_METRICS
        }
        for label in label_names(cases)
    }


@dataclass(frozen=True)
class SiteTest:
    """Do the sites differ? Mann–Whitney U for two sites, Kruskal–Wallis H for more (rank tests:
    no normality assumed), on the sessions with a finite value."""

    label: str
    metric: str
    test: str
    sites: dict[str, int]  # site → n
    statistic: float
    p_value: float
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


MANN_WHITNEY = "Mann–Whitney U (two-sided)"
KRUSKAL_WALLIS = "Kruskal–Wallis H"


def site_test(cases: Sequence[CaseEvaluation], label: str, metric: str) -> SiteTest:
    from scipy.stats import kruskal, mannwhitneyu

    groups: dict[str, list[float]] = {}
    for case in cases:
        row = case.labels.get(label, {})
        value = row.get(metric, math.nan)
        if not row.get("reference_empty", 0.0) and math.isfinite(value):
            groups.setdefault(case.site, []).append(value)
    sizes = {site: len(values) for site, values in sorted(groups.items())}
    name = MANN_WHITNEY if len(groups) == 2 else KRUSKAL_WALLIS if len(groups) > 2 else "none"
    if len(groups) < 2 or min(sizes.values()) < 2:
        note = "one site only" if len(groups) < 2 else "a site has fewer than two sessions"
        return SiteTest(label, metric, name, sizes, math.nan, math.nan, note)
    values = [groups[site] for site in sizes]
    if len({v for group in values for v in group}) == 1:
        return SiteTest(label, metric, name, sizes, math.nan, math.nan, "all values are equal")
    result = (
        mannwhitneyu(*values, alternative="two-sided") if len(values) == 2 else kruskal(*values)
    )
    return SiteTest(label, metric, name, sizes, float(result.statistic), float(result.pvalue))


def site_tests(cases: Sequence[CaseEvaluation], metric: str = "dice") -> dict[str, dict[str, Any]]:
    return {label: site_test(cases, label, metric).as_dict() for label in label_names(cases)}
