"""BackgroundStages: a step's heavy stages run in order in one thread; the step waits for the
one it needs, gets its value or its error, and the wait is counted; with `pause_gc` the
collector is off while they run, and what they loaded is frozen before it resumes."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from containers.common.background import BackgroundStages
from xnat_plugin.errors import UserError


def test_stages_run_in_order_and_hand_back_their_values() -> None:
    order: list[str] = []
    with BackgroundStages(
        [
            ("first", lambda: order.append("first") or 1),
            ("second", lambda: order.append("second") or 2),
        ]
    ) as background:
        assert background.result("second") == 2
        assert background.result("first") == 1
    assert order == ["first", "second"]
    assert background.waited_seconds >= 0.0


def test_a_stages_error_reaches_the_step_and_the_stages_after_it_do_not_run() -> None:
    ran: list[str] = []

    def broken() -> None:
        raise UserError("weights models/model.pt do not fit the network")

    with BackgroundStages(
        [("models", broken), ("writers", lambda: ran.append("writers"))]
    ) as background:
        with pytest.raises(UserError, match="do not fit"):
            background.result("models")
        with pytest.raises(UserError, match="do not fit"):
            background.result("writers")
    assert ran == []


def test_leaving_early_skips_the_stages_not_started() -> None:
    release = threading.Event()
    ran: list[str] = []
    background = BackgroundStages(
        [("slow", lambda: release.wait(5)), ("later", lambda: ran.append("later"))]
    )
    background.__enter__()
    # The step ends (an error of its own) while "slow" still runs: leaving the block marks the
    # rest as cancelled before it joins the thread, so "later" never starts.
    leaving = threading.Thread(target=background.__exit__, args=(None, None, None))
    leaving.start()
    while not background._cancelled.is_set():
        threading.Event().wait(0.01)
    release.set()
    leaving.join(5)
    assert ran == []
    with pytest.raises(RuntimeError, match="ended first"):
        background.result("later")


def test_an_unknown_stage_is_a_programming_error() -> None:
    with BackgroundStages([("torch", lambda: None)]) as background, pytest.raises(KeyError):
        background.result("monai")


@pytest.fixture
def gc_restored() -> Iterator[None]:
    """The test process's collector as it was: on, nothing frozen."""
    yield
    gc.unfreeze()
    gc.enable()


def test_pause_gc_turns_the_collector_off_while_the_stages_run_then_freezes_and_resumes(
    gc_restored: None,
) -> None:
    seen: dict[str, bool] = {}
    loaded: list[object] = []

    def importing() -> None:
        seen["during"] = gc.isenabled()
        loaded.extend([{"n": i}] for i in range(1000))  # long-lived, as imported modules are

    with BackgroundStages([("torch", importing), ("last", lambda: None)], pause_gc=True) as bg:
        bg.result("last")
        seen["after the last stage"] = gc.isenabled()
    assert seen == {"during": False, "after the last stage": True}
    assert gc.get_freeze_count() >= len(loaded)  # what the stages loaded is out of collections


def test_pause_gc_resumes_the_collector_when_a_stage_fails_or_the_step_ends_early(
    gc_restored: None,
) -> None:
    def broken() -> None:
        raise UserError("weights do not fit")

    stages = [("models", broken), ("writers", lambda: None)]
    with BackgroundStages(stages, pause_gc=True) as bg, pytest.raises(UserError):
        bg.result("writers")
    assert gc.isenabled()

    release = threading.Event()
    slow = [("slow", lambda: release.wait(0.2))]
    with pytest.raises(UserError, match="step's own"), BackgroundStages(slow, pause_gc=True):
        raise UserError("the step's own error")
    assert gc.isenabled()


def test_without_pause_gc_the_collector_is_left_alone() -> None:
    seen: list[bool] = []
    with BackgroundStages([("torch", lambda: seen.append(gc.isenabled()))]) as background:
        background.result("torch")
    assert seen == [True]
    assert gc.get_freeze_count() == 0
