from __future__ import annotations

import pytest

from xnat_plugin.runner.status import (
    ContainerStatus,
    StatusHistory,
    StatusTransitionError,
    transition,
)


def test_a_container_walks_the_happy_path_with_a_timestamp_per_step() -> None:
    history = StatusHistory()
    for status in (
        ContainerStatus.STAGING,
        ContainerStatus.CREATED,
        ContainerStatus.RUNNING,
        ContainerStatus.FINALIZING,
        ContainerStatus.COMPLETE,
    ):
        assert transition(history, status)
    assert [e.status.value for e in history.events] == [
        "_Queued",
        "Staging",
        "Created",
        "Running",
        "Finalizing",
        "Complete",
    ]
    times = [e.time for e in history.events]
    assert times == sorted(times)


def test_skipping_a_stage_is_refused() -> None:
    history = StatusHistory()
    with pytest.raises(StatusTransitionError, match="_Queued to Running"):
        transition(history, ContainerStatus.RUNNING)


def test_a_final_status_is_never_overwritten_by_a_late_kill() -> None:
    history = StatusHistory()
    transition(history, ContainerStatus.FAILED_RESOLUTION, "bad input")
    assert not transition(history, ContainerStatus.KILLED)
    assert history.current is ContainerStatus.FAILED_RESOLUTION
    assert history.current.is_failure


def test_upload_failure_is_reachable_only_while_finalizing() -> None:
    history = StatusHistory()
    transition(history, ContainerStatus.STAGING)
    with pytest.raises(StatusTransitionError):
        transition(history, ContainerStatus.FAILED_UPLOAD)
