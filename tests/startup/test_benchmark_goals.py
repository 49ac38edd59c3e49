"""The benchmark table's verdicts: a goal on the ratio, or (start-up) a bound on ours itself."""

from __future__ import annotations

import pytest

from benchmarks.harness import BenchResult


def test_a_ratio_goal_judges_ours_over_the_reference() -> None:
    assert BenchResult("x", 1.0, 2.0, "<=0.5").holds
    assert not BenchResult("x", 1.1, 2.0, "<=0.5").holds


def test_a_goal_on_ours_judges_the_figure_whatever_the_ratio() -> None:
    # 2 s of start-up is 50× an idle interpreter's 0.04 s, and within a 3 s bound.
    assert BenchResult("start-up", 2.0, 0.04, "ours<=3").holds
    assert not BenchResult("start-up", 3.5, 3.0, "ours<=3").holds


def test_a_goal_without_a_comparison_is_refused() -> None:
    with pytest.raises(ValueError, match="must start with"):
        _ = BenchResult("x", 1.0, 1.0, "ours=3").holds
