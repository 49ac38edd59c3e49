"""The project report's statistics on hand-made cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import wilcoxon

from containers.common.metrics import summarise
from containers.evaluate.project_cases import CaseEvaluation
from containers.evaluate.project_stats import bland_altman, paired_wilcoxon, summarise_by_site


def _case(session: str, model: str, dice: float, site: str = "a", **extra: float) -> CaseEvaluation:
    row = {
        "dice": dice,
        "reference_empty": 0.0,
        "volume_reference_ml": 10.0,
        "volume_prediction_ml": 10.0 + dice,
        "hausdorff95_mm": 1.0,
        **extra,
    }
    return CaseEvaluation(session, session, site, model, f"{session}_monai_eval_x", {"liver": row})


def test_bootstrap_interval_is_reproducible_for_a_seed_and_brackets_the_mean():
    values = [0.7, 0.8, 0.85, 0.9, 0.95, 0.6]
    first, again = summarise(values, seed=3), summarise(values, seed=3)
    assert (first.ci95_low, first.ci95_high) == (again.ci95_low, again.ci95_high)
    assert first.ci95_low < np.mean(values) < first.ci95_high
    assert first.sd == pytest.approx(np.std(values, ddof=1))
    assert first.iqr == pytest.approx(np.percentile(values, 75) - np.percentile(values, 25))


def test_paired_wilcoxon_equals_scipy_on_the_sessions_both_models_evaluated():
    a = [0.80, 0.82, 0.91, 0.70, 0.88, 0.79]
    b = [0.78, 0.85, 0.86, 0.60, 0.80, 0.75]
    cases = [_case(f"s{i}", "A", v) for i, v in enumerate(a)]
    cases += [_case(f"s{i}", "B", v) for i, v in enumerate(b)]
    cases.append(_case("only_a", "A", 0.1))  # unpaired: left out
    result = paired_wilcoxon(cases, "A", "B", "liver", "dice")
    expected = wilcoxon(a, b)
    assert result.n == 6
    assert result.p_value == pytest.approx(expected.pvalue)
    assert result.statistic == pytest.approx(expected.statistic)


def test_paired_test_leaves_out_infinite_distances_and_says_so_when_too_few_remain():
    cases = [
        _case("s1", "A", 0.8, hausdorff95_mm=math.inf),
        _case("s1", "B", 0.7),
        _case("s2", "A", 0.8),
        _case("s2", "B", 0.7),
    ]
    result = paired_wilcoxon(cases, "A", "B", "liver", "hausdorff95_mm")
    assert result.n == 1 and math.isnan(result.p_value) and "fewer" in result.note


def test_bland_altman_bias_and_limits_of_agreement():
    cases = [_case(f"s{i}", "A", d) for i, d in enumerate([0.5, 1.0, 1.5, 2.0])]
    result = bland_altman(cases, "liver")
    differences = np.array([0.5, 1.0, 1.5, 2.0])
    assert result.bias_ml == pytest.approx(differences.mean())
    assert result.upper_limit_ml == pytest.approx(
        differences.mean() + 1.96 * differences.std(ddof=1)
    )
    assert result.means_ml == pytest.approx(list(10.0 + differences / 2))


def test_per_site_summaries_only_use_that_sites_sessions():
    cases = [
        _case("s1", "A", 0.9, "north"),
        _case("s2", "A", 0.7, "north"),
        _case("s3", "A", 0.2, "south"),
    ]
    by_site = summarise_by_site(cases, seed=0)
    assert by_site["north"]["liver"]["dice"]["mean"] == pytest.approx(0.8)
    assert by_site["south"]["liver"]["dice"]["n"] == 1
