"""A time budget: the learning-rate schedule is fitted to whichever ends first, the budget or
the epochs asked for, so a run cut by its budget still ends with its learning rate at the floor."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from containers.train import budget
from containers.train.__main__ import main
from containers.train.schedule import WarmupCosine
from tests.train.project_archive import write_project_archive


def test_the_schedule_warms_up_then_ends_at_its_floor_on_the_last_step() -> None:
    schedule = WarmupCosine(total_steps=100, warmup_fraction=0.1, floor=0.05)
    assert schedule(0) == pytest.approx(0.1)
    assert schedule(9) == pytest.approx(1.0)
    factors = [schedule(step) for step in range(10, 101)]
    assert all(a >= b for a, b in zip(factors, factors[1:], strict=False))
    assert schedule(100) == pytest.approx(0.05)
    assert schedule(150) == pytest.approx(0.05)


def test_a_refit_continues_from_the_rate_reached_and_ends_on_the_new_last_step() -> None:
    schedule = WarmupCosine(total_steps=200, warmup_fraction=0.05)
    before = schedule(40)
    schedule.refit(at_step=40, total_steps=80)
    assert schedule(40) == pytest.approx(before)  # no jump
    factors = [schedule(step) for step in range(40, 81)]
    assert all(a >= b for a, b in zip(factors, factors[1:], strict=False))
    assert schedule(80) == pytest.approx(0.0)
    # A refit inside the warm-up ends the warm-up there.
    early = WarmupCosine(total_steps=100, warmup_fraction=0.2)
    reached = early(5)
    early.refit(at_step=5, total_steps=10)
    assert early(5) == pytest.approx(reached)
    assert early(10) == pytest.approx(0.0)


def test_epochs_that_fit_follow_the_pace_without_the_first_epochs_warm_up() -> None:
    margin = 1 + budget.PACE_MARGIN
    # 20 s per epoch (the first, 60 s, paid for warm-up), planned with the margin.
    assert budget.epochs_that_fit(2, 50, [60.0, 20.0], 100.0 * margin) == 7
    assert budget.epochs_that_fit(2, 50, [60.0, 20.0], 99.0 * margin) == 6
    assert budget.epochs_that_fit(1, 50, [30.0], 120.0 * margin) == 5  # alone: its own pace
    assert budget.epochs_that_fit(2, 5, [10.0, 10.0], 1000.0) == 5  # never more than asked
    assert budget.epochs_that_fit(3, 50, [10.0, 10.0, 10.0], 5.0) == 3  # never fewer than done
    assert budget.epochs_that_fit(0, 50, [], 1.0) == 50  # nothing measured yet


def test_folds_share_what_is_left_of_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(budget, "now", lambda: 1000.0)
    assert budget.fold_deadline(1600.0, 3) == pytest.approx(1200.0)
    assert budget.fold_deadline(None, 3) is None


class StepClock:
    """A clock that moves `step` seconds each time it is read. The trainer reads it once per
    epoch (and the run twice before): every epoch 'takes' `step` seconds."""

    def __init__(self, step: float) -> None:
        self.step, self.time = step, 0.0

    def __call__(self) -> float:
        self.time += self.step
        return self.time


@pytest.mark.slow
def test_a_budget_shorter_than_the_epochs_ends_with_a_finished_schedule_and_a_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = write_project_archive(tmp_path / "P", 3)
    # 90 s at 10 s per epoch, of which 20 s go before the first: 6 epochs fit of the 40 asked.
    monkeypatch.setattr(budget, "now", StepClock(10.0))
    output = tmp_path / "out"
    code = main(
        [
            "--project", "P", "--model-name", "m", "--output", str(output),
            "--project-dir", str(project), "--epochs", "40", "--max-minutes", "1.5",
            "--steps-per-epoch", "2", "--patch-size", "32,32,16", "--device", "cpu",
        ]
    )  # fmt: skip
    assert code == 0
    report = json.loads((output / "m" / "report" / "report.json").read_text())
    history = report["history"]["fold_0"]
    assert len(history) == 6
    assert report["folds"][0]["stopped_early"] is True
    last = history[-1]
    assert last["planned_epochs"] == len(history)
    assert last["learning_rate"] == pytest.approx(0.0, abs=1e-12)  # the floor
    rates = [e["learning_rate"] for e in history]
    assert all(a >= b for a, b in zip(rates[1:], rates[2:], strict=False))
    assert not any(math.isnan(r) for r in rates)
    assert (output / "m" / "models" / "model.pt").is_file()


def test_a_budget_that_is_not_positive_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["--project", "P", "--model-name", "m", "--output", str(tmp_path / "o"),
         "--project-dir", str(tmp_path), "--max-minutes", "0"]
    )  # fmt: skip
    assert code == 2
    assert "--max-minutes must be more than 0" in capsys.readouterr().err
