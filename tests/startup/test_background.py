"""BackgroundStages: a step's heavy stages run in order in one thread; the step waits for the
one it needs, gets its value or its error, and the wait is counted."""

from __future__ import annotations

import threading

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
